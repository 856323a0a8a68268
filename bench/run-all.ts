/**
 * `npm run bench`: every benchmark the issues ask for, one after another as
 * child processes (sidekick, health, lbsync, elbv2, whole chain, fleet scale,
 * start-up, burst), gathered
 * into ONE table (figure, target, measured, met?), bench/results/latest.json
 * and an SVG of the latency distributions (bench/results/latency.svg).
 *
 *   node dist/bench/run-all.js [--only sidekick,chain] [--quick] [--from-runs]
 *
 * `--from-runs` runs nothing: it rebuilds the table, latest.json and the
 * chart from the per-run JSON a previous run kept in bench/results/runs/.
 *
 * Each bench keeps its own measurement; this script only chooses run counts
 * and the flags the issues allow for a shorter run (listed in the table's
 * notes), then maps each bench's JSON onto figures. A figure measured in
 * several runs is their median, with the spread (lowest–highest) beside it.
 * The whole run aims at ~12 minutes on a 2-core machine.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BEACON_NODE_OPTIONS } from '../test/harness/beacon-cli.js';
import { renderLatencyChart, type LatencyRow } from './chart.js';
import { machine, median, percentile, printFigures, type Figure } from './report.js';

const DIST = fileURLToPath(new URL('./', import.meta.url));
const RESULTS = fileURLToPath(new URL('../../bench/results/', import.meta.url));
const RUNS_DIR = join(RESULTS, 'runs');

/** One number a bench reported in one run. */
interface Metric {
  key: string;
  figure: string;
  /** The target as text, empty when informational. */
  target: string;
  value: number;
  unit: string;
  /** Whether a value meets the target; absent when informational. */
  meets?: (v: number) => boolean;
}

/** One latency distribution a bench reported in one run (ms). */
interface Distribution {
  key: string;
  label: string;
  p50: number;
  p95?: number;
  p99?: number;
  max?: number;
  target?: number;
  targetOf?: 'p50' | 'p95' | 'p99';
  /** Raw samples, when the bench keeps them: pooled across runs for the chart. */
  samples?: number[];
}

interface RunResult {
  metrics: Metric[];
  distributions: Distribution[];
}

interface BenchSpec {
  name: string;
  script: string;
  args: (run: number) => string[];
  runs: number;
  /** What this run-all chose, shown under the table. */
  settings: string;
  /** Where the bench writes its JSON for run `i` ('stdout' when it prints it). */
  output: (run: number) => string | 'stdout';
  timeoutMs: number;
  map: (json: any) => RunResult;
}

const le = (limit: number) => (v: number) => v <= limit;

/* ------------------------------------------------------------------ mappers */

function mapSidekick(j: any): RunResult {
  const s = j.startToRecordMs;
  const r = j.removalToGoneMs;
  return {
    metrics: [
      { key: 'sk.start.p50', figure: 'sidekick: container start event → record in etcd, p50', target: '≤ 6 ms', value: s.p50, unit: 'ms', meets: le(6) },
      { key: 'sk.start.p99', figure: 'sidekick: container start event → record in etcd, p99', target: '≤ 20 ms', value: s.p99, unit: 'ms', meets: le(20) },
      { key: 'sk.remove.p50', figure: 'sidekick: stop event → record gone, p50', target: '≤ 4 ms', value: r.p50, unit: 'ms', meets: le(4) },
      { key: 'sk.remove.p99', figure: 'sidekick: stop event → record gone, p99', target: '≤ 20 ms', value: r.p99, unit: 'ms', meets: le(20) },
      { key: 'sk.rss', figure: `sidekick: RSS with ${j.running} running containers`, target: '≤ 80 MB', value: j.sidekickRssMb, unit: 'MB', meets: le(80) },
    ],
    distributions: [
      { key: 'sk.start', label: 'sidekick: start → record', p50: s.p50, p95: s.p95, p99: s.p99, max: s.max, target: 6 },
      { key: 'sk.remove', label: 'sidekick: stop → record gone', p50: r.p50, p95: r.p95, p99: r.p99, max: r.max, target: 4 },
    ],
  };
}

function mapHealth(j: any): RunResult {
  return {
    metrics: [
      { key: 'hc.rate', figure: `health: checks/s (${j.config.endpoints} HTTP endpoints every ${j.config.intervalMs / 1000} s)`, target: '', value: j.checksPerSecond, unit: '/s' },
      { key: 'hc.lag.p99', figure: 'health: schedule lag p99 (whole run, start burst included)', target: '≤ 100 ms', value: j.lagMs.p99, unit: 'ms', meets: le(100) },
      { key: 'hc.steadylag.p99', figure: 'health: schedule lag p99 after the first 2 intervals', target: '', value: j.steadyLagMs.p99, unit: 'ms' },
      { key: 'hc.cpu', figure: 'health: CPU, share of one core', target: '≤ 50 %', value: Math.round(j.cpuShareOfOneCore * 1000) / 10, unit: '%', meets: le(50) },
      { key: 'hc.rss', figure: 'health: RSS max', target: '≤ 150 MB', value: j.rssMb.max, unit: 'MB', meets: le(150) },
    ],
    distributions: [{ key: 'hc.lag', label: 'health: schedule lag', p50: Math.max(j.lagMs.p50, 0.01), p99: j.lagMs.p99, max: j.lagMs.max, target: 100, targetOf: 'p99' }],
  };
}

function mapLbsyncLatency(j: any): RunResult {
  const l = j.latency;
  const r = j.latencyRapid;
  return {
    metrics: [
      { key: 'lb.put.p50', figure: `lbsync: lone etcd put → new backend answering via nginx, p50 (puts ${l.gapMs} ms apart${warmedUp(l)})`, target: '≤ 30 ms', value: l.p50Ms, unit: 'ms', meets: le(30) },
      ...firstHundred('lb.put.first', 'lbsync: same, the first 100 puts after lbsync started, p50', l),
      { key: 'lb.put.p95', figure: 'lbsync: lone etcd put → new backend answering via nginx, p95', target: '', value: l.p95Ms, unit: 'ms' },
      { key: 'lb.put.rapid.p50', figure: `lbsync: same with puts ${r.gapMs} ms apart (inside nginx's 100 ms reload window), p50`, target: '', value: r.p50Ms, unit: 'ms' },
      ...(j.dynamic?.latency
        ? [
            { key: 'lb.dyn.put.p50', figure: `lbsync dynamic mode: lone etcd put → new backend answering via nginx, p50 (puts ${j.dynamic.latency.gapMs} ms apart${warmedUp(j.dynamic.latency)})`, target: '≤ 5 ms', value: j.dynamic.latency.p50Ms, unit: 'ms', meets: le(5) },
            ...firstHundred('lb.dyn.put.first', 'lbsync dynamic mode: same, the first 100 puts after lbsync started, p50', j.dynamic.latency),
            { key: 'lb.dyn.put.p95', figure: 'lbsync dynamic mode: same, p95', target: '', value: j.dynamic.latency.p95Ms, unit: 'ms' },
            { key: 'lb.dyn.put.rapid.p50', figure: `lbsync dynamic mode: same with puts ${j.dynamic.latencyRapid.gapMs} ms apart, p50`, target: '', value: j.dynamic.latencyRapid.p50Ms, unit: 'ms' },
          ]
        : []),
    ],
    distributions: [{ key: 'lb.put', label: 'lbsync: etcd put → answered via nginx', p50: l.p50Ms, p95: l.p95Ms, max: l.maxMs, target: 30 }],
  };
}

/** ", after N earlier puts" when the lone-put part warmed up first. */
function warmedUp(l: any): string {
  return l.warmup ? `, after ${l.warmup} earlier puts` : '';
}

/** The lone-put part's first 100 samples, as a row of their own, when it warmed up first. */
function firstHundred(key: string, figure: string, l: any): Metric[] {
  return l.firstP50Ms !== undefined ? [{ key, figure, target: '', value: l.firstP50Ms, unit: 'ms' }] : [];
}

/** ", median of N rounds (range A–B)" for a burst measured over rounds. */
function rounds(b: any, range?: [number, number]): string {
  if (!b.rounds) return '';
  return `, median of ${b.rounds} rounds${range ? ` (${range[0]}–${range[1]})` : ''}`;
}

function mapLbsyncBurst(j: any): RunResult {
  const b = j.burst;
  return {
    metrics: [
      { key: 'lb.burst.reloads', figure: `lbsync: ${b.records} records by ${b.writers} writers → nginx reloads`, target: '≤ 3', value: b.reloads, unit: '', meets: le(3) },
      { key: 'lb.burst.all', figure: `lbsync: ${b.records} records by ${b.writers} writers → until nginx runs all${rounds(b)}`, target: '≤ 300 ms', value: b.untilAllMs, unit: 'ms', meets: le(300) },
      ...(b.cold ? [{ key: 'lb.burst.all.cold', figure: 'lbsync: same, the first round after lbsync started', target: '', value: b.cold.untilAllMs, unit: 'ms' }] : []),
      { key: 'lb.burst.puts', figure: `lbsync: of which the ${b.records} etcd writes themselves`, target: '', value: b.putMs, unit: 'ms' },
      { key: 'lb.burst.after', figure: 'lbsync: of which last write acknowledged → nginx runs all (lbsync\'s share)', target: '', value: b.afterLastPutMs, unit: 'ms' },
      ...(j.dynamic?.burst
        ? [
            { key: 'lb.dyn.burst.reloads', figure: `lbsync dynamic mode: ${b.records} records of an existing service by ${b.writers} writers → nginx reloads`, target: '0', value: j.dynamic.burst.reloads, unit: '', meets: (v: number) => v === 0 },
            { key: 'lb.dyn.burst.after', figure: `lbsync dynamic mode: last write acknowledged → nginx serves all (health checks on${rounds(j.dynamic.burst, j.dynamic.burst.afterLastPutRangeMs)})`, target: '≤ 50 ms', value: j.dynamic.burst.afterLastPutMs, unit: 'ms', meets: le(50) },
            ...(j.dynamic.burst.cold
              ? [{ key: 'lb.dyn.burst.after.cold', figure: 'lbsync dynamic mode: same, the first round after lbsync started', target: '', value: j.dynamic.burst.cold.afterLastPutMs, unit: 'ms' }]
              : []),
            ...(j.dynamic.burst.afterLastPassMs !== undefined
              ? [{ key: 'lb.dyn.burst.pass', figure: "lbsync dynamic mode: of which the last endpoint's first passing check → nginx serves all", target: '', value: j.dynamic.burst.afterLastPassMs, unit: 'ms' }]
              : []),
          ]
        : []),
    ],
    distributions: [],
  };
}

function mapLbsyncScale(j: any): RunResult {
  const on = j.scale;
  const off = j.scaleHealthOff;
  return {
    metrics: [
      { key: 'lb.scale.apply', figure: `lbsync: ${on.endpoints} endpoints / ${on.services} services, one change → render+validate+reload (median of 6)`, target: '≤ 500 ms', value: on.applyMedianMs, unit: 'ms', meets: le(500) },
      { key: 'lb.scale.rss', figure: `lbsync: RSS with ${on.endpoints} endpoints, health checks on`, target: '≤ 200 MB', value: on.rssMb, unit: 'MB', meets: le(200) },
      { key: 'lb.scale.apply.off', figure: `lbsync: same with --health off (median of 6)`, target: '', value: off.applyMedianMs, unit: 'ms' },
      { key: 'lb.scale.rss.off', figure: 'lbsync: RSS with 10,000 endpoints, --health off', target: '', value: off.rssMb, unit: 'MB' },
      ...(j.dynamic?.scale
        ? [
            { key: 'lb.dyn.scale.apply', figure: `lbsync dynamic mode: ${on.endpoints} endpoints / ${on.services} services, one change → served (push, median of 6)`, target: '≤ 50 ms', value: j.dynamic.scale.applyMedianMs, unit: 'ms', meets: le(50) },
            { key: 'lb.dyn.scale.apply.off', figure: 'lbsync dynamic mode: same with --health off (median of 6)', target: '', value: j.dynamic.scaleHealthOff.applyMedianMs, unit: 'ms' },
            { key: 'lb.dyn.scale.rss', figure: `lbsync dynamic mode: RSS with ${on.endpoints} endpoints, health checks on`, target: '≤ 200 MB', value: j.dynamic.scale.rssMb, unit: 'MB', meets: le(200) },
          ]
        : []),
    ],
    distributions: [
      {
        key: 'lb.scale',
        label: 'lbsync: apply at 10k endpoints',
        // The bench's own median of its 6 changes, as in the table.
        p50: on.applyMedianMs,
        max: Math.max(...on.applyMs),
        target: 500,
      },
    ],
  };
}

function mapElbv2(j: any): RunResult {
  const m = j.median;
  return {
    metrics: [
      { key: 'elb.converge', figure: `ELBv2: ${j.setup.endpoints} endpoints / ${j.setup.groups} groups converge from empty (median of ${j.setup.rounds} rounds)`, target: '≤ 5 s', value: m.convergeMs, unit: 'ms', meets: le(5000) },
      { key: 'elb.calls.converge', figure: 'ELBv2: API calls per group to converge', target: '≤ 3', value: m.convergeCallsPerGroupMax, unit: '', meets: le(3) },
      { key: 'elb.calls.change', figure: 'ELBv2: API calls per group per pass of a change batch (make-before-break: 2 passes)', target: '≤ 3', value: m.changeCallsPerGroupPerPassMax, unit: '', meets: le(3) },
    ],
    distributions: [],
  };
}

function mapChain(j: any): RunResult {
  const start: number[] = j.data.startMs;
  const gone: number[] = j.data.goneMs;
  // The app's own start → answering directly: the floor under the chain figure (absent in older results).
  const app: number[] | undefined = j.data.appMs;
  // Dynamic mode's samples, when the bench ran both modes.
  const dyn: { startMs: number[]; goneMs: number[] } | undefined = j.data.dynamic;
  return {
    metrics: [
      { key: 'ch.start.p50', figure: 'chain, reload mode: container start → first answer via nginx (sidekick, health, lbsync), p50', target: '≤ 40 ms', value: median(start), unit: 'ms', meets: le(40) },
      { key: 'ch.start.p95', figure: 'chain: container start → first answer via nginx, p95', target: '≤ 80 ms', value: percentile(start, 95), unit: 'ms', meets: le(80) },
      ...(app?.length ? [{ key: 'ch.app.p50', figure: 'chain: the app alone, start → answering directly, p50 (the floor)', target: '', value: median(app), unit: 'ms' }] : []),
      { key: 'ch.gone.p50', figure: 'chain: docker stop (SIGTERM) → no longer routed by nginx, p50', target: '', value: median(gone), unit: 'ms' },
      ...(dyn?.startMs.length
        ? [
            { key: 'ch.dyn.start.p50', figure: 'chain, dynamic mode: container start → first answer via nginx on a kept-alive connection, p50', target: '≤ 15 ms', value: median(dyn.startMs), unit: 'ms', meets: le(15) },
            { key: 'ch.dyn.start.p95', figure: 'chain, dynamic mode: same, p95', target: '≤ 30 ms', value: percentile(dyn.startMs, 95), unit: 'ms', meets: le(30) },
            { key: 'ch.dyn.gone.p50', figure: 'chain, dynamic mode: docker stop (SIGTERM) → no longer routed by nginx, p50', target: '', value: median(dyn.goneMs), unit: 'ms' },
          ]
        : []),
    ],
    distributions: [
      { key: 'ch.start', label: 'chain: start → answered via nginx', p50: median(start), p95: percentile(start, 95), max: Math.max(...start), target: 40, samples: start },
      ...(app?.length ? [{ key: 'ch.app', label: 'chain floor: the app alone answering', p50: median(app), p95: percentile(app, 95), max: Math.max(...app), samples: app }] : []),
      // Negative when nginx stopped routing before Docker's kill event was seen; the chart's log axis needs > 0.
      ...(gone.every((g) => g > 0) ? [{ key: 'ch.gone', label: 'chain: SIGTERM → not routed', p50: median(gone), p95: percentile(gone, 95), max: Math.max(...gone), samples: gone }] : []),
    ],
  };
}

function mapScale(j: any): RunResult {
  const f = `${j.settings.hosts} hosts × ${j.settings.perHost} records, 3-member etcd, health ${j.settings.health}`;
  // The issue's targets are for the 20,000-record fleet; smaller runs are informational.
  const full = j.settings.records >= 20_000;
  const lostLimit = (j.settings.ttlSeconds + 1) * 1000;
  const dynamic = j.settings.nginxMode === 'dynamic';
  const m = dynamic ? 'dynamic mode' : 'reload mode';
  return {
    metrics: [
      { key: 'sc.sync', figure: `scale: lbsync exec → nginx runs all ${j.settings.records} records (${f})`, target: full ? '≤ 3 s' : '', value: j.initialSync.ms, unit: 'ms', ...(full ? { meets: le(3000) } : {}) },
      { key: 'sc.rss', figure: `scale: lbsync peak RSS during the initial sync of ${j.settings.records} records`, target: full ? '≤ 300 MB' : '', value: j.initialSync.lbsyncPeakRssMb, unit: 'MB', ...(full ? { meets: le(300) } : {}) },
      { key: 'sc.lost', figure: `scale: a lost host's lease expiry → its records out of nginx (TTL ${j.settings.ttlSeconds} s)`, target: `≤ ${lostLimit / 1000} s`, value: j.lost.expiryToOutOfNginxMs, unit: 'ms', meets: le(lostLimit) },
      { key: 'sc.deploy.failed', figure: `scale: rolling deploy on ${j.deploy.hosts} hosts over ${j.deploy.overMs / 1000} s, ${m} → failed keep-alive requests (of ${j.deploy.requests})`, target: dynamic ? '0' : '', value: j.deploy.failed, unit: '', ...(dynamic ? { meets: (v: number) => v === 0 } : {}) },
      { key: 'sc.deploy.reloads', figure: `scale: rolling deploy, ${m} → nginx reloads${dynamic ? ` (and ${j.deploy.pushes} pushes)` : ''}`, target: dynamic ? '0 (no structural change)' : '', value: j.deploy.reloads, unit: '', ...(dynamic ? { meets: (v: number) => v === 0 } : {}) },
      { key: 'sc.keepalives', figure: 'scale: steady etcd keepalives/s (all requests/s: see scale JSON)', target: '', value: j.steady.etcdKeepalivesPerS, unit: '/s' },
      ...(j.reconcile.passes ? [{ key: 'sc.reconcile', figure: `scale: one sidekick periodic reconcile (${(j.reconcile.kinds ?? ['listing']).join('+')}) with ${j.reconcile.recordsInEtcd} records in etcd, p50`, target: '', value: j.reconcile.msP50, unit: 'ms' }] : []),
    ],
    distributions: [],
  };
}

/** Start-up (bench/startup.ts): medians the bench took itself over its own runs. */
function mapStartup(j: any): RunResult {
  const m = j.medianMs;
  const runs = `median of ${j.runs}`;
  return {
    metrics: [
      { key: 'st.version', figure: `start-up: beacon --version, exec → exit (${runs})`, target: '≤ 100 ms', value: m.version, unit: 'ms', meets: le(100) },
      { key: 'st.discover', figure: `start-up: beacon discover web, exec → exit (${runs})`, target: '≤ 250 ms', value: m.discover, unit: 'ms', meets: le(250) },
      { key: 'st.lbsync', figure: `start-up: beacon lbsync exec → first correct render, ${j.records} records (${runs})`, target: '≤ 500 ms', value: m.lbsync, unit: 'ms', meets: le(500) },
    ],
    distributions: [],
  };
}

/** Burst (bench/burst.ts): N containers started at once; medians the bench took itself over its own runs. */
function mapBurst(j: any): RunResult {
  const runs = `median of ${j.runs.length}`;
  return {
    metrics: [
      { key: 'bu.after', figure: `burst: ${j.containers} containers started at once → all served via nginx, after the last start (${runs})`, target: '≤ 1000 ms', value: j.median.afterLastStartMs, unit: 'ms', meets: le(1000) },
      { key: 'bu.reloads', figure: `burst: ${j.containers} containers → nginx reloads, reload mode, health checks on (${runs})`, target: '≤ 3', value: j.median.reloads, unit: '', meets: le(3) },
      { key: 'bu.failing', figure: `burst: endpoints ever marked failing (most in a run)`, target: '0', value: Math.max(...j.runs.map((r: any) => r.markedFailing)), unit: '', meets: (v) => v === 0 },
    ],
    distributions: [],
  };
}

/* --------------------------------------------------------------- the plan */

const { values: flags } = parseArgs({ options: { only: { type: 'string' }, quick: { type: 'boolean', default: false }, 'from-runs': { type: 'boolean', default: false } } });
const quick = flags.quick;

const BENCHES: BenchSpec[] = [
  {
    name: 'sidekick',
    script: 'sidekick.js',
    runs: 1,
    args: (i) => ['--starts', quick ? '20' : '200', '--running', quick ? '50' : '500', '--out', join(RUNS_DIR, `sidekick-${i}.json`)],
    settings: quick ? '1 run, --starts 20 --running 50 (quick)' : '1 run of 200 starts/stops (+5 warm-up) and 500 running containers, as the issue asks',
    output: (i) => join(RUNS_DIR, `sidekick-${i}.json`),
    timeoutMs: 8 * 60_000,
    map: mapSidekick,
  },
  {
    name: 'health',
    script: 'health.js',
    runs: 3,
    args: () => ['--duration', quick ? '6s' : '20s'],
    settings: quick ? '3 runs × 6 s (quick)' : '3 runs × 20 s instead of 1 × 60 s (2,000 endpoints every 2 s, as the issue asks otherwise)',
    output: () => join(RESULTS, 'health.json'),
    timeoutMs: 3 * 60_000,
    map: mapHealth,
  },
  {
    name: 'lbsync-latency',
    script: 'lbsync.js',
    runs: 3,
    args: () => ['latency'],
    settings: '3 runs × (200 warm-up + 100 samples) 250 ms apart, then 100 samples 60 ms apart',
    output: () => 'stdout',
    timeoutMs: 8 * 60_000,
    map: mapLbsyncLatency,
  },
  {
    name: 'lbsync-burst',
    script: 'lbsync.js',
    runs: 3,
    args: () => ['burst'],
    settings: '3 runs × (1 cold + 5 rounds)',
    output: () => 'stdout',
    timeoutMs: 3 * 60_000,
    map: mapLbsyncBurst,
  },
  {
    name: 'lbsync-scale',
    script: 'lbsync.js',
    runs: 1,
    args: () => ['scale'],
    settings: '1 run, 6 changes each with health on and off',
    output: () => 'stdout',
    timeoutMs: 5 * 60_000,
    map: mapLbsyncScale,
  },
  {
    name: 'elbv2',
    script: 'elbv2.js',
    runs: 1,
    args: () => ['--rounds', '3'],
    settings: '1 run of 3 rounds (the bench takes the median itself)',
    output: () => join(RESULTS, 'elbv2.json'),
    timeoutMs: 3 * 60_000,
    map: mapElbv2,
  },
  {
    name: 'chain',
    script: 'chain.js',
    runs: 3,
    args: () => ['--samples', quick ? '4' : '12'],
    settings: quick ? '3 runs × 4 samples (quick)' : '3 runs × 12 samples (each sample drains 2 s before stopping)',
    output: () => join(RESULTS, 'chain.json'),
    timeoutMs: 5 * 60_000,
    map: mapChain,
  },
  {
    name: 'scale',
    script: 'scale.js',
    runs: 1,
    args: (i) => [...(quick ? ['--hosts', '50', '--deploy-seconds', '15', '--steady-seconds', '10'] : []), '--out', join(RUNS_DIR, `scale-${i}.json`)],
    settings: quick
      ? '1 run, 50 hosts, 15 s deploy (quick)'
      : '1 run, 200 hosts × 20 records (`node dist/bench/scale.js --full` is the 1,000-host run), health off, 60 s deploy',
    output: (i) => join(RUNS_DIR, `scale-${i}.json`),
    timeoutMs: 10 * 60_000,
    map: mapScale,
  },
  {
    name: 'scale-dynamic',
    script: 'scale.js',
    runs: 1,
    args: (i) => ['--nginx-mode', 'dynamic', '--reconcile-sample', '0', ...(quick ? ['--hosts', '50', '--deploy-seconds', '15', '--steady-seconds', '10'] : []), '--out', join(RUNS_DIR, `scale-dynamic-${i}.json`)],
    settings: quick ? '1 run, 50 hosts, 15 s deploy, dynamic mode (quick)' : '1 run, 200 hosts × 20 records, dynamic mode, health off, 60 s deploy',
    output: (i) => join(RUNS_DIR, `scale-dynamic-${i}.json`),
    timeoutMs: 10 * 60_000,
    map: mapScale,
  },
  {
    name: 'startup',
    script: 'startup.js',
    runs: 1,
    args: () => ['--runs', quick ? '5' : '9'],
    settings: quick ? '1 run of 5 samples each, after a warm-up (quick)' : '1 run of 9 samples each, after a warm-up',
    output: () => 'stdout',
    timeoutMs: 3 * 60_000,
    map: mapStartup,
  },
  {
    name: 'burst',
    script: 'burst.js',
    runs: 1,
    args: () => ['--containers', '50', '--runs', quick ? '1' : '3'],
    settings: quick ? '1 run of 50 containers (quick)' : '3 runs of 50 containers, each with a fresh etcd, nginx, sidekick and lbsync',
    output: () => 'stdout',
    timeoutMs: 6 * 60_000,
    map: mapBurst,
  },
];

/* -------------------------------------------------------------- execution */

interface Outcome {
  bench: string;
  run: number;
  ok: boolean;
  seconds: number;
  error?: string;
  result?: RunResult;
}

/**
 * Runs one bench script; its stdout is echoed (indented) and kept, its stderr
 * echoed. Benches run with the Node options the `beacon` executable runs with
 * (its first line), since some host beacon's engines in their own process
 * (the health bench runs the scheduler and checker in-process).
 */
function runScript(spec: BenchSpec, i: number): Promise<{ code: number | null; stdout: string; startedAt: number }> {
  const startedAt = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...BEACON_NODE_OPTIONS, join(DIST, spec.script), ...spec.args(i)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c;
      if (spec.output(i) !== 'stdout') process.stdout.write(indent(c.toString()));
    });
    child.stderr.on('data', (c: Buffer) => process.stderr.write(indent(c.toString())));
    // A bench that hangs must not stop the rest: SIGTERM lets it clean up, SIGKILL follows.
    const timer = setTimeout(() => {
      process.stderr.write(`  ${spec.name} run ${i} exceeded ${spec.timeoutMs / 1000} s: stopping it\n`);
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 20_000).unref();
    }, spec.timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, startedAt });
    });
  });
}

function indent(text: string): string {
  return text.replace(/^(?=.)/gm, '    ');
}

/** `--from-runs`: maps the JSON a previous run-all kept in bench/results/runs/ again, running nothing. */
function loadRun(spec: BenchSpec, i: number): Outcome {
  const file = join(RUNS_DIR, `${spec.name}-${i}.json`);
  if (!existsSync(file)) return { bench: spec.name, run: i, ok: false, seconds: 0, error: `no ${file}` };
  try {
    return { bench: spec.name, run: i, ok: true, seconds: 0, result: spec.map(JSON.parse(readFileSync(file, 'utf8'))) };
  } catch (err) {
    return { bench: spec.name, run: i, ok: false, seconds: 0, error: (err as Error).message };
  }
}

async function runBench(spec: BenchSpec, i: number): Promise<Outcome> {
  process.stdout.write(`\n▶ ${spec.name} run ${i}/${spec.runs}: node dist/bench/${spec.script} ${spec.args(i).join(' ')}\n`);
  const { code, stdout, startedAt } = await runScript(spec, i);
  const seconds = Math.round((Date.now() - startedAt) / 1000);
  const out = spec.output(i);
  try {
    let json: unknown;
    if (out === 'stdout') {
      json = JSON.parse(stdout.slice(stdout.indexOf('{')));
    } else {
      // A file left over from an earlier run must not pass for this one.
      if (!existsSync(out) || statSync(out).mtimeMs < startedAt) throw new Error(`exited with ${code} without writing ${out}`);
      json = JSON.parse(readFileSync(out, 'utf8'));
      if (!out.startsWith(RUNS_DIR)) copyFileSync(out, join(RUNS_DIR, `${spec.name}-${i}.json`));
    }
    if (out === 'stdout') writeFileSync(join(RUNS_DIR, `${spec.name}-${i}.json`), JSON.stringify(json, null, 2) + '\n');
    return { bench: spec.name, run: i, ok: true, seconds, result: spec.map(json) };
  } catch (err) {
    return { bench: spec.name, run: i, ok: false, seconds, error: (err as Error).message };
  }
}

/* ------------------------------------------------------------ combination */

const round = (v: number) => (Math.abs(v) >= 100 ? Math.round(v) : Math.round(v * 10) / 10);
const withUnit = (v: number, unit: string) => (unit === '' ? `${round(v)}` : unit === '%' || unit === '/s' ? `${round(v)}${unit === '%' ? ' %' : '/s'}` : `${round(v)} ${unit}`);

/** Median of each figure over runs, with the spread when there were several. */
function combine(results: RunResult[], runs: number): Figure[] {
  const byKey = new Map<string, Metric[]>();
  for (const r of results) for (const m of r.metrics) byKey.set(m.key, [...(byKey.get(m.key) ?? []), m]);
  return [...byKey.values()].map((ms) => {
    const first = ms[0]!;
    const values = ms.map((m) => m.value);
    const mid = median(values);
    const spread = values.length > 1 ? ` (${withUnit(Math.min(...values), first.unit)} – ${withUnit(Math.max(...values), first.unit)}, ${values.length} runs)` : runs > 1 ? ' (1 run completed)' : '';
    return { figure: first.figure, target: first.target, measured: withUnit(mid, first.unit) + spread, met: first.meets ? first.meets(mid) : null };
  });
}

/** One chart row per distribution: percentiles' medians over runs, or percentiles of the pooled samples. */
function chartRows(results: RunResult[]): LatencyRow[] {
  const byKey = new Map<string, Distribution[]>();
  for (const r of results) for (const d of r.distributions) byKey.set(d.key, [...(byKey.get(d.key) ?? []), d]);
  return [...byKey.values()].map((ds) => {
    const d = ds[0]!;
    const pooled = ds.every((x) => x.samples) ? ds.flatMap((x) => x.samples!) : undefined;
    const med = (f: (x: Distribution) => number | undefined) => {
      const vs = ds.map(f).filter((v): v is number => v !== undefined);
      return vs.length ? median(vs) : undefined;
    };
    const row: LatencyRow = pooled
      ? { label: d.label, p50: percentile(pooled, 50), p95: percentile(pooled, 95), p99: percentile(pooled, 99), max: Math.max(...pooled) }
      : { label: d.label, p50: med((x) => x.p50)! };
    if (!pooled) {
      const p95 = med((x) => x.p95);
      const p99 = med((x) => x.p99);
      const max = med((x) => x.max);
      if (p95 !== undefined) row.p95 = p95;
      if (p99 !== undefined) row.p99 = p99;
      if (max !== undefined) row.max = max;
    }
    if (ds.length > 1) row.spread = [Math.min(...ds.map((x) => x.p50)), Math.max(...ds.map((x) => x.p50))];
    if (d.target !== undefined) row.target = d.target;
    if (d.targetOf) row.targetOf = d.targetOf;
    return row;
  });
}

/* ------------------------------------------------------------------- main */

async function main(): Promise<void> {
  mkdirSync(RUNS_DIR, { recursive: true });
  const only = flags.only ? new Set(flags.only.split(',').map((s) => s.trim())) : undefined;
  const plan = BENCHES.filter((b) => !only || only.has(b.name) || only.has(b.name.split('-')[0]!));
  const began = Date.now();
  const outcomes: Outcome[] = [];
  for (const spec of plan) for (let i = 1; i <= spec.runs; i++) outcomes.push(flags['from-runs'] ? loadRun(spec, i) : await runBench(spec, i));

  const figures: Figure[] = [];
  const allResults: RunResult[] = [];
  const notes: string[] = [];
  for (const spec of plan) {
    const mine = outcomes.filter((o) => o.bench === spec.name);
    const done = mine.filter((o) => o.ok).map((o) => o.result!);
    allResults.push(...done);
    const failed = mine.filter((o) => !o.ok);
    notes.push(`${spec.name}: ${spec.settings}; ${mine.map((o) => `${o.seconds} s`).join(' + ')}${failed.length ? `; ${failed.length} run(s) FAILED: ${failed.map((f) => f.error).join('; ')}` : ''}`);
    if (done.length) figures.push(...combine(done, spec.runs));
    else figures.push({ figure: `${spec.name}: did not complete`, target: 'completes', measured: failed[0]?.error ?? 'no run', met: false });
  }
  const minutes = Math.round((Date.now() - began) / 6000) / 10;
  printFigures(`beacon benchmarks (${machine()}), ${minutes} min in all`, figures);
  process.stdout.write(`\nsettings and time per bench:\n${notes.map((n) => `  ${n}`).join('\n')}\n`);

  const rows = chartRows(allResults);
  const svg = renderLatencyChart(rows, `beacon latency distributions (${new Date().toISOString().slice(0, 10)}, ${machine()})`);
  writeFileSync(join(RESULTS, 'latency.svg'), svg);
  writeFileSync(
    join(RESULTS, 'latest.json'),
    JSON.stringify({ name: 'all', at: new Date().toISOString(), machine: machine(), minutes, figures, notes, latency: rows, runs: outcomes.map(({ result, ...o }) => o) }, null, 2) + '\n',
  );
  const missed = figures.filter((f) => f.met === false).length;
  process.stdout.write(`\n${figures.filter((f) => f.met === true).length} targets met, ${missed} not; wrote bench/results/latest.json and bench/results/latency.svg\n`);
}

await main();
