import { NginxConfError } from '../errors.js';

/**
 * A small, careful scanner for nginx's config syntax that keeps byte offsets.
 *
 * Why not nginx-conf: its parser is fine, but its write-back re-serialises the
 * whole file (it moves inline comments, drops blank lines and reformats
 * one-line blocks), and its tree does not keep source offsets, so it cannot
 * tell us where a block starts and ends in the original text. Edit-in-place
 * must keep every byte outside the managed blocks, so we tokenise the text
 * ourselves, following nginx's own reader (ngx_conf_read_token): `#` starts a
 * comment only at a token boundary, quotes ('…' and "…") may hold any of
 * `;{}#` and backslash escapes, and `${var}` inside a word is not a block.
 */

/** One directive with its position in the source text. */
export interface ConfDirective {
  name: string;
  /** Arguments, unquoted. */
  args: string[];
  /** Offset of the directive's first character. */
  start: number;
  /** Offset just past its `;` or its block's `}`. */
  end: number;
  /** 1-based line of the directive's name. */
  line: number;
  block?: {
    /** Offset of `{`. */
    open: number;
    /** Offset of the matching `}`. */
    close: number;
    children: ConfDirective[];
  };
}

interface Token {
  kind: 'word' | ';' | '{' | '}';
  text: string;
  start: number;
  end: number;
  line: number;
}

function* tokens(text: string, file?: string): Generator<Token> {
  let i = 0;
  let line = 1;
  const n = text.length;
  while (i < n) {
    const ch = text[i]!;
    if (ch === '\n') {
      line++;
      i++;
      continue;
    }
    if (ch === ' ' || ch === '\t' || ch === '\r') {
      i++;
      continue;
    }
    if (ch === '#') {
      while (i < n && text[i] !== '\n') i++;
      continue;
    }
    if (ch === ';' || ch === '{' || ch === '}') {
      yield { kind: ch, text: ch, start: i, end: i + 1, line };
      i++;
      continue;
    }
    const start = i;
    const startLine = line;
    let value = '';
    if (ch === '"' || ch === "'") {
      i++;
      while (i < n && text[i] !== ch) {
        if (text[i] === '\\' && i + 1 < n) {
          value += text[i + 1] === ch ? ch : text.slice(i, i + 2);
          if (text[i + 1] === '\n') line++;
          i += 2;
          continue;
        }
        if (text[i] === '\n') line++;
        value += text[i];
        i++;
      }
      if (i >= n) throw new NginxConfError(`unterminated quoted string starting on line ${startLine}`, file);
      i++;
      yield { kind: 'word', text: value, start, end: i, line: startLine };
      continue;
    }
    while (i < n) {
      const c = text[i]!;
      if (c === ' ' || c === '\t' || c === '\r' || c === '\n' || c === ';' || c === '}') break;
      if (c === '{') {
        // `${name}` is a variable, not a block.
        if (text[i - 1] === '$') {
          const close = text.indexOf('}', i);
          if (close < 0) throw new NginxConfError(`unterminated \${…} on line ${line}`, file);
          value += text.slice(i, close + 1);
          i = close + 1;
          continue;
        }
        break;
      }
      if (c === '\\' && i + 1 < n) {
        value += text.slice(i, i + 2);
        i += 2;
        continue;
      }
      value += c;
      i++;
    }
    yield { kind: 'word', text: value, start, end: i, line: startLine };
  }
}

/**
 * Parses nginx config text into directives with offsets. Throws an
 * NginxConfError (with the line) on unbalanced braces or a directive left
 * without its `;`.
 */
export function scanConf(text: string, file?: string): ConfDirective[] {
  const root: ConfDirective[] = [];
  const stack: Array<{ directive: ConfDirective | undefined; children: ConfDirective[] }> = [{ directive: undefined, children: root }];
  let current: ConfDirective | undefined;
  for (const tok of tokens(text, file)) {
    const frame = stack[stack.length - 1]!;
    if (tok.kind === 'word') {
      if (current) current.args.push(tok.text);
      else current = { name: tok.text, args: [], start: tok.start, end: tok.end, line: tok.line };
      continue;
    }
    if (tok.kind === ';') {
      if (!current) throw new NginxConfError(`unexpected ";" on line ${tok.line}`, file);
      current.end = tok.end;
      frame.children.push(current);
      current = undefined;
      continue;
    }
    if (tok.kind === '{') {
      if (!current) throw new NginxConfError(`unexpected "{" on line ${tok.line}`, file);
      current.block = { open: tok.start, close: -1, children: [] };
      frame.children.push(current);
      stack.push({ directive: current, children: current.block.children });
      current = undefined;
      continue;
    }
    // '}'
    if (current) throw new NginxConfError(`directive "${current.name}" on line ${current.line} has no ";"`, file);
    if (stack.length === 1) throw new NginxConfError(`unexpected "}" on line ${tok.line}`, file);
    stack.pop();
    const owner = frame.directive!;
    owner.block!.close = tok.start;
    owner.end = tok.end;
  }
  if (current) throw new NginxConfError(`directive "${current.name}" on line ${current.line} has no ";"`, file);
  if (stack.length > 1) throw new NginxConfError(`block "${stack[stack.length - 1]!.directive!.name}" on line ${stack[stack.length - 1]!.directive!.line} is not closed`, file);
  return root;
}

/** Every directive in the tree, depth first, in source order. */
export function* walkConf(directives: ConfDirective[]): Generator<ConfDirective> {
  for (const d of directives) {
    yield d;
    if (d.block) yield* walkConf(d.block.children);
  }
}
