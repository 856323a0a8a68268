import { BeaconError } from '../registry/index.js';

/**
 * Typed errors of lbsync. Each carries a stable `code`; `recoverable` says
 * whether the same operation may succeed later without a config change.
 */
export class LbsyncError extends BeaconError {}

/** nginx refused a candidate config (`nginx -t` failed); `nginxMessage` is nginx's own words. */
export class NginxValidationError extends LbsyncError {
  constructor(readonly nginxMessage: string, options: { cause?: unknown } = {}) {
    super('BEACON_NGINX_INVALID', `nginx rejected the new config: ${nginxMessage}`, { ...options, recoverable: true });
  }
}

/** The reload signal or command failed, or nginx did not start new workers. */
export class NginxReloadError extends LbsyncError {
  constructor(message: string, readonly rolledBack: boolean, options: { cause?: unknown } = {}) {
    super('BEACON_NGINX_RELOAD', message, { ...options, recoverable: true });
  }
}

/**
 * A user's nginx config could not be parsed or located (edit-in-place,
 * include chain). Recoverable: the operator fixing their own file is enough,
 * so lbsync retries rather than wait for an unrelated change.
 */
export class NginxConfError extends LbsyncError {
  constructor(message: string, readonly file?: string) {
    super('BEACON_NGINX_CONF', file ? `${file}: ${message}` : message, { recoverable: true });
  }
}

/** lbsync could not write a file nginx reads (read-only or full disk, permission); nothing live changed. */
export class NginxWriteError extends LbsyncError {
  constructor(readonly file: string, cause: unknown) {
    super('BEACON_NGINX_WRITE', `cannot write ${file}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause, recoverable: true });
  }
}
