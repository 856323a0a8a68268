import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, startBeacon, TestNginx, waitFor, type Started } from '../harness/index.js';

const run = promisify(execFile);

export interface LbsyncStart {
  etcd: string[];
  extra?: string[];
  env?: NodeJS.ProcessEnv;
}

/**
 * The root namespace's edge: a real nginx and `beacon lbsync` (the compiled
 * CLI) in owned-file mode, whose config file asks for a server block in front
 * of upstream `web`, so the retry settings under test are the ones lbsync
 * generates (`proxy_next_upstream error timeout http_502 http_503`).
 */
export class Edge {
  // The Lua module is loaded either way: lbsync's --nginx-mode decides whether it is used.
  readonly nginx = new TestNginx({ lua: true });
  conf = '';
  configFile = '';
  webPort = 0;
  private proc: Started | undefined;
  private logs = 0;

  constructor(private readonly services: string[] = ['web']) {}

  get url(): string {
    return `http://127.0.0.1:${this.webPort}/`;
  }

  get lbsyncLog(): string {
    return join(this.nginx.prefix, `lbsync-${this.logs}.log`);
  }

  async start(upstreamYaml = ''): Promise<this> {
    this.webPort = await freePort();
    this.conf = this.nginx.writeConf('beacon.conf', '# empty until lbsync writes it\n');
    this.configFile = join(this.nginx.prefix, 'lbsync.yaml');
    writeFileSync(
      this.configFile,
      [
        'upstreams:',
        `  ${this.services[0]}:`,
        `    servers: [{ listen: "127.0.0.1:${this.webPort}", location: / }]`,
        upstreamYaml,
        '',
      ].join('\n'),
    );
    await this.nginx.start();
    return this;
  }

  /** Starts lbsync (TCP health checks every 1 s unless told otherwise). */
  startLbsync(options: LbsyncStart): Started {
    const log = join(this.nginx.prefix, `lbsync-${++this.logs}.log`);
    this.proc = startBeacon(
      [
        'lbsync',
        '--etcd', options.etcd.join(','),
        '--config', this.configFile,
        '--nginx-conf', this.conf,
        '--nginx-test', this.nginx.command('-t'),
        '--nginx-reload', this.nginx.command('-s', 'reload'),
        '--health-interval', '1s',
        '--health-timeout', '1s',
        ...(options.extra ?? []),
      ],
      log,
      options.env ?? {},
    );
    return this.proc;
  }

  async stopLbsync(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.proc?.stop(signal);
    this.proc = undefined;
  }

  get lbsyncPid(): number | undefined {
    return this.proc?.pid;
  }

  liveConf(): string {
    try {
      return readFileSync(this.conf, 'utf8');
    } catch {
      return '';
    }
  }

  /** `host:port` members of an upstream in the live file (the 502 placeholder left out). */
  members(service = this.services[0]!): string[] {
    const text = this.liveConf();
    const block = new RegExp(`upstream ${service} \\{([\\s\\S]*?)\\n\\}`).exec(text)?.[1] ?? '';
    return [...block.matchAll(/^\s*server (\S+?)( [^;]*)?;/gm)]
      .map((m) => m[1]!)
      .filter((a) => a !== '127.0.0.1:1')
      .sort();
  }

  /** Waits until the members satisfy `ok`; returns the ms it took. */
  async waitMembers(ok: (members: string[]) => boolean, timeoutMs: number, what: string): Promise<number> {
    const t0 = performance.now();
    await waitFor(() => ok(this.members()), timeoutMs, `${what} (members now: ${this.members().join(' ')})`, 20);
    return performance.now() - t0;
  }

  /** `nginx -t` of the live config: does nginx accept what is on disk now? */
  async nginxAccepts(): Promise<{ ok: boolean; output: string }> {
    try {
      const r = await run('nginx', ['-t', '-p', this.nginx.prefix, '-c', this.nginx.mainConf]);
      return { ok: true, output: r.stderr };
    } catch (err) {
      return { ok: false, output: String((err as { stderr?: string }).stderr ?? err) };
    }
  }

  async destroy(): Promise<void> {
    await this.stopLbsync();
    await this.nginx.destroy();
  }
}

export { logLines } from '../harness/index.js';
