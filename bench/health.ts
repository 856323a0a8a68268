/**
 * Benchmark of the health scheduler and HTTP checker: N endpoints (default
 * 2,000 ports served by node:http in child processes, so serving costs are not
 * counted) checked every interval (default 2s) for a duration (default 60s).
 *
 *   node dist/bench/health.js [--endpoints 2000] [--interval 2s] [--duration 60s] [--servers 2] [--concurrency 256]
 *
 * Prints checks/s, schedule lag p50/p99 (due → started, queueing included),
 * this process's CPU share of one core and its RSS, against the targets, and
 * writes the figures to bench/results/health.json. "steady" figures leave out
 * the first two intervals, when every endpoint is added at once.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { cpus } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseDuration } from '../registry/duration.js';
import { HealthScheduler, resolveSpec } from '../health/index.js';

const TARGETS = { lagP99Ms: 100, cpuShare: 0.5, rssMb: 150 };

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

/** Child role: listen on `count` ports of 127.0.0.1 and report them. */
async function serve(count: number): Promise<void> {
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    const server = createServer((_req, res) => res.end('ok\n'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', 1024, resolve));
    ports.push((server.address() as { port: number }).port);
  }
  process.send!({ ports });
  process.on('disconnect', () => process.exit(0));
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

async function main(): Promise<void> {
  const endpoints = Number(arg('endpoints', '2000'));
  const intervalMs = parseDuration(arg('interval', '2s'), '--interval');
  const durationMs = parseDuration(arg('duration', '60s'), '--duration');
  const serverCount = Number(arg('servers', '2'));
  const concurrency = Number(arg('concurrency', '256'));

  process.stderr.write(`starting ${serverCount} server process(es) with ${endpoints} ports…\n`);
  const children: ChildProcess[] = [];
  const ports: number[] = [];
  for (let s = 0; s < serverCount; s++) {
    const share = Math.floor(endpoints / serverCount) + (s < endpoints % serverCount ? 1 : 0);
    const child = fork(fileURLToPath(import.meta.url), ['--serve', String(share)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(child);
    const got = await new Promise<number[]>((resolve, reject) => {
      child.once('message', (m) => resolve((m as { ports: number[] }).ports));
      child.once('exit', (code) => reject(new Error(`server process exited with ${code}`)));
    });
    ports.push(...got);
  }

  const scheduler = new HealthScheduler({ concurrency });
  const spec = resolveSpec({ http: '/health' }, { intervalMs, timeoutMs: 2000, jitter: 0.1 });
  const capacity = Math.ceil((endpoints * durationMs) / intervalMs / 0.85) + endpoints + 1000;
  const lags = new Float64Array(capacity);
  const latencies = new Float64Array(capacity);
  const finishedAt = new Float64Array(capacity);
  let count = 0;
  let failures = 0;
  const reasons = new Map<string, number>();
  scheduler.on('result', (_id, result, timing) => {
    if (count < capacity) {
      lags[count] = timing.lagMs;
      latencies[count] = result.latencyMs;
      finishedAt[count] = performance.now();
      count++;
    }
    if (!result.passing) {
      failures++;
      reasons.set(result.reason, (reasons.get(result.reason) ?? 0) + 1);
    }
  });

  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  let rssMax = 0;
  let steadyRssMax = 0;
  const start = performance.now();
  const steadyFrom = start + 2 * intervalMs;
  const cpu0 = process.cpuUsage();
  let cpuSteady0: NodeJS.CpuUsage | undefined;
  const sampler = setInterval(() => {
    const rss = process.memoryUsage.rss();
    rssMax = Math.max(rssMax, rss);
    if (performance.now() >= steadyFrom) {
      cpuSteady0 ??= process.cpuUsage();
      steadyRssMax = Math.max(steadyRssMax, rss);
    }
  }, 250);

  process.stderr.write(`checking ${endpoints} endpoints every ${intervalMs}ms for ${durationMs}ms (concurrency ${concurrency})…\n`);
  ports.forEach((port, i) => scheduler.upsert(`bench/e${i}`, { host: '127.0.0.1', port }, spec));
  await new Promise((resolve) => setTimeout(resolve, durationMs));
  const wallMs = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  const steadyWallMs = performance.now() - steadyFrom;
  const cpuSteady = cpuSteady0 ? process.cpuUsage(cpuSteady0) : undefined;
  clearInterval(sampler);
  loop.disable();
  const stats = scheduler.snapshot();
  await scheduler.stop();
  for (const child of children) child.disconnect();

  const steadyIdx: number[] = [];
  for (let i = 0; i < count; i++) if (finishedAt[i]! >= steadyFrom) steadyIdx.push(i);
  const sortedLag = lags.slice(0, count).sort();
  const sortedLat = latencies.slice(0, count).sort();
  const steadyLag = Float64Array.from(steadyIdx, (i) => lags[i]!).sort();
  const cpuShare = (cpu.user + cpu.system) / 1000 / wallMs;
  const steadyCpuShare = cpuSteady ? (cpuSteady.user + cpuSteady.system) / 1000 / steadyWallMs : NaN;

  const results = {
    when: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    config: { endpoints, intervalMs, durationMs, serverProcesses: serverCount, concurrency, jitter: spec.jitter, timeoutMs: spec.timeoutMs },
    checks: count,
    checksPerSecond: round(count / (wallMs / 1000)),
    expectedChecksPerSecond: round(endpoints / (intervalMs / 1000)),
    failures,
    failureReasons: Object.fromEntries(reasons),
    passingAtEnd: stats.filter((e) => e.state === 'passing').length,
    lagMs: { p50: round(percentile(sortedLag, 50), 2), p99: round(percentile(sortedLag, 99), 2), max: round(sortedLag[count - 1] ?? NaN, 2) },
    steadyLagMs: { p50: round(percentile(steadyLag, 50), 2), p99: round(percentile(steadyLag, 99), 2), max: round(steadyLag[steadyLag.length - 1] ?? NaN, 2) },
    checkLatencyMs: { p50: round(percentile(sortedLat, 50), 2), p99: round(percentile(sortedLat, 99), 2) },
    cpuShareOfOneCore: round(cpuShare, 3),
    steadyCpuShareOfOneCore: round(steadyCpuShare, 3),
    rssMb: { max: round(rssMax / 2 ** 20), steadyMax: round(steadyRssMax / 2 ** 20) },
    eventLoopDelayMs: { p50: round(loop.percentile(50) / 1e6, 2), p99: round(loop.percentile(99) / 1e6, 2) },
    targets: TARGETS,
    meets: {
      lagP99: percentile(sortedLag, 99) <= TARGETS.lagP99Ms,
      cpu: cpuShare <= TARGETS.cpuShare,
      rss: rssMax / 2 ** 20 <= TARGETS.rssMb,
    },
  };

  const verdict = (ok: boolean) => (ok ? 'ok  ' : 'MISS');
  process.stdout.write(
    [
      `health bench: ${endpoints} HTTP endpoints every ${intervalMs}ms for ${round(wallMs / 1000)}s, concurrency ${concurrency}`,
      `  checks/s        ${results.checksPerSecond} (expected ~${results.expectedChecksPerSecond}); ${count} checks, ${failures} failing`,
      `  ${verdict(results.meets.lagP99)} lag p50/p99   ${results.lagMs.p50} / ${results.lagMs.p99} ms (target p99 ≤ ${TARGETS.lagP99Ms}); steady ${results.steadyLagMs.p50} / ${results.steadyLagMs.p99} ms; max ${results.lagMs.max} ms`,
      `  ${verdict(results.meets.cpu)} CPU           ${round(cpuShare * 100)} % of one core (target ≤ ${TARGETS.cpuShare * 100} %); steady ${round(steadyCpuShare * 100)} %`,
      `  ${verdict(results.meets.rss)} RSS max       ${results.rssMb.max} MB (target ≤ ${TARGETS.rssMb})`,
      `  check latency   p50 ${results.checkLatencyMs.p50} ms, p99 ${results.checkLatencyMs.p99} ms; event-loop delay p99 ${results.eventLoopDelayMs.p99} ms`,
      '',
    ].join('\n'),
  );
  if (failures > 0) process.stdout.write(`  failures: ${JSON.stringify(results.failureReasons)}\n`);
  const out = fileURLToPath(new URL('../../bench/results/health.json', import.meta.url));
  mkdirSync(fileURLToPath(new URL('../../bench/results/', import.meta.url)), { recursive: true });
  writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
  process.stdout.write(`  wrote ${out}\n`);
}

if (process.argv[2] === '--serve') await serve(Number(process.argv[3]));
else await main();
