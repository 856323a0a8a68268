import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { NginxConfError } from '../errors.js';
import { mainConfFromTestOutput, nginxMessage, runArgv } from './command.js';
import { scanConf } from './conf-scanner.js';
import { argvNamesMain, builtPaths, hasPlaceholder, MAIN_PLACEHOLDER, nginxArgs, resolveLayout, type BuiltPaths } from './nginx-argv.js';

/** Where nginx's files are, as lbsync found them at start. */
export interface NginxLayout {
  /** The main config nginx reads (the root of the include chain lbsync tests). */
  mainConf: string;
  /** nginx's prefix, which relative `pid` / `error_log` paths resolve against; unknown for some wrappers. */
  prefix?: string;
  /** How the main config was found, for the start log. */
  source: '--nginx-main-conf' | '--nginx-test argv' | 'nginx -V' | 'nginx -t output';
  /** The master's pid file (the `pid` directive), when it can be told: reload confirmation reads it. */
  pidFile?: string;
  /** The top-level `error_log` file, when it is one: a failed reload's reason is read from it. */
  errorLog?: string;
  /** Lookups that failed, one sentence each naming the file and the reason (reload confirmation may be off). */
  warnings: string[];
}

/** Runs a command; the seam tests replace. */
export type RunCommand = typeof runArgv;

/**
 * Finds the main config: an explicit `--nginx-main-conf`, else `-p` / `-c`
 * in the test command's argv, else nginx's compiled-in paths (`nginx -V`,
 * run through the same wrapper), and only as a last resort the file name
 * nginx prints on `-t` (which `-q` silences and a wrapper may reword).
 */
export async function discoverLayout(testArgv: readonly string[], explicitMain?: string, run: RunCommand = runArgv): Promise<NginxLayout> {
  const args = nginxArgs(testArgv);
  let built: BuiltPaths = {};
  if (args && (!argvNamesMain(args) || args.prefix === undefined)) {
    // `docker exec edge nginx -t` → `docker exec edge nginx -V`: ask the nginx that the test runs.
    const res = await run([...testArgv.slice(0, args.at + 1), '-V']);
    built = builtPaths(`${res.stderr}\n${res.stdout}`);
  }
  const resolved = resolveLayout(args, built);
  let mainConf: string | undefined;
  let source: NginxLayout['source'];
  if (explicitMain) {
    mainConf = resolve(explicitMain);
    source = '--nginx-main-conf';
  } else if (argvNamesMain(args)) {
    mainConf = resolved.mainConf;
    source = '--nginx-test argv';
  } else if (resolved.mainConf) {
    mainConf = resolved.mainConf;
    source = 'nginx -V';
  } else {
    if (hasPlaceholder(testArgv)) {
      throw new NginxConfError(`--nginx-test "${testArgv.join(' ')}" has ${MAIN_PLACEHOLDER} and names no nginx lbsync can ask (nginx -V): give --nginx-main-conf FILE`);
    }
    const res = await run(testArgv);
    mainConf = mainConfFromTestOutput(`${res.stderr}\n${res.stdout}`);
    source = 'nginx -t output';
    if (!mainConf) {
      throw new NginxConfError(`cannot tell which main config "${testArgv.join(' ')}" tests (no -c in it, no nginx -V answer, and its output names none: ${nginxMessage(res.stderr || res.stdout)}); give --nginx-main-conf FILE`);
    }
  }
  const layout: NginxLayout = { mainConf: mainConf!, source, warnings: [] };
  if (resolved.prefix) layout.prefix = resolved.prefix;
  Object.assign(layout, mainFiles(layout.mainConf, layout.prefix, layout.warnings));
  return layout;
}

/**
 * The main config's top-level `pid` and `error_log` files, resolved like
 * nginx does (relative to the prefix). A config that cannot be read or
 * scanned is reported in `warnings`, never swallowed: without the pid file
 * reloads go unconfirmed, and the operator must know why.
 */
export function mainFiles(mainConf: string, prefix: string | undefined, warnings: string[], read = (p: string) => readFileSync(p, 'utf8')): { pidFile?: string; errorLog?: string } {
  let directives;
  try {
    directives = scanConf(read(mainConf), mainConf);
  } catch (err) {
    warnings.push(`reload confirmation: cannot read the pid and error_log directives of ${mainConf}: ${(err as Error).message}; reloads go unconfirmed`);
    return {};
  }
  const out: { pidFile?: string; errorLog?: string } = {};
  const locate = (path: string | undefined, what: string): string | undefined => {
    if (!path) return undefined;
    if (isAbsolute(path)) return path;
    if (prefix) return join(prefix, path);
    warnings.push(`reload confirmation: ${what} "${path}" in ${mainConf} is relative and nginx's prefix is unknown (give -p in --nginx-test)`);
    return undefined;
  };
  const pid = locate(directives.find((d) => d.name === 'pid')?.args[0], 'pid');
  if (pid) out.pidFile = pid;
  const log = directives.find((d) => d.name === 'error_log')?.args[0];
  if (log && log !== 'stderr' && !/^(syslog|memory):/.test(log)) {
    const file = locate(log, 'error_log');
    if (file) out.errorLog = file;
  }
  return out;
}
