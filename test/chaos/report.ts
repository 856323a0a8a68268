import type { Figure } from '../../bench/report.js';

/** One line of the chaos table. */
export interface ChaosRow {
  scenario: string;
  /** The load that ran meanwhile, e.g. "150 req/s, 4 conns" or "-". */
  load: string;
  requests: number | null;
  failed: number | null;
  /** The same phase's kept-alive clients, when the scenario ran them beside the `Connection: close` ones. */
  keepAlive?: { requests: number; failed: number };
  /** Time to converge in ms (null when not applicable). */
  convergeMs: number | null;
  /** Records lost (should be there, are not) or stale (should be gone, are there) at the end. */
  lostOrStale: number | null;
  target: string;
  met: boolean;
  /**
   * `met` without its speed bound, where it has one: the short runs inside
   * the test suite fail only on this (a loaded machine is slow, not wrong);
   * the speed stays in the table and in `met`.
   */
  behaviourMet?: boolean;
  /** Anything a reader needs: the figure behind `met`, or the reason it was not met. */
  note?: string;
}

export interface ScenarioOptions {
  /** The short version for the normal test suite. */
  short: boolean;
  /** Where the scenario may put its files (a per-run dir). */
  dir: string;
  runId: string;
  log: (line: string) => void;
}

export type Scenario = (options: ScenarioOptions) => Promise<ChaosRow[]>;

const cell = (v: number | null, unit = '') => (v === null ? '-' : `${Math.round(v)}${unit}`);

/** Prints the table. */
export function printTable(rows: ChaosRow[]): string {
  const header = ['scenario', 'load held', 'requests', 'failed', 'keep-alive req', 'keep-alive failed', 'converge', 'lost/stale', 'target', 'met?'];
  const cells = rows.map((r) => [r.scenario, r.load, cell(r.requests), cell(r.failed), cell(r.keepAlive?.requests ?? null), cell(r.keepAlive?.failed ?? null), cell(r.convergeMs, ' ms'), cell(r.lostOrStale), r.target, r.met ? 'yes' : 'NO']);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => x.padEnd(widths[i]!)).join('  ').trimEnd();
  const notes = rows.filter((r) => r.note).map((r) => `  - ${r.scenario}: ${r.note}`);
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line), '', 'notes:', ...notes, ''].join('\n');
}

/** The rows as bench figures (figure, target, measured, met?) for `npm run bench`'s gatherer. */
export function toFigures(rows: ChaosRow[]): Figure[] {
  return rows.map((r) => ({
    figure: `chaos: ${r.scenario}`,
    target: r.target,
    measured: [
      r.requests !== null ? `${r.failed ?? 0}/${r.requests} failed` : '',
      r.keepAlive ? `keep-alive ${r.keepAlive.failed}/${r.keepAlive.requests} failed` : '',
      r.convergeMs !== null ? `converged in ${Math.round(r.convergeMs)} ms` : '',
      r.lostOrStale !== null ? `${r.lostOrStale} lost/stale` : '',
    ]
      .filter(Boolean)
      .join(', '),
    met: r.met,
  }));
}

/** Milliseconds since `t0` (performance.now()). */
export function since(t0: number): number {
  return performance.now() - t0;
}
