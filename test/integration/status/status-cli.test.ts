import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { beacon, freePort, waitFor } from '../../harness/index.js';
import { StatusStack } from './helpers.js';

/** A backend on a free port whose /health answers 200 until told to fail. */
async function backend(name: string): Promise<{ port: number; fail: (on: boolean) => void; server: Server }> {
  let failing = false;
  const server = createServer((req, res) => {
    if (req.url === '/health') res.writeHead(failing ? 500 : 200).end(failing ? 'sick\n' : 'ok\n');
    else res.end(`${name}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { port: (server.address() as { port: number }).port, fail: (on) => (failing = on), server };
}

interface JsonOut {
  services: Array<{ service: string; passing: number; failing: number; unknown: number; nginx: number | null; ok: boolean }>;
  down: string[];
}

describe('beacon status (against a running lbsync --status-port)', function () {
  this.timeout(120_000);
  const stack = new StatusStack();
  const backends: Array<Awaited<ReturnType<typeof backend>>> = [];
  const status = (...args: string[]) => beacon(['status', '--lbsync', stack.statusUrl, ...args]);

  before(async () => {
    await stack.start(['--health-interval', '200ms', '--health-fall', '1', '--health-rise', '1']);
    for (const name of ['web1', 'web2', 'api1']) backends.push(await backend(name));
    const check = { http: '/health', interval: '200ms' };
    await stack.put('web', 'core01:web1:80', backends[0]!.port, { check, node: 'core01' });
    await stack.put('web', 'core01:web2:80', backends[1]!.port, { check, node: 'core01' });
    await waitFor(async () => (await status('--json')).stdout.includes('"passing": 2'), 20_000, 'both web endpoints to pass', 100);
  });

  after(async () => {
    await stack.stop();
    for (const b of backends) {
      b.server.closeAllConnections();
      b.server.close();
    }
  });

  it('prints one table row per service and exits 0 when every service has a passing endpoint', async () => {
    const r = await status();
    assert.equal(r.code, 0, r.stderr);
    const [header, ...rows] = r.stdout.trimEnd().split('\n');
    assert.match(header!, /^SERVICE\s+ENDPOINTS\s+NGINX\s+LAST CHANGE\s+STATE$/);
    assert.equal(rows.length, 1);
    assert.match(rows[0]!, /^web\s+2 passing\s+2 servers\s+\d+[smhd] ago\s+ok$/);
  });

  it('prints the same rows as JSON with --json', async () => {
    const r = await status('--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as JsonOut;
    assert.deepEqual(out.down, []);
    assert.deepEqual(
      out.services.map((s) => [s.service, s.passing, s.failing, s.unknown, s.nginx, s.ok]),
      [['web', 2, 0, 0, 2, true]],
    );
  });

  it('shows a failing endpoint, still exiting 0 while another one passes', async () => {
    backends[1]!.fail(true);
    const r = await waitFor(async () => {
      const res = await status();
      return /1 passing, 1 failing/.test(res.stdout) && /1 server\b/.test(res.stdout) ? res : undefined;
    }, 20_000, 'web2 to fail and leave nginx', 100);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^web\s+1 passing, 1 failing\s+1 server\s+\d+s ago\s+degraded$/m);
  });

  it('exits 1 and names the service when one has no passing endpoint', async () => {
    backends[2]!.fail(true);
    await stack.put('api', 'core01:api1:80', backends[2]!.port, { check: { http: '/health', interval: '200ms' } });
    // The failing check shows at once; the fail-open flag with the apply that follows it.
    const r = await waitFor(async () => {
      const res = await status();
      return /^api\s+1 failing\s+1 server\s+\d+s ago\s+DOWN \(fail-open\)$/m.test(res.stdout) ? res : undefined;
    }, 20_000, 'api to show as failing, served fail-open', 100);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /1 service with no passing endpoint: api/);
    const json = await status('--json');
    assert.equal(json.code, 1);
    assert.deepEqual((JSON.parse(json.stdout) as JsonOut).down, ['api']);
  });

  it('exits 1 with a clear message when lbsync cannot be reached', async () => {
    const r = await beacon(['status', '--lbsync', `http://127.0.0.1:${await freePort()}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot reach lbsync's status at http:\/\/127\.0\.0\.1:\d+\/status\.json .*--status-port/);
  });

  it('refuses a non-HTTP source as bad usage (2)', async () => {
    const r = await beacon(['status', '--lbsync', 'ftp://127.0.0.1/']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--lbsync must be an http/);
  });
});
