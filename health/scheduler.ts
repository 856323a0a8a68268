import { EventEmitter } from 'node:events';
import { Cancellation } from './cancellation.js';
import { systemClock, type Clock } from './clock.js';
import { DueQueue } from './due-queue.js';
import { SchedulerStoppedError } from './errors.js';
import { describeError } from './reason.js';
import { sameSpec, validateSpec } from './spec.js';
import { CheckRouter } from './check-router.js';
import { LocalChecker } from './local-checker.js';
import { applyResult, INITIAL_THRESHOLD, type ThresholdState } from './threshold.js';
import type { Checker, CheckResult, CheckTarget, HealthSpec, HealthState } from './types.js';

/** When a check was due and when it really started (clock ms); `lagMs` is the difference, queueing included. */
export interface CheckTiming {
  dueAt: number;
  startedAt: number;
  lagMs: number;
}

/** The scheduler's events. Listeners run synchronously; they may call upsert/remove. */
export interface HealthSchedulerEvents {
  /** An endpoint's state changed: unknown → passing/failing on its first result, then per rise/fall. */
  change: [id: string, state: HealthState, result: CheckResult, previous: HealthState];
  /** Every completed check (cancelled checks are never reported). */
  result: [id: string, result: CheckResult, timing: CheckTiming];
}

/** What the scheduler knows about one endpoint. */
export interface EndpointHealth {
  id: string;
  target: CheckTarget;
  spec: HealthSpec;
  state: HealthState;
  /** The last result, once there is one. */
  last?: CheckResult;
  /** When the state last changed (ms since epoch), once it has. */
  changedAt?: number;
  /** Consecutive results that disagree with `state` (towards rise or fall). */
  streak: number;
}

/** Counters for status pages and metrics. */
export interface SchedulerStats {
  endpoints: number;
  inFlight: number;
  /** Checks due but waiting for a concurrency slot. */
  queued: number;
}

export interface HealthSchedulerOptions {
  /** Checks in flight at once across all endpoints; further due checks wait in a FIFO queue. Default 256. */
  concurrency?: number;
  /** Checkers by kind; by default one the scheduler owns and closes (see checkThread). */
  checkers?: Partial<Record<HealthSpec['kind'], Checker>>;
  /**
   * Whether checks that run alongside others go to a thread of their own
   * (CheckRouter; lbsync, where a burst's checks would hold up the watch and
   * the pushes; the thread starts with warm()). Default false: every check
   * on the calling thread (LocalChecker), as `beacon health watch` runs them.
   */
  checkThread?: boolean;
  clock?: Clock;
  /** Random numbers in [0, 1) for jitter. */
  random?: () => number;
}

interface Run {
  controller: Cancellation;
}

interface Entry {
  id: string;
  target: CheckTarget;
  spec: HealthSpec;
  checker: Checker;
  threshold: ThresholdState;
  last?: CheckResult;
  changedAt?: number;
  /** Bumped whenever queued work for this entry goes stale (spec change, removal). */
  gen: number;
  running?: Run;
  /** A check fell due while a cancelled one was still settling; run it when that one ends. */
  deferredDue?: number;
  /** When the first check of this target started: the start of its start-up grace. */
  firstCheckAt?: number;
  /** Timed-out checks after the start-up grace while still unknown (at most `fall` keep it unknown). */
  startupTimeouts: number;
}

/** The shortest wait before a starting endpoint is checked again. */
const STARTUP_RETRY_MIN_MS = 5;

interface Pending {
  entry: Entry;
  gen: number;
  due: number;
}

/**
 * Checks endpoints on their own intervals and turns results into states.
 *
 * - The first check of an endpoint runs at once; later ones every
 *   `spec.intervalMs` ± `spec.jitter` (a fraction), measured from the start of
 *   the previous check, so slow checks never pile up.
 * - At most one check per endpoint is in flight, and at most `concurrency`
 *   overall; due checks beyond that wait in a FIFO queue.
 * - One timer serves all endpoints (a heap of due times), so thousands of
 *   endpoints cost one timer, not thousands.
 * - `remove()` aborts a running check at once; its result is never reported.
 *
 * The scheduler never logs and never throws from a check: failures are
 * results, state changes are `change` events.
 */
export class HealthScheduler extends EventEmitter<HealthSchedulerEvents> {
  private readonly entries = new Map<string, Entry>();
  private readonly dueQueue = new DueQueue<{ entry: Entry; gen: number }>();
  private waiting: Pending[] = [];
  private waitingHead = 0;
  private inFlight = 0;
  private timer: unknown;
  private timerAt = Infinity;
  private stopped = false;
  private readonly concurrency: number;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly injected: Partial<Record<HealthSpec['kind'], Checker>>;
  private owned: Checker | undefined;
  private readonly checkThread: boolean;

  constructor(options: HealthSchedulerOptions = {}) {
    super();
    this.concurrency = Math.max(1, Math.floor(options.concurrency ?? 256));
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.injected = options.checkers ?? {};
    this.checkThread = options.checkThread ?? false;
  }

  /**
   * Adds an endpoint or updates it. Unchanged target and spec: nothing
   * happens. A new spec cancels a running check, keeps the state and checks
   * again at once. A new target is a new endpoint: state back to unknown
   * (no event), checked at once. Throws a ValidationError for a bad spec.
   */
  upsert(id: string, target: CheckTarget, spec: HealthSpec): void {
    if (this.stopped) throw new SchedulerStoppedError();
    validateSpec(spec);
    const entry = this.entries.get(id);
    const now = this.clock.now();
    if (!entry) {
      const fresh: Entry = { id, target: { ...target }, spec, checker: this.checkerFor(spec.kind), threshold: INITIAL_THRESHOLD, gen: 0, startupTimeouts: 0 };
      this.entries.set(id, fresh);
      this.schedule(fresh, now);
      return;
    }
    const sameTarget = entry.target.host === target.host && entry.target.port === target.port;
    if (sameTarget && sameSpec(entry.spec, spec)) return;
    this.cancel(entry);
    const checker = this.checkerFor(spec.kind);
    if (!sameTarget || checker !== entry.checker || spec.kind !== entry.spec.kind) entry.checker.release?.(entry.target);
    if (sameTarget) {
      entry.threshold = { ...entry.threshold, streak: 0 };
    } else {
      entry.threshold = INITIAL_THRESHOLD;
      delete entry.last;
      delete entry.changedAt;
      delete entry.firstCheckAt;
      entry.startupTimeouts = 0;
    }
    entry.target = { ...target };
    entry.spec = spec;
    entry.checker = checker;
    this.schedule(entry, now);
  }

  /** Stops checking an endpoint; a running check is aborted at once. Returns false when it was not known. */
  remove(id: string): boolean {
    const entry = this.entries.get(id);
    if (!entry) return false;
    this.entries.delete(id);
    this.cancel(entry);
    entry.checker.release?.(entry.target);
    return true;
  }

  /** True when the endpoint is being checked. */
  has(id: string): boolean {
    return this.entries.has(id);
  }

  /** The endpoint's state, or undefined when it is not known. */
  state(id: string): HealthState | undefined {
    return this.entries.get(id)?.threshold.state;
  }

  /** The endpoint's last result, or undefined (not known, or not checked yet); no copy, unlike status(). */
  lastResult(id: string): CheckResult | undefined {
    return this.entries.get(id)?.last;
  }

  /** Everything known about one endpoint, or undefined. */
  status(id: string): EndpointHealth | undefined {
    const entry = this.entries.get(id);
    return entry ? view(entry) : undefined;
  }

  /** Every endpoint, sorted by id. */
  snapshot(): EndpointHealth[] {
    return [...this.entries.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map(view);
  }

  stats(): SchedulerStats {
    return { endpoints: this.entries.size, inFlight: this.inFlight, queued: this.waiting.length - this.waitingHead };
  }

  /** Aborts every check, forgets every endpoint and closes the checkers the scheduler made. Final. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.dueQueue.clear();
    this.waiting = [];
    this.waitingHead = 0;
    for (const entry of this.entries.values()) this.cancel(entry);
    this.entries.clear();
    await this.owned?.close?.().catch(() => undefined);
  }

  /** Loads the HTTP client now rather than on the first HTTP check (which would wait ~80 ms for it), and starts the check thread if there is one. */
  warm(): void {
    if (!this.stopped) this.checkerFor('http').warm?.();
  }

  private checkerFor(kind: HealthSpec['kind']): Checker {
    const injected = this.injected[kind];
    if (injected) return injected;
    return (this.owned ??= this.checkThread ? new CheckRouter() : new LocalChecker());
  }

  private cancel(entry: Entry): void {
    entry.gen++;
    delete entry.deferredDue;
    entry.running?.controller.abort();
  }

  private schedule(entry: Entry, due: number): void {
    this.dueQueue.push(due, { entry, gen: entry.gen });
    this.arm();
  }

  /** Keeps the one timer set for the earliest due check. */
  private arm(): void {
    const top = this.dueQueue.peek();
    if (!top) return;
    if (this.timer !== undefined && this.timerAt <= top.due) return;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timerAt = top.due;
    this.timer = this.clock.setTimer(() => this.fire(), Math.max(0, top.due - this.clock.now()));
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    if (this.stopped) return;
    // Timers have millisecond resolution; take what is due within the next one.
    const horizon = this.clock.now() + 1;
    for (let top = this.dueQueue.peek(); top && top.due <= horizon; top = this.dueQueue.peek()) {
      this.dueQueue.pop();
      const { entry, gen } = top.value;
      if (entry.gen === gen) this.dispatch(entry, gen, top.due);
    }
    this.arm();
  }

  private dispatch(entry: Entry, gen: number, due: number): void {
    if (entry.running) {
      entry.deferredDue = due;
    } else if (this.inFlight < this.concurrency && this.waitingHead === this.waiting.length) {
      this.start(entry, due);
    } else {
      this.waiting.push({ entry, gen, due });
    }
  }

  private pump(): void {
    while (this.inFlight < this.concurrency && this.waitingHead < this.waiting.length) {
      const { entry, gen, due } = this.waiting[this.waitingHead++]!;
      if (entry.gen !== gen) continue;
      if (entry.running) entry.deferredDue = due;
      else this.start(entry, due);
    }
    if (this.waitingHead > 1024 && this.waitingHead * 2 > this.waiting.length) {
      this.waiting = this.waiting.slice(this.waitingHead);
      this.waitingHead = 0;
    }
  }

  private start(entry: Entry, due: number): void {
    const run: Run = { controller: new Cancellation() };
    entry.running = run;
    this.inFlight++;
    const gen = entry.gen;
    const startedAt = this.clock.now();
    let pending: Promise<CheckResult>;
    try {
      pending = entry.checker.check(entry.target, entry.spec, run.controller.signal);
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending
      .catch((err: unknown): CheckResult => ({
        passing: false,
        reason: `checker failed: ${describeError(err)}`,
        latencyMs: this.clock.now() - startedAt,
        at: Date.now(),
      }))
      .then((result) => this.finish(entry, run, gen, result, { dueAt: due, startedAt, lagMs: Math.max(0, startedAt - due) }));
  }

  /**
   * A container's start event (and so its record) comes before its process
   * listens, and under load its first checks may time out: a new endpoint
   * that has never passed is still starting, not failing. It stays unknown,
   * retried soon, so it joins moments after it answers instead of an
   * interval (and `rise` passes) later. The retry waits half the time since
   * its first check (at least 5 ms, at most a quarter interval): a process
   * that comes up within tens of ms is found within a few ms of listening,
   * where doubling waits left it unseen for as long again as it took, and a
   * slow starter still costs only a dozen checks in its first second:
   * - any failure within one interval of its first check (the start-up grace;
   *   the last retry lands at the grace's end, where its result counts);
   * - after that, timeouts, up to `fall` of them: a slow starter is not a
   *   dead one. A refusal or a wrong answer after the grace counts at once.
   * Returns the retry delay, or undefined when the result counts.
   */
  private startupRetry(entry: Entry, result: CheckResult, startedAt: number): number | undefined {
    if (result.passing || entry.threshold.state !== 'unknown') return undefined;
    const { intervalMs, fall } = entry.spec;
    const graceLeft = entry.firstCheckAt! + intervalMs - startedAt;
    const slowStart = result.timedOut === true && entry.startupTimeouts < fall;
    if (graceLeft <= 0 && !slowStart) return undefined;
    if (graceLeft <= 0) entry.startupTimeouts++;
    const sinceFirst = startedAt - entry.firstCheckAt!;
    return Math.min(Math.max(STARTUP_RETRY_MIN_MS, sinceFirst / 2), intervalMs / 4, graceLeft > 0 ? graceLeft : Infinity);
  }

  private finish(entry: Entry, run: Run, gen: number, result: CheckResult, timing: CheckTiming): void {
    this.inFlight--;
    if (entry.running === run) delete entry.running;
    const alive = !this.stopped && this.entries.get(entry.id) === entry;
    const current = alive && entry.gen === gen;
    let previous: HealthState | undefined;
    if (current) {
      previous = entry.threshold.state;
      entry.firstCheckAt ??= timing.startedAt;
      entry.last = result;
      const retryIn = this.startupRetry(entry, result, timing.startedAt);
      if (retryIn !== undefined) {
        this.schedule(entry, this.clock.now() + retryIn);
      } else {
        entry.threshold = applyResult(entry.threshold, result.passing, entry.spec.rise, entry.spec.fall);
        if (entry.threshold.state !== previous) entry.changedAt = result.at;
        const { intervalMs, jitter } = entry.spec;
        const next = timing.startedAt + intervalMs * (1 + jitter * (2 * this.random() - 1));
        this.schedule(entry, Math.max(next, this.clock.now()));
      }
    } else if (alive && entry.deferredDue !== undefined) {
      const due = entry.deferredDue;
      delete entry.deferredDue;
      this.dispatch(entry, entry.gen, due);
    }
    // Free the slot before listeners run, so a throwing listener cannot stall the queue.
    this.pump();
    if (current && previous !== undefined) {
      const state = entry.threshold.state;
      this.emit('result', entry.id, result, timing);
      if (state !== previous) this.emit('change', entry.id, state, result, previous);
    }
  }
}

function view(entry: Entry): EndpointHealth {
  const out: EndpointHealth = { id: entry.id, target: { ...entry.target }, spec: entry.spec, state: entry.threshold.state, streak: entry.threshold.streak };
  if (entry.last) out.last = entry.last;
  if (entry.changedAt !== undefined) out.changedAt = entry.changedAt;
  return out;
}
