import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request, type Server } from 'node:http';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { beacon, freePort, TestNginx, waitFor } from '../../harness/index.js';
import { Stack, waitForLog } from './stack.js';

/** A backend that can fail its health check and be stopped gracefully. */
class Backend {
  healthy = true;
  port = 0;
  private server: Server | undefined;
  constructor(readonly name: string, private readonly host = '127.0.0.1') {}
  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      if (req.url === '/health') {
        res.statusCode = this.healthy ? 200 : 503;
        res.end(this.healthy ? 'ok\n' : 'sick\n');
      } else res.end(`${this.name}\n`);
    });
    await new Promise<void>((r) => this.server!.listen(this.port, this.host, () => r()));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }
  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeIdleConnections();
    await new Promise((r) => s.close(r));
  }
}

function reconfigurings(stack: Stack): number {
  return (readFileSync(join(stack.nginx.prefix, 'logs', 'error.log'), 'utf8').match(/SIGHUP\) received/g) ?? []).length;
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(name)).reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

/** A raw call on the control socket, as another local process would make it. */
function control(socket: string, method: string, body: string | undefined, secret?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path: '/beacon/upstreams', method, headers: secret ? { 'x-beacon-secret': secret } : {} }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('lbsync --nginx-mode dynamic: endpoint changes without reloads (real nginx with the Lua module)', function () {
  this.timeout(240_000);
  const stack = new Stack();
  stack.nginx = new TestNginx({ lua: true });
  const backends: Backend[] = [];
  let metricsPort = 0;
  let apiPort = 0;
  let sixPort = 0;
  let latePort = 0;
  let configFile = '';
  let socket = '';

  const served = async (n = 24): Promise<Set<string>> => new Set(await stack.hits(n));
  const flags = () => ['--nginx-mode', 'dynamic', '--config', configFile, '--health-interval', '200ms', '--health-fall', '1', '--health-rise', '1', '--wait', '0ms:20ms'];

  before(async () => {
    await stack.start();
    for (let i = 0; i < 6; i++) backends.push(await new Backend(`b${i}`).start());
    apiPort = await freePort();
    sixPort = await freePort();
    latePort = await freePort();
    configFile = join(stack.logs, 'lbsync.yaml');
    writeFileSync(configFile, `upstreams:\n  web: { keepalive: 8 }\n  api: { servers: [{ listen: "127.0.0.1:${apiPort}" }] }\n  six: { servers: [{ listen: "127.0.0.1:${sixPort}" }] }\n  late: { servers: [{ listen: "127.0.0.1:${latePort}" }] }\n`);
    socket = join(dirname(stack.conf), '.beacon-control.sock');
  });
  afterEach(() => stack.killAll());
  after(async () => {
    for (const b of backends) await b.stop();
    await stack.stop();
  });

  it('adds, removes, fails and recovers endpoints with no nginx reload; a new service reloads once and is served', async () => {
    for (const b of backends.slice(0, 3)) await stack.put('web', b.name, '127.0.0.1', b.port, { check: { http: '/health' } });
    metricsPort = await freePort();
    const { log } = stack.lbsync([...flags(), '--metrics-port', String(metricsPort)], 'dynamic');
    await waitForLog(log, /^running nginx in dynamic mode/);
    await waitFor(async () => (await served()).size === 3, 20_000, 'b0..b2 served');
    const reloadsBefore = reconfigurings(stack);
    assert.match(stack.liveConf(), /balancer_by_lua_block \{[^}]*balance\("web", \d+\)/);

    await stack.put('web', 'b3', '127.0.0.1', backends[3]!.port, { check: { http: '/health' } });
    await waitFor(async () => (await served()).has('b3'), 20_000, 'b3 served after it was added');
    await stack.client.delete().key('/services/web/b0');
    await waitFor(async () => !(await served()).has('b0'), 20_000, 'b0 gone after its record was removed');
    backends[1]!.healthy = false;
    await waitFor(async () => !(await served()).has('b1'), 20_000, 'b1 out while failing');
    backends[1]!.healthy = true;
    await waitFor(async () => (await served()).has('b1'), 20_000, 'b1 back after recovering');
    // The file follows (written without a reload), so a restarted nginx starts with this set.
    await waitFor(() => !stack.liveConf().includes(`:${backends[0]!.port};`) && stack.liveConf().includes(`:${backends[3]!.port};`), 10_000, 'the file to follow');

    const pushes = await metric(metricsPort, 'beacon_lbsync_nginx_pushes_total');
    assert.ok(pushes >= 2, `lbsync pushed the changes (${pushes}): ${(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()).split('\n').filter((l) => l.includes('nginx')).join(' / ')}`);
    assert.ok((await metric(metricsPort, 'beacon_lbsync_nginx_dynamic_version')) > 0, 'nginx confirmed a version');
    assert.equal(reconfigurings(stack), reloadsBefore, 'no reload for endpoint changes');

    const backendApi = backends[4]!;
    await stack.put('api', 'a0', '127.0.0.1', backendApi.port);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${apiPort}/`).then((r) => r.text(), () => '')).trim() === 'b4', 20_000, 'the new service served');
    await delay(500);
    assert.equal(reconfigurings(stack), reloadsBefore + 1, readFileSync(join(stack.nginx.prefix, 'logs', 'error.log'), 'utf8').split('\n').filter((l) => /signal|reconfiguring|beacon/.test(l)).join('\n'));
    await stack.client.delete().key('/services/api/a0');
  });

  it('refuses a push from another local process: without the secret, and hostile values even with it', async () => {
    const secret = readFileSync(join(dirname(stack.conf), '.beacon-control.secret'), 'utf8').trim();
    const before = await served();
    assert.equal((await control(socket, 'POST', 'version 9999999999999\nservice web 9999999999999 1 10\npeer 10.9.9.9 80 1\n')).status, 403);
    assert.equal((await control(socket, 'POST', 'version 1\n', 'not-the-secret')).status, 403);
    const hostile = [
      'peer 127.0.0.1;evil 80 1',
      'peer 127.0.0.1 70000 1',
      'peer 127.0.0.1 80 0',
      'peer 999.1.1.1 80 1',
      'peer example.com 80 1',
    ];
    for (const line of hostile) {
      const r = await control(socket, 'POST', `version 9999999999999\nservice web 9999999999999 1 10\n${line}\n`, secret);
      assert.equal(r.status, 400, `${line}: ${r.text}`);
    }
    assert.equal((await control(socket, 'POST', 'version 9999999999999\nservice we"b 1 1 10\n', secret)).status, 400);
    const state = await control(socket, 'GET', undefined, secret);
    assert.match(state.text, /^version \d+/);
    assert.notEqual(state.text.match(/^version (\d+)/)![1], '9999999999999');
    assert.deepEqual(await served(), before, 'the served set is unchanged');
  });

  it('re-pushes after an nginx stop + start and after lbsync kill -9, with no reload and no 502', async () => {
    const { log, proc } = stack.lbsync(flags(), 'restarts');
    await waitForLog(log, /^running nginx in dynamic mode/);
    await waitFor(async () => (await served()).size === 3, 20_000, 'b1..b3 served');
    await stack.nginx.stop();
    await stack.put('web', 'b5', '127.0.0.1', backends[5]!.port, { check: { http: '/health' } });
    await stack.nginx.start();
    // The file held the current servers, the dict is empty: nothing answers 502.
    const answers = await stack.hits(10);
    assert.ok(!answers.some((a) => a.startsWith('HTTP')), answers.join(','));
    await waitFor(async () => (await served()).has('b5'), 20_000, 'b5 served after nginx came back');
    // The restarted nginx's dict was empty; lbsync noticed and pushed again.
    const secret = readFileSync(join(dirname(stack.conf), '.beacon-control.secret'), 'utf8').trim();
    await waitFor(async () => Number((await control(socket, 'GET', undefined, secret)).text.match(/^version (\d+)/)?.[1]) > 0, 10_000, 'lbsync to push into the restarted nginx');
    const reloadsBefore = reconfigurings(stack);

    await proc.stop('SIGKILL');
    await stack.client.delete().key('/services/web/b5');
    assert.ok(!(await stack.hits(10)).some((a) => a.startsWith('HTTP')), 'a killed lbsync left a valid set');
    const again = stack.lbsync(flags(), 'after-kill');
    await waitForLog(again.log, /^running nginx in dynamic mode/);
    await waitFor(async () => !(await served()).has('b5'), 20_000, 'b5 gone after lbsync restarted');
    assert.equal(reconfigurings(stack), reloadsBefore, 'the restarted lbsync pushed, no reload');
  });

  it('keep-alive clients (8 sockets) see no failed request through a rolling replacement', async () => {
    const { log } = stack.lbsync(flags(), 'rolling');
    await waitForLog(log, /^running nginx in dynamic mode/);
    await waitFor(async () => (await served()).size === 3, 20_000, 'b1..b3 served');
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    let ok = 0;
    const failures: string[] = [];
    let running = true;
    const client = async () => {
      while (running) {
        await new Promise<void>((resolve) => {
          const req = request({ host: '127.0.0.1', port: stack.nginx.port, path: '/', agent }, (res) => {
            res.resume();
            res.on('end', () => {
              if (res.statusCode === 200) ok++;
              else failures.push(`HTTP ${res.statusCode}`);
              resolve();
            });
          });
          req.on('error', (err) => {
            failures.push(err.message);
            resolve();
          });
          req.end();
        });
      }
    };
    const clients = Array.from({ length: 8 }, client);
    // Replace b1..b3 by fresh backends one at a time, as a rolling deploy does:
    // the new one is registered, the old record goes, then the old process stops.
    const olds = ['b1', 'b2', 'b3'];
    for (const [i, old] of olds.entries()) {
      const fresh = await new Backend(`n${i}`).start();
      backends.push(fresh);
      await stack.put('web', fresh.name, '127.0.0.1', fresh.port, { check: { http: '/health' } });
      await waitFor(async () => (await served()).has(fresh.name), 20_000, `${fresh.name} served`);
      await stack.client.delete().key(`/services/web/${old}`);
      await delay(300);
      await backends.find((b) => b.name === old)!.stop();
      await delay(300);
    }
    running = false;
    await Promise.all(clients);
    agent.destroy();
    console.log(`      rolling replacement, keep-alive: ${ok} ok, ${failures.length} failed`);
    assert.ok(ok > 100, `only ${ok} requests`);
    assert.deepEqual(failures, []);
  });

  it('a retry picks from a set pushed after the first try: the request is served by the new endpoint, not failed on the old set', async () => {
    // Three backends that take a request and die without answering, the
    // first of them once the test has pushed a set with only a good backend:
    // nginx retries (an error before any response byte), and only the
    // newest set has a peer that answers; the old set's other two die too.
    const good = await new Backend('good').start();
    backends.push(good);
    const held: Array<() => void> = [];
    const dying: Server[] = [];
    let replaced: Promise<void> | undefined;
    for (let i = 0; i < 3; i++) {
      const server = createServer((req) => {
        replaced ??= (async () => {
          for (let d = 0; d < 3; d++) await stack.client.delete().key(`/services/late/d${d}`);
          await stack.put('late', 'good', '127.0.0.1', good.port);
          await waitFor(() => stack.liveConf().includes(`:${good.port};`) && !dying.some((s) => stack.liveConf().includes(`:${(s.address() as { port: number }).port};`)), 10_000, 'the file (written after the push) with only the good backend');
        })();
        held.push(() => req.socket.destroy());
        void replaced.then(() => req.socket.destroy());
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      dying.push(server);
    }
    try {
      const ports = dying.map((s) => (s.address() as { port: number }).port);
      for (const [d, port] of ports.entries()) await stack.put('late', `d${d}`, '127.0.0.1', port);
      const { log } = stack.lbsync(flags(), 'retry-newest');
      await waitForLog(log, /^running nginx in dynamic mode/);
      // The new service's block is a reload; its set is then pushed and confirmed.
      await waitForLog(log, /^reloaded nginx for a structural change .*; version \d+ confirmed\)/);
      assert.ok(ports.every((p) => stack.liveConf().includes(`:${p};`)), 'the three dying backends in the file');
      const answer = await fetch(`http://127.0.0.1:${latePort}/`, { signal: AbortSignal.timeout(20_000) }).then(async (r) => `${r.status} ${(await r.text()).trim()}`);
      assert.ok(replaced, 'a dying backend got the request first');
      assert.equal(answer, '200 good');
    } finally {
      for (const drop of held) drop();
      for (const s of dying) s.closeAllConnections(), s.close();
      for (let d = 0; d < 3; d++) await stack.client.delete().key(`/services/late/d${d}`);
      await stack.client.delete().key('/services/late/good');
    }
  });

  it('keeps round robin going across pushes: with a push before every request, requests still spread over the peers', async () => {
    // No lbsync: pushes go straight into the control socket, as lbsync's do
    // in a rolling deploy (many a second). A round robin restarted by each
    // new set would send every one of these requests to the first peer.
    const secret = readFileSync(join(dirname(stack.conf), '.beacon-control.secret'), 'utf8').trim();
    const spread: Backend[] = [];
    for (let i = 0; i < 6; i++) spread.push(await new Backend(`rr${i}`).start());
    backends.push(...spread);
    const held = Number((await control(socket, 'GET', undefined, secret)).text.match(/^version (\d+)/)?.[1]);
    assert.ok(held > 0, 'nginx holds a pushed version');
    const seen: string[] = [];
    for (let k = 1; k <= 24; k++) {
      // Every push is a new set: alternately with and without the last backend.
      const members = k % 2 ? spread : spread.slice(0, -1);
      const body = `version ${held + k}\nservice web ${held + k} 1 10\n${members.map((b) => `peer 127.0.0.1 ${b.port} 1`).join('\n')}\n`;
      assert.equal((await control(socket, 'POST', body, secret)).status, 200);
      seen.push(...(await stack.hits(1)));
    }
    const met = new Set(seen);
    assert.ok(met.size >= 5 && seen.every((s) => s.startsWith('rr')), `24 requests, each after a push, met ${[...met].join(', ')}`);
  });

  it('serves IPv6 endpoints pushed without a reload', async () => {
    const { log } = stack.lbsync(flags(), 'ipv6');
    await waitForLog(log, /^running nginx in dynamic mode/);
    const v6 = [await new Backend('six0', '::1').start(), await new Backend('six1', '::1').start()];
    backends.push(...v6);
    const six = async () => (await fetch(`http://127.0.0.1:${sixPort}/`).then((r) => r.text(), () => '')).trim();
    await stack.put('six', 'x0', '::1', v6[0]!.port);
    await waitFor(async () => (await six()) === 'six0', 20_000, 'six0 over IPv6');
    await waitForLog(log, /version \d+ confirmed/);
    const before = reconfigurings(stack);
    await stack.put('six', 'x1', '::1', v6[1]!.port);
    await stack.client.delete().key('/services/six/x0');
    await waitFor(async () => (await six()) === 'six1', 20_000, 'six1 over IPv6 after six0 went');
    await waitForLog(log, /^pushed 1 service/);
    assert.equal(reconfigurings(stack), before, 'no reload');
    await stack.client.delete().key('/services/six/x1');
  });

  it('lbsync kill -9 during 100 changes: nginx keeps answering (no 502), and a new lbsync converges', async () => {
    const first = stack.lbsync(flags(), 'kill-during');
    await waitForLog(first.log, /^running nginx in dynamic mode/);
    await waitFor(async () => (await served()).size === 3, 20_000, 'n0..n2 served');
    const extra = backends.find((b) => b.name === 'b4')!;
    let running = true;
    const bad: string[] = [];
    let answered = 0;
    const watcher = (async () => {
      while (running) {
        const r = await stack.get().catch((err: Error) => ({ status: 0, body: err.message }));
        if (r.status === 200) answered++;
        else bad.push(`${r.status} ${r.body.slice(0, 40)}`);
      }
    })();
    const killAt = 20 + Math.floor(Math.random() * 60);
    for (let i = 0; i < 100; i++) {
      if (i % 2 === 0) await stack.put('web', 'b4', '127.0.0.1', extra.port);
      else await stack.client.delete().key('/services/web/b4');
      if (i === killAt) await first.proc.stop('SIGKILL');
      await delay(5);
    }
    await stack.put('web', 'b4', '127.0.0.1', extra.port);
    const second = stack.lbsync(flags(), 'after-kill-during');
    await waitForLog(second.log, /^running nginx in dynamic mode/);
    let last = new Set<string>();
    // Which backends answer (a failed request is the watcher's to report, below).
    await waitFor(async () => ((last = await served()), ['n0', 'n1', 'n2', 'b4'].every((name) => last.has(name))), 20_000, 'n0..n2 and b4 served').catch((err: Error) => {
      throw new Error(`${err.message}; last served: ${[...last].join(', ')}; bad while running: ${bad.slice(-5).join(' | ')}`);
    });
    running = false;
    await watcher;
    assert.ok(answered > 50, `only ${answered} answers`);
    assert.deepEqual(bad, [], 'every request answered while endpoints passed');
    const accepted = await stack.nginxAccepts();
    assert.ok(accepted.ok, accepted.output);
    await stack.client.delete().key('/services/web/b4');
  });

  it('edit-in-place: the managed block gets the balancer, the glue goes beside it; endpoint changes do not reload', async () => {
    const edited = new TestNginx({ lua: true });
    try {
      const port = await freePort();
      // conf.d/*.conf is included from http { }, so beacon-dynamic.conf written beside the file is picked up.
      const conf = edited.writeConf('site.conf', `upstream shop {\n    server 127.0.0.1:1 down;\n    keepalive 4;\n}\nserver { listen 127.0.0.1:${port}; location / { proxy_pass http://shop; proxy_http_version 1.1; proxy_set_header Connection ""; } }\n`);
      await edited.start();
      const shop = backends.filter((b) => b.name === 'n1' || b.name === 'n2');
      await stack.put('shop', 's0', '127.0.0.1', shop[0]!.port);
      const { log } = stack.lbsync(['--nginx-edit', conf, '--nginx-test', edited.command('-t'), '--nginx-reload', edited.command('-s', 'reload'), '--services', 'shop', '--nginx-mode', 'dynamic', '--health', 'off'], 'edit');
      await waitForLog(log, /^running nginx in dynamic mode/);
      const body = async () => (await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text(), () => '')).trim();
      await waitFor(async () => (await body()) === shop[0]!.name, 20_000, 'shop served');
      await waitForLog(log, /version \d+ confirmed/);
      const hups = () => (readFileSync(join(edited.prefix, 'logs', 'error.log'), 'utf8').match(/SIGHUP\) received/g) ?? []).length;
      const before = hups();
      await stack.put('shop', 's1', '127.0.0.1', shop[1]!.port);
      await stack.client.delete().key('/services/shop/s0');
      await waitFor(async () => (await body()) === shop[1]!.name, 20_000, 's1 served after s0 went');
      await waitForLog(log, /^pushed 1 service/);
      assert.equal(hups(), before, 'no reload');
      const text = readFileSync(conf, 'utf8');
      assert.equal((text.match(/balancer_by_lua_block/g) ?? []).length, 1, text);
      assert.ok(text.indexOf('balancer_by_lua_block') < text.indexOf('keepalive 4;'), text);
      await stack.client.delete().key('/services/shop/s1');
    } finally {
      await edited.destroy();
    }
  });

  it('dynamic mode on an nginx without the Lua module is a clear error naming libnginx-mod-http-lua', async () => {
    const plain = new TestNginx();
    try {
      const conf = plain.writeConf('beacon.conf', '');
      await plain.start();
      const r = await beacon(['lbsync', '--etcd', stack.etcd.url, '--nginx-test', plain.command('-t'), '--nginx-reload', plain.command('-s', 'reload'), '--nginx-conf', conf, '--nginx-mode', 'dynamic', '--once']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr + r.stdout, /libnginx-mod-http-lua/);
    } finally {
      await plain.destroy();
    }
  });
});
