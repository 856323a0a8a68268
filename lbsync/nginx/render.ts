import { isIP } from 'node:net';
import { validateHost, validatePort, validateServiceName, type ServiceRecord } from '../../registry/index.js';
import type { PoolView, ServicePool } from '../output.js';
import { scanConf, walkConf, type ConfDirective } from './conf-scanner.js';
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
  /** Which lines of `text` each service's blocks occupy (to map nginx's `file:line` back to a service). */
  spans: ServiceSpan[];
  problems: RenderProblem[];
}

/** Lines `firstLine`..`lastLine` (1-based, inclusive) of a rendered file belong to `service`. */
export interface ServiceSpan {
  service: string;
  firstLine: number;
  lastLine: number;
}

/** One service's share of the owned file, rendered alone: its upstream block and its server blocks. */
export interface ServiceBlocks {
  service: string;
  upstream: string[];
  servers: string[];
}

/** The effective options of one service: its own over `*` over nothing. */
export function optionsFor(service: string, options: RenderOptions): UpstreamOptions {
  return { ...options.upstreams?.['*'], ...options.upstreams?.[service] };
}

/**
 * Renders one service's blocks, independent of every other service (so a
 * quarantined service can keep its last good blocks while the rest move on).
 * Pure. Every name, host and port is validated again here even though
 * records were validated on the way in: a value that fails is reported in
 * `problems` and left out, never written; an unsafe service name yields
 * undefined.
 */
export function renderService(pool: ServicePool, options: RenderOptions, problems: RenderProblem[]): ServiceBlocks | undefined {
  if (!safeName(pool.service, problems)) return undefined;
  let opts: UpstreamOptions;
  try {
    opts = validateUpstreamOptions(optionsFor(pool.service, options), `upstreams.${pool.service}`);
  } catch (err) {
    problems.push({ service: pool.service, reason: (err as Error).message });
    opts = {};
  }
  const upstream = [`upstream ${pool.service} {`, ...renderUpstreamBody(pool, opts, problems, options.upstreamExtra?.(pool.service)).map((l) => `    ${l}`), '}', ''];
  const servers = (opts.servers ?? []).flatMap((block) => serverBlock(pool.service, block, opts, problems));
  return { service: pool.service, upstream, servers };
}

const OWNED_HEADER = [
  '# Written by beacon lbsync from etcd. Do not edit: every change is overwritten.',
  '# A service with no usable endpoint keeps a valid upstream that answers 502.',
  '',
];

/** Puts services' blocks together as the owned file: header, every upstream (in the given order), then every server block. */
export function assembleOwned(blocks: ServiceBlocks[]): { text: string; spans: ServiceSpan[] } {
  const lines = [...OWNED_HEADER];
  const spans: ServiceSpan[] = [];
  const place = (service: string, part: string[]) => {
    if (part.length === 0) return;
    spans.push({ service, firstLine: lines.length + 1, lastLine: lines.length + part.length });
    lines.push(...part);
  };
  for (const b of blocks) place(b.service, b.upstream);
  for (const b of blocks) place(b.service, b.servers);
  return { text: lines.join('\n'), spans };
}

/**
 * The services' blocks in an owned file lbsync wrote before (the inverse of
 * assembleOwned): each `upstream NAME { }` and each `server { }` whose
 * `proxy_pass` goes to `http://NAME`, as their exact lines. A new lbsync
 * process starts from these as the last good blocks, so a service nginx
 * refuses on its first apply keeps what nginx runs. Pure.
 */
export function parseOwned(text: string, file?: string): ServiceBlocks[] {
  const byName = new Map<string, ServiceBlocks>();
  const blocks = (name: string) => byName.get(name) ?? byName.set(name, { service: name, upstream: [], servers: [] }).get(name)!;
  const lines = (d: ConfDirective) => [...text.slice(d.start, d.end).split('\n'), ''];
  for (const d of scanConf(text, file)) {
    if (d.name === 'upstream' && d.args[0]) blocks(d.args[0]).upstream.push(...lines(d));
    if (d.name === 'server' && d.block) {
      const pass = [...walkConf(d.block.children)].find((c) => c.name === 'proxy_pass')?.args[0];
      const name = /^http:\/\/([^/:]+)$/.exec(pass ?? '')?.[1];
      if (name) blocks(name).servers.push(...lines(d));
    }
  }
  return [...byName.values()].filter((b) => b.upstream.length > 0);
}

/** Renders the owned-file form of a whole view, services sorted by name. Pure. */
export function renderUpstreams(view: PoolView, options: RenderOptions = {}): Rendered {
  const problems: RenderProblem[] = [];
  const blocks = [...view.pools]
    .sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0))
    .flatMap((pool) => renderService(pool, options, problems) ?? []);
  return { ...assembleOwned(blocks), upstreams: blocks.map((b) => b.service), problems };
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
  const chosen: ServerLine[] = [];
  const seen = new Set<string>();
  for (const record of [...pool.members].sort(byInstance)) {
    const line = serverLine(record, opts, hashed, problems);
    if (!line || seen.has(line.address)) continue;
    seen.add(line.address);
    chosen.push(line);
  }
  // nginx refuses an upstream whose every server is a backup ("no servers
  // in upstream"): with no primary left, the backups are the pool.
  const primaries = chosen.some((l) => !l.backup);
  if (!primaries && chosen.length > 0) problems.push({ service: pool.service, reason: 'every usable endpoint is marked backup; serving them as normal members' });
  const members = chosen.map((l) => (l.backup && primaries ? `${l.text.slice(0, -1)} backup;` : l.text));
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
  /** The `server …;` line without `backup`. */
  text: string;
  backup: boolean;
}

/**
 * A record's server line, kept per record object: a view hands the same
 * record objects to every render, so re-rendering a pool of 500 after one of
 * them changed validates and formats one record, not 500 (its problems are
 * reported again each time). Keyed by what else shapes the line.
 */
const serverLines = new WeakMap<ServiceRecord, { key: string; line: ServerLine | undefined; problems: RenderProblem[] }>();

function serverLine(record: ServiceRecord, opts: UpstreamOptions, hashed: boolean, problems: RenderProblem[]): ServerLine | undefined {
  const key = `${opts.maxFails}|${opts.failTimeoutS}|${hashed}`;
  let known = serverLines.get(record);
  if (known?.key !== key) {
    const own: RenderProblem[] = [];
    known = { key, line: makeServerLine(record, opts, hashed, own), problems: own };
    serverLines.set(record, known);
  }
  if (known.problems.length > 0) problems.push(...known.problems);
  return known.line;
}

function makeServerLine(record: ServiceRecord, opts: UpstreamOptions, hashed: boolean, problems: RenderProblem[]): ServerLine | undefined {
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
  let backup = false;
  if (record.meta?.backup === 'true') {
    // nginx refuses `backup` together with hash and ip_hash balancing.
    if (hashed) problems.push({ service: record.service, instance: record.instance, reason: 'meta.backup is ignored with hash/ip_hash balancing' });
    else backup = true;
  }
  return { address, text: `server ${[address, ...params].join(' ')};`, backup };
}

/**
 * A server block's lines, kept per block object of the config (and the
 * service and keepalive it is written with): they do not depend on the
 * endpoints, and a service's blocks are rendered again whenever its
 * endpoints change.
 */
const serverBlocks = new WeakMap<ServerBlock, Map<string, { lines: string[]; problems: RenderProblem[] }>>();

function serverBlock(service: string, block: ServerBlock, opts: UpstreamOptions, problems: RenderProblem[]): string[] {
  let byKey = serverBlocks.get(block);
  if (!byKey) serverBlocks.set(block, (byKey = new Map()));
  const key = `${service}|${opts.keepalive ?? ''}`;
  let known = byKey.get(key);
  if (!known) {
    const own: RenderProblem[] = [];
    known = { lines: renderServerBlock(service, block, opts, own), problems: own };
    byKey.set(key, known);
  }
  if (known.problems.length > 0) problems.push(...known.problems);
  return known.lines;
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
