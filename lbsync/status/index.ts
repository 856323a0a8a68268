/**
 * lbsync's status: a pure model of what the daemon reports, a read-only web
 * page with server-sent events (`beacon lbsync --status-port`), and the
 * summary `beacon status` prints.
 */
export * from './status-types.js';
export * from './status-model.js';
export * from './status-feed.js';
export * from './status-server.js';
export * from './status-summary.js';

/** The port `beacon status` asks by default; `beacon lbsync --status-port 9337` serves there. */
export const DEFAULT_STATUS_PORT = 9337;
