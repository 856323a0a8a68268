import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, waitFor } from './ports.js';
import { startProcess, type Started } from './processes.js';

const run = promisify(execFile);

/**
 * A real nginx with its own prefix, running in the foreground as our child.
 * Its main config includes `conf.d/*.conf`, where tests (and lbsync) put theirs.
 */
export class TestNginx {
  readonly prefix: string;
  readonly confDir: string;
  port = 0;
  private proc: Started | undefined;

  /** `lua`: load Debian's Lua module (libnginx-mod-http-lua) by absolute path, as an nginx with its own prefix must. */
  constructor(private readonly opts: { lua?: boolean } = {}) {
    this.prefix = mkdtempSync(join(tmpdir(), 'beacon-nginx-'));
    this.confDir = join(this.prefix, 'conf');
    mkdirSync(join(this.confDir, 'conf.d'), { recursive: true });
    mkdirSync(join(this.prefix, 'logs'));
  }

  get mainConf(): string {
    return join(this.confDir, 'nginx.conf');
  }

  get pidFile(): string {
    return join(this.prefix, 'logs', 'nginx.pid');
  }

  /** `nginx -p … -c …` with extra args, as lbsync's --nginx-test / --nginx-reload would run it. */
  command(...args: string[]): string {
    return ['nginx', '-p', this.prefix, '-c', this.mainConf, ...args].join(' ');
  }

  private body: string | undefined;

  /** Writes the main config (listening on a free port unless `body` says otherwise; a restart keeps the last body) and starts nginx. */
  async start(body = this.body): Promise<this> {
    this.body = body;
    this.port ||= await freePort();
    writeFileSync(
      this.mainConf,
      [
        ...(this.opts.lua ? ['load_module /usr/lib/nginx/modules/ndk_http_module.so;', 'load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;'] : []),
        'worker_processes 1;',
        `pid ${this.pidFile};`,
        `error_log ${join(this.prefix, 'logs', 'error.log')} notice;`,
        'events { worker_connections 1024; }',
        'http {',
        `  access_log off;`,
        `  include ${join(this.confDir, 'conf.d')}/*.conf;`,
        body ?? `  server { listen 127.0.0.1:${this.port}; location = /nginx-up { return 200 "up\\n"; } }`,
        '}',
        '',
      ].join('\n'),
    );
    await run('nginx', ['-t', '-q', '-p', this.prefix, '-c', this.mainConf]);
    this.proc = startProcess('nginx', ['-p', this.prefix, '-c', this.mainConf, '-g', 'daemon off;'], join(this.prefix, 'logs', 'stdout.log'));
    await waitFor(async () => (await fetch(`http://127.0.0.1:${this.port}/nginx-up`)).ok || (await fetch(`http://127.0.0.1:${this.port}/`)).status > 0, 10_000, 'nginx', 50);
    return this;
  }

  writeConf(name: string, text: string): string {
    const file = join(this.confDir, 'conf.d', name);
    writeFileSync(file, text);
    return file;
  }

  async reload(): Promise<void> {
    await run('nginx', ['-p', this.prefix, '-c', this.mainConf, '-s', 'reload']);
  }

  async stop(): Promise<void> {
    await this.proc?.stop('SIGQUIT');
    this.proc = undefined;
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.prefix, { recursive: true, force: true });
  }
}
