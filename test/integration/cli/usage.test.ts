import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseDuration } from '../../../registry/index.js';
import { beacon } from '../../harness/index.js';

const COMMANDS = [[], ['discover'], ['services'], ['health'], ['health', 'check'], ['health', 'watch'], ['sidekick'], ['sidekick', 'docker'], ['sidekick', 'announce'], ['lbsync'], ['status']];

describe('beacon CLI: usage and help agree with parsing', function () {
  for (const group of [[], ['sidekick'], ['health']]) {
    it(`\`beacon ${group.join(' ')}\` without a subcommand prints usage on stderr and exits 2`, async () => {
      const res = await beacon(group);
      assert.equal(res.code, 2, res.stderr);
      assert.match(res.stderr, /^Usage: beacon/m);
      assert.equal(res.stdout, '');
    });
  }

  it('asked-for help still exits 0 on stdout', async () => {
    for (const args of [['--help'], ['sidekick', '--help'], ['help', 'sidekick']]) {
      const res = await beacon(args);
      assert.equal(res.code, 0, `${args.join(' ')}: ${res.stderr}`);
      assert.match(res.stdout, /^Usage: beacon/m);
    }
  });

  it('shows every duration default in a form its flag accepts', async () => {
    let checked = 0;
    for (const args of COMMANDS) {
      const { stdout } = await beacon([...args, '--help']);
      // Options are wrapped over several lines: split at each option's start.
      for (const option of stdout.split(/\n(?=\s+-)/)) {
        const flag = /^\s+(?:-\w, )?(--[\w-]+) <duration>/.exec(option)?.[1];
        const shown = /\(default: "?([^",)]+)"?/.exec(option.replace(/\s+/g, ' '))?.[1];
        if (!flag || !shown) continue;
        assert.doesNotThrow(() => parseDuration(shown, flag), `beacon ${args.join(' ')} ${flag}: help shows default ${shown}`);
        checked++;
      }
    }
    assert.ok(checked >= 4, `found the duration defaults (${checked})`);
  });

  it('accepts `status --timeout 5s`, the default its help shows', async () => {
    const res = await beacon(['status', '--timeout', '5s', '--lbsync', 'http://127.0.0.1:9']);
    assert.equal(res.code, 1, 'unreachable lbsync is a failure, not bad usage');
    assert.match(res.stderr, /cannot reach lbsync/);
  });

  for (const [args, message] of [
    [['sidekick', 'announce', '--ttl', '600h'], /--ttl: must be at most 24h/],
    [['sidekick', 'announce', '--ttl', '1.4999s'], /--ttl: must be a multiple of 1s \(etcd leases count in whole seconds\)/],
    [['lbsync', '--resync', '9999h'], /--resync: must be at most 24h/],
    [['status', '--timeout', '5000'], /--timeout: must be a number with a unit/],
  ] as const) {
    it(`refuses \`${args.join(' ')}\` with exit 2, naming the flag and the rule`, async () => {
      const res = await beacon([...args]);
      assert.equal(res.code, 2, res.stderr);
      assert.match(res.stderr, message);
    });
  }

  it('runs quietly on the project\'s Node 24 through ./beacon, whatever node PATH finds first', async () => {
    const wrapper = fileURLToPath(new URL('../../../../beacon', import.meta.url));
    // The system's own node (20 on a fresh Debian) first, or none at all: neither may matter.
    const run = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
        execFile(wrapper, args, { env: { PATH: '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' }, cwd: '/' }, (err, stdout, stderr) =>
          resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
        ),
      );
    // `health` loads undici 8, which fails to load on Node 20.
    const help = await run(['health', 'check', '--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: beacon health check/);
    assert.equal(help.stderr, '', 'nothing before the answer');
    const bad = await run(['sidekick']);
    assert.equal(bad.code, 2, 'exit codes pass through the wrapper');
  });
});
