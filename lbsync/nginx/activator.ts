import { globSync, readFileSync } from 'node:fs';
import { open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { NginxConfError, NginxReloadError, NginxValidationError, NginxWriteError } from '../errors.js';
import { nginxMessage, runArgv } from './command.js';
import { planShadow } from './include-shadow.js';
import { discoverLayout, type NginxLayout } from './layout.js';
import { withConfFile } from './nginx-argv.js';
import type { Reloader } from './reloader.js';

export interface ActivatorOptions {
  /** The live file lbsync writes (owned file, or the user's config in edit-in-place mode). */
  file: string;
  /** `--nginx-test` as argv; its `{main}` (or nginx's `-c`) is pointed at a private copy of the main config for each test. */
  testArgv: string[];
  /** `--nginx-main-conf`: the main config, when the test command cannot tell it. */
  mainConf?: string;
  /** Builds the reloader once the layout is known (command mode reads the pid file the main config names). */
  reloader: (layout: NginxLayout) => Reloader;
  /** How long to wait for new workers after a reload before rolling back. */
  confirmTimeoutMs?: number;
}

/** What one activation did, with its timings in ms. */
export interface Activation {
  changed: boolean;
  reloaded: boolean;
  /** True when new workers were seen; false when the reloader cannot show workers. */
  confirmed: boolean;
  timings: { testMs: number; reloadMs: number };
}

/**
 * Config text is handled as latin1 (one character per byte), so a user's
 * file with bytes that are not UTF-8 goes back to disk byte for byte.
 *
 * Puts a new nginx config live without ever leaving a broken one on disk:
 * stage the text beside the live file → test it with nginx against the full
 * config → atomic rename over the live file → reload → confirm new workers →
 * roll back to the last good text if they never come.
 *
 * Testing uses a private copy of the include chain (include-shadow.ts), so
 * the live file only ever holds text that nginx has accepted: a kill -9 at
 * any moment leaves either the old or the new tested file, plus at most some
 * stale dotfiles that no include pattern picks up (cleaned on the next start).
 */
export class NginxActivator {
  private layout: NginxLayout | undefined;
  /** The text nginx last took from the live file (undefined: there was no file). */
  private lastGood: string | undefined;
  /** True once nginx is known to run the live file; a failed reload clears it, so the same text is reloaded again. */
  private inSync = false;
  private readonly staged: string;
  private reloader: Reloader | undefined;

  constructor(private readonly options: ActivatorOptions) {
    this.staged = join(dirname(options.file), `.${basename(options.file)}.beacon-staged.${process.pid}`);
  }

  /** Finds the main config (layout.ts), cleans stale staging files, remembers the live text. */
  async init(): Promise<void> {
    this.layout = await discoverLayout(this.options.testArgv, this.options.mainConf);
    // Fail at start, not on the first apply, when the test command has no place for the config path.
    withConfFile(this.options.testArgv, this.layout.mainConf);
    this.reloader = this.options.reloader(this.layout);
    await this.cleanStale();
    try {
      this.lastGood = await readFile(this.options.file, 'latin1');
    } catch {
      this.lastGood = undefined;
    }
  }

  /** The live file's text, or undefined when it does not exist yet. */
  async live(): Promise<string | undefined> {
    return readFile(this.options.file, 'latin1').catch(() => undefined);
  }

  /** Runs nginx's test on `text` as if it were the live file; throws NginxValidationError with nginx's message. Leaves the staged file for activate() only when nginx accepted it. */
  async test(text: string): Promise<number> {
    const started = performance.now();
    try {
      await this.stage(text);
      const plan = planShadow(this.main(), this.options.file, this.staged, {
        read: (p) => readFileSync(p, 'utf8'),
        glob: (p) => globSync(p).sort(),
      });
      if (!plan) throw new NginxConfError(`${this.options.file} is not included by ${this.main()}, so nginx would never read it`);
      try {
        for (const [path, body] of plan.files) await writeFile(path, body).catch((err: unknown) => Promise.reject(new NginxWriteError(path, err)));
        const res = await runArgv(withConfFile(this.options.testArgv, plan.main));
        if (res.code !== 0) throw new NginxValidationError(this.unshadow(nginxMessage(`${res.stderr}\n${res.stdout}`), plan.files.keys()));
      } finally {
        await Promise.all([...plan.files.keys()].map((p) => rm(p, { force: true })));
      }
    } catch (err) {
      await rm(this.staged, { force: true });
      throw err;
    }
    return performance.now() - started;
  }

  /** Writes `text` to the staging file with the live file's mode; a full or read-only disk becomes a NginxWriteError. */
  private async stage(text: string): Promise<void> {
    try {
      await writeDurable(this.staged, text, await modeOf(this.options.file));
    } catch (err) {
      await rm(this.staged, { force: true });
      throw new NginxWriteError(this.staged, err);
    }
  }

  /** Renames the tested staging file over the live file; on failure the staging file goes. */
  private async promote(): Promise<void> {
    try {
      await rename(this.staged, this.options.file);
    } catch (err) {
      await rm(this.staged, { force: true });
      throw new NginxWriteError(this.options.file, err);
    }
  }

  /**
   * Makes `text` live: skips when it equals the live file and nginx is
   * known to run it (not on the first call, in case a crash left a tested
   * file that nginx never loaded, nor after a failed reload), else test,
   * rename, reload, confirm.
   */
  async activate(text: string): Promise<Activation> {
    const live = await this.live();
    if (live === text && this.inSync) return { changed: false, reloaded: false, confirmed: false, timings: { testMs: 0, reloadMs: 0 } };
    let testMs = 0;
    if (live !== text) {
      testMs = await this.test(text);
      await this.promote();
    }
    const started = performance.now();
    this.inSync = false;
    // What a rollback puts back: the bytes this call replaced (in edit-in-place
    // they hold the operator's latest edits), else the last text nginx took.
    const confirmed = await this.reloadAndConfirm(live !== text ? live : this.lastGood);
    this.lastGood = text;
    this.inSync = true;
    return { changed: live !== text, reloaded: true, confirmed, timings: { testMs, reloadMs: performance.now() - started } };
  }

  /**
   * Tests `text` and swaps it in without a reload (dynamic mode: nginx
   * already serves the change through its Lua balancer; the file follows so
   * a restarted nginx starts with the same servers). False when unchanged.
   */
  async install(text: string): Promise<boolean> {
    if ((await this.live()) === text) return false;
    await this.test(text);
    await this.promote();
    this.lastGood = text;
    return true;
  }

  private async reloadAndConfirm(restore: string | undefined): Promise<boolean> {
    const reloader = this.reloader!;
    const before = await reloader.workers();
    const logStart = await sizeOf(this.layout?.errorLog);
    try {
      await reloader.reload();
    } catch (err) {
      const back = await this.rollBack(restore, (err as Error).message);
      throw new NginxReloadError(`${(err as Error).message}${back.note}`, back.done, { cause: err });
    }
    if (!before) return false;
    const deadline = performance.now() + (this.options.confirmTimeoutMs ?? 5000);
    // Polling /proc is one small read; a fine step means the next apply is
    // not held up by a coarse wait (new workers usually appear within 2–5 ms,
    // or ~100 ms later when nginx was still finishing the previous reload).
    for (let wait = 1; performance.now() < deadline; wait = Math.min(wait * 2, 4)) {
      const now = await reloader.workers();
      if (now && [...now].some((pid) => !before.has(pid))) return true;
      await delay(wait);
    }
    const why = await this.errorLogSince(logStart);
    const back = await this.rollBack(restore);
    throw new NginxReloadError(
      `nginx did not start new workers within ${this.options.confirmTimeoutMs ?? 5000}ms after ${reloader.describe}${why ? `: ${why}` : ''}${back.note}`,
      back.done,
    );
  }

  /**
   * Puts `restore` back (atomically; undefined: no file) so the file on disk
   * is the one nginx ran, then reloads so nginx runs what is on disk (a
   * reload that failed half-way, or timed out, may have loaded the new text).
   * Returns whether the file changed back, and what happened as a clause
   * for the error message.
   */
  private async rollBack(restore: string | undefined, failure?: string): Promise<{ done: boolean; note: string }> {
    try {
      if ((await this.live()) === restore) return { done: false, note: '' };
      if (restore === undefined) {
        await rm(this.options.file, { force: true });
      } else {
        await this.stage(restore);
        await this.promote();
      }
    } catch (err) {
      return { done: false, note: `; could not roll back: ${(err as Error).message}` };
    }
    try {
      await this.reloader!.reload();
      return { done: true, note: '; rolled back to the last good config and reloaded nginx' };
    } catch (err) {
      const why = (err as Error).message === failure ? '' : `: ${(err as Error).message}`;
      return { done: true, note: `; rolled back to the last good config (nginx could not be reloaded either${why})` };
    }
  }

  private async errorLogSince(offset: number | undefined): Promise<string | undefined> {
    const errorLog = this.layout?.errorLog;
    if (!errorLog || offset === undefined) return undefined;
    try {
      const handle = await open(errorLog, 'r');
      try {
        const size = (await handle.stat()).size;
        const length = Math.min(size - offset, 64 * 1024);
        if (length <= 0) return undefined;
        const buf = Buffer.alloc(length);
        await handle.read(buf, 0, length, offset);
        const lines = buf.toString('utf8').split('\n').filter((l) => /\[(emerg|alert|crit)\]/.test(l));
        // nginx retries a failed bind() several times: one line per distinct reason.
        return [...new Set(lines.map((l) => l.replace(/^\S+ \S+ /, '')))].join('; ') || undefined;
      } finally {
        await handle.close();
      }
    } catch {
      return undefined;
    }
  }

  /** Where nginx's files are (known after init): the main config, how it was found, and lookups that failed. */
  get nginxLayout(): NginxLayout | undefined {
    return this.layout;
  }

  private main(): string {
    if (!this.layout) throw new NginxConfError('the activator was not initialised');
    return this.layout.mainConf;
  }

  private unshadow(message: string, shadows: Iterable<string>): string {
    let out = message.split(this.staged).join(this.options.file);
    for (const s of shadows) out = out.split(s).join(s.replace(/\/\.([^/]+)\.beacon-shadow\.\d+$/, '/$1'));
    return out;
  }

  /** Removes staging and shadow files left by a process that is gone (a kill -9); a live lbsync's are left alone. */
  private async cleanStale(): Promise<void> {
    const dirs = new Set([dirname(this.options.file), dirname(this.main())]);
    for (const dir of dirs) {
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        const pid = /^\..+\.beacon-(?:staged|shadow)\.(\d+)$/.exec(name)?.[1];
        if (pid && (Number(pid) === process.pid || !alive(Number(pid)))) await rm(join(dir, name), { force: true });
      }
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function writeDurable(path: string, text: string, mode: number | undefined): Promise<void> {
  const handle = await open(path, 'w', mode ?? 0o644);
  try {
    await handle.writeFile(text, 'latin1');
    if (mode !== undefined) await handle.chmod(mode);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

async function modeOf(path: string): Promise<number | undefined> {
  return stat(path).then((s) => s.mode & 0o7777, () => undefined);
}

async function sizeOf(path: string | undefined): Promise<number | undefined> {
  if (!path) return undefined;
  return stat(path).then((s) => s.size, () => 0);
}
