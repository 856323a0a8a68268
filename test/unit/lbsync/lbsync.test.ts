import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Etcd3 } from 'etcd3';
import { HealthScheduler } from '../../../health/index.js';
import { buildPoolView, healthPolicy, LbSync, type ApplyOutcome, type LbSyncEvents, type LbSyncOptions, type Output, type PoolView } from '../../../lbsync/index.js';
import type { KvChange, PrefixWatcherEvents, ResyncReason } from '../../../registry/index.js';
import { FakeClock, ScriptedChecker } from '../health/fakes.js';

/**
 * LbSync's loop (records → model → coalescer → outputs) driven by hand: a
 * source that emits what a PrefixWatcher would, outputs that record the views
 * they get, and a fake clock. etcd and nginx have their own integration tests.
 */

/** Emits snapshots and changes as a PrefixWatcher does, when told to. */
class HandFedSource extends EventEmitter<PrefixWatcherEvents> {
  private revision = 0;
  stopped = false;

  constructor(private readonly initial: Record<string, unknown> = {}) {
    super();
  }

  async start(): Promise<void> {
    this.snapshot(this.initial, 'start');
  }

  async stop(): Promise<void> {
    this.stopped = true;
  }

  snapshot(records: Record<string, unknown>, reason: ResyncReason): void {
    const kvs = new Map(Object.entries(records).map(([id, value]) => [`/services/${id}`, encode(value)]));
    this.emit('snapshot', kvs, ++this.revision, reason);
  }

  put(id: string, value: unknown): void {
    this.changes([{ type: 'put', key: `/services/${id}`, value: encode(value) }]);
  }

  delete(id: string): void {
    this.changes([{ type: 'delete', key: `/services/${id}` }]);
  }

  changes(changes: KvChange[]): void {
    this.emit('changes', changes, ++this.revision);
  }
}

const encode = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value));

/** A valid record value for `service/instance`. */
function rec(id: string, host = '127.0.0.1', port = 8000): Record<string, unknown> {
  const [service, instance] = id.split('/');
  return { service, instance, host, port };
}

/** An output that keeps every view it is given; `fail` makes its applies reject, `warnings` are returned with each; `settlesJoins` as a reload-mode nginx. */
class RecordingOutput implements Output {
  readonly calls: string[] = [];
  readonly views: PoolView[] = [];
  fail: Error | undefined;
  warnings: string[] = [];

  /** Services whose endpoint changes this output takes without a reload (dynamic nginx). */
  pushes = new Set<string>();

  constructor(
    readonly name: string,
    readonly settlesJoins = false,
  ) {}

  pushesEndpoints(service: string): boolean {
    return this.pushes.has(service);
  }

  async start(): Promise<void> {
    this.calls.push('start');
  }

  async apply(view: PoolView): Promise<ApplyOutcome> {
    this.calls.push('apply');
    this.views.push(view);
    if (this.fail) throw this.fail;
    return { changed: true, detail: `applied revision ${view.revision}`, warnings: [...this.warnings] };
  }

  async close(): Promise<void> {
    this.calls.push('close');
  }

  get last(): PoolView | undefined {
    return this.views.at(-1);
  }
}

/** `instance@host:port` of each member of `service` in a view. */
function members(view: PoolView | undefined, service: string): string[] {
  return (view?.pools.find((p) => p.service === service)?.members ?? []).map((r) => `${r.instance}@${r.host}:${r.port}`);
}

/** Given a source, LbSync must never reach for etcd. */
const noEtcd = new Proxy({}, {
  get: (_t, prop) => {
    throw new Error(`LbSync touched etcd (${String(prop)}) although it was given a source`);
  },
}) as Etcd3;

type Seen = { [K in keyof LbSyncEvents]: LbSyncEvents[K][] };

function setup(options: { initial?: Record<string, unknown>; outputs?: string[]; settlesJoins?: boolean } & Omit<Partial<LbSyncOptions>, 'outputs'> = {}) {
  const { initial, outputs: names = ['out'], settlesJoins = false, ...extra } = options;
  const clock = options.clock instanceof FakeClock ? options.clock : new FakeClock();
  const source = new HandFedSource(initial);
  const outputs = names.map((n) => new RecordingOutput(n, settlesJoins));
  const lb = new LbSync({ client: noEtcd, prefix: '/services', source, outputs, wait: { minMs: 50, maxMs: 1000 }, health: { enabled: false }, ...extra, clock });
  const seen = {} as Seen;
  for (const event of ['applied', 'rejected', 'problem', 'warning', 'health', 'failOpen', 'resynced', 'disconnected', 'view'] as const) {
    seen[event] = [] as never;
    lb.on(event, (...args: unknown[]) => (seen[event] as unknown[][]).push(args));
  }
  return { clock, source, outputs, out: outputs[0]!, lb, seen };
}

describe('lbsync: LbSync (hand-fed records, recording outputs, fake clock)', () => {
  it('starts every output before the first apply, then applies the listing at once', async () => {
    const { clock, out, lb } = setup({ initial: { 'web/b': rec('web/b', '127.0.0.1', 8002), 'web/a': rec('web/a', '127.0.0.1', 8001), 'api/x': rec('api/x') } });
    assert.deepEqual(out.calls, [], 'nothing before start()');
    await lb.start();
    await clock.advance(0);
    assert.deepEqual(out.calls, ['start', 'apply']);
    assert.deepEqual(out.last!.pools.map((p) => p.service), ['api', 'web'], 'pools sorted by service');
    assert.deepEqual(members(out.last, 'web'), ['a@127.0.0.1:8001', 'b@127.0.0.1:8002'], 'members sorted by instance');
    assert.equal(out.last!.revision, 1);
    await lb.stop();
  });

  it('applies puts and deletes from the watch; a burst within MIN becomes one apply, its latency measured from its first change', async () => {
    const { clock, source, out, lb, seen } = setup({ initial: { 'web/a': rec('web/a'), 'web/b': rec('web/b') } });
    await lb.start();
    await clock.advance(100);
    source.put('web/c', rec('web/c'));
    await clock.advance(0);
    assert.equal(out.views.length, 2, 'a lone change after a quiet period is applied at once');
    assert.deepEqual(members(out.last, 'web').map((m) => m.split('@')[0]), ['a', 'b', 'c']);

    source.put('web/d', rec('web/d')); // t = 100, right after an apply: waits MIN
    await clock.advance(10);
    source.put('web/e', rec('web/e'));
    await clock.advance(10);
    source.delete('web/a'); // t = 120: the burst settles at 170
    await clock.advance(1000);
    assert.equal(out.views.length, 3, 'three changes, one apply');
    assert.deepEqual(members(out.last, 'web').map((m) => m.split('@')[0]), ['b', 'c', 'd', 'e']);
    assert.equal(out.last!.revision, 5);
    assert.equal(seen.applied.at(-1)![2], 70, 'latency runs from the first change the apply includes (t = 100 → 170)');
    await lb.stop();
  });

  it('reports an unusable record as a problem and applies the others', async () => {
    const { clock, source, out, lb, seen } = setup({ initial: { 'web/a': rec('web/a') } });
    await lb.start();
    await clock.advance(100);
    source.changes([
      { type: 'put', key: '/services/web/bad', value: JSON.stringify({ ...rec('web/bad'), host: '1.2.3.4; include /etc/passwd' }) },
      { type: 'put', key: '/services/web/torn', value: '{"service":' },
      { type: 'put', key: '/services/web/b', value: JSON.stringify(rec('web/b')) },
    ]);
    await clock.advance(1000);
    assert.deepEqual(members(out.last, 'web').map((m) => m.split('@')[0]), ['a', 'b']);
    assert.deepEqual(seen.problem.map(([p]) => p.key).sort(), ['/services/web/bad', '/services/web/torn']);
    assert.doesNotMatch(JSON.stringify(out.last), /passwd/);
    await lb.stop();
  });

  it('an output that fails does not hold the others back, and a later change reaches it', async () => {
    const { clock, source, outputs, lb, seen } = setup({ outputs: ['nginx', 'elbv2'], initial: { 'web/a': rec('web/a') } });
    const [nginx, elbv2] = outputs as [RecordingOutput, RecordingOutput];
    nginx.fail = new Error('nginx -t refused the config');
    await lb.start();
    await clock.advance(0);
    assert.deepEqual(seen.rejected.map(([o, e]) => `${o}: ${e.message}`), ['nginx: nginx -t refused the config']);
    assert.deepEqual(seen.applied.map(([o]) => o), ['elbv2']);
    assert.deepEqual(members(elbv2.last, 'web'), ['a@127.0.0.1:8000']);

    nginx.fail = undefined;
    await clock.advance(100);
    source.put('web/b', rec('web/b', '127.0.0.1', 8001));
    await clock.advance(1000);
    assert.deepEqual(members(nginx.last, 'web'), ['a@127.0.0.1:8000', 'b@127.0.0.1:8001'], 'the change after the refusal is applied');
    assert.ok(seen.applied.some(([o]) => o === 'nginx'), 'nginx applied once it accepted again');
    assert.deepEqual(members(elbv2.last, 'web'), members(nginx.last, 'web'), 'every output gets the same view');
    await lb.stop();
  });

  it("reports an output's warning once while it lasts, and again when it comes back", async () => {
    const { clock, source, out, lb, seen } = setup({ initial: { 'web/a': rec('web/a') } });
    out.warnings = ['left out host x'];
    await lb.start();
    await clock.advance(100);
    source.put('web/b', rec('web/b'));
    await clock.advance(100);
    assert.equal(out.views.length, 2);
    assert.deepEqual(seen.warning, [['out', 'left out host x']], 'the same warning twice is reported once');
    out.warnings = [];
    source.put('web/c', rec('web/c'));
    await clock.advance(100);
    out.warnings = ['left out host x'];
    source.put('web/d', rec('web/d'));
    await clock.advance(100);
    assert.equal(out.views.length, 4);
    assert.equal(seen.warning.length, 2, 'reported again after it went away');
    await lb.stop();
  });

  it('follows only the services it was given: a change to another causes no apply', async () => {
    const { clock, source, out, lb } = setup({ services: ['web', 'api'], initial: { 'web/a': rec('web/a') } });
    await lb.start();
    await clock.advance(100);
    assert.deepEqual(out.last!.pools.map((p) => p.service), ['api', 'web'], 'a named service has a pool even without records');
    source.put('other/x', rec('other/x'));
    await clock.advance(1000);
    assert.ok(lb.record('other/x'), 'LbSync took the record in');
    assert.equal(out.views.length, 1, 'but applied nothing for it');
    source.put('web/b', rec('web/b'));
    await clock.advance(0);
    assert.equal(out.views.length, 2);
    assert.ok(!out.last!.pools.some((p) => p.service === 'other'));
    await lb.stop();
  });

  it('leaves out records the network filter refuses, and says so', async () => {
    const { clock, out, lb, seen } = setup({
      allow: (r) => r.host.startsWith('10.'),
      initial: { 'web/in': rec('web/in', '10.0.0.1'), 'web/out': rec('web/out', '192.168.1.1') },
    });
    await lb.start();
    await clock.advance(0);
    assert.deepEqual(members(out.last, 'web'), ['in@10.0.0.1:8000']);
    assert.equal(seen.problem.length, 1);
    assert.equal(seen.problem[0]![0].key, '/services/web/out');
    assert.match(seen.problem[0]![0].reason, /allowed-networks/);
    await lb.stop();
  });

  it('a resync replaces the model, and views say how long they have been free of resyncs and reconnects', async () => {
    const { clock, source, out, lb, seen } = setup({ initial: { 'web/a': rec('web/a'), 'web/b': rec('web/b') } });
    await lb.start();
    await clock.advance(5000);
    assert.equal(out.last!.stableForMs, 0);
    source.put('web/c', rec('web/c'));
    await clock.advance(0);
    assert.equal(out.last!.stableForMs, 5000);

    source.emit('disconnected', new Error('watch lost'), 100);
    assert.equal(seen.disconnected.length, 1);
    await clock.advance(200);
    source.put('web/d', rec('web/d'));
    await clock.advance(0);
    assert.equal(out.last!.stableForMs, 200, 'a reconnect makes the view young again');

    await clock.advance(100);
    source.snapshot({ 'web/b': rec('web/b'), 'web/e': rec('web/e') }, 'compacted');
    await clock.advance(0);
    assert.deepEqual(seen.resynced.at(-1), ['compacted', 2, 4]);
    assert.deepEqual(members(out.last, 'web').map((m) => m.split('@')[0]), ['b', 'e'], 'records missing from the listing are gone');
    assert.equal(out.last!.stableForMs, 0);
    await lb.stop();
  });

  it('stop() stops the source and closes every output; nothing is applied after it', async () => {
    const { clock, source, out, lb } = setup({ initial: { 'web/a': rec('web/a') } });
    await lb.start();
    await clock.advance(100);
    await lb.stop();
    assert.equal(source.stopped, true);
    assert.deepEqual(out.calls, ['start', 'apply', 'close']);
    source.put('web/b', rec('web/b'));
    await clock.advance(1000);
    assert.ok(lb.record('web/b'), 'the late change reached LbSync');
    assert.deepEqual(out.calls, ['start', 'apply', 'close'], 'and was not applied');
  });

  it('applies an endpoint change every output pushes without waiting for MIN; a new service still waits', async () => {
    const { clock, source, out, lb } = setup({ initial: { 'web/a': rec('web/a') } });
    out.pushes.add('web');
    await lb.start();
    await clock.advance(100);
    source.put('web/b', rec('web/b'));
    await clock.advance(0);
    assert.equal(out.views.length, 2);
    source.put('web/c', rec('web/c')); // right after an apply: a reload would wait MIN, a push need not
    await clock.advance(0);
    assert.equal(out.views.length, 3, 'applied at once');
    assert.deepEqual(members(out.last, 'web').map((m) => m.split('@')[0]), ['a', 'b', 'c']);
    source.put('api/x', rec('api/x')); // a new service is a structural change: batched as before
    await clock.advance(10);
    assert.equal(out.views.length, 3, 'a new service right after an apply waits for MIN');
    await clock.advance(100);
    assert.equal(out.views.length, 4);
    await lb.stop();
  });

  describe('with health checks (scripted checker on the same fake clock)', () => {
    /** Port 8001 passes, 8002 fails; each check takes 100 ms, so results come after the first apply. */
    function withHealth(initial: Record<string, unknown>, settlesJoins = false) {
      const clock = new FakeClock();
      const checker = new ScriptedChecker(clock, (port) => port !== 8002, 100);
      const scheduler = new HealthScheduler({ clock, checkers: { http: checker, https: checker, tcp: checker } });
      const t = setup({ clock, initial, settlesJoins, health: { enabled: true, scheduler, defaults: { kind: 'tcp', intervalMs: 1000, timeoutMs: 500, jitter: 0 } } });
      return { ...t, scheduler };
    }

    it('takes a failing endpoint out of the pool', async () => {
      const { clock, out, lb, seen, scheduler } = withHealth({ 'web/ok': rec('web/ok', '127.0.0.1', 8001), 'web/bad': rec('web/bad', '127.0.0.1', 8002) });
      await lb.start();
      await clock.advance(0);
      assert.deepEqual(members(out.last, 'web').map((m) => m.split('@')[0]), ['bad', 'ok'], 'before any result every endpoint serves');
      await clock.advance(10_000);
      assert.deepEqual(members(out.last, 'web'), ['ok@127.0.0.1:8001']);
      assert.ok(seen.health.some(([id, state]) => id === 'web/ok' && state === 'passing'));
      assert.equal(out.last!.pools[0]!.endpoints.length, 2, 'the failing endpoint is still shown, just not routed to');
      await lb.stop();
      await scheduler.stop();
    });

    it('rebuilds only the pools that changed: the others keep their object, and every view equals a full build', async () => {
      const records: Record<string, Record<string, unknown>> = {};
      for (let i = 0; i < 12; i++) records[`s${i % 4}/e${i}`] = rec(`s${i % 4}/e${i}`, '127.0.0.1', 8001 + (i % 2));
      const { clock, source, out, lb, scheduler } = withHealth({ ...records });
      await lb.start();
      await clock.advance(5000);
      let random = 7;
      let kept = 0;
      const next = (n: number) => (random = (random * 48271) % 2147483647) % n;
      for (let round = 0; round < 40; round++) {
        const before = out.last!;
        const id = `s${next(5)}/e${next(16)}`;
        if (next(3) === 0) {
          delete records[id];
          source.delete(id);
        } else {
          records[id] = rec(id, '127.0.0.1', 8001 + next(2));
          source.put(id, records[id]);
        }
        await clock.advance(next(2) ? 30 : 3000);
        const full = buildPoolView(
          { records: Object.values(records).map((r) => ({ ...r, host: String(r.host) }) as never), health: (i) => ({ state: scheduler.state(i) ?? 'unknown' }), revision: 0, stableForMs: 0 },
          { policy: healthPolicy(true) },
        );
        const shape = (pools: PoolView['pools']) => JSON.stringify(pools.map((p) => ({ ...p, endpoints: p.endpoints.map((e) => `${e.record.instance}@${e.record.port}:${e.health}`), members: p.members.map((m) => m.instance) })));
        assert.equal(shape(lb.currentView().pools), shape(full.pools), `round ${round}: the view equals a full build`);
        const touched = id.split('/')[0];
        for (const pool of out.last!.pools) {
          const old = before.pools.find((p) => p.service === pool.service);
          if (pool.service !== touched && old && out.last !== before && old.endpoints.every((e) => e.health === pool.endpoints.find((x) => x.record.instance === e.record.instance)?.health)) {
            assert.equal(pool, old, `round ${round}: ${pool.service} was not touched and kept its pool object`);
            kept++;
          }
        }
      }
      assert.ok(kept > 20, `untouched pools were compared (${kept})`);
      await lb.stop();
      await scheduler.stop();
    });

    it('in reload mode, new endpoints passing one by one into a serving pool become one apply, however their puts and passes interleave', async () => {
      const { clock, source, out, lb, scheduler } = withHealth({ 'web/a': rec('web/a', '127.0.0.1', 8001) }, true);
      await lb.start();
      await clock.advance(1000);
      assert.deepEqual(members(out.last, 'web'), ['a@127.0.0.1:8001'], 'a serves, and passed its check');
      const applies = out.views.length;
      // A container every 150 ms, each passing 100 ms after its put: every put comes while the join before it waits.
      for (const name of ['b', 'c', 'd', 'e', 'f']) {
        source.put(`web/${name}`, rec(`web/${name}`, `127.0.0.${name.charCodeAt(0) - 96}`, 8001));
        await clock.advance(150);
      }
      await clock.advance(2000);
      assert.deepEqual(members(out.last, 'web').map((m) => m.split('@')[0]), ['a', 'b', 'c', 'd', 'e', 'f']);
      assert.equal(out.views.length - applies, 1, `one apply for the five joins, not one a put (${out.views.length - applies})`);
      await lb.stop();
      await scheduler.stop();
    });

    it("in reload mode, a new service's first endpoint serves at once, and siblings put before its first pass join without a shrink in between", async () => {
      const clock = new FakeClock();
      const checker = new ScriptedChecker(clock, () => true, 100);
      const scheduler = new HealthScheduler({ clock, checkers: { http: checker, https: checker, tcp: checker } });
      const { source, out, lb } = setup({ clock, services: ['web'], settlesJoins: true, health: { enabled: true, scheduler, defaults: { kind: 'tcp', intervalMs: 1000, timeoutMs: 500, jitter: 0 } } });
      await lb.start();
      await clock.advance(100);
      source.put('web/a', rec('web/a', '127.0.0.1', 8001));
      await clock.advance(40);
      assert.deepEqual(members(out.last, 'web'), ['a@127.0.0.1:8001'], 'the first endpoint serves before its first check ends');
      source.put('web/b', rec('web/b', '127.0.0.2', 8001)); // before a passes: the pool is still served unchecked
      await clock.advance(3000);
      assert.deepEqual(
        out.views.map((v) => members(v, 'web').map((m) => m.split('@')[0]).join(',')),
        ['', 'a', 'a,b'],
        'a passing first left b out for a moment (it has not been checked yet), which is no reason for an apply',
      );
      await lb.stop();
      await scheduler.stop();
    });

    it('a health change that leaves the pool as it is causes no apply', async () => {
      const { clock, out, lb, seen, scheduler } = withHealth({ 'solo/a': rec('solo/a', '127.0.0.1', 8001) });
      await lb.start();
      await clock.advance(0);
      assert.equal(out.views.length, 1);
      await clock.advance(5000);
      assert.deepEqual(
        seen.health.map(([id, state, , previous]) => `${id} ${previous}→${state}`),
        ['solo/a unknown→passing'],
        'LbSync saw the first passing check',
      );
      assert.equal(out.views.length, 1, 'the pool was [a] before and after: no apply');
      await lb.stop();
      await scheduler.stop();
    });
  });
});
