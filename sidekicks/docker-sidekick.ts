import { EventEmitter } from 'node:events';
import type { Etcd3 } from 'etcd3';
import { recordId, sameRecord, type Layout, type LeasePublisher, type ServiceRecord } from '../registry/index.js';
import { isPublishable, type ContainerFacts } from './container-facts.js';
import { DEFAULT_FLAP_POLICY, FlapDamper, type FlapPolicy } from './flap-damper.js';
import type { DockerEvent } from './docker-event.js';
import type { DockerSource, ListReason } from './docker-source.js';
import { reconcileLeaseRecords, reconcileNodeRecords, type NodeReconcileResult } from './node-records.js';
import { defineServices, type DefinitionContext, type Refusal } from './service-definition.js';
import { trackWriteDenials, type WriteDenial } from './write-denial.js';

export interface DockerSidekickOptions {
  source: DockerSource;
  publisher: LeasePublisher;
  /** The etcd client the publisher writes with; used to find and delete this node's stale records. */
  client: Etcd3;
  prefix: string;
  layout: Layout;
  definition: DefinitionContext;
  /** Publish containers with a HEALTHCHECK whatever their health. */
  ignoreHealth?: boolean;
  /** Period of the full reconcile (list containers, compare etcd); 0 disables it. */
  resyncMs?: number;
  /** Wall clock in milliseconds, injectable for tests. */
  now?: () => number;
  /** Most writes awaited for a latency measurement (default 10,000); the oldest are forgotten first. */
  maxPending?: number;
  /** How often to repeat that etcd refuses this sidekick's writes, while it does (default 30 s). */
  deniedReportMs?: number;
  /** When a restart loop holds a container's records back (default DEFAULT_FLAP_POLICY). */
  flapPolicy?: FlapPolicy;
}

/** Which side a connection event is about. */
export type Peer = 'docker' | 'etcd';

export interface DockerSidekickEvents {
  /** A record was written to etcd. `latencyMs` is from the Docker event that caused it, when one did. */
  published: [record: ServiceRecord, containerId: string | undefined, latencyMs: number | undefined];
  /** A record was deleted from etcd. */
  removed: [record: ServiceRecord, containerId: string | undefined, latencyMs: number | undefined];
  /** A container's definition broke the contract; nothing of it (for that port) is published. */
  refused: [refusal: Refusal, containerId: string];
  /** A record of this node that no running container backs was found in etcd and deleted. */
  pruned: [record: ServiceRecord];
  disconnected: [peer: Peer, err: Error, retryInMs: number];
  reconnected: [peer: Peer];
  /** A full reconcile finished. */
  resynced: [reason: ListReason, containers: number, records: number];
  /** etcd refuses this sidekick's writes (its user's role may not write there); repeated every `deniedReportMs` while it lasts. */
  denied: [err: Error, deniedForMs: number];
  /** etcd accepts this sidekick's writes again after refusing them. */
  allowed: [];
  /** A container restarting in a loop: its records are held back until it has stayed up `holdMs`. */
  held: [facts: ContainerFacts, starts: number, holdMs: number];
  /** Something failed that will be retried (a reconcile, an inspect). */
  problem: [what: string, err: Error];
}

/**
 * A write whose Docker event time is kept to measure its latency when it lands.
 * Bounded: a write that never lands (etcd refusing this user, a container
 * restarting in a loop while etcd is away) must not grow the map forever.
 */
const MAX_PENDING = 10_000;

interface Pending {
  /** Docker's event time, ms since the epoch. */
  eventMs: number;
  containerId: string;
}

/**
 * `beacon sidekick docker`: Docker events in, leased records out.
 *
 * The source reports containers; each update is turned into records by the
 * pure definition and handed to the LeasePublisher at once (no batching: the
 * write starts in the same tick as the event). Records are remembered per
 * container, so a removal needs nothing but the cache. After every listing
 * (start, Docker reconnect, periodic resync) and after etcd recovers, this
 * node's records in etcd are compared with the desired set and stale ones are
 * deleted, so nothing waits for a TTL: the first time by listing the prefix,
 * then through this process's own leases. A container refused an instance id
 * another holds takes over when it is freed; a container restarting in a loop
 * is held back (FlapDamper).
 */
export class DockerSidekick extends EventEmitter<DockerSidekickEvents> {
  private readonly byContainer = new Map<string, Map<string, ServiceRecord>>();
  private readonly owner = new Map<string, string>();
  private readonly refusals = new Map<string, Set<string>>();
  /** Containers refused an instance id another container holds: they take over when it is freed. */
  private readonly waiting = new Set<string>();
  private readonly pending = new Map<string, Pending>();
  private resyncTimer: NodeJS.Timeout | undefined;
  private etcdDown = false;
  private readonly denial: WriteDenial;
  private readonly flaps: FlapDamper;
  /** Re-looks at held-back containers once their hold is over, by container id. */
  private readonly holds = new Map<string, { timer: NodeJS.Timeout; startedAt: string | undefined }>();
  private reconciling: Promise<void> | undefined;
  private reconcileAgain = false;
  private readonly now: () => number;
  private stopped = false;
  /** Every lease this process was granted and etcd may still hold: the periodic reconcile looks there. */
  private readonly leases = new Set<string>();
  /** Whether a listing of the whole prefix has succeeded (it finds a predecessor's records once). */
  private listed = false;

  constructor(private readonly options: DockerSidekickOptions) {
    super();
    this.now = options.now ?? (() => performance.timeOrigin + performance.now());
    const { source, publisher } = options;
    source.on('update', (facts, cause) => this.onUpdate(facts, cause));
    source.on('gone', (id, cause) => this.onGone(id, cause));
    source.on('snapshot', (_containers, reason) => {
      this.flaps.sweep(this.now());
      this.reviewWaiting();
      this.reconcile(reason);
    });
    source.on('disconnected', (err, retryInMs) => this.emit('disconnected', 'docker', err, retryInMs));
    source.on('connected', (reconnect) => {
      if (reconnect) this.emit('reconnected', 'docker');
    });
    source.on('inspectFailed', (id, err) => this.emit('problem', `inspect ${id.slice(0, 12)}`, err));
    publisher.on('published', (record) => this.onWritten('published', record));
    publisher.on('removed', (record) => this.onWritten('removed', record));
    this.flaps = new FlapDamper(options.flapPolicy ?? DEFAULT_FLAP_POLICY);
    this.denial = trackWriteDenials(publisher, options.deniedReportMs ?? 30_000, this.now, {
      denied: (err, forMs) => this.emit('denied', err, forMs),
      other: (err, retryInMs) => {
        if (!this.etcdDown) this.emit('disconnected', 'etcd', err, retryInMs);
        this.etcdDown = true;
      },
    });
    publisher.on('leaseLost', () => {
      this.etcdDown = true;
    });
    publisher.on('leaseGranted', () => this.etcdRecovered());
  }

  /** Connects to Docker (retrying until it answers), publishes what runs, and starts the periodic resync. */
  async start(): Promise<void> {
    // Grant the lease now so the first event does not wait for it.
    this.options.publisher.currentLeaseId().catch(() => undefined);
    await this.options.source.startAndRetry();
    if (this.options.resyncMs) {
      this.resyncTimer = setInterval(() => {
        this.options.source.resync().catch((err: Error) => this.emit('problem', 'resync', err));
      }, this.options.resyncMs);
      this.resyncTimer.unref();
    }
  }

  /** Stops following Docker. With `revoke`, the lease goes and every record of this sidekick vanishes at once. */
  async stop({ revoke }: { revoke: boolean }): Promise<void> {
    this.stopped = true;
    clearInterval(this.resyncTimer);
    for (const { timer } of this.holds.values()) clearTimeout(timer);
    this.options.source.stop();
    await this.options.publisher.close({ revoke });
  }

  /** How many records this sidekick wants published now. */
  get recordCount(): number {
    return this.owner.size;
  }

  /** How many running containers the source follows. */
  get containerCount(): number {
    return this.options.source.size;
  }

  /** The records this sidekick wants published now. */
  records(): ServiceRecord[] {
    return [...this.byContainer.values()].flatMap((m) => [...m.values()]);
  }

  private onUpdate(facts: ContainerFacts, cause: DockerEvent | undefined): void {
    const want = new Map<string, ServiceRecord>();
    this.waiting.delete(facts.id);
    if (isPublishable(facts, this.options.ignoreHealth) && !this.heldBack(facts)) {
      const def = defineServices(facts, this.options.definition);
      for (const refusal of def.refusals) this.refuse(facts.id, refusal);
      for (const record of def.records) {
        const id = recordId(record);
        const owner = this.owner.get(id);
        if (owner !== undefined && owner !== facts.id) {
          this.refuse(facts.id, {
            container: facts.name,
            field: 'instance',
            rule: `${id} is already published by container ${owner.slice(0, 12)}`,
            message: `instance: ${id} is already published by container ${owner.slice(0, 12)}`,
          });
          this.waiting.add(facts.id);
          continue;
        }
        want.set(id, record);
      }
    }
    this.apply(facts.id, want, cause);
  }

  private onGone(containerId: string, cause: DockerEvent | undefined): void {
    this.waiting.delete(containerId);
    this.apply(containerId, new Map(), cause);
    this.refusals.delete(containerId);
  }

  /** True while a restart loop holds this run of the container back; looks again when the hold ends. */
  private heldBack(facts: ContainerFacts): boolean {
    const holdMs = this.flaps.holdFor(facts.id, facts.startedAt, this.now());
    const hold = this.holds.get(facts.id);
    if (holdMs <= 0) {
      clearTimeout(hold?.timer);
      this.holds.delete(facts.id);
      return false;
    }
    if (hold?.startedAt !== facts.startedAt) this.emit('held', facts, this.flaps.startsOf(facts.id), holdMs);
    clearTimeout(hold?.timer);
    // The hold entry stays while the timer's look runs: a timer may fire a
    // little before the clock says the hold is over, and the look then
    // re-arms this same hold instead of counting a second one.
    const timer = setTimeout(() => {
      const now = this.options.source.get(facts.id);
      if (now && !this.stopped) this.onUpdate(now, undefined);
      if (this.holds.get(facts.id)?.timer === timer) this.holds.delete(facts.id);
    }, holdMs);
    timer.unref();
    this.holds.set(facts.id, { timer, startedAt: facts.startedAt });
    return true;
  }

  /**
   * Gives containers that were refused a held instance id another look: once
   * the holder is gone (or changed its id) the survivor takes over. Runs when
   * an id is freed and after every listing (the periodic resync included).
   */
  private reviewWaiting(): void {
    for (const id of [...this.waiting]) {
      const facts = this.options.source.get(id);
      if (facts) this.onUpdate(facts, undefined);
      else this.waiting.delete(id);
    }
  }

  /** Moves one container's published records to `want`, touching only what changed. */
  private apply(containerId: string, want: Map<string, ServiceRecord>, cause: DockerEvent | undefined): void {
    const { publisher } = this.options;
    const have = this.byContainer.get(containerId) ?? new Map<string, ServiceRecord>();
    const stamp = cause ? { eventMs: cause.timeNano / 1e6, containerId } : undefined;
    let freed = false;
    for (const [id] of have) {
      if (want.has(id)) continue;
      if (stamp) this.awaitWrite(id, stamp);
      this.owner.delete(id);
      publisher.unpublish(id);
      freed = true;
    }
    for (const [id, record] of want) {
      const before = have.get(id);
      if (before && sameRecord(before, record)) continue;
      if (stamp) this.awaitWrite(id, stamp);
      this.owner.set(id, containerId);
      publisher.publish(record);
    }
    if (want.size > 0) this.byContainer.set(containerId, want);
    else this.byContainer.delete(containerId);
    if (freed && this.waiting.size > 0) this.reviewWaiting();
  }

  /** True while etcd refuses this sidekick's writes (not ready: nothing it should publish is published). */
  get writeDenied(): boolean {
    return this.denial.active;
  }

  /** How many writes wait for their latency to be measured (bounded by `maxPending`). */
  get pendingCount(): number {
    return this.pending.size;
  }

  private awaitWrite(id: string, stamp: Pending): void {
    // Re-inserted so the map's order is the order of the last event per id: the oldest go first.
    this.pending.delete(id);
    this.pending.set(id, stamp);
    const max = this.options.maxPending ?? MAX_PENDING;
    for (const oldest of this.pending.keys()) {
      if (this.pending.size <= max) break;
      this.pending.delete(oldest);
    }
  }

  private refuse(containerId: string, refusal: Refusal): void {
    let seen = this.refusals.get(containerId);
    if (!seen) this.refusals.set(containerId, (seen = new Set()));
    const key = `${refusal.port ?? ''}|${refusal.message}`;
    if (seen.has(key)) return;
    seen.add(key);
    this.emit('refused', refusal, containerId);
  }

  private onWritten(kind: 'published' | 'removed', record: ServiceRecord): void {
    const id = recordId(record);
    const pending = this.pending.get(id);
    this.pending.delete(id);
    const latency = pending ? Math.max(0, this.now() - pending.eventMs) : undefined;
    const containerId = pending?.containerId ?? this.owner.get(id);
    if (this.denial.cleared()) this.emit('allowed');
    if (this.etcdDown) this.etcdRecovered();
    this.emit(kind, record, containerId, latency);
  }

  private etcdRecovered(): void {
    if (!this.etcdDown) return;
    this.etcdDown = false;
    this.emit('reconnected', 'etcd');
    // While etcd was away the lease may have been lost and re-granted, or a
    // removal may have hit a lease etcd later revived: compare and clean up.
    this.reconcile('reconnect');
  }

  /** Compares this node's records in etcd with the desired set (json layout only). One at a time, coalesced. */
  private reconcile(reason: ListReason): void {
    if (this.stopped) return;
    if (this.reconciling) {
      this.reconcileAgain = true;
      return;
    }
    this.reconciling = this.runReconcile(reason)
      .catch((err: Error) => {
        // etcd is unreachable: the publisher's recovery triggers the next attempt.
        this.etcdDown = true;
        this.emit('problem', 'reconcile with etcd', err);
      })
      .finally(() => {
        this.reconciling = undefined;
        if (this.reconcileAgain) {
          this.reconcileAgain = false;
          this.reconcile(reason);
        }
      });
  }

  private async runReconcile(reason: ListReason): Promise<void> {
    const { publisher, layout } = this.options;
    const desired = new Map(this.records().map((r) => [recordId(r), r]));
    if (layout === 'json') {
      const leaseId = await publisher.currentLeaseId();
      this.leases.add(leaseId);
      const common = { client: this.options.client, prefix: this.options.prefix, desired, stillWanted: (id: string) => publisher.has(id), leaseId };
      // The whole prefix once (a killed predecessor's records are on a lease we never knew);
      // after that only what our own leases hold, so a fleet's resyncs do not grow with its size.
      let result: NodeReconcileResult;
      if (this.listed) {
        const byLease = await reconcileLeaseRecords({ ...common, earlierLeases: this.leases });
        for (const id of byLease.expiredLeases) this.leases.delete(id);
        result = byLease;
      } else {
        result = await reconcileNodeRecords({ ...common, node: this.options.definition.node });
        this.listed = true;
      }
      for (const record of result.deleted) this.emit('pruned', record);
      for (const id of result.rewrite) {
        const record = desired.get(id);
        // Still wanted, and not already on its way (a write in flight will land).
        if (record && publisher.has(id) && publisher.settled) publisher.publish(record);
      }
    }
    this.emit('resynced', reason, this.byContainer.size, desired.size);
  }
}
