import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { beacon, BEACON_NODE_ARGS, startBeacon, TestEtcd, waitFor, type Started } from '../../harness/index.js';

/** Writes with the real etcdctl, as an operator (or a seed's sidekick) would. */
function etcdctl(etcd: TestEtcd, ...args: string[]): string {
  return execFileSync('etcdctl', ['--endpoints', etcd.url, ...args], { env: { ...process.env, ETCDCTL_API: '3' }, encoding: 'utf8' });
}

describe('beacon discover / services (real etcd, etcdctl-written records)', function () {
  let etcd: TestEtcd;
  const env = () => ({ BEACON_ETCD: etcd.url });

  before(async () => {
    etcd = await new TestEtcd().start();
    // Canonical JSON, as the sidekick writes it.
    etcdctl(etcd, 'put', '/services/web/core01:web01:80', JSON.stringify({ service: 'web', instance: 'core01:web01:80', host: '10.208.201.226', port: 18001, node: 'core01', tags: ['v2'] }));
    // Flat, as seed 004's monweb@.service writes it.
    etcdctl(etcd, 'put', '/services/web/web02/host', 'core03');
    etcdctl(etcd, 'put', '/services/web/web02/port', '18002');
    etcdctl(etcd, 'put', '/services/web/web02/unit', 'monweb@02.service');
    etcdctl(etcd, 'put', '/services/web/web02/public_ipv4_addr', '162.242.255.71');
    // Single, as seed 000's mongodb-discovery.service writes it.
    etcdctl(etcd, 'put', '/services/mongodb', '{ "host": "worker-big-1", "port": 27017 }');
    // Malformed beside them.
    etcdctl(etcd, 'put', '/services/web/broken', '{"host": "10.0.0.9", "port": ');
    etcdctl(etcd, 'put', '/services/web/evil', JSON.stringify({ service: 'web', instance: 'evil', host: '1.2.3.4; include /etc/passwd', port: 80 }));
  });

  after(async () => {
    await etcd.destroy();
  });

  it('lists records of all three layouts as a table, and reports the malformed ones on stderr', async () => {
    const res = await beacon(['discover', 'web'], env());
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^INSTANCE\s+ADDRESS\s+NODE\s+TAGS\s+AGE/);
    assert.match(res.stdout, /core01:web01:80\s+10\.208\.201\.226:18001\s+core01\s+v2/);
    assert.match(res.stdout, /web02\s+core03:18002/);
    assert.doesNotMatch(res.stdout, /broken|evil|passwd/);
    const warnings = res.stderr.trim().split('\n').map((l) => JSON.parse(l) as { key: string; reason: string });
    assert.deepEqual(warnings.map((w) => w.key).sort(), ['/services/web/broken', '/services/web/evil']);
    assert.match(warnings.find((w) => w.key.endsWith('evil'))!.reason, /^host: must be an IPv4\/IPv6 literal or a DNS name/);
  });

  it('prints JSON records with --json, the single layout included', async () => {
    const web = JSON.parse((await beacon(['discover', 'web', '--json'], env())).stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(web.map((r) => [r.instance, r.host, r.port]), [['core01:web01:80', '10.208.201.226', 18001], ['web02', 'core03', 18002]]);
    assert.equal(web[1]!.unit, 'monweb@02.service');
    const mongo = JSON.parse((await beacon(['discover', 'mongodb', '--json'], env())).stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(mongo, [{ service: 'mongodb', instance: 'mongodb', host: 'worker-big-1', port: 27017 }]);
  });

  it('counts endpoints per service', async () => {
    const res = await beacon(['services', '--json'], env());
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual(JSON.parse(res.stdout), [{ service: 'mongodb', endpoints: 1 }, { service: 'web', endpoints: 2 }]);
    assert.match((await beacon(['services'], env())).stdout, /web\s+2/);
  });

  for (const name of ['web;', '../x', 'a b', 'WEB', 'a'.repeat(200)]) {
    it(`refuses the service name ${JSON.stringify(name.length > 20 ? `${name.slice(0, 10)}…` : name)} with exit 2 and the rule`, async () => {
      const res = await beacon(['discover', name], env());
      assert.equal(res.code, 2);
      assert.match(res.stderr, /SERVICE: must be 1-63 characters of a-z, 0-9, "\.", "_" or "-"/);
      assert.equal(res.stdout, '');
    });
  }

  it('refuses a bad --etcd URL and an unknown flag with exit 2', async () => {
    const bad = await beacon(['discover', 'web', '--etcd', 'localhost']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--etcd: each endpoint must be a URL/);
    assert.equal((await beacon(['discover', 'web', '--frobnicate'])).code, 2);
  });

  it('fails with exit 1 and a clear message when etcd is unreachable', async () => {
    const res = await beacon(['discover', 'web', '--etcd', 'http://127.0.0.1:9'], { BEACON_LOG_LEVEL: 'silent' }, 30_000);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /beacon: /);
  });

  describe('--watch', () => {
    let proc: Started;
    const lines: string[] = [];

    before(async () => {
      proc = startBeacon(['discover', 'web', '--watch', '--json', '--etcd', etcd.url], '/dev/null');
      createInterface({ input: proc.child.stdout! }).on('line', (line) => lines.push(line));
      await waitFor(() => lines.length >= 1, 10_000, 'the first set');
    });

    after(async () => {
      await proc.stop();
    });

    it('prints the current set first, then the new set soon after a put', async () => {
      assert.equal((JSON.parse(lines[0]!) as unknown[]).length, 2);
      const before = lines.length;
      const started = Date.now();
      etcdctl(etcd, 'put', '/services/web/web03', JSON.stringify({ service: 'web', instance: 'web03', host: '10.0.0.3', port: 80 }));
      await waitFor(() => lines.length > before, 20_000, 'the updated set', 2);
      const latency = Date.now() - started;
      const set = JSON.parse(lines.at(-1)!) as Array<{ instance: string }>;
      assert.deepEqual(set.map((r) => r.instance), ['core01:web01:80', 'web02', 'web03']);
      console.log(`      (put → printed: ${latency} ms, including etcdctl's own start-up)`);
    });

    it('ends quietly with exit 0 when its reader goes (`beacon discover --watch | head -n 1`)', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'beacon-epipe-'));
      const beaconCmd = [process.execPath, ...BEACON_NODE_ARGS].join(' ');
      // Its own process group, so a failure can end the whole pipeline by the group's id.
      const shell = spawn('bash', ['-c', `${beaconCmd} discover epipe --watch --etcd ${etcd.url} 2>${dir}/stderr | head -n 1; echo "beacon exited \${PIPESTATUS[0]}"`], { detached: true });
      let out = '';
      shell.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      const done = new Promise<void>((resolve) => shell.once('exit', () => resolve()));
      try {
        await waitFor(() => out.includes('\n'), 10_000, 'head to print the first line');
        // head has gone; the next set beacon prints goes into a closed pipe.
        let n = 0;
        await waitFor(() => {
          const instance = `e${n++}`;
          etcdctl(etcd, 'put', `/services/epipe/${instance}`, JSON.stringify({ service: 'epipe', instance, host: '10.0.0.4', port: 80 }));
          return out.includes('beacon exited');
        }, 20_000, 'beacon to end after its reader went', 500);
        await done;
        assert.match(out, /^--- \S+ epipe: 0 endpoint\(s\)\nbeacon exited 0\n$/);
        const stderr = readFileSync(`${dir}/stderr`, 'utf8');
        assert.doesNotMatch(stderr, /EPIPE|Error|    at /, stderr);
      } finally {
        if (shell.exitCode === null) process.kill(-shell.pid!, 'SIGKILL');
        etcdctl(etcd, 'del', '--prefix', '/services/epipe/');
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('prints the set again after a delete', async () => {
      const before = lines.length;
      etcdctl(etcd, 'del', '/services/web/web03');
      await waitFor(() => lines.length > before, 20_000, 'the set without web03');
      assert.equal((JSON.parse(lines.at(-1)!) as unknown[]).length, 2);
    });
  });
});
