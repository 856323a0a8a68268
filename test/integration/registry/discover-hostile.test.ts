import assert from 'node:assert/strict';
import type { Etcd3 } from 'etcd3';
import { beacon, TestEtcd } from '../../harness/index.js';

/** beacon discover facing values a careless or hostile writer put under /services (real etcd). */
describe('beacon discover: hostile keys and values', function () {
  let etcd: TestEtcd;
  let client: Etcd3;
  const env = () => ({ BEACON_ETCD: etcd.url });
  const hugeKey = `/services/web/${'k'.repeat(1024 * 1024)}`;

  before(async () => {
    etcd = await new TestEtcd().start();
    client = etcd.client();
    await client.put('/services/web/ok').value(JSON.stringify({ service: 'web', instance: 'ok', host: '10.0.0.1', port: 80, since: '2026-01-02T03:04:05Z' }));
    await client.put('/services/web/when').value(JSON.stringify({ service: 'web', instance: 'when', host: '10.0.0.2', port: 80, since: '2026-13-45T25:61:61Z' }));
    const deep = `{"service":"web","instance":"deep","host":"10.0.0.3","port":80,"meta":{"a":${'['.repeat(500_000)}${']'.repeat(500_000)}}}`;
    await client.put('/services/web/deep').value(deep);
    await client.put('/services/web/hex').value(JSON.stringify({ service: 'web', instance: 'hex', host: '0x7f.0.0.1', port: 80 }));
    await client.put(hugeKey).value('x');
    // Flat, as a unit file's `etcdctl put … "$(hostname)"`-style write with a newline.
    await client.put('/services/web/web02/host').value('core03\n');
    await client.put('/services/web/web02/port').value('18002\n');
  });

  after(async () => {
    client.close();
    await etcd.destroy();
  });

  it('lists the valid records, and reports each bad one once in a short log line with its rule', async () => {
    const res = await beacon(['discover', 'web'], env());
    assert.equal(res.code, 0, res.stderr.slice(0, 2000));
    const rows = res.stdout.trim().split('\n').slice(1).map((l) => l.split(/\s+/)[0]);
    assert.deepEqual(rows, ['ok', 'web02'], res.stdout);
    assert.doesNotMatch(res.stdout, /NaN/);
    const lines = res.stderr.trim().split('\n');
    for (const line of lines) assert.ok(Buffer.byteLength(line) < 4096, `a log line of ${Buffer.byteLength(line)} bytes`);
    const warnings = lines.map((l) => JSON.parse(l) as { key: string; reason: string; msg: string });
    const reason = (key: string) => warnings.find((w) => w.key === key)?.reason ?? `no warning for ${key}`;
    assert.match(reason('/services/web/when'), /^since: must be an ISO 8601 UTC time.*real date/);
    assert.match(reason('/services/web/deep'), /^meta\.a\.0: must not nest objects or arrays more than 3 levels deep/);
    assert.match(reason('/services/web/hex'), /^host: .*dotted-decimal/);
    const huge = warnings.find((w) => w.key.startsWith('/services/web/kkkk'));
    assert.ok(huge, 'the 1 MB key is reported');
    assert.match(huge.key, /…\(1048590 chars\)$/, 'clipped, saying how long it was');
    assert.equal(warnings.length, 4);
  });
});
