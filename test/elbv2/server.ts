import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ACTIONS } from './actions.js';
import { CallLog, callerOf } from './call-log.js';
import { errors, QueryError } from './errors.js';
import { FaultQueue } from './faults.js';
import { ELBV2_VERSION, errorXml, newRequestId, QueryParams, successXml } from './query-protocol.js';
import { Elbv2State, type Elbv2StateOptions } from './state.js';

/** Settings of the test endpoint: the state's settings plus protocol strictness. */
export interface Elbv2EndpointOptions extends Elbv2StateOptions {
  /** Refuse unsigned requests with 403 MissingAuthenticationToken, as AWS does (default true). */
  requireAuth?: boolean;
}

/**
 * A local ELBv2 endpoint speaking the Query protocol on 127.0.0.1: form-encoded
 * POST (or GET) with `Action` and `Version=2015-12-01`, XML `<XResponse>` /
 * `<ErrorResponse>` bodies and an `x-amzn-requestid` header, so the real
 * `@aws-sdk/client-elastic-load-balancing-v2` works against it unmodified.
 *
 * Tests read `state` (targets and their health), `calls` (every call, with its
 * caller) and script `faults`.
 */
export class Elbv2TestEndpoint {
  readonly state: Elbv2State;
  readonly calls = new CallLog();
  readonly faults = new FaultQueue();
  private readonly requireAuth: boolean;
  private server: Server | undefined;
  private port = 0;

  constructor(options: Elbv2EndpointOptions = {}) {
    this.state = new Elbv2State(options);
    this.requireAuth = options.requireAuth ?? true;
  }

  /** The URL to pass as the SDK client's `endpoint`. */
  get url(): string {
    if (!this.server) throw new Error('endpoint not started');
    return `http://127.0.0.1:${this.port}`;
  }

  /** Listens on a free loopback port. */
  async start(): Promise<this> {
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  /** Stops listening and drops kept-alive connections. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = newRequestId();
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = req.method === 'GET' ? new URL(req.url ?? '/', 'http://x').search.slice(1) : Buffer.concat(chunks).toString('utf8');
    const params = QueryParams.parse(body);
    const action = params.get('Action') ?? '';
    let status = 200;
    let xml: string;
    let errorCode: string | undefined;
    let retryAfterMs: number | undefined;
    try {
      if (!action) throw errors.missingAction();
      if (this.requireAuth && !req.headers.authorization) throw errors.missingAuth();
      if (params.get('Version') !== ELBV2_VERSION) throw errors.badVersion(params.get('Version') ?? '');
      const handler = Object.hasOwn(ACTIONS, action) ? ACTIONS[action] : undefined;
      if (!handler) throw errors.invalidAction(action);
      // A scripted fault answers before the action runs, so a throttled write changes nothing.
      const fault = this.faults.take(action);
      if (fault) throw fault;
      xml = successXml(action, handler(params, this.state), requestId);
    } catch (err) {
      const queryError = err instanceof QueryError ? err : new QueryError('InternalFailure', String(err), 500);
      status = queryError.status;
      errorCode = queryError.code;
      retryAfterMs = queryError.retryAfterMs;
      xml = errorXml(queryError, requestId);
    }
    this.calls.add({
      at: this.state.clock.now(),
      action,
      params: params.toObject(),
      caller: callerOf(req.headers),
      userAgent: String(req.headers['user-agent'] ?? ''),
      requestId,
      status,
      ...(errorCode ? { errorCode } : {}),
    });
    const headers: Record<string, string | number> = {
      'content-type': 'text/xml',
      'content-length': Buffer.byteLength(xml),
      'x-amzn-requestid': requestId,
      date: new Date().toUTCString(),
    };
    if (retryAfterMs !== undefined) headers['x-amz-retry-after'] = retryAfterMs;
    res.writeHead(status, headers);
    res.end(xml);
  }
}
