import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { startBeacon, TestEtcd, waitFor, type Started } from '../../harness/index.js';
import { Elbv2TestEndpoint } from '../../elbv2/index.js';

/** `beacon lbsync --elbv2-target-group …` end to end: etcd records → the real SDK → the test endpoint. */
describe('beacon lbsync with an ELBv2 output (real etcd, the ELBv2 test endpoint)', function () {
  let etcd: TestEtcd;
  let kv: Etcd3;
  let endpoint: Elbv2TestEndpoint;
  let arn: string;
  let lbsync: Started;

  before(async () => {
    etcd = await new TestEtcd().start();
    kv = etcd.client();
    endpoint = await new Elbv2TestEndpoint({ healthyAfterMs: 200, vpcCidr: '127.0.0.0/8' }).start();
    arn = endpoint.state.createTargetGroup({ name: 'web', protocol: 'HTTP', port: 80, vpcId: 'vpc-0123456789abcdef0', targetType: 'ip' }).arn;
    for (const i of [1, 2, 3]) {
      await kv.put(`/services/web/w${i}`).value(JSON.stringify({ service: 'web', instance: `w${i}`, host: `127.0.10.${i}`, port: 8080 }));
    }
    lbsync = startBeacon(
      ['lbsync', '--etcd', etcd.url, '--health', 'off', '--elbv2-target-group', `web=${arn}`, '--elbv2-endpoint', endpoint.url, '--elbv2-region', 'us-east-1', '--elbv2-grace', '1s', '--elbv2-election-ttl', '2s'],
      join(etcd.dataDir, 'lbsync.log'),
      { AWS_ACCESS_KEY_ID: 'AKIDLBSYNCCLI', AWS_SECRET_ACCESS_KEY: 'not-a-real-secret-key' },
    );
  });

  after(async () => {
    await lbsync?.stop();
    kv.close();
    await endpoint.stop();
    await etcd.destroy();
  });

  const registered = () => endpoint.state.targetsOf(arn).filter((t) => t.state !== 'draining').map((t) => `${t.id}:${t.port}`).sort();

  it('registers every endpoint of the service as an ip target', async () => {
    await waitFor(() => registered().length === 3, 20_000, '3 targets');
    assert.deepEqual(registered(), ['127.0.10.1:8080', '127.0.10.2:8080', '127.0.10.3:8080']);
    assert.ok(endpoint.calls.find({ action: 'RegisterTargets', caller: 'AKIDLBSYNCCLI' }).length >= 1);
  });

  it('deregisters an endpoint whose record goes, and registers a new one', async () => {
    await kv.delete().key('/services/web/w2');
    await kv.put('/services/web/w4').value(JSON.stringify({ service: 'web', instance: 'w4', host: '127.0.10.4', port: 8080 }));
    await waitFor(() => registered().join() === '127.0.10.1:8080,127.0.10.3:8080,127.0.10.4:8080', 20_000, 'w2 out, w4 in');
  });

  it('never lets the AWS secret reach its log', async () => {
    const { readFileSync } = await import('node:fs');
    assert.doesNotMatch(readFileSync(join(etcd.dataDir, 'lbsync.log'), 'utf8'), /not-a-real-secret-key/);
  });
});
