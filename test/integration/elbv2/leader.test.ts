import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TcpProxy, TestEtcd, waitFor } from '../../harness/index.js';
import { endpointBackend, keysOf, record, viewOf } from './helpers.js';

const REPLICA = fileURLToPath(new URL('./replica.js', import.meta.url));
const TTL_SECONDS = 2;

/** A replica child process and what it has told us. */
class Replica {
  readonly child: ChildProcess;
  leader = false;
  errors: string[] = [];
  /** The detail of each apply the replica finished, in order. */
  applied: string[] = [];
  warnings: string[] = [];
  private ready: Promise<void>;

  constructor(readonly accessKeyId: string, config: Record<string, unknown>) {
    this.child = fork(REPLICA, [JSON.stringify({ ...config, accessKeyId })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.ready = new Promise((resolve) => {
      this.child.on('message', (m: { type: string; leader?: boolean; message?: string; code?: string; outcome?: { detail: string } }) => {
        if (m.type === 'warning') this.warnings.push(m.code!);
        if (m.type === 'ready') resolve();
        if (m.type === 'applied') this.applied.push(m.outcome!.detail);
        if (m.type === 'leader') this.leader = m.leader!;
        if (m.type === 'error') this.errors.push(m.message!);
      });
    });
  }

  async started(): Promise<this> {
    await this.ready;
    return this;
  }

  view(view: unknown): void {
    this.child.send({ type: 'view', view });
  }

  /** A clean shutdown: the output resigns, so the other replica need not wait for the TTL. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.send({ type: 'close' });
    await exited;
  }

  /** A crash: SIGKILL by pid; its election lease lives on until the TTL runs out. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    process.kill(this.child.pid!, 'SIGKILL');
    await exited;
  }
}

describe('elbv2 output: one writer among replicas (etcd election)', function () {
  let etcd: TestEtcd;
  let backend: Awaited<ReturnType<typeof endpointBackend>>;
  let arn: string;
  const replicas: Replica[] = [];
  let seq = 0;

  before(async () => {
    etcd = await new TestEtcd().start();
  });

  after(async () => {
    await etcd?.destroy();
  });

  beforeEach(async () => {
    backend = await endpointBackend({ healthyAfterMs: 200 });
    arn = await backend.createGroup(`lead-${++seq}`);
  });

  afterEach(async () => {
    await Promise.all(replicas.splice(0).map((r) => r.kill()));
    await backend.close();
  });

  async function replica(accessKeyId: string, etcdUrl = etcd.url, ttlSeconds = TTL_SECONDS): Promise<Replica> {
    const r = new Replica(accessKeyId, { etcd: etcdUrl, endpoint: backend.url, targetGroups: [['web', arn]], ttlSeconds, driftMs: 1000, graceMs: 2000 });
    replicas.push(r);
    return r.started();
  }

  const eps = (...ns: number[]) => ns.map((n) => record('web', n, '127.0.0.1', 18000 + n));
  const registered = () => keysOf(backend.endpoint.state.targetsOf(arn).filter((t) => t.state !== 'draining'));
  const wanted = (...ns: number[]) => ns.map((n) => `127.0.0.1:${18000 + n}`).sort();
  const callers = (since = 0) => new Set(backend.endpoint.calls.find({ since }).filter((c) => c.caller !== 'AKIDADMIN').map((c) => c.caller));

  it("only the leader's calls reach ELBv2; a crashed leader is replaced within the TTL", async () => {
    const a = await replica('AKIDREPLICAA');
    await waitFor(() => a.leader, 20_000, 'replica A to be elected');
    const b = await replica('AKIDREPLICAB');
    const view = viewOf({ web: eps(1, 2, 3, 4, 5) });
    a.view(view);
    b.view(view);
    await waitFor(() => JSON.stringify(registered()) === JSON.stringify(wanted(1, 2, 3, 4, 5)), 20_000, '5 targets');
    // The follower is up and took the view in, as a follower.
    await waitFor(() => b.applied.length === 1, 20_000, 'replica B to answer the view');
    assert.match(b.applied[0]!, /standby/);
    // Give the follower time to misbehave if it were going to: two more drift passes of the leader.
    const since = backend.endpoint.calls.mark;
    await waitFor(() => backend.endpoint.calls.find({ since, caller: 'AKIDREPLICAA', action: 'DescribeTargetHealth' }).length >= 2, 20_000, 'two drift passes of A');
    // And it is still alive and deciding: a later view gets a standby answer too.
    b.view(view);
    await waitFor(() => b.applied.length === 2, 20_000, 'replica B to answer a second view');
    assert.match(b.applied[1]!, /standby/);
    assert.deepEqual([...callers()], ['AKIDREPLICAA']);
    assert.equal(b.leader, false);

    const mark = backend.endpoint.calls.mark;
    await a.kill();
    // The view changes while nobody leads: two containers gone, one new.
    b.view(viewOf({ web: eps(1, 2, 3, 6) }));
    await waitFor(() => b.leader, (TTL_SECONDS + 10) * 1000, 'replica B to take over after the TTL');
    await waitFor(() => JSON.stringify(registered()) === JSON.stringify(wanted(1, 2, 3, 6)), 20_000, 'B to converge');
    assert.deepEqual([...callers(mark)], ['AKIDREPLICAB']);
    assert.deepEqual(b.errors, []);
  });

  it('a leader that shuts down cleanly hands over at once, and the new leader repairs drift', async () => {
    const a = await replica('AKIDREPLICAA');
    await waitFor(() => a.leader, 20_000, 'replica A to be elected');
    const b = await replica('AKIDREPLICAB');
    const view = viewOf({ web: eps(1, 2, 3) });
    a.view(view);
    b.view(view);
    await waitFor(() => JSON.stringify(registered()) === JSON.stringify(wanted(1, 2, 3)), 20_000, '3 targets');
    await a.close();
    await waitFor(() => b.leader, 20_000, 'replica B to be elected');
    const mark = backend.endpoint.calls.mark;
    backend.endpoint.state.deregisterTargets(arn, [{ id: '127.0.0.1', port: 18002 }]);
    await waitFor(() => JSON.stringify(registered()) === JSON.stringify(wanted(1, 2, 3)), 20_000, 'B to bring the target back');
    assert.deepEqual([...callers(mark)], ['AKIDREPLICAB']);
  });

  it('a leader keeps repairing drift after etcd was cut for a while (its lease survived the cut)', async () => {
    const proxy = await new TcpProxy(etcd.clientPort).start();
    // A TTL well past the cut: the campaign survives, so no election 'change' would ever restart passes.
    const a = await replica('AKIDREPLICAA', `http://127.0.0.1:${proxy.port}`, 30);
    await waitFor(() => a.leader, 20_000, 'replica A to be elected');
    a.view(viewOf({ web: eps(1, 2, 3) }));
    await waitFor(() => JSON.stringify(registered()) === JSON.stringify(wanted(1, 2, 3)), 20_000, '3 targets');

    await proxy.cut();
    // Several drift periods (1 s) pass while etcd is unreachable: each pass fails to confirm leadership.
    await waitFor(() => a.warnings.includes('BEACON_ELBV2_LEADER_UNCONFIRMED'), 30_000, 'a pass to find leadership unconfirmed');
    await new Promise((r) => setTimeout(r, 2000));
    await proxy.restore();

    assert.equal(a.leader, true, 'the lease outlived the cut');
    const mark = backend.endpoint.calls.mark;
    backend.endpoint.state.deregisterTargets(arn, [{ id: '127.0.0.1', port: 18002 }]);
    await waitFor(() => JSON.stringify(registered()) === JSON.stringify(wanted(1, 2, 3)), 60_000, 'A to repair the drift after the cut');
    assert.deepEqual([...callers(mark)], ['AKIDREPLICAA']);
    // Resign (its 30 s lease would otherwise hold the election for the next test), then close the proxy.
    await a.close();
    await proxy.cut();
  });

  it('a leader behind a network that drops packets (etcd calls hang) keeps trying with backoff, and repairs drift once it is back', async () => {
    const proxy = await new TcpProxy(etcd.clientPort).start();
    const a = await replica('AKIDREPLICAA', `http://127.0.0.1:${proxy.port}`, 30);
    await waitFor(() => a.leader, 20_000, 'replica A to be elected');
    a.view(viewOf({ web: eps(1, 2) }));
    await waitFor(() => JSON.stringify(registered()) === JSON.stringify(wanted(1, 2)), 20_000, '2 targets');

    proxy.stall();
    const seen = a.warnings.length;
    // Each pass's confirmation times out instead of hanging: warnings keep coming.
    await waitFor(() => a.warnings.slice(seen).filter((c) => c === 'BEACON_ELBV2_LEADER_UNCONFIRMED').length >= 2, 60_000, 'two unconfirmed passes while stalled');
    proxy.unstall();

    const mark = backend.endpoint.calls.mark;
    backend.endpoint.state.deregisterTargets(arn, [{ id: '127.0.0.1', port: 18001 }]);
    await waitFor(() => JSON.stringify(registered()) === JSON.stringify(wanted(1, 2)), 60_000, 'A to repair the drift after the stall');
    assert.deepEqual([...callers(mark)], ['AKIDREPLICAA']);
    // Resign (its 30 s lease would otherwise hold the election for the next test), then close the proxy.
    await a.close();
    await proxy.cut();
  });
});

