import type { ServiceRecord } from '../registry/index.js';
import type { CheckResult, HealthState } from '../health/types.js';

/** One endpoint of a service as lbsync sees it: its record and its health. */
export interface Endpoint {
  record: ServiceRecord;
  health: HealthState;
  /** The last check result, when there is one. */
  last?: CheckResult;
}

/** One service's pool: every endpoint, and the ones that should receive traffic. */
export interface ServicePool {
  service: string;
  endpoints: Endpoint[];
  /** Endpoints to route to: the passing ones, or all of them when failing open. */
  members: ServiceRecord[];
  /** True when every endpoint fails and the pool is served fail-open. */
  failOpen: boolean;
}

/** The whole picture an output renders or syncs, sorted by service. */
export interface PoolView {
  pools: ServicePool[];
  /** etcd revision the view reflects. */
  revision: number;
  /** How long the view has been free of resyncs/reconnects (ms): young views are not trusted to remove much. */
  stableForMs: number;
}

/** What one apply did. */
export interface ApplyOutcome {
  changed: boolean;
  /** One line for logs and the status page, e.g. "reloaded nginx (3 upstreams)". */
  detail: string;
}

/**
 * A load-balancer output (nginx, ELBv2, …). lbsync calls apply() with the
 * latest view, never twice at once; an output that fails keeps its last good
 * state and reports why by rejecting.
 */
export interface Output {
  readonly name: string;
  apply(view: PoolView): Promise<ApplyOutcome>;
  close(): Promise<void>;
}
