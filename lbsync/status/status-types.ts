/**
 * The status document lbsync serves at `/status.json` (and pushes on
 * `/events`): every service with its endpoints and health, what nginx and
 * ELBv2 last did, and recent errors. `beacon status` and the status page read
 * it; scripts may too, so it is versioned like the /services contract.
 */

import type { PassEvent } from '../elbv2/events.js';
import type { HealthState } from '../../health/types.js';

/** Version of the status document; bumped on any incompatible change. */
export const STATUS_VERSION = 1;

/** One endpoint of a service, as lbsync sees it now. */
export interface EndpointStatus {
  instance: string;
  host: string;
  port: number;
  node?: string;
  /** Container id (12 characters) or name, from the record. */
  container?: string;
  health: HealthState;
  /** The last check's reason (`ok`, `status 500`, `connection refused`, …). */
  reason?: string;
  /** The last check's latency (ms). */
  latencyMs?: number;
  /** When the last check finished (ISO 8601). */
  checkedAt?: string;
  /** When the health state last changed, as seen by this lbsync (ISO 8601). */
  since?: string;
  /** True when the pool policy routes traffic to it (passing, or every endpoint while failing open). */
  member: boolean;
  /** In the config nginx last accepted; null without an nginx output. */
  inNginx: boolean | null;
  /** Registered (not draining) in its target group as far as lbsync knows; null when the service has no group. */
  inElbv2: boolean | null;
}

/** One service: its endpoints, counts, pool state and where it is routed. */
export interface ServiceStatus {
  service: string;
  endpoints: EndpointStatus[];
  counts: Record<HealthState, number>;
  /** Endpoints receiving traffic. */
  members: number;
  /** Every endpoint fails its check and all are kept in the pool. */
  failOpen: boolean;
  /** Servers in this service's upstream in the config nginx last accepted; null without an nginx output. */
  nginxServers: number | null;
  /** The service's target group and its registered targets; null when ELBv2 is off or the service is not mapped. */
  elbv2: { targetGroupArn: string; targets: number | null } | null;
  /** When anything about this service last changed: endpoints, health, pool (ISO 8601). */
  lastChange: string;
}

/** The outcome of an output's last apply or reload. */
export interface ApplyStatus {
  at: string;
  ok: boolean;
  /** One line, e.g. "reloaded nginx (3 upstreams, 5 servers; …)". */
  detail: string;
  /** nginx's own message when it refused the config. */
  message?: string;
}

export interface NginxStatus {
  /** The last reload or refused candidate config. */
  lastReload?: ApplyStatus;
  /** The last apply, including the ones that found nothing to change. */
  lastApply?: ApplyStatus;
  /** Services nginx refused (or whose name clashes), kept at their last good block; ISO times. */
  quarantined?: Array<{ service: string; reason: string; since: string; retryAt: string }>;
  /** `--nginx-mode dynamic`: the endpoint-set version nginx confirmed holding (read back after each push). */
  dynamicVersion?: number;
}

/** The ELBv2 output's last pass event, stamped with when it ended. */
export type Elbv2PassStatus = PassEvent & { at: string };

export interface Elbv2Status {
  /** Whether this replica writes; null before the election has said. */
  leader: boolean | null;
  lastPass?: Elbv2PassStatus;
  groups: Array<{ service: string; targetGroupArn: string }>;
}

/** One entry of the recent-errors ring buffer. */
export interface ErrorEntry {
  at: string;
  level: 'warn' | 'error';
  /** Where it came from: `nginx`, `elbv2`, `registry`, `etcd`. */
  source: string;
  message: string;
  /** How many times in a row this same message came (when more than once); `at` is the latest. */
  repeats?: number;
}

/** The whole document. */
export interface StatusDocument {
  version: typeof STATUS_VERSION;
  /** When this document was made (ISO 8601). */
  generatedAt: string;
  startedAt: string;
  /** Whether lbsync health-checks endpoints (`--health on`). */
  healthChecks: boolean;
  /** The etcd revision of the last view. */
  revision: number;
  etcd: { connected: boolean; lastResync?: { at: string; reason: string; records: number } };
  /** Present when lbsync drives nginx. */
  nginx?: NginxStatus;
  /** Present when lbsync drives ELBv2 target groups. */
  elbv2?: Elbv2Status;
  services: ServiceStatus[];
  /** Newest first. */
  errors: ErrorEntry[];
}
