import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { PAGE_CSS, PAGE_HTML, PAGE_JS } from './page.js';
import type { StatusDocument } from './status-types.js';

/** What the server serves: a snapshot, and a signal when it may have changed. */
export interface StatusSource {
  snapshot(): StatusDocument;
  on(event: 'change', listener: () => void): unknown;
  off(event: 'change', listener: () => void): unknown;
}

export interface StatusServerOptions {
  port: number;
  /** Address to bind; 127.0.0.1 unless told otherwise. */
  host?: string;
  /** Least time between two pushes on `/events` (ms, default 100): bursts collapse into one push. */
  minPushIntervalMs?: number;
  /** SSE comment sent this often so proxies keep the stream open (ms, default 15 s). */
  heartbeatMs?: number;
}

// Scripts and styles come from this server only, so the page cannot run
// anything a record value might smuggle in, even if escaping were ever missed.
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

const ASSETS: Record<string, { type: string; body: string }> = {
  '/': { type: 'text/html; charset=utf-8', body: PAGE_HTML },
  '/app.js': { type: 'text/javascript; charset=utf-8', body: PAGE_JS },
  '/app.css': { type: 'text/css; charset=utf-8', body: PAGE_CSS },
};

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** The host part of a Host header (`[::1]:9337` → `::1`). */
function hostOf(header: string | undefined): string {
  if (!header) return '';
  if (header.startsWith('[')) return header.slice(1, header.indexOf(']'));
  return header.replace(/:\d+$/, '');
}

/**
 * lbsync's read-only status page over node:http:
 * `/` (the page), `/status.json` (the document), `/events` (server-sent
 * events: one `status` event with the whole document at once, then on every
 * change, at most every `minPushIntervalMs`), `/healthz`.
 */
export class StatusServer {
  private server: Server | undefined;
  private readonly clients = new Set<ServerResponse>();
  private pushTimer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private lastPush = 0;
  private readonly onChange = () => this.schedulePush();

  constructor(
    private readonly source: StatusSource,
    private readonly options: StatusServerOptions,
  ) {}

  /** Binds and starts serving; rejects when the port is taken. */
  async start(): Promise<AddressInfo> {
    const server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host ?? '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.source.on('change', this.onChange);
    this.heartbeat = setInterval(() => {
      for (const res of this.clients) res.write(': ping\n\n');
    }, this.options.heartbeatMs ?? 15_000);
    this.heartbeat.unref();
    return server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    this.source.off('change', this.onChange);
    clearTimeout(this.pushTimer);
    clearInterval(this.heartbeat);
    for (const res of this.clients) res.end();
    this.clients.clear();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    // Bound to loopback, answer only to loopback names: a web page elsewhere
    // must not read this through DNS rebinding.
    const bound = this.options.host ?? '127.0.0.1';
    const asked = hostOf(req.headers.host);
    if (isLoopback(bound) && !(isLoopback(asked) || (isIP(asked) && asked === bound))) {
      res.writeHead(421, { 'content-type': 'text/plain' }).end('misdirected request: use a loopback address\n');
      return;
    }
    const path = (req.url ?? '/').split('?')[0]!;
    const asset = ASSETS[path];
    if (asset) {
      res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-cache', ...SECURITY_HEADERS });
      res.end(req.method === 'HEAD' ? undefined : asset.body);
    } else if (path === '/status.json') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store', ...SECURITY_HEADERS });
      res.end(req.method === 'HEAD' ? undefined : JSON.stringify(this.source.snapshot()));
    } else if (path === '/events') {
      this.subscribe(req, res);
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  }

  private subscribe(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', ...SECURITY_HEADERS });
    // A browser that lost the stream reconnects after this long.
    res.write(`retry: 1000\n${message(this.source.snapshot())}`);
    this.clients.add(res);
    req.on('close', () => this.clients.delete(res));
  }

  /** Pushes soon: at once after a quiet spell, else when the interval since the last push is over. */
  private schedulePush(): void {
    if (this.pushTimer || this.clients.size === 0) return;
    const wait = Math.max(0, this.lastPush + (this.options.minPushIntervalMs ?? 100) - Date.now());
    // Even "at once" waits a tick, so a burst of synchronous model updates becomes one push.
    this.pushTimer = setTimeout(() => {
      this.pushTimer = undefined;
      this.lastPush = Date.now();
      const text = message(this.source.snapshot());
      for (const res of this.clients) res.write(text);
    }, wait);
    this.pushTimer.unref();
  }
}

/** One SSE message carrying the whole document (JSON has no raw newlines, so one data line). */
function message(doc: StatusDocument): string {
  return `event: status\ndata: ${JSON.stringify(doc)}\n\n`;
}
