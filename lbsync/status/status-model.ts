import { EventEmitter } from 'node:events';
import type { CheckResult, HealthState } from '../../health/types.js';
import { recordId, type ServiceRecord } from '../../registry/record.js';
import { desiredTargets, targetKey, type HealthSource, type TargetType } from '../elbv2/targets.js';
import type { PassEvent, TargetsEvent } from '../elbv2/events.js';
import type { TargetPlan } from '../elbv2/plan.js';
import { NginxReloadError, NginxValidationError } from '../errors.js';
import type { ApplyOutcome, PoolView, ServicePool } from '../output.js';
import {
  STATUS_VERSION,
  type ApplyStatus,
  type EndpointStatus,
  type ErrorEntry,
  type NginxStatus,
  type ServiceStatus,
  type StatusDocument,
  type Elbv2Status,
} from './status-types.js';

export interface StatusModelOptions {
  /** lbsync health-checks endpoints (`--health on`). */
  healthChecks: boolean;
  /** lbsync drives an nginx output. */
  nginx: boolean;
  /** lbsync drives ELBv2: the service → target group mapping and how targets are chosen. */
  elbv2?: { targetGroups: ReadonlyMap<string, string>; targetType: TargetType; health: HealthSource };
  /** Entries kept in the recent-errors ring buffer (default 50). */
  errorLimit?: number;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
}

interface HealthInfo {
  state: HealthState;
  last?: CheckResult;
  /** When this model saw the state change (ms). */
  since?: number;
}

const iso = (ms: number) => new Date(ms).toISOString();
const memberKey = (r: ServiceRecord) => `${r.instance}@${r.host}:${r.port}`;

/**
 * The status of a running lbsync, built only from what the daemon and its
 * outputs report (views, applies, health changes, ELBv2 passes, problems).
 * Pure: no I/O and no timers; the clock is injected. Emits `change` after
 * every update that may alter the document, so a server can push it.
 */
export class StatusModel extends EventEmitter<{ change: [] }> {
  private readonly now: () => number;
  private readonly startedAt: number;
  private readonly errorLimit: number;
  private view: PoolView | undefined;
  /** The view handed to outputs by the apply in progress (applies never overlap). */
  private pendingView: PoolView | undefined;
  /** service → member keys in the config nginx last accepted. */
  private nginxMembers: Map<string, Set<string>> | undefined;
  private readonly nginxStatus: NginxStatus = {};
  private readonly health = new Map<string, HealthInfo>();
  /** service → target keys registered in its group, as far as this replica knows. */
  private readonly elbTargets = new Map<string, Set<string>>();
  /** Services whose group reported a plan or an error since the last pass event. */
  private readonly elbTouched = new Set<string>();
  private leader: boolean | null = null;
  private lastPass: Elbv2Status['lastPass'];
  private readonly errors: ErrorEntry[] = [];
  private readonly fingerprints = new Map<string, string>();
  private readonly lastChange = new Map<string, number>();
  private connected = true;
  private lastResync: StatusDocument['etcd']['lastResync'];

  constructor(private readonly options: StatusModelOptions) {
    super();
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    this.errorLimit = options.errorLimit ?? 50;
  }

  /** lbsync's `view`: the view every output is about to apply. */
  onView(view: PoolView): void {
    this.pendingView = view;
    this.view = view;
    const seen = new Set<string>();
    const at = this.now();
    for (const pool of view.pools) {
      for (const e of pool.endpoints) {
        const id = recordId(e.record);
        seen.add(id);
        const before = this.health.get(id);
        const info: HealthInfo = { state: e.health, since: before && before.state === e.health ? before.since ?? at : at };
        const last = e.last ?? (before?.state === e.health ? before.last : undefined);
        if (last) info.last = last;
        this.health.set(id, info);
      }
    }
    for (const id of this.health.keys()) if (!seen.has(id)) this.health.delete(id);
    this.touchAll();
  }

  /** lbsync's `health`: an endpoint's state changed (between views too). */
  onHealth(id: string, state: HealthState, result: CheckResult): void {
    if (!this.health.has(id) && !this.findEndpoint(id)) return;
    this.health.set(id, { state, last: result, since: this.now() });
    this.touch(id.slice(0, id.indexOf('/')));
  }

  /** lbsync's `applied`. */
  onApplied(output: string, outcome: ApplyOutcome): void {
    if (output !== 'nginx') return;
    const status: ApplyStatus = { at: iso(this.now()), ok: true, detail: outcome.detail };
    this.nginxStatus.lastApply = status;
    const quarantined = outcome.quarantined ?? [];
    if (quarantined.length) this.nginxStatus.quarantined = quarantined.map((q) => ({ service: q.service, reason: q.reason, since: iso(q.since), retryAt: iso(q.retryAt) }));
    else delete this.nginxStatus.quarantined;
    if (outcome.nginxVersion !== undefined) this.nginxStatus.dynamicVersion = outcome.nginxVersion;
    if (outcome.changed || !this.nginxStatus.lastReload) this.nginxStatus.lastReload = status;
    if (this.pendingView) {
      this.nginxMembers = new Map(this.pendingView.pools.map((p) => [p.service, new Set(p.members.map(memberKey))]));
    }
    this.touchAll();
  }

  /** lbsync's `rejected`: the output kept its last good state. */
  onRejected(output: string, err: Error): void {
    const at = iso(this.now());
    if (output === 'nginx') {
      const status: ApplyStatus = { at, ok: false, detail: err.message };
      if (err instanceof NginxValidationError) {
        status.detail = 'nginx refused the new config; the last good one stays';
        status.message = err.nginxMessage;
      } else if (err instanceof NginxReloadError) {
        status.detail = err.rolledBack ? `${err.message} (rolled back)` : err.message;
      }
      this.nginxStatus.lastApply = status;
      this.nginxStatus.lastReload = status;
      this.record('error', 'nginx', status.message ? `${status.detail}: ${status.message}` : status.detail);
    } else if (output !== 'elbv2') {
      // The ELBv2 output reports its failures per group through its own events.
      this.record('error', output, err.message);
    }
  }

  /** lbsync's `warning`: an output left a value out. */
  onWarning(output: string, message: string): void {
    this.record('warn', output, `skipped ${message}`);
  }

  /** lbsync's `problem`: a key under the prefix that could not be used. */
  onProblem(key: string, reason: string): void {
    this.record('warn', 'registry', `skipped ${key}: ${reason}`);
  }

  onDisconnected(err: Error, retryInMs: number): void {
    this.connected = false;
    this.record('warn', 'etcd', `lost the etcd watch (${err.message}); reconnecting in ${retryInMs}ms`);
  }

  onResumed(): void {
    this.connected = true;
    this.emit('change');
  }

  onResynced(reason: string, records: number): void {
    this.connected = true;
    this.lastResync = { at: iso(this.now()), reason, records };
    this.emit('change');
  }

  /** lbsync's `failOpen`: recorded as a warning (the pool state itself comes with the view). */
  onFailOpen(service: string, on: boolean): void {
    if (on) this.record('warn', 'health', `failing open ${service}: every endpoint fails its health check, so all of them stay in the pool`);
  }

  /** The ELBv2 output's `leader`. */
  onElbv2Leader(leader: boolean): void {
    this.leader = leader;
    this.emit('change');
  }

  /** The ELBv2 output's `plan`: what its group holds before the plan's calls. */
  onElbv2Plan(service: string, plan: TargetPlan): void {
    this.elbTouched.add(service);
    // Everything kept, held back or about to be deregistered is registered now;
    // registrations arrive as `registered` events.
    const keys = [...plan.keep, ...plan.heldBack, ...plan.deregister.flat()].map(targetKey);
    this.elbTargets.set(service, new Set(keys));
    this.touch(service);
  }

  /** The ELBv2 output's `registered` / `deregistered`. */
  onElbv2Targets(kind: 'registered' | 'deregistered', event: TargetsEvent): void {
    let set = this.elbTargets.get(event.service);
    if (!set) this.elbTargets.set(event.service, (set = new Set()));
    for (const t of event.targets) {
      if (kind === 'registered') set.add(targetKey(t));
      else set.delete(targetKey(t));
    }
    this.touch(event.service);
  }

  /** The ELBv2 output's `failed` or `warning` (an Elbv2Error with its context). */
  onElbv2Error(level: 'warn' | 'error', err: Error & { context?: { service?: string } }, retryInMs?: number): void {
    if (err.context?.service) this.elbTouched.add(err.context.service);
    this.record(level, 'elbv2', retryInMs === undefined ? err.message : `${err.message}; retrying in ${retryInMs}ms`);
  }

  /**
   * The ELBv2 output's `pass`. A mapped group that reported no plan and no
   * error had nothing to do: it holds exactly the desired targets.
   */
  onElbv2Pass(pass: PassEvent): void {
    this.lastPass = { at: iso(this.now()), ...pass };
    const elb = this.options.elbv2;
    if (elb && this.view) {
      const pools = new Map(this.view.pools.map((p) => [p.service, p]));
      for (const service of elb.targetGroups.keys()) {
        if (this.elbTouched.has(service)) continue;
        const { targets } = desiredTargets(pools.get(service), elb.targetType, elb.health);
        this.elbTargets.set(service, new Set(targets.map(targetKey)));
      }
    }
    this.elbTouched.clear();
    this.touchAll();
  }

  /** The document `/status.json` serves. */
  snapshot(): StatusDocument {
    const now = this.now();
    const doc: StatusDocument = {
      version: STATUS_VERSION,
      generatedAt: iso(now),
      startedAt: iso(this.startedAt),
      healthChecks: this.options.healthChecks,
      revision: this.view?.revision ?? 0,
      etcd: { connected: this.connected, ...(this.lastResync ? { lastResync: this.lastResync } : {}) },
      services: (this.view?.pools ?? []).map((p) => this.serviceStatus(p)),
      errors: this.errors.map((e) => ({ ...e })),
    };
    if (this.options.nginx) doc.nginx = { ...this.nginxStatus };
    if (this.options.elbv2) {
      doc.elbv2 = {
        leader: this.leader,
        ...(this.lastPass ? { lastPass: this.lastPass } : {}),
        groups: [...this.options.elbv2.targetGroups].map(([service, targetGroupArn]) => ({ service, targetGroupArn })),
      };
    }
    return doc;
  }

  private serviceStatus(pool: ServicePool): ServiceStatus {
    const members = new Set(pool.members.map(memberKey));
    const inNginx = this.options.nginx ? (this.nginxMembers?.get(pool.service) ?? new Set<string>()) : undefined;
    const arn = this.options.elbv2?.targetGroups.get(pool.service);
    const elbKnown = arn !== undefined && this.leader !== false ? this.elbTargets.get(pool.service) : undefined;
    const counts: Record<HealthState, number> = { passing: 0, failing: 0, unknown: 0 };
    const endpoints = pool.endpoints.map((e): EndpointStatus => {
      const r = e.record;
      const info = this.health.get(recordId(r)) ?? { state: e.health };
      counts[info.state]++;
      const out: EndpointStatus = {
        instance: r.instance,
        host: r.host,
        port: r.port,
        health: info.state,
        member: members.has(memberKey(r)),
        inNginx: inNginx ? inNginx.has(memberKey(r)) : null,
        inElbv2: elbKnown ? elbKnown.has(targetKey({ id: this.targetId(r), port: r.port })) : null,
      };
      if (r.node) out.node = r.node;
      if (r.container) out.container = r.container;
      if (info.last) {
        out.reason = info.last.reason;
        out.latencyMs = Math.round(info.last.latencyMs * 10) / 10;
        out.checkedAt = iso(info.last.at);
      }
      if (info.since !== undefined) out.since = iso(info.since);
      return out;
    });
    return {
      service: pool.service,
      endpoints,
      counts,
      members: pool.members.length,
      failOpen: pool.failOpen,
      nginxServers: inNginx ? inNginx.size : null,
      elbv2: arn === undefined ? null : { targetGroupArn: arn, targets: elbKnown ? elbKnown.size : null },
      lastChange: iso(this.lastChange.get(pool.service) ?? this.startedAt),
    };
  }

  /** The target id an endpoint would have (its host for ip groups, meta.instanceId for instance groups). */
  private targetId(r: ServiceRecord): string {
    return this.options.elbv2?.targetType === 'instance' ? (r.meta?.instanceId ?? '') : r.host;
  }

  private findEndpoint(id: string): boolean {
    const service = id.slice(0, id.indexOf('/'));
    return !!this.view?.pools.find((p) => p.service === service)?.endpoints.some((e) => recordId(e.record) === id);
  }

  private record(level: ErrorEntry['level'], source: string, message: string): void {
    const at = iso(this.now());
    const newest = this.errors[0];
    if (newest && newest.source === source && newest.message === message) {
      newest.at = at;
      newest.repeats = (newest.repeats ?? 1) + 1;
    } else {
      this.errors.unshift({ at, level, source, message });
      if (this.errors.length > this.errorLimit) this.errors.length = this.errorLimit;
    }
    this.emit('change');
  }

  /** Re-fingerprints one service and stamps its last change when it differs. */
  private touch(service: string): void {
    const pool = this.view?.pools.find((p) => p.service === service);
    if (pool) this.stamp(pool);
    this.emit('change');
  }

  private touchAll(): void {
    const live = new Set<string>();
    for (const pool of this.view?.pools ?? []) {
      live.add(pool.service);
      this.stamp(pool);
    }
    for (const s of this.fingerprints.keys()) {
      if (!live.has(s)) {
        this.fingerprints.delete(s);
        this.lastChange.delete(s);
      }
    }
    this.emit('change');
  }

  private stamp(pool: ServicePool): void {
    const s = this.serviceStatus(pool);
    const fingerprint = JSON.stringify([
      s.endpoints.map((e) => [e.instance, e.host, e.port, e.health, e.member, e.inNginx, e.inElbv2]),
      s.failOpen,
      s.nginxServers,
      s.elbv2?.targets,
    ]);
    if (this.fingerprints.get(pool.service) !== fingerprint) {
      this.fingerprints.set(pool.service, fingerprint);
      this.lastChange.set(pool.service, this.now());
    }
  }
}
