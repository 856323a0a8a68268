import type { PeerSet } from './peers.js';

/**
 * The text the control location takes (beacon_balancer.lua parse_push):
 *   version <V>
 *   service <name> <version> <max_fails> <fail_timeout>
 *   peer <ip> <port> <weight>
 * Plain text rather than JSON: nginx needs no cjson, and the Lua side checks
 * each field with a pattern.
 */
export function encodePush(version: number, sets: ReadonlyMap<string, { version: number; set: PeerSet }>): string {
  const lines = [`version ${version}`];
  for (const [name, { version: v, set }] of sets) {
    lines.push(`service ${name} ${v} ${set.maxFails} ${set.failTimeoutS}`);
    for (const p of set.peers) lines.push(`peer ${p.ip} ${p.port} ${p.weight}`);
  }
  return `${lines.join('\n')}\n`;
}

/** What nginx holds: the last version pushed (0 after a start) and the structure signature of its loaded config. */
export interface ControlState {
  version: number;
  structure: string;
}

/** Parses the control location's answer ("version V\nstructure S"). */
export function parseControlState(text: string): ControlState | undefined {
  const version = /^version (\d+)$/m.exec(text)?.[1];
  if (version === undefined) return undefined;
  return { version: Number(version), structure: /^structure (\S*)$/m.exec(text)?.[1] ?? '' };
}
