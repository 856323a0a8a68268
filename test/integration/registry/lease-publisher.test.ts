import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { Etcd3 } from 'etcd3';
import { createEtcdClient, LeasePublisher, type ServiceRecord } from '../../../registry/index.js';
import { TcpProxy, TestEtcd, waitFor } from '../../harness/index.js';

const record = (instance: string, port = 80): ServiceRecord => ({ service: 'web', instance, host: '10.0.0.1', port });

describe('registry: LeasePublisher (real etcd)', function () {
  let etcd: TestEtcd;
  let check: Etcd3;

  before(async () => {
    etcd = await new TestEtcd().start();
    check = etcd.client();
  });

  after(async () => {
    check.close();
    await etcd.destroy();
  });

  it('publishes records bound to one lease, updates and removes them', async () => {
    const client = createEtcdClient({ endpoints: [etcd.url] });
    const pub = new LeasePublisher({ client, prefix: '/services', ttlSeconds: 5, layout: 'json' });
    try {
      pub.publish(record('a'));
      pub.publish(record('b'));
      await waitFor(async () => (await check.getAll().prefix('/services/web/').keys()).length === 2, 20_000, 'two records');
      const res = await check.getAll().prefix('/services/web/').exec();
      const leases = new Set(res.kvs.map((kv) => kv.lease.toString()));
      assert.equal(leases.size, 1);
      assert.notEqual([...leases][0], '0', 'records must be bound to a lease');
      pub.publish(record('a', 8080));
      await waitFor(async () => JSON.parse((await check.get('/services/web/a').string()) ?? '{}').port === 8080, 20_000, 'the update');
      pub.unpublish('web/b');
      await waitFor(async () => (await check.get('/services/web/b').string()) === null, 20_000, 'the removal');
    } finally {
      await pub.close({ revoke: true });
      client.close();
    }
    assert.deepEqual(await check.getAll().prefix('/services/').keys(), [], 'revoking the lease removes every record at once');
  });

  it('re-grants and republishes when its lease is revoked behind its back', async () => {
    const client = createEtcdClient({ endpoints: [etcd.url] });
    const pub = new LeasePublisher({ client, prefix: '/services', ttlSeconds: 3, layout: 'json' });
    const lost: Error[] = [];
    pub.on('leaseLost', (err) => lost.push(err));
    try {
      pub.publish(record('c'));
      await waitFor(() => check.get('/services/web/c').string(), 20_000, 'record c');
      const first = await pub.currentLeaseId();
      execFileSync('etcdctl', ['--endpoints', etcd.url, 'lease', 'revoke', BigInt(first).toString(16)], { env: { ...process.env, ETCDCTL_API: '3' } });
      assert.equal(await check.get('/services/web/c').string(), null, 'revoking the lease took the record');
      await waitFor(() => check.get('/services/web/c').string(), 10_000, 'record c republished on a new lease');
      assert.ok(lost.length >= 1, 'leaseLost was emitted');
      assert.notEqual(await pub.currentLeaseId(), first);
    } finally {
      await pub.close({ revoke: true });
      client.close();
    }
  });

  it('keeps the desired state while etcd is unreachable and converges when it returns', async () => {
    const proxy = await new TcpProxy(etcd.clientPort).start();
    const client = createEtcdClient({ endpoints: [`http://127.0.0.1:${proxy.port}`], callTimeoutMs: 1000 });
    const pub = new LeasePublisher({ client, prefix: '/services', ttlSeconds: 5, layout: 'json' });
    try {
      pub.publish(record('d'));
      pub.publish(record('e'));
      await waitFor(async () => (await check.getAll().prefix('/services/web/').keys()).length === 2, 20_000, 'd and e');
      await proxy.cut();
      const retrying = new Promise((resolve) => pub.once('retrying', resolve));
      pub.unpublish('web/d');
      pub.publish(record('f'));
      // It tried, failed and holds the work for later, before we look at etcd.
      await retrying;
      assert.equal(pub.settled, false, 'the removal of d and the put of f are still pending');
      assert.deepEqual(pub.ids().sort(), ['web/e', 'web/f'], 'the desired set changed at once');
      assert.deepEqual((await check.getAll().prefix('/services/web/').keys()).sort(), ['/services/web/d', '/services/web/e']);
      await proxy.restore();
      const restored = Date.now();
      await waitFor(async () => (await check.getAll().prefix('/services/web/').keys()).sort().join() === '/services/web/e,/services/web/f', 10_000, 'convergence');
      console.log(`      (converged ${Date.now() - restored} ms after the network came back)`);
    } finally {
      await pub.close({ revoke: true });
      client.close();
      await proxy.cut();
    }
  });

  it('still deletes a record removed while its lease was being replaced', async () => {
    const client = createEtcdClient({ endpoints: [etcd.url] });
    const pub = new LeasePublisher({ client, prefix: '/services', ttlSeconds: 30, layout: 'json' });
    try {
      pub.publish(record('h'));
      pub.publish(record('i'));
      await waitFor(async () => (await check.getAll().prefix('/services/web/').keys()).length === 2, 20_000, 'h and i');
      // The client gives up on its lease (as after a long partition) while etcd still holds it.
      (pub as unknown as { loseLease(err: Error): void }).loseLease(new Error('test: lease given up'));
      pub.unpublish('web/i');
      const leaseOfH = async () => (await check.getAll().prefix('/services/web/h').exec()).kvs[0]?.lease.toString();
      await waitFor(async () => (await leaseOfH()) === (await pub.currentLeaseId()), 10_000, 'h republished on the new lease');
      await waitFor(async () => (await check.getAll().prefix('/services/web/').keys()).join() === '/services/web/h', 10_000, 'i deleted');
    } finally {
      await pub.close({ revoke: true });
      client.close();
    }
  });

  it('lets records expire with the TTL when closed without revoking', async () => {
    const client = createEtcdClient({ endpoints: [etcd.url] });
    const pub = new LeasePublisher({ client, prefix: '/services', ttlSeconds: 2, layout: 'json' });
    pub.publish(record('g'));
    await waitFor(() => check.get('/services/web/g').string(), 20_000, 'record g');
    await pub.close({ revoke: false });
    client.close();
    assert.notEqual(await check.get('/services/web/g').string(), null, 'still there right after close');
    await waitFor(async () => (await check.get('/services/web/g').string()) === null, 10_000, 'expiry after the TTL');
  });

  it('writes, changes and removes a flat-layout record in one transaction each', async () => {
    const client = createEtcdClient({ endpoints: [etcd.url] });
    const pub = new LeasePublisher({ client, prefix: '/services', ttlSeconds: 30, layout: 'flat' });
    // Every event of every revision under the record, as a reader would see them.
    const revisions = new Map<string, string[]>();
    const watcher = await check.watch().prefix('/services/api/f1/').create();
    watcher.on('data', (res) => {
      for (const ev of res.events) {
        const rev = ev.kv.mod_revision;
        revisions.set(rev, [...(revisions.get(rev) ?? []), `${ev.type} ${ev.kv.key.toString().split('/').pop()}`]);
      }
    });
    const seen = (n: number) => () => [...revisions.values()].flat().length >= n;
    try {
      const flat: ServiceRecord = { service: 'api', instance: 'f1', host: '10.0.0.1', port: 80, unit: 'api@1.service', meta: { public_ipv4_addr: '192.0.2.1' } };
      pub.publish(flat);
      await waitFor(seen(4), 5000, 'four field keys');
      pub.publish({ service: 'api', instance: 'f1', host: '10.0.0.2', port: 81 });
      await waitFor(seen(8), 5000, 'the change: two puts, two deletes');
      pub.unpublish('api/f1');
      await waitFor(seen(10), 5000, 'the removal');
      assert.deepEqual(
        [...revisions.values()].map((evs) => evs.sort()),
        [
          ['Put host', 'Put port', 'Put public_ipv4_addr', 'Put unit'],
          ['Delete public_ipv4_addr', 'Delete unit', 'Put host', 'Put port'],
          ['Delete host', 'Delete port'],
        ],
        'a reader never sees a half-written record (one revision per write)',
      );
    } finally {
      await watcher.cancel();
      await pub.close({ revoke: true });
      client.close();
    }
  });
});
