import type { PoolView, ServicePool } from '../output.js';
import { confText, scanConf, type ConfDirective } from './conf-scanner.js';
import { MANAGED_MARK, optionsFor, renderUpstreamBody, type RenderOptions, type RenderProblem } from './render.js';
import { validateUpstreamOptions } from './upstream-options.js';

export interface EditOptions extends RenderOptions {
  /** Services named by `--services`: their blocks are managed even without lbsync's marker or a record. */
  services?: string[];
  /** Managed blocks to leave exactly as they are (quarantined services keep their last good body). */
  keep?: string[];
}

export interface EditResult {
  /** The whole file (latin1: one character per byte) with the managed bodies rewritten; every other byte is the input's. */
  text: string;
  /** Upstream names rewritten, in file order. */
  managed: string[];
  /** Where each managed body now sits in `text` (1-based lines, inclusive), to map nginx's `file:line` back to a service. */
  spans: Array<{ service: string; firstLine: number; lastLine: number }>;
  /** Services with endpoints (or named by --services) that have no `upstream` block in the file. */
  missing: string[];
  /** Services whose name is an upstream the user wrote (no marker, not in --services): left alone. */
  clashes: Array<{ service: string; line: number }>;
  problems: RenderProblem[];
}

/**
 * Rewrites only the managed `upstream NAME { … }` blocks of a user's nginx
 * config and returns the new text; every byte outside the managed bodies is
 * kept: the `upstream NAME {` line with anything after the brace (a
 * comment), the `}` line, bytes that are not UTF-8 (work on a Buffer or its
 * latin1 text), and the file's line ending (CRLF files get CRLF bodies). Pure.
 *
 * A block is managed when its body holds lbsync's marker comment (lbsync
 * writes it, so a block stays managed and falls back to a 502 placeholder
 * after its service disappears from etcd), or when NAME is named by
 * `--services` (the operator's explicit hand-over). A service named like an
 * upstream the user wrote by hand is a clash: reported, the block untouched,
 * so the user's servers are never replaced or lost. Blocks inside
 * `stream { }` are TCP upstreams and are never touched. A block named in
 * `keep` (a quarantined service) keeps its current bytes.
 *
 * We splice text instead of using nginx-conf's write-back, which re-serialises
 * the whole file; see conf-scanner.ts.
 */
export function editUpstreams(source: string | Buffer, view: PoolView, options: EditOptions = {}, file?: string): EditResult {
  const text = confText(source);
  const tree = scanConf(text, file);
  const pools = new Map(view.pools.map((p) => [p.service, p]));
  const named = new Set(options.services ?? []);
  const keep = new Set(options.keep ?? []);
  const blocks = httpUpstreams(tree);
  const eol = lineEnding(text);
  const problems: RenderProblem[] = [];
  const managed: string[] = [];
  const clashes: EditResult['clashes'] = [];
  const edits: Array<{ service: string; from: number; to: number; text: string }> = [];
  for (const d of blocks) {
    const name = d.args[0];
    if (!name || d.args.length !== 1) continue;
    const marked = text.slice(d.block!.open + 1, d.block!.close).includes(MANAGED_MARK);
    if (!marked && !named.has(name)) {
      if (pools.has(name)) clashes.push({ service: name, line: d.line });
      continue;
    }
    managed.push(name);
    const body = bodyRange(text, d);
    if (keep.has(name)) {
      edits.push({ service: name, ...body, text: text.slice(body.from, body.to) });
      continue;
    }
    const pool: ServicePool = pools.get(name) ?? { service: name, endpoints: [], members: [], failOpen: false };
    let opts = optionsFor(name, options);
    try {
      opts = validateUpstreamOptions(opts, `upstreams.${name}`);
    } catch (err) {
      problems.push({ service: name, reason: (err as Error).message });
      opts = {};
    }
    const indent = indentOf(text, d.start);
    const unit = innerIndent(`${body.lineStart ? '\n' : ''}${text.slice(body.from, body.to)}`, indent);
    const lines = renderUpstreamBody(pool, opts, problems, [...(options.upstreamExtra?.(name) ?? []), ...keptDirectives(text, d, opts)]).map((l) => `${indent}${unit}${l}${eol}`);
    // A body that shares a line with the brace (a one-line block) starts on a line of its own.
    edits.push({ service: name, ...body, text: `${body.lineStart ? '' : eol}${lines.join('')}${body.lineEnd ? '' : indent}` });
  }
  for (const c of clashes) {
    problems.push({
      service: c.service,
      reason: `"upstream ${c.service}" on line ${c.line}${file ? ` of ${file}` : ''} is the user's own (no "${MANAGED_MARK}" line in it, not in --services); left untouched. Add that line to the block, or name it in --services, to let lbsync manage it`,
    });
  }
  const present = new Set(blocks.map((d) => d.args[0]));
  const missing = [...pools.keys(), ...named].filter((name, i, all) => all.indexOf(name) === i && !present.has(name)).sort();
  let out = '';
  let at = 0;
  const spans: EditResult['spans'] = [];
  let line = 1;
  for (const edit of edits.sort((a, b) => a.from - b.from)) {
    const before = text.slice(at, edit.from);
    line += countLines(before);
    spans.push({ service: edit.service, firstLine: line, lastLine: line + Math.max(0, countLines(edit.text) - (edit.text.endsWith('\n') ? 1 : 0)) });
    line += countLines(edit.text);
    out += before + edit.text;
    at = edit.to;
  }
  out += text.slice(at);
  return { text: out, managed, spans, missing, clashes, problems };
}

/**
 * The managed body of a block: from after the `{` line when the rest of that
 * line is blank or a comment (kept), else from just after `{`; to the start
 * of the `}` line when only indentation precedes the `}` (kept), else to `}`.
 */
function bodyRange(text: string, d: ConfDirective): { from: number; to: number; lineStart: boolean; lineEnd: boolean } {
  const open = d.block!.open;
  const close = d.block!.close;
  const nl = text.indexOf('\n', open);
  const tailKept = nl >= 0 && nl < close && /^[ \t\r]*(#[^\n]*)?$/.test(text.slice(open + 1, nl));
  const closeLine = text.lastIndexOf('\n', close - 1) + 1;
  const headKept = closeLine > open && /^[ \t]*$/.test(text.slice(closeLine, close));
  const from = tailKept ? nl + 1 : open + 1;
  return { from, to: headKept ? Math.max(closeLine, from) : close, lineStart: tailKept, lineEnd: headKept };
}

/** CRLF when the file's first line ends so, else LF. */
function lineEnding(text: string): string {
  const nl = text.indexOf('\n');
  return nl > 0 && text[nl - 1] === '\r' ? '\r\n' : '\n';
}

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
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
