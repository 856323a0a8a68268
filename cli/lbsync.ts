import { Command, InvalidArgumentError, Option } from 'commander';
import type Docker from 'dockerode';
import { resolve } from 'node:path';
import { parseDuration, validateServiceName } from '../registry/index.js';
import type { HealthSpec } from '../health/index.js';
// lbsync's modules one by one rather than through lbsync/index.js: the barrel
// also loads prom-client (metrics), and elbv2/index.js the AWS SDK. Those, and
// dockerode, load only when the flags that use them are given.
import { parseWait } from '../lbsync/coalescer.js';
import { loadConfig, type LbsyncFileConfig } from '../lbsync/config.js';
import { NginxReloadError, NginxValidationError } from '../lbsync/errors.js';
import { LbSync } from '../lbsync/lbsync.js';
import { allowedNetworks } from '../lbsync/model.js';
import { NginxOutput, type ReloadVia } from '../lbsync/nginx-output.js';
import { splitCommand } from '../lbsync/nginx/command.js';
import { MAIN_PLACEHOLDER } from '../lbsync/nginx/nginx-argv.js';
import type { Elbv2Output } from '../lbsync/elbv2/elbv2-output.js';
import { withElbv2Options } from '../lbsync/elbv2/flags.js';
import { parseElbv2Options, type Elbv2Flags } from '../lbsync/elbv2/options.js';
import type { Output } from '../lbsync/output.js';
import { DEFAULT_STATUS_PORT, feedStatus, StatusModel, StatusServer } from '../lbsync/status/index.js';
import { isFatal, untilStop } from './daemon-signals.js';
import { durationArg, EXIT, etcdContext, runCommand, UsageError, withEtcdOptions, withMetricsOptions, type EtcdOptions, type MetricsOptions } from './common.js';
import type { Logger } from './logger.js';
import { serveMetrics } from './metrics-server.js';

interface LbsyncFlags extends EtcdOptions, Elbv2Flags, MetricsOptions {
  config?: string;
  nginxConf?: string;
  nginxEdit?: string;
  nginxTest: string;
  nginxMainConf?: string;
  nginxReload: string;
  nginxPid?: string;
  nginxContainer?: string;
  nginxMode: 'reload' | 'dynamic';
  services?: string[];
  wait: string;
  health: 'on' | 'off';
  healthInterval?: number;
  healthTimeout?: number;
  healthRise?: number;
  healthFall?: number;
  allowedNetworks?: string[];
  resync: number;
  confirmTimeout: number;
  statusPort?: number;
  statusHost: string;
  once?: boolean;
  dryRun?: boolean;
}

const modeArg = (value: string): 'reload' | 'dynamic' => {
  if (value !== 'reload' && value !== 'dynamic') throw new InvalidArgumentError('--nginx-mode must be dynamic or reload');
  return value;
};
const list = (value: string): string[] => value.split(',').map((s) => s.trim()).filter(Boolean);
const int = (flag: string, min: number, max: number) => (value: string): number => {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) throw new InvalidArgumentError(`${flag} must be an integer from ${min} to ${max}`);
  return n;
};

/** `beacon lbsync`: keep nginx upstreams in step with /services. */
export function lbsyncCommand(): Command {
  const cmd = new Command('lbsync')
    .description('watch /services, health-check endpoints and keep nginx upstreams in step (validated, swapped atomically, reloaded, confirmed)')
    .option('--config <file>', 'YAML or JSON file with the same names as these flags, plus per-service upstream options (upstreams.<service>)')
    .option('--nginx-conf <file>', 'owned-file mode: write one upstream block per service (and optional server blocks) to FILE, which your nginx config includes')
    .option('--nginx-edit <file>', "edit-in-place mode: rewrite only the managed upstream blocks inside your own nginx config FILE; every other byte stays")
    .option('--nginx-test <cmd>', `command that tests the full nginx config; lbsync points nginx's -c at a private copy that reads the candidate file, or puts that path where the command says ${MAIN_PLACEHOLDER} (for wrappers such as sh -c '…' or a script)`, 'nginx -t')
    .option('--nginx-main-conf <file>', "nginx's main config (the root of the include chain); default: from -p/-c in --nginx-test, else nginx -V, else what nginx -t prints")
    .option('--nginx-reload <cmd>', 'command that reloads nginx', 'nginx -s reload')
    .option('--nginx-pid <file>', 'reload by SIGHUP to the pid in FILE instead of running --nginx-reload')
    .option('--nginx-mode <mode>', 'dynamic: endpoint changes go into nginx\'s Lua balancer with no reload (needs libnginx-mod-http-lua), only structure reloads; reload: every change reloads nginx', modeArg, 'reload')
    .option('--nginx-container <name>', 'reload by SIGHUP to an nginx container through the Docker API (DOCKER_HOST or /var/run/docker.sock)')
    .option('--services <list>', 'only these services, comma-separated (default: all)', list)
    .option('--wait <min:max>', 'coalescing: a lone change applies at once; a burst waits until MIN passes quietly, never more than MAX (dynamic mode pushes endpoint changes at once)', '50ms:1s')
    .addOption(new Option('--health <mode>', 'health-filter endpoints (on) or route to every registered endpoint (off)').choices(['on', 'off']).default('on'))
    .option('--health-interval <duration>', 'check interval when the record and config say none (health default 5s)', durationArg('--health-interval'))
    .option('--health-timeout <duration>', 'check timeout when the record and config say none (health default 2s)', durationArg('--health-timeout'))
    .option('--health-rise <n>', 'passing checks in a row before a failing endpoint returns', int('--health-rise', 1, 100))
    .option('--health-fall <n>', 'failing checks in a row before a passing endpoint leaves', int('--health-fall', 1, 100))
    .option('--allowed-networks <cidrs>', 'only route to endpoints inside these networks, e.g. 10.0.0.0/8,fd00::/8', list)
    .addOption(new Option('--resync <duration>', 'also list the whole prefix this often, as a guard against anything missed (0s: never)').argParser(durationArg('--resync')).default(300_000, '5m'))
    .option('--confirm-timeout <duration>', 'how long to wait for new nginx workers after a reload before rolling back', durationArg('--confirm-timeout'), 5000)
    .option('--status-port <port>', `serve a read-only status page (services, endpoints, health, last reload, errors; live) on PORT; \`beacon status\` reads port ${DEFAULT_STATUS_PORT} by default`, int('--status-port', 1, 65535))
    .option('--status-host <address>', 'address the status page binds to (it shows internal addresses: keep it private)', '127.0.0.1')
    .option('--once', 'render, activate and exit (0 when nginx took it)')
    .option('--dry-run', 'print the config lbsync would write and exit; touches nothing')
    .addHelpText(
      'after',
      `
Modes:
  owned file    --nginx-conf /etc/nginx/conf.d/beacon.conf   (include it from http { })
  edit in place --nginx-edit /etc/nginx/nginx.conf           (blocks holding "# managed by beacon lbsync", or named by --services)

Every new config is tested with --nginx-test against your full config before it
replaces the live file, so nginx never sees a broken file, not even if lbsync is
killed mid-way. A refused config keeps the last good one and is logged with
nginx's own message; a reload that starts no new workers is rolled back (and
nginx reloaded with the file on disk). Failures that can pass (nginx stopped, a
failed reload, a read-only or full disk) are retried with backoff (250ms up to
5s) until they succeed, with no new change needed.

nginx modes:
  reload   (default) every change is a new config: tested, swapped, reloaded
  dynamic  endpoint changes of existing services are pushed into a Lua balancer
           in nginx (unix socket beside the config, a secret, read-back
           confirmation), no reload; a new/removed service or changed options
           reload. Needs libnginx-mod-http-lua loaded by nginx. least_conn,
           ip_hash, hash, DNS-name hosts and backup servers stay on reloads.

Examples:
  $ beacon lbsync --nginx-conf /etc/nginx/conf.d/beacon.conf
  $ beacon lbsync --nginx-edit /etc/nginx/nginx.conf --services web,api --wait 100ms:2s
  $ beacon lbsync --nginx-conf /srv/nginx/conf/beacon.conf \\
      --nginx-test 'nginx -p /srv/nginx -c conf/nginx.conf -t' \\
      --nginx-reload 'nginx -p /srv/nginx -c conf/nginx.conf -s reload'
  $ beacon lbsync --nginx-conf /etc/nginx/conf.d/beacon.conf --nginx-mode dynamic
  $ beacon lbsync --nginx-conf /srv/nginx/conf/beacon.conf --nginx-test 'nginx -t -q -p /srv/nginx -c conf/nginx.conf'
  $ beacon lbsync --nginx-conf /etc/nginx/conf.d/beacon.conf --nginx-container edge-nginx \\
      --nginx-test 'docker exec edge-nginx nginx -t -c {main}' --nginx-main-conf /etc/nginx/nginx.conf
  $ beacon lbsync --config /etc/beacon/lbsync.yaml --dry-run
  $ beacon lbsync --nginx-conf beacon.conf --health off --once
  $ beacon lbsync --nginx-conf beacon.conf --status-port ${DEFAULT_STATUS_PORT}    then open http://127.0.0.1:${DEFAULT_STATUS_PORT}/

Config file (YAML):
  nginx-conf: /etc/nginx/conf.d/beacon.conf
  wait: 50ms:1s
  upstreams:
    web:
      method: least_conn          # round_robin | least_conn | ip_hash | "hash $request_uri consistent"
      keepalive: 16
      max-fails: 2
      fail-timeout: 10s
      servers: [{ listen: 80, server-name: web.example.com, location: / }]
      health: { http: /health, interval: 2s, fall: 2, rise: 1 }

Record meta: "weight" (1-100) sets the server weight, "backup": "true" marks a backup server.`,
    );
  withElbv2Options(cmd);
  withMetricsOptions(cmd);
  withEtcdOptions(cmd).action((flags: LbsyncFlags) => {
    const file = flags.config ? loadConfig(flags.config) : {};
    const merged = mergeConfig(cmd, flags, file);
    const { log, prefix, client } = etcdContext(merged, 'lbsync');
    return runCommand(async () => {
      const settings = settle(merged, file, merged.nginxContainer ? new (await import('dockerode')).default() : undefined);
      if (settings.output) {
        settings.output.onRepush = (result) => {
          if (result instanceof Error) logRejection(log, 'nginx', result);
          else log.info({ output: 'nginx', nginxVersion: result.nginxVersion }, `re-applied by itself (nginx restarted, or a failed apply retried): ${result.detail}`);
        };
      }
      const outputs: Output[] = [];
      const nginx = settings.output ? new NginxOutput(settings.output) : undefined;
      if (nginx) outputs.push(nginx);
      const elbv2Options = parseElbv2Options(merged);
      let elbv2: Elbv2Output | undefined;
      if (elbv2Options) {
        // --once makes one pass and exits: campaigning first would usually leave it a standby.
        const { createElbv2Output } = await import('../lbsync/elbv2/create.js');
        elbv2 = createElbv2Output(elbv2Options, merged.once ? {} : { etcd: client });
        logElbv2(elbv2, log);
        outputs.push(elbv2);
      }
      if (outputs.length === 0) throw new UsageError('give --nginx-conf FILE, --nginx-edit FILE and/or --elbv2-target-group SERVICE=ARN');
      const daemon = new LbSync({
        client,
        prefix,
        outputs,
        wait: settings.wait,
        health: settings.health,
        ...(merged.services ? { services: merged.services } : {}),
        ...(merged.allowedNetworks ? { allow: allowedNetworks(merged.allowedNetworks) } : {}),
        ...(merged.resync ? { resyncMs: merged.resync } : {}),
      });
      logEvents(daemon, log);
      if (merged.dryRun || merged.once) {
        const results = await daemon.runOnce(merged.dryRun ? 'preview' : 'apply');
        // Closing flushes what an output still has pending (dynamic mode writes its file after a push).
        for (const output of outputs) await output.close().catch(() => undefined);
        client.close();
        let failed = false;
        for (const r of results) {
          if (r.preview !== undefined) process.stdout.write(r.preview.endsWith('\n') ? r.preview : `${r.preview}\n`);
          if (r.outcome) {
            for (const w of r.outcome.warnings ?? []) log.warn({ output: r.output }, `skipped ${w}`);
            for (const q of r.outcome.quarantined ?? []) log.warn({ output: r.output, service: q.service }, `quarantined ${q.service}: ${q.reason}`);
            log.info({ output: r.output }, r.outcome.detail);
          }
          if (r.error) {
            failed = true;
            logRejection(log, r.output, r.error);
          }
        }
        return failed ? EXIT.failure : EXIT.ok;
      }
      let server: Awaited<ReturnType<typeof serveMetrics>> | undefined;
      if (merged.metricsPort) {
        const metrics = new (await import('../lbsync/metrics.js')).LbsyncMetrics(daemon);
        if (elbv2) metrics.observeElbv2(elbv2);
        server = await serveMetrics(metrics.registry, merged.metricsPort, merged.metricsHost);
      }
      let status: StatusServer | undefined;
      if (merged.statusPort) {
        const model = new StatusModel({
          healthChecks: merged.health !== 'off',
          nginx: !!settings.output,
          ...(elbv2Options ? { elbv2: { targetGroups: elbv2Options.targetGroups, targetType: elbv2Options.targetType, health: elbv2Options.health } } : {}),
        });
        feedStatus(model, daemon, elbv2);
        status = new StatusServer(model, { port: merged.statusPort, host: merged.statusHost });
        const at = await status.start();
        const url = `http://${at.family === 'IPv6' ? `[${at.address}]` : at.address}:${at.port}/`;
        log.info({ url }, `serving the status page on ${url}`);
      }
      // From here on SIGHUP and SIGPIPE are survived with a log line, and a crash still cleans up.
      const stopping = untilStop(log, 'lbsync');
      await daemon.start();
      const targets = outputs.map((o) => (o.name === 'nginx' && settings.output ? settings.output.file : o.name)).join(' and ');
      const layout = nginx?.layout;
      log.info(
        { mode: settings.output?.mode, file: settings.output?.file, mainConf: layout?.mainConf, mainConfFrom: layout?.source, elbv2: !!elbv2Options, wait: merged.wait, health: merged.health },
        `started lbsync for ${targets}`,
      );
      if (settings.output) log.info({ nginxMode: merged.nginxMode }, nginxModeLine(merged.nginxMode, file.nginxMode !== undefined && cmd.getOptionValueSource('nginxMode') === 'default' ? 'config' : cmd.getOptionValueSource('nginxMode')));
      const reason = await stopping;
      log.info({ reason }, `stopping lbsync on ${reason}`);
      await daemon.stop();
      await status?.close();
      server?.close();
      client.close();
      return isFatal(reason) ? EXIT.failure : EXIT.ok;
    }, log);
  });
  return cmd;
}

/** The start-up line that says which nginx mode runs, and why. */
function nginxModeLine(mode: 'reload' | 'dynamic', source: string | undefined): string {
  const why =
    source === 'default' || source === undefined
      ? 'the default; --nginx-mode dynamic needs libnginx-mod-http-lua'
      : `asked for by ${source === 'cli' ? '--nginx-mode' : source === 'config' ? 'the config file (nginx-mode)' : source}`;
  return mode === 'dynamic'
    ? `running nginx in dynamic mode (${why}): nginx loads the Lua module; endpoint changes are pushed without a reload, structure changes reload`
    : `running nginx in reload mode (${why}): every change is tested and reloads nginx`;
}

/** Flags given on the command line or in the environment win; the config file fills in the rest. */
function mergeConfig(cmd: Command, flags: LbsyncFlags, file: LbsyncFileConfig): LbsyncFlags {
  const merged: Record<string, unknown> = { ...flags };
  for (const [key, value] of Object.entries(file)) {
    if (key === 'upstreams' || key === 'healthOverrides' || value === undefined) continue;
    const source = cmd.getOptionValueSource(key);
    if (source === undefined || source === 'default') merged[key] = value;
  }
  return merged as unknown as LbsyncFlags;
}

interface Settings {
  /** The nginx output's settings; undefined when lbsync drives ELBv2 only. */
  output: ConstructorParameters<typeof NginxOutput>[0] | undefined;
  wait: ReturnType<typeof parseWait>;
  health: ConstructorParameters<typeof LbSync>[0]['health'];
}

/** Checks the combination of flags and builds the output and daemon settings. */
function settle(flags: LbsyncFlags, file: LbsyncFileConfig, docker: Docker | undefined): Settings {
  if (flags.nginxConf && flags.nginxEdit) throw new UsageError('give at most one of --nginx-conf FILE (owned file) and --nginx-edit FILE (edit in place)');
  if (flags.nginxPid && flags.nginxContainer) throw new UsageError('give at most one of --nginx-pid and --nginx-container');
  for (const s of flags.services ?? []) validateServiceName(s, '--services');
  let wait: ReturnType<typeof parseWait>;
  try {
    wait = parseWait(flags.wait, parseDuration);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const testArgv = splitCommand(flags.nginxTest, '--nginx-test');
  let reload: ReloadVia;
  if (flags.nginxContainer && docker) reload = { kind: 'container', name: flags.nginxContainer, docker };
  else if (flags.nginxPid) reload = { kind: 'pid', pidFile: resolve(flags.nginxPid) };
  else reload = { kind: 'command', argv: splitCommand(flags.nginxReload, '--nginx-reload') };
  const defaults: Partial<HealthSpec> = {};
  if (flags.healthInterval !== undefined) defaults.intervalMs = flags.healthInterval;
  if (flags.healthTimeout !== undefined) defaults.timeoutMs = flags.healthTimeout;
  if (flags.healthRise !== undefined) defaults.rise = flags.healthRise;
  if (flags.healthFall !== undefined) defaults.fall = flags.healthFall;
  const nginxFile = flags.nginxConf ?? flags.nginxEdit;
  return {
    wait,
    output: nginxFile === undefined ? undefined : {
      mode: flags.nginxConf ? 'owned' : 'edit',
      file: resolve(nginxFile),
      testArgv,
      ...(flags.nginxMainConf ? { mainConf: resolve(flags.nginxMainConf) } : {}),
      reload,
      render: { upstreams: file.upstreams ?? {} },
      ...(flags.services ? { services: flags.services } : {}),
      confirmTimeoutMs: flags.confirmTimeout,
      nginxMode: flags.nginxMode,
    },
    health: flags.health === 'off' ? { enabled: false } : { enabled: true, defaults, perService: file.healthOverrides ?? {} },
  };
}

function logRejection(log: Logger, output: string, err: Error, retryInMs?: number, level: 'error' | 'debug' = 'error'): void {
  const retry = retryInMs === undefined ? '' : `; retrying in ${retryInMs}ms`;
  const fields = { output, code: (err as { code?: string }).code, ...(retryInMs === undefined ? {} : { retryInMs }) };
  if (err instanceof NginxValidationError) log[level]({ ...fields, nginx: err.nginxMessage }, `rejected new ${output} config, kept the last good one: ${err.nginxMessage}${retry}`);
  else if (err instanceof NginxReloadError && err.rolledBack) log[level](fields, `rolled back ${output} config: ${err.message}${retry}`);
  else log[level](fields, `failed to apply ${output}: ${err.message}${retry}`);
}

/**
 * Logs an output's failures and its recovery: the first failure of a run of
 * retries and every new reason at error level, the same reason again at
 * debug (a retry every few seconds is not a new state), and the apply that
 * ends the run as "recovered".
 */
function logApplies(daemon: LbSync, log: Logger): void {
  const failing = new Map<string, string>();
  daemon.on('rejected', (output, err, retryInMs) => {
    // The ELBv2 output reports its own failures (per group, also on timer passes).
    if (output === 'elbv2') return;
    // Numbers (nginx's pid#tid in its error log, timings) differ on every attempt, and so does
    // nginx's "still could not bind()" (it appears once its own bind retries run out); the reason does not.
    const reason = `${(err as { code?: string }).code}:${err.message.replace(/\[emerg\] [\d#]+: still could not bind\(\);? ?/g, '').replace(/\d+/g, '#')}`;
    const repeated = failing.get(output) === reason;
    failing.set(output, reason);
    logRejection(log, output, err, retryInMs, repeated ? 'debug' : 'error');
  });
  daemon.on('applied', (output, outcome, latencyMs) => {
    const fields = { output, latencyMs: latencyMs === undefined ? undefined : Math.round(latencyMs) };
    if (failing.delete(output)) log.info(fields, `recovered ${output}: ${outcome.detail}`);
    else if (outcome.changed) log.info(fields, outcome.detail);
    else log.debug(fields, outcome.detail);
  });
}

/** One line when a service enters quarantine and one when it leaves, not one per apply. */
function logQuarantine(daemon: LbSync, log: Logger): void {
  const held = new Map<string, Set<string>>();
  daemon.on('applied', (output, outcome) => {
    const before = held.get(output) ?? new Set<string>();
    const now = new Set<string>();
    for (const q of outcome.quarantined ?? []) {
      now.add(q.service);
      if (!before.has(q.service)) log.warn({ output, service: q.service }, `quarantined ${q.service}: ${q.reason}`);
    }
    for (const service of before) if (!now.has(service)) log.info({ output, service }, `released ${service} from quarantine`);
    held.set(output, now);
  });
}

/** One log line per state change, each starting with a verb. */
function logEvents(daemon: LbSync, log: Logger): void {
  logApplies(daemon, log);
  logQuarantine(daemon, log);
  daemon.on('warning', (output, message) => log.warn({ output }, `skipped ${message}`));
  daemon.on('problem', (p) => log.warn({ key: p.key, reason: p.reason }, `skipped ${p.key}: ${p.reason}`));
  daemon.on('resynced', (reason, records, revision) => log[reason === 'periodic' ? 'debug' : 'info']({ reason, records, revision }, `listed ${records} records at revision ${revision} (${reason})`));
  daemon.on('health', (id, state, result, previous) => {
    const [service, instance] = id.split('/');
    const record = daemon.record(id);
    const where = { node: record?.node, container: record?.container?.slice(0, 12) };
    log.info({ service, instance, ...where, state, previous, reason: result.reason }, `marked ${id} ${state}: ${result.reason}`);
  });
  daemon.on('failOpen', (service, on) => {
    if (on) log.warn({ service }, `failing open ${service}: every endpoint fails its health check, so all of them stay in the pool`);
    else log.info({ service }, `stopped failing open ${service}`);
  });
  daemon.on('disconnected', (err, retryInMs) => log.warn({ err: err.message, retryInMs }, `lost the etcd watch; reconnecting in ${retryInMs}ms`));
  daemon.on('resumed', (revision) => log.info({ revision }, `resumed the etcd watch at revision ${revision}`));
}

/** The ELBv2 output's events as log lines, each starting with a verb. */
function logElbv2(out: Elbv2Output, log: Logger): void {
  out.on('plan', (e) => log.info({ output: 'elbv2', targetGroup: e.targetGroupArn, service: e.service, dryRun: e.dryRun }, `planned ${e.dryRun ? '(dry run) ' : ''}${e.text}`));
  out.on('registered', (e) => log.info({ output: 'elbv2', service: e.service, targetGroup: e.targetGroupArn, count: e.targets.length }, `registered ${e.targets.length} target(s) in ${e.service}'s group`));
  out.on('deregistered', (e) => log.info({ output: 'elbv2', service: e.service, targetGroup: e.targetGroupArn, count: e.targets.length }, `deregistered ${e.targets.length} target(s) from ${e.service}'s group`));
  out.on('rejected', (e) => log.error({ output: 'elbv2', service: e.service, targetGroup: e.targetGroupArn, code: e.error.code }, `refused by ELBv2: ${e.error.message}`));
  out.on('skipped', (e) => log.warn({ output: 'elbv2', targetGroup: e.targetGroupArn, count: e.endpoints.length }, `skipped ${e.endpoints.length} endpoint(s) that cannot be targets`));
  out.on('warning', (e) => log.warn({ output: 'elbv2', code: e.error.code, retryInMs: e.retryInMs }, `retrying ELBv2 in ${e.retryInMs}ms: ${e.error.message}`));
  out.on('failed', (e) => log.error({ output: 'elbv2', code: e.code }, `failed to sync ELBv2: ${e.message}`));
  out.on('leader', (leader) => log.info({ output: 'elbv2', leader }, leader ? 'elected ELBv2 writer' : 'stood down as ELBv2 writer'));
}
