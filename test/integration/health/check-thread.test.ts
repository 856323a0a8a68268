import assert from 'node:assert/strict';
import type { Worker } from 'node:worker_threads';
import { Cancellation, CheckRouter, parseTarget, resolveSpec, ThreadedChecker, type Checker, type CheckResult } from '../../../health/index.js';
import { waitFor } from '../../harness/index.js';
import { httpServer, type Local } from './servers.js';

/** The check thread of a ThreadedChecker (or of a router's), reached into for the one test that kills it. */
const threadOf = (checker: ThreadedChecker): Worker | undefined => (checker as unknown as { worker?: Worker }).worker;

describe('the check thread and the check router (real HTTP servers)', function () {
  this.timeout(60_000);
  let ok: Local;
  let silent: Local;
  const spec = resolveSpec(undefined, { kind: 'http', timeoutMs: 10_000, intervalMs: 1000 });
  const target = (server: Local) => parseTarget(`http://127.0.0.1:${server.port}/`).target;

  before(async () => {
    ok = await httpServer((_req, res) => res.end('ok\n'));
    silent = await httpServer(() => undefined); // never answers
  });
  after(async () => {
    await ok.close();
    await silent.close();
  });

  describe('ThreadedChecker', () => {
    let checker: ThreadedChecker;
    beforeEach(() => (checker = new ThreadedChecker()));
    afterEach(() => checker.close());

    it('runs many checks at once, each answered with its own result', async () => {
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => checker.check(target(i % 2 ? ok : silent), { ...spec, timeoutMs: 300 }, new Cancellation())));
      results.forEach((r, i) => assert.equal(r.passing, i % 2 === 1, `check ${i}: ${r.reason}`));
      assert.ok(results.filter((r) => !r.passing).every((r) => /^timeout after 300ms$/.test(r.reason)), JSON.stringify(results.find((r) => !r.passing)));
    });

    it('keeps one connection per endpoint on the thread, and release() closes it', async () => {
      const server = await httpServer((_req, res) => res.end('ok\n'));
      try {
        for (let i = 0; i < 5; i++) assert.equal((await checker.check(target(server), spec, new Cancellation())).passing, true);
        assert.equal(server.connections(), 1);
        checker.release(target(server));
        assert.equal((await checker.check(target(server), spec, new Cancellation())).passing, true);
        assert.equal(server.connections(), 2);
      } finally {
        await server.close();
      }
    });

    it('a cancelled check settles at once as cancelled, and the thread goes on', async () => {
      const cancel = new Cancellation();
      const pending = checker.check(target(silent), spec, cancel);
      await waitFor(() => silent.connections() > 0, 10_000, 'the check to reach the silent server');
      const started = performance.now();
      cancel.abort();
      const result = await pending;
      assert.equal(result.reason, 'cancelled');
      assert.ok(performance.now() - started < 1000);
      assert.equal((await checker.check(target(ok), spec, new Cancellation())).passing, true);
    });

    it('is ready once warm() has started the thread and it has loaded its HTTP client', async () => {
      assert.equal(checker.ready, false);
      checker.warm();
      await waitFor(() => checker.ready, 10_000, 'the check thread to be ready');
    });

    it('checks running when the thread dies fail, naming it; the next check starts a new thread', async () => {
      const pending = checker.check(target(silent), spec, new Cancellation());
      const first = await waitFor(() => threadOf(checker), 10_000, 'the check thread');
      await waitFor(() => checker.ready, 10_000, 'the check thread to be ready');
      await first.terminate();
      assert.equal(checker.ready, false);
      const result: CheckResult = await pending;
      assert.equal(result.passing, false);
      assert.match(result.reason, /^health-check thread exited with code 1$/);
      assert.equal((await checker.check(target(ok), spec, new Cancellation())).passing, true);
      assert.notEqual(threadOf(checker), first);
    });

    it('close() ends running checks as cancelled and refuses new ones', async () => {
      const pending = checker.check(target(silent), spec, new Cancellation());
      await waitFor(() => threadOf(checker), 10_000, 'the check thread');
      await checker.close();
      assert.equal((await pending).reason, 'cancelled');
      assert.equal((await checker.check(target(ok), spec, new Cancellation())).reason, 'cancelled');
    });
  });

  describe('CheckRouter', () => {
    let router: CheckRouter;
    const inside = () => router as unknown as { placed: Map<string, Checker>; local: Checker; thread: ThreadedChecker };
    const servers: Local[] = [];
    const more = async (n: number) => {
      const made = await Promise.all(Array.from({ length: n }, () => httpServer((_req, res) => res.end('ok\n'))));
      servers.push(...made);
      return made;
    };
    const checkAll = async (list: Local[]) => {
      const results = await Promise.all(list.map((s) => router.check(target(s), spec, new Cancellation())));
      assert.ok(results.every((r) => r.passing), JSON.stringify(results.find((r) => !r.passing)));
    };
    const where = (s: Local) => inside().placed.get(`127.0.0.1|${s.port}`);
    afterEach(async () => {
      await router.close();
      await Promise.all(servers.splice(0).map((s) => s.close()));
    });

    it('checks a lone endpoint on the calling thread, and starts the check thread when a check first has to run alongside another', async () => {
      router = new CheckRouter();
      const one = await more(1);
      await checkAll(one);
      assert.equal(where(one[0]!), inside().local);
      assert.equal(threadOf(inside().thread), undefined, 'no thread for a lone endpoint');
      await checkAll(await more(12));
      assert.notEqual(threadOf(inside().thread), undefined, 'the thread started');
      await waitFor(() => inside().thread.ready, 10_000, 'the check thread to be ready');
    });

    it('once the thread runs: a lone endpoint here, endpoints that come while it is checked there, each staying where it was placed', async () => {
      router = new CheckRouter();
      router.warm();
      await waitFor(() => inside().thread.ready, 10_000, 'the check thread to be ready');
      const burst = await more(5);
      await checkAll(burst);
      assert.equal(where(burst[0]!), inside().local);
      for (const s of burst.slice(1)) assert.equal(where(s), inside().thread);
      // An endpoint stays where it was placed (one kept connection each), even when alone now.
      for (const s of burst) assert.equal((await router.check(target(s), spec, new Cancellation())).passing, true);
      for (const s of burst) assert.equal(s.connections(), 1, `port ${s.port}`);
      // Released, it is placed afresh: alone now, on the calling thread.
      router.release(target(burst[1]!));
      assert.equal(where(burst[1]!), undefined);
      assert.equal((await router.check(target(burst[1]!), spec, new Cancellation())).passing, true);
      assert.equal(where(burst[1]!), inside().local);
      assert.equal(burst[1]!.connections(), 2);
    });
  });
});
