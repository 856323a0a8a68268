/** The real-component test harness: etcd, dockerd, nginx, a TCP proxy, free ports. */
export * from './ports.js';
export * from './processes.js';
export * from './etcd.js';
export * from './docker.js';
export * from './nginx.js';
export * from './tcp-proxy.js';
export * from './beacon-cli.js';
export * from './tls.js';
export * from './images.js';
export * from './logs.js';
