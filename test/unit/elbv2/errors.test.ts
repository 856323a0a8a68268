import assert from 'node:assert/strict';
import { classifyElbv2Error, ELBV2_CODES } from '../../../lbsync/elbv2/index.js';

function awsError(name: string, code: string, status: number, message = 'boom') {
  return Object.assign(new Error(message), { name, Code: code, $metadata: { httpStatusCode: status } });
}

const ctx = { service: 'web', targetGroupArn: 'arn:tg', action: 'RegisterTargets', targets: [{ id: '10.0.0.1', port: 80 }] };

describe('elbv2 error classification', () => {
  const rows: Array<[string, unknown, string, boolean]> = [
    ['TargetGroupNotFound', awsError('TargetGroupNotFoundException', 'TargetGroupNotFound', 400), ELBV2_CODES.targetGroupNotFound, false],
    ['InvalidTarget', awsError('InvalidTargetException', 'InvalidTarget', 400), ELBV2_CODES.invalidTarget, false],
    ['TooManyTargets', awsError('TooManyTargetsException', 'TooManyTargets', 400), ELBV2_CODES.tooManyTargets, false],
    ['Throttling 400', awsError('Throttling', 'Throttling', 400), ELBV2_CODES.throttled, true],
    ['HTTP 429', awsError('TooManyRequestsException', 'TooManyRequestsException', 429), ELBV2_CODES.throttled, true],
    ['HTTP 500', awsError('InternalFailure', 'InternalFailure', 500), ELBV2_CODES.unavailable, true],
    ['connection refused', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), ELBV2_CODES.unavailable, true],
    ['AccessDenied', awsError('AccessDenied', 'AccessDenied', 403), ELBV2_CODES.requestFailed, false],
  ];
  it('a missing region is a configuration error, not a retry', () => {
    const e = classifyElbv2Error(new Error('Region is missing'), ctx);
    assert.equal(e.code, ELBV2_CODES.config);
    assert.equal(e.recoverable, false);
    assert.match(e.message, /--elbv2-region/);
  });

  for (const [name, err, code, recoverable] of rows) {
    it(`${name} → ${code}${recoverable ? ' (recoverable)' : ''}`, () => {
      const e = classifyElbv2Error(err, ctx);
      assert.equal(e.code, code);
      assert.equal(e.recoverable, recoverable);
      assert.equal(e.cause, err);
      assert.match(e.message, /service web/);
      assert.match(e.message, /target group arn:tg/);
      assert.match(e.message, /10\.0\.0\.1:80/);
    });
  }
});
