/**
 * Typed errors for the registry. Every error carries a stable `code` and says
 * whether retrying can help (`recoverable`), which the backoff loops use.
 */
export class BeaconError extends Error {
  readonly code: string;
  readonly recoverable: boolean;

  constructor(code: string, message: string, options: { cause?: unknown; recoverable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.recoverable = options.recoverable ?? false;
  }
}

/** A value broke a rule of the /services contract. Names the field and the rule. */
export class ValidationError extends BeaconError {
  readonly field: string;
  readonly rule: string;

  constructor(field: string, rule: string, value?: unknown) {
    const shown = value === undefined ? '' : ` (got ${preview(value)})`;
    super('BEACON_INVALID', `${field}: ${rule}${shown}`);
    this.field = field;
    this.rule = rule;
  }
}

/** A key under the prefix that matches no known layout. */
export class KeyError extends BeaconError {
  readonly key: string;

  constructor(key: string, rule: string) {
    super('BEACON_BAD_KEY', `key ${preview(key)}: ${rule}`);
    this.key = key;
  }
}

/** True when retrying the failed operation later may succeed. */
export function isRecoverable(err: unknown): boolean {
  if (err instanceof BeaconError) return err.recoverable;
  // Network and gRPC failures from etcd3 and dockerode are transient by nature.
  return true;
}

/** A short, printable, single-line rendering of an untrusted value for messages. */
export function preview(value: unknown, max = 60): string {
  let text: string;
  try {
    text = typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
  } catch {
    // Cyclic or nested past the stack: describe it without walking it.
    text = Array.isArray(value) ? `[array of ${value.length}]` : Object.prototype.toString.call(value);
  }
  return text.length > max ? `${text.slice(0, max)}…(${text.length} chars)` : text;
}
