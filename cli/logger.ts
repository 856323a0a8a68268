import { pino, type Logger } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/**
 * The longest text a log line carries per field (and in its message): keys
 * and values come from etcd and labels, and a 1 MB key must not make a 2 MB
 * log line.
 */
export const LOG_TEXT_MAX = 1024;

/** `text` cut to LOG_TEXT_MAX characters, saying how long it was. */
export function clipText(text: string, max = LOG_TEXT_MAX): string {
  return text.length > max ? `${text.slice(0, max)}…(${text.length} chars)` : text;
}

/** Clips the message and the top-level string fields of one log call; errors and nested objects pass as they are. */
function clipArgs(args: unknown[]): unknown[] {
  return args.map((arg) => {
    if (typeof arg === 'string') return clipText(arg);
    if (typeof arg !== 'object' || arg === null || arg instanceof Error || Array.isArray(arg)) return arg;
    return Object.fromEntries(Object.entries(arg).map(([k, v]) => [k, typeof v === 'string' ? clipText(v) : v]));
  });
}

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
      hooks: {
        logMethod(args, method) {
          method.apply(this, clipArgs(args) as Parameters<typeof method>);
        },
      },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}
