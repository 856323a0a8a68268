import { Command, InvalidArgumentError, Option } from 'commander';
import { formatDuration, ServiceWatch, validateServiceName, type ServiceRecord } from '../registry/index.js';
import {
  formatTarget,
  HealthScheduler,
  HttpChecker,
  parseStatusSet,
  parseTarget,
  resolveSpec,
  TcpChecker,
  type Checker,
  type CheckResult,
  type EndpointHealth,
  type HealthSpec,
} from '../health/index.js';
import { durationArg, etcdContext, EXIT, runCommand, stdoutClosed, UsageError, withEtcdOptions, withLogLevel, type EtcdOptions } from './common.js';
import { hostPort } from './discover.js';
import { createLogger } from './logger.js';
import { renderTable } from './table.js';

/** Flags that shape an HTTP check, shared by `check` and `watch`. */
interface HttpFlags {
  expectStatus?: string;
  expectDigest?: string;
  expectBody?: string;
  method?: string;
  hostHeader?: string;
  insecure?: boolean;
  maxBody?: number;
  timeout?: number;
  json?: boolean;
}

function intArg(flag: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) throw new InvalidArgumentError(`${flag} must be an integer from ${min} to ${max}`);
    return n;
  };
}

function withHttpFlags(cmd: Command): Command {
  return cmd
    .option('--expect-status <set>', 'accepted statuses, e.g. 200-399, 200,204 or 2xx (default 200-399)')
    .option('--expect-digest <digest>', 'expected body digest, sha1:HEX or sha256:HEX')
    .option('--expect-body <text>', 'text the body must contain')
    .option('--method <verb>', 'HTTP method (default GET)')
    .option('--host-header <host>', 'Host header to send (default: the target address); also the TLS server name')
    .option('--insecure', 'do not verify the TLS certificate')
    .option('--max-body <bytes>', 'read at most this many body bytes (default 65536)', intArg('--max-body', 0, 64 * 1024 * 1024))
    .option('--timeout <duration>', 'give up after this long, e.g. 2s or 500ms (default 2s)', durationArg('--timeout'));
}

/** The spec fields set by flags; undefined ones fall through to the record and defaults. */
function overridesFrom(flags: HttpFlags): Partial<HealthSpec> {
  const out: Partial<HealthSpec> = {};
  if (flags.expectStatus !== undefined) out.expectStatus = parseStatusSet(flags.expectStatus, '--expect-status');
  if (flags.expectDigest !== undefined) out.expectDigest = flags.expectDigest.toLowerCase();
  if (flags.expectBody !== undefined) out.expectBody = flags.expectBody;
  if (flags.method !== undefined) out.method = flags.method.toUpperCase();
  if (flags.hostHeader !== undefined) out.hostHeader = flags.hostHeader;
  if (flags.insecure) out.tlsVerify = false;
  if (flags.maxBody !== undefined) out.maxBodyBytes = flags.maxBody;
  if (flags.timeout !== undefined) out.timeoutMs = flags.timeout;
  return out;
}

const HTTP_ONLY: Array<[keyof HttpFlags, string]> = [
  ['expectStatus', '--expect-status'],
  ['expectDigest', '--expect-digest'],
  ['expectBody', '--expect-body'],
  ['method', '--method'],
  ['hostHeader', '--host-header'],
  ['insecure', '--insecure'],
  ['maxBody', '--max-body'],
];

/** `beacon health check TARGET`: one check, one line, exit 0 passing / 1 failing / 2 bad usage. */
function checkCommand(): Command {
  const cmd = new Command('check')
    .description('check one endpoint once: prints "passing|failing TARGET: REASON (LATENCY)"; exit 0 passing, 1 failing, 2 bad usage')
    .argument('<target>', 'http://HOST[:PORT]/PATH, https://HOST[:PORT]/PATH or tcp://HOST:PORT')
    .option('--json', 'print one JSON object: {target, state, passing, reason, latencyMs, at}')
    .addHelpText(
      'after',
      `
Examples:
  $ beacon health check http://10.0.0.7:18001/health.php --expect-digest sha1:0a4d55a8d778e5022fab701977c5d840bbc486d0
  $ beacon health check https://10.0.0.7:8443/ --insecure --host-header www.example.com
  $ beacon health check tcp://10.0.0.5:27017 --timeout 500ms`,
    );
  withLogLevel(withHttpFlags(cmd)).action((text: string, flags: HttpFlags & { logLevel: string }) => {
    const log = createLogger(flags.logLevel, 'health');
    return runCommand(async () => {
      const parsed = parseTarget(text);
      if (parsed.kind === 'tcp') {
        const misplaced = HTTP_ONLY.filter(([key]) => flags[key] !== undefined).map(([, flag]) => flag);
        if (misplaced.length > 0) throw new UsageError(`${misplaced.join(', ')}: only for http:// and https:// targets, not tcp://`);
      }
      const spec = resolveSpec(undefined, { ...overridesFrom(flags), kind: parsed.kind, path: parsed.path });
      const checker: Checker = parsed.kind === 'tcp' ? new TcpChecker() : new HttpChecker();
      const result = await checker.check(parsed.target, spec, new AbortController().signal);
      await checker.close?.();
      const shown = formatTarget(parsed.kind, parsed.target, parsed.path);
      process.stdout.write(flags.json ? JSON.stringify({ target: shown, state: stateOf(result), ...result }) + '\n' : `${stateOf(result)} ${shown}: ${result.reason} (${formatLatency(result.latencyMs)})\n`);
      return result.passing ? EXIT.ok : EXIT.failure;
    }, log);
  });
  return cmd.exitOverride();
}

interface WatchFlags extends EtcdOptions, HttpFlags {
  path?: string;
  https?: boolean;
  interval?: number;
  rise?: number;
  fall?: number;
  concurrency: number;
}

/** `beacon health watch SERVICE`: checks every endpoint of a service live. */
function watchCommand(): Command {
  const cmd = new Command('watch')
    .description("check every endpoint of a service found in etcd and show a live table (JSON lines when piped or with --json)")
    .argument('<service>', 'service name, e.g. web')
    .option('--json', 'print JSON lines (one per check result, endpoint added or removed) even on a terminal')
    .option('--path <path>', 'HTTP path for endpoints whose record has no check (default: TCP connect)')
    .option('--https', 'use HTTPS for HTTP checks')
    .option('--interval <duration>', 'time between checks of one endpoint (default 5s, or the record\'s)', durationArg('--interval'))
    .option('--rise <n>', 'passes in a row that turn a failing endpoint passing (default 2)', intArg('--rise', 1, 100))
    .option('--fall <n>', 'failures in a row that turn a passing endpoint failing (default 3)', intArg('--fall', 1, 100))
    .addOption(new Option('--concurrency <n>', 'checks in flight at once').argParser(intArg('--concurrency', 1, 10_000)).default(256))
    .addHelpText(
      'after',
      `
The check comes from each record's "check" field, else these flags, else a TCP connect.

Examples:
  $ beacon health watch web
  $ beacon health watch web --path /health.php --interval 2s --json | jq -c 'select(.changed)'`,
    );
  withEtcdOptions(withHttpFlags(cmd)).action((service: string, flags: WatchFlags) => {
    validateServiceName(service, 'SERVICE');
    const overrides = overridesFrom(flags);
    if (flags.path !== undefined) overrides.path = flags.path;
    if (flags.https) overrides.kind = 'https';
    else if (flags.path !== undefined) overrides.kind = 'http';
    if (flags.interval !== undefined) overrides.intervalMs = flags.interval;
    if (flags.rise !== undefined) overrides.rise = flags.rise;
    if (flags.fall !== undefined) overrides.fall = flags.fall;
    resolveSpec(undefined, overrides); // refuse bad flags before connecting
    const { log, prefix, client } = etcdContext(flags, 'health');
    const live = !flags.json && process.stdout.isTTY === true;
    // `beacon health watch web | head`: a reader that has seen enough ends the watch quietly (exit 0).
    const readerGone = stdoutClosed();
    let reading = true;
    void readerGone.then(() => (reading = false));
    return runCommand(async () => {
      const scheduler = new HealthScheduler({ concurrency: flags.concurrency });
      const records = new Map<string, ServiceRecord>();
      const printed = new Map<string, string | undefined>();
      const table = new LiveTable(service);
      const line = (fields: object) => reading && process.stdout.write(JSON.stringify({ time: new Date().toISOString(), service, ...fields }) + '\n');
      const redraw = live ? throttle(() => table.draw(scheduler.snapshot(), records), 250) : () => undefined;

      scheduler.on('result', (id, result) => {
        const record = records.get(id);
        if (!live && record) {
          const state = scheduler.state(id);
          line({ event: 'result', instance: id, address: hostPort(record), state, changed: printed.get(id) !== state, ...result });
          printed.set(id, state);
        }
        redraw();
      });
      scheduler.on('change', (id, state, result, previous) => {
        log[live ? 'debug' : 'info']({ service, instance: id, state, previous, reason: result.reason }, `marked ${service}/${id} ${state}: ${result.reason}`);
      });

      const watch = new ServiceWatch({ client, prefix }, service);
      const warn = (fields: object, message: string) => {
        log.warn(fields, message);
        table.detach();
      };
      watch.on('problem', (p) => warn({ key: p.key, reason: p.reason }, `skipped ${p.key}: ${p.reason}`));
      watch.on('disconnected', (err) => warn({ err: err.message }, 'lost the etcd watch; reconnecting'));
      watch.on('update', (current) => {
        const seen = new Set<string>();
        for (const record of current) {
          seen.add(record.instance);
          let spec: HealthSpec;
          try {
            spec = resolveSpec(record.check, overrides);
          } catch (err) {
            warn({ instance: record.instance, err: (err as Error).message }, `skipped ${service}/${record.instance}: ${(err as Error).message}`);
            continue;
          }
          const added = !records.has(record.instance);
          records.set(record.instance, record);
          scheduler.upsert(record.instance, { host: record.host, port: record.port }, spec);
          if (added && !live) line({ event: 'added', instance: record.instance, address: hostPort(record), check: formatTarget(spec.kind, record, spec.path) });
        }
        for (const id of [...records.keys()]) {
          if (seen.has(id)) continue;
          const record = records.get(id)!;
          records.delete(id);
          printed.delete(id);
          scheduler.remove(id);
          if (!live) line({ event: 'removed', instance: id, address: hostPort(record) });
        }
        redraw();
      });
      await watch.start();
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
        void readerGone.then(resolve);
      });
      await watch.stop();
      await scheduler.stop();
      client.close();
    }, log);
  });
  return cmd.exitOverride();
}

/** `beacon health`: check endpoints, once or live. */
export function healthCommand(): Command {
  return new Command('health')
    .description('health-check endpoints over HTTP(S) or TCP: one target once, or a service live')
    .addCommand(checkCommand())
    .addCommand(watchCommand())
    .addHelpText(
      'after',
      `
Examples:
  $ beacon health check http://127.0.0.1:18001/health --expect-status 200
  $ beacon health watch web`,
    );
}

function stateOf(result: CheckResult): 'passing' | 'failing' {
  return result.passing ? 'passing' : 'failing';
}

function formatLatency(ms: number): string {
  return ms < 10 ? `${ms.toFixed(1)}ms` : formatDuration(ms);
}

/** A table redrawn in place on a terminal: the cursor goes back up over the last drawing. */
class LiveTable {
  private lines = 0;

  constructor(private readonly service: string) {}

  draw(endpoints: EndpointHealth[], records: Map<string, ServiceRecord>): void {
    const counts = { passing: 0, failing: 0, unknown: 0 };
    for (const e of endpoints) counts[e.state]++;
    const head = `${this.service}: ${endpoints.length} endpoint(s), ${counts.passing} passing, ${counts.failing} failing, ${counts.unknown} unknown  (${new Date().toLocaleTimeString()})\n`;
    const rows = endpoints.map((e) => {
      const record = records.get(e.id);
      return [
        e.id,
        record ? hostPort(record) : `${e.target.host}:${e.target.port}`,
        e.spec.kind === 'tcp' ? 'tcp' : `${e.spec.kind} ${e.spec.path}`,
        e.state,
        e.last?.reason ?? '-',
        e.last ? formatLatency(e.last.latencyMs) : '-',
      ];
    });
    const text = head + (rows.length ? renderTable(['INSTANCE', 'ADDRESS', 'CHECK', 'STATE', 'LAST REASON', 'LATENCY'], rows) : 'no endpoints\n');
    // Up to the start of the previous drawing, clear to the end of the screen, draw again.
    const rewind = this.lines > 0 ? `\x1b[${this.lines}F\x1b[J` : '';
    process.stdout.write(rewind + text);
    this.lines = text.split('\n').length - 1;
  }

  /** Something else was printed: start the next drawing below it rather than over it. */
  detach(): void {
    this.lines = 0;
  }
}

function throttle(fn: () => void, ms: number): () => void {
  let timer: NodeJS.Timeout | undefined;
  let last = 0;
  return () => {
    if (timer) return;
    const wait = Math.max(0, last + ms - Date.now());
    timer = setTimeout(() => {
      timer = undefined;
      last = Date.now();
      fn();
    }, wait);
  };
}
