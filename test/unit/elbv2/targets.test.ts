import assert from 'node:assert/strict';
import type { ServicePool } from '../../../lbsync/output.js';
import type { ServiceRecord } from '../../../registry/index.js';
import { desiredTargets } from '../../../lbsync/elbv2/index.js';

const rec = (instance: string, host: string, port: number, meta?: Record<string, string>): ServiceRecord => ({
  service: 'web',
  instance,
  host,
  port,
  ...(meta ? { meta } : {}),
});

const pool = (members: ServiceRecord[], failing: ServiceRecord[] = []): ServicePool => ({
  service: 'web',
  endpoints: [...members.map((record) => ({ record, health: 'passing' as const })), ...failing.map((record) => ({ record, health: 'failing' as const }))],
  members,
  failOpen: false,
});

describe('elbv2 desired targets', () => {
  it('ip groups take record host and port; pool health takes members only', () => {
    const p = pool([rec('a', '10.0.0.1', 8001), rec('b', '10.0.0.2', 8002)], [rec('c', '10.0.0.3', 8003)]);
    assert.deepEqual(desiredTargets(p, 'ip', 'pool').targets, [
      { id: '10.0.0.1', port: 8001 },
      { id: '10.0.0.2', port: 8002 },
    ]);
  });

  it('elb health takes every endpoint, passing or not', () => {
    const p = pool([rec('a', '10.0.0.1', 8001)], [rec('c', '10.0.0.3', 8003)]);
    assert.equal(desiredTargets(p, 'ip', 'elb').targets.length, 2);
  });

  it('instance groups take meta.instanceId and the record port', () => {
    const p = pool([rec('a', 'core01', 8001, { instanceId: 'i-0123456789abcdef0' }), rec('b', 'core02', 8002)]);
    const { targets, skipped } = desiredTargets(p, 'instance', 'pool');
    assert.deepEqual(targets, [{ id: 'i-0123456789abcdef0', port: 8001 }]);
    assert.deepEqual(skipped.map((s) => s.instance), ['b']);
    assert.match(skipped[0]!.reason, /meta\.instanceId/);
  });

  it('skips a DNS host in an ip group and a malformed instance id, saying why', () => {
    const ip = desiredTargets(pool([rec('a', 'web.internal', 80)]), 'ip', 'pool');
    assert.equal(ip.targets.length, 0);
    assert.match(ip.skipped[0]!.reason, /not an IP address/);
    const inst = desiredTargets(pool([rec('a', '10.0.0.1', 80, { instanceId: 'web01' })]), 'instance', 'pool');
    assert.match(inst.skipped[0]!.reason, /not an EC2 instance id/);
  });

  it('collapses two records with the same Id and port', () => {
    const p = pool([rec('a', '10.0.0.1', 80), rec('b', '10.0.0.1', 80)]);
    assert.equal(desiredTargets(p, 'ip', 'pool').targets.length, 1);
  });

  it('a missing pool wants no targets', () => {
    assert.deepEqual(desiredTargets(undefined, 'ip', 'pool'), { targets: [], skipped: [] });
  });
});
