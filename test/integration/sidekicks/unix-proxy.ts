import { connect, createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A unix-socket proxy in front of dockerd's socket: a sidekick pointed at it
 * can lose Docker (every connection dropped, the socket gone) and get it back,
 * without restarting the dockerd other people are using.
 */
export class UnixSocketProxy {
  readonly dir = mkdtempSync(join(tmpdir(), 'beacon-docker-proxy-'));
  readonly path = join(this.dir, 'docker.sock');
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly target = '/var/run/docker.sock') {}

  async start(): Promise<this> {
    this.server = createServer((client) => {
      const upstream = connect(this.target);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.path, () => resolve());
    });
    return this;
  }

  /** Drops every connection and removes the socket, as a dockerd restart would. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async restore(): Promise<void> {
    await this.start();
  }

  async destroy(): Promise<void> {
    await this.cut();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
