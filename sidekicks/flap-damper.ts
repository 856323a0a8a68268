/** When a container restarting in a loop counts as flapping, and how long it must then stay up. */
export interface FlapPolicy {
  /** Starts within `windowMs` beyond which a container is flapping; 0 turns damping off. */
  restarts: number;
  windowMs: number;
  /** How long a flapping container must stay up before its records are published again. */
  holdMs: number;
}

/** The default: more than 3 restarts in a minute, then 10 s of uptime before publishing again. */
export const DEFAULT_FLAP_POLICY: FlapPolicy = { restarts: 3, windowMs: 60_000, holdMs: 10_000 };

/**
 * Damps restart loops: a container that crashes and restarts over and over
 * would otherwise have its record published and removed at every turn (and
 * every lbsync reload its upstreams for it). Pure: the caller passes the time
 * and acts on the answer.
 *
 * Keyed by container id, which a restart keeps (restart policies, `docker
 * restart`); a start is told apart from an update by Docker's `startedAt`.
 */
export class FlapDamper {
  private readonly starts = new Map<string, { startedAt: string | undefined; times: number[] }>();

  constructor(private readonly policy: FlapPolicy) {}

  /**
   * How many ms the records of this container are still held back (0: publish
   * now). Call on every update; a new `startedAt` counts as a start at `now`.
   */
  holdFor(containerId: string, startedAt: string | undefined, now: number): number {
    const { restarts, windowMs, holdMs } = this.policy;
    if (restarts <= 0) return 0;
    let entry = this.starts.get(containerId);
    if (!entry) this.starts.set(containerId, (entry = { startedAt: undefined, times: [] }));
    if (entry.startedAt !== startedAt) {
      entry.startedAt = startedAt;
      entry.times = [...entry.times.filter((t) => now - t < windowMs), now];
    }
    if (entry.times.length <= restarts) return 0;
    const upFor = now - entry.times.at(-1)!;
    return Math.max(0, holdMs - upFor);
  }

  /** Starts within the window, for the log line of a held container. */
  startsOf(containerId: string): number {
    return this.starts.get(containerId)?.times.length ?? 0;
  }

  /** Forgets containers whose last start is older than the window (bounded memory). */
  sweep(now: number): void {
    for (const [id, entry] of this.starts) if (now - (entry.times.at(-1) ?? 0) >= this.policy.windowMs) this.starts.delete(id);
  }
}
