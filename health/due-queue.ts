/** An item waiting in a DueQueue. */
export interface DueItem<T> {
  due: number;
  value: T;
}

/**
 * A min-heap of items by due time, ties in insertion order. The scheduler
 * keeps one timer for the earliest item instead of one timer per endpoint.
 * Removal is lazy: the owner skips items it no longer wants when they surface.
 */
export class DueQueue<T> {
  private readonly heap: Array<DueItem<T> & { seq: number }> = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  push(due: number, value: T): void {
    this.heap.push({ due, value, seq: this.seq++ });
    this.up(this.heap.length - 1);
  }

  peek(): DueItem<T> | undefined {
    return this.heap[0];
  }

  pop(): DueItem<T> | undefined {
    const top = this.heap[0];
    const last = this.heap.pop();
    if (top === undefined || last === undefined) return undefined;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.down(0);
    }
    return top;
  }

  clear(): void {
    this.heap.length = 0;
  }

  private less(a: number, b: number): boolean {
    const x = this.heap[a]!;
    const y = this.heap[b]!;
    return x.due < y.due || (x.due === y.due && x.seq < y.seq);
  }

  private swap(a: number, b: number): void {
    const t = this.heap[a]!;
    this.heap[a] = this.heap[b]!;
    this.heap[b] = t;
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    const n = this.heap.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(l, m)) m = l;
      if (r < n && this.less(r, m)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }
}
