import type { ServicePool } from '../output.js';

/** A service the nginx output holds back: what it reports (status page, metrics, log). */
export interface QuarantinedService {
  service: string;
  /** nginx's words, or the name clash. */
  reason: string;
  /** ms since the epoch. */
  since: number;
  retryAt: number;
}

/**
 * What stands in for a held service in the owned file: its last good blocks,
 * then (when nginx refuses those too, or there are none) a bare 502
 * placeholder upstream so a `proxy_pass` to it stays valid, then nothing.
 * (Edit in place always keeps the block's current bytes.)
 */
export type StandIn = 'last-good' | 'placeholder' | 'nothing';

interface Hold extends QuarantinedService {
  /** The pool it was refused with: a changed pool is tried again at once. */
  pool: string;
  clash: boolean;
  stand: StandIn;
}

/**
 * The services the nginx output holds at their last good state because
 * nginx refused their block, or because their name clashes with one of the
 * user's own upstreams. A refusal is tried again after `holdMs` or as soon
 * as the service's pool changes; a clash after `holdMs`, once the caller has
 * re-read the user's config. Pure: the caller passes the time.
 */
export class ServiceQuarantine {
  private readonly holds = new Map<string, Hold>();
  /** When each current clash was first seen, so a re-check does not reset it. */
  private readonly clashSince = new Map<string, number>();
  /** Services let out this round, with when they went in: one refused again keeps its start. */
  private released = new Map<string, number>();

  constructor(readonly holdMs: number) {}

  /**
   * Before an apply: lets out the refusals whose hold ran out or whose pool
   * changed or went, and the clashes whose hold ran out. True when a hold ran
   * out (the caller re-reads the user's config, where a clash may have gone).
   */
  startRound(pools: readonly ServicePool[], now: number): boolean {
    this.released = new Map();
    let due = false;
    for (const [service, hold] of this.holds) {
      const pool = pools.find((p) => p.service === service);
      if (hold.retryAt <= now) due = true;
      // A clash does not go away with new endpoints, only with a config change.
      if (hold.retryAt <= now || (!hold.clash && (!pool || poolKey(pool) !== hold.pool))) {
        this.holds.delete(service);
        this.released.set(service, hold.since);
      }
    }
    return due;
  }

  /**
   * nginx refused the block of `pool`'s service (`message` is its words).
   * A new hold keeps the last good block; a service already held steps its
   * stand-in down when `stepDown` allows (owned file). False when nothing is
   * left to step down to: the refusal is not the service's to take.
   */
  refuse(pool: ServicePool, message: string, now: number, stepDown: { allowed: boolean; hasLastGood: boolean }): boolean {
    const held = this.holds.get(pool.service);
    if (held) {
      if (!stepDown.allowed || held.stand === 'nothing') return false;
      held.stand = held.stand === 'last-good' && stepDown.hasLastGood ? 'placeholder' : 'nothing';
      return true;
    }
    const reason = `nginx refused its block, so its last good one stays (tried again in ${Math.round(this.holdMs / 1000)}s or when its endpoints change): ${message}`;
    const since = this.released.get(pool.service) ?? now;
    this.holds.set(pool.service, { service: pool.service, reason, since, retryAt: now + this.holdMs, pool: poolKey(pool), clash: false, stand: 'last-good' });
    return true;
  }

  /** The service's name clashes with the user's own upstream (`reason` says where): held, written as nothing, while the clash lasts. */
  clash(pool: ServicePool, reason: string, now: number): void {
    if (this.holds.get(pool.service)?.reason === reason) return;
    const since = this.clashSince.get(pool.service) ?? now;
    this.clashSince.set(pool.service, since);
    this.holds.set(pool.service, { service: pool.service, reason, since, retryAt: now + this.holdMs, pool: poolKey(pool), clash: true, stand: 'nothing' });
  }

  /** After the user's config was read again: lets out the clashes it no longer has. */
  clashesGone(stillClaimed: (service: string) => boolean): void {
    for (const [service, hold] of this.holds) if (hold.clash && !stillClaimed(service)) this.holds.delete(service);
    for (const service of this.clashSince.keys()) if (!stillClaimed(service)) this.clashSince.delete(service);
  }

  /** What stands in for a held service; undefined when it is not held. */
  standIn(service: string): StandIn | undefined {
    return this.holds.get(service)?.stand;
  }

  names(): string[] {
    return [...this.holds.keys()];
  }

  list(): QuarantinedService[] {
    return [...this.holds.values()].map(({ service, reason, since, retryAt }) => ({ service, reason, since, retryAt }));
  }

  /** ms until the earliest hold runs out, or undefined when none is held. */
  nextRetryIn(now: number): number | undefined {
    const at = Math.min(...[...this.holds.values()].map((h) => h.retryAt));
    return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
  }
}

/** What a pool renders from: a refused service whose key changes is tried again. */
function poolKey(pool: ServicePool): string {
  return pool.members.map((r) => `${r.instance}@${r.host}:${r.port}:${JSON.stringify(r.meta ?? {})}`).sort().join(',');
}
