import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { beacon, freePort, waitFor } from '../../harness/index.js';
import { scanConf } from '../../../lbsync/index.js';
import { Stack, startBackends, waitForLog } from './stack.js';

/** The text outside the bodies of the named upstream blocks. */
function outside(text: string, names: string[]): string[] {
  const parts: string[] = [];
  let at = 0;
  const visit = (list: ReturnType<typeof scanConf>) => {
    for (const d of list) {
      if (!d.block || d.name === 'stream') continue;
      if (d.name === 'upstream' && names.includes(d.args[0]!)) {
        parts.push(text.slice(at, d.block.open + 1));
        at = d.block.close;
      } else visit(d.block.children);
    }
  };
  visit(scanConf(text));
  parts.push(text.slice(at));
  return parts;
}

describe('lbsync edit-in-place on a real multi-server nginx.conf', function () {
  this.timeout(120_000);
  const stack = new Stack();
  let backends: Awaited<ReturnType<typeof startBackends>>;
  let apiPort = 0;

  before(async () => {
    backends = await startBackends(4);
    const webPort = await freePort();
    apiPort = await freePort();
    stack.nginx.port = webPort;
    // The operator's own config: comments, one-line blocks, quoted braces, a map, two sites, an unmanaged upstream;
    // the blocks lbsync may fill carry its marker line.
    await stack.start(
      `    # --- sites, kept by hand ---
    map $http_upgrade $connection_upgrade { default upgrade; '' close; }

    upstream web {   # lbsync fills this in
        # managed by beacon lbsync
        server 127.0.0.1:1 down;
    }
    upstream legacy { server 127.0.0.1:${backends.ports[3]}; }  # never touched
    upstream api{
      # managed by beacon lbsync
      least_conn;
      server 127.0.0.1:1 down;
    }

    server {
        listen 127.0.0.1:${webPort};
        location = /nginx-up { return 200 "up\\n"; }
        location / { proxy_pass http://web; add_header X-Note "upstream web { fake }"; }
        location /legacy { proxy_pass http://legacy; }
    }
    server { listen 127.0.0.1:${apiPort}; location / { proxy_pass http://api; } }
`,
      '# nothing here\n',
    );
  });
  afterEach(() => stack.killAll());
  after(async () => {
    await backends?.close();
    await stack.stop();
  });

  it('rewrites only the managed upstream blocks, keeps every other byte, and nginx routes through them', async () => {
    const original = readFileSync(stack.nginx.mainConf, 'utf8');
    await stack.put('web', 'w0', '127.0.0.1', backends.ports[0]!);
    await stack.put('web', 'w1', '127.0.0.1', backends.ports[1]!);
    await stack.put('api', 'a0', '127.0.0.1', backends.ports[2]!);
    const { log } = stack.lbsync(['--nginx-edit', stack.nginx.mainConf, '--health', 'off']);
    await waitForLog(log, /^started lbsync/);
    await waitFor(async () => new Set(await stack.hits(6)).size === 2, 10_000, 'both web backends');
    const edited = readFileSync(stack.nginx.mainConf, 'utf8');
    assert.deepEqual(outside(edited, ['web', 'api']), outside(original, ['web', 'api']));
    assert.match(edited, /upstream api\{\n      # managed by beacon lbsync\n      least_conn;\n      server 127\.0\.0\.1:\d+;\n    \}/);
    const api = await fetch(`http://127.0.0.1:${apiPort}/`);
    assert.equal((await api.text()).trim(), 'b2');
    const legacy = await fetch(`http://127.0.0.1:${stack.nginx.port}/legacy`);
    assert.equal((await legacy.text()).trim(), 'b3');
    // a change later touches the blocks again, still nothing else
    await stack.client.delete().key('/services/web/w1');
    await waitFor(async () => (await stack.hits(6)).every((b) => b === 'b0'), 10_000, 'only w0');
    assert.deepEqual(outside(readFileSync(stack.nginx.mainConf, 'utf8'), ['web', 'api']), outside(original, ['web', 'api']));
  });

  it('--dry-run prints the whole edited file and leaves it alone', async () => {
    const before = readFileSync(stack.nginx.mainConf, 'utf8');
    await stack.put('web', 'w9', '127.0.0.1', 9);
    const r = await beacon(stack.args(['--nginx-edit', stack.nginx.mainConf, '--health', 'off', '--dry-run']));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /server 127\.0\.0\.1:9;/);
    assert.match(r.stdout, /upstream legacy \{ server 127\.0\.0\.1:\d+; \}  # never touched/);
    assert.equal(readFileSync(stack.nginx.mainConf, 'utf8'), before);
  });
});
