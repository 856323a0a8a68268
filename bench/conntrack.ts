/**
 * The kernel's connection tracking table, read from /proc: how full it is and
 * how many packets it dropped. A bench whose nginx opens thousands of
 * upstream connections a second fills it (each closed connection stays
 * tracked in TIME_WAIT, 120 s by default); once full, the kernel drops new
 * SYNs and nginx sees connect timeouts. The scale bench reports both, so a
 * timeout can be told from a fault of beacon's. Null where the machine has
 * no conntrack (the module not loaded, or /proc not readable).
 */
import { readFileSync } from 'node:fs';

export interface ConntrackState {
  entries: number;
  max: number;
  /** Packets dropped since boot, summed over CPUs: `drop` (table full) and `early_drop`. */
  drops: number;
}

/** /proc/net/stat/nf_conntrack (a header of names, then one line of hex counters per CPU) → drop + early_drop. Pure. */
export function dropsOf(statText: string): number {
  const [header, ...rows] = statText.trim().split('\n');
  const names = header!.trim().split(/\s+/);
  const columns = ['drop', 'early_drop'].map((n) => names.indexOf(n)).filter((i) => i >= 0);
  let sum = 0;
  for (const row of rows) {
    const values = row.trim().split(/\s+/);
    for (const i of columns) sum += Number.parseInt(values[i]!, 16);
  }
  return sum;
}

export function readConntrack(): ConntrackState | null {
  try {
    return {
      entries: Number(readFileSync('/proc/sys/net/netfilter/nf_conntrack_count', 'utf8')),
      max: Number(readFileSync('/proc/sys/net/netfilter/nf_conntrack_max', 'utf8')),
      drops: dropsOf(readFileSync('/proc/net/stat/nf_conntrack', 'utf8')),
    };
  } catch {
    return null;
  }
}

/** Waits until at most `share` of the table is in use (or `timeoutMs` passed); resolves with the time waited. */
export async function conntrackRoom(share: number, timeoutMs: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    const state = readConntrack();
    if (!state || state.entries <= state.max * share || performance.now() - started >= timeoutMs) return performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}
