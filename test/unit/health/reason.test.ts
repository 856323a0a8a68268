import assert from 'node:assert/strict';
import { describeError, timeoutReason } from '../../../health/index.js';

const coded = (code: string, message = code, cause?: unknown) => Object.assign(new Error(message, cause === undefined ? undefined : { cause }), { code });

describe('health failure reasons', () => {
  const table: Array<[string, unknown, string]> = [
    ['refused', coded('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:1'), 'connection refused'],
    ['reset', coded('ECONNRESET'), 'connection reset by peer'],
    ['undici socket closed', coded('UND_ERR_SOCKET', 'other side closed'), 'connection closed by peer'],
    ['a wrapped refusal', coded('UND_ERR_X', 'fetch failed', coded('ECONNREFUSED')), 'connection refused'],
    ['unknown host', coded('ENOTFOUND'), 'host not found'],
    ['a self-signed certificate', coded('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'), 'TLS: self-signed certificate'],
    ['an OpenSSL message', coded('ERR_SSL_WRONG_VERSION_NUMBER', 'C0:error:0A00010B:SSL routines:tls_validate_record_header:wrong version number:../ssl.c:77:\n'), 'TLS: wrong version number'],
    ['not HTTP', coded('HPE_INVALID_CONSTANT', 'Expected HTTP/'), 'not an HTTP response'],
    ['anything else keeps its message and code', coded('EWHATEVER', 'odd thing'), 'odd thing (EWHATEVER)'],
    ['a plain error keeps its message', new Error('plain'), 'plain'],
  ];
  for (const [name, err, reason] of table) it(name, () => assert.equal(describeError(err), reason));

  it('words timeouts the same way everywhere', () => {
    assert.equal(timeoutReason(2000), 'timeout after 2s');
    assert.equal(timeoutReason(500), 'timeout after 500ms');
    assert.equal(timeoutReason(1500, 'reading the body'), 'timeout after 1.5s reading the body');
  });
});
