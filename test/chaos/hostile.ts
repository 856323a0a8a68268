/**
 * Scenario 6, the hostile input corpus (test/fixtures/hostile-records.json):
 * every case written to a real etcd (with auth) or set as Docker labels on a
 * real container, read by the real CLI (lbsync with the nginx and ELBv2
 * outputs, the docker sidekick). Each must be refused with a log line naming
 * it, none may reach the nginx config or an ELBv2 call, nothing crashes, the
 * valid records beside them stay, and no secret appears in any log.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Etcd3 } from 'etcd3';
import { Elbv2TestEndpoint } from '../elbv2/index.js';
import { ensureTestImage, removeTestContainers, RUN_ID, RUN_LABEL, runContainer, startBeacon, TestEtcd, waitFor, type Started } from '../harness/index.js';
import { Edge, logLines } from './edge.js';
import type { ChaosRow, ScenarioOptions } from './report.js';

interface HostileCase {
  id: string;
  kind: 'etcd' | 'label';
  what: string;
  key?: string;
  value?: string;
  json?: unknown;
  flat?: Record<string, string>;
  labels?: Record<string, string>;
}

export const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/hostile-records.json', import.meta.url));

export function loadCorpus(): HostileCase[] {
  return (JSON.parse(readFileSync(FIXTURE, 'utf8')) as { cases: HostileCase[] }).cases;
}

/** Expands the fixture's generated values: `@repeat:C:N` and `@nest:N`. */
function expand(value: unknown): unknown {
  if (typeof value === 'string') {
    const m = /^@repeat:(.):(\d+)$/.exec(value);
    return m ? m[1]!.repeat(Number(m[2])) : value;
  }
  if (Array.isArray(value)) return value.map(expand);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expand(v)]));
  return value;
}

function rawValue(c: HostileCase): string {
  if (c.value !== undefined) {
    const nest = /^@nest:(\d+)$/.exec(c.value);
    return nest ? '['.repeat(Number(nest[1])) + ']'.repeat(Number(nest[1])) : c.value;
  }
  return JSON.stringify(expand(c.json));
}

const LEAK = /canary|6\.6\.6\.6|6666/i;
const ETCD_PASSWORD = 'etcd-Secret-pw-4f1c9a';
const AWS_SECRET = 'aws-Secret-key-7d2e0b/SHOULDNEVERAPPEAR';

async function backend(name: string): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => res.end(req.url === '/health' ? 'ok\n' : `${name}\n`));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as { port: number }).port };
}

export async function hostile(o: ScenarioOptions): Promise<ChaosRow[]> {
  const corpus = loadCorpus();
  const etcd = new TestEtcd();
  const edge = new Edge();
  const elb = new Elbv2TestEndpoint({ healthyAfterMs: 100, vpcCidr: '127.0.0.0/8' });
  const servers: Server[] = [];
  let client: Etcd3 | undefined;
  let sidekick: Started | undefined;
  const sidekickLog = join(o.dir, 'hostile-sidekick.log');
  try {
    await etcd.start();
    const admin = (...args: string[]) => execFileSync('etcdctl', ['--endpoints', etcd.url, ...args], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: 'pipe' });
    admin('user', 'add', `root:${ETCD_PASSWORD}`);
    admin('auth', 'enable');
    client = etcd.client({ username: 'root', password: ETCD_PASSWORD });
    await elb.start();
    const arn = elb.state.createTargetGroup({ name: 'web', protocol: 'HTTP', port: 80, vpcId: 'vpc-0123456789abcdef0', targetType: 'ip' }).arn;
    const goods: string[] = [];
    for (let i = 1; i <= 3; i++) {
      const b = await backend(`good-${i}`);
      servers.push(b.server);
      goods.push(`127.0.0.1:${b.port}`);
    }
    const put = (instance: string, addr: string) =>
      client!.put(`/services/web/${instance}`).value(JSON.stringify({ service: 'web', instance, host: '127.0.0.1', port: Number(addr.split(':')[1]) }));
    await put('good-1', goods[0]!);
    await put('good-2', goods[1]!);
    const secrets = { BEACON_ETCD_PASSWORD: ETCD_PASSWORD, AWS_ACCESS_KEY_ID: 'AKIDCHAOSTEST', AWS_SECRET_ACCESS_KEY: AWS_SECRET, AWS_REGION: 'us-east-1' };
    await edge.start();
    const lbsync = edge.startLbsync({
      etcd: [etcd.url],
      env: secrets,
      extra: ['--etcd-user', 'root', '--log-level', 'debug', '--elbv2-target-group', `web=${arn}`, '--elbv2-endpoint', elb.url, '--elbv2-grace', '1s', '--resync', '5s'],
    });
    await edge.waitMembers((m) => m.length === 2, 20_000, 'good records in nginx');

    // The corpus: etcd cases all at once, label cases as real containers.
    const image = await ensureTestImage();
    sidekick = startBeacon(
      ['sidekick', 'docker', '--etcd', etcd.url, '--etcd-user', 'root', '--label-filter', `${RUN_LABEL}=${RUN_ID}`, '--node', 'chaos', '--ttl', '5s', '--log-level', 'debug'],
      sidekickLog,
      secrets,
    );
    const etcdCases = corpus.filter((c) => c.kind === 'etcd');
    const labelCases = corpus.filter((c) => c.kind === 'label');
    for (const c of etcdCases) {
      if (c.flat) for (const [field, v] of Object.entries(c.flat)) await client.put(`${c.key}/${field}`).value(v);
      else await client.put(c.key!).value(rawValue(c));
    }
    const containerOf = new Map<string, string>();
    for (const [i, c] of labelCases.entries()) {
      const name = `beacon-chaos-${o.runId}-hostile-${i}`;
      containerOf.set(c.id, name);
      await runContainer({ name, image, labels: c.labels!, publish: [80] });
    }
    const validName = `beacon-chaos-${o.runId}-valid`;
    const valid = await runContainer({ name: validName, image, labels: { SERVICE_NAME: 'web' }, publish: [80] });
    const validAddr = `127.0.0.1:${(await valid.inspect()).NetworkSettings.Ports['80/tcp']![0]!.HostPort}`;

    // Every etcd case logged by lbsync (by key), every label case by the sidekick (by container).
    const lbLogged = (c: HostileCase) =>
      logLines(edge.lbsyncLog).some((l) => typeof l.key === 'string' && (l.key === c.key || l.key.startsWith(`${c.key}/`)) && /skipped/.test(l.msg));
    const skLogged = (c: HostileCase) => logLines(sidekickLog).some((l) => l.name === containerOf.get(c.id) && /^refused/.test(l.msg));
    await waitFor(() => etcdCases.every(lbLogged) && labelCases.every(skLogged), 20_000, 'a log line for every case').catch(() => undefined);
    const unloggedEtcd = etcdCases.filter((c) => !lbLogged(c)).map((c) => c.id);
    const unloggedLabel = labelCases.filter((c) => !skLogged(c)).map((c) => c.id);

    // Valid records beside them: the good ones, the valid container, and one written after the corpus.
    const t0 = performance.now();
    await put('good-3', goods[2]!);
    const want = [...goods, validAddr].sort();
    const converged = await edge.waitMembers((m) => m.join() === want.join(), 20_000, 'valid records in nginx').then(
      () => true,
      () => false,
    );
    const convergeMs = performance.now() - t0;
    const elbOk = await waitFor(
      () => {
        const ids = elb.state.describeTargetHealth(arn).map((t) => `${t.id}:${t.port}`).sort();
        return ids.join() === want.join();
      },
      20_000,
      'valid targets in the ELBv2 group',
    ).then(
      () => true,
      () => false,
    );
    // One periodic resync (5 s) more, then look: a full listing that found the hostile records again.
    const seenLines = logLines(edge.lbsyncLog).length;
    const relisted = await waitFor(() => logLines(edge.lbsyncLog).slice(seenLines).some((l) => l.reason === 'periodic'), 30_000, 'one more periodic resync').then(
      () => true,
      () => false,
    );
    const conf = edge.liveConf();
    const confLeak = LEAK.test(conf) ? conf.split('\n').filter((l) => LEAK.test(l)) : [];
    const calls = elb.calls.records.filter((r) => r.action === 'RegisterTargets' || r.action === 'DeregisterTargets');
    const callLeak = calls.filter((r) => Object.values(r.params).some((v) => LEAK.test(v) || (/\.Id$/.test(v) && v !== '127.0.0.1')));
    const badIds = calls.flatMap((r) => Object.entries(r.params).filter(([k, v]) => /Targets\.member\.\d+\.Id$/.test(k) && v !== '127.0.0.1').map(([, v]) => v));
    const published = Object.keys(await client.getAll().prefix('/services/').strings()).filter((k) => /chaos:beacon-chaos-.*-hostile-/.test(k));
    const alive = lbsync.child.exitCode === null && sidekick.child.exitCode === null;
    const nginxOk = (await edge.nginxAccepts()).ok;

    // Secrets: in no log of anything that ran with them.
    const logs = [edge.lbsyncLog, sidekickLog, join(edge.nginx.prefix, 'logs', 'error.log')].map((f) => {
      try {
        return readFileSync(f, 'utf8');
      } catch {
        return '';
      }
    });
    const secretHits = logs.filter((t) => t.includes(ETCD_PASSWORD) || t.includes(AWS_SECRET) || t.includes('SHOULDNEVERAPPEAR')).length;
    const logLinesTotal = logs.reduce((n, t) => n + t.split('\n').length, 0);

    o.log(`hostile: unlogged etcd ${unloggedEtcd.join(',') || '-'}; unlogged labels ${unloggedLabel.join(',') || '-'}; conf leak ${confLeak.length}; call leak ${callLeak.length}; published hostile ${published.length}`);
    const rows: ChaosRow[] = [
      {
        scenario: `hostile: ${etcdCases.length} etcd records (JSON, types, sizes, control chars, injection, traversal, look-alikes)`,
        load: '-',
        requests: null,
        failed: null,
        convergeMs: null,
        lostOrStale: null,
        target: 'each refused + logged; 0 in nginx/ELBv2',
        met: relisted && unloggedEtcd.length === 0 && confLeak.length === 0 && callLeak.length === 0 && badIds.length === 0 && nginxOk,
        note: `${relisted ? '' : 'NO periodic resync seen before looking; '}${etcdCases.length - unloggedEtcd.length}/${etcdCases.length} logged by lbsync${unloggedEtcd.length ? ` (not logged: ${unloggedEtcd.join(', ')})` : ''}; nginx config lines with a hostile marker: ${confLeak.length}; ELBv2 register/deregister calls ${calls.length}, with a hostile value: ${callLeak.length + badIds.length}`,
      },
      {
        scenario: `hostile: ${labelCases.length} Docker label sets on real containers (sidekick)`,
        load: '-',
        requests: null,
        failed: null,
        convergeMs: null,
        lostOrStale: published.length,
        target: 'each refused + logged; 0 published',
        met: unloggedLabel.length === 0 && published.length === 0,
        note: `${labelCases.length - unloggedLabel.length}/${labelCases.length} refusals logged${unloggedLabel.length ? ` (not logged: ${unloggedLabel.join(', ')})` : ''}; hostile records in etcd: ${published.length}`,
      },
      {
        scenario: 'hostile: valid records beside them, no crash',
        load: '-',
        requests: null,
        failed: null,
        convergeMs,
        lostOrStale: converged ? 0 : 1,
        target: 'valid ones in nginx + ELBv2; processes alive',
        met: converged && elbOk && alive && nginxOk,
        note: `nginx members ${edge.members().length}/${want.length} (3 etcd records + 1 container), ELBv2 group ${elbOk ? 'matches' : 'DIFFERS'}, lbsync and sidekick ${alive ? 'alive' : 'CRASHED'}; converge = write of good-3 → nginx`,
      },
      {
        scenario: 'hostile: secrets in logs (etcd password, AWS secret key)',
        load: '-',
        requests: null,
        failed: null,
        convergeMs: null,
        lostOrStale: null,
        target: '0 occurrences',
        met: secretHits === 0,
        note: `${logLinesTotal} log lines at debug level searched, ${secretHits} logs contain a secret`,
      },
    ];
    return rows;
  } finally {
    await sidekick?.stop('SIGTERM');
    await removeTestContainers().catch(() => undefined);
    client?.close();
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
    await elb.stop();
    await edge.destroy();
    await etcd.destroy();
  }
}
