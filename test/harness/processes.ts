import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';

/** A child process started by a test, with its output going to a log file. */
export interface Started {
  child: ChildProcess;
  pid: number;
  /** Ends the process by pid (SIGTERM, then SIGKILL) and waits for it. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  exited: Promise<number | null>;
}

/** Starts a long-running process; its stdout/stderr go to `logFile`. */
export function startProcess(cmd: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): Started {
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
  const pid = child.pid;
  return {
    child,
    pid,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
