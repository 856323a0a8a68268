/**
 * A worker of the scale bench (forked by bench/scale.ts): simulates a slice of
 * the fleet's hosts in one process. Each host publishes its records through
 * beacon's own publishing code — its own etcd client (createEtcdClient, as
 * the sidekick builds it), its own LeasePublisher with its own lease and
 * keepalive — and the sampled hosts run the sidekick's node reconcile as the
 * sidekick does: the whole prefix once at start (reconcileNodeRecords), then
 * at its period only what its own leases hold (reconcileLeaseRecords),
 * timing each pass.
 *
 * Driven over IPC: `init` (publish everything, answer `ready`), `lose`
 * (stop one host's keepalive, as a host that dies), `replace` (the deploy on
 * one host: publish the new instance, remove the old), `stats`, `stop`.
 */
import type { Etcd3 } from 'etcd3';
import { createEtcdClient, LeasePublisher, recordId, type ServiceRecord } from '../registry/index.js';
import { reconcileLeaseRecords, reconcileNodeRecords, type NodeReconcileResult } from '../sidekicks/node-records.js';
import { deployInstance, nodeName, PREFIX, recordOf, recordsOf, serviceName, type FleetPorts, type FleetShape } from './scale-plan.js';

export interface HostsInit {
  type: 'init';
  endpoints: string[];
  shape: FleetShape;
  ports: FleetPorts;
  /** The host numbers this worker simulates. */
  hosts: number[];
  ttlSeconds: number;
  /** Hosts (of this worker) that run the periodic node reconcile. */
  reconcileHosts: number[];
  reconcileMs: number;
}

export type HostsCommand = HostsInit | { type: 'lose'; host: number } | { type: 'replace'; host: number } | { type: 'stats' } | { type: 'stop' };

export interface ReconcileSample {
  host: number;
  /** `listing`: the whole prefix (the start pass); `lease`: the host's own leases (every later pass). */
  kind: 'listing' | 'lease';
  ms: number;
  /** CPU this worker spent during the pass (its other hosts' keepalives included: small at rest). */
  cpuMs: number;
  rewrite: number;
  deleted: number;
}

export interface HostsStats {
  type: 'stats';
  reconciles: ReconcileSample[];
  leasesLost: number;
  retries: number;
  /** Reconcile passes that failed, by error message (etcd refusing the listing, say). */
  reconcileErrors: Record<string, number>;
  rssMb: number;
  cpuMs: number;
}

interface Host {
  client: Etcd3;
  publisher: LeasePublisher;
  desired: Map<string, ServiceRecord>;
  /** Whether the start pass (the whole prefix) ran; later passes ask the leases. */
  listed: boolean;
  /** Leases this host's publisher has had: a lost one may be revived by etcd and still hold records. */
  leases: Set<string>;
  timer?: NodeJS.Timeout;
}

const hosts = new Map<number, Host>();
const reconciles: ReconcileSample[] = [];
const reconcileErrors: Record<string, number> = {};
let leasesLost = 0;
let retries = 0;
let init: HostsInit;

function send(message: object): void {
  process.send!(message);
}

/** Resolves when `publisher` has written `count` records (each `published` event is one record written). */
function published(publisher: LeasePublisher, count: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const on = () => {
      if (++seen < count) return;
      publisher.off('published', on);
      resolve();
    };
    publisher.on('published', on);
  });
}

async function startHost(h: number): Promise<void> {
  const client = createEtcdClient({ endpoints: init.endpoints });
  const publisher = new LeasePublisher({ client, prefix: PREFIX, ttlSeconds: init.ttlSeconds, layout: 'json' });
  publisher.on('leaseLost', () => leasesLost++);
  publisher.on('retrying', () => retries++);
  const records = recordsOf(h, init.shape, init.ports);
  const host: Host = { client, publisher, desired: new Map(records.map((r) => [recordId(r), r])), listed: false, leases: new Set() };
  hosts.set(h, host);
  const done = published(publisher, records.length);
  for (const r of records) publisher.publish(r);
  await done;
}

/** One pass of the sidekick's node reconcile for host h, timed; a failure is counted by its message. */
async function reconcile(h: number): Promise<void> {
  try {
    await reconcileOnce(h);
  } catch (err) {
    // Sizes and ids vary per pass: count by the message's shape.
    const message = (err as Error).message.replace(/\d{4,}/g, 'N').slice(0, 120);
    reconcileErrors[message] = (reconcileErrors[message] ?? 0) + 1;
  }
}

async function reconcileOnce(h: number): Promise<void> {
  const host = hosts.get(h);
  if (!host) return;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const leaseId = await host.publisher.currentLeaseId();
  host.leases.add(leaseId);
  const common = { client: host.client, prefix: PREFIX, desired: host.desired, stillWanted: (id: string) => host.publisher.has(id), leaseId };
  const kind = host.listed ? 'lease' : 'listing';
  let result: NodeReconcileResult;
  if (host.listed) {
    const byLease = await reconcileLeaseRecords({ ...common, earlierLeases: host.leases });
    for (const id of byLease.expiredLeases) host.leases.delete(id);
    result = byLease;
  } else {
    result = await reconcileNodeRecords({ ...common, node: nodeName(h) });
    host.listed = true;
  }
  const c = process.cpuUsage(c0);
  reconciles.push({ host: h, kind, ms: performance.now() - t0, cpuMs: (c.user + c.system) / 1000, rewrite: result.rewrite.length, deleted: result.deleted.length });
}

async function onInit(message: HostsInit): Promise<void> {
  init = message;
  const t0 = performance.now();
  // Hosts come up 25 at a time: a fleet does not boot in one tick, and one
  // process granting a thousand leases at once only measures its own queue.
  for (let i = 0; i < init.hosts.length; i += 25) await Promise.all(init.hosts.slice(i, i + 25).map(startHost));
  for (const h of init.reconcileHosts) {
    // Like the sidekick: one pass at start, then every period; phases spread over the period.
    await reconcile(h);
    const phase = Math.random() * init.reconcileMs;
    hosts.get(h)!.timer = setTimeout(function tick() {
      void reconcile(h).finally(() => {
        const host = hosts.get(h);
        if (host) host.timer = setTimeout(tick, init.reconcileMs);
      });
    }, phase);
  }
  // The start passes ran while the fleet was still publishing.
  reconciles.length = 0;
  for (const k of Object.keys(reconcileErrors)) delete reconcileErrors[k];
  send({ type: 'ready', hosts: init.hosts.length, ms: performance.now() - t0 });
}

/** A host that dies: its keepalive stops, its records stay until the lease expires. */
async function lose(h: number): Promise<void> {
  const host = hosts.get(h);
  if (!host) return;
  hosts.delete(h);
  clearTimeout(host.timer);
  await host.publisher.close({ revoke: false });
  send({ type: 'lost', host: h, at: Date.now() });
  host.client.close();
}

/** The deploy on host h: the new instance is published, the old one removed (its container stopped). */
async function replace(h: number): Promise<void> {
  const host = hosts.get(h);
  if (!host) return;
  const next = recordOf(h, 0, init.ports, 'v2');
  const oldId = recordId({ service: serviceName(0), instance: deployInstance(h, 'v1') } as ServiceRecord);
  const done = published(host.publisher, 1);
  host.desired.delete(oldId);
  host.desired.set(recordId(next), next);
  host.publisher.publish(next);
  host.publisher.unpublish(oldId);
  await done;
  send({ type: 'replaced', host: h, at: Date.now() });
}

function stats(): HostsStats {
  const c = process.cpuUsage();
  return { type: 'stats', reconciles: [...reconciles], reconcileErrors, leasesLost, retries, rssMb: process.memoryUsage.rss() / 2 ** 20, cpuMs: (c.user + c.system) / 1000 };
}

// The bench died: nothing left to simulate for.
process.on('disconnect', () => process.exit(0));

process.on('message', (message: HostsCommand) => {
  switch (message.type) {
    case 'init':
      void onInit(message);
      break;
    case 'lose':
      void lose(message.host);
      break;
    case 'replace':
      void replace(message.host);
      break;
    case 'stats':
      send(stats());
      break;
    case 'stop':
      // The bench tears the cluster down next: let the leases go with it.
      for (const host of hosts.values()) {
        clearTimeout(host.timer);
        void host.publisher.close({ revoke: false });
        host.client.close();
      }
      process.disconnect();
      break;
  }
});
