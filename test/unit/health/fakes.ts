import type { Checker, CheckResult, CheckTarget, Clock, HealthSpec } from '../../../health/index.js';
import { resolveSpec } from '../../../health/index.js';

/** A clock driven by hand: advance() runs due timers in order, letting promises settle between them. */
export class FakeClock implements Clock {
  private t = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.t;
  }

  setTimer(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }

  clearTimer(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await settle();
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.timers) if (entry[1].at <= end && (!next || entry[1].at < next[1].at)) next = entry;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
      await settle();
    }
    this.t = end;
    await settle();
  }
}

/** Lets pending promise callbacks run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A checker whose outcomes are scripted per port. `holdMs` makes each check
 * take that long on the fake clock; it records how many checks overlap.
 */
export class ScriptedChecker implements Checker {
  calls: Array<{ target: CheckTarget; signal: AbortSignal }> = [];
  inFlight = 0;
  maxInFlight = 0;
  maxPerTarget = 0;
  released: CheckTarget[] = [];
  private readonly perTarget = new Map<number, number>();

  constructor(
    private readonly clock: FakeClock,
    private readonly script: (port: number, n: number) => boolean | 'hang' | 'throw',
    private readonly holdMs = 0,
  ) {}

  check(target: CheckTarget, _spec: HealthSpec, signal: AbortSignal): Promise<CheckResult> {
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
      const finish = (passing: boolean, reason: string) => {
        this.inFlight--;
        this.perTarget.set(target.port, (this.perTarget.get(target.port) ?? 1) - 1);
        resolve({ passing, reason, latencyMs: this.holdMs, at: this.clock.now() });
      };
      signal.addEventListener('abort', () => finish(false, 'cancelled'), { once: true });
      if (outcome === 'hang') return;
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
