import assert from 'node:assert/strict';
import type Docker from 'dockerode';
import { dockerAvailable, ensureTestImage, hostPortOf, removeTestContainers, RUN_ID, runContainer, waitFor } from '../../harness/index.js';
import { run, Stack, waitForLog } from './stack.js';

describe('lbsync → nginx with real web containers', function () {
  this.timeout(120_000);
  const stack = new Stack();
  const web: Array<{ name: string; container: Docker.Container; port: number }> = [];
  let log = '';

  before(async function () {
    if (!dockerAvailable()) this.skip();
    await ensureTestImage();
    await stack.start();
    for (const i of [1, 2, 3]) {
      const name = `lbsync-${RUN_ID}-web${i}`;
      const container = await runContainer({ name, env: { NAME: name }, publish: [80] });
      web.push({ name, container, port: await hostPortOf(container) });
    }
    ({ log } = stack.lbsync(['--health-interval', '200ms', '--health-timeout', '500ms', '--health-fall', '2', '--health-rise', '1']));
    await waitForLog(log, /^started lbsync/);
  });

  after(async () => {
    await removeTestContainers();
    await stack.stop();
  });

  it('routes requests through nginx to all 3 containers (each answers with its name)', async () => {
    for (const [i, w] of web.entries()) await stack.put('web', `core01:web0${i + 1}:80`, '127.0.0.1', w.port, { container: w.name, check: { http: '/health', interval: '200ms' } });
    await waitFor(async () => {
      const bodies = new Set(await stack.hits(12));
      return web.every((w) => bodies.has(w.name));
    }, 20_000, 'requests to reach all 3 containers');
    // While converging, a kept-alive connection can still reach an old worker
    // with an earlier config: nginx's master retires old workers only after
    // starting new ones (100 ms on an idle machine, more on a loaded one). Once
    // settled, every request must reach one of the three: wait for 30 in a row.
    const names = web.map((w) => w.name).sort();
    const settled = await waitFor(async () => {
      const bodies = await stack.hits(30);
      return bodies.every((b) => names.includes(b)) ? bodies : undefined;
    }, 20_000, '30 requests in a row to reach only the three containers');
    assert.deepEqual([...new Set(settled)].sort(), names);
  });

  it('stops routing to a removed container (record removed, then docker rm -f): nothing reaches it, the other two answer without errors', async () => {
    const gone = web[2]!;
    // The container still runs, so a request routed to it would show: seeing
    // 20 requests in a row miss it proves lbsync applied the removal.
    await stack.client.delete().key('/services/web/core01:web03:80');
    await waitFor(async () => !(await stack.hits(20)).includes(gone.name), 20_000, `requests to stop reaching ${gone.name}`);
    await gone.container.remove({ force: true });
    const bodies = await stack.hits(30);
    assert.ok(!bodies.includes(gone.name), `a request reached ${gone.name}: ${bodies.join(',')}`);
    assert.deepEqual(new Set(bodies), new Set([web[0]!.name, web[1]!.name]), 'the other two keep answering, without errors');
  });

  it('takes a container whose health URL fails out of the pool, and back once it recovers', async () => {
    const sick = web[1]!;
    await run('docker', ['exec', sick.name, 'rm', '/www/health']);
    await waitForLog(log, new RegExp(`^marked web/core01:web02:80 failing`));
    await waitFor(async () => !(await stack.hits(10)).includes(sick.name), 10_000, `${sick.name} to leave the pool`);
    const bodies = await stack.hits(20);
    assert.ok(!bodies.includes(sick.name), 'no request reaches the failing container');
    assert.ok(bodies.every((b) => b === web[0]!.name));

    await run('docker', ['exec', sick.name, 'sh', '-c', 'echo ok > /www/health']);
    await waitFor(async () => (await stack.hits(10)).includes(sick.name), 10_000, `${sick.name} to return to the pool`);
  });

  it('fails open (with a warning) when every endpoint fails, instead of emptying the pool', async () => {
    await run('docker', ['exec', web[0]!.name, 'rm', '/www/health']);
    await run('docker', ['exec', web[1]!.name, 'rm', '/www/health']);
    await waitForLog(log, /^failing open web/);
    const both = [web[0]!.name, web[1]!.name].sort();
    const bodies = await waitFor(async () => {
      const seen = [...new Set(await stack.hits(10))].sort();
      return seen.length === 2 ? seen : undefined;
    }, 10_000, 'both failing containers to be served');
    assert.deepEqual(bodies, both, 'both still serve, no 502');
    await run('docker', ['exec', web[0]!.name, 'sh', '-c', 'echo ok > /www/health']);
    await run('docker', ['exec', web[1]!.name, 'sh', '-c', 'echo ok > /www/health']);
    await waitForLog(log, /^stopped failing open web/);
  });
});
