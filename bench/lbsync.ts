/**
 * lbsync benchmark (a script, not a test): real etcd, real nginx, backends on
 * many ports of one node:http server in a child process.
 *   (a) a lone etcd put → the new backend answering through nginx, p50/p95 over 100 samples
 *       after 200 more (the first 100 reported apart);
 *       "lone" means the whole system is quiet: 250 ms after the previous
 *       sample was served, past lbsync's --wait MIN and past nginx's own
 *       reload window (its master sleeps 100 ms after starting new workers
 *       before it retires the old ones, src/os/unix/ngx_process_cycle.c, and
 *       a SIGHUP that arrives meanwhile waits for that). The same 100
 *       samples 60 ms apart are measured too and reported beside it, so the
 *       cost of that window shows.
 *   (b) 500 records put by 16 concurrent writers → reloads, and time until nginx runs a config with all 500;
 *       medians of 5 rounds in one lbsync after a first (cold) one, reported apart
 *   (c) 10,000 endpoints in 500 services → one apply (render + nginx -t + rename + reload + confirm), lbsync RSS
 * Parts (a) and (b) start 1 s after lbsync's first apply: they measure a
 * running lbsync, not one still loading its HTTP client.
 * Each part runs in both nginx modes: reload (every change reloads) and
 * dynamic (endpoint changes pushed into nginx's Lua balancer, no reload).
 * Writes bench/results/lbsync.json. Run: node dist/bench/lbsync.js [latency|burst|scale] [reload|dynamic]
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort, logLines, startBeacon, TestEtcd, TestNginx, waitFor, type Started } from '../test/harness/index.js';
import { median } from './report.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** One GET on a fresh connection (no keep-alive: a kept connection may still be served by an old worker). */
function fetchFresh(port: number, path = '/'): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(res.statusCode === 200 ? body.trim() : `HTTP ${res.statusCode}`));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
  });
}

/** Backends: one child process listening on `count` ports; each answers with `b<i>`. */
async function startBackends(count: number): Promise<{ ports: number[]; stop: () => void }> {
  const code = `
    const http = require('node:http');
    const n = ${count}; const ports = []; let up = 0;
    for (let i = 0; i < n; i++) {
      const s = http.createServer((req, res) => res.end(req.url === '/health' ? 'ok' : 'b' + i));
      s.listen(0, '127.0.0.1', () => { ports[i] = s.address().port; if (++up === n) process.stdout.write(JSON.stringify(ports) + '\\n'); });
    }`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ports = await new Promise<number[]>((resolve) => {
    let buf = '';
    child.stdout!.on('data', (c) => {
      buf += c;
      if (buf.includes('\n')) resolve(JSON.parse(buf));
    });
  });
  return { ports, stop: () => child.kill('SIGKILL') };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(name)).reduce((s, l) => s + Number(l.split(' ').pop()), 0);
}

type Mode = 'reload' | 'dynamic';

/** How long a part waits after lbsync's first apply before it measures. */
const SETTLED_MS = 1000;

/**
 * Part (a) measures the lone put after this many changes (at the same pace),
 * and reports the first 100 apart (`firstP50Ms`): V8 compiles lbsync's
 * watch → apply → push path fully only after a few hundred runs, and the
 * first hundred after a start are ~0.4 ms slower than a running lbsync's.
 */
const LATENCY_WARMUP = 200;

/**
 * Part (b) runs this many rounds in one lbsync (the service emptied between
 * them): the first meets code V8 has not compiled yet, as only a freshly
 * started lbsync would, and is reported apart as `cold`; the figures are the
 * medians of the others, since one burst on two shared cores varies by 3×.
 */
const BURST_ROUNDS = 6;

/** An apply that made a change live: a reload, or (dynamic mode) a push. */
const APPLIED = /^(reloaded nginx|pushed \d+ services? to nginx)/;

async function stack(dir: string, mode: Mode) {
  const etcd = await new TestEtcd().start();
  const nginx = new TestNginx({ lua: mode === 'dynamic' });
  nginx.writeConf('beacon.conf', '# empty\n');
  await nginx.start();
  const client = etcd.client();
  const conf = join(nginx.confDir, 'conf.d', 'beacon.conf');
  const procs: Started[] = [];
  const lbsync = (extra: string[], name: string) => {
    const log = join(dir, `${name}.log`);
    rmSync(log, { force: true });
    const proc = startBeacon(
      ['lbsync', '--etcd', etcd.url, '--nginx-conf', conf, '--nginx-test', nginx.command('-t'), '--nginx-reload', nginx.command('-s', 'reload'), '--nginx-mode', mode, ...extra],
      log,
      { BEACON_LOG_LEVEL: 'debug' },
    );
    procs.push(proc);
    return { proc, log };
  };
  const stop = async () => {
    for (const p of procs) await p.stop('SIGKILL');
    client.close();
    await nginx.destroy();
    await etcd.destroy();
  };
  return { etcd, nginx, client, conf, lbsync, stop };
}

async function latency(dir: string, samples: number, gapMs: number, mode: Mode, warmup = 0) {
  const s = await stack(dir, mode);
  const backends = await startBackends(samples);
  try {
    const port = await freePort();
    const cfg = join(dir, 'latency.yaml');
    writeFileSync(cfg, `upstreams:\n  probe:\n    servers: [{ listen: "127.0.0.1:${port}" }]\n`);
    const put = (i: number) => s.client.put('/services/probe/p').value(JSON.stringify({ service: 'probe', instance: 'p', host: '127.0.0.1', port: backends.ports[i], check: { http: '/health' } }));
    await put(0);
    const { log } = s.lbsync(['--config', cfg], 'latency');
    await waitFor(async () => (await fetchFresh(port).catch(() => '')) === 'b0', 20_000, 'first probe');
    await delay(SETTLED_MS);
    const all: number[] = [];
    for (let i = 1; i <= warmup + samples; i++) {
      const want = `b${i % samples}`;
      await delay(gapMs);
      const t0 = performance.now();
      await put(i % samples);
      for (;;) {
        const body = await fetchFresh(port).catch(() => '');
        if (body === want) break;
      }
      all.push(performance.now() - t0);
    }
    const times = all.slice(warmup).sort((a, b) => a - b);
    const first = all.slice(0, samples).sort((a, b) => a - b);
    const reloads = logLines(log).filter((l) => /^reloaded nginx/.test(l.msg)).length;
    return {
      mode,
      samples,
      gapMs,
      warmup,
      p50Ms: round1(percentile(times, 50)),
      p95Ms: round1(percentile(times, 95)),
      maxMs: round1(times[times.length - 1]!),
      ...(warmup > 0 ? { firstP50Ms: round1(percentile(first, 50)), firstP95Ms: round1(percentile(first, 95)) } : {}),
      reloads,
    };
  } finally {
    backends.stop();
    await s.stop();
  }
}

/** One round of part (b): every record put by concurrent writers, until nginx runs all of them. */
interface BurstRound {
  putMs: number;
  reloads: number;
  untilAllMs: number;
  afterLastPutMs: number;
  afterLastPassMs: number | undefined;
}

async function burst(dir: string, records: number, writers: number, mode: Mode) {
  const s = await stack(dir, mode);
  const backends = await startBackends(records);
  try {
    const metricsPort = await freePort();
    const port = await freePort();
    const cfg = join(dir, 'burst.yaml');
    // `services` makes the upstream exist before the burst: the burst is endpoint
    // changes of an existing service (what dynamic mode pushes without reloads).
    writeFileSync(cfg, `services: [burst]\nupstreams:\n  burst:\n    servers: [{ listen: "127.0.0.1:${port}" }]\n`);
    const { log } = s.lbsync(['--metrics-port', String(metricsPort), '--config', cfg], 'burst');
    await waitFor(() => logLines(log).some((l) => /^started lbsync/.test(l.msg)), 20_000, 'lbsync start');
    await waitFor(() => metric(metricsPort, 'beacon_lbsync_applies_total').then((n) => n >= 1), 20_000, 'first apply');
    // A burst meets a running lbsync, not one still loading its HTTP client
    // and check thread in its first hundred milliseconds.
    await delay(SETTLED_MS);
    const servedAll = (n: number, from: number) => (l: { msg: string }, i: number) => i >= from && APPLIED.test(l.msg) && new RegExp(`\\(\\d+ upstreams?, ${n} servers?`).test(l.msg);
    const round = async (): Promise<BurstRound> => {
      const from = logLines(log).length;
      const before = await metric(metricsPort, 'beacon_lbsync_reloads_total');
      const t0 = Date.now();
      const t0p = performance.now();
      let next = 0;
      await Promise.all(
        Array.from({ length: writers }, async () => {
          for (let i = next++; i < records; i = next++) {
            await s.client.put(`/services/burst/e${i}`).value(JSON.stringify({ service: 'burst', instance: `e${i}`, host: '127.0.0.1', port: backends.ports[i], check: { http: '/health' } }));
          }
        }),
      );
      const putMs = performance.now() - t0p;
      const lastPutAt = Date.now();
      const full = await waitFor(() => logLines(log).find(servedAll(records, from)), 20_000, `an apply with all ${records}`);
      // Reloads until 2 s after: a late flap would show.
      await delay(2000);
      const reloads = (await metric(metricsPort, 'beacon_lbsync_reloads_total')) - before;
      // lbsync's own share: from the last write acknowledged to nginx running all of them;
      // and from the last endpoint's first passing check (health checks on) to that.
      const passes = logLines(log)
        .slice(from)
        .filter((l) => /^marked burst\/\S+ passing/.test(l.msg));
      const lastPassAt = Math.max(...passes.map((l) => Date.parse(l.time!)));
      const servedAt = Date.parse(full.time!);
      return { putMs: round1(putMs), reloads, untilAllMs: servedAt - t0, afterLastPutMs: servedAt - lastPutAt, afterLastPassMs: passes.length ? servedAt - lastPassAt : undefined };
    };
    const rounds: BurstRound[] = [];
    for (let r = 0; r < BURST_ROUNDS; r++) {
      if (r > 0) {
        // Back to an empty service, and quiet, before the next round.
        const from = logLines(log).length;
        await s.client.delete().prefix('/services/burst/');
        await waitFor(() => logLines(log).find(servedAll(0, from)), 20_000, 'an apply with none');
        await delay(SETTLED_MS);
      }
      rounds.push(await round());
    }
    // Check that they really answer: round robin over one worker walks every member in `records` requests.
    const seen = new Set<string>();
    for (let i = 0; i < records * 2 && seen.size < records; i++) seen.add(await fetchFresh(port, '/b').catch(() => ''));
    const warm = rounds.slice(1);
    const med = (pick: (r: BurstRound) => number | undefined) => median(warm.map(pick).filter((v): v is number => v !== undefined));
    return {
      mode,
      records,
      writers,
      rounds: warm.length,
      putMs: med((r) => r.putMs),
      reloads: Math.max(...warm.map((r) => r.reloads)),
      untilAllMs: med((r) => r.untilAllMs),
      afterLastPutMs: med((r) => r.afterLastPutMs),
      afterLastPutRangeMs: [Math.min(...warm.map((r) => r.afterLastPutMs)), Math.max(...warm.map((r) => r.afterLastPutMs))],
      afterLastPassMs: med((r) => r.afterLastPassMs),
      answering: seen.size,
      cold: rounds[0],
      each: warm,
    };
  } finally {
    backends.stop();
    await s.stop();
  }
}

async function scale(dir: string, services: number, perService: number, health: 'on' | 'off', mode: Mode) {
  const s = await stack(dir, mode);
  const backends = await startBackends(perService);
  try {
    const ops = [];
    for (let sv = 0; sv < services; sv++) {
      for (let e = 0; e < perService; e++) {
        ops.push([`/services/s${sv}/e${e}`, JSON.stringify({ service: `s${sv}`, instance: `e${e}`, host: '127.0.0.1', port: backends.ports[e] })] as const);
      }
    }
    for (let i = 0; i < ops.length; i += 100) {
      const txn = s.client.if('/x', 'Version', '==', 0).then(...ops.slice(i, i + 100).map(([k, v]) => s.client.put(k).value(v)));
      await txn.commit();
    }
    const { proc, log } = s.lbsync(['--health', health], `scale-health-${health}`);
    const first = await waitFor(() => logLines(log).find((l) => APPLIED.test(l.msg)), 60_000, 'first apply of 10k');
    await delay(10_000); // let the first 10k health results land (and any re-apply they cause)
    const applies: number[] = [];
    const details: string[] = [];
    for (let i = 0; i < 6; i++) {
      const count = logLines(log).filter((l) => APPLIED.test(l.msg)).length;
      // Alternately remove and restore one endpoint: each is a real change of the rendered config.
      if (i % 2 === 0) await s.client.delete().key(`/services/s${i}/e0`);
      else await s.client.put(`/services/s${i - 1}/e0`).value(JSON.stringify({ service: `s${i - 1}`, instance: 'e0', host: '127.0.0.1', port: backends.ports[0] }));
      const line = await waitFor(() => logLines(log).filter((l) => APPLIED.test(l.msg))[count], 30_000, 'apply of one change at 10k');
      applies.push(line.latencyMs ?? NaN);
      details.push(line.msg);
      await delay(1000);
    }
    await delay(2000);
    const rssMb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'))![1]) / 1024;
    applies.sort((a, b) => a - b);
    return { mode, health, endpoints: services * perService, services, firstApplyMs: first.latencyMs, applyMedianMs: round1((applies[2]! + applies[3]!) / 2), applyMs: applies.map(round1), sample: details[2], rssMb: round1(rssMb) };
  } finally {
    backends.stop();
    await s.stop();
  }
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

const dir = join(ROOT, '.beacon', 'bench-lbsync');
mkdirSync(dir, { recursive: true });
const only = process.argv[2];
const modes: Mode[] = process.argv[3] === 'reload' || process.argv[3] === 'dynamic' ? [process.argv[3]] : ['reload', 'dynamic'];
async function part(mode: Mode) {
  return {
    latency: !only || only === 'latency' ? await latency(dir, 100, 250, mode, LATENCY_WARMUP) : undefined,
    latencyRapid: !only || only === 'latency' ? await latency(dir, 100, 60, mode) : undefined,
    burst: !only || only === 'burst' ? await burst(dir, 500, 16, mode) : undefined,
    scale: !only || only === 'scale' ? await scale(dir, 500, 20, 'on', mode) : undefined,
    scaleHealthOff: !only || only === 'scale' ? await scale(dir, 500, 20, 'off', mode) : undefined,
  };
}
const byMode: Partial<Record<Mode, Awaited<ReturnType<typeof part>>>> = {};
for (const mode of modes) byMode[mode] = await part(mode);
const result = {
  when: new Date().toISOString(),
  ...byMode.reload,
  dynamic: byMode.dynamic,
  targets: { latencyP50Ms: 30, burstReloads: 3, burstUntilAllMs: 300, scaleApplyMs: 500, scaleRssMb: 200, dynamicLatencyP50Ms: 5, dynamicBurstReloads: 0, dynamicBurstAfterLastPutMs: 50, dynamicScaleApplyMs: 50 },
};
console.log(JSON.stringify(result, null, 2));
mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
if (!only) writeFileSync(join(ROOT, 'bench', 'results', 'lbsync.json'), JSON.stringify(result, null, 2) + '\n');
process.exit(0);
