import { isIP } from 'node:net';
import { validateRecord, ValidationError, type CheckSpec, type ServiceRecord } from '../registry/index.js';
import type { ContainerFacts, PortFacts } from './container-facts.js';

/**
 * Turns one container into the records it publishes: registrator's service
 * definition (labels and env, label wins) done against the /services contract.
 *
 * Pure: every input is passed in, so the rules are table-tested without Docker.
 */

/** What the definition needs to know about this host and its flags. */
export interface DefinitionContext {
  /** This node's name (`--node`): the record's `node` and the first part of default instance ids. */
  node: string;
  /** `--advertise-ip`: the host for bindings on an unspecified address (0.0.0.0, ::). */
  advertiseIp?: string;
  /** The host's detected address, used when no --advertise-ip is given. */
  hostAddress: string;
  /** `--internal`: publish the container's own address and exposed ports instead of published ones. */
  internal?: boolean;
  /** The node's own `--meta k=v` pairs, merged under each container's meta (the container's keys win). */
  nodeMeta?: Record<string, string>;
}

/** A container (or one of its ports) that breaks the contract: which field, which rule. */
export interface Refusal {
  container: string;
  /** Container port the refusal is about, when it is about one port. */
  port?: number;
  field: string;
  rule: string;
  /** The full message, `field: rule (got …)`. */
  message: string;
}

export interface Definition {
  records: ServiceRecord[];
  refusals: Refusal[];
}

/** The metadata keys beacon reads itself; every other `SERVICE_<KEY>` goes into `meta`. */
const RESERVED = new Set(['name', 'id', 'tags', 'ignore', 'check_http', 'check_tcp', 'check_interval', 'check_timeout', 'check_expect_digest', 'check_expect_status']);
const FALSY = new Set(['', '0', 'false', 'no', 'off']);
const GENERAL_KEY = /^SERVICE_([A-Za-z][A-Za-z0-9_]*)$/;
const PORT_KEY = /^SERVICE_(\d{1,5})_([A-Za-z][A-Za-z0-9_]*)$/;

interface Metadata {
  general: Map<string, string>;
  byPort: Map<number, Map<string, string>>;
}

/**
 * Collects `SERVICE_*` settings from env (`KEY=VALUE` strings) and labels.
 * Labels are applied last, so a label wins over the same env variable, as in registrator.
 */
export function serviceMetadata(env: readonly string[], labels: Readonly<Record<string, string>>): Metadata {
  const meta: Metadata = { general: new Map(), byPort: new Map() };
  const add = (key: string, value: string) => {
    const perPort = PORT_KEY.exec(key);
    if (perPort) {
      const port = Number(perPort[1]);
      let map = meta.byPort.get(port);
      if (!map) meta.byPort.set(port, (map = new Map()));
      map.set(perPort[2]!.toLowerCase(), value);
      return;
    }
    const general = GENERAL_KEY.exec(key);
    if (general) meta.general.set(general[1]!.toLowerCase(), value);
  };
  for (const entry of env) {
    const eq = entry.indexOf('=');
    if (eq > 0) add(entry.slice(0, eq), entry.slice(eq + 1));
  }
  for (const [key, value] of Object.entries(labels)) add(key, value);
  return meta;
}

/** The image's base name: `registry:5000/org/app:1.2@sha256:…` → `app`. */
export function imageBaseName(image: string): string {
  const noDigest = image.split('@')[0] ?? image;
  const base = noDigest.slice(noDigest.lastIndexOf('/') + 1);
  return base.split(':')[0] ?? base;
}

/** The default service name: swarm service, then compose service, then the image's base name. */
export function defaultServiceName(facts: Pick<ContainerFacts, 'labels' | 'image' | 'name'>): string {
  const fromLabels = facts.labels['com.docker.swarm.service.name'] || facts.labels['com.docker.compose.service'];
  let name = fromLabels || imageBaseName(facts.image);
  // An image referenced by id has no useful name; the container's name is better than "sha256".
  if (!fromLabels && (name === 'sha256' || /^[0-9a-f]{12,64}$/.test(name))) name = facts.name;
  return name.toLowerCase();
}

/** True for addresses that mean "every interface", which no client can dial. */
export function isUnspecified(ip: string | undefined): boolean {
  return !ip || ip === '0.0.0.0' || ip === '::' || ip === '[::]' || isIP(ip) === 0;
}

/** Splits a comma-separated tag list, dropping empty items. */
function splitTags(text: string): string[] {
  return text.split(',').map((t) => t.trim()).filter(Boolean);
}

/** Accepts the seed's bare hex digests (`SERVER_HEALTH_DIGEST`) as well as `sha1:`/`sha256:` ones. */
export function normaliseDigest(text: string): string {
  const t = text.trim().toLowerCase();
  if (/^[0-9a-f]{40}$/.test(t)) return `sha1:${t}`;
  if (/^[0-9a-f]{64}$/.test(t)) return `sha256:${t}`;
  return t;
}

function checkOf(m: Map<string, string>): CheckSpec | undefined {
  const check: Record<string, unknown> = {};
  const http = m.get('check_http');
  if (http) check.http = http;
  const tcp = m.get('check_tcp');
  if (tcp !== undefined && !FALSY.has(tcp.toLowerCase())) check.tcp = true;
  const interval = m.get('check_interval');
  if (interval) check.interval = interval;
  const timeout = m.get('check_timeout');
  if (timeout) check.timeout = timeout;
  const digest = m.get('check_expect_digest');
  if (digest) check.expectDigest = normaliseDigest(digest);
  const status = m.get('check_expect_status');
  if (status) check.expectStatus = status;
  return Object.keys(check).length > 0 ? (check as CheckSpec) : undefined;
}

/** A port the container offers, with the address and port clients should dial. */
interface Candidate {
  port: PortFacts;
  host: string | undefined;
  hostPort: number | undefined;
}

function candidates(facts: ContainerFacts, ctx: DefinitionContext): Candidate[] {
  // A container on the host's network has no bindings: its exposed ports are
  // the host's own, reached at the advertised address (as registrator does).
  if (facts.hostNetwork) {
    return facts.exposed.map((port) => ({ port, host: ctx.advertiseIp ?? ctx.hostAddress, hostPort: port.port }));
  }
  if (ctx.internal) {
    return facts.exposed.map((port) => ({ port, host: facts.networkIp, hostPort: port.port }));
  }
  return facts.ports
    .filter((p) => p.hostPort !== undefined)
    .map((port) => ({
      port,
      host: isUnspecified(port.hostIp) ? (ctx.advertiseIp ?? ctx.hostAddress) : port.hostIp,
      hostPort: port.hostPort,
    }));
}

const MAX_INSTANCE = 63;

/** `<node>:<container-name>:<port>[:udp]`, lowercased; falls back to the 12-char id when the name makes it too long. */
export function defaultInstanceId(node: string, facts: Pick<ContainerFacts, 'name' | 'id'>, port: PortFacts): string {
  const suffix = `${port.port}${port.proto === 'udp' ? ':udp' : ''}`;
  const byName = `${node}:${facts.name}:${suffix}`.toLowerCase();
  if (byName.length <= MAX_INSTANCE) return byName;
  return `${node}:${facts.id.slice(0, 12)}:${suffix}`.toLowerCase();
}

/**
 * The records a container publishes, one per published port (or per exposed
 * port with `internal`), each validated against the contract. A container
 * whose definition breaks a rule yields a refusal naming the field and the
 * rule instead of that record; ports marked ignored yield neither.
 *
 * Naming follows registrator: `SERVICE_<port>_NAME`, else `SERVICE_NAME`,
 * else the default name (swarm service, compose service, image base name),
 * suffixed `-<port>` when several ports are published and the name is the default.
 */
export function defineServices(facts: ContainerFacts, ctx: DefinitionContext): Definition {
  const out: Definition = { records: [], refusals: [] };
  const meta = serviceMetadata(facts.env, facts.labels);
  if (isSet(meta.general.get('ignore'))) return out;
  const ports = candidates(facts, ctx);
  const group = ports.length > 1;
  for (const c of ports) {
    const portMeta = meta.byPort.get(c.port.port) ?? new Map<string, string>();
    if (isSet(portMeta.get('ignore'))) continue;
    const merged = new Map([...meta.general, ...portMeta]);
    let name = portMeta.get('name') ?? meta.general.get('name');
    if (name === undefined) name = group ? `${defaultServiceName(facts)}-${c.port.port}` : defaultServiceName(facts);
    const explicitId = portMeta.get('id') ?? meta.general.get('id');
    const instance =
      explicitId === undefined
        ? defaultInstanceId(ctx.node, facts, c.port)
        : portMeta.has('id') || !group
          ? explicitId
          : `${explicitId}:${c.port.port}${c.port.proto === 'udp' ? ':udp' : ''}`;
    const recordMeta: Record<string, string> = { ...ctx.nodeMeta };
    // Everything beacon does not read itself (including registrator's consul-only
    // check_* keys) travels as metadata, where the contract still validates it.
    for (const [key, value] of merged) if (!RESERVED.has(key)) recordMeta[key] = value;
    const candidate: Record<string, unknown> = {
      service: name,
      instance,
      host: c.host,
      port: c.hostPort,
      proto: c.port.proto,
      node: ctx.node,
      container: facts.id.slice(0, 12),
    };
    const tags = merged.get('tags');
    if (tags !== undefined && splitTags(tags).length > 0) candidate.tags = splitTags(tags);
    if (Object.keys(recordMeta).length > 0) candidate.meta = recordMeta;
    const check = checkOf(merged);
    if (check) candidate.check = check;
    if (facts.startedAt) candidate.since = facts.startedAt;
    if (c.host === undefined) {
      out.refusals.push(refusal(facts, c.port.port, new ValidationError('host', 'the container has no address on any network (needed with --internal)')));
      continue;
    }
    try {
      out.records.push(validateRecord(candidate));
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      out.refusals.push(refusal(facts, c.port.port, err));
    }
  }
  return out;
}

function isSet(value: string | undefined): boolean {
  return value !== undefined && !FALSY.has(value.trim().toLowerCase());
}

function refusal(facts: ContainerFacts, port: number, err: ValidationError): Refusal {
  return { container: facts.name, port, field: err.field, rule: err.rule, message: err.message };
}
