import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startProcess, type Started } from './processes.js';

/** The compiled CLI entry point (tests run from dist/). */
export const BEACON_BIN = fileURLToPath(new URL('../../cli/main.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `beacon ARGS…` to completion with the same Node that runs the tests. */
export function beacon(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 20_000): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BEACON_BIN, ...args], { env: { ...process.env, ...env }, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts a long-running `beacon ARGS…` (a sidekick, lbsync, a watch); output goes to `logFile`. */
export function startBeacon(args: string[], logFile: string, env: NodeJS.ProcessEnv = {}): Started {
  return startProcess(process.execPath, [BEACON_BIN, ...args], logFile, { ...process.env, ...env });
}
