import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import {
  buildBeaconImages,
  docker,
  dockerAvailable,
  ensureTestImage,
  freePort,
  hostPortOf,
  removeTestContainers,
  RUN_ID,
  RUN_LABEL,
  runContainer,
  TestEtcd,
  waitFor,
  type BeaconImages,
} from '../../harness/index.js';
import { dockerCli, dockerSocketGid, healthOf, LABEL_ARGS, LOG_DIR } from './fixtures.js';

/**
 * The shipped images, run as a user would run them: the sidekick image against
 * the host's Docker socket (mounted read-only, as uid 1000 in the socket's
 * group) publishing into a real etcd, and the lbsync image rendering nginx
 * config from those records and serving through the nginx inside it.
 * Both run with --network host so that they reach the test etcd on 127.0.0.1;
 * every port is on loopback.
 */
describe('ship: the sidekick and lbsync images', function () {
  this.timeout(300_000);
  let images: BeaconImages;
  let etcd: TestEtcd;
  let client: Etcd3;
  let confDir: string;
  const node = `ship${RUN_ID}`;
  const service = `shipweb${RUN_ID}`;
  const sidekickName = `beacon-ship-sidekick-${RUN_ID}`;
  const lbsyncName = `beacon-ship-lbsync-${RUN_ID}`;
  const webNames = [1, 2].map((i) => `ship-web-${RUN_ID}-${i}`);
  let sidekickMetrics = 0;
  let lbsyncMetrics = 0;
  let httpPort = 0;

  before(async function () {
    if (!dockerAvailable()) this.skip();
    await ensureTestImage();
    const started = Date.now();
    images = await buildBeaconImages();
    console.log(`      built in ${Math.round((Date.now() - started) / 1000)} s:\n${images.report.replace(/^/gm, '        ')}`);
    etcd = await new TestEtcd().start();
    client = etcd.client();
    [sidekickMetrics, lbsyncMetrics, httpPort] = [await freePort(), await freePort(), await freePort()];
    confDir = mkdtempSync(join(tmpdir(), 'beacon-ship-'));
    chmodSync(confDir, 0o755);
  });

  after(async () => {
    for (const name of [sidekickName, lbsyncName]) {
      const logs = await dockerCli(['logs', name]).catch(() => '');
      if (logs) writeFileSync(join(LOG_DIR, `${name}.log`), logs);
    }
    if (dockerAvailable()) await removeTestContainers();
    client?.close();
    await etcd?.destroy();
    if (confDir) rmSync(confDir, { recursive: true, force: true });
  });

  const recordsOf = async (svc: string) => Object.values(await client.getAll().prefix(`/services/${svc}/`).strings()).map((v) => JSON.parse(v) as { host: string; port: number; instance: string; container: string });

  it('the sidekick image, on the read-only Docker socket as uid 1000, publishes a labelled container into etcd', async () => {
    await dockerCli([
      'run', '-d', '--name', sidekickName, ...LABEL_ARGS,
      '--network', 'host', '--init',
      '--group-add', await dockerSocketGid(),
      '-v', '/var/run/docker.sock:/var/run/docker.sock:ro',
      '-e', `BEACON_METRICS_PORT=${sidekickMetrics}`,
      '--health-interval', '1s', '--health-start-period', '1s',
      images.sidekick,
      'sidekick', 'docker', '--etcd', etcd.url, '--node', node, '--advertise-ip', '127.0.0.1',
      '--label-filter', `${RUN_LABEL}=${RUN_ID}`, '--label-filter', 'beacon.ship=1',
      '--ttl', '5s', '--metrics-port', String(sidekickMetrics),
    ]);
    const web = await runContainer({
      name: webNames[0],
      env: { NAME: webNames[0]! },
      labels: { 'beacon.ship': '1', SERVICE_NAME: service, SERVICE_CHECK_HTTP: '/health', SERVICE_CHECK_INTERVAL: '1s' },
      publish: [80],
    });
    const port = await hostPortOf(web);
    const key = `/services/${service}/${node}:${webNames[0]}:80`;
    const text = await waitFor(() => client.get(key).string(), 60_000, `${key} in etcd (sidekick log: docker logs ${sidekickName})`, 100);
    const record = JSON.parse(text) as Record<string, unknown>;
    assert.equal(record.host, '127.0.0.1');
    assert.equal(record.port, port);
    assert.equal(record.node, node);
    assert.deepEqual(record.check, { http: '/health', interval: '1s' });

    assert.equal((await dockerCli(['exec', sidekickName, 'id', '-u'])).trim(), '1000', 'runs as uid 1000');
    await waitFor(async () => (await healthOf(sidekickName)) === 'healthy', 60_000, 'the sidekick container to be healthy', 250);
  });

  it('the lbsync image renders nginx upstreams from the records and serves through its own nginx', async () => {
    await runContainer({
      name: webNames[1],
      env: { NAME: webNames[1]! },
      labels: { 'beacon.ship': '1', SERVICE_NAME: service, SERVICE_CHECK_HTTP: '/health', SERVICE_CHECK_INTERVAL: '1s' },
      publish: [80],
    });
    await waitFor(async () => (await recordsOf(service)).length === 2, 60_000, 'two records', 100);
    const config = join(confDir, 'lbsync.yaml');
    writeFileSync(
      config,
      [
        `etcd: ${etcd.url}`,
        'wait: 50ms:300ms',
        'upstreams:',
        `  ${service}:`,
        `    servers: [{ listen: "127.0.0.1:${httpPort}", location: / }]`,
        '    health: { http: /health, interval: 1s, fall: 1, rise: 1 }',
        '',
      ].join('\n'),
    );
    chmodSync(config, 0o644);
    await dockerCli([
      'run', '-d', '--name', lbsyncName, ...LABEL_ARGS,
      '--network', 'host', '--init',
      '-e', `BEACON_METRICS_PORT=${lbsyncMetrics}`,
      '--health-interval', '1s', '--health-start-period', '1s',
      '-v', `${config}:/etc/beacon/lbsync.yaml:ro`,
      images.lbsync,
    ]);
    const url = `http://127.0.0.1:${httpPort}/`;
    const seen = new Set<string>();
    await waitFor(async () => {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.ok) seen.add((await res.text()).trim());
      return seen.size === 2;
    }, 60_000, `both web containers answering through nginx on ${url}`, 50);
    assert.deepEqual([...seen].sort(), [...webNames].sort());

    const conf = await dockerCli(['exec', lbsyncName, 'cat', '/var/lib/beacon/nginx/conf/beacon.conf']);
    assert.match(conf, new RegExp(`upstream ${service} \\{`));
    assert.equal(conf.match(/^\s+server 127\.0\.0\.1:\d+;/gm)?.length, 2, conf);
    assert.match(conf, /balancer_by_lua_block/, 'the image runs lbsync in dynamic mode (its nginx loads the Lua module)');
    assert.equal((await dockerCli(['exec', lbsyncName, 'id', '-u'])).trim(), '1000', 'lbsync and nginx run as uid 1000');
    const nginxUsers = await dockerCli(['exec', lbsyncName, 'sh', '-c', 'for p in $(pidof nginx); do stat -c %u /proc/$p; done']);
    assert.ok(nginxUsers.trim().split('\n').every((u) => u === '1000'), `nginx processes' uids: ${nginxUsers}`);
    await waitFor(async () => (await healthOf(lbsyncName)) === 'healthy', 60_000, 'the lbsync container to be healthy', 250);

    // A container that goes away leaves the pool: its record goes, nginx stops sending to it.
    await docker.getContainer(webNames[1]!).remove({ force: true });
    await waitFor(async () => {
      const answers = new Set<string>();
      for (let i = 0; i < 6; i++) answers.add(await fetch(url).then((r) => r.text()).then((t) => t.trim(), () => 'error'));
      return answers.size === 1 && answers.has(webNames[0]!);
    }, 60_000, `only ${webNames[0]} answering after ${webNames[1]} is removed`, 100);
  });

  it('the images run non-root, carry OCI labels and a HEALTHCHECK, and hold production dependencies only', async () => {
    for (const image of [images.sidekick, images.lbsync]) {
      const info = await docker.getImage(image).inspect();
      assert.equal(info.Config.User, '1000:1000', `${image} user`);
      assert.ok(info.Config.Healthcheck?.Test?.length, `${image} has a HEALTHCHECK`);
      const labels = info.Config.Labels ?? {};
      for (const l of ['title', 'version', 'revision', 'created', 'source', 'licenses']) assert.ok(labels[`org.opencontainers.image.${l}`], `${image} label ${l}`);
      const modules = await dockerCli(['run', '--rm', ...LABEL_ARGS, '--entrypoint', 'ls', image, '/app/node_modules']);
      for (const dev of ['typescript', 'mocha', 'node']) assert.ok(!modules.split('\n').includes(dev), `${image} has no ${dev}`);
    }
    const version = await dockerCli(['run', '--rm', ...LABEL_ARGS, images.lbsync, '--version']);
    assert.match(version.trim(), /^\d+\.\d+\.\d+/);
  });
});
