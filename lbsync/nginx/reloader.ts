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

/** Reads worker pids of a local master from /proc. */
async function localWorkers(pidFile: string | undefined): Promise<Set<number> | undefined> {
  if (!pidFile) return undefined;
  let master: number;
  try {
    master = Number((await readFile(pidFile, 'utf8')).trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(master) || master <= 0) return undefined;
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
    let pid: number;
    try {
      pid = Number((await readFile(this.pidFile, 'utf8')).trim());
    } catch (err) {
      throw new NginxReloadError(`cannot read nginx pid file ${this.pidFile}: ${(err as Error).message}`, false, { cause: err });
    }
    // An empty file (nginx is writing it right now) reads as 0, and kill(0)
    // would signal lbsync's own process group.
    if (!Number.isInteger(pid) || pid <= 1) throw new NginxReloadError(`nginx pid file ${this.pidFile} holds no pid yet`, false);
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
