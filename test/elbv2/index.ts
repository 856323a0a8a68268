/**
 * The ELBv2 test endpoint: a faithful local server for the ELBv2 Query
 * protocol (target groups, targets, health states, faults, call log), and a
 * harness for moto as an independent cross-check.
 */
export * from './clock.js';
export * from './errors.js';
export * from './faults.js';
export * from './call-log.js';
export * from './state.js';
export * from './query-protocol.js';
export * from './xml.js';
export * from './server.js';
export * from './moto.js';
