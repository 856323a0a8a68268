import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startProcess, type Started } from './processes.js';

/** The compiled CLI entry point (tests run from dist/). */
const BEACON_BIN = fileURLToPath(new URL('../../cli/main.js', import.meta.url));

/**
 * The Node options the executable's own `#!/usr/bin/env -S node …` line asks
 * for: tests run beacon with the Node that runs them (process.execPath, the
 * project's Node 24), and with these options, so what is tested and measured
 * is what ships.
 */
export const BEACON_NODE_OPTIONS: string[] = (() => {
  const shebang = readFileSync(BEACON_BIN, 'utf8').split('\n', 1)[0]!;
  const words = shebang.replace(/^#!\s*/, '').split(/\s+/);
  return words.slice(words.indexOf('node') + 1);
})();

/** Node's arguments that run the executable as shipped, before beacon's own: `node [options] main.js`. */
export const BEACON_NODE_ARGS: string[] = [...BEACON_NODE_OPTIONS, BEACON_BIN];

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `beacon ARGS…` to completion with the same Node that runs the tests. */
export function beacon(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 20_000): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [...BEACON_NODE_ARGS, ...args], { env: { ...process.env, ...env }, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts a long-running `beacon ARGS…` (a sidekick, lbsync, a watch); output goes to `logFile`. */
export function startBeacon(args: string[], logFile: string, env: NodeJS.ProcessEnv = {}): Started {
  return startProcess(process.execPath, [...BEACON_NODE_ARGS, ...args], logFile, { ...process.env, ...env });
}
