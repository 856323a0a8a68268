/**
 * health: endpoint health checking, standalone (`beacon health …`) and as
 * lbsync's engine. Checkers (HTTP with undici, TCP; on the calling thread or
 * on a check thread of their own) behind one interface, a
 * scheduler with rise/fall thresholds and bounded concurrency, spec
 * resolution from records, and the fail-open pool policy.
 */
export * from './types.js';
export * from './errors.js';
export * from './status-set.js';
export * from './spec.js';
export * from './target.js';
export * from './reason.js';
export * from './threshold.js';
export * from './policy.js';
export * from './clock.js';
export * from './cancellation.js';
export * from './due-queue.js';
export * from './http-checker.js';
export * from './tcp-checker.js';
export * from './local-checker.js';
export * from './threaded-checker.js';
export * from './check-router.js';
export * from './scheduler.js';
