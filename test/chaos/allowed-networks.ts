/**
 * Scenario 5, where traffic may go: `lbsync --allowed-networks` through the
 * real CLI. Every address used is loopback (the allowed net is 127.0.0.0/24,
 * the "outside" ones are other loopback addresses, ::1, 0.0.0.0 and a DNS
 * name), so even a filter that failed would not send a packet off the machine.
 */
import { createServer, type Server } from 'node:http';
import type { Etcd3 } from 'etcd3';
import { TestEtcd, waitFor } from '../harness/index.js';
import { Edge, logLines } from './edge.js';
import type { ChaosRow, ScenarioOptions } from './report.js';

export const OUTSIDE: Array<[string, string]> = [
  ['out-loopback-net', '127.0.1.5'],
  ['out-other-loopback', '127.9.9.9'],
  ['out-ipv6', '::1'],
  ['out-unspecified', '0.0.0.0'],
  ['out-dns-name', 'localhost'],
];

export async function allowedNetworksScenario(o: ScenarioOptions): Promise<ChaosRow[]> {
  const etcd = new TestEtcd();
  const edge = new Edge();
  const servers: Server[] = [];
  let client: Etcd3 | undefined;
  try {
    await etcd.start();
    client = etcd.client();
    const goods: string[] = [];
    for (let i = 0; i < 2; i++) {
      const s = createServer((req, res) => res.end(`good-${i}\n`));
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
      servers.push(s);
      const port = (s.address() as { port: number }).port;
      goods.push(`127.0.0.1:${port}`);
      await client.put(`/services/web/good-${i}`).value(JSON.stringify({ service: 'web', instance: `good-${i}`, host: '127.0.0.1', port }));
    }
    const put = (instance: string, host: string) => client!.put(`/services/web/${instance}`).value(JSON.stringify({ service: 'web', instance, host, port: 8080 }));
    for (const [inst, host] of OUTSIDE) await put(inst, host);
    await edge.start();
    edge.startLbsync({ etcd: [etcd.url], extra: ['--allowed-networks', '127.0.0.0/24', '--resync', '1s', '--log-level', 'debug'] });
    const t0 = performance.now();
    await edge.waitMembers((m) => m.join() === [...goods].sort().join(), 20_000, 'only the allowed records');
    const ms = performance.now() - t0;
    // The same values written again, and a few periodic resyncs that listed
    // them (their revision is past the writes): still one line per dropped record.
    let rev = 0;
    for (const [inst, host] of OUTSIDE) rev = Number((await put(inst, host)).header.revision);
    const resyncs = o.short ? 2 : 4;
    const relisted = await waitFor(
      () => logLines(edge.lbsyncLog).filter((l) => l.reason === 'periodic' && Number(l.revision) >= rev).length >= resyncs,
      30_000,
      `${resyncs} periodic resyncs after the writes`,
    ).then(
      () => true,
      () => false,
    );
    const members = edge.members();
    const lines = logLines(edge.lbsyncLog);
    const counts = OUTSIDE.map(([inst]) => lines.filter((l) => JSON.stringify(l).includes(`web/${inst}`)).length);
    const leaked = members.filter((m) => !goods.includes(m));
    const onceEach = counts.every((n) => n === 1);
    return [
      {
        scenario: `allowed networks: ${OUTSIDE.length} records outside --allowed-networks`,
        load: '-',
        requests: null,
        failed: null,
        convergeMs: ms,
        lostOrStale: leaked.length,
        target: 'dropped from nginx, each logged once',
        met: relisted && leaked.length === 0 && members.length === goods.length && onceEach,
        note: `${relisted ? '' : `NO ${resyncs} periodic resyncs seen after the writes; `}in nginx: ${members.length} (the ${goods.length} allowed); log lines per dropped record: ${OUTSIDE.map(([inst], i) => `${inst}=${counts[i]}`).join(', ')}`,
      },
    ];
  } finally {
    client?.close();
    for (const s of servers) s.close();
    await edge.destroy();
    await etcd.destroy();
  }
}
