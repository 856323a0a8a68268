import { Command, InvalidArgumentError, Option } from 'commander';
import {
  BeaconError,
  createEtcdClient,
  DURATION_BOUNDS,
  formatDuration,
  normalisePrefix,
  parseDuration,
  parseEndpoints,
  ValidationError,
  type DurationBounds,
  type EtcdConnection,
} from '../registry/index.js';
import { EXIT } from './exit-codes.js';
import { createLogger, flushLogs, LOG_LEVELS, type Logger } from './logger.js';

export { EXIT } from './exit-codes.js';

/** Bad usage: a flag or argument that breaks a rule. Exits with 2. */
export class UsageError extends BeaconError {
  constructor(message: string) {
    super('BEACON_USAGE', message);
  }
}

/** Options every etcd-facing subcommand accepts. */
export interface EtcdOptions {
  etcd: string;
  prefix: string;
  etcdCa?: string;
  etcdCert?: string;
  etcdKey?: string;
  etcdUser?: string;
  logLevel: string;
}


/** The bounds each duration parser enforces, so help can say them (see describeDurations). */
const durationParsers = new WeakMap<object, DurationBounds>();

/** A commander argument parser for durations (`250ms`, `5s`, `1m`), returning milliseconds, within the flag's DURATION_FLAGS range. */
export function durationArg(flag: string, bounds: DurationBounds = DURATION_BOUNDS[flag] ?? {}) {
  const parse = (value: string): number => {
    try {
      return parseDuration(value, flag, bounds);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
  durationParsers.set(parse, bounds);
  return parse;
}

/**
 * Makes help agree with parsing for every duration flag in a command tree: a
 * default is shown as the flag accepts it (`5s`, not `5000`), and the range
 * the flag enforces is part of its description.
 */
export function describeDurations(cmd: Command): void {
  for (const opt of cmd.options) {
    const bounds = opt.parseArg && durationParsers.get(opt.parseArg);
    if (!bounds) continue;
    if (typeof opt.defaultValue === 'number' && opt.defaultValueDescription === undefined) {
      opt.defaultValueDescription = formatDuration(opt.defaultValue);
    }
    if (bounds.max !== undefined) {
      const step = bounds.step ? `, in steps of ${formatDuration(bounds.step.ms)}` : '';
      opt.description += ` (${formatDuration(bounds.min ?? 0)} to ${formatDuration(bounds.max)}${step})`;
    }
  }
  for (const sub of cmd.commands) describeDurations(sub);
}

/** Parses a TCP port flag (1-65535). */
export function portArg(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < 1 || n > 65535) throw new InvalidArgumentError(`${flag} must be a port from 1 to 65535`);
    return n;
  };
}

/** The flags of the Prometheus endpoint, shared by the daemons. */
export interface MetricsOptions {
  metricsPort?: number;
  metricsHost: string;
}

/**
 * Adds --metrics-port (env BEACON_METRICS_PORT) and --metrics-host (env
 * BEACON_METRICS_HOST, default 127.0.0.1: containers and swarm services set
 * 0.0.0.0 so Prometheus can scrape them from outside).
 */
export function withMetricsOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--metrics-port <port>', 'serve Prometheus metrics on METRICS_HOST:PORT/metrics').argParser(portArg('--metrics-port')).env('BEACON_METRICS_PORT'))
    .addOption(new Option('--metrics-host <address>', 'address the metrics endpoint binds to').env('BEACON_METRICS_HOST').default('127.0.0.1'));
}

/** Adds --log-level (env BEACON_LOG_LEVEL). */
export function withLogLevel(cmd: Command): Command {
  return cmd.addOption(
    new Option('--log-level <level>', 'log level for the JSON lines on stderr').choices(LOG_LEVELS).env('BEACON_LOG_LEVEL').default('info'),
  );
}

/** Adds the etcd connection flags, the prefix and --log-level. */
export function withEtcdOptions(cmd: Command): Command {
  cmd
    .addOption(new Option('--etcd <urls>', 'etcd endpoints, comma-separated for a cluster').env('BEACON_ETCD').default('http://127.0.0.1:2379'))
    .addOption(new Option('--prefix <path>', 'key prefix of the /services contract').env('BEACON_PREFIX').default('/services'))
    .addOption(new Option('--etcd-ca <file>', 'CA certificate for TLS to etcd').env('BEACON_ETCD_CA'))
    .addOption(new Option('--etcd-cert <file>', 'client certificate for TLS to etcd').env('BEACON_ETCD_CERT'))
    .addOption(new Option('--etcd-key <file>', 'client key for TLS to etcd').env('BEACON_ETCD_KEY'))
    .addOption(new Option('--etcd-user <name>', 'etcd user; the password is read from env BEACON_ETCD_PASSWORD').env('BEACON_ETCD_USER'));
  return withLogLevel(cmd);
}

/** Turns parsed flags into an etcd connection, validating them. The password comes only from the environment. */
export function etcdConnection(opts: EtcdOptions): EtcdConnection {
  return {
    endpoints: parseEndpoints(opts.etcd),
    ...(opts.etcdCa ? { caFile: opts.etcdCa } : {}),
    ...(opts.etcdCert ? { certFile: opts.etcdCert } : {}),
    ...(opts.etcdKey ? { keyFile: opts.etcdKey } : {}),
    ...(opts.etcdUser ? { user: opts.etcdUser, password: process.env.BEACON_ETCD_PASSWORD } : {}),
  };
}

/** The shared setup of an etcd-facing command: logger, prefix and client. */
export function etcdContext(opts: EtcdOptions, name: string) {
  const log = createLogger(opts.logLevel, name);
  const prefix = normalisePrefix(opts.prefix);
  const client = createEtcdClient(etcdConnection(opts));
  return { log, prefix, client };
}

/**
 * Resolves when whoever reads stdout has gone (`beacon discover --watch |
 * head`): a reader that has seen enough is no failure, so the command can end
 * quietly with 0, as C tools do on SIGPIPE. Calling it is what keeps the
 * EPIPE from becoming an unhandled 'error' with a stack trace; any other
 * stdout error still is one.
 */
export function stdoutClosed(): Promise<void> {
  return new Promise((resolve) => {
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      resolve();
    });
  });
}

/**
 * Runs a command body and turns its outcome into an exit code: validation
 * and usage errors are bad usage (2), anything else is a failure (1).
 */
export async function runCommand(body: () => Promise<number | void>, log?: Logger): Promise<never> {
  let code: number;
  try {
    code = (await body()) ?? EXIT.ok;
  } catch (err) {
    const usage = err instanceof UsageError || err instanceof ValidationError;
    const message = err instanceof Error ? err.message : String(err);
    if (log && !usage) log.error({ err }, `failed: ${message}`);
    flushLogs();
    process.stderr.write(`beacon: ${message}\n`);
    code = usage ? EXIT.usage : EXIT.failure;
  }
  process.exit(code);
}
