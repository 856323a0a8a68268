import assert from 'node:assert/strict';
import type { CheckSpec } from '../../../registry/index.js';
import { DEFAULT_SPEC, resolveSpec, sameSpec, type HealthSpec } from '../../../health/index.js';

describe('health spec resolution', () => {
  it('defaults to a TCP connect every 5s, timeout 2s, rise 2, fall 3, jitter 0.1, 64 KiB of body', () => {
    const spec = resolveSpec();
    assert.deepEqual(spec, {
      kind: 'tcp',
      path: '/',
      method: 'GET',
      expectStatus: [[200, 399]],
      maxBodyBytes: 65536,
      intervalMs: 5000,
      timeoutMs: 2000,
      jitter: 0.1,
      rise: 2,
      fall: 3,
      tlsVerify: true,
    });
    assert.deepEqual(spec, { ...DEFAULT_SPEC });
  });

  const cases: Array<{ name: string; check?: CheckSpec; service?: Partial<HealthSpec>; defaults?: Partial<HealthSpec>; expect: Partial<HealthSpec> }> = [
    { name: 'record http path makes an HTTP GET of that path', check: { http: '/health.php' }, expect: { kind: 'http', path: '/health.php', method: 'GET' } },
    { name: 'record tcp: true means TCP even with a service path', check: { tcp: true }, service: { kind: 'http', path: '/x' }, expect: { kind: 'tcp' } },
    { name: 'record http path with a service kind https is HTTPS', check: { http: '/h' }, service: { kind: 'https' }, expect: { kind: 'https', path: '/h' } },
    { name: 'record durations are parsed', check: { http: '/h', interval: '2s', timeout: '500ms' }, expect: { intervalMs: 2000, timeoutMs: 500 } },
    { name: 'record status and digest are used', check: { http: '/h', expectStatus: '200,204', expectDigest: 'sha1:0a4d55a8d778e5022fab701977c5d840bbc486d0' }, expect: { expectStatus: [[200, 200], [204, 204]], expectDigest: 'sha1:0a4d55a8d778e5022fab701977c5d840bbc486d0' } },
    { name: 'record beats service beats defaults, field by field', check: { http: '/r', interval: '1s' }, service: { path: '/s', intervalMs: 3000, timeoutMs: 700 }, defaults: { path: '/d', intervalMs: 9000, timeoutMs: 900, rise: 5 }, expect: { path: '/r', intervalMs: 1000, timeoutMs: 700, rise: 5 } },
    { name: 'service config applies when the record has no check', service: { kind: 'http', path: '/s', fall: 1 }, expect: { kind: 'http', path: '/s', fall: 1 } },
    { name: 'defaults apply when the service says nothing', defaults: { kind: 'http', path: '/d' }, expect: { kind: 'http', path: '/d' } },
    { name: 'undefined service fields do not hide defaults', service: { path: undefined as unknown as string }, defaults: { path: '/d' }, expect: { path: '/d' } },
    { name: 'digests are compared in lower case', service: { expectDigest: 'SHA1:0A4D55A8D778E5022FAB701977C5D840BBC486D0' }, expect: { expectDigest: 'sha1:0a4d55a8d778e5022fab701977c5d840bbc486d0' } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const spec = resolveSpec(c.check, c.service, c.defaults);
      for (const [key, value] of Object.entries(c.expect)) assert.deepEqual(spec[key as keyof HealthSpec], value, key);
    });
  }

  const bad: Array<{ name: string; check?: CheckSpec; service?: Partial<HealthSpec>; field: string }> = [
    { name: 'a record interval without unit', check: { interval: '5' }, field: 'check.interval' },
    { name: 'a bad record status set', check: { expectStatus: '2000' }, field: 'check.expectStatus' },
    { name: 'rise 0', service: { rise: 0 }, field: 'rise' },
    { name: 'fall 1.5', service: { fall: 1.5 }, field: 'fall' },
    { name: 'jitter above 1', service: { jitter: 2 }, field: 'jitter' },
    { name: 'a lower-case method', service: { method: 'get' }, field: 'method' },
    { name: 'a path without a slash', service: { path: 'health' }, field: 'path' },
    { name: 'a path with a space', service: { path: '/a b' }, field: 'path' },
    { name: 'a bad digest', service: { expectDigest: 'md5:abc' }, field: 'expectDigest' },
    { name: 'a Host header with CR/LF', service: { hostHeader: 'a\r\nX: y' }, field: 'hostHeader' },
    { name: 'an empty body substring', service: { expectBody: '' }, field: 'expectBody' },
  ];
  for (const c of bad) {
    it(`refuses ${c.name}, naming ${c.field}`, () => {
      assert.throws(() => resolveSpec(c.check, c.service), (err: { code?: string; field?: string }) => err.code === 'BEACON_INVALID' && err.field === c.field);
    });
  }

  it('sameSpec ignores field order and sees every difference', () => {
    const a = resolveSpec({ http: '/h' });
    const reordered = Object.fromEntries(Object.entries(a).reverse()) as unknown as HealthSpec;
    assert.equal(sameSpec(a, reordered), true);
    assert.equal(sameSpec(a, { ...a, expectStatus: [[200, 200]] }), false);
    assert.equal(sameSpec(a, { ...a, expectBody: 'ok' }), false);
  });
});
