import type Docker from 'dockerode';
import { readFile } from 'node:fs/promises';
import { NginxValidationError } from './errors.js';
import { DynamicUpstreams } from './nginx/dynamic/dynamic-upstreams.js';
import { NO_LUA_MODULE, noLuaModuleError } from './nginx/dynamic/glue.js';
import { userMethods } from './nginx/dynamic/user-methods.js';
import type { ApplyOutcome, Output, PoolView, ServicePool } from './output.js';
import { NginxActivator } from './nginx/activator.js';
import type { NginxLayout } from './nginx/layout.js';
import { scanConf, walkConf } from './nginx/conf-scanner.js';
import { editUpstreams } from './nginx/edit-in-place.js';
import { optionsFor, renderUpstreams, type RenderOptions, type RenderProblem } from './nginx/render.js';
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
  /** `dynamic`: endpoint changes go into nginx's Lua balancer without a reload (nginx/dynamic/); `reload` (default): every change reloads. */
  nginxMode?: 'reload' | 'dynamic';
  /** Dynamic mode: called after lbsync pushed again by itself (nginx restarted). */
  onRepush?: (outcome: ApplyOutcome | Error) => void;
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
  /** Reload mode: a join costs a reload, so joins settle; dynamic mode pushes them at once. */
  readonly settlesJoins: boolean;
  private readonly activator: NginxActivator;
  private readonly sticky = new Set<string>();
  private readonly quarantine = new Map<string, number>();
  private dynamic: DynamicUpstreams | undefined;
  private userMethodsSeen = new Map<string, string>();

  constructor(private readonly options: NginxOutputOptions) {
    this.settlesJoins = options.nginxMode !== 'dynamic';
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
    if (this.options.nginxMode === 'dynamic') await this.startDynamic();
  }

  /** Checks that nginx loads the Lua module (owned file: by testing the glue), then starts the dynamic mode. */
  private async startDynamic(): Promise<void> {
    const dynamic = new DynamicUpstreams(
      {
        mode: this.options.mode,
        file: this.options.file,
        render: async (view, extra, glue) => {
          const r = await this.render(view, extra, glue);
          // Written once, an upstream keeps being written (see the class comment).
          for (const name of r.upstreams) this.sticky.add(name);
          return { text: r.text, upstreams: r.upstreams, members: r.members, warnings: r.problems.map(problemText) };
        },
        activate: (text) => this.activator.activate(text),
        install: (text) => this.activator.install(text),
        optionsFor: (service) => optionsFor(service, this.options.render ?? {}),
        userMethod: (service) => this.userMethodsSeen.get(service),
      },
      this.options.onRepush,
    );
    await dynamic.start();
    if (this.options.mode === 'owned') {
      try {
        await this.activator.test((await this.render({ pools: [], revision: 0, stableForMs: 0 }, () => [], dynamic.glue())).text);
      } catch (err) {
        const unknown = err instanceof NginxValidationError ? NO_LUA_MODULE.exec(err.nginxMessage) : null;
        if (unknown) throw noLuaModuleError(unknown[0]);
      }
    }
    this.dynamic = dynamic;
  }

  /** The endpoint-set version nginx confirmed holding (dynamic mode). */
  get dynamicVersion(): number | undefined {
    return this.dynamic?.confirmedVersion;
  }

  async preview(view: PoolView): Promise<string> {
    return (await this.render(view)).text;
  }

  async apply(view: PoolView): Promise<ApplyOutcome> {
    const warnings: string[] = [];
    for (let attempt = 0; ; attempt++) {
      try {
        if (this.dynamic) {
          if (this.options.mode === 'edit') this.userMethodsSeen = userMethods(await readFile(this.options.file, 'utf8'), this.options.file);
          const outcome = await this.dynamic.apply(view);
          return { ...outcome, warnings: unique([...warnings, ...(outcome.warnings ?? []), ...(this.layout?.warnings ?? [])]) };
        }
        const rendered = await this.render(view);
        warnings.push(...rendered.problems.map(problemText));
        const result = await this.activator.activate(rendered.text);
        for (const name of rendered.upstreams) this.sticky.add(name);
        const what = `${rendered.upstreams.length} upstream${rendered.upstreams.length === 1 ? '' : 's'}, ${rendered.members} server${rendered.members === 1 ? '' : 's'}`;
        const detail = !result.reloaded
          ? `unchanged (${what})`
          : `reloaded nginx (${what}; test ${Math.round(result.timings.testMs)}ms, reload ${Math.round(result.timings.reloadMs)}ms${result.confirmed ? ', new workers up' : ', unconfirmed'})`;
        return { changed: result.reloaded, detail, warnings: unique([...warnings, ...(this.layout?.warnings ?? [])]) };
      } catch (err) {
        if (!(err instanceof NginxValidationError)) throw err;
        const noLua = NO_LUA_MODULE.exec(err.nginxMessage);
        if (noLua) throw noLuaModuleError(noLua[0]);
        const host = HOST_NOT_FOUND.exec(err.nginxMessage)?.[1];
        if (!host || attempt >= 3 || !this.renderedHost(view, host)) throw err;
        this.quarantine.set(host.replace(/:\d+$/, ''), Date.now() + (this.options.quarantineMs ?? 60_000));
        warnings.push(`left out host ${host} for now: ${err.nginxMessage}`);
      }
    }
  }

  async close(): Promise<void> {
    await this.dynamic?.stop();
  }

  /** Where nginx's files are, as found at start (main config, how it was found, lookups that failed). */
  get layout(): NginxLayout | undefined {
    return this.activator.nginxLayout;
  }

  private async render(view: PoolView, upstreamExtra?: (service: string) => string[], glue: string[] = []): Promise<{ text: string; upstreams: string[]; members: number; problems: RenderProblem[] }> {
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
      const r = renderUpstreams(full, { ...this.options.render, ...(upstreamExtra ? { upstreamExtra } : {}) });
      return { text: r.text + glue.join('\n'), upstreams: r.upstreams, members, problems: r.problems };
    }
    const source = await readFile(this.options.file, 'utf8');
    const r = editUpstreams(source, full, { ...this.options.render, ...(this.options.services ? { services: this.options.services } : {}), ...(upstreamExtra ? { upstreamExtra } : {}) }, this.options.file);
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
