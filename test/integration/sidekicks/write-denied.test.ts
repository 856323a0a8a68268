import assert from 'node:assert/strict';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createEtcdClient } from '../../../registry/index.js';
import { dockerAvailable, ensureTestImage, freePort, removeTestContainers, runContainer, startBeacon, TestEtcd, waitFor, type Started } from '../../harness/index.js';
import { event, facts, scriptedSidekick } from '../../unit/sidekicks/scripted-source.js';
import { LOG_DIR, readLines, startDockerSidekick, uniqueName, waitForNode } from './helpers.js';

/** etcd with auth: user `sidekick` may only read /services/ until the test grants it more. */
describe('sidekick: an etcd user that may not write is said plainly, repeatedly, and in metrics/readiness (real etcd auth)', function () {
  let etcd: TestEtcd;
  let admin: (...args: string[]) => void;
  const running: Started[] = [];

  before(async () => {
    etcd = await new TestEtcd().start();
    admin = (...args) => void execFileSync('etcdctl', ['--endpoints', etcd.url, '--user', 'root:rootpw', ...args], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: 'pipe' });
    execFileSync('etcdctl', ['--endpoints', etcd.url, 'user', 'add', 'root:rootpw'], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: 'pipe' });
    execFileSync('etcdctl', ['--endpoints', etcd.url, 'auth', 'enable'], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: 'pipe' });
    admin('user', 'add', 'sidekick:sidekick-pw');
  });

  beforeEach(() => {
    admin('role', 'add', 'beacon-sidekick');
    admin('role', 'grant-permission', 'beacon-sidekick', '--prefix=true', 'read', '/services/');
    admin('user', 'grant-role', 'sidekick', 'beacon-sidekick');
  });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((p) => p.stop('SIGKILL')));
    await removeTestContainers();
    admin('role', 'delete', 'beacon-sidekick');
  });

  after(async () => {
    await etcd?.destroy();
  });

  it('repeats the denial while it lasts, then says writes resumed (in process, short report period)', async () => {
    const client = createEtcdClient({ endpoints: [etcd.url], user: 'sidekick', password: 'sidekick-pw' });
    const { sidekick, source } = scriptedSidekick(client, { deniedReportMs: 300 });
    const denied: number[] = [];
    let allowed = 0;
    sidekick.on('denied', (_err, forMs) => denied.push(forMs));
    sidekick.on('allowed', () => allowed++);
    try {
      const f = facts(1, 'denied');
      source.emit('update', f, event(f.id, 'start'));
      await waitFor(() => denied.length >= 3, 20_000, 'three reports of the denial');
      assert.equal(sidekick.writeDenied, true);
      assert.ok(denied[2]! > denied[0]!, `the reports count how long it lasts: ${denied.join(', ')}`);
      admin('role', 'grant-permission', 'beacon-sidekick', '--prefix=true', 'readwrite', '/services/');
      await waitFor(() => allowed === 1, 20_000, 'writes to resume');
      assert.equal(sidekick.writeDenied, false);
    } finally {
      await sidekick.stop({ revoke: true });
      client.close();
    }
  });

  it('beacon sidekick docker logs the denial plainly, reports it on /metrics and /readyz, and recovers once granted', async function () {
    if (!dockerAvailable()) this.skip();
    await ensureTestImage();
    const port = await freePort();
    // The password comes only from the environment, which the child inherits.
    process.env.BEACON_ETCD_PASSWORD = 'sidekick-pw';
    const sk = startDockerSidekick(etcd, ['--etcd-user', 'sidekick', '--metrics-port', String(port)]);
    delete process.env.BEACON_ETCD_PASSWORD;
    running.push(sk);
    await runContainer({ labels: { SERVICE_NAME: uniqueName('denied') }, publish: [80] });
    const get = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      return { status: res.status, text: await res.text() };
    };
    const line = await waitFor(() => sk.lines().find((l) => String(l.msg).startsWith('denied by etcd')), 20_000, 'the denial in the log');
    assert.equal(line.level, 50, 'logged as an error');
    assert.match(String(line.msg), /may not write/);
    assert.match((await get('/metrics')).text, /^beacon_sidekick_etcd_writes_denied 1$/m);
    const ready = await get('/readyz');
    assert.equal(ready.status, 503);
    assert.match(ready.text, /refuses this sidekick's writes/);
    assert.equal((await get('/healthz')).status, 200, 'still live');

    admin('role', 'grant-permission', 'beacon-sidekick', '--prefix=true', 'readwrite', '/services/');
    const reader = etcd.client({ username: 'root', password: 'rootpw' });
    try {
      await waitForNode(reader, sk.node, (rs) => rs.length === 1, 'published once granted', 30_000);
    } finally {
      reader.close();
    }
    await waitFor(async () => (await get('/readyz')).status === 200, 20_000, 'ready once granted');
    assert.match((await get('/metrics')).text, /^beacon_sidekick_etcd_writes_denied 0$/m);
    assert.ok(sk.lines().some((l) => String(l.msg).startsWith('resumed writing')), 'says writes resumed');
  });

  it('beacon sidekick announce logs the denial plainly and announces once granted', async () => {
    const log = join(LOG_DIR, `announce-denied-${Date.now()}.log`);
    const service = uniqueName('anndenied');
    const ann = startBeacon(['sidekick', 'announce', '--etcd', etcd.url, '--etcd-user', 'sidekick', '--service', service, '--port', '8080', '--host', '127.0.0.1'], log, {
      BEACON_ETCD_PASSWORD: 'sidekick-pw',
    });
    running.push(ann);
    await waitFor(() => readLines(log).find((l) => String(l.msg).startsWith('denied by etcd')), 20_000, 'the denial in the log');
    admin('role', 'grant-permission', 'beacon-sidekick', '--prefix=true', 'readwrite', '/services/');
    const reader = etcd.client({ username: 'root', password: 'rootpw' });
    try {
      await waitFor(async () => (await reader.getAll().prefix(`/services/${service}/`).keys()).length === 1, 30_000, 'announced once granted');
    } finally {
      reader.close();
    }
    await waitFor(() => readLines(log).find((l) => String(l.msg).startsWith('resumed writing')), 20_000, 'says writes resumed');
  });
});

