import assert from 'node:assert/strict';
import { validateRecord, validateServiceName, validateInstanceId, ValidationError, parseDuration, formatDuration } from '../../../registry/index.js';

/** Asserts that `fn` throws and the error's own message (not its name) matches. */
function throwsMessage(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.match((err as Error).message, pattern);
    return true;
  });
}

const good = { service: 'web', instance: 'core01:web01:80', host: '10.208.201.226', port: 18001 };

describe('registry: record validation', () => {
  describe('service names', () => {
    const valid = ['web', 'a', 'web-1', 'web.v2', 'my_db', '0', 'a'.repeat(63)];
    const invalid: Array<[unknown, string]> = [
      ['web;', 'a semicolon'],
      ['../x', 'path traversal'],
      ['a b', 'a space'],
      ['WEB', 'upper case'],
      ['a'.repeat(200), '200 characters'],
      ['a'.repeat(64), '64 characters'],
      ['-web', 'a leading dash'],
      ['web-', 'a trailing dash'],
      ['', 'empty'],
      ['web\nx', 'a newline'],
      ['wеb', 'a Cyrillic look-alike'],
      ['web:80', 'a colon (instances only)'],
      [42, 'a number'],
    ];
    for (const name of valid) it(`accepts ${JSON.stringify(name.length > 20 ? `${name.slice(0, 8)}…` : name)}`, () => assert.equal(validateServiceName(name), name));
    for (const [name, why] of invalid) {
      it(`refuses ${why}, naming the rule`, () => {
        assert.throws(() => validateServiceName(name), (err: unknown) => {
          assert.ok(err instanceof ValidationError);
          assert.equal(err.field, 'service');
          assert.match(err.message, /must be 1-63 characters of a-z, 0-9/);
          return true;
        });
      });
    }
  });

  it('allows ":" in instance ids only', () => {
    assert.equal(validateInstanceId('core01:web01:80'), 'core01:web01:80');
    assert.throws(() => validateServiceName('core01:web01'), /service/);
    assert.throws(() => validateInstanceId('core01:web01:'), /instance/);
  });

  const cases: Array<[string, Record<string, unknown>, RegExp | null]> = [
    ['the seed example', { ...good, proto: 'tcp', node: 'core01', container: 'dca363b9af75', unit: 'web@01.service', tags: ['v2'], meta: {}, check: { http: '/health.php', interval: '5s' } }, null],
    ['a DNS host', { ...good, host: 'worker-big-1' }, null],
    ['an IPv6 host', { ...good, host: '::1' }, null],
    ['a port as a decimal string', { ...good, port: '18001' }, null],
    ['a directive in the host', { ...good, host: '1.2.3.4; include /etc/passwd' }, /^host: must be an IPv4\/IPv6 literal or a DNS name/],
    ['a host with a newline', { ...good, host: 'a\nb' }, /^host:/],
    ['a bad dotted quad', { ...good, host: '999.1.1.1' }, /^host:/],
    ['an IPv6 host with a zone id (nginx cannot take it)', { ...good, host: 'fe80::1%lo' }, /^host: must not carry an IPv6 zone id/],
    ['port 0', { ...good, port: 0 }, /^port: must be an integer from 1 to 65535/],
    ['port 65536', { ...good, port: 65536 }, /^port:/],
    ['a fractional port', { ...good, port: 80.5 }, /^port:/],
    ['a missing port', { ...good, port: undefined }, /^port:/],
    ['an unknown proto', { ...good, proto: 'sctp' }, /^proto: must be "tcp" or "udp"/],
    ['too many tags', { ...good, tags: Array.from({ length: 33 }, (_, i) => `t${i}`) }, /^tags: at most 32 tags/],
    ['a tag with a brace', { ...good, tags: ['a{b'] }, /^tags\[0\]:/],
    ['meta with a semicolon', { ...good, meta: { weight: '1; evil' } }, /^meta\.weight:/],
    ['meta with a bad key', { ...good, meta: { 'a b': 'x' } }, /^meta key:/],
    ['too many meta keys', { ...good, meta: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v'])) }, /^meta: at most 32 keys/],
    ['a check path without a slash', { ...good, check: { http: 'health' } }, /^check\.http:/],
    ['an unknown check field', { ...good, check: { exec: 'rm -rf /' } }, /^check\.exec: is not a known check field/],
    ['a bad digest', { ...good, check: { expectDigest: 'md5:abc' } }, /^check\.expectDigest:/],
    ['an interval without unit', { ...good, check: { interval: '5' } }, /^check\.interval:/],
    ['an array', [good] as unknown as Record<string, unknown>, /^record: must be a JSON object/],
    ['a value over 4 KiB', { ...good, meta: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, 'x'.repeat(250)])) }, /^record: must serialise to at most 4096 bytes/],
  ];
  for (const [name, input, error] of cases) {
    it(error ? `refuses ${name}` : `accepts ${name}`, () => {
      if (error) throwsMessage(() => validateRecord(input), error);
      else assert.equal(validateRecord(input).service, 'web');
    });
  }

  it('keeps only known fields and normalises the port', () => {
    const record = validateRecord({ ...good, port: '18001', extra: 'dropped' });
    assert.deepEqual(record, { ...good, port: 18001 });
  });
});

describe('registry: durations', () => {
  for (const [text, ms] of [['250ms', 250], ['5s', 5000], ['1m', 60000], ['1.5s', 1500], ['2h', 7200000]] as const) {
    it(`parses ${text}`, () => assert.equal(parseDuration(text), ms));
  }
  for (const text of ['5', '', 's', '5 sec', '-1s', '1d']) {
    it(`refuses ${JSON.stringify(text)}`, () => throwsMessage(() => parseDuration(text, '--ttl'), /^--ttl: must be a number with a unit/));
  }
  it('formats back', () => {
    assert.equal(formatDuration(250), '250ms');
    assert.equal(formatDuration(5000), '5s');
    assert.equal(formatDuration(90_000), '1m30s');
  });
});
