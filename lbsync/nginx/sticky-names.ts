/**
 * The upstream names lbsync has written, kept after their service leaves so
 * that a `proxy_pass http://NAME;` in the user's config never points at a
 * vanished upstream (nginx would refuse the whole config). Bounded: a gone
 * name stays while the user's config routes to it, else for `keepMs`, and at
 * most `max` gone names are kept (the longest gone go first). Pure: the
 * caller passes the time.
 */
export class StickyNames {
  /** name → when its service was last present, or the name last routed to (ms). */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly keepMs = 10 * 60_000,
    private readonly max = 1024,
  ) {}

  /** Names to keep writing, in insertion order. */
  names(): string[] {
    return [...this.seen.keys()];
  }

  /** Adds one name (an old file's upstreams at start, or a name the user's config turned out to need). */
  add(name: string, now: number): void {
    this.seen.set(name, now);
  }

  /** After an apply: `written` names went out; `present` services exist; `referenced` names the user's config routes to. */
  note(written: Iterable<string>, present: ReadonlySet<string>, referenced: ReadonlySet<string>, now: number): void {
    const live = (name: string) => present.has(name) || referenced.has(name);
    for (const name of written) if (live(name) || !this.seen.has(name)) this.seen.set(name, now);
    for (const [name, at] of this.seen) if (!live(name) && now - at > this.keepMs) this.seen.delete(name);
    const gone = [...this.seen].filter(([name]) => !live(name)).sort((a, b) => a[1] - b[1]);
    for (const [name] of gone.slice(0, Math.max(0, gone.length - this.max))) this.seen.delete(name);
  }
}
