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

/**
 * Clips the message and the top-level string fields of one log call; errors
 * and nested objects pass as they are. The arguments themselves when nothing
 * is too long (nearly always): lbsync logs a line per endpoint change, and a
 * copy of every field object per line showed in a burst's profile.
 */
function clipArgs(args: unknown[]): unknown[] {
  return args.some(tooLong) ? args.map(clipArg) : args;
}

function tooLong(arg: unknown): boolean {
  if (typeof arg === 'string') return arg.length > LOG_TEXT_MAX;
  if (!isFields(arg)) return false;
  for (const key in arg) {
    const value = (arg as Record<string, unknown>)[key];
    if (typeof value === 'string' && value.length > LOG_TEXT_MAX) return true;
  }
  return false;
}

function clipArg(arg: unknown): unknown {
  if (typeof arg === 'string') return clipText(arg);
  if (!isFields(arg)) return arg;
  return Object.fromEntries(Object.entries(arg).map(([k, v]) => [k, typeof v === 'string' ? clipText(v) : v]));
}

function isFields(arg: unknown): arg is object {
  return typeof arg === 'object' && arg !== null && !(arg instanceof Error) && !Array.isArray(arg);
}

/**
 * stderr, written once per event-loop turn: the lines logged in one turn go
 * out in one write. A write is a syscall (~35 µs on these VMs), and a burst
 * of 500 new endpoints logs 500 lines in a few turns. Nothing is held past
 * the turn, so a line is on stderr as soon as the I/O that logged it is
 * handled, and the lines of the last turn are written on exit (pino's
 * fatal-then-exit path included). sonic-boom does the writing: it retries a
 * full non-blocking pipe (EAGAIN) and partial writes.
 */
class TurnBatchedStderr {
  private readonly out = pino.destination({ fd: 2, sync: true });
  private lines: string[] = [];
  private scheduled = false;

  constructor() {
    process.on('exit', () => this.flush());
  }

  write(line: string): void {
    this.lines.push(line);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  flush(): void {
    this.scheduled = false;
    if (this.lines.length === 0) return;
    const text = this.lines.length === 1 ? this.lines[0]! : this.lines.join('');
    this.lines = [];
    this.out.write(text);
  }
}

/** One per process: every logger writes through it, so lines keep their order. */
let stderr: TurnBatchedStderr | undefined;

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
    (stderr ??= new TurnBatchedStderr()),
  );
}

/** Writes the lines logged in this turn now: before text written to stderr directly, so it follows them. */
export function flushLogs(): void {
  stderr?.flush();
}
