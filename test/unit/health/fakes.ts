import type { CancelSignal, Checker, CheckResult, CheckTarget, HealthSpec } from '../../../health/index.js';
import type { FakeClock } from '../../harness/fake-clock.js';

export { FakeClock, settle } from '../../harness/fake-clock.js';
import { resolveSpec } from '../../../health/index.js';

/**
 * A checker whose outcomes are scripted per port. `holdMs` makes each check
 * take that long on the fake clock; it records how many checks overlap.
 */
export class ScriptedChecker implements Checker {
  calls: Array<{ target: CheckTarget; signal: CancelSignal }> = [];
  inFlight = 0;
  maxInFlight = 0;
  maxPerTarget = 0;
  released: CheckTarget[] = [];
  private readonly perTarget = new Map<number, number>();

  constructor(
    private readonly clock: FakeClock,
    /** Per port and check number: pass, fail, never answer, throw, or time out after the spec's timeout. */
    private readonly script: (port: number, n: number) => boolean | 'hang' | 'throw' | 'timeout',
    private readonly holdMs = 0,
  ) {}

  check(target: CheckTarget, spec: HealthSpec, signal: CancelSignal): Promise<CheckResult> {
    const n = this.calls.filter((c) => c.target.port === target.port).length;
    this.calls.push({ target, signal });
    const outcome = this.script(target.port, n);
    if (outcome === 'throw') throw new Error('boom');
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const mine = (this.perTarget.get(target.port) ?? 0) + 1;
    this.perTarget.set(target.port, mine);
    this.maxPerTarget = Math.max(this.maxPerTarget, mine);
    return new Promise((resolve) => {
      const finish = (passing: boolean, reason: string, timedOut = false) => {
        this.inFlight--;
        this.perTarget.set(target.port, (this.perTarget.get(target.port) ?? 1) - 1);
        resolve({ passing, reason, ...(timedOut ? { timedOut } : {}), latencyMs: this.holdMs, at: this.clock.now() });
      };
      signal.addEventListener('abort', () => finish(false, 'cancelled'), { once: true });
      if (outcome === 'hang') return;
      if (outcome === 'timeout') {
        this.clock.setTimer(() => !signal.aborted && finish(false, `timeout after ${spec.timeoutMs}ms`, true), spec.timeoutMs);
        return;
      }
      const done = () => !signal.aborted && finish(outcome, outcome ? 'ok' : 'status 500');
      if (this.holdMs > 0) this.clock.setTimer(done, this.holdMs);
      else queueMicrotask(done);
    });
  }

  release(target: CheckTarget): void {
    this.released.push(target);
  }
}

/** A spec for scheduler tests: interval 1s, no jitter unless asked. */
export function testSpec(overrides: Partial<HealthSpec> = {}): HealthSpec {
  return resolveSpec(undefined, { intervalMs: 1000, timeoutMs: 500, jitter: 0, ...overrides });
}
