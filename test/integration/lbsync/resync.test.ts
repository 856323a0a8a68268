import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { TcpProxy, TestEtcd, waitFor } from '../../harness/index.js';
import { Stack, startBackends, waitForLog } from './stack.js';

describe('lbsync resyncs fully after a compaction or when etcd\'s revision goes back', function () {
  this.timeout(120_000);
  const stack = new Stack();
  let backends: Awaited<ReturnType<typeof startBackends>>;
  let proxy: TcpProxy;
  let other: TestEtcd | undefined;
  let log = '';

  const answers = async (name: string) => waitFor(async () => (await stack.hits(6)).every((b) => b === name), 20_000, `only ${name} to answer`);

  before(async () => {
    await stack.start();
    backends = await startBackends(3);
    proxy = await new TcpProxy(stack.etcd.clientPort).start();
    ({ log } = stack.lbsync(['--health', 'off', '--etcd', `http://127.0.0.1:${proxy.port}`]));
    await waitForLog(log, /^started lbsync/);
  });
  after(async () => {
    await stack.killAll();
    await proxy?.cut();
    await other?.destroy();
    await backends?.close();
    await stack.stop();
  });

  it('lists again after the revision it would resume from was compacted away', async () => {
    await stack.put('web', 'a', '127.0.0.1', backends.ports[0]!);
    await answers('b0');
    await proxy.cut();
    await stack.client.delete().key('/services/web/a');
    await stack.put('web', 'b', '127.0.0.1', backends.ports[1]!);
    for (let i = 0; i < 20; i++) await stack.client.put(`/other/${i}`).value('x');
    const head = await stack.client.get('/other/0').exec();
    await stack.client.kv.compact({ revision: head.header.revision, physical: true });
    await proxy.restore();
    await waitForLog(log, /\((compacted)\)$/, 30_000);
    await answers('b1');
  });

  it('lists again when etcd comes back with an older revision (restored or rebuilt empty)', async () => {
    for (let i = 0; i < 50; i++) await stack.client.put(`/other/${i}`).value('y');
    await stack.etcd.stop('SIGKILL');
    for (const entry of readdirSync(stack.etcd.dataDir)) if (entry !== 'etcd.log') rmSync(join(stack.etcd.dataDir, entry), { recursive: true, force: true });
    await stack.etcd.start();
    stack.client.close();
    stack.client = stack.etcd.client();
    await stack.put('web', 'c', '127.0.0.1', backends.ports[2]!);
    await waitForLog(log, /\(revision-went-back\)$/, 30_000);
    await answers('b2');
    assert.doesNotMatch(stack.liveConf(), new RegExp(`:${backends.ports[1]};`), 'the record that only the old etcd had is gone');
  });

  it('lists again when another cluster answers at the same address, even one whose revision is ahead', async () => {
    await answers('b2');
    other = await new TestEtcd().start();
    const o = other.client();
    // A longer history than lbsync's etcd: resuming at its revision there would replay unrelated changes.
    for (let i = 0; i < 200; i++) await o.put(`/other/${i}`).value('z');
    await o.put('/services/web/d').value(JSON.stringify({ service: 'web', instance: 'd', host: '127.0.0.1', port: backends.ports[0]! }));
    o.close();
    await proxy.cut();
    proxy = await new TcpProxy(other.clientPort).start(proxy.port);
    await waitForLog(log, /\(cluster-changed\)$/, 30_000);
    await answers('b0');
    assert.doesNotMatch(stack.liveConf(), new RegExp(`:${backends.ports[2]};`), 'the record only the old cluster had is gone');
  });
});
