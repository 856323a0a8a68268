import assert from 'node:assert/strict';
import { formatStatusSet, parseStatusSet, statusMatches } from '../../../health/index.js';

const ValidationErrorCode = 'BEACON_INVALID';

describe('health status sets', () => {
  const good: Array<[string, Array<[number, number]>]> = [
    ['200', [[200, 200]]],
    ['200-399', [[200, 399]]],
    ['200-399,204', [[200, 399], [204, 204]]],
    ['200,204', [[200, 200], [204, 204]]],
    [' 200 , 301-302 ', [[200, 200], [301, 302]]],
    ['2xx', [[200, 299]]],
    ['2xx,404', [[200, 299], [404, 404]]],
  ];
  for (const [text, expected] of good) {
    it(`parses ${JSON.stringify(text)}`, () => assert.deepEqual(parseStatusSet(text), expected));
  }

  const bad = ['', '20', '2000', '200-', '-200', '399-200', '600', '099', 'abc', '200,,204', '6xx', '200;204', '200 204'];
  for (const text of bad) {
    it(`refuses ${JSON.stringify(text)} with a validation error`, () => {
      assert.throws(() => parseStatusSet(text, '--expect-status'), (err: { code?: string; field?: string }) => err.code === ValidationErrorCode && err.field === '--expect-status');
    });
  }

  it('formats a set back to its text', () => {
    assert.equal(formatStatusSet(parseStatusSet('200-399,204')), '200-399,204');
    assert.equal(formatStatusSet(parseStatusSet('2xx')), '200-299');
  });

  const matches: Array<[string, number, boolean]> = [
    ['200-399', 200, true],
    ['200-399', 399, true],
    ['200-399', 400, false],
    ['200-399', 199, false],
    ['200,204', 204, true],
    ['200,204', 201, false],
    ['5xx', 503, true],
  ];
  for (const [set, status, expected] of matches) {
    it(`${status} ${expected ? 'is' : 'is not'} in ${set}`, () => assert.equal(statusMatches(parseStatusSet(set), status), expected));
  }
});
