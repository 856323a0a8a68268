import { resolve } from 'node:path';
import type { ServiceSpan } from './render.js';

/** nginx names the place it stopped as `in FILE:LINE` at the end of its message. */
const AT_FILE_LINE = / in (.+):(\d+)$/;
/** nginx's messages that name the upstream at fault: duplicate upstream "x", upstream "x" may not have port N, … */
const NAMED_UPSTREAM = /upstream "([^"]+)"/;

/**
 * The service whose block nginx's `-t` message points at: the one whose span
 * of lbsync's `file` holds the `FILE:LINE` nginx names (the activator has
 * already mapped its staged and shadow copies back to the real paths), else
 * the rendered upstream the message quotes by name (nginx reports a
 * duplicate at the *second* definition, which may be in the user's file).
 * Undefined when it points at nothing lbsync rendered. Pure.
 */
export function blameService(message: string, file: string, spans: readonly ServiceSpan[], upstreams: readonly string[]): string | undefined {
  const at = AT_FILE_LINE.exec(message);
  if (at && resolve(at[1]!) === resolve(file)) {
    const line = Number(at[2]);
    const span = spans.find((s) => s.firstLine <= line && line <= s.lastLine);
    if (span) return span.service;
  }
  const named = NAMED_UPSTREAM.exec(message)?.[1];
  return named && upstreams.includes(named) ? named : undefined;
}
