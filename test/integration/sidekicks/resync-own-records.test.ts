import assert from 'node:assert/strict';
import type { Etcd3 } from 'etcd3';
import { dockerAvailable, ensureTestImage, removeTestContainers, runContainer, TcpProxy, TestEtcd, waitFor } from '../../harness/index.js';
import { nodeRecords, startDockerSidekick, uniqueName, waitForLog, waitForNode, type SidekickProcess } from './helpers.js';

const FOREIGN = 2000;

describe('sidekick docker: the periodic resync looks only at its own records (real dockerd, real etcd)', function () {
  let etcd: TestEtcd;
  let client: Etcd3;
  let proxy: TcpProxy;
  let foreignBytes = 0;
  const running: SidekickProcess[] = [];

  before(async function () {
    if (!dockerAvailable()) this.skip();
    await ensureTestImage();
    etcd = await new TestEtcd().start();
    client = etcd.client();
    proxy = await new TcpProxy(etcd.clientPort).start();
    // A fleet's worth of other hosts' records.
    for (let i = 0; i < FOREIGN; i += 200) {
      const puts = Array.from({ length: 200 }, (_, j) => {
        const value = JSON.stringify({ service: 'fleet', instance: `other:app-${i + j}:80`, host: '10.0.0.1', port: 20000 + ((i + j) % 1000), node: 'other' });
        foreignBytes += value.length;
        return client.put(`/services/fleet/other:app-${i + j}:80`).value(value).exec();
      });
      await Promise.all(puts);
    }
  });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((p) => p.stop('SIGKILL')));
    await removeTestContainers();
  });

  after(async () => {
    client?.close();
    await proxy?.cut();
    await etcd?.destroy();
  });

  it('prunes a stale record and restores a deleted one through its lease, without reading the other hosts\' records', async function () {
    this.timeout(120_000);
    const sk = startDockerSidekick({ url: `http://127.0.0.1:${proxy.port}` }, ['--ttl', '60s', '--resync', '1s', '--log-level', 'debug']);
    running.push(sk);
    const name = uniqueName('own');
    await runContainer({ labels: { SERVICE_NAME: name }, publish: [80] });
    const [live] = await waitForNode(client, sk.node, (rs) => rs.length === 1, 'published');
    const liveKey = `/services/${live!.service}/${live!.instance}`;
    const lease = (await client.get(liveKey).exec()).kvs[0]!.lease;

    // A record of this node on its own lease that no container backs (a removal lost in a blip).
    const ghost = { ...live!, instance: `${sk.node}:ghost:80`, port: 1 };
    await client.put(`/services/${ghost.service}/${ghost.instance}`).value(JSON.stringify(ghost)).lease(lease).exec();
    await waitForLog(sk, (l) => String(l.msg).startsWith(`removed stale ${ghost.service}/${ghost.instance}`), 'the ghost pruned by the periodic resync', 30_000);

    // A live record deleted by hand comes back at the next resync.
    await client.delete().key(liveKey).exec();
    await waitForNode(client, sk.node, (rs) => rs.length === 1 && rs[0]!.instance === live!.instance, 'the live record restored', 30_000);

    // Three resyncs read far less than one listing of the prefix would.
    const resyncs = () => sk.lines().filter((l) => String(l.msg).startsWith('resynced (resync)')).length;
    const seen = resyncs();
    const mark = proxy.bytesFromTarget;
    await waitFor(() => resyncs() >= seen + 3, 30_000, 'three more resyncs');
    const read = proxy.bytesFromTarget - mark;
    assert.ok(read < foreignBytes / 4, `three resyncs read ${read} bytes; the other hosts' records are ${foreignBytes}`);
    assert.equal((await nodeRecords(client, 'other')).length, FOREIGN, "other hosts' records untouched");
  });
});
