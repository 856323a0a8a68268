import { readFile, rename, writeFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { ApplyOutcome, PoolView, ServicePool } from '../../output.js';
import type { Activation } from '../activator.js';
import type { UpstreamOptions } from '../upstream-options.js';
import { ControlClient, ensureSecret } from './control-client.js';
import { balancerLine, gluePaths, renderGlue, type GluePaths } from './glue.js';
import { eligibility, peerSetOf, setKey, structureSignature, type PeerSet } from './peers.js';
import { encodePush, type ControlState } from './protocol.js';

/** The Lua balancer shipped with beacon (copied beside the config on start). */
export const LUA_SOURCE = fileURLToPath(new URL('../lua/beacon_balancer.lua', import.meta.url));

/** What the nginx output lends the dynamic mode: its renderer and its activator. */
export interface DynamicHost {
  /** `owned`: the glue goes into the file; `edit`: into beacon-dynamic.conf beside it. */
  mode: 'owned' | 'edit';
  file: string;
  /** Renders the live file for `view` with `extra(service)` inside each upstream and `glue` at the top (owned file). */
  render(view: PoolView, extra: (service: string) => string[], glue: string[]): Promise<{ text: string; upstreams: string[]; members: number; warnings: string[] }>;
  /** Stage, test, swap, reload, confirm (the validated path). */
  activate(text: string): Promise<Activation>;
  /** Stage, test, swap; no reload (the file follows what was pushed). */
  install(text: string): Promise<boolean>;
  optionsFor(service: string): UpstreamOptions;
  /** A balancing directive the user wrote inside the block (edit-in-place). */
  userMethod?(service: string): string | undefined;
}

/**
 * The dynamic mode of the nginx output (the ingress-nginx way): a change
 * whose structure nginx already runs is pushed into the Lua balancer's dict
 * and confirmed by reading the version back; the file is then rewritten
 * (tested, no reload) once pushes pause, so a restarted nginx starts with
 * the same set. Any
 * structural change — a service appears or goes, its options or server
 * blocks change, the Lua glue changes, or a service the Lua side cannot
 * serve changes its servers — takes the validated reload path, and so does
 * a push that fails. A poller notices an nginx restart (its dict comes back
 * empty) and pushes again.
 */
export class DynamicUpstreams {
  private readonly paths: GluePaths;
  private client: ControlClient | undefined;
  private luaText = '';
  /** Per dynamic service: the version its set got and the set's key. */
  private readonly pushed = new Map<string, { version: number; key: string }>();
  private lastVersion = 0;
  private readonly derived = new WeakMap<ServicePool, Derived>();
  /** The version nginx confirmed holding, and the structure it runs; undefined until confirmed. */
  private confirmed: { version: number; structure: string } | undefined;
  private lastView: PoolView | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** Applies started and not yet ended (the next one waits in `queue` behind them). */
  private applying = 0;
  /**
   * Writes of the live file (installs after pushes, activations), one at a
   * time. A push never waits for them: an install runs `nginx -t` on the
   * whole file, and the next change must not queue behind that.
   */
  private fileWrites: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  /** The text the next install writes, made when it runs (a push needs no copy of the whole file). */
  private pendingInstall: (() => string) | undefined;
  private installTimer: NodeJS.Timeout | undefined;
  /** When the last push was confirmed, and when the first push the pending install carries was (performance.now()). */
  private lastPushAt = 0;
  private installFirstPending: number | undefined;
  /** How long the last install took, and when it ended (performance.now()). */
  private lastInstall: { ms: number; endedAt: number } | undefined;
  /** Consecutive applies that failed or ended unconfirmed; the watcher retries them with backoff. */
  private failures = 0;
  private retryAt = 0;

  constructor(private readonly host: DynamicHost, private readonly onRepush: (outcome: ApplyOutcome | Error) => void = () => {}) {
    this.paths = gluePaths(host.file);
  }

  /** Copies the Lua file beside the config, makes the secret, reads what nginx holds (if it runs the glue already). */
  async start(pollMs = 250): Promise<void> {
    this.luaText = await readFile(LUA_SOURCE, 'utf8');
    if ((await readFile(this.paths.lua, 'utf8').catch(() => undefined)) !== this.luaText) await writeAtomic(this.paths.lua, this.luaText);
    this.client = new ControlClient(this.paths.socket, await ensureSecret(this.paths.secret));
    const state = await this.client.state().catch(() => undefined);
    if (state) {
      this.lastVersion = state.version;
      this.confirmed = state;
    }
    this.timer = setInterval(() => void this.watch(), pollMs);
    this.timer.unref();
  }

  /** Stops polling and writes a file still pending, so a clean stop leaves the file equal to the dict. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.installTimer) clearTimeout(this.installTimer);
    await this.queue;
    await this.fileWrites;
    this.client?.close();
    const pending = this.pendingInstall;
    this.pendingInstall = undefined;
    if (pending !== undefined) await this.host.install(pending()).catch(() => undefined);
  }

  /** The http-level glue with no structure signature (the start-up probe for the Lua module). */
  glue(): string[] {
    return renderGlue(this.paths, '');
  }

  /** Whether an endpoint change of `service` would be a push: nginx runs the confirmed structure and serves the service from the dict (the Lua side can serve it). */
  pushes(service: string): boolean {
    return this.confirmed !== undefined && this.pushed.has(service);
  }

  /** What nginx last confirmed (status page, metrics). */
  get confirmedVersion(): number | undefined {
    return this.confirmed?.version;
  }

  apply(view: PoolView): Promise<ApplyOutcome> {
    // With none running, at once: a push is on its way before the caller's
    // tick ends, not after every callback queued meanwhile.
    const start = this.applying === 0 ? this.applyNow(view) : this.queue.then(() => this.applyNow(view));
    this.applying++;
    const run = start.finally(() => this.applying--).then(
      (outcome) => {
        this.noteResult(this.confirmed !== undefined);
        return outcome;
      },
      (err: unknown) => {
        this.noteResult(false);
        throw err;
      },
    );
    this.queue = run.catch(() => undefined);
    return run;
  }

  private noteResult(ok: boolean): void {
    this.failures = ok ? 0 : this.failures + 1;
    this.retryAt = Date.now() + Math.min(250 * 2 ** this.failures, 8000);
  }

  private async applyNow(view: PoolView): Promise<ApplyOutcome> {
    this.lastView = view;
    const warnings: string[] = [];
    const sets = new Map<string, PeerSet>();
    const keys = new Map<string, string>();
    const fixed = new Set<string>();
    for (const pool of view.pools) {
      const d = this.derive(pool);
      if (d.set) {
        sets.set(pool.service, d.set);
        keys.set(pool.service, d.key);
      } else fixed.add(pool.service);
      // lbsync logs warnings as "skipped <text>".
      if (!d.set) warnings.push(`dynamic updates for ${pool.service}: its endpoint changes reload nginx (${d.reason})`);
    }
    const version = Math.max(this.lastVersion + 1, Date.now());
    const changed = new Map<string, { version: number; set: PeerSet }>();
    const track = (service: string, set: PeerSet) => {
      const key = keys.get(service) ?? setKey(set);
      if (this.pushed.get(service)?.key === key) return;
      this.pushed.set(service, { version, key });
      changed.set(service, { version, set });
    };
    for (const [service, set] of sets) track(service, set);
    // An upstream the render writes without a pool in the view (a service
    // whose records are gone keeps its block, answering 502) is dynamic with
    // an empty set: its block then has the same shape whether or not records
    // exist, and the dict never serves a gone service's old endpoints.
    const extra = (s: string): string[] => {
      if (fixed.has(s)) return [];
      if (!sets.has(s)) {
        sets.set(s, peerSetOf({ service: s, endpoints: [], members: [], failOpen: false }, this.host.optionsFor(s)));
        track(s, sets.get(s)!);
      }
      return [balancerLine(s, this.pushed.get(s)!.version)];
    };
    // One render with an empty structure slot in the glue; the structure is
    // that text with the dynamic sets and versions taken out, then filled in.
    const unsigned = renderGlue(this.paths, '');
    const unsignedText = unsigned.join('\n');
    const draft = await this.host.render(view, extra, unsigned);
    for (const service of this.pushed.keys()) if (!sets.has(service)) this.pushed.delete(service);
    const structure = structureSignature(draft.text, sets, this.luaText);
    const glue = renderGlue(this.paths, structure);
    const rendered = draft;
    // The owned file ends with the glue: the signed one replaces the unsigned one.
    const fileText = () => (this.host.mode === 'owned' && draft.text.endsWith(unsignedText) ? draft.text.slice(0, draft.text.length - unsignedText.length) + glue.join('\n') : draft.text);
    warnings.push(...rendered.warnings);
    const what = `${rendered.upstreams.length} upstream${rendered.upstreams.length === 1 ? '' : 's'}, ${rendered.members} server${rendered.members === 1 ? '' : 's'}`;

    if (this.confirmed?.structure === structure) {
      const all = new Map([...sets].map(([s, set]) => [s, { version: this.pushed.get(s)!.version, set }]));
      const nginxLost = this.confirmed.version < this.lastVersion;
      const toPush = nginxLost ? all : changed;
      if (toPush.size === 0 && !nginxLost) {
        this.scheduleInstall(fileText);
        return { changed: false, reloaded: false, detail: `unchanged (${what}; nginx holds version ${this.confirmed.version})`, warnings };
      }
      try {
        const started = performance.now();
        await this.pushAndConfirm(version, toPush, structure);
        const pushMs = performance.now() - started;
        this.scheduleInstall(fileText);
        return {
          changed: true,
          reloaded: false,
          nginxVersion: version,
          detail: `pushed ${toPush.size} service${toPush.size === 1 ? '' : 's'} to nginx without a reload (${what}; version ${version} confirmed in ${Math.round(pushMs)}ms)`,
          warnings,
        };
      } catch (err) {
        warnings.push(`the push to nginx, reloaded instead: ${(err as Error).message}`);
        this.confirmed = undefined;
      }
    }
    // The validated path: the file carries the current sets under `version`,
    // newer than anything in the dict, so nginx serves them right after the reload.
    if (this.host.mode === 'edit') await this.writeEditGlue(glue);
    this.pendingInstall = undefined; // the activation writes a newer text
    this.installFirstPending = undefined;
    const result = await this.writeFile(() => this.host.activate(fileText()));
    try {
      if (result.reloaded) await this.waitForStructure(structure);
      await this.pushAndConfirm(version, new Map([...sets].map(([s, set]) => [s, { version: this.pushed.get(s)!.version, set }])), structure);
    } catch (err) {
      warnings.push(`dynamic updates until nginx's Lua balancer confirms (endpoint changes reload meanwhile): ${(err as Error).message}`);
    }
    const detail = !result.reloaded
      ? `unchanged (${what})`
      : `reloaded nginx for a structural change (${what}; test ${Math.round(result.timings.testMs)}ms, reload ${Math.round(result.timings.reloadMs)}ms${result.confirmed ? ', new workers up' : ', unconfirmed'}${this.confirmed ? `; version ${this.confirmed.version} confirmed` : ''})`;
    return { changed: result.reloaded, reloaded: result.reloaded, ...(this.confirmed ? { nginxVersion: this.confirmed.version } : {}), detail, warnings };
  }

  /**
   * A pool's eligibility and set, kept per pool object: lbsync hands an
   * unchanged service the same pool object in every view, so an apply
   * derives only the services that changed.
   */
  private derive(pool: ServicePool): Derived {
    const userMethod = this.host.userMethod?.(pool.service);
    const known = this.derived.get(pool);
    if (known && known.userMethod === userMethod) return known;
    const opts = this.host.optionsFor(pool.service);
    const e = eligibility(pool, opts, userMethod);
    const set = e.dynamic ? peerSetOf(pool, opts) : undefined;
    const d: Derived = set ? { userMethod, set, key: setKey(set) } : { userMethod, reason: e.dynamic ? '' : e.reason };
    this.derived.set(pool, d);
    return d;
  }

  /** Pushes `sets` as `version` and reads the version back; nginx must also run `structure`. */
  private async pushAndConfirm(version: number, sets: ReadonlyMap<string, { version: number; set: PeerSet }>, structure: string): Promise<void> {
    const client = this.client!;
    let state = await client.push(encodePush(version, sets));
    if (state.version !== version) throw new Error(`nginx holds version ${state.version} after pushing ${version}`);
    // The dict is shared by every worker generation, but the structure is the
    // answering worker's: for ≥ 100 ms after a reload old workers still accept.
    if (state.structure !== structure) state = await this.waitForStructure(structure);
    if (state.structure !== structure) throw new Error(`nginx runs structure ${state.structure || '(none)'}, not ${structure}`);
    this.lastVersion = version;
    this.confirmed = state;
  }

  /**
   * Right after a reload an old worker may still answer the control socket
   * with the old structure; the new workers answer within a few ms.
   */
  private async waitForStructure(structure: string, timeoutMs = 2000): Promise<ControlState> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const state = await this.client!.state().catch(() => undefined);
      if (state && (state.structure === structure || performance.now() > deadline)) return state;
      if (!state && performance.now() > deadline) return { version: 0, structure: '' };
      await delay(5);
    }
  }

  /**
   * Notices an nginx that restarted (empty dict) or runs another structure,
   * and retries an apply that failed or ended unconfirmed (with backoff):
   * both apply the last view again. An nginx that does not answer (down, or
   * the glue not included) has nothing to push into, so nothing is tried.
   */
  private async watch(): Promise<void> {
    if (!this.lastView || !this.client) return;
    let state = await this.client.state().catch(() => undefined);
    if (!state) return;
    // An old worker answers with its structure until it retires; only a lasting difference counts.
    if (this.confirmed && state.structure !== this.confirmed.structure) state = await this.waitForStructure(this.confirmed.structure, 1000);
    const lost = this.confirmed !== undefined && (state.version < this.lastVersion || state.structure !== this.confirmed.structure);
    const retry = this.failures > 0 && Date.now() >= this.retryAt;
    if (!lost && !retry) return;
    if (lost) this.confirmed = state;
    await this.apply(this.lastView).then(this.onRepush, this.onRepush);
  }

  /**
   * Writes the file after pushes, off their path, once they pause: the next
   * change is not held up by `nginx -t`, and a burst or a rolling deploy is
   * one write, not one per push. An install waits until no push came for
   * INSTALL_QUIET_MS, at most INSTALL_MAX_LAG_MS after the first push it
   * carries, and under churn at least INSTALL_SPACING × the last install's
   * duration after it: `nginx -t` loads the Lua module and parses the whole
   * file (about 30 ms of CPU here, a third of a second at 20,000 servers),
   * for a file only a restart reads — tested back to back during a burst of
   * records, it took the CPU the burst's own health checks needed. A restart
   * in that gap starts with the set before, and lbsync pushes the current
   * one within a poll.
   */
  private scheduleInstall(text: () => string): void {
    const now = performance.now();
    this.pendingInstall = text;
    this.lastPushAt = now;
    this.installFirstPending ??= now;
    if (!this.installTimer) this.armInstall(now);
  }

  private armInstall(now: number): void {
    this.installTimer = setTimeout(() => {
      this.installTimer = undefined;
      if (this.pendingInstall === undefined) return;
      // A push since the timer was set moved the quiet deadline on: wait for it.
      if (performance.now() < this.installDue() - 1) return this.armInstall(performance.now());
      this.installFirstPending = undefined;
      this.writeFile(async () => {
        const pending = this.pendingInstall;
        this.pendingInstall = undefined;
        if (pending === undefined) return;
        const started = performance.now();
        try {
          await this.host.install(pending());
        } finally {
          this.lastInstall = { ms: performance.now() - started, endedAt: performance.now() };
        }
      }).catch((err: unknown) => this.onRepush(err instanceof Error ? err : new Error(String(err))));
    }, Math.max(0, this.installDue() - now));
    this.installTimer.unref();
  }

  private installDue(): number {
    const spacing = this.lastInstall ? this.lastInstall.endedAt + INSTALL_SPACING * this.lastInstall.ms : 0;
    return Math.max(Math.min(this.lastPushAt + INSTALL_QUIET_MS, this.installFirstPending! + INSTALL_MAX_LAG_MS), spacing);
  }

  /** Runs `write` after every earlier write of the live file. */
  private writeFile<T>(write: () => Promise<T>): Promise<T> {
    const run = this.fileWrites.then(write);
    this.fileWrites = run.catch(() => undefined);
    return run;
  }

  private async writeEditGlue(glue: string[]): Promise<void> {
    const text = glue.join('\n');
    if ((await readFile(this.paths.conf, 'utf8').catch(() => undefined)) !== text) await writeAtomic(this.paths.conf, text);
  }
}

/** Installs under churn are spaced by this many times the last one's duration (at most a fifth of the time in `nginx -t`). */
const INSTALL_SPACING = 4;
/** An install waits for this long without a push… */
const INSTALL_QUIET_MS = 300;
/** …but the file lags the dict by at most this much (plus the spacing). */
const INSTALL_MAX_LAG_MS = 1000;

/** What applyNow derives from one pool: its set and the set's key, or why the Lua side cannot serve it. */
type Derived = { userMethod: string | undefined } & ({ set: PeerSet; key: string; reason?: undefined } | { set?: undefined; key?: undefined; reason: string });

async function writeAtomic(path: string, text: string): Promise<void> {
  const staged = `${path}.beacon-staged.${process.pid}`;
  await writeFile(staged, text, { mode: 0o644 });
  await rename(staged, path);
}
