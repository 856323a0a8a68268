import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createEtcdClient, discover, LeasePublisher, type EtcdConnection } from '../../../registry/index.js';
import { beacon, makePki, TestEtcd, waitFor, type TestPki } from '../../harness/index.js';

/**
 * The recommended production setup: etcd with TLS, client certificates and
 * auth; the sidekick may write only under the prefix, lbsync may only read it
 * (plus its election key). Tested against real etcd auth, with auth tokens
 * that expire every 2 seconds so re-authentication is exercised.
 */
describe('least privilege: etcd with TLS, client certificates and auth (real etcd)', function () {
  let pki: TestPki;
  let etcd: TestEtcd;
  let conn: (user: string, password: string) => EtcdConnection;

  before(async function () {
    this.timeout(120_000);
    pki = makePki();
    etcd = await new TestEtcd({ tls: pki, args: ['--auth-token', 'simple', '--auth-token-ttl', '2'] }).start();
    const admin = (...args: string[]) =>
      execFileSync('etcdctl', ['--endpoints', etcd.url, '--cacert', pki.ca, '--cert', pki.serverCert, '--key', pki.serverKey, ...args], {
        env: { ...process.env, ETCDCTL_API: '3' },
        stdio: 'pipe',
      });
    admin('user', 'add', 'root:rootpw');
    admin('role', 'add', 'beacon-sidekick');
    admin('role', 'grant-permission', 'beacon-sidekick', '--prefix=true', 'readwrite', '/services/');
    admin('role', 'add', 'beacon-lbsync');
    admin('role', 'grant-permission', 'beacon-lbsync', '--prefix=true', 'read', '/services/');
    admin('role', 'grant-permission', 'beacon-lbsync', '--prefix=true', 'readwrite', 'election/beacon-lbsync-elbv2/');
    admin('user', 'add', 'sidekick:sidekick-secret-pw');
    admin('user', 'grant-role', 'sidekick', 'beacon-sidekick');
    admin('user', 'add', 'lbsync:lbsync-secret-pw');
    admin('user', 'grant-role', 'lbsync', 'beacon-lbsync');
    admin('auth', 'enable');
    const client = pki.client('beacon');
    conn = (user, password) => ({ endpoints: [etcd.url], caFile: pki.ca, certFile: client.cert, keyFile: client.key, user, password });
  });

  after(async () => {
    await etcd.destroy();
    rmSync(pki.dir, { recursive: true, force: true });
  });

  it('lets the sidekick publish under the prefix, across auth token expiry', async () => {
    const client = createEtcdClient(conn('sidekick', 'sidekick-secret-pw'));
    const pub = new LeasePublisher({ client, prefix: '/services', ttlSeconds: 5, layout: 'json' });
    const reader = createEtcdClient(conn('lbsync', 'lbsync-secret-pw'));
    try {
      pub.publish({ service: 'web', instance: 'a', host: '10.0.0.1', port: 80 });
      await waitFor(async () => (await discover({ client: reader, prefix: '/services' })).records.length === 1, 10_000, 'record a');
      // Tokens live 2 s: both clients must re-authenticate by themselves.
      await new Promise((r) => setTimeout(r, 3500));
      pub.publish({ service: 'web', instance: 'b', host: '10.0.0.2', port: 80 });
      await waitFor(async () => (await discover({ client: reader, prefix: '/services' })).records.length === 2, 10_000, 'record b after token expiry');
      // The lease outlived several token lifetimes: record a is still there.
      await new Promise((r) => setTimeout(r, 3000));
      const { records } = await discover({ client: reader, prefix: '/services' });
      assert.deepEqual(records.map((r) => r.instance), ['a', 'b']);
    } finally {
      await pub.close({ revoke: true });
      client.close();
      reader.close();
    }
  });

  it('refuses the sidekick anything outside its prefix', async () => {
    const client = createEtcdClient(conn('sidekick', 'sidekick-secret-pw'));
    try {
      await assert.rejects(client.put('/other/key').value('x').exec(), /permission denied/i);
      await assert.rejects(client.put('/servicesX').value('x').exec(), /permission denied/i);
    } finally {
      client.close();
    }
  });

  it('lets lbsync read but not write', async () => {
    const client = createEtcdClient(conn('lbsync', 'lbsync-secret-pw'));
    try {
      await discover({ client, prefix: '/services' });
      await assert.rejects(client.put('/services/web/x').value('{}').exec(), /permission denied/i);
      await assert.rejects(client.delete().key('/services/web/a').exec(), /permission denied/i);
    } finally {
      client.close();
    }
  });

  it('refuses a wrong password, and the CLI never prints the password', async () => {
    const client = createEtcdClient(conn('sidekick', 'wrong'));
    try {
      await assert.rejects(client.get('/services/x').string(), /authentication failed|invalid/i);
    } finally {
      client.close();
    }
    const c = pki.client('cli');
    const res = await beacon(
      ['services', '--json', '--etcd', etcd.url, '--etcd-ca', pki.ca, '--etcd-cert', c.cert, '--etcd-key', c.key, '--etcd-user', 'lbsync', '--log-level', 'debug'],
      { BEACON_ETCD_PASSWORD: 'lbsync-secret-pw' },
    );
    assert.equal(res.code, 0, res.stderr);
    assert.doesNotMatch(res.stdout + res.stderr, /lbsync-secret-pw/);
    const bad = await beacon(['services', '--etcd', etcd.url, '--etcd-ca', pki.ca, '--etcd-cert', c.cert, '--etcd-key', c.key, '--etcd-user', 'lbsync', '--log-level', 'debug'], {
      BEACON_ETCD_PASSWORD: 'not-the-secret-pw',
    });
    assert.equal(bad.code, 1);
    assert.doesNotMatch(bad.stdout + bad.stderr, /not-the-secret-pw/);
  });

  it('refuses a client without a certificate signed by the CA', async () => {
    const res = await beacon(['services', '--etcd', etcd.url, '--etcd-ca', pki.ca, '--etcd-user', 'lbsync', '--log-level', 'silent'], { BEACON_ETCD_PASSWORD: 'lbsync-secret-pw' }, 30_000);
    assert.equal(res.code, 1);
  });
});
