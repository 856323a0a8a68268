import { EventEmitter } from 'node:events';
import { recordId, validateRecord, type LeasePublisher, type ServiceRecord } from '../registry/index.js';
import { isPublishable, type ContainerFacts } from './container-facts.js';
import type { DockerSource } from './docker-source.js';
import { trackWriteDenials, type WriteDenial } from './write-denial.js';

export interface AnnouncerOptions {
  publisher: LeasePublisher;
  /** The record to keep alive (validated again here). */
  record: ServiceRecord;
  /** Follow this container: announce only while it runs (and is healthy, if it has a HEALTHCHECK). */
  source?: DockerSource;
  ignoreHealth?: boolean;
  /** How often to repeat that etcd refuses the writes, while it does (default 30 s). */
  deniedReportMs?: number;
}

/** Why the record is (not) published right now. */
export type AnnounceState = 'announced' | 'waiting';

export interface AnnouncerEvents {
  published: [record: ServiceRecord];
  removed: [record: ServiceRecord];
  /** The followed container changed state; `reason` says why in a few words. */
  state: [state: AnnounceState, reason: string];
  disconnected: [peer: 'docker' | 'etcd', err: Error, retryInMs: number];
  reconnected: [peer: 'docker' | 'etcd'];
  /** etcd refuses the writes (the user's role may not write there); repeated while it lasts. */
  denied: [err: Error, deniedForMs: number];
  /** etcd accepts the writes again. */
  allowed: [];
}

/**
 * `beacon sidekick announce`: the seeds' per-unit sidekick. Keeps one record
 * alive under a lease; when following a container, publishes it only while
 * that container runs (healthy, if it has a HEALTHCHECK) and removes it the
 * moment the container stops, is paused or is sent a stop signal.
 */
export class Announcer extends EventEmitter<AnnouncerEvents> {
  private readonly record: ServiceRecord;
  private current: ServiceRecord | undefined;
  private etcdDown = false;
  private readonly denial: WriteDenial;

  constructor(private readonly options: AnnouncerOptions) {
    super();
    this.record = validateRecord(options.record);
    const { publisher, source } = options;
    publisher.on('published', (r) => this.written('published', r));
    publisher.on('removed', (r) => this.written('removed', r));
    this.denial = trackWriteDenials(publisher, options.deniedReportMs ?? 30_000, Date.now, {
      denied: (err, forMs) => this.emit('denied', err, forMs),
      other: (err, retryInMs) => {
        if (!this.etcdDown) this.emit('disconnected', 'etcd', err, retryInMs);
        this.etcdDown = true;
      },
    });
    publisher.on('leaseGranted', () => this.recovered());
    if (source) {
      source.on('update', (facts) => this.onContainer(facts));
      source.on('gone', () => this.set(undefined, 'the container stopped'));
      source.on('snapshot', (containers) => {
        if (containers.length === 0) this.set(undefined, 'the container is not running');
      });
      source.on('disconnected', (err, retryInMs) => this.emit('disconnected', 'docker', err, retryInMs));
      source.on('connected', (reconnect) => {
        if (reconnect) this.emit('reconnected', 'docker');
      });
    }
  }

  /** Starts announcing (or following the container); resolves once the first decision is made. */
  async start(): Promise<void> {
    this.options.publisher.currentLeaseId().catch(() => undefined);
    if (!this.options.source) {
      this.set({ ...this.record, since: this.record.since ?? isoNow() }, 'no container to follow');
      return;
    }
    await this.options.source.startAndRetry();
  }

  /** Stops; with `revoke` the record vanishes at once, otherwise after the TTL. */
  async stop({ revoke }: { revoke: boolean }): Promise<void> {
    this.options.source?.stop();
    await this.options.publisher.close({ revoke });
  }

  private onContainer(facts: ContainerFacts): void {
    if (!isPublishable(facts, this.options.ignoreHealth)) {
      const why = facts.paused ? 'paused' : facts.stopping ? 'stopping' : facts.health !== 'healthy' ? `health is ${facts.health}` : 'not running';
      this.set(undefined, `the container is ${why}`);
      return;
    }
    const record: ServiceRecord = { ...this.record, container: facts.id.slice(0, 12) };
    if (facts.startedAt && !record.since) record.since = facts.startedAt;
    this.set(validateRecord(record), 'the container runs');
  }

  private set(record: ServiceRecord | undefined, reason: string): void {
    const before = this.current;
    this.current = record;
    if (record) {
      if (before && JSON.stringify(before) === JSON.stringify(record)) return;
      this.options.publisher.publish(record);
      this.emit('state', 'announced', reason);
    } else if (before) {
      this.options.publisher.unpublish(recordId(before));
      this.emit('state', 'waiting', reason);
    } else {
      this.emit('state', 'waiting', reason);
    }
  }

  private written(kind: 'published' | 'removed', record: ServiceRecord): void {
    if (this.denial.cleared()) this.emit('allowed');
    this.recovered();
    this.emit(kind, record);
  }

  private recovered(): void {
    if (!this.etcdDown) return;
    this.etcdDown = false;
    this.emit('reconnected', 'etcd');
  }
}

function isoNow(): string {
  return new Date().toISOString();
}
