import assert from 'node:assert/strict';
import { isPlainNginxReload } from '../../../lbsync/nginx-output.js';

describe('lbsync: which reload commands are signalled directly', () => {
  const cases: Array<[string[], boolean]> = [
    [['nginx', '-s', 'reload'], true],
    [['/usr/sbin/nginx', '-p', '/srv/n', '-c', 'conf/nginx.conf', '-s', 'reload'], true],
    [['nginx', '-g', 'daemon off;', '-s', 'reload'], true],
    [['nginx', '-s', 'stop'], false],
    [['nginx', '-t'], false],
    [['sudo', 'nginx', '-s', 'reload'], false],
    [['systemctl', 'reload', 'nginx'], false],
    [['nginx', '-s', 'reload', '&&', 'echo'], false],
    [['openresty', '-s', 'reload'], false],
  ];
  for (const [argv, plain] of cases) {
    it(`${plain ? 'signals' : 'runs'} ${argv.join(' ')}`, () => assert.equal(isPlainNginxReload(argv), plain));
  }
});
