import assert from 'node:assert/strict';
import { Cancellation } from '../../../health/index.js';

describe('Cancellation', () => {
  it('calls each listener once on abort, in order, and is aborted from then on', () => {
    const c = new Cancellation();
    const calls: string[] = [];
    c.signal.addEventListener('abort', () => calls.push('a'));
    c.signal.addEventListener('abort', () => calls.push('b'), { once: true });
    assert.equal(c.signal.aborted, false);
    c.abort();
    c.abort();
    assert.deepEqual(calls, ['a', 'b']);
    assert.equal(c.signal.aborted, true);
  });

  it('a removed listener is not called; one added after the abort is not either', () => {
    const c = new Cancellation();
    const calls: string[] = [];
    const gone = () => calls.push('gone');
    c.signal.addEventListener('abort', gone);
    c.signal.addEventListener('abort', () => calls.push('kept'));
    c.signal.removeEventListener('abort', gone);
    c.abort();
    c.signal.addEventListener('abort', () => calls.push('late'));
    assert.deepEqual(calls, ['kept']);
  });
});
