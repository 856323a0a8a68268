import { readFileSync } from 'node:fs';
import { waitFor } from './ports.js';

/** One JSON log line of a beacon process (pino). */
export interface LogLine {
  msg: string;
  level?: number;
  /** ISO time (beacon's logger writes it on every line). */
  time?: string;
  /** The operation's latency, on lines that report one (applies, publishes). */
  latencyMs?: number;
  [field: string]: unknown;
}

/** The JSON log lines of a beacon process so far; a line still being written is skipped. */
export function logLines(file: string): LogLine[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as LogLine];
      } catch {
        return [];
      }
    });
}

/** Waits until the log has a line whose message matches. */
export function waitForLog(file: string, pattern: RegExp, timeoutMs = 20_000): Promise<LogLine> {
  return waitFor(() => logLines(file).find((l) => pattern.test(l.msg)), timeoutMs, `log line ${pattern} in ${file}`, 50);
}
