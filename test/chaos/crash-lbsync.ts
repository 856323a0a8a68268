/**
 * Scenario 3 (lbsync side): kill -9 at random moments during 100 rapid
 * changes, and an etcd compaction while lbsync is cut off.
 */
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { promisify } from 'node:util';
import type { Etcd3 } from 'etcd3';
import { TcpProxy, TestEtcd, waitFor } from '../harness/index.js';
import { Edge, logLines } from './edge.js';
import { same } from './fleet.js';
import type { ChaosRow, ScenarioOptions } from './report.js';

const run = promisify(execFile);

async function backends(n: number): Promise<{ servers: Server[]; ports: number[] }> {
  const servers: Server[] = [];
  const ports: number[] = [];
  for (let i = 0; i < n; i++) {
    const server = createServer((req, res) => res.end(req.url === '/health' ? 'ok\n' : `b${i}\n`));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    servers.push(server);
    ports.push((server.address() as { port: number }).port);
  }
  return { servers, ports };
}

async function recordAddrs(client: Etcd3): Promise<string[]> {
  const all = await client.getAll().prefix('/services/web/').strings();
  return Object.values(all)
    .map((v) => {
      const r = JSON.parse(v) as { host: string; port: number };
      return `${r.host}:${r.port}`;
    })
    .sort();
}

/** Distinct addresses: nginx writes one server line per address. */
const distinct = (list: string[]) => [...new Set(list)].sort();

export async function crashLbsync(o: ScenarioOptions): Promise<ChaosRow[]> {
  const rows: ChaosRow[] = [];
  const etcd = new TestEtcd();
  const edge = new Edge();
  let proxy: TcpProxy | undefined;
  let client: Etcd3 | undefined;
  const { servers, ports } = await backends(12);
  try {
    await etcd.start();
    client = etcd.client();
    await edge.start();

    // (a) kill -9 at random moments during 100 rapid changes.
    const changes = 100;
    const rnd = (n: number) => Math.floor(Math.random() * n);
    for (let i = 0; i < 4; i++) await client.put(`/services/web/i${i}`).value(JSON.stringify({ service: 'web', instance: `i${i}`, host: '127.0.0.1', port: ports[i] }));
    edge.startLbsync({ etcd: [etcd.url] });
    await edge.waitMembers((m) => m.length === 4, 20_000, 'first records');
    let writing = true;
    const writer = (async () => {
      for (let i = 0; i < changes; i++) {
        const inst = `i${rnd(10)}`;
        // Keep at least one record: deletes only when more than 2 remain.
        if (rnd(3) === 0 && (await recordAddrs(client!)).length > 2) await client!.delete().key(`/services/web/${inst}`);
        else await client!.put(`/services/web/${inst}`).value(JSON.stringify({ service: 'web', instance: inst, host: '127.0.0.1', port: ports[rnd(ports.length)] }));
        await new Promise((r) => setTimeout(r, 10 + rnd(60)));
      }
      writing = false;
    })();
    let kills = 0;
    const invalid: string[] = [];
    while (writing) {
      await new Promise((r) => setTimeout(r, 50 + rnd(400)));
      await edge.stopLbsync('SIGKILL');
      kills++;
      const check = await edge.nginxAccepts();
      if (!check.ok) invalid.push(check.output.split('\n').slice(0, 2).join(' '));
      edge.startLbsync({ etcd: [etcd.url] });
    }
    await writer;
    await edge.stopLbsync('SIGKILL');
    kills++;
    const finalCheck = await edge.nginxAccepts();
    if (!finalCheck.ok) invalid.push(finalCheck.output);
    const t0 = performance.now();
    edge.startLbsync({ etcd: [etcd.url] });
    const want = distinct(await recordAddrs(client));
    const ok = await edge.waitMembers((m) => same(m, want), 20_000, 'converged after the last restart').then(
      () => true,
      () => false,
    );
    const ms = performance.now() - t0;
    const members = edge.members();
    const lostStale = want.filter((w) => !members.includes(w)).length + members.filter((m) => !want.includes(m)).length;
    // Is nginx itself still serving the result?
    const served = await fetch(edge.url).then((r) => r.status === 200, () => false);
    rows.push({
      scenario: `crash: lbsync kill -9 at random moments during ${changes} rapid changes`,
      load: '-',
      requests: null,
      failed: null,
      convergeMs: ms,
      lostOrStale: lostStale,
      target: 'nginx -t valid after every kill; converged after restart',
      met: invalid.length === 0 && ok && lostStale === 0 && served,
      note: `${kills} kills, nginx -t failed after ${invalid.length}${invalid.length ? ` (${invalid[0]})` : ''}; converge = start of the last lbsync → nginx matches etcd (${want.length} addresses); nginx ${served ? 'serves' : 'DOES NOT serve'}`,
    });
    o.log(JSON.stringify(rows.at(-1)));
    await edge.stopLbsync('SIGKILL');

    // (b) etcd compaction while lbsync is disconnected: a full resync, nothing missed.
    proxy = await new TcpProxy(etcd.clientPort).start();
    edge.startLbsync({ etcd: [`http://127.0.0.1:${proxy.port}`] });
    const before = distinct(await recordAddrs(client));
    await edge.waitMembers((m) => same(m, before), 20_000, 'lbsync via the proxy');
    // The live file is still the last lbsync's: wait until this one has listed and watches.
    await waitFor(() => logLines(edge.lbsyncLog).some((l) => /^started lbsync/.test(l.msg)), 20_000, 'lbsync started via the proxy');
    await new Promise((r) => setTimeout(r, 300));
    await proxy.cut();
    await new Promise((r) => setTimeout(r, 1000)); // lbsync notices and retries meanwhile
    let rev = 0;
    for (let i = 0; i < 30; i++) {
      const inst = `c${i % 8}`;
      const res =
        i % 5 === 4
          ? await client.delete().key(`/services/web/i${i % 10}`).exec()
          : await client.put(`/services/web/${inst}`).value(JSON.stringify({ service: 'web', instance: inst, host: '127.0.0.1', port: ports[(i * 7) % ports.length] })).exec();
      rev = Number(res.header.revision);
    }
    await run('etcdctl', ['--endpoints', etcd.url, 'compact', String(rev)], { env: { ...process.env, ETCDCTL_API: '3' } });
    const after = distinct(await recordAddrs(client));
    await new Promise((r) => setTimeout(r, 1000));
    const t1 = performance.now();
    await proxy.restore();
    const ok2 = await edge.waitMembers((m) => same(m, after), 20_000, 'resync after compaction').then(
      () => true,
      () => false,
    );
    const ms2 = performance.now() - t1;
    const m2 = edge.members();
    const lost2 = after.filter((w) => !m2.includes(w)).length + m2.filter((m) => !after.includes(m)).length;
    const lbLines = logLines(edge.lbsyncLog);
    const resynced = lbLines.some((l) => l.reason === 'compacted');
    if (!resynced) o.log(`compaction: lbsync log after restore: ${lbLines.filter((l) => /listed|resumed|lost|watch/.test(l.msg)).map((l) => l.msg).join(' | ')}`);
    rows.push({
      scenario: 'crash: etcd compaction while lbsync is cut off',
      load: '-',
      requests: null,
      failed: null,
      convergeMs: ms2,
      lostOrStale: lost2,
      target: 'full resync (reason compacted), 0 missed',
      met: ok2 && lost2 === 0 && resynced,
      note: `30 changes + compaction at revision ${rev} while cut; lbsync ${resynced ? 'logged a full listing (compacted)' : 'did NOT log a compacted resync'}; converge = link restored → nginx matches etcd`,
    });
    o.log(JSON.stringify(rows.at(-1)));
    return rows;
  } finally {
    await proxy?.cut().catch(() => undefined);
    client?.close();
    await edge.destroy();
    await etcd.destroy();
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
  }
}
