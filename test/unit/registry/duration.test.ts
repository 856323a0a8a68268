import assert from 'node:assert/strict';
import { formatDuration, MAX_TIMER_MS, parseDuration, ValidationError } from '../../../registry/index.js';

const ttl = { min: 1000, max: 86_400_000, step: { ms: 1000, why: 'etcd leases count in whole seconds' } };

/** Asserts a ValidationError naming `field`, whose message matches `rule`. */
function refuses(fn: () => unknown, field: string, rule: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ValidationError, `a ValidationError, got ${String(err)}`);
    assert.equal(err.field, field);
    assert.match(err.message, rule);
    return true;
  });
}

describe('registry: duration bounds', () => {
  it('computes decimals exactly (4.35s is 4350 ms, not 4349)', () => {
    assert.equal(parseDuration('4.35s'), 4350);
    assert.equal(parseDuration('0.001s'), 1);
    assert.equal(parseDuration('1.5m'), 90_000);
  });

  it("refuses anything past Node's 2^31-1 ms timer limit, naming it", () => {
    assert.equal(parseDuration(`${MAX_TIMER_MS}ms`), MAX_TIMER_MS);
    refuses(() => parseDuration('600h', 'check.interval'), 'check.interval', /^check\.interval: must be at most 596h31m23\.647s \(Node's timer limit\)/);
    refuses(() => parseDuration('99999999999999999999999h', 'x'), 'x', /must be at most/);
  });

  it('applies a flag\'s own maximum and minimum', () => {
    refuses(() => parseDuration('600h', '--ttl', ttl), '--ttl', /^--ttl: must be at most 24h \(got "600h"\)$/);
    refuses(() => parseDuration('25h', '--ttl', ttl), '--ttl', /at most 24h/);
    assert.equal(parseDuration('24h', '--ttl', ttl), 86_400_000);
    refuses(() => parseDuration('0s', '--ttl', ttl), '--ttl', /^--ttl: must be at least 1s/);
  });

  it('refuses precision the consumer cannot honour instead of rounding it away', () => {
    refuses(() => parseDuration('1.4999s', '--ttl', ttl), '--ttl', /^--ttl: must be a multiple of 1s \(etcd leases count in whole seconds\)/);
    refuses(() => parseDuration('1500ms', '--ttl', ttl), '--ttl', /multiple of 1s/);
    assert.equal(parseDuration('2s', '--ttl', ttl), 2000);
    assert.equal(parseDuration('0.5m', '--ttl', ttl), 30_000);
    refuses(() => parseDuration('1.5ms', 'wait'), 'wait', /^wait: must be a whole number of milliseconds/);
  });

  it('formats hours back', () => {
    assert.equal(formatDuration(86_400_000), '24h');
    assert.equal(formatDuration(5_400_000), '1h30m');
    assert.equal(formatDuration(3_661_000), '1h1m1s');
  });
});
