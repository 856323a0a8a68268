import type { CancelSignal } from './cancellation.js';
import { LocalChecker } from './local-checker.js';
import { ThreadedChecker } from './threaded-checker.js';
import type { Checker, CheckResult, CheckTarget, HealthSpec } from './types.js';

/**
 * Where an endpoint's checks run: on the calling thread when it is the only
 * check in flight there, else on the check thread (ThreadedChecker), once
 * warm() has started it and it is ready (until then, all on the calling
 * thread: a restart's first checks do not wait for the thread). A lone
 * change — one new endpoint — is checked without a hop between threads and
 * without a second core busy while nginx takes the push (a lone put was
 * served ~0.5 ms sooner so); a burst of new endpoints, or the first checks
 * of a listing, go to the thread, where they do not hold up the etcd watch
 * and the pushes. An endpoint stays where its first check ran, so it keeps
 * one connection; released, it is placed afresh.
 */
export class CheckRouter implements Checker {
  private readonly local = new LocalChecker();
  private readonly thread = new ThreadedChecker();
  private readonly placed = new Map<string, Checker>();
  private localInFlight = 0;

  check(target: CheckTarget, spec: HealthSpec, signal: CancelSignal): Promise<CheckResult> {
    const key = endpointKey(target);
    let where = this.placed.get(key);
    if (!where) this.placed.set(key, (where = this.localInFlight === 0 || !this.thread.ready ? this.local : this.thread));
    if (where === this.thread) return this.thread.check(target, spec, signal);
    this.localInFlight++;
    return this.local.check(target, spec, signal).finally(() => this.localInFlight--);
  }

  /** Loads the HTTP client here and starts the check thread. */
  warm(): void {
    this.local.warm();
    this.thread.warm();
  }

  release(target: CheckTarget): void {
    const key = endpointKey(target);
    this.placed.get(key)?.release?.(target);
    this.placed.delete(key);
  }

  async close(): Promise<void> {
    this.placed.clear();
    await Promise.all([this.local.close(), this.thread.close()]);
  }
}

function endpointKey(target: CheckTarget): string {
  return `${target.host}|${target.port}`;
}
