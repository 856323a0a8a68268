import { EventEmitter } from 'node:events';
import { EtcdLeaseInvalidError, type Etcd3, type IRequestOp, type Lease } from 'etcd3';
import { Backoff } from './backoff.js';
import { encodeRecord, type Layout } from './layout.js';
import { recordId, type ServiceRecord } from './record.js';

export interface LeasePublisherOptions {
  client: Etcd3;
  prefix: string;
  /** Lease TTL in seconds; records vanish this long after the publisher dies. */
  ttlSeconds: number;
  layout: Layout;
  /** Cap for the retry delay while etcd is unreachable. */
  maxRetryMs?: number;
  /** The retry timer; Node's by default, injectable so tests can drive retries by hand. */
  timers?: RetryTimers;
}

/** Arms and clears one timer (health's Clock fits). */
export interface RetryTimers {
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

const nodeTimers: RetryTimers = { setTimer: (fn, ms) => setTimeout(fn, ms), clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout) };

interface Entry {
  record: ServiceRecord;
  kvs: Array<[string, string]>;
}

export interface LeasePublisherEvents {
  published: [record: ServiceRecord];
  removed: [record: ServiceRecord];
  /** A write failed; it will be retried after `retryInMs`. */
  retrying: [err: Error, retryInMs: number];
  /** The lease was lost (expired or revoked); everything is being republished on a new one. */
  leaseLost: [err: Error];
  leaseGranted: [leaseId: string];
}

/**
 * Keeps a set of records alive in etcd, bound to one lease with keepalive.
 *
 * The desired set is the truth: publish() and unpublish() change it at once
 * and writes follow. A failed write is retried with backoff for as long as it
 * takes; a lost lease is re-granted and every record republished. Writes for
 * one record are never in flight twice, so the last call always wins.
 */
export class LeasePublisher extends EventEmitter<LeasePublisherEvents> {
  private readonly desired = new Map<string, Entry>();
  private readonly written = new Map<string, Entry>();
  private readonly inFlight = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly backoff: Backoff;
  private lease: Lease | undefined;
  private leaseId: Promise<string> | undefined;
  private retryTimer: unknown;
  private readonly timers: RetryTimers;
  private closed = false;

  constructor(private readonly options: LeasePublisherOptions) {
    super();
    this.backoff = new Backoff(50, options.maxRetryMs ?? 500);
    this.timers = options.timers ?? nodeTimers;
  }

  /** Publishes (or updates) a record. Returns at once; the write follows. */
  publish(record: ServiceRecord): void {
    const id = recordId(record);
    this.desired.set(id, { record, kvs: encodeRecord(this.options.prefix, record, this.options.layout) });
    this.schedule(id);
  }

  /** Removes a record by id (`service/instance`). Unknown ids are ignored. */
  unpublish(id: string): void {
    if (!this.desired.delete(id) && !this.written.has(id)) return;
    this.schedule(id);
  }

  has(id: string): boolean {
    return this.desired.has(id);
  }

  ids(): string[] {
    return [...this.desired.keys()];
  }

  /** True when every desired record is written under a live lease. */
  get settled(): boolean {
    return this.dirty.size === 0 && this.inFlight.size === 0;
  }

  /** The current lease id, once granted. */
  async currentLeaseId(): Promise<string> {
    return this.ensureLease();
  }

  /**
   * Stops publishing. With `revoke`, the lease is revoked so every record
   * vanishes at once; otherwise they expire after the TTL.
   */
  async close({ revoke }: { revoke: boolean }): Promise<void> {
    this.closed = true;
    if (this.retryTimer !== undefined) this.timers.clearTimer(this.retryTimer);
    const lease = this.lease;
    this.lease = undefined;
    if (!lease) return;
    if (revoke) await lease.revoke().catch(() => undefined);
    else lease.release();
  }

  private schedule(id: string): void {
    if (this.closed) return;
    this.dirty.add(id);
    if (!this.inFlight.has(id)) void this.sync(id);
  }

  private async sync(id: string): Promise<void> {
    this.inFlight.add(id);
    try {
      while (this.dirty.has(id) && !this.closed) {
        this.dirty.delete(id);
        await this.write(id);
      }
      this.backoff.reset();
    } catch (err) {
      this.dirty.add(id);
      if (isLeaseGone(err)) this.loseLease(err as Error);
      this.retryLater(err as Error);
    } finally {
      this.inFlight.delete(id);
    }
  }

  private async write(id: string): Promise<void> {
    const want = this.desired.get(id);
    const have = this.written.get(id);
    const { client } = this.options;
    if (!want) {
      if (!have) return;
      await commit(client, have.kvs.map(([key]) => client.delete().key(key)));
      this.written.delete(id);
      this.emit('removed', have.record);
      return;
    }
    const leaseId = await this.ensureLease();
    const lease = this.lease;
    if (!lease) throw new EtcdLeaseInvalidError(leaseId);
    const keep = new Set(want.kvs.map(([key]) => key));
    await commit(client, [
      ...want.kvs.map(([key, value]) => lease.put(key).value(value)),
      ...(have?.kvs ?? []).filter(([key]) => !keep.has(key)).map(([key]) => client.delete().key(key)),
    ]);
    // A lease lost while the put was in flight may have taken the key with it.
    if (this.lease !== lease) {
      this.dirty.add(id);
      return;
    }
    this.written.set(id, want);
    this.emit('published', want.record);
  }

  private ensureLease(): Promise<string> {
    if (this.leaseId) return this.leaseId;
    const lease = this.options.client.lease(this.options.ttlSeconds, { autoKeepAlive: true });
    this.lease = lease;
    lease.on('lost', (err) => {
      if (this.lease === lease) this.loseLease(err);
    });
    const granted = lease.grant().then(
      (leaseId) => {
        this.emit('leaseGranted', leaseId);
        return leaseId;
      },
      (err: Error) => {
        if (this.lease === lease) this.loseLease(err);
        throw err;
      },
    );
    this.leaseId = granted;
    return granted;
  }

  /** Forgets the lease and marks everything for republishing on a new one. */
  private loseLease(err: Error): void {
    const lease = this.lease;
    if (!lease) return;
    this.lease = undefined;
    this.leaseId = undefined;
    lease.release();
    this.emit('leaseLost', err);
    // Keep `written`: a lease we gave up on may still be alive in etcd (a
    // restarted etcd renews leases), so a record removed meanwhile must still
    // be deleted, not left to an old lease. Everything desired is put again
    // on the new lease.
    for (const id of this.desired.keys()) this.dirty.add(id);
    for (const id of this.written.keys()) this.dirty.add(id);
    this.retryLater(err);
  }

  private retryLater(err: Error): void {
    if (this.closed || this.retryTimer !== undefined) return;
    const delay = this.backoff.next();
    this.emit('retrying', err, delay);
    this.retryTimer = this.timers.setTimer(() => {
      this.retryTimer = undefined;
      for (const id of [...this.dirty]) if (!this.inFlight.has(id)) void this.sync(id);
    }, delay);
  }
}

/**
 * Runs a record's puts and deletes as one etcd transaction: a flat-layout
 * record is several keys, and a reader must never see it half-written (a new
 * host beside an old port, or a host without its port).
 */
async function commit(client: Etcd3, ops: Array<{ op(): Promise<IRequestOp> }>): Promise<void> {
  await client.kv.txn({ compare: [], success: await Promise.all(ops.map((o) => o.op())), failure: [] });
}

function isLeaseGone(err: unknown): boolean {
  return err instanceof EtcdLeaseInvalidError || (err instanceof Error && /lease not found|requested lease/i.test(err.message));
}
