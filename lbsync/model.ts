import { BlockList, isIP } from 'node:net';
import { recordId, ValidationError, type ServiceRecord } from '../registry/index.js';
import { choosePool, type CheckResult, type HealthState } from '../health/index.js';
import type { Endpoint, PoolView, ServicePool } from './output.js';

/** What lbsync knows about one endpoint's health. */
export interface HealthInfo {
  state: HealthState;
  last?: CheckResult;
}

/** Decides which endpoints of one service receive traffic. */
export type MemberPolicy = (endpoints: readonly Endpoint[]) => { members: ServiceRecord[]; failOpen: boolean };

/**
 * The health module's rule (health/policy.ts): passing endpoints serve;
 * unknown ones join after their first passing check; when none passes but
 * some fail, every endpoint serves (fail-open, flagged) unless `failOpen` is
 * false; before any result, every endpoint serves.
 */
export function healthPolicy(failOpen = true): MemberPolicy {
  return (endpoints) => {
    const choice = choosePool(endpoints, { failOpen });
    return { members: choice.members.map((e) => e.record), failOpen: choice.failOpen };
  };
}

/** Every endpoint is a member: health filtering is off. */
export const allMembersPolicy: MemberPolicy = (endpoints) => ({ members: endpoints.map((e) => e.record), failOpen: false });

export interface ModelOptions {
  /** Only these services (`--services a,b`); all when unset. Named services get a pool even without records. */
  services?: readonly string[];
  /** Network filter hook (issue 8, `--allowed-networks`): a record it refuses is left out of every pool. */
  allow?: (record: ServiceRecord) => boolean;
  policy: MemberPolicy;
}

export interface ModelInput {
  records: Iterable<ServiceRecord>;
  health: (id: string) => HealthInfo;
  revision: number;
  stableForMs: number;
}

/**
 * Builds the view every output renders: pools sorted by service, endpoints
 * sorted by instance, members chosen by the policy. Pure.
 */
export function buildPoolView(input: ModelInput, options: ModelOptions): PoolView {
  const only = options.services ? new Set(options.services) : undefined;
  const byService = new Map<string, Endpoint[]>();
  for (const name of options.services ?? []) byService.set(name, []);
  for (const record of input.records) {
    if (only && !only.has(record.service)) continue;
    if (options.allow && !options.allow(record)) continue;
    const info = input.health(recordId(record));
    const endpoint: Endpoint = { record, health: info.state };
    if (info.last) endpoint.last = info.last;
    let list = byService.get(record.service);
    if (!list) byService.set(record.service, (list = []));
    list.push(endpoint);
  }
  const pools: ServicePool[] = [];
  for (const service of [...byService.keys()].sort()) {
    const endpoints = byService.get(service)!.sort((a, b) => (a.record.instance < b.record.instance ? -1 : 1));
    pools.push({ service, endpoints, ...options.policy(endpoints) });
  }
  return { pools, revision: input.revision, stableForMs: input.stableForMs };
}

/**
 * Builds the `--allowed-networks` filter from CIDRs (`10.0.0.0/8,fd00::/8`).
 * With networks given, only IP-literal hosts inside one of them pass (a DNS
 * name could resolve anywhere, so it is refused).
 */
export function allowedNetworks(cidrs: readonly string[]): (record: ServiceRecord) => boolean {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [addr, bits, extra] = cidr.trim().split('/');
    const family = isIP(addr ?? '');
    const prefix = Number(bits);
    if (!family || extra !== undefined || !/^\d{1,3}$/.test(bits ?? '') || prefix > (family === 4 ? 32 : 128)) {
      throw new ValidationError('--allowed-networks', 'must be CIDRs such as 10.0.0.0/8,fd00::/8', cidr);
    }
    list.addSubnet(addr!, prefix, family === 4 ? 'ipv4' : 'ipv6');
  }
  return (record) => {
    const family = isIP(record.host);
    return family !== 0 && list.check(record.host, family === 4 ? 'ipv4' : 'ipv6');
  };
}
