import assert from 'node:assert/strict';
import { Retries } from '../../../lbsync/index.js';
import { FakeClock } from '../../harness/fake-clock.js';

describe('lbsync retries of outputs that failed recoverably', () => {
  // random() = 1: each wait is the ceiling, so the sequence is exact.
  const make = () => {
    const clock = new FakeClock();
    const woken: string[] = [];
    const retries = new Retries<string>(clock, (key) => woken.push(key), { initialMs: 100, maxMs: 800 }, () => 1);
    return { clock, woken, retries };
  };

  it('backs off from the initial wait, doubling up to the cap', () => {
    const { retries } = make();
    const waits = [1, 2, 3, 4, 5, 6].map(() => retries.failed('nginx', 0));
    assert.deepEqual(waits, [100, 200, 400, 800, 800, 800]);
  });

  it('wakes the loop when a retry is due, hands each due output out once, and starts over after a success', async () => {
    const { clock, woken, retries } = make();
    retries.failed('nginx', 5);
    await clock.advance(99);
    assert.deepEqual(woken, [], 'not before its wait');
    assert.deepEqual([...retries.takeDue()], []);
    await clock.advance(1);
    assert.deepEqual(woken, ['nginx']);
    assert.deepEqual([...retries.takeDue()], ['nginx']);
    assert.deepEqual([...retries.takeDue()], [], 'taken once');
    retries.failed('nginx', 50);
    assert.equal(retries.since('nginx'), 5, 'the latency counts from the first change not yet applied');
    retries.clear('nginx');
    assert.equal(retries.since('nginx'), undefined);
    assert.equal(retries.failed('nginx', 60), 100, 'a new run of failures starts at the initial wait');
  });

  it('keeps one timer per output: a failure of a change-driven apply re-arms it instead of adding one', async () => {
    const { clock, woken, retries } = make();
    retries.failed('nginx', 0);
    retries.failed('elbv2', 0);
    retries.failed('nginx', 0); // failed again (a change arrived meanwhile): the 100 ms timer goes, a 200 ms one takes its place
    await clock.advance(150);
    assert.deepEqual(woken, ['elbv2']);
    await clock.advance(100);
    assert.deepEqual(woken, ['elbv2', 'nginx']);
    assert.deepEqual([...retries.takeDue()].sort(), ['elbv2', 'nginx']);
  });

  it('arms nothing after stop, and a cleared output is no longer due', async () => {
    const { clock, woken, retries } = make();
    retries.failed('a', 0);
    await clock.advance(100);
    retries.clear('a');
    assert.deepEqual([...retries.takeDue()], [], 'cleared before its apply took it');
    retries.failed('b', 0);
    retries.stop();
    assert.equal(retries.failed('c', 0), undefined);
    await clock.advance(10_000);
    assert.deepEqual(woken, ['a']);
  });
});
