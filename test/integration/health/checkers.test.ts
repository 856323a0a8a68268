import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type Docker from 'dockerode';
import {
  CheckRouter,
  HttpChecker,
  LocalChecker,
  parseTarget,
  resolveSpec,
  TcpChecker,
  ThreadedChecker,
  type Checker,
  type HealthSpec,
} from '../../../health/index.js';
import { beacon, ensureTestImage, freePort, hostPortOf, removeTestContainers, runContainer, waitFor } from '../../harness/index.js';
import { httpServer, selfSignedHttpsServer, tcpServer, type Local } from './servers.js';

const sha1 = (text: string) => `sha1:${createHash('sha1').update(text).digest('hex')}`;
const sha256 = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
const NAME = 'beacon-health-it';

interface Case {
  name: string;
  url: () => string;
  /** The same check, as CLI flags and as spec fields. */
  flags?: string[];
  spec?: Partial<HealthSpec>;
  passing: boolean;
  reason: RegExp;
}

describe('health checkers against real servers (library and `beacon health check`)', function () {
  this.timeout(120_000);
  let busybox: Docker.Container;
  let bbPort = 0;
  const servers: Record<string, Local> = {};
  let refused = 0;
  const big = 'x'.repeat(200_000) + 'THE-END';

  before(async () => {
    await ensureTestImage();
    busybox = await runContainer({ publish: [80], env: { NAME } });
    bbPort = await hostPortOf(busybox);
    servers.error = await httpServer((_req, res) => {
      res.statusCode = 500;
      res.end('internal error\n');
    });
    servers.silent = await httpServer(() => undefined); // never answers
    servers.wrong = await httpServer((_req, res) => res.end('wrong body\n'));
    servers.echoHost = await httpServer((req, res) => res.end(`host=${req.headers.host}\n`));
    servers.big = await httpServer((_req, res) => res.end(big));
    servers.tcp = await tcpServer();
    servers.garbage = await tcpServer('SSH-2.0-OpenSSH_9.2\r\n');
    servers.tls = await selfSignedHttpsServer();
    refused = await freePort();
    await waitFor(async () => (await fetch(`http://127.0.0.1:${bbPort}/health`)).ok, 30_000, 'busybox httpd');
  });

  after(async () => {
    await Promise.all(Object.values(servers).map((s) => s.close()));
    await removeTestContainers();
  });

  const at = (server: string, path = '/') => () => `http://127.0.0.1:${servers[server]!.port}${path}`;
  const cases: Case[] = [
    { name: 'busybox /health with the right digest passes', url: () => `http://127.0.0.1:${bbPort}/health`, flags: ['--expect-digest', sha1('ok\n')], spec: { expectDigest: sha1('ok\n') }, passing: true, reason: /^status 200$/ },
    { name: 'busybox /health with a sha256 digest passes', url: () => `http://127.0.0.1:${bbPort}/health`, flags: ['--expect-digest', sha256('ok\n')], spec: { expectDigest: sha256('ok\n') }, passing: true, reason: /^status 200$/ },
    { name: 'busybox / contains its name', url: () => `http://127.0.0.1:${bbPort}/`, flags: ['--expect-body', NAME], spec: { expectBody: NAME }, passing: true, reason: /^status 200$/ },
    { name: 'busybox missing page fails with its status', url: () => `http://127.0.0.1:${bbPort}/nope`, passing: false, reason: /^status 404$/ },
    { name: 'busybox over TCP passes', url: () => `tcp://127.0.0.1:${bbPort}`, passing: true, reason: /^connected$/ },
    { name: 'a server returning 500 fails', url: at('error', '/health'), passing: false, reason: /^status 500$/ },
    { name: 'a 500 passes when 500 is expected', url: at('error'), flags: ['--expect-status', '500'], spec: { expectStatus: [[500, 500]] }, passing: true, reason: /^status 500$/ },
    { name: 'a server that never answers times out', url: at('silent'), flags: ['--timeout', '1s'], spec: { timeoutMs: 1000 }, passing: false, reason: /^timeout after 1s$/ },
    { name: 'the wrong body fails with the digest it got', url: at('wrong'), flags: ['--expect-digest', sha1('ok\n')], spec: { expectDigest: sha1('ok\n') }, passing: false, reason: new RegExp(`^digest mismatch: got ${sha1('wrong body\n')}$`) },
    { name: 'the wrong body fails a substring check', url: at('wrong'), flags: ['--expect-body', 'healthy'], spec: { expectBody: 'healthy' }, passing: false, reason: /^body does not contain "healthy"$/ },
    { name: 'the Host header is sent as asked', url: at('echoHost'), flags: ['--host-header', 'www.example.test', '--expect-body', 'host=www.example.test'], spec: { hostHeader: 'www.example.test', expectBody: 'host=www.example.test' }, passing: true, reason: /^status 200$/ },
    { name: 'at most max-body bytes are read for a substring', url: at('big'), flags: ['--expect-body', 'THE-END'], spec: { expectBody: 'THE-END' }, passing: false, reason: /^body does not contain "THE-END" in its first 65536 bytes$/ },
    { name: 'a body over max-body cannot match a digest', url: at('big'), flags: ['--expect-digest', sha1(big)], spec: { expectDigest: sha1(big) }, passing: false, reason: /^body larger than 65536 bytes/ },
    { name: 'a larger max-body reads it all', url: at('big'), flags: ['--max-body', '300000', '--expect-digest', sha1(big)], spec: { maxBodyBytes: 300_000, expectDigest: sha1(big) }, passing: true, reason: /^status 200$/ },
    { name: 'a refused port fails over HTTP', url: () => `http://127.0.0.1:${refused}/`, passing: false, reason: /^connection refused$/ },
    { name: 'a refused port fails over TCP', url: () => `tcp://127.0.0.1:${refused}`, passing: false, reason: /^connection refused$/ },
    { name: 'a plain TCP listener passes a TCP check', url: () => `tcp://127.0.0.1:${servers.tcp!.port}`, passing: true, reason: /^connected$/ },
    { name: 'a silent TCP listener times out an HTTP check', url: at('tcp'), flags: ['--timeout', '1s'], spec: { timeoutMs: 1000 }, passing: false, reason: /^timeout after 1s$/ },
    { name: 'a non-HTTP listener fails an HTTP check', url: at('garbage'), passing: false, reason: /HTTP response/ },
    { name: 'a self-signed certificate fails by default', url: () => `https://127.0.0.1:${servers.tls!.port}/`, passing: false, reason: /^TLS: .*self.signed/i },
    { name: 'a self-signed certificate passes with --insecure', url: () => `https://127.0.0.1:${servers.tls!.port}/`, flags: ['--insecure'], spec: { tlsVerify: false }, passing: true, reason: /^status 200$/ },
  ];

  // The same cases through each way lbsync can run a check: the checker of
  // the kind itself, both kinds on the calling thread, on the check thread,
  // and routed between the two.
  const ways: Array<{ name: string; make: () => { pick: (kind: HealthSpec['kind']) => Checker; close: () => Promise<void> } }> = [
    {
      name: 'library',
      make: () => {
        const http = new HttpChecker();
        const tcp = new TcpChecker();
        return { pick: (kind) => (kind === 'tcp' ? tcp : http), close: () => http.close() };
      },
    },
    { name: 'LocalChecker', make: () => one(new LocalChecker()) },
    { name: 'ThreadedChecker (the check thread)', make: () => one(new ThreadedChecker()) },
    { name: 'CheckRouter', make: () => one(new CheckRouter()) },
  ];
  function one(checker: Checker & { close(): Promise<void> }) {
    return { pick: () => checker, close: () => checker.close() };
  }
  for (const way of ways) {
    describe(way.name, () => {
      const checkers = way.make();
      after(() => checkers.close());
      for (const c of cases) {
        it(c.name, async () => {
          const parsed = parseTarget(c.url());
          const spec = resolveSpec(undefined, { ...c.spec, kind: parsed.kind, path: parsed.path });
          const result = await checkers.pick(parsed.kind).check(parsed.target, spec, new AbortController().signal);
          assert.equal(result.passing, c.passing, result.reason);
          assert.match(result.reason, c.reason);
          assert.ok(result.latencyMs >= 0 && Number.isFinite(result.latencyMs));
          assert.ok(result.at > 0);
        });
      }
    });
  }

  describe('beacon health check', () => {
    for (const c of cases) {
      it(c.name, async () => {
        const url = c.url();
        const out = await beacon(['health', 'check', url, ...(c.flags ?? [])]);
        assert.equal(out.code, c.passing ? 0 : 1, out.stdout + out.stderr);
        const line = out.stdout.trim();
        assert.equal(line.split('\n').length, 1);
        assert.ok(line.startsWith(`${c.passing ? 'passing' : 'failing'} `), line);
        const [, reason, latency] = /^\S+ \S+: (.*) \(([\d.]+m?s)\)$/.exec(line) ?? [];
        assert.ok(reason !== undefined && latency !== undefined, line);
        assert.match(reason, c.reason);
        const json = await beacon(['health', 'check', url, ...(c.flags ?? []), '--json']);
        const parsed = JSON.parse(json.stdout) as { passing: boolean; state: string; reason: string; latencyMs: number };
        assert.equal(parsed.passing, c.passing);
        assert.equal(parsed.state, c.passing ? 'passing' : 'failing');
        assert.match(parsed.reason, c.reason);
        assert.equal(typeof parsed.latencyMs, 'number');
      });
    }

    const usage: Array<[string, string[]]> = [
      ['no target', []],
      ['an unknown scheme', ['ftp://127.0.0.1/']],
      ['tcp without a port', ['tcp://127.0.0.1']],
      ['an HTTP flag on a tcp target', ['tcp://127.0.0.1:1', '--expect-status', '200']],
      ['a bad status set', ['http://127.0.0.1:1/', '--expect-status', '2000']],
      ['a bad digest', ['http://127.0.0.1:1/', '--expect-digest', 'md5:abc']],
      ['a timeout without unit', ['http://127.0.0.1:1/', '--timeout', '5']],
      ['an unknown flag', ['http://127.0.0.1:1/', '--bogus']],
    ];
    for (const [name, args] of usage) {
      it(`exits 2 for ${name}`, async () => {
        const out = await beacon(['health', 'check', ...args]);
        assert.equal(out.code, 2, out.stdout + out.stderr);
        assert.equal(out.stdout, '');
      });
    }

    it('--help teaches with examples and exits 0', async () => {
      const out = await beacon(['health', 'check', '--help']);
      assert.equal(out.code, 0);
      assert.match(out.stdout, /--expect-digest/);
      assert.match(out.stdout, /Examples:/);
    });
  });

  describe('connection reuse', () => {
    it('checks of one endpoint share a kept-alive connection', async () => {
      const server = await httpServer((_req, res) => res.end('ok\n'));
      const checker = new HttpChecker();
      try {
        const { target } = parseTarget(`http://127.0.0.1:${server.port}/`);
        const spec = resolveSpec(undefined, { kind: 'http', intervalMs: 1000 });
        for (let i = 0; i < 5; i++) assert.equal((await checker.check(target, spec, new AbortController().signal)).passing, true);
        assert.equal(server.connections(), 1);
        checker.release(target);
        assert.equal((await checker.check(target, spec, new AbortController().signal)).passing, true);
        assert.equal(server.connections(), 2);
      } finally {
        await checker.close();
        await server.close();
      }
    });
  });
});
