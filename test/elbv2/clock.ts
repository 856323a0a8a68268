/** A source of "now" in ms. The endpoint reads time only through it, so tests can move time by hand. */
export interface Clock {
  now(): number;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => Date.now() };

/**
 * A clock that moves only when told to: lets a test step a target through
 * `initial → healthy` or `draining → unused` without waiting.
 */
export class ManualClock implements Clock {
  constructor(private current = Date.now()) {}

  now(): number {
    return this.current;
  }

  /** Moves time forward by `ms`. */
  advance(ms: number): void {
    this.current += ms;
  }
}
