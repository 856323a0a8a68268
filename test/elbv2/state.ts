import { randomBytes } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { cidrContains, parseCidr, type Cidr } from './cidr.js';
import { systemClock, type Clock } from './clock.js';
import { errors } from './errors.js';

/** What kind of Id a target group takes. */
export type TargetType = 'ip' | 'instance';

/** The states DescribeTargetHealth reports, as far as the endpoint models them. */
export type TargetState = 'initial' | 'healthy' | 'unhealthy' | 'unused' | 'draining';

/** A target as the API names it: an Id and a port. */
export interface TargetRef {
  id: string;
  /** Defaults to the group's port when absent, as in ELBv2. */
  port?: number;
  availabilityZone?: string;
}

/** One target's health as DescribeTargetHealth reports it. */
export interface TargetHealthView {
  id: string;
  port: number;
  state: TargetState;
  reason?: string;
  description?: string;
}

/** The settable part of a target group, as CreateTargetGroup takes it. */
export interface TargetGroupSpec {
  name: string;
  protocol: string;
  port: number;
  vpcId: string;
  targetType: TargetType;
  healthCheckPath?: string;
}

/** A target group held by the endpoint. */
export interface TargetGroupRecord extends TargetGroupSpec {
  arn: string;
  healthCheckPath: string;
  attributes: Map<string, string>;
}

interface TargetEntry {
  id: string;
  port: number;
  registeredAt: number;
  /** Set while draining: when the target leaves the group. */
  drainUntil?: number;
}

/** Server settings: the account, the VPC address space, timings and limits. */
export interface Elbv2StateOptions {
  clock?: Clock;
  region?: string;
  accountId?: string;
  /** Every VPC's CIDR block; ip targets must fall inside it (tests use 127.0.0.0/8). */
  vpcCidr?: string;
  /** How long a registered target stays `initial` before turning `healthy`. */
  healthyAfterMs?: number;
  /** Registered targets (draining included) a group may hold before `TooManyTargets`. */
  maxTargetsPerGroup?: number;
  /** When set, instance ids outside this set are "not running" and refused. */
  runningInstances?: ReadonlySet<string>;
}

const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
const NAME = /^(?!-)(?!internal-)[A-Za-z0-9-]{1,32}(?<!-)$/;
const ARN = /^arn:aws:elasticloadbalancing:[a-z0-9-]+:\d{12}:targetgroup\/[A-Za-z0-9-]{1,32}\/[0-9a-f]{16}$/;
const PROTOCOLS = new Set(['HTTP', 'HTTPS', 'TCP', 'TLS', 'UDP', 'TCP_UDP', 'GENEVE']);

/** The attributes every new group starts with; the keys ModifyTargetGroupAttributes accepts. */
export const DEFAULT_ATTRIBUTES: ReadonlyArray<[string, string]> = [
  ['deregistration_delay.timeout_seconds', '300'],
  ['stickiness.enabled', 'false'],
  ['stickiness.type', 'lb_cookie'],
  ['load_balancing.algorithm.type', 'round_robin'],
  ['slow_start.duration_seconds', '0'],
];

const key = (id: string, port: number) => `${id}|${port}`;

/**
 * The endpoint's model of ELBv2 target groups. Target state is derived from
 * timestamps on read (not timers), so a ManualClock moves targets through
 * `initial → healthy` and `draining → gone` deterministically.
 */
export class Elbv2State {
  readonly clock: Clock;
  readonly region: string;
  readonly accountId: string;
  healthyAfterMs: number;
  maxTargetsPerGroup: number;
  runningInstances: ReadonlySet<string> | undefined;
  private readonly cidr: Cidr;
  private readonly groups = new Map<string, TargetGroupRecord>();
  private readonly targets = new Map<string, Map<string, TargetEntry>>();
  /** Targets a test has forced unhealthy, by group then key. */
  private readonly unhealthy = new Map<string, Set<string>>();

  constructor(options: Elbv2StateOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.region = options.region ?? 'us-east-1';
    this.accountId = options.accountId ?? '123456789012';
    this.cidr = parseCidr(options.vpcCidr ?? '127.0.0.0/8');
    this.healthyAfterMs = options.healthyAfterMs ?? 1000;
    this.maxTargetsPerGroup = options.maxTargetsPerGroup ?? 1000;
    this.runningInstances = options.runningInstances;
  }

  /** CreateTargetGroup: idempotent for the same name and settings, DuplicateTargetGroupName otherwise. */
  createTargetGroup(spec: TargetGroupSpec): TargetGroupRecord {
    if (!NAME.test(spec.name)) {
      throw errors.validation(`Target group name '${spec.name}' can have a maximum of 32 characters, can contain only alphanumeric characters or hyphens, and must not begin or end with a hyphen`);
    }
    if (!PROTOCOLS.has(spec.protocol)) throw errors.validation(`Protocol '${spec.protocol}' must be one of ${[...PROTOCOLS].join(', ')}`);
    checkPort(spec.port, 'port');
    if (!/^vpc-[0-9a-f]{8,17}$/.test(spec.vpcId)) throw errors.validation(`The VPC ID '${spec.vpcId}' is not found`);
    const existing = [...this.groups.values()].find((g) => g.name === spec.name);
    if (existing) {
      const same = existing.protocol === spec.protocol && existing.port === spec.port && existing.vpcId === spec.vpcId && existing.targetType === spec.targetType;
      if (!same) throw errors.duplicateName();
      return existing;
    }
    const arn = `arn:aws:elasticloadbalancing:${this.region}:${this.accountId}:targetgroup/${spec.name}/${randomBytes(8).toString('hex')}`;
    const group: TargetGroupRecord = { ...spec, arn, healthCheckPath: spec.healthCheckPath ?? '/', attributes: new Map(DEFAULT_ATTRIBUTES) };
    this.groups.set(arn, group);
    this.targets.set(arn, new Map());
    return group;
  }

  /** DescribeTargetGroups by ARNs or names (all groups when neither); TargetGroupNotFound if any is missing. */
  describeTargetGroups(arns: string[], names: string[]): TargetGroupRecord[] {
    if (arns.length && names.length) throw errors.validation('Target group names and target group ARNs cannot be specified at the same time');
    if (arns.length) return arns.map((arn) => this.group(arn));
    if (names.length) {
      return names.map((name) => {
        const group = [...this.groups.values()].find((g) => g.name === name);
        if (!group) throw errors.targetGroupNotFound(`One or more target groups not found`);
        return group;
      });
    }
    return [...this.groups.values()];
  }

  /** DeleteTargetGroup: succeeds for an unknown ARN, as ELBv2 does. */
  deleteTargetGroup(arn: string): void {
    checkArn(arn);
    this.groups.delete(arn);
    this.targets.delete(arn);
    this.unhealthy.delete(arn);
  }

  /** The group for an ARN, or the error ELBv2 gives for a malformed or unknown one. */
  group(arn: string): TargetGroupRecord {
    checkArn(arn);
    const group = this.groups.get(arn);
    if (!group) throw errors.targetGroupNotFound(`Target groups '${arn}' not found`);
    return group;
  }

  /**
   * RegisterTargets: validates every target first (all or nothing), then
   * registers. Registering a registered target changes nothing; registering a
   * draining one brings it back as `initial`.
   */
  registerTargets(arn: string, refs: TargetRef[]): void {
    const group = this.group(arn);
    if (refs.length === 0) throw errors.validation('Targets must contain at least one target');
    const targets = this.live(arn);
    const wanted = new Map<string, { id: string; port: number }>();
    refs.forEach((ref, i) => {
      const port = this.portOf(group, ref, i);
      this.checkId(group, ref.id, i);
      wanted.set(key(ref.id, port), { id: ref.id, port });
    });
    const added = [...wanted.keys()].filter((k) => !targets.has(k)).length;
    if (targets.size + added > this.maxTargetsPerGroup) {
      throw errors.tooManyTargets(`You have reached the limit on the number of targets (${this.maxTargetsPerGroup}) for target group '${group.name}'`);
    }
    const now = this.clock.now();
    for (const [k, t] of wanted) {
      const entry = targets.get(k);
      if (!entry) targets.set(k, { ...t, registeredAt: now });
      else if (entry.drainUntil !== undefined) targets.set(k, { ...t, registeredAt: now });
    }
  }

  /** DeregisterTargets: registered targets start draining for the group's deregistration delay; unknown ones are ignored. */
  deregisterTargets(arn: string, refs: TargetRef[]): void {
    const group = this.group(arn);
    if (refs.length === 0) throw errors.validation('Targets must contain at least one target');
    const targets = this.live(arn);
    const delayMs = Number(group.attributes.get('deregistration_delay.timeout_seconds') ?? '300') * 1000;
    const now = this.clock.now();
    refs.forEach((ref, i) => {
      const port = this.portOf(group, ref, i);
      const entry = targets.get(key(ref.id, port));
      if (!entry || entry.drainUntil !== undefined) return;
      entry.drainUntil = now + delayMs;
      if (delayMs === 0) targets.delete(key(ref.id, port));
    });
  }

  /**
   * DescribeTargetHealth: every registered target (draining included), or the
   * named ones, where an unregistered target is `unused`/`Target.NotRegistered`.
   */
  describeTargetHealth(arn: string, refs: TargetRef[] = []): TargetHealthView[] {
    const group = this.group(arn);
    const targets = this.live(arn);
    if (refs.length === 0) return [...targets.values()].map((t) => this.view(arn, t));
    return refs.map((ref, i) => {
      const port = this.portOf(group, ref, i);
      const entry = targets.get(key(ref.id, port));
      if (entry) return this.view(arn, entry);
      return { id: ref.id, port, state: 'unused', reason: 'Target.NotRegistered', description: 'Target is not registered to the target group' };
    });
  }

  /** ModifyTargetGroupAttributes: known keys only, values checked like ELBv2 does. */
  modifyAttributes(arn: string, attributes: Array<[string, string]>): Map<string, string> {
    const group = this.group(arn);
    for (const [k, v] of attributes) {
      if (!group.attributes.has(k)) throw errors.validation(`Target group attribute key '${k}' is not recognized`);
      if (k === 'deregistration_delay.timeout_seconds' || k === 'slow_start.duration_seconds') {
        const n = Number(v);
        if (!/^\d+$/.test(v) || n > 3600) throw errors.validation(`'${k}' must be an integer between 0 and 3600`);
      }
    }
    for (const [k, v] of attributes) group.attributes.set(k, v);
    return group.attributes;
  }

  /** Test control: forces a target unhealthy (true) or lets it follow the normal timeline (false). */
  setUnhealthy(arn: string, id: string, port: number, unhealthy: boolean): void {
    const set = this.unhealthy.get(arn) ?? new Set<string>();
    if (unhealthy) set.add(key(id, port));
    else set.delete(key(id, port));
    this.unhealthy.set(arn, set);
  }

  /** Test inspection: the group's registered targets (draining included) with their state now. */
  targetsOf(arn: string): TargetHealthView[] {
    return this.describeTargetHealth(arn);
  }

  /** The group's targets map with finished drains swept out. */
  private live(arn: string): Map<string, TargetEntry> {
    const targets = this.targets.get(arn)!;
    const now = this.clock.now();
    for (const [k, t] of targets) if (t.drainUntil !== undefined && now >= t.drainUntil) targets.delete(k);
    return targets;
  }

  private view(arn: string, t: TargetEntry): TargetHealthView {
    const base = { id: t.id, port: t.port };
    if (t.drainUntil !== undefined) {
      return { ...base, state: 'draining', reason: 'Target.DeregistrationInProgress', description: 'Target deregistration is in progress' };
    }
    if (this.clock.now() - t.registeredAt < this.healthyAfterMs) {
      return { ...base, state: 'initial', reason: 'Elb.RegistrationInProgress', description: 'Target registration is in progress' };
    }
    if (this.unhealthy.get(arn)?.has(key(t.id, t.port))) {
      return { ...base, state: 'unhealthy', reason: 'Target.ResponseCodeMismatch', description: 'Health checks failed with these codes: [500]' };
    }
    return { ...base, state: 'healthy' };
  }

  private portOf(group: TargetGroupRecord, ref: TargetRef, i: number): number {
    const port = ref.port ?? group.port;
    checkPort(port, `targets.${i + 1}.member.port`);
    return port;
  }

  private checkId(group: TargetGroupRecord, id: string, i: number): void {
    if (!id) throw errors.validation(`1 validation error detected: Value null at 'targets.${i + 1}.member.id' failed to satisfy constraint: Member must not be null`);
    if (group.targetType === 'ip') {
      if (!isIPv4(id)) throw errors.invalidTarget(`The IP address '${id}' is not a valid IPv4 address`);
      if (!cidrContains(this.cidr, id)) {
        throw errors.invalidTarget(`The IP address '${id}' is not within a CIDR block of the VPC '${group.vpcId}' (${this.cidr.text})`);
      }
      return;
    }
    if (!INSTANCE_ID.test(id)) throw errors.invalidTarget(`The following targets are not valid instance IDs: '${id}'`);
    if (this.runningInstances && !this.runningInstances.has(id)) {
      throw errors.invalidTarget(`The following targets are not in a running state and cannot be registered: '${id}'`);
    }
  }
}

function checkPort(port: number, member: string): void {
  if (!Number.isInteger(port)) throw errors.validation(`1 validation error detected: Value '${port}' at '${member}' failed to satisfy constraint: Member must be an integer`);
  if (port < 1) throw errors.validation(`1 validation error detected: Value '${port}' at '${member}' failed to satisfy constraint: Member must have value greater than or equal to 1`);
  if (port > 65535) throw errors.validation(`1 validation error detected: Value '${port}' at '${member}' failed to satisfy constraint: Member must have value less than or equal to 65535`);
}

function checkArn(arn: string): void {
  if (!ARN.test(arn)) throw errors.validation(`'${arn}' is not a valid target group ARN`);
}
