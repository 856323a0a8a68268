import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Etcd3 } from 'etcd3';
import { docker, dockerAvailable, ensureTestImage, RUN_ID, RUN_LABEL, TEST_IMAGE, TEST_LABEL, TestEtcd } from '../../harness/index.js';
import { startDockerSidekick, uniqueName, waitForNode, type SidekickProcess } from './helpers.js';

const run = promisify(execFile);

describe('sidekick docker: swarm services', function () {
  this.timeout(180_000);
  let etcd: TestEtcd;
  let client: Etcd3;
  let initialised = false;
  let sidekick: SidekickProcess | undefined;
  const services: string[] = [];

  before(async function () {
    if (!dockerAvailable()) this.skip();
    await ensureTestImage();
    const info = await docker.info();
    if (info.Swarm?.LocalNodeState !== 'active') {
      // Only a swarm this test made is taken down afterwards.
      await run('docker', ['swarm', 'init', '--advertise-addr', '127.0.0.1']);
      initialised = true;
    }
    etcd = await new TestEtcd().start();
    client = etcd.client();
  });

  after(async () => {
    await sidekick?.stop('SIGKILL');
    for (const name of services) await run('docker', ['service', 'rm', name]).catch(() => undefined);
    if (initialised) await run('docker', ['swarm', 'leave', '--force']).catch(() => undefined);
    client?.close();
    await etcd?.destroy();
  });

  it('3 replicas with host-mode published ports give 3 records named after the swarm service', async () => {
    sidekick = startDockerSidekick(etcd);
    const name = uniqueName('swarmweb');
    services.push(name);
    // Host-mode publishing: the routing mesh needs IPVS, which this kernel lacks.
    await run('docker', [
      'service', 'create', '--detach', '--no-resolve-image',
      '--name', name,
      '--label', `${TEST_LABEL}=1`,
      '--container-label', `${TEST_LABEL}=1`,
      '--container-label', `${RUN_LABEL}=${RUN_ID}`,
      '--replicas', '3',
      '--publish', 'mode=host,target=80',
      TEST_IMAGE,
    ]);
    const rs = await waitForNode(client, sidekick.node, (rs) => rs.length === 3, '3 records', 90_000);
    assert.ok(rs.every((r) => r.service === name), `named after the service: ${rs.map((r) => r.service).join(',')}`);
    assert.equal(new Set(rs.map((r) => r.instance)).size, 3);
    assert.equal(new Set(rs.map((r) => r.port)).size, 3, 'one host port per task');
    for (const r of rs) assert.match(r.instance, new RegExp(`^${sidekick.node}:${name}\\.[1-3]\\.[a-z0-9]+:80$`));

    await run('docker', ['service', 'scale', '--detach', `${name}=1`]);
    await waitForNode(client, sidekick.node, (rs) => rs.length === 1, 'scaled down to 1', 90_000);
    await run('docker', ['service', 'rm', name]);
    await waitForNode(client, sidekick.node, (rs) => rs.length === 0, 'service removed', 90_000);
  });
});
