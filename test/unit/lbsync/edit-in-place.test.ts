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

  it('rewrites only the managed upstream blocks; every other byte is unchanged', () => {
    const r = editUpstreams(source, view, { upstreams: { api: { method: parseMethod('least_conn') } } });
    assert.deepEqual(r.managed, ['web', 'api']);
    assert.deepEqual(outside(r.text, ['web', 'api']), outside(source, ['web', 'api']));
    assert.match(r.text, /upstream legacy \{ server 192\.168\.1\.10:80; server 192\.168\.1\.11:80; \}  # never touched/);
    assert.match(r.text, /stream \{\n    upstream web \{\n        server 10\.9\.9\.9:5432;/, 'stream upstreams are never touched');
    golden('edit-multi-server.conf', r.text);
  });

  it('is idempotent: editing its own output with the same view changes nothing', () => {
    const once = editUpstreams(source, view).text;
    assert.equal(editUpstreams(once, view).text, once);
  });

  it("keeps the user's own directives in a managed block unless the config sets them", () => {
    const kept = editUpstreams(source, view).text;
    assert.match(kept, /upstream api\{\n      # managed by beacon lbsync\n      least_conn;\n      server 127\.0\.0\.1:19001;\n    \}/);
    const replaced = editUpstreams(source, view, { upstreams: { api: { method: parseMethod('ip_hash') } } }).text;
    assert.match(replaced, /upstream api\{\n      # managed by beacon lbsync\n      ip_hash;\n      server 127\.0\.0\.1:19001;\n    \}/);
  });

  it('keeps managing a block by its marker after the service disappears (502 placeholder), and leaves unmarked ones', () => {
    const once = editUpstreams(source, view).text;
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
});
