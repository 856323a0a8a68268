import type { CancelSignal } from './cancellation.js';
import { LocalChecker } from './local-checker.js';
import { ThreadedChecker } from './threaded-checker.js';
import type { Checker, CheckResult, CheckTarget, HealthSpec } from './types.js';

/**
 * New endpoints that must wait for another check on the calling thread
 * before the check thread starts: a burst, not a few endpoints that came
 * together. The thread costs ~35 MB (its own V8 heap and undici), so a
 * process that never sees a burst never pays for it.
 */
export const THREAD_START_AFTER = 32;

/** The check thread stops once no endpoint has been checked there for this long. */
export const THREAD_IDLE_MS = 60_000;

/**
 * Where an endpoint's checks run: on the calling thread when it is the only
 * check in flight there, else on the check thread (ThreadedChecker) once a
 * burst has started it and it is ready (until then, on the calling thread).
 * A lone change — one new endpoint — is checked without a hop between
 * threads and without a second core busy while nginx takes the push (a lone
 * put was served ~0.5 ms sooner so); a burst of new endpoints goes to the
 * thread, where its checks do not hold up the etcd watch and the pushes. An
 * endpoint stays where its first check ran, so it keeps one connection;
 * released, it is placed afresh. The thread stops when no endpoint is
 * left on it for THREAD_IDLE_MS.
 */
export class CheckRouter implements Checker {
  private readonly local = new LocalChecker();
  private readonly thread = new ThreadedChecker();
  private readonly placed = new Map<string, Checker>();
  private localInFlight = 0;
  /** New endpoints placed here while another local check ran, since the thread last stopped. */
  private crowded = 0;
  private onThread = 0;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(private readonly tuning: { startAfter?: number; idleMs?: number } = {}) {}

  check(target: CheckTarget, spec: HealthSpec, signal: CancelSignal): Promise<CheckResult> {
    const key = endpointKey(target);
    let where = this.placed.get(key);
    if (!where) this.placed.set(key, (where = this.place()));
    if (where === this.thread) return this.thread.check(target, spec, signal);
    this.localInFlight++;
    return this.local.check(target, spec, signal).finally(() => this.localInFlight--);
  }

  /** Loads the HTTP client here (the thread loads its own when a burst starts it). */
  warm(): void {
    this.local.warm();
  }

  release(target: CheckTarget): void {
    const key = endpointKey(target);
    const where = this.placed.get(key);
    if (!where) return;
    where.release?.(target);
    this.placed.delete(key);
    if (where === this.thread && --this.onThread === 0) this.stopWhenIdle();
  }

  async close(): Promise<void> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.placed.clear();
    await Promise.all([this.local.close(), this.thread.close()]);
  }

  private place(): Checker {
    if (this.localInFlight === 0) return this.local;
    if (!this.thread.ready) {
      if (++this.crowded === (this.tuning.startAfter ?? THREAD_START_AFTER)) this.thread.warm();
      return this.local;
    }
    this.onThread++;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    return this.thread;
  }

  private stopWhenIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.onThread > 0) return;
      this.crowded = 0;
      void this.thread.stop();
    }, this.tuning.idleMs ?? THREAD_IDLE_MS);
    this.idleTimer.unref();
  }
}

function endpointKey(target: CheckTarget): string {
  return `${target.host}|${target.port}`;
}
