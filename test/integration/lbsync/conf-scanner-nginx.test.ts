import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, startProcess, waitFor, type Started } from '../../harness/index.js';
import { scanConf } from '../../../lbsync/index.js';
import { CONF_CASES, type ConfCase } from '../../unit/lbsync/conf-cases.js';

const run = promisify(execFile);
const MODULES = ['/usr/lib/nginx/modules/ndk_http_module.so', '/usr/lib/nginx/modules/ngx_http_lua_module.so'];

/** The scanner's table, checked against real nginx: same cases accepted, same words served. */
describe('lbsync config scanner agrees with real nginx', function () {
  this.timeout(60_000);
  const prefix = mkdtempSync(join(tmpdir(), 'beacon-scan-'));
  mkdirSync(join(prefix, 'logs'));
  let port = 0;
  let nginx: Started | undefined;

  const conf = (locations: string) =>
    [
      ...MODULES.map((m) => `load_module ${m};`),
      `pid ${join(prefix, 'logs', 'nginx.pid')};`,
      `error_log ${join(prefix, 'logs', 'error.log')};`,
      'events { worker_connections 64; }',
      `http { access_log off; server { listen 127.0.0.1:${port};`,
      locations,
      '} }',
      '',
    ].join('\n');
  const location = (c: ConfCase, i: number) => `location = /case${i} { ${c.body} }\n`;

  before(async () => {
    port = await freePort();
  });
  after(async () => {
    await nginx?.stop('SIGQUIT');
    rmSync(prefix, { recursive: true, force: true });
  });

  for (const [i, c] of CONF_CASES.entries()) {
    it(`nginx -t ${c.error ? 'refuses' : 'accepts'}: ${c.name}`, async () => {
      const file = join(prefix, `case${i}.conf`);
      const text = conf(location(c, i));
      writeFileSync(file, text);
      const ok = await run('nginx', ['-t', '-q', '-p', prefix, '-c', file]).then(() => true, (err: { stderr: string }) => err.stderr);
      if (c.error) {
        assert.notEqual(ok, true, 'nginx accepted it');
        assert.throws(() => scanConf(text), c.error);
      } else {
        assert.equal(ok, true, String(ok));
        assert.doesNotThrow(() => scanConf(text));
      }
    });
  }

  it('serves exactly the words the scanner read', async () => {
    const valid = CONF_CASES.map((c, i) => ({ c, i })).filter(({ c }) => !c.error);
    const file = join(prefix, 'all.conf');
    writeFileSync(file, conf(valid.map(({ c, i }) => location(c, i)).join('')));
    nginx = startProcess('nginx', ['-p', prefix, '-c', file, '-g', 'daemon off;'], join(prefix, 'logs', 'stdout.log'));
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/case0`)).ok, 10_000, 'nginx', 50);
    let checked = 0;
    for (const { c, i } of valid) {
      const body = await (await fetch(`http://127.0.0.1:${port}/case${i}`)).text();
      if (c.args && !c.args[1]!.includes('$')) {
        assert.equal(body, c.args[1], c.name);
        checked++;
      }
      if (c.lua !== undefined) {
        assert.ok(body.includes('}'), `${c.name}: ${body}`);
        checked++;
      }
    }
    assert.ok(checked >= 10, `only ${checked} cases checked`);
  });
});
