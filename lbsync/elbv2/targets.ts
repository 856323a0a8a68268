import { isIP } from 'node:net';
import type { ServicePool } from '../output.js';

/** How a target group names its targets: by IP address or by EC2 instance id. */
export type TargetType = 'ip' | 'instance';

/** Who decides which endpoints get registered: beacon's own checks (`pool`) or ELB's (`elb`: every endpoint). */
export type HealthSource = 'pool' | 'elb';

/** A target as ELBv2 keys it: Id and port. */
export interface Target {
  id: string;
  port: number;
}

/** An endpoint that cannot become a target, and why. */
export interface SkippedEndpoint {
  service: string;
  instance: string;
  reason: string;
}

/** The (Id, Port) identity of a target as one string (`10.0.0.1:80`, `i-0abc…:8080`). */
export function targetKey(t: Target): string {
  return `${t.id}:${t.port}`;
}

const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;

/**
 * The targets a service's pool should have in its group: the pool's members
 * (or every endpoint with `health: 'elb'`), as record host + port for `ip`
 * groups or `meta.instanceId` + port for `instance` groups. Endpoints that
 * cannot be targets are returned in `skipped` with the reason; duplicates
 * (two records for the same Id and port) collapse to one target.
 */
export function desiredTargets(pool: ServicePool | undefined, type: TargetType, health: HealthSource): { targets: Target[]; skipped: SkippedEndpoint[] } {
  const records = !pool ? [] : health === 'elb' ? pool.endpoints.map((e) => e.record) : pool.members;
  const targets = new Map<string, Target>();
  const skipped: SkippedEndpoint[] = [];
  for (const record of records) {
    let id: string | undefined;
    if (type === 'ip') {
      if (isIP(record.host)) id = record.host;
      else skipped.push({ service: record.service, instance: record.instance, reason: `host ${record.host} is not an IP address, which ip target groups need` });
    } else {
      const instanceId = record.meta?.instanceId;
      if (instanceId && INSTANCE_ID.test(instanceId)) id = instanceId;
      else skipped.push({ service: record.service, instance: record.instance, reason: instanceId ? `meta.instanceId ${instanceId} is not an EC2 instance id (i-…)` : 'record has no meta.instanceId, which instance target groups need' });
    }
    if (id !== undefined) {
      const target = { id, port: record.port };
      targets.set(targetKey(target), target);
    }
  }
  return { targets: [...targets.values()], skipped };
}
