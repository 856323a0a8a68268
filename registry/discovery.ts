import { EventEmitter, on } from 'node:events';
import type { Etcd3 } from 'etcd3';
import { listPrefix } from './list-prefix.js';
import { PrefixWatcher } from './prefix-watcher.js';
import { RecordView, type Problem } from './record-view.js';
import type { ServiceRecord } from './record.js';

export interface DiscoveryOptions {
  client: Etcd3;
  prefix: string;
}

export interface Listing {
  records: ServiceRecord[];
  /** Keys that could not be used, with the reason; the valid records are unaffected. */
  problems: Problem[];
}

/** Lists every valid record under the prefix (all layouts), optionally of one service. */
export async function discover(options: DiscoveryOptions, service?: string): Promise<Listing> {
  const res = await listPrefix(options.client, `${options.prefix}/`);
  const view = new RecordView(options.prefix);
  view.reset(new Map(res.kvs.map((kv) => [kv.key.toString(), kv.value.toString()])));
  const records = sortRecords(service ? view.byService(service) : view.list());
  return { records, problems: view.problems() };
}

export interface ServiceWatchEvents {
  /** The current endpoint set, after every change that touched it. */
  update: [records: ServiceRecord[]];
  /** A key that could not be used; reported once per distinct problem. */
  problem: [problem: Problem];
  disconnected: [err: Error];
}

/**
 * Follows the endpoint set of one service (or all of them) live. Emits
 * `update` with the full current set after the first listing and after every
 * change that touched it; also usable as an async iterator of those sets.
 */
export class ServiceWatch extends EventEmitter<ServiceWatchEvents> {
  private readonly view: RecordView;
  private readonly watcher: PrefixWatcher;

  constructor(
    options: DiscoveryOptions,
    private readonly service?: string,
  ) {
    super();
    this.view = new RecordView(options.prefix);
    this.watcher = new PrefixWatcher({ client: options.client, prefix: options.prefix });
    this.watcher.on('snapshot', (kvs) => this.publish(this.view.reset(kvs), true));
    this.watcher.on('changes', (changes) => this.publish(this.view.apply(changes), false));
    this.watcher.on('disconnected', (err) => this.emit('disconnected', err));
  }

  start(): Promise<void> {
    return this.watcher.start();
  }

  stop(): Promise<void> {
    return this.watcher.stop();
  }

  current(): ServiceRecord[] {
    return sortRecords(this.service ? this.view.byService(this.service) : this.view.list());
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<ServiceRecord[]> {
    for await (const [records] of on(this, 'update')) yield records as ServiceRecord[];
  }

  private publish(diff: ReturnType<RecordView['apply']>, always: boolean): void {
    for (const problem of diff.problems) this.emit('problem', problem);
    const touched = [...diff.upserted, ...diff.removed].some((r) => !this.service || r.service === this.service);
    if (always || touched) this.emit('update', this.current());
  }
}

/** Stable order for output: by service, then instance. */
export function sortRecords(records: ServiceRecord[]): ServiceRecord[] {
  return [...records].sort((a, b) => a.service.localeCompare(b.service) || a.instance.localeCompare(b.instance));
}
