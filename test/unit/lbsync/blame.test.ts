import assert from 'node:assert/strict';
import { blameService } from '../../../lbsync/index.js';

describe("lbsync nginx: blaming nginx's -t message on a service", () => {
  const file = '/etc/nginx/conf.d/beacon.conf';
  const spans = [
    { service: 'api', firstLine: 4, lastLine: 7 },
    { service: 'web', firstLine: 8, lastLine: 12 },
    { service: 'web', firstLine: 14, lastLine: 25 },
  ];
  const upstreams = ['api', 'web', 'localhost'];
  // Messages as nginx 1.22 words them (after nginxMessage() and the activator's unshadowing).
  const cases: Array<[string, string, string | undefined]> = [
    ['a line in a service span', '[emerg] 4645#4645: duplicate listen 127.0.0.1:8080 in /etc/nginx/conf.d/beacon.conf:15', 'web'],
    ['the first line of a span', '[emerg] 1#1: no servers are inside upstream in /etc/nginx/conf.d/beacon.conf:4', 'api'],
    ['a duplicate reported at the second definition, in the user file', '[emerg] 1#1: duplicate upstream "api" in /etc/nginx/conf.d/zz-user.conf:1', 'api'],
    ['an implicit upstream clash', '[emerg] 1#1: upstream "localhost" may not have port 8080 in /etc/nginx/nginx.conf:20', 'localhost'],
    ['a line of our file outside every span (the header)', '[emerg] 1#1: unknown directive "x" in /etc/nginx/conf.d/beacon.conf:2', undefined],
    ["the user's file, no upstream named", '[emerg] 1#1: unknown directive "lsten" in /etc/nginx/nginx.conf:9', undefined],
    ['an upstream lbsync did not render', '[emerg] 1#1: duplicate upstream "legacy" in /etc/nginx/nginx.conf:9', undefined],
    ['a relative spelling of the same file', '[emerg] 1#1: invalid parameter "x" in /etc/nginx/conf.d/../conf.d/beacon.conf:10', 'web'],
  ];
  for (const [name, message, expected] of cases) {
    it(name, () => assert.equal(blameService(message, file, spans, upstreams), expected));
  }

  it('a path with spaces', () => {
    assert.equal(blameService('[emerg] 1#1: bad in /srv/my nginx/beacon.conf:5', '/srv/my nginx/beacon.conf', spans, upstreams), 'api');
  });
});
