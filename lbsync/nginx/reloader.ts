import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import type Docker from 'dockerode';
import { NginxReloadError } from '../errors.js';
import { runArgv } from './command.js';

/**
 * Tells nginx to reload and lets the caller see whether it did: a reload
 * that took starts new worker processes, so comparing worker pids before and
 * after is the confirmation (an nginx that refused the new config keeps its
 * old workers and logs why).
 */
export interface Reloader {
  readonly describe: string;
  reload(): Promise<void>;
  /** The current worker pids, or undefined when they cannot be seen (no confirmation then). */
  workers(): Promise<Set<number> | undefined>;
}

/**
 * The pid in a pid file's text, or undefined unless it is a positive
 * integer: nginx leaves the file empty when it is stopped (`nginx -t`
 * creates it), and `process.kill(0)` or a negative pid would signal a whole
 * process group — lbsync's own.
 */
export function parsePid(text: string): number | undefined {
  const trimmed = text.trim();
  if (!/^[0-9]{1,10}$/.test(trimmed)) return undefined;
  const pid = Number(trimmed);
  return pid > 0 && pid <= 0x7fffffff ? pid : undefined;
}

/** Reads worker pids of a local master from /proc. */
async function localWorkers(pidFile: string | undefined): Promise<Set<number> | undefined> {
  if (!pidFile) return undefined;
  const master = parsePid(await readFile(pidFile, 'utf8').catch(() => ''));
  if (master === undefined) return undefined;
  try {
    const text = await readFile(`/proc/${master}/task/${master}/children`, 'utf8');
    return new Set(text.split(/\s+/).filter(Boolean).map(Number));
  } catch {
    // Kernels without CONFIG_PROC_CHILDREN: scan /proc for children of the master.
    const found = new Set<number>();
    for (const entry of await readdir('/proc').catch(() => [] as string[])) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid === master) found.add(Number(entry));
      } catch {
        // the process ended while we looked
      }
    }
    return found;
  }
}

/** `--nginx-reload CMD` (default `nginx -s reload`); confirmation through the pid file when it is known. */
export class CommandReloader implements Reloader {
  readonly describe: string;
  constructor(private readonly argv: string[], private readonly pidFile: string | undefined) {
    this.describe = argv.join(' ');
  }
  async reload(): Promise<void> {
    const res = await runArgv(this.argv);
    if (res.code !== 0) throw new NginxReloadError(`${this.describe} exited with ${res.code}: ${(res.stderr || res.stdout).trim()}`, false);
  }
  workers(): Promise<Set<number> | undefined> {
    return localWorkers(this.pidFile);
  }
}

/** `--nginx-pid FILE`: SIGHUP to the master whose pid the file holds. */
export class PidReloader implements Reloader {
  readonly describe: string;
  constructor(private readonly pidFile: string) {
    this.describe = `SIGHUP to the pid in ${pidFile}`;
  }
  async reload(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.pidFile, 'utf8');
    } catch (err) {
      throw new NginxReloadError(`cannot read nginx pid file ${this.pidFile} (is nginx running?): ${(err as Error).message}`, false, { cause: err });
    }
    const pid = parsePid(text);
    if (pid === undefined) {
      throw new NginxReloadError(`nginx pid file ${this.pidFile} holds ${text.trim() ? `"${text.trim().slice(0, 20)}"` : 'nothing'}, not a positive pid: nginx is not running`, false);
    }
    const command = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
    // A stale pid file may name a pid the kernel has since given to another process.
    if (command !== undefined && !/^nginx: master process/.test(command)) {
      throw new NginxReloadError(`pid ${pid} from ${this.pidFile} is not an nginx master (${JSON.stringify(command.replaceAll('\0', ' ').trim().slice(0, 60))}): nginx is not running`, false);
    }
    try {
      process.kill(pid, 'SIGHUP');
    } catch (err) {
      throw new NginxReloadError(`cannot signal nginx (pid ${pid} from ${this.pidFile}): ${(err as Error).message}`, false, { cause: err });
    }
  }
  workers(): Promise<Set<number> | undefined> {
    return localWorkers(this.pidFile);
  }
}

/** `--nginx-container NAME`: HUP through the Docker API (as docker-gen does); workers seen with `docker top`. */
export class ContainerReloader implements Reloader {
  readonly describe: string;
  constructor(private readonly docker: Docker, private readonly name: string) {
    this.describe = `SIGHUP to container ${name}`;
  }
  async reload(): Promise<void> {
    try {
      await this.docker.getContainer(this.name).kill({ signal: 'HUP' });
    } catch (err) {
      throw new NginxReloadError(`cannot signal nginx container ${this.name}: ${(err as Error).message}`, false, { cause: err });
    }
  }
  async workers(): Promise<Set<number> | undefined> {
    try {
      const top = (await this.docker.getContainer(this.name).top({ ps_args: '-eo pid,args' })) as { Titles: string[]; Processes: string[][] };
      const pid = top.Titles.indexOf('PID');
      const args = top.Titles.findIndex((t) => t === 'COMMAND' || t === 'CMD');
      if (pid < 0 || args < 0) return undefined;
      return new Set(top.Processes.filter((p) => /nginx: worker process/.test(p[args] ?? '')).map((p) => Number(p[pid])));
    } catch {
      return undefined;
    }
  }
}
