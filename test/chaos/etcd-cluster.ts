import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { freePort, startProcess, waitFor, type Started } from '../harness/index.js';

interface Member {
  name: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  proc?: Started;
}

export interface TestEtcdClusterOptions {
  size?: number;
  /**
   * Extra addresses every member also serves clients on (same port as on
   * 127.0.0.1): the root-side veth addresses, so a sidekick inside a host
   * namespace reaches the cluster over its link (loopback is per namespace).
   */
  extraListen?: string[];
}

/**
 * A real etcd cluster of `size` (default 3) members on loopback ports, each
 * with its own data dir under `dir`. Members can be killed and restarted
 * (with their data), the leader found, the whole cluster stopped and started.
 */
export class TestEtcdCluster {
  readonly members: Member[] = [];
  private readonly size: number;
  private readonly token = `beacon-chaos-${Math.random().toString(16).slice(2, 10)}`;

  constructor(readonly dir: string, private readonly options: TestEtcdClusterOptions = {}) {
    this.size = options.size ?? 3;
  }

  /** Client URLs on `host` (127.0.0.1, or one of the extra listen addresses). */
  urls(host = '127.0.0.1'): string[] {
    return this.members.map((m) => `http://${host}:${m.clientPort}`);
  }

  /**
   * Starts the members and waits for a leader. A cluster that elects none
   * (a member could not bind a port another process took after freePort()
   * found it free) is reported with each member's log and started once more
   * on fresh ports and data: the harness's race, not what a test checks.
   */
  async start(): Promise<this> {
    for (let attempt = 1; ; attempt++) {
      await this.create(attempt);
      try {
        await waitFor(async () => (await this.leader()) !== undefined, 30_000, 'etcd cluster leader', 100);
        return this;
      } catch (err) {
        const logs = this.members.map((m, i) => `--- ${m.name} (${m.proc?.child.exitCode === null ? 'running' : `exited ${m.proc?.child.exitCode}`}):\n${tail(join(this.dir, `etcd-${i}.log`))}`).join('\n');
        await this.destroy();
        this.members.length = 0;
        if (attempt >= 2) throw new Error(`${(err as Error).message}\n${logs}`);
        process.stderr.write(`etcd cluster elected no leader; starting it again on fresh ports. Its members' logs:\n${logs}\n`);
      }
    }
  }

  private async create(attempt: number): Promise<void> {
    const ports = new Set<number>();
    const port = async () => {
      for (;;) {
        const p = await freePort();
        if (!ports.has(p)) return ports.add(p), p;
      }
    };
    for (let i = 0; i < this.size; i++) {
      const dataDir = join(this.dir, `etcd-${i}${attempt > 1 ? `-${attempt}` : ''}`);
      mkdirSync(dataDir, { recursive: true });
      this.members.push({ name: `m${i}`, clientPort: await port(), peerPort: await port(), dataDir });
    }
    for (let i = 0; i < this.size; i++) this.spawn(i);
  }

  private spawn(i: number): void {
    const m = this.members[i]!;
    const cluster = this.members.map((x) => `${x.name}=http://127.0.0.1:${x.peerPort}`).join(',');
    const listen = ['127.0.0.1', ...(this.options.extraListen ?? [])].map((h) => `http://${h}:${m.clientPort}`).join(',');
    m.proc = startProcess(
      'etcd',
      [
        '--name', m.name,
        '--data-dir', m.dataDir,
        '--listen-client-urls', listen,
        '--advertise-client-urls', `http://127.0.0.1:${m.clientPort}`,
        '--listen-peer-urls', `http://127.0.0.1:${m.peerPort}`,
        '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peerPort}`,
        '--initial-cluster', cluster,
        '--initial-cluster-state', 'new',
        '--initial-cluster-token', this.token,
        '--log-level', 'error',
      ],
      join(this.dir, `etcd-${i}.log`),
    );
  }

  /** A client on every member (the caller closes it). */
  client(): Etcd3 {
    return new Etcd3({ hosts: this.urls().map((u) => u.replace('http://', '')) });
  }

  /** Index of the current leader, asked of every running member; undefined while there is none. */
  async leader(): Promise<number | undefined> {
    for (const [i, m] of this.members.entries()) {
      if (!m.proc) continue;
      const c = new Etcd3({ hosts: `127.0.0.1:${m.clientPort}`, dialTimeout: 1000 });
      try {
        const status = await Promise.race([
          c.maintenance.status(),
          new Promise<never>((_, reject) => setTimeout(() => reject(new Error('status timed out')), 1000)),
        ]);
        if (status.leader !== '0' && status.leader === status.header.member_id) return i;
      } catch {
        // this member does not answer
      } finally {
        c.close();
      }
    }
    return undefined;
  }

  /** Kills one member (SIGKILL: a crash), keeping its data. */
  async kill(i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const m = this.members[i]!;
    await m.proc?.stop(signal);
    delete m.proc;
  }

  /** Starts a stopped member again with its data. */
  async restart(i: number): Promise<void> {
    if (!this.members[i]!.proc) this.spawn(i);
    await waitFor(async () => (await this.leader()) !== undefined, 30_000, 'etcd leader after restart', 100);
  }

  /** Stops every member. */
  async stopAll(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await Promise.all(this.members.map((_, i) => this.kill(i, signal)));
  }

  /** Starts every stopped member and waits for a leader. */
  async startAll(): Promise<void> {
    for (const [i, m] of this.members.entries()) if (!m.proc) this.spawn(i);
    await waitFor(async () => (await this.leader()) !== undefined, 30_000, 'etcd leader after start', 50);
  }

  async destroy(): Promise<void> {
    await this.stopAll();
    for (const m of this.members) rmSync(m.dataDir, { recursive: true, force: true });
  }
}

/** The last lines of a log file, or a note that there is none. */
function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
