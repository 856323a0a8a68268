import { ValidationError } from './errors.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;

/**
 * Parses a duration such as `250ms`, `5s`, `1.5m` or `1h` into milliseconds.
 * A bare number is refused: the unit is never guessed.
 */
export function parseDuration(text: string, field = 'duration'): number {
  const match = DURATION.exec(String(text).trim());
  if (!match) throw new ValidationError(field, 'must be a number with a unit: ms, s, m or h (e.g. 250ms, 5s, 1m)', text);
  return Math.round(Number(match[1]) * UNITS[match[2]!]!);
}

/** Formats milliseconds the way people write them back: `250ms`, `5s`, `1m30s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${+(ms / 1000).toFixed(3)}s`;
  const minutes = Math.floor(ms / 60_000);
  const rest = ms - minutes * 60_000;
  return rest === 0 ? `${minutes}m` : `${minutes}m${formatDuration(rest)}`;
}
