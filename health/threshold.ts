import type { HealthState } from './types.js';

/** Where an endpoint stands: its state and how many results in a row disagree with it. */
export interface ThresholdState {
  state: HealthState;
  /** Consecutive results contrary to `state` (failures while passing, passes while failing). */
  streak: number;
  /** Whether it has ever passed: `rise` applies only to an endpoint coming back, not to one still joining. */
  passedBefore: boolean;
}

/** Every endpoint starts here: unknown, no streak, never passed. */
export const INITIAL_THRESHOLD: Readonly<ThresholdState> = Object.freeze({ state: 'unknown', streak: 0, passedBefore: false });

/**
 * The rise/fall state machine. The first result decides the state directly
 * (an endpoint enters a pool after its first passing check, and a new one
 * that fails is not waited on for `fall` rounds). An endpoint that has never
 * passed joins on its first pass, whatever failed before: it was starting,
 * and `rise` guards against flapping back, not against arriving. After that,
 * a passing endpoint turns failing only after `fall` failures in a row, and a
 * failing one turns passing only after `rise` passes in a row; any agreeing
 * result resets the streak, so flapping faster than the thresholds changes
 * nothing. (The scheduler adds a start-up grace on top: a new endpoint's
 * failures early on keep it unknown and are retried quickly.)
 */
export function applyResult(current: ThresholdState, passing: boolean, rise: number, fall: number): ThresholdState {
  const passedBefore = current.passedBefore || passing;
  if (current.state === 'unknown' || (passing && !current.passedBefore)) return { state: passing ? 'passing' : 'failing', streak: 0, passedBefore };
  const agrees = (current.state === 'passing') === passing;
  if (agrees) return current.streak === 0 ? current : { state: current.state, streak: 0, passedBefore };
  const streak = current.streak + 1;
  const needed = current.state === 'passing' ? fall : rise;
  if (streak >= needed) return { state: passing ? 'passing' : 'failing', streak: 0, passedBefore };
  return { state: current.state, streak, passedBefore };
}
