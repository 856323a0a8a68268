import { randomUUID } from 'node:crypto';
import { ELBV2_XMLNS, renderValue, type XmlNode } from './xml.js';
import { missingParam, type QueryError } from './errors.js';

/** The Query API version ELBv2 speaks; every request names it. */
export const ELBV2_VERSION = '2015-12-01';

/** A decoded request: flat `Key.member.N.Field` parameters as AWS sends them. */
export class QueryParams {
  constructor(readonly raw: ReadonlyMap<string, string>) {}

  /** Parses a form-encoded request body. */
  static parse(body: string): QueryParams {
    return new QueryParams(new Map(new URLSearchParams(body)));
  }

  get(name: string): string | undefined {
    return this.raw.get(name);
  }

  /** A required parameter, or the ValidationError AWS gives when it is null. */
  require(name: string): string {
    const value = this.raw.get(name);
    if (value === undefined || value === '') throw missingParam(name);
    return value;
  }

  /** An optional integer parameter. */
  int(name: string): number | undefined {
    const value = this.raw.get(name);
    return value === undefined || value === '' ? undefined : Number(value);
  }

  /** A list of scalars: `Names.member.1`, `Names.member.2`, … in index order. */
  list(prefix: string): string[] {
    return this.indexed(prefix).map(([, rest]) => rest.get('') ?? '');
  }

  /** A list of structures: `Targets.member.1.Id`, `Targets.member.1.Port`, … in index order. */
  structs(prefix: string): Array<Record<string, string>> {
    return this.indexed(prefix).map(([, rest]) => Object.fromEntries([...rest].filter(([k]) => k !== '')));
  }

  /** True when the list was sent at all (the SDK sends `Names=` for an empty list). */
  has(prefix: string): boolean {
    return [...this.raw.keys()].some((k) => k === prefix || k.startsWith(`${prefix}.`));
  }

  private indexed(prefix: string): Array<[number, Map<string, string>]> {
    const lead = `${prefix}.member.`;
    const items = new Map<number, Map<string, string>>();
    for (const [key, value] of this.raw) {
      if (!key.startsWith(lead)) continue;
      const rest = key.slice(lead.length);
      const dot = rest.indexOf('.');
      const index = Number(dot === -1 ? rest : rest.slice(0, dot));
      if (!Number.isInteger(index) || index < 1) continue;
      const field = dot === -1 ? '' : rest.slice(dot + 1);
      if (!items.has(index)) items.set(index, new Map());
      items.get(index)!.set(field, value);
    }
    return [...items].sort(([a], [b]) => a - b);
  }

  /** A plain object of every parameter except Action and Version, for the call log. */
  toObject(): Record<string, string> {
    return Object.fromEntries([...this.raw].filter(([k]) => k !== 'Action' && k !== 'Version'));
  }
}

/** A new request id in AWS's format (a UUID). */
export function newRequestId(): string {
  return randomUUID();
}

/** The success envelope: `<XResponse xmlns><XResult>…</XResult><ResponseMetadata><RequestId/></ResponseMetadata></XResponse>`. */
export function successXml(action: string, result: XmlNode[], requestId: string): string {
  const inner = result.length ? `<${action}Result>${renderValue(result)}</${action}Result>` : `<${action}Result/>`;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${ELBV2_XMLNS}">${inner}<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>\n`;
}

/** The error envelope: `<ErrorResponse xmlns><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>`. */
export function errorXml(err: QueryError, requestId: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="${ELBV2_XMLNS}">${renderValue([
    ['Error', [['Type', err.type], ['Code', err.code], ['Message', err.message]]],
    ['RequestId', requestId],
  ])}</ErrorResponse>\n`;
}
