import assert from 'node:assert/strict';
import { NginxValidationError } from '../../../lbsync/errors.js';
import type { Endpoint, PoolView } from '../../../lbsync/output.js';
import { StatusModel, summarise, type StatusModelOptions } from '../../../lbsync/status/index.js';
import type { HealthState } from '../../../health/types.js';
import type { ServiceRecord } from '../../../registry/index.js';
import type { TargetPlan } from '../../../lbsync/elbv2/plan.js';

const ARN = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef';

function rec(service: string, n: number, extra: Partial<ServiceRecord> = {}): ServiceRecord {
  return { service, instance: `core01:${service}0${n}:80`, host: '127.0.0.1', port: 18000 + n, node: 'core01', container: `c0ffee00000${n}`, ...extra };
}

function endpoint(record: ServiceRecord, health: HealthState, reason?: string): Endpoint {
  return reason ? { record, health, last: { passing: health === 'passing', reason, latencyMs: 1.23, at: 1_000 } } : { record, health };
}

/** A view with the given endpoints per service; members are the passing ones (or all when none passes). */
function view(pools: Record<string, Endpoint[]>, revision = 7): PoolView {
  return {
    revision,
    stableForMs: 0,
    pools: Object.entries(pools).map(([service, endpoints]) => {
      const passing = endpoints.filter((e) => e.health === 'passing');
      const failOpen = passing.length === 0 && endpoints.some((e) => e.health === 'failing');
      return { service, endpoints, members: (passing.length ? passing : endpoints).map((e) => e.record), failOpen };
    }),
  };
}

function model(options: Partial<StatusModelOptions> = {}) {
  let now = 1_700_000_000_000;
  const m = new StatusModel({ healthChecks: true, nginx: true, now: () => now, ...options });
  let changes = 0;
  m.on('change', () => changes++);
  return { m, tick: (ms: number) => (now += ms), changes: () => changes };
}

describe('status model', () => {
  it('lists every service with its endpoints, health, last check and pool membership', () => {
    const { m } = model();
    m.onView(view({ web: [endpoint(rec('web', 1), 'passing', 'status 200'), endpoint(rec('web', 2), 'failing', 'connection refused')] }));
    const doc = m.snapshot();
    assert.equal(doc.version, 1);
    assert.equal(doc.revision, 7);
    const [web] = doc.services;
    assert.equal(web!.service, 'web');
    assert.deepEqual(web!.counts, { passing: 1, failing: 1, unknown: 0 });
    assert.equal(web!.members, 1);
    const [e1, e2] = web!.endpoints;
    assert.deepEqual(
      { instance: e1!.instance, host: e1!.host, port: e1!.port, node: e1!.node, container: e1!.container, health: e1!.health, reason: e1!.reason, latencyMs: e1!.latencyMs, member: e1!.member },
      { instance: 'core01:web01:80', host: '127.0.0.1', port: 18001, node: 'core01', container: 'c0ffee000001', health: 'passing', reason: 'status 200', latencyMs: 1.2, member: true },
    );
    assert.equal(e2!.health, 'failing');
    assert.equal(e2!.reason, 'connection refused');
    assert.equal(e2!.member, false);
  });

  it('marks endpoints in nginx only once nginx has accepted a config with them', () => {
    const { m } = model();
    const first = view({ web: [endpoint(rec('web', 1), 'passing')] });
    m.onView(first);
    assert.equal(m.snapshot().services[0]!.endpoints[0]!.inNginx, false, 'not before the apply');
    m.onApplied('nginx', { changed: true, detail: 'reloaded nginx (1 upstream, 1 server)' });
    assert.equal(m.snapshot().services[0]!.endpoints[0]!.inNginx, true);
    assert.equal(m.snapshot().services[0]!.nginxServers, 1);

    // A second endpoint whose config nginx refuses: shown, but not in nginx; the reload failure is reported with nginx's words.
    m.onView(view({ web: [endpoint(rec('web', 1), 'passing'), endpoint(rec('web', 2), 'passing')] }));
    m.onRejected('nginx', new NginxValidationError('host not found in upstream "bad.example" in beacon.conf:3'));
    const doc = m.snapshot();
    assert.deepEqual(doc.services[0]!.endpoints.map((e) => e.inNginx), [true, false]);
    assert.equal(doc.nginx!.lastReload!.ok, false);
    assert.match(doc.nginx!.lastReload!.message!, /host not found in upstream "bad.example"/);
    assert.equal(doc.errors[0]!.source, 'nginx');
    assert.equal(doc.errors[0]!.level, 'error');
  });

  it('shows no nginx column (null) when lbsync drives ELBv2 only', () => {
    const { m } = model({ nginx: false });
    m.onView(view({ web: [endpoint(rec('web', 1), 'passing')] }));
    const doc = m.snapshot();
    assert.equal(doc.nginx, undefined);
    assert.equal(doc.services[0]!.nginxServers, null);
    assert.equal(doc.services[0]!.endpoints[0]!.inNginx, null);
  });

  it('follows health changes between views and stamps the service last change', () => {
    const { m, tick } = model();
    m.onView(view({ web: [endpoint(rec('web', 1), 'passing'), endpoint(rec('web', 2), 'passing')] }));
    const before = m.snapshot().services[0]!.lastChange;
    tick(5_000);
    m.onHealth('web/core01:web02:80', 'failing', { passing: false, reason: 'status 404', latencyMs: 0.8, at: 2_000 });
    const web = m.snapshot().services[0]!;
    assert.equal(web.endpoints[1]!.health, 'failing');
    assert.equal(web.endpoints[1]!.reason, 'status 404');
    assert.deepEqual(web.counts, { passing: 1, failing: 1, unknown: 0 });
    assert.ok(Date.parse(web.lastChange) - Date.parse(before) === 5_000, 'last change moves with the health change');
    tick(5_000);
    m.onHealth('web/core01:gone:80', 'failing', { passing: false, reason: 'x', latencyMs: 1, at: 3_000 });
    assert.equal(m.snapshot().services[0]!.lastChange, web.lastChange, 'an unknown endpoint changes nothing');
  });

  it('reports fail-open pools', () => {
    const { m } = model();
    m.onView(view({ api: [endpoint(rec('api', 1), 'failing', 'timeout after 2s')] }));
    m.onFailOpen('api', true);
    const doc = m.snapshot();
    assert.equal(doc.services[0]!.failOpen, true);
    assert.equal(doc.services[0]!.endpoints[0]!.member, true);
    assert.match(doc.errors[0]!.message, /failing open api/);
  });

  it('keeps recent errors newest first, bounded, folding repeats', () => {
    const { m } = model({ errorLimit: 3 });
    for (let i = 0; i < 5; i++) m.onProblem(`/services/web/k${i}`, 'invalid JSON');
    m.onProblem('/services/web/k4', 'invalid JSON');
    const errors = m.snapshot().errors;
    assert.equal(errors.length, 3);
    assert.equal(errors[0]!.message, 'skipped /services/web/k4: invalid JSON');
    assert.equal(errors[0]!.repeats, 2);
    assert.equal(errors[2]!.message, 'skipped /services/web/k2: invalid JSON');
  });

  it('tracks the etcd watch', () => {
    const { m } = model();
    m.onDisconnected(new Error('14 UNAVAILABLE'), 500);
    assert.equal(m.snapshot().etcd.connected, false);
    assert.match(m.snapshot().errors[0]!.message, /lost the etcd watch/);
    m.onResynced('reconnect', 12);
    assert.equal(m.snapshot().etcd.connected, true);
    assert.equal(m.snapshot().etcd.lastResync!.records, 12);
  });

  it('drops services that left the view', () => {
    const { m } = model();
    m.onView(view({ web: [endpoint(rec('web', 1), 'passing')], api: [endpoint(rec('api', 1), 'passing')] }));
    m.onView(view({ web: [endpoint(rec('web', 1), 'passing')] }));
    assert.deepEqual(m.snapshot().services.map((s) => s.service), ['web']);
  });

  it('lists the services nginx keeps in quarantine, until an apply has none', () => {
    const { m } = model();
    m.onView(view({ web: [endpoint(rec('web', 1), 'passing')] }));
    m.onApplied('nginx', { changed: true, detail: 'reloaded', quarantined: [{ service: 'bad', reason: 'nginx refused its block: duplicate listen', since: 1_700_000_000_000, retryAt: 1_700_000_010_000 }] });
    assert.deepEqual(m.snapshot().nginx?.quarantined, [{ service: 'bad', reason: 'nginx refused its block: duplicate listen', since: '2023-11-14T22:13:20.000Z', retryAt: '2023-11-14T22:13:30.000Z' }]);
    m.onApplied('nginx', { changed: true, detail: 'reloaded', quarantined: [] });
    assert.equal(m.snapshot().nginx?.quarantined, undefined);
  });

  it('emits change on every update', () => {
    const { m, changes } = model();
    m.onView(view({ web: [] }));
    m.onApplied('nginx', { changed: false, detail: 'unchanged' });
    assert.ok(changes() >= 2);
  });

  describe('ELBv2', () => {
    const elbv2 = { targetGroups: new Map([['web', ARN]]), targetType: 'ip' as const, health: 'pool' as const };
    const empty = (): TargetPlan => ({ register: [], deregister: [], keep: [], reregister: [], heldBack: [], registeredCount: 0 });

    it('follows registrations and deregistrations per endpoint', () => {
      const { m } = model({ elbv2 });
      const r1 = rec('web', 1);
      const r2 = rec('web', 2);
      m.onElbv2Leader(true);
      m.onView(view({ web: [endpoint(r1, 'passing'), endpoint(r2, 'passing')] }));
      m.onElbv2Plan('web', { ...empty(), register: [[{ id: r1.host, port: r1.port }, { id: r2.host, port: r2.port }]] });
      m.onElbv2Targets('registered', { service: 'web', targetGroupArn: ARN, targets: [{ id: r1.host, port: r1.port }, { id: r2.host, port: r2.port }] });
      m.onElbv2Pass({ reason: 'view', registered: 2, deregistered: 0, held: 0, failed: 0, calls: 2, durationMs: 12 });
      let doc = m.snapshot();
      assert.deepEqual(doc.services[0]!.elbv2, { targetGroupArn: ARN, targets: 2 });
      assert.deepEqual(doc.services[0]!.endpoints.map((e) => e.inElbv2), [true, true]);
      assert.equal(doc.elbv2!.lastPass!.calls, 2);
      assert.equal(doc.elbv2!.leader, true);

      m.onElbv2Plan('web', { ...empty(), keep: [{ id: r1.host, port: r1.port }], deregister: [[{ id: r2.host, port: r2.port }]] });
      m.onElbv2Targets('deregistered', { service: 'web', targetGroupArn: ARN, targets: [{ id: r2.host, port: r2.port }] });
      doc = m.snapshot();
      assert.deepEqual(doc.services[0]!.endpoints.map((e) => e.inElbv2), [true, false]);
    });

    it('takes a pass without a plan as the group holding exactly the desired targets', () => {
      const { m } = model({ elbv2 });
      m.onElbv2Leader(true);
      m.onView(view({ web: [endpoint(rec('web', 1), 'passing'), endpoint(rec('web', 2), 'failing')] }));
      m.onElbv2Pass({ reason: 'timer', registered: 0, deregistered: 0, held: 0, failed: 0, calls: 1, durationMs: 3 });
      assert.deepEqual(m.snapshot().services[0]!.endpoints.map((e) => e.inElbv2), [true, false]);
    });

    it('does not claim to know the group on a standby replica', () => {
      const { m } = model({ elbv2 });
      m.onElbv2Leader(false);
      m.onView(view({ web: [endpoint(rec('web', 1), 'passing')] }));
      const doc = m.snapshot();
      assert.deepEqual(doc.services[0]!.elbv2, { targetGroupArn: ARN, targets: null });
      assert.equal(doc.services[0]!.endpoints[0]!.inElbv2, null);
      assert.equal(doc.elbv2!.leader, false);
    });
  });
});

describe('status summary (beacon status rows)', () => {
  it('counts endpoints per state and flags services with no passing endpoint', () => {
    const { m } = model();
    m.onView(
      view({
        api: [endpoint(rec('api', 1), 'failing')],
        new: [endpoint(rec('new', 1), 'unknown')],
        web: [endpoint(rec('web', 1), 'passing'), endpoint(rec('web', 2), 'failing')],
      }),
    );
    m.onApplied('nginx', { changed: true, detail: 'reloaded' });
    const rows = summarise(m.snapshot());
    assert.deepEqual(
      rows.map((r) => [r.service, r.passing, r.failing, r.unknown, r.nginx, r.ok]),
      [
        ['api', 0, 1, 0, 1, false],
        ['new', 0, 0, 1, 1, false],
        ['web', 1, 1, 0, 1, true],
      ],
    );
    assert.equal(rows[0]!.failOpen, true);
  });

  it('with health checks off, a service is down only when it has no endpoint', () => {
    const { m } = model({ healthChecks: false });
    m.onView(view({ web: [endpoint(rec('web', 1), 'unknown')], empty: [] }));
    assert.deepEqual(summarise(m.snapshot()).map((r) => [r.service, r.ok]), [['web', true], ['empty', false]]);
  });
});
