import type { HealthState } from './types.js';

/** Where an endpoint stands: its state and how many results in a row disagree with it. */
export interface ThresholdState {
  state: HealthState;
  /** Consecutive results contrary to `state` (failures while passing, passes while failing). */
  streak: number;
}

/** Every endpoint starts here: unknown, no streak. */
export const INITIAL_THRESHOLD: Readonly<ThresholdState> = Object.freeze({ state: 'unknown', streak: 0 });

/**
 * The rise/fall state machine. The first result decides the state directly
 * (an endpoint enters a pool after its first passing check, and a new one
 * that fails is not waited on for `fall` rounds). After that, a passing
 * endpoint turns failing only after `fall` failures in a row, and a failing
 * one turns passing only after `rise` passes in a row; any agreeing result
 * resets the streak, so flapping faster than the thresholds changes nothing.
 * (The scheduler adds a start-up grace on top: a new endpoint's failures in
 * its first interval keep it unknown and are retried quickly.)
 */
export function applyResult(current: ThresholdState, passing: boolean, rise: number, fall: number): ThresholdState {
  if (current.state === 'unknown') return { state: passing ? 'passing' : 'failing', streak: 0 };
  const agrees = (current.state === 'passing') === passing;
  if (agrees) return current.streak === 0 ? current : { state: current.state, streak: 0 };
  const streak = current.streak + 1;
  const needed = current.state === 'passing' ? fall : rise;
  if (streak >= needed) return { state: passing ? 'passing' : 'failing', streak: 0 };
  return { state: current.state, streak };
}
