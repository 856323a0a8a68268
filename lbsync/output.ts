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
  /**
   * Values this apply left out or adjusted, one sentence each (e.g. a hostile
   * host that failed validation, an invalid weight). The rest was applied.
   */
  warnings?: string[];
  /** Services this output keeps at their last good state because the load balancer refused them (nginx). */
  quarantined?: Array<{ service: string; reason: string; since: number; retryAt: number }>;
  /** Apply again after this many ms even if nothing changes (a quarantine or a left-out host is due to be tried again). */
  retryInMs?: number;
  /** False when the change went live without a reload (nginx dynamic mode); `changed` otherwise. */
  reloaded?: boolean;
  /** nginx dynamic mode: the version nginx confirmed holding after this apply. */
  nginxVersion?: number;
}

/**
 * A load-balancer output (nginx, ELBv2, …). lbsync calls apply() with the
 * latest view, never twice at once; an output that fails keeps its last good
 * state and reports why by rejecting. lbsync retries a rejection that is
 * recoverable (a BeaconError with `recoverable`, or any other error) with
 * backoff until it succeeds; others wait for the next change.
 */
export interface Output {
  readonly name: string;
  /** Optional one-time setup (find files, connect), called before the first apply or preview. */
  start?(): Promise<void>;
  apply(view: PoolView): Promise<ApplyOutcome>;
  /**
   * Whether an apply is costly enough (an nginx reload) that endpoints joining
   * a serving pool should settle into one apply (see ChangeKind). Unset means
   * no: a push into nginx's balancer or an ELBv2 registration is cheap, so a
   * new endpoint is served as soon as it passes.
   */
  readonly settlesJoins?: boolean;
  /**
   * Whether a change of this service's endpoints is applied without a reload
   * (dynamic nginx pushes it into its Lua balancer). When every output says
   * so, lbsync applies such a change as soon as no apply runs instead of
   * batching it (an `endpoint` change, see ChangeKind). Unset means no.
   */
  pushesEndpoints?(service: string): boolean;
  /** For `--dry-run`: what apply(view) would write or call, as text, touching nothing. */
  preview?(view: PoolView): Promise<string>;
  close(): Promise<void>;
}
