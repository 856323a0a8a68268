import { Worker } from 'node:worker_threads';
import type { CancelSignal } from './cancellation.js';
import type { FromWorker, ToWorker } from './check-protocol.js';
import type { Checker, CheckResult, CheckTarget, HealthSpec } from './types.js';

const WORKER = new URL('./check-worker.js', import.meta.url);

interface Pending {
  resolve: (result: CheckResult) => void;
  signal: CancelSignal;
  onAbort: () => void;
  started: number;
}

/**
 * HTTP and TCP checks on a thread of their own. A check is mostly system
 * calls and parsing — a TCP handshake, a request write, a response through
 * undici's parser — about 0.3 ms of CPU each, and a burst of 500 new
 * endpoints is 500 first checks at once. On the main thread they competed
 * with the etcd watch and the pushes to nginx, so a burst of records was
 * served only as fast as one core could do both; here lbsync's own work
 * stays on its thread and the checks take the other core.
 *
 * Requests go over in one message per event-loop turn and results come back
 * the same way, so a check costs the main thread a few microseconds. The
 * thread starts with the first check (or warm()) and is `ready` once it has
 * loaded its HTTP client; it is unref'd (it never keeps a process alive),
 * and is started again if it ever dies; the checks it was running then
 * fail, naming why.
 */
export class ThreadedChecker implements Checker {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private outbox: ToWorker[] = [];
  private closed = false;
  private isReady = false;

  /** Whether the thread is up and has loaded its HTTP client (it takes ~50–100 ms of CPU to start). */
  get ready(): boolean {
    return this.isReady;
  }

  check(target: CheckTarget, spec: HealthSpec, signal: CancelSignal): Promise<CheckResult> {
    const started = performance.now();
    if (signal.aborted || this.closed) return Promise.resolve(cancelled(started));
    const id = this.nextId++;
    return new Promise<CheckResult>((resolve) => {
      const onAbort = () => {
        if (!this.pending.delete(id)) return;
        this.send({ op: 'cancel', id });
        resolve(cancelled(started));
      };
      this.pending.set(id, { resolve, signal, onAbort, started });
      signal.addEventListener('abort', onAbort, { once: true });
      this.send({ op: 'check', id, target, spec });
    });
  }

  /** Starts the thread now (it loads its HTTP client as it starts). */
  warm(): void {
    if (!this.closed) this.thread();
  }

  release(target: CheckTarget): void {
    if (this.worker && !this.closed) this.send({ op: 'release', target });
  }

  /** Ends the thread for good (its connections close with it); checks still running end as cancelled. */
  async close(): Promise<void> {
    this.closed = true;
    this.outbox = [];
    this.settleAll((p) => cancelled(p.started));
    const worker = this.worker;
    this.worker = undefined;
    this.isReady = false;
    await worker?.terminate();
  }

  private send(msg: ToWorker): void {
    if (this.outbox.push(msg) > 1) return;
    // Everything asked in this turn goes in one message.
    queueMicrotask(() => {
      const batch = this.outbox;
      this.outbox = [];
      if (batch.length > 0 && !this.closed) this.thread().postMessage(batch);
    });
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER, { name: 'beacon health checks' });
    worker.unref();
    worker.on('message', (msg: FromWorker) => {
      if (msg === 'ready') {
        if (this.worker === worker) this.isReady = true;
        return;
      }
      for (const [id, result] of msg) {
        const p = this.pending.get(id);
        if (!p) continue; // cancelled meanwhile
        this.pending.delete(id);
        p.signal.removeEventListener('abort', p.onAbort);
        p.resolve(result);
      }
    });
    const lost = (why: string) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.isReady = false;
      this.settleAll((p) => ({ passing: false, reason: `health-check thread ${why}`, latencyMs: round(performance.now() - p.started), at: Date.now() }));
    };
    worker.on('error', (err) => lost(`failed: ${err.message}`));
    worker.on('exit', (code) => lost(`exited with code ${code}`));
    this.worker = worker;
    return worker;
  }

  private settleAll(result: (p: Pending) => CheckResult): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) {
      p.signal.removeEventListener('abort', p.onAbort);
      p.resolve(result(p));
    }
  }
}

function cancelled(started: number): CheckResult {
  return { passing: false, reason: 'cancelled', latencyMs: round(performance.now() - started), at: Date.now() };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
