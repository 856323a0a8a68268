import { basename, isAbsolute, join, resolve } from 'node:path';
import { NginxConfError } from '../errors.js';

/**
 * Where a wrapper command (`sh -c '…'`, a script) wants the config path, as
 * confd's `{{.src}}`: lbsync substitutes the private copy it tests there.
 */
export const MAIN_PLACEHOLDER = '{main}';

/** nginx's options that take a value (`-p DIR`, `-pDIR`, `-tc FILE` all count, as in ngx_get_options). */
const VALUED = new Set(['p', 'c', 'g', 's', 'e']);
const SWITCHES = new Set(['?', 'h', 'v', 'V', 't', 'T', 'q']);

/** A binary nginx's own flags follow: nginx, nginx-debug, openresty. */
const NGINX_BINARY = /^(nginx|openresty)([-.][\w.-]*)?$/;

/** One valued option in argv: its letter and where its value sits (`argv[index].slice(start)`). */
interface ValuedOption {
  letter: string;
  index: number;
  start: number;
}

/** What a command line tells about nginx: where its binary word is and the -p / -c it passes. */
export interface NginxArgs {
  /** Index of the nginx binary word in argv (a wrapper's words come before it). */
  at: number;
  prefix?: string;
  conf?: string;
}

/** Index of the first word naming an nginx binary, or -1 (a wrapper that hides nginx, such as `sh -c '…'`). */
export function nginxWordIndex(argv: readonly string[]): number {
  return argv.findIndex((word) => NGINX_BINARY.test(basename(word)));
}

/** Parses nginx's options after its binary word the way ngx_get_options does; stops at the first word that is not one. */
function valuedOptions(argv: readonly string[], at: number): ValuedOption[] {
  const out: ValuedOption[] = [];
  for (let i = at + 1; i < argv.length; i++) {
    const word = argv[i]!;
    if (!word.startsWith('-') || word.length < 2) break;
    let j = 1;
    for (; j < word.length; j++) {
      const letter = word[j]!;
      if (SWITCHES.has(letter)) continue;
      if (!VALUED.has(letter)) return out;
      if (j + 1 < word.length) out.push({ letter, index: i, start: j + 1 });
      else if (i + 1 < argv.length) out.push({ letter, index: ++i, start: 0 });
      break;
    }
  }
  return out;
}

/** The nginx invocation inside argv and its -p / -c values, or undefined when no word names nginx. */
export function nginxArgs(argv: readonly string[]): NginxArgs | undefined {
  const at = nginxWordIndex(argv);
  if (at < 0) return undefined;
  const args: NginxArgs = { at };
  for (const o of valuedOptions(argv, at)) {
    const value = argv[o.index]!.slice(o.start);
    if (o.letter === 'p') args.prefix = value;
    if (o.letter === 'c') args.conf = value;
  }
  return args;
}

/** True when the command says where the config path goes. */
export function hasPlaceholder(argv: readonly string[]): boolean {
  return argv.some((w) => w.includes(MAIN_PLACEHOLDER));
}

/**
 * Returns argv that makes nginx read `conf`: the `{main}` placeholder is
 * replaced wherever it appears; else nginx's own `-c` is replaced (or added
 * after its other options). A wrapper that hides nginx and has no
 * placeholder is refused: appending `-c` to `sh -c '…'` would be silently
 * ignored and nginx would test the live config instead of the candidate.
 */
export function withConfFile(argv: readonly string[], conf: string, field = '--nginx-test'): string[] {
  if (hasPlaceholder(argv)) return argv.map((w) => w.split(MAIN_PLACEHOLDER).join(conf));
  const at = nginxWordIndex(argv);
  if (at < 0) {
    throw new NginxConfError(`${field} "${argv.join(' ')}" names no nginx binary, so lbsync cannot tell where the config path goes: put ${MAIN_PLACEHOLDER} where nginx's -c argument belongs`);
  }
  const out = [...argv];
  const c = valuedOptions(argv, at).findLast((o) => o.letter === 'c');
  if (c) out[c.index] = out[c.index]!.slice(0, c.start) + conf;
  else out.push('-c', conf);
  return out;
}

/** The compiled-in paths `nginx -V` reports (`--prefix=`, `--conf-path=`). */
export interface BuiltPaths {
  prefix?: string;
  confPath?: string;
}

/** Reads `--prefix=` and `--conf-path=` from `nginx -V` output. */
export function builtPaths(versionOutput: string): BuiltPaths {
  const out: BuiltPaths = {};
  const prefix = /--prefix=(\S+)/.exec(versionOutput)?.[1];
  const conf = /--conf-path=(\S+)/.exec(versionOutput)?.[1];
  if (prefix) out.prefix = prefix;
  if (conf) out.confPath = conf;
  return out;
}

/**
 * The main config and prefix nginx would use, resolved as nginx does: `-p`
 * (relative to the working directory) else the compiled-in prefix; `-c` else
 * the compiled-in conf path, relative to the prefix. Undefined parts are
 * ones the inputs cannot tell.
 */
export function resolveLayout(args: NginxArgs | undefined, built: BuiltPaths, cwd = process.cwd()): { mainConf?: string; prefix?: string } {
  const prefix = args?.prefix !== undefined ? resolve(cwd, args.prefix) : built.prefix;
  const conf = args?.conf !== undefined && !args.conf.includes(MAIN_PLACEHOLDER) ? args.conf : built.confPath;
  const out: { mainConf?: string; prefix?: string } = {};
  if (prefix) out.prefix = prefix;
  if (conf && isAbsolute(conf)) out.mainConf = conf;
  else if (conf && prefix) out.mainConf = join(prefix, conf);
  return out;
}

/** True when argv's own -c (absolute, or with -p) already names the main config, so `nginx -V` is not needed for it. */
export function argvNamesMain(args: NginxArgs | undefined): boolean {
  if (!args?.conf || args.conf.includes(MAIN_PLACEHOLDER)) return false;
  return isAbsolute(args.conf) || args.prefix !== undefined;
}
