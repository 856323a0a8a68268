import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { freePort, waitFor } from './ports.js';
import { startProcess, type Started } from './processes.js';

/** A throwaway single-member etcd on free loopback ports, with its own data dir. */
export class TestEtcd {
  readonly dataDir: string;
  private proc: Started | undefined;
  clientPort = 0;
  peerPort = 0;

  constructor(private readonly extraArgs: string[] = []) {
    this.dataDir = mkdtempSync(join(tmpdir(), 'beacon-etcd-'));
  }

  get url(): string {
    return `http://127.0.0.1:${this.clientPort}`;
  }

  /** Starts etcd (again, keeping the data dir and ports on restart) and waits until it answers. */
  async start(): Promise<this> {
    if (!this.clientPort) {
      this.clientPort = await freePort();
      this.peerPort = await freePort();
    }
    const client = `http://127.0.0.1:${this.clientPort}`;
    const peer = `http://127.0.0.1:${this.peerPort}`;
    this.proc = startProcess(
      'etcd',
      [
        '--name', 'test',
        '--data-dir', this.dataDir,
        '--listen-client-urls', client,
        '--advertise-client-urls', client,
        '--listen-peer-urls', peer,
        '--initial-advertise-peer-urls', peer,
        '--initial-cluster', `test=${peer}`,
        '--log-level', 'error',
        ...this.extraArgs,
      ],
      join(this.dataDir, 'etcd.log'),
    );
    await waitFor(async () => {
      const c = this.client();
      try {
        await c.get('health-probe').string();
        return true;
      } finally {
        c.close();
      }
    }, 15_000, `etcd on ${client}`);
    return this;
  }

  /** A plain etcd3 client for assertions; the caller closes it. */
  client(): Etcd3 {
    return new Etcd3({ hosts: `127.0.0.1:${this.clientPort}` });
  }

  /** Stops etcd (SIGKILL for a crash, SIGTERM for a clean stop), keeping its data. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.proc?.stop(signal);
    this.proc = undefined;
  }

  /** Stops etcd and removes its data dir. */
  async destroy(): Promise<void> {
    await this.stop('SIGKILL');
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
