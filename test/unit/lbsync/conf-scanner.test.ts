import assert from 'node:assert/strict';
import { NginxConfError, scanConf, walkConf } from '../../../lbsync/index.js';
import { CONF_CASES } from './conf-cases.js';

const wrap = (body: string) => `http {\n  server {\n    location / { ${body} }\n  }\n}\n`;

describe('lbsync nginx config scanner (ngx_conf_read_token and the Lua block lexer)', () => {
  for (const c of CONF_CASES) {
    it(c.name, () => {
      const text = wrap(c.body);
      if (c.error) {
        assert.throws(() => scanConf(text, 'case.conf'), (err: unknown) => err instanceof NginxConfError && c.error!.test(err.message) && /case\.conf: .* on line \d+/.test(err.message));
        return;
      }
      const all = [...walkConf(scanConf(text))];
      if (c.args) assert.deepEqual(all.find((d) => d.name === 'return')!.args, c.args);
      if (c.lua !== undefined) {
        const lua = all.find((d) => d.name.endsWith('_by_lua_block'))!;
        assert.equal(lua.lua, c.lua);
        assert.equal(text.slice(lua.block!.open + 1, lua.block!.close), c.lua);
        assert.equal(text[lua.end - 1], '}');
      }
      // The tree closes where the text does: http's "}" is the last one.
      const http = scanConf(text)[0]!;
      assert.equal(http.end, text.length - 1);
    });
  }

  it('keeps byte offsets on a Buffer with non-UTF-8 bytes and names the line of a directive', () => {
    const bytes = Buffer.concat([Buffer.from('# caf'), Buffer.from([0xe9]), Buffer.from('\r\nhttp {\r\n  upstream web { # x\r\n    server a:1;\r\n  }\r\n}\r\n')]);
    const [http] = scanConf(bytes);
    const up = http!.block!.children[0]!;
    assert.equal(up.line, 3);
    assert.equal(bytes.subarray(up.start, up.end).toString('latin1'), 'upstream web { # x\r\n    server a:1;\r\n  }');
    assert.equal(bytes[up.block!.open], '{'.charCodeAt(0));
  });

  it('keeps line numbers right after words, quotes and Lua blocks', () => {
    const text = 'a "x\ny";\nb {\n c_by_lua_block {\n -- }\n }\n d 1;\n}\ne 2;\n';
    const lines = [...walkConf(scanConf(text))].map((d) => `${d.name}:${d.line}`);
    assert.deepEqual(lines, ['a:1', 'b:3', 'c_by_lua_block:4', 'd:7', 'e:9']);
  });
});
