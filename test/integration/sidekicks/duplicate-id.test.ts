import assert from 'node:assert/strict';
import { runContainer } from '../../harness/index.js';
import { sidekickSuite, uniqueName, waitForLog, waitForNode } from './helpers.js';

describe('sidekick docker: two containers with the same SERVICE_ID (real dockerd, real etcd)', function () {
  const suite = sidekickSuite();

  it('refuses the second while the first runs, and publishes the survivor once the first is removed', async () => {
    const { client } = suite;
    const sk = suite.sidekick();
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
