import { basename, dirname, isAbsolute, join, matchesGlob, resolve } from 'node:path';
import { NginxConfError } from '../errors.js';
import { scanConf, type ConfDirective } from './conf-scanner.js';

/** File access the planner needs; injected so the planning stays pure and testable. */
export interface ConfFiles {
  read(path: string): string;
  /** Expands an nginx include pattern to sorted absolute paths (no dotfiles, as glob(3) does). */
  glob(pattern: string): string[];
}

/** The shadow files to write so that `nginx -t -c main` sees `staged` where the live config has `target`. */
export interface ShadowPlan {
  /** The config to pass to `nginx -t -c`. */
  main: string;
  /** Shadow copies to write (path → text); they live beside their originals. */
  files: Map<string, string>;
}

/**
 * The name of the shadow copy of `file`: a dotfile, so no `*` / `*.conf`
 * include ever picks it up, tagged (with the pid) so that two lbsync
 * processes never write each other's copies.
 */
export function shadowPathOf(file: string, tag: string): string {
  return join(dirname(file), `.${basename(file)}.beacon-shadow.${tag}`);
}

/**
 * Plans a private copy of the include chain from the main config down to
 * `target`, with `target` replaced by `staged`, so that nginx can test the
 * candidate file in the context of the full config while the live files stay
 * untouched. The live config is therefore valid at every instant, whatever
 * happens to lbsync (kill -9 included), which a swap-in-then-test scheme
 * cannot promise. Only the files on the chain are copied; every other include
 * still points at the live files. Relative include paths resolve against the
 * main config's directory (nginx's conf prefix), which the shadow main shares.
 *
 * Returns undefined when `target` is not reached from `main`.
 */
export function planShadow(main: string, target: string, staged: string, files: ConfFiles, tag = String(process.pid), maxDepth = 8): ShadowPlan | undefined {
  const prefix = dirname(main);
  if (resolve(main) === resolve(target)) return { main: staged, files: new Map() };
  const planned = new Map<string, string>();
  const visiting = new Set<string>();

  // Returns the path nginx should read instead of `file`, or undefined when its subtree does not reach the target.
  const visit = (file: string, depth: number): string | undefined => {
    if (resolve(file) === resolve(target)) return staged;
    if (depth > maxDepth || visiting.has(file)) return undefined;
    const shadow = shadowPathOf(file, tag);
    if (planned.has(shadow)) return shadow;
    let text: string;
    try {
      text = files.read(file);
    } catch {
      return undefined;
    }
    visiting.add(file);
    try {
      const edits: Array<{ from: number; to: number; text: string }> = [];
      for (const d of includes(scanConf(text, file))) {
        const pattern = d.args[0]!;
        const absolute = isAbsolute(pattern) ? pattern : join(prefix, pattern);
        const matches = /[*?[]/.test(pattern) ? withTarget(files.glob(absolute), absolute, target) : [absolute];
        let touched = false;
        const paths = matches.map((m) => {
          const replacement = visit(m, depth + 1);
          if (replacement) touched = true;
          return replacement ?? m;
        });
        if (touched) edits.push({ from: d.start, to: d.end, text: paths.map((p) => `include ${quote(p)};`).join(' ') });
      }
      if (edits.length === 0) return undefined;
      let out = text;
      for (const e of edits.sort((a, b) => b.from - a.from)) out = out.slice(0, e.from) + e.text + out.slice(e.to);
      planned.set(shadow, out);
      return shadow;
    } finally {
      visiting.delete(file);
    }
  };

  const shadowMain = visit(main, 0);
  if (!shadowMain) return undefined;
  return { main: shadowMain, files: planned };
}

/**
 * On lbsync's first run the target file may not exist yet, so the glob of
 * `include conf.d/*.conf` cannot list it; nginx will read it once it exists,
 * so it belongs among the matches (in glob order).
 */
function withTarget(matches: string[], pattern: string, target: string): string[] {
  const absoluteTarget = resolve(target);
  if (matches.some((m) => resolve(m) === absoluteTarget) || !matchesGlob(absoluteTarget, pattern)) return matches;
  return [...matches, absoluteTarget].sort();
}

function* includes(tree: ConfDirective[]): Generator<ConfDirective> {
  for (const d of tree) {
    if (d.name === 'include' && !d.block && d.args.length === 1) yield d;
    if (d.block) yield* includes(d.block.children);
  }
}

function quote(path: string): string {
  if (/["\\\n]/.test(path)) throw new NginxConfError(`cannot include a path with quotes or backslashes: ${path}`);
  return `"${path}"`;
}
