import type { Command } from 'commander';

/**
 * Each subcommand's module, loaded only when it runs: a sidekick should not
 * carry the AWS SDK and undici in its memory, nor pay for loading them, and
 * `beacon --version`, `--help` or a mistyped command load none (the listing
 * below is what `--help` shows; a unit test keeps it equal to the modules'
 * own usage and description).
 */
export interface Subcommand {
  /** What `beacon --help` lists: name, usage and description as the module defines them. */
  term: string;
  summary: string;
  load: () => Promise<Command>;
}
export const SUBCOMMANDS: Record<string, Subcommand> = {
  discover: {
    term: 'discover [options] <service>',
    summary: 'list the endpoints of a service from etcd (all key layouts)',
    load: async () => (await import('./discover.js')).discoverCommand(),
  },
  services: {
    term: 'services [options]',
    summary: 'list every service under the prefix with its endpoint count',
    load: async () => (await import('./services.js')).servicesCommand(),
  },
  health: {
    term: 'health',
    summary: 'health-check endpoints over HTTP(S) or TCP: one target once, or a service live',
    load: async () => (await import('./health.js')).healthCommand(),
  },
  sidekick: {
    term: 'sidekick',
    summary: 'publish containers into etcd /services: `docker` for a whole host, `announce` for one unit',
    load: async () => (await import('./sidekick.js')).sidekickCommand(),
  },
  lbsync: {
    term: 'lbsync [options]',
    summary: 'watch /services, health-check endpoints and keep nginx upstreams in step (validated, swapped atomically, reloaded, confirmed)',
    load: async () => (await import('./lbsync.js')).lbsyncCommand(),
  },
  status: {
    term: 'status [options]',
    summary: 'show every service across the chain (endpoints and health, nginx, ELBv2) from a running lbsync; exits 1 when a service has no passing endpoint',
    load: async () => (await import('./status.js')).statusCommand(),
  },
};
