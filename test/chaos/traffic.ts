/**
 * Scenario 2, zero-error traffic: a steady load through nginx while the
 * backends churn on one namespace host. Containers run with DRAIN=2 (they
 * keep serving 2 s after SIGTERM); the sidekick removes a record at the
 * SIGTERM `kill` event; nginx retries per lbsync's generated server block.
 * Two clients run side by side in every phase: one new connection per
 * request (`Connection: close`) and kept-alive connections, as browsers and
 * service clients use them. The whole scenario runs once per nginx mode:
 * reload (every change reloads nginx; what kept-alive clients meet then is
 * reported, not hidden) and dynamic (endpoint changes pushed into nginx's Lua
 * balancer: 0 failed requests is the target for both clients).
 */
import { join } from 'node:path';
import { Fleet } from './fleet.js';
import { Load, type LoadSummary } from './load.js';
import type { ChaosRow, ScenarioOptions } from './report.js';

export async function traffic(o: ScenarioOptions): Promise<ChaosRow[]> {
  const rows: ChaosRow[] = [];
  for (const mode of ['reload', 'dynamic'] as const) rows.push(...(await trafficIn(mode, o)));
  return rows;
}

async function trafficIn(mode: 'reload' | 'dynamic', o: ScenarioOptions): Promise<ChaosRow[]> {
  const rows: ChaosRow[] = [];
  const fleet = new Fleet({ dir: join(o.dir, `traffic-${mode}`), runId: o.runId, hosts: 1, perHost: 3, restartAlways: false, containerEnv: { DRAIN: '2' }, lbsyncExtra: ['--nginx-mode', mode], log: o.log });
  let load: Load | undefined;
  let kept: Load | undefined;
  const rate = o.short ? 150 : 200;
  const conns = 8;
  const loadText = `${rate} req/s + ${rate} req/s kept-alive, ${conns} conns each`;
  try {
    await fleet.start();
    const h = fleet.hosts[0]!;
    const converge = (what: string) => fleet.waitConverged(60_000, what);
    const phase = async (title: string, target: string, body: (load: Load) => Promise<{ convergeMs: number; bound?: number; note?: string }>) => {
      const name = `${title} (nginx ${mode} mode)`;
      load = new Load({ url: fleet.edge.url, rate, concurrency: conns });
      kept = new Load({ url: fleet.edge.url, rate, concurrency: conns, keepAlive: true });
      await new Promise((r) => setTimeout(r, 1000));
      const part = await body(load);
      await new Promise((r) => setTimeout(r, 3000)); // past DRAIN: requests to a backend that exits would fail now
      const s: LoadSummary = await load.stop();
      const k: LoadSummary = await kept.stop();
      load = kept = undefined;
      const { lost, stale } = await fleet.lostOrStale();
      const limit = part.bound ?? 0;
      // Reload mode's kept-alive failures are nginx's reload itself (old workers
      // closing idle connections): reported, but the target is dynamic mode's.
      const keptCounts = mode === 'dynamic';
      const notes = [part.note, s.failed ? `failures: ${summarise(s)}` : '', k.failed ? `keep-alive failures: ${summarise(k)}` : '', `p99 ${s.p99Ms} ms, kept-alive p99 ${k.p99Ms} ms`].filter(Boolean);
      const row: ChaosRow = {
        scenario: name,
        load: loadText,
        requests: s.sent,
        failed: s.failed,
        keepAlive: { requests: k.sent, failed: k.failed },
        convergeMs: part.convergeMs,
        lostOrStale: lost.length + stale.length,
        target: keptCounts ? `${target}, keep-alive too` : `${target} (Connection: close)`,
        met: s.failed <= limit && (!keptCounts || k.failed <= limit) && lost.length + stale.length === 0,
        note: notes.join('; '),
      };
      rows.push(row);
      o.log(`${name}: ${JSON.stringify(row)}`);
    };

    const up = o.short ? 6 : 10;
    await phase(`traffic: scale 3 → ${up} → 3`, '0 failed', async () => {
      const t0 = performance.now();
      const added: string[] = [];
      for (let i = 3; i < up; i++) added.push(await fleet.addContainer(h));
      await converge(`scale up to ${up}`);
      await Promise.all(added.map((name) => h.docker.getContainer(name).stop({ t: 10 })));
      await converge('scale down to 3');
      return { convergeMs: performance.now() - t0, note: `${up - 3} started, then the same ${up - 3} stopped at once (docker stop)` };
    });

    await phase('traffic: rolling replacement of every container', '0 failed', async () => {
      const t0 = performance.now();
      const old = [...(await h.running()).keys()];
      for (const name of old) {
        await fleet.addContainer(h);
        await converge(`replacement of ${name} up`);
        await h.docker.getContainer(name).stop({ t: 10 });
        await converge(`${name} gone`);
      }
      return { convergeMs: performance.now() - t0, note: `${old.length} replaced one by one (start new, wait in nginx, docker stop old)` };
    });

    await phase('traffic: docker stop of one backend', '0 failed', async () => {
      const [victim, port] = [...(await h.running())][0]!;
      const addr = `${h.ip}:${port}`;
      const t0 = performance.now();
      const stopping = h.docker.getContainer(victim).stop({ t: 10 });
      await fleet.edge.waitMembers((m) => !m.includes(addr), 30_000, 'stopped backend out of nginx');
      const ms = performance.now() - t0;
      await stopping;
      await converge('stopped backend gone');
      await fleet.addContainer(h);
      await converge('replacement up');
      return { convergeMs: ms, note: `converge = docker stop issued → out of nginx (the container keeps serving DRAIN = 2 s)` };
    });

    await phase('traffic: docker kill of one backend (crash)', '≤ in-flight on it', async (l) => {
      const victim = [...(await h.running()).keys()][0]!;
      const inflight = await l.inflight();
      const t0 = performance.now();
      await h.docker.getContainer(victim).kill();
      await fleet.edge.waitMembers((m) => m.length === 2, 30_000, 'killed backend out of nginx');
      const ms = performance.now() - t0;
      await converge('killed backend gone');
      await fleet.addContainer(h);
      await converge('replacement up');
      return { convergeMs: ms, bound: inflight, note: `${inflight} requests in flight through nginx at the kill (upper bound of those on the killed backend)` };
    });
    return rows;
  } finally {
    load?.kill();
    kept?.kill();
    await fleet.destroy();
  }
}

function summarise(s: LoadSummary): string {
  const kinds = new Map<string, number>();
  for (const f of s.failures) kinds.set(f.error, (kinds.get(f.error) ?? 0) + 1);
  const at = s.failures.slice(0, 5).map((f) => f.at).join(',');
  return `${[...kinds].map(([k, n]) => `${n}× ${k}`).join(', ')} (at ms ${at})`;
}
