import { EventEmitter } from 'node:events';
import type { Etcd3, IWatchResponse, Watcher } from 'etcd3';
import { setTimeout as delay } from 'node:timers/promises';
import { Backoff } from './backoff.js';
import { listPrefix } from './list-prefix.js';
import type { KvChange } from './record-view.js';

export interface PrefixWatcherOptions {
  client: Etcd3;
  prefix: string;
  /** Optional periodic full list-and-diff, as a guard against anything missed. */
  resyncMs?: number;
  /**
   * Daemons set this: start() keeps trying (with backoff, emitting
   * `disconnected`) until etcd answers, instead of failing when etcd is not
   * up yet. One-shot commands leave it off and fail fast.
   */
  waitForEtcd?: boolean;
}

/** Why a full listing replaced the incremental stream. */
export type ResyncReason = 'start' | 'compacted' | 'revision-went-back' | 'cluster-changed' | 'periodic';

export interface PrefixWatcherEvents {
  /** A full listing of the prefix; consumers replace their state with it. */
  snapshot: [kvs: Map<string, string>, revision: number, reason: ResyncReason];
  /** Incremental changes, in etcd's order. */
  changes: [changes: KvChange[], revision: number];
  /** The watch was lost; a reconnect follows after `retryInMs`. */
  disconnected: [err: Error, retryInMs: number];
  /** The watch is live again, resumed from the last seen revision. */
  resumed: [revision: number];
}

/**
 * Follows every key under a prefix. Lists first, then watches from the
 * listing's revision + 1, so nothing falls between the two. After a
 * disconnect it resumes from the last revision it saw; if that revision was
 * compacted away, etcd's revision went backwards (restored from a backup, or
 * rebuilt empty), or another cluster now answers at the same address (its
 * `cluster_id` differs: its revisions are another history, even when ahead),
 * it lists again and emits a new snapshot instead of resuming.
 *
 * At most one etcd watch is open at any time: one connect runs at a time, one
 * reconnect timer is pending, and a watch is cancelled before another opens.
 */
export class PrefixWatcher extends EventEmitter<PrefixWatcherEvents> {
  private revision = 0;
  /** The cluster our revision belongs to, from the last listing's response header. */
  private clusterId: string | undefined;
  private watcher: Watcher | undefined;
  /** Ends the wait for a watch being created when that watch is dropped (stop, resync). */
  private abandonCreate: (() => void) | undefined;
  private needSnapshot: ResyncReason | undefined = 'start';
  private readonly backoff = new Backoff(100, 1000);
  private reconnectTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private connecting: Promise<void> | undefined;

  constructor(private readonly options: PrefixWatcherOptions) {
    super();
  }

  /** Lists and starts watching; resolves once the first snapshot was emitted. */
  async start(): Promise<void> {
    for (;;) {
      try {
        await this.connect();
        break;
      } catch (err) {
        if (!this.options.waitForEtcd || this.stopped) throw err;
        const wait = this.backoff.next();
        this.emit('disconnected', err as Error, wait);
        await delay(wait);
        if (this.stopped) return;
      }
    }
    if (this.options.resyncMs && !this.stopped) {
      this.resyncTimer = setInterval(() => this.forceResync('periodic'), this.options.resyncMs);
      this.resyncTimer.unref();
    }
  }

  /** The last revision applied. */
  get lastRevision(): number {
    return this.revision;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.resyncTimer);
    await this.dropWatcher();
  }

  /** Lists the prefix again now and emits a snapshot, then resumes watching. */
  forceResync(reason: ResyncReason): void {
    this.needSnapshot = reason;
    // A connect in flight sees needSnapshot and lists again before it settles.
    if (!this.connecting) this.scheduleReconnect(0);
  }

  /**
   * One connect at a time; it repeats while a resync was asked for during it,
   * so a forceResync() that lands mid-connect is never lost.
   */
  private connect(): Promise<void> {
    this.connecting ??= (async () => {
      do await this.doConnect();
      while (this.needSnapshot && !this.stopped);
    })().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async doConnect(): Promise<void> {
    const { client, prefix } = this.options;
    const range = `${prefix}/`;
    await this.dropWatcher();
    if (!this.needSnapshot) {
      // Resume only if etcd still has our history: a revision that went back
      // means a restore or a rebuilt store, another cluster id means another
      // store altogether; watching from ours would wait forever or replay
      // someone else's changes.
      const head = await client.getAll().prefix(range).limit(1).exec();
      if (head.header.cluster_id !== this.clusterId) this.needSnapshot = 'cluster-changed';
      else if (Number(head.header.revision) < this.revision) this.needSnapshot = 'revision-went-back';
    }
    if (this.needSnapshot) {
      const reason = this.needSnapshot;
      const res = await listPrefix(client, range);
      const kvs = new Map<string, string>();
      for (const kv of res.kvs) kvs.set(kv.key.toString(), kv.value.toString());
      this.revision = res.revision;
      this.clusterId = res.header.cluster_id;
      this.needSnapshot = undefined;
      this.emit('snapshot', kvs, this.revision, reason);
    }
    if (this.stopped || this.needSnapshot) return;
    await this.openWatch(range);
  }

  /** Opens the watch from revision + 1; it is ours (and cancellable) before etcd confirms it. */
  private async openWatch(range: string): Promise<void> {
    const watcher = this.options.client.watch().prefix(range).startRevision(String(this.revision + 1)).watcher();
    this.watcher = watcher;
    let created: IWatchResponse | undefined;
    let cancelledByEtcd = false;
    const settle: Array<() => void> = [];
    try {
      created = await new Promise<IWatchResponse | undefined>((resolve, reject) => {
        const onError = (err: Error) => {
          // etcd cancels a watch whose start revision was compacted: relist.
          cancelledByEtcd = true;
          reject(err);
        };
        watcher.once('connected', resolve).once('disconnected', reject).once('error', onError);
        this.abandonCreate = () => resolve(undefined);
        settle.push(() => watcher.off('connected', resolve).off('disconnected', reject).off('error', onError));
      });
    } catch (err) {
      if (cancelledByEtcd) {
        this.needSnapshot = 'compacted';
        if (this.watcher === watcher) this.watcher = undefined;
      } else if (this.watcher === watcher) {
        await this.dropWatcher();
      }
      throw err;
    } finally {
      // Only the handlers below may see this watch's later events.
      for (const off of settle) off();
      this.abandonCreate = undefined;
    }
    // Dropped meanwhile (stop, resync): dropWatcher() has cancelled it.
    if (!created || this.watcher !== watcher) return;
    if (created.header.cluster_id !== this.clusterId) {
      // Swapped between our listing and the watch: the loop in connect() relists.
      this.needSnapshot = 'cluster-changed';
      await this.dropWatcher();
      return;
    }
    watcher.on('data', (res: IWatchResponse) => this.onData(watcher, res));
    watcher.on('disconnected', (err: Error) => this.onLost(watcher, err));
    watcher.on('error', (err: Error) => {
      // etcd cancels a watch whose start revision was compacted; etcd3 turns
      // that into "Watcher canceled: " and drops compact_revision. Any cancel
      // we did not ask for means our history is gone: relist.
      this.needSnapshot = 'compacted';
      this.onLost(watcher, err, { alreadyCancelled: true });
    });
    this.backoff.reset();
  }

  private onData(watcher: Watcher, res: IWatchResponse): void {
    if (watcher !== this.watcher) return;
    if (res.header.cluster_id !== this.clusterId) {
      // etcd3 re-attached this watch by itself on another cluster.
      this.needSnapshot = 'cluster-changed';
      this.onLost(watcher, new Error(`etcd cluster changed (${this.clusterId} → ${res.header.cluster_id})`));
      return;
    }
    if (res.compact_revision && res.compact_revision !== '0') {
      this.needSnapshot = 'compacted';
      this.onLost(watcher, new Error(`watch revision ${this.revision + 1} was compacted`));
      return;
    }
    if (res.events.length === 0) return;
    const changes: KvChange[] = res.events.map((ev) =>
      ev.type === 'Put'
        ? { type: 'put', key: ev.kv.key.toString(), value: ev.kv.value.toString() }
        : { type: 'delete', key: ev.kv.key.toString() },
    );
    this.revision = Number(res.events[res.events.length - 1]!.kv.mod_revision);
    this.emit('changes', changes, this.revision);
  }

  private onLost(watcher: Watcher, err: Error, { alreadyCancelled = false } = {}): void {
    if (watcher !== this.watcher || this.stopped) return;
    const wait = this.backoff.next();
    this.emit('disconnected', err, wait);
    // Forget it now, so its further errors are not counted twice; a watch etcd
    // cancelled itself never answers a cancel request.
    if (alreadyCancelled) this.watcher = undefined;
    else void this.dropWatcher();
    this.scheduleReconnect(wait);
  }

  /** The one pending reconnect: a newer schedule replaces it, never adds a second. */
  private scheduleReconnect(wait: number): void {
    clearTimeout(this.reconnectTimer);
    if (this.stopped) return;
    this.reconnectTimer = setTimeout(() => this.reconnect(), wait);
  }

  private reconnect(): void {
    this.reconnectTimer = undefined;
    if (this.stopped || this.connecting) return;
    this.connect().then(
      () => {
        if (!this.stopped) this.emit('resumed', this.revision);
      },
      (err: Error) => {
        if (this.stopped) return;
        const wait = this.backoff.next();
        this.emit('disconnected', err, wait);
        this.scheduleReconnect(wait);
      },
    );
  }

  private async dropWatcher(): Promise<void> {
    const watcher = this.watcher;
    this.watcher = undefined;
    this.abandonCreate?.();
    // cancel() waits for etcd's answer; on a broken stream that may never come.
    if (watcher) await Promise.race([watcher.cancel().catch(() => undefined), delay(1000)]);
  }
}
