import assert from 'node:assert/strict';
import { ELBV2_CODES, GroupSync, targetKey, type ActualTarget, type GroupEvent, type Target, type TargetGroupApi } from '../../../lbsync/elbv2/index.js';

/** An in-memory group that refuses some Ids with an InvalidTarget that names no target (the worst case). */
class FakeApi implements TargetGroupApi {
  readonly targets = new Map<string, ActualTarget>();
  readonly calls: Array<[string, string[]]> = [];

  constructor(private readonly invalid = new Set<string>()) {}

  async describeTargets(): Promise<ActualTarget[]> {
    this.calls.push(['describe', []]);
    return [...this.targets.values()];
  }

  async registerTargets(_arn: string, targets: Target[]): Promise<void> {
    this.calls.push(['register', targets.map(targetKey)]);
    if (targets.some((t) => this.invalid.has(t.id))) {
      throw Object.assign(new Error('The specified target does not exist or is not in the same VPC as the target group.'), {
        name: 'InvalidTargetException',
        Code: 'InvalidTarget',
        $metadata: { httpStatusCode: 400 },
      });
    }
    for (const t of targets) this.targets.set(targetKey(t), { ...t, state: 'healthy' });
  }

  async deregisterTargets(_arn: string, targets: Target[]): Promise<void> {
    this.calls.push(['deregister', targets.map(targetKey)]);
    for (const t of targets) this.targets.delete(targetKey(t));
  }

  close(): void {}
}

const t = (n: number): Target => ({ id: `10.0.0.${n}`, port: 80 });
const settings = { service: 'web', targetGroupArn: 'arn:tg', graceMs: 1000, maxRemove: 0.5, rejectForMs: 60_000, dryRun: false };
const input = (desired: Target[], now = 0, canWrite = () => true) => ({ desired, skipped: [], viewStableForMs: 600_000, now, canWrite });

describe('elbv2 group sync', () => {
  it('finds invalid targets one by one when ELBv2 does not name them, and registers the rest', async () => {
    const api = new FakeApi(new Set(['10.0.0.2']));
    const events: GroupEvent[] = [];
    const sync = new GroupSync(api, settings, (e) => events.push(e));
    const result = await sync.pass(input([t(1), t(2), t(3)]));
    assert.deepEqual([...api.targets.keys()].sort(), ['10.0.0.1:80', '10.0.0.3:80']);
    assert.equal(result.refused.length, 1);
    assert.equal(result.refused[0]!.code, ELBV2_CODES.invalidTarget);
    assert.deepEqual(result.refused[0]!.context.targets, [t(2)]);
    const rejected = events.find((e) => e.type === 'rejected');
    assert.deepEqual(rejected?.type === 'rejected' && rejected.event.targets, [t(2)]);
  });

  it('does not retry a refused target until it leaves the desired set or a drift period passes', async () => {
    const api = new FakeApi(new Set(['10.0.0.2']));
    const sync = new GroupSync(api, settings, () => undefined);
    await sync.pass(input([t(1), t(2)], 0));
    api.calls.length = 0;
    await sync.pass(input([t(1), t(2)], 1000));
    assert.deepEqual(api.calls, [['describe', []]], 'nothing but a describe');
    await sync.pass(input([t(1), t(2)], 60_000));
    assert.ok(api.calls.some(([action, keys]) => action === 'register' && keys.includes('10.0.0.2:80')), 'tried again after the drift period');
  });

  it('registers before it deregisters, in separate passes (make-before-break)', async () => {
    const api = new FakeApi();
    const sync = new GroupSync(api, settings, () => undefined);
    await sync.pass(input([t(1), t(2)], 0));
    api.calls.length = 0;
    const first = await sync.pass(input([t(3), t(4)], 10));
    assert.deepEqual(api.calls.map(([a]) => a), ['describe', 'register']);
    assert.equal(first.pending, true, 'comes back for the held removals');
    await sync.pass(input([t(3), t(4)], 20));
    assert.deepEqual(api.calls.map(([a]) => a), ['describe', 'register', 'describe', 'deregister']);
    assert.deepEqual([...api.targets.keys()].sort(), ['10.0.0.3:80', '10.0.0.4:80']);
  });

  it('writes nothing once it may no longer write (leadership lost), and nothing in dry-run', async () => {
    const api = new FakeApi();
    await new GroupSync(api, settings, () => undefined).pass(input([t(1)], 0, () => false));
    await new GroupSync(api, { ...settings, dryRun: true }, () => undefined).pass(input([t(1)], 0));
    assert.deepEqual(api.calls.map(([a]) => a), ['describe', 'describe']);
  });
});
