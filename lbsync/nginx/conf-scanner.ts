import { NginxConfError } from '../errors.js';

/**
 * A scanner for nginx's config syntax that keeps byte offsets.
 *
 * Why not nginx-conf: its write-back re-serialises the whole file (it moves
 * inline comments, drops blank lines and reformats one-line blocks), and its
 * tree does not keep source offsets, so it cannot tell us where a block starts
 * and ends in the original bytes. Edit-in-place must keep every byte outside
 * the managed blocks, so we tokenise the text ourselves, the way nginx's own
 * reader does (`ngx_conf_read_token` in src/core/ngx_conf_file.c):
 * - a word ends only at whitespace, `;` or `{`; a `}` inside a word is part
 *   of it (`return 200 a}b;` is one argument), and a `{` right after `$`
 *   is too (`${var}`), but whitespace still ends such a word;
 * - `#` starts a comment only where a token may start (`a#b` is a word);
 * - a quote opens a string only at the start of a token, and after the
 *   closing quote only whitespace, `;`, `{` or `)` may follow;
 * - a backslash makes the next byte literal; when a word is stored, `\"`,
 *   `\'` and `\\` lose their backslash and `\t`, `\r`, `\n` become control
 *   characters, every other `\x` stays as written.
 * The body of a `*_by_lua_block { … }` is Lua, not nginx syntax: it is read
 * as lua-nginx-module does (ngx_http_lua_conf_lua_block_parse), counting
 * braces outside Lua strings, comments and long brackets.
 *
 * Work on bytes: pass the file as a Buffer (or its latin1 decoding), and
 * every offset is a byte offset and every byte survives a slice.
 */

/** One directive with its position in the source. */
export interface ConfDirective {
  name: string;
  /** Arguments, unquoted and unescaped as nginx stores them. */
  args: string[];
  /** Offset of the directive's first byte. */
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
    /** Directives inside (none for a Lua block). */
    children: ConfDirective[];
  };
  /** The Lua source between the braces of a `*_by_lua_block`. */
  lua?: string;
}

/** The text the scanner works on: a Buffer is read as latin1, one character per byte. */
export function confText(source: string | Buffer): string {
  return typeof source === 'string' ? source : source.toString('latin1');
}

interface Token {
  kind: 'word' | ';' | '{' | '}';
  text: string;
  start: number;
  end: number;
  line: number;
}

const isSpace = (ch: string | undefined) => ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n';

/** nginx's tokeniser over one file, with a cursor the parser moves past Lua blocks. */
class Lexer {
  pos = 0;
  line = 1;
  /** A quoted word just ended: nginx wants whitespace, `;`, `{` or `)` next. */
  private afterQuote = false;

  constructor(
    private readonly text: string,
    private readonly file: string | undefined,
  ) {}

  fail(message: string, line: number): never {
    throw new NginxConfError(`${message} on line ${line}`, this.file);
  }

  /** The next token, or undefined at the end of the file. Mirrors ngx_conf_read_token's states. */
  next(): Token | undefined {
    const text = this.text;
    const n = text.length;
    let lastSpace = true;
    let needSpace = this.afterQuote;
    this.afterQuote = false;
    let escaped = false;
    let dQuoted = false;
    let sQuoted = false;
    let variable = false;
    let comment = false;
    let start = this.pos;
    let raw = this.pos;
    let startLine = this.line;
    for (; this.pos < n; this.pos++) {
      const i = this.pos;
      const ch = text[i]!;
      if (ch === '\n') {
        this.line++;
        comment = false;
      }
      if (comment) continue;
      if (escaped) {
        escaped = false;
        continue;
      }
      if (needSpace) {
        if (isSpace(ch)) {
          needSpace = false;
          lastSpace = true;
          continue;
        }
        if (ch === ';' || ch === '{') return this.punct(ch);
        if (ch !== ')') this.fail(`unexpected "${ch}" after a quoted string`, this.line);
        needSpace = false;
        lastSpace = true;
      }
      if (lastSpace) {
        start = raw = i;
        startLine = this.line;
        if (isSpace(ch)) continue;
        switch (ch) {
          case ';':
          case '{':
          case '}':
            return this.punct(ch);
          case '#':
            comment = true;
            continue;
          case '\\':
            escaped = true;
            break;
          case '"':
            start++;
            dQuoted = true;
            break;
          case "'":
            start++;
            sQuoted = true;
            break;
          case '$':
            variable = true;
            break;
        }
        lastSpace = false;
        continue;
      }
      if (ch === '{' && variable) continue;
      variable = false;
      if (ch === '\\') {
        escaped = true;
        continue;
      }
      if (ch === '$') {
        variable = true;
        continue;
      }
      let found = false;
      if (dQuoted || sQuoted) {
        if (ch === (dQuoted ? '"' : "'")) {
          dQuoted = sQuoted = false;
          needSpace = true;
          found = true;
        }
      } else if (isSpace(ch) || ch === ';' || ch === '{') {
        found = true;
      }
      if (!found) continue;
      // A word ends here; `;` and `{` are read again as their own tokens.
      const quoted = needSpace;
      if (quoted) {
        this.pos++;
        this.afterQuote = true;
      } else if (ch === '\n') this.line--;
      return { kind: 'word', text: unescape(text.slice(start, i)), start: raw, end: quoted ? i + 1 : i, line: startLine };
    }
    if (!lastSpace) this.fail(dQuoted || sQuoted ? 'unterminated quoted string starting' : 'unexpected end of file in a word starting', startLine);
    return undefined;
  }

  private punct(ch: ';' | '{' | '}'): Token {
    const at = this.pos++;
    return { kind: ch, text: ch, start: at, end: at + 1, line: this.line };
  }

  /**
   * Reads a Lua block's body from the cursor (just past its `{`) to the
   * matching `}`, as lua-nginx-module's lexer does: braces count unless they
   * sit in a '…' or "…" string, a `--` comment, or a long bracket
   * `[==[ … ]==]` (also as `--[[ … ]]` comment). Returns the `}` offset.
   */
  luaBlock(openLine: number): number {
    const text = this.text;
    const n = text.length;
    let level = 1;
    const countLines = (from: number, to: number) => {
      for (let k = from; k < to; k++) if (text[k] === '\n') this.line++;
    };
    while (this.pos < n) {
      const i = this.pos;
      const ch = text[i]!;
      if (ch === '-' && text[i + 1] === '-') {
        const long = longBracketAt(text, i + 2);
        if (long) {
          this.pos = this.closeLongBracket(i + 2, long, openLine);
        } else {
          const eol = text.indexOf('\n', i);
          this.pos = eol < 0 ? n : eol;
        }
        countLines(i, this.pos);
        continue;
      }
      if (ch === '[') {
        const long = longBracketAt(text, i);
        if (long) {
          this.pos = this.closeLongBracket(i, long, openLine);
          countLines(i, this.pos);
          continue;
        }
      }
      if (ch === '"' || ch === "'") {
        let k = i + 1;
        while (k < n && text[k] !== ch) k += text[k] === '\\' ? 2 : 1;
        if (k >= n) this.fail('unexpected end of file in a Lua string of the block starting', openLine);
        this.pos = k + 1;
        countLines(i, this.pos);
        continue;
      }
      if (ch === '\n') this.line++;
      else if (ch === '{') level++;
      else if (ch === '}' && --level === 0) {
        this.pos++;
        return i;
      }
      this.pos++;
    }
    this.fail('unexpected end of file, expecting the "}" that ends the Lua block starting', openLine);
  }

  /** Offset just past the `]=*]` that closes the long bracket opened at `from` (`level` = its `=` count). */
  private closeLongBracket(from: number, level: number, openLine: number): number {
    const close = `]${'='.repeat(level - 1)}]`;
    const at = this.text.indexOf(close, from + level + 1);
    if (at < 0) this.fail(`Lua block is missing the closing long bracket "${close}"; the block starts`, openLine);
    return at + close.length;
  }
}

/** At `[=*[`: the bracket's length minus one (so `[[` is 1), else 0. */
function longBracketAt(text: string, i: number): number {
  if (text[i] !== '[') return 0;
  let k = i + 1;
  while (text[k] === '=') k++;
  return text[k] === '[' ? k - i : 0;
}

/** The escapes nginx resolves when it stores a word; every other backslash stays. */
function unescape(raw: string): string {
  if (!raw.includes('\\')) return raw;
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    if (ch === '\\' && i + 1 < raw.length) {
      const next = raw[i + 1]!;
      if (next === '"' || next === "'" || next === '\\') {
        out += next;
        i++;
        continue;
      }
      const control = next === 't' ? '\t' : next === 'r' ? '\r' : next === 'n' ? '\n' : undefined;
      if (control) {
        out += control;
        i++;
        continue;
      }
    }
    out += ch;
  }
  return out;
}

/**
 * Parses nginx config (a Buffer, or text) into directives with offsets.
 * Throws an NginxConfError naming the file and line where nginx itself would
 * stop: an unexpected `;`, `{` or `}`, a block not closed, a directive
 * without its `;`, an unterminated string or Lua block.
 */
export function scanConf(source: string | Buffer, file?: string): ConfDirective[] {
  const text = confText(source);
  const lexer: Lexer = new Lexer(text, file);
  const root: ConfDirective[] = [];
  const stack: Array<{ directive: ConfDirective | undefined; children: ConfDirective[] }> = [{ directive: undefined, children: root }];
  let current: ConfDirective | undefined;
  for (let tok = lexer.next(); tok; tok = lexer.next()) {
    const frame = stack[stack.length - 1]!;
    if (tok.kind === 'word') {
      if (current) current.args.push(tok.text);
      else current = { name: tok.text, args: [], start: tok.start, end: tok.end, line: tok.line };
      continue;
    }
    if (tok.kind === ';') {
      if (!current) lexer.fail('unexpected ";"', tok.line);
      current.end = tok.end;
      frame.children.push(current);
      current = undefined;
      continue;
    }
    if (tok.kind === '{') {
      if (!current) lexer.fail('unexpected "{"', tok.line);
      current.block = { open: tok.start, close: -1, children: [] };
      frame.children.push(current);
      if (current.name.endsWith('_by_lua_block')) {
        const close = lexer.luaBlock(tok.line);
        current.block.close = close;
        current.end = close + 1;
        current.lua = text.slice(tok.end, close);
      } else {
        stack.push({ directive: current, children: current.block.children });
      }
      current = undefined;
      continue;
    }
    // '}'
    if (current) lexer.fail(`directive "${current.name}" (line ${current.line}) has no ";" before the "}"`, tok.line);
    if (stack.length === 1) lexer.fail('unexpected "}"', tok.line);
    stack.pop();
    const owner = frame.directive!;
    owner.block!.close = tok.start;
    owner.end = tok.end;
  }
  if (current) lexer.fail(`directive "${current.name}" has no ";" (unexpected end of file); it starts`, current.line);
  if (stack.length > 1) {
    const open = stack[stack.length - 1]!.directive!;
    lexer.fail(`block "${open.name}" is not closed (unexpected end of file); it starts`, open.line);
  }
  return root;
}

/** Every directive in the tree, depth first, in source order. */
export function* walkConf(directives: ConfDirective[]): Generator<ConfDirective> {
  for (const d of directives) {
    yield d;
    if (d.block) yield* walkConf(d.block.children);
  }
}
