/**
 * A burst: N containers started at once (docker-gen's test: 1 reload, ~1.5 s
 * here) through the real chain — dockerd, the compiled `beacon sidekick
 * docker`, etcd, `beacon lbsync` in reload mode with HTTP health checks on
 * (the sidekick's SERVICE_CHECK_HTTP, default interval and rise/fall), nginx.
 *
 *   node dist/bench/burst.js [--containers 50] [--runs 3]
 *
 * Per run, with a fresh stack: time from the LAST container's Docker `start`
 * event to nginx running a config with all N (lbsync's `reloaded nginx (…, N
 * servers` line, then checked by requests: every container answers through
 * nginx), the reloads from the first start until 6 s after that (a flap would
 * show), and how many endpoints were ever marked failing. Prints the per-run
 * figures and their medians; with --out, writes the JSON there.
 * BENCH_LOGS=DIR keeps the logs of each run.
 * Targets (issue 16): all served ≤ 1 s after the last start; reloads ≤ 3.
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type Docker from 'dockerode';
import {
  ensureTestImage,
  freePort,
  logLines,
  removeTestContainers,
  runContainer,
  startBeacon,
  TestEtcd,
  TestNginx,
  waitFor,
  type LogLine,
} from '../test/harness/index.js';
import { containerEvents, writeLbsyncConfig } from './chain-stack.js';
import { median, printFigures, r1, type Figure } from './report.js';

const { values } = parseArgs({ options: { containers: { type: 'string', default: '50' }, runs: { type: 'string', default: '3' }, out: { type: 'string' } } });
const COUNT = Number(values.containers);
const RUNS = Number(values.runs);
const LABEL = 'beacon.bench.burst';

/** One GET on a fresh connection: the body (a container's name) or '' on any failure. */
function fetchFresh(port: number): Promise<string> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(res.statusCode === 200 ? body.trim() : ''));
    });
    req.on('error', () => resolve(''));
    req.setTimeout(2000, () => req.destroy());
  });
}

const reloads = (log: string): LogLine[] => logLines(log).filter((l) => /^reloaded nginx/.test(l.msg));

export interface BurstRun {
  containers: number;
  /** Last container's start event → lbsync's reload that put all of them in nginx. */
  afterLastStartMs: number;
  /** First → last start event: how spread out "at once" was. */
  startSpreadMs: number;
  reloads: number;
  /** Endpoints lbsync ever marked failing during the run. */
  markedFailing: number;
  /** Distinct containers that answered through nginx after convergence. */
  answering: number;
}

async function runOnce(run: number): Promise<BurstRun> {
  const etcd = await new TestEtcd().start();
  const nginx = await new TestNginx().start();
  const port = await freePort();
  const config = writeLbsyncConfig(nginx, 'burst', port);
  const logs = nginx.prefix;
  const lbsyncLog = join(logs, 'lbsync.log');
  const sidekick = startBeacon(['sidekick', 'docker', '--etcd', etcd.url, '--label-filter', `${LABEL}=1`, '--advertise-ip', '127.0.0.1', '--node', 'bench'], join(logs, 'sidekick.log'));
  const lbsync = startBeacon(['lbsync', '--etcd', etcd.url, '--config', config], lbsyncLog);
  const events = await containerEvents(LABEL);
  const containers: Docker.Container[] = [];
  try {
    await waitFor(() => logLines(lbsyncLog).some((l) => /^started lbsync/.test(l.msg)), 20_000, 'lbsync to start');
    await waitFor(() => reloads(lbsyncLog).length > 0 || logLines(lbsyncLog).some((l) => /^unchanged/.test(l.msg)), 20_000, 'lbsync to render the empty pool');
    for (let i = 0; i < COUNT; i++) {
      const name = `burst-${run}-${i}-${process.pid}`;
      containers.push(
        await runContainer({
          name,
          start: false,
          publish: [80],
          env: { NAME: name },
          labels: { [LABEL]: '1', SERVICE_NAME: 'burst', SERVICE_CHECK_HTTP: '/health' },
        }),
      );
    }
    const ids = new Set(containers.map((c) => c.id));
    const startTimes: number[] = [];
    events.bus.on('event', (e: { id?: string; Action?: string; status?: string; timeNano?: number }) => {
      if (e.id && ids.has(e.id) && (e.Action ?? e.status) === 'start') startTimes.push(Number(e.timeNano) / 1e6);
    });
    const reloadsBefore = reloads(lbsyncLog).length;
    await Promise.all(containers.map((c) => c.start()));
    await waitFor(() => startTimes.length === COUNT, 30_000, `${COUNT} start events`);
    const all = new RegExp(`^reloaded nginx \\(1 upstream, ${COUNT} servers`);
    const full = await waitFor(() => reloads(lbsyncLog).find((l) => all.test(l.msg)), 60_000, `a reload with all ${COUNT} containers`);
    const lastStart = Math.max(...startTimes);
    // Past nginx's 100 ms reload window, round robin over one worker walks every member in COUNT requests.
    await delay(250);
    const seen = new Set<string>();
    for (let i = 0; i < COUNT * 3 && seen.size < COUNT; i++) seen.add(await fetchFresh(port));
    seen.delete('');
    // Reloads caused by the burst, including any flap that follows it.
    await delay(6000);
    const result: BurstRun = {
      containers: COUNT,
      afterLastStartMs: r1(Date.parse(full.time!) - lastStart),
      startSpreadMs: r1(lastStart - Math.min(...startTimes)),
      reloads: reloads(lbsyncLog).length - reloadsBefore,
      markedFailing: new Set(logLines(lbsyncLog).filter((l) => /^marked \S+ failing/.test(l.msg)).map((l) => l.msg.split(' ')[1])).size,
      answering: seen.size,
    };
    process.stdout.write(`  run ${run}: last start → all ${COUNT} in nginx ${result.afterLastStartMs} ms (starts spread over ${result.startSpreadMs} ms), ${result.reloads} reloads, ${result.markedFailing} marked failing, ${result.answering} answering\n`);
    return result;
  } catch (err) {
    const { readFileSync } = await import('node:fs');
    for (const log of ['lbsync.log', 'sidekick.log']) process.stderr.write(`--- ${log}\n${readFileSync(join(logs, log), 'utf8').split('\n').slice(-20).join('\n')}\n`);
    throw err;
  } finally {
    // BENCH_LOGS=DIR keeps each run's lbsync and sidekick logs there.
    if (process.env.BENCH_LOGS) for (const log of ['lbsync.log', 'sidekick.log']) copyFileSync(join(logs, log), join(process.env.BENCH_LOGS, `burst-${run}-${log}`));
    events.close();
    await sidekick.stop();
    await lbsync.stop();
    await removeTestContainers();
    await nginx.destroy();
    await etcd.destroy();
  }
}

await ensureTestImage();
const runs: BurstRun[] = [];
for (let i = 1; i <= RUNS; i++) runs.push(await runOnce(i));
const after = median(runs.map((r) => r.afterLastStartMs));
const reloadCount = median(runs.map((r) => r.reloads));
const spread = (f: (r: BurstRun) => number) => (runs.length > 1 ? ` (${Math.min(...runs.map(f))}–${Math.max(...runs.map(f))}, ${runs.length} runs)` : '');
const figures: Figure[] = [
  { figure: `burst: ${COUNT} containers started at once → all served via nginx, after the last start`, target: '≤ 1000 ms', measured: `${after} ms${spread((r) => r.afterLastStartMs)}`, met: after <= 1000 },
  { figure: `burst: ${COUNT} containers → nginx reloads (reload mode, health checks on)`, target: '≤ 3', measured: `${reloadCount}${spread((r) => r.reloads)}`, met: reloadCount <= 3 },
  { figure: `burst: endpoints ever marked failing`, target: '0', measured: `${Math.max(...runs.map((r) => r.markedFailing))} (most in a run)`, met: runs.every((r) => r.markedFailing === 0) },
];
printFigures(`burst of ${COUNT} containers (docker-gen here: 1 reload, 1.5 s)`, figures);
const json = { when: new Date().toISOString(), containers: COUNT, runs, median: { afterLastStartMs: after, reloads: reloadCount } };
process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
if (values.out) writeFileSync(values.out, JSON.stringify(json, null, 2) + '\n');
process.exit(0);
