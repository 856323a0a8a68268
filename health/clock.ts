/** Time as the scheduler sees it; injectable so tests can drive it by hand. */
export interface Clock {
  /** Monotonic milliseconds (any origin). */
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

const immediates = new WeakSet<object>();

/**
 * The real clock: performance.now() and Node timers. A timer of 0 ms runs
 * as an immediate, right after the I/O that armed it, rather than a timeout,
 * which Node rounds up to 1 ms and runs only on the next loop turn: a lone
 * change (a new endpoint's first check, an apply) then costs no timer wait.
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer: (fn, ms) => {
    if (ms > 0) return setTimeout(fn, ms);
    const handle = setImmediate(fn);
    immediates.add(handle);
    return handle;
  },
  clearTimer: (handle) => {
    if (immediates.has(handle as object)) clearImmediate(handle as NodeJS.Immediate);
    else clearTimeout(handle as NodeJS.Timeout);
  },
};
