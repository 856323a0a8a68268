/**
 * An error the endpoint answers with, in the Query protocol's `ErrorResponse`
 * shape. `code` is what the SDK maps to an exception class
 * (`TargetGroupNotFound` → `TargetGroupNotFoundException`).
 */
export class QueryError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
    /** `x-amz-retry-after` in milliseconds, for throttling faults. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'QueryError';
  }

  /** AWS's fault side: `Sender` for 4xx, `Receiver` for 5xx. */
  get type(): 'Sender' | 'Receiver' {
    return this.status >= 500 ? 'Receiver' : 'Sender';
  }
}

/** The error codes ELBv2 uses for the cases the endpoint models. */
export const errors = {
  targetGroupNotFound: (what = 'One or more target groups not found') => new QueryError('TargetGroupNotFound', what),
  invalidTarget: (message: string) => new QueryError('InvalidTarget', message),
  tooManyTargets: (message = 'You have reached the limit on the number of targets') => new QueryError('TooManyTargets', message),
  duplicateName: () => new QueryError('DuplicateTargetGroupName', 'A target group with the same name exists, but with different settings'),
  validation: (message: string) => new QueryError('ValidationError', message),
  invalidConfiguration: (message: string) => new QueryError('InvalidConfigurationRequest', message),
  resourceInUse: (message: string) => new QueryError('ResourceInUse', message),
  invalidAction: (action: string) => new QueryError('InvalidAction', `Could not find operation ${action} for version 2015-12-01`),
  missingAction: () => new QueryError('MissingAction', 'Missing Action'),
  badVersion: (version: string) => new QueryError('InvalidAction', `Could not find operation for version ${version}`),
  missingAuth: () => new QueryError('MissingAuthenticationToken', 'Request is missing Authentication Token', 403),
} as const;

/** AWS's wording for a null required member. */
export function missingParam(name: string): QueryError {
  const member = name.charAt(0).toLowerCase() + name.slice(1);
  return errors.validation(`1 validation error detected: Value null at '${member}' failed to satisfy constraint: Member must not be null`);
}
