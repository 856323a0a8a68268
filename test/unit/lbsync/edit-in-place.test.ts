import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { editUpstreams, MANAGED_MARK, parseMethod, scanConf } from '../../../lbsync/index.js';
import { golden, pool, rec, viewOf } from './helpers.js';

const FIXTURE = fileURLToPath(new URL('../../../../test/unit/lbsync/fixtures/multi-server.nginx.conf', import.meta.url));

/** The text outside the bodies of the named upstream blocks (http context), for byte comparison. */
function outside(text: string, names: string[]): string[] {
  const parts: string[] = [];
  let at = 0;
  const visit = (list: ReturnType<typeof scanConf>) => {
    for (const d of list) {
      if (d.name === 'stream' || !d.block) continue;
      if (d.name === 'upstream' && names.includes(d.args[0]!)) {
        parts.push(text.slice(at, d.block.open + 1));
        at = d.block.close;
      } else visit(d.block.children);
    }
  };
  visit(scanConf(text));
  parts.push(text.slice(at));
  return parts;
}

describe('lbsync nginx edit-in-place', () => {
  const source = readFileSync(FIXTURE, 'utf8');
  const view = viewOf(pool('web', [rec('web', 'w1', '127.0.0.1', 18001), rec('web', 'w2', '127.0.0.1', 18002)]), pool('api', [rec('api', 'a1', '127.0.0.1', 19001)]));
  // The fixture's blocks are hand-written (no marker): the operator hands them over with --services.
  const services = ['web', 'api'];

  it('rewrites only the managed upstream blocks; every other byte is unchanged', () => {
    const r = editUpstreams(source, view, { services, upstreams: { api: { method: parseMethod('least_conn') } } });
    assert.deepEqual(r.managed, ['web', 'api']);
    assert.deepEqual(outside(r.text, ['web', 'api']), outside(source, ['web', 'api']));
    assert.match(r.text, /upstream legacy \{ server 192\.168\.1\.10:80; server 192\.168\.1\.11:80; \}  # never touched/);
    assert.match(r.text, /stream \{\n    upstream web \{\n        server 10\.9\.9\.9:5432;/, 'stream upstreams are never touched');
    golden('edit-multi-server.conf', r.text);
  });

  it('is idempotent: editing its own output with the same view changes nothing', () => {
    const once = editUpstreams(source, view, { services }).text;
    assert.equal(editUpstreams(once, view, { services }).text, once);
    assert.equal(editUpstreams(once, view).text, once, 'managed by its marker from then on');
  });

  it("keeps the user's own directives in a managed block unless the config sets them", () => {
    const kept = editUpstreams(source, view, { services }).text;
    assert.match(kept, /upstream api\{\n      # managed by beacon lbsync\n      least_conn;\n      server 127\.0\.0\.1:19001;\n    \}/);
    const replaced = editUpstreams(source, view, { services, upstreams: { api: { method: parseMethod('ip_hash') } } }).text;
    assert.match(replaced, /upstream api\{\n      # managed by beacon lbsync\n      ip_hash;\n      server 127\.0\.0\.1:19001;\n    \}/);
  });

  it('keeps managing a block by its marker after the service disappears (502 placeholder), and leaves unmarked ones', () => {
    const once = editUpstreams(source, view, { services }).text;
    const gone = editUpstreams(once, viewOf(pool('api', [rec('api', 'a1', '127.0.0.1', 19001)])));
    assert.deepEqual(gone.managed, ['web', 'api']);
    assert.match(gone.text, /upstream web \{\n        # managed by beacon lbsync\n        # no endpoint registered: answers 502\n        server 127\.0\.0\.1:1 down;\n    \}/);
    assert.equal(editUpstreams(source, viewOf()).text, source, 'nothing managed, nothing changed');
    assert.ok(gone.text.includes(MANAGED_MARK));
  });

  it('reports services that have no block to manage', () => {
    const r = editUpstreams(source, viewOf(pool('shop', [rec('shop', 's1', '127.0.0.1', 1)])), { services: ['web'] });
    assert.deepEqual(r.missing, ['shop']);
    assert.deepEqual(r.managed, ['web']);
  });

  it('refuses a file it cannot parse instead of guessing', () => {
    assert.throws(() => editUpstreams('http { upstream web { server a; }', view), /not closed/);
    assert.throws(() => editUpstreams('http { upstream web { server "a; }', view), /unterminated/);
  });

  it("never touches a user's upstream named like a service: a clash is reported, the user's servers stay", () => {
    const user = 'http {\n    upstream admin {\n        server 10.0.0.7:8080;\n    }\n    upstream web {  # managed by beacon lbsync\n        server 127.0.0.1:1 down;\n    }\n}\n';
    const withAdmin = editUpstreams(user, viewOf(pool('admin', [rec('admin', 'x', '127.0.0.1', 5000)]), pool('web', [rec('web', 'w', '127.0.0.1', 5001)])), {}, 'nginx.conf');
    assert.deepEqual(withAdmin.managed, ['web']);
    assert.deepEqual(withAdmin.clashes, [{ service: 'admin', line: 2 }]);
    assert.match(withAdmin.problems.map((p) => `${p.service}: ${p.reason}`).join('\n'), /^admin: "upstream admin" on line 2 of nginx\.conf is the user's own/m);
    assert.ok(withAdmin.text.includes('upstream admin {\n        server 10.0.0.7:8080;\n    }'));
    assert.ok(withAdmin.text.includes('server 127.0.0.1:5001;'));
    const gone = editUpstreams(withAdmin.text, viewOf(pool('web', [rec('web', 'w', '127.0.0.1', 5001)])));
    assert.ok(gone.text.includes('upstream admin {\n        server 10.0.0.7:8080;\n    }'), 'the service leaving never touches it either');
    assert.deepEqual(gone.clashes, []);
  });

  // Each case: the file's bytes, then the bytes expected back; only the managed body may differ.
  const bytes = (...parts: Array<string | number[]>) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
  const one = viewOf(pool('web', [rec('web', 'w', '127.0.0.1', 5001)]));
  const cases: Array<{ name: string; input: Buffer; expected: Buffer; services?: string[] }> = [
    {
      name: 'a byte that is not UTF-8 (0xE9 in a comment) stays as it is',
      input: bytes('# caf', [0xe9], ' \n', 'http {\n  upstream web {\n    # managed by beacon lbsync\n    server 127.0.0.1:1 down;\n  }\n  # fa', [0xe7, 0xff], 'ade\n}\n'),
      expected: bytes('# caf', [0xe9], ' \n', 'http {\n  upstream web {\n    # managed by beacon lbsync\n    server 127.0.0.1:5001;\n  }\n  # fa', [0xe7, 0xff], 'ade\n}\n'),
    },
    {
      name: 'a comment on the "upstream web {" line stays, and so does the "}" line',
      input: bytes('http {\n  upstream web {   # the web pool { not a brace }\n    # managed by beacon lbsync\n    server 127.0.0.1:1 down;\n      }  # end\n}\n'),
      expected: bytes('http {\n  upstream web {   # the web pool { not a brace }\n    # managed by beacon lbsync\n    server 127.0.0.1:5001;\n      }  # end\n}\n'),
    },
    {
      name: 'a CRLF file gets CRLF managed lines',
      input: bytes('http {\r\n\tupstream web { # managed by beacon lbsync\r\n\t\tserver 127.0.0.1:1 down;\r\n\t}\r\n}\r\n'),
      expected: bytes('http {\r\n\tupstream web { # managed by beacon lbsync\r\n\t\t# managed by beacon lbsync\r\n\t\tserver 127.0.0.1:5001;\r\n\t}\r\n}\r\n'),
    },
    {
      name: 'a one-line block (handed over by --services) opens onto lines of its own',
      input: bytes('http { upstream web { server 127.0.0.1:1 down; } }  # end\n'),
      expected: bytes('http { upstream web {\n    # managed by beacon lbsync\n    server 127.0.0.1:5001;\n} }  # end\n'),
      services: ['web'],
    },
    {
      name: 'Lua blocks, quoted braces and "}" inside words around the block',
      input: bytes('http {\n  init_by_lua_block { local t = { "}" } -- }\n  }\n  map $x $y { default a}b; }\n  upstream web {\n    # managed by beacon lbsync\n  }\n  server { location / { return 200 "upstream web {"; } }\n}\n'),
      expected: bytes('http {\n  init_by_lua_block { local t = { "}" } -- }\n  }\n  map $x $y { default a}b; }\n  upstream web {\n    # managed by beacon lbsync\n    server 127.0.0.1:5001;\n  }\n  server { location / { return 200 "upstream web {"; } }\n}\n'),
    },
  ];
  for (const c of cases) {
    it(`keeps every byte outside the managed body: ${c.name}`, () => {
      const r = editUpstreams(c.input, one, c.services ? { services: c.services } : {});
      assert.equal(Buffer.from(r.text, 'latin1').toString('hex'), c.expected.toString('hex'));
      assert.equal(editUpstreams(Buffer.from(r.text, 'latin1'), one).text, r.text, 'idempotent');
    });
  }

  it('keeps a quarantined block exactly as it is and says which lines each managed body covers', () => {
    const text = 'http {\n  upstream api {\n    # managed by beacon lbsync\n    server 10.0.0.1:80;\n  }\n  upstream web {\n    # managed by beacon lbsync\n  }\n}\n';
    const r = editUpstreams(text, viewOf(pool('api', [rec('api', 'a', '127.0.0.1', 6000)]), pool('web', [rec('web', 'w', '127.0.0.1', 5001), rec('web', 'v', '127.0.0.1', 5002)])), { keep: ['api'] });
    assert.ok(r.text.includes('upstream api {\n    # managed by beacon lbsync\n    server 10.0.0.1:80;\n  }'));
    assert.deepEqual(r.spans, [
      { service: 'api', firstLine: 3, lastLine: 4 },
      { service: 'web', firstLine: 7, lastLine: 9 },
    ]);
    assert.equal(r.text.split('\n')[8], '    server 127.0.0.1:5001;');
  });
});
