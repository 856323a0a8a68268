import type { IncomingHttpHeaders } from 'node:http';

/** One API call as the endpoint saw it. */
export interface CallRecord {
  /** 1, 2, 3, … in arrival order. */
  seq: number;
  /** Clock time of arrival (ms). */
  at: number;
  action: string;
  /** Every form parameter except Action and Version, e.g. `Targets.member.1.Id`. */
  params: Record<string, string>;
  /** Who called: see {@link callerOf}. */
  caller: string;
  userAgent: string;
  requestId: string;
  status: number;
  /** The error code answered, when the call failed. */
  errorCode?: string;
}

/** The header a test client may set to name itself, taking precedence over the access key id. */
export const CALLER_HEADER = 'x-beacon-caller';

/**
 * Names the caller: the `x-beacon-caller` header when present, else the access
 * key id from the SigV4 `Authorization` header (give each replica its own fake
 * key), else `anonymous`.
 */
export function callerOf(headers: IncomingHttpHeaders): string {
  const tag = headers[CALLER_HEADER];
  if (typeof tag === 'string' && tag) return tag;
  return accessKeyIdOf(headers) ?? 'anonymous';
}

/** The access key id of a SigV4-signed request (`Credential=AKID/date/region/service/aws4_request`). */
export function accessKeyIdOf(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization;
  const match = typeof auth === 'string' ? /Credential=([^/,\s]+)\//.exec(auth) : null;
  return match?.[1];
}

/** The log of every call, with the filters tests count with. */
export class CallLog {
  readonly records: CallRecord[] = [];

  add(record: Omit<CallRecord, 'seq'>): CallRecord {
    const full = { seq: this.records.length + 1, ...record };
    this.records.push(full);
    return full;
  }

  /** Calls matching a filter: by action(s), caller, or successful only. */
  find(filter: { action?: string | string[]; caller?: string; ok?: boolean; since?: number } = {}): CallRecord[] {
    const actions = filter.action === undefined ? undefined : new Set([filter.action].flat());
    return this.records.filter(
      (r) =>
        (!actions || actions.has(r.action)) &&
        (filter.caller === undefined || r.caller === filter.caller) &&
        (filter.ok === undefined || (r.status < 300) === filter.ok) &&
        (filter.since === undefined || r.seq > filter.since),
    );
  }

  /** The distinct callers seen. */
  callers(): string[] {
    return [...new Set(this.records.map((r) => r.caller))];
  }

  /** The seq of the latest call (0 when none): pass as `since` to count only later calls. */
  get mark(): number {
    return this.records.length;
  }

  clear(): void {
    this.records.length = 0;
  }
}
