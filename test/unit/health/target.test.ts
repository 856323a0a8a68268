import assert from 'node:assert/strict';
import { formatTarget, parseTarget, type ParsedTarget } from '../../../health/index.js';

describe('health check targets', () => {
  const good: Array<[string, ParsedTarget]> = [
    ['http://127.0.0.1:8080/health', { kind: 'http', target: { host: '127.0.0.1', port: 8080 }, path: '/health' }],
    ['http://127.0.0.1', { kind: 'http', target: { host: '127.0.0.1', port: 80 }, path: '/' }],
    ['https://web.example.com/health.php?deep=1', { kind: 'https', target: { host: 'web.example.com', port: 443 }, path: '/health.php?deep=1' }],
    ['tcp://10.0.0.5:27017', { kind: 'tcp', target: { host: '10.0.0.5', port: 27017 }, path: '/' }],
    ['tcp://10.0.0.5:27017/', { kind: 'tcp', target: { host: '10.0.0.5', port: 27017 }, path: '/' }],
    ['http://[::1]:9000/x', { kind: 'http', target: { host: '::1', port: 9000 }, path: '/x' }],
  ];
  for (const [text, expected] of good) {
    it(`parses ${text}`, () => assert.deepEqual(parseTarget(text), expected));
  }

  const bad = ['127.0.0.1:80', 'ftp://host/', 'tcp://host', 'tcp://host:80/path', 'http://user:pw@host/', 'http://host/#frag', 'http://host:0/', 'http://host:70000/', 'http://bad_host/', 'udp://h:53', ''];
  for (const text of bad) {
    it(`refuses ${JSON.stringify(text)} naming TARGET`, () => {
      assert.throws(() => parseTarget(text), (err: { code?: string; field?: string }) => err.code === 'BEACON_INVALID' && err.field === 'TARGET');
    });
  }

  it('formats targets back as URLs', () => {
    assert.equal(formatTarget('http', { host: '127.0.0.1', port: 80 }, '/h'), 'http://127.0.0.1:80/h');
    assert.equal(formatTarget('tcp', { host: '::1', port: 5432 }), 'tcp://[::1]:5432');
  });
});
