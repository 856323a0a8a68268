import { ValidationError } from './errors.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^(\d+)(?:\.(\d+))?(ms|s|m|h)$/;

/**
 * The longest delay a Node timer holds: 2^31-1 ms (~24.8 days). A longer one
 * fires after 1 ms instead (with a TimeoutOverflowWarning), so a duration
 * past it would turn a slow loop into a busy one.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** What a duration may be, beyond its syntax. */
export interface DurationBounds {
  /** Smallest accepted value in ms (default 0). */
  min?: number;
  /** Largest accepted value in ms (default and cap: MAX_TIMER_MS). */
  max?: number;
  /** Granularity the consumer can honour, e.g. whole seconds for etcd leases; a finer value is refused, never rounded. */
  step?: { ms: number; why: string };
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/**
 * The range of each duration flag, by name, wherever it appears (and the
 * same setting in lbsync's --config file): what the daemon can honour and
 * what is sane. Any other duration flag is capped at
 * Node's timer limit (MAX_TIMER_MS), past which timers fire at once.
 */
export const DURATION_BOUNDS: Readonly<Record<string, DurationBounds>> = {
  '--ttl': { min: 1000, max: 24 * HOUR, step: { ms: 1000, why: 'etcd leases count in whole seconds' } },
  '--resync': { min: 1000, max: 24 * HOUR },
  '--flap-window': { min: 1000, max: 24 * HOUR },
  '--flap-hold': { max: 24 * HOUR },
  '--confirm-timeout': { min: 100, max: 10 * MINUTE },
  '--timeout': { min: 1, max: 10 * MINUTE },
  // As a record's check.interval / check.timeout.
  '--interval': { min: 100, max: HOUR },
  '--health-interval': { min: 100, max: HOUR },
  '--health-timeout': { min: 100, max: HOUR },
  // lbsync --config upstreams.NAME.fail-timeout (the Lua balancer and the file hold whole seconds).
  'fail-timeout': { min: 1000, max: HOUR, step: { ms: 1000, why: "beacon hands nginx's fail_timeout whole seconds" } },
};

/**
 * Parses a duration such as `250ms`, `5s`, `1.5m` or `1h` into milliseconds.
 * A bare number is refused: the unit is never guessed. So is a value finer
 * than `bounds.step` (or a millisecond) or outside the bounds, never
 * rounded: each error names the field and the rule.
 */
export function parseDuration(text: string, field = 'duration', bounds: DurationBounds = {}): number {
  const match = DURATION.exec(String(text).trim());
  if (!match) throw new ValidationError(field, 'must be a number with a unit: ms, s, m or h (e.g. 250ms, 5s, 1m)', text);
  const [, whole, fraction = '', unit] = match;
  // Exact decimal arithmetic: 4.35s is 4350 ms, not 4349.999…; and huge values stay exact until compared.
  const scaled = BigInt(whole! + fraction) * BigInt(UNITS[unit!]!);
  const divisor = 10n ** BigInt(fraction.length);
  if (bounds.step && scaled % (divisor * BigInt(bounds.step.ms)) !== 0n) {
    throw new ValidationError(field, `must be a multiple of ${formatDuration(bounds.step.ms)} (${bounds.step.why})`, text);
  }
  if (scaled % divisor !== 0n) throw new ValidationError(field, 'must be a whole number of milliseconds', text);
  const max = Math.min(bounds.max ?? MAX_TIMER_MS, MAX_TIMER_MS);
  const exact = scaled / divisor;
  if (exact > BigInt(max)) {
    const why = max === MAX_TIMER_MS ? " (Node's timer limit)" : '';
    throw new ValidationError(field, `must be at most ${formatDuration(max)}${why}`, text);
  }
  const ms = Number(exact);
  if (bounds.min !== undefined && ms < bounds.min) throw new ValidationError(field, `must be at least ${formatDuration(bounds.min)}`, text);
  return ms;
}

/** Formats milliseconds the way people write them back: `250ms`, `5s`, `1m30s`, `24h`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${+(ms / 1000).toFixed(3)}s`;
  const unit = ms < 3_600_000 ? { ms: 60_000, name: 'm' } : { ms: 3_600_000, name: 'h' };
  const count = Math.floor(ms / unit.ms);
  const rest = ms - count * unit.ms;
  return rest === 0 ? `${count}${unit.name}` : `${count}${unit.name}${formatDuration(rest)}`;
}
