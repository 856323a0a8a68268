import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { runContainer, startBeacon, TestNginx, waitFor, type Started } from '../../harness/index.js';
import { LOG_DIR, nodeRecords, readLines, sidekickSuite, uniqueName, waitForLog, waitForNode, type SidekickProcess } from './helpers.js';

/** TCP ports a process listens on, from its socket fds and /proc/net/tcp{,6}. */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // the fd closed while we looked
    }
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // st 0A = LISTEN; column 9 is the inode.
      if (cols[3] === '0A' && inodes.has(cols[9]!)) ports.push(parseInt(cols[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

const alive = (p: Started) => p.child.exitCode === null && p.child.signalCode === null;

/** The bit of SIGUSR1 (10) in one of /proc/PID/status's signal masks (SigBlk, SigCgt). */
function sigusr1In(pid: number, mask: 'SigBlk' | 'SigCgt'): boolean {
  const hex = new RegExp(`^${mask}:\\s*([0-9a-f]+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '0';
  return (BigInt(`0x${hex}`) & (1n << 9n)) !== 0n;
}

/**
 * Sends each signal a daemon must outlive and checks it logged SIGHUP and
 * SIGPIPE and did not open the inspector. The executable's --disable-sigusr1
 * keeps SIGUSR1 blocked (no inspector, no log line); it goes first, so the
 * two lines after it show the process went on handling signals.
 */
async function survivesSignals(proc: Started, lines: () => Array<Record<string, unknown>>): Promise<void> {
  const before = listeningPorts(proc.pid);
  process.kill(proc.pid, 'SIGUSR1');
  for (const signal of ['SIGHUP', 'SIGPIPE'] as const) {
    process.kill(proc.pid, signal);
    await waitFor(() => lines().find((l) => l.signal === signal && String(l.msg).startsWith(`ignored ${signal}`)), 15_000, `a log line for ${signal}`);
    assert.ok(alive(proc), `still running after SIGUSR1 and ${signal}`);
  }
  assert.deepEqual(listeningPorts(proc.pid), before, 'SIGUSR1 opened no inspector port');
}

describe('daemons and signals: SIGHUP, SIGPIPE, SIGUSR1, EPIPE survived; SIGTERM cleans up (real processes)', function () {
  const suite = sidekickSuite();

  function sidekick(): SidekickProcess {
    // A 60 s TTL: records gone right after SIGTERM can only be the revoked lease.
    return suite.sidekick(['--ttl', '60s']);
  }

  it('the docker sidekick outlives SIGUSR1, and SIGHUP and SIGPIPE with a log line each, keeps publishing, and revokes its lease on SIGTERM', async () => {
    const sk = sidekick();
    const name = uniqueName('sig');
    await runContainer({ labels: { SERVICE_NAME: name }, publish: [80] });
    await waitForNode(suite.client, sk.node, (rs) => rs.length === 1, 'published');
    await survivesSignals(sk, () => sk.lines());
    await runContainer({ labels: { SERVICE_NAME: name }, publish: [80] });
    await waitForNode(suite.client, sk.node, (rs) => rs.length === 2, 'a container started after the signals published');

    await sk.stop('SIGTERM');
    assert.equal(sk.child.exitCode, 0);
    assert.equal((await nodeRecords(suite.client, sk.node)).length, 0, 'records gone at once: the lease was revoked');
    await waitForLog(sk, (l) => String(l.msg).startsWith('stopped on SIGTERM'), 'stopped on SIGTERM');
  });

  it('the docker sidekick outlives a closed stderr (EPIPE) and still revokes its lease on SIGTERM', async () => {
    const sk = sidekick();
    const name = uniqueName('epipe');
    await runContainer({ labels: { SERVICE_NAME: name }, publish: [80] });
    await waitForNode(suite.client, sk.node, (rs) => rs.length === 1, 'published');
    // The reader of its stderr goes away, as `beacon sidekick docker 2>&1 | head` would.
    sk.child.stderr!.unpipe();
    sk.child.stderr!.destroy();
    // Publishing it logs a line, i.e. writes into the broken pipe.
    await runContainer({ labels: { SERVICE_NAME: name }, publish: [80] });
    await waitForNode(suite.client, sk.node, (rs) => rs.length === 2, 'published with stderr gone');
    assert.ok(alive(sk), 'still running');
    await sk.stop('SIGTERM');
    assert.equal(sk.child.exitCode, 0);
    assert.equal((await nodeRecords(suite.client, sk.node)).length, 0, 'the lease was revoked');
  });

  it('the announce sidekick outlives SIGHUP, SIGPIPE and SIGUSR1 and revokes its lease on SIGTERM', async () => {
    const log = join(LOG_DIR, `announce-signals-${Date.now()}.log`);
    const service = uniqueName('ann');
    const ann = startBeacon(['sidekick', 'announce', '--etcd', suite.etcd.url, '--service', service, '--port', '8080', '--host', '127.0.0.1', '--ttl', '60s'], log);
    suite.track(ann);
    const key = async () => suite.client.getAll().prefix(`/services/${service}/`).keys();
    await waitFor(async () => (await key()).length === 1, 15_000, 'announced');
    await survivesSignals(ann, () => readLines(log));
    assert.equal((await key()).length, 1, 'still announced');
    await ann.stop('SIGTERM');
    assert.equal(ann.child.exitCode, 0);
    assert.deepEqual(await key(), [], 'revoked at once');
  });

  it('a SIGUSR1 while the announce sidekick starts, before any handler of its own exists, opens no inspector and does not stop it', async () => {
    const log = join(LOG_DIR, `announce-early-usr1-${Date.now()}.log`);
    const service = uniqueName('early');
    const ann = startBeacon(['sidekick', 'announce', '--etcd', suite.etcd.url, '--service', service, '--port', '8080', '--host', '127.0.0.1', '--ttl', '60s'], log);
    suite.track(ann);
    // Node has taken SIGUSR1 over (blocked by --disable-sigusr1; caught by the inspector's handler without it) ...
    const deadline = Date.now() + 10_000;
    while (!sigusr1In(ann.pid, 'SigBlk') && !sigusr1In(ann.pid, 'SigCgt') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    // ... and neither Node's inspector nor beacon has a handler for it yet: this is start-up.
    assert.equal(sigusr1In(ann.pid, 'SigCgt'), false, 'a SIGUSR1 handler was already installed (the inspector\'s, or beacon\'s: not start-up any more)');
    process.kill(ann.pid, 'SIGUSR1');
    await waitFor(async () => (await suite.client.getAll().prefix(`/services/${service}/`).keys()).length === 1, 15_000, 'announced after the SIGUSR1');
    assert.ok(alive(ann), 'still running');
    assert.ok(!listeningPorts(ann.pid).includes(9229), 'no inspector port');
    assert.doesNotMatch(readFileSync(log, 'utf8'), /Debugger listening/);
    await ann.stop('SIGTERM');
    assert.equal(ann.child.exitCode, 0);
  });

  it('lbsync outlives SIGUSR1, and SIGHUP and SIGPIPE with a log line each, and keeps rendering', async () => {
    const nginx = await new TestNginx().start();
    try {
      const file = join(nginx.confDir, 'conf.d', 'beacon.conf');
      const log = join(nginx.prefix, 'lbsync.log');
      const lbsync = startBeacon(['lbsync', '--etcd', suite.etcd.url, '--health', 'off', '--nginx-conf', file, '--nginx-test', nginx.command('-t'), '--nginx-reload', nginx.command('-s', 'reload')], log);
      suite.track(lbsync);
      const service = uniqueName('lb');
      await suite.client.put(`/services/${service}/a`).value(JSON.stringify({ service, instance: 'a', host: '127.0.0.1', port: 18001 }));
      await waitFor(() => /server 127\.0\.0\.1:18001/.test(readFileSync(file, 'utf8')), 20_000, 'the first record rendered');
      await survivesSignals(lbsync, () => readLines(log));
      await suite.client.put(`/services/${service}/b`).value(JSON.stringify({ service, instance: 'b', host: '127.0.0.1', port: 18002 }));
      await waitFor(() => /server 127\.0\.0\.1:18002/.test(readFileSync(file, 'utf8')), 20_000, 'a record put after the signals rendered');
      await lbsync.stop('SIGTERM');
      assert.equal(lbsync.child.exitCode, 0);
      await suite.client.delete().prefix(`/services/${service}/`).exec();
    } finally {
      await nginx.destroy();
    }
  });
});
