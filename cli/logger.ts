import { pino, type Logger } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/**
 * JSON lines on stderr, so stdout stays for results. Secrets are redacted by
 * path as a second line of defence: nothing should log them in the first place.
 */
export function createLogger(level: string, name = 'beacon'): Logger {
  return pino(
    {
      name,
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ['password', '*.password', 'auth.password', 'secretAccessKey', '*.secretAccessKey', 'sessionToken', '*.sessionToken'],
        censor: '[redacted]',
      },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}
