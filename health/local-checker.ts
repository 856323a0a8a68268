import type { CancelSignal } from './cancellation.js';
import { HttpChecker } from './http-checker.js';
import { TcpChecker } from './tcp-checker.js';
import type { Checker, CheckResult, CheckTarget, HealthSpec } from './types.js';

/** HTTP(S) and TCP checks on the calling thread: each spec goes to the checker of its kind. */
export class LocalChecker implements Checker {
  private readonly http = new HttpChecker();
  private readonly tcp = new TcpChecker();

  check(target: CheckTarget, spec: HealthSpec, signal: CancelSignal): Promise<CheckResult> {
    return (spec.kind === 'tcp' ? this.tcp : this.http).check(target, spec, signal);
  }

  warm(): void {
    this.http.warm();
  }

  release(target: CheckTarget): void {
    this.http.release(target);
  }

  close(): Promise<void> {
    return this.http.close();
  }
}
