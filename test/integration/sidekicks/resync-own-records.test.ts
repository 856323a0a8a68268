import assert from 'node:assert/strict';
import { runContainer, TcpProxy, waitFor } from '../../harness/index.js';
import { nodeRecords, sidekickSuite, startDockerSidekick, uniqueName, waitForLog, waitForNode } from './helpers.js';

const FOREIGN = 2000;

describe('sidekick docker: the periodic resync looks only at its own records (real dockerd, real etcd)', function () {
  const suite = sidekickSuite();
  let proxy: TcpProxy;
  let foreignBytes = 0;

  before(async () => {
    const { client } = suite;
    proxy = await new TcpProxy(suite.etcd.clientPort).start();
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

  after(async () => {
    await proxy?.cut();
  });

  it('prunes a stale record and restores a deleted one through its lease, without reading the other hosts\' records', async function () {
    this.timeout(120_000);
    const { client } = suite;
    const sk = suite.track(startDockerSidekick({ url: `http://127.0.0.1:${proxy.port}` }, ['--ttl', '60s', '--resync', '1s', '--log-level', 'debug']));
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
