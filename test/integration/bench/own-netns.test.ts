import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const OWN_NETNS = fileURLToPath(new URL('../../../bench/own-netns.js', import.meta.url));

/** A script that re-runs itself in its own namespace and, there, opens loopback connections and reports what it sees. */
const SCRIPT = `
import { readFileSync, readlinkSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { ownNetns, rerunInOwnNetns } from ${JSON.stringify(OWN_NETNS)};
const code = await rerunInOwnNetns('t');
if (code !== undefined) process.exit(code);
const server = createServer((s) => s.end()).listen(0, '127.1.0.9');
await new Promise((r) => server.once('listening', r));
for (let i = 0; i < 50; i++) await new Promise((r) => connect(server.address().port, '127.1.0.9').on('close', r).resume());
server.close();
const tracked = Number(readFileSync('/proc/sys/net/netfilter/nf_conntrack_count', 'utf8'));
console.log(JSON.stringify({ ns: ownNetns(), net: readlinkSync('/proc/self/ns/net'), tracked }));
process.exit(7);
`;

describe('bench: a run in a network namespace of its own (bench/own-netns.ts, real ip netns)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'beacon-own-netns-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs the command again in a fresh namespace with its own loopback and nothing tracked, passes its exit code on, and removes the namespace', () => {
    const script = join(dir, 'probe.mjs');
    writeFileSync(script, SCRIPT);
    const run = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.status, 7, `exit code passed on; stderr: ${run.stderr}`);
    const seen = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { ns: string; net: string; tracked: number };
    assert.match(seen.ns, /^beacon-b-t-\d+$/);
    assert.notEqual(seen.net, readlinkSync('/proc/self/ns/net'), 'a namespace other than this one');
    assert.equal(seen.tracked, 0, '50 loopback connections there, none tracked');
    assert.ok(!execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(seen.ns), 'the namespace is gone');
  });
});
