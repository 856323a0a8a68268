import assert from 'node:assert/strict';
import { StickyNames, userUpstreams } from '../../../lbsync/index.js';

describe('lbsync nginx upstream names', () => {
  describe('userUpstreams: names the include chain already claims', () => {
    const tree: Record<string, string> = {
      '/etc/nginx/nginx.conf': 'http {\n  include conf.d/*.conf;\n  include /etc/nginx/sites/one.conf;\n  upstream admin { server 10.0.0.1:80; }\n}\nstream { upstream db { server 10.0.0.2:5432; } }\n',
      '/etc/nginx/conf.d/a.conf': 'server { location / { proxy_pass http://localhost:8080/x; } location /w { proxy_pass http://web; } location /v { proxy_pass http://$backend:81; } }\n',
      '/etc/nginx/conf.d/beacon.conf': 'upstream web { server 127.0.0.1:1 down; }\n',
      '/etc/nginx/sites/one.conf': 'server { location / { fastcgi_pass php:9000; grpc_pass grpc://api; content_by_lua_block { local s = "}" } } }\n',
    };
    const files = {
      read: (p: string) => {
        if (!(p in tree)) throw new Error(`ENOENT ${p}`);
        return tree[p]!;
      },
      glob: (p: string) => Object.keys(tree).filter((k) => k.startsWith(p.replace('*.conf', '')) && k.endsWith('.conf')).sort(),
    };

    it("finds upstream blocks and *_pass host:port across includes, skipping lbsync's own file and stream", () => {
      const r = userUpstreams('/etc/nginx/nginx.conf', '/etc/nginx/conf.d/beacon.conf', files);
      assert.deepEqual(r.errors, []);
      assert.deepEqual(
        [...r.names.values()].map((n) => `${n.name} ${n.kind} ${n.where}`).sort(),
        ['admin upstream /etc/nginx/nginx.conf:4', 'localhost pass /etc/nginx/conf.d/a.conf:1', 'php pass /etc/nginx/sites/one.conf:1'],
      );
      assert.deepEqual([...r.references].sort(), ['api', 'web']);
    });

    it('names a file it cannot parse instead of skipping it silently', () => {
      const broken = { ...files, read: (p: string) => (p.endsWith('a.conf') ? 'server { return 200 "x; }' : files.read(p)) };
      const r = userUpstreams('/etc/nginx/nginx.conf', '/etc/nginx/conf.d/beacon.conf', broken);
      assert.equal(r.errors.length, 1);
      assert.match(r.errors[0]!, /cannot read \/etc\/nginx\/conf\.d\/a\.conf .*unterminated quoted string/);
      assert.ok(r.names.has('admin'), 'the rest is still read');
    });
  });

  describe('StickyNames: written names outlive their service, within bounds', () => {
    const none = new Set<string>();
    // Each step: services present in etcd, names the user routes to, the time.
    const cases: Array<{ name: string; steps: Array<[written: string[], present: string[], referenced: string[], at: number]>; expect: string[] }> = [
      { name: 'a gone name stays for keepMs', steps: [[['a', 'b'], ['a', 'b'], [], 0], [['a', 'b'], ['a'], [], 50], [['a', 'b'], ['a'], [], 150]], expect: ['a', 'b'] },
      { name: 'and then goes', steps: [[['a', 'b'], ['a', 'b'], [], 0], [['a', 'b'], ['a'], [], 50], [['a', 'b'], ['a'], [], 250]], expect: ['a'] },
      { name: 'a name the user routes to stays as long as it is routed to', steps: [[['a'], ['a'], [], 0], [['a'], [], ['a'], 10_000]], expect: ['a'] },
      { name: 'at most max gone names, the longest gone first', steps: [[['a', 'b', 'c', 'd'], ['a', 'b', 'c', 'd'], [], 0], [['a', 'b', 'c', 'd'], ['b', 'c', 'd'], [], 10], [['a', 'b', 'c', 'd'], ['c', 'd'], [], 20], [['a', 'b', 'c', 'd'], ['d'], [], 30], [['a', 'b', 'c', 'd'], [], [], 40]], expect: ['c', 'd'] },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const sticky = new StickyNames(199, 2);
        // As the output does: it writes the present services plus the sticky names.
        for (const [written, present, referenced, at] of c.steps) sticky.note(new Set([...written.filter((n) => present.includes(n)), ...present, ...sticky.names()]), new Set(present), referenced.length ? new Set(referenced) : none, at);
        assert.deepEqual(sticky.names().sort(), c.expect);
      });
    }
  });
});
