import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeTestContainers } from '../harness/index.js';
import { cleanupLeftovers } from './netns-host.js';
import type { ScenarioOptions } from './report.js';

/**
 * One chaos run's identity and workspace: a 4-hex run id, the directory
 * `/tmp/beacon-chaos-<id>` (with owner.pid, so another run never cleans up a
 * live one), and a log. Leftovers of crashed earlier runs are removed first.
 */
export async function openRun(short: boolean, log?: (line: string) => void): Promise<ScenarioOptions & { close(): Promise<void> }> {
  const t0 = performance.now();
  const write = log ?? ((line: string) => process.stderr.write(`[chaos ${((performance.now() - t0) / 1000).toFixed(1)}s] ${line}\n`));
  const removed = await cleanupLeftovers(tmpdir());
  if (removed.length) write(`removed leftovers of an earlier run: ${removed.join(', ')}`);
  const runId = randomBytes(2).toString('hex');
  const dir = join(tmpdir(), `beacon-chaos-${runId}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'owner.pid'), String(process.pid));
  return {
    short,
    dir,
    runId,
    log: write,
    async close() {
      await removeTestContainers().catch(() => undefined);
      rmSync(join(dir, 'owner.pid'), { force: true });
      await cleanupLeftovers(tmpdir()).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
