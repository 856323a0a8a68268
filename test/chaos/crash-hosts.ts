/**
 * Scenario 3 (host side): sidekick kill -9 and restart, dockerd restart (a
 * namespace dockerd of ours), and the whole etcd cluster down for 30 s.
 */
import { join } from 'node:path';
import { Fleet } from './fleet.js';
import type { ChaosRow, ScenarioOptions } from './report.js';

export async function crashHosts(o: ScenarioOptions): Promise<ChaosRow[]> {
  const rows: ChaosRow[] = [];
  const fleet = new Fleet({ dir: join(o.dir, 'crash-hosts'), runId: o.runId, hosts: 2, perHost: 2, ttl: '3s', log: o.log });
  try {
    await fleet.start();
    const [h1, h2] = fleet.hosts as [typeof fleet.hosts[0], typeof fleet.hosts[0]];
    const row = async (scenario: string, target: string, limitMs: number, ms: number, note: string) => {
      const { lost, stale } = await fleet.lostOrStale();
      const behaviourMet = ms !== Infinity && lost.length + stale.length === 0;
      rows.push({ scenario, load: '-', requests: null, failed: null, convergeMs: ms, lostOrStale: lost.length + stale.length, target, met: behaviourMet && ms <= limitMs, behaviourMet, note });
      o.log(JSON.stringify(rows.at(-1)));
    };

    // Sidekick kill -9; a container stops and another starts while it is gone; restart before the TTL runs out.
    await h1.stopSidekick('SIGKILL');
    const victim = [...(await h1.running()).keys()][0]!;
    await h1.docker.getContainer(victim).stop({ t: 1 });
    const added = await fleet.addContainer(h1);
    let t0 = performance.now();
    fleet.startSidekick(h1);
    let ms = await fleet.waitConverged(30_000, 'sidekick restart').catch(() => Infinity);
    await row('crash: sidekick kill -9, changes while down, restart', 'converges ≤ 5 s', 5000, ms === Infinity ? ms : performance.now() - t0, `stopped ${victim}, started ${added} while it was down; the stale record must go at start, not after the TTL`);

    // dockerd restart (SIGTERM stops the containers; restart=always brings them back).
    t0 = performance.now();
    await h2.stopDockerd();
    const down = performance.now() - t0;
    t0 = performance.now();
    await h2.startDockerd();
    ms = await fleet.waitConverged(60_000, 'dockerd restart').catch(() => Infinity);
    await row('crash: dockerd restart on h2', 'converges ≤ 10 s', 10_000, ms === Infinity ? ms : performance.now() - t0, `dockerd stop took ${Math.round(down)} ms; converge = dockerd start → etcd + nginx match its restarted containers`);

    // etcd cluster down: every member SIGKILLed; changes on a host meanwhile.
    const outage = o.short ? 5000 : 30_000;
    await fleet.etcd.stopAll('SIGKILL');
    const t1 = performance.now();
    const victim2 = [...(await h1.running()).keys()][0]!;
    await h1.docker.getContainer(victim2).stop({ t: 1 });
    const added2 = await fleet.addContainer(h2);
    await new Promise((r) => setTimeout(r, Math.max(0, outage - (performance.now() - t1))));
    await fleet.etcd.startAll();
    t0 = performance.now();
    ms = await fleet.waitConverged(60_000, 'etcd back').catch(() => Infinity);
    await row(
      `crash: etcd cluster down ${outage / 1000} s`,
      'converges ≤ 2 s after etcd returns',
      2000,
      ms === Infinity ? ms : performance.now() - t0,
      `all 3 members SIGKILLed; stopped ${victim2}, started ${added2} during the outage; converge = leader elected → etcd + nginx match`,
    );
    // Nothing expires later: check again after 2 TTLs.
    await new Promise((r) => setTimeout(r, 6000));
    const { lost, stale } = await fleet.lostOrStale();
    if (lost.length + stale.length > 0) {
      rows.at(-1)!.met = false;
      rows.at(-1)!.lostOrStale = lost.length + stale.length;
      rows.at(-1)!.note += `; 6 s later lost ${lost.join(' ')} stale ${stale.join(' ')}`;
    }
    return rows;
  } finally {
    await fleet.destroy();
  }
}
