import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { validatePort } from '../../../registry/index.js';
import type { ServicePool } from '../../output.js';
import type { ServiceRecord } from '../../../registry/index.js';
import type { UpstreamOptions } from '../upstream-options.js';

/** One endpoint as the Lua balancer receives it. */
export interface Peer {
  ip: string;
  port: number;
  weight: number;
}

/** A service's set as pushed: its peers and the passive-failure settings. */
export interface PeerSet {
  peers: Peer[];
  maxFails: number;
  failTimeoutS: number;
}

/** Whether the Lua balancer can serve a service, and if not, why (it then stays on reloads). */
export type Eligibility = { dynamic: true } | { dynamic: false; reason: string };

/**
 * The Lua balancer does weighted round robin over IP literals. A service with
 * another method (least_conn, ip_hash, hash), a DNS-name host (nginx resolves
 * those at load) or a backup member keeps nginx's own balancer, so each of its
 * endpoint changes is a reload. `userMethod` is a method directive the user
 * wrote inside the block (edit-in-place).
 */
export function eligibility(pool: ServicePool, opts: UpstreamOptions, userMethod?: string): Eligibility {
  const method = opts.method?.kind ?? 'round_robin';
  if (method !== 'round_robin') return { dynamic: false, reason: `balancing method ${method} is nginx's own` };
  if (userMethod) return { dynamic: false, reason: `the block sets ${userMethod}` };
  for (const record of pool.members) {
    const peer = peerOf(record);
    if (peer === 'named') return { dynamic: false, reason: `host ${record.host} is a DNS name, resolved by nginx at load` };
    // The Lua side takes plain IPv6 hex groups only (no embedded IPv4, no zone).
    if (peer === 'unusual') return { dynamic: false, reason: `host ${record.host} is an IPv6 form the Lua balancer does not take` };
  }
  if (pool.members.some((r) => r.meta?.backup === 'true')) return { dynamic: false, reason: 'a member is a backup server' };
  return { dynamic: true };
}

/**
 * A record as a peer (before dedup), or why it cannot be one: kept per record
 * object, as render.ts keeps server lines, so a pool's set after one of its
 * 500 endpoints changed costs one record's validation, not 500.
 */
const peers = new WeakMap<ServiceRecord, Peer | 'named' | 'unusual' | 'invalid'>();

function peerOf(record: ServiceRecord): Peer | 'named' | 'unusual' | 'invalid' {
  let peer = peers.get(record);
  if (peer === undefined) {
    peer = makePeer(record);
    peers.set(record, peer);
  }
  return peer;
}

function makePeer(record: ServiceRecord): Peer | 'named' | 'unusual' | 'invalid' {
  const family = isIP(record.host);
  if (family === 0) return 'named';
  let port: number;
  try {
    port = validatePort(record.port);
  } catch {
    return 'invalid';
  }
  const w = record.meta?.weight;
  const weight = w !== undefined && /^\d{1,3}$/.test(w) && Number(w) >= 1 && Number(w) <= 100 ? Number(w) : 1;
  if (family === 6 && /[.%]/.test(record.host)) return 'unusual';
  return { ip: record.host, port, weight };
}

/**
 * The peers of a pool, as render.ts writes its server lines: validated again,
 * one per address, weight from meta.weight (1–100, else 1), sorted.
 */
export function peerSetOf(pool: ServicePool, opts: UpstreamOptions): PeerSet {
  const byAddress = new Map<string, Peer>();
  for (const record of pool.members) {
    const peer = peerOf(record);
    if (typeof peer === 'string') continue;
    const key = `${peer.ip} ${peer.port}`;
    if (!byAddress.has(key)) byAddress.set(key, peer);
  }
  const peers = [...byAddress.values()].sort((a, b) => (a.ip === b.ip ? a.port - b.port : a.ip < b.ip ? -1 : 1));
  // nginx's defaults: max_fails=1, fail_timeout=10s.
  return { peers, maxFails: opts.maxFails ?? 1, failTimeoutS: opts.failTimeoutS ?? 10 };
}

/** A stable text form of a set, to tell whether it changed since the last push. */
export function setKey(set: PeerSet): string {
  return `${set.maxFails} ${set.failTimeoutS}|${set.peers.map((p) => `${p.ip} ${p.port} ${p.weight}`).join(',')}`;
}

/**
 * A short hash of a rendered config with what dynamic mode pushes taken out
 * (its skeleton): the server lines (and the placeholder comments) inside the
 * upstream blocks of `dynamic` services, and the version of every balancer
 * line; `extra` (the Lua source) is hashed after it. Two configs with equal
 * signatures differ only in what a push delivers: no reload. The skeleton is
 * small (a dynamic service's servers are most of a large file, and they are
 * skipped without a regex); an unchanged skeleton, as after every push,
 * reuses the last hash instead of hashing again.
 */
export function structureSignature(text: string, dynamic: ReadonlySet<string> | ReadonlyMap<string, unknown>, extra = ''): string {
  const kept: string[] = [];
  let inside = false;
  for (let start = 0; start <= text.length; ) {
    const newline = text.indexOf('\n', start);
    const end = newline === -1 ? text.length : newline;
    // A dynamic block's server lines (most of a large file) skip the regexes below.
    if (inside && text.startsWith('    server ', start)) {
      start = end + 1;
      continue;
    }
    const line = text.slice(start, end);
    start = end + 1;
    const open = line.includes('upstream') ? /^\s*upstream\s+(\S+)\s*\{\s*$/.exec(line) : null;
    if (open) inside = dynamic.has(open[1]!);
    else if (inside && /^\s*\}\s*$/.test(line)) inside = false;
    else if (inside && /^\s*(server\s|# (no endpoint|no usable|fail-open))/.test(line)) continue;
    kept.push(line.includes('.balance("') ? line.replace(/(\.balance\("[^"]+", )\d+\)/, '$10)') : line);
  }
  const skeleton = `${kept.join('\n')}\n${extra}`;
  if (skeleton !== lastSignature.skeleton) lastSignature = { skeleton, hash: createHash('sha256').update(skeleton).digest('hex').slice(0, 16) };
  return lastSignature.hash;
}

/** The last skeleton structureSignature hashed, and its hash. */
let lastSignature = { skeleton: '', hash: '' };
