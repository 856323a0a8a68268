import assert from 'node:assert/strict';
import { chunk, describePlan, planTargets, targetKey, type ActualTarget, type PlanInput, type Target } from '../../../lbsync/elbv2/index.js';

const t = (n: number, port = 80): Target => ({ id: `10.0.0.${n}`, port });
const a = (n: number, state = 'healthy', port = 80): ActualTarget => ({ ...t(n, port), state });
const keys = (batches: Target[][]) => batches.flat().map(targetKey).sort();
const ids = (...ns: number[]) => ns.map((n) => `10.0.0.${n}:80`).sort();

const base: PlanInput = {
  desired: [],
  actual: [],
  since: new Map(),
  now: 1_000_000,
  viewStableForMs: 60_000,
  graceMs: 30_000,
  maxRemove: 0.5,
};

interface Row {
  name: string;
  input: Partial<PlanInput>;
  register: string[];
  deregister: string[];
  hold?: 'make-before-break' | 'safety-stop';
  reregister?: string[];
}

const rows: Row[] = [
  { name: 'empty group, 5 endpoints → register 5', input: { desired: [1, 2, 3, 4, 5].map((n) => t(n)) }, register: ids(1, 2, 3, 4, 5), deregister: [] },
  { name: 'in step → nothing', input: { desired: [t(1), t(2)], actual: [a(1), a(2)] }, register: [], deregister: [] },
  {
    name: '2 of 5 left, stable view → deregister 2 (40% ≤ 50%)',
    input: { desired: [t(1), t(2), t(3)], actual: [1, 2, 3, 4, 5].map((n) => a(n)) },
    register: [],
    deregister: ids(4, 5),
  },
  {
    name: 'same Id, other port is another target',
    input: { desired: [t(1, 8080)], actual: [a(1, 'healthy', 80), a(2)] },
    register: ['10.0.0.1:8080'],
    deregister: [],
    hold: 'make-before-break',
  },
  {
    name: 'new targets being registered hold removals (make-before-break)',
    input: { desired: [t(6), t(7)], actual: [a(1), a(2)] },
    register: ids(6, 7),
    deregister: [],
    hold: 'make-before-break',
  },
  {
    name: 'new targets still initial within grace hold removals',
    input: { desired: [t(6), t(7)], actual: [a(1), a(2), a(6, 'initial'), a(7, 'healthy')], since: new Map([['10.0.0.6:80', 1_000_000 - 1000]]) },
    register: [],
    deregister: [],
    hold: 'make-before-break',
  },
  {
    name: 'new targets initial past grace → deregister anyway',
    input: { desired: [t(6), t(7)], actual: [a(1), a(2), a(6, 'initial'), a(7, 'initial')], since: new Map([['10.0.0.6:80', 0], ['10.0.0.7:80', 0]]) },
    register: [],
    deregister: ids(1, 2),
  },
  {
    name: 'new targets healthy or unhealthy (out of initial) → deregister the old',
    input: { desired: [t(6), t(7)], actual: [a(1), a(2), a(6, 'healthy'), a(7, 'unhealthy')] },
    register: [],
    deregister: ids(1, 2),
  },
  {
    name: 'unwanted draining targets are left alone; a wanted one is registered again',
    input: { desired: [t(1), t(3)], actual: [a(1), a(2, 'draining'), a(3, 'draining')] },
    register: ids(3),
    deregister: [],
    reregister: ids(3),
  },
  {
    name: 'draining targets do not count as registered: 1 serving left, 1 leaving is 100%',
    input: { desired: [], actual: [a(1), a(2, 'draining')], viewStableForMs: 0 },
    register: [],
    deregister: [],
    hold: 'safety-stop',
  },
  {
    name: 'unused/Target.NotRegistered is not registered',
    input: { desired: [t(1)], actual: [{ ...t(1), state: 'unused', reason: 'Target.NotRegistered' }] },
    register: ids(1),
    deregister: [],
  },
  {
    name: 'safety stop: empty-looking young view keeps a non-empty group',
    input: { desired: [], actual: [1, 2, 3, 4, 5].map((n) => a(n)), viewStableForMs: 200 },
    register: [],
    deregister: [],
    hold: 'safety-stop',
  },
  {
    name: 'safety stop lifts once the view is stable',
    input: { desired: [], actual: [1, 2, 3, 4, 5].map((n) => a(n)), viewStableForMs: 30_000 },
    register: [],
    deregister: ids(1, 2, 3, 4, 5),
  },
  {
    name: 'young view may still remove up to max-remove',
    input: { desired: [t(1), t(2), t(3)], actual: [1, 2, 3, 4, 5].map((n) => a(n)), viewStableForMs: 0 },
    register: [],
    deregister: ids(4, 5),
  },
  {
    name: 'young view removing 3 of 5 (60%) is held',
    input: { desired: [t(1), t(2)], actual: [1, 2, 3, 4, 5].map((n) => a(n)), viewStableForMs: 0 },
    register: [],
    deregister: [],
    hold: 'safety-stop',
  },
  {
    name: 'max-remove 100% never stops',
    input: { desired: [], actual: [a(1)], viewStableForMs: 0, maxRemove: 1 },
    register: [],
    deregister: ids(1),
  },
  {
    name: 'safety stop still registers new targets',
    input: { desired: [t(9)], actual: [a(1), a(2)], viewStableForMs: 0 },
    register: ids(9),
    deregister: [],
    hold: 'safety-stop',
  },
];

describe('elbv2 plan', () => {
  for (const row of rows) {
    it(row.name, () => {
      const plan = planTargets({ ...base, ...row.input });
      assert.deepEqual(keys(plan.register), row.register);
      assert.deepEqual(keys(plan.deregister), row.deregister);
      assert.equal(plan.hold?.kind, row.hold);
      if (row.reregister) assert.deepEqual(plan.reregister.map(targetKey).sort(), row.reregister);
      if (row.hold) {
        assert.ok(plan.heldBack.length > 0, 'a hold names what it holds back');
        assert.match(describePlan('web', 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef', plan), /held \d+/);
      }
    });
  }

  it('batches at most 200 targets per call', () => {
    const desired = Array.from({ length: 450 }, (_, i) => ({ id: `10.0.${Math.floor(i / 250)}.${i % 250}`, port: 80 }));
    const plan = planTargets({ ...base, desired });
    assert.deepEqual(plan.register.map((b) => b.length), [200, 200, 50]);
    const small = planTargets({ ...base, desired, batchSize: 100 });
    assert.equal(small.register.length, 5);
    const capped = planTargets({ ...base, desired, batchSize: 1000 });
    assert.ok(capped.register.every((b) => b.length <= 200));
  });

  it('names the reason of a safety stop with the numbers', () => {
    const plan = planTargets({ ...base, desired: [], actual: [1, 2, 3, 4].map((n) => a(n)), viewStableForMs: 1200 });
    assert.match(plan.hold!.reason, /remove 4 of 4 targets \(100% > 50%\).*stable for 1200ms < grace 30000ms/);
  });

  it('chunk splits evenly and keeps order', () => {
    assert.deepEqual(chunk([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
    assert.deepEqual(chunk([], 3), []);
  });

  it('describes a plan in one line', () => {
    const plan = planTargets({ ...base, desired: [t(1), t(2)], actual: [a(1), a(3)] });
    assert.equal(
      describePlan('web', 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-tg/0123456789abcdef', plan),
      'web → tg/web-tg: register 1 [10.0.0.2:80]; keep 1; held 1 [10.0.0.3:80]: make-before-break: registering 1 new targets before deregistering 1',
    );
  });
});
