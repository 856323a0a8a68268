import assert from 'node:assert/strict';
import { assembleOwned, parseMethod, parseOwned, renderUpstreams } from '../../../lbsync/index.js';
import { golden, pool, rec, viewOf } from './helpers.js';

describe('lbsync nginx render', () => {
  it('renders one upstream per service, sorted, with per-service options (golden)', () => {
    const view = viewOf(
      pool('web', [rec('web', 'core02:web02:80', '10.0.0.12', 18002, { weight: '5' }), rec('web', 'core01:web01:80', '10.0.0.11', 18001), rec('web', 'core03:web03:80', '10.0.0.13', 18003, { backup: 'true' })]),
      pool('api', [rec('api', 'a1', '10.0.1.1', 9000), rec('api', 'a2', 'fd00::2', 9000)]),
      pool('cache', [rec('cache', 'c1', '10.0.2.1', 11211), rec('cache', 'c2', '10.0.2.2', 11211)]),
    );
    const r = renderUpstreams(view, {
      upstreams: {
        '*': { maxFails: 2, failTimeoutS: 10 },
        web: { method: parseMethod('least_conn'), keepalive: 16, servers: [{ listen: ['127.0.0.1:8080', '80 default_server'], serverName: ['www.example.com'], location: '/' }] },
        cache: { method: parseMethod('hash $request_uri consistent') },
      },
    });
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.upstreams, ['api', 'cache', 'web']);
    golden('owned-basic.conf', r.text);
  });

  it('renders a valid 502 placeholder for a service without usable endpoints, and marks fail-open (golden)', () => {
    const view = viewOf(pool('empty', []), pool('down', [rec('down', 'd1', '10.0.0.1', 80)], { failing: ['d1'] }), pool('open', [rec('open', 'o1', '10.0.0.2', 80)], { failing: ['o1'], failOpen: true }));
    golden('owned-empty.conf', renderUpstreams(view).text);
  });

  it('never renders a hostile value: the bad endpoint is skipped and reported, the rest of the service stays', () => {
    const hostile = [
      rec('web', 'evil1', '1.2.3.4; include /etc/passwd', 80),
      rec('web', 'evil2', '10.0.0.1', 80, { weight: '5; include /etc/passwd' }),
      { ...rec('web', 'evil3', 'ok.example.com', 80), port: '80; x' as unknown as number },
      rec('web', 'evil4', 'a}b', 80),
      rec('web', 'good', '10.0.0.9', 8080),
    ];
    const r = renderUpstreams(viewOf(pool('web', hostile), pool('bad;name', [rec('bad;name', 'x', '10.0.0.1', 80)])));
    assert.doesNotMatch(r.text, /passwd|;\s*x|a}b|bad;name/);
    assert.match(r.text, /server 10\.0\.0\.9:8080;/);
    assert.match(r.text, /server 10\.0\.0\.1:80;/, 'an invalid weight falls back to the default, the endpoint stays');
    assert.ok(r.problems.some((p) => p.instance === 'evil1' && /host/.test(p.reason)));
    assert.ok(r.problems.some((p) => p.instance === 'evil2' && /weight/.test(p.reason)));
    assert.ok(r.problems.some((p) => p.instance === 'evil3' && /port/.test(p.reason)));
    assert.ok(r.problems.some((p) => p.service === 'bad;name'));
    assert.deepEqual(r.upstreams, ['web']);
  });

  it('renders a record the same way every time, its problems included, and anew when the options change', () => {
    const records = [rec('web', 'a', '10.0.0.1', 80, { weight: 'x' }), rec('web', 'b', '10.0.0.2', 80)];
    const block = { listen: ['127.0.0.1:8080'] };
    const first = renderUpstreams(viewOf(pool('web', records)), { upstreams: { web: { servers: [block] } } });
    const again = renderUpstreams(viewOf(pool('web', records)), { upstreams: { web: { servers: [block] } } });
    assert.equal(again.text, first.text);
    assert.deepEqual(again.problems, first.problems);
    assert.equal(again.problems.length, 1);
    assert.doesNotMatch(first.text, /Connection ""/);
    const changed = renderUpstreams(viewOf(pool('web', records)), { upstreams: { web: { maxFails: 3, keepalive: 8, servers: [block] } } });
    assert.match(changed.text, /server 10\.0\.0\.2:80 max_fails=3;/);
    assert.match(changed.text, /proxy_set_header Connection "";/, 'the server block follows keepalive');
    assert.equal(changed.problems.length, 1);
  });

  it('refuses weights outside 1-100 and backup with hashing', () => {
    const r = renderUpstreams(
      viewOf(pool('web', [rec('web', 'a', '10.0.0.1', 80, { weight: '0' }), rec('web', 'b', '10.0.0.2', 80, { weight: '101' }), rec('web', 'c', '10.0.0.3', 80, { weight: '7', backup: 'true' })])),
      { upstreams: { web: { method: parseMethod('ip_hash') } } },
    );
    assert.match(r.text, /server 10\.0\.0\.1:80;\n/);
    assert.match(r.text, /server 10\.0\.0\.2:80;\n/);
    assert.match(r.text, /server 10\.0\.0\.3:80 weight=7;\n/);
    assert.equal(r.problems.length, 3);
  });

  it('refuses bad upstream options in the text it writes', () => {
    assert.throws(() => parseMethod('hash $uri; include x'), /method/);
    assert.throws(() => parseMethod('random'), /method/);
    const r = renderUpstreams(viewOf(pool('web', [rec('web', 'a', '10.0.0.1', 80)])), {
      upstreams: { web: { servers: [{ listen: ['80; include /etc/passwd'] }] } },
    });
    assert.doesNotMatch(r.text, /passwd/);
    assert.ok(r.problems.length > 0);
  });

  it('serves a backup-only pool as normal members (nginx has no primary to fall back from)', () => {
    const r = renderUpstreams(viewOf(pool('web', [rec('web', 'a', '10.0.0.1', 80, { backup: 'true' }), rec('web', 'b', '10.0.0.2', 80, { backup: 'true', weight: '3' })])));
    assert.match(r.text, /upstream web \{\n    # managed by beacon lbsync\n    server 10\.0\.0\.1:80;\n    server 10\.0\.0\.2:80 weight=3;\n\}/);
    assert.deepEqual(r.problems, [{ service: 'web', reason: 'every usable endpoint is marked backup; serving them as normal members' }]);
    const mixed = renderUpstreams(viewOf(pool('web', [rec('web', 'a', '10.0.0.1', 80), rec('web', 'b', '10.0.0.2', 80, { backup: 'true', weight: '3' })])));
    assert.match(mixed.text, /server 10\.0\.0\.1:80;\n    server 10\.0\.0\.2:80 weight=3 backup;/);
  });

  it("says which lines each service's blocks occupy", () => {
    const r = renderUpstreams(viewOf(pool('b', [rec('b', 'x', '10.0.0.1', 80)]), pool('a', [])), { upstreams: { b: { servers: [{ listen: ['8080'] }] } } });
    const lines = r.text.split('\n');
    for (const span of r.spans) {
      const text = lines.slice(span.firstLine - 1, span.lastLine).join('\n');
      assert.ok(text.includes(span.service === 'a' ? 'upstream a {' : 'b'), `${span.service}: ${text}`);
    }
    assert.deepEqual(r.spans.map((s) => s.service), ['a', 'b', 'b']);
    assert.equal(lines[r.spans[2]!.firstLine - 1], 'server {');
  });

  it('reads its own owned file back into per-service blocks (a new process starts from them as last good)', () => {
    const r = renderUpstreams(viewOf(pool('b', [rec('b', 'x', '10.0.0.1', 80)]), pool('a', [rec('a', 'y', '10.0.0.2', 81)])), { upstreams: { b: { servers: [{ listen: ['8080'] }] } } });
    const parsed = parseOwned(r.text);
    assert.deepEqual(parsed.map((b) => [b.service, b.servers.length > 0]), [['a', false], ['b', true]]);
    assert.equal(assembleOwned(parsed).text, r.text);
  });
});
