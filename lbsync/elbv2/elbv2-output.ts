import { EventEmitter } from 'node:events';
import { Backoff } from '../../registry/index.js';
import type { ApplyOutcome, Output, PoolView } from '../output.js';
import { SdkTargetGroupApi, type Elbv2ClientOptions, type TargetGroupApi } from './client.js';
import { ELBV2_CODES, Elbv2Error, Elbv2SyncError } from './errors.js';
import type { GroupEvent, PassEvent, PlanEvent, RejectedEvent, SkippedEvent, TargetsEvent, WarningEvent } from './events.js';
import { GroupSync, type GroupPassResult } from './group-sync.js';
import type { LeaderGate } from './leader.js';
import type { Elbv2Options } from './options.js';
import { desiredTargets } from './targets.js';

/** Everything the output needs: the parsed options plus the pieces tests and the daemon inject. */
export interface Elbv2OutputOptions extends Omit<Elbv2Options, 'electionTtlSeconds' | 'electionName'> {
  /** The ELBv2 API; an SDK client built from `endpoint`, `region` and `client` when absent. */
  api?: TargetGroupApi;
  /** Extra SDK client settings (credentials, attempts) when `api` is absent. */
  client?: Omit<Elbv2ClientOptions, 'endpoint' | 'region'>;
  /** Only the leader writes; without a gate this output always writes. */
  leader?: LeaderGate;
  /** Close the gate with the output (when the output's factory created it). */
  ownsLeader?: boolean;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
  /** Groups synced at once (default 8). */
  concurrency?: number;
  /** Targets per Register/Deregister call (default 200, ELBv2's limit we keep to). */
  batchSize?: number;
}

interface Scheduled {
  timer: NodeJS.Timeout;
  at: number;
}

/**
 * The ELBv2 output: keeps each mapped service's target group in step with the
 * pool view. apply() runs a pass at once; between views the output runs its
 * own passes: soon while work is pending (make-before-break, drains,
 * recoverable errors with backoff), otherwise every drift period, so a target
 * changed by hand is repaired within one period. Passes never overlap.
 *
 * It logs nothing: plans, changes, refusals and warnings come out as events.
 */
export class Elbv2Output extends EventEmitter implements Output {
  readonly name = 'elbv2';
  private readonly api: TargetGroupApi;
  private readonly ownsApi: boolean;
  private readonly groups: GroupSync[];
  private readonly now: () => number;
  private readonly backoff = new Backoff(1000, 30_000);
  private view: PoolView | undefined;
  private viewAt = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private scheduled: Scheduled | undefined;
  private closed = false;
  private readonly onLeaderChange = (leader: boolean) => {
    this.emit('leader', leader);
    if (leader && this.view) this.schedule(0);
  };

  constructor(private readonly options: Elbv2OutputOptions) {
    super();
    this.now = options.now ?? Date.now;
    this.ownsApi = !options.api;
    this.api =
      options.api ??
      new SdkTargetGroupApi({
        ...options.client,
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
        ...(options.region ? { region: options.region } : {}),
      });
    this.groups = [...options.targetGroups].map(
      ([service, targetGroupArn]) =>
        new GroupSync(
          this.api,
          {
            service,
            targetGroupArn,
            graceMs: options.graceMs,
            maxRemove: options.maxRemove,
            rejectForMs: options.driftMs,
            dryRun: options.dryRun,
            ...(options.batchSize ? { batchSize: options.batchSize } : {}),
          },
          (e) => this.forward(e),
        ),
    );
    options.leader?.on('change', this.onLeaderChange);
  }

  override on(event: 'plan', handler: (e: PlanEvent) => void): this;
  override on(event: 'registered' | 'deregistered', handler: (e: TargetsEvent) => void): this;
  override on(event: 'rejected', handler: (e: RejectedEvent) => void): this;
  override on(event: 'skipped', handler: (e: SkippedEvent) => void): this;
  /** A recoverable failure; the group is retried after `retryInMs`. Operators see a warning, not an error. */
  override on(event: 'warning', handler: (e: WarningEvent) => void): this;
  /** A group failed in a way retrying will not fix (unknown group, refused targets, a full group). */
  override on(event: 'failed', handler: (e: Elbv2Error) => void): this;
  override on(event: 'pass', handler: (e: PassEvent) => void): this;
  override on(event: 'leader', handler: (leader: boolean) => void): this;
  // The overloads above carry the types.
  override on(event: string, handler: (...args: any[]) => void): this {
    return super.on(event, handler);
  }

  /**
   * Syncs every mapped group to the view. Resolves with what changed; rejects
   * with an Elbv2SyncError when a group failed in a way retrying will not fix
   * (the other groups are synced regardless). A follower resolves at once
   * without calling ELBv2.
   */
  apply(view: PoolView): Promise<ApplyOutcome> {
    if (this.closed) return Promise.reject(new Error('elbv2 output is closed'));
    this.view = view;
    this.viewAt = this.now();
    return this.serial(() => this.pass('view'));
  }

  /**
   * For `--dry-run`: the plan of every group as text, one line each, from
   * DescribeTargetHealth only. Writes nothing, needs no leadership, keeps no state.
   */
  async preview(view: PoolView): Promise<string> {
    const now = this.now();
    const pools = new Map(view.pools.map((p) => [p.service, p]));
    const lines = await mapLimit(this.groups, this.options.concurrency ?? 8, (group) => {
      const { targets, skipped } = desiredTargets(pools.get(group.settings.service), this.options.targetType, this.options.health);
      return group.preview({ desired: targets, skipped, viewStableForMs: view.stableForMs, now });
    });
    return `elbv2 plan (dry run, nothing written):\n${lines.map((l) => `  ${l}`).join('\n')}\n`;
  }

  /** Runs a pass now with the last view (what the drift timer does). For tests and `beacon lbsync --once`. */
  sync(reason = 'manual'): Promise<ApplyOutcome> {
    return this.serial(() => this.pass(reason));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.clearSchedule();
    this.options.leader?.off('change', this.onLeaderChange);
    await this.queue.catch(() => undefined);
    if (this.options.ownsLeader) await this.options.leader?.close?.();
    if (this.ownsApi) this.api.close();
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async pass(reason: string): Promise<ApplyOutcome> {
    this.clearSchedule();
    const view = this.view;
    if (this.closed || !view) return { changed: false, detail: 'elbv2: no view yet' };
    const leader = this.options.leader;
    if (leader && !(leader.isLeader() && (await leader.confirm()))) {
      if (leader.isLeader() && !this.closed) return this.unconfirmed();
      // Not the writer: wait for the election to say otherwise (the 'change' handler schedules a pass).
      return { changed: false, detail: 'elbv2: standby, another replica writes' };
    }
    const started = this.now();
    const stableForMs = view.stableForMs + Math.max(0, started - this.viewAt);
    const pools = new Map(view.pools.map((p) => [p.service, p]));
    const canWrite = () => !this.closed && (!leader || leader.isLeader());
    const results = await mapLimit(this.groups, this.options.concurrency ?? 8, (group) => {
      const { targets, skipped } = desiredTargets(pools.get(group.settings.service), this.options.targetType, this.options.health);
      return group.pass({ desired: targets, skipped, viewStableForMs: stableForMs, now: started, canWrite });
    });
    return this.finish(reason, started, results);
  }

  /**
   * Still elected, but etcd could not confirm it (a blip, a cut): write
   * nothing now, and look again with backoff. Waiting for the election's
   * 'change' instead would stop drift repair for good, since a leader whose
   * lease survived the blip never changes.
   */
  private unconfirmed(): ApplyOutcome {
    const retryInMs = this.backoff.next();
    const error = new Elbv2Error(ELBV2_CODES.leaderUnconfirmed, 'etcd did not confirm this replica still leads; writing nothing until it does', {}, { recoverable: true });
    this.emit('warning', { error, retryInMs } satisfies WarningEvent);
    this.schedule(retryInMs);
    return { changed: false, detail: `elbv2: leadership unconfirmed, retrying in ${retryInMs}ms` };
  }

  private finish(reason: string, started: number, results: GroupPassResult[]): ApplyOutcome {
    const sum = (f: (r: GroupPassResult) => number) => results.reduce((n, r) => n + f(r), 0);
    const registered = sum((r) => r.registered);
    const deregistered = sum((r) => r.deregistered);
    const held = sum((r) => (r.plan?.hold ? 1 : 0));
    const recoverable = results.filter((r) => r.error?.recoverable);
    const fatal = results.flatMap((r) => [...r.refused, ...(r.error && !r.error.recoverable && !r.refused.includes(r.error) ? [r.error] : [])]);
    const pending = results.filter((r) => r.pending);

    let next = this.options.driftMs;
    if (recoverable.length) {
      next = this.backoff.next();
      for (const r of recoverable) this.emit('warning', { error: r.error!, retryInMs: next } satisfies WarningEvent);
    } else {
      this.backoff.reset();
    }
    if (pending.length && !recoverable.length) next = Math.min(next, this.settleDelay(results));
    this.schedule(next);

    for (const error of fatal) this.emit('failed', error);
    this.emit('pass', {
      reason,
      registered,
      deregistered,
      held,
      failed: recoverable.length + fatal.length,
      calls: sum((r) => r.calls),
      durationMs: this.now() - started,
    } satisfies PassEvent);
    if (fatal.length) throw new Elbv2SyncError(fatal);

    const verb = this.options.dryRun ? 'would register' : 'registered';
    const parts = [`${verb} ${this.options.dryRun ? sum((r) => r.plan?.register.flat().length ?? 0) : registered}`];
    parts.push(`${this.options.dryRun ? 'would deregister' : 'deregistered'} ${this.options.dryRun ? sum((r) => r.plan?.deregister.flat().length ?? 0) : deregistered}`);
    if (held) parts.push(`held in ${held} groups`);
    if (recoverable.length) parts.push(`retrying ${recoverable.length} groups in ${next}ms`);
    const warnings = results.flatMap((r) => r.warnings);
    return {
      changed: registered + deregistered > 0,
      detail: `elbv2: ${parts.join(', ')} across ${results.length} target groups`,
      ...(warnings.length ? { warnings } : {}),
    };
  }

  /**
   * How soon to look again while work is pending: when the view turns stable
   * for a safety-stopped group, else a short poll for new targets leaving
   * `initial` or drains finishing (a tenth of the grace, 1-5 s).
   */
  private settleDelay(results: GroupPassResult[]): number {
    const poll = Math.min(5000, Math.max(1000, this.options.graceMs / 10));
    const view = this.view;
    if (!view) return poll;
    const stableForMs = view.stableForMs + Math.max(0, this.now() - this.viewAt);
    const safetyStopped = results.some((r) => r.plan?.hold?.kind === 'safety-stop');
    const untilStable = Math.max(0, this.options.graceMs - stableForMs) + 50;
    return safetyStopped ? Math.min(Math.max(untilStable, 50), this.options.driftMs) : poll;
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    const at = this.now() + delayMs;
    if (this.scheduled && this.scheduled.at <= at) return;
    this.clearSchedule();
    const timer = setTimeout(() => {
      this.scheduled = undefined;
      this.serial(() => this.pass(delayMs === 0 ? 'leader' : 'timer')).catch(() => undefined);
    }, delayMs);
    timer.unref();
    this.scheduled = { timer, at };
  }

  private clearSchedule(): void {
    if (this.scheduled) clearTimeout(this.scheduled.timer);
    this.scheduled = undefined;
  }

  private forward(e: GroupEvent): void {
    this.emit(e.type, e.event);
  }
}

/** Runs `fn` over items with at most `limit` in flight, keeping order. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
