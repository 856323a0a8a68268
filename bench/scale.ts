/**
 * Scale benchmark (a script, not a test): a simulated fleet on a real 3-member
 * etcd cluster, the real `beacon lbsync` and a real nginx.
 *
 *   node dist/bench/scale.js [--hosts 200] [--per-host 20] [--services 50] [--full]
 *        [--ttl 15] [--health off|on] [--nginx-mode reload|dynamic] [--wait MIN:MAX]
 *        [--deploy-seconds 60] [--steady-seconds 30] [--reconcile-sample 10]
 *        [--reconcile-every 60] [--deploy-order host|random] [--upstream-keepalive 0] [--workers N]
 *        [--shared-netns] [--out bench/results/scale.json]
 *
 * `--full` is 1,000 hosts × 20 records across 50 services (20,000 records).
 * Each simulated host publishes through beacon's own code — its own etcd
 * client, LeasePublisher, lease and keepalive — in worker processes of ~250
 * hosts each (bench/scale-hosts.ts); a sample of hosts runs the sidekick's
 * node reconcile at its period. Backends are real node:http servers
 * (bench/scale-backends.ts). Then:
 *   1. initial sync: lbsync exec → nginx runs a config with every record
 *      (time, lbsync CPU and RSS), checked by requests through nginx;
 *   2. steady state: etcd requests/s (by method), bytes/s, CPU, db size;
 *      lbsync CPU at rest; the sampled reconciles' cost;
 *   3. a host lost: its keepalive stops → its records expire → out of nginx;
 *   4. a rolling deploy of svc00 on every host over --deploy-seconds: reloads,
 *      time to converge, failed requests of a keep-alive client throughout,
 *      each failure explained (bench/scale-failures.ts), and the machine's
 *      conntrack table beside them (bench/conntrack.ts).
 * It all runs in a network namespace of its own, where nothing is
 * connection-tracked (bench/own-netns.ts); `--shared-netns` runs it in the
 * machine's namespace instead.
 * Health checks are off by default (20,000 endpoints every 5 s is 4,000
 * checks/s, more than this bench's 2 shared cores give); `--health on` runs them.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Agent, get } from 'node:http';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { beacon, BEACON_NODE_OPTIONS, freePort, logLines, startBeacon, TestNginx, waitFor, type LogLine, type Started } from '../test/harness/index.js';
import { TestEtcdCluster } from '../test/chaos/etcd-cluster.js';
import { machine, median, percentile } from './report.js';
import type { HostsCommand, HostsStats, ReconcileSample } from './scale-hosts.js';
import type { BackendsCommand } from './scale-backends.js';
import { conntrackRoom, readConntrack } from './conntrack.js';
import { ownNetns, rerunInOwnNetns } from './own-netns.js';
import { explainFailure, triesById, type ClientFailure, type HostTimeline } from './scale-failures.js';
import { DEPLOYED, hostAddress, hostOfAddress, PREFIX, serviceName, type FleetPorts, type FleetShape } from './scale-plan.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIST = fileURLToPath(new URL('./', import.meta.url));

const { values: opt } = parseArgs({
  options: {
    hosts: { type: 'string' },
    'per-host': { type: 'string', default: '20' },
    services: { type: 'string', default: '50' },
    full: { type: 'boolean', default: false },
    ttl: { type: 'string', default: '15' },
    health: { type: 'string', default: 'off' },
    'nginx-mode': { type: 'string', default: 'reload' },
    wait: { type: 'string' },
    'deploy-seconds': { type: 'string', default: '60' },
    'steady-seconds': { type: 'string', default: '30' },
    'reconcile-sample': { type: 'string', default: '10' },
    'reconcile-every': { type: 'string', default: '60' },
    workers: { type: 'string' },
    'deploy-order': { type: 'string', default: 'host' },
    'upstream-keepalive': { type: 'string', default: '0' },
    'shared-netns': { type: 'boolean', default: false },
    out: { type: 'string', default: join(ROOT, 'bench', 'results', 'scale.json') },
  },
});

function count(name: string, text: string, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}, got "${text}"`);
  return n;
}

const shape: FleetShape = {
  hosts: count('hosts', opt.hosts ?? (opt.full ? '1000' : '200'), 2),
  perHost: count('per-host', opt['per-host']!, 1),
  services: count('services', opt.services!, 2),
};
if (shape.hosts > 65_000) throw new Error('--hosts must be at most 65,000 (one 127.1.x.y address each)');
const ttl = count('ttl', opt.ttl!, 2);
const health = opt.health!;
if (!['on', 'off'].includes(health)) throw new Error(`--health must be on or off, got "${health}"`);
const mode = opt['nginx-mode']!;
if (!['reload', 'dynamic'].includes(mode)) throw new Error(`--nginx-mode must be reload or dynamic, got "${mode}"`);
const deployOrder = opt['deploy-order']!;
if (!['host', 'random'].includes(deployOrder)) throw new Error(`--deploy-order must be host or random, got "${deployOrder}"`);
const deployMs = count('deploy-seconds', opt['deploy-seconds']!, 1) * 1000;
const steadyMs = count('steady-seconds', opt['steady-seconds']!, 5) * 1000;
const reconcileMs = count('reconcile-every', opt['reconcile-every']!, 1) * 1000;
// nginx's idle connections per worker to each upstream (`keepalive`, off by default as in lbsync's config):
// off, every request is a new nginx → backend connection, which the kernel tracks 120 s after it closes.
const upstreamKeepalive = count('upstream-keepalive', opt['upstream-keepalive']!, 0);
const workerCount = count('workers', opt.workers ?? String(Math.ceil(shape.hosts / 250)), 1);
const perHost = Math.min(shape.perHost, shape.services);
const totalRecords = shape.hosts * perHost;

/* ------------------------------------------------------------ small tools */

const r1 = (n: number) => Math.round(n * 10) / 10;

/**
 * Where nginx listens for the bench's clients. Not 127.0.0.1: the fleet's
 * thousands of etcd connections hold ephemeral ports on 127.0.0.1, and a
 * port picked free a moment earlier can be one of them by the time nginx
 * binds it (seen: "bind() to 127.0.0.1:34071 failed").
 */
const LISTEN_HOST = '127.2.0.1';

/** utime + stime of a process in ms (clock ticks are 10 ms here). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function memMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  return r1(Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024);
}

/** Prometheus text → sum of every sample of `name` whose labels contain `match`. */
function metricSum(text: string, name: string, match = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    if (match && !line.includes(match)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** One forked helper process with request/answer over IPC, answers matched by type and host. */
class Helper<C> {
  private readonly waiting = new Map<string, Array<(m: any) => void>>();
  readonly child: ChildProcess;

  constructor(script: string) {
    this.child = fork(join(DIST, script), [], { execArgv: BEACON_NODE_OPTIONS, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: any) => {
      if (m.type === 'error') {
        process.stderr.write(`${script}: ${m.message}\n`);
        // A backend or host that cannot start leaves the bench waiting forever: stop now, cleaning up.
        process.kill(process.pid, 'SIGTERM');
      }
      const key = `${m.type}:${m.host ?? ''}`;
      const queue = this.waiting.get(key);
      const resolve = queue?.shift();
      if (resolve) resolve(m);
      else this.onUnasked?.(m);
    });
  }

  onUnasked?: (m: any) => void;

  send(command: C): void {
    this.child.send(command as object);
  }

  ask<T = any>(command: C, answer: string, host?: number): Promise<T> {
    const key = `${answer}:${host ?? ''}`;
    const p = new Promise<T>((resolve) => this.waiting.set(key, [...(this.waiting.get(key) ?? []), resolve]));
    this.send(command);
    return p;
  }
}

/**
 * A keep-alive client hitting one port without pause from `concurrency`
 * loops, counting what fails. Each request carries its number (`/?r=N`,
 * which the backends ignore) so that nginx's error log lines about a failed
 * one can be found.
 */
function keepAliveLoad(port: number, concurrency: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const tally = { ok: 0, failed: 0, errors: {} as Record<string, number>, versions: {} as Record<string, number>, failures: [] as ClientFailure[] };
  let running = true;
  let next = 0;
  const once = () =>
    new Promise<void>((resolve) => {
      const id = next++;
      const startAt = Date.now();
      const fail = (error: string) => {
        tally.failed++;
        tally.errors[error] = (tally.errors[error] ?? 0) + 1;
        tally.failures.push({ id, startAt, endAt: Date.now(), error });
        resolve();
      };
      const req = get({ host: LISTEN_HOST, port, path: `/?r=${id}`, agent }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => {
          if (res.statusCode !== 200) return fail(`HTTP ${res.statusCode}`);
          tally.ok++;
          const v = body.split(' ')[1] ?? '?';
          tally.versions[v] = (tally.versions[v] ?? 0) + 1;
          resolve();
        });
      });
      req.setTimeout(5000, () => req.destroy(new Error('timeout')));
      req.on('error', (err: NodeJS.ErrnoException) => fail(err.code ?? err.message));
    });
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) await once();
  });
  return {
    tally,
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}

/**
 * GET on a kept connection of `agent`; the body, or `HTTP <status>`. One
 * retry: a reload (health results arriving, say) closes kept connections,
 * and a request can meet the close.
 */
async function fetchVia(agent: Agent, port: number): Promise<string> {
  return fetchOnce(agent, port).catch(() => fetchOnce(agent, port));
}

function fetchOnce(agent: Agent, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get({ host: LISTEN_HOST, port, path: '/', agent }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(res.statusCode === 200 ? body.trim() : `HTTP ${res.statusCode}`));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
  });
}

/** An apply nginx took: a reload (either mode) or, in dynamic mode, a push without one. */
const APPLIED = /^(reloaded nginx|reloaded nginx for a structural change|pushed \d+ services? to nginx without a reload) \((\d+) upstreams?, (\d+) servers?/;

function applies(log: string): LogLine[] {
  return logLines(log).filter((l) => APPLIED.test(l.msg));
}

function reloads(log: string): LogLine[] {
  return applies(log).filter((l) => l.msg.startsWith('reloaded'));
}

/** The first apply at or after `sinceMs` that left nginx with `servers` servers. */
function appliedWith(log: string, servers: number, sinceMs = 0): LogLine | undefined {
  return applies(log).find((l) => Date.parse(l.time!) >= sinceMs && Number(APPLIED.exec(l.msg)![3]) === servers);
}

/* ------------------------------------------------------------------ main */

async function main() {
  const dir = join(ROOT, '.beacon', 'bench-scale');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const help = await beacon(['lbsync', '--help']);
  const modeFlag = help.stdout.includes('--nginx-mode');
  if (mode === 'dynamic' && !modeFlag) throw new Error('--nginx-mode dynamic: this lbsync has no --nginx-mode flag yet (see `beacon lbsync --help`)');

  const cleanup: Array<() => Promise<void> | void> = [];
  // run-all stops an overrunning bench with SIGTERM: take etcd, nginx and lbsync down with it.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      void (async () => {
        for (const step of [...cleanup].reverse()) await Promise.resolve(step()).catch(() => undefined);
        process.exit(1);
      })();
    });
  }
  try {
    const etcd = await new TestEtcdCluster(dir).start();
    cleanup.push(() => etcd.destroy());
    const endpoints = etcd.urls();

    const backends = new Helper<BackendsCommand>('scale-backends.js');
    cleanup.push(() => void backends.child.kill('SIGKILL'));
    const { ports } = await backends.ask<{ ports: FleetPorts }>({ type: 'init', shape }, 'ready');

    // The fleet: workers of ~hosts/workers hosts each; the reconcile sample spread across them.
    const sample = new Set<number>();
    const want = Math.min(count('reconcile-sample', opt['reconcile-sample']!, 0), shape.hosts - 1);
    for (let k = 0; sample.size < want; k++) sample.add(Math.floor((k * shape.hosts) / want) % shape.hosts);
    const lostHost = [...Array(shape.hosts).keys()].find((h) => h >= shape.hosts / 2 && !sample.has(h))!;
    const workers: Array<Helper<HostsCommand>> = [];
    const workerOf = new Map<number, Helper<HostsCommand>>();
    const fleetT0 = performance.now();
    await Promise.all(
      Array.from({ length: workerCount }, (_, w) => {
        const mine = [...Array(shape.hosts).keys()].filter((h) => h % workerCount === w);
        const worker = new Helper<HostsCommand>('scale-hosts.js');
        workers.push(worker);
        for (const h of mine) workerOf.set(h, worker);
        cleanup.push(() => void worker.child.kill('SIGKILL'));
        return worker.ask({ type: 'init', endpoints, shape: { ...shape, perHost }, ports, hosts: mine, ttlSeconds: ttl, reconcileHosts: mine.filter((h) => sample.has(h)), reconcileMs }, 'ready');
      }),
    );
    const fleetPublishMs = Math.round(performance.now() - fleetT0);
    const client = etcd.client();
    cleanup.push(() => client.close());
    const published = Number(await client.getAll().prefix(`${PREFIX}/`).count());
    if (published !== totalRecords) throw new Error(`the fleet published ${published} records, expected ${totalRecords}`);
    process.stderr.write(`fleet up: ${shape.hosts} hosts, ${published} records in ${fleetPublishMs} ms\n`);

    // nginx and lbsync: every service gets a listening server block so that each can be probed.
    const nginx = new TestNginx(mode === 'dynamic' ? { lua: true } : {});
    nginx.writeConf('beacon.conf', '# empty\n');
    await nginx.start();
    cleanup.push(async () => {
      // Kept beside lbsync's log: the deploy's failures are explained from both.
      copyFileSync(join(nginx.prefix, 'logs', 'error.log'), join(dir, 'nginx-error.log'));
      await nginx.destroy();
    });
    const listen: number[] = [];
    // Not a port a backend listens on (on 0.0.0.0, which would answer for 127.2.0.1 too), nor one taken twice.
    const taken = new Set([ports.deployOld, ports.deployNew, ...ports.shared]);
    while (listen.length < shape.services) {
      const port = await freePort();
      if (!taken.has(port)) listen.push(port);
      taken.add(port);
    }
    const cfg = join(dir, 'lbsync.yaml');
    const keepalive = upstreamKeepalive ? `    keepalive: ${upstreamKeepalive}\n` : '';
    writeFileSync(cfg, `upstreams:\n${listen.map((p, i) => `  ${serviceName(i)}:\n    servers: [{ listen: "${LISTEN_HOST}:${p}" }]\n${keepalive}`).join('')}`);
    const conf = join(nginx.confDir, 'conf.d', 'beacon.conf');
    const log = join(dir, 'lbsync.log');
    const args = [
      'lbsync', '--etcd', endpoints.join(','), '--nginx-conf', conf,
      '--nginx-test', nginx.command('-t'), '--nginx-reload', nginx.command('-s', 'reload'),
      '--config', cfg, '--health', health,
      ...(modeFlag ? ['--nginx-mode', mode] : []), ...(opt.wait ? ['--wait', opt.wait] : []),
    ];

    /* 1. initial sync */
    const execAt = Date.now();
    const lbsync: Started = startBeacon(args, log);
    cleanup.push(() => lbsync.stop('SIGKILL'));
    const full = await waitFor(() => appliedWith(log, totalRecords), 180_000, `lbsync's apply with all ${totalRecords} servers`, 50);
    const initialSyncMs = Date.parse(full.time!) - execAt;
    // Where the time went: exec → listing done (start-up and the paged list), then the apply itself.
    const listed = logLines(log).find((l) => /^listed \d+ records/.test(l.msg));
    const initialCpuMs = cpuMs(lbsync.pid);
    const initialRssMb = memMb(lbsync.pid, 'VmRSS');
    // lbsync's high-water mark after each phase: read only at the end it would be the deploy's, not the sync's.
    const peakRssMb: Record<string, number> = { initialSync: memMb(lbsync.pid, 'VmHWM') };
    const initialPeakRssMb = peakRssMb.initialSync!;
    // Served, not just written: every service answers, and a round-robin sweep of svc00 meets every host.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < shape.services; i++) {
      const body = await fetchVia(agent, listen[i]!);
      if (!body.startsWith(`${serviceName(i)} `)) throw new Error(`${serviceName(i)} via nginx answered "${body}"`);
    }
    const seen = new Set<string>();
    // A reload meanwhile restarts the round robin: allow a few sweeps.
    for (let i = 0; i < 3 * shape.hosts && seen.size < shape.hosts; i++) seen.add((await fetchVia(agent, listen[0]!)).split(' ')[2]?.split(':')[0] ?? '');
    agent.destroy();
    if (seen.size !== shape.hosts) throw new Error(`${3 * shape.hosts} requests to ${DEPLOYED} met ${seen.size} of ${shape.hosts} hosts`);
    process.stderr.write(`initial sync: ${initialSyncMs} ms, lbsync ${initialCpuMs} ms CPU, ${initialRssMb} MB RSS (peak ${initialPeakRssMb} MB); all ${shape.services} services answer, ${DEPLOYED} from all ${seen.size} hosts\n`);

    /* 2. steady state */
    await delay(3000); // lets the first sync's tail (status page, GC) settle
    const scrape = () => Promise.all(etcd.members.map(async (m) => (await fetch(`http://127.0.0.1:${m.clientPort}/metrics`)).text()));
    const before = await scrape();
    const lb0 = cpuMs(lbsync.pid);
    const t0 = performance.now();
    await delay(steadyMs);
    const after = await scrape();
    const seconds = (performance.now() - t0) / 1000;
    const lbCpu = cpuMs(lbsync.pid) - lb0;
    const rate = (name: string, match = '') => r1(after.reduce((s, t, i) => s + metricSum(t, name, match) - metricSum(before[i]!, name, match), 0) / seconds);
    const keepalives = rate('grpc_server_msg_received_total', 'grpc_method="LeaseKeepAlive"');
    const steady = {
      seconds: r1(seconds),
      etcdRequestsPerS: rate('grpc_server_msg_received_total'),
      etcdKeepalivesPerS: keepalives,
      etcdRangesPerS: rate('grpc_server_msg_received_total', 'grpc_method="Range"'),
      etcdSentKBPerS: r1(rate('etcd_network_client_grpc_sent_bytes_total') / 1024),
      etcdReceivedKBPerS: r1(rate('etcd_network_client_grpc_received_bytes_total') / 1024),
      // Each member's CPU share of one core, as a list (the leader does more).
      etcdCpuPercent: after.map((t, i) => r1(((metricSum(t, 'process_cpu_seconds_total') - metricSum(before[i]!, 'process_cpu_seconds_total')) / seconds) * 100)),
      etcdDbMb: r1(Math.max(...after.map((t) => metricSum(t, 'etcd_mvcc_db_total_size_in_bytes'))) / 2 ** 20),
      etcdDbInUseMb: r1(Math.max(...after.map((t) => metricSum(t, 'etcd_mvcc_db_total_size_in_use_in_bytes'))) / 2 ** 20),
      etcdRssMb: etcd.members.map((m) => memMb(m.proc!.pid, 'VmRSS')),
      lbsyncCpuPercent: r1((lbCpu / 1000 / seconds) * 100),
      lbsyncRssMb: memMb(lbsync.pid, 'VmRSS'),
      expectedKeepalivesPerS: r1(shape.hosts / (ttl / 3)),
    };
    process.stderr.write(`steady state: ${JSON.stringify(steady)}\n`);
    peakRssMb.steady = memMb(lbsync.pid, 'VmHWM');

    /* 3. a host lost */
    const lostAddr = `${hostAddress(lostHost)}:`;
    const deletes: number[] = [];
    const watcher = await client.watch().prefix(`${PREFIX}/`).create();
    cleanup.push(() => watcher.cancel());
    watcher.on('delete', (kv) => {
      if (kv.key.toString().includes(`/${`host${String(lostHost + 1).padStart(4, '0')}`}:`)) deletes.push(Date.now());
    });
    const stopped = await workerOf.get(lostHost)!.ask<{ at: number }>({ type: 'lose', host: lostHost }, 'lost', lostHost);
    await waitFor(() => deletes.length >= perHost, (ttl + 10) * 1000, `the lost host's ${perHost} records to expire`, 20);
    const expiredAt = deletes[0]!;
    const out = await waitFor(() => appliedWith(log, totalRecords - perHost, expiredAt - 1000), 60_000, 'an apply without the lost host', 20);
    // Dynamic mode writes the file 100 ms after its push.
    await waitFor(() => !readFileSync(conf, 'utf8').includes(lostAddr), 5000, `nginx's config without ${lostAddr}`, 20);
    const lost = {
      host: lostHost,
      keepaliveStopToExpiryMs: expiredAt - stopped.at,
      expiryToOutOfNginxMs: Date.parse(out.time!) - expiredAt,
      keepaliveStopToOutOfNginxMs: Date.parse(out.time!) - stopped.at,
    };
    process.stderr.write(`host lost: ${JSON.stringify(lost)}\n`);
    peakRssMb.lostHost = memMb(lbsync.pid, 'VmHWM');

    /* 4. rolling deploy of svc00 on every remaining host */
    const remaining = [...Array(shape.hosts).keys()].filter((h) => h !== lostHost);
    // Host order makes the stopped servers neighbours in nginx's round robin (upstreams list servers by instance).
    if (deployOrder === 'random') remaining.sort(() => Math.random() - 0.5);
    const reloadsBefore = reloads(log).length;
    const appliesBefore = applies(log).length;
    // A closed connection stays in the kernel's conntrack table for 120 s, and
    // a deploy adds up to ~3,600 a second: what a run just before this one left
    // (`npm run bench` runs reload mode, then dynamic mode) could fill the
    // table and turn this deploy's connects into timeouts that are neither
    // mode's doing. Wait (at most 150 s) until no more than a quarter is used.
    const conntrackWaitMs = await conntrackRoom(0.25, 150_000);
    if (conntrackWaitMs > 0) process.stderr.write(`waited ${Math.round(conntrackWaitMs / 1000)} s for the conntrack table to drain\n`);
    const conntrackBefore = readConntrack();
    let conntrackPeak = conntrackBefore?.entries ?? 0;
    const conntrackSampler = setInterval(() => (conntrackPeak = Math.max(conntrackPeak, readConntrack()?.entries ?? 0)), 250);
    const load = keepAliveLoad(listen[0]!, 4);
    const deployT0 = performance.now();
    const deployStartAt = Date.now();
    const acks: Array<Promise<unknown>> = [];
    const timelines = new Map<number, HostTimeline>();
    for (const [k, h] of remaining.entries()) {
      const due = deployT0 + (k * deployMs) / remaining.length;
      const wait = due - performance.now();
      if (wait > 0) await delay(wait);
      await backends.ask({ type: 'start', host: h }, 'started', h);
      const line: HostTimeline = { startedNewAt: Date.now() };
      timelines.set(h, line);
      acks.push(workerOf.get(h)!.ask<{ at: number }>({ type: 'replace', host: h }, 'replaced', h).then((m) => (line.replacedAt = m.at)));
      acks.push(backends.ask({ type: 'stop', host: h }, 'stopped', h).then(() => (line.stoppedOldAt = Date.now())));
    }
    await Promise.all(acks);
    const lastReplaceAt = Date.now();
    // How far behind its schedule the last replacement was issued (the bench's own lag, not beacon's).
    const deployLagMs = Math.round(performance.now() - deployT0 - ((remaining.length - 1) * deployMs) / remaining.length);
    const finalDeploy = () => {
      const text = readFileSync(conf, 'utf8');
      return text.split(`:${ports.deployNew}`).length - 1 === remaining.length && !text.includes(`:${ports.deployOld}`);
    };
    await waitFor(finalDeploy, 60_000, 'nginx config with only the new svc00 instances', 20);
    const writtenAt = statSync(conf).mtimeMs;
    // Reload mode writes the file, then reloads; dynamic mode pushes, then writes the file (100 ms later).
    const converged =
      mode === 'dynamic'
        ? applies(log).filter((l) => Date.parse(l.time!) <= writtenAt + 5).pop()!
        : await waitFor(() => reloads(log).find((l) => Date.parse(l.time!) >= writtenAt - 5), 30_000, 'the reload of the final deploy config', 20);
    await delay(2000);
    await load.stop();
    clearInterval(conntrackSampler);
    const conntrackAfter = readConntrack();
    const deployReloads = reloads(log).slice(reloadsBefore);
    const nginxTries = triesById(readFileSync(join(nginx.prefix, 'logs', 'error.log'), 'utf8'));
    const versionOfPort = (port: number) => (port === ports.deployOld ? 'v1' : port === ports.deployNew ? 'v2' : undefined);
    const applyTimes = applies(log).map((l) => Date.parse(l.time!));
    const failures = load.tally.failures.map((f) => explainFailure(f, nginxTries.get(f.id) ?? [], deployStartAt, hostOfAddress, versionOfPort, timelines, applyTimes));
    const deploy = {
      hosts: remaining.length,
      order: deployOrder,
      overMs: deployMs,
      scheduleLagMs: deployLagMs,
      convergeAfterLastReplaceMs: Date.parse(converged.time!) - lastReplaceAt,
      reloads: deployReloads.length,
      pushes: applies(log).length - appliesBefore - deployReloads.length,
      reloadMs: deployReloads.map((l) => l.latencyMs).filter((x): x is number => typeof x === 'number'),
      // Of each apply, what nginx itself took: `nginx -t` on the whole config, and the reload signal → return.
      nginxTestMsP50: median(deployReloads.map((l) => Number(/test (\d+)ms/.exec(l.msg)?.[1] ?? NaN)).filter((x) => !Number.isNaN(x))),
      nginxReloadMsP50: median(deployReloads.map((l) => Number(/reload (\d+)ms/.exec(l.msg)?.[1] ?? NaN)).filter((x) => !Number.isNaN(x))),
      requests: load.tally.ok + load.tally.failed,
      failed: load.tally.failed,
      errors: load.tally.errors,
      versions: load.tally.versions,
      // The machine's connection tracking during the deploy (every request here is a new nginx → backend
      // connection, tracked 120 s after it closes): a full table drops SYNs, which nginx sees as connect timeouts.
      conntrack: conntrackBefore && conntrackAfter ? { waitedMs: Math.round(conntrackWaitMs), entriesBefore: conntrackBefore.entries, peakEntries: conntrackPeak, maxEntries: conntrackAfter.max, dropsDuringDeploy: conntrackAfter.drops - conntrackBefore.drops } : null,
      // The first 20 failures in detail: the client's error, each upstream nginx tried and where its host was in the deploy.
      failures: failures.slice(0, 20),
    };
    process.stderr.write(`deploy: ${JSON.stringify({ ...deploy, reloadMs: undefined, failures: undefined })}\n`);
    peakRssMb.deploy = memMb(lbsync.pid, 'VmHWM');
    for (const f of failures.slice(0, 20)) process.stderr.write(`  failed: ${JSON.stringify(f)}\n`);

    /* reconcile samples and the workers' own load */
    const stats = await Promise.all(workers.map((w) => w.ask<HostsStats>({ type: 'stats' }, 'stats')));
    // The start passes (whole prefix) ran while the fleet came up; these are the periodic ones.
    const passes: ReconcileSample[] = stats.flatMap((s) => s.reconciles);
    const reconcile = {
      sampledHosts: sample.size,
      everyS: reconcileMs / 1000,
      passes: passes.length,
      kinds: [...new Set(passes.map((p) => p.kind))],
      failed: stats.reduce((s, x) => s + Object.values(x.reconcileErrors).reduce((a, b) => a + b, 0), 0),
      errors: Object.assign({}, ...stats.map((s) => s.reconcileErrors)) as Record<string, number>,
      msP50: r1(median(passes.map((p) => p.ms))),
      msP95: r1(percentile(passes.map((p) => p.ms), 95)),
      workerCpuMsP50: r1(median(passes.map((p) => p.cpuMs))),
      recordsInEtcd: totalRecords - perHost,
      // The fleet's load if every host ran it at this period (what a real fleet does).
      fleetPassesPerS: r1(shape.hosts / (reconcileMs / 1000)),
    };
    const fleet = {
      workers: workers.length,
      publishMs: fleetPublishMs,
      leasesLost: stats.reduce((s, x) => s + x.leasesLost, 0),
      retries: stats.reduce((s, x) => s + x.retries, 0),
      workerRssMb: stats.map((s) => r1(s.rssMb)),
      workerCpuS: stats.map((s) => r1(s.cpuMs / 1000)),
    };
    const reloadMs = deploy.reloadMs.sort((a, b) => a - b);
    const result = {
      name: 'scale',
      at: new Date().toISOString(),
      machine: machine(),
      settings: { ...shape, perHost, records: totalRecords, ttlSeconds: ttl, health, nginxMode: modeFlag ? mode : 'reload (lbsync has no --nginx-mode)', wait: opt.wait ?? 'lbsync default', deploySeconds: deployMs / 1000, upstreamKeepalive, steadySeconds: steadyMs / 1000, netns: ownNetns() ?? 'the machine\'s (--shared-netns)' },
      fleet,
      initialSync: { ms: initialSyncMs, listedAfterMs: listed ? Date.parse(listed.time!) - execAt : null, firstApplyMs: full.latencyMs ?? null, lbsyncCpuMs: initialCpuMs, lbsyncRssMb: initialRssMb, lbsyncPeakRssMb: initialPeakRssMb, detail: full.msg, hostsAnswering: seen.size },
      steady,
      reconcile,
      lost,
      lbsyncPeakRssMbAfter: peakRssMb,
      deploy: { ...deploy, reloadMs: undefined, reloadMsP50: reloadMs.length ? median(reloadMs) : null, reloadMsMax: reloadMs.length ? reloadMs[reloadMs.length - 1] : null },
    };
    mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(opt.out!, JSON.stringify(result, null, 2) + '\n');
    console.log(JSON.stringify(result, null, 2));
    for (const w of workers) w.send({ type: 'stop' });
    backends.send({ type: 'quit' });
  } finally {
    for (const step of [...cleanup].reverse()) await Promise.resolve(step()).catch(() => undefined);
  }
}

// The whole bench runs in a network namespace of its own (bench/own-netns.ts
// says why); --shared-netns runs it in the machine's, conntrack table and all.
const exitCode = opt['shared-netns'] ? undefined : await rerunInOwnNetns('scale');
if (exitCode !== undefined) process.exit(exitCode);
await main();
process.exit(0);
