import type { PoolView, ServicePool } from '../output.js';
import { scanConf, type ConfDirective } from './conf-scanner.js';
import { MANAGED_MARK, optionsFor, renderUpstreamBody, type RenderOptions, type RenderProblem } from './render.js';
import { validateUpstreamOptions } from './upstream-options.js';

export interface EditOptions extends RenderOptions {
  /** Services named by `--services`: their blocks are managed even before they have a record. */
  services?: string[];
}

export interface EditResult {
  /** The whole file with the managed blocks rewritten; every other byte is the input's. */
  text: string;
  /** Upstream names rewritten, in file order. */
  managed: string[];
  /** Services with endpoints (or named by --services) that have no `upstream` block in the file. */
  missing: string[];
  problems: RenderProblem[];
}

/**
 * Rewrites only the managed `upstream NAME { … }` blocks of a user's nginx
 * config and returns the new text; everything outside those blocks, and the
 * `upstream NAME {` / `}` lines themselves, keep their exact bytes. Pure.
 *
 * A block is managed when NAME is a service in the view or in `services`, or
 * when its body holds lbsync's marker comment (so a block stays managed, and
 * falls back to a 502 placeholder, after its service disappears from etcd).
 * Blocks inside `stream { }` are TCP upstreams and are never touched.
 *
 * We splice text instead of using nginx-conf's write-back, which re-serialises
 * the whole file; see conf-scanner.ts.
 */
export function editUpstreams(source: string, view: PoolView, options: EditOptions = {}, file?: string): EditResult {
  const tree = scanConf(source, file);
  const pools = new Map(view.pools.map((p) => [p.service, p]));
  const wanted = new Set([...pools.keys(), ...(options.services ?? [])]);
  const blocks = httpUpstreams(tree);
  const problems: RenderProblem[] = [];
  const managed: string[] = [];
  const edits: Array<{ from: number; to: number; text: string }> = [];
  for (const d of blocks) {
    const name = d.args[0];
    if (!name || d.args.length !== 1) continue;
    const body = source.slice(d.block!.open + 1, d.block!.close);
    if (!wanted.has(name) && !body.includes(MANAGED_MARK)) continue;
    const pool: ServicePool = pools.get(name) ?? { service: name, endpoints: [], members: [], failOpen: false };
    let opts = optionsFor(name, options);
    try {
      opts = validateUpstreamOptions(opts, `upstreams.${name}`);
    } catch (err) {
      problems.push({ service: name, reason: (err as Error).message });
      opts = {};
    }
    const indent = indentOf(source, d.start);
    const unit = innerIndent(body, indent);
    const lines = renderUpstreamBody(pool, opts, problems, [...(options.upstreamExtra?.(name) ?? []), ...keptDirectives(source, d, opts)]).map((l) => `${indent}${unit}${l}`);
    edits.push({ from: d.block!.open + 1, to: d.block!.close, text: `\n${lines.join('\n')}\n${indent}` });
    managed.push(name);
  }
  const present = new Set(blocks.map((d) => d.args[0]));
  const missing = [...wanted].filter((name) => !present.has(name)).sort();
  let text = source;
  for (const edit of edits.sort((a, b) => b.from - a.from)) text = text.slice(0, edit.from) + edit.text + text.slice(edit.to);
  return { text, managed, missing, problems };
}

const METHODS = new Set(['least_conn', 'ip_hash', 'hash', 'random', 'least_time']);

/**
 * The user's own directives inside a managed block (method, keepalive, zone,
 * …) are kept verbatim, except `server` lines (lbsync's job) and a method or
 * keepalive that lbsync's config sets itself.
 */
function keptDirectives(source: string, block: ConfDirective, opts: { method?: unknown; keepalive?: unknown }): string[] {
  return block
    .block!.children.filter((c) => {
      if (c.name === 'server' || c.name === 'balancer_by_lua_block') return false;
      if (METHODS.has(c.name) && opts.method !== undefined) return false;
      if (c.name === 'keepalive' && opts.keepalive !== undefined) return false;
      return true;
    })
    .map((c) => source.slice(c.start, c.end).replace(/\s*\n\s*/g, ' '));
}

/** Every `upstream NAME { }` block that is not inside a `stream { }` block. */
function httpUpstreams(tree: ConfDirective[]): ConfDirective[] {
  const found: ConfDirective[] = [];
  const visit = (list: ConfDirective[]) => {
    for (const d of list) {
      if (!d.block) continue;
      if (d.name === 'stream') continue;
      if (d.name === 'upstream') found.push(d);
      else visit(d.block.children);
    }
  };
  visit(tree);
  return found;
}

/** The whitespace between the start of the line and `offset`, or '' when other text precedes it. */
function indentOf(source: string, offset: number): string {
  const lineStart = source.lastIndexOf('\n', offset - 1) + 1;
  const lead = source.slice(lineStart, offset);
  return /^[ \t]*$/.test(lead) ? lead : '';
}

/** The indentation step the user's block already uses, or four spaces. */
function innerIndent(body: string, indent: string): string {
  const match = /\n([ \t]+)\S/.exec(body);
  if (match && match[1]!.startsWith(indent) && match[1]!.length > indent.length) return match[1]!.slice(indent.length);
  return '    ';
}
