/** Exponential backoff with full jitter, capped. Pure: the caller owns the timer. */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly initialMs = 100,
    private readonly maxMs = 500,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt; grows with each call until reset(). */
  next(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}
