import { parseDuration, validateServiceName, ValidationError } from '../../registry/index.js';
import type { HealthSource, TargetType } from './targets.js';

/** The ELBv2 output's settings, as parsed from flags (see {@link parseElbv2Options}). */
export interface Elbv2Options {
  /** service → target group ARN. */
  targetGroups: ReadonlyMap<string, string>;
  /** A private or test endpoint URL; the SDK's regional endpoint when absent. */
  endpoint?: string;
  /** The region; the SDK's standard chain (AWS_REGION, profile) when absent. */
  region?: string;
  targetType: TargetType;
  health: HealthSource;
  /** Largest fraction (0..1) of a group a young view may remove. */
  maxRemove: number;
  /** Period of the drift-correcting pass (ms). */
  driftMs: number;
  /** Make-before-break cap and the stable time a view needs before large removals (ms). */
  graceMs: number;
  /** Log plans, call nothing that writes. */
  dryRun: boolean;
  /** Lease TTL of the writer election (seconds). */
  electionTtlSeconds: number;
  /** Name of the etcd election among lbsync replicas. */
  electionName: string;
}

/** The flags as commander hands them over (camelCased), before validation. */
export interface Elbv2Flags {
  /** `SERVICE=ARN`, repeatable (commander collects into an array). */
  elbv2TargetGroup?: string[] | string;
  elbv2Endpoint?: string;
  elbv2Region?: string;
  elbv2TargetType?: string;
  elbv2Health?: string;
  /** `50%` or a fraction such as `0.5`. */
  elbv2MaxRemove?: string | number;
  /** A duration (`60s`) or milliseconds. */
  elbv2Drift?: string | number;
  elbv2Grace?: string | number;
  elbv2ElectionTtl?: string | number;
  elbv2Election?: string;
  dryRun?: boolean;
}

export const ELBV2_DEFAULTS = {
  targetType: 'ip',
  health: 'pool',
  maxRemove: 0.5,
  driftMs: 60_000,
  graceMs: 30_000,
  electionTtlSeconds: 10,
  electionName: 'beacon-lbsync-elbv2',
} as const;

const ARN = /^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup\/[A-Za-z0-9-]{1,32}\/[0-9a-f]{16}$/;

/** Parses one `SERVICE=ARN` mapping. */
export function parseTargetGroupMapping(text: string): [string, string] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new ValidationError('--elbv2-target-group', 'must be SERVICE=ARN, e.g. web=arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef', text);
  const service = validateServiceName(text.slice(0, eq), '--elbv2-target-group service');
  const arn = text.slice(eq + 1);
  if (!ARN.test(arn)) throw new ValidationError('--elbv2-target-group', 'ARN must look like arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID', arn);
  return [service, arn];
}

function duration(value: string | number | undefined, field: string, fallback: number): number {
  if (value === undefined) return fallback;
  const ms = typeof value === 'number' ? value : parseDuration(value, field);
  if (!Number.isFinite(ms) || ms < 0) throw new ValidationError(field, 'must be a duration such as 30s', value);
  return ms;
}

/** Parses `50%` or `0.5` into a fraction 0..1. */
export function parseFraction(value: string | number, field: string): number {
  const text = String(value).trim();
  const match = /^(\d+(?:\.\d+)?)(%?)$/.exec(text);
  const fraction = match ? Number(match[1]) / (match[2] ? 100 : 1) : NaN;
  if (!(fraction >= 0 && fraction <= 1)) throw new ValidationError(field, 'must be a percentage such as 50% or a fraction from 0 to 1', value);
  return fraction;
}

/**
 * Validates the `--elbv2-*` flags. Returns undefined when no
 * `--elbv2-target-group` is given (the ELBv2 output is off); throws a
 * ValidationError naming the flag otherwise.
 */
export function parseElbv2Options(flags: Elbv2Flags): Elbv2Options | undefined {
  const mappings = flags.elbv2TargetGroup === undefined ? [] : [flags.elbv2TargetGroup].flat();
  if (mappings.length === 0) return undefined;
  const targetGroups = new Map<string, string>();
  for (const text of mappings) {
    const [service, arn] = parseTargetGroupMapping(text);
    if (targetGroups.has(service)) throw new ValidationError('--elbv2-target-group', `service ${service} is mapped twice`, text);
    targetGroups.set(service, arn);
  }
  const targetType = flags.elbv2TargetType ?? ELBV2_DEFAULTS.targetType;
  if (targetType !== 'ip' && targetType !== 'instance') throw new ValidationError('--elbv2-target-type', 'must be ip or instance', targetType);
  const health = flags.elbv2Health ?? ELBV2_DEFAULTS.health;
  if (health !== 'pool' && health !== 'elb') throw new ValidationError('--elbv2-health', 'must be pool (beacon checks decide) or elb (register every endpoint, ELB checks)', health);
  if (flags.elbv2Endpoint !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(flags.elbv2Endpoint);
    } catch {
      url = undefined;
    }
    if (!url || !['http:', 'https:'].includes(url.protocol)) throw new ValidationError('--elbv2-endpoint', 'must be an http(s) URL', flags.elbv2Endpoint);
  }
  if (flags.elbv2Region !== undefined && !/^[a-z]{2}(-[a-z]+)+-\d$/.test(flags.elbv2Region)) {
    throw new ValidationError('--elbv2-region', 'must be an AWS region such as us-east-1', flags.elbv2Region);
  }
  const electionTtlSeconds = flags.elbv2ElectionTtl === undefined ? ELBV2_DEFAULTS.electionTtlSeconds : Math.round(duration(flags.elbv2ElectionTtl, '--elbv2-election-ttl', 0) / 1000);
  if (electionTtlSeconds < 2) throw new ValidationError('--elbv2-election-ttl', 'must be at least 2s', flags.elbv2ElectionTtl);
  const driftMs = duration(flags.elbv2Drift, '--elbv2-drift', ELBV2_DEFAULTS.driftMs);
  if (driftMs < 1000) throw new ValidationError('--elbv2-drift', 'must be at least 1s', flags.elbv2Drift);
  return {
    targetGroups,
    ...(flags.elbv2Endpoint !== undefined ? { endpoint: flags.elbv2Endpoint } : {}),
    ...(flags.elbv2Region !== undefined ? { region: flags.elbv2Region } : {}),
    targetType,
    health,
    maxRemove: flags.elbv2MaxRemove === undefined ? ELBV2_DEFAULTS.maxRemove : parseFraction(flags.elbv2MaxRemove, '--elbv2-max-remove'),
    driftMs,
    graceMs: duration(flags.elbv2Grace, '--elbv2-grace', ELBV2_DEFAULTS.graceMs),
    dryRun: flags.dryRun ?? false,
    electionTtlSeconds,
    electionName: flags.elbv2Election ?? ELBV2_DEFAULTS.electionName,
  };
}
