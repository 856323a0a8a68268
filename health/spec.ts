import { parseDuration } from '../registry/duration.js';
import { ValidationError } from '../registry/errors.js';
import type { CheckSpec } from '../registry/record.js';
import { parseStatusSet } from './status-set.js';
import type { HealthSpec } from './types.js';

/**
 * Built-in defaults. An endpoint whose record and service config say nothing
 * is checked by TCP connect: we cannot know that it speaks HTTP, or on which
 * path, and a wrong guess would mark a healthy endpoint failing.
 */
export const DEFAULT_SPEC: Readonly<HealthSpec> = Object.freeze({
  kind: 'tcp',
  path: '/',
  method: 'GET',
  expectStatus: [[200, 399]],
  maxBodyBytes: 64 * 1024,
  intervalMs: 5000,
  timeoutMs: 2000,
  jitter: 0.1,
  rise: 2,
  fall: 3,
  tlsVerify: true,
} as HealthSpec);

const METHOD = /^[A-Z]{1,16}$/;
const DIGEST = /^(sha1:[0-9a-f]{40}|sha256:[0-9a-f]{64})$/;
const PATH = /^\/[\x21-\x7e]{0,2047}$/;
// A Host header value: a name or IP, optionally with a port; no spaces or CR/LF.
const HOST_HEADER = /^[A-Za-z0-9.\-:\[\]_]{1,260}$/;

/** The parts of a spec that a record's `check` field can set. */
export function specFromCheck(check: CheckSpec | undefined): Partial<HealthSpec> {
  if (!check) return {};
  const out: Partial<HealthSpec> = {};
  if (check.http !== undefined) out.path = check.http;
  if (check.interval !== undefined) out.intervalMs = parseDuration(check.interval, 'check.interval');
  if (check.timeout !== undefined) out.timeoutMs = parseDuration(check.timeout, 'check.timeout');
  if (check.expectDigest !== undefined) out.expectDigest = check.expectDigest.toLowerCase();
  if (check.expectStatus !== undefined) out.expectStatus = parseStatusSet(check.expectStatus, 'check.expectStatus');
  return out;
}

/**
 * Resolves the check spec of one endpoint, field by field: the record's
 * `check` field first (its publisher knows the app), else the per-service
 * config, else the caller's defaults, else DEFAULT_SPEC.
 *
 * The kind: `check.tcp: true` means TCP; `check.http` means HTTP (HTTPS when
 * the service config or defaults say `kind: 'https'`); with neither, the
 * service config's kind, else the defaults', else TCP connect.
 *
 * Throws a ValidationError (code BEACON_INVALID) naming the bad field.
 */
export function resolveSpec(recordCheck?: CheckSpec, serviceOverrides?: Partial<HealthSpec>, defaults?: Partial<HealthSpec>): HealthSpec {
  const layers = [specFromCheck(recordCheck), definedOnly(serviceOverrides), definedOnly(defaults), DEFAULT_SPEC as Partial<HealthSpec>];
  const pick = <K extends keyof HealthSpec>(key: K): HealthSpec[K] | undefined => {
    for (const layer of layers) if (layer[key] !== undefined) return layer[key];
    return undefined;
  };
  const configured = serviceOverrides?.kind ?? defaults?.kind;
  let kind: HealthSpec['kind'];
  if (recordCheck?.tcp === true) kind = 'tcp';
  else if (recordCheck?.http !== undefined) kind = configured === 'https' ? 'https' : 'http';
  else kind = configured ?? DEFAULT_SPEC.kind;

  const spec: HealthSpec = {
    kind,
    path: pick('path')!,
    method: pick('method')!,
    expectStatus: pick('expectStatus')!,
    maxBodyBytes: pick('maxBodyBytes')!,
    intervalMs: pick('intervalMs')!,
    timeoutMs: pick('timeoutMs')!,
    jitter: pick('jitter')!,
    rise: pick('rise')!,
    fall: pick('fall')!,
    tlsVerify: pick('tlsVerify')!,
  };
  const hostHeader = pick('hostHeader');
  if (hostHeader !== undefined) spec.hostHeader = hostHeader;
  const expectDigest = pick('expectDigest');
  if (expectDigest !== undefined) spec.expectDigest = expectDigest.toLowerCase();
  const expectBody = pick('expectBody');
  if (expectBody !== undefined) spec.expectBody = expectBody;
  return validateSpec(spec);
}

/** Checks a complete spec against its rules; returns it unchanged or throws a ValidationError. */
export function validateSpec(spec: HealthSpec): HealthSpec {
  if (!['http', 'https', 'tcp'].includes(spec.kind)) throw new ValidationError('kind', 'must be http, https or tcp', spec.kind);
  if (!PATH.test(spec.path)) throw new ValidationError('path', 'must start with "/" and hold printable characters without spaces', spec.path);
  if (!METHOD.test(spec.method)) throw new ValidationError('method', 'must be an HTTP method in capitals, e.g. GET or HEAD', spec.method);
  if (!Array.isArray(spec.expectStatus) || spec.expectStatus.length === 0) throw new ValidationError('expectStatus', 'must hold at least one status range', spec.expectStatus);
  integer('maxBodyBytes', spec.maxBodyBytes, 0, 64 * 1024 * 1024);
  integer('intervalMs', spec.intervalMs, 1, 24 * 3_600_000);
  integer('timeoutMs', spec.timeoutMs, 1, 3_600_000);
  integer('rise', spec.rise, 1, 100);
  integer('fall', spec.fall, 1, 100);
  if (typeof spec.jitter !== 'number' || !(spec.jitter >= 0 && spec.jitter <= 1)) throw new ValidationError('jitter', 'must be a fraction from 0 to 1', spec.jitter);
  if (typeof spec.tlsVerify !== 'boolean') throw new ValidationError('tlsVerify', 'must be true or false', spec.tlsVerify);
  if (spec.expectDigest !== undefined && !DIGEST.test(spec.expectDigest)) throw new ValidationError('expectDigest', 'must be sha1:<40 hex> or sha256:<64 hex>', spec.expectDigest);
  if (spec.expectBody !== undefined && (typeof spec.expectBody !== 'string' || spec.expectBody.length === 0)) throw new ValidationError('expectBody', 'must be a non-empty string', spec.expectBody);
  if (spec.hostHeader !== undefined && !HOST_HEADER.test(spec.hostHeader)) throw new ValidationError('hostHeader', 'must be a host name or address, optionally with :port', spec.hostHeader);
  return spec;
}

/** True when two specs would check the same way (field order does not matter). */
export function sameSpec(a: HealthSpec, b: HealthSpec): boolean {
  return canonical(a) === canonical(b);
}

function canonical(spec: HealthSpec): string {
  return JSON.stringify(spec, Object.keys(spec).sort());
}

function integer(field: string, value: unknown, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ValidationError(field, `must be an integer from ${min} to ${max}`, value);
  }
}

function definedOnly<T extends object>(layer: T | undefined): Partial<T> {
  if (!layer) return {};
  return Object.fromEntries(Object.entries(layer).filter(([, v]) => v !== undefined)) as Partial<T>;
}
