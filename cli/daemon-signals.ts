import type { Logger } from './logger.js';

/** Why a daemon stops: a stop signal, or an error nothing else caught. */
export type StopReason = 'SIGTERM' | 'SIGINT' | 'uncaughtException' | 'unhandledRejection';

/** True for the reasons that mean something broke (the daemon exits 1 after cleaning up). */
export function isFatal(reason: StopReason): boolean {
  return reason === 'uncaughtException' || reason === 'unhandledRejection';
}

/** Signals a daemon outlives, each with the line it logs. */
const IGNORED: ReadonlyArray<[NodeJS.Signals, 'info' | 'warn', (name: string) => string]> = [
  // A daemon's convention: SIGHUP reloads or is ignored, never kills. beacon reads its flags and config once.
  ['SIGHUP', 'info', (name) => `ignored SIGHUP: ${name} reads its flags and config only at start; restart it to apply changes`],
  // A reader of our output went away; the EPIPE on the write is handled below.
  ['SIGPIPE', 'warn', () => 'ignored SIGPIPE: a reader of this process output went away'],
  // Left to Node, SIGUSR1 opens the inspector on 127.0.0.1:9229: code execution for anyone on the host.
  // The executable's --disable-sigusr1 keeps SIGUSR1 blocked from start-up on (it never reaches this
  // handler); the handler is for `node dist/cli/main.js` run without that option.
  ['SIGUSR1', 'warn', () => 'ignored SIGUSR1: the Node inspector stays closed (run node --inspect to debug)'],
];

/**
 * Makes the running process a well-behaved daemon and resolves when it should
 * stop, so the caller's cleanup (revoking the lease, closing servers) runs on
 * every exit path it can catch: SIGTERM, SIGINT, and errors that would
 * otherwise kill the process without a word. SIGHUP, SIGPIPE and SIGUSR1 are
 * survived with one log line each (SIGUSR1 silently, under the executable's
 * --disable-sigusr1); EPIPE on stdout or stderr (a closed pipe)
 * is survived too.
 */
export function untilStop(log: Logger, name: string): Promise<StopReason> {
  for (const [signal, level, message] of IGNORED) process.on(signal, () => log[level]({ signal }, message(name)));
  let stdoutLost = false;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (stdoutLost) return;
    stdoutLost = true;
    log.warn({ code: err.code }, `lost stdout (${err.code ?? err.message}); ${name} keeps running`);
  });
  // stderr carries the log itself: with it gone there is nowhere left to say so (pino stops logging on EPIPE).
  process.stderr.on('error', () => undefined);
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
    process.on('uncaughtException', (err) => {
      log.error({ err }, `failed: ${err.message}; cleaning up before exit`);
      resolve('uncaughtException');
    });
    process.on('unhandledRejection', (reason) => {
      const err = reason instanceof Error ? reason : new Error(String(reason));
      log.error({ err }, `failed: ${err.message}; cleaning up before exit`);
      resolve('unhandledRejection');
    });
  });
}
