import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import type { Client, Dispatcher } from 'undici';
import type { CancelSignal } from './cancellation.js';
import { describeError, timeoutReason } from './reason.js';
import { statusMatches } from './status-set.js';
import type { Checker, CheckResult, CheckTarget, HealthSpec } from './types.js';

/**
 * undici's Client, loaded on the first HTTP check rather than with this
 * module: the health barrel is imported by lbsync and `beacon health`, and a
 * TCP-only or not-yet-checking process need not pay for it. Only the Client
 * module (undici is pinned to one version in package.json): the package's
 * index loads every dispatcher, fetch, the cache stores and the mocks, which
 * cost ~45 ms more to load and ~13 MB more per thread (lbsync has two).
 */
type ClientClass = typeof import('undici').Client;
let ClientCtor: ClientClass | undefined;
const loadClient = (): ClientClass => (ClientCtor ??= createRequire(import.meta.url)('undici/lib/dispatcher/client.js') as ClientClass);

/**
 * HTTP/HTTPS checks with undici. Each endpoint gets its own undici Client — one
 * kept-alive connection per origin and TLS settings — so successive checks of
 * an endpoint reuse it and cost no handshake; `release()` closes it. One
 * connection is enough: the scheduler runs one check per endpoint at a time,
 * and concurrent checks of one endpoint queue behind each other (within their
 * timeouts). A Client rather than a Pool of one: a Pool opens a second
 * connection while the first is still settling, and costs memory per endpoint.
 *
 * A check passes when the status is in `expectStatus` and, when set, the body
 * (at most `maxBodyBytes` read) has `expectDigest` and contains `expectBody`.
 */
export class HttpChecker implements Checker {
  private readonly clients = new Map<string, Map<string, Client>>();

  warm(): void {
    loadClient();
  }

  check(target: CheckTarget, spec: HealthSpec, signal: CancelSignal): Promise<CheckResult> {
    const started = performance.now();
    const done = (passing: boolean, reason: string): CheckResult => ({
      passing,
      reason,
      latencyMs: Math.round((performance.now() - started) * 10) / 10,
      at: Date.now(),
    });
    if (signal.aborted) return Promise.resolve(done(false, 'cancelled'));
    const client = this.client(target, spec);
    // undici's handler API rather than request(): no body stream, no promise
    // per chunk. At a thousand checks a second the garbage of a stream per
    // response is what sets the heap size.
    return new Promise<CheckResult>((resolve) => {
      let controller: Dispatcher.DispatchController | undefined;
      let stop: 'timeout' | 'cancelled' | 'limit' | undefined;
      let status = 0;
      let size = 0;
      let settled = false;
      const hash = spec.expectDigest ? createHash(spec.expectDigest.slice(0, spec.expectDigest.indexOf(':'))) : undefined;
      const chunks: Buffer[] | undefined = spec.expectBody !== undefined ? [] : undefined;
      const halt = (why: 'timeout' | 'cancelled' | 'limit') => {
        stop ??= why;
        controller?.abort(new Error(why));
      };
      const finish = (result: CheckResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve(result);
      };
      // One deadline for the whole exchange (connect, headers, body), as a user
      // means it by "timeout 2s"; undici's own timers stay as a backstop.
      const timer = setTimeout(() => {
        halt('timeout');
        finish({ ...done(false, timeoutReason(spec.timeoutMs, status ? 'reading the body' : '')), timedOut: true });
      }, spec.timeoutMs);
      const onAbort = () => {
        halt('cancelled');
        finish(done(false, 'cancelled'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const judge = (truncated: boolean): CheckResult => {
        if (!statusMatches(spec.expectStatus, status)) return done(false, `status ${status}`);
        if (hash) {
          if (truncated) return done(false, `body larger than ${spec.maxBodyBytes} bytes, digest not checked`);
          const got = `${spec.expectDigest!.slice(0, spec.expectDigest!.indexOf(':'))}:${hash.digest('hex')}`;
          if (got !== spec.expectDigest) return done(false, `digest mismatch: got ${got}`);
        }
        if (chunks && !Buffer.concat(chunks).includes(spec.expectBody!)) {
          const scope = truncated ? ` in its first ${spec.maxBodyBytes} bytes` : '';
          return done(false, `body does not contain ${JSON.stringify(spec.expectBody)}${scope}`);
        }
        return done(true, `status ${status}`);
      };
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart(c) {
          controller = c;
          if (stop) c.abort(new Error(stop));
        },
        onResponseStart(_c, statusCode) {
          status = statusCode;
        },
        onResponseData(_c, chunk) {
          const room = spec.maxBodyBytes - size;
          size += chunk.length;
          const kept = chunk.length > room ? chunk.subarray(0, Math.max(0, room)) : chunk;
          // A wrong status needs no body; reading on (within the limit) keeps the connection reusable.
          hash?.update(kept);
          chunks?.push(kept);
          // Never read more than asked: over the limit, the connection is dropped.
          if (size > spec.maxBodyBytes) {
            finish(judge(true));
            halt('limit');
          }
        },
        onResponseEnd() {
          finish(judge(false));
        },
        onResponseError(_c, err) {
          if (stop === 'limit') finish(judge(true));
          else if (!stop) finish(done(false, describeError(err)));
        },
      };
      client.dispatch(
        {
          method: spec.method as Dispatcher.HttpMethod,
          path: spec.path,
          headers: spec.hostHeader ? { host: spec.hostHeader } : undefined,
          headersTimeout: spec.timeoutMs + 1000,
          bodyTimeout: spec.timeoutMs + 1000,
        },
        handler,
      );
    });
  }

  release(target: CheckTarget): void {
    const key = endpointKey(target);
    const pools = this.clients.get(key);
    if (!pools) return;
    this.clients.delete(key);
    // close() lets a request still running on the pool finish.
    for (const client of pools.values()) client.close().catch(() => undefined);
  }

  async close(): Promise<void> {
    const all = [...this.clients.values()].flatMap((pools) => [...pools.values()]);
    this.clients.clear();
    await Promise.all(all.map((pool) => pool.destroy().catch(() => undefined)));
  }

  private client(target: CheckTarget, spec: HealthSpec): Client {
    const key = endpointKey(target);
    let pools = this.clients.get(key);
    if (!pools) this.clients.set(key, (pools = new Map()));
    // TLS settings are part of the connection, so they are part of the key.
    const servername = spec.kind === 'https' ? tlsName(spec.hostHeader ?? target.host) : undefined;
    // The connect timeout is fixed per pool, so a new timeout gets a new client.
    const variant = `${spec.kind}|${spec.timeoutMs}|${spec.kind === 'https' ? `${spec.tlsVerify}|${servername ?? ''}` : ''}`;
    let pool = pools.get(variant);
    if (!pool) {
      const host = target.host.includes(':') ? `[${target.host}]` : target.host;
      pool = new (loadClient())(`${spec.kind}://${host}:${target.port}`, {
        pipelining: 1,
        // Keep the connection for the next check unless the server says otherwise
        // (its Keep-Alive hint wins, minus undici's safety margin).
        keepAliveTimeout: Math.max(4000, spec.intervalMs * 2),
        connect: {
          timeout: spec.timeoutMs + 1000,
          ...(spec.kind === 'https' ? { rejectUnauthorized: spec.tlsVerify, ...(servername ? { servername } : {}) } : {}),
        },
      });
      pools.set(variant, pool);
    }
    return pool;
  }
}

function endpointKey(target: CheckTarget): string {
  return `${target.host}|${target.port}`;
}

/** The TLS server name for SNI and certificate checks: a DNS name without port; IPs send none. */
function tlsName(host: string): string | undefined {
  const name = host.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  return isIP(name) ? undefined : name;
}
