import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, logLines, TestNginx, waitFor } from '../../harness/index.js';
import { Stack, startBackends, waitForLog } from './stack.js';

/**
 * Issue 14 item 2 on real nginx and etcd: records nginx would refuse never
 * freeze the other services. Each offender is refused at validation, served
 * in a form nginx takes, or quarantined (named in one log line, on the status
 * page and in a metric) while every other service keeps updating.
 */
for (const mode of ['reload', 'dynamic'] as const) describe(`lbsync isolates what nginx refuses (owned file, ${mode} mode)`, function () {
  this.timeout(120_000);
  const stack = new Stack();
  // Dynamic mode renders and activates through the Lua balancer's path; a structural reload nginx refuses is isolated all the same.
  if (mode === 'dynamic') stack.nginx = new TestNginx({ lua: true });
  let backends: Awaited<ReturnType<typeof startBackends>>;
  let statusPort = 0;
  let metricsPort = 0;
  let log = '';

  before(async () => {
    backends = await startBackends(8);
    statusPort = await freePort();
    metricsPort = await freePort();
    const port = (stack.nginx.port = await freePort());
    // The user's own config: an upstream "admin" and a proxy_pass to localhost:PORT (nginx's implicit upstream "localhost").
    await stack.start(`  upstream admin { server 127.0.0.1:${backends.ports[5]}; }
  server { listen 127.0.0.1:${port};
    location = /nginx-up { return 200 "up\\n"; }
    location / { proxy_pass http://web; }
    location /admin { proxy_pass http://admin; }
    location /lh { proxy_pass http://localhost:${backends.ports[6]}; }
    location /solo { proxy_pass http://solo; }
  }`, 'upstream web { server 127.0.0.1:1 down; }\nupstream solo { server 127.0.0.1:1 down; }\n');
    stack.nginx.writeConf('zz-user.conf', '# the user adds upstreams here later\n');
    await stack.put('web', 'w0', '127.0.0.1', backends.ports[0]!);
    ({ log } = stack.lbsync(['--nginx-mode', mode, '--health', 'off', '--status-port', String(statusPort), '--metrics-port', String(metricsPort)], 'isolation'));
    await waitFor(async () => (await stack.get()).body === 'b0', 15_000, 'web through nginx');
  });
  after(async () => {
    await stack.stop();
    await backends?.close();
  });

  it("never renders a service named like the user's own upstream or a proxy_pass host:port; names it and applies the rest", async () => {
    await stack.put('admin', 'a0', '127.0.0.1', backends.ports[1]!);
    await stack.put('localhost', 'l0', '127.0.0.1', backends.ports[2]!);
    await stack.put('web', 'w1', '127.0.0.1', backends.ports[3]!);
    await stack.client.delete().key('/services/web/w0');
    await waitFor(async () => (await stack.get()).body === 'b3', 10_000, 'the other service kept updating');
    const admin = await waitForLog(log, /^quarantined admin: /);
    assert.match(admin.msg, /clashes with the user's own "upstream admin" at .*nginx\.conf:\d+/);
    assert.match((await waitForLog(log, /^quarantined localhost: /)).msg, /implicit upstream of a \*_pass to localhost:PORT/);
    assert.equal(logLines(log).filter((l) => /^quarantined admin/.test(l.msg)).length, 1, 'one line, not one per apply');
    assert.ok(!/upstream (admin|localhost) \{/.test(stack.liveConf()));
    assert.equal((await stack.get('/admin')).body, 'b5', "the user's own upstream still serves");
    assert.equal((await stack.get('/lh')).body, 'b6');
    const status = (await (await fetch(`http://127.0.0.1:${statusPort}/status.json`)).json()) as { nginx: { quarantined?: Array<{ service: string; reason: string }> } };
    assert.deepEqual(status.nginx.quarantined?.map((q) => q.service).sort(), ['admin', 'localhost']);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.match(metrics, /beacon_lbsync_quarantined_services\{output="nginx",service="admin"\} 1/);
    assert.match(metrics, /beacon_lbsync_quarantines_total\{output="nginx"\} 2/);
  });

  it('refuses an IPv6 zone id at validation and serves a backup-only pool as normal members', async () => {
    await stack.put('zoned', 'z0', 'fe80::1%lo', 80);
    await stack.put('solo', 's0', '127.0.0.1', backends.ports[4]!, { meta: { backup: 'true' } });
    await waitFor(async () => (await stack.get('/solo')).body === 'b4', 10_000, 'the backup-only pool served');
    assert.match((await waitForLog(log, /^skipped \/services\/zoned\/z0/)).msg, /zone id/);
    assert.ok(!stack.liveConf().includes('fe80'));
    await stack.put('web', 'w2', '127.0.0.1', backends.ports[7]!);
    await waitFor(async () => (await stack.hits(6)).includes('b7'), 10_000, 'web still updates');
  });

  it('quarantines a service nginx -t refuses only in context (a duplicate upstream added later), then releases it once the clash goes', async () => {
    // The user adds "upstream shop" after lbsync started; nginx -t is the first to see the clash.
    writeFileSync(join(stack.nginx.confDir, 'conf.d', 'zz-user.conf'), `upstream shop { server 127.0.0.1:${backends.ports[5]}; }\n`);
    await stack.nginx.reload();
    await stack.put('shop', 'p0', '127.0.0.1', backends.ports[1]!);
    const line = await waitForLog(log, /^quarantined shop: /);
    assert.match(line.msg, /duplicate upstream "shop"|upstream shop/);
    const status = (await (await fetch(`http://127.0.0.1:${statusPort}/status.json`)).json()) as { nginx: { quarantined?: Array<{ service: string }> } };
    assert.ok(status.nginx.quarantined?.some((q) => q.service === 'shop'), JSON.stringify(status.nginx));
    await stack.put('web', 'w3', '127.0.0.1', backends.ports[2]!);
    await waitFor(async () => (await stack.hits(8)).includes('b2'), 10_000, 'web still updates');
    assert.ok((await stack.nginxAccepts()).ok);
    // The user removes theirs: with no other change, lbsync tries shop again and writes it.
    writeFileSync(join(stack.nginx.confDir, 'conf.d', 'zz-user.conf'), '# gone\n');
    await stack.nginx.reload();
    await waitForLog(log, /^released shop from quarantine/, 30_000);
    await waitFor(async () => stack.liveConf().includes('upstream shop {'), 10_000, 'shop written');
    assert.ok((await stack.nginxAccepts()).ok);
  });
});
