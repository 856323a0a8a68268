/**
 * What each failed request of the scale bench's rolling deploy was, as pure
 * data: the client's error, the upstreams nginx tried for it (from nginx's
 * error log, matched by the request's `r=<id>` query), and where those
 * upstreams' hosts were in the deploy when the request ran (backend stopped,
 * record replaced, first apply after the replace). The bench keeps the
 * first few in its JSON, so a failure can be explained rather than counted.
 */

/** One failed request, as the client saw it (times in ms since the epoch). */
export interface ClientFailure {
  id: number;
  startAt: number;
  endAt: number;
  /** `HTTP 502`, or the socket error's code (`ECONNRESET`, `timeout`). */
  error: string;
}

/** One line nginx logged about a request: its level and message, and the upstream it names. */
export interface NginxTry {
  level: string;
  message: string;
  upstream?: string;
}

/** Where one host was in the deploy (ms since the epoch; absent: not yet). */
export interface HostTimeline {
  startedNewAt?: number;
  replacedAt?: number;
  stoppedOldAt?: number;
}

export interface FailureDetail {
  id: number;
  error: string;
  /** Relative to the deploy's start. */
  startMs: number;
  tookMs: number;
  tries: Array<
    NginxTry & {
      host?: number;
      /** Which side of the deploy the upstream's port is (`v1` old, `v2` new). */
      version?: string;
      /** Each relative to the request's start: negative = before it. */
      oldStoppedMs?: number;
      replacedMs?: number;
      firstApplyAfterReplaceMs?: number;
    }
  >;
}

// 2026/11/29 18:40:01 [error] 12#12: *56 connect() failed (111: …) while connecting to upstream, client: …, request: "GET /?r=5 HTTP/1.1", upstream: "http://127.1.0.3:4000/?r=5", host: …
const LINE = /^\S+ \S+ \[(\w+)\] \d+#\d+: \*\d+ (.*?), client: .*request: "GET \/\?r=(\d+) HTTP\/1\.1"(?:, upstream: "http:\/\/([^/"]+)\/)?/;

/** nginx's error log → the lines about each request id. */
export function triesById(errorLog: string): Map<number, NginxTry[]> {
  const byId = new Map<number, NginxTry[]>();
  for (const line of errorLog.split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue;
    const id = Number(m[3]);
    byId.set(id, [...(byId.get(id) ?? []), { level: m[1]!, message: m[2]!, ...(m[4] ? { upstream: m[4] } : {}) }]);
  }
  return byId;
}

/** Joins a client failure with nginx's lines about it and the deploy timeline of each upstream's host. */
export function explainFailure(
  failure: ClientFailure,
  tries: NginxTry[],
  deployStartAt: number,
  hostOf: (address: string) => number | undefined,
  versionOf: (port: number) => string | undefined,
  timelines: Map<number, HostTimeline>,
  applyTimes: number[],
): FailureDetail {
  const rel = (t: number | undefined) => (t === undefined ? undefined : t - failure.startAt);
  return {
    id: failure.id,
    error: failure.error,
    startMs: failure.startAt - deployStartAt,
    tookMs: failure.endAt - failure.startAt,
    tries: tries.map((t) => {
      const colon = t.upstream?.lastIndexOf(':') ?? -1;
      const host = t.upstream ? hostOf(t.upstream.slice(0, colon)) : undefined;
      const version = t.upstream ? versionOf(Number(t.upstream.slice(colon + 1))) : undefined;
      const line = host === undefined ? undefined : timelines.get(host);
      const replacedAt = line?.replacedAt;
      return {
        ...t,
        ...(host === undefined ? {} : { host }),
        ...(version === undefined ? {} : { version }),
        ...(line ? { oldStoppedMs: rel(line.stoppedOldAt), replacedMs: rel(replacedAt), firstApplyAfterReplaceMs: rel(replacedAt === undefined ? undefined : applyTimes.find((a) => a >= replacedAt)) } : {}),
      };
    }),
  };
}
