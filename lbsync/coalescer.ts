import { systemClock, type Clock } from '../health/index.js';

/** `--wait MIN:MAX` in milliseconds. */
export interface WaitWindow {
  minMs: number;
  maxMs: number;
}

/**
 * What a notification is. A `change` may fix something (a removal, a failing
 * endpoint, a new service): it applies as soon as the window allows. A `join`
 * only adds capacity to a pool that already serves (a new endpoint passed its
 * first check, or its record came and waits for it): it waits for its
 * siblings, since containers started together
 * pass their checks one by one, and one reload for all of them is better than
 * one each. An `endpoint` change only changes the endpoints of services
 * every output already serves, and no output reloads for it (a push into
 * nginx's Lua balancer): it applies as soon as no apply runs, since waiting
 * would only add latency; what arrives during an apply goes into the next.
 */
export type ChangeKind = 'change' | 'join' | 'endpoint';

/**
 * How long joins settle: a burst of joins is applied once none came for a
 * window that starts at JOIN_SETTLE_MS and grows by as much with each join of
 * the burst, up to JOIN_SETTLE_MAX_MS (and never sooner than MIN after the
 * last apply). A lone container (two joins: its record, then its first pass)
 * serves 400 ms after its pass; 50 containers
 * started at once reach their first checks over 5–9 s here (dockerd starts
 * them one by one), with gaps of up to ~600 ms between them, and a window
 * that stayed at 200 ms took every such gap for the end of the burst (one
 * reload each). 700 ms bridges those gaps and still serves the last
 * container within a second of its start.
 */
export const JOIN_SETTLE_MS = 200;
export const JOIN_SETTLE_MAX_MS = 700;

/**
 * How long a join may wait while its burst goes on (or MAX, when longer):
 * joins only add capacity to a pool that already serves, so a burst that
 * keeps going costs one reload per this long rather than one per MAX.
 */
export const JOIN_HOLD_MAX_MS = 5000;

/** Parses `--wait MIN:MAX` (e.g. `50ms:1s`) with the given duration parser. */
export function parseWait(text: string, parseDuration: (t: string, field: string) => number): WaitWindow {
  const [min, max, ...rest] = text.split(':');
  if (!min || !max || rest.length) throw new RangeError('--wait must be MIN:MAX, e.g. 50ms:1s');
  const window = { minMs: parseDuration(min, '--wait MIN'), maxMs: parseDuration(max, '--wait MAX') };
  if (window.maxMs < window.minMs) throw new RangeError('--wait MAX must not be shorter than MIN');
  return window;
}

/**
 * Turns a stream of "something changed" notifications into as few applies as
 * possible without delaying a lone change:
 * - the first change after a quiet period (no change and no apply for MIN)
 *   is applied at once (on the next tick, so one watch batch stays one apply);
 * - changes that arrive while an apply runs, or less than MIN after the last
 *   change or apply, wait until MIN passes with nothing new (a burst becomes
 *   one apply after it settles);
 * - no change waits longer than MAX from when it arrived;
 * - joins alone (see ChangeKind) never apply at once: they wait until none
 *   came for the burst's settle window (see JOIN_SETTLE_MS; MIN, when
 *   longer), never longer than JOIN_HOLD_MAX_MS (or MAX, when longer); a
 *   change that applies meanwhile takes them along;
 * - an endpoint change applies at once, or right after the running apply
 *   (back to back: each apply takes everything that came meanwhile), and
 *   takes everything pending along.
 * Applies never overlap. Pure timing logic: the clock is injected.
 */
export class Coalescer {
  private running = false;
  private pendingSince: number | undefined;
  /** When the first pending `change` (not a join) came; undefined while only joins wait. */
  private changeSince: number | undefined;
  /** Whether a pending notification is an `endpoint` change: the next apply starts as soon as none runs. */
  private eager = false;
  private lastChange = -Infinity;
  private lastJoin = -Infinity;
  /** Joins in the current burst: each widens its settle window. */
  private burstJoins = 0;
  private lastApplyEnd = -Infinity;
  private timer: unknown;
  /** The armed timer starts an apply at once: later changes join it instead of postponing it. */
  private immediate = false;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly apply: () => Promise<void>,
    private readonly window: WaitWindow,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Something changed; an apply will follow. */
  notify(kind: ChangeKind = 'change'): void {
    if (this.stopped) return;
    const now = this.clock.now();
    const quiet = kind === 'endpoint' || (kind === 'change' && this.changeSince === undefined && !this.running && now - Math.max(this.lastChange, this.lastApplyEnd) >= this.window.minMs);
    this.pendingSince ??= now;
    if (kind === 'endpoint') this.eager = true;
    if (kind !== 'join') {
      this.changeSince ??= now;
      this.lastChange = now;
    } else {
      // A join that comes after the widest window has passed starts a new burst.
      this.burstJoins = now - this.lastJoin > JOIN_SETTLE_MAX_MS ? 1 : this.burstJoins + 1;
      this.lastJoin = now;
    }
    if (this.running || (this.immediate && this.timer !== undefined)) return;
    this.arm(quiet ? 0 : this.dueIn(now));
  }

  /** True while a change waits or an apply runs. */
  get busy(): boolean {
    return this.running || this.pendingSince !== undefined;
  }

  /** Resolves when nothing is pending and no apply runs. */
  idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops scheduling; an apply already running finishes. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.pendingSince = undefined;
    this.changeSince = undefined;
    this.eager = false;
    if (!this.running) this.wakeIdle();
  }

  private dueIn(now: number): number {
    if (this.eager) return 0;
    const { minMs, maxMs } = this.window;
    if (this.changeSince !== undefined) {
      return Math.max(0, Math.min(Math.max(this.lastChange, this.lastApplyEnd) + minMs, this.changeSince + maxMs) - now);
    }
    // Joins alone: settled for a window that widens with the burst, so the
    // gaps of a burst spread out by dockerd (or a loaded host) do not each
    // cost a reload; held no longer than JOIN_HOLD_MAX_MS.
    const window = Math.max(Math.min(JOIN_SETTLE_MS * this.burstJoins, JOIN_SETTLE_MAX_MS), minMs);
    const settle = Math.max(this.lastJoin + window, this.lastApplyEnd + minMs);
    const deadline = this.pendingSince! + Math.max(JOIN_HOLD_MAX_MS, maxMs);
    return Math.max(0, Math.min(settle, deadline) - now);
  }

  private arm(ms: number): void {
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.immediate = ms === 0;
    this.timer = this.clock.setTimer(() => {
      this.timer = undefined;
      void this.run();
    }, ms);
  }

  private async run(): Promise<void> {
    if (this.running || this.stopped || this.pendingSince === undefined) return;
    this.running = true;
    this.pendingSince = undefined;
    this.changeSince = undefined;
    this.eager = false;
    try {
      await this.apply();
    } catch {
      // The apply reports its own failures (and lbsync schedules retries for recoverable ones).
    } finally {
      this.running = false;
      this.lastApplyEnd = this.clock.now();
    }
    if (this.pendingSince !== undefined && !this.stopped) this.arm(this.dueIn(this.clock.now()));
    else this.wakeIdle();
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
