import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBeacon, TestEtcd, TestNginx, waitFor, type Started } from '../../harness/index.js';

/** A daemon started before etcd (a reboot, a swarm deploying both at once) waits for it instead of exiting. */
describe('lbsync started before etcd is up', function () {
  let etcd: TestEtcd;
  let nginx: TestNginx;
  let lbsync: Started;

  before(async () => {
    // Reserve etcd's ports, then stop it: lbsync starts against a dead address.
    etcd = await new TestEtcd().start();
    await etcd.stop();
    nginx = await new TestNginx().start();
  });

  after(async () => {
    await lbsync?.stop();
    await nginx.destroy();
    await etcd.destroy();
  });

  it('keeps retrying, then renders the records once etcd answers', async () => {
    const file = join(nginx.confDir, 'conf.d', 'beacon.conf');
    const log = join(nginx.prefix, 'lbsync.log');
    lbsync = startBeacon(['lbsync', '--etcd', etcd.url, '--health', 'off', '--nginx-conf', file, '--nginx-test', nginx.command('-t'), '--nginx-reload', nginx.command('-s', 'reload')], log);
    await waitFor(() => /lost the etcd watch; reconnecting/.test(readFileSync(log, 'utf8')), 20_000, 'a reconnect attempt in the log');
    assert.equal(lbsync.child.exitCode, null, 'still running without etcd');
    await etcd.start();
    const kv = etcd.client();
    await kv.put('/services/web/a').value(JSON.stringify({ service: 'web', instance: 'a', host: '127.0.0.1', port: 18001 }));
    kv.close();
    await waitFor(() => /server 127\.0\.0\.1:18001/.test(readFileSync(file, 'utf8')), 20_000, 'the record in the nginx config');
  });
});
