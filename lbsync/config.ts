import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { DURATION_BOUNDS, parseDuration, validateServiceName, ValidationError } from '../registry/index.js';
import { parseStatusSet, type HealthSpec } from '../health/index.js';
import { parseMethod, validateUpstreamOptions, type ServerBlock, type UpstreamOptions } from './nginx/upstream-options.js';

/**
 * lbsync's settings as the config file gives them (`--config FILE`, YAML or
 * JSON). Top-level keys are the flags' names (`nginx-conf`, `wait`, …;
 * camelCase works too); `upstreams.<service>` (or `upstreams.*`) holds
 * per-service options that have no flag.
 */
export interface LbsyncFileConfig {
  etcd?: string;
  prefix?: string;
  nginxConf?: string;
  nginxEdit?: string;
  nginxTest?: string;
  nginxMainConf?: string;
  nginxReload?: string;
  nginxPid?: string;
  nginxContainer?: string;
  /** `dynamic` or `reload`, as `--nginx-mode`. */
  nginxMode?: 'dynamic' | 'reload';
  services?: string[];
  wait?: string;
  health?: 'on' | 'off';
  healthInterval?: number;
  healthTimeout?: number;
  healthRise?: number;
  healthFall?: number;
  metricsPort?: number;
  metricsHost?: string;
  statusPort?: number;
  statusHost?: string;
  /** `SERVICE=ARN` mappings, as `--elbv2-target-group`. */
  elbv2TargetGroup?: string[];
  elbv2Endpoint?: string;
  elbv2Region?: string;
  elbv2TargetType?: string;
  elbv2Health?: string;
  elbv2MaxRemove?: string;
  elbv2Drift?: string;
  elbv2Grace?: string;
  elbv2ElectionTtl?: string;
  elbv2Election?: string;
  allowedNetworks?: string[];
  resync?: number;
  upstreams?: Record<string, UpstreamOptions>;
  /** Per-service health overrides from `upstreams.<service>.health`. */
  healthOverrides?: Record<string, Partial<HealthSpec>>;
}

// The ELBv2 settings stay text here: parseElbv2Options validates them as it does the flags.
const ELBV2_STRINGS = ['elbv2Endpoint', 'elbv2Region', 'elbv2TargetType', 'elbv2Health', 'elbv2MaxRemove', 'elbv2Drift', 'elbv2Grace', 'elbv2ElectionTtl', 'elbv2Election'] as const;
const STRINGS = ['etcd', 'prefix', 'nginxConf', 'nginxEdit', 'nginxTest', 'nginxMainConf', 'nginxReload', 'nginxPid', 'nginxContainer', 'nginxMode', 'wait', 'metricsHost', 'statusHost', ...ELBV2_STRINGS] as const;
const DURATIONS = ['healthInterval', 'healthTimeout', 'resync'] as const;
const COUNTS = ['healthRise', 'healthFall', 'metricsPort', 'statusPort'] as const;
const PORTS = new Set<string>(['metricsPort', 'statusPort']);
const KNOWN = new Set<string>([...STRINGS, ...DURATIONS, ...COUNTS, 'services', 'health', 'allowedNetworks', 'elbv2TargetGroup', 'upstreams']);

/** yaml, loaded for the first YAML file only: lbsync without --config starts without it. */
function parseYaml(text: string): unknown {
  return (createRequire(import.meta.url)('yaml') as typeof import('yaml')).parse(text);
}

/** `nginx-conf` → `nginxConf`. */
function camel(key: string): string {
  return key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** `healthInterval` → `health-interval`. */
function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Reads and validates a config file; the format follows the extension (.json, else YAML). */
export function loadConfig(file: string): LbsyncFileConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ValidationError('--config', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseConfig(text, extname(file) === '.json' ? 'json' : 'yaml');
}

/** Parses and validates config text. Unknown keys are refused (a typo must not be silently ignored). */
export function parseConfig(text: string, format: 'json' | 'yaml'): LbsyncFileConfig {
  let raw: unknown;
  try {
    raw = format === 'json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ValidationError('--config', `is not valid ${format.toUpperCase()}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (raw === null || raw === undefined) return {};
  const input = object(raw, 'config');
  const out: LbsyncFileConfig = {};
  for (const [key, value] of Object.entries(input)) {
    const name = camel(key);
    if (!KNOWN.has(name)) throw new ValidationError(`config ${key}`, `is not a known setting (${[...KNOWN].join(', ')})`);
    if ((STRINGS as readonly string[]).includes(name)) (out as Record<string, unknown>)[name] = string(value, key);
    else if ((DURATIONS as readonly string[]).includes(name)) (out as Record<string, unknown>)[name] = duration(value, key, `--${kebab(name)}`);
    else if ((COUNTS as readonly string[]).includes(name)) (out as Record<string, unknown>)[name] = count(value, key, PORTS.has(name) ? 65535 : 100);
    else if (name === 'services') out.services = list(value, key).map((s) => validateServiceName(s, `config ${key}`));
    else if (name === 'allowedNetworks') out.allowedNetworks = list(value, key);
    else if (name === 'elbv2TargetGroup') out.elbv2TargetGroup = list(value, key);
    else if (name === 'health') out.health = onOff(value, key);
    else if (name === 'upstreams') parseUpstreams(object(value, key), out);
  }
  if (out.nginxMode !== undefined && out.nginxMode !== 'dynamic' && out.nginxMode !== 'reload') throw new ValidationError('config nginx-mode', 'must be dynamic or reload', out.nginxMode);
  return out;
}

function parseUpstreams(input: Record<string, unknown>, out: LbsyncFileConfig): void {
  out.upstreams = {};
  out.healthOverrides = {};
  for (const [service, value] of Object.entries(input)) {
    if (service !== '*') validateServiceName(service, `upstreams.${service}`);
    const field = `upstreams.${service}`;
    const opts: UpstreamOptions = {};
    for (const [key, v] of Object.entries(object(value, field))) {
      switch (camel(key)) {
        case 'method':
          opts.method = parseMethod(v, `${field}.method`);
          break;
        case 'keepalive':
          opts.keepalive = count(v, `${field}.keepalive`, 10_000, 0);
          break;
        case 'maxFails':
          opts.maxFails = count(v, `${field}.${key}`, 1000, 0);
          break;
        case 'failTimeout':
          opts.failTimeoutS = duration(v, `${field}.${key}`, 'fail-timeout') / 1000;
          break;
        case 'servers':
        case 'server':
          opts.servers = (Array.isArray(v) ? v : [v]).map((s, i) => serverBlock(s, `${field}.${key}[${i}]`));
          break;
        case 'health':
          out.healthOverrides[service] = healthOverride(object(v, `${field}.health`), `${field}.health`);
          break;
        default:
          throw new ValidationError(`${field}.${key}`, 'is not a known upstream option (method, keepalive, max-fails, fail-timeout, servers, health)');
      }
    }
    out.upstreams[service] = validateUpstreamOptions(opts, field);
  }
}

function serverBlock(value: unknown, field: string): ServerBlock {
  const input = object(value, field);
  const block: ServerBlock = { listen: [] };
  for (const [key, v] of Object.entries(input)) {
    switch (camel(key)) {
      case 'listen':
        block.listen = (Array.isArray(v) ? v : [v]).map((l) => String(l));
        break;
      case 'serverName':
        block.serverName = typeof v === 'string' ? v.split(/[\s,]+/).filter(Boolean) : list(v, `${field}.${key}`);
        break;
      case 'location':
        block.location = string(v, `${field}.${key}`);
        break;
      default:
        throw new ValidationError(`${field}.${key}`, 'is not a server block option (listen, server-name, location)');
    }
  }
  return block;
}

function healthOverride(input: Record<string, unknown>, field: string): Partial<HealthSpec> {
  const out: Partial<HealthSpec> = {};
  for (const [key, v] of Object.entries(input)) {
    const name = camel(key);
    switch (name) {
      case 'kind': {
        const kind = string(v, `${field}.kind`);
        if (kind !== 'http' && kind !== 'https' && kind !== 'tcp') throw new ValidationError(`${field}.kind`, 'must be http, https or tcp', v);
        out.kind = kind;
        break;
      }
      case 'http':
      case 'path':
        out.path = string(v, `${field}.${key}`);
        out.kind ??= 'http';
        break;
      case 'interval':
        out.intervalMs = duration(v, `${field}.${key}`, '--health-interval');
        break;
      case 'timeout':
        out.timeoutMs = duration(v, `${field}.${key}`, '--health-timeout');
        break;
      case 'rise':
      case 'fall':
        out[name] = count(v, `${field}.${key}`, 100);
        break;
      case 'expectStatus':
        out.expectStatus = parseStatusSet(String(v), `${field}.${key}`);
        break;
      case 'expectDigest':
        out.expectDigest = string(v, `${field}.${key}`);
        break;
      case 'hostHeader':
        out.hostHeader = string(v, `${field}.${key}`);
        break;
      default:
        throw new ValidationError(`${field}.${key}`, 'is not a health option (kind, http, interval, timeout, rise, fall, expect-status, expect-digest, host-header)');
    }
  }
  return out;
}

function object(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ValidationError(field, 'must be a mapping', value);
  return value as Record<string, unknown>;
}

function string(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new ValidationError(field, 'must be a non-empty string', value);
  return value;
}

function list(value: unknown, field: string): string[] {
  if (typeof value === 'string') return value.split(',').map((s) => s.trim()).filter(Boolean);
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw new ValidationError(field, 'must be a list of strings or a comma-separated string', value);
  return value as string[];
}

/** A duration within the bounds its command-line twin has (`bounds`: that flag's name). */
function duration(value: unknown, field: string, bounds: string): number {
  return parseDuration(string(value, field), field, DURATION_BOUNDS[bounds]);
}

function count(value: unknown, field: string, max: number, min = 1): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) throw new ValidationError(field, `must be an integer from ${min} to ${max}`, value);
  return n;
}

function onOff(value: unknown, field: string): 'on' | 'off' {
  if (value === true || value === 'on') return 'on';
  if (value === false || value === 'off') return 'off';
  throw new ValidationError(field, 'must be on or off', value);
}
