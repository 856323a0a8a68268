import assert from 'node:assert/strict';
import { parseMethod, renderUpstreams } from '../../../lbsync/index.js';
import { balancerLine, gluePaths, renderGlue } from '../../../lbsync/nginx/dynamic/glue.js';
import { eligibility, peerSetOf, setKey, structureSignature } from '../../../lbsync/nginx/dynamic/peers.js';
import { encodePush, parseControlState } from '../../../lbsync/nginx/dynamic/protocol.js';
import { userMethods } from '../../../lbsync/nginx/dynamic/user-methods.js';
import { editUpstreams } from '../../../lbsync/nginx/edit-in-place.js';
import { pool, rec, viewOf } from './helpers.js';

describe('lbsync nginx dynamic mode (pure parts)', () => {
  const web = pool('web', [rec('web', 'w2', '10.0.0.2', 80, { weight: '5' }), rec('web', 'w1', '10.0.0.1', 80), rec('web', 'w3', 'fd00::3', 8080, { weight: 'lots' })]);

  it('a set is the validated members with their weights, sorted; its key changes with any of them', () => {
    const set = peerSetOf(web, { maxFails: 2, failTimeoutS: 5 });
    assert.deepEqual(set, {
      peers: [
        { ip: '10.0.0.1', port: 80, weight: 1 },
        { ip: '10.0.0.2', port: 80, weight: 5 },
        { ip: 'fd00::3', port: 8080, weight: 1 },
      ],
      maxFails: 2,
      failTimeoutS: 5,
    });
    assert.deepEqual(peerSetOf(web, {}).maxFails, 1, "nginx's default max_fails");
    const fewer = pool('web', web.members.slice(1));
    assert.notEqual(setKey(peerSetOf(fewer, {})), setKey(peerSetOf(web, {})));
    assert.equal(setKey(peerSetOf(pool('web', [...web.members].reverse()), {})), setKey(peerSetOf(web, {})), 'order does not matter');
  });

  it('round robin over IP literals is dynamic; other methods, DNS names and backups stay on reloads, with the reason', () => {
    const table: Array<[string, ReturnType<typeof eligibility>]> = [
      ['rr', eligibility(web, {})],
      ['least_conn', eligibility(web, { method: parseMethod('least_conn') })],
      ['hash', eligibility(web, { method: parseMethod('hash $request_uri consistent') })],
      ['user ip_hash', eligibility(web, {}, 'ip_hash')],
      ['dns', eligibility(pool('web', [rec('web', 'w1', 'app.internal', 80)]), {})],
      ['mapped', eligibility(pool('web', [rec('web', 'w1', '::ffff:10.0.0.1', 80)]), {})],
      ['backup', eligibility(pool('web', [rec('web', 'w1', '10.0.0.1', 80, { backup: 'true' })]), {})],
    ];
    assert.deepEqual(table[0]![1], { dynamic: true });
    for (const [name, e] of table.slice(1)) {
      assert.equal(e.dynamic, false, name);
      assert.ok(!e.dynamic && e.reason.length > 0);
    }
    assert.match((table[4]![1] as { reason: string }).reason, /app\.internal is a DNS name/);
  });

  it('encodes a push the Lua side parses, and reads its answer back', () => {
    const body = encodePush(7, new Map([['web', { version: 5, set: peerSetOf(web, {}) }]]));
    assert.equal(body, 'version 7\nservice web 5 1 10\npeer 10.0.0.1 80 1\npeer 10.0.0.2 80 5\npeer fd00::3 8080 1\n');
    assert.deepEqual(parseControlState('version 1795968599294\nstructure 0123abcd\n'), { version: 1795968599294, structure: '0123abcd' });
    assert.equal(parseControlState('<html>403</html>'), undefined);
  });

  it('renders the balancer before keepalive, so the keepalive pool wraps the Lua balancer', () => {
    const r = renderUpstreams(viewOf(web), { upstreams: { web: { keepalive: 8 } }, upstreamExtra: (s) => [balancerLine(s, 42)] });
    const body = r.text.slice(r.text.indexOf('upstream web {'));
    assert.ok(body.indexOf('balancer_by_lua_block') < body.indexOf('keepalive 8;'), body);
    assert.match(body, /balance\("web", 42\)/);
    assert.match(body, /server 10\.0\.0\.2:80 weight=5;/, 'the file still carries the current servers');
  });

  it('edit-in-place replaces its own balancer line and keeps it before the user\'s keepalive', () => {
    const source = 'http {\n  upstream web {\n    # managed by beacon lbsync\n    balancer_by_lua_block { old(); }\n    server 10.9.9.9:80;\n    keepalive 4;\n  }\n}\n';
    const r = editUpstreams(source, viewOf(web), { upstreamExtra: (s) => [balancerLine(s, 9)] });
    assert.equal((r.text.match(/balancer_by_lua_block/g) ?? []).length, 1, r.text);
    assert.ok(r.text.indexOf('balance("web", 9)') < r.text.indexOf('keepalive 4;'), r.text);
    assert.deepEqual([...userMethods('http { upstream a { least_conn; server x; } upstream b { server y; } }')], [['a', 'least_conn']]);
  });

  it('the structure ignores the servers and versions of dynamic services, and sees everything else', () => {
    const text = (members: ReturnType<typeof rec>[], version: number, opts = {}, api = [rec('api', 'a1', 'api.internal', 80)]) =>
      renderUpstreams(viewOf(pool('web', members), pool('api', api)), { upstreams: { web: opts }, upstreamExtra: (s) => (s === 'web' ? [balancerLine(s, version)] : []) }).text;
    const sig = (t: string) => structureSignature(t, new Set(['web']));
    const base = sig(text(web.members, 1));
    assert.equal(sig(text(web.members.slice(1), 2)), base, 'fewer web servers, a new version: same structure');
    assert.equal(sig(text([], 3)), base, 'no web server at all (the 502 placeholder): same structure');
    assert.notEqual(sig(text(web.members, 1, { keepalive: 4 })), base, 'upstream options are structure');
    assert.notEqual(sig(text(web.members, 1, {}, [rec('api', 'a2', 'api2.internal', 80)])), base, "a static service's servers are structure");
  });

  it('glue paths sit beside the file and refuse names that cannot go into the config', () => {
    const p = gluePaths('/etc/nginx/conf.d/beacon.conf');
    assert.equal(p.socket, '/etc/nginx/conf.d/.beacon-control.sock');
    assert.match(renderGlue(p, 'abc').join('\n'), /init\("\/etc\/nginx\/conf\.d\/\.beacon-control\.secret", "abc"\)/);
    assert.throws(() => gluePaths('/etc/my nginx/beacon.conf'), /directory name/);
    assert.throws(() => gluePaths(`/${'x'.repeat(120)}/beacon.conf`), /longer than a unix socket/);
  });
});
