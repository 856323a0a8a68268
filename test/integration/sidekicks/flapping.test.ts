import assert from 'node:assert/strict';
import { freePort, runContainer, waitFor } from '../../harness/index.js';
import { event, facts, scriptedSidekick } from '../../unit/sidekicks/scripted-source.js';
import { nodeRecords, sidekickSuite, uniqueName, waitForLog, waitForNode } from './helpers.js';

describe('sidekick docker: restart loops are damped (real dockerd, real etcd)', function () {
  const suite = sidekickSuite();

  it('a container crashing in a loop (restart policy) is published for its first starts only, then held back', async function () {
    this.timeout(120_000);
    const sk = suite.sidekick(['--flap-restarts', '2', '--flap-window', '60s', '--flap-hold', '60s']);
    const c = await runContainer({ labels: { SERVICE_NAME: uniqueName('crash') }, publish: [80], cmd: ['sh', '-c', 'sleep 1; exit 1'], start: false });
    await c.update({ RestartPolicy: { Name: 'always' } });
    await c.start();
    const id = (await c.inspect()).Id.slice(0, 12);
    const line = await waitForLog(sk, (l) => String(l.msg).startsWith('held back container') && l.container === id, 'held back', 60_000);
    assert.ok(Number(line.starts) >= 3, `held at start ${String(line.starts)}`);
    // Docker keeps restarting it: the sidekick sees those starts and publishes none of them.
    await waitFor(async () => (await c.inspect()).RestartCount >= 5, 60_000, 'two more restarts');
    const published = sk.lines().filter((l) => String(l.msg).startsWith('published') && l.container === id).length;
    assert.ok(published >= 1 && published <= 2, `published at its first two starts only (${published} times)`);
    assert.equal(sk.lines().filter((l) => String(l.msg).startsWith('held back container') && l.container === id).length >= 2, true, 'each held start is logged');
    assert.deepEqual(await nodeRecords(suite.client, sk.node), []);
  });

  it('a held-back container is published once it has stayed up for --flap-hold', async function () {
    this.timeout(120_000);
    const port = await freePort();
    const sk = suite.sidekick(['--flap-restarts', '2', '--flap-hold', '5s', '--metrics-port', String(port)]);
    const c = await runContainer({ labels: { SERVICE_NAME: uniqueName('settle') }, publish: [80] });
    const id = (await c.inspect()).Id.slice(0, 12);
    await waitForNode(suite.client, sk.node, (rs) => rs.length === 1, 'published at its first start');
    await c.restart({ t: 0 });
    await waitForNode(suite.client, sk.node, (rs) => rs.length === 1 && rs[0]!.container === id, 'published again at its second start');
    await c.restart({ t: 0 });
    await waitForLog(sk, (l) => String(l.msg).startsWith('held back container') && l.container === id, 'held back at its third start');
    // The second run's record goes at its die; the third run's is not written while held.
    await waitForNode(suite.client, sk.node, (rs) => rs.length === 0, 'no record while held', 10_000);
    await waitForNode(suite.client, sk.node, (rs) => rs.length === 1 && rs[0]!.container === id, 'published after the hold', 30_000);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /^beacon_sidekick_flaps_held_total 1$/m);
  });

  it('a hold timer that fires before the clock says the hold is over re-arms the same hold: one held start, published once it ends (in process, a clock the test moves)', async function () {
    this.timeout(60_000);
    let clock = 1_000_000;
    const { sidekick, source } = scriptedSidekick(suite.client, { now: () => clock, flapPolicy: { restarts: 2, windowMs: 60_000, holdMs: 200 } });
    const held: number[] = [];
    sidekick.on('held', (_facts, starts: number) => held.push(starts));
    try {
      const service = uniqueName('early');
      const start = (run: number) => {
        const f = { ...facts(1, service), startedAt: `2026-01-02T03:04:0${run}Z` };
        source.known.set(f.id, f);
        source.emit('update', f, event(f.id, 'start'));
      };
      start(1);
      await waitForNode(suite.client, 'n1', (rs) => rs.length === 1, 'published at its first start');
      clock += 10;
      start(2);
      clock += 10;
      start(3);
      assert.deepEqual(held, [3], 'the third start is held');
      // The clock stands still: every timer fires "early". Wait for several.
      await new Promise((r) => setTimeout(r, 900));
      assert.deepEqual(held, [3], 'early timers re-arm the hold without counting it again');
      assert.equal(sidekick.records().length, 0, 'still held');
      clock += 200;
      await waitFor(() => sidekick.records().length === 1, 10_000, 'published once the clock passes the hold');
      assert.deepEqual(held, [3]);
    } finally {
      await sidekick.stop({ revoke: true });
    }
  });
});
