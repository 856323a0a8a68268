import assert from 'node:assert/strict';
import { DueQueue } from '../../../health/index.js';

describe('health due queue', () => {
  it('pops in due order, ties in insertion order', () => {
    const q = new DueQueue<string>();
    const input: Array<[number, string]> = [[5, 'a'], [1, 'b'], [3, 'c'], [1, 'd'], [9, 'e'], [0, 'f'], [3, 'g']];
    for (const [due, value] of input) q.push(due, value);
    const out: string[] = [];
    for (let item = q.pop(); item; item = q.pop()) out.push(item.value);
    assert.deepEqual(out, ['f', 'b', 'd', 'c', 'g', 'a', 'e']);
    assert.equal(q.size, 0);
  });

  it('stays ordered under many random pushes and pops', () => {
    const q = new DueQueue<number>();
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 2000; i++) q.push(Math.floor(rand() * 1000), i);
    let last = -1;
    for (let i = 0; i < 1000; i++) {
      const item = q.pop()!;
      assert.ok(item.due >= last);
      last = item.due;
      q.push(last + Math.floor(rand() * 1000), i);
    }
    assert.equal(q.size, 2000);
  });
});
