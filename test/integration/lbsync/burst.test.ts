import assert from 'node:assert/strict';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { dockerAvailable, ensureTestImage, logLines, removeTestContainers, RUN_ID, runContainer, startBeacon, waitFor, type Started } from '../../harness/index.js';
import { Stack, waitForLog } from './stack.js';

/**
 * 50 containers started at once, through the real chain (dockerd → `beacon
 * sidekick docker` → etcd → `beacon lbsync` with HTTP checks → nginx): every
 * one ends up served, and none is ever marked failing on the way, however
 * slowly the loaded host starts them. How fast and with how few reloads is
 * bench/burst.ts's business.
 */
describe('a burst of 50 containers started at once', function () {
  this.timeout(300_000);
  const COUNT = 50;
  const LABEL = 'beacon.test.burst';
  const stack = new Stack();
  const procs: Started[] = [];
  const containers: Docker.Container[] = [];
  let log = '';

  before(async function () {
    if (!dockerAvailable()) this.skip();
    await ensureTestImage();
    await stack.start();
    procs.push(
      startBeacon(['sidekick', 'docker', '--etcd', stack.etcd.url, '--label-filter', `${LABEL}=${RUN_ID}`, '--advertise-ip', '127.0.0.1', '--node', 'test'], join(stack.logs, 'sidekick.log')),
    );
    ({ log } = stack.lbsync(['--services', 'web']));
    await waitForLog(log, /^started lbsync/);
    for (let i = 0; i < COUNT; i++) {
      const name = `burst-${RUN_ID}-${i}`;
      containers.push(await runContainer({ name, start: false, publish: [80], env: { NAME: name }, labels: { [LABEL]: RUN_ID, SERVICE_NAME: 'web', SERVICE_CHECK_HTTP: '/health' } }));
    }
  });

  after(async () => {
    for (const p of procs) await p.stop();
    await removeTestContainers();
    await stack.stop();
  });

  it('serves all 50 through nginx and never marks one failing', async () => {
    await Promise.all(containers.map((c) => c.start()));
    const names = new Set(containers.map((_, i) => `burst-${RUN_ID}-${i}`));
    const seen = new Set<string>();
    await waitFor(async () => {
      for (const body of await stack.hits(COUNT)) if (names.has(body)) seen.add(body);
      return seen.size === COUNT;
    }, 240_000, `all ${COUNT} containers to answer through nginx (seen ${seen.size})`, 200);
    const lines = logLines(log);
    // lbsync saw every one of them pass its first check...
    const passed = new Set(lines.filter((l) => /^marked web\/\S+ passing/.test(l.msg)).map((l) => l.msg.split(' ')[1]));
    assert.equal(passed.size, COUNT, 'each container was checked and passed');
    // ...and none was ever called failing on the way.
    assert.deepEqual(lines.filter((l) => /^marked \S+ failing/.test(l.msg)).map((l) => l.msg), []);
  });
});
