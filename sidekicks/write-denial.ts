import { EtcdPermissionDeniedError } from 'etcd3';
import type { LeasePublisher } from '../registry/index.js';

/** True for etcd refusing a write because the user's role may not write there. */
export function isPermissionDenied(err: unknown): boolean {
  return err instanceof EtcdPermissionDeniedError || (err instanceof Error && /permission denied/i.test(err.message));
}

/**
 * Tracks whether etcd refuses this sidekick's writes, and when to say so
 * again: a misconfigured role is no blip that retrying fixes, so an operator
 * hears about it every `reportEveryMs` for as long as it lasts, not once.
 */
export class WriteDenial {
  private since: number | undefined;
  private lastReport = -Infinity;

  constructor(
    private readonly reportEveryMs: number,
    private readonly now: () => number,
  ) {}

  /** Writes are being refused now. */
  get active(): boolean {
    return this.since !== undefined;
  }

  /** How long writes have been refused (0 when they are not). */
  get forMs(): number {
    return this.since === undefined ? 0 : this.now() - this.since;
  }

  /** A write was refused; true when it is time to report it (the first time, then once per period). */
  refused(): boolean {
    const t = this.now();
    this.since ??= t;
    if (t - this.lastReport < this.reportEveryMs) return false;
    this.lastReport = t;
    return true;
  }

  /** A write landed; true when writes had been refused until now. */
  cleared(): boolean {
    const was = this.active;
    this.since = undefined;
    this.lastReport = -Infinity;
    return was;
  }
}

/**
 * Sorts a publisher's failed writes: etcd's permission denied goes to
 * `denied` (first time, then once per `reportEveryMs`), anything else to
 * `other`. The caller calls `cleared()` on the result when a write lands.
 */
export function trackWriteDenials(
  publisher: LeasePublisher,
  reportEveryMs: number,
  now: () => number,
  on: { denied: (err: Error, forMs: number) => void; other: (err: Error, retryInMs: number) => void },
): WriteDenial {
  const denial = new WriteDenial(reportEveryMs, now);
  publisher.on('retrying', (err, retryInMs) => {
    if (!isPermissionDenied(err)) on.other(err, retryInMs);
    else if (denial.refused()) on.denied(err, denial.forMs);
  });
  return denial;
}

