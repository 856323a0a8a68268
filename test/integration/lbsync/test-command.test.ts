import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { beacon, waitFor } from '../../harness/index.js';
import { Stack, startBackends } from './stack.js';

/**
 * Issue 14 item 6: lbsync finds the main config without scraping `nginx -t`
 * output, and a wrapper command says where the candidate path goes with
 * {main}. Each case proves the candidate (not the live config) is what
 * nginx tests: a config nginx refuses must be refused through it.
 */
describe('lbsync --nginx-test: quiet nginx -t, relative -c, wrappers with {main}', function () {
  this.timeout(120_000);
  const stack = new Stack();
  let backends: Awaited<ReturnType<typeof startBackends>>;
  let refuse = '';

  before(async () => {
    await stack.start();
    backends = await startBackends(3, 't');
    await stack.put('web', 'a', '127.0.0.1', backends.ports[0]!);
    // A server block nginx -t refuses (the same listen twice): a config lbsync must not make live.
    refuse = join(stack.logs, 'refuse.yaml');
    writeFileSync(refuse, 'upstreams:\n  web:\n    servers: [{ listen: ["127.0.0.1:1", "127.0.0.1:1"] }]\n');
  });
  after(async () => {
    await backends?.close();
    await stack.stop();
  });

  /** `beacon lbsync --once` with this --nginx-test (and extra flags). */
  const once = (test: string, extra: string[] = []) => {
    const args = stack.args(['--once', '--health', 'off', ...extra]);
    args[args.indexOf('--nginx-test') + 1] = test;
    return beacon(args);
  };

  const served = (body: string) => waitFor(async () => (await stack.get()).body === body, 10_000, `${body} through nginx`);

  it('works with `nginx -t -q -p P -c conf/nginx.conf` (quiet, relative -c)', async () => {
    const test = `nginx -t -q -p ${stack.nginx.prefix} -c ${relative(stack.nginx.prefix, stack.nginx.mainConf)}`;
    const ok = await once(test);
    assert.equal(ok.code, 0, ok.stderr);
    await served('t0');
    // nginx refuses web's server block through this command: web is quarantined at what nginx runs.
    const bad = await once(test, ['--config', refuse]);
    assert.equal(bad.code, 0, bad.stderr);
    assert.match(bad.stderr, /quarantined web: nginx refused its block.*duplicate listen/);
    await served('t0');
  });

  it('works with a script whose path has a space, told where the config goes by {main}', async () => {
    const dir = join(stack.logs, 'my tools');
    mkdirSync(dir, { recursive: true });
    const script = join(dir, 'test nginx.sh');
    writeFileSync(script, `#!/bin/sh\nexec nginx -t -p "${stack.nginx.prefix}" -c "$1"\n`);
    chmodSync(script, 0o755);
    await stack.put('web', 'a', '127.0.0.1', backends.ports[1]!);
    const ok = await once(`'${script}' {main}`, ['--nginx-main-conf', stack.nginx.mainConf]);
    assert.equal(ok.code, 0, ok.stderr);
    await served('t1');
    const bad = await once(`'${script}' {main}`, ['--nginx-main-conf', stack.nginx.mainConf, '--config', refuse]);
    assert.match(bad.stderr, /quarantined web: .*duplicate listen/);
  });

  it("works with sh -c '…{main}…', and refuses a wrapper that gives the config path no place", async () => {
    await stack.put('web', 'a', '127.0.0.1', backends.ports[2]!);
    const shell = `sh -c 'exec nginx -t -p "${stack.nginx.prefix}" -c "{main}"'`;
    const ok = await once(shell, ['--nginx-main-conf', stack.nginx.mainConf]);
    assert.equal(ok.code, 0, ok.stderr);
    await served('t2');
    const bad = await once(shell, ['--nginx-main-conf', stack.nginx.mainConf, '--config', refuse]);
    assert.match(bad.stderr, /quarantined web: .*duplicate listen/);
    // Appending -c to `sh -c '…'` would only set $0/$1: nginx would test the live config, never the candidate.
    const blind = await once(`sh -c 'nginx -t -p "${stack.nginx.prefix}" -c "${stack.nginx.mainConf}"'`);
    assert.notEqual(blind.code, 0);
    assert.match(blind.stderr, /names no nginx binary.*put \{main\} where nginx's -c argument belongs/);
    await served('t2');
  });
});
