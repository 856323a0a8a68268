import { ValidationError } from '../../registry/index.js';

/** How nginx picks a member of an upstream. */
export type BalanceMethod =
  | { kind: 'round_robin' }
  | { kind: 'least_conn' }
  | { kind: 'ip_hash' }
  | { kind: 'hash'; key: string; consistent: boolean };

/** One `server { … }` block lbsync writes in front of a service's upstream (owned-file mode). */
export interface ServerBlock {
  /** `listen` values, e.g. `80`, `127.0.0.1:8080`, `[::1]:80`, each optionally followed by ` default_server`. */
  listen: string[];
  serverName?: string[];
  /** Location path routed to the upstream; `/` by default. */
  location?: string;
}

/** Per-service upstream options, from the config file (`upstreams.<service>`, or `upstreams.*` for all). */
export interface UpstreamOptions {
  method?: BalanceMethod;
  /** Idle keepalive connections per worker to the upstream (0 = off). */
  keepalive?: number;
  /** nginx `max_fails` per server; 1 is nginx's own default. */
  maxFails?: number;
  /** nginx `fail_timeout` per server, in seconds. */
  failTimeoutS?: number;
  servers?: ServerBlock[];
}

// Conservative on purpose: these strings are written into nginx config.
const HASH_KEY = /^[A-Za-z0-9_$.:\/-]{1,128}$/;
const LISTEN_ADDR = /^((\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:.]+\]|\*):)?\d{1,5}$/;
const LISTEN_FLAGS = new Set(['default_server', 'http2', 'reuseport']);
const SERVER_NAME = /^(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_.-]{0,252})?(\.\*)?$/;
const LOCATION = /^\/[A-Za-z0-9._~\/-]{0,255}$/;

/** Parses `round_robin`, `least_conn`, `ip_hash` or `hash KEY [consistent]`. */
export function parseMethod(text: unknown, field = 'method'): BalanceMethod {
  const rule = 'must be round_robin, least_conn, ip_hash or "hash KEY [consistent]" (KEY like $request_uri)';
  if (typeof text !== 'string') throw new ValidationError(field, rule, text);
  const parts = text.trim().split(/\s+/);
  const [name, key, flag] = parts;
  if (parts.length === 1 && (name === 'round_robin' || name === 'round-robin')) return { kind: 'round_robin' };
  if (parts.length === 1 && (name === 'least_conn' || name === 'ip_hash')) return { kind: name };
  if (name === 'hash' && key && HASH_KEY.test(key) && (parts.length === 2 || (parts.length === 3 && flag === 'consistent'))) {
    return { kind: 'hash', key, consistent: flag === 'consistent' };
  }
  throw new ValidationError(field, rule, text);
}

/** Checks one `listen` value; returns it normalised to single spaces. */
export function validateListen(text: unknown, field = 'listen'): string {
  const rule = 'must be PORT, ADDR:PORT or [IPV6]:PORT, optionally followed by default_server, http2 or reuseport';
  if (typeof text !== 'string' && typeof text !== 'number') throw new ValidationError(field, rule, text);
  const parts = String(text).trim().split(/\s+/);
  const addr = parts[0]!;
  const port = Number(addr.slice(addr.lastIndexOf(':') + 1));
  if (!LISTEN_ADDR.test(addr) || port < 1 || port > 65535) throw new ValidationError(field, rule, text);
  if (addr.includes('.') && !addr.startsWith('[') && addr.split(':')[0]!.split('.').some((o) => Number(o) > 255)) throw new ValidationError(field, rule, text);
  for (const flag of parts.slice(1)) if (!LISTEN_FLAGS.has(flag)) throw new ValidationError(field, rule, text);
  return parts.join(' ');
}

/** Checks a `server_name` value: a host name, `_`, or a `*.` / `.*` wildcard name. */
export function validateServerName(text: unknown, field = 'serverName'): string {
  if (typeof text !== 'string' || !SERVER_NAME.test(text)) {
    throw new ValidationError(field, 'must be a host name of letters, digits, ".", "-" or "_", optionally with a leading "*." or trailing ".*"', text);
  }
  return text;
}

/** Checks a location path: `/`, `/api/` and the like, no regex and no spaces. */
export function validateLocation(text: unknown, field = 'location'): string {
  if (typeof text !== 'string' || !LOCATION.test(text)) throw new ValidationError(field, 'must be a plain path starting with "/" (letters, digits, . _ ~ / -)', text);
  return text;
}

/** Checks every field of an UpstreamOptions; throws a ValidationError naming the first bad one. */
export function validateUpstreamOptions(options: UpstreamOptions, field = 'upstream'): UpstreamOptions {
  const int = (name: string, value: number | undefined, min: number, max: number) => {
    if (value === undefined) return;
    if (!Number.isInteger(value) || value < min || value > max) throw new ValidationError(`${field}.${name}`, `must be an integer from ${min} to ${max}`, value);
  };
  int('keepalive', options.keepalive, 0, 10_000);
  int('maxFails', options.maxFails, 0, 1000);
  int('failTimeoutS', options.failTimeoutS, 0, 86_400);
  if (options.method) {
    const m = options.method;
    if (m.kind === 'hash') parseMethod(`hash ${m.key}${m.consistent ? ' consistent' : ''}`, `${field}.method`);
    else if (!['round_robin', 'least_conn', 'ip_hash'].includes(m.kind)) parseMethod((m as { kind: string }).kind, `${field}.method`);
  }
  for (const [i, s] of (options.servers ?? []).entries()) {
    if (!Array.isArray(s.listen) || s.listen.length === 0) throw new ValidationError(`${field}.servers[${i}].listen`, 'needs at least one listen value', s.listen);
    s.listen.forEach((l, j) => validateListen(l, `${field}.servers[${i}].listen[${j}]`));
    s.serverName?.forEach((n, j) => validateServerName(n, `${field}.servers[${i}].serverName[${j}]`));
    if (s.location !== undefined) validateLocation(s.location, `${field}.servers[${i}].location`);
  }
  return options;
}

/** nginx's directive text for a method, or undefined for round robin (the default). */
export function methodDirective(method: BalanceMethod | undefined): string | undefined {
  switch (method?.kind) {
    case undefined:
    case 'round_robin':
      return undefined;
    case 'least_conn':
    case 'ip_hash':
      return method.kind;
    case 'hash':
      return `hash ${method.key}${method.consistent ? ' consistent' : ''}`;
  }
}
