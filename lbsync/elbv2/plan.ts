import { targetKey, type Target } from './targets.js';

/** ELBv2's limit on targets per RegisterTargets/DeregisterTargets call we keep to. */
export const MAX_BATCH = 200;

/** A target as DescribeTargetHealth reports it. */
export interface ActualTarget extends Target {
  /** `initial`, `healthy`, `unhealthy`, `unused`, `draining`, `unavailable`, `unhealthy.draining`. */
  state: string;
  reason?: string;
}

/** Everything one plan depends on; nothing else is read. */
export interface PlanInput {
  desired: Target[];
  actual: ActualTarget[];
  /** When this output registered (or first saw `initial`) each target, by targetKey (ms). */
  since: ReadonlyMap<string, number>;
  now: number;
  /** How long the view has been stable, as of `now` (ms). */
  viewStableForMs: number;
  /** Make-before-break cap and the age a view needs before large removals (ms). */
  graceMs: number;
  /** Largest fraction (0..1) of a non-empty group a young view may remove. */
  maxRemove: number;
  /** Targets per call, at most {@link MAX_BATCH}. */
  batchSize?: number;
}

/** Why removals were held back this pass. */
export interface PlanHold {
  kind: 'make-before-break' | 'safety-stop';
  reason: string;
}

/** What to do to one target group. Register batches run before deregister batches. */
export interface TargetPlan {
  register: Target[][];
  deregister: Target[][];
  /** Desired targets already registered (any state but draining). */
  keep: Target[];
  /** Desired targets found draining (deregistered by hand, or back after leaving): registered again, part of `register`. */
  reregister: Target[];
  /** Targets that left but stay registered this pass because of `hold`. */
  heldBack: Target[];
  /** Registered targets (draining excluded) as described. */
  registeredCount: number;
  hold?: PlanHold;
}

const DRAINING = new Set(['draining', 'unhealthy.draining']);

/** True when DescribeTargetHealth's entry means "not in the group". */
function notRegistered(t: ActualTarget): boolean {
  return t.reason === 'Target.NotRegistered';
}

/** Splits a list into chunks of at most `size`. */
export function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function percent(fraction: number): string {
  return `${Math.round(fraction * 100)}%`;
}

/**
 * Compares desired with actual targets by (Id, Port) and decides what to
 * register and deregister. Pure.
 *
 * - New targets are registered at once.
 * - Targets that left are deregistered only when no new target is still
 *   being brought in: none is being registered this pass and none is
 *   `initial` for less than `graceMs` (make-before-break).
 * - A removal of more than `maxRemove` of a non-empty group is held while
 *   the view is younger than `graceMs` (safety stop): an empty-looking view
 *   right after a restart or reconnect must not empty the group.
 * - `draining` targets that are not wanted are left alone (never
 *   deregistered twice, never counted as serving); wanted ones are
 *   registered again.
 */
export function planTargets(input: PlanInput): TargetPlan {
  const size = Math.max(1, Math.min(MAX_BATCH, input.batchSize ?? MAX_BATCH));
  const registered = new Map<string, ActualTarget>();
  const draining = new Set<string>();
  for (const t of input.actual) {
    if (notRegistered(t)) continue;
    if (DRAINING.has(t.state)) draining.add(targetKey(t));
    else registered.set(targetKey(t), t);
  }
  const desired = new Map(input.desired.map((t) => [targetKey(t), t]));

  const register: Target[] = [];
  const keep: Target[] = [];
  const reregister: Target[] = [];
  for (const [key, t] of desired) {
    if (registered.has(key)) keep.push(t);
    else {
      // A wanted target that is draining is registered again: ELBv2 takes it back as `initial`.
      if (draining.has(key)) reregister.push(t);
      register.push(t);
    }
  }
  const leaving = [...registered].filter(([key]) => !desired.has(key)).map(([, t]): Target => ({ id: t.id, port: t.port }));

  let hold: PlanHold | undefined;
  if (leaving.length > 0) {
    const fraction = leaving.length / registered.size;
    const settling = keep.filter((t) => {
      const key = targetKey(t);
      return registered.get(key)!.state === 'initial' && input.now - (input.since.get(key) ?? input.now) < input.graceMs;
    });
    if (fraction > input.maxRemove && input.viewStableForMs < input.graceMs) {
      hold = {
        kind: 'safety-stop',
        reason:
          `safety stop: would remove ${leaving.length} of ${registered.size} targets (${percent(fraction)} > ${percent(input.maxRemove)}) ` +
          `while the view is young (stable for ${Math.round(input.viewStableForMs)}ms < grace ${input.graceMs}ms); holding until it is stable`,
      };
    } else if (register.length > 0) {
      hold = { kind: 'make-before-break', reason: `make-before-break: registering ${register.length} new targets before deregistering ${leaving.length}` };
    } else if (settling.length > 0) {
      hold = {
        kind: 'make-before-break',
        reason: `make-before-break: waiting for ${settling.length} new targets to leave initial (at most ${input.graceMs}ms) before deregistering ${leaving.length}`,
      };
    }
  }

  return {
    register: chunk(register, size),
    deregister: hold ? [] : chunk(leaving, size),
    keep,
    reregister,
    heldBack: hold ? leaving : [],
    registeredCount: registered.size,
    ...(hold ? { hold } : {}),
  };
}

/** True when the plan calls nothing. */
export function planIsEmpty(plan: TargetPlan): boolean {
  return plan.register.length === 0 && plan.deregister.length === 0;
}

/** True when the group is not yet where it should be: removals were held back. */
export function planHasPending(plan: TargetPlan): boolean {
  return plan.heldBack.length > 0;
}
