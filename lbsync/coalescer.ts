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
 * siblings, since containers started together pass their checks one by one,
 * and one reload for all of them is better than one each. An `endpoint`
 * change only changes the endpoints of services every output already
 * serves, and no output reloads for it (a push into nginx's Lua balancer):
 * it applies as soon as no apply runs, since waiting would only add
 * latency; what arrives during an apply goes into the next.
 */
export type ChangeKind = 'change' | 'join' | 'endpoint';

/**
 * How long joins settle: a burst of joins is applied once none came for
 * JOIN_SETTLE_MS (and never sooner than MIN after the last apply). 50
 * containers started at once reach etcd and their first checks over 5–9 s
 * here (dockerd starts them one by one; each brings two joins, its record
 * and then its first pass) with pauses of up to ~600 ms: a quiet period of
 * 200 ms took each such pause for the end of the burst, one reload each;
 * 700 ms bridges them and still serves the last container within a second
 * of its start. A lone container serves 700 ms after its first pass.
 */
export const JOIN_SETTLE_MS = 700;

/**
 * A burst of JOIN_DENSE_MIN_JOINS joins or more that came less than
 * JOIN_DENSE_GAP_MS apart on average is written by a program (hundreds of
 * records put by a few writers, a restored fleet), not started container by
 * container: it has no pauses to bridge and settles after
 * JOIN_SETTLE_DENSE_MS. (Two or three joins can come a millisecond apart in
 * any burst: one watch batch, a record and another container's pass.)
 */
export const JOIN_DENSE_MIN_JOINS = 10;
export const JOIN_DENSE_GAP_MS = 5;
export const JOIN_SETTLE_DENSE_MS = 200;

/**
 * How long a join may wait while its burst goes on (or MAX, when longer):
 * joins only add capacity to a pool that already serves, so a burst that
 * keeps going costs one reload per this long rather than one per MAX.
 */
export const JOIN_HOLD_MAX_MS = 5000;

/**
 * Endpoint changes apply at once, but not back to back without end: the
 * next one starts no sooner than this many times the last apply's duration
 * after it ended, so applies take at most a quarter of the time. An apply
 * costs what the changed services' sets cost (a pool of 500 rebuilt,
 * compared and sent: a few ms); during a burst of new records, applying
 * after every passing check spent most of the main thread on applies while
 * the watch and the check results queued behind them. A lone change, long
 * after the last apply, still applies at once.
 */
export const ENDPOINT_APPLY_PACE = 3;
/** …waiting no longer than this: the last apply may have been a reload, or slowed down by anything. */
export const ENDPOINT_APPLY_PACE_MAX_MS = 20;

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
 *   came for JOIN_SETTLE_MS (JOIN_SETTLE_DENSE_MS for a dense burst; MIN, when
 *   longer), never longer than JOIN_HOLD_MAX_MS (or MAX, when longer); a
 *   change that applies meanwhile takes them along;
 * - an endpoint change applies at once, or after the running apply, paced
 *   (ENDPOINT_APPLY_PACE: each apply takes everything that came meanwhile),
 *   and takes everything pending along.
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
  /** The current burst of joins: when it began and how many came (is it dense?). */
  private burstStart = -Infinity;
  private burstJoins = 0;
  private lastApplyEnd = -Infinity;
  private lastApplyMs = 0;
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
      // A join that comes after a quiet JOIN_SETTLE_MS starts a new burst.
      if (now - this.lastJoin > JOIN_SETTLE_MS) {
        this.burstStart = now;
        this.burstJoins = 0;
      }
      this.burstJoins++;
      this.lastJoin = now;
    }
    if (this.running || (this.immediate && this.timer !== undefined)) return;
    this.arm(quiet && kind !== 'endpoint' ? 0 : this.dueIn(now));
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
    this.disarm();
    this.pendingSince = undefined;
    this.changeSince = undefined;
    this.eager = false;
    if (!this.running) this.wakeIdle();
  }

  private dueIn(now: number): number {
    if (this.eager) return Math.max(0, this.lastApplyEnd + Math.min(ENDPOINT_APPLY_PACE * this.lastApplyMs, ENDPOINT_APPLY_PACE_MAX_MS) - now);
    const { minMs, maxMs } = this.window;
    if (this.changeSince !== undefined) {
      return Math.max(0, Math.min(Math.max(this.lastChange, this.lastApplyEnd) + minMs, this.changeSince + maxMs) - now);
    }
    // Joins alone: settled for a quiet period that bridges the pauses of a
    // burst spread out by dockerd (or a loaded host), shorter for a dense
    // burst; held no longer than JOIN_HOLD_MAX_MS.
    const dense = this.burstJoins >= JOIN_DENSE_MIN_JOINS && (this.lastJoin - this.burstStart) / (this.burstJoins - 1) < JOIN_DENSE_GAP_MS;
    const window = Math.max(dense ? JOIN_SETTLE_DENSE_MS : JOIN_SETTLE_MS, minMs);
    const settle = Math.max(this.lastJoin + window, this.lastApplyEnd + minMs);
    const deadline = this.pendingSince! + Math.max(JOIN_HOLD_MAX_MS, maxMs);
    return Math.max(0, Math.min(settle, deadline) - now);
  }

  private arm(ms: number): void {
    this.disarm();
    // A paced endpoint apply is not postponed by later changes either.
    this.immediate = ms === 0 || this.eager;
    if (ms === 0 && this.eager) {
      // An endpoint change runs right after the handler that reported it
      // (one watch response, one check result: each still one apply), not a
      // loop turn later behind every other callback of this one.
      const armed = (this.timer = { microtask: true });
      queueMicrotask(() => {
        if (this.timer !== armed) return;
        this.timer = undefined;
        void this.run();
      });
      return;
    }
    this.timer = this.clock.setTimer(() => {
      this.timer = undefined;
      void this.run();
    }, ms);
  }

  private disarm(): void {
    if (this.timer !== undefined && !isMicrotask(this.timer)) this.clock.clearTimer(this.timer);
    this.timer = undefined;
  }

  private async run(): Promise<void> {
    if (this.running || this.stopped || this.pendingSince === undefined) return;
    this.running = true;
    this.pendingSince = undefined;
    this.changeSince = undefined;
    this.eager = false;
    const started = this.clock.now();
    try {
      await this.apply();
    } catch {
      // The apply reports its own failures (and lbsync schedules retries for recoverable ones).
    } finally {
      this.running = false;
      this.lastApplyEnd = this.clock.now();
      this.lastApplyMs = this.lastApplyEnd - started;
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

function isMicrotask(timer: unknown): boolean {
  return typeof timer === 'object' && timer !== null && (timer as { microtask?: boolean }).microtask === true;
}
