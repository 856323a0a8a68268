import assert from 'node:assert/strict';
import { choosePool, type HealthState, type PoolMode } from '../../../health/index.js';

const eps = (states: string) => [...states].map((c, i) => ({ id: `e${i}`, health: (c === 'p' ? 'passing' : c === 'f' ? 'failing' : 'unknown') as HealthState }));

describe('health pool policy (fail-open)', () => {
  const table: Array<{ name: string; states: string; failOpen?: boolean; members: string[]; open: boolean; mode: PoolMode }> = [
    { name: 'no endpoints: empty', states: '', members: [], open: false, mode: 'empty' },
    { name: 'passing ones serve, failing ones do not', states: 'pfp', members: ['e0', 'e2'], open: false, mode: 'healthy' },
    { name: 'unknown ones wait while another passes', states: 'pu', members: ['e0'], open: false, mode: 'healthy' },
    { name: 'all failing: fail open, all kept', states: 'fff', members: ['e0', 'e1', 'e2'], open: true, mode: 'fail-open' },
    { name: 'failing and unknown, none passing: fail open, all kept', states: 'fu', members: ['e0', 'e1'], open: true, mode: 'fail-open' },
    { name: 'all failing with fail-open off: nothing serves', states: 'ff', failOpen: false, members: [], open: false, mode: 'down' },
    { name: 'nothing checked yet: all serve, not fail-open', states: 'uu', members: ['e0', 'e1'], open: false, mode: 'unchecked' },
    { name: 'one passing among failing is enough', states: 'ffpf', members: ['e2'], open: false, mode: 'healthy' },
  ];
  for (const c of table) {
    it(c.name, () => {
      const choice = choosePool(eps(c.states), c.failOpen === undefined ? {} : { failOpen: c.failOpen });
      assert.deepEqual(choice.members.map((m) => m.id), c.members);
      assert.equal(choice.failOpen, c.open);
      assert.equal(choice.mode, c.mode);
    });
  }
});
