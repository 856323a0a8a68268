/**
 * sidekicks: publish containers into the /services contract.
 *
 * - DockerSidekick (`beacon sidekick docker`): one per host, Docker events → leased records;
 * - Announcer (`beacon sidekick announce`): one record kept alive while one container runs;
 * - defineServices: the pure, registrator-compatible service definition;
 * - DockerSource: the Docker events stream with list-and-diff on every (re)connect.
 */
export * from './container-facts.js';
export * from './docker-event.js';
export * from './service-definition.js';
export * from './docker-connection.js';
export * from './line-splitter.js';
export * from './docker-source.js';
export * from './host-address.js';
export * from './node-records.js';
export * from './docker-sidekick.js';
export * from './announce.js';
export * from './write-denial.js';
export * from './flap-damper.js';
export * from './metrics.js';
