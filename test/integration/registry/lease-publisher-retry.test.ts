import assert from 'node:assert/strict';
import type { Etcd3 } from 'etcd3';
import { createEtcdClient, LeasePublisher, type ServiceRecord } from '../../../registry/index.js';
import { FakeClock } from '../../harness/fake-clock.js';
import { TcpProxy, TestEtcd, waitFor } from '../../harness/index.js';

const record = (instance: string): ServiceRecord => ({ service: 'web', instance, host: '10.0.0.1', port: 80 });

/**
 * LeasePublisher's retry decisions: real etcd behind a TCP proxy we cut, the
 * retry timer on a fake clock, so each retry happens exactly when the test
 * moves the clock and its delay can be checked against the backoff.
 */
describe('registry: LeasePublisher retries (real etcd behind a proxy, retry timer on a fake clock)', function () {
  this.timeout(90_000);
  let etcd: TestEtcd;
  let check: Etcd3;
  let proxy: TcpProxy;
  let client: Etcd3;
  let clock: FakeClock;
  let pub: LeasePublisher;
  /** Every retry delay the publisher announced, in order. */
  let delays: number[];

  before(async () => {
    etcd = await new TestEtcd().start();
    check = etcd.client();
  });

  beforeEach(async () => {
    proxy = await new TcpProxy(etcd.clientPort).start();
    client = createEtcdClient({ endpoints: [`http://127.0.0.1:${proxy.port}`], callTimeoutMs: 1000 });
    clock = new FakeClock();
    // A TTL far beyond the test: only write failures drive retries, never an expired lease.
    pub = new LeasePublisher({ client, prefix: '/services', ttlSeconds: 120, layout: 'json', maxRetryMs: 400, timers: clock });
    delays = [];
    pub.on('retrying', (_err, ms) => delays.push(ms));
  });

  afterEach(async () => {
    await proxy.restore().catch(() => undefined);
    await pub.close({ revoke: true });
    client.close();
    await proxy.cut();
    await check.delete().prefix('/services/').exec();
  });

  after(async () => {
    check.close();
    await etcd.destroy();
  });

  const inEtcd = async (instance: string) => (await check.get(`/services/web/${instance}`).string()) !== null;
  /**
   * Waits (in real time) for retry announcement number `index` (by default the
   * next one) and returns its delay. Take the index before moving the clock: a
   * write can fail at once.
   */
  const nextRetry = async (index = delays.length) => {
    await waitFor(() => delays.length > index, 20_000, `retrying event #${index + 1}`);
    return delays[index]!;
  };
  /** Moves the clock to the pending retry and returns the delay the retry announces. */
  const retryNow = async () => {
    const index = delays.length;
    await clock.advance(delays.at(-1)!);
    return nextRetry(index);
  };
  const within = (ms: number, ceiling: number) => assert.ok(ms >= ceiling / 2 && ms <= ceiling, `delay ${ms} ms is not within [${ceiling / 2}, ${ceiling}]`);

  /** Moves the clock past each announced delay until `instance` is in etcd. */
  async function retryUntilWritten(instance: string): Promise<void> {
    await waitFor(async () => {
      if (await inEtcd(instance)) return true;
      if (clock.pending > 0) await clock.advance(delays.at(-1) ?? 0);
      return false;
    }, 20_000, `${instance} written after etcd came back`, 50);
  }

  it('retries a failed write when its delay has passed, with delays that double up to the cap', async () => {
    pub.publish(record('a'));
    await waitFor(() => inEtcd('a'), 20_000, 'a written');
    assert.equal(clock.pending, 0, 'no retry armed while writes succeed');

    await proxy.cut();
    pub.publish(record('b'));
    within(await nextRetry(), 50);
    assert.equal(clock.pending, 1, 'one retry timer, nothing else');
    assert.equal(pub.settled, false);
    // Each retry runs when the clock reaches its delay, fails again and announces a longer one.
    for (const ceiling of [100, 200, 400, 400]) {
      const announced = delays.length;
      await clock.advance(delays.at(-1)! - 1);
      assert.equal(delays.length, announced, 'not retried before its delay');
      await clock.advance(1);
      within(await nextRetry(announced), ceiling);
      assert.equal(clock.pending, 1);
    }
    assert.equal(await inEtcd('b'), false);

    await proxy.restore();
    await retryUntilWritten('b');
    await waitFor(() => pub.settled, 20_000, 'settled');
    assert.equal(clock.pending, 0, 'no retry armed once everything is written');
  });

  it('starts again from the shortest delay after a write succeeded', async () => {
    pub.publish(record('c'));
    await waitFor(() => inEtcd('c'), 20_000, 'c written');
    await proxy.cut();
    pub.publish(record('d'));
    await nextRetry();
    for (let i = 0; i < 3; i++) await retryNow();
    within(delays.at(-1)!, 400);
    await proxy.restore();
    await retryUntilWritten('d');
    await waitFor(() => pub.settled, 20_000, 'settled');

    await proxy.cut();
    pub.unpublish('web/c');
    within(await nextRetry(), 50);
    await proxy.restore();
    await waitFor(async () => {
      if (!(await inEtcd('c'))) return true;
      if (clock.pending > 0) await clock.advance(delays.at(-1)!);
      return false;
    }, 20_000, 'c removed after etcd came back', 50);
    assert.equal(await inEtcd('d'), true, 'd stays');
  });

  it('keeps the last call for a record while etcd is away: the record ends as last published, or gone if last unpublished', async () => {
    pub.publish(record('e'));
    pub.publish(record('f'));
    await waitFor(async () => (await inEtcd('e')) && (await inEtcd('f')), 20_000, 'e and f written');
    await proxy.cut();
    pub.publish({ ...record('e'), port: 8001 });
    pub.unpublish('web/f');
    pub.publish({ ...record('e'), port: 8002 });
    pub.publish(record('f'));
    pub.unpublish('web/f');
    await nextRetry();
    assert.deepEqual(pub.ids(), ['web/e'], 'the desired set follows the calls at once');
    await proxy.restore();
    await waitFor(async () => {
      const e = JSON.parse((await check.get('/services/web/e').string()) ?? '{}') as ServiceRecord;
      if (e.port === 8002 && !(await inEtcd('f'))) return true;
      if (clock.pending > 0) await clock.advance(delays.at(-1)!);
      return false;
    }, 20_000, 'e at port 8002 and f gone', 50);
    await waitFor(() => pub.settled, 20_000, 'settled');
  });
});
