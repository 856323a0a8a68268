import type Docker from 'dockerode';
import { globSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { validateServiceName } from '../registry/index.js';
import { NginxValidationError } from './errors.js';
import { DynamicUpstreams } from './nginx/dynamic/dynamic-upstreams.js';
import { NO_LUA_MODULE, noLuaModuleError } from './nginx/dynamic/glue.js';
import { userMethods } from './nginx/dynamic/user-methods.js';
import type { ApplyOutcome, Output, PoolView, ServicePool } from './output.js';
import { NginxActivator } from './nginx/activator.js';
import type { NginxLayout } from './nginx/layout.js';
import { blameService } from './nginx/blame.js';
import { editUpstreams } from './nginx/edit-in-place.js';
import { assembleOwned, MANAGED_MARK, optionsFor, parseOwned, renderService, type RenderOptions, type RenderProblem, type ServiceBlocks, type ServiceSpan } from './nginx/render.js';
import { ServiceQuarantine } from './nginx/quarantine.js';
import { StickyNames } from './nginx/sticky-names.js';
import { userUpstreams, type UserUpstream, type UserUpstreams } from './nginx/user-upstreams.js';
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
  /** How long a service nginx refused (or a DNS name it cannot resolve) stays out before it is tried again; 10 s by default. */
  quarantineMs?: number;
  /** `dynamic`: endpoint changes go into nginx's Lua balancer without a reload (nginx/dynamic/); `reload` (default): every change reloads. */
  nginxMode?: 'reload' | 'dynamic';
  /** Dynamic mode: called after lbsync pushed again by itself (nginx restarted). */
  onRepush?: (outcome: ApplyOutcome | Error) => void;
}

const HOST_NOT_FOUND = /host not found in upstream "([^"]+)"/;

/** How long a quarantined service (or a left-out host) waits before it is tried again. */
const QUARANTINE_MS = 10_000;
/** How long an upstream name lbsync wrote stays (as a 502 placeholder) after its service left, unless the user's config routes to it. */
const STICKY_MS = 10 * 60_000;
/** At most this many such names are kept; the longest gone go first. */
const STICKY_MAX = 1024;

/**
 * The nginx output: renders the view (owned file or edit-in-place) and makes
 * it live through the activator.
 *
 * Isolation: when nginx refuses a candidate, the `file:line` (or upstream
 * name) in its message is mapped back to the service whose block it is; that
 * service is quarantined (its last good block stays, it is reported, and it
 * is tried again after `quarantineMs` or as soon as its pool changes) and
 * everything else is applied. A host nginx cannot resolve is left out the
 * same way, without holding back the rest of its service.
 *
 * Names: an upstream is named after its service (`proxy_pass http://SERVICE;`).
 * In owned-file mode a service whose name the user's config already claims
 * (its own `upstream NAME`, or `proxy_pass http://NAME:PORT`) is not rendered
 * but quarantined as a name clash, so it can never break the user's config.
 * A name lbsync has written keeps being written (as a 502 placeholder) after
 * its service leaves, for as long as the user's config routes to it, or
 * STICKY_MS otherwise, so a `proxy_pass` never points at a vanished upstream.
 */
export class NginxOutput implements Output {
  readonly name = 'nginx';
  /** Reload mode: a join costs a reload, so joins settle; dynamic mode pushes them at once. */
  readonly settlesJoins: boolean;
  private readonly activator: NginxActivator;
  private dynamic: DynamicUpstreams | undefined;
  private userMethodsSeen = new Map<string, string>();
  /** The candidate the last render made (dynamic mode renders through a callback): what isolation maps nginx's message against. */
  private lastRendered: Candidate | undefined;
  private readonly sticky = new StickyNames(STICKY_MS, STICKY_MAX);
  private readonly badHosts = new Map<string, number>();
  private readonly quarantine: ServiceQuarantine;
  /** Owned-file mode: each service's blocks as nginx last accepted them. */
  private readonly lastGood = new Map<string, ServiceBlocks>();
  /** Owned-file mode: each pool's blocks as last rendered (see renderPool). */
  private readonly rendered = new WeakMap<ServicePool, { extraKey: string; blocks: ServiceBlocks | undefined; problems: RenderProblem[] }>();
  /** What start() could not read (reported with every apply, so logged once). */
  private readonly startProblems: string[] = [];
  private user: UserUpstreams = { names: new Map(), references: new Set(), errors: [] };

  constructor(private readonly options: NginxOutputOptions) {
    this.settlesJoins = options.nginxMode !== 'dynamic';
    this.quarantine = new ServiceQuarantine(options.quarantineMs ?? QUARANTINE_MS);
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
      // An old file lbsync cannot parse is replaced; its names are reported by the first apply.
      if (live) {
        try {
          for (const b of parseOwned(live, this.options.file)) {
            this.sticky.add(b.service, Date.now());
            this.lastGood.set(b.service, b);
          }
        } catch (err) {
          this.startProblems.push(`cannot read the upstream names of the old ${this.options.file}: ${(err as Error).message}`);
        }
      }
      this.scanUserConfig();
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

  /** Dynamic mode: the service's endpoints go into the Lua balancer (no reload) while nginx runs the confirmed structure. */
  pushesEndpoints(service: string): boolean {
    return this.dynamic?.pushes(service) ?? false;
  }

  /** The endpoint-set version nginx confirmed holding (dynamic mode). */
  get dynamicVersion(): number | undefined {
    return this.dynamic?.confirmedVersion;
  }

  /** The text apply would write, decoded for a terminal (the file itself is written byte for byte). */
  async preview(view: PoolView): Promise<string> {
    return Buffer.from((await this.render(view)).text, 'latin1').toString('utf8');
  }

  async apply(view: PoolView): Promise<ApplyOutcome> {
    const warnings: string[] = [];
    const now = Date.now();
    for (const [host, until] of this.badHosts) if (until <= now) this.badHosts.delete(host);
    const due = this.quarantine.startRound(view.pools, now);
    if (due && this.options.mode === 'owned') this.scanUserConfig();
    if (this.dynamic && this.options.mode === 'edit') this.userMethodsSeen = userMethods(await readFile(this.options.file, 'utf8'), this.options.file);
    for (let attempt = 0; ; attempt++) {
      this.lastRendered = undefined;
      try {
        // Dynamic mode renders (through this.render) and activates in DynamicUpstreams,
        // pushing endpoint changes without a reload; both modes isolate what nginx refuses.
        const { outcome, rendered } = this.dynamic ? await this.applyDynamic(view) : await this.applyReload(view);
        const present = new Set(view.pools.map((p) => p.service));
        for (const b of rendered.fresh) this.lastGood.set(b.service, b);
        for (const name of this.lastGood.keys()) if (!present.has(name) && !this.quarantine.standIn(name)) this.lastGood.delete(name);
        this.sticky.note(rendered.upstreams, present, this.user.references, Date.now());
        const retries = [this.quarantine.nextRetryIn(Date.now()) ?? Infinity, ...[...this.badHosts.values()].map((retryAt) => retryAt - Date.now())];
        const retryInMs = Math.max(0, Math.min(...retries));
        return {
          ...outcome,
          warnings: unique([...warnings, ...(outcome.warnings ?? []), ...(this.layout?.warnings ?? []), ...this.startProblems, ...this.user.errors, ...rendered.problems.map(problemText)]),
          quarantined: this.quarantine.list(),
          ...(Number.isFinite(retryInMs) ? { retryInMs } : {}),
        };
      } catch (err) {
        if (!(err instanceof NginxValidationError) || attempt >= 16) throw err;
        const noLua = NO_LUA_MODULE.exec(err.nginxMessage);
        if (noLua) throw noLuaModuleError(noLua[0]);
        if (this.options.mode === 'owned') this.scanUserConfig();
        if (!this.lastRendered || !this.isolate(err.nginxMessage, view, this.lastRendered, warnings)) throw err;
      }
    }
  }

  private async applyReload(view: PoolView): Promise<{ outcome: ApplyOutcome; rendered: Candidate }> {
    const rendered = await this.render(view);
    const result = await this.activator.activate(rendered.text);
    const what = `${rendered.upstreams.length} upstream${rendered.upstreams.length === 1 ? '' : 's'}, ${rendered.members} server${rendered.members === 1 ? '' : 's'}`;
    const detail = !result.reloaded
      ? `unchanged (${what})`
      : `reloaded nginx (${what}; test ${Math.round(result.timings.testMs)}ms, reload ${Math.round(result.timings.reloadMs)}ms${result.confirmed ? ', new workers up' : ', unconfirmed'})`;
    return { outcome: { changed: result.reloaded, detail }, rendered };
  }

  private async applyDynamic(view: PoolView): Promise<{ outcome: ApplyOutcome; rendered: Candidate }> {
    const outcome = await this.dynamic!.apply(view);
    return { outcome, rendered: this.lastRendered! };
  }


  async close(): Promise<void> {
    await this.dynamic?.stop();
  }

  /** Where nginx's files are, as found at start (main config, how it was found, lookups that failed). */
  get layout(): NginxLayout | undefined {
    return this.activator.nginxLayout;
  }

  /**
   * Takes out what nginx's message blames, so the next attempt can apply the
   * rest: a host it cannot resolve, or the service whose block holds the
   * line (or carries the upstream name) it names. False when the message
   * points at nothing lbsync can leave out: the failure is then the user's
   * config or the whole file, and the apply fails as a whole.
   */
  private isolate(message: string, view: PoolView, rendered: Candidate, warnings: string[]): boolean {
    const quarantineMs = this.quarantine.holdMs;
    const host = HOST_NOT_FOUND.exec(message)?.[1];
    if (host) {
      const bare = host.replace(/:\d+$/, '');
      if (!this.badHosts.has(bare) && view.pools.some((p) => p.members.some((r) => r.host === bare))) {
        this.badHosts.set(bare, Date.now() + quarantineMs);
        warnings.push(`left out host ${host} for now: ${message}`);
        return true;
      }
      // The user's config routes to an upstream lbsync wrote once and has since dropped: write it again.
      if (this.options.mode === 'owned' && !rendered.upstreams.includes(bare) && isServiceName(bare)) {
        this.sticky.add(bare, Date.now());
        return true;
      }
    }
    const service = blameService(message, this.options.file, rendered.spans, rendered.upstreams);
    if (!service) return false;
    const pool = view.pools.find((p) => p.service === service) ?? { service, endpoints: [], members: [], failOpen: false };
    return this.quarantine.refuse(pool, message, Date.now(), { allowed: this.options.mode === 'owned', hasLastGood: this.lastGood.has(service) });
  }

  private async render(view: PoolView, upstreamExtra?: (service: string) => string[], glue: string[] = []): Promise<Candidate> {
    const pools = view.pools.map((p) => this.withoutBadHosts(p));
    const members = pools.reduce((n, p) => n + p.members.length, 0);
    const render = { ...this.options.render, ...(upstreamExtra ? { upstreamExtra } : {}) };
    if (this.options.mode === 'owned') {
      const owned = this.renderOwned(pools, render);
      return (this.lastRendered = { ...owned, text: owned.text + glue.join('\n'), members });
    }
    const only = this.options.services;
    const source = await readFile(this.options.file);
    const r = editUpstreams(source, { ...view, pools }, { ...render, ...(only ? { services: only } : {}), keep: this.quarantine.names() }, this.options.file);
    const problems = [...r.problems];
    for (const name of r.missing) problems.push({ service: name, reason: `has no "upstream ${name} { }" block in ${this.options.file}; add one with a "${MANAGED_MARK}" line in it for lbsync to manage` });
    return (this.lastRendered = { text: r.text, upstreams: r.managed, spans: r.spans, members, problems, fresh: [] });
  }

  /** The owned file: every service rendered on its own; a quarantined one contributes its last good blocks (or nothing). */
  private renderOwned(pools: ServicePool[], render: RenderOptions): Omit<Candidate, 'members'> {
    const only = this.options.services ? new Set(this.options.services) : undefined;
    const all = [...pools];
    const names = new Set(pools.map((p) => p.service));
    for (const name of this.sticky.names()) {
      if (!names.has(name) && (!only || only.has(name))) all.push({ service: name, endpoints: [], members: [], failOpen: false });
    }
    all.sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0));
    const problems: RenderProblem[] = [];
    const blocks: ServiceBlocks[] = [];
    const fresh: ServiceBlocks[] = [];
    for (const pool of all) {
      const clash = this.user.names.get(pool.service);
      if (clash) {
        this.noteClash(pool, clash);
        continue;
      }
      const stand = this.quarantine.standIn(pool.service);
      if (stand) {
        const good = stand === 'last-good' ? this.lastGood.get(pool.service) : undefined;
        const placeholder = !good && stand !== 'nothing' ? renderService({ service: pool.service, endpoints: [], members: [], failOpen: false }, {}, []) : undefined;
        if (good) blocks.push(good);
        else if (placeholder) blocks.push({ ...placeholder, servers: [] });
        continue;
      }
      const b = this.renderPool(pool, render, problems);
      if (!b) continue;
      blocks.push(b);
      fresh.push(b);
    }
    return { ...assembleOwned(blocks), upstreams: blocks.map((b) => b.service), problems, fresh };
  }

  /**
   * renderService, kept per pool object: lbsync hands an unchanged service
   * the same pool object in every view, so a render redoes only the services
   * that changed (and those whose extra lines, dynamic mode's balancer
   * version, changed).
   */
  private renderPool(pool: ServicePool, render: RenderOptions, problems: RenderProblem[]): ServiceBlocks | undefined {
    const extra = render.upstreamExtra?.(pool.service) ?? [];
    const extraKey = extra.join('\n');
    const known = this.rendered.get(pool);
    if (known && known.extraKey === extraKey) {
      problems.push(...known.problems);
      return known.blocks;
    }
    const own: RenderProblem[] = [];
    const blocks = renderService(pool, { ...render, upstreamExtra: () => extra }, own);
    this.rendered.set(pool, { extraKey, blocks, problems: own });
    problems.push(...own);
    return blocks;
  }

  /** A service named like one of the user's own upstreams is never rendered; it is reported as quarantined until the clash goes. */
  private noteClash(pool: ServicePool, clash: UserUpstream): void {
    const reason =
      clash.kind === 'upstream'
        ? `its name clashes with the user's own "upstream ${clash.name}" at ${clash.where}; not written (rename the service or that upstream)`
        : `its name clashes with the implicit upstream of a *_pass to ${clash.name}:PORT at ${clash.where}; not written (rename the service, or route there through lbsync's upstream without a port)`;
    this.quarantine.clash(pool, reason, Date.now());
  }

  /** Re-reads the include chain for the names the user's config claims (owned-file mode). */
  private scanUserConfig(): void {
    const main = this.activator.nginxLayout?.mainConf;
    if (!main) return;
    this.user = userUpstreams(main, this.options.file, { read: (p) => readFileSync(p, 'utf8'), glob: (p) => globSync(p).sort() });
    this.quarantine.clashesGone((service) => this.user.names.has(service));
  }

  private withoutBadHosts(pool: ServicePool): ServicePool {
    if (this.badHosts.size === 0) return pool;
    const members = pool.members.filter((r) => !this.badHosts.has(r.host));
    return members.length === pool.members.length ? pool : { ...pool, members };
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

interface Candidate {
  text: string;
  /** Upstream names in the text. */
  upstreams: string[];
  spans: ServiceSpan[];
  members: number;
  problems: RenderProblem[];
  /** Owned-file mode: the services rendered from the view this time (not kept from before). */
  fresh: ServiceBlocks[];
}

function isServiceName(name: string): boolean {
  try {
    validateServiceName(name);
    return true;
  } catch {
    return false;
  }
}

function problemText(p: RenderProblem): string {
  return `${p.service}${p.instance ? `/${p.instance}` : ''}: ${p.reason}`;
}

function unique(list: string[]): string[] {
  return [...new Set(list)];
}
