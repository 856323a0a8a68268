/**
 * Config snippets on which the scanner must read what nginx reads, taken from
 * the rules of nginx's ngx_conf_read_token and lua-nginx-module's Lua block
 * lexer. Each goes inside `location / { … }`. The unit test checks the
 * scanner's tokens; the integration test checks real nginx agrees on which
 * ones are valid (`nginx -t`).
 */
export interface ConfCase {
  name: string;
  /** Text inside `location / { … }`. */
  body: string;
  /** The args of the first `return` directive, as nginx stores them. */
  args?: string[];
  /** The Lua source of the location's *_by_lua_block. */
  lua?: string;
  /** For a snippet nginx refuses: what the scanner's error says. */
  error?: RegExp;
  /** Needs lua-nginx-module loaded. */
  needsLua?: boolean;
}

export const CONF_CASES: ConfCase[] = [
  { name: '"}" inside a word is part of it', body: 'return 200 a}b;', args: ['200', 'a}b'] },
  { name: 'a word may end in "}"', body: 'return 200 a};', args: ['200', 'a}'] },
  { name: '"#" inside a word is not a comment', body: 'return 200 a#b; # a real comment {\n', args: ['200', 'a#b'] },
  { name: 'quoted braces, ";" and "#"', body: 'return 200 "{;}# x";', args: ['200', '{;}# x'] },
  { name: 'single quotes and an escaped quote', body: "return 200 'it\\'s \"{\"';", args: ['200', 'it\'s "{"'] },
  { name: 'escapes nginx resolves and ones it keeps', body: 'return 200 "a\\tb\\\\c\\"d\\x\\n";', args: ['200', 'a\tb\\c"d\\x\n'] },
  { name: 'a backslash keeps ";" in a bare word (and stays)', body: 'return 200 a\\;b;', args: ['200', 'a\\;b'] },
  { name: '"${" does not open a block', body: 'set $v x; return 200 ${v}y;', args: ['200', '${v}y'] },
  { name: 'a quoted string may span lines', body: 'return 200 "a\nb{";', args: ['200', 'a\nb{'] },
  { name: '"${" does not continue across a line break', body: 'return 200 ${v\n};', error: /unexpected "}"|has no ";"/ },
  { name: 'text right after a closing quote', body: 'return 200 "a"b;', error: /unexpected "b" after a quoted string/ },
  { name: 'an unterminated quote', body: 'return 200 "a;', error: /unterminated quoted string/ },
  { name: 'a block opened right after a word', body: 'return 200 x; } location /x{ return 200 y;', args: ['200', 'x'] },
  {
    name: 'Lua strings, comments and long brackets hold braces',
    body: 'content_by_lua_block {\n  local s = "}" .. \'{\' .. "\\"}"  -- } a comment {\n  local t = [[ } ]] .. [==[ ]] } ]==]\n  --[[ } ]] --[=[ { ]=]\n  local u = { a = { 1 } }\n  ngx.say(s, t, #u)\n}',
    lua: '\n  local s = "}" .. \'{\' .. "\\"}"  -- } a comment {\n  local t = [[ } ]] .. [==[ ]] } ]==]\n  --[[ } ]] --[=[ { ]=]\n  local u = { a = { 1 } }\n  ngx.say(s, t, #u)\n',
    needsLua: true,
  },
  { name: 'a Lua block on one line', body: 'content_by_lua_block { ngx.say("}") }', lua: ' ngx.say("}") ', needsLua: true },
  { name: 'an unclosed Lua block', body: 'content_by_lua_block { ngx.say("x")', error: /block "http" is not closed/, needsLua: true },
  { name: 'an unclosed Lua long bracket', body: 'content_by_lua_block { local s = [[ } }', error: /long bracket/, needsLua: true },
];
