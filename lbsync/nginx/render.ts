import { isIP } from 'node:net';
import { validateHost, validatePort, validateServiceName, type ServiceRecord } from '../../registry/index.js';
import type { PoolView, ServicePool } from '../output.js';
import {
  methodDirective,
  validateListen,
  validateLocation,
  validateServerName,
  validateUpstreamOptions,
  type ServerBlock,
  type UpstreamOptions,
} from './upstream-options.js';

/** The marker lbsync writes inside every block it manages (edit-in-place finds its blocks by it). */
export const MANAGED_MARK = '# managed by beacon lbsync';

/**
 * The placeholder member of an upstream with no usable endpoint: a `down`
 * server keeps the upstream valid for `nginx -t` (an empty upstream is not),
 * and nginx answers 502 ("no live upstreams") instead of failing to load.
 */
export const PLACEHOLDER_SERVER = 'server 127.0.0.1:1 down;';

/** Options of a render: per-service upstream options (`*` applies to every service). */
export interface RenderOptions {
  upstreams?: Record<string, UpstreamOptions>;
  /** Lines lbsync adds inside a service's upstream before the user's own (dynamic mode's balancer_by_lua_block). */
  upstreamExtra?: (service: string) => string[];
}

/** A value that was kept out of the config, and why. */
export interface RenderProblem {
  service: string;
  instance?: string;
  reason: string;
}

export interface Rendered {
  text: string;
  /** The upstream names written, sorted. */
  upstreams: string[];
  problems: RenderProblem[];
}

/** The effective options of one service: its own over `*` over nothing. */
export function optionsFor(service: string, options: RenderOptions): UpstreamOptions {
  return { ...options.upstreams?.['*'], ...options.upstreams?.[service] };
}

/**
 * Renders the owned-file form: a header, one `upstream <service> { … }` per
 * pool, then the `server { … }` blocks the config asks for. Pure. Every name,
 * host and port is validated again here even though records were validated
 * on the way in: a value that fails is reported and left out, never written.
 */
export function renderUpstreams(view: PoolView, options: RenderOptions = {}): Rendered {
  const problems: RenderProblem[] = [];
  const out: string[] = [
    '# Written by beacon lbsync from etcd. Do not edit: every change is overwritten.',
    '# A service with no usable endpoint keeps a valid upstream that answers 502.',
    '',
  ];
  const names: string[] = [];
  const servers: string[] = [];
  for (const pool of [...view.pools].sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0))) {
    if (!safeName(pool.service, problems)) continue;
    let opts: UpstreamOptions;
    try {
      opts = validateUpstreamOptions(optionsFor(pool.service, options), `upstreams.${pool.service}`);
    } catch (err) {
      problems.push({ service: pool.service, reason: (err as Error).message });
      opts = {};
    }
    names.push(pool.service);
    out.push(`upstream ${pool.service} {`, ...renderUpstreamBody(pool, opts, problems, options.upstreamExtra?.(pool.service)).map((l) => `    ${l}`), '}', '');
    for (const block of opts.servers ?? []) servers.push(...renderServerBlock(pool.service, block, opts, problems));
  }
  return { text: [...out, ...servers].join('\n'), upstreams: names, problems };
}

/**
 * The lines inside one `upstream { … }` (unindented): marker, method,
 * `kept` (directives the user wrote in the block, edit-in-place), servers,
 * keepalive. A pool without a usable member gets the placeholder.
 */
export function renderUpstreamBody(pool: ServicePool, opts: UpstreamOptions, problems: RenderProblem[], kept: string[] = []): string[] {
  const lines = [MANAGED_MARK];
  const method = methodDirective(opts.method);
  const hashed = opts.method?.kind === 'hash' || opts.method?.kind === 'ip_hash' || kept.some((k) => /^(hash|ip_hash|random)\b/.test(k));
  const members: string[] = [];
  const seen = new Set<string>();
  for (const record of [...pool.members].sort(byInstance)) {
    const line = serverLine(record, opts, hashed, problems);
    if (!line || seen.has(line.address)) continue;
    seen.add(line.address);
    members.push(line.text);
  }
  if (members.length > 0 && pool.members.length > 0 && pool.failOpen) {
    lines.push('# fail-open: every endpoint fails its health check, so all of them are served');
  }
  if (method) lines.push(`${method};`);
  lines.push(...kept);
  if (members.length === 0) {
    lines.push(pool.endpoints.length === 0 ? '# no endpoint registered: answers 502' : '# no usable endpoint: answers 502', PLACEHOLDER_SERVER);
  } else {
    lines.push(...members);
  }
  if (opts.keepalive) lines.push(`keepalive ${opts.keepalive};`);
  return lines;
}

interface ServerLine {
  address: string;
  text: string;
}

function serverLine(record: ServiceRecord, opts: UpstreamOptions, hashed: boolean, problems: RenderProblem[]): ServerLine | undefined {
  let host: string;
  let port: number;
  try {
    validateServiceName(record.service);
    host = validateHost(record.host);
    port = validatePort(record.port);
  } catch (err) {
    problems.push({ service: record.service, instance: record.instance, reason: `skipped: ${(err as Error).message}` });
    return undefined;
  }
  const address = isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
  const params: string[] = [];
  const weight = record.meta?.weight;
  if (weight !== undefined) {
    if (/^\d{1,3}$/.test(weight) && Number(weight) >= 1 && Number(weight) <= 100) {
      if (Number(weight) !== 1) params.push(`weight=${Number(weight)}`);
    } else {
      problems.push({ service: record.service, instance: record.instance, reason: `meta.weight must be an integer from 1 to 100 (got ${JSON.stringify(weight).slice(0, 40)}); using 1` });
    }
  }
  if (opts.maxFails !== undefined) params.push(`max_fails=${opts.maxFails}`);
  if (opts.failTimeoutS !== undefined) params.push(`fail_timeout=${opts.failTimeoutS}s`);
  if (record.meta?.backup === 'true') {
    // nginx refuses `backup` together with hash and ip_hash balancing.
    if (hashed) problems.push({ service: record.service, instance: record.instance, reason: 'meta.backup is ignored with hash/ip_hash balancing' });
    else params.push('backup');
  }
  return { address, text: `server ${[address, ...params].join(' ')};` };
}

/**
 * A `server { … }` block routing to the service's upstream. The retry
 * settings make churn invisible to clients: a request that meets a backend
 * that just went away (connection refused, reset, 502/503 while draining) is
 * retried on another member instead of failing.
 */
function renderServerBlock(service: string, block: ServerBlock, opts: UpstreamOptions, problems: RenderProblem[]): string[] {
  try {
    const listens = block.listen.map((l, i) => validateListen(l, `servers.listen[${i}]`));
    const names = (block.serverName ?? []).map((n, i) => validateServerName(n, `servers.serverName[${i}]`));
    const location = validateLocation(block.location ?? '/');
    return [
      'server {',
      ...listens.map((l) => `    listen ${l};`),
      ...(names.length ? [`    server_name ${names.join(' ')};`] : []),
      `    location ${location} {`,
      `        proxy_pass http://${service};`,
      '        proxy_http_version 1.1;',
      `        proxy_set_header Connection "";`,
      '        proxy_set_header Host $host;',
      '        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
      '        proxy_connect_timeout 2s;',
      '        proxy_next_upstream error timeout http_502 http_503;',
      '        proxy_next_upstream_tries 3;',
      '        proxy_next_upstream_timeout 10s;',
      '    }',
      '}',
      '',
    ].filter((l) => opts.keepalive || !l.includes('Connection ""'));
  } catch (err) {
    problems.push({ service, reason: `server block skipped: ${(err as Error).message}` });
    return [];
  }
}

function safeName(service: string, problems: RenderProblem[]): boolean {
  try {
    validateServiceName(service);
    return true;
  } catch (err) {
    problems.push({ service, reason: `skipped: ${(err as Error).message}` });
    return false;
  }
}

function byInstance(a: ServiceRecord, b: ServiceRecord): number {
  return a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0;
}
