/**
 * ELBv2 output benchmark: 1,000 endpoints across 20 target groups converge
 * from empty against the beacon test endpoint (the real SDK client over HTTP
 * on 127.0.0.1), then one change batch (5 endpoints per group leave, 5 join).
 * Reports time and API calls per group per pass, median over rounds, and
 * writes bench/results/elbv2.json.
 *
 *   node dist/bench/elbv2.js [--rounds 3] [--groups 20] [--endpoints 1000]
 *
 * Targets: converge ≤ 5 s; ≤ 3 calls per group per change batch.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Elbv2Output } from '../lbsync/elbv2/index.js';
import type { PoolView } from '../lbsync/output.js';
import type { ServiceRecord } from '../registry/index.js';
import { Elbv2TestEndpoint } from '../test/elbv2/index.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    groups: { type: 'string', default: '20' },
    endpoints: { type: 'string', default: '1000' },
  },
});
const ROUNDS = Number(values.rounds);
const GROUPS = Number(values.groups);
const ENDPOINTS = Number(values.endpoints);
const PER_GROUP = Math.ceil(ENDPOINTS / GROUPS);
const TARGET_MS = 5000;
const TARGET_CALLS = 3;

interface Round {
  convergeMs: number;
  convergeCallsPerGroup: { max: number; median: number };
  changeMs: number;
  /** Calls per group in each pass of the change batch (make-before-break takes two passes). */
  changeCallsPerGroupPerPass: { max: number; passes: number };
  totalCalls: number;
  registered: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Endpoint i of group g: a distinct loopback address and port. */
function rec(g: number, i: number): ServiceRecord {
  return { service: `svc${g}`, instance: `svc${g}-${i}`, host: `127.${10 + g}.${Math.floor(i / 200)}.${(i % 200) + 1}`, port: 8000 + (i % 50) };
}

function view(members: (g: number) => ServiceRecord[], revision: number): PoolView {
  const pools = Array.from({ length: GROUPS }, (_, g) => {
    const m = members(g);
    return { service: `svc${g}`, members: m, endpoints: m.map((record) => ({ record, health: 'passing' as const })), failOpen: false };
  });
  return { pools, revision, stableForMs: 600_000 };
}

function callsPerGroup(endpoint: Elbv2TestEndpoint, arns: string[], since: number): number[] {
  const calls = endpoint.calls.find({ since, caller: 'AKIDBENCH' });
  return arns.map((arn) => calls.filter((c) => c.params.TargetGroupArn === arn).length);
}

async function round(): Promise<Round> {
  // Targets turn healthy after 200 ms, so make-before-break has a real wait in the change batch.
  const endpoint = await new Elbv2TestEndpoint({ healthyAfterMs: 200, maxTargetsPerGroup: 1000 }).start();
  try {
    const arns = Array.from({ length: GROUPS }, (_, g) =>
      endpoint.state.createTargetGroup({ name: `bench-${g}`, protocol: 'HTTP', port: 80, vpcId: 'vpc-0123456789abcdef0', targetType: 'ip' }).arn,
    );
    for (const arn of arns) endpoint.state.modifyAttributes(arn, [['deregistration_delay.timeout_seconds', '5']]);
    const output = new Elbv2Output({
      targetGroups: new Map(arns.map((arn, g) => [`svc${g}`, arn])),
      endpoint: endpoint.url,
      region: 'us-east-1',
      client: { credentials: { accessKeyId: 'AKIDBENCH', secretAccessKey: 'not-a-secret' } },
      targetType: 'ip',
      health: 'pool',
      maxRemove: 0.5,
      driftMs: 60_000,
      graceMs: 10_000,
      dryRun: false,
      concurrency: GROUPS,
    });
    try {
      // Converge from empty.
      let mark = endpoint.calls.mark;
      let t0 = performance.now();
      await output.apply(view((g) => Array.from({ length: PER_GROUP }, (_, i) => rec(g, i)), 1));
      const convergeMs = performance.now() - t0;
      const registered = arns.reduce((n, arn) => n + endpoint.state.targetsOf(arn).length, 0);
      if (registered !== GROUPS * PER_GROUP) throw new Error(`converged to ${registered} targets, expected ${GROUPS * PER_GROUP}`);
      const convergeCalls = callsPerGroup(endpoint, arns, mark);

      // One change batch: 5 endpoints per group replaced. Pass 1 registers, pass 2 (once the new
      // ones are out of initial) deregisters.
      await new Promise((r) => setTimeout(r, 250));
      const changed = view((g) => [...Array.from({ length: PER_GROUP - 5 }, (_, i) => rec(g, i + 5)), ...Array.from({ length: 5 }, (_, i) => rec(g, PER_GROUP + i))], 2);
      mark = endpoint.calls.mark;
      t0 = performance.now();
      await output.apply(changed);
      const pass1 = callsPerGroup(endpoint, arns, mark);
      const mark2 = endpoint.calls.mark;
      await new Promise((r) => setTimeout(r, 250));
      await output.sync('bench');
      const changeMs = performance.now() - t0;
      const pass2 = callsPerGroup(endpoint, arns, mark2);
      const left = arns.reduce((n, arn) => n + endpoint.state.targetsOf(arn).filter((t) => t.state !== 'draining').length, 0);
      if (left !== GROUPS * PER_GROUP) throw new Error(`after the change ${left} serving targets, expected ${GROUPS * PER_GROUP}`);
      return {
        convergeMs: Math.round(convergeMs),
        convergeCallsPerGroup: { max: Math.max(...convergeCalls), median: median(convergeCalls) },
        changeMs: Math.round(changeMs),
        changeCallsPerGroupPerPass: { max: Math.max(...pass1, ...pass2), passes: 2 },
        totalCalls: endpoint.calls.records.length,
        registered,
      };
    } finally {
      await output.close();
    }
  } finally {
    await endpoint.stop();
  }
}

const rounds: Round[] = [];
for (let i = 0; i < ROUNDS; i++) {
  const r = await round();
  rounds.push(r);
  process.stderr.write(`round ${i + 1}/${ROUNDS}: converged ${r.registered} targets in ${r.convergeMs}ms, ${r.convergeCallsPerGroup.max} calls/group; change batch ${r.changeMs}ms, ≤ ${r.changeCallsPerGroupPerPass.max} calls/group/pass\n`);
}
const summary = {
  convergeMs: median(rounds.map((r) => r.convergeMs)),
  convergeCallsPerGroupMax: median(rounds.map((r) => r.convergeCallsPerGroup.max)),
  changeCallsPerGroupPerPassMax: median(rounds.map((r) => r.changeCallsPerGroupPerPass.max)),
  changeMs: median(rounds.map((r) => r.changeMs)),
};
const result = {
  bench: 'elbv2',
  date: new Date().toISOString(),
  node: process.version,
  setup: { groups: GROUPS, endpoints: GROUPS * PER_GROUP, perGroup: PER_GROUP, rounds: ROUNDS, server: 'beacon ELBv2 test endpoint on 127.0.0.1, real SDK client', changeBatch: '5 of each group replaced' },
  targets: { convergeMs: TARGET_MS, callsPerGroupPerBatch: TARGET_CALLS },
  median: summary,
  pass: summary.convergeMs <= TARGET_MS && summary.convergeCallsPerGroupMax <= TARGET_CALLS && summary.changeCallsPerGroupPerPassMax <= TARGET_CALLS,
  rounds,
};
const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
mkdirSync(dir, { recursive: true });
writeFileSync(`${dir}elbv2.json`, `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(`${JSON.stringify({ median: summary, pass: result.pass })}\n`);
process.exitCode = result.pass ? 0 : 1;
