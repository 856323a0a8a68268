import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { ensureTestImage, waitFor } from '../harness/index.js';
import { Edge } from './edge.js';
import { TestEtcdCluster } from './etcd-cluster.js';
import { NetnsHost, removeGuardRoute } from './netns-host.js';

export interface FleetOptions {
  dir: string;
  runId: string;
  hosts: number;
  /** Containers of service `web` started on each host at the beginning. */
  perHost: number;
  /** Env for every container (e.g. DRAIN=2). */
  containerEnv?: Record<string, string>;
  ttl?: string;
  /** Containers restart after a crash or a dockerd restart (default true). */
  restartAlways?: boolean;
  lbsyncExtra?: string[];
  log: (line: string) => void;
}

/**
 * The multi-host world: N hosts in network namespaces (dockerd + sidekick
 * each), a 3-member etcd cluster on loopback that also listens on the root
 * ends of the hosts' links, and the edge (lbsync + nginx) in the root
 * namespace. Containers run with `--restart always`, so a host that comes
 * back brings its containers back.
 *
 * How a sidekick reaches etcd from inside its namespace: loopback is per
 * namespace, so every etcd member also serves clients on 10.251.<i>.1 (the
 * root end of host i's veth), same port. Cutting the link cuts exactly that
 * host from etcd and from nginx — no forwarder process that could hide a fault.
 */
export class Fleet {
  readonly hosts: NetnsHost[] = [];
  etcd!: TestEtcdCluster;
  readonly edge = new Edge();
  client!: Etcd3;
  private seq = 0;

  constructor(readonly options: FleetOptions) {}

  async start(): Promise<this> {
    const { dir, runId, log } = this.options;
    mkdirSync(dir, { recursive: true });
    for (let i = 1; i <= this.options.hosts; i++) this.hosts.push(await new NetnsHost(runId, i, dir).create());
    this.etcd = await new TestEtcdCluster(join(dir, 'etcd'), { extraListen: this.hosts.map((h) => h.rootIp) }).start();
    this.client = this.etcd.client();
    const image = await ensureTestImage();
    await Promise.all(
      this.hosts.map(async (h) => {
        await h.startDockerd();
        await h.loadImage(image);
      }),
    );
    for (const h of this.hosts) {
      for (let j = 0; j < this.options.perHost; j++) await this.addContainer(h);
      this.startSidekick(h);
    }
    await this.edge.start();
    this.edge.startLbsync({ etcd: this.etcd.urls(), extra: this.options.lbsyncExtra ?? [] });
    const t = await this.waitConverged(60_000, 'initial fleet');
    log(`fleet up: ${this.hosts.length} hosts, ${this.hosts.length * this.options.perHost} containers, converged ${Math.round(t)} ms after lbsync start`);
    return this;
  }

  startSidekick(h: NetnsHost) {
    return h.startSidekick({ etcd: this.etcd.urls(h.rootIp), ttl: this.options.ttl ?? '3s' });
  }

  /** Starts one more `web` container on a host; returns its name. */
  async addContainer(h: NetnsHost, env: Record<string, string> = {}): Promise<string> {
    const name = `${h.node}-web${++this.seq}`;
    await h.runContainer({ name, service: 'web', restartAlways: this.options.restartAlways ?? true, env: { ...this.options.containerEnv, ...env } });
    return name;
  }

  /** `ip:port` of every running web container on the hosts in `live` (default: all). */
  async expected(live: NetnsHost[] = this.hosts): Promise<string[]> {
    const out: string[] = [];
    for (const h of live) for (const port of (await h.running()).values()) out.push(`${h.ip}:${port}`);
    return out.sort();
  }

  /** `ip:port` of every web record in etcd. */
  async records(): Promise<string[]> {
    const all = await this.client.getAll().prefix('/services/web/').strings();
    return Object.values(all)
      .map((v) => {
        const r = JSON.parse(v) as { host: string; port: number };
        return `${r.host}:${r.port}`;
      })
      .sort();
  }

  /** Records that should be there and are not, plus records that are there and should not be. */
  async lostOrStale(live: NetnsHost[] = this.hosts): Promise<{ lost: string[]; stale: string[] }> {
    const want = new Set(await this.expected(live));
    const have = new Set(await this.records());
    return { lost: [...want].filter((x) => !have.has(x)), stale: [...have].filter((x) => !want.has(x)) };
  }

  /** Waits until etcd and nginx both hold exactly the running containers of `live`; returns ms. */
  async waitConverged(timeoutMs: number, what: string, live: NetnsHost[] = this.hosts): Promise<number> {
    const t0 = performance.now();
    let last = '';
    await waitFor(
      async () => {
        const want = await this.expected(live);
        const recs = await this.records();
        const members = this.edge.members();
        last = `want ${want.join(' ')} | etcd ${recs.join(' ')} | nginx ${members.join(' ')}`;
        return same(want, recs) && same(want, members);
      },
      timeoutMs,
      what,
      25,
    ).catch((err: Error) => {
      throw new Error(`${err.message} — ${last}`);
    });
    return performance.now() - t0;
  }

  async destroy(): Promise<void> {
    await this.edge.destroy().catch(() => undefined);
    this.client?.close();
    for (const h of this.hosts) await h.destroy();
    await removeGuardRoute();
    await this.etcd?.destroy().catch(() => undefined);
  }
}

export function same(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
