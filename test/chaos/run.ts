/**
 * `npm run chaos`: runs every chaos scenario (or those named on the command
 * line), prints the table and writes bench/results/chaos.json.
 *
 *   node dist/test/chaos/run.js [--short] [failover traffic crash-hosts crash-lbsync least-privilege allowed-networks hostile]
 */
import { writeResults } from '../../bench/report.js';
import { openRun } from './run-context.js';
import { SCENARIOS } from './scenarios.js';
import { printTable, toFigures, type ChaosRow } from './report.js';

const args = process.argv.slice(2);
const short = args.includes('--short');
const names = args.filter((a) => !a.startsWith('--'));
const chosen = names.length ? names : Object.keys(SCENARIOS);
for (const n of chosen) if (!(n in SCENARIOS)) throw new Error(`unknown scenario ${n}; known: ${Object.keys(SCENARIOS).join(', ')}`);

const t0 = performance.now();
const ctx = await openRun(short);
const { log } = ctx;
const rows: ChaosRow[] = [];
const errors: Array<{ scenario: string; error: string }> = [];
let interrupted = false;
const onSignal = () => {
  interrupted = true;
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);
try {
  for (const name of chosen) {
    if (interrupted) break;
    const start = performance.now();
    log(`scenario ${name} starts`);
    try {
      rows.push(...(await SCENARIOS[name]!(ctx)));
    } catch (err) {
      const message = (err as Error).stack ?? String(err);
      log(`scenario ${name} FAILED: ${message}`);
      errors.push({ scenario: name, error: (err as Error).message });
      rows.push({ scenario: `${name} (did not complete)`, load: '-', requests: null, failed: null, convergeMs: null, lostOrStale: null, target: 'completes', met: false, note: (err as Error).message.slice(0, 300) });
    }
    log(`scenario ${name} took ${((performance.now() - start) / 1000).toFixed(1)} s`);
  }
} finally {
  await ctx.close();
}

const total = (performance.now() - t0) / 1000;
process.stdout.write(`\nbeacon chaos suite (${short ? 'short' : 'full'}), ${total.toFixed(0)} s\n${printTable(rows)}`);
if (!short) {
  // Only a full run is the published figure; --short is for trying things out.
  const file = writeResults('chaos', toFigures(rows), { short, scenarios: chosen, totalSeconds: Math.round(total), rows, errors });
  process.stdout.write(`wrote ${file}\n`);
}
process.exitCode = rows.every((r) => r.met) ? 0 : 1;
