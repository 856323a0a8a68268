import type { TargetGroupApi } from './client.js';
import { classifyElbv2Error, ELBV2_CODES, Elbv2Error } from './errors.js';
import type { GroupEvent } from './events.js';
import { describePlan } from './plan-text.js';
import { planHasPending, planIsEmpty, planTargets, type ActualTarget, type TargetPlan } from './plan.js';
import { targetKey, type SkippedEndpoint, type Target } from './targets.js';

/** The fixed settings of one service → target group sync. */
export interface GroupSyncSettings {
  service: string;
  targetGroupArn: string;
  graceMs: number;
  maxRemove: number;
  /** How long a refused target is left out unless it changes (ms); the drift period. */
  rejectForMs: number;
  dryRun: boolean;
  batchSize?: number;
}

/** What one pass over a group needs from the view and the output. */
export interface GroupPassInput {
  desired: Target[];
  skipped: SkippedEndpoint[];
  viewStableForMs: number;
  now: number;
  /** Checked before every write: false once this replica is no longer the leader or the output closes. */
  canWrite: () => boolean;
}

/** What one pass over a group did. */
export interface GroupPassResult {
  plan?: TargetPlan;
  registered: number;
  deregistered: number;
  calls: number;
  /** The failure that ended this group's pass early. */
  error?: Elbv2Error;
  /** Targets ELBv2 refused this pass (InvalidTarget, TooManyTargets), one error per refusal. */
  refused: Elbv2Error[];
  /** What this pass left out, one sentence each: endpoints that cannot be targets, removals held by the safety stop. */
  warnings: string[];
  /** True when the group needs another look before the next drift pass (held removals, drains, a recoverable error). */
  pending: boolean;
}

interface Rejection {
  error: Elbv2Error;
  at: number;
}

/** Ids named in quotes in an AWS error message (`… cannot be registered: 'i-0abc…'`). */
function quotedIds(message: string): Set<string> {
  return new Set([...message.matchAll(/'([^']+)'/g)].map((m) => m[1]!));
}

/**
 * Keeps one target group in step with one service: describe, plan, then
 * register and deregister in batches. Holds what must survive between passes:
 * when each new target was registered (for make-before-break) and which
 * targets ELBv2 refused (so they are not retried blindly).
 */
export class GroupSync {
  private readonly since = new Map<string, number>();
  private readonly rejected = new Map<string, Rejection>();
  private lastSkipped = '';

  constructor(
    private readonly api: TargetGroupApi,
    readonly settings: GroupSyncSettings,
    private readonly emit: (event: GroupEvent) => void,
  ) {}

  async pass(input: GroupPassInput): Promise<GroupPassResult> {
    const { service, targetGroupArn } = this.settings;
    const result: GroupPassResult = { registered: 0, deregistered: 0, calls: 0, pending: false, refused: [], warnings: [] };
    for (const s of input.skipped) result.warnings.push(`${s.service}/${s.instance} for target group ${targetGroupArn}: ${s.reason}`);
    this.reportSkipped(input.skipped);
    this.expireRejections(input);
    const desired = input.desired.filter((t) => !this.rejected.has(targetKey(t)));

    let actual;
    try {
      result.calls++;
      actual = await this.api.describeTargets(targetGroupArn);
    } catch (err) {
      return this.fail(result, classifyElbv2Error(err, { service, targetGroupArn, action: 'DescribeTargetHealth' }));
    }
    // A target counts from when we registered it or first saw it initial, whichever came first.
    for (const t of actual) if (t.state === 'initial' && !this.since.has(targetKey(t))) this.since.set(targetKey(t), input.now);
    const plan = this.plan(desired, actual, input);
    result.plan = plan;
    result.pending = planHasPending(plan);
    if (plan.hold?.kind === 'safety-stop') result.warnings.push(`deregistering ${plan.heldBack.length} targets of ${service} from ${targetGroupArn}: ${plan.hold.reason}`);
    this.pruneSince(desired);
    if (!planIsEmpty(plan) || plan.hold) {
      this.emit({ type: 'plan', event: { service, targetGroupArn, plan, text: describePlan(service, targetGroupArn, plan), dryRun: this.settings.dryRun } });
    }
    if (this.settings.dryRun) return result;

    try {
      for (const batch of plan.register) {
        if (!input.canWrite()) return result;
        await this.registerBatch(batch, input, result);
      }
      for (const batch of plan.deregister) {
        if (!input.canWrite()) return result;
        result.calls++;
        await this.api.deregisterTargets(targetGroupArn, batch);
        result.deregistered += batch.length;
        for (const t of batch) this.since.delete(targetKey(t));
        this.emit({ type: 'deregistered', event: { service, targetGroupArn, targets: batch } });
      }
    } catch (err) {
      return this.fail(result, err instanceof Elbv2Error ? err : classifyElbv2Error(err, { service, targetGroupArn, action: 'DeregisterTargets' }));
    }
    // Registering leaves removals held for a later pass (make-before-break): come back soon.
    if (result.registered > 0 && plan.heldBack.length > 0) result.pending = true;
    return result;
  }

  /** What a pass would do, as one line, without writing or changing any state (for `--dry-run`). */
  async preview(input: Omit<GroupPassInput, 'canWrite'>): Promise<string> {
    const { service, targetGroupArn } = this.settings;
    let actual;
    try {
      actual = await this.api.describeTargets(targetGroupArn);
    } catch (err) {
      return `${service} → ${targetGroupArn}: cannot plan: ${classifyElbv2Error(err, { service, targetGroupArn, action: 'DescribeTargetHealth' }).message}`;
    }
    const plan = this.plan(input.desired, actual, input);
    const skipped = input.skipped.map((s) => `\n  skipped ${s.service}/${s.instance}: ${s.reason}`).join('');
    return describePlan(service, targetGroupArn, plan) + skipped;
  }

  private plan(desired: Target[], actual: ActualTarget[], input: Pick<GroupPassInput, 'now' | 'viewStableForMs'>): TargetPlan {
    return planTargets({
      desired,
      actual,
      since: this.since,
      now: input.now,
      viewStableForMs: input.viewStableForMs,
      graceMs: this.settings.graceMs,
      maxRemove: this.settings.maxRemove,
      ...(this.settings.batchSize ? { batchSize: this.settings.batchSize } : {}),
    });
  }

  /**
   * Registers one batch. An InvalidTarget answer refuses the named targets
   * (or, when the message names none, each target is tried alone to find
   * them) and registers the rest; TooManyTargets refuses the whole batch.
   */
  private async registerBatch(batch: Target[], input: GroupPassInput, result: GroupPassResult): Promise<void> {
    const { service, targetGroupArn } = this.settings;
    let remaining = batch;
    for (let attempt = 0; remaining.length > 0; attempt++) {
      try {
        result.calls++;
        await this.api.registerTargets(targetGroupArn, remaining);
        this.registered(remaining, input, result);
        return;
      } catch (err) {
        const error = classifyElbv2Error(err, { service, targetGroupArn, action: 'RegisterTargets', targets: remaining });
        if (error.code === ELBV2_CODES.tooManyTargets) {
          this.reject(remaining, error, input.now);
          throw error;
        }
        if (error.code !== ELBV2_CODES.invalidTarget) throw error;
        const named = quotedIds(error.message);
        const bad = remaining.filter((t) => named.has(t.id));
        if (bad.length === 0 || attempt >= 2) {
          await this.isolate(remaining, input, result);
          return;
        }
        this.reject(bad, classifyElbv2Error(err, { service, targetGroupArn, action: 'RegisterTargets', targets: bad }), input.now, result);
        remaining = remaining.filter((t) => !named.has(t.id));
      }
    }
  }

  /** Registers targets one by one, refusing those ELBv2 calls invalid. */
  private async isolate(targets: Target[], input: GroupPassInput, result: GroupPassResult): Promise<void> {
    const { service, targetGroupArn } = this.settings;
    for (const t of targets) {
      if (!input.canWrite()) return;
      try {
        result.calls++;
        await this.api.registerTargets(targetGroupArn, [t]);
        this.registered([t], input, result);
      } catch (err) {
        const error = classifyElbv2Error(err, { service, targetGroupArn, action: 'RegisterTargets', targets: [t] });
        if (error.code !== ELBV2_CODES.invalidTarget) throw error;
        this.reject([t], error, input.now, result);
      }
    }
  }

  private registered(targets: Target[], input: GroupPassInput, result: GroupPassResult): void {
    const { service, targetGroupArn } = this.settings;
    result.registered += targets.length;
    for (const t of targets) this.since.set(targetKey(t), input.now);
    this.emit({ type: 'registered', event: { service, targetGroupArn, targets } });
  }

  private reject(targets: Target[], error: Elbv2Error, now: number, result?: GroupPassResult): void {
    result?.refused.push(error);
    for (const t of targets) this.rejected.set(targetKey(t), { error, at: now });
    this.emit({ type: 'rejected', event: { service: this.settings.service, targetGroupArn: this.settings.targetGroupArn, targets, error } });
  }

  /** A refused target is tried again once it leaves the desired set (a new record) or a drift period passes. */
  private expireRejections(input: GroupPassInput): void {
    const wanted = new Set(input.desired.map(targetKey));
    for (const [key, r] of this.rejected) {
      if (!wanted.has(key) || input.now - r.at >= this.settings.rejectForMs) this.rejected.delete(key);
    }
  }

  private pruneSince(desired: Target[]): void {
    const wanted = new Set(desired.map(targetKey));
    for (const key of this.since.keys()) if (!wanted.has(key)) this.since.delete(key);
  }

  private reportSkipped(skipped: SkippedEndpoint[]): void {
    const fingerprint = skipped.map((s) => `${s.instance}:${s.reason}`).join('\n');
    if (fingerprint === this.lastSkipped) return;
    this.lastSkipped = fingerprint;
    if (skipped.length) this.emit({ type: 'skipped', event: { targetGroupArn: this.settings.targetGroupArn, endpoints: skipped } });
  }

  private fail(result: GroupPassResult, error: Elbv2Error): GroupPassResult {
    result.error = error;
    result.pending = result.pending || error.recoverable;
    return result;
  }
}
