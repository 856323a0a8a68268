import { BeaconError } from '../registry/errors.js';

// Narrow imports (not registry/index.js) keep etcd's client out of processes that only check health.
/**
 * Errors of the health module. Bad specs and targets are registry
 * ValidationErrors (code BEACON_INVALID, a field and a rule), so callers treat
 * every kind of bad input alike; these cover the scheduler's own misuse.
 */
export class HealthError extends BeaconError {}

/** The scheduler was stopped and takes no more endpoints. */
export class SchedulerStoppedError extends HealthError {
  constructor() {
    super('BEACON_HEALTH_STOPPED', 'the health scheduler is stopped');
  }
}
