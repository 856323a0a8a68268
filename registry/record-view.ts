import { BeaconError } from './errors.js';
import { decodeFlat, decodeJson, decodeSingle, FLAT_FIELDS, slotOf, type KeySlot } from './layout.js';
import { recordId, sameRecord, type ServiceRecord } from './record.js';

/** One change to a key under the prefix, as a watch delivers it. */
export interface KvChange {
  type: 'put' | 'delete';
  key: string;
  value?: string;
}

/** A key whose value could not be used, and why. */
export interface Problem {
  key: string;
  reason: string;
}

/** What one batch of changes did to the set of valid records. */
export interface ViewDiff {
  upserted: ServiceRecord[];
  removed: ServiceRecord[];
  /** Problems that are new with this batch (each is reported once). */
  problems: Problem[];
}

/**
 * The set of valid records derived from the raw keys under a prefix, in all
 * three layouts. Pure and synchronous: fed by a watcher, read by discovery and
 * lbsync. A bad value is kept out of the records and reported once; it never
 * hides the valid records beside it.
 */
export class RecordView {
  private readonly raw = new Map<string, string>();
  private readonly records = new Map<string, ServiceRecord>();
  private readonly problemsByKey = new Map<string, string>();

  constructor(private readonly prefix: string) {}

  /** Applies watch changes and returns what they changed. */
  apply(changes: Iterable<KvChange>): ViewDiff {
    const touched = new Map<string, KeySlot>();
    const diff: ViewDiff = { upserted: [], removed: [], problems: [] };
    for (const change of changes) {
      if (change.type === 'put') this.raw.set(change.key, change.value ?? '');
      else this.raw.delete(change.key);
      let slot: KeySlot;
      try {
        slot = slotOf(this.prefix, change.key);
      } catch (err) {
        this.noteProblem(change.key, change.type === 'put' ? reasonOf(err) : undefined, diff);
        continue;
      }
      touched.set(`${slot.service}/${slot.instance}`, slot);
    }
    for (const [id, slot] of touched) this.recompute(id, slot, diff);
    return diff;
  }

  /** Replaces the whole raw state with a fresh listing and returns the difference. */
  reset(snapshot: ReadonlyMap<string, string>): ViewDiff {
    const changes: KvChange[] = [];
    for (const key of this.raw.keys()) if (!snapshot.has(key)) changes.push({ type: 'delete', key });
    for (const [key, value] of snapshot) if (this.raw.get(key) !== value) changes.push({ type: 'put', key, value });
    return this.apply(changes);
  }

  list(): ServiceRecord[] {
    return [...this.records.values()];
  }

  byService(service: string): ServiceRecord[] {
    return this.list().filter((r) => r.service === service);
  }

  get(id: string): ServiceRecord | undefined {
    return this.records.get(id);
  }

  get size(): number {
    return this.records.size;
  }

  problems(): Problem[] {
    return [...this.problemsByKey].map(([key, reason]) => ({ key, reason }));
  }

  private recompute(id: string, slot: KeySlot, diff: ViewDiff): void {
    const base = `${this.prefix}/${slot.service}/${slot.instance}`;
    const jsonValue = this.raw.get(base);
    const flatFields = new Map<string, string>();
    for (const field of FLAT_FIELDS) {
      const value = this.raw.get(`${base}/${field}`);
      if (value !== undefined) flatFields.set(field, value);
    }
    const singleKey = `${this.prefix}/${slot.service}`;
    const singleValue = slot.service === slot.instance ? this.raw.get(singleKey) : undefined;

    // Precedence when layouts overlap: canonical JSON, then flat, then single.
    let record: ServiceRecord | undefined;
    for (const [key, decode] of [
      [base, () => (jsonValue === undefined ? undefined : decodeJson({ ...slot, layout: 'json' }, jsonValue))],
      [`${base}/`, () => (flatFields.size === 0 ? undefined : decodeFlat({ ...slot, layout: 'flat' }, flatFields))],
      [singleKey, () => (singleValue === undefined ? undefined : decodeSingle({ ...slot, layout: 'single' }, singleValue))],
    ] as const) {
      try {
        record ??= decode();
        this.noteProblem(key, undefined, diff);
      } catch (err) {
        this.noteProblem(key, reasonOf(err), diff);
      }
    }

    const before = this.records.get(id);
    if (record) {
      if (!before || !sameRecord(before, record)) {
        this.records.set(recordId(record), record);
        diff.upserted.push(record);
      }
    } else if (before) {
      this.records.delete(id);
      diff.removed.push(before);
    }
  }

  private noteProblem(key: string, reason: string | undefined, diff: ViewDiff): void {
    if (reason === undefined) {
      this.problemsByKey.delete(key);
      return;
    }
    if (this.problemsByKey.get(key) === reason) return;
    this.problemsByKey.set(key, reason);
    diff.problems.push({ key, reason });
  }
}

function reasonOf(err: unknown): string {
  if (err instanceof BeaconError) return err.message;
  return err instanceof Error ? err.message : String(err);
}
