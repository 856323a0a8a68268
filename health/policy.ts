import type { HealthState } from './types.js';

/** How a pool's members were chosen. */
export type PoolMode =
  /** At least one endpoint passes: the passing ones serve. */
  | 'healthy'
  /** None passes and at least one fails: every endpoint serves (fail-open, as ELB and Envoy's panic mode). */
  | 'fail-open'
  /** None passes and at least one fails, and fail-open is off: nothing serves. */
  | 'down'
  /** No endpoint has a result yet: every endpoint serves until the first results arrive. */
  | 'unchecked'
  /** No endpoints at all. */
  | 'empty';

export interface PoolChoice<E> {
  /** The endpoints that should receive traffic, in input order. */
  members: E[];
  /** True when every checked endpoint fails and all are kept anyway; lbsync warns and counts it. */
  failOpen: boolean;
  mode: PoolMode;
}

export interface PoolPolicyOptions {
  /** Keep every endpoint when none passes (default true). */
  failOpen?: boolean;
}

/**
 * Chooses a service's pool members from its endpoints' states. Health
 * reports, lbsync decides; this is the rule it applies:
 *
 * - passing endpoints are members; unknown ones join after their first passing
 *   check (they are not members while another endpoint passes);
 * - when none passes but some fail, the pool fails open: every endpoint,
 *   unknown ones included, stays a member and `failOpen` is true — an outage
 *   of the checks (or of a shared dependency) must not empty the pool;
 * - when no endpoint has been checked yet (a new service, a restart), all are
 *   members: the first checks run at once, and an empty pool would take the
 *   service down for what is only a partial view.
 */
export function choosePool<E extends { health: HealthState }>(endpoints: readonly E[], options: PoolPolicyOptions = {}): PoolChoice<E> {
  if (endpoints.length === 0) return { members: [], failOpen: false, mode: 'empty' };
  const passing = endpoints.filter((e) => e.health === 'passing');
  if (passing.length > 0) return { members: passing, failOpen: false, mode: 'healthy' };
  if (endpoints.some((e) => e.health === 'failing')) {
    return options.failOpen === false ? { members: [], failOpen: false, mode: 'down' } : { members: [...endpoints], failOpen: true, mode: 'fail-open' };
  }
  return { members: [...endpoints], failOpen: false, mode: 'unchecked' };
}
