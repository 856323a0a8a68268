import assert from 'node:assert/strict';
import type { HealthState } from '../../../health/index.js';
import { allMembersPolicy, buildPoolView, healthPolicy } from '../../../lbsync/index.js';
import { rec } from './helpers.js';

describe('lbsync model', () => {
  const records = [rec('web', 'w2', '10.0.0.2', 80), rec('web', 'w1', '10.0.0.1', 80), rec('api', 'a1', '10.0.1.1', 80), rec('db', 'd1', '10.0.2.1', 5432)];
  const states: Record<string, HealthState> = { 'web/w1': 'passing', 'web/w2': 'unknown', 'api/a1': 'failing', 'db/d1': 'unknown' };
  const input = { records, health: (id: string) => ({ state: states[id] ?? ('unknown' as HealthState) }), revision: 7, stableForMs: 5 };

  it('builds sorted pools whose members follow the fail-open policy', () => {
    const view = buildPoolView(input, { policy: healthPolicy() });
    assert.deepEqual(view.pools.map((p) => p.service), ['api', 'db', 'web']);
    const [api, db, web] = view.pools;
    assert.deepEqual(web!.endpoints.map((e) => e.record.instance), ['w1', 'w2']);
    assert.deepEqual(web!.members.map((r) => r.instance), ['w1'], 'an unknown endpoint waits for its first passing check');
    assert.deepEqual(api!.members.map((r) => r.instance), ['a1']);
    assert.equal(api!.failOpen, true, 'all failing: fail open');
    assert.deepEqual(db!.members.map((r) => r.instance), ['d1'], 'not checked yet: served');
    assert.equal(view.revision, 7);
  });

  it('filters by --services (named services get a pool even without records) and by the network hook', () => {
    const view = buildPoolView(input, { policy: allMembersPolicy, services: ['web', 'shop'], allow: (r) => r.host !== '10.0.0.2' });
    assert.deepEqual(view.pools.map((p) => [p.service, p.members.map((r) => r.instance)]), [['shop', []], ['web', ['w1']]]);
  });
});
