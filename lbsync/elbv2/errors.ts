import { BeaconError } from '../../registry/index.js';
import type { Target } from './targets.js';

/** Stable codes of the ELBv2 output's errors. */
export const ELBV2_CODES = {
  targetGroupNotFound: 'BEACON_ELBV2_TARGET_GROUP_NOT_FOUND',
  invalidTarget: 'BEACON_ELBV2_INVALID_TARGET',
  tooManyTargets: 'BEACON_ELBV2_TOO_MANY_TARGETS',
  throttled: 'BEACON_ELBV2_THROTTLED',
  unavailable: 'BEACON_ELBV2_UNAVAILABLE',
  requestFailed: 'BEACON_ELBV2_REQUEST_FAILED',
  config: 'BEACON_ELBV2_CONFIG',
  leaderUnconfirmed: 'BEACON_ELBV2_LEADER_UNCONFIRMED',
} as const;

/** Where an ELBv2 error happened: the service, its group, and the targets of the failed call. */
export interface Elbv2ErrorContext {
  service?: string;
  targetGroupArn?: string;
  /** The action that failed, e.g. `RegisterTargets`. */
  action?: string;
  targets?: Target[];
}

/**
 * An ELBv2 call or setting failed. `recoverable` errors (throttling, 5xx,
 * network) are retried with backoff; the others are reported with the group
 * and targets and not retried until something changes.
 */
export class Elbv2Error extends BeaconError {
  readonly context: Elbv2ErrorContext;
  /** The AWS error code, e.g. `TargetGroupNotFound`, when the call reached ELBv2. */
  readonly awsCode: string | undefined;

  constructor(code: string, message: string, context: Elbv2ErrorContext = {}, options: { cause?: unknown; recoverable?: boolean; awsCode?: string } = {}) {
    super(code, message, options);
    this.context = context;
    this.awsCode = options.awsCode;
  }
}

/** Several groups failed in one pass; `errors` holds each. */
export class Elbv2SyncError extends BeaconError {
  constructor(readonly errors: Elbv2Error[]) {
    super(errors[0]?.code ?? ELBV2_CODES.requestFailed, errors.map((e) => e.message).join('; '), { recoverable: errors.every((e) => e.recoverable) });
  }
}

const THROTTLING = new Set(['Throttling', 'ThrottlingException', 'TooManyRequestsException', 'RequestLimitExceeded', 'RequestThrottled', 'SlowDown']);

interface AwsLike {
  name?: string;
  Code?: string;
  message?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

/** The AWS error code of an SDK exception (`Code` from the Query error body, else the class name without `Exception`). */
export function awsCodeOf(err: unknown): string | undefined {
  const e = err as AwsLike | undefined;
  if (!e || typeof e !== 'object') return undefined;
  if (typeof e.Code === 'string') return e.Code;
  if (typeof e.name === 'string' && e.$metadata) return e.name.replace(/Exception$/, '');
  return undefined;
}

function describeContext(c: Elbv2ErrorContext): string {
  const parts = [];
  if (c.service) parts.push(`service ${c.service}`);
  if (c.targetGroupArn) parts.push(`target group ${c.targetGroupArn}`);
  if (c.targets?.length) {
    const shown = c.targets.slice(0, 5).map((t) => `${t.id}:${t.port}`).join(', ');
    parts.push(`targets ${shown}${c.targets.length > 5 ? ` and ${c.targets.length - 5} more` : ''}`);
  }
  return parts.length ? ` (${parts.join(', ')})` : '';
}

/**
 * Turns whatever the SDK threw (after its own retries) into an Elbv2Error with
 * a stable code, the group and targets, and whether another pass may help.
 */
export function classifyElbv2Error(err: unknown, context: Elbv2ErrorContext): Elbv2Error {
  if (err instanceof Elbv2Error) return err;
  const aws = awsCodeOf(err);
  const status = (err as AwsLike | undefined)?.$metadata?.httpStatusCode;
  const raw = err instanceof Error ? err.message : String(err);
  const what = `${context.action ?? 'ELBv2 call'} failed`;
  const where = describeContext(context);
  const opts = (recoverable: boolean) => ({ cause: err, recoverable, ...(aws ? { awsCode: aws } : {}) });
  if (aws === 'TargetGroupNotFound') {
    return new Elbv2Error(ELBV2_CODES.targetGroupNotFound, `${what}: target group not found${where}: ${raw}`, context, opts(false));
  }
  if (aws === 'InvalidTarget') {
    return new Elbv2Error(ELBV2_CODES.invalidTarget, `${what}: invalid target${where}: ${raw}`, context, opts(false));
  }
  if (aws === 'TooManyTargets') {
    return new Elbv2Error(ELBV2_CODES.tooManyTargets, `${what}: target group is full${where}: ${raw}`, context, opts(false));
  }
  if (status === undefined && /Region is missing/i.test(raw)) {
    return new Elbv2Error(ELBV2_CODES.config, `${what}: no AWS region: give --elbv2-region or set AWS_REGION${where}`, context, opts(false));
  }
  if ((aws && THROTTLING.has(aws)) || status === 429) {
    return new Elbv2Error(ELBV2_CODES.throttled, `${what}: throttled by ELBv2 after the SDK's retries${where}: ${raw}`, context, opts(true));
  }
  // 5xx, or no response at all (connection refused/reset, timeout): the service may come back.
  if ((status !== undefined && status >= 500) || status === undefined) {
    return new Elbv2Error(ELBV2_CODES.unavailable, `${what}: ELBv2 unavailable${where}: ${raw}`, context, opts(true));
  }
  return new Elbv2Error(ELBV2_CODES.requestFailed, `${what}${aws ? ` (${aws})` : ''}${where}: ${raw}`, context, opts(false));
}
