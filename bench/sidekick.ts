/**
 * Benchmark of `beacon sidekick docker`, run as its own process (the compiled
 * CLI) against a real etcd and the real dockerd:
 *
 *   node dist/bench/sidekick.js [--starts 200] [--running 500] [--etcd URL] [--out bench/results/sidekick.json]
 *
 * Phase 1 starts and stops `--starts` labelled busybox containers one after
 * another and measures, for each, the time from Docker's event time
 * (`timeNano` of `start`, and of the first of kill(SIGTERM)/die/stop for a
 * removal) to the record appearing / disappearing in an etcd watch held by
 * this process. Phase 2 brings `--running` containers up and reads the
 * sidekick's RSS once all their records are published. Prints p50/p95/p99/max
 * against the targets and writes the figures as JSON.
 *
 * Use small numbers for a quick run: `--starts 20 --running 50`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { cpus, loadavg, tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';
import {
  docker,
  ensureTestImage,
  removeTestContainers,
  RUN_ID,
  RUN_LABEL,
  runContainer,
  startBeacon,
  TestEtcd,
  waitFor,
} from '../test/harness/index.js';
import { isStopSignal, parseDockerEvent } from '../sidekicks/index.js';
import { LineSplitter } from '../sidekicks/line-splitter.js';

const TARGETS = { startP50Ms: 6, startP99Ms: 20, removeP50Ms: 4, removeP99Ms: 20, rssMb: 80 };
const WARMUP = 5;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

/** Wall clock with sub-millisecond resolution, comparable with Docker's timeNano. */
const nowMs = () => performance.timeOrigin + performance.now();

function stats(values: number[]) {
  const s = [...values].sort((a, b) => a - b);
  const pct = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN);
  const r = (n: number) => Math.round(n * 100) / 100;
  return { count: s.length, p50: r(pct(50)), p95: r(pct(95)), p99: r(pct(99)), max: r(s[s.length - 1] ?? NaN), mean: r(s.reduce((a, b) => a + b, 0) / (s.length || 1)) };
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return Math.round((kb / 1024) * 10) / 10;
}

async function main(): Promise<void> {
  const starts = Number(arg('starts', '200'));
  const runningTarget = Number(arg('running', '500'));
  const out = resolve(arg('out', join(dirname(fileURLToPath(import.meta.url)), '../../bench/results/sidekick.json')));
  const node = `bench-${RUN_ID}`;
  const say = (msg: string) => process.stderr.write(`${msg}\n`);

  await ensureTestImage();
  let etcd: TestEtcd | undefined;
  let etcdUrl = arg('etcd', '');
  if (!etcdUrl) {
    etcd = await new TestEtcd().start();
    etcdUrl = etcd.url;
  }
  const client = new Etcd3({ hosts: etcdUrl.replace(/^https?:\/\//, '') });
  const logFile = join(tmpdir(), `beacon-bench-sidekick-${RUN_ID}.log`);
  say(`etcd ${etcdUrl}; sidekick log ${logFile}`);

  // Docker's event times, by container id, from our own events subscription.
  const startAt = new Map<string, number>();
  const stopAt = new Map<string, number>();
  const events = await docker.getEvents({ filters: { type: ['container'], label: [`${RUN_LABEL}=${RUN_ID}`] } });
  const lines = new LineSplitter();
  events.on('data', (chunk: Buffer) => {
    for (const line of lines.push(chunk)) {
      const ev = parseDockerEvent(line);
      if (!ev) continue;
      const t = ev.timeNano / 1e6;
      if (ev.action === 'start') startAt.set(ev.id, t);
      const removal = ev.action === 'die' || ev.action === 'stop' || ev.action === 'destroy' || (ev.action === 'kill' && isStopSignal(ev.detail));
      if (removal && !stopAt.has(ev.id)) stopAt.set(ev.id, t);
    }
  });

  // When each record appeared / disappeared in our etcd watch.
  const keyOf = new Map<string, string>();
  const appeared = new Map<string, number>();
  const vanished = new Map<string, number>();
  const watcher = await client.watch().prefix('/services/').create();
  watcher.on('put', (kv) => {
    const t = nowMs();
    try {
      const record = JSON.parse(kv.value.toString()) as { container?: string; node?: string };
      if (record.node !== node || !record.container) return;
      keyOf.set(kv.key.toString(), record.container);
      if (!appeared.has(record.container)) appeared.set(record.container, t);
    } catch {
      // not a canonical record
    }
  });
  watcher.on('delete', (kv) => {
    const t = nowMs();
    const short = keyOf.get(kv.key.toString());
    if (short && !vanished.has(short)) vanished.set(short, t);
  });

  const sidekick = startBeacon(
    ['sidekick', 'docker', '--etcd', etcdUrl, '--node', node, '--ttl', '15s', '--advertise-ip', '127.0.0.1', '--label-filter', `${RUN_LABEL}=${RUN_ID}`],
    logFile,
  );
  const cleanup = async () => {
    await sidekick.stop('SIGTERM');
    watcher.removeAllListeners();
    await watcher.cancel().catch(() => undefined);
    (events as unknown as { destroy(): void }).destroy();
    await removeTestContainers();
    client.close();
    await etcd?.destroy();
  };
  try {
    await waitFor(() => readFileSync(logFile, 'utf8').includes('started docker sidekick'), 15_000, 'sidekick start');
    await new Promise((r) => setTimeout(r, 500));
    // For scale: what the process costs before it follows a single container.
    const idleRss = rssMb(sidekick.pid);
    // Other work on this machine skews latency; the load before phase 1 says how much.
    const loadBefore = loadavg().map((l) => Math.round(l * 100) / 100);

    say(`phase 1: ${starts} starts and stops, one after another (+${WARMUP} warm-up)`);
    const startLat: number[] = [];
    const stopLat: number[] = [];
    for (let i = 0; i < starts + WARMUP; i++) {
      const c = await runContainer({ labels: { SERVICE_NAME: 'benchweb' }, publish: [80] });
      const short = c.id.slice(0, 12);
      await waitFor(() => appeared.has(short) && startAt.has(c.id), 10_000, `record of ${short}`, 1);
      await c.stop({ t: 5 });
      await waitFor(() => vanished.has(short) && stopAt.has(c.id), 10_000, `removal of ${short}`, 1);
      if (i >= WARMUP) {
        startLat.push(appeared.get(short)! - startAt.get(c.id)!);
        stopLat.push(vanished.get(short)! - stopAt.get(c.id)!);
      }
      void c.remove({ force: true }).catch(() => undefined);
      if ((i + 1) % 50 === 0) say(`  ${i + 1}/${starts + WARMUP}`);
    }

    say(`phase 2: ${runningTarget} running containers`);
    const before = appeared.size;
    let launched = 0;
    const worker = async () => {
      while (launched < runningTarget) {
        launched++;
        await runContainer({ labels: { SERVICE_NAME: 'benchfleet' }, publish: [80] });
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    await waitFor(async () => {
      const res = await client.getAll().prefix('/services/benchfleet/').keys();
      return res.length >= runningTarget;
    }, 120_000, `${runningTarget} records`, 200);
    await new Promise((r) => setTimeout(r, 2000));
    const rss = rssMb(sidekick.pid);
    say(`  ${appeared.size - before} records published; sidekick RSS ${rss} MB`);

    const result = {
      at: new Date().toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model },
      starts,
      running: runningTarget,
      startToRecordMs: stats(startLat),
      removalToGoneMs: stats(stopLat),
      sidekickRssMb: rss,
      sidekickRssIdleMb: idleRss,
      loadAverageBefore: loadBefore,
      targets: TARGETS,
      pass: {
        startP50: stats(startLat).p50 <= TARGETS.startP50Ms,
        startP99: stats(startLat).p99 <= TARGETS.startP99Ms,
        removeP50: stats(stopLat).p50 <= TARGETS.removeP50Ms,
        removeP99: stats(stopLat).p99 <= TARGETS.removeP99Ms,
        rss: rss <= TARGETS.rssMb,
      },
    };
    const row = (label: string, s: ReturnType<typeof stats>, p50: number, p99: number) =>
      `${label.padEnd(22)} n=${String(s.count).padEnd(4)} p50 ${s.p50} ms (≤ ${p50})  p95 ${s.p95} ms  p99 ${s.p99} ms (≤ ${p99})  max ${s.max} ms`;
    process.stdout.write(
      [
        'beacon sidekick docker benchmark',
        row('start → record', result.startToRecordMs, TARGETS.startP50Ms, TARGETS.startP99Ms),
        row('removal → gone', result.removalToGoneMs, TARGETS.removeP50Ms, TARGETS.removeP99Ms),
        `sidekick RSS with ${runningTarget} running: ${rss} MB (≤ ${TARGETS.rssMb}); idle before the first container: ${idleRss} MB`,
        `load average before phase 1 (1/5/15 min): ${loadBefore.join(' ')} on ${cpus().length} CPUs`,
        `pass: ${JSON.stringify(result.pass)}`,
        '',
      ].join('\n'),
    );
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
    say(`wrote ${out}`);
  } finally {
    say('cleaning up');
    await cleanup();
  }
}

await main();
