import type Docker from 'dockerode';
import { readFile } from 'node:fs/promises';
import { NginxValidationError } from './errors.js';
import type { ApplyOutcome, Output, PoolView, ServicePool } from './output.js';
import { NginxActivator } from './nginx/activator.js';
import type { NginxLayout } from './nginx/layout.js';
import { scanConf, walkConf } from './nginx/conf-scanner.js';
import { editUpstreams } from './nginx/edit-in-place.js';
import { renderUpstreams, type RenderOptions, type RenderProblem } from './nginx/render.js';
import { CommandReloader, ContainerReloader, PidReloader, type Reloader } from './nginx/reloader.js';

/** How nginx is told to reload. */
export type ReloadVia =
  | { kind: 'command'; argv: string[]; pidFile?: string }
  | { kind: 'pid'; pidFile: string }
  | { kind: 'container'; name: string; docker: Docker };

export interface NginxOutputOptions {
  /** `owned`: lbsync writes the whole file (`--nginx-conf`); `edit`: only the managed upstream blocks of the user's file (`--nginx-edit`). */
  mode: 'owned' | 'edit';
  file: string;
  testArgv: string[];
  /** `--nginx-main-conf`: the main config, when the test command cannot tell it. */
  mainConf?: string;
  reload: ReloadVia;
  render?: RenderOptions;
  /** `--services`: in edit mode their blocks are managed even without records. */
  services?: string[];
  confirmTimeoutMs?: number;
  /** How long a DNS name that nginx cannot resolve stays out of the config before it is tried again. */
  quarantineMs?: number;
}

const HOST_NOT_FOUND = /host not found in upstream "([^"]+)"/;

/**
 * The nginx output: renders the view (owned file or edit-in-place) and makes
 * it live through the activator. An upstream name it has written once keeps
 * being written (as a 502 placeholder when its service has gone), so a
 * `proxy_pass` in the user's config never points at a vanished upstream.
 * A host nginx cannot resolve fails `nginx -t` for everyone; it is left out
 * for a while and reported, so one bad value never blocks other changes.
 */
export class NginxOutput implements Output {
  readonly name = 'nginx';
  private readonly activator: NginxActivator;
  private readonly sticky = new Set<string>();
  private readonly quarantine = new Map<string, number>();

  constructor(private readonly options: NginxOutputOptions) {
    this.activator = new NginxActivator({
      file: options.file,
      testArgv: options.testArgv,
      ...(options.mainConf ? { mainConf: options.mainConf } : {}),
      reloader: (layout) => this.reloader(layout),
      ...(options.confirmTimeoutMs !== undefined ? { confirmTimeoutMs: options.confirmTimeoutMs } : {}),
    });
  }

  async start(): Promise<void> {
    await this.activator.init();
    if (this.options.mode === 'owned') {
      const live = await this.activator.live();
      if (live) {
        try {
          for (const d of walkConf(scanConf(live, this.options.file))) if (d.name === 'upstream' && d.args[0]) this.sticky.add(d.args[0]);
        } catch {
          // an unreadable old file is simply replaced
        }
      }
    }
  }

  async preview(view: PoolView): Promise<string> {
    return (await this.render(view)).text;
  }

  async apply(view: PoolView): Promise<ApplyOutcome> {
    const warnings: string[] = [];
    for (let attempt = 0; ; attempt++) {
      const rendered = await this.render(view);
      warnings.push(...rendered.problems.map(problemText));
      try {
        const result = await this.activator.activate(rendered.text);
        for (const name of rendered.upstreams) this.sticky.add(name);
        const what = `${rendered.upstreams.length} upstream${rendered.upstreams.length === 1 ? '' : 's'}, ${rendered.members} server${rendered.members === 1 ? '' : 's'}`;
        const detail = !result.reloaded
          ? `unchanged (${what})`
          : `reloaded nginx (${what}; test ${Math.round(result.timings.testMs)}ms, reload ${Math.round(result.timings.reloadMs)}ms${result.confirmed ? ', new workers up' : ', unconfirmed'})`;
        return { changed: result.reloaded, detail, warnings: unique([...warnings, ...(this.layout?.warnings ?? [])]) };
      } catch (err) {
        if (!(err instanceof NginxValidationError)) throw err;
        const host = HOST_NOT_FOUND.exec(err.nginxMessage)?.[1];
        if (!host || attempt >= 3 || !this.renderedHost(view, host)) throw err;
        this.quarantine.set(host.replace(/:\d+$/, ''), Date.now() + (this.options.quarantineMs ?? 60_000));
        warnings.push(`left out host ${host} for now: ${err.nginxMessage}`);
      }
    }
  }

  async close(): Promise<void> {}

  /** Where nginx's files are, as found at start (main config, how it was found, lookups that failed). */
  get layout(): NginxLayout | undefined {
    return this.activator.nginxLayout;
  }

  private async render(view: PoolView): Promise<{ text: string; upstreams: string[]; members: number; problems: RenderProblem[] }> {
    const now = Date.now();
    for (const [host, until] of this.quarantine) if (until <= now) this.quarantine.delete(host);
    const pools = view.pools.map((p) => this.withoutQuarantined(p));
    const only = this.options.services ? new Set(this.options.services) : undefined;
    const names = new Set(pools.map((p) => p.service));
    for (const name of this.sticky) {
      if (!names.has(name) && (!only || only.has(name))) pools.push({ service: name, endpoints: [], members: [], failOpen: false });
    }
    const full: PoolView = { ...view, pools };
    const members = pools.reduce((n, p) => n + p.members.length, 0);
    if (this.options.mode === 'owned') {
      const r = renderUpstreams(full, this.options.render);
      return { text: r.text, upstreams: r.upstreams, members, problems: r.problems };
    }
    const source = await readFile(this.options.file, 'utf8');
    const r = editUpstreams(source, full, { ...this.options.render, ...(this.options.services ? { services: this.options.services } : {}) }, this.options.file);
    const problems = [...r.problems];
    for (const name of r.missing) problems.push({ service: name, reason: `has no "upstream ${name} { }" block in ${this.options.file}; add one for lbsync to manage` });
    return { text: r.text, upstreams: r.managed, members, problems };
  }

  private withoutQuarantined(pool: ServicePool): ServicePool {
    if (this.quarantine.size === 0) return pool;
    const members = pool.members.filter((r) => !this.quarantine.has(r.host));
    return members.length === pool.members.length ? pool : { ...pool, members };
  }

  private renderedHost(view: PoolView, host: string): boolean {
    const bare = host.replace(/:\d+$/, '');
    return !this.quarantine.has(bare) && view.pools.some((p) => p.members.some((r) => r.host === bare));
  }

  private reloader(layout: NginxLayout): Reloader {
    const via = this.options.reload;
    switch (via.kind) {
      case 'command': {
        const pidFile = via.pidFile ?? layout.pidFile;
        // `nginx -s reload` only reads the pid file and sends SIGHUP; doing that
        // ourselves saves starting a process on every apply, which is most of a
        // reload's cost. Anything else the operator configured is run as given.
        if (pidFile && isPlainNginxReload(via.argv)) return new PidReloader(pidFile);
        return new CommandReloader(via.argv, pidFile);
      }
      case 'pid':
        return new PidReloader(via.pidFile);
      case 'container':
        return new ContainerReloader(via.docker, via.name);
    }
  }
}

/** `nginx [-p DIR] [-c FILE] [-g …] -s reload`: the stock reload, nothing else in it. */
export function isPlainNginxReload(argv: string[]): boolean {
  if (!/(^|\/)nginx$/.test(argv[0] ?? '')) return false;
  let sawReload = false;
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-s' && argv[i + 1] === 'reload') {
      sawReload = true;
      i++;
    } else if (['-p', '-c', '-g'].includes(arg) && argv[i + 1] !== undefined) i++;
    else return false;
  }
  return sawReload;
}

function problemText(p: RenderProblem): string {
  return `${p.service}${p.instance ? `/${p.instance}` : ''}: ${p.reason}`;
}

function unique(list: string[]): string[] {
  return [...new Set(list)];
}
