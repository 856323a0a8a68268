import assert from 'node:assert/strict';
import { Coalescer, ENDPOINT_APPLY_PACE, ENDPOINT_APPLY_PACE_MAX_MS, JOIN_HOLD_MAX_MS, JOIN_SETTLE_DENSE_MS, JOIN_SETTLE_MS, parseWait } from '../../../lbsync/index.js';
import { parseDuration } from '../../../registry/index.js';
import { FakeClock } from '../../harness/fake-clock.js';

/** A coalescer whose apply takes `applyMs` of fake time and records when it ran. */
function setup(applyMs = 10, window = { minMs: 50, maxMs: 1000 }) {
  const clock = new FakeClock();
  const starts: number[] = [];
  const c = new Coalescer(
    () => {
      starts.push(clock.now());
      return new Promise<void>((resolve) => clock.setTimer(resolve, applyMs));
    },
    window,
    clock,
  );
  return { clock, starts, c };
}

/** `count` joins, `gapMs` apart (the clock stands `gapMs` after the last). */
async function joinsEvery(gapMs: number, count: number, c: Coalescer, clock: FakeClock): Promise<void> {
  for (let i = 0; i < count; i++) {
    c.notify('join');
    await clock.advance(gapMs);
  }
}

describe('lbsync coalescer', () => {
  it('applies a lone change at once', async () => {
    const { clock, starts, c } = setup();
    c.notify();
    await clock.advance(0);
    assert.deepEqual(starts, [0]);
  });

  it('does not let a second change in the same tick postpone the immediate apply', async () => {
    const { clock, starts, c } = setup();
    c.notify();
    c.notify();
    await clock.advance(1);
    c.notify();
    await clock.advance(0);
    assert.equal(starts[0], 0);
  });

  it('applies a lone change at once again after a quiet period', async () => {
    const { clock, starts, c } = setup();
    c.notify();
    await clock.advance(200);
    c.notify();
    await clock.advance(0);
    assert.deepEqual(starts, [0, 200]);
  });

  it('batches changes made during an apply into one next apply, MIN after the last of them', async () => {
    const { clock, starts, c } = setup(10);
    c.notify();
    await clock.advance(2);
    c.notify();
    await clock.advance(2);
    c.notify();
    await clock.advance(500);
    // apply 1 at 0 (ends 10); the last change came at 4, so the next waits until max(10, 4) + 50 = 60
    assert.deepEqual(starts, [0, 60]);
  });

  it('turns a long steady burst into few applies: first at once, then one after it settles', async () => {
    const { clock, starts, c } = setup(10);
    for (let i = 0; i < 200; i++) {
      c.notify();
      await clock.advance(1);
    }
    await clock.advance(1000);
    assert.deepEqual(starts, [0, 249]);
  });

  it('never lets a change wait longer than MAX', async () => {
    const { clock, starts, c } = setup(10, { minMs: 50, maxMs: 300 });
    for (let i = 0; i < 100; i++) {
      c.notify();
      await clock.advance(10);
    }
    await clock.advance(1000);
    // changes every 10ms never leave 50ms of quiet: MAX forces an apply 300ms after the first waiting change
    assert.equal(starts[0], 0);
    for (let i = 1; i < starts.length - 1; i++) assert.ok(starts[i]! - starts[i - 1]! <= 310 + 10, `gap ${starts[i]! - starts[i - 1]!}`);
    assert.ok(starts.length >= 4 && starts.length <= 6, `applies at ${starts.join(',')}`);
  });

  it('never runs two applies at once; is busy while a change waits or an apply runs, and idle() resolves only after the last one', async () => {
    const clock = new FakeClock();
    let running = 0;
    let maxRunning = 0;
    const starts: number[] = [];
    const c = new Coalescer(async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      starts.push(clock.now());
      await new Promise<void>((r) => clock.setTimer(r, 100));
      running--;
    }, { minMs: 0, maxMs: 0 }, clock);
    assert.equal(c.busy, false, 'not busy before any change');
    await c.idle(); // resolves at once when nothing is pending
    for (let i = 0; i < 20; i++) {
      c.notify();
      assert.equal(c.busy, true, `busy right after change ${i}`);
      await clock.advance(7);
    }
    // t = 140: the second apply (100–200) runs and the changes made during it wait.
    let idled = false;
    const idle = c.idle().then(() => (idled = true));
    await clock.advance(50);
    assert.equal(running, 1, 'an apply is running at t = 190');
    assert.equal(c.busy, true);
    assert.equal(idled, false, 'idle() waits for the running apply and the change behind it');
    await clock.advance(1000);
    await idle;
    assert.equal(c.busy, false, 'not busy once everything is applied');
    assert.equal(maxRunning, 1);
    // Changes made during an apply are applied right after it, never alongside it.
    assert.deepEqual(starts, [0, 100, 200]);
  });

  it('is not busy after stop(), and a change after stop() is ignored', async () => {
    const { clock, starts, c } = setup(10);
    c.notify();
    await clock.advance(2);
    c.notify(); // waits behind the running apply
    assert.equal(c.busy, true);
    c.stop();
    assert.equal(c.busy, true, 'the running apply finishes');
    const idle = c.idle();
    await clock.advance(20);
    await idle;
    assert.equal(c.busy, false);
    c.notify();
    assert.equal(c.busy, false, 'stopped: a new change does not make it busy');
    await clock.advance(1000);
    assert.deepEqual(starts, [0], 'the apply that ran before stop() was the only one');
  });

  it('keeps going after an apply throws', async () => {
    const clock = new FakeClock();
    let calls = 0;
    const c = new Coalescer(async () => {
      calls++;
      if (calls === 1) throw new Error('boom');
    }, { minMs: 50, maxMs: 1000 }, clock);
    c.notify();
    await clock.advance(100);
    c.notify();
    await clock.advance(100);
    assert.equal(calls, 2);
  });

  it('waits JOIN_SETTLE_MS after a lone join instead of applying it at once', async () => {
    const { clock, starts, c } = setup(10);
    c.notify('join');
    await clock.advance(JOIN_SETTLE_MS - 1);
    assert.deepEqual(starts, []);
    await clock.advance(1);
    assert.deepEqual(starts, [JOIN_SETTLE_MS]);
  });

  // A steady stream of joins is one burst, applied once it has been quiet for its settle time.
  for (const { what, gapMs, count, settleMs } of [
    // Gaps a MIN of 50 ms would not bridge, were they changes.
    { what: '20 containers passing their first check 30 ms apart', gapMs: 30, count: 20, settleMs: JOIN_SETTLE_MS },
    { what: 'a dense burst, 500 records put a millisecond apart', gapMs: 1, count: 500, settleMs: JOIN_SETTLE_DENSE_MS },
    // One watch batch, or a record and another container's pass: not yet a dense burst.
    { what: 'three joins a millisecond apart', gapMs: 1, count: 3, settleMs: JOIN_SETTLE_MS },
  ]) {
    it(`takes ${what} as one burst: one apply, ${settleMs} ms after the last`, async () => {
      const { clock, starts, c } = setup(10);
      await joinsEvery(gapMs, count, c, clock);
      await clock.advance(2000);
      assert.deepEqual(starts, [(count - 1) * gapMs + settleMs]);
    });
  }

  it('bridges the pauses of a burst of containers (up to JOIN_SETTLE_MS), so they do not each cost an apply', async () => {
    const { clock, starts, c } = setup(10, { minMs: 50, maxMs: 1000 });
    // dockerd starting 50 containers at once: gaps of up to ~650 ms between first checks, for seconds.
    const gaps = [100, 150, 300, 600, 250, 650, 400, 550, 650, 300];
    let t = 0;
    c.notify('join');
    for (const gap of gaps) {
      await clock.advance(gap);
      t += gap;
      c.notify('join');
    }
    await clock.advance(5000);
    assert.deepEqual(starts, [t + JOIN_SETTLE_MS], `applies at ${starts.join(',')} (last join at ${t})`);
  });

  it('starts a new burst after a quiet JOIN_SETTLE_MS: a lone join after a dense burst settles as a lone join', async () => {
    const { clock, starts, c } = setup(10);
    await joinsEvery(1, 100, c, clock);
    await clock.advance(1900);
    assert.deepEqual(starts, [99 + JOIN_SETTLE_DENSE_MS]);
    c.notify('join'); // at 2000
    await clock.advance(2000);
    assert.deepEqual(starts, [99 + JOIN_SETTLE_DENSE_MS, 2000 + JOIN_SETTLE_MS]);
  });

  it('holds joins no longer than JOIN_HOLD_MAX_MS while their burst goes on', async () => {
    const { clock, starts, c } = setup(10, { minMs: 50, maxMs: 1000 });
    // A join every 100 ms for 12 s never settles.
    await joinsEvery(100, 120, c, clock);
    await clock.advance(5000);
    assert.equal(starts.length, 3, `applies at ${starts.join(',')}`);
    assert.equal(starts[0], JOIN_HOLD_MAX_MS);
    assert.ok(starts[1]! - starts[0]! <= JOIN_HOLD_MAX_MS + 100, `applies at ${starts.join(',')}`);
    assert.equal(starts[2], 11_900 + JOIN_SETTLE_MS, 'the last once the burst settled');
  });

  it('holds joins up to MAX instead when MAX is longer than JOIN_HOLD_MAX_MS', async () => {
    const { clock, starts, c } = setup(10, { minMs: 50, maxMs: 8000 });
    await joinsEvery(100, 100, c, clock);
    await clock.advance(5000);
    assert.deepEqual(starts, [8000, 9900 + JOIN_SETTLE_MS]);
  });

  it('a change that comes while a join waits counts MAX from itself, not from the join', async () => {
    const { clock, starts, c } = setup(10, { minMs: 50, maxMs: 300 });
    c.notify();
    await clock.advance(20);
    c.notify('join'); // waits from 20
    await clock.advance(20);
    // From 40, changes every 10 ms never leave MIN of quiet: MAX forces an apply 300 ms after the first of them.
    for (let i = 0; i < 40; i++) {
      c.notify();
      await clock.advance(10);
    }
    assert.deepEqual(starts.slice(0, 2), [0, 340]);
  });

  it('a change applies at once as before and takes waiting joins along', async () => {
    const { clock, starts, c } = setup(10);
    c.notify('join');
    await clock.advance(100);
    c.notify();
    await clock.advance(0);
    assert.deepEqual(starts, [100]);
    await clock.advance(1000);
    assert.deepEqual(starts, [100], 'the join was applied with the change');
  });

  it('parses --wait MIN:MAX', () => {
    assert.deepEqual(parseWait('50ms:1s', parseDuration), { minMs: 50, maxMs: 1000 });
    assert.throws(() => parseWait('1s:50ms', parseDuration), /MAX/);
    assert.throws(() => parseWait('50ms', parseDuration), /MIN:MAX/);
    assert.throws(() => parseWait('50:1s', parseDuration), /unit/);
  });

  describe('endpoint changes (dynamic mode pushes)', () => {
    it('apply at once after a quiet spell', async () => {
      const { clock, starts, c } = setup(4);
      await clock.advance(500);
      c.notify('endpoint');
      await clock.advance(0);
      assert.deepEqual(starts, [500]);
    });

    it('that come during an apply wait after it for ENDPOINT_APPLY_PACE times its duration, as one apply', async () => {
      const { clock, starts, c } = setup(4);
      c.notify('endpoint');
      await clock.advance(1);
      c.notify('endpoint');
      c.notify('endpoint');
      await clock.advance(3); // the first apply ends at 4
      await clock.advance(ENDPOINT_APPLY_PACE * 4 - 1);
      assert.deepEqual(starts, [0]);
      await clock.advance(1);
      assert.deepEqual(starts, [0, 4 + ENDPOINT_APPLY_PACE * 4]);
    });

    it('wait at most ENDPOINT_APPLY_PACE_MAX_MS after a slow apply (a reload, say)', async () => {
      const { clock, starts, c } = setup(300);
      c.notify('change');
      await clock.advance(1);
      c.notify('endpoint');
      await clock.advance(299 + ENDPOINT_APPLY_PACE_MAX_MS);
      assert.deepEqual(starts, [0, 300 + ENDPOINT_APPLY_PACE_MAX_MS]);
    });

    it('are not postponed by changes that come while they wait', async () => {
      const { clock, starts, c } = setup(4);
      c.notify('endpoint');
      await clock.advance(5);
      c.notify('endpoint');
      for (let i = 0; i < 5; i++) {
        await clock.advance(2);
        c.notify('endpoint');
      }
      await clock.advance(16 - 15);
      assert.deepEqual(starts, [0, 4 + ENDPOINT_APPLY_PACE * 4]);
    });
  });
});
