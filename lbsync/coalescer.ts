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
 * first check): it waits for its siblings, since containers started together
 * pass their checks one by one, and one reload for all of them is better than
 * one each. An `endpoint` change only changes the endpoints of services
 * every output already serves, and no output reloads for it (a push into
 * nginx's Lua balancer): it applies as soon as no apply runs, since waiting
 * would only add latency; what arrives during an apply goes into the next.
 */
export type ChangeKind = 'change' | 'join' | 'endpoint';

/**
 * How long joins settle: a burst of joins is applied once none came for this
 * long (never later than MAX, and never sooner than MIN after the last apply).
 * Containers started together (`docker compose up --scale`, a swarm service
 * scaled out) pass their first checks tens of ms apart on an idle host; 200 ms
 * takes them as one burst, and a lone join still serves within a fifth of a
 * second.
 */
export const JOIN_SETTLE_MS = 200;

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
 *   came for JOIN_SETTLE_MS (or MIN, when longer) and MAX has passed since
 *   the last apply began, never longer than MAX; a change that applies
 *   meanwhile takes them along;
 * - an endpoint change applies at once, or right after the running apply
 *   (back to back: each apply takes everything that came meanwhile), and
 *   takes everything pending along.
 * Applies never overlap. Pure timing logic: the clock is injected.
 */
export class Coalescer {
  private running = false;
  private pendingSince: number | undefined;
  /** Whether a pending notification is a `change` (not only joins). */
  private urgent = false;
  /** Whether a pending notification is an `endpoint` change: the next apply starts as soon as none runs. */
  private eager = false;
  private lastChange = -Infinity;
  private lastJoin = -Infinity;
  private lastApplyStart = -Infinity;
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
    const quiet = kind === 'endpoint' || (kind === 'change' && !this.urgent && !this.running && now - Math.max(this.lastChange, this.lastApplyEnd) >= this.window.minMs);
    this.pendingSince ??= now;
    if (kind === 'endpoint') this.eager = true;
    if (kind !== 'join') {
      this.urgent = true;
      this.lastChange = now;
    } else {
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
    this.urgent = false;
    this.eager = false;
    if (!this.running) this.wakeIdle();
  }

  private dueIn(now: number): number {
    if (this.eager) return 0;
    // Joins alone: settled, and at most one apply per MAX, so a burst spread
    // out by a loaded host still costs one reload a MAX rather than one a join.
    const settle = this.urgent
      ? Math.max(this.lastChange, this.lastApplyEnd) + this.window.minMs
      : Math.max(this.lastJoin + Math.max(JOIN_SETTLE_MS, this.window.minMs), this.lastApplyEnd + this.window.minMs, this.lastApplyStart + this.window.maxMs);
    const deadline = this.pendingSince! + this.window.maxMs;
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
    this.urgent = false;
    this.eager = false;
    this.lastApplyStart = this.clock.now();
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
