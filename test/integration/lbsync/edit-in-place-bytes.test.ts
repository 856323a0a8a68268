import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, logLines, waitFor } from '../../harness/index.js';
import { run, Stack, startBackends, waitForLog } from './stack.js';

/**
 * Issue 14 items 3 and 4 on real nginx: edit-in-place rewrites only the
 * bodies of blocks that carry lbsync's marker; every other byte of the file
 * (non-UTF-8 bytes, CRLF line ends, a comment on the `upstream web {` line,
 * a Lua block, a user's upstream named like a service) stays, proved by cmp.
 */
describe('lbsync edit-in-place keeps every byte it does not own', function () {
  this.timeout(120_000);
  const stack = new Stack();
  let backends: Awaited<ReturnType<typeof startBackends>>;
  let parts: (body: string) => Buffer;
  let expectedFile = '';

  before(async () => {
    backends = await startBackends(4);
    const port = (stack.nginx.port = await freePort());
    await stack.start();
    const p = stack.nginx.prefix;
    const crlf = (text: string) => text.replace(/\n/g, '\r\n');
    // The user's main config, written as bytes: CRLF, a latin-1 é (0xE9) and ç (0xE7) in comments, a Lua block with braces in strings.
    const head = Buffer.concat([
      Buffer.from(crlf(`# caf`), 'latin1'),
      Buffer.from([0xe9]),
      Buffer.from(
        crlf(` config, written by hand
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
worker_processes 1;
pid ${p}/logs/nginx.pid;
error_log ${p}/logs/error.log notice;
events { worker_connections 64; }
http {
    access_log off;
    upstream web {   # the web tier; lbsync fills it in { not a brace }
`),
        'latin1',
      ),
    ]);
    const tail = Buffer.concat([
      Buffer.from(
        crlf(`    }
    upstream admin {
        server 127.0.0.1:${backends.ports[3]};   # the user's own, never lbsync's
    }
    server {
        listen 127.0.0.1:${port};
        location = /nginx-up { return 200 "up\\n"; }
        location / { proxy_pass http://web; add_header X-Note "upstream web { x }"; }
        location /admin { proxy_pass http://admin; }
        location /lua { content_by_lua_block { local t = { "}" } -- } {
            ngx.say("lua ", #t) } }
        location /word { return 200 a}b; }
        location /esc { return 200 "q\\"{x}\\" \\\\n"; }
    }
    # fa`),
        'latin1',
      ),
      Buffer.from([0xe7]),
      Buffer.from(crlf('ade\n}\n'), 'latin1'),
    ]);
    parts = (body) => Buffer.concat([head, Buffer.from(body, 'latin1'), tail]);
    writeFileSync(stack.nginx.mainConf, parts('        # managed by beacon lbsync\r\n        server 127.0.0.1:1 down;\r\n'));
    await stack.nginx.reload();
    await waitFor(async () => (await stack.get('/lua')).body === 'lua 1', 10_000, 'the user config with Lua live');
    expectedFile = join(stack.logs, 'expected.conf');
  });
  afterEach(() => stack.killAll());
  after(async () => {
    await stack.stop();
    await backends?.close();
  });

  /** cmp(1) of the live file against the user's bytes with only the managed body replaced. */
  async function cmpWith(body: string): Promise<void> {
    writeFileSync(expectedFile, parts(body));
    const r = await run('cmp', [expectedFile, stack.nginx.mainConf]).then(() => 'same', (err: { stdout: string }) => err.stdout);
    assert.equal(r, 'same');
  }

  it("rewrites only the marked body; a user's upstream named like a service is left alone and logged; cmp proves the rest", async () => {
    await stack.put('web', 'w0', '127.0.0.1', backends.ports[0]!);
    await stack.put('admin', 'a0', '127.0.0.1', backends.ports[1]!);
    const { log } = stack.lbsync(['--nginx-edit', stack.nginx.mainConf, '--health', 'off'], 'bytes');
    await waitFor(async () => (await stack.get()).body === 'b0', 10_000, 'web through the edited file');
    await cmpWith(`        # managed by beacon lbsync\r\n        server 127.0.0.1:${backends.ports[0]};\r\n`);
    const clash = await waitForLog(log, /^skipped admin: "upstream admin" on line \d+ of .* is the user's own/);
    assert.ok(clash);
    assert.equal((await stack.get('/admin')).body, 'b3', "the user's own upstream still serves");
    assert.equal((await stack.get('/lua')).body, 'lua 1');
    assert.equal((await stack.get('/word')).body, 'a}b');
    assert.equal((await stack.get('/esc')).body, 'q"{x}" \\n');
    // More changes, then the clashing service leaves: still only the marked body changes, the user's servers stay.
    await stack.put('web', 'w2', '127.0.0.1', backends.ports[2]!);
    await stack.client.delete().key('/services/admin/a0');
    await waitFor(async () => (await stack.hits(6)).includes('b2'), 10_000, 'w2 served');
    await cmpWith(`        # managed by beacon lbsync\r\n        server 127.0.0.1:${backends.ports[0]};\r\n        server 127.0.0.1:${backends.ports[2]};\r\n`);
    assert.equal((await stack.get('/admin')).body, 'b3');
    assert.equal(logLines(log).filter((l) => /^rejected|^failed/.test(l.msg)).length, 0, JSON.stringify(logLines(log).filter((l) => /^rejected|^failed/.test(l.msg))));
    assert.ok(readFileSync(stack.nginx.mainConf).includes(Buffer.from([0x20, 0x63, 0x61, 0x66, 0xe9])));
  });
});
