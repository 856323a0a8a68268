import assert from 'node:assert/strict';
import { HealthScheduler, resolveSpec, type CheckResult, type HealthState } from '../../../health/index.js';
import { waitFor } from '../../harness/index.js';
import { httpServer, type Local } from './servers.js';

describe('health scheduler against real servers', function () {
  this.timeout(60_000);
  let scheduler: HealthScheduler;
  const servers: Local[] = [];

  afterEach(async () => {
    await scheduler?.stop();
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('flapping never changes state; fall failures in a row do, and rise passes bring it back', async () => {
    let mode: 'flap' | 'down' | 'up' = 'flap';
    let n = 0;
    const server = await httpServer((_req, res) => {
      const ok = mode === 'up' || (mode === 'flap' && n++ % 2 === 0);
      res.statusCode = ok ? 200 : 500;
      res.end(ok ? 'ok\n' : 'no\n');
    });
    servers.push(server);
    scheduler = new HealthScheduler();
    const results: CheckResult[] = [];
    const changes: Array<[HealthState, HealthState, number]> = [];
    scheduler.on('result', (_id, r) => results.push(r));
    scheduler.on('change', (_id, state, _r, previous) => changes.push([previous, state, results.length]));
    scheduler.upsert('web/a', { host: '127.0.0.1', port: server.port }, resolveSpec({ http: '/health' }, { intervalMs: 50, jitter: 0, rise: 2, fall: 3 }));

    await waitFor(() => results.length >= 12, 30_000, '12 flapping results');
    assert.deepEqual(changes.map(([a, b]) => [a, b]), [['unknown', 'passing']]);
    assert.ok(results.some((r) => !r.passing) && results.some((r) => r.passing));

    mode = 'down';
    await waitFor(() => scheduler.state('web/a') === 'failing', 30_000, 'failing');
    const [, , atFail] = changes.at(-1)!;
    assert.deepEqual(results.slice(atFail - 3, atFail).map((r) => r.reason), ['status 500', 'status 500', 'status 500']);
    assert.equal(results[atFail - 4]!.passing, true, 'the failure before those three was not in the same run');

    mode = 'up';
    await waitFor(() => scheduler.state('web/a') === 'passing', 30_000, 'passing again');
    const [, , atRise] = changes.at(-1)!;
    assert.deepEqual(results.slice(atRise - 2, atRise).map((r) => r.passing), [true, true]);
    assert.equal(results[atRise - 3]!.passing, false);
    assert.deepEqual(changes.map(([a, b]) => `${a}>${b}`), ['unknown>passing', 'passing>failing', 'failing>passing']);
  });

  it('remove() closes the connection of a running check at once', async () => {
    let closed = false;
    let asked = false;
    const server = await httpServer((req) => {
      asked = true;
      req.socket.on('close', () => (closed = true));
    });
    servers.push(server);
    scheduler = new HealthScheduler();
    const results: CheckResult[] = [];
    scheduler.on('result', (_id, r) => results.push(r));
    scheduler.upsert('web/slow', { host: '127.0.0.1', port: server.port }, resolveSpec({ http: '/', timeout: '1h' }, { kind: 'http' }));
    await waitFor(() => asked, 10_000, 'the check to reach the server');
    assert.equal(scheduler.remove('web/slow'), true);
    await waitFor(() => closed, 10_000, 'the server to see the connection close');
    assert.equal(results.length, 0);
    assert.equal(scheduler.stats().inFlight, 0);
  });

  it('checks many endpoints concurrently within the bound', async () => {
    let inFlight = 0;
    let max = 0;
    const server = await httpServer((_req, res) => {
      inFlight++;
      max = Math.max(max, inFlight);
      setTimeout(() => {
        inFlight--;
        res.end('ok\n');
      }, 20);
    });
    servers.push(server);
    scheduler = new HealthScheduler({ concurrency: 4 });
    const seen = new Set<string>();
    scheduler.on('result', (id, r) => r.passing && seen.add(id));
    for (let i = 0; i < 20; i++) scheduler.upsert(`svc/i${i}`, { host: '127.0.0.1', port: server.port }, resolveSpec({ http: `/i${i}` }, { intervalMs: 60_000 }));
    await waitFor(() => seen.size === 20, 30_000, 'all 20 endpoints checked');
    assert.ok(max <= 4, `max in flight ${max}`);
    assert.ok(scheduler.snapshot().every((e) => e.state === 'passing'));
  });
});
