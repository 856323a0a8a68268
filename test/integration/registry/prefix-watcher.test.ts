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
});
