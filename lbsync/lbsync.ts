import { EventEmitter } from 'node:events';
import type { Etcd3 } from 'etcd3';
import {
  isRecoverable,
  listPrefix,
  PrefixWatcher,
  RecordView,
  recordId,
  type PrefixWatcherEvents,
  type Problem,
  type ResyncReason,
  type ServiceRecord,
  type ViewDiff,
} from '../registry/index.js';
import { HealthScheduler, resolveSpec, systemClock, type CheckResult, type Clock, type HealthSpec, type HealthState } from '../health/index.js';
import { Coalescer, type ChangeKind, type WaitWindow } from './coalescer.js';
import { allMembersPolicy, buildPoolView, healthPolicy, type HealthInfo, type MemberPolicy } from './model.js';
import type { ApplyOutcome, Output, PoolView, ServicePool } from './output.js';
import { Retries, type RetryPolicy } from './retries.js';

/** Health filtering: off, or on with the defaults and per-service overrides for resolveSpec. */
export type HealthMode =
  | { enabled: false }
  | {
      enabled: true;
      defaults?: Partial<HealthSpec>;
      perService?: Record<string, Partial<HealthSpec>>;
      /** Keep every endpoint when all fail (default true). */
      failOpen?: boolean;
      /** Share or inject a scheduler (tests); lbsync makes and stops its own otherwise. */
      scheduler?: HealthScheduler;
    };

/** What lbsync follows: a PrefixWatcher's events, start and stop. */
export type RecordSource = Pick<EventEmitter<PrefixWatcherEvents>, 'on'> & Pick<PrefixWatcher, 'start' | 'stop'>;

export interface LbSyncOptions {
  client: Etcd3;
  prefix: string;
  /** Where records come from; a PrefixWatcher on `client` unless given (unit tests feed their own). */
  source?: RecordSource;
  outputs: Output[];
  wait: WaitWindow;
  services?: string[];
  /** The `--allowed-networks` filter (issue 8). */
  allow?: (record: ServiceRecord) => boolean;
  health: HealthMode;
  /** Periodic full list-and-diff, as a guard against anything missed. */
  resyncMs?: number;
  /** Backoff for retrying an output whose apply failed recoverably (default 250 ms doubling to 5 s). */
  retry?: RetryPolicy;
  clock?: Clock;
}

/** lbsync's events; the CLI logs them, the metrics count them, lbsync itself never logs. */
export interface LbSyncEvents {
  /** A full listing replaced the model (start, compaction, revision gone back, periodic). */
  resynced: [reason: ResyncReason, records: number, revision: number];
  /** A key under the prefix that could not be used; reported once per distinct problem. */
  problem: [problem: Problem];
  /** An output left a value out or adjusted it; reported once until it goes away. */
  warning: [output: string, message: string];
  /** An output applied a view; `latencyMs` runs from the first change it includes. */
  applied: [output: string, outcome: ApplyOutcome, latencyMs: number | undefined];
  /**
   * An output refused or failed to apply; it kept its last good state. A
   * recoverable failure is tried again in `retryInMs` (with backoff, until
   * it succeeds); otherwise on the next change.
   */
  rejected: [output: string, err: Error, retryInMs: number | undefined];
  /** The view every apply used. */
  view: [view: PoolView];
  /** An endpoint's health state changed. */
  health: [id: string, state: HealthState, result: CheckResult, previous: HealthState];
  /** A service entered (`on`) or left fail-open. */
  failOpen: [service: string, on: boolean];
  disconnected: [err: Error, retryInMs: number];
  resumed: [revision: number];
}

/**
 * The daemon: follows the prefix (PrefixWatcher → RecordView), health-checks
 * the endpoints that could serve, coalesces bursts and drives every output
 * with the same view. An output that fails keeps its last good state and
 * never holds the others back; a recoverable failure (nginx down, a failed
 * reload, a full disk) is retried on its own with backoff until it succeeds,
 * so a quiet system converges once the cause goes away.
 */
export class LbSync extends EventEmitter<LbSyncEvents> {
  private readonly view: RecordView;
  private readonly watcher: RecordSource;
  private readonly coalescer: Coalescer;
  private readonly settleJoins: boolean;
  private readonly scheduler: HealthScheduler | undefined;
  private readonly ownsScheduler: boolean;
  private readonly clock: Clock;
  private revision = 0;
  private stableSince: number;
  private dirtySince: number | undefined;
  private failOpen = new Set<string>();
  private readonly warned = new Map<string, Set<string>>();
  /** Records by service, kept in step with the view, for cheap per-service checks. */
  private readonly services = new Map<string, Map<string, ServiceRecord>>();
  private lastView: PoolView | undefined;
  /**
   * Each service's pool as the last view built it, and the services changed
   * since ('all' after a listing): a view rebuilds only those, so an apply
   * costs what changed, not the whole prefix (unchanged pools keep their
   * identity, which outputs use to skip re-rendering them).
   */
  private readonly pools = new Map<string, ServicePool>();
  private poolOrder: string[] | undefined;
  /** Pools membersChange built since the service last changed (a burst of health changes builds each pool once, not twice). */
  private readonly prebuilt = new Map<string, ServicePool | undefined>();
  /** The last applied view's pools by service. */
  private appliedPools = new Map<string, ServicePool>();
  private dirtyPools: Set<string> | 'all' = 'all';
  private started = false;
  /** Health-check upserts absorb() queued; startChecks() runs them. */
  private checksToStart: Array<() => void> = [];
  private warmed = false;
  /** A change came before the outputs were ready: applied once they are. */
  private listedEarly = false;
  /** Outputs waiting to be retried after a recoverable failure; a due one joins the next apply even when nothing changed. */
  private readonly retries: Retries<Output>;
  /** Outputs that asked to be applied again later (a quarantined service is due for another try): their timers, and the ones due. */
  private readonly later = new Map<Output, unknown>();
  private readonly laterDue = new Set<Output>();

  constructor(private readonly options: LbSyncOptions) {
    super();
    this.clock = options.clock ?? systemClock;
    this.stableSince = this.clock.now();
    this.view = new RecordView(options.prefix);
    this.watcher = options.source ?? new PrefixWatcher({ client: options.client, prefix: options.prefix, waitForEtcd: true, ...(options.resyncMs ? { resyncMs: options.resyncMs } : {}) });
    this.coalescer = new Coalescer(() => this.applyAll(), options.wait, this.clock);
    this.settleJoins = options.outputs.some((o) => o.settlesJoins);
    this.retries = new Retries(this.clock, () => this.coalescer.notify(), options.retry);
    if (options.health.enabled) {
      this.scheduler = options.health.scheduler ?? new HealthScheduler({ checkThread: true });
      this.ownsScheduler = !options.health.scheduler;
      this.scheduler.on('change', (id, state, result, previous) => {
        this.emit('health', id, state, result, previous);
        // A state change that leaves the pool as it is (e.g. a new endpoint of a
        // single-endpoint service passing its first check) needs no apply; an
        // apply for nothing would also push the next real change into the
        // batching window. One that only adds members to a serving pool is a
        // join: it waits for the others of its burst (see ChangeKind). When
        // every output pushes the service's endpoints, the apply is what tells
        // (it builds the pool once for all the results it takes, where telling
        // here would build it once per result: O(n²) for a burst of n checks).
        const service = id.slice(0, id.indexOf('/'));
        this.poolChanged(service);
        if (this.allPush([service])) return this.markDirty('endpoint');
        const kind = this.membersChange(service);
        if (kind) this.markDirty(kind, [service]);
      });
    } else {
      this.ownsScheduler = false;
    }
    this.watcher.on('snapshot', (kvs, revision, reason) => {
      this.revision = revision;
      // A periodic list follows an unbroken watch: the view is no younger for it.
      if (reason !== 'periodic') this.stableSince = this.clock.now();
      const diff = this.view.reset(kvs);
      this.dirtyPools = 'all';
      // The apply is armed before the health checks of the listed endpoints
      // (same-delay timers run in order): a restarted lbsync renders what it
      // listed first, and only then opens hundreds of check connections.
      this.markDirty();
      this.absorb(diff);
      this.startChecks();
      this.emit('resynced', reason, this.view.size, revision);
    });
    this.watcher.on('changes', (changes, revision) => {
      this.revision = revision;
      const change = this.absorb(this.view.apply(changes));
      // Armed before the checks it started, which start after it (an
      // endpoint change's apply is a microtask queued first): an apply of a
      // changed record (a new port, a removal) does not wait for a new
      // endpoint's check to be set up.
      if (change && !change.nothingServed) this.markDirty(change.kind, change.services);
      queueMicrotask(() => this.startChecks());
    });
    this.watcher.on('disconnected', (err, retryInMs) => {
      this.stableSince = this.clock.now();
      this.emit('disconnected', err, retryInMs);
    });
    this.watcher.on('resumed', (revision) => this.emit('resumed', revision));
  }

  /** Starts every output, lists the prefix and starts watching; the first apply follows at once. */
  async start(): Promise<void> {
    // The outputs get ready (nginx's `-t` finds the main config) while the
    // watcher connects and lists: a restart's first render waits for the
    // slower of the two, not for both in turn.
    const watching = this.watcher.start();
    watching.catch(() => undefined); // awaited below; not unhandled while the outputs start
    try {
      for (const output of this.options.outputs) await output.start?.();
    } catch (err) {
      await this.watcher.stop();
      throw err;
    }
    this.started = true;
    if (this.listedEarly) this.markDirty();
    await watching;
  }

  /**
   * One pass for `--once` / `--dry-run`: list, check every endpoint once (when
   * health is on, waiting at most `healthWaitMs`), then apply (or preview)
   * every output. Returns each output's outcome or its preview text.
   */
  async runOnce(mode: 'apply' | 'preview', healthWaitMs = 5000): Promise<Array<{ output: string; outcome?: ApplyOutcome; preview?: string; error?: Error }>> {
    const res = await listPrefix(this.options.client, `${this.options.prefix}/`);
    this.revision = res.revision;
    this.dirtyPools = 'all';
    this.absorb(this.view.reset(new Map(res.kvs.map((kv) => [kv.key.toString(), kv.value.toString()]))));
    this.startChecks();
    if (this.scheduler) {
      const deadline = Date.now() + healthWaitMs;
      while (Date.now() < deadline && this.view.list().some((r) => this.scheduler!.has(recordId(r)) && this.scheduler!.state(recordId(r)) === 'unknown')) {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const view = this.currentView();
    const results: Array<{ output: string; outcome?: ApplyOutcome; preview?: string; error?: Error }> = [];
    for (const output of this.options.outputs) {
      try {
        await output.start?.();
        if (mode === 'preview') {
          results.push({ output: output.name, preview: output.preview ? await output.preview(view) : JSON.stringify(view, null, 2) });
        } else {
          const outcome = await output.apply(view);
          results.push({ output: output.name, outcome });
        }
      } catch (err) {
        results.push({ output: output.name, error: err as Error });
      }
    }
    return results;
  }

  /** The view outputs would get now. */
  /** The valid record with this id (`service/instance`), if there is one. */
  record(id: string): ServiceRecord | undefined {
    return this.view.get(id);
  }

  currentView(): PoolView {
    const dirty = this.dirtyPools;
    this.dirtyPools = new Set();
    this.prebuilt.clear();
    if (dirty === 'all') {
      const full = buildPoolView(
        { records: this.view.list(), health: (id) => this.healthOf(id), revision: this.revision, stableForMs: 0 },
        { policy: this.policy(), ...(this.options.services ? { services: this.options.services } : {}), ...(this.options.allow ? { allow: this.options.allow } : {}) },
      );
      this.pools.clear();
      for (const pool of full.pools) this.pools.set(pool.service, pool);
      this.poolOrder = full.pools.map((p) => p.service);
    } else {
      for (const service of dirty) {
        const pool = this.prebuilt.has(service) ? this.prebuilt.get(service) : this.poolOf(service);
        if (!pool || !this.pools.has(service)) this.poolOrder = undefined;
        if (pool) this.pools.set(service, pool);
        else this.pools.delete(service);
      }
    }
    this.poolOrder ??= [...this.pools.keys()].sort();
    return { pools: this.poolOrder.map((s) => this.pools.get(s)!), revision: this.revision, stableForMs: this.clock.now() - this.stableSince };
  }

  private policy(): MemberPolicy {
    return this.options.health.enabled ? healthPolicy(this.options.health.failOpen ?? true) : allMembersPolicy;
  }

  /** The service's pool built from its records alone (as buildPoolView would), or undefined when it has none. */
  private poolOf(service: string): ServicePool | undefined {
    if (!this.wanted(service)) return undefined;
    const allow = this.options.allow;
    const records = [...(this.services.get(service)?.values() ?? [])].filter((r) => !allow || allow(r));
    if (records.length === 0 && !this.options.services?.includes(service)) return undefined;
    return buildPoolView({ records, health: (id) => this.healthOf(id), revision: this.revision, stableForMs: 0 }, { policy: this.policy(), services: [service] }).pools[0];
  }

  /** Starts the health checks absorb() queued (after the caller armed its apply). */
  private startChecks(): void {
    const checks = this.checksToStart;
    this.checksToStart = [];
    for (const start of checks) start();
  }

  private poolChanged(service: string): void {
    this.prebuilt.delete(service);
    if (this.dirtyPools !== 'all') this.dirtyPools.add(service);
  }

  /** The view of the last apply, for status pages. */
  get lastAppliedView(): PoolView | undefined {
    return this.lastView;
  }

  /** Resolves when no change waits and no apply runs (tests, shutdown). */
  idle(): Promise<void> {
    return this.coalescer.idle();
  }

  async stop(): Promise<void> {
    this.retries.stop();
    for (const timer of this.later.values()) this.clock.clearTimer(timer);
    this.later.clear();
    await this.watcher.stop();
    this.coalescer.stop();
    await this.coalescer.idle();
    if (this.ownsScheduler) await this.scheduler?.stop();
    for (const output of this.options.outputs) await output.close();
  }

  /** Applies `output` again after `ms` with no change needed (not counted as a change's latency); the latest request wins. */
  private applyAgainIn(output: Output, ms: number | undefined): void {
    const timer = this.later.get(output);
    if (timer !== undefined) this.clock.clearTimer(timer);
    this.later.delete(output);
    if (ms === undefined || !this.started) return;
    this.later.set(
      output,
      this.clock.setTimer(() => {
        this.later.delete(output);
        this.laterDue.add(output);
        this.coalescer.notify();
      }, ms + 10),
    );
  }

  private markDirty(kind: ChangeKind = 'change', services?: Iterable<string>): void {
    if (!this.started) {
      this.listedEarly = true;
      return;
    }
    this.dirtySince ??= this.clock.now();
    // Joins settle only for an output whose apply is a reload; otherwise a new endpoint is served at once.
    if (kind === 'join' && !this.settleJoins) kind = 'change';
    // A change every output pushes without a reload need not wait for its siblings.
    if (kind === 'change' && services && this.allPush(services)) kind = 'endpoint';
    this.coalescer.notify(kind);
  }

  private allPush(services: Iterable<string>): boolean {
    for (const service of services) if (!this.options.outputs.every((o) => o.pushesEndpoints?.(service))) return false;
    return true;
  }

  /**
   * Reports problems and keeps health checks in step with the records (new
   * checks are queued for startChecks()). Returns undefined when no relevant
   * record changed; 'join' when the only relevant changes are new endpoints
   * that do not change what is served yet (they wait for their first check;
   * `nothingServed` when no output batches joins, so nothing needs applying);
   * 'change' otherwise.
   */
  private absorb(diff: ViewDiff): { kind: ChangeKind; services: Set<string>; nothingServed?: true } | undefined {
    for (const problem of diff.problems) this.emit('problem', problem);
    let relevant = false;
    let urgent = false;
    /** New records by service. */
    const joining = new Map<string, Set<string>>();
    const touched = new Set<string>();
    for (const record of diff.removed) {
      this.poolChanged(record.service);
      touched.add(record.service);
      this.services.get(record.service)?.delete(recordId(record));
      this.scheduler?.remove(recordId(record));
      relevant ||= this.wanted(record.service);
      urgent ||= this.wanted(record.service);
    }
    for (const record of diff.upserted) {
      const id = recordId(record);
      this.poolChanged(record.service);
      touched.add(record.service);
      let forService = this.services.get(record.service);
      if (!forService) this.services.set(record.service, (forService = new Map()));
      if (forService.has(id)) urgent ||= this.wanted(record.service);
      else if (joining.has(record.service)) joining.get(record.service)!.add(id);
      else joining.set(record.service, new Set([id]));
      forService.set(id, record);
      const allowed = !this.options.allow || this.options.allow(record);
      const wanted = this.wanted(record.service) && allowed;
      relevant ||= this.wanted(record.service);
      // Reported once per change of the record: a writer to /services must not be able to route traffic anywhere.
      if (this.wanted(record.service) && !allowed) {
        this.emit('problem', { key: `${this.options.prefix}/${id}`, reason: `host ${record.host} is outside --allowed-networks; not routed` });
      }
      if (!this.scheduler || !this.options.health.enabled) continue;
      if (!wanted) {
        this.scheduler.remove(id);
        continue;
      }
      const scheduler = this.scheduler;
      const health = this.options.health;
      this.checksToStart.push(() => {
        try {
          const spec = resolveSpec(record.check, health.perService?.[record.service], health.defaults);
          scheduler.upsert(id, { host: record.host, port: record.port }, spec);
        } catch (err) {
          scheduler.remove(id);
          this.emit('problem', { key: `${this.options.prefix}/${id}`, reason: `health check not usable, endpoint served unchecked: ${(err as Error).message}` });
        }
      });
    }
    if (!relevant) return undefined;
    // A record that changed or went, of services every output pushes: at once, as a health change is.
    if (urgent) return { kind: this.allPush(touched) ? 'endpoint' : 'change', services: touched };
    // With --health off a new record is served at once and applies as any
    // change. With health checks it only adds capacity to a pool that serves
    // (it waits for its first check, or joins a pool still served unchecked)
    // and goes with the joins — even while joins of its siblings wait (the
    // pool then differs from the applied one by those joins only). Into an
    // empty pool it is a change: a first endpoint serves at once.
    let served = false;
    for (const [service, ids] of joining) {
      // Pushed without a reload: the apply tells whether anything served
      // changed, once for all the records it takes (here it would cost a
      // pool per record: O(n²) for a burst of n puts).
      if (!this.settleJoins && this.allPush([service])) return { kind: 'change', services: touched };
      const now = this.poolOf(service);
      const kind = this.membersChange(service, now);
      if (kind === 'change' || (kind === 'join' && !this.options.health.enabled && now?.members.some((r) => ids.has(recordId(r))))) return { kind: 'change', services: touched };
      served ||= kind !== undefined;
    }
    // Nothing served differs yet (every new endpoint waits for its first
    // check): only an output that settles joins counts this one.
    return { kind: 'join', services: touched, ...(served || this.settleJoins ? {} : { nothingServed: true }) };
  }

  /**
   * How the service's pool now differs from the last applied view's: not at
   * all (undefined), only by members added to a pool that served ('join'), or
   * otherwise ('change'). A member left out only because the pool now has
   * passing members (it was served unchecked and has not been checked yet) is
   * no loss: it has not failed, and comes back when it passes — containers
   * started together pass one by one, and the first pass must not cost a
   * reload of its own.
   */
  private membersChange(service: string, now = this.poolOf(service)): ChangeKind | undefined {
    if (!this.wanted(service)) return undefined;
    // Nothing about the service changed since: the next view takes this pool as it is.
    if (this.dirtyPools !== 'all' && this.dirtyPools.has(service)) this.prebuilt.set(service, now);
    const applied = this.appliedPools.get(service);
    if (!applied) return 'change';
    const key = (r: ServiceRecord) => `${r.instance}@${r.host}:${r.port}`;
    const before = new Set((applied.members ?? []).map(key));
    const after = new Set((now?.members ?? []).map(key));
    if (now?.failOpen === applied.failOpen && before.size === after.size && [...before].every((k) => after.has(k))) return undefined;
    const unchecked = new Set((now?.endpoints ?? []).filter((e) => e.health === 'unknown').map((e) => key(e.record)));
    const joinsOnly = !applied.failOpen && !now?.failOpen && before.size > 0 && after.size > 0 && [...before].every((k) => after.has(k) || unchecked.has(k));
    return joinsOnly ? 'join' : 'change';
  }

  private wanted(service: string): boolean {
    return !this.options.services || this.options.services.includes(service);
  }

  private healthOf(id: string): HealthInfo {
    // Two lookups, no copy: a view build asks this for every endpoint of a changed service.
    const state = this.scheduler?.state(id);
    if (state === undefined) return { state: 'unknown' };
    const last = this.scheduler!.lastResult(id);
    return last ? { state, last } : { state };
  }

  private async applyAll(): Promise<void> {
    const since = this.dirtySince;
    this.dirtySince = undefined;
    // A change goes to every output; a retry timer alone only to the outputs it is for.
    const due = this.retries.takeDue();
    for (const output of this.laterDue) due.add(output);
    this.laterDue.clear();
    const outputs = since !== undefined ? this.options.outputs : this.options.outputs.filter((o) => due.has(o));
    if (outputs.length === 0) return;
    const view = this.currentView();
    this.lastView = view;
    this.appliedPools = new Map(view.pools.map((p) => [p.service, p]));
    const nowFailOpen = new Set(view.pools.filter((p) => p.failOpen).map((p) => p.service));
    for (const s of nowFailOpen) if (!this.failOpen.has(s)) this.emit('failOpen', s, true);
    for (const s of this.failOpen) if (!nowFailOpen.has(s)) this.emit('failOpen', s, false);
    this.failOpen = nowFailOpen;
    this.emit('view', view);
    await Promise.all(
      outputs.map(async (output) => {
        const from = this.retries.since(output) ?? since;
        try {
          const outcome = await output.apply(view);
          this.retries.clear(output);
          this.reportWarnings(output.name, outcome.warnings ?? []);
          this.applyAgainIn(output, outcome.retryInMs);
          this.emit('applied', output.name, outcome, from === undefined ? undefined : this.clock.now() - from);
        } catch (err) {
          if (!isRecoverable(err)) this.retries.clear(output);
          this.emit('rejected', output.name, err as Error, isRecoverable(err) ? this.retries.failed(output, from) : undefined);
        }
      }),
    );
    // After the first apply, while lbsync waits: the HTTP checker loads and
    // the check thread starts now, so neither the first new endpoint's check
    // nor the first burst waits for them.
    if (!this.warmed) {
      this.warmed = true;
      setImmediate(() => this.scheduler?.warm());
    }
  }

  private reportWarnings(output: string, warnings: string[]): void {
    const before = this.warned.get(output) ?? new Set<string>();
    for (const w of warnings) if (!before.has(w)) this.emit('warning', output, w);
    this.warned.set(output, new Set(warnings));
  }
}
