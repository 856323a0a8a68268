import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { freePort, logLines, startBeacon, TestEtcd, TestNginx, waitFor, type Started } from '../../harness/index.js';

/** A real etcd, a real nginx proxying `/` to upstream `web`, and `beacon lbsync --status-port` between them. */
export class StatusStack {
  etcd = new TestEtcd();
  nginx = new TestNginx();
  client!: Etcd3;
  logs = mkdtempSync(join(tmpdir(), 'beacon-status-test-'));
  statusPort = 0;
  lbsyncLog = '';
  private procs: Started[] = [];

  async start(lbsyncArgs: string[] = []): Promise<this> {
    await this.etcd.start();
    this.client = this.etcd.client();
    const conf = this.nginx.writeConf('beacon.conf', 'upstream web { server 127.0.0.1:1 down; }\n');
    const port = (this.nginx.port = await freePort());
    await this.nginx.start(`  server { listen 127.0.0.1:${port};
    location = /nginx-up { return 200 "up\\n"; }
    location / { proxy_pass http://web; proxy_connect_timeout 1s; }
  }`);
    this.statusPort = await freePort();
    this.lbsyncLog = join(this.logs, 'lbsync.log');
    this.spawn(
      [
        'lbsync',
        '--etcd', this.etcd.url,
        '--nginx-conf', conf,
        '--nginx-test', this.nginx.command('-t'),
        '--nginx-reload', this.nginx.command('-s', 'reload'),
        '--status-port', String(this.statusPort),
        ...lbsyncArgs,
      ],
      this.lbsyncLog,
    );
    await waitFor(() => logLines(this.lbsyncLog).some((l) => /^started lbsync/.test(l.msg)), 20_000, `lbsync to start (log ${this.lbsyncLog})`, 50);
    return this;
  }

  get statusUrl(): string {
    return `http://127.0.0.1:${this.statusPort}`;
  }

  /** Starts another long-running beacon process (a sidekick) that stop() ends. */
  spawn(args: string[], log: string): Started {
    const proc = startBeacon(args, log);
    this.procs.push(proc);
    return proc;
  }

  async put(service: string, instance: string, port: number, extra: Record<string, unknown> = {}): Promise<void> {
    await this.client.put(`/services/${service}/${instance}`).value(JSON.stringify({ service, instance, host: '127.0.0.1', port, ...extra }));
  }

  async stop(): Promise<void> {
    for (const p of this.procs.splice(0)) await p.stop();
    this.client?.close();
    await this.nginx.destroy();
    await this.etcd.destroy();
  }
}

export { logLines };

/** Debian's chromium, which the page test drives through playwright-core. */
export const CHROMIUM = '/usr/bin/chromium';

/** Flags for a quiet, sandbox-free headless Chromium that reaches nothing but loopback. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
