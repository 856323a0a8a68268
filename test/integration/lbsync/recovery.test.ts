import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { BEACON_NODE_ARGS, freePort, startProcess, waitFor, type Started } from '../../harness/index.js';
import { logLines, run, Stack, startBackends, waitForLog } from './stack.js';

/**
 * Issue 14 items 1 and 5: lbsync never dies from nginx, the disk or a reload
 * being away, and converges on its own (no etcd change) once they are back.
 */
describe('lbsync recovers from nginx stopped, failed reloads and a read-only or full disk, with no new change', function () {
  this.timeout(180_000);
  let backends: Awaited<ReturnType<typeof startBackends>>;

  before(async () => {
    backends = await startBackends(6, 'r');
  });
  after(async () => backends?.close());

  /** The main config's server block (kept so nginx can be started again with the same config). */
  const body = (port: number) => `  server { listen 127.0.0.1:${port};
    location = /nginx-up { return 200 "up\\n"; }
    location / { proxy_pass http://web; proxy_connect_timeout 1s; }
  }`;

  /**
   * Starts lbsync in a session of its own (setsid), as a service manager
   * would: were it to signal its process group (kill(0)), only it would die,
   * not the test runner, and the test would see that.
   */
  function lbsyncAlone(stack: Stack, extra: string[], name: string): { proc: Started; log: string } {
    const log = join(stack.logs, `${name}-${Date.now()}.log`);
    const proc = startProcess('setsid', [process.execPath, ...BEACON_NODE_ARGS, ...stack.args(extra)], log);
    started.push(proc);
    return { proc, log };
  }
  const started: Started[] = [];
  afterEach(async () => {
    for (const p of started.splice(0)) await p.stop('SIGKILL');
  });

  const alive = (proc: Started) => proc.child.exitCode === null && proc.child.signalCode === null;

  /** Waits for `check` after the cause of a failure went away, and prints how long lbsync took on its own. */
  async function converges(what: string, check: () => Promise<boolean>): Promise<void> {
    const fixedAt = performance.now();
    await waitFor(check, 20_000, what);
    console.log(`      converged ${Math.round(performance.now() - fixedAt)} ms after ${what}`);
  }

  /** A stack whose nginx can be stopped and started again with the same main config (startNginxAgain). */
  function restartableStack(): Stack {
    const stack = new Stack();
    before(async () => {
      stack.nginx.port = await freePort();
      await stack.start(body(stack.nginx.port));
    });
    after(() => stack.stop());
    return stack;
  }
  const startNginxAgain = (stack: Stack) => stack.nginx.start(body(stack.nginx.port));

  describe('nginx stopped under a running lbsync (main config with a pid directive)', () => {
    const stack = restartableStack();

    it('survives a put while nginx is down (empty pid file), logs it, and converges once nginx is back', async () => {
      const { proc, log } = lbsyncAlone(stack, ['--health', 'off'], 'nginx-down');
      await waitForLog(log, /^started lbsync/);
      await stack.put('web', 'a', '127.0.0.1', backends.ports[0]!);
      await waitFor(async () => (await stack.get()).body === 'r0', 10_000, 'r0 through nginx');

      await stack.nginx.stop();
      await stack.put('web', 'a', '127.0.0.1', backends.ports[1]!);
      const failed = await waitForLog(log, /^(failed to apply|rolled back) nginx.*not running.*retrying in \d+ms/);
      assert.match(failed.msg, /nginx\.pid/, 'the line names the pid file');
      await waitFor(() => logLines(log).filter((l) => /retrying in/.test(l.msg)).length >= 1, 5000, 'a retry');
      // Retries keep happening (at debug level), and lbsync is still there after several of them.
      await new Promise((r) => setTimeout(r, 2000));
      assert.ok(alive(proc), `lbsync died while nginx was down (exit ${proc.child.exitCode}, signal ${proc.child.signalCode})`);
      assert.equal(logLines(log).filter((l) => /^(failed to apply|rolled back)/.test(l.msg)).length, 1, 'the same failure is logged once at error level, not once per retry');

      await startNginxAgain(stack);
      // No etcd change from here: lbsync's own retry must bring nginx in step.
      await converges('nginx came back', async () => (await stack.get().catch(() => ({ body: '' }))).body === 'r1');
      await waitForLog(log, /^recovered nginx: reloaded nginx/);
      assert.ok(alive(proc));
    });

    it('refuses to signal a pid that is not an nginx master (stale pid file)', async () => {
      const { proc, log } = lbsyncAlone(stack, ['--health', 'off'], 'stale-pid');
      await waitForLog(log, /^started lbsync/);
      await waitForLog(log, /^(reloaded|unchanged)/);
      await stack.nginx.stop();
      // A pid file left behind, now naming a live process that is not nginx (this test runner).
      writeFileSync(stack.nginx.pidFile, `${process.pid}\n`);
      await stack.put('web', 'a', '127.0.0.1', backends.ports[2]!);
      const line = await waitForLog(log, new RegExp(`pid ${process.pid} from .* is not an nginx master`));
      assert.match(line.msg, /retrying in/);
      assert.ok(alive(proc));
      rmSync(stack.nginx.pidFile, { force: true });
      await startNginxAgain(stack);
      await waitFor(async () => (await stack.get().catch(() => ({ body: '' }))).body === 'r2', 15_000, 'r2 after nginx came back');
    });
  });

  describe('a reload nginx does not take (the new config cannot bind its port)', () => {
    const stack = new Stack();
    before(() => stack.start());
    after(() => stack.stop());

    it('rolls back and reloads, then applies on its own once the port is free', async () => {
      const busy: Server = createServer();
      const port = await new Promise<number>((resolve) => busy.listen(0, '127.0.0.1', () => resolve((busy.address() as { port: number }).port)));
      const cfg = join(stack.logs, 'bind.yaml');
      writeFileSync(cfg, `upstreams:\n  side:\n    servers: [{ listen: "127.0.0.1:${port}" }]\n`);
      const { proc, log } = lbsyncAlone(stack, ['--health', 'off', '--config', cfg, '--confirm-timeout', '1s', '--log-level', 'debug'], 'bind');
      await waitForLog(log, /^started lbsync/);
      await waitForLog(log, /^(reloaded|unchanged)/);
      await stack.put('side', 's1', '127.0.0.1', backends.ports[3]!);
      const line = await waitForLog(log, /^rolled back nginx config/);
      assert.match(line.msg, /Address already in use|bind/);
      assert.match(line.msg, /reloaded nginx.*retrying in \d+ms/);
      assert.ok((await stack.nginxAccepts()).ok, 'what is on disk is a config nginx accepts');
      // Retries go on while the port is held; each attempt's nginx pids differ, yet it is one failure to the operator.
      await waitFor(() => logLines(log).filter((l) => /^rolled back nginx config/.test(l.msg)).length >= 3, 20_000, 'three attempts');
      const rolled = logLines(log).filter((l) => /^rolled back nginx config/.test(l.msg));
      assert.deepEqual(rolled.map((l) => l.level), [50, ...rolled.slice(1).map(() => 20)], `error once, then debug: ${rolled.map((l) => l.msg).join(' | ')}`);
      await new Promise<void>((r) => busy.close(() => r()));
      // Nothing changes in etcd: the retry alone must make the side server live.
      await converges('the port was freed', async () => (await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text(), () => '')).trim() === 'r3');
      await waitForLog(log, /^recovered nginx/);
      assert.ok(alive(proc));
      await stack.client.delete().key('/services/side/s1');
    });
  });

  describe('edit-in-place of a file the operator left unreadable for a moment', () => {
    const stack = restartableStack();

    it('retries a config it cannot parse and applies once the operator has fixed it, with no new record', async () => {
      const { proc, log } = lbsyncAlone(stack, ['--health', 'off', '--nginx-edit', stack.conf, '--services', 'web'], 'edit-broken');
      await waitForLog(log, /^started lbsync/);
      await stack.put('web', 'a', '127.0.0.1', backends.ports[0]!);
      await waitFor(async () => (await stack.get()).body === 'r0', 10_000, 'r0 through nginx');
      const fixed = stack.liveConf();
      // Half-saved by an editor: a block left open. nginx still runs the last good config.
      writeFileSync(stack.conf, `${fixed}upstream admin {\n  server 127.0.0.1:1;\n`);
      await stack.put('web', 'a', '127.0.0.1', backends.ports[1]!);
      const line = await waitForLog(log, /^failed to apply nginx: .*is not closed.*retrying in \d+ms/);
      assert.equal(line.code, 'BEACON_NGINX_CONF');
      assert.equal((await stack.get()).body, 'r0');
      writeFileSync(stack.conf, fixed);
      await converges('the operator fixed the file', async () => (await stack.get()).body === 'r1');
      assert.ok(alive(proc));
    });

    it("rolls back to the operator's latest bytes, not to an older copy, when a reload fails", async () => {
      const { proc, log } = lbsyncAlone(stack, ['--health', 'off', '--nginx-edit', stack.conf, '--services', 'web'], 'edit-rollback');
      await waitForLog(log, /^started lbsync/);
      await waitForLog(log, /^(reloaded|unchanged)/);
      // The operator edits the file by hand (no reload), then nginx goes away and a record changes.
      writeFileSync(stack.conf, `${stack.liveConf()}# operator's note, written after lbsync's last apply\n`);
      await stack.nginx.stop();
      await stack.put('web', 'a', '127.0.0.1', backends.ports[2]!);
      await waitForLog(log, /^rolled back nginx config: .*not running/);
      assert.match(stack.liveConf(), /# operator's note/, 'the rollback kept the edit');
      await startNginxAgain(stack);
      await converges('nginx came back (edit-in-place)', async () => (await stack.get().catch(() => ({ body: '' }))).body === 'r2');
      assert.match(stack.liveConf(), /# operator's note/);
      assert.ok(alive(proc));
    });
  });

  describe('a read-only or full disk under the file lbsync writes', () => {
    const stack = new Stack();
    let mount = '';
    before(async function () {
      // The conf.d directory nginx includes becomes a 1 MB tmpfs that the test can make read-only or fill.
      mount = join(stack.nginx.confDir, 'conf.d');
      mkdirSync(mount, { recursive: true });
      await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'beacon-test', mount]);
      await stack.start();
    });
    after(async () => {
      await stack.killAll();
      if (mount) await run('umount', ['-l', mount]).catch(() => undefined);
      await stack.stop();
    });

    const staged = () => readdirSync(mount).filter((n) => n.includes('beacon-staged'));

    it('keeps serving, retries, and converges once the disk is writable or has room again', async () => {
      const { proc, log } = lbsyncAlone(stack, ['--health', 'off'], 'disk');
      await waitForLog(log, /^started lbsync/);
      await stack.put('web', 'a', '127.0.0.1', backends.ports[4]!);
      await waitFor(async () => (await stack.get()).body === 'r4', 10_000, 'r4 through nginx');

      await run('mount', ['-o', 'remount,ro', mount]);
      await stack.put('web', 'a', '127.0.0.1', backends.ports[5]!);
      const ro = await waitForLog(log, /^failed to apply nginx: cannot write .*EROFS.*retrying in \d+ms/);
      assert.equal(ro.code, 'BEACON_NGINX_WRITE');
      assert.equal((await stack.get()).body, 'r4', 'nginx keeps the last good config');
      await run('mount', ['-o', 'remount,rw', mount]);
      await converges('the disk was writable again', async () => (await stack.get()).body === 'r5');

      // Full: a dotfile (no include pattern reads it) takes every block.
      await run('dd', ['if=/dev/zero', `of=${join(mount, '.filler')}`, 'bs=64k']).catch(() => undefined);
      await stack.put('web', 'a', '127.0.0.1', backends.ports[0]!);
      await waitForLog(log, /^failed to apply nginx: cannot write .*ENOSPC.*retrying in \d+ms/);
      assert.deepEqual(staged(), [], 'no staged file is left behind on a full disk');
      assert.equal((await stack.get()).body, 'r5');
      assert.ok((await stack.nginxAccepts()).ok, 'what is on disk is still a config nginx accepts');
      rmSync(join(mount, '.filler'));
      await converges('the disk had room again', async () => (await stack.get()).body === 'r0');
      assert.deepEqual(staged(), []);
      assert.ok(alive(proc));
    });
  });
});
