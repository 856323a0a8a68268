import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DockerSidekick } from './docker-sidekick.js';
import type { DockerSource } from './docker-source.js';

/**
 * The sidekick's Prometheus metrics, in a registry of their own (so a library
 * user's default registry is never touched):
 *
 * | name | type | labels | meaning |
 * |---|---|---|---|
 * | `beacon_sidekick_docker_events_total` | counter | `action` | container events received from Docker |
 * | `beacon_sidekick_records_published_total` | counter | | record writes to etcd (new, changed, republished) |
 * | `beacon_sidekick_records_removed_total` | counter | | record deletions from etcd (including pruned stale ones) |
 * | `beacon_sidekick_records_refused_total` | counter | `field` | definitions refused by the contract |
 * | `beacon_sidekick_reconnects_total` | counter | `peer` (`docker`, `etcd`) | recoveries after losing Docker or etcd |
 * | `beacon_sidekick_disconnects_total` | counter | `peer` | connections lost |
 * | `beacon_sidekick_resyncs_total` | counter | `reason` | full reconciles (start, reconnect, resync) |
 * | `beacon_sidekick_event_to_etcd_seconds` | histogram | `op` (`publish`, `remove`) | Docker event time (`timeNano`) to the write acknowledged by etcd |
 * | `beacon_sidekick_records` | gauge | | records this sidekick wants published |
 * | `beacon_sidekick_containers` | gauge | | running containers it follows |
 * | `beacon_sidekick_etcd_writes_denied` | gauge | | 1 while etcd refuses this sidekick's writes (its role may not write the prefix) |
 * | `beacon_sidekick_flaps_held_total` | counter | | container starts held back because the container restarts in a loop |
 * | `beacon_sidekick_process_*` | | | prom-client's default process metrics (RSS, CPU, event loop lag) |
 */
export class SidekickMetrics {
  readonly registry = new Registry();
  readonly events = new Counter({ name: 'beacon_sidekick_docker_events_total', help: 'Container events received from Docker', labelNames: ['action'] as const, registers: [this.registry] });
  readonly published = new Counter({ name: 'beacon_sidekick_records_published_total', help: 'Record writes to etcd', registers: [this.registry] });
  readonly removed = new Counter({ name: 'beacon_sidekick_records_removed_total', help: 'Record deletions from etcd', registers: [this.registry] });
  readonly refused = new Counter({ name: 'beacon_sidekick_records_refused_total', help: 'Service definitions refused by the /services contract', labelNames: ['field'] as const, registers: [this.registry] });
  readonly reconnects = new Counter({ name: 'beacon_sidekick_reconnects_total', help: 'Recoveries after losing Docker or etcd', labelNames: ['peer'] as const, registers: [this.registry] });
  readonly disconnects = new Counter({ name: 'beacon_sidekick_disconnects_total', help: 'Connections to Docker or etcd lost', labelNames: ['peer'] as const, registers: [this.registry] });
  readonly resyncs = new Counter({ name: 'beacon_sidekick_resyncs_total', help: 'Full reconciles', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly latency = new Histogram({
    name: 'beacon_sidekick_event_to_etcd_seconds',
    help: 'From the Docker event time (timeNano) to the etcd write being acknowledged',
    labelNames: ['op'] as const,
    buckets: [0.001, 0.002, 0.004, 0.006, 0.01, 0.02, 0.05, 0.1, 0.25, 1, 5],
    registers: [this.registry],
  });
  readonly records = new Gauge({ name: 'beacon_sidekick_records', help: 'Records this sidekick wants published', registers: [this.registry] });
  readonly containers = new Gauge({ name: 'beacon_sidekick_containers', help: 'Running containers followed', registers: [this.registry] });
  readonly held = new Counter({ name: 'beacon_sidekick_flaps_held_total', help: 'Container starts held back because the container restarts in a loop', registers: [this.registry] });
  readonly writesDenied = new Gauge({ name: 'beacon_sidekick_etcd_writes_denied', help: "1 while etcd refuses this sidekick's writes (permission denied)", registers: [this.registry] });

  constructor({ processMetrics = true }: { processMetrics?: boolean } = {}) {
    if (processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'beacon_sidekick_' });
  }

  /** Counts what a Docker sidekick and its source report. */
  observe(sidekick: DockerSidekick, source: DockerSource): this {
    source.on('event', (ev) => this.events.inc({ action: ev.action }));
    const gauges = () => {
      this.records.set(sidekick.recordCount);
      this.containers.set(sidekick.containerCount);
    };
    sidekick.on('published', (_r, _c, latencyMs) => {
      this.published.inc();
      gauges();
      if (latencyMs !== undefined) this.latency.observe({ op: 'publish' }, latencyMs / 1000);
    });
    sidekick.on('removed', (_r, _c, latencyMs) => {
      this.removed.inc();
      gauges();
      if (latencyMs !== undefined) this.latency.observe({ op: 'remove' }, latencyMs / 1000);
    });
    sidekick.on('pruned', () => this.removed.inc());
    sidekick.on('refused', (refusal) => this.refused.inc({ field: refusal.field }));
    sidekick.on('reconnected', (peer) => this.reconnects.inc({ peer }));
    sidekick.on('disconnected', (peer) => this.disconnects.inc({ peer }));
    sidekick.on('held', () => this.held.inc());
    sidekick.on('denied', () => this.writesDenied.set(1));
    sidekick.on('allowed', () => this.writesDenied.set(0));
    sidekick.on('resynced', (reason) => {
      this.resyncs.inc({ reason });
      gauges();
    });
    return this;
  }
}
