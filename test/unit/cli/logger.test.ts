import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const LOGGER = fileURLToPath(new URL('../../../cli/logger.js', import.meta.url));

/** Runs `body` in a fresh node with `createLogger`, `flushLogs` and `clipText` in scope; its stderr as lines. */
async function stderrOf(body: string): Promise<string[]> {
  const code = `import { createLogger, flushLogs, clipText } from ${JSON.stringify(LOGGER)};\nconst log = createLogger('info', 't');\n${body}`;
  const { stderr } = await run(process.execPath, ['--input-type=module', '-e', code]);
  return stderr.split('\n').filter(Boolean);
}

const msgs = (lines: string[]) => lines.map((l) => (l.startsWith('{') ? (JSON.parse(l) as { msg: string }).msg : l));

describe('cli logger (JSON lines on stderr, one write per loop turn)', () => {
  it('writes every line of a turn, in order, also when the process exits in that turn', async () => {
    const lines = await stderrOf(`for (let i = 0; i < 1000; i++) log.info({ i }, 'line ' + i);\nprocess.exit(0);`);
    assert.equal(lines.length, 1000);
    assert.deepEqual(msgs(lines).slice(0, 3), ['line 0', 'line 1', 'line 2']);
    assert.equal(msgs(lines)[999], 'line 999');
  });

  it("writes a turn's lines without waiting for more (a line is out before the next timer)", async () => {
    const lines = await stderrOf(`log.info('first');\nsetTimeout(() => { process.stderr.write('after the timer\\n'); log.info('second'); }, 20);`);
    assert.deepEqual(msgs(lines), ['first', 'after the timer', 'second']);
  });

  it('flushLogs() puts what was logged before text written to stderr directly', async () => {
    const lines = await stderrOf(`log.error('failed: boom');\nflushLogs();\nprocess.stderr.write('beacon: boom\\n');\nprocess.exit(1);`).catch((err: { stderr: string }) => err.stderr.split('\n').filter(Boolean));
    assert.deepEqual(msgs(lines), ['failed: boom', 'beacon: boom']);
  });

  it('clips long fields and messages, and passes short ones through untouched', async () => {
    const lines = await stderrOf(`log.info({ key: 'k'.repeat(5000), short: 'ok', n: 1 }, 'm'.repeat(3000));`);
    const line = JSON.parse(lines[0]!) as { key: string; short: string; n: number; msg: string };
    assert.match(line.key, /^k{1024}…\(5000 chars\)$/);
    assert.equal(line.short, 'ok');
    assert.equal(line.n, 1);
    assert.match(line.msg, /^m{1024}…\(3000 chars\)$/);
  });
});
