import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { dockerAvailable, ensureTestImage, logLines, removeTestContainers, runContainer, startBeacon, TestEtcd, waitFor, type Started } from '../../harness/index.js';
import { LOG_DIR, uniqueName } from './helpers.js';

describe('sidekick announce: one record while one container runs (compiled CLI)', function () {
  this.timeout(90_000);
  let etcd: TestEtcd;
  let client: Etcd3;
  const running: Started[] = [];

  before(async function () {
    etcd = await new TestEtcd().start();
    client = etcd.client();
  });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((p) => p.stop('SIGKILL')));
    if (dockerAvailable()) await removeTestContainers();
  });

  after(async () => {
    client?.close();
    await etcd?.destroy();
  });

  /** Starts `beacon sidekick announce` logging at debug level, so its every decision is a log line. */
  function announce(args: string[]): Started & { log: string } {
    const log = join(LOG_DIR, `announce-${Date.now()}.log`);
    const proc = startBeacon(['sidekick', 'announce', '--etcd', etcd.url, '--node', 'core01', '--ttl', '2s', '--log-level', 'debug', ...args], log);
    running.push(proc);
    return { ...proc, log };
  }

  /** Waits for the announcer's decision to wait (not publish), with the reason matching `reason`. */
  const waitingBecause = (log: string, reason: RegExp) =>
    waitFor(() => logLines(log).find((l) => l.state === 'waiting' && reason.test(String(l.reason))), 20_000, `a "waiting: ${reason.source}" line in ${log}`, 50);

  const value = (key: string) => client.get(key).string();

  it('without --container: announces until stopped; the single layout writes {"host","port"} as mongodb-discovery did', async () => {
    const service = uniqueName('mongodb');
    const proc = announce(['--service', service, '--port', '27017', '--host', 'worker-big-1', '--layout', 'single']);
    const text = await waitFor(() => value(`/services/${service}`), 10_000, 'single key');
    assert.deepEqual(JSON.parse(text), { host: 'worker-big-1', port: 27017 });
    await proc.stop('SIGTERM');
    assert.equal(await value(`/services/${service}`), null, 'revoked on SIGTERM');
  });

  it('--container: published only while the container runs; removed on docker stop, back on start, gone on SIGTERM', async function () {
    if (!dockerAvailable()) this.skip();
    await ensureTestImage();
    const service = uniqueName('web');
    const name = uniqueName('web01');
    const proc = announce(['--service', service, '--instance', 'web01', '--port', '8001', '--host', '127.0.0.1', '--container', name, '--check-http', '/health']);
    const key = `/services/${service}/web01`;
    // It is up and has looked for the container (and found none) before we check that nothing was published.
    await waitingBecause(proc.log, /not running/);
    assert.equal(await value(key), null, 'nothing while the container does not exist');

    const c = await runContainer({ name, publish: [80] });
    const record = JSON.parse(await waitFor(() => value(key), 10_000, 'published when it runs'));
    assert.equal(record.host, '127.0.0.1');
    assert.equal(record.port, 8001);
    assert.equal(record.node, 'core01');
    assert.equal(record.container, c.id.slice(0, 12));
    assert.deepEqual(record.check, { http: '/health' });

    await c.stop({ t: 2 });
    await waitFor(async () => (await value(key)) === null, 10_000, 'removed when it stops');
    await c.start();
    await waitFor(() => value(key), 10_000, 'back when it starts again');
    await proc.stop('SIGTERM');
    assert.equal(await value(key), null, 'removed on SIGTERM');
  });

  it('--container with a HEALTHCHECK: published only once healthy; flat layout with --unit as monweb@ did', async function () {
    if (!dockerAvailable()) this.skip();
    await ensureTestImage();
    const service = uniqueName('web');
    const name = uniqueName('monweb');
    const c = await runContainer({ name, publish: [80], healthcheck: { test: ['CMD-SHELL', '[ -f /tmp/ok ]'], intervalMs: 200 } });
    const proc = announce(['--service', service, '--instance', 'web01', '--port', '8001', '--host', '127.0.0.1', '--container', name, '--layout', 'flat', '--unit', 'web@01.service']);
    const base = `/services/${service}/web01`;
    await waitFor(async () => (await c.inspect()).State.Health?.Status === 'unhealthy', 20_000, 'unhealthy');
    // The announcer has seen the container turn unhealthy before we check that nothing was published.
    await waitingBecause(proc.log, /unhealthy/);
    assert.equal(await value(`${base}/host`), null, 'not published while unhealthy');
    const e = await c.exec({ Cmd: ['sh', '-c', 'echo ok > /tmp/ok'] });
    await e.start({ Detach: true });
    await waitFor(() => value(`${base}/port`), 20_000, 'published once healthy');
    assert.equal(await value(`${base}/host`), '127.0.0.1');
    assert.equal(await value(`${base}/port`), '8001');
    assert.equal(await value(`${base}/unit`), 'web@01.service');
    await c.remove({ force: true });
    await waitFor(async () => (await value(`${base}/port`)) === null, 10_000, 'removed with the container');
  });
});
