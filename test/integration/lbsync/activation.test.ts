import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { beacon, freePort, waitFor } from '../../harness/index.js';
import { logLines, Stack, startBackends, waitForLog } from './stack.js';

describe('lbsync → nginx activation: bursts, hostile values, refusals, rollback, kill -9', function () {
  this.timeout(180_000);
  const stack = new Stack();
  let backends: Awaited<ReturnType<typeof startBackends>>;

  before(async () => {
    await stack.start();
    backends = await startBackends(200);
  });
  afterEach(() => stack.killAll());
  after(async () => {
    await backends?.close();
    await stack.stop();
  });

  it('--dry-run prints the config and touches nothing; --once activates and exits', async () => {
    await stack.put('web', 'w0', '127.0.0.1', backends.ports[0]!);
    const before = stack.liveConf();
    const dry = await beacon([...stack.args(['--dry-run', '--health', 'off'])]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`upstream web \\{[^}]*server 127\\.0\\.0\\.1:${backends.ports[0]};`));
    assert.equal(stack.liveConf(), before, 'dry-run wrote nothing');
    const once = await beacon([...stack.args(['--once'])]);
    assert.equal(once.code, 0, once.stderr);
    await waitFor(async () => (await stack.get()).body === 'b0', 20_000, 'the endpoint to answer after --once');
    await stack.client.delete().key('/services/web/w0');
  });

  it('applies 200 records put in a burst with at most 5 reloads (health on); all 200 are in the config soon after', async () => {
    // The coalescing window is wide (1 s of quiet, at most 5 s) so that the
    // bound holds however slowly a loaded machine delivers the burst; how
    // few reloads the default window gives, and how fast, is bench/lbsync.ts's job.
    // Counted from lbsync's own log: a metrics port picked by freePort() can be
    // taken by another process on a shared machine before lbsync binds it.
    const { proc, log } = stack.lbsync(['--health-interval', '1s', '--wait', '1s:5s'], 'burst');
    const count = (pattern: RegExp) => logLines(log).filter((l) => pattern.test(l.msg)).length;
    const RELOADED = /^reloaded nginx/;
    const BURST_PASSING = /^marked burst\/b\d+ passing/;
    await waitForLog(log, /^started lbsync/);
    await waitForLog(log, /^(reloaded|unchanged)/);
    const before = count(RELOADED);
    const started = performance.now();
    await Promise.all(backends.ports.map((port, i) => stack.put('burst', `b${String(i).padStart(3, '0')}`, '127.0.0.1', port, { check: { http: '/health' } })));
    await waitFor(() => (stack.liveConf().match(/server 127\.0\.0\.1:\d+;/g) ?? []).length >= 200, 30_000, 'all 200 servers in the config');
    const elapsed = performance.now() - started;
    // Count only once lbsync has seen every endpoint's first health result
    // (the applies those could cause come with them) and has finished the
    // reload that serves all 200 (joins settle for MIN before it).
    await waitFor(() => count(BURST_PASSING) >= 200, 30_000, 'all 200 endpoints to pass their first check');
    await waitFor(() => logLines(log).some((l) => /^reloaded nginx \(\d+ upstreams?, 20\d servers/.test(l.msg)), 30_000, 'the reload that serves all 200');
    const reloads = count(RELOADED) - before;
    console.log(`      200-record burst: ${reloads} reloads, all 200 in the config after ${Math.round(elapsed)} ms`);
    assert.ok(reloads >= 1 && reloads <= 5, `${reloads} reloads`);
    assert.equal((stack.liveConf().match(/server 127\.0\.0\.1:\d+;/g) ?? []).length, 200);
    await proc.stop();
  });

  it('never writes a hostile record, and one unresolvable host does not block other changes', async () => {
    const { proc, log } = stack.lbsync(['--health', 'off'], 'hostile');
    await waitForLog(log, /^started lbsync/);
    await stack.client.put('/services/web/evil').value(JSON.stringify({ service: 'web', instance: 'evil', host: '1.2.3.4; include /etc/passwd', port: 80 }));
    await stack.put('web', 'dns', 'no-such-host.invalid', 80);
    await stack.put('web', 'good', '127.0.0.1', backends.ports[7]!);
    await waitFor(async () => (await stack.get()).body === 'b7', 10_000, 'the good endpoint to answer');
    const conf = stack.liveConf();
    assert.doesNotMatch(conf, /passwd|no-such-host/);
    await waitForLog(log, /^skipped \/services\/web\/evil: host/);
    await waitForLog(log, /^skipped .*no-such-host\.invalid/);
    assert.ok((await stack.nginxAccepts()).ok);
    await stack.client.delete().key('/services/web/evil');
    await stack.client.delete().key('/services/web/dns');
    await proc.stop();
  });

  it('quarantines the service whose block nginx -t refuses, logs nginx\'s own message, and applies the rest', async () => {
    // A server block whose listen directive nginx refuses (a duplicate listen on the same address in one server).
    const port = await freePort();
    const cfg = join(stack.logs, 'refuse.yaml');
    writeFileSync(cfg, `upstreams:\n  bad:\n    servers: [{ listen: ["127.0.0.1:${port}", "127.0.0.1:${port}"] }]\n`);
    const { proc, log } = stack.lbsync(['--health', 'off', '--config', cfg], 'refuse');
    await waitForLog(log, /^started lbsync/);
    await stack.put('web', 'good', '127.0.0.1', backends.ports[8]!);
    await waitFor(async () => (await stack.get()).body === 'b8', 10_000, 'the good endpoint');
    const good = stack.liveConf();
    await stack.put('bad', 'x', '127.0.0.1', backends.ports[9]!);
    const refused = await waitForLog(log, /^quarantined bad: /);
    assert.match(refused.msg, /duplicate listen/);
    assert.ok(!stack.liveConf().includes(`${port}`), 'the refused server block never reaches the live file');
    assert.match(stack.liveConf(), /upstream bad \{[^}]*server 127\.0\.0\.1:1 down;[^}]*\}/, 'a 502 placeholder stands in, so a proxy_pass to it stays valid');
    assert.ok(stack.liveConf().includes(good.slice(good.indexOf('upstream web {'))), 'web as it was');
    assert.equal((await stack.get()).body, 'b8');

    // Nothing is stuck: the other service keeps updating while bad is quarantined, and bad/x going is applied with it.
    await stack.put('web', 'good', '127.0.0.1', backends.ports[11]!);
    await stack.client.delete().key('/services/bad/x');
    await waitFor(async () => (await stack.get()).body === 'b11', 20_000, 'the moved endpoint to answer after the refusal');
    assert.ok((await stack.nginxAccepts()).ok);
    assert.doesNotMatch(stack.liveConf(), new RegExp(`listen 127\\.0\\.0\\.1:${port}`), 'the refused server block never went live');
    await proc.stop();
  });

  it('rolls back when nginx does not take a reload (new config cannot bind its port)', async () => {
    const busy: Server = createServer();
    const port = await new Promise<number>((resolve) => busy.listen(0, '127.0.0.1', () => resolve((busy.address() as { port: number }).port)));
    const cfg = join(stack.logs, 'rollback.yaml');
    writeFileSync(cfg, `upstreams:\n  side:\n    servers: [{ listen: "127.0.0.1:${port}" }]\n`);
    const { proc, log } = stack.lbsync(['--health', 'off', '--config', cfg, '--confirm-timeout', '1s'], 'rollback');
    await waitForLog(log, /^started lbsync/);
    await waitForLog(log, /^(reloaded|unchanged)/);
    const good = stack.liveConf();
    await stack.put('side', 's1', '127.0.0.1', backends.ports[10]!);
    const line = await waitForLog(log, /^rolled back nginx config/);
    assert.match(line.msg, /Address already in use|bind/);
    // lbsync retries the reload with backoff (it takes the config once the port is free): stop it, letting the attempt under way finish.
    await proc.stop();
    assert.equal(stack.liveConf(), good, 'the file on disk is the last good config again');
    assert.ok((await stack.nginxAccepts()).ok);
    busy.close();
    await stack.client.delete().key('/services/side/s1');
  });

  it('leaves a config nginx -t accepts after kill -9 at random moments during 100 rapid changes', async () => {
    for (let round = 0; round < 6; round++) {
      const { proc, log } = stack.lbsync(['--health', 'off', '--wait', '0ms:0ms'], `kill-${round}`);
      await waitForLog(log, /^started lbsync/);
      const killAt = 5 + Math.floor(Math.random() * 150);
      const killer = delay(killAt).then(() => proc.stop('SIGKILL'));
      for (let i = 0; i < 100; i++) {
        const instance = `k${i % 20}`;
        if (i % 17 === 0) await stack.put('web', instance, 'bad-host-that-does-not-resolve.invalid', 80);
        else if (i % 13 === 0) await stack.client.put(`/services/web/${instance}`).value(`{"service":"web","instance":"${instance}","host":"1.2.3.4; include /etc/passwd","port":80}`);
        else await stack.put('web', instance, '127.0.0.1', backends.ports[(i * 7) % 200]!);
      }
      await killer;
      const check = await stack.nginxAccepts();
      assert.ok(check.ok, `round ${round} (kill after ${killAt} ms): nginx -t refused the config on disk: ${check.output}`);
      assert.doesNotMatch(stack.liveConf(), /passwd/);
    }
  });
});
