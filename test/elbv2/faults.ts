import { QueryError } from './errors.js';

/** The failures the endpoint can script, as AWS produces them. */
export type FaultKind =
  /** `Throttling` / "Rate exceeded", HTTP 400: ELBv2's usual API rate limit answer. */
  | 'throttling'
  /** HTTP 429 `TooManyRequestsException`. */
  | 'too-many-requests'
  /** HTTP 500 `InternalFailure`. */
  | 'internal-error'
  /** HTTP 503 `ServiceUnavailable`. */
  | 'unavailable';

/** "The next `count` calls of `action` fail with `kind`." */
export interface FaultScript {
  /** An action name such as `RegisterTargets`, or `*` for any. */
  action: string;
  count: number;
  kind: FaultKind;
  /** Sent as `x-amz-retry-after` (milliseconds), which the SDK's retry strategy honours. */
  retryAfterMs?: number;
}

function toError(script: FaultScript): QueryError {
  switch (script.kind) {
    case 'throttling':
      return new QueryError('Throttling', 'Rate exceeded', 400, script.retryAfterMs);
    case 'too-many-requests':
      return new QueryError('TooManyRequestsException', 'Too Many Requests', 429, script.retryAfterMs);
    case 'internal-error':
      return new QueryError('InternalFailure', 'The request processing has failed because of an unknown error, exception or failure.', 500, script.retryAfterMs);
    case 'unavailable':
      return new QueryError('ServiceUnavailable', 'Service is unavailable', 503, script.retryAfterMs);
  }
}

/** A queue of scripted faults, consumed one call at a time in the order they were added. */
export class FaultQueue {
  private readonly scripts: FaultScript[] = [];

  /** Adds a script; returns this for chaining. */
  add(script: FaultScript): this {
    if (script.count > 0) this.scripts.push({ ...script });
    return this;
  }

  /** The error the next call of `action` must fail with, if any script matches (and counts it down). */
  take(action: string): QueryError | undefined {
    const script = this.scripts.find((s) => s.action === action || s.action === '*');
    if (!script) return undefined;
    script.count -= 1;
    if (script.count <= 0) this.scripts.splice(this.scripts.indexOf(script), 1);
    return toError(script);
  }

  /** Faults still to be served. */
  get pending(): number {
    return this.scripts.reduce((n, s) => n + s.count, 0);
  }

  clear(): void {
    this.scripts.length = 0;
  }
}
