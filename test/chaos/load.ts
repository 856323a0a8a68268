import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { LoadConfig, LoadSummary } from './load-worker.js';

export type { LoadSummary } from './load-worker.js';

const WORKER = fileURLToPath(new URL('./load-worker.js', import.meta.url));

/**
 * A steady HTTP load on a loopback URL in a child process (so the scenario's
 * own work does not slow it down), bounded in count and time.
 */
export class Load {
  private readonly child: ChildProcess;
  readonly done: Promise<LoadSummary>;
  readonly config: LoadConfig;

  constructor(config: Partial<LoadConfig> & { url: string }) {
    if (!/^http:\/\/127\.\d+\.\d+\.\d+:\d+\//.test(config.url)) throw new Error(`load only goes to loopback: ${config.url}`);
    this.config = { concurrency: 4, rate: 150, durationMs: 120_000, maxRequests: 100_000, timeoutMs: 15_000, ...config };
    this.child = fork(WORKER, [JSON.stringify(this.config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.done = new Promise((resolve, reject) => {
      this.child.on('message', (m: { type: string; summary?: LoadSummary }) => {
        if (m.type === 'summary') resolve(m.summary!);
      });
      this.child.on('exit', (code) => reject(new Error(`load generator exited (${code}) without a summary`)));
    });
    this.done.catch(() => undefined);
  }

  /** How many requests are open right now (asked of the child). */
  inflight(): Promise<number> {
    return new Promise((resolve) => {
      const onMessage = (m: { type: string; inflight?: number }) => {
        if (m.type !== 'inflight') return;
        this.child.off('message', onMessage);
        resolve(m.inflight!);
      };
      this.child.on('message', onMessage);
      this.child.send({ type: 'inflight' });
    });
  }

  /** Stops sending, waits for open requests, returns the summary. */
  async stop(): Promise<LoadSummary> {
    if (this.child.connected) this.child.send({ type: 'stop' });
    return this.done;
  }

  /** Ends the child at once (cleanup after a failure). */
  kill(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}
