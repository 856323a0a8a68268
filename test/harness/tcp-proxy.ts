import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A proxy between a client and a server, used to cut the network under a
 * client without touching the server (as etcd3's own tests do). It listens on
 * a loopback TCP port, or on a unix socket when `listenPath` is given, and
 * forwards to a TCP port or, when `target` is a path, to a unix socket (e.g.
 * in front of dockerd's socket).
 */
export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;
  private stalled = false;
  /** Bytes the target has sent back through the proxy so far (what a client read from it). */
  bytesFromTarget = 0;

  constructor(
    private readonly target: number | string,
    private readonly targetHost = '127.0.0.1',
    private readonly listenPath?: string,
  ) {}

  async start(port = this.port): Promise<this> {
    this.server = createServer((client) => {
      const upstream = typeof this.target === 'string' ? connect(this.target) : connect(this.target, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      upstream.on('data', (chunk: Buffer) => (this.bytesFromTarget += chunk.length));
      client.pipe(upstream).pipe(client);
      if (this.stalled) for (const s of [client, upstream]) s.pause();
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      if (this.listenPath) this.server!.listen(this.listenPath, () => resolve());
      else this.server!.listen(port, '127.0.0.1', () => resolve());
    });
    if (!this.listenPath) this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  /** Drops every open connection and stops accepting new ones (a network cut; a unix socket is removed). */
  async cut(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /**
   * Keeps every connection open but forwards nothing, as a network that drops
   * packets would: calls hang instead of failing fast as after cut().
   */
  stall(): void {
    this.stalled = true;
    for (const s of this.sockets) s.pause();
  }

  /** Forwards again after stall(). */
  unstall(): void {
    this.stalled = false;
    for (const s of this.sockets) s.resume();
  }

  /** Accepts connections again on the same port or path. */
  async restore(): Promise<void> {
    await this.start(this.port);
  }
}
