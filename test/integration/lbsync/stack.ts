import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Etcd3 } from 'etcd3';
import { freePort, startBeacon, TestEtcd, TestNginx, type Started } from '../../harness/index.js';

export const run = promisify(execFile);

/** A real etcd and a real nginx whose server on `nginx.port` proxies `/` to upstream `web`. */
export class Stack {
  etcd = new TestEtcd();
  nginx = new TestNginx();
  client!: Etcd3;
  logs = mkdtempSync(join(tmpdir(), 'beacon-lbsync-test-'));
  conf = '';
  private procs: Started[] = [];

  async start(body?: string, initial = 'upstream web { server 127.0.0.1:1 down; }\n'): Promise<this> {
    await this.etcd.start();
    this.client = this.etcd.client();
    this.conf = this.nginx.writeConf('beacon.conf', initial);
    const port = (this.nginx.port ||= await freePort());
    await this.nginx.start(
      body ??
        `  server { listen 127.0.0.1:${port};
    location = /nginx-up { return 200 "up\\n"; }
    location / { proxy_pass http://web; proxy_next_upstream error timeout http_502 http_503; proxy_connect_timeout 1s; }
  }`,
    );
    return this;
  }

  /** The flags that point lbsync at this stack's etcd and nginx. */
  args(extra: string[] = []): string[] {
    return [
      'lbsync',
      '--etcd', this.etcd.url,
      '--nginx-test', this.nginx.command('-t'),
      '--nginx-reload', this.nginx.command('-s', 'reload'),
      ...(extra.includes('--nginx-edit') ? [] : ['--nginx-conf', this.conf]),
      ...extra,
    ];
  }

  /** Starts `beacon lbsync` as a child; its JSON log lines go to a file. */
  lbsync(extra: string[] = [], name = 'lbsync'): { proc: Started; log: string } {
    const log = join(this.logs, `${name}-${Date.now()}.log`);
    const proc = startBeacon(this.args(extra), log);
    this.procs.push(proc);
    return { proc, log };
  }

  async put(service: string, instance: string, host: string, port: number, extra: Record<string, unknown> = {}): Promise<void> {
    await this.client.put(`/services/${service}/${instance}`).value(JSON.stringify({ service, instance, host, port, ...extra }));
  }

  /** One request through nginx: status and body. */
  async get(path = '/'): Promise<{ status: number; body: string }> {
    const res = await fetch(`http://127.0.0.1:${this.nginx.port}${path}`, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: (await res.text()).trim() };
  }

  /** `n` requests through nginx, their bodies (or `HTTP <status>`). */
  async hits(n: number): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const r = await this.get();
      out.push(r.status === 200 ? r.body : `HTTP ${r.status}`);
    }
    return out;
  }

  /** `nginx -t` on the real config: does nginx accept what is on disk? */
  async nginxAccepts(): Promise<{ ok: boolean; output: string }> {
    try {
      const r = await run('nginx', ['-t', '-p', this.nginx.prefix, '-c', this.nginx.mainConf]);
      return { ok: true, output: r.stderr };
    } catch (err) {
      return { ok: false, output: String((err as { stderr?: string }).stderr ?? err) };
    }
  }

  liveConf(file = this.conf): string {
    return readFileSync(file, 'utf8');
  }

  /** Stops every lbsync this stack started (tests call it in afterEach, so a failed test leaves none behind). */
  async killAll(): Promise<void> {
    for (const p of this.procs.splice(0)) await p.stop('SIGKILL');
  }

  async stop(): Promise<void> {
    await this.killAll();
    this.client?.close();
    await this.nginx.destroy();
    await this.etcd.destroy();
  }
}

export { logLines, waitForLog } from '../../harness/index.js';

/** Many tiny HTTP backends in this process: each answers every path with its own name. */
export async function startBackends(count: number, prefix = 'b'): Promise<{ ports: number[]; close: () => Promise<void> }> {
  const servers: Server[] = [];
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    const name = `${prefix}${i}`;
    const server = createServer((req, res) => res.end(req.url === '/health' ? 'ok\n' : `${name}\n`));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    servers.push(server);
    ports.push((server.address() as { port: number }).port);
  }
  return {
    ports,
    close: async () => {
      for (const s of servers) {
        s.closeAllConnections();
        await new Promise((r) => s.close(r));
      }
    },
  };
}
