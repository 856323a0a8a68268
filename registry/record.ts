import { BlockList, isIP } from 'node:net';
import { ValidationError } from './errors.js';
import { parseDuration } from './duration.js';

/** Version of the /services contract this module reads and writes. */
export const CONTRACT_VERSION = 1;

/** How an endpoint should be health-checked, as published with its record. */
export interface CheckSpec {
  /** HTTP path to GET, starting with `/`. */
  http?: string;
  /** Check by TCP connect instead of HTTP. */
  tcp?: boolean;
  interval?: string;
  timeout?: string;
  /** Expected body digest, `sha1:HEX` or `sha256:HEX`. */
  expectDigest?: string;
  /** Expected status set, e.g. `200-399` or `200,204`. */
  expectStatus?: string;
}

/** One endpoint of one service: the canonical value of `/services/<service>/<instance>`. */
export interface ServiceRecord {
  service: string;
  instance: string;
  host: string;
  port: number;
  proto?: 'tcp' | 'udp';
  node?: string;
  container?: string;
  unit?: string;
  tags?: string[];
  meta?: Record<string, string>;
  check?: CheckSpec;
  /** When the publisher first saw this endpoint up (ISO 8601, UTC). */
  since?: string;
}

export const LIMITS = {
  valueBytes: 4096,
  tags: 32,
  tagLength: 64,
  metaKeys: 32,
  metaValueLength: 256,
  /** Objects/arrays nested in a record: record → meta/check/tags → value. */
  depth: 3,
} as const;

export const NAME_RULE = 'must be 1-63 characters of a-z, 0-9, ".", "_" or "-", starting and ending with a letter or digit';
export const INSTANCE_RULE = 'must be 1-63 characters of a-z, 0-9, ".", "_", "-" or ":", starting and ending with a letter or digit';
const NAME = /^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/;
const INSTANCE = /^[a-z0-9]([a-z0-9._:-]{0,61}[a-z0-9])?$/;
const DNS_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const TAG = /^[A-Za-z0-9][A-Za-z0-9._:=/+-]*$/;
const META_KEY = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
// Printable ASCII without quotes, braces, semicolons or backslashes: nothing that can
// end or extend a directive if a value is ever placed in a config file.
const SAFE_TEXT = /^[A-Za-z0-9 ._:\/@%+=,#()\[\]!?*&~^$-]*$/;
const NODE = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const CONTAINER = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const UNIT = /^[A-Za-z0-9@._:\\-]{1,256}$/;
const HTTP_PATH = /^\/[A-Za-z0-9._~!$&'()*+,=:@\/%?-]{0,1023}$/;
const DIGEST = /^(sha1:[0-9a-f]{40}|sha256:[0-9a-f]{64})$/;
const SINCE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?Z$/;
// A last DNS label that resolvers read as a number: decimal, octal or 0x-hex.
const NUMERIC_LABEL = /^(\d+|0x[0-9a-f]*)$/i;
const STATUS_SET = /^\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*$/;

/** Refuses a service name that breaks the contract's charset. */
export function validateServiceName(name: unknown, field = 'service'): string {
  if (typeof name !== 'string' || !NAME.test(name)) throw new ValidationError(field, NAME_RULE, name);
  return name;
}

/** Refuses an instance id that breaks the contract's charset (like a name, plus `:`). */
export function validateInstanceId(id: unknown, field = 'instance'): string {
  if (typeof id !== 'string' || !INSTANCE.test(id)) throw new ValidationError(field, INSTANCE_RULE, id);
  return id;
}

/** Accepts an IP literal or a DNS name; nothing else can become an upstream address. */
export function validateHost(host: unknown, field = 'host'): string {
  const rule = 'must be an IPv4/IPv6 literal or a DNS name (labels of letters, digits and "-", at most 253 characters)';
  if (typeof host !== 'string' || host.length === 0 || host.length > 253) throw new ValidationError(field, rule, host);
  if (isIP(host)) {
    if (isUnspecified(host)) throw new ValidationError(field, 'must be an address a client can connect to, not the unspecified address (0.0.0.0, ::)', host);
    // nginx cannot take a zone id (fe80::1%lo) in an upstream server address.
    if (host.includes('%')) throw new ValidationError(field, 'must not carry an IPv6 zone id ("%…"): nginx cannot route to it', host);
    return host;
  }
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  if (!name.split('.').every((label) => DNS_LABEL.test(label))) throw new ValidationError(field, rule, host);
  // An all-numeric dotted name that is not a valid IP (e.g. 999.1.1.1) is a typo, not a host; a
  // name ending in a number (0x7f.0.0.1, 0177.1, 2130706433) is an IPv4 address in a form
  // resolvers still accept, which would slip past checks on the canonical form.
  if (/^[0-9.]+$/.test(name) || NUMERIC_LABEL.test(name.slice(name.lastIndexOf('.') + 1))) {
    throw new ValidationError(field, `${rule}; IPv4 only in dotted-decimal form such as 10.0.0.1`, host);
  }
  return host;
}

// Never a destination: 0.0.0.0/8 ("this network"; Linux connects it to itself, see isUnspecified) and ::, also IPv4-mapped.
const UNSPECIFIED = new BlockList();
UNSPECIFIED.addAddress('::', 'ipv6');
UNSPECIFIED.addSubnet('::ffff:0.0.0.0', 104, 'ipv6');

function isUnspecified(ip: string): boolean {
  // isIP takes only dotted decimal for IPv4, so 0.0.0.0/8 is a leading "0.";
  // BlockList.check, which parses the address again, is kept for IPv6 (every
  // server line of every render is validated here).
  if (isIP(ip) === 4) return ip.startsWith('0.');
  return UNSPECIFIED.check(ip, 'ipv6');
}

/** Accepts an integer port 1-65535, or its decimal string (flat layout stores text). */
export function validatePort(port: unknown, field = 'port'): number {
  const rule = 'must be an integer from 1 to 65535';
  const value = typeof port === 'string' && /^\d{1,5}$/.test(port) ? Number(port) : port;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw new ValidationError(field, rule, port);
  }
  return value;
}

function optionalText(value: unknown, field: string, pattern: RegExp, rule: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !pattern.test(value)) throw new ValidationError(field, rule, value);
  return value;
}

function validateTags(tags: unknown): string[] | undefined {
  if (tags === undefined || tags === null) return undefined;
  if (!Array.isArray(tags)) throw new ValidationError('tags', 'must be an array of strings', tags);
  if (tags.length > LIMITS.tags) throw new ValidationError('tags', `at most ${LIMITS.tags} tags`, tags.length);
  return tags.map((tag, i) => {
    if (typeof tag !== 'string' || tag.length > LIMITS.tagLength || !TAG.test(tag)) {
      throw new ValidationError(`tags[${i}]`, `must be 1-${LIMITS.tagLength} characters of letters, digits and . _ : = / + -`, tag);
    }
    return tag;
  });
}

function validateMeta(meta: unknown): Record<string, string> | undefined {
  if (meta === undefined || meta === null) return undefined;
  if (typeof meta !== 'object' || Array.isArray(meta)) throw new ValidationError('meta', 'must be an object of string values', meta);
  const entries = Object.entries(meta as Record<string, unknown>);
  if (entries.length > LIMITS.metaKeys) throw new ValidationError('meta', `at most ${LIMITS.metaKeys} keys`, entries.length);
  const out: Record<string, string> = {};
  for (const [key, value] of entries) {
    if (!META_KEY.test(key)) throw new ValidationError(`meta key`, 'must be 1-64 characters of letters, digits, ".", "_" or "-"', key);
    const text = typeof value === 'number' || typeof value === 'boolean' ? String(value) : value;
    if (typeof text !== 'string' || text.length > LIMITS.metaValueLength || !SAFE_TEXT.test(text)) {
      throw new ValidationError(`meta.${key}`, `must be a string of at most ${LIMITS.metaValueLength} printable characters without quotes, braces, ";" or "\\"`, value);
    }
    out[key] = text;
  }
  return out;
}

function validateCheck(check: unknown): CheckSpec | undefined {
  if (check === undefined || check === null) return undefined;
  if (typeof check !== 'object' || Array.isArray(check)) throw new ValidationError('check', 'must be an object', check);
  const c = check as Record<string, unknown>;
  const known = new Set(['http', 'tcp', 'interval', 'timeout', 'expectDigest', 'expectStatus']);
  for (const key of Object.keys(c)) if (!known.has(key)) throw new ValidationError(`check.${key}`, `is not a known check field (${[...known].join(', ')})`);
  const out: CheckSpec = {};
  const http = optionalText(c.http, 'check.http', HTTP_PATH, 'must be a URL path starting with "/" of safe characters');
  if (http !== undefined) out.http = http;
  if (c.tcp !== undefined) {
    if (typeof c.tcp !== 'boolean') throw new ValidationError('check.tcp', 'must be true or false', c.tcp);
    out.tcp = c.tcp;
  }
  for (const field of ['interval', 'timeout'] as const) {
    if (c[field] === undefined) continue;
    if (typeof c[field] !== 'string') throw new ValidationError(`check.${field}`, 'must be a duration such as 5s', c[field]);
    const ms = parseDuration(c[field], `check.${field}`);
    if (ms < 100 || ms > 3_600_000) throw new ValidationError(`check.${field}`, 'must be between 100ms and 1h', c[field]);
    out[field] = c[field];
  }
  const digest = optionalText(c.expectDigest, 'check.expectDigest', DIGEST, 'must be sha1:<40 hex> or sha256:<64 hex>');
  if (digest !== undefined) out.expectDigest = digest;
  const status = optionalText(c.expectStatus, 'check.expectStatus', STATUS_SET, 'must be status codes or ranges, e.g. 200-399 or 200,204');
  if (status !== undefined) out.expectStatus = status;
  return out;
}

/** A real instant: 2026-13-45T25:61:61Z has the shape but names no time (and would print as NaN). */
function validateSince(value: unknown): string | undefined {
  const rule = 'must be an ISO 8601 UTC time such as 2026-01-02T03:04:05Z';
  const since = optionalText(value, 'since', SINCE, rule);
  if (since === undefined) return undefined;
  const [year, month, day, hour, minute, second] = SINCE.exec(since)!.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  const real =
    date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day &&
    date.getUTCHours() === hour && date.getUTCMinutes() === minute && date.getUTCSeconds() === second;
  if (!real) throw new ValidationError('since', `${rule}, naming a real date and time`, since);
  return since;
}

/**
 * Refuses objects and arrays nested deeper than any record field needs,
 * before any rule walks them: a value nested a million deep must get a field
 * rule, not a stack overflow in the validator or in the error's own preview.
 * Iterative, and stops at the first level too deep.
 */
function checkDepth(input: object): void {
  const stack: Array<{ value: unknown; path: string; depth: number }> = [{ value: input, path: 'record', depth: 1 }];
  while (stack.length > 0) {
    const { value, path, depth } = stack.pop()!;
    if (depth > LIMITS.depth) throw new ValidationError(path, `must not nest objects or arrays more than ${LIMITS.depth} levels deep (record → meta/check/tags → value)`);
    for (const key in value as object) {
      const child = (value as Record<string, unknown>)[key];
      if (typeof child === 'object' && child !== null) stack.push({ value: child, path: path === 'record' ? key : `${path}.${key}`, depth: depth + 1 });
    }
  }
}

/**
 * Validates an untrusted value against the /services contract and returns a
 * clean record with only known fields. Throws a ValidationError naming the
 * field and the rule on the first violation.
 */
export function validateRecord(input: unknown): ServiceRecord {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ValidationError('record', 'must be a JSON object', input);
  }
  checkDepth(input);
  const r = input as Record<string, unknown>;
  const record: ServiceRecord = {
    service: validateServiceName(r.service),
    instance: validateInstanceId(r.instance),
    host: validateHost(r.host),
    port: validatePort(r.port),
  };
  if (r.proto !== undefined) {
    if (r.proto !== 'tcp' && r.proto !== 'udp') throw new ValidationError('proto', 'must be "tcp" or "udp"', r.proto);
    record.proto = r.proto;
  }
  const node = optionalText(r.node, 'node', NODE, 'must be a host name of letters, digits, ".", "_" or "-" (at most 63)');
  if (node !== undefined) record.node = node;
  const container = optionalText(r.container, 'container', CONTAINER, 'must be a container id or name (letters, digits, ".", "_", "-")');
  if (container !== undefined) record.container = container;
  const unit = optionalText(r.unit, 'unit', UNIT, 'must be a systemd unit name');
  if (unit !== undefined) record.unit = unit;
  const tags = validateTags(r.tags);
  if (tags !== undefined) record.tags = tags;
  const meta = validateMeta(r.meta);
  if (meta !== undefined) record.meta = meta;
  const check = validateCheck(r.check);
  if (check !== undefined) record.check = check;
  const since = validateSince(r.since);
  if (since !== undefined) record.since = since;
  const size = Buffer.byteLength(JSON.stringify(record));
  if (size > LIMITS.valueBytes) throw new ValidationError('record', `must serialise to at most ${LIMITS.valueBytes} bytes`, `${size} bytes`);
  return record;
}

/** The identity of a record within the registry: `<service>/<instance>`. */
export function recordId(record: Pick<ServiceRecord, 'service' | 'instance'>): string {
  return `${record.service}/${record.instance}`;
}

/** Two records are equal when their canonical JSON is. */
export function sameRecord(a: ServiceRecord, b: ServiceRecord): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
