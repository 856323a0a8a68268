import { execFile, execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { BEACON_NODE_ARGS, RUN_LABEL, startProcess, TEST_LABEL, waitFor, type Started } from '../harness/index.js';

const run = promisify(execFile);

/** Every namespace, veth and directory of the chaos suite starts with this, then the run id. */
export const CHAOS_PREFIX = 'beacon-c';
/** The private /16 the simulated hosts live in: 10.251.<i>.0/24 per host link, 10.251.<100+i>.0/24 for its containers' bridge. Only exists inside our namespaces and veths. */
export const CHAOS_NET = '10.251';

export interface SidekickOptions {
  etcd: string[];
  ttl?: string;
  extra?: string[];
  env?: NodeJS.ProcessEnv;
}

export interface HostContainerOptions {
  name: string;
  service?: string;
  env?: Record<string, string>;
  labels?: Record<string, string>;
  /** Restart after a dockerd crash/restart (`--restart always`). */
  restartAlways?: boolean;
}

function sh(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(cmd, args, { maxBuffer: 16 * 1024 * 1024 });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Unmounts (lazily) every mount point under `dir`: a SIGKILLed dockerd leaves overlay and netns mounts behind. */
export function unmountUnder(dir: string): void {
  let mounts: string[] = [];
  try {
    mounts = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .map((p) => p.replace(/\\040/g, ' '))
      .filter((p) => p.startsWith(`${dir}/`));
  } catch {
    return;
  }
  for (const m of mounts.sort((a, b) => b.length - a.length)) {
    try {
      execFileSync('umount', ['-l', m], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
}

/**
 * One simulated host: a network namespace `beacon-c<run>-h<i>` joined to the
 * root namespace by a veth pair (root side 10.251.i.1, host side 10.251.i.2),
 * its own dockerd (started with nsenter, as ENVIRONMENT.md's verified recipe;
 * containers on a bridge inside the namespace with the userland proxy, no
 * iptables) and its own `beacon sidekick docker` advertising 10.251.i.2.
 */
export class NetnsHost {
  readonly name: string;
  readonly rootIf: string;
  readonly nsIf: string;
  readonly rootIp: string;
  readonly ip: string;
  readonly dir: string;
  readonly node: string;
  readonly docker: Docker;
  private dockerdPid: number | undefined;
  private sidekickProc: Started | undefined;
  private sidekickLogs = 0;

  constructor(readonly runId: string, readonly index: number, baseDir: string) {
    this.name = `${CHAOS_PREFIX}${runId}-h${index}`;
    this.rootIf = `${CHAOS_PREFIX}${runId}-${index}r`;
    this.nsIf = `${CHAOS_PREFIX}${runId}-${index}n`;
    this.rootIp = `${CHAOS_NET}.${this.octet}.1`;
    this.ip = `${CHAOS_NET}.${this.octet}.2`;
    this.dir = join(baseDir, `h${index}`);
    this.node = `h${index}`;
    this.docker = new Docker({ socketPath: this.socket });
  }

  /** 10.251.<slot*8+i>: the run id picks one of 12 slots, so two runs rarely share addresses. */
  get octet(): number {
    return (parseInt(this.runId, 16) % 12) * 8 + this.index;
  }

  get socket(): string {
    return join(this.dir, 'docker.sock');
  }

  get dockerHost(): string {
    return `unix://${this.socket}`;
  }

  /** Makes the namespace and the link. */
  async create(): Promise<this> {
    mkdirSync(this.dir, { recursive: true });
    await guardRoute();
    await sh('ip', ['netns', 'add', this.name]);
    await sh('ip', ['link', 'add', this.rootIf, 'type', 'veth', 'peer', 'name', this.nsIf]);
    await sh('ip', ['link', 'set', this.nsIf, 'netns', this.name]);
    await sh('ip', ['addr', 'add', `${this.rootIp}/24`, 'dev', this.rootIf]);
    await sh('ip', ['link', 'set', this.rootIf, 'up']);
    const inNs = (...args: string[]) => sh('ip', ['netns', 'exec', this.name, 'ip', ...args]);
    await inNs('addr', 'add', `${this.ip}/24`, 'dev', this.nsIf);
    await inNs('link', 'set', this.nsIf, 'up');
    await inNs('link', 'set', 'lo', 'up');
    return this;
  }

  /** Starts this host's dockerd inside the namespace and waits until it answers. */
  async startDockerd(): Promise<void> {
    const log = openSync(join(this.dir, 'dockerd.log'), 'a');
    const child = spawn(
      'nsenter',
      [
        `--net=/var/run/netns/${this.name}`,
        'dockerd',
        '-H', this.dockerHost,
        '--data-root', join(this.dir, 'data'),
        '--exec-root', join(this.dir, 'exec'),
        '--pidfile', join(this.dir, 'docker.pid'),
        '--iptables=false',
        '--ip-masq=false',
        '--bip', `${CHAOS_NET}.${100 + this.octet}.1/24`,
      ],
      { detached: true, stdio: ['ignore', log, log] },
    );
    closeSync(log);
    child.unref();
    this.dockerdPid = child.pid;
    await waitFor(() => this.docker.ping().then(() => true), 30_000, `dockerd of ${this.name} (log ${join(this.dir, 'dockerd.log')})`, 100);
  }

  /** Copies an image from the root dockerd into this host's. */
  async loadImage(image: string): Promise<void> {
    await sh('sh', ['-c', `docker save ${image} | DOCKER_HOST=${this.dockerHost} docker load -q`]);
  }

  /** Runs a test container on this host: port 80 published on every address of the namespace (a random host port). */
  async runContainer(options: HostContainerOptions, image = 'beacon-test/busybox:latest'): Promise<Docker.Container> {
    const container = await this.docker.createContainer({
      Image: image,
      name: options.name,
      Labels: { [TEST_LABEL]: '1', [RUN_LABEL]: this.runId, ...(options.service ? { SERVICE_NAME: options.service } : {}), ...options.labels },
      Env: Object.entries({ NAME: options.name, ...options.env }).map(([k, v]) => `${k}=${v}`),
      ExposedPorts: { '80/tcp': {} },
      HostConfig: {
        PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '' }] },
        ...(options.restartAlways ? { RestartPolicy: { Name: 'always' } } : {}),
      },
    });
    await container.start();
    return container;
  }

  /** Running containers of this host: name → published host port. */
  async running(): Promise<Map<string, number>> {
    const list = await this.docker.listContainers();
    const out = new Map<string, number>();
    for (const c of list) {
      const port = c.Ports.find((p) => p.PrivatePort === 80 && p.PublicPort)?.PublicPort;
      if (port) out.set(c.Names[0]!.replace(/^\//, ''), port);
    }
    return out;
  }

  /** Starts `beacon sidekick docker` inside the namespace (`ip netns exec`), advertising this host's address. */
  startSidekick(options: SidekickOptions): Started {
    const log = join(this.dir, `sidekick-${++this.sidekickLogs}.log`);
    this.sidekickProc = startProcess(
      'ip',
      [
        'netns', 'exec', this.name,
        process.execPath, ...BEACON_NODE_ARGS, 'sidekick', 'docker',
        '--docker-host', this.dockerHost,
        '--advertise-ip', this.ip,
        '--node', this.node,
        '--ttl', options.ttl ?? '3s',
        '--etcd', options.etcd.join(','),
        '--resync', '10s',
        ...(options.extra ?? []),
      ],
      log,
      { ...process.env, ...options.env },
    );
    return this.sidekickProc;
  }

  get sidekickLog(): string {
    return join(this.dir, `sidekick-${this.sidekickLogs}.log`);
  }

  async stopSidekick(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.sidekickProc?.stop(signal);
    this.sidekickProc = undefined;
  }

  /** dockerd's pid (from its pid file, else the one we spawned). */
  private currentDockerdPid(): number | undefined {
    try {
      return Number(readFileSync(join(this.dir, 'docker.pid'), 'utf8').trim()) || this.dockerdPid;
    } catch {
      return this.dockerdPid;
    }
  }

  /** Stops dockerd gracefully (it stops its containers), as `systemctl restart docker` would. */
  async stopDockerd(): Promise<void> {
    const pid = this.currentDockerdPid();
    if (!pid || !alive(pid)) return;
    process.kill(pid, 'SIGTERM');
    await waitFor(() => !alive(pid), 60_000, `dockerd ${pid} to stop`, 100);
  }

  /** Pids of the containers' main processes (they live in their own namespaces). */
  private async containerPids(): Promise<number[]> {
    try {
      const list = await this.docker.listContainers();
      const pids: number[] = [];
      for (const c of list) {
        const info = await this.docker.getContainer(c.Id).inspect();
        if (info.State.Pid) pids.push(info.State.Pid);
      }
      return pids;
    } catch {
      return [];
    }
  }

  /**
   * Halts the host without warning: SIGKILL to every process of the namespace
   * (sidekick, dockerd, containerd, shims, proxies) and to the containers.
   */
  async halt(): Promise<void> {
    const containers = await this.containerPids();
    const inNs = await this.pidsInNamespace();
    this.sidekickProc = undefined;
    for (const pid of [...inNs, ...containers]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    await waitFor(async () => (await this.pidsInNamespace()).length === 0 && containers.every((p) => !alive(p)), 10_000, `${this.name} to halt`, 50);
  }

  async pidsInNamespace(): Promise<number[]> {
    try {
      const { stdout } = await sh('ip', ['netns', 'pids', this.name]);
      return stdout.split('\n').map(Number).filter((n) => n > 0);
    } catch {
      return [];
    }
  }

  /**
   * Cuts the host's only link on the host's side: the root end loses carrier
   * but keeps its route (so nothing for 10.251.i.2 can take the default
   * route), the host loses its route to everything.
   */
  async linkDown(): Promise<void> {
    await sh('ip', ['netns', 'exec', this.name, 'ip', 'link', 'set', this.nsIf, 'down']);
  }

  async linkUp(): Promise<void> {
    await sh('ip', ['netns', 'exec', this.name, 'ip', 'link', 'set', this.nsIf, 'up']);
  }

  /** Kills everything of this host and removes the namespace, the link and the data dir. Never throws. */
  async destroy(): Promise<void> {
    await this.halt().catch(() => undefined);
    await destroyNamespace(this.name, this.rootIf, this.dir);
  }
}

/**
 * A safety net for the network rules: `unreachable 10.251.0.0/16` in the root
 * namespace, so an address of a host whose link is gone can never fall
 * through to the default route. Each link's own /24 is more specific.
 */
export async function guardRoute(): Promise<void> {
  await sh('ip', ['route', 'replace', 'unreachable', `${CHAOS_NET}.0.0/16`]);
}

export async function removeGuardRoute(): Promise<void> {
  await sh('ip', ['route', 'del', 'unreachable', `${CHAOS_NET}.0.0/16`]).catch(() => undefined);
}

/** Removes one namespace, its root-side veth and a data dir; kills what still runs in the namespace first. */
async function destroyNamespace(name: string, rootIf: string | undefined, dir: string | undefined): Promise<void> {
  try {
    const { stdout } = await sh('ip', ['netns', 'pids', name]);
    for (const pid of stdout.split('\n').map(Number).filter((n) => n > 0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  } catch {
    // namespace gone
  }
  if (dir) unmountUnder(dir);
  await sh('ip', ['netns', 'del', name]).catch(() => undefined);
  if (rootIf) await sh('ip', ['link', 'del', rootIf]).catch(() => undefined);
  if (dir) rmSync(dir, { recursive: true, force: true });
}

/**
 * Removes leftovers of an earlier, crashed chaos run of this suite: namespaces
 * and links named `beacon-c<run>-…` and their data dirs under `baseParent`.
 */
export async function cleanupLeftovers(baseParent: string): Promise<string[]> {
  const removed: string[] = [];
  const { stdout } = await sh('ip', ['netns', 'list']).catch(() => ({ stdout: '' }));
  for (const line of stdout.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    if (!/^beacon-c[0-9a-f]{4}-h\d+$/.test(name)) continue;
    const m = /^beacon-c([0-9a-f]{4})-h(\d+)$/.exec(name)!;
    if (ownerAlive(baseParent, m[1]!)) continue;
    await destroyNamespace(name, `${CHAOS_PREFIX}${m[1]}-${m[2]}r`, undefined);
    removed.push(name);
  }
  const links = await sh('ip', ['-o', 'link', 'show']).catch(() => ({ stdout: '' }));
  for (const line of links.stdout.split('\n')) {
    const name = /^\d+:\s+([^@:]+)/.exec(line)?.[1];
    if (name && /^beacon-c[0-9a-f]{4}-\d+[rn]$/.test(name) && !ownerAlive(baseParent, name.slice(8, 12))) {
      await sh('ip', ['link', 'del', name]).catch(() => undefined);
      removed.push(name);
    }
  }
  const dirs = await sh('sh', ['-c', `ls -d ${baseParent}/beacon-chaos-* 2>/dev/null || true`]);
  for (const dir of dirs.stdout.split('\n').filter(Boolean)) {
    if (ownerAlive(baseParent, dir.slice(dir.lastIndexOf('beacon-chaos-') + 13))) continue;
    // A leftover dockerd of ours may still run outside any namespace we know (namespace already deleted).
    for (const pidFile of (await sh('sh', ['-c', `ls ${dir}/h*/docker.pid 2>/dev/null || true`])).stdout.split('\n').filter(Boolean)) {
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      if (pid && alive(pid)) {
        try {
          const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
          if (cmd.includes(dir)) process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    unmountUnder(dir);
    rmSync(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  if (removed.length) await removeGuardRoute();
  return removed;
}

/** True while the run that owns `/beacon-chaos-<runId>` (its owner.pid) is alive: never clean up a live run. */
function ownerAlive(baseParent: string, runId: string): boolean {
  try {
    const pid = Number(readFileSync(join(baseParent, `beacon-chaos-${runId}`, 'owner.pid'), 'utf8'));
    return pid > 0 && pid !== process.pid && alive(pid);
  } catch {
    return false;
  }
}
