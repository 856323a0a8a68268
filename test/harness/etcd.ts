import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { freePort, waitFor } from './ports.js';
import { startProcess, type Started } from './processes.js';
import type { TestPki } from './tls.js';

export interface TestEtcdOptions {
  /** Extra etcd flags. */
  args?: string[];
  /** Serve clients over TLS with this PKI and require client certificates. */
  tls?: TestPki;
}

/** A throwaway single-member etcd on free loopback ports, with its own data dir. */
export class TestEtcd {
  readonly dataDir: string;
  private proc: Started | undefined;
  clientPort = 0;
  peerPort = 0;

  constructor(private readonly options: TestEtcdOptions = {}) {
    this.dataDir = mkdtempSync(join(tmpdir(), 'beacon-etcd-'));
  }

  get url(): string {
    return `${this.options.tls ? 'https' : 'http'}://127.0.0.1:${this.clientPort}`;
  }

  /**
   * Starts etcd (again, keeping the data dir and ports on restart) and waits
   * until it answers. A first start whose port was taken between freePort()
   * and etcd's bind (any outgoing connection may get it as its ephemeral
   * port) starts again on fresh ports; any other early exit fails at once,
   * with the end of etcd's log.
   */
  async start(): Promise<this> {
    const first = !this.clientPort;
    for (let attempt = 1; ; attempt++) {
      if (first && attempt > 1) this.clientPort = 0;
      if (!this.clientPort) {
        this.clientPort = await freePort();
        this.peerPort = await freePort();
      }
      const exit = await this.launch();
      if (exit === undefined) return this;
      const log = readFileSync(join(this.dataDir, 'etcd.log'), 'utf8');
      if (first && attempt < 3 && /address already in use/.test(log)) continue;
      throw new Error(`etcd on ${this.url} exited with code ${exit} before it answered: ${log.trim().split('\n').slice(-3).join(' | ')}`);
    }
  }

  /** Runs etcd and waits until it answers (undefined) or exits first (its exit code). */
  private async launch(): Promise<number | null | undefined> {
    const client = this.url;
    const tls = this.options.tls;
    const tlsArgs = tls
      ? ['--cert-file', tls.serverCert, '--key-file', tls.serverKey, '--trusted-ca-file', tls.ca, '--client-cert-auth']
      : [];
    const peer = `http://127.0.0.1:${this.peerPort}`;
    const proc = startProcess(
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
        ...tlsArgs,
        ...(this.options.args ?? []),
      ],
      join(this.dataDir, 'etcd.log'),
    );
    this.proc = proc;
    let exitCode: number | null | undefined;
    void proc.exited.then((code) => (exitCode = code));
    await waitFor(async () => {
      if (exitCode !== undefined) return true;
      const c = this.client();
      try {
        await c.maintenance.status();
        return true;
      } finally {
        c.close();
      }
    }, 15_000, `etcd on ${client}`);
    if (exitCode === undefined) return undefined;
    this.proc = undefined;
    // The log stream may still be flushing etcd's last lines.
    await new Promise((r) => setTimeout(r, 50));
    return exitCode;
  }

  /** A plain etcd3 client for assertions; the caller closes it. */
  client(auth?: { username: string; password: string }): Etcd3 {
    const tls = this.options.tls;
    return new Etcd3({
      hosts: `127.0.0.1:${this.clientPort}`,
      ...(tls
        ? { credentials: { rootCertificate: readFileSync(tls.ca), certChain: readFileSync(tls.serverCert), privateKey: readFileSync(tls.serverKey) } }
        : {}),
      ...(auth ? { auth } : {}),
    });
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
