import assert from 'node:assert/strict';
import type { Etcd3 } from 'etcd3';
import { createEtcdClient, PrefixWatcher, RecordView, type ResyncReason } from '../../../registry/index.js';
import { TcpProxy, TestEtcd, waitFor } from '../../harness/index.js';

const value = (instance: string) => JSON.stringify({ service: 'web', instance, host: '10.0.0.1', port: 80 });

/** A watcher feeding a RecordView, recording how it got each update. */
function follow(client: Etcd3) {
  const view = new RecordView('/services');
  const watcher = new PrefixWatcher({ client, prefix: '/services' });
  const snapshots: ResyncReason[] = [];
  watcher.on('snapshot', (kvs, _rev, reason) => {
    snapshots.push(reason);
    view.reset(kvs);
  });
  watcher.on('changes', (changes) => view.apply(changes));
  const instances = () => view.list().map((r) => r.instance).sort().join(',');
  return { view, watcher, snapshots, instances };
}

/** How many watches etcd itself holds open (its own gauge), across every client. */
async function etcdWatchers(etcd: TestEtcd): Promise<number> {
  const text = await (await fetch(`${etcd.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('etcd_debugging_mvcc_watcher_total '));
  if (!line) throw new Error('etcd exposes no etcd_debugging_mvcc_watcher_total');
  return Number(line.split(' ')[1]);
}

describe('registry: PrefixWatcher (real etcd, cut through a TCP proxy)', function () {
  let etcd: TestEtcd;
  let direct: Etcd3;

  beforeEach(async () => {
    etcd = await new TestEtcd().start();
    direct = etcd.client();
  });

  afterEach(async () => {
    direct.close();
    await etcd.destroy();
  });

  it('lists first, then follows puts and deletes', async () => {
    await direct.put('/services/web/a').value(value('a'));
    const client = createEtcdClient({ endpoints: [etcd.url] });
    const f = follow(client);
    await f.watcher.start();
    assert.equal(f.instances(), 'a');
    await direct.put('/services/web/b').value(value('b'));
    await direct.delete().key('/services/web/a');
    await waitFor(() => f.instances() === 'b', 20_000, 'b only');
    await f.watcher.stop();
    client.close();
  });

  it('resumes from the last revision after the connection is cut: no snapshot, nothing missed', async () => {
    const proxy = await new TcpProxy(etcd.clientPort).start();
    const client = createEtcdClient({ endpoints: [`http://127.0.0.1:${proxy.port}`], callTimeoutMs: 1000 });
    const f = follow(client);
    await f.watcher.start();
    await direct.put('/services/web/a').value(value('a'));
    await waitFor(() => f.instances() === 'a', 20_000, 'a');
    await proxy.cut();
    await direct.put('/services/web/b').value(value('b'));
    await direct.delete().key('/services/web/a');
    await direct.put('/services/web/c').value(value('c'));
    await proxy.restore();
    await waitFor(() => f.instances() === 'b,c', 15_000, 'the changes made while cut off');
    assert.deepEqual(f.snapshots, ['start'], 'resumed incrementally, without relisting');
    await f.watcher.stop();
    client.close();
    await proxy.cut();
  });

  it('relists when its revision was compacted while it was disconnected', async () => {
    const proxy = await new TcpProxy(etcd.clientPort).start();
    const client = createEtcdClient({ endpoints: [`http://127.0.0.1:${proxy.port}`], callTimeoutMs: 1000 });
    const f = follow(client);
    await f.watcher.start();
    await direct.put('/services/web/a').value(value('a'));
    await waitFor(() => f.instances() === 'a', 20_000, 'a');
    await proxy.cut();
    await direct.delete().key('/services/web/a');
    await direct.put('/services/web/b').value(value('b'));
    const res = await direct.put('/services/web/c').value(value('c')).exec();
    await direct.kv.compact({ revision: res.header.revision, physical: true });
    await proxy.restore();
    await waitFor(() => f.instances() === 'b,c', 15_000, 'the state after compaction');
    assert.deepEqual(f.snapshots, ['start', 'compacted']);
    await f.watcher.stop();
    client.close();
    await proxy.cut();
  });

  it('relists when etcd comes back with an older revision (rebuilt empty)', async () => {
    const client = createEtcdClient({ endpoints: [etcd.url], callTimeoutMs: 1000 });
    for (const i of ['a', 'b', 'c', 'd', 'e']) await direct.put(`/services/web/${i}`).value(value(i));
    const f = follow(client);
    await f.watcher.start();
    assert.equal(f.instances(), 'a,b,c,d,e');
    // Same address, empty store: its revision starts again from 1.
    await etcd.stop('SIGKILL');
    const { rmSync, mkdirSync } = await import('node:fs');
    rmSync(etcd.dataDir, { recursive: true, force: true });
    mkdirSync(etcd.dataDir);
    await etcd.start();
    const fresh = etcd.client();
    await fresh.put('/services/web/z').value(value('z'));
    fresh.close();
    await waitFor(() => f.instances() === 'z', 20_000, 'the rebuilt store');
    assert.deepEqual(f.snapshots, ['start', 'revision-went-back']);
    await f.watcher.stop();
    client.close();
  });

  it('relists when etcd is swapped for another cluster whose revision is ahead', async () => {
    const other = await new TestEtcd().start();
    const proxy = await new TcpProxy(etcd.clientPort).start();
    let swapped: TcpProxy | undefined;
    const client = createEtcdClient({ endpoints: [`http://127.0.0.1:${proxy.port}`], callTimeoutMs: 1000 });
    const f = follow(client);
    try {
      await direct.put('/services/web/a').value(value('a'));
      await f.watcher.start();
      assert.equal(f.instances(), 'a');
      // The other cluster has a longer history: resuming at our revision there
      // would replay unrelated changes on top of a state it never had.
      const o = other.client();
      for (let i = 0; i < 20; i++) await o.put('/elsewhere').value(String(i));
      await o.put('/services/web/z').value(value('z'));
      const [mine, theirs] = await Promise.all([direct.get('/x').exec(), o.get('/x').exec()]);
      assert.notEqual(mine.header.cluster_id, theirs.header.cluster_id, 'two distinct clusters');
      assert.ok(Number(theirs.header.revision) > Number(mine.header.revision), 'the new cluster is ahead');
      o.close();
      // Same address, another cluster behind it.
      await proxy.cut();
      swapped = await new TcpProxy(other.clientPort).start(proxy.port);
      await waitFor(() => f.instances() === 'z', 20_000, `the new cluster's records only (have ${f.instances()})`);
      assert.deepEqual(f.snapshots, ['start', 'cluster-changed']);
    } finally {
      await f.watcher.stop();
      client.close();
      await swapped?.cut();
      await proxy.cut();
      await other.destroy();
    }
  });

  it('holds one watch in etcd after periodic resyncs fired during an outage', async () => {
    const proxy = await new TcpProxy(etcd.clientPort).start();
    const client = createEtcdClient({ endpoints: [`http://127.0.0.1:${proxy.port}`], callTimeoutMs: 500 });
    const view = new RecordView('/services');
    const watcher = new PrefixWatcher({ client, prefix: '/services', resyncMs: 400 });
    watcher.on('snapshot', (kvs) => view.reset(kvs));
    watcher.on('changes', (changes) => view.apply(changes));
    try {
      await watcher.start();
      assert.equal(await etcdWatchers(etcd), 1);
      await proxy.cut();
      // Several periodic resyncs fall into the outage, each racing the backoff's reconnect.
      await new Promise((r) => setTimeout(r, 3000));
      await proxy.restore();
      await direct.put('/services/web/b').value(value('b'));
      await waitFor(() => view.get('web/b'), 15_000, 'the watch live again');
      // Past the longest backoff, every reconnect attempt has run by now.
      const counts: number[] = [];
      for (let i = 0; i < 20; i++) {
        counts.push(await etcdWatchers(etcd));
        await new Promise((r) => setTimeout(r, 150));
      }
      assert.ok(Math.max(...counts) <= 1, `one watch at most, never a leaked second (etcd counted ${counts.join(',')})`);
      assert.ok(counts.includes(1), `the watch is held (etcd counted ${counts.join(',')})`);
    } finally {
      await watcher.stop();
      client.close();
      await proxy.cut();
    }
  });

  it('leaves no watch behind when stopped while its watch is being created', async () => {
    const client = createEtcdClient({ endpoints: [etcd.url] });
    const watcher = new PrefixWatcher({ client, prefix: '/services' });
    const changes: string[] = [];
    let stopped: Promise<void> | undefined;
    // The snapshot is emitted just before the watch is created; stop on the next turn, mid-create.
    watcher.on('snapshot', () => setImmediate(() => (stopped = watcher.stop())));
    const wasStopped = () => stopped !== undefined;
    watcher.on('changes', (cs) => changes.push(...cs.map((c) => c.key)));
    try {
      await watcher.start();
      await waitFor(wasStopped, 5000, 'stop() called');
      await stopped;
      await waitFor(async () => (await etcdWatchers(etcd)) === 0, 5000, 'etcd to hold no watch');
      await direct.put('/services/web/late').value(value('late'));
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(changes, [], 'a stopped watcher reports nothing');
    } finally {
      client.close();
    }
  });
});
