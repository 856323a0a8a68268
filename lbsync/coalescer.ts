import { systemClock, type Clock } from '../health/index.js';

/** `--wait MIN:MAX` in milliseconds. */
export interface WaitWindow {
  minMs: number;
  maxMs: number;
}

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
 * - no change waits longer than MAX from when it arrived.
 * Applies never overlap. Pure timing logic: the clock is injected.
 */
export class Coalescer {
  private running = false;
  private pendingSince: number | undefined;
  private lastChange = -Infinity;
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
  notify(): void {
    if (this.stopped) return;
    const now = this.clock.now();
    const quiet = this.pendingSince === undefined && !this.running && now - Math.max(this.lastChange, this.lastApplyEnd) >= this.window.minMs;
    this.pendingSince ??= now;
    this.lastChange = now;
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
    if (!this.running) this.wakeIdle();
  }

  private dueIn(now: number): number {
    const settle = Math.max(this.lastChange, this.lastApplyEnd) + this.window.minMs;
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
