import { hostname } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  LAYOUTS,
  LeasePublisher,
  validateHost,
  validatePort,
  validateRecord,
  ValidationError,
  type Layout,
  type ServiceRecord,
} from '../registry/index.js';
import {
  Announcer,
  createDockerClient,
  DEFAULT_DOCKER_HOST,
  detectHostAddress,
  DockerSidekick,
  DockerSource,
  SidekickMetrics,
} from '../sidekicks/index.js';
import { isFatal, untilStop, type StopReason } from './daemon-signals.js';
import { durationArg, EXIT, etcdContext, runCommand, withEtcdOptions, withMetricsOptions, type EtcdOptions, type MetricsOptions } from './common.js';
import type { Logger } from './logger.js';
import { serveMetrics } from './metrics-server.js';

interface SharedOptions extends EtcdOptions {
  dockerHost: string;
  dockerTlsCa?: string;
  dockerTlsCert?: string;
  dockerTlsKey?: string;
  node: string;
  ttl: number;
  layout: Layout;
  meta: string[];
  keepOnExit?: boolean;
  ignoreHealth?: boolean;
}

interface DockerOptions extends SharedOptions, MetricsOptions {
  advertiseIp?: string;
  internal?: boolean;
  labelFilter: string[];
  resync: number;
  flapRestarts: number;
  flapWindow: number;
  flapHold: number;
}

interface AnnounceOptions extends SharedOptions {
  service: string;
  port: number;
  host?: string;
  advertiseIp?: string;
  instance?: string;
  container?: string;
  checkHttp?: string;
  unit?: string;
}

/** `beacon sidekick`: publish containers into etcd (`docker`, one per host) or one record per unit (`announce`). */
export function sidekickCommand(): Command {
  const cmd = new Command('sidekick').description('publish containers into etcd /services: `docker` for a whole host, `announce` for one unit');
  cmd.addCommand(dockerCommand());
  cmd.addCommand(announceCommand());
  // Commander exits with 1 on bad usage; beacon's contract says 2 (main.ts maps CommanderErrors).
  for (const sub of cmd.commands) sub.exitOverride();
  return cmd;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function countArg(flag: string) {
  return (value: string): number => {
    if (!/^\d{1,6}$/.test(value)) throw new InvalidArgumentError(`${flag} must be a whole number from 0 to 999999 (got ${JSON.stringify(value)})`);
    return Number(value);
  };
}

function portArg(value: string): number {
  try {
    return validatePort(value, '--port');
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** The flags both subcommands share: Docker, node, lease, layout, meta and exit. */
function withSidekickOptions(cmd: Command): Command {
  withEtcdOptions(cmd)
    .addOption(new Option('--docker-host <url>', 'dockerd: unix:///path/docker.sock or tcp://host:port').env('DOCKER_HOST').default(DEFAULT_DOCKER_HOST))
    .addOption(new Option('--docker-tls-ca <file>', 'CA certificate for TLS to a tcp:// dockerd'))
    .addOption(new Option('--docker-tls-cert <file>', 'client certificate for TLS to dockerd'))
    .addOption(new Option('--docker-tls-key <file>', 'client key for TLS to dockerd'))
    .addOption(new Option('--node <name>', "this host's name in records and instance ids").env('BEACON_NODE').default(hostname()))
    .addOption(new Option('--ttl <duration>', 'lease TTL: records vanish this long after the sidekick dies (keepalive every TTL/3)').argParser(durationArg('--ttl')).default(15_000, '15s'))
    .addOption(new Option('--layout <layout>', 'key layout to write: json (canonical), flat (monweb@), single (mongodb-discovery)').choices(LAYOUTS).default('json'))
    .addOption(new Option('--meta <key=value>', "add metadata to every record (repeatable), e.g. --meta instanceId=i-0abc").argParser(collect).default([]))
    .addOption(new Option('--ignore-health', 'publish containers with a HEALTHCHECK whatever their health'))
    .addOption(new Option('--keep-on-exit', 'on SIGTERM leave the records to expire after the TTL instead of revoking them at once'));
  return cmd;
}

function dockerCommand(): Command {
  const cmd = new Command('docker')
    .description("publish this host's containers: one record per published port, following Docker events")
    .addOption(new Option('--advertise-ip <ip>', 'host address for ports published on 0.0.0.0 (default: the detected host address)').env('BEACON_ADVERTISE_IP'))
    .addOption(new Option('--internal', "publish the container's own network address and exposed ports (overlay/bridge networks)"))
    .addOption(new Option('--label-filter <key=value>', 'only containers with this label (repeatable; all must match)').argParser(collect).default([]))
    .addOption(new Option('--resync <duration>', 'period of the full reconcile of Docker and etcd').argParser(durationArg('--resync')).default(60_000, '60s'))
    .addOption(new Option('--flap-restarts <n>', 'a container started more than N times within --flap-window is held back (0: never)').argParser(countArg('--flap-restarts')).default(3))
    .addOption(new Option('--flap-window <duration>', 'the window --flap-restarts counts starts in').argParser(durationArg('--flap-window', { min: 1000, max: 24 * 3_600_000 })).default(60_000, '60s'))
    .addOption(new Option('--flap-hold <duration>', 'how long a held-back container must stay up before it is published again').argParser(durationArg('--flap-hold', { min: 1000, max: 3_600_000 })).default(10_000, '10s'))
    .addHelpText(
      'after',
      `
Service definition (registrator-compatible, container labels or env, label wins):
  SERVICE_NAME, SERVICE_<port>_NAME   service name (default: swarm service, compose service, image base name;
                                      "<name>-<port>" when several ports are published)
  SERVICE_ID, SERVICE_<port>_ID       instance id (default <node>:<container-name>:<port>)
  SERVICE_TAGS, SERVICE_<port>_TAGS   comma-separated tags
  SERVICE_IGNORE, SERVICE_<port>_IGNORE   skip the container / the port
  SERVICE_CHECK_HTTP|TCP|INTERVAL|TIMEOUT|EXPECT_DIGEST   the record's health check
  SERVICE_<KEY>                       anything else goes into the record's meta
A definition that breaks the /services contract is refused with one log line (container, field, rule).
Restart loops are damped: a container started more than --flap-restarts times within --flap-window
is held back (one log line) until it has stayed up --flap-hold, instead of being published and
removed at every restart.

Records are canonical JSON at /services/<service>/<instance>, bound to a lease. At start,
this node's json records without a running container are deleted at once; flat and single
records carry no node and rely on the lease TTL. SIGTERM revokes the lease (records vanish
at once) unless --keep-on-exit, and so does a crash the process can catch; kill -9 leaves them
for the TTL. SIGHUP and SIGPIPE are logged and ignored; SIGUSR1 is ignored (it never opens
the Node inspector). The single layout holds one endpoint per service (/services/<service>):
with several containers the last write wins.

Examples:
  $ beacon sidekick docker --advertise-ip 10.0.0.7
  $ beacon sidekick docker --etcd http://10.0.0.5:2379 --label-filter beacon.publish=true --ttl 10s
  $ beacon sidekick docker --internal --node core01 --metrics-port 9464
  $ beacon sidekick docker --meta instanceId=i-0123456789abcdef0 --docker-host tcp://127.0.0.1:2376 \\
      --docker-tls-ca ca.pem --docker-tls-cert cert.pem --docker-tls-key key.pem
  $ docker run -d -p 127.0.0.1::80 -l SERVICE_NAME=web -l SERVICE_CHECK_HTTP=/health app`,
    );
  withMetricsOptions(withSidekickOptions(cmd)).action((opts: DockerOptions) => {
    const node = checkNode(opts.node);
    const nodeMeta = parseMeta(opts.meta);
    const advertiseIp = opts.advertiseIp === undefined ? undefined : validateHost(opts.advertiseIp, '--advertise-ip');
    for (const f of opts.labelFilter) if (!/^[^=\s]+(=.*)?$/.test(f)) throw new ValidationError('--label-filter', 'must be KEY or KEY=VALUE', f);
    const { log, prefix, client } = etcdContext(opts, 'sidekick');
    const docker = createDockerClient(dockerConnection(opts));
    const publisher = new LeasePublisher({ client, prefix, ttlSeconds: ttlSeconds(opts.ttl), layout: opts.layout });
    const source = new DockerSource({ docker, labelFilters: opts.labelFilter });
    const sidekick = new DockerSidekick({
      source,
      publisher,
      client,
      prefix,
      layout: opts.layout,
      definition: { node, hostAddress: detectHostAddress(), ...(advertiseIp ? { advertiseIp } : {}), internal: !!opts.internal, nodeMeta },
      ignoreHealth: !!opts.ignoreHealth,
      resyncMs: opts.resync,
      flapPolicy: { restarts: opts.flapRestarts, windowMs: opts.flapWindow, holdMs: opts.flapHold },
    });
    logSidekick(log, sidekick, node);
    return runCommand(async () => {
      if (opts.metricsPort !== undefined) {
        const metrics = new SidekickMetrics().observe(sidekick, source);
        await serveMetrics(metrics.registry, opts.metricsPort, opts.metricsHost, () =>
          sidekick.writeDenied ? `etcd refuses this sidekick's writes under ${prefix}/ (permission denied)` : undefined,
        );
        log.info({ port: opts.metricsPort, host: opts.metricsHost }, `serving metrics on ${opts.metricsHost}:${opts.metricsPort}/metrics`);
      }
      log.info({ node, prefix, layout: opts.layout, docker: opts.dockerHost, ttlMs: opts.ttl }, `started docker sidekick on node ${node}`);
      const signal = await runUntilStop(log, () => sidekick.start(), (revoke) => sidekick.stop({ revoke }), !opts.keepOnExit);
      log.info({ signal, revoked: !opts.keepOnExit }, opts.keepOnExit ? `stopped on ${signal}; records expire after the TTL` : `stopped on ${signal}; revoked the lease`);
      client.close();
      return isFatal(signal) ? EXIT.failure : EXIT.ok;
    }, log);
  });
  return cmd;
}

function announceCommand(): Command {
  const cmd = new Command('announce')
    .description('keep one record alive while a container runs (the per-unit fleet/systemd sidekick)')
    .requiredOption('--service <name>', 'service name, e.g. web')
    .requiredOption('--port <port>', 'port clients dial', portArg)
    .addOption(new Option('--host <host>', 'address clients dial (default: --advertise-ip, else the detected host address)'))
    .addOption(new Option('--advertise-ip <ip>', 'default for --host').env('BEACON_ADVERTISE_IP'))
    .addOption(new Option('--instance <id>', 'instance id (default <node>:<container>:<port>; the service name with --layout single)'))
    .addOption(new Option('--container <name|id>', 'announce only while this container runs (and is healthy, if it has a HEALTHCHECK)'))
    .addOption(new Option('--check-http <path>', "health-check path for the record's check, e.g. /health"))
    .addOption(new Option('--unit <unit>', 'systemd unit to record, e.g. web@01.service'))
    .addHelpText(
      'after',
      `
Examples (the seeds' fleet sidekicks, as ExecStart= of a unit with BindsTo=web@%i.service):
  $ beacon sidekick announce --service web --instance web01 --port 8001 --container web01 --layout flat --unit web@01.service
      writes /services/web/web01/{host,port,unit} while container web01 runs
  $ beacon sidekick announce --service mongodb --port 27017 --host worker-big-1 --container mongodb --layout single
      writes /services/mongodb → {"host":"worker-big-1","port":27017}
  $ beacon sidekick announce --service api --port 8080 --check-http /health --ttl 10s
      announces until stopped (no container to follow)`,
    );
  withSidekickOptions(cmd).action((opts: AnnounceOptions) => {
    const node = checkNode(opts.node);
    const meta = parseMeta(opts.meta);
    const host = validateHost(opts.host ?? opts.advertiseIp ?? detectHostAddress(), opts.host ? '--host' : '--advertise-ip');
    const instance =
      opts.instance ?? (opts.layout === 'single' ? opts.service : `${node}:${opts.container ?? opts.service}:${opts.port}`.toLowerCase());
    const record: ServiceRecord = validateRecord({
      service: opts.service,
      instance,
      host,
      port: opts.port,
      node,
      ...(opts.unit ? { unit: opts.unit } : {}),
      ...(Object.keys(meta).length ? { meta } : {}),
      ...(opts.checkHttp ? { check: { http: opts.checkHttp } } : {}),
    });
    const { log, prefix, client } = etcdContext(opts, 'sidekick');
    const publisher = new LeasePublisher({ client, prefix, ttlSeconds: ttlSeconds(opts.ttl), layout: opts.layout });
    const source = opts.container ? new DockerSource({ docker: createDockerClient(dockerConnection(opts)), container: opts.container }) : undefined;
    const announcer = new Announcer({ publisher, record, ...(source ? { source } : {}), ignoreHealth: !!opts.ignoreHealth });
    const fields = (r: ServiceRecord) => ({ service: r.service, instance: r.instance, host: r.host, port: r.port, node, ...(r.container ? { container: r.container } : {}) });
    announcer.on('published', (r) => log.info(fields(r), `published ${r.service}/${r.instance} at ${r.host}:${r.port}`));
    announcer.on('removed', (r) => log.info(fields(r), `removed ${r.service}/${r.instance}`));
    announcer.on('state', (state, reason) => log.debug({ state, reason }, `${state}: ${reason}`));
    announcer.on('disconnected', (peer, err, retryInMs) => log.warn({ peer, err: err.message, retryInMs }, `lost ${peer}: ${err.message}; retrying in ${retryInMs}ms`));
    announcer.on('reconnected', (peer) => log.info({ peer }, `reconnected to ${peer}`));
    logDenials(log, announcer, node);
    return runCommand(async () => {
      log.info({ ...fields(record), container: opts.container, layout: opts.layout }, `started announcing ${record.service}/${record.instance}${opts.container ? ` while ${opts.container} runs` : ''}`);
      const signal = await runUntilStop(log, () => announcer.start(), (revoke) => announcer.stop({ revoke }), !opts.keepOnExit);
      log.info({ signal, revoked: !opts.keepOnExit }, `stopped on ${signal}`);
      client.close();
      return isFatal(signal) ? EXIT.failure : EXIT.ok;
    }, log);
  });
  return cmd;
}

/** One JSON line per state change, each starting with its verb. */
function logSidekick(log: Logger, sidekick: DockerSidekick, node: string): void {
  const fields = (r: ServiceRecord, containerId?: string) => ({
    service: r.service,
    instance: r.instance,
    container: (containerId ?? r.container ?? '').slice(0, 12) || undefined,
    node,
    host: r.host,
    port: r.port,
  });
  sidekick.on('published', (r, containerId, latencyMs) =>
    log.info({ ...fields(r, containerId), latencyMs: round(latencyMs) }, `published ${r.service}/${r.instance} at ${r.host}:${r.port}`),
  );
  sidekick.on('removed', (r, containerId, latencyMs) => log.info({ ...fields(r, containerId), latencyMs: round(latencyMs) }, `removed ${r.service}/${r.instance}`));
  sidekick.on('pruned', (r) => log.info({ ...fields(r), stale: true }, `removed stale ${r.service}/${r.instance} (no running container)`));
  sidekick.on('refused', (refusal, containerId) =>
    log.warn(
      { container: containerId.slice(0, 12), name: refusal.container, port: refusal.port, field: refusal.field, rule: refusal.rule, node },
      `refused container ${refusal.container}: ${refusal.field} ${refusal.rule}`,
    ),
  );
  sidekick.on('disconnected', (peer, err, retryInMs) => log.warn({ peer, err: err.message, retryInMs, node }, `lost ${peer}: ${err.message}; retrying in ${retryInMs}ms`));
  sidekick.on('reconnected', (peer) => log.info({ peer, node }, `reconnected to ${peer}`));
  sidekick.on('resynced', (reason, containers, records) => log.debug({ reason, containers, records, node }, `resynced (${reason}): ${containers} containers, ${records} records`));
  sidekick.on('held', (facts, starts, holdMs) =>
    log.warn(
      { container: facts.id.slice(0, 12), name: facts.name, starts, holdMs, node },
      `held back container ${facts.name}: started ${starts} times in the flap window; publishing it once it has stayed up ${Math.round(holdMs / 100) / 10}s`,
    ),
  );
  logDenials(log, sidekick, node);
  sidekick.on('problem', (what, err) => log.warn({ err: err.message, node }, `failed to ${what}: ${err.message}; will retry`));
}

/** Either sidekick: etcd refusing its writes is an error said plainly, and again while it lasts. */
function logDenials(log: Logger, emitter: Announcer | DockerSidekick, node: string): void {
  // Both emit the same denied/allowed events; TypeScript cannot call .on on the union of their emitters.
  (emitter as Announcer).on('denied', (err, forMs) =>
    log.error(
      { err: err.message, node, deniedForS: Math.round(forMs / 1000) },
      `denied by etcd: this sidekick's etcd user may not write under the prefix (${err.message}); nothing is published until its role may (etcdctl role grant-permission ROLE --prefix=true readwrite PREFIX/); still retrying`,
    ),
  );
  (emitter as Announcer).on('allowed', () => log.info({ node }, "resumed writing: etcd accepts this sidekick's writes again"));
}

function round(ms: number | undefined): number | undefined {
  return ms === undefined ? undefined : Math.round(ms * 100) / 100;
}

/**
 * Starts a sidekick and runs it until a stop signal or a fatal error, then
 * stops it, revoking its lease unless told to keep the records: on every exit
 * path the process can catch, a failed start included.
 */
async function runUntilStop(log: Logger, start: () => Promise<void>, stop: (revoke: boolean) => Promise<void>, revoke: boolean): Promise<StopReason> {
  const stopped = untilStop(log, 'the sidekick');
  try {
    await Promise.race([start(), stopped]);
    return await stopped;
  } finally {
    await stop(revoke);
  }
}

function ttlSeconds(ms: number): number {
  if (ms < 1000) throw new ValidationError('--ttl', 'must be at least 1s (etcd leases count in whole seconds)', `${ms}ms`);
  return Math.round(ms / 1000);
}

function dockerConnection(opts: SharedOptions) {
  return {
    host: opts.dockerHost,
    ...(opts.dockerTlsCa ? { tlsCa: opts.dockerTlsCa } : {}),
    ...(opts.dockerTlsCert ? { tlsCert: opts.dockerTlsCert } : {}),
    ...(opts.dockerTlsKey ? { tlsKey: opts.dockerTlsKey } : {}),
  };
}

/** The node name must be usable in records; checked once, up front, instead of refusing every container. */
function checkNode(name: string): string {
  const node = name.toLowerCase();
  validateRecord({ service: 'x', instance: 'x', host: '127.0.0.1', port: 1, node });
  return node;
}

/** `--meta k=v` pairs, validated as the contract's meta. */
export function parseMeta(pairs: string[]): Record<string, string> {
  const meta: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new ValidationError('--meta', 'must be KEY=VALUE', pair);
    meta[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  try {
    validateRecord({ service: 'x', instance: 'x', host: '127.0.0.1', port: 1, meta });
  } catch (err) {
    if (err instanceof ValidationError) throw new ValidationError(`--meta ${err.field}`, err.rule);
    throw err;
  }
  return meta;
}
