import assert from 'node:assert/strict';
import { FlapDamper } from '../../../sidekicks/index.js';

describe('sidekicks: FlapDamper holds back a container restarting in a loop', () => {
  const policy = { restarts: 3, windowMs: 60_000, holdMs: 10_000 };

  it('publishes the first starts at once, holds the one past the limit until it has stayed up', () => {
    const d = new FlapDamper(policy);
    assert.equal(d.holdFor('c', 's1', 0), 0);
    assert.equal(d.holdFor('c', 's2', 5_000), 0);
    assert.equal(d.holdFor('c', 's3', 10_000), 0);
    assert.equal(d.holdFor('c', 's4', 15_000), 10_000, 'the 4th start in a minute is held');
    assert.equal(d.startsOf('c'), 4);
    assert.equal(d.holdFor('c', 's4', 21_000), 4_000, 'an update of the same run does not restart the clock');
    assert.equal(d.holdFor('c', 's4', 25_000), 0, 'published once it stayed up 10 s');
  });

  it('counts only starts within the window, per container', () => {
    const d = new FlapDamper(policy);
    for (const [i, t] of [0, 30_000, 61_000, 91_000, 122_000].entries()) assert.equal(d.holdFor('slow', `s${i}`, t), 0, `start at ${t}`);
    for (const [i, t] of [0, 1, 2].entries()) assert.equal(d.holdFor('other', `s${i}`, t), 0);
  });

  it('restarts 0 turns damping off; sweep forgets containers quiet for a window', () => {
    const off = new FlapDamper({ ...policy, restarts: 0 });
    for (let i = 0; i < 10; i++) assert.equal(off.holdFor('c', `s${i}`, i), 0);
    const d = new FlapDamper(policy);
    for (let i = 0; i < 5; i++) d.holdFor('c', `s${i}`, i);
    d.sweep(30_000);
    assert.equal(d.startsOf('c'), 5);
    d.sweep(60_005);
    assert.equal(d.startsOf('c'), 0);
  });
});
