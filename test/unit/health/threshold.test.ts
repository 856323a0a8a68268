import assert from 'node:assert/strict';
import { applyResult, INITIAL_THRESHOLD, type HealthState, type ThresholdState } from '../../../health/index.js';

/** Feeds results (P = pass, F = fail) and returns the state after each and the changes seen. */
function run(results: string, rise = 2, fall = 3): { states: HealthState[]; changes: number } {
  let current: ThresholdState = INITIAL_THRESHOLD;
  const states: HealthState[] = [];
  let changes = 0;
  for (const r of results) {
    const next = applyResult(current, r === 'P', rise, fall);
    if (next.state !== current.state) changes++;
    current = next;
    states.push(current.state);
  }
  return { states, changes };
}

const short = (states: HealthState[]) => states.map((s) => (s === 'passing' ? 'p' : s === 'failing' ? 'f' : 'u')).join('');

describe('health thresholds (rise/fall)', () => {
  it('is unknown before the first result', () => assert.equal(INITIAL_THRESHOLD.state, 'unknown'));

  const table: Array<{ name: string; results: string; rise?: number; fall?: number; states: string; changes: number }> = [
    { name: 'the first pass decides passing', results: 'P', states: 'p', changes: 1 },
    { name: 'the first failure decides failing', results: 'F', states: 'f', changes: 1 },
    { name: 'flapping after a pass never changes state', results: 'PFPFPFPFPF', states: 'pppppppppp', changes: 1 },
    { name: 'flapping with two failures in a row never changes state (fall 3)', results: 'PFFPFFPFFP', states: 'pppppppppp', changes: 1 },
    { name: 'a new endpoint that never passed joins on its first pass, without rise', results: 'FFFP', states: 'fffp', changes: 2 },
    { name: 'flapping after coming back from failing never changes state (rise 2)', results: 'PFFFPFPFPFP', states: 'pppffffffff', changes: 2 },
    { name: 'fall failures in a row turn passing to failing', results: 'PFFF', states: 'pppf', changes: 2 },
    { name: 'and rise passes in a row bring it back', results: 'PFFFPP', states: 'pppffp', changes: 3 },
    { name: 'a pass in between resets the fall streak', results: 'PFFPFFF', states: 'ppppppf', changes: 2 },
    { name: 'a failure in between resets the rise streak', results: 'PFFFPFPP', states: 'pppffffp', changes: 3 },
    { name: 'rise 1 and fall 1 follow every result', results: 'PFPF', rise: 1, fall: 1, states: 'pfpf', changes: 4 },
    { name: 'fall 5 needs five failures', results: 'PFFFFF', fall: 5, states: 'pppppf', changes: 2 },
  ];
  for (const c of table) {
    it(c.name, () => {
      const { states, changes } = run(c.results, c.rise, c.fall);
      assert.equal(short(states), c.states);
      assert.equal(changes, c.changes);
    });
  }

  it('counts the streak towards the threshold', () => {
    let s = applyResult(INITIAL_THRESHOLD, true, 2, 3);
    s = applyResult(s, false, 2, 3);
    assert.deepEqual(s, { state: 'passing', streak: 1, passedBefore: true });
    s = applyResult(s, true, 2, 3);
    assert.deepEqual(s, { state: 'passing', streak: 0, passedBefore: true });
  });
});
