import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Etcd3 } from 'etcd3';
import { hostPortOf, runContainer, TestEtcd } from '../../harness/index.js';
import { sidekickSuite, startDockerSidekick, uniqueName, waitForLog, waitForNode } from './helpers.js';
import { UnixSocketProxy } from './unix-proxy.js';

describe('sidekick docker: faults are recovered without a restart', function () {
  this.timeout(120_000);
  const suite = sidekickSuite();
  let etcd: TestEtcd;
  let client: Etcd3;
  before(() => ({ etcd, client } = suite));

  for (const ttl of ['2s', '15s']) {
    it(`etcd stopped for 10 s while containers start and stop: etcd matches the running containers once it is back (--ttl ${ttl})`, async () => {
      const sk = startDockerSidekick(etcd, ['--ttl', ttl]);
      suite.track(sk);
      const name = uniqueName('outage');
      const a = await runContainer({ labels: { SERVICE_NAME: name }, publish: [80] });
      const b = await runContainer({ labels: { SERVICE_NAME: name }, publish: [80] });
      await waitForNode(client, sk.node, (rs) => rs.length === 2, 'two published');

      await etcd.stop('SIGKILL');
      const down = Date.now();
      await a.remove({ force: true });
      const c = await runContainer({ labels: { SERVICE_NAME: name }, publish: [80] });
      await b.stop({ t: 1 });
      const d = await runContainer({ labels: { SERVICE_NAME: name }, publish: [80] });
      await sleep(Math.max(0, 10_000 - (Date.now() - down)));
      await etcd.start();

      const want = new Set([await hostPortOf(c), await hostPortOf(d)]);
      const back = Date.now();
      // Behaviour, not speed: how soon it converges (2 s on an idle machine) is the chaos suite's figure ("crash: etcd cluster down").
      const rs = await waitForNode(client, sk.node, (rs) => rs.length === 2 && rs.every((r) => want.has(r.port)), 'etcd matches the running containers', 30_000);
      console.log(`      (etcd matched the running containers ${Date.now() - back} ms after etcd was back)`);
      assert.deepEqual(new Set(rs.map((r) => r.port)), want);
      await waitForLog(sk, (l) => String(l.msg) === 'reconnected to etcd', 'reconnected to etcd');
      // And it keeps following afterwards.
      await c.remove({ force: true });
      await waitForNode(client, sk.node, (rs) => rs.length === 1, 'follows after recovery');
    });
  }

  it('Docker connection cut and restored (socket proxy): reconnects by itself, lists and diffs', async () => {
    const proxy = await new UnixSocketProxy().start();
    try {
      const sk = startDockerSidekick(etcd, ['--docker-host', `unix://${proxy.path}`]);
      suite.track(sk);
      const name = uniqueName('dockercut');
      const a = await runContainer({ labels: { SERVICE_NAME: name }, publish: [80] });
      await waitForNode(client, sk.node, (rs) => rs.length === 1, 'published');

      await proxy.cut();
      await waitForLog(sk, (l) => String(l.msg).startsWith('lost docker'), 'lost docker');
      await a.remove({ force: true });
      const b = await runContainer({ labels: { SERVICE_NAME: name }, publish: [80] });
      await sleep(1500);
      await proxy.restore();

      const portB = await hostPortOf(b);
      await waitForNode(client, sk.node, (rs) => rs.length === 1 && rs[0]!.port === portB, 'matches Docker after reconnecting', 10_000);
      await waitForLog(sk, (l) => String(l.msg) === 'reconnected to docker', 'reconnected to docker');
      // The events stream is live again.
      const c = await runContainer({ labels: { SERVICE_NAME: name }, publish: [80] });
      const portC = await hostPortOf(c);
      await waitForNode(client, sk.node, (rs) => rs.length === 2 && rs.some((r) => r.port === portC), 'new container after reconnect');
    } finally {
      await proxy.destroy();
    }
  });
  // A real dockerd restart under a running sidekick is covered by the chaos suite
  // (test/integration/chaos: a namespace host's own dockerd is restarted), so the
  // shared root dockerd is never restarted here.
});
