import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { NginxReloadError, NginxValidationError } from './errors.js';
import type { LbSync } from './lbsync.js';

/** Metric names lbsync exports (documented in the README table). */
export const LBSYNC_METRICS = {
  applies: 'beacon_lbsync_applies_total',
  reloads: 'beacon_lbsync_reloads_total',
  failedValidations: 'beacon_lbsync_failed_validations_total',
  failedReloads: 'beacon_lbsync_failed_reloads_total',
  endpoints: 'beacon_lbsync_endpoints',
  poolMembers: 'beacon_lbsync_pool_members',
  failOpen: 'beacon_lbsync_fail_open',
  syncLatency: 'beacon_lbsync_sync_latency_seconds',
  reconnects: 'beacon_lbsync_reconnects_total',
  resyncs: 'beacon_lbsync_resyncs_total',
  skippedValues: 'beacon_lbsync_skipped_values_total',
  lastApply: 'beacon_lbsync_last_apply_timestamp_seconds',
} as const;

/**
 * Prometheus metrics fed by lbsync's events (lbsync itself knows nothing of
 * them). Endpoint gauges are rebuilt from every applied view, so a service
 * that disappears stops being reported.
 */
export class LbsyncMetrics {
  readonly registry: Registry;

  constructor(daemon: LbSync, registry = new Registry()) {
    this.registry = registry;
    const r = [registry];
    const applies = new Counter({ name: LBSYNC_METRICS.applies, help: 'Applies per output and result (changed, unchanged, failed)', labelNames: ['output', 'result'], registers: r });
    const reloads = new Counter({ name: LBSYNC_METRICS.reloads, help: 'Load balancer reloads (nginx reloads, ELBv2 change batches) per output', labelNames: ['output'], registers: r });
    const failedValidations = new Counter({ name: LBSYNC_METRICS.failedValidations, help: 'Candidate configs the load balancer refused (nginx -t failed); the last good config stayed', labelNames: ['output'], registers: r });
    const failedReloads = new Counter({ name: LBSYNC_METRICS.failedReloads, help: 'Reloads that failed or did not take, per output and whether the file was rolled back', labelNames: ['output', 'rolled_back'], registers: r });
    const endpoints = new Gauge({ name: LBSYNC_METRICS.endpoints, help: 'Endpoints per service and health state (passing, failing, unknown)', labelNames: ['service', 'state'], registers: r });
    const members = new Gauge({ name: LBSYNC_METRICS.poolMembers, help: 'Endpoints receiving traffic per service', labelNames: ['service'], registers: r });
    const failOpen = new Gauge({ name: LBSYNC_METRICS.failOpen, help: '1 while a service is served fail-open (every endpoint fails its check)', labelNames: ['service'], registers: r });
    const latency = new Histogram({
      name: LBSYNC_METRICS.syncLatency,
      help: 'From the first change an apply includes (etcd event or health change) to the output having applied it',
      labelNames: ['output'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: r,
    });
    const reconnects = new Counter({ name: LBSYNC_METRICS.reconnects, help: 'Lost etcd watches (each is followed by a reconnect)', registers: r });
    const resyncs = new Counter({ name: LBSYNC_METRICS.resyncs, help: 'Full listings of the prefix, by reason', labelNames: ['reason'], registers: r });
    const skipped = new Counter({ name: LBSYNC_METRICS.skippedValues, help: 'Keys or values kept out of the config (invalid, hostile, unresolvable)', labelNames: ['source'], registers: r });
    const lastApply = new Gauge({ name: LBSYNC_METRICS.lastApply, help: 'When each output last applied, by result', labelNames: ['output', 'result'], registers: r });

    daemon.on('applied', (output, outcome, latencyMs) => {
      const result = outcome.changed ? 'changed' : 'unchanged';
      applies.inc({ output, result });
      if (outcome.changed) reloads.inc({ output });
      if (latencyMs !== undefined) latency.observe({ output }, latencyMs / 1000);
      lastApply.set({ output, result: 'ok' }, Date.now() / 1000);
    });
    daemon.on('rejected', (output, err) => {
      applies.inc({ output, result: 'failed' });
      lastApply.set({ output, result: 'failed' }, Date.now() / 1000);
      if (err instanceof NginxValidationError) failedValidations.inc({ output });
      else if (err instanceof NginxReloadError) failedReloads.inc({ output, rolled_back: String(err.rolledBack) });
    });
    daemon.on('view', (view) => {
      endpoints.reset();
      members.reset();
      failOpen.reset();
      for (const pool of view.pools) {
        const counts = { passing: 0, failing: 0, unknown: 0 };
        for (const e of pool.endpoints) counts[e.health]++;
        for (const [state, n] of Object.entries(counts)) endpoints.set({ service: pool.service, state }, n);
        members.set({ service: pool.service }, pool.members.length);
        failOpen.set({ service: pool.service }, pool.failOpen ? 1 : 0);
      }
    });
    daemon.on('disconnected', () => reconnects.inc());
    daemon.on('resynced', (reason) => resyncs.inc({ reason }));
    daemon.on('problem', () => skipped.inc({ source: 'registry' }));
    daemon.on('warning', (output) => skipped.inc({ source: output }));
  }
}
