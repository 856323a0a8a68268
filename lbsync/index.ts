/**
 * lbsync: follows /services, health-filters endpoints, coalesces bursts and
 * keeps load balancers in step (nginx here; ELBv2 in lbsync/elbv2 plugs into
 * the same Output interface).
 */
export * from './output.js';
export * from './errors.js';
export * from './coalescer.js';
export * from './retries.js';
export * from './model.js';
export * from './config.js';
export * from './metrics.js';
export * from './lbsync.js';
export * from './nginx-output.js';
export * from './nginx/upstream-options.js';
export * from './nginx/render.js';
export * from './nginx/edit-in-place.js';
export * from './nginx/blame.js';
export * from './nginx/user-upstreams.js';
export * from './nginx/sticky-names.js';
export * from './nginx/quarantine.js';
export * from './nginx/conf-scanner.js';
export * from './nginx/command.js';
export * from './nginx/nginx-argv.js';
export * from './nginx/layout.js';
export * from './nginx/include-shadow.js';
export * from './nginx/reloader.js';
export * from './nginx/activator.js';
