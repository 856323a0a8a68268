import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TcpProxy } from '../../harness/index.js';

/**
 * A unix-socket proxy in front of dockerd's socket: a sidekick pointed at it
 * can lose Docker (every connection dropped, the socket gone) and get it back,
 * without restarting the dockerd other people are using.
 */
export class UnixSocketProxy extends TcpProxy {
  readonly dir: string;
  readonly path: string;

  constructor(target = '/var/run/docker.sock') {
    const dir = mkdtempSync(join(tmpdir(), 'beacon-docker-proxy-'));
    const path = join(dir, 'docker.sock');
    super(target, undefined, path);
    this.dir = dir;
    this.path = path;
  }

  async destroy(): Promise<void> {
    await this.cut();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
