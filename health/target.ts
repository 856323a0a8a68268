import { ValidationError } from '../registry/errors.js';
import { validateHost, validatePort } from '../registry/record.js';
import type { CheckTarget, HealthSpec } from './types.js';

/** A check target given as a URL: where to connect, and how. */
export interface ParsedTarget {
  kind: HealthSpec['kind'];
  target: CheckTarget;
  /** Path and query for HTTP(S); `/` for TCP. */
  path: string;
}

const RULE = 'must be http://HOST[:PORT][/PATH], https://HOST[:PORT][/PATH] or tcp://HOST:PORT';

/**
 * Parses `http://…`, `https://…` or `tcp://host:port` into a target. HTTP
 * ports default to 80/443; TCP needs a port. Credentials and fragments are
 * refused rather than silently dropped.
 */
export function parseTarget(text: string, field = 'TARGET'): ParsedTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ValidationError(field, RULE, text);
  }
  const kind = url.protocol.slice(0, -1);
  if (kind !== 'http' && kind !== 'https' && kind !== 'tcp') throw new ValidationError(field, RULE, text);
  if (url.username || url.password) throw new ValidationError(field, 'must not carry credentials', text);
  if (url.hash) throw new ValidationError(field, 'must not carry a #fragment', text);
  const host = validateHost(url.hostname.replace(/^\[(.*)\]$/, '$1'), field);
  let port: number;
  if (url.port) port = validatePort(url.port, field);
  else if (kind === 'tcp') throw new ValidationError(field, 'tcp:// needs a port, e.g. tcp://10.0.0.5:5432', text);
  else port = kind === 'https' ? 443 : 80;
  if (kind === 'tcp' && ((url.pathname !== '' && url.pathname !== '/') || url.search)) {
    throw new ValidationError(field, 'tcp:// takes no path', text);
  }
  return { kind, target: { host, port }, path: kind === 'tcp' ? '/' : `${url.pathname || '/'}${url.search}` };
}

/** Renders a target back as a URL, e.g. `http://127.0.0.1:8080/health` or `tcp://[::1]:5432`. */
export function formatTarget(kind: HealthSpec['kind'], target: CheckTarget, path = '/'): string {
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return `${kind}://${host}:${target.port}${kind === 'tcp' ? '' : path}`;
}
