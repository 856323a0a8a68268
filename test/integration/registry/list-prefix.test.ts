import assert from 'node:assert/strict';
import type { Etcd3 } from 'etcd3';
import { createEtcdClient, discover, listPrefix, PrefixWatcher } from '../../../registry/index.js';
import { TestEtcd } from '../../harness/index.js';

/** A canonical record padded to about `bytes` with tags, as large records of a big fleet are. */
function record(i: number, bytes: number): string {
  const base = { service: 'web', instance: `i${i}`, host: '10.0.0.1', port: 1000 + (i % 50000) };
  const tag = 'x'.repeat(60);
  const tags = Array.from({ length: Math.min(32, Math.floor(bytes / 64)) }, (_, t) => `${tag}${String(t).padStart(3, '0')}`.slice(0, 64));
  return JSON.stringify({ ...base, tags });
}

async function putMany(client: Etcd3, count: number, bytes: number): Promise<void> {
  for (let i = 0; i < count; i += 100) {
    const puts = [];
    for (let j = i; j < Math.min(count, i + 100); j++) puts.push(client.put(`/services/web/i${j}`).value(record(j, bytes)));
    await client.if('/none', 'Version', '==', 0).then(...puts).commit();
  }
}

describe('registry: listPrefix (real etcd)', function () {
  let etcd: TestEtcd;
  let client: Etcd3;

  beforeEach(async () => {
    etcd = await new TestEtcd().start();
    client = createEtcdClient({ endpoints: [etcd.url] });
  });

  afterEach(async () => {
    client.close();
    await etcd.destroy();
  });

  it('lists a prefix larger than a gRPC response may be by default (4 MiB)', async function () {
    this.timeout(120_000);
    await putMany(client, 2200, 2048); // ~2,200 × 2 KB ≈ 4.6 MB of values
    // A client with gRPC's default limit refuses it as one response, and takes it in pages.
    // (Two clients: the refusal counts as a host failure and can open the first one's circuit breaker.)
    const refused = etcd.client();
    const plain = etcd.client();
    try {
      await assert.rejects(refused.getAll().prefix('/services/').exec(), /RESOURCE_EXHAUSTED|larger than max/);
      const paged = await listPrefix(plain, '/services/', 1000);
      assert.equal(paged.kvs.length, 2200);
      assert.equal(new Set(paged.kvs.map((kv) => kv.key.toString())).size, 2200);
    } finally {
      refused.close();
      plain.close();
    }

    // beacon's own client takes it with its default page.
    const listing = await listPrefix(client, '/services/');
    assert.equal(listing.kvs.length, 2200);

    // The paths that list: discovery and the watcher lbsync follows.
    assert.equal((await discover({ client, prefix: '/services' })).records.length, 2200);
    const watcher = new PrefixWatcher({ client, prefix: '/services' });
    let snapshot = 0;
    watcher.on('snapshot', (kvs) => (snapshot = kvs.size));
    await watcher.start();
    await watcher.stop();
    assert.equal(snapshot, 2200);
  });

  it('reads every page at the first page\'s revision and keeps to the prefix', async () => {
    await client.put('/service').value('outside');
    await client.put('/services0/x').value('outside');
    for (let i = 0; i < 7; i++) await client.put(`/services/web/i${i}`).value(record(i, 0));
    await client.put('/services/web/i6\u0000tail').value(record(7, 0)); // a key right after i6 in byte order
    const before = await listPrefix(client, '/services/', 3);
    assert.deepEqual(
      before.kvs.map((kv) => kv.key.toString()),
      ['/services/web/i0', '/services/web/i1', '/services/web/i2', '/services/web/i3', '/services/web/i4', '/services/web/i5', '/services/web/i6', '/services/web/i6\u0000tail'],
    );
    const head = await client.getAll().prefix('/services/').limit(1).exec();
    assert.equal(before.revision, Number(head.header.revision));
  });

  it('is one snapshot while writes land between its pages', async () => {
    for (let i = 0; i < 40; i++) await client.put(`/services/web/i${i}`).value(record(i, 0));
    let writing = true;
    let writes = 0;
    const writer = (async () => {
      for (let n = 0; writing; n++) {
        const i = n % 40;
        if (n % 2) await client.put(`/services/web/i${i}`).value(record(i, 0));
        else await client.delete().key(`/services/web/i${i}`);
        writes++;
      }
    })();
    try {
      for (let round = 0; round < 20; round++) {
        const listing = await listPrefix(client, '/services/', 4);
        const atRevision = await client.getAll().prefix('/services/').revision(listing.revision).exec();
        assert.deepEqual(listing.kvs.map((kv) => kv.key.toString()), atRevision.kvs.map((kv) => kv.key.toString()));
      }
    } finally {
      writing = false;
      await writer;
    }
    assert.ok(writes > 20, `the writer made only ${writes} changes while listing`);
  });
});
