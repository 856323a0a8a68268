import assert from 'node:assert/strict';
import { ServiceQuarantine } from '../../../lbsync/index.js';
import { pool, rec } from './helpers.js';

describe('lbsync nginx quarantine', () => {
  const bad = pool('bad', [rec('bad', 'x', '127.0.0.1', 9)]);
  const owned = { allowed: true, hasLastGood: true };

  it('holds a refused service at its last good block, lists it, and says when to try again', () => {
    const q = new ServiceQuarantine(10_000);
    assert.equal(q.nextRetryIn(0), undefined);
    assert.equal(q.refuse(bad, 'duplicate listen in beacon.conf:9', 1000, owned), true);
    assert.equal(q.standIn('bad'), 'last-good');
    assert.deepEqual(q.list(), [{ service: 'bad', reason: 'nginx refused its block, so its last good one stays (tried again in 10s or when its endpoints change): duplicate listen in beacon.conf:9', since: 1000, retryAt: 11_000 }]);
    assert.equal(q.nextRetryIn(4000), 7000);
  });

  // Each case: what happens between the refusal (t=1000) and the next round, and whether bad is still held.
  const cases: Array<{ name: string; round: Parameters<ServiceQuarantine['startRound']>; held: boolean; due: boolean }> = [
    { name: 'same pool, hold not run out: still held', round: [[bad], 5000], held: true, due: false },
    { name: 'hold ran out: let out for another try', round: [[bad], 11_000], held: false, due: true },
    { name: 'its endpoints changed: let out at once', round: [[pool('bad', [rec('bad', 'x', '127.0.0.1', 10)])], 5000], held: false, due: false },
    { name: 'its service went: let out', round: [[], 5000], held: false, due: false },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const q = new ServiceQuarantine(10_000);
      q.refuse(bad, 'no', 1000, owned);
      assert.equal(q.startRound(...c.round), c.due);
      assert.equal(q.standIn('bad') !== undefined, c.held);
    });
  }

  it('a service refused again after its retry keeps when it first went in', () => {
    const q = new ServiceQuarantine(10_000);
    q.refuse(bad, 'no', 1000, owned);
    q.startRound([bad], 11_000);
    q.refuse(bad, 'no', 11_000, owned);
    assert.equal(q.list()[0]!.since, 1000);
    assert.equal(q.list()[0]!.retryAt, 21_000);
  });

  it('steps the stand-in down as nginx refuses each (owned file), then gives up; edit in place cannot step down', () => {
    const q = new ServiceQuarantine(10_000);
    q.refuse(bad, 'no', 0, owned);
    assert.equal(q.refuse(bad, 'no', 0, owned), true);
    assert.equal(q.standIn('bad'), 'placeholder');
    assert.equal(q.refuse(bad, 'no', 0, owned), true);
    assert.equal(q.standIn('bad'), 'nothing');
    assert.equal(q.refuse(bad, 'no', 0, owned), false);
    const noLastGood = new ServiceQuarantine(10_000);
    noLastGood.refuse(bad, 'no', 0, { allowed: true, hasLastGood: false });
    noLastGood.refuse(bad, 'no', 0, { allowed: true, hasLastGood: false });
    assert.equal(noLastGood.standIn('bad'), 'nothing', 'its placeholder was what nginx refused');
    const edit = new ServiceQuarantine(10_000);
    edit.refuse(bad, 'no', 0, { allowed: false, hasLastGood: false });
    assert.equal(edit.refuse(bad, 'no', 0, { allowed: false, hasLastGood: false }), false);
  });

  it('holds a name clash through endpoint changes, until the user config no longer has it', () => {
    const q = new ServiceQuarantine(10_000);
    q.clash(bad, 'clashes with upstream bad at nginx.conf:3', 1000);
    assert.equal(q.standIn('bad'), 'nothing');
    q.startRound([pool('bad', [])], 2000);
    assert.equal(q.standIn('bad'), 'nothing', 'new endpoints do not end a clash');
    q.startRound([bad], 11_000);
    q.clash(bad, 'clashes with upstream bad at nginx.conf:3', 11_000);
    assert.equal(q.list()[0]!.since, 1000, 'still the same clash');
    q.clashesGone(() => false);
    assert.deepEqual(q.names(), []);
  });
});
