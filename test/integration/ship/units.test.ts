import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../harness/index.js';

const exec = promisify(execFile);
const UNITS = join(REPO_ROOT, 'units');

/** The unit files as systemd would load them: instances of the templates, named as users start them. */
const INSTANCES: Record<string, string[]> = {
  'beacon-sidekick.service': ['beacon-sidekick.service'],
  'beacon-announce@.service': ['beacon-announce@mongodb.service', 'beacon-announce@web@01.service'],
  'beacon-lbsync.service': ['beacon-lbsync.service'],
  'web@.service': ['web@01.service'],
  'mongodb.service': ['mongodb.service'],
  'mongodb-discovery.service': ['mongodb-discovery.service'],
};

/** Reads one unit into section → key → values (continuation lines joined, comments dropped). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  for (const raw of lines) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    current!.set(key, [...(current!.get(key) ?? []), line.slice(eq + 1)]);
  }
  return sections;
}

/** systemd's specifiers and `$$` as it would resolve them for `instance` (enough for these units). */
function resolveSpecifiers(value: string, unitName: string): string {
  const m = /^(.+?)@(.*)\.service$/.exec(unitName);
  const prefix = m ? m[1]! : unitName.replace(/\.service$/, '');
  const instance = m ? m[2]! : '';
  return value.replace(/%([%iIpH])/g, (_, c: string) => ({ '%': '%', i: instance, I: instance, p: prefix, H: 'core01' })[c]!).replace(/\$\$/g, '$');
}

/** The script of an `ExecX=[-]/bin/sh -c '…'` line, or undefined for other commands. */
function shellScript(value: string): string | undefined {
  const m = /^-?\/bin\/sh -c '(.*)'$/s.exec(value.trim());
  return m?.[1];
}

describe('ship: fleet/systemd units', function () {
  this.timeout(60_000);
  let dir: string;

  before(async function () {
    try {
      await exec('systemd-analyze', ['--version']);
    } catch {
      // Debian's systemd package provides it; install it when we may.
      if (process.getuid?.() !== 0) this.skip();
      await exec('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'systemd'], { timeout: 300_000 });
    }
    dir = mkdtempSync(join(tmpdir(), 'beacon-units-'));
    for (const [file, names] of Object.entries(INSTANCES)) for (const name of names) copyFileSync(join(UNITS, file), join(dir, name));
    // Units they need that a machine may not have (docker.service comes with docker.io).
    for (const dep of ['docker.service']) {
      if (!['/lib/systemd/system', '/etc/systemd/system', '/usr/lib/systemd/system'].some((d) => existsSync(join(d, dep)))) {
        writeFileSync(join(dir, dep), '[Unit]\nDescription=stub for verify\n[Service]\nExecStart=/bin/true\n');
      }
    }
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('units/ holds every unit the tests verify', () => {
    const files = readdirSync(UNITS).filter((f) => f.endsWith('.service')).sort();
    assert.deepEqual(files, Object.keys(INSTANCES).sort());
  });

  for (const [file, names] of Object.entries(INSTANCES)) {
    for (const name of names) {
      it(`${name} passes systemd-analyze verify`, async () => {
        // The copies and the units they reference (%i.service, mongodb.service) are on the unit path.
        const res = await exec('systemd-analyze', ['verify', join(dir, name)], { env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` } }).then(
          (r) => ({ code: 0, stderr: r.stderr }),
          (err: { code?: number; stderr?: string }) => ({ code: err.code ?? 1, stderr: err.stderr ?? '' }),
        );
        assert.equal(res.code, 0, res.stderr);
        assert.equal(res.stderr.trim(), '', `${file}: ${res.stderr}`);
      });
    }
  }

  it('every shell command line parses with sh -n once systemd has resolved it', async () => {
    for (const names of Object.values(INSTANCES)) {
      for (const name of names) {
        const unit = parseUnit(readFileSync(join(dir, name), 'utf8'));
        for (const [key, values] of unit.get('Service') ?? []) {
          if (!key.startsWith('Exec')) continue;
          for (const value of values) {
            const script = shellScript(value);
            if (script === undefined) continue;
            await exec('sh', ['-n', '-c', resolveSpecifiers(script, name)]).catch((err: { stderr?: string }) => {
              throw new Error(`${name} ${key}: ${err.stderr}\n${resolveSpecifiers(script, name)}`);
            });
          }
        }
      }
    }
  });

  it('the fleet placement is as in the seeds: global sidekick, announce on its app machine', () => {
    const fleet = (file: string) => parseUnit(readFileSync(join(UNITS, file), 'utf8'));
    assert.deepEqual(fleet('beacon-sidekick.service').get('X-Fleet')?.get('Global'), ['true']);
    const announce = fleet('beacon-announce@.service');
    assert.deepEqual(announce.get('Unit')?.get('BindsTo'), ['%i.service']);
    assert.ok(announce.get('Unit')?.get('After')?.some((v) => v.split(/\s+/).includes('%i.service')));
    assert.deepEqual(announce.get('X-Fleet')?.get('MachineOf'), ['%i.service']);
    const discovery = fleet('mongodb-discovery.service');
    assert.deepEqual(discovery.get('Unit')?.get('BindsTo'), ['mongodb.service']);
    assert.deepEqual(discovery.get('X-Fleet')?.get('MachineOf'), ['mongodb.service']);
    for (const file of Object.keys(INSTANCES)) {
      const env = fleet(file).get('Service')?.get('EnvironmentFile') ?? [];
      assert.ok(env.includes('-/etc/environment'), `${file} reads /etc/environment`);
    }
  });

  describe('the docker commands the units run (a stub docker records them)', () => {
    let stubDir: string;
    let argsLog: string;

    before(() => {
      stubDir = mkdtempSync(join(tmpdir(), 'beacon-units-docker-'));
      argsLog = join(stubDir, 'args.jsonl');
      // `docker port C` answers like a container published on 10.0.0.7:18001; `stat` of the socket is the real one.
      writeFileSync(
        join(stubDir, 'docker'),
        `#!/usr/bin/env node\nconst fs = require('node:fs');\nfs.appendFileSync(${JSON.stringify(argsLog)}, JSON.stringify(process.argv.slice(2)) + '\\n');\nif (process.argv[2] === 'port') console.log('80/tcp -> 10.0.0.7:18001');\n`,
      );
      chmodSync(join(stubDir, 'docker'), 0o755);
    });

    after(() => {
      if (stubDir) rmSync(stubDir, { recursive: true, force: true });
    });

    /** Runs a unit's ExecStart script with this environment, /usr/bin/docker replaced by the stub; returns the docker invocations. */
    async function execStart(name: string, env: Record<string, string>): Promise<string[][]> {
      writeFileSync(argsLog, '');
      const unit = parseUnit(readFileSync(join(dir, name), 'utf8'));
      const script = resolveSpecifiers(shellScript(unit.get('Service')!.get('ExecStart')![0]!)!, name).replaceAll('/usr/bin/docker', join(stubDir, 'docker'));
      // Environment= defaults first, then the "files" (here: env), as systemd does.
      const defaults = Object.fromEntries((unit.get('Service')?.get('Environment') ?? []).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
      await exec('sh', ['-c', script], { env: { PATH: `${join(REPO_ROOT, 'node_modules/.bin')}:${process.env.PATH}`, ...defaults, ...env } });
      return readFileSync(argsLog, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as string[]);
    }

    it('beacon-sidekick: host network, read-only socket, its group, advertise address from /etc/environment', async () => {
      const calls = await execStart('beacon-sidekick.service', { COREOS_PRIVATE_IPV4: '10.0.0.7', BEACON_ETCD: 'http://10.0.0.5:2379' });
      const run = calls.find((c) => c[0] === 'run')!;
      const gid = (await exec('stat', ['-c', '%g', '/var/run/docker.sock']).catch(() => ({ stdout: '' }))).stdout.trim();
      const joined = run.join(' ');
      assert.match(joined, /--network host/);
      assert.match(joined, /-v \/var\/run\/docker.sock:\/var\/run\/docker.sock:ro/);
      if (gid) assert.match(joined, new RegExp(`--group-add ${gid}\\b`));
      assert.match(joined, /-e BEACON_ADVERTISE_IP=10\.0\.0\.7/);
      assert.match(joined, /-e BEACON_NODE=core01/);
      assert.ok(joined.includes('beacon/sidekick:latest sidekick docker --metrics-port 9464'), joined);
    });

    it('beacon-announce@web@01: service "web", container web-01, its published port, this machine', async () => {
      const calls = await execStart('beacon-announce@web@01.service', { COREOS_PRIVATE_IPV4: '10.0.0.7' });
      assert.deepEqual(calls[0], ['port', 'web-01']);
      const run = calls.find((c) => c[0] === 'run')!;
      const joined = run.join(' ');
      assert.ok(joined.includes('sidekick announce --service web --container web-01 --port 18001 --host 10.0.0.7 --layout json --unit web@01.service'), joined);
      assert.match(joined, /--name beacon-announce-web-01 /);
    });

    it('mongodb-discovery: the single layout at /services/mongodb, as the seed', async () => {
      const calls = await execStart('mongodb-discovery.service', { COREOS_PRIVATE_IPV4: '10.0.0.7' });
      const joined = calls.find((c) => c[0] === 'run')!.join(' ');
      assert.ok(joined.includes('sidekick announce --service mongodb --port 27017 --host 10.0.0.7 --container mongodb --layout single --unit mongodb.service'), joined);
    });

    it('web@01: labelled for the sidekick, a random port on the private address', async () => {
      const calls = await execStart('web@01.service', { COREOS_PRIVATE_IPV4: '10.0.0.7' });
      const joined = calls.find((c) => c[0] === 'run')!.join(' ');
      assert.match(joined, /--name web-01 /);
      assert.match(joined, /--label SERVICE_NAME=web /);
      assert.match(joined, /-p 10\.0\.0\.7::80 /);
    });

    it('beacon-lbsync: nginx published on 80, etcd at this machine unless BEACON_ETCD says otherwise', async () => {
      let joined = (await execStart('beacon-lbsync.service', { COREOS_PRIVATE_IPV4: '10.0.0.7' })).find((c) => c[0] === 'run')!.join(' ');
      assert.match(joined, /-p 80:8080 /);
      assert.match(joined, /-e BEACON_ETCD=http:\/\/10\.0\.0\.7:2379 /);
      assert.match(joined, /-v \/etc\/beacon\/lbsync.yaml:\/etc\/beacon\/lbsync.yaml:ro /);
      joined = (await execStart('beacon-lbsync.service', { BEACON_ETCD: 'http://10.0.0.5:2379' })).find((c) => c[0] === 'run')!.join(' ');
      assert.match(joined, /-e BEACON_ETCD=http:\/\/10\.0\.0\.5:2379 /);
    });
  });
});
