import assert from 'node:assert/strict';
import { Backoff } from '../../../registry/index.js';

describe('registry: backoff', () => {
  it('grows exponentially up to the cap, jittered within [ceiling/2, ceiling]', () => {
    const low = new Backoff(100, 1000, () => 0);
    assert.deepEqual([1, 2, 3, 4, 5].map(() => low.next()), [50, 100, 200, 400, 500]);
    const high = new Backoff(100, 1000, () => 1);
    assert.deepEqual([1, 2, 3, 4, 5].map(() => high.next()), [100, 200, 400, 800, 1000]);
  });

  it('starts over after reset()', () => {
    const b = new Backoff(100, 1000, () => 1);
    b.next();
    b.next();
    b.reset();
    assert.equal(b.next(), 100);
  });
});
