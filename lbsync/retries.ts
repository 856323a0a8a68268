import { Backoff } from '../registry/index.js';
import type { Clock } from '../health/index.js';

/** How retries back off: the first wait is about `initialMs`, doubling up to `maxMs` (full jitter). */
export interface RetryPolicy {
  initialMs: number;
  maxMs: number;
}

/** Short enough that lbsync converges within a few seconds of the cause going away, long enough not to spin. */
export const DEFAULT_RETRY: RetryPolicy = { initialMs: 250, maxMs: 5000 };

interface Pending {
  backoff: Backoff;
  timer?: unknown;
  since: number | undefined;
}

/**
 * Retry bookkeeping for outputs whose apply failed recoverably: one backoff
 * and one timer per output on the injected clock. When a timer fires the
 * output is marked due and `onDue` runs (lbsync then asks for an apply);
 * the apply takes the due outputs. Pure timing logic, no I/O.
 */
export class Retries<K> {
  private readonly pending = new Map<K, Pending>();
  private due = new Set<K>();
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly onDue: (key: K) => void,
    private readonly policy: RetryPolicy = DEFAULT_RETRY,
    private readonly random: () => number = Math.random,
  ) {}

  /**
   * `key` failed recoverably: arms its next try and returns the wait. `since`
   * is when the first change it has not applied arrived; the earliest is kept.
   */
  failed(key: K, since: number | undefined): number | undefined {
    if (this.stopped) return undefined;
    let p = this.pending.get(key);
    if (!p) this.pending.set(key, (p = { backoff: new Backoff(this.policy.initialMs, this.policy.maxMs, this.random), since }));
    p.since ??= since;
    if (p.timer !== undefined) this.clock.clearTimer(p.timer);
    const wait = p.backoff.next();
    p.timer = this.clock.setTimer(() => {
      p.timer = undefined;
      this.due.add(key);
      this.onDue(key);
    }, wait);
    return wait;
  }

  /** `key` applied, or failed in a way only a change can fix: no more retries for it. */
  clear(key: K): void {
    const p = this.pending.get(key);
    if (p?.timer !== undefined) this.clock.clearTimer(p.timer);
    this.pending.delete(key);
    this.due.delete(key);
  }

  /** When the first change `key` has not applied arrived, while it is being retried. */
  since(key: K): number | undefined {
    return this.pending.get(key)?.since;
  }

  /** The keys whose retry is due, once each. */
  takeDue(): Set<K> {
    const due = this.due;
    this.due = new Set();
    return due;
  }

  /** Cancels every timer; later failures arm none. */
  stop(): void {
    this.stopped = true;
    for (const key of [...this.pending.keys()]) this.clear(key);
  }
}
