import type { ServiceStatus, StatusDocument } from './status-types.js';

/** One row of `beacon status`: a service across the whole chain. */
export interface ServiceSummary {
  service: string;
  passing: number;
  failing: number;
  unknown: number;
  /** Servers in the nginx upstream; null without an nginx output. */
  nginx: number | null;
  /** Registered targets; null when ELBv2 is off, the service is unmapped or this replica is standby. */
  elbv2: number | null;
  failOpen: boolean;
  lastChange: string;
  /** False when the service cannot be trusted to answer (see {@link isServiceDown}). */
  ok: boolean;
}

/**
 * A service is down when no endpoint passes its check; with health checks
 * off (every endpoint `unknown`), when it has no endpoint at all. A service
 * failing open is down too: it is served, but by endpoints that all fail.
 */
export function isServiceDown(service: ServiceStatus, healthChecks: boolean): boolean {
  return healthChecks ? service.counts.passing === 0 : service.endpoints.length === 0;
}

/** The rows of `beacon status`, one per service, in the document's order. Pure. */
export function summarise(doc: StatusDocument): ServiceSummary[] {
  return doc.services.map((s) => ({
    service: s.service,
    passing: s.counts.passing,
    failing: s.counts.failing,
    unknown: s.counts.unknown,
    nginx: s.nginxServers,
    elbv2: s.elbv2 ? s.elbv2.targets : null,
    failOpen: s.failOpen,
    lastChange: s.lastChange,
    ok: !isServiceDown(s, doc.healthChecks),
  }));
}
