import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlClient } from '../../../lbsync/nginx/dynamic/control-client.js';

/**
 * The control client keeps one connection to nginx's control socket. A real
 * HTTP server on a unix socket stands in for nginx's control location here
 * (nginx itself is exercised in test/integration/lbsync/dynamic.test.ts);
 * it plays a worker that retires with the connection still kept.
 */
describe('lbsync dynamic: control client', () => {
  let dir: string;
  let server: Server;
  const sockets: Socket[] = [];
  let requests: Array<{ method: string; socket: Socket }> = [];
  /** Connections cut, unanswered, when their next request arrives (a retiring worker). */
  const retiring = new Set<Socket>();

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'beacon-control-'));
    requests = [];
    server = createServer((req, res) => {
      requests.push({ method: req.method!, socket: req.socket });
      if (retiring.has(req.socket)) return void req.socket.destroy();
      req.resume();
      req.on('end', () => res.end('version 7\nstructure abc\n'));
    });
    server.on('connection', (socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(join(dir, 'control.sock'), resolve));
  });

  afterEach(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps one connection for reads and pushes, and reads the state from a push answer', async () => {
    const client = new ControlClient(join(dir, 'control.sock'), 'x'.repeat(64));
    assert.deepEqual(await client.state(), { version: 7, structure: 'abc' });
    assert.deepEqual(await client.push('version 7\n'), { version: 7, structure: 'abc' });
    assert.equal(requests.length, 2);
    assert.equal(requests[0]!.socket, requests[1]!.socket, 'the second request reused the connection');
    client.close();
  });

  it('sends a request again on a fresh connection when the kept one was cut', async () => {
    const client = new ControlClient(join(dir, 'control.sock'), 'x'.repeat(64));
    await client.state();
    const kept = requests[0]!.socket;
    retiring.add(kept);
    assert.deepEqual(await client.push('version 8\n'), { version: 7, structure: 'abc' }, 'answered although the kept connection was cut');
    assert.equal(requests.length, 3);
    assert.equal(requests[1]!.socket, kept, 'the push went out on the kept connection first');
    assert.notEqual(requests[2]!.socket, kept, 'and was answered on a new one');
    client.close();
  });

  it('reports a socket nobody listens on as a control channel error (not retried forever)', async () => {
    const client = new ControlClient(join(dir, 'nothing.sock'), 'x'.repeat(64));
    await assert.rejects(client.state(), (err: Error & { code?: string }) => err.code === 'BEACON_NGINX_CONTROL' && /cannot reach nginx's control socket/.test(err.message));
    client.close();
  });
});
