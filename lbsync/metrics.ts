import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { NginxReloadError, NginxValidationError } from './errors.js';
import type { LbSync } from './lbsync.js';
import type { Elbv2Output } from './elbv2/elbv2-output.js';
import type { ServicePool } from './output.js';

/** Metric names lbsync exports (documented in the README table). */
export const LBSYNC_METRICS = {
  applies: 'beacon_lbsync_applies_total',
  reloads: 'beacon_lbsync_reloads_total',
  dynamicPushes: 'beacon_lbsync_nginx_pushes_total',
  dynamicVersion: 'beacon_lbsync_nginx_dynamic_version',
  failedValidations: 'beacon_lbsync_failed_validations_total',
  failedReloads: 'beacon_lbsync_failed_reloads_total',
  endpoints: 'beacon_lbsync_endpoints',
  poolMembers: 'beacon_lbsync_pool_members',
  failOpen: 'beacon_lbsync_fail_open',
  syncLatency: 'beacon_lbsync_sync_latency_seconds',
  reconnects: 'beacon_lbsync_reconnects_total',
  disconnects: 'beacon_lbsync_disconnects_total',
  healthTransitions: 'beacon_lbsync_health_transitions_total',
  resyncs: 'beacon_lbsync_resyncs_total',
  skippedValues: 'beacon_lbsync_skipped_values_total',
  quarantined: 'beacon_lbsync_quarantined_services',
  quarantines: 'beacon_lbsync_quarantines_total',
  lastApply: 'beacon_lbsync_last_apply_timestamp_seconds',
  elbv2Calls: 'beacon_lbsync_elbv2_calls_total',
  elbv2Errors: 'beacon_lbsync_elbv2_errors_total',
  elbv2Targets: 'beacon_lbsync_elbv2_target_changes_total',
  elbv2Passes: 'beacon_lbsync_elbv2_passes_total',
  elbv2PassDuration: 'beacon_lbsync_elbv2_pass_seconds',
  elbv2Leader: 'beacon_lbsync_elbv2_leader',
} as const;

/**
 * Prometheus metrics fed by lbsync's events (lbsync itself knows nothing of
 * them). Endpoint gauges are rebuilt from every applied view, so a service
 * that disappears stops being reported.
 */
export class LbsyncMetrics {
  readonly registry: Registry;

  constructor(daemon: LbSync, registry = new Registry(), { processMetrics = true }: { processMetrics?: boolean } = {}) {
    this.registry = registry;
    const r = [registry];
    // RSS, CPU and event-loop lag under the same prefix as the sidekick's (beacon_<component>_process_*).
    if (processMetrics) collectDefaultMetrics({ register: registry, prefix: 'beacon_lbsync_' });
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
    // Named and labelled as the sidekick's, so one dashboard query covers both.
    const reconnects = new Counter({ name: LBSYNC_METRICS.reconnects, help: 'Recoveries after losing etcd (the watch resumed)', labelNames: ['peer'], registers: r });
    const disconnects = new Counter({ name: LBSYNC_METRICS.disconnects, help: 'etcd watches lost, and failed attempts to resume them', labelNames: ['peer'], registers: r });
    const transitions = new Counter({ name: LBSYNC_METRICS.healthTransitions, help: 'Endpoint health state changes, by the state entered', labelNames: ['to'], registers: r });
    const resyncs = new Counter({ name: LBSYNC_METRICS.resyncs, help: 'Full listings of the prefix, by reason', labelNames: ['reason'], registers: r });
    const skipped = new Counter({ name: LBSYNC_METRICS.skippedValues, help: 'Keys or values kept out of the config (invalid, hostile, unresolvable)', labelNames: ['source'], registers: r });
    const quarantined = new Gauge({ name: LBSYNC_METRICS.quarantined, help: '1 per service an output keeps at its last good state because the load balancer refused it (or its name clashes)', labelNames: ['output', 'service'], registers: r });
    const quarantines = new Counter({ name: LBSYNC_METRICS.quarantines, help: 'Services put in quarantine, per output', labelNames: ['output'], registers: r });
    const inQuarantine = new Map<string, Set<string>>();
    const lastApply = new Gauge({ name: LBSYNC_METRICS.lastApply, help: 'When each output last applied, by result', labelNames: ['output', 'result'], registers: r });

    const pushes = new Counter({ name: LBSYNC_METRICS.dynamicPushes, help: 'Endpoint changes pushed into nginx\'s Lua balancer without a reload (--nginx-mode dynamic), confirmed by reading the version back', labelNames: ['output'], registers: r });
    const nginxVersion = new Gauge({ name: LBSYNC_METRICS.dynamicVersion, help: 'The endpoint-set version nginx confirmed holding (--nginx-mode dynamic)', registers: r });

    daemon.on('applied', (output, outcome, latencyMs) => {
      const result = outcome.changed ? 'changed' : 'unchanged';
      applies.inc({ output, result });
      if (outcome.reloaded ?? outcome.changed) reloads.inc({ output });
      else if (outcome.changed) pushes.inc({ output });
      if (outcome.nginxVersion !== undefined) nginxVersion.set(outcome.nginxVersion);
      if (latencyMs !== undefined) latency.observe({ output }, latencyMs / 1000);
      lastApply.set({ output, result: 'ok' }, Date.now() / 1000);
      const now = new Set((outcome.quarantined ?? []).map((q) => q.service));
      const before = inQuarantine.get(output) ?? new Set<string>();
      for (const service of now) if (!before.has(service)) quarantines.inc({ output });
      for (const service of before) if (!now.has(service)) quarantined.remove({ output, service });
      for (const service of now) quarantined.set({ output, service }, 1);
      inQuarantine.set(output, now);
    });
    daemon.on('rejected', (output, err) => {
      applies.inc({ output, result: 'failed' });
      lastApply.set({ output, result: 'failed' }, Date.now() / 1000);
      if (err instanceof NginxValidationError) failedValidations.inc({ output });
      else if (err instanceof NginxReloadError) failedReloads.inc({ output, rolled_back: String(err.rolledBack) });
    });
    // lbsync hands an unchanged service the same pool object in every view: only changed pools are counted again.
    const counted = new Map<string, ServicePool>();
    daemon.on('view', (view) => {
      const present = new Set<string>();
      for (const pool of view.pools) {
        present.add(pool.service);
        if (counted.get(pool.service) === pool) continue;
        counted.set(pool.service, pool);
        const counts = { passing: 0, failing: 0, unknown: 0 };
        for (const e of pool.endpoints) counts[e.health]++;
        for (const [state, n] of Object.entries(counts)) endpoints.set({ service: pool.service, state }, n);
        members.set({ service: pool.service }, pool.members.length);
        failOpen.set({ service: pool.service }, pool.failOpen ? 1 : 0);
      }
      for (const service of counted.keys()) {
        if (present.has(service)) continue;
        counted.delete(service);
        for (const state of ['passing', 'failing', 'unknown']) endpoints.remove({ service, state });
        members.remove({ service });
        failOpen.remove({ service });
      }
    });
    daemon.on('disconnected', () => disconnects.inc({ peer: 'etcd' }));
    daemon.on('resumed', () => reconnects.inc({ peer: 'etcd' }));
    daemon.on('health', (_id, state) => transitions.inc({ to: state }));
    daemon.on('resynced', (reason) => resyncs.inc({ reason }));
    daemon.on('problem', () => skipped.inc({ source: 'registry' }));
    daemon.on('warning', (output) => skipped.inc({ source: output }));
  }

  /**
   * Counts what the ELBv2 output reports: API calls per pass, errors by code,
   * targets registered and deregistered, passes and their duration, and
   * whether this replica is the writer.
   */
  observeElbv2(output: Elbv2Output): this {
    const r = [this.registry];
    const calls = new Counter({ name: LBSYNC_METRICS.elbv2Calls, help: 'ELBv2 API calls (DescribeTargetHealth, RegisterTargets, DeregisterTargets; SDK retries not counted)', registers: r });
    const errors = new Counter({ name: LBSYNC_METRICS.elbv2Errors, help: 'ELBv2 failures by beacon error code; recoverable ones are retried with backoff', labelNames: ['code', 'recoverable'], registers: r });
    const targets = new Counter({ name: LBSYNC_METRICS.elbv2Targets, help: 'Targets registered or deregistered', labelNames: ['op'], registers: r });
    const passes = new Counter({ name: LBSYNC_METRICS.elbv2Passes, help: 'Reconcile passes over every mapped target group, by reason (view, timer, leader)', labelNames: ['reason'], registers: r });
    const duration = new Histogram({ name: LBSYNC_METRICS.elbv2PassDuration, help: 'Duration of one reconcile pass over every mapped target group', buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: r });
    const leader = new Gauge({ name: LBSYNC_METRICS.elbv2Leader, help: '1 while this replica is the elected ELBv2 writer', registers: r });
    output.on('pass', (e) => {
      calls.inc(e.calls);
      passes.inc({ reason: e.reason });
      duration.observe(e.durationMs / 1000);
    });
    output.on('registered', (e) => targets.inc({ op: 'register' }, e.targets.length));
    output.on('deregistered', (e) => targets.inc({ op: 'deregister' }, e.targets.length));
    output.on('warning', (e) => errors.inc({ code: e.error.code, recoverable: 'true' }));
    // Refused targets come as 'rejected' and again as 'failed': count them once.
    output.on('failed', (e) => errors.inc({ code: e.code, recoverable: String(e.recoverable) }));
    output.on('leader', (isLeader) => leader.set(isLeader ? 1 : 0));
    return this;
  }
}
