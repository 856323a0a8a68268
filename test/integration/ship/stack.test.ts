import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildBeaconImages,
  docker,
  dockerAvailable,
  ensureEtcdImage,
  ensureTestImage,
  REPO_ROOT,
  RUN_ID,
  RUN_LABEL,
  TEST_IMAGE,
  TEST_LABEL,
  waitFor,
  type BeaconImages,
} from '../../harness/index.js';
import { answered, dockerCli, dockerSocketGid, fetchFrom, LOG_DIR } from './fixtures.js';

const STACK_FILE = join(REPO_ROOT, 'docker', 'stack.yml');

/**
 * docker/stack.yml on a one-node swarm with the locally built images: etcd,
 * the sidekick (mode: global, read-only socket), lbsync + nginx and 3 web
 * replicas, all on the stack's overlay. Nothing is published on the host:
 * requests go to nginx from inside the lbsync task (its own namespace), and
 * nginx reaches the replicas at their overlay addresses (sidekick --internal).
 */
describe('ship: the swarm stack (docker/stack.yml)', function () {
  this.timeout(300_000);
  const stack = `bship${RUN_ID}`;
  let images: BeaconImages;
  let initialised = false;
  let gwbridgeExisted = true;
  let overrideDir: string;
  let env: NodeJS.ProcessEnv;

  before(async function () {
    if (!dockerAvailable()) this.skip();
    await ensureTestImage();
    const etcdImage = await ensureEtcdImage();
    images = await buildBeaconImages();
    const info = await docker.info();
    if (info.Swarm?.LocalNodeState !== 'active') {
      gwbridgeExisted = (await docker.listNetworks({ filters: { name: ['docker_gwbridge'] } })).some((n) => n.Name === 'docker_gwbridge');
      // Only a swarm this test made is left again afterwards; another suite may make one at the same moment.
      try {
        await dockerCli(['swarm', 'init', '--advertise-addr', '127.0.0.1']);
        initialised = true;
      } catch (err) {
        if (!/already part of a swarm/.test((err as Error).message)) throw err;
      }
    }
    // Labels for everything the stack makes, in a second compose file, the way users add overrides.
    overrideDir = mkdtempSync(join(tmpdir(), 'beacon-stack-'));
    const labels = `{ ${TEST_LABEL}: "1", ${RUN_LABEL}: "${RUN_ID}" }`;
    writeFileSync(
      join(overrideDir, 'test-labels.yml'),
      [
        'version: "3.8"',
        'services:',
        ...['etcd', 'sidekick', 'lbsync', 'web'].flatMap((s) => [`  ${s}:`, `    deploy: { labels: ${labels} }`, `    labels: ${labels}`]),
        'networks:',
        `  beacon: { labels: ${labels} }`,
        'volumes:',
        `  etcd-data: { labels: ${labels} }`,
        '',
      ].join('\n'),
    );
    env = {
      DOCKER_GID: await dockerSocketGid(),
      ETCD_IMAGE: etcdImage,
      BEACON_SIDEKICK_IMAGE: images.sidekick,
      BEACON_LBSYNC_IMAGE: images.lbsync,
      BEACON_WEB_IMAGE: TEST_IMAGE,
      // The sidekick publishes only this stack's web tasks, whatever else runs on the node.
      BEACON_PUBLISH_VALUE: stack,
    };
  });

  after(async function () {
    this.timeout(180_000);
    for (const service of ['sidekick', 'lbsync']) {
      const logs = await dockerCli(['service', 'logs', '--raw', `${stack}_${service}`]).catch(() => '');
      if (logs) writeFileSync(join(LOG_DIR, `${stack}_${service}.log`), logs);
    }
    await dockerCli(['stack', 'rm', stack]).catch(() => undefined);
    await waitForStackGone().catch((err: Error) => console.error(`      ${err.message}`));
    await dockerCli(['volume', 'rm', `${stack}_etcd-data`]).catch(() => undefined);
    if (initialised) {
      await dockerCli(['swarm', 'leave', '--force']).catch(() => undefined);
      if (!gwbridgeExisted) await dockerCli(['network', 'rm', 'docker_gwbridge']).catch(() => undefined);
    }
    if (overrideDir) rmSync(overrideDir, { recursive: true, force: true });
  });

  const namespace = () => `com.docker.stack.namespace=${stack}`;

  async function waitForStackGone(): Promise<void> {
    await waitFor(async () => {
      const containers = await docker.listContainers({ all: true, filters: { label: [namespace()] } });
      const networks = await docker.listNetworks({ filters: { label: [namespace()] } });
      return containers.length === 0 && networks.length === 0;
    }, 120_000, `stack ${stack}'s containers and networks to go`, 500);
  }

  /** The running lbsync task's container id. */
  async function lbsyncContainer(): Promise<string> {
    return waitFor(async () => {
      const [c] = await docker.listContainers({ filters: { label: [`com.docker.swarm.service.name=${stack}_lbsync`], status: ['running'] } });
      return c?.Id;
    }, 120_000, 'the lbsync task to run', 500);
  }

  /** The backends nginx has for "web" (servers other than the placeholder). */
  async function backends(container: string): Promise<string[]> {
    const conf = await dockerCli(['exec', container, 'cat', '/var/lib/beacon/nginx/conf/beacon.conf']).catch(() => '');
    return [...conf.matchAll(/^\s+server (\d+\.\d+\.\d+\.\d+:\d+)(?: [^;]*)?;/gm)].map((m) => m[1]!).filter((s) => s !== '127.0.0.1:1');
  }

  /** Waits until requests through nginx have been answered by exactly `names`. */
  async function untilServedBy(container: string, names: string[]): Promise<void> {
    let last: Record<string, number> = {};
    await waitFor(async () => {
      last = await fetchFrom(container, 'http://127.0.0.1:8080/', names.length * 4);
      return JSON.stringify(answered(last)) === JSON.stringify([...names].sort());
    }, 120_000, `answers from ${names.join(', ')} through nginx`, 500).catch((err: Error) => {
      throw new Error(`${err.message}; last answers: ${JSON.stringify(last)}`);
    });
  }

  it('deploys; requests through nginx reach every replica', async () => {
    const out = await dockerCli(['stack', 'deploy', '--resolve-image', 'never', '-c', STACK_FILE, '-c', join(overrideDir, 'test-labels.yml'), stack], env);
    assert.match(out, new RegExp(`Creating service ${stack}_sidekick`));
    const sidekick = await docker.getService(`${stack}_sidekick`).inspect();
    assert.ok(sidekick.Spec.Mode.Global, 'the sidekick runs in mode: global');
    const mounts = sidekick.Spec.TaskTemplate.ContainerSpec.Mounts as Array<{ Source: string; ReadOnly?: boolean }>;
    assert.ok(mounts.some((m) => m.Source === '/var/run/docker.sock' && m.ReadOnly), 'the socket is mounted read-only');
    const lbsync = await lbsyncContainer();
    await waitFor(async () => (await backends(lbsync)).length === 3, 120_000, 'nginx to have 3 web backends', 500);
    await untilServedBy(lbsync, ['web-1', 'web-2', 'web-3']);
  });

  it('docker service scale web=5 gives nginx 5 backends, each answering', async () => {
    const lbsync = await lbsyncContainer();
    await dockerCli(['service', 'scale', '--detach', `${stack}_web=5`]);
    await waitFor(async () => (await backends(lbsync)).length === 5, 120_000, 'nginx to have 5 web backends', 500);
    assert.equal(new Set(await backends(lbsync)).size, 5);
    await untilServedBy(lbsync, ['web-1', 'web-2', 'web-3', 'web-4', 'web-5']);
  });

  it('the publishing overrides merge: routing mesh or host mode for nginx (checked, not deployed: they bind every address)', async () => {
    for (const mode of ['mesh', 'host']) {
      const merged = await dockerCli(['stack', 'config', '-c', STACK_FILE, '-c', join(REPO_ROOT, 'docker', `stack.publish-${mode}.yml`)], { ...env, BEACON_HTTP_PORT: '18080' });
      const lbsync = merged.slice(merged.indexOf('\n  lbsync:'), merged.indexOf('\n  sidekick:'));
      assert.match(lbsync, new RegExp(`ports:\\s+- mode: ${mode === 'mesh' ? 'ingress' : 'host'}\\s+target: 8080\\s+published: "?18080"?`), lbsync);
    }
  });

  it('docker stack rm removes the services, their containers and the overlay', async () => {
    await dockerCli(['stack', 'rm', stack]);
    await waitForStackGone();
    const services = await docker.listServices({ filters: { label: [namespace()] } });
    assert.equal(services.length, 0);
  });
});
