/**
 * lbsync's ELBv2 output: maps services to target groups, plans (pure) and
 * applies register/deregister batches with make-before-break, a safety stop,
 * drift correction and one writer elected through etcd.
 */
export * from './targets.js';
export * from './plan.js';
export * from './plan-text.js';
export * from './errors.js';
export * from './events.js';
export * from './options.js';
export * from './flags.js';
export * from './client.js';
export * from './group-sync.js';
export * from './leader.js';
export * from './elbv2-output.js';
export * from './create.js';
