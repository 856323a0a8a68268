import { ValidationError } from '../registry/errors.js';

/** Accepted HTTP statuses as inclusive ranges, e.g. `[[200, 399], [404, 404]]`. */
export type StatusSet = Array<[number, number]>;

const ENTRY = /^(\d{3})(?:-(\d{3}))?$|^([1-5])xx$/i;
const RULE = 'must be status codes, ranges or classes separated by commas, e.g. 200-399,204 or 2xx';

/**
 * Parses a status set such as `200-399,204`, `200,204` or `2xx`. Codes must be
 * 100-599 and ranges ascending; anything else is refused, never guessed.
 */
export function parseStatusSet(text: string, field = 'expectStatus'): StatusSet {
  const entries = String(text).split(',').map((e) => e.trim());
  if (entries.length === 0 || entries.some((e) => e === '')) throw new ValidationError(field, RULE, text);
  return entries.map((entry): [number, number] => {
    const match = ENTRY.exec(entry);
    if (!match) throw new ValidationError(field, RULE, text);
    if (match[3]) {
      const base = Number(match[3]) * 100;
      return [base, base + 99];
    }
    const lo = Number(match[1]);
    const hi = match[2] === undefined ? lo : Number(match[2]);
    if (lo < 100 || hi > 599 || lo > hi) throw new ValidationError(field, `${RULE}; codes 100-599, ranges low-high`, text);
    return [lo, hi];
  });
}

/** Formats a status set back to its text form: `200-399,204`. */
export function formatStatusSet(set: StatusSet): string {
  return set.map(([lo, hi]) => (lo === hi ? String(lo) : `${lo}-${hi}`)).join(',');
}

/** True when `status` is in the set. */
export function statusMatches(set: StatusSet, status: number): boolean {
  return set.some(([lo, hi]) => status >= lo && status <= hi);
}
