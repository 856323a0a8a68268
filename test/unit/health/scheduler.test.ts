import assert from 'node:assert/strict';
import { HealthScheduler, SchedulerStoppedError, type CheckResult, type HealthState } from '../../../health/index.js';
import { FakeClock, ScriptedChecker, settle, testSpec } from './fakes.js';

interface Seen {
  results: Array<[string, CheckResult]>;
  changes: Array<[string, HealthState, HealthState]>;
}

function setup(script: (port: number, n: number) => boolean | 'hang' | 'throw' | 'timeout', options: { holdMs?: number; concurrency?: number } = {}) {
  const clock = new FakeClock();
  const checker = new ScriptedChecker(clock, script, options.holdMs ?? 0);
  const scheduler = new HealthScheduler({
    clock,
    checkers: { http: checker, https: checker, tcp: checker },
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
  });
  const seen: Seen = { results: [], changes: [] };
  scheduler.on('result', (id, result) => seen.results.push([id, result]));
  scheduler.on('change', (id, state, _result, previous) => seen.changes.push([id, previous, state]));
  return { clock, checker, scheduler, seen };
}

const target = (port: number) => ({ host: '127.0.0.1', port });

describe('health scheduler', () => {
  it('is unknown when added, checks at once, and reports the first result as a change', async () => {
    const { clock, scheduler, seen } = setup(() => true);
    scheduler.upsert('a', target(1), testSpec());
    assert.equal(scheduler.state('a'), 'unknown');
    await clock.advance(0);
    assert.equal(seen.results.length, 1);
    assert.deepEqual(seen.changes, [['a', 'unknown', 'passing']]);
    assert.equal(scheduler.state('a'), 'passing');
    await scheduler.stop();
  });

  it('checks again every interval', async () => {
    const { clock, scheduler, seen } = setup(() => true);
    scheduler.upsert('a', target(1), testSpec({ intervalMs: 1000 }));
    await clock.advance(5000);
    assert.equal(seen.results.length, 6);
    await scheduler.stop();
  });

  it('keeps jittered intervals within ± jitter of the interval', async () => {
    const { clock, scheduler, checker } = setup(() => true);
    const starts: number[] = [];
    const check = checker.check.bind(checker);
    checker.check = (t, s, signal) => (starts.push(clock.now()), check(t, s, signal));
    scheduler.upsert('a', target(1), testSpec({ intervalMs: 1000, jitter: 0.2 }));
    await clock.advance(20_000);
    const gaps = starts.slice(1).map((t, i) => t - starts[i]!);
    assert.ok(gaps.length >= 16);
    for (const gap of gaps) assert.ok(gap >= 800 && gap <= 1200, `gap ${gap}`);
    await scheduler.stop();
  });

  it('flapping faster than the thresholds never changes state', async () => {
    const { clock, scheduler, seen } = setup((_port, n) => n % 2 === 0);
    scheduler.upsert('a', target(1), testSpec());
    await clock.advance(20_000);
    assert.ok(seen.results.length >= 20);
    assert.deepEqual(seen.changes, [['a', 'unknown', 'passing']]);
  });

  it('fall failures in a row turn it failing, rise passes bring it back', async () => {
    // pass, fail, fail, fail, pass, pass, …
    const { clock, scheduler, seen } = setup((_port, n) => n === 0 || n >= 4);
    scheduler.upsert('a', target(1), testSpec({ rise: 2, fall: 3 }));
    await clock.advance(2000);
    assert.equal(scheduler.state('a'), 'passing');
    await clock.advance(1000);
    assert.equal(scheduler.state('a'), 'failing');
    assert.equal(seen.changes.at(-1)![2], 'failing');
    assert.equal(scheduler.status('a')!.last!.reason, 'status 500');
    await clock.advance(1000);
    assert.equal(scheduler.state('a'), 'failing');
    await clock.advance(1000);
    assert.equal(scheduler.state('a'), 'passing');
    assert.deepEqual(seen.changes.map((c) => c[2]), ['passing', 'failing', 'passing']);
    await scheduler.stop();
  });

  it('never runs two checks of one endpoint at once, even when checks outlast the interval', async () => {
    const { clock, scheduler, checker, seen } = setup(() => true, { holdMs: 2500 });
    scheduler.upsert('a', target(1), testSpec({ intervalMs: 1000 }));
    await clock.advance(20_000);
    assert.equal(checker.maxPerTarget, 1);
    assert.ok(seen.results.length >= 7);
    await scheduler.stop();
  });

  it('bounds checks in flight and queues the rest, checking every endpoint', async () => {
    const { clock, scheduler, checker, seen } = setup(() => true, { holdMs: 100, concurrency: 3 });
    for (let i = 1; i <= 10; i++) scheduler.upsert(`e${i}`, target(i), testSpec());
    await clock.advance(0);
    assert.equal(scheduler.stats().inFlight, 3);
    assert.equal(scheduler.stats().queued, 7);
    await clock.advance(900);
    assert.equal(checker.maxInFlight, 3);
    assert.deepEqual(new Set(seen.results.map(([id]) => id)).size, 10);
    await scheduler.stop();
  });

  it('remove() aborts a running check at once and reports nothing for it', async () => {
    const { clock, scheduler, checker, seen } = setup(() => 'hang');
    scheduler.upsert('a', target(1), testSpec());
    await clock.advance(0);
    assert.equal(checker.calls.length, 1);
    assert.equal(scheduler.remove('a'), true);
    assert.equal(checker.calls[0]!.signal.aborted, true);
    await settle();
    assert.equal(scheduler.state('a'), undefined);
    assert.equal(scheduler.stats().inFlight, 0);
    assert.deepEqual(checker.released, [target(1)]);
    await clock.advance(10_000);
    assert.equal(checker.calls.length, 1);
    assert.equal(seen.results.length, 0);
    assert.equal(scheduler.remove('a'), false);
  });

  it('an unchanged upsert changes nothing; a new spec reschedules at once and keeps the state', async () => {
    const { clock, scheduler, checker } = setup(() => true);
    scheduler.upsert('a', target(1), testSpec({ intervalMs: 10_000 }));
    await clock.advance(0);
    scheduler.upsert('a', target(1), testSpec({ intervalMs: 10_000 }));
    await clock.advance(100);
    assert.equal(checker.calls.length, 1);
    scheduler.upsert('a', target(1), testSpec({ intervalMs: 10_000, path: '/other' }));
    assert.equal(scheduler.state('a'), 'passing');
    await clock.advance(0);
    assert.equal(checker.calls.length, 2);
    await scheduler.stop();
  });

  it('a spec change aborts a running check and its result is never reported', async () => {
    const { clock, scheduler, checker, seen } = setup((_port, n) => (n === 0 ? 'hang' : true));
    scheduler.upsert('a', target(1), testSpec());
    await clock.advance(0);
    scheduler.upsert('a', target(1), testSpec({ timeoutMs: 400 }));
    assert.equal(checker.calls[0]!.signal.aborted, true);
    await clock.advance(0);
    assert.equal(checker.calls.length, 2);
    assert.deepEqual(seen.results.map(([, r]) => r.reason), ['ok']);
    await scheduler.stop();
  });

  it('a new target is a new endpoint: unknown again, old one released', async () => {
    const { clock, scheduler, checker } = setup(() => true);
    scheduler.upsert('a', target(1), testSpec());
    await clock.advance(0);
    scheduler.upsert('a', target(2), testSpec());
    assert.equal(scheduler.state('a'), 'unknown');
    assert.deepEqual(checker.released, [target(1)]);
    await clock.advance(0);
    assert.equal(checker.calls.at(-1)!.target.port, 2);
    assert.equal(scheduler.state('a'), 'passing');
    await scheduler.stop();
  });

  it('turns a throwing checker into a failing result', async () => {
    const { clock, scheduler, seen } = setup(() => 'throw');
    scheduler.upsert('a', target(1), testSpec());
    await clock.advance(1000);
    assert.equal(scheduler.state('a'), 'failing');
    assert.match(seen.results[0]![1].reason, /^checker failed: boom/);
    await scheduler.stop();
  });

  it('snapshot() lists every endpoint with state and last result', async () => {
    const { clock, scheduler } = setup((port) => port === 1);
    scheduler.upsert('b', target(2), testSpec());
    scheduler.upsert('a', target(1), testSpec());
    await clock.advance(1000);
    const snap = scheduler.snapshot();
    assert.deepEqual(snap.map((e) => [e.id, e.state, e.last?.reason]), [['a', 'passing', 'ok'], ['b', 'failing', 'status 500']]);
    await scheduler.stop();
  });

  it('stop() aborts everything and refuses new endpoints', async () => {
    const { clock, scheduler, checker } = setup(() => 'hang');
    scheduler.upsert('a', target(1), testSpec());
    await clock.advance(0);
    await scheduler.stop();
    assert.equal(checker.calls[0]!.signal.aborted, true);
    assert.throws(() => scheduler.upsert('b', target(2), testSpec()), SchedulerStoppedError);
    assert.deepEqual(scheduler.snapshot(), []);
  });

  it('retries a new endpoint that fails while it starts, without calling it failing', async () => {
    // Fails its first three checks (not listening yet), then passes.
    const { clock, scheduler, seen, checker } = setup((_port, n) => n >= 3);
    scheduler.upsert('a', target(1), testSpec());
    await clock.advance(0);
    assert.equal(scheduler.state('a'), 'unknown');
    await clock.advance(14);
    assert.equal(scheduler.state('a'), 'unknown');
    assert.equal(checker.calls.length, 3, 'retried after 5 ms, twice');
    await clock.advance(1);
    assert.equal(scheduler.state('a'), 'passing');
    assert.equal(checker.calls.length, 4, 'and again after half the time since the first check (10 ms): 5 ms');
    assert.deepEqual(seen.changes, [['a', 'unknown', 'passing']], 'never reported failing');
    await scheduler.stop();
  });

  it('calls a new endpoint failing once it still fails an interval after its first check', async () => {
    const { clock, scheduler, seen, checker } = setup(() => false);
    scheduler.upsert('a', target(1), testSpec());
    await clock.advance(999);
    assert.equal(scheduler.state('a'), 'unknown');
    await clock.advance(1);
    assert.equal(scheduler.state('a'), 'failing');
    assert.deepEqual(seen.changes, [['a', 'unknown', 'failing']]);
    const calls = checker.calls.length;
    await clock.advance(999);
    assert.equal(checker.calls.length, calls, 'back to the normal interval after the grace');
    await scheduler.stop();
  });

  it('keeps a new endpoint unknown while its early checks time out, past the grace, and it joins on its first pass', async () => {
    // Under load: four checks in a row time out (500 ms each), the fifth passes.
    const { clock, scheduler, seen, checker } = setup((_port, n) => (n < 4 ? 'timeout' : true));
    scheduler.upsert('a', target(1), testSpec({ intervalMs: 1000, timeoutMs: 500, fall: 3, rise: 2 }));
    // Checks start at 0, 505, 1255 and 2005 ms (retries 5 ms, then a quarter interval, after each timeout).
    await clock.advance(2600);
    assert.equal(scheduler.state('a'), 'unknown', 'still starting, past its 1 s grace');
    assert.equal(checker.calls.length, 4);
    await clock.advance(200);
    assert.equal(scheduler.state('a'), 'passing');
    assert.deepEqual(seen.changes, [['a', 'unknown', 'passing']], 'never reported failing');
    await scheduler.stop();
  });

  it('calls a new endpoint failing after fall timeouts past the grace, and lets it join on its first pass without rise', async () => {
    // Six timeouts, then passes; rise 3 would take three intervals for an endpoint coming back.
    const { clock, scheduler, seen } = setup((_port, n) => (n < 6 ? 'timeout' : true));
    scheduler.upsert('a', target(1), testSpec({ intervalMs: 1000, timeoutMs: 500, fall: 3, rise: 3 }));
    // Two timeouts within the 1 s grace, three more after it kept unknown; the sixth counts (at 4.005 s).
    await clock.advance(4000);
    assert.equal(scheduler.state('a'), 'unknown');
    await clock.advance(10);
    assert.equal(scheduler.state('a'), 'failing');
    assert.equal(scheduler.status('a')!.last!.timedOut, true);
    // The next check, an interval after the last one started, passes.
    await clock.advance(500);
    assert.equal(scheduler.state('a'), 'passing');
    assert.deepEqual(seen.changes.map((c) => c[2]), ['failing', 'passing']);
    await scheduler.stop();
  });

  it('a refused or wrong answer after the grace counts at once, however quickly the endpoint timed out before', async () => {
    const { clock, scheduler } = setup((_port, n) => (n === 0 ? 'timeout' : false));
    scheduler.upsert('a', target(1), testSpec({ intervalMs: 1000, timeoutMs: 500, fall: 3 }));
    await clock.advance(999);
    assert.equal(scheduler.state('a'), 'unknown');
    await clock.advance(1);
    assert.equal(scheduler.state('a'), 'failing');
    await scheduler.stop();
  });

  it('refuses a bad spec', () => {
    const { scheduler } = setup(() => true);
    assert.throws(() => scheduler.upsert('a', target(1), { ...testSpec(), rise: 0 }), { code: 'BEACON_INVALID' });
  });
});
