import assert from 'node:assert/strict';
import { printTable, type ChaosRow, type Scenario } from '../../chaos/report.js';
import { openRun } from '../../chaos/run-context.js';

/** True when this machine can run the namespace scenarios (root, iproute2, nsenter, dockerd). */
export function canRunNamespaces(): boolean {
  return process.getuid?.() === 0;
}

/**
 * Runs the short version of a chaos scenario and fails with the table when a
 * row misses its behaviour target (a speed bound missed is reported in the
 * table, not failed: the machine running the suite may be loaded). The rows
 * are printed either way (the figures are the point).
 */
export async function runShort(scenario: Scenario): Promise<ChaosRow[]> {
  const lines: string[] = [];
  const ctx = await openRun(true, (line) => lines.push(line));
  let rows: ChaosRow[] = [];
  try {
    rows = await scenario(ctx);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${lines.slice(-15).join('\n')}`);
  } finally {
    await ctx.close();
  }
  const table = printTable(rows);
  process.stdout.write(`${table}\n`);
  const missed = rows.filter((r) => !(r.behaviourMet ?? r.met));
  assert.equal(missed.length, 0, `targets missed:\n${table}`);
  return rows;
}
