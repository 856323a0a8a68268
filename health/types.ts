import type { CancelSignal } from './cancellation.js';
/**
 * The health module's public types: what a check is, what it returns, and the
 * scheduler's events. lbsync consumes these; checkers implement Checker.
 */

/** Where to check: an endpoint's address. */
export interface CheckTarget {
  host: string;
  port: number;
}

/** A fully resolved check specification (defaults applied). */
export interface HealthSpec {
  kind: 'http' | 'https' | 'tcp';
  /** HTTP path, e.g. `/health`. */
  path: string;
  method: string;
  /** Host header to send; the target's address when unset. */
  hostHeader?: string;
  /** Accepted statuses as ranges, e.g. [[200, 399]]. */
  expectStatus: Array<[number, number]>;
  /** `sha1:HEX` or `sha256:HEX` of the body. */
  expectDigest?: string;
  /** A substring the body must contain. */
  expectBody?: string;
  maxBodyBytes: number;
  intervalMs: number;
  timeoutMs: number;
  /** Fraction of the interval used as random jitter, 0..1. */
  jitter: number;
  rise: number;
  fall: number;
  tlsVerify: boolean;
}

/** The outcome of one check. */
export interface CheckResult {
  passing: boolean;
  /** A reason a person understands: `status 500`, `timeout after 2s`, `connection refused`. */
  reason: string;
  /** True when the check gave up at its timeout: the endpoint may be slow (starting, loaded) rather than down. */
  timedOut?: boolean;
  latencyMs: number;
  /** When the check finished (ms since epoch). */
  at: number;
}

/** One checker per kind (http, tcp); one file each. */
export interface Checker {
  /**
   * Checks once. Never rejects for a failing endpoint: every outcome, including
   * a timeout, is a failing CheckResult. Must settle promptly when `signal` aborts.
   */
  check(target: CheckTarget, spec: HealthSpec, signal: CancelSignal): Promise<CheckResult>;
  /** Loads now what the first check would load (lbsync calls it once idle, so a new endpoint's first check does not wait for it). */
  warm?(): void;
  /** Drops whatever the checker keeps for this endpoint (e.g. pooled connections); called when it goes away. */
  release?(target: CheckTarget): void;
  close?(): Promise<void>;
}

/** An endpoint is unknown until its first result, then passing or failing per rise/fall. */
export type HealthState = 'unknown' | 'passing' | 'failing';
