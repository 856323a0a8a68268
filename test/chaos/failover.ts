/**
 * Scenario 1, multi-host failover: three hosts in network namespaces, each
 * with its own dockerd and sidekick; a 3-member etcd cluster; lbsync + nginx
 * in the root namespace; a steady load through nginx the whole time.
 */
import { join } from 'node:path';
import { waitFor } from '../harness/index.js';
import { Fleet } from './fleet.js';
import { Load } from './load.js';
import { since, type ChaosRow, type ScenarioOptions } from './report.js';

const TTL_S = 3;

export async function failover(o: ScenarioOptions): Promise<ChaosRow[]> {
  const rows: ChaosRow[] = [];
  const fleet = new Fleet({ dir: join(o.dir, 'failover'), runId: o.runId, hosts: 3, perHost: 2, ttl: `${TTL_S}s`, log: o.log });
  let load: Load | undefined;
  try {
    await fleet.start();
    const [h1, h2, h3] = fleet.hosts as [typeof fleet.hosts[0], typeof fleet.hosts[0], typeof fleet.hosts[0]];
    const rate = 100;
    const loadText = `${rate} req/s, 4 conns`;
    const phase = async (name: string, body: () => Promise<Omit<ChaosRow, 'scenario' | 'load' | 'requests' | 'failed'>>) => {
      load = new Load({ url: fleet.edge.url, rate, concurrency: 4 });
      await new Promise((r) => setTimeout(r, 500));
      const part = await body();
      await new Promise((r) => setTimeout(r, 500));
      const s = await load.stop();
      load = undefined;
      const failures = s.failures.slice(0, 3).map((f) => `${f.at}ms ${f.error}`).join('; ');
      const row: ChaosRow = { scenario: name, load: loadText, requests: s.sent, failed: s.failed, ...part };
      if (s.failed) row.note = `${row.note ? `${row.note}; ` : ''}failed requests (first): ${failures}`;
      rows.push(row);
      o.log(`${name}: ${JSON.stringify(row)}`);
    };

    // 1. Halt a host: every process of it SIGKILLed at once.
    await phase('failover: halt host h1 (SIGKILL dockerd, sidekick, containers)', async () => {
      const gone = h1.ip;
      const t0 = performance.now();
      await h1.halt();
      await waitGone(fleet, gone, 20_000);
      const ms = since(t0);
      const { lost, stale } = await fleet.lostOrStale([h2, h3]);
      const target = (TTL_S + 1) * 1000;
      const behaviourMet = lost.length + stale.length === 0;
      return { convergeMs: ms, lostOrStale: lost.length + stale.length, target: `out of nginx ≤ TTL+1s (${target} ms)`, met: behaviourMet && ms <= target, behaviourMet };
    });

    // 2. Bring it back: dockerd restarts its containers (restart=always), the sidekick publishes them.
    await phase('failover: bring h1 back (dockerd + sidekick start)', async () => {
      const t0 = performance.now();
      await h1.startDockerd();
      fleet.startSidekick(h1);
      await fleet.waitConverged(30_000, 'h1 back');
      const ms = since(t0);
      const { lost, stale } = await fleet.lostOrStale();
      const members = fleet.edge.members().filter((a) => a.startsWith(`${h1.ip}:`)).length;
      return {
        convergeMs: ms,
        lostOrStale: lost.length + stale.length,
        target: 'h1 endpoints return (≤ 15 s)',
        met: ms <= 15_000 && members === fleet.options.perHost,
        behaviourMet: members === fleet.options.perHost,
        note: `includes dockerd start and container restarts; ${members} h1 endpoints back`,
      };
    });

    // 3. Kill the etcd leader while a host publishes and another removes.
    await phase('failover: kill the etcd leader (SIGKILL) during changes', async () => {
      const before = await fleet.records();
      const leader = (await fleet.etcd.leader())!;
      const t0 = performance.now();
      await fleet.etcd.kill(leader);
      const added = await fleet.addContainer(h2);
      const victim = [...(await h3.running()).keys()][0]!;
      await h3.docker.getContainer(victim).stop({ t: 5 });
      await fleet.waitConverged(30_000, 'changes during leader loss');
      const ms = since(t0);
      // Leases must survive the election: wait 2 TTLs and check nothing expired.
      await new Promise((r) => setTimeout(r, 2 * TTL_S * 1000));
      const { lost, stale } = await fleet.lostOrStale();
      const newLeader = await fleet.etcd.leader();
      await fleet.etcd.restart(leader);
      const survived = before.filter((b) => !b.startsWith(`${h3.ip}:`)).every((b) => fleet.edge.members().includes(b));
      return {
        convergeMs: ms,
        lostOrStale: lost.length + stale.length,
        target: 'publish + sync go on, 0 lost',
        met: lost.length + stale.length === 0 && survived,
        note: `leader m${leader} killed, m${newLeader} elected; added ${added}, stopped ${victim}; records checked again after 2×TTL`,
      };
    });

    // 4. Cut one host's link: its leases expire; they come back with the link.
    await phase('failover: cut h2 link, records expire', async () => {
      const t0 = performance.now();
      await h2.linkDown();
      await waitGone(fleet, h2.ip, 30_000);
      const ms = since(t0);
      const recs = await fleet.records();
      const stale = recs.filter((r) => r.startsWith(`${h2.ip}:`)).length;
      const target = (TTL_S + 1) * 1000;
      return { convergeMs: ms, lostOrStale: stale, target: `records expire, out of nginx ≤ TTL+1s (${target} ms)`, met: ms <= target && stale === 0, behaviourMet: stale === 0 };
    });
    await phase('failover: restore h2 link, records return', async () => {
      const t0 = performance.now();
      await h2.linkUp();
      await fleet.waitConverged(30_000, 'h2 back');
      const ms = since(t0);
      const { lost, stale } = await fleet.lostOrStale();
      // Converged (waitConverged did not time out) is the behaviour; 10 s is the speed.
      return { convergeMs: ms, lostOrStale: lost.length + stale.length, target: 'records return (≤ 10 s)', met: ms <= 10_000, behaviourMet: true };
    });
    return rows;
  } finally {
    load?.kill();
    await fleet.destroy();
  }
}

/** Waits until no record in etcd and no nginx member points at `ip`. */
async function waitGone(fleet: Fleet, ip: string, timeoutMs: number): Promise<void> {
  await waitFor(
    async () => !fleet.edge.members().some((a) => a.startsWith(`${ip}:`)) && !(await fleet.records()).some((a) => a.startsWith(`${ip}:`)),
    timeoutMs,
    `records and nginx members of ${ip} to go`,
    25,
  );
}
