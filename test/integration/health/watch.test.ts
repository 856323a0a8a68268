import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { BEACON_NODE_ARGS, freePort, startBeacon, TestEtcd, waitFor, type Started } from '../../harness/index.js';
import { httpServer, type Local } from './servers.js';

interface Line {
  event?: string;
  instance?: string;
  state?: string;
  reason?: string;
  changed?: boolean;
  level?: number;
}

describe('beacon health watch (real etcd)', function () {
  this.timeout(90_000);
  let etcd: TestEtcd;
  let client: Etcd3;
  let server: Local;
  let watch: Started | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'beacon-health-watch-'));
  const log = join(dir, 'watch.log');

  before(async () => {
    etcd = await new TestEtcd().start();
    client = etcd.client();
    server = await httpServer((req, res) => {
      res.statusCode = req.url === '/health' ? 200 : 500;
      res.end('ok\n');
    });
  });

  after(async () => {
    await watch?.stop();
    client?.close();
    await etcd?.destroy();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const lines = (): Line[] =>
    readFileSync(log, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Line)
      .filter((l) => l.event !== undefined);

  it('checks every endpoint of the service and prints JSON lines when piped', async () => {
    const refused = await freePort();
    const put = (instance: string, record: object) => client.put(`/services/web/${instance}`).value(JSON.stringify({ service: 'web', instance, host: '127.0.0.1', ...record }));
    await put('good', { port: server.port, check: { http: '/health', interval: '1s' } });
    await put('bad', { port: server.port, check: { http: '/broken', interval: '1s' } });
    await put('gone', { port: refused });
    await client.put('/services/other/x').value(JSON.stringify({ service: 'other', instance: 'x', host: '127.0.0.1', port: server.port }));

    watch = startBeacon(['health', 'watch', 'web', '--etcd', etcd.url, '--interval', '1s'], log);
    const stateOf = (instance: string) => lines().filter((l) => l.event === 'result' && l.instance === instance).at(-1);
    // A failing new endpoint stays unknown through its start-up grace (one interval), then fails.
    await waitFor(
      () => stateOf('good') && stateOf('bad')?.state === 'failing' && stateOf('gone')?.state === 'failing',
      30_000,
      'a settled result for every endpoint',
    );
    assert.equal(stateOf('good')!.state, 'passing');
    assert.equal(stateOf('good')!.reason, 'status 200');
    assert.equal(stateOf('bad')!.state, 'failing');
    assert.equal(stateOf('bad')!.reason, 'status 500');
    assert.equal(stateOf('gone')!.state, 'failing');
    assert.equal(stateOf('gone')!.reason, 'connection refused');
    assert.ok(
      lines().some((l) => l.event === 'result' && l.instance === 'good' && l.changed === true && l.state === 'passing'),
      'the first passing result of good is marked as a change',
    );
    assert.ok(!lines().some((l) => l.instance === 'x'), 'another service is not checked');

    await client.delete().key('/services/web/gone');
    await waitFor(() => lines().some((l) => l.event === 'removed' && l.instance === 'gone'), 30_000, 'the removal');
    await put('late', { port: server.port, check: { http: '/health' } });
    await waitFor(() => stateOf('late')?.state === 'passing', 30_000, 'the new endpoint to pass');

    await watch.stop('SIGINT');
    assert.equal(await watch.exited, 0);
    watch = undefined;
  });
  it('ends quietly with exit 0 when its reader goes (`beacon health watch web | head -n 1`)', async () => {
    const beaconCmd = [process.execPath, ...BEACON_NODE_ARGS].join(' ');
    // Its own process group, so a failure can end the whole pipeline by the group's id.
    const shell = spawn('bash', ['-c', `${beaconCmd} health watch web --interval 200ms --etcd ${etcd.url} 2>${dir}/epipe.stderr | head -n 1; echo "beacon exited \${PIPESTATUS[0]}"`], { detached: true });
    let out = '';
    shell.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const done = new Promise<void>((resolve) => shell.once('exit', () => resolve()));
    try {
      // head prints the first line and goes; the next result beacon prints goes into a closed pipe.
      await waitFor(() => out.includes('beacon exited'), 30_000, 'beacon to end after its reader went');
      await done;
      assert.match(out, /^\{"time":[^\n]*\}\nbeacon exited 0\n$/);
      const stderr = readFileSync(`${dir}/epipe.stderr`, 'utf8');
      assert.doesNotMatch(stderr, /EPIPE|Error|    at /, stderr);
    } finally {
      if (shell.exitCode === null) process.kill(-shell.pid!, 'SIGKILL');
    }
  });
});
