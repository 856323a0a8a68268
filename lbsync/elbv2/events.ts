import type { Elbv2Error } from './errors.js';
import type { TargetPlan } from './plan.js';
import type { SkippedEndpoint, Target } from './targets.js';

/** A plan for one group, emitted before it is carried out (or instead, with `dryRun`). */
export interface PlanEvent {
  service: string;
  targetGroupArn: string;
  plan: TargetPlan;
  /** One line for the log, from describePlan(). */
  text: string;
  dryRun: boolean;
}

/** Targets registered or deregistered by one call. */
export interface TargetsEvent {
  service: string;
  targetGroupArn: string;
  targets: Target[];
}

/** Targets ELBv2 refused (InvalidTarget, TooManyTargets): left out until they change or a drift period passes. */
export interface RejectedEvent extends TargetsEvent {
  error: Elbv2Error;
}

/** Endpoints that cannot become targets (no IP, no instance id). Emitted when the set changes. */
export interface SkippedEvent {
  targetGroupArn: string;
  endpoints: SkippedEndpoint[];
}

/** A recoverable failure (throttling or 5xx after the SDK's retries, no leader check): retried after `retryInMs`. */
export interface WarningEvent {
  error: Elbv2Error;
  retryInMs: number;
}

/** The outcome of one pass over every group. */
export interface PassEvent {
  reason: string;
  registered: number;
  deregistered: number;
  held: number;
  failed: number;
  /** API calls made (SDK retries not counted). */
  calls: number;
  durationMs: number;
}

/** Everything one group's pass reports, in order; the output re-emits each under its name. */
export type GroupEvent =
  | { type: 'plan'; event: PlanEvent }
  | { type: 'registered'; event: TargetsEvent }
  | { type: 'deregistered'; event: TargetsEvent }
  | { type: 'rejected'; event: RejectedEvent }
  | { type: 'skipped'; event: SkippedEvent };
