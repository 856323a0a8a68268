import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { BEACON_NODE_ARGS } from '../../harness/index.js';

/**
 * A module hook that prints, at exit, every npm package the process loaded
 * (one name a line, after a marker), so a test can see what a command pulls in.
 */
const TRACE = `data:text/javascript,${encodeURIComponent(`
import { registerHooks } from 'node:module';
const seen = new Set();
registerHooks({ resolve(spec, ctx, next) {
  const r = next(spec, ctx);
  const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(r.url);
  if (m) seen.add(m[1]);
  return r;
} });
process.on('exit', () => process.stderr.write('\\nloaded-packages:' + [...seen].join(',') + '\\n'));
`)}`;

/** The npm packages `beacon ARGS…` loads. */
function packagesLoadedBy(args: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', TRACE, ...BEACON_NODE_ARGS, ...args], { timeout: 30_000 }, (err, _stdout, stderr) => {
      const line = /loaded-packages:(.*)$/m.exec(stderr);
      if (!line) return reject(new Error(`no package list from beacon ${args.join(' ')} (${err?.message ?? 'exit 0'}): ${stderr}`));
      resolve(line[1]!.split(',').filter(Boolean));
    });
  });
}

const HEAVY = ['etcd3', '@grpc/grpc-js', '@aws-sdk/client-elastic-load-balancing-v2', 'prom-client', 'undici', 'dockerode', 'pino', 'yaml'];

describe('each command loads only what it uses', () => {
  for (const args of [['--version'], ['--help'], ['help'], ['no-such-command']]) {
    it(`beacon ${args.join(' ')} loads commander and nothing heavy`, async () => {
      const loaded = await packagesLoadedBy(args);
      assert.ok(loaded.includes('commander'), `the trace saw the process load: ${loaded.join(', ')}`);
      assert.deepEqual(loaded.filter((p) => HEAVY.includes(p)), []);
    });
  }

  it('beacon discover loads etcd3, but not undici, the AWS SDK, prom-client, dockerode or yaml', async () => {
    const loaded = await packagesLoadedBy(['discover', '--help']);
    assert.ok(loaded.includes('etcd3'), `loaded: ${loaded.join(', ')}`);
    assert.deepEqual(loaded.filter((p) => ['undici', '@aws-sdk/client-elastic-load-balancing-v2', 'prom-client', 'dockerode', 'yaml'].includes(p)), []);
  });

  it('beacon lbsync loads neither the AWS SDK, prom-client, dockerode, yaml nor undici until its flags or checks need them', async () => {
    const loaded = await packagesLoadedBy(['lbsync', '--help']);
    assert.ok(loaded.includes('etcd3'), `loaded: ${loaded.join(', ')}`);
    assert.deepEqual(loaded.filter((p) => ['undici', '@aws-sdk/client-elastic-load-balancing-v2', 'prom-client', 'dockerode', 'yaml'].includes(p)), []);
  });
});
