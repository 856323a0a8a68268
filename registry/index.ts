/**
 * registry: the /services contract (records, names, key layouts), the etcd
 * store (leased publishing, resumable prefix watch) and the discovery client.
 */
export * from './errors.js';
export * from './duration.js';
export * from './record.js';
export * from './layout.js';
export * from './record-view.js';
export * from './backoff.js';
export * from './etcd-client.js';
export * from './lease-publisher.js';
export * from './list-prefix.js';
export * from './prefix-watcher.js';
export * from './discovery.js';
