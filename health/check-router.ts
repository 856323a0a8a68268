import type { CancelSignal } from './cancellation.js';
import { LocalChecker } from './local-checker.js';
import { ThreadedChecker } from './threaded-checker.js';
import type { Checker, CheckResult, CheckTarget, HealthSpec } from './types.js';

/**
 * Where an endpoint's checks run: on the calling thread when it is the only
 * check in flight there, else on the check thread (ThreadedChecker) once it
 * is ready (until then, on the calling thread). A lone change — one new
 * endpoint — is checked without a hop between threads and without a second
 * core busy while nginx takes the push (a lone put was served ~0.5 ms sooner
 * so); a burst of new endpoints goes to the thread, where its checks do not
 * hold up the etcd watch and the pushes. An endpoint stays where its first
 * check ran, so it keeps one connection; released, it is placed afresh.
 *
 * The thread starts with warm() (lbsync calls it after its first apply), or
 * else when a second check first has to run alongside another here, and
 * stays for the router's life. Starting it costs ~50–100 ms of CPU (a V8
 * isolate and undici's Client): started by the burst it serves, it held up
 * that burst (500 records were served 177 ms after the last write, against
 * 27–82 ms with the thread ready); kept, it costs ~20 MB.
 */
export class CheckRouter implements Checker {
  private readonly local = new LocalChecker();
  private readonly thread = new ThreadedChecker();
  private readonly placed = new Map<string, Checker>();
  private localInFlight = 0;

  check(target: CheckTarget, spec: HealthSpec, signal: CancelSignal): Promise<CheckResult> {
    const key = endpointKey(target);
    let where = this.placed.get(key);
    if (!where) this.placed.set(key, (where = this.place()));
    if (where === this.thread) return this.thread.check(target, spec, signal);
    this.localInFlight++;
    return this.local.check(target, spec, signal).finally(() => this.localInFlight--);
  }

  /** Loads the HTTP client here and starts the check thread, which loads its own. */
  warm(): void {
    this.local.warm();
    this.thread.warm();
  }

  release(target: CheckTarget): void {
    const key = endpointKey(target);
    const where = this.placed.get(key);
    if (!where) return;
    where.release?.(target);
    this.placed.delete(key);
  }

  async close(): Promise<void> {
    this.placed.clear();
    await Promise.all([this.local.close(), this.thread.close()]);
  }

  private place(): Checker {
    if (this.localInFlight === 0) return this.local;
    if (this.thread.ready) return this.thread;
    this.thread.warm();
    return this.local;
  }
}

function endpointKey(target: CheckTarget): string {
  return `${target.host}|${target.port}`;
}
