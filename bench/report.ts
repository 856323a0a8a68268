/**
 * Shared shape of benchmark results: every bench writes
 * bench/results/<name>.json with a `figures` list that `npm run bench`
 * gathers into one table (figure, target, measured, met?).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';

export interface Figure {
  /** What was measured, e.g. "container start → first answer via nginx, p50". */
  figure: string;
  /** The target as text, e.g. "≤ 40 ms"; empty when informational. */
  target: string;
  /** The measured value as text, with its spread when it is a median of runs. */
  measured: string;
  /** Whether the target was met; null when there is no target. */
  met: boolean | null;
}

/** The p-th percentile (0..100) of the samples, nearest-rank. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function median(samples: number[]): number {
  return percentile(samples, 50);
}

/** Rounds to one decimal for printing. */
export function r1(x: number): number {
  return Math.round(x * 10) / 10;
}

/** The machine a figure was measured on, for the README's performance table. */
export function machine(): string {
  return `${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

/** Writes bench/results/<name>.json with the figures, the raw data and the machine. */
export function writeResults(name: string, figures: Figure[], data: unknown): string {
  const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}${name}.json`;
  writeFileSync(file, JSON.stringify({ name, at: new Date().toISOString(), machine: machine(), figures, data }, null, 2) + '\n');
  return file;
}

/** Prints figures as an aligned table. */
export function printFigures(title: string, figures: Figure[]): void {
  const rows = figures.map((f) => [f.figure, f.target || '-', f.measured, f.met === null ? '' : f.met ? 'yes' : 'NO']);
  const header = ['figure', 'target', 'measured', 'met?'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  process.stdout.write(`\n${title}\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${rows.map(line).join('\n')}\n`);
}
