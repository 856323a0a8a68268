import assert from 'node:assert/strict';
import { waitFor } from '../../harness/index.js';
import { motoAvailable, MOTO_MISSING } from '../../elbv2/index.js';
import {
  ELBV2_CODES,
  Elbv2Output,
  Elbv2SyncError,
  SdkTargetGroupApi,
  type Elbv2OutputOptions,
  type PlanEvent,
  type WarningEvent,
} from '../../../lbsync/elbv2/index.js';
import type { ServiceRecord } from '../../../registry/index.js';
import { active, creds, endpointBackend, keysOf, motoBackend, record, viewOf, WatchingApi, type Backend } from './helpers.js';

const BACKENDS: Array<{ name: Backend['name']; make: () => Promise<Backend> }> = [
  { name: 'endpoint', make: () => endpointBackend() },
  { name: 'moto', make: () => motoBackend() },
];

for (const { name, make } of BACKENDS) {
  describe(`elbv2 output against ${name === 'endpoint' ? 'the beacon test endpoint' : 'moto'}`, function () {
    let backend: Backend;
    let arn: string;
    const outputs: Elbv2Output[] = [];

    before(async function () {
      if (name === 'moto' && !motoAvailable()) {
        console.log(`      ${MOTO_MISSING}`);
        this.skip();
      }
      backend = await make();
    });

    after(async () => {
      await backend?.close();
    });

    let groupSeq = 0;
    beforeEach(async () => {
      arn = await backend.createGroup(`web-${++groupSeq}`);
    });

    afterEach(async () => {
      await Promise.all(outputs.splice(0).map((o) => o.close()));
    });

    /** endpoint n of service web: distinct Ids on moto, distinct ports everywhere. */
    const ep = (n: number): ServiceRecord => record('web', n, backend.host(n), 18000 + n);
    const eps = (...ns: number[]) => ns.map(ep);
    const want = (...ns: number[]) => keysOf(eps(...ns).map((r) => ({ id: r.host, port: r.port })));

    function output(options: Partial<Elbv2OutputOptions> = {}): Elbv2Output {
      const o = new Elbv2Output({
        targetGroups: new Map([['web', arn]]),
        endpoint: backend.url,
        region: 'us-east-1',
        client: { credentials: creds('AKIDLBSYNC') },
        targetType: 'ip',
        health: 'pool',
        maxRemove: 0.5,
        driftMs: 1000,
        graceMs: 3000,
        dryRun: false,
        ...options,
      });
      outputs.push(o);
      return o;
    }

    const activeKeys = async () => keysOf(active(await backend.targets(arn)));

    it('5 endpoints → 5 targets; 2 removed → those 2 deregistered (draining) while 3 stay', async () => {
      const o = output();
      const outcome = await o.apply(viewOf({ web: eps(1, 2, 3, 4, 5) }));
      assert.equal(outcome.changed, true);
      assert.deepEqual(await activeKeys(), want(1, 2, 3, 4, 5));
      await o.apply(viewOf({ web: eps(1, 2, 3) }));
      // The 3 that stay may still be `initial`: make-before-break waits for them, then the 2 go.
      await waitFor(async () => JSON.stringify(await activeKeys()) === JSON.stringify(want(1, 2, 3)), 15_000, '2 targets to be deregistered');
      const all = await backend.targets(arn);
      if (name === 'endpoint') {
        // ELBv2 semantics: the two that left drain (moto drops them at once).
        assert.deepEqual(keysOf(all.filter((t) => t.state === 'draining')), want(4, 5));
      } else {
        assert.deepEqual(keysOf(all), want(1, 2, 3));
      }
    });

    it('a target deregistered by hand is back within one drift period', async () => {
      const o = output({ driftMs: 1000 });
      await o.apply(viewOf({ web: eps(1, 2, 3) }));
      const [victim] = eps(2);
      await backend.deregisterByHand(arn, { id: victim!.host, port: victim!.port });
      assert.deepEqual(await activeKeys(), want(1, 3));
      await waitFor(async () => JSON.stringify(await activeKeys()) === JSON.stringify(want(1, 2, 3)), 15_000, 'the target to come back');
    });

    it('a rolling replacement of all 5 never leaves fewer than 5 registered non-draining targets', async () => {
      const sdk = new SdkTargetGroupApi({ endpoint: backend.url, region: 'us-east-1', credentials: creds('AKIDLBSYNC') });
      const watching = new WatchingApi(sdk, (a) => backend.targets(a));
      const o = output({ api: watching, graceMs: 5000 });
      await o.apply(viewOf({ web: eps(1, 2, 3, 4, 5) }));
      await waitFor(async () => (await backend.targets(arn)).every((t) => t.state === 'healthy'), 15_000, 'the first 5 to turn healthy');
      watching.minActive.clear();
      // One container at a time is replaced: the old one leaves the pool as the new one joins.
      for (let step = 1; step <= 5; step++) {
        const live = [...Array.from({ length: 5 - step }, (_, i) => step + 1 + i), ...Array.from({ length: step }, (_, i) => 6 + i)];
        await o.apply(viewOf({ web: eps(...live) }));
      }
      await waitFor(async () => JSON.stringify(await activeKeys()) === JSON.stringify(want(6, 7, 8, 9, 10)), 30_000, 'the replacement to finish');
      assert.ok((watching.minActive.get(arn) ?? 0) >= 5, `fewest serving targets seen: ${watching.minActive.get(arn)}`);
    });

    it('the safety stop holds when the view looks empty and young, and says so', async () => {
      const o = output({ graceMs: 20_000, driftMs: 60_000 });
      await o.apply(viewOf({ web: eps(1, 2, 3, 4, 5) }));
      const plans: PlanEvent[] = [];
      o.on('plan', (e) => plans.push(e));
      // etcd came back empty-looking for a moment: no pool at all, view 100 ms old.
      const outcome = await o.apply(viewOf({}, 100));
      assert.match(outcome.detail, /held in 1 groups/);
      assert.match(outcome.warnings?.[0] ?? '', /deregistering 5 targets of web .*safety stop/);
      assert.equal(plans[0]?.plan.hold?.kind, 'safety-stop');
      assert.match(plans[0]!.text, /safety stop: would remove 5 of 5 targets/);
      assert.deepEqual(await activeKeys(), want(1, 2, 3, 4, 5));
      // The records return: nothing was ever deregistered.
      await o.apply(viewOf({ web: eps(1, 2, 3, 4, 5) }, 200));
      assert.deepEqual(keysOf(await backend.targets(arn)), want(1, 2, 3, 4, 5));
    });

    it('an emptied view removes the group once it has been stable for the grace period', async () => {
      const o = output({ graceMs: 1500, driftMs: 60_000 });
      await o.apply(viewOf({ web: eps(1, 2) }));
      await o.apply(viewOf({}, 0));
      assert.deepEqual(await activeKeys(), want(1, 2), 'held while young');
      // No new view arrives: the output looks again by itself when the view turns stable.
      await waitFor(async () => (await activeKeys()).length === 0, 15_000, 'the group to empty');
    });

    it('keeps the other groups in step when one group fails (unknown target group)', async () => {
      const missing = arn.replace(/[0-9a-f]{16}$/, '0000000000000000');
      const o = output({ targetGroups: new Map([['web', arn], ['api', missing]]) });
      const failed: string[] = [];
      o.on('failed', (e) => failed.push(e.code));
      await assert.rejects(o.apply(viewOf({ web: eps(1, 2), api: [record('api', 1, backend.host(7), 19001)] })), (err: unknown) => {
        assert.ok(err instanceof Elbv2SyncError);
        assert.equal(err.code, ELBV2_CODES.targetGroupNotFound);
        assert.match(err.message, /service api/);
        assert.ok(err.message.includes(missing));
        return true;
      });
      assert.deepEqual(failed, [ELBV2_CODES.targetGroupNotFound]);
      assert.deepEqual(await activeKeys(), want(1, 2));
    });
  });
}

describe('elbv2 output: behaviour only the beacon endpoint can show', function () {
  let backend: Awaited<ReturnType<typeof endpointBackend>>;
  let arn: string;
  const outputs: Elbv2Output[] = [];
  let seq = 0;

  beforeEach(async () => {
    backend = await endpointBackend({ maxTargetsPerGroup: 8 });
    arn = await backend.createGroup(`only-${++seq}`);
  });

  afterEach(async () => {
    await Promise.all(outputs.splice(0).map((o) => o.close()));
    await backend.close();
  });

  const ep = (n: number, host = '127.0.0.1') => record('web', n, host, 18000 + n);
  const eps = (...ns: number[]) => ns.map((n) => ep(n));
  const calls = (action: string | string[]) => backend.endpoint.calls.find({ action, ok: true });

  function output(options: Partial<Elbv2OutputOptions> = {}): Elbv2Output {
    const o = new Elbv2Output({
      targetGroups: new Map([['web', arn]]),
      endpoint: backend.url,
      region: 'us-east-1',
      client: { credentials: creds('AKIDLBSYNC'), maxAttempts: 3 },
      targetType: 'ip',
      health: 'pool',
      maxRemove: 0.5,
      driftMs: 1000,
      graceMs: 3000,
      dryRun: false,
      ...options,
    });
    outputs.push(o);
    return o;
  }

  it('converges through injected throttling, 429s and 500s with warnings only', async () => {
    const o = output();
    const warnings: WarningEvent[] = [];
    const failed: unknown[] = [];
    o.on('warning', (w) => warnings.push(w));
    o.on('failed', (e) => failed.push(e));
    // More faults than the SDK's 3 attempts: the first pass gives up, our backoff brings the next.
    backend.endpoint.faults
      .add({ action: 'RegisterTargets', count: 4, kind: 'throttling', retryAfterMs: 20 })
      .add({ action: 'DescribeTargetHealth', count: 2, kind: 'too-many-requests' })
      .add({ action: 'RegisterTargets', count: 1, kind: 'internal-error' });
    const first = await o.apply(viewOf({ web: eps(1, 2, 3, 4, 5) }));
    assert.match(first.detail, /retrying 1 groups/);
    await waitFor(() => backend.endpoint.state.targetsOf(arn).length === 5, 30_000, 'all 5 targets despite the faults');
    assert.ok(warnings.length >= 1);
    assert.equal(warnings[0]!.error.code, ELBV2_CODES.throttled);
    assert.deepEqual(failed, []);
    assert.equal(backend.endpoint.faults.pending, 0);
  });

  it('--dry-run describes the plan and calls nothing that writes', async () => {
    const o = output({ dryRun: true });
    const plans: PlanEvent[] = [];
    o.on('plan', (e) => plans.push(e));
    const outcome = await o.apply(viewOf({ web: eps(1, 2, 3) }));
    assert.equal(outcome.changed, false);
    assert.match(outcome.detail, /would register 3/);
    assert.equal(plans[0]!.dryRun, true);
    assert.match(plans[0]!.text, /register 3 \[127\.0\.0\.1:18001, 127\.0\.0\.1:18002, 127\.0\.0\.1:18003\]/);
    assert.deepEqual(calls(['RegisterTargets', 'DeregisterTargets']), []);
    assert.ok(calls('DescribeTargetHealth').length >= 1);
    assert.deepEqual(backend.endpoint.state.targetsOf(arn), []);
  });

  it('preview (lbsync --dry-run) prints every group plan and writes nothing', async () => {
    const o = output();
    await o.apply(viewOf({ web: eps(1, 2) }));
    const mark = backend.endpoint.calls.mark;
    const text = await o.preview(viewOf({ web: [ep(2), ep(3), ep(4, 'web.internal')] }));
    assert.match(text, /^elbv2 plan \(dry run, nothing written\):/);
    assert.match(text, /web → tg\/only-\d+: register 1 \[127\.0\.0\.1:18003\]; keep 1; held 1 \[127\.0\.0\.1:18001\]: make-before-break/);
    assert.match(text, /skipped web\/web-4: host web\.internal is not an IP address/);
    assert.deepEqual(backend.endpoint.calls.find({ since: mark }).map((c) => c.action), ['DescribeTargetHealth']);
    assert.deepEqual(keysOf(backend.endpoint.state.targetsOf(arn)), ['127.0.0.1:18001', '127.0.0.1:18002']);
  });

  it('refuses an invalid target with its group and address, registers the rest, and does not retry it blindly', async () => {
    const o = output({ driftMs: 60_000 });
    const rejected: string[] = [];
    o.on('rejected', (e) => rejected.push(...e.targets.map((t) => `${t.id}:${t.port}`)));
    await assert.rejects(o.apply(viewOf({ web: [ep(1), ep(2, '10.9.9.9'), ep(3)] })), (err: unknown) => {
      assert.ok(err instanceof Elbv2SyncError);
      assert.equal(err.code, ELBV2_CODES.invalidTarget);
      assert.match(err.message, /10\.9\.9\.9:18002/);
      assert.ok(err.message.includes(arn));
      return true;
    });
    assert.deepEqual(rejected, ['10.9.9.9:18002']);
    assert.deepEqual(keysOf(backend.endpoint.state.targetsOf(arn)), ['127.0.0.1:18001', '127.0.0.1:18003']);
    const before = calls('RegisterTargets').length;
    await o.apply(viewOf({ web: [ep(1), ep(2, '10.9.9.9'), ep(3), ep(4)] }));
    const after = calls('RegisterTargets').slice(before);
    assert.equal(after.length, 1, 'one call for the new target only');
    assert.equal(after[0]!.params['Targets.member.1.Id'], '127.0.0.1');
    assert.equal(after[0]!.params['Targets.member.2.Id'], undefined);
  });

  it('reports a full group (TooManyTargets) with the group, keeping what is registered', async () => {
    const o = output({ driftMs: 60_000 });
    await o.apply(viewOf({ web: eps(1, 2, 3, 4, 5, 6) }));
    await assert.rejects(o.apply(viewOf({ web: eps(1, 2, 3, 4, 5, 6, 7, 8, 9, 10) })), (err: unknown) => {
      assert.ok(err instanceof Elbv2SyncError);
      assert.equal(err.code, ELBV2_CODES.tooManyTargets);
      assert.ok(err.message.includes(arn));
      return true;
    });
    assert.equal(backend.endpoint.state.targetsOf(arn).length, 6);
  });

  it('instance target groups register meta.instanceId with the record port', async () => {
    const instanceArn = (
      await backend.endpoint.state.createTargetGroup({ name: `inst-${seq}`, protocol: 'HTTP', port: 80, vpcId: 'vpc-0123456789abcdef0', targetType: 'instance' })
    ).arn;
    const o = output({ targetGroups: new Map([['web', instanceArn]]), targetType: 'instance' });
    const r = { ...ep(1), meta: { instanceId: 'i-0123456789abcdef0' } };
    await o.apply(viewOf({ web: [r] }));
    assert.deepEqual(keysOf(backend.endpoint.state.targetsOf(instanceArn)), ['i-0123456789abcdef0:18001']);
  });

  it('splits large changes into batches of at most 200 targets', async () => {
    backend.endpoint.state.maxTargetsPerGroup = 1000;
    const o = output();
    const many = Array.from({ length: 450 }, (_, i) => record('web', i, `127.0.${Math.floor(i / 200)}.${(i % 200) + 1}`, 80));
    await o.apply(viewOf({ web: many }));
    assert.equal(backend.endpoint.state.targetsOf(arn).length, 450);
    const sizes = calls('RegisterTargets').map((c) => Object.keys(c.params).filter((k) => k.endsWith('.Id')).length);
    assert.deepEqual(sizes, [200, 200, 50]);
  });
});
