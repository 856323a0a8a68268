import type { CheckResult, CheckTarget, HealthSpec } from './types.js';

/** What the main thread sends the health-check thread, batched per event-loop turn. */
export type ToWorker =
  | { op: 'check'; id: number; target: CheckTarget; spec: HealthSpec }
  /** The check's result is no longer wanted: abort it. */
  | { op: 'cancel'; id: number }
  /** The endpoint is gone: close its kept connection. */
  | { op: 'release'; target: CheckTarget };

/** One finished check, as the health-check thread reports it (a batch per turn). */
export type CheckDone = [id: number, result: CheckResult];

/** What the health-check thread sends back: 'ready' once, when it has loaded its HTTP client; then batches of finished checks. */
export type FromWorker = 'ready' | CheckDone[];
