import assert from 'node:assert/strict';
import { encodeRecord, normalisePrefix, RecordView, slotOf, type ServiceRecord } from '../../../registry/index.js';

const P = '/services';
const web01: ServiceRecord = { service: 'web', instance: 'web01', host: '10.0.0.1', port: 18001, unit: 'monweb@01.service' };

describe('registry: key layouts', () => {
  const slots: Array<[string, object | RegExp]> = [
    ['/services/mongodb', { layout: 'single', service: 'mongodb', instance: 'mongodb' }],
    ['/services/web/core01:web01:80', { layout: 'json', service: 'web', instance: 'core01:web01:80' }],
    ['/services/web/web01/host', { layout: 'flat', service: 'web', instance: 'web01', field: 'host' }],
    ['/services/web/web01/public_ipv4_addr', { layout: 'flat', service: 'web', instance: 'web01', field: 'public_ipv4_addr' }],
    ['/services/web/web01/colour', /flat layout fields are host, port, unit, public_ipv4_addr/],
    ['/services/WEB/x', /service in key must be 1-63/],
    ['/services/web/../x', /instance in key/],
    ['/services/a/b/c/d', /must be <prefix>\/<service>/],
    ['/other/web', /is not under \/services\//],
    ['/services/web;/x', /service in key/],
  ];
  for (const [key, expected] of slots) {
    it(`classifies ${key}`, () => {
      if (expected instanceof RegExp) assert.throws(() => slotOf(P, key), (err: Error) => expected.test(err.message));
      else assert.deepEqual(slotOf(P, key), expected);
    });
  }

  it('normalises prefixes', () => {
    assert.equal(normalisePrefix('services/'), '/services');
    assert.equal(normalisePrefix('//a//b/'), '/a/b');
    assert.throws(() => normalisePrefix('/'), (err: Error) => /^prefix: must not be empty/.test(err.message));
  });

  it('encodes each layout as the seeds do', () => {
    assert.deepEqual(encodeRecord(P, web01, 'json'), [['/services/web/web01', JSON.stringify(web01)]]);
    assert.deepEqual(encodeRecord(P, { ...web01, meta: { public_ipv4_addr: '162.242.254.113' } }, 'flat'), [
      ['/services/web/web01/host', '10.0.0.1'],
      ['/services/web/web01/port', '18001'],
      ['/services/web/web01/unit', 'monweb@01.service'],
      ['/services/web/web01/public_ipv4_addr', '162.242.254.113'],
    ]);
    assert.deepEqual(encodeRecord(P, { service: 'mongodb', instance: 'mongodb', host: 'worker-big-1', port: 27017 }, 'single'), [
      ['/services/mongodb', '{"host":"worker-big-1","port":27017}'],
    ]);
  });

  it('round-trips every layout through the view', () => {
    for (const layout of ['json', 'flat', 'single'] as const) {
      const record: ServiceRecord = layout === 'single' ? { service: 'web', instance: 'web', host: '10.0.0.1', port: 80 } : web01;
      const view = new RecordView(P);
      const diff = view.apply(encodeRecord(P, record, layout).map(([key, value]) => ({ type: 'put' as const, key, value })));
      assert.deepEqual(diff.problems, []);
      assert.equal(view.size, 1, layout);
      assert.equal(view.list()[0]!.host, '10.0.0.1');
      assert.equal(view.list()[0]!.port, record.port);
    }
  });
});

describe('registry: record view', () => {
  it('assembles a flat record only once host and port are both there', () => {
    const view = new RecordView(P);
    assert.equal(view.apply([{ type: 'put', key: '/services/web/web01/host', value: '10.0.0.1' }]).upserted.length, 0);
    const diff = view.apply([{ type: 'put', key: '/services/web/web01/port', value: '18001' }]);
    assert.equal(diff.upserted.length, 1);
    assert.equal(view.apply([{ type: 'delete', key: '/services/web/web01/port' }]).removed.length, 1);
    assert.equal(view.size, 0);
  });

  it('reports a malformed value once, keeps the valid records, and clears the problem when fixed', () => {
    const view = new RecordView(P);
    const first = view.apply([
      { type: 'put', key: '/services/web/a', value: JSON.stringify({ service: 'web', instance: 'a', host: '10.0.0.1', port: 80 }) },
      { type: 'put', key: '/services/web/b', value: '{not json' },
    ]);
    assert.equal(first.upserted.length, 1);
    assert.deepEqual(first.problems, [{ key: '/services/web/b', reason: 'value: must be valid JSON (got "{not json")' }]);
    // The same bad value again is not reported twice.
    assert.deepEqual(view.apply([{ type: 'put', key: '/services/web/b', value: '{not json' }]).problems, []);
    assert.equal(view.problems().length, 1);
    view.apply([{ type: 'put', key: '/services/web/b', value: JSON.stringify({ service: 'web', instance: 'b', host: '10.0.0.2', port: 80 }) }]);
    assert.equal(view.problems().length, 0);
    assert.equal(view.size, 2);
  });

  it('refuses a value whose names disagree with its key', () => {
    const view = new RecordView(P);
    const diff = view.apply([{ type: 'put', key: '/services/web/a', value: JSON.stringify({ service: 'db', instance: 'a', host: '10.0.0.1', port: 80 }) }]);
    assert.equal(view.size, 0);
    assert.match(diff.problems[0]!.reason, /must match the key \(web\/a\)/);
  });

  it('a hostile update removes the old valid record rather than keeping a stale one', () => {
    const view = new RecordView(P);
    view.apply([{ type: 'put', key: '/services/web/a', value: JSON.stringify({ service: 'web', instance: 'a', host: '10.0.0.1', port: 80 }) }]);
    const diff = view.apply([{ type: 'put', key: '/services/web/a', value: JSON.stringify({ service: 'web', instance: 'a', host: '1.2.3.4; include /etc/passwd', port: 80 }) }]);
    assert.equal(diff.removed.length, 1);
    assert.equal(view.size, 0);
    assert.match(diff.problems[0]!.reason, /^host:/);
  });

  it('reset() diffs a fresh listing against what it had', () => {
    const view = new RecordView(P);
    const rec = (i: string) => JSON.stringify({ service: 'web', instance: i, host: '10.0.0.1', port: 80 });
    view.apply([{ type: 'put', key: '/services/web/a', value: rec('a') }, { type: 'put', key: '/services/web/b', value: rec('b') }]);
    const diff = view.reset(new Map([['/services/web/b', rec('b')], ['/services/web/c', rec('c')]]));
    assert.deepEqual(diff.removed.map((r) => r.instance), ['a']);
    assert.deepEqual(diff.upserted.map((r) => r.instance), ['c']);
  });

  it('prefers the canonical JSON record when layouts overlap', () => {
    const view = new RecordView(P);
    view.apply([
      { type: 'put', key: '/services/web/web01/host', value: '10.9.9.9' },
      { type: 'put', key: '/services/web/web01/port', value: '1' },
      { type: 'put', key: '/services/web/web01', value: JSON.stringify({ service: 'web', instance: 'web01', host: '10.0.0.1', port: 80 }) },
    ]);
    assert.equal(view.get('web/web01')!.host, '10.0.0.1');
  });
});
