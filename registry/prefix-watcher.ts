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
export type ResyncReason = 'start' | 'compacted' | 'revision-went-back' | 'periodic';

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
 * compacted away, or etcd's revision went backwards (restored from a backup,
 * or rebuilt empty), it lists again and emits a new snapshot instead of
 * waiting for a revision that will never come.
 */
export class PrefixWatcher extends EventEmitter<PrefixWatcherEvents> {
  private revision = 0;
  private watcher: Watcher | undefined;
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
    if (this.options.resyncMs) {
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
    void this.dropWatcher().then(() => this.reconnect());
  }

  private connect(): Promise<void> {
    this.connecting ??= this.doConnect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async doConnect(): Promise<void> {
    const { client, prefix } = this.options;
    const range = `${prefix}/`;
    if (!this.needSnapshot) {
      // Resume only if etcd still has our history: a revision that went back
      // means a restore or a rebuilt store, and watching from ours would wait forever.
      const head = await client.getAll().prefix(range).limit(1).exec();
      if (Number(head.header.revision) < this.revision) this.needSnapshot = 'revision-went-back';
    }
    if (this.needSnapshot) {
      const reason = this.needSnapshot;
      const res = await listPrefix(client, range);
      const kvs = new Map<string, string>();
      for (const kv of res.kvs) kvs.set(kv.key.toString(), kv.value.toString());
      this.revision = res.revision;
      this.needSnapshot = undefined;
      this.emit('snapshot', kvs, this.revision, reason);
    }
    if (this.stopped) return;
    const watcher = await client.watch().prefix(range).startRevision(String(this.revision + 1)).create();
    this.watcher = watcher;
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
    // A watch etcd cancelled itself never answers a cancel request: just forget it.
    if (alreadyCancelled) this.watcher = undefined;
    const dropped = alreadyCancelled ? Promise.resolve() : this.dropWatcher();
    void dropped.then(() => {
      this.reconnectTimer = setTimeout(() => this.reconnect(), wait);
    });
  }

  private reconnect(): void {
    if (this.stopped) return;
    this.connect().then(
      () => this.emit('resumed', this.revision),
      (err: Error) => {
        const delay = this.backoff.next();
        this.emit('disconnected', err, delay);
        this.reconnectTimer = setTimeout(() => this.reconnect(), delay);
      },
    );
  }

  private async dropWatcher(): Promise<void> {
    const watcher = this.watcher;
    this.watcher = undefined;
    // cancel() waits for etcd's answer; on a broken stream that may never come.
    if (watcher) await Promise.race([watcher.cancel().catch(() => undefined), delay(1000)]);
  }
}
