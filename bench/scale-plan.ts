/**
 * The simulated fleet of the scale bench, as pure data: which services each
 * host runs, on which loopback address and port, and the records its
 * sidekick would publish. Shared by the bench, its host workers and its
 * backend process so that all three agree without talking.
 *
 * Host h (0-based) is `host0001`… on its own address in 127.1.0.0/16 (Linux
 * routes all of 127.0.0.0/8 to lo). Every host runs the deployed service
 * (`svc00`, the one the rolling deploy replaces) plus `perHost - 1` of the
 * others, spread evenly, so each service has about hosts × perHost / services
 * instances.
 */
import type { ServiceRecord } from '../registry/index.js';

export interface FleetShape {
  hosts: number;
  perHost: number;
  services: number;
}

/** Ports the records point at: the deployed service's old and new version, and one per other service. */
export interface FleetPorts {
  deployOld: number;
  deployNew: number;
  /** Indexed by service number; index 0 (the deployed service) is unused. */
  shared: number[];
}

export const DEPLOYED = 'svc00';
export const PREFIX = '/services';

export function serviceName(i: number): string {
  return `svc${String(i).padStart(2, '0')}`;
}

export function nodeName(h: number): string {
  return `host${String(h + 1).padStart(4, '0')}`;
}

/** Host h's own loopback address (127.1.0.1, 127.1.0.2, …). */
export function hostAddress(h: number): string {
  const n = h + 1;
  return `127.1.${(n >> 8) & 255}.${n & 255}`;
}

/** The host whose address `address` is (hostAddress's inverse), or undefined. */
export function hostOfAddress(address: string): number | undefined {
  const m = /^127\.1\.(\d+)\.(\d+)$/.exec(address);
  return m ? Number(m[1]) * 256 + Number(m[2]) - 1 : undefined;
}

/** The service numbers host h runs: 0 (the deployed one) and perHost - 1 of the others. */
export function servicesOf(h: number, shape: FleetShape): number[] {
  const others = shape.services - 1;
  const count = Math.min(shape.perHost - 1, others);
  const list = [0];
  for (let j = 0; j < count; j++) list.push(1 + ((h * count + j) % others));
  return list;
}

export function deployInstance(h: number, version: 'v1' | 'v2'): string {
  return `${nodeName(h)}:${DEPLOYED}-${version}`;
}

/** The record the sidekick on host h would publish for service i (version only matters for the deployed one). */
export function recordOf(h: number, i: number, ports: FleetPorts, version: 'v1' | 'v2' = 'v1'): ServiceRecord {
  const service = serviceName(i);
  const deployed = i === 0;
  const port = deployed ? (version === 'v1' ? ports.deployOld : ports.deployNew) : ports.shared[i]!;
  return {
    service,
    instance: deployed ? deployInstance(h, version) : `${nodeName(h)}:${service}`,
    host: hostAddress(h),
    port,
    node: nodeName(h),
    container: `c${String(h).padStart(5, '0')}${String(i).padStart(2, '0')}${version}`,
    tags: [deployed ? version : 'v1'],
    check: { http: '/health' },
  };
}

export function recordsOf(h: number, shape: FleetShape, ports: FleetPorts): ServiceRecord[] {
  return servicesOf(h, shape).map((i) => recordOf(h, i, ports));
}
