/**
 * Start-up: how long a command takes from exec, as a user waits for it.
 *   - `beacon --version` (exec → exit);
 *   - `beacon discover web` against a local etcd (exec → exit, the answer printed);
 *   - `beacon lbsync` exec → nginx running its first correct config (lbsync's
 *     `reloaded nginx (…)` line with every upstream and server, its own
 *     timestamp), with SERVICES × PER_SERVICE records already in etcd and a
 *     stale file in place, as after a restart.
 * The records' backends listen (one node:http server each, in this process),
 * so lbsync's first checks pass, as on a restart in a healthy fleet.
 * Each is the median of --runs runs, after one warm-up (Node's compile cache
 * is then warm, as on any machine after the first run). Runs beacon as the
 * executable does (its first line's Node options), with this Node.
 *
 *   node dist/bench/startup.js [--runs 9] [--bin path/to/cli/main.js] [--out file.json]
 *
 * `--bin` measures another build (e.g. an older commit's dist/cli/main.js).
 * Targets (issue 16, idle machine): --version ≤ 100 ms, discover ≤ 250 ms, lbsync → first correct render ≤ 500 ms.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BEACON_NODE_OPTIONS, logLines, startProcess, TestEtcd, TestNginx, waitFor } from '../test/harness/index.js';
import { conntrackRoom } from './conntrack.js';
import { median, printFigures, r1, type Figure } from './report.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '9' }, bin: { type: 'string' }, out: { type: 'string' } } });
const RUNS = Number(values.runs);
const BIN = values.bin ?? new URL('../cli/main.js', import.meta.url).pathname;
const SERVICES = 20;
const PER_SERVICE = 5;

const argv = (args: string[]) => [...BEACON_NODE_OPTIONS, BIN, ...args];

/** Exec → exit of `beacon ARGS…`, in ms; rejects when it fails. */
function timeExit(args: string[]): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    execFile(process.execPath, argv(args), { timeout: 20_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`beacon ${args.join(' ')}: ${err.message} ${stderr}`));
      else resolve(performance.now() - t0);
    });
  });
}

/** Runs `measure` once to warm up, then RUNS times; returns every sample. */
async function sample(label: string, measure: () => Promise<number>): Promise<number[]> {
  await measure();
  const out: number[] = [];
  for (let i = 0; i < RUNS; i++) out.push(await measure());
  process.stdout.write(`  ${label}: ${out.map((v) => Math.round(v)).join(' ')} ms\n`);
  return out;
}

async function lbsyncFirstRender(etcd: TestEtcd, nginx: TestNginx, dir: string, run: number): Promise<number> {
  const conf = join(nginx.confDir, 'conf.d', 'beacon.conf');
  // A restart after a change: the live file is stale, so lbsync must render, test and reload.
  writeFileSync(conf, '# stale\n');
  await new Promise<void>((resolve, reject) => execFile('sh', ['-c', nginx.command('-s', 'reload')], (err) => (err ? reject(err) : resolve())));
  const log = join(dir, `lbsync-${run}.log`);
  const all = new RegExp(`^reloaded nginx \\(${SERVICES} upstreams, ${SERVICES * PER_SERVICE} servers`);
  const t0 = Date.now();
  const proc = startProcess(
    process.execPath,
    argv(['lbsync', '--etcd', etcd.url, '--nginx-conf', conf, '--nginx-test', nginx.command('-t'), '--nginx-reload', nginx.command('-s', 'reload')]),
    log,
  );
  try {
    const line = await waitFor(() => logLines(log).find((l) => all.test(l.msg)), 20_000, 'lbsync\'s first full reload', 5);
    return Date.parse(line.time!) - t0;
  } finally {
    await proc.stop('SIGKILL');
  }
}

// After the scale bench the kernel's conntrack table can be full (its deploy
// opens thousands of connections a second, each tracked 120 s), and a
// dropped SYN to etcd costs seconds: start-up is measured once it has room.
const drained = await conntrackRoom(0.5, 150_000);
if (drained > 1000) process.stderr.write(`waited ${Math.round(drained / 1000)} s for the conntrack table to drain\n`);
const etcd = await new TestEtcd().start();
const nginx = await new TestNginx().start();
const backends: Server[] = [];
const result: Record<string, number[]> = {};
try {
  const client = etcd.client();
  for (let s = 0; s < SERVICES; s++) {
    for (let e = 0; e < PER_SERVICE; e++) {
      const service = s === 0 ? 'web' : `svc${s}`;
      const backend = createServer((_req, res) => res.end('ok\n'));
      await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
      backends.push(backend);
      const port = (backend.address() as { port: number }).port;
      await client.put(`/services/${service}/e${e}`).value(JSON.stringify({ service, instance: `e${e}`, host: '127.0.0.1', port }));
    }
  }
  client.close();
  result.version = await sample('beacon --version', () => timeExit(['--version']));
  result.discover = await sample('beacon discover web', () => timeExit(['discover', 'web', '--etcd', etcd.url]));
  let run = 0;
  result.lbsync = await sample('beacon lbsync → first correct render', () => lbsyncFirstRender(etcd, nginx, nginx.prefix, run++));
} finally {
  for (const b of backends) b.close();
  await nginx.destroy();
  await etcd.destroy();
}

const med = (k: string) => r1(median(result[k]!));
const spread = (k: string) => ` (${Math.round(Math.min(...result[k]!))}–${Math.round(Math.max(...result[k]!))}, ${RUNS} runs)`;
const figures: Figure[] = [
  { figure: 'start-up: beacon --version, exec → exit', target: '≤ 100 ms', measured: `${med('version')} ms${spread('version')}`, met: med('version') <= 100 },
  { figure: 'start-up: beacon discover web, exec → exit', target: '≤ 250 ms', measured: `${med('discover')} ms${spread('discover')}`, met: med('discover') <= 250 },
  { figure: `start-up: beacon lbsync exec → first correct render (${SERVICES * PER_SERVICE} records, nginx reloaded)`, target: '≤ 500 ms', measured: `${med('lbsync')} ms${spread('lbsync')}`, met: med('lbsync') <= 500 },
];
printFigures('start-up (medians after one warm-up run)', figures);
const json = { when: new Date().toISOString(), bin: BIN, runs: RUNS, records: SERVICES * PER_SERVICE, samplesMs: result, medianMs: { version: med('version'), discover: med('discover'), lbsync: med('lbsync') } };
process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
if (values.out) writeFileSync(values.out, JSON.stringify(json, null, 2) + '\n');
process.exit(0);
