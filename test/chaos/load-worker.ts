/**
 * The load generator's child process: `concurrency` closed loops of HTTP GETs
 * to one loopback URL, either one new connection per request
 * (`Connection: close`) or, with `keepAlive`, over `concurrency` kept-alive
 * connections as browsers and service clients use them (where an nginx reload
 * can race a reused idle connection: ECONNRESET), paced to at most
 * `rate` requests per second, bounded by `maxRequests` and `durationMs`.
 * Driven over IPC: `stop` ends it; `inflight` asks how many requests are open.
 * Replies with a `summary` message.
 */
import { Agent, request } from 'node:http';

export interface LoadConfig {
  url: string;
  concurrency: number;
  rate: number;
  durationMs: number;
  maxRequests: number;
  timeoutMs: number;
  /** Reuse `concurrency` kept-alive connections instead of one connection per request. */
  keepAlive?: boolean;
}

export interface Failure {
  /** ms since the load started. */
  at: number;
  error: string;
}

export interface LoadSummary {
  sent: number;
  ok: number;
  failed: number;
  failures: Failure[];
  /** Answers per body (the backend's name). */
  byBackend: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
  durationMs: number;
}

const config = JSON.parse(process.argv[2]!) as LoadConfig;
const target = new URL(config.url);
const started = performance.now();
let stopped = false;
let sent = 0;
let ok = 0;
let inflight = 0;
const failures: Failure[] = [];
const byBackend: Record<string, number> = {};
const latencies: number[] = [];
const interval = 1000 / config.rate;
const agent = config.keepAlive ? new Agent({ keepAlive: true, maxSockets: config.concurrency }) : false;
let nextSlot = started;

function once(): Promise<void> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    inflight++;
    const done = (error?: string, body?: string) => {
      inflight--;
      if (error) failures.push({ at: Math.round(t0 - started), error });
      else {
        ok++;
        latencies.push(performance.now() - t0);
        const name = (body ?? '').trim().slice(0, 40);
        byBackend[name] = (byBackend[name] ?? 0) + 1;
      }
      resolve();
    };
    const req = request(
      { host: target.hostname, port: target.port, path: target.pathname, agent, timeout: config.timeoutMs, headers: config.keepAlive ? {} : { connection: 'close' } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => (res.statusCode === 200 ? done(undefined, body) : done(`HTTP ${res.statusCode}`)));
        res.on('error', (err) => done(`response ${err.message}`));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => done(`${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}`.trim()));
    req.end();
  });
}

async function loop(): Promise<void> {
  while (!stopped && sent < config.maxRequests && performance.now() - started < config.durationMs) {
    // Pace: take the next slot of the global schedule.
    const slot = nextSlot;
    nextSlot = Math.max(nextSlot + interval, performance.now() - 50);
    const wait = slot - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (stopped) break;
    sent++;
    await once();
  }
}

function summary(): LoadSummary {
  const sorted = [...latencies].sort((a, b) => a - b);
  const pct = (p: number) => (sorted.length ? Math.round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! * 10) / 10 : 0);
  return { sent, ok, failed: failures.length, failures, byBackend, p50Ms: pct(50), p99Ms: pct(99), durationMs: Math.round(performance.now() - started) };
}

process.on('message', (m: { type: string }) => {
  if (m.type === 'stop') stopped = true;
  if (m.type === 'inflight') process.send?.({ type: 'inflight', inflight, at: Math.round(performance.now() - started) });
});
process.on('disconnect', () => process.exit(0));

await Promise.all(Array.from({ length: config.concurrency }, loop));
process.send?.({ type: 'summary', summary: summary() }, () => process.disconnect());
