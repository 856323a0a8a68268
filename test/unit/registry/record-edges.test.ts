import assert from 'node:assert/strict';
import { decodeFlat, validateHost, validateRecord, ValidationError } from '../../../registry/index.js';
import { formatAge } from '../../../cli/table.js';

const good = { service: 'web', instance: 'a', host: '10.0.0.1', port: 80 };

/** Asserts a ValidationError (not a RangeError or TypeError) naming `field`, whose message matches `rule`. */
function refuses(fn: () => unknown, field: string, rule: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ValidationError, `a ValidationError, got ${(err as Error)?.constructor?.name}: ${(err as Error)?.message?.slice(0, 80)}`);
    assert.equal(err.field, field);
    assert.match(err.message, rule);
    return true;
  });
}

describe('registry: record edges (timestamps, nesting, hosts, flat text)', () => {
  describe('since', () => {
    for (const since of ['2026-13-45T25:61:61Z', '2026-02-30T00:00:00Z', '2026-01-01T24:00:00Z', '2026-01-01T00:00:60Z', '2025-02-29T12:00:00Z']) {
      it(`refuses ${since}, which has the shape of a time but names none`, () => {
        refuses(() => validateRecord({ ...good, since }), 'since', /^since: must be an ISO 8601 UTC time .*real date and time/);
      });
    }
    for (const since of ['2024-02-29T23:59:59Z', '2026-01-02T03:04:05.123456789Z']) {
      it(`accepts ${since}`, () => assert.equal(validateRecord({ ...good, since }).since, since));
    }
    it('never prints an age of NaN, whatever the text', () => {
      assert.equal(formatAge('2026-13-45T25:61:61Z'), '-');
      assert.equal(formatAge('soon'), '-');
      assert.equal(formatAge('2026-01-01T00:00:00Z', Date.parse('2026-01-03T00:00:00Z')), '2d');
    });
  });

  describe('nesting', () => {
    it('refuses a meta value nested a million deep with a field rule, not a stack overflow', () => {
      const deep = JSON.parse(`{"a":${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}}`);
      refuses(() => validateRecord({ ...good, meta: deep }), 'meta.a.0', /^meta\.a\.0: must not nest objects or arrays more than 3 levels deep/);
    });
    it('refuses a deep check and deep tags the same way', () => {
      refuses(() => validateRecord({ ...good, check: { http: { x: {} } } }), 'check.http.x', /levels deep/);
      refuses(() => validateRecord({ ...good, tags: [[['a']]] }), 'tags.0.0', /levels deep/);
    });
    it('still gives the field rule for a shallow wrong type', () => {
      refuses(() => validateRecord({ ...good, meta: { a: ['x'] } }), 'meta.a', /^meta\.a: must be a string/);
    });
  });

  describe('hosts', () => {
    for (const host of ['0x7f.0.0.1', '0x7f000001', '0177.0.0.1', '127.1', '2130706433', 'a.0x1', 'www.10']) {
      it(`refuses ${host}, an IPv4 address in a form only resolvers read`, () => {
        refuses(() => validateHost(host), 'host', /^host: must be an IPv4\/IPv6 literal or a DNS name.*dotted-decimal/);
      });
    }
    for (const host of ['0.0.0.0', '0.1.2.3', '::', '0:0:0:0:0:0:0:0', '::ffff:0.0.0.0']) {
      it(`refuses ${host}, which no client can connect to`, () => {
        refuses(() => validateHost(host), 'host', /^host: must be an address a client can connect to, not the unspecified address/);
      });
    }
    for (const host of ['10.0.0.1', '::1', 'fd00::1', 'web-1.example.com', 'x0x7f', 'a1.b2', 'example.com.']) {
      it(`accepts ${host}`, () => assert.equal(validateHost(host), host));
    }
  });

  describe('flat layout', () => {
    it('trims every field alike (a trailing newline from `echo` in a unit file)', () => {
      const slot = { layout: 'flat' as const, service: 'web', instance: 'web01' };
      const record = decodeFlat(slot, new Map([['host', 'core03\n'], ['port', ' 18002\n'], ['unit', 'monweb@01.service\n'], ['public_ipv4_addr', '192.0.2.1\n']]));
      assert.deepEqual(record, { service: 'web', instance: 'web01', host: 'core03', port: 18002, unit: 'monweb@01.service', meta: { public_ipv4_addr: '192.0.2.1' } });
    });
  });
});
