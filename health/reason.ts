import { formatDuration } from '../registry/duration.js';

/** `timeout after 2s`: the one wording for every kind of timeout. */
export function timeoutReason(timeoutMs: number, phase?: string): string {
  return `timeout after ${formatDuration(timeoutMs)}${phase ? ` ${phase}` : ''}`;
}

const BY_CODE: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by peer',
  EPIPE: 'connection closed by peer',
  UND_ERR_SOCKET: 'connection closed by peer',
  UND_ERR_CLOSED: 'connection closed',
  UND_ERR_CONNECT_TIMEOUT: 'connect timeout',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EADDRNOTAVAIL: 'address not available',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host lookup failed (try again)',
  UND_ERR_RES_EXCEEDED_MAX_SIZE: 'response too large',
  HPE_INVALID_CONSTANT: 'not an HTTP response',
  HPE_INVALID_VERSION: 'not an HTTP response',
  HPE_INVALID_STATUS: 'bad HTTP status line',
};

/**
 * Turns a network, TLS or HTTP client error into a reason a person
 * understands: `connection refused`, `TLS: self-signed certificate`, …
 * Unknown errors keep their message so nothing is hidden.
 */
export function describeError(err: unknown): string {
  const e = innermost(err);
  const code = typeof e?.code === 'string' ? e.code : undefined;
  if (code && BY_CODE[code]) return BY_CODE[code];
  if (code && (code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code))) {
    return `TLS: ${tlsMessage(e?.message ?? code)}`;
  }
  if (code?.startsWith('HPE_')) return `bad HTTP response: ${e?.message ?? code}`;
  const message = e?.message ?? String(err);
  // undici's parser errors carry no code, only their name.
  if ((e as { name?: unknown } | undefined)?.name === 'HTTPParserError') {
    return /Expected HTTP\//.test(message) ? 'not an HTTP response' : `bad HTTP response: ${message}`;
  }
  return code ? `${message} (${code})` : message;
}

interface CodedError {
  code?: unknown;
  message?: string;
  cause?: unknown;
}

// undici wraps socket errors; the useful code may sit on a cause. Prefer a
// code we know, then any code, then the outermost error.
function innermost(err: unknown): CodedError | undefined {
  const chain: CodedError[] = [];
  for (let e = err as CodedError | undefined; e && typeof e === 'object' && chain.length < 5; e = e.cause as CodedError | undefined) chain.push(e);
  const coded = (e: CodedError) => typeof e.code === 'string';
  return chain.find((e) => coded(e) && BY_CODE[e.code as string]) ?? chain.find(coded) ?? chain[0];
}

// OpenSSL messages read "…:error:0A00010B:SSL routines:FUNC:wrong version number:FILE:LINE:"; keep the words.
function tlsMessage(message: string): string {
  const match = /:error:[0-9A-Fa-f]+:[^:]*:[^:]*:([^:]+):/.exec(message);
  return (match ? match[1]! : message).trim();
}
