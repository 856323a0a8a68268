import { KeyError, ValidationError } from './errors.js';
import { validateInstanceId, validateRecord, validateServiceName, type ServiceRecord } from './record.js';

/**
 * The three key layouts of the /services contract:
 * - `json`:   `/services/<service>/<instance>` → the record as JSON (canonical);
 * - `flat`:   `/services/<service>/<instance>/{host,port,unit,public_ipv4_addr}` → plain text, one key a field;
 * - `single`: `/services/<service>` → `{"host":…,"port":…}`, one endpoint per service.
 */
export type Layout = 'json' | 'flat' | 'single';
export const LAYOUTS: readonly Layout[] = ['json', 'flat', 'single'];

/** The fields the flat layout writes and reads, one key each. */
export const FLAT_FIELDS = ['host', 'port', 'unit', 'public_ipv4_addr'] as const;
type FlatField = (typeof FLAT_FIELDS)[number];

/** Where a key belongs: which record it (partly) describes. */
export interface KeySlot {
  layout: Layout;
  service: string;
  instance: string;
  /** For the flat layout: which field this key holds. */
  field?: FlatField;
}

/** Normalises a prefix to start with `/` and not end with one. */
export function normalisePrefix(prefix: string): string {
  const trimmed = `/${prefix}`.replace(/\/+/g, '/').replace(/\/$/, '');
  if (trimmed === '') throw new ValidationError('prefix', 'must not be empty or "/"', prefix);
  return trimmed;
}

/**
 * Classifies a key under the prefix by its depth. Throws a KeyError for keys
 * that fit no layout or carry names that break the contract.
 */
export function slotOf(prefix: string, key: string): KeySlot {
  if (!key.startsWith(`${prefix}/`)) throw new KeyError(key, `is not under ${prefix}/`);
  const parts = key.slice(prefix.length + 1).split('/');
  try {
    if (parts.length === 1) {
      const service = validateServiceName(parts[0]);
      return { layout: 'single', service, instance: service };
    }
    if (parts.length === 2) {
      return { layout: 'json', service: validateServiceName(parts[0]), instance: validateInstanceId(parts[1]) };
    }
    if (parts.length === 3) {
      const service = validateServiceName(parts[0]);
      const instance = validateInstanceId(parts[1]);
      const field = parts[2] as FlatField;
      if (!FLAT_FIELDS.includes(field)) throw new KeyError(key, `flat layout fields are ${FLAT_FIELDS.join(', ')}`);
      return { layout: 'flat', service, instance, field };
    }
  } catch (err) {
    if (err instanceof ValidationError) throw new KeyError(key, `${err.field} in key ${err.rule}`);
    throw err;
  }
  throw new KeyError(key, 'must be <prefix>/<service>, <prefix>/<service>/<instance> or <prefix>/<service>/<instance>/<field>');
}

/** The keys and values that publish `record` in `layout`. */
export function encodeRecord(prefix: string, record: ServiceRecord, layout: Layout): Array<[string, string]> {
  switch (layout) {
    case 'json':
      return [[`${prefix}/${record.service}/${record.instance}`, JSON.stringify(record)]];
    case 'single':
      return [[`${prefix}/${record.service}`, JSON.stringify({ host: record.host, port: record.port })]];
    case 'flat': {
      const base = `${prefix}/${record.service}/${record.instance}`;
      const kvs: Array<[string, string]> = [[`${base}/host`, record.host], [`${base}/port`, String(record.port)]];
      if (record.unit) kvs.push([`${base}/unit`, record.unit]);
      const publicAddr = record.meta?.public_ipv4_addr;
      if (publicAddr) kvs.push([`${base}/public_ipv4_addr`, publicAddr]);
      return kvs;
    }
  }
}

/** Decodes a canonical JSON value; the key's names must match the value's. */
export function decodeJson(slot: KeySlot, value: string): ServiceRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new ValidationError('value', 'must be valid JSON', value);
  }
  const record = validateRecord(parsed);
  if (record.service !== slot.service || record.instance !== slot.instance) {
    throw new ValidationError('value', `service/instance must match the key (${slot.service}/${slot.instance})`, `${record.service}/${record.instance}`);
  }
  return record;
}

/** Decodes the single layout's `{"host","port"}`: the instance is the service name. */
export function decodeSingle(slot: KeySlot, value: string): ServiceRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new ValidationError('value', 'must be valid JSON', value);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ValidationError('value', 'must be a JSON object with host and port', value);
  }
  const { host, port } = parsed as Record<string, unknown>;
  return validateRecord({ service: slot.service, instance: slot.instance, host, port });
}

/**
 * Assembles a flat-layout record from its field keys. Returns undefined while
 * the record is incomplete (host or port not yet written).
 */
export function decodeFlat(slot: KeySlot, fields: ReadonlyMap<string, string>): ServiceRecord | undefined {
  // Plain-text values written by shell scripts often end in a newline: trim every field alike.
  const field = (name: string) => fields.get(name)?.trim();
  const host = field('host');
  const port = field('port');
  if (host === undefined || port === undefined) return undefined;
  const candidate: Record<string, unknown> = { service: slot.service, instance: slot.instance, host, port };
  const unit = field('unit');
  if (unit !== undefined) candidate.unit = unit;
  const publicAddr = field('public_ipv4_addr');
  if (publicAddr !== undefined) candidate.meta = { public_ipv4_addr: publicAddr };
  return validateRecord(candidate);
}
