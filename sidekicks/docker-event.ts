/** One container event from Docker's `/events` stream, reduced to what the sidekick uses. */
export interface DockerEvent {
  /** Full container id. */
  id: string;
  /** `start`, `die`, `kill`, `health_status`, … (the part before any `:`). */
  action: string;
  /** For `health_status: healthy` → `healthy`; for `kill` → the signal. */
  detail?: string;
  /** Docker's own event time, nanoseconds since the epoch (the start of every latency measurement). */
  timeNano: number;
  attributes: Record<string, string>;
}

/** The actions the sidekick subscribes to. */
export const CONTAINER_ACTIONS = ['start', 'die', 'stop', 'kill', 'destroy', 'pause', 'unpause', 'health_status', 'rename'] as const;

/**
 * Signals after which a container is about to exit: its record goes at the
 * `kill` event, so traffic drains while the process shuts down. Docker
 * reports the number (`15`) or, from some clients, the name.
 */
const STOP_SIGNALS = new Set(['15', '2', '9', 'SIGTERM', 'SIGINT', 'SIGKILL', 'TERM', 'INT', 'KILL']);

export function isStopSignal(signal: string | undefined): boolean {
  return signal !== undefined && STOP_SIGNALS.has(signal.toUpperCase());
}

/** Parses one line of the events stream; undefined for anything that is not a container event. */
export function parseDockerEvent(line: string): DockerEvent | undefined {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (raw.Type !== undefined && raw.Type !== 'container') return undefined;
  const actor = (raw.Actor ?? {}) as { ID?: string; Attributes?: Record<string, string> };
  const id = actor.ID ?? (raw.id as string | undefined);
  const fullAction = (raw.Action ?? raw.status) as string | undefined;
  if (!id || !fullAction) return undefined;
  const colon = fullAction.indexOf(':');
  const action = colon < 0 ? fullAction : fullAction.slice(0, colon);
  const attributes = actor.Attributes ?? {};
  const detail = colon < 0 ? (action === 'kill' ? attributes.signal : undefined) : fullAction.slice(colon + 1).trim();
  const timeNano = typeof raw.timeNano === 'number' ? raw.timeNano : Number(raw.time ?? 0) * 1e9;
  return { id, action, ...(detail !== undefined ? { detail } : {}), timeNano, attributes };
}
