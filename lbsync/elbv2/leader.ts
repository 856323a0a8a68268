import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Campaign, Election, Etcd3 } from 'etcd3';
import { Backoff } from '../../registry/index.js';

/** Decides whether this replica may write. The ELBv2 output asks it before every pass and every write. */
export interface LeaderGate {
  /** The local belief, cheap: elected and not since deposed. */
  isLeader(): boolean;
  /** Asks etcd who leads now (one read), so a replica cut off from etcd stops writing. */
  confirm(): Promise<boolean>;
  on(event: 'change', handler: (leader: boolean) => void): this;
  off(event: 'change', handler: (leader: boolean) => void): this;
  /** Gives up leadership (optional). */
  close?(): Promise<void>;
}

/** Settings of the writer election. */
export interface EtcdLeadershipOptions {
  /** Election name; replicas writing the same groups share it. */
  name: string;
  /** Lease TTL (s): a dead leader's claim expires after it, and another replica takes over. */
  ttlSeconds: number;
  /** This replica's value in the election (default `host/pid/random`): must be unique. */
  id?: string;
  /**
   * How long confirm() waits for etcd (default: a third of the TTL, 1-5 s). etcd
   * calls have no deadline of their own: behind a network that drops packets
   * one would hang, and with it every later pass of the output.
   */
  confirmTimeoutMs?: number;
}

/**
 * Campaigns in an etcd election (etcd3's `client.election(name, ttl)`) so that
 * only one lbsync replica writes to ELBv2. Emits `change` (true when elected,
 * false when deposed) and `error` is never emitted: a failed campaign is
 * reported as `campaign-failed` and retried with backoff.
 */
export class EtcdLeadership extends EventEmitter implements LeaderGate {
  readonly id: string;
  private readonly election: Election;
  private campaign: Campaign | undefined;
  private leader = false;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;
  private readonly backoff = new Backoff(500, 5000);
  private readonly confirmTimeoutMs: number;

  constructor(client: Etcd3, options: EtcdLeadershipOptions) {
    super();
    this.id = options.id ?? `${hostname()}/${process.pid}/${randomBytes(4).toString('hex')}`;
    this.confirmTimeoutMs = options.confirmTimeoutMs ?? Math.min(5000, Math.max(1000, (options.ttlSeconds * 1000) / 3));
    this.election = client.election(options.name, options.ttlSeconds);
  }

  override on(event: 'change', handler: (leader: boolean) => void): this;
  override on(event: 'campaign-failed', handler: (err: Error, retryInMs: number) => void): this;
  // The overloads above carry the types.
  override on(event: string, handler: (...args: any[]) => void): this {
    return super.on(event, handler);
  }

  /** Starts campaigning; resolves at once (election happens in the background). */
  start(): this {
    if (this.closed || this.campaign) return this;
    const campaign = this.election.campaign(this.id);
    this.campaign = campaign;
    campaign.on('elected', () => {
      if (this.campaign !== campaign || this.closed) return;
      this.backoff.reset();
      this.set(true);
    });
    campaign.on('error', (err: Error) => {
      if (this.campaign !== campaign) return;
      // The lease is gone (etcd unreachable past the TTL, or revoked): another replica may lead now.
      this.campaign = undefined;
      this.set(false);
      campaign.resign().catch(() => undefined);
      if (this.closed) return;
      const delay = this.backoff.next();
      this.emit('campaign-failed', err, delay);
      this.retry = setTimeout(() => this.start(), delay);
      this.retry.unref();
    });
    return this;
  }

  isLeader(): boolean {
    return this.leader && !this.closed;
  }

  async confirm(): Promise<boolean> {
    if (!this.isLeader()) return false;
    try {
      const current = await withDeadline(this.election.leader(), this.confirmTimeoutMs);
      if (current === this.id) return true;
      // Someone else leads (our key was lost and re-created elsewhere): step down and stand again.
      const stale = this.campaign;
      this.campaign = undefined;
      this.set(false);
      await stale?.resign().catch(() => undefined);
      if (!this.closed) this.start();
      return false;
    } catch {
      // etcd unreachable or silent: we cannot know that our lease still holds, so we do not write.
      return false;
    }
  }

  /** Stops campaigning and gives up leadership at once (another replica takes over without waiting for the TTL). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    const campaign = this.campaign;
    this.campaign = undefined;
    this.set(false);
    await campaign?.resign().catch(() => undefined);
  }

  private set(leader: boolean): void {
    if (this.leader === leader) return;
    this.leader = leader;
    this.emit('change', leader);
  }
}

/** Rejects when `promise` has not settled within `ms`. */
function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`etcd did not answer within ${ms}ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

