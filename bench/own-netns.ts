/**
 * Runs a bench again inside a network namespace of its own, then removes the
 * namespace. The root namespace's connection tracking table is the machine's
 * (Docker's NAT rules turn tracking on there), shared with everything else
 * that runs on it: a deploy's thousands of new nginx → backend connections a
 * second, each tracked for 120 s after it closes, filled its 262,144 entries,
 * and the kernel then dropped new SYNs, failing requests to live servers for
 * a reason that was not the bench's subject. A fresh namespace has no
 * netfilter rules, so nothing in it is tracked: the same processes and the
 * same traffic, on a loopback of their own, as on an edge host that exempts
 * its traffic from tracking (docs/scale.md).
 */
import { execFileSync, spawn } from 'node:child_process';

/** Set in the re-run: its namespace's name. */
const INSIDE = 'BEACON_BENCH_NETNS';

/** The namespace this process runs in, when a bench put it in one of its own. */
export function ownNetns(): string | undefined {
  return process.env[INSIDE];
}

/**
 * Outside: runs this process's command line again in a new namespace
 * (`beacon-b-<tag>-<pid>`), passing SIGINT/SIGTERM on, and resolves with its
 * exit code once the namespace is gone. Inside: resolves undefined at once.
 */
export async function rerunInOwnNetns(tag: string): Promise<number | undefined> {
  if (ownNetns()) return undefined;
  const name = `beacon-b-${tag}-${process.pid}`;
  execFileSync('ip', ['netns', 'add', name]);
  try {
    execFileSync('ip', ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
    // `ip netns exec` execs node itself, so the child's pid is node's: signals reach it.
    const child = spawn('ip', ['netns', 'exec', name, process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
      stdio: 'inherit',
      env: { ...process.env, [INSIDE]: name },
    });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    return await new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
  } finally {
    execFileSync('ip', ['netns', 'del', name]);
  }
}
