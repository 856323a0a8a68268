import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Registry } from 'prom-client';
import { LbsyncMetrics, type LbSync, type LbSyncEvents, type PoolView, type ServicePool } from '../../../lbsync/index.js';

function pool(service: string, states: Array<'passing' | 'failing' | 'unknown'>): ServicePool {
  const endpoints = states.map((health, i) => ({ record: { service, instance: `e${i}`, host: '127.0.0.1', port: 8000 + i }, health }));
  return { service, endpoints, members: endpoints.filter((e) => e.health !== 'failing').map((e) => e.record), failOpen: false } as ServicePool;
}

async function gauge(registry: Registry, name: string): Promise<Record<string, number>> {
  const metric = await registry.getSingleMetric(name)!.get();
  return Object.fromEntries(metric.values.map((v) => [Object.values(v.labels).join('/'), v.value]));
}

describe('lbsync metrics: per-service gauges follow the views', () => {
  it('counts a changed pool again, keeps an unchanged one, and drops a service that left', async () => {
    const daemon = new EventEmitter<LbSyncEvents>();
    const registry = new Registry();
    new LbsyncMetrics(daemon as unknown as LbSync, registry, { processMetrics: false });
    const api = pool('api', ['passing']);
    const view = (pools: ServicePool[]): PoolView => ({ pools, revision: 1, stableForMs: 0 });
    daemon.emit('view', view([api, pool('web', ['passing', 'failing'])]));
    assert.deepEqual(await gauge(registry, 'beacon_lbsync_pool_members'), { api: 1, web: 1 });
    daemon.emit('view', view([api, pool('web', ['passing', 'passing', 'unknown'])]));
    assert.deepEqual(await gauge(registry, 'beacon_lbsync_pool_members'), { api: 1, web: 3 }, 'the changed pool is counted again');
    assert.equal((await gauge(registry, 'beacon_lbsync_endpoints'))['web/passing'], 2);
    daemon.emit('view', view([pool('web', ['failing'])]));
    assert.deepEqual(await gauge(registry, 'beacon_lbsync_pool_members'), { web: 0 }, 'a service that left has no series');
    assert.equal((await gauge(registry, 'beacon_lbsync_endpoints'))['api/passing'], undefined);
  });
});
