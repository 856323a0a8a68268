import { connect } from 'node:net';
import type { CancelSignal } from './cancellation.js';
import { describeError, timeoutReason } from './reason.js';
import type { Checker, CheckResult, CheckTarget, HealthSpec } from './types.js';

/** TCP checks: the endpoint passes when a connection opens within the timeout. Nothing is sent. */
export class TcpChecker implements Checker {
  check(target: CheckTarget, spec: HealthSpec, signal: CancelSignal): Promise<CheckResult> {
    const started = performance.now();
    return new Promise((resolve) => {
      let settled = false;
      const socket = connect({ host: target.host, port: target.port });
      const finish = (passing: boolean, reason: string, timedOut = false) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        socket.destroy();
        resolve({ passing, reason, ...(timedOut ? { timedOut } : {}), latencyMs: Math.round((performance.now() - started) * 10) / 10, at: Date.now() });
      };
      const onAbort = () => finish(false, 'cancelled');
      const timer = setTimeout(() => finish(false, timeoutReason(spec.timeoutMs), true), spec.timeoutMs);
      socket.once('connect', () => finish(true, 'connected'));
      socket.once('error', (err) => finish(false, describeError(err)));
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
