import type { Etcd3 } from 'etcd3';
import type { Elbv2ClientOptions } from './client.js';
import { Elbv2Output } from './elbv2-output.js';
import { EtcdLeadership } from './leader.js';
import type { Elbv2Options } from './options.js';

/**
 * Builds the ELBv2 output the way `beacon lbsync` runs it: an SDK client from
 * the options (standard credential chain), and, when an etcd client is given,
 * a writer election so only one replica writes (not for a dry run). Closing
 * the output resigns.
 */
export function createElbv2Output(options: Elbv2Options, deps: { etcd?: Etcd3; client?: Omit<Elbv2ClientOptions, 'endpoint' | 'region'>; leaderId?: string } = {}): Elbv2Output {
  // A dry run writes nothing, so it must not campaign: it could take leadership from a real writer.
  const leader = deps.etcd && !options.dryRun
    ? new EtcdLeadership(deps.etcd, { name: options.electionName, ttlSeconds: options.electionTtlSeconds, ...(deps.leaderId ? { id: deps.leaderId } : {}) }).start()
    : undefined;
  return new Elbv2Output({
    ...options,
    ...(deps.client ? { client: deps.client } : {}),
    ...(leader ? { leader, ownsLeader: true } : {}),
  });
}
