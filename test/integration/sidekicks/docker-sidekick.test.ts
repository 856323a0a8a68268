import assert from 'node:assert/strict';
import type { Etcd3 } from 'etcd3';
import type { ServiceRecord } from '../../../registry/index.js';
import { freePort, hostPortOf, removeTestContainers, runContainer, TestEtcd, waitFor } from '../../harness/index.js';
import { nodeRecords, sidekickSuite, startDockerSidekick, uniqueName, waitForLog, waitForNode, type SidekickProcess } from './helpers.js';

describe('sidekick docker: containers → etcd (real dockerd, real etcd, compiled CLI)', function () {
  const suite = sidekickSuite();
  let etcd: TestEtcd;
  let client: Etcd3;
  before(() => ({ etcd, client } = suite));

  const sidekick = (extra: string[] = []): SidekickProcess => suite.sidekick(extra);

  it('publishes a labelled container with its host, port and name; removes it on docker stop and on docker rm -f', async () => {
    const sk = sidekick();
    const web = uniqueName('web');
    const a = await runContainer({ labels: { SERVICE_NAME: web, SERVICE_TAGS: 'v2,blue' }, publish: [80] });
    const b = await runContainer({ env: { SERVICE_NAME: web }, publish: [80] });
    const [portA, portB] = [await hostPortOf(a), await hostPortOf(b)];
    const rs = await waitForNode(client, sk.node, (rs) => rs.length === 2, 'two records');
    const byPort = new Map(rs.map((r) => [r.port, r]));
    for (const [c, port] of [[a, portA], [b, portB]] as const) {
      const r = byPort.get(port);
      assert.ok(r, `a record for port ${port}`);
      const info = await c.inspect();
      assert.equal(r.service, web);
      assert.equal(r.host, '127.0.0.1');
      assert.equal(r.instance, `${sk.node}:${info.Name.slice(1)}:80`.toLowerCase());
      assert.equal(r.container, info.Id.slice(0, 12));
      assert.equal(r.node, sk.node);
    }
    assert.deepEqual(byPort.get(portA)!.tags, ['v2', 'blue']);
    // The key is /services/<service>/<instance>.
    const raw = await client.get(`/services/${web}/${byPort.get(portA)!.instance}`).string();
    assert.ok(raw, 'canonical key');

    await a.stop({ t: 5 });
    await waitForNode(client, sk.node, (rs) => rs.length === 1 && rs[0]!.port === portB, 'gone after docker stop');
    await b.remove({ force: true });
    await waitForNode(client, sk.node, (rs) => rs.length === 0, 'gone after docker rm -f');
    const verbs = sk.lines().map((l) => String(l.msg).split(' ')[0]);
    assert.ok(verbs.includes('published') && verbs.includes('removed'), 'logs published and removed');
    const published = sk.lines().find((l) => String(l.msg).startsWith('published'))!;
    for (const field of ['service', 'instance', 'container', 'node']) assert.ok(published[field], `log field ${field}`);
    assert.equal(String(published.container).length, 12);
  });

  it('removes the record at SIGTERM (before the process exits), not only at die', async () => {
    const sk = sidekick();
    const name = uniqueName('drain');
    // The app drains for 60 s after SIGTERM: the record must go while it still runs, however slow the machine.
    const c = await runContainer({ labels: { SERVICE_NAME: name }, env: { DRAIN: '60' }, publish: [80] });
    await waitForNode(client, sk.node, (rs) => rs.length === 1, 'published');
    const stopping = c.stop({ t: 90 });
    await waitForNode(client, sk.node, (rs) => rs.length === 0, 'removed while draining', 30_000);
    assert.equal((await c.inspect()).State.Running, true, 'the container was still running when its record went');
    await c.kill();
    await stopping.catch(() => undefined);
  });

  it('publishes exactly 50 records for 50 containers started in parallel', async function () {
    this.timeout(180_000);
    const sk = sidekick();
    const name = uniqueName('fifty');
    await Promise.all(Array.from({ length: 50 }, () => runContainer({ labels: { SERVICE_NAME: name }, publish: [80] })));
    const rs = await waitForNode(client, sk.node, (rs) => rs.length >= 50, '50 records', 60_000);
    // A container started after the 50 and published proves the sidekick went through every event before it.
    await published(client, sk, await runContainer({ labels: { SERVICE_NAME: uniqueName('marker') }, publish: [80] }));
    const again = (await nodeRecords(client, sk.node)).filter((r) => r.service === name);
    assert.equal(again.length, 50, 'no duplicate or extra record');
    assert.equal(new Set(rs.map((r) => r.port)).size, 50, 'distinct ports');
    assert.ok(rs.every((r) => r.service === name));
    await removeTestContainers();
    await waitForNode(client, sk.node, (rs) => rs.length === 0, 'all removed', 60_000);
  });

  it('publishes a container with a HEALTHCHECK only while it is healthy (unless --ignore-health)', async function () {
    this.timeout(120_000);
    const sk = sidekick();
    const ignoring = sidekick(['--ignore-health']);
    const name = uniqueName('health');
    const c = await runContainer({
      labels: { SERVICE_NAME: name },
      publish: [80],
      healthcheck: { test: ['CMD-SHELL', '[ -f /tmp/ok ]'], intervalMs: 200, retries: 1 },
    });
    const mine = (rs: ServiceRecord[]) => rs.filter((r) => r.service === name);
    // --ignore-health publishes it at once; the default waits for "healthy".
    await waitForNode(client, ignoring.node, (rs) => mine(rs).length === 1, 'published with --ignore-health');
    await waitFor(async () => (await c.inspect()).State.Health?.Status === 'unhealthy', 20_000, 'unhealthy');
    // A container started after it turned unhealthy and published proves the sidekick has seen that event.
    await published(client, sk, await runContainer({ labels: { SERVICE_NAME: uniqueName('marker') }, publish: [80] }));
    assert.equal(mine(await nodeRecords(client, sk.node)).length, 0, 'not published while unhealthy');
    await exec(c, 'echo ok > /tmp/ok');
    await waitForNode(client, sk.node, (rs) => mine(rs).length === 1, 'published once healthy', 20_000);
    await exec(c, 'rm /tmp/ok');
    await waitForNode(client, sk.node, (rs) => mine(rs).length === 0, 'removed when unhealthy', 20_000);
    assert.equal(mine(await nodeRecords(client, ignoring.node)).length, 1, '--ignore-health keeps it');
  });

  it('removes a paused container and republishes it on unpause', async () => {
    const sk = sidekick();
    const c = await runContainer({ labels: { SERVICE_NAME: uniqueName('pause') }, publish: [80] });
    await waitForNode(client, sk.node, (rs) => rs.length === 1, 'published');
    await c.pause();
    await waitForNode(client, sk.node, (rs) => rs.length === 0, 'removed on pause');
    await c.unpause();
    await waitForNode(client, sk.node, (rs) => rs.length === 1, 'back on unpause');
  });

  it('refuses a container whose definition breaks the contract with one log line, and publishes the others', async () => {
    const sk = sidekick();
    const good = uniqueName('good');
    const bad = await runContainer({ labels: { SERVICE_NAME: 'Bad Name!' }, publish: [80] });
    await runContainer({ labels: { SERVICE_NAME: good }, publish: [80] });
    await waitForNode(client, sk.node, (rs) => rs.length === 1 && rs[0]!.service === good, 'the good one');
    const badName = (await bad.inspect()).Name.slice(1);
    const line = await waitForLog(sk, (l) => String(l.msg).startsWith('refused'), 'refused');
    assert.equal(line.field, 'service');
    assert.equal(line.name, badName);
    assert.match(String(line.rule), /a-z/);
    assert.match(String(line.msg), new RegExp(`refused container ${badName}: service`));
    assert.equal(sk.lines().filter((l) => String(l.msg).startsWith('refused')).length, 1, 'one line');
  });

  it('merges --meta into every record and uses registrator env for check and meta', async () => {
    const sk = sidekick(['--meta', 'instanceId=i-0123456789abcdef0']);
    await runContainer({ env: { SERVICE_NAME: uniqueName('meta'), SERVICE_CHECK_HTTP: '/health', SERVICE_CHECK_INTERVAL: '5s', SERVICE_REGION: 'eu' }, publish: [80] });
    const [r] = await waitForNode(client, sk.node, (rs) => rs.length === 1, 'published');
    assert.deepEqual(r!.meta, { instanceId: 'i-0123456789abcdef0', region: 'eu' });
    assert.deepEqual(r!.check, { http: '/health', interval: '5s' });
  });

  it('revokes the lease on SIGTERM (records vanish at once), or leaves them with --keep-on-exit', async () => {
    const sk = startDockerSidekick(etcd, ['--ttl', '60s']);
    await runContainer({ labels: { SERVICE_NAME: uniqueName('term') }, publish: [80] });
    await waitForNode(client, sk.node, (rs) => rs.length === 1, 'published');
    await sk.stop('SIGTERM');
    assert.equal(await sk.exited.then(() => sk.child.exitCode), 0);
    assert.equal((await nodeRecords(client, sk.node)).length, 0, 'gone at once (TTL is 60 s)');

    const keep = startDockerSidekick(etcd, ['--ttl', '60s', '--keep-on-exit']);
    await waitForNode(client, keep.node, (rs) => rs.length === 1, 'published');
    await keep.stop('SIGTERM');
    // It handled the signal (and chose not to revoke) before we look at etcd.
    assert.ok(keep.lines().some((l) => String(l.msg) === 'stopped on SIGTERM; records expire after the TTL'), 'logged its stop');
    assert.equal((await nodeRecords(client, keep.node)).length, 1, 'kept for the TTL');
    await client.delete().prefix('/services/').exec();
  });

  it('kill -9: the records vanish when the TTL runs out', async () => {
    const sk = startDockerSidekick(etcd, ['--ttl', '2s']);
    await runContainer({ labels: { SERVICE_NAME: uniqueName('nine') }, publish: [80] });
    await waitForNode(client, sk.node, (rs) => rs.length === 1, 'published');
    await sk.stop('SIGKILL');
    assert.equal((await nodeRecords(client, sk.node)).length, 1, 'still there right after the kill');
    await waitForNode(client, sk.node, (rs) => rs.length === 0, 'gone after the TTL', 15_000);
  });

  it('restarted after containers were removed meanwhile: the stale records go at once, live ones stay', async () => {
    const first = startDockerSidekick(etcd, ['--ttl', '60s']);
    const name = uniqueName('stale');
    const keep = await runContainer({ labels: { SERVICE_NAME: name }, publish: [80] });
    const gone = await runContainer({ labels: { SERVICE_NAME: name }, publish: [80] });
    await waitForNode(client, first.node, (rs) => rs.length === 2, 'two published');
    await first.stop('SIGKILL');
    await gone.remove({ force: true });
    // Same node name: the new sidekick owns the old one's records. The TTL is 60 s, so only
    // the startup cleanup can explain the stale record going.
    const second = startDockerSidekick(etcd, ['--ttl', '60s'], first.node);
    suite.track(second);
    const keepPort = await hostPortOf(keep);
    await waitForNode(client, first.node, (rs) => rs.length === 1 && rs[0]!.port === keepPort, 'stale record removed (the TTL is 60 s)', 30_000);
    await waitForLog(second, (l) => String(l.msg).startsWith('removed stale'), 'removed stale');
  });

  it('serves Prometheus metrics on --metrics-port', async () => {
    const port = await freePort();
    const sk = sidekick(['--metrics-port', String(port)]);
    const name = uniqueName('metrics');
    await runContainer({ labels: { SERVICE_NAME: name }, publish: [80] });
    await waitForNode(client, sk.node, (rs) => rs.length === 1, 'published');
    // This one surely comes through the events stream (the first may have been listed), so its latency is observed.
    await runContainer({ labels: { SERVICE_NAME: name }, publish: [80] });
    await waitForNode(client, sk.node, (rs) => rs.length === 2, 'second published');
    const text = await waitFor(async () => {
      const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return /beacon_sidekick_event_to_etcd_seconds_count\{op="publish"\} [1-9]/.test(body) ? body : undefined;
    }, 10_000, 'metrics');
    for (const name of [
      'beacon_sidekick_docker_events_total',
      'beacon_sidekick_records_published_total',
      'beacon_sidekick_records_removed_total',
      'beacon_sidekick_reconnects_total',
      'beacon_sidekick_event_to_etcd_seconds_bucket',
      'beacon_sidekick_process_resident_memory_bytes',
    ]) {
      assert.match(text, new RegExp(name), name);
    }
  });

  it('exits 2 with a clear message on a bad flag', async () => {
    const { beacon } = await import('../../harness/index.js');
    const res = await beacon(['sidekick', 'docker', '--layout', 'xml']);
    assert.equal(res.code, 2);
    assert.match(res.stderr, /layout/);
    const meta = await beacon(['sidekick', 'docker', '--meta', 'novalue', '--etcd', etcd.url]);
    assert.equal(meta.code, 2);
    assert.match(meta.stderr, /--meta/);
  });
});

/** Waits until the sidekick has published the container (its host port is in one of the node's records). */
async function published(client: Etcd3, sk: SidekickProcess, container: import('dockerode').Container): Promise<void> {
  const port = await hostPortOf(container);
  await waitForNode(client, sk.node, (rs) => rs.some((r) => r.port === port), `the record of port ${port}`, 30_000);
}

async function exec(container: import('dockerode').Container, script: string): Promise<void> {
  const e = await container.exec({ Cmd: ['sh', '-c', script], AttachStdout: true, AttachStderr: true });
  const stream = await e.start({});
  await new Promise((resolve) => {
    stream.on('end', resolve);
    stream.resume();
  });
}
