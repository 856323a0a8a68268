/**
 * The health-check thread: runs the HTTP and TCP checks that a
 * ThreadedChecker on the main thread asks for. Each check's connect,
 * request and response parsing happen here, on the other core, and its
 * results go back batched, one message per event-loop turn. It loads the
 * HTTP client at once and says 'ready' when it has.
 */
import { enableCompileCache } from 'node:module';
import { parentPort } from 'node:worker_threads';
import { Cancellation } from './cancellation.js';
import { LocalChecker } from './local-checker.js';
import { describeError } from './reason.js';
import type { CheckResult } from './types.js';
import type { CheckDone, FromWorker, ToWorker } from './check-protocol.js';

enableCompileCache();

const port = parentPort!;
const checker = new LocalChecker();
const running = new Map<number, Cancellation>();
let done: CheckDone[] = [];

function report(id: number, result: CheckResult): void {
  running.delete(id);
  if (done.push([id, result]) > 1) return;
  setImmediate(() => {
    const batch = done;
    done = [];
    port.postMessage(batch satisfies FromWorker);
  });
}

checker.warm();
port.postMessage('ready' satisfies FromWorker);

port.on('message', (batch: ToWorker[]) => {
  for (const msg of batch) {
    switch (msg.op) {
      case 'check': {
        const controller = new Cancellation();
        running.set(msg.id, controller);
        const started = performance.now();
        checker.check(msg.target, msg.spec, controller.signal).then(
          (result) => report(msg.id, result),
          (err: unknown) => report(msg.id, { passing: false, reason: `checker failed: ${describeError(err)}`, latencyMs: performance.now() - started, at: Date.now() }),
        );
        break;
      }
      case 'cancel':
        running.get(msg.id)?.abort();
        running.delete(msg.id);
        break;
      case 'release':
        checker.release(msg.target);
        break;
    }
  }
});
