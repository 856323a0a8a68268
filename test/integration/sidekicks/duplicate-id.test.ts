import assert from 'node:assert/strict';
import type { Etcd3 } from 'etcd3';
import { dockerAvailable, ensureTestImage, removeTestContainers, runContainer, TestEtcd } from '../../harness/index.js';
import { startDockerSidekick, uniqueName, waitForLog, waitForNode, type SidekickProcess } from './helpers.js';

describe('sidekick docker: two containers with the same SERVICE_ID (real dockerd, real etcd)', function () {
  let etcd: TestEtcd;
  let client: Etcd3;
  const running: SidekickProcess[] = [];

  before(async function () {
    if (!dockerAvailable()) this.skip();
    await ensureTestImage();
    etcd = await new TestEtcd().start();
    client = etcd.client();
  });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((p) => p.stop('SIGKILL')));
    await removeTestContainers();
  });

  after(async () => {
    client?.close();
    await etcd?.destroy();
  });

  it('refuses the second while the first runs, and publishes the survivor once the first is removed', async () => {
    const sk = startDockerSidekick(etcd);
    running.push(sk);
    const labels = { SERVICE_NAME: uniqueName('dup'), SERVICE_ID: 'the-one' };
    const first = await runContainer({ labels, publish: [80] });
    const firstId = (await first.inspect()).Id.slice(0, 12);
    await waitForNode(client, sk.node, (rs) => rs.length === 1 && rs[0]!.container === firstId, 'the first published');
    const second = await runContainer({ labels, publish: [80] });
    const secondId = (await second.inspect()).Id.slice(0, 12);
    const refused = await waitForLog(sk, (l) => String(l.msg).startsWith('refused') && l.container === secondId, 'the second refused');
    assert.match(String(refused.rule), /already published by container/);

    await first.remove({ force: true });
    const [survivor] = await waitForNode(client, sk.node, (rs) => rs.length === 1 && rs[0]!.container === secondId, 'the survivor to take over', 20_000);
    assert.equal(survivor!.instance, 'the-one');
    await waitForLog(sk, (l) => String(l.msg).startsWith('published') && l.container === secondId, 'the survivor published');
  });
});
