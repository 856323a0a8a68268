import { globSync, readFileSync } from 'node:fs';
import { open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { NginxConfError, NginxReloadError, NginxValidationError } from '../errors.js';
import { mainConfFromTestOutput, nginxMessage, runArgv, withConfFile } from './command.js';
import { scanConf } from './conf-scanner.js';
import { planShadow } from './include-shadow.js';
import type { Reloader } from './reloader.js';

export interface ActivatorOptions {
  /** The live file lbsync writes (owned file, or the user's config in edit-in-place mode). */
  file: string;
  /** `--nginx-test` as argv; `-c` is pointed at a private copy of the main config for each test. */
  testArgv: string[];
  /** Builds the reloader once the main config is known (command mode reads the pid file it names). */
  reloader: (mainConf: string) => Reloader;
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
  private mainConf: string | undefined;
  private lastGood: string | undefined;
  private hadFile = false;
  private reloadedOnce = false;
  private errorLog: string | undefined;
  private readonly staged: string;
  private reloader: Reloader | undefined;

  constructor(private readonly options: ActivatorOptions) {
    this.staged = join(dirname(options.file), `.${basename(options.file)}.beacon-staged.${process.pid}`);
  }

  /** Finds the main config (from nginx's own `-t` output), cleans stale staging files, remembers the live text. */
  async init(): Promise<void> {
    const res = await runArgv(this.options.testArgv);
    const main = mainConfFromTestOutput(`${res.stderr}\n${res.stdout}`);
    if (!main) {
      throw new NginxConfError(`cannot tell which main config "${this.options.testArgv.join(' ')}" tests (its output names none): ${nginxMessage(res.stderr || res.stdout)}`);
    }
    this.mainConf = main;
    this.reloader = this.options.reloader(main);
    await this.cleanStale();
    this.errorLog = errorLogOf(main, this.options.testArgv);
    try {
      this.lastGood = await readFile(this.options.file, 'utf8');
      this.hadFile = true;
    } catch {
      this.lastGood = undefined;
    }
  }

  /** The live file's text, or undefined when it does not exist yet. */
  async live(): Promise<string | undefined> {
    return readFile(this.options.file, 'utf8').catch(() => undefined);
  }

  /** Runs nginx's test on `text` as if it were the live file; throws NginxValidationError with nginx's message. */
  async test(text: string): Promise<number> {
    const started = performance.now();
    await writeDurable(this.staged, text, await modeOf(this.options.file));
    const plan = planShadow(this.main(), this.options.file, this.staged, {
      read: (p) => readFileSync(p, 'utf8'),
      glob: (p) => globSync(p).sort(),
    });
    if (!plan) {
      await rm(this.staged, { force: true });
      throw new NginxConfError(`${this.options.file} is not included by ${this.main()}, so nginx would never read it`);
    }
    try {
      for (const [path, body] of plan.files) await writeFile(path, body);
      const res = await runArgv(withConfFile(this.options.testArgv, plan.main));
      if (res.code !== 0) {
        await rm(this.staged, { force: true });
        throw new NginxValidationError(this.unshadow(nginxMessage(`${res.stderr}\n${res.stdout}`), plan.files.keys()));
      }
    } finally {
      await Promise.all([...plan.files.keys()].map((p) => rm(p, { force: true })));
    }
    return performance.now() - started;
  }

  /**
   * Makes `text` live: skips when it equals the live file (except for the
   * first call, which reloads anyway in case a crash left a tested file
   * that nginx never loaded), else test, rename, reload, confirm.
   */
  async activate(text: string): Promise<Activation> {
    const live = await this.live();
    if (live === text && this.reloadedOnce) return { changed: false, reloaded: false, confirmed: false, timings: { testMs: 0, reloadMs: 0 } };
    let testMs = 0;
    if (live !== text) {
      testMs = await this.test(text);
      await rename(this.staged, this.options.file);
    }
    const started = performance.now();
    const confirmed = await this.reloadAndConfirm();
    this.lastGood = text;
    this.hadFile = true;
    this.reloadedOnce = true;
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
    await rename(this.staged, this.options.file);
    this.lastGood = text;
    this.hadFile = true;
    return true;
  }

  private async reloadAndConfirm(): Promise<boolean> {
    const reloader = this.reloader!;
    const before = await reloader.workers();
    const logStart = await sizeOf(this.errorLog);
    try {
      await reloader.reload();
    } catch (err) {
      await this.rollBack();
      throw err;
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
    const rolledBack = await this.rollBack();
    throw new NginxReloadError(
      `nginx did not start new workers within ${this.options.confirmTimeoutMs ?? 5000}ms after ${reloader.describe}${why ? `: ${why}` : ''}${rolledBack ? '; rolled back to the last good config' : ''}`,
      rolledBack,
    );
  }

  /** Puts the last good text back (atomically) so the file on disk matches what nginx runs. */
  private async rollBack(): Promise<boolean> {
    if (this.lastGood === undefined) {
      if (!this.hadFile) await rm(this.options.file, { force: true });
      return !this.hadFile;
    }
    const current = await this.live();
    if (current === this.lastGood) return false;
    await writeDurable(this.staged, this.lastGood, await modeOf(this.options.file));
    await rename(this.staged, this.options.file);
    return true;
  }

  private async errorLogSince(offset: number | undefined): Promise<string | undefined> {
    if (!this.errorLog || offset === undefined) return undefined;
    try {
      const handle = await open(this.errorLog, 'r');
      try {
        const size = (await handle.stat()).size;
        const length = Math.min(size - offset, 64 * 1024);
        if (length <= 0) return undefined;
        const buf = Buffer.alloc(length);
        await handle.read(buf, 0, length, offset);
        const lines = buf.toString('utf8').split('\n').filter((l) => /\[(emerg|alert|crit)\]/.test(l));
        return lines.map((l) => l.replace(/^\S+ \S+ /, '')).join('; ') || undefined;
      } finally {
        await handle.close();
      }
    } catch {
      return undefined;
    }
  }

  /** The main config nginx tests (known after init). */
  get mainConfPath(): string | undefined {
    return this.mainConf;
  }

  private main(): string {
    if (!this.mainConf) throw new NginxConfError('the activator was not initialised');
    return this.mainConf;
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
    await handle.writeFile(text);
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

/** The main config's top-level `error_log` file, resolved like nginx does (relative to `-p`), if it is a file. */
function errorLogOf(main: string, testArgv: string[]): string | undefined {
  try {
    const directive = scanConf(readFileSync(main, 'utf8')).find((d) => d.name === 'error_log');
    const path = directive?.args[0];
    if (!path || path === 'stderr' || /^(syslog|memory):/.test(path)) return undefined;
    if (isAbsolute(path)) return path;
    const p = testArgv.indexOf('-p');
    return p >= 0 && testArgv[p + 1] ? join(testArgv[p + 1]!, path) : undefined;
  } catch {
    return undefined;
  }
}

/** The main config's `pid` file, resolved like nginx does (relative to `-p`), when it says one. */
export function pidFileOf(main: string, testArgv: string[]): string | undefined {
  try {
    const path = scanConf(readFileSync(main, 'utf8')).find((d) => d.name === 'pid')?.args[0];
    if (!path) return undefined;
    if (isAbsolute(path)) return path;
    const p = testArgv.indexOf('-p');
    return p >= 0 && testArgv[p + 1] ? join(testArgv[p + 1]!, path) : undefined;
  } catch {
    return undefined;
  }
}
