import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** A server on 127.0.0.1, port 0, that closes every connection when told to. */
export interface Local {
  port: number;
  /** Connections accepted so far. */
  connections: () => number;
  close(): Promise<void>;
}

async function listen(server: Server | TcpServer): Promise<Local> {
  let connections = 0;
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    port,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A node:http server answering every request with `handler`. */
export function httpServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Local> {
  return listen(createHttpServer(handler));
}

/** A plain TCP listener; `greeting` is written to each connection when given. */
export function tcpServer(greeting?: string): Promise<Local> {
  return listen(createTcpServer((socket) => {
    socket.on('error', () => undefined);
    if (greeting !== undefined) socket.write(greeting);
  }));
}

const run = promisify(execFile);

/** An HTTPS server with a fresh self-signed certificate for `localhost`, answering 200 "secure". */
export async function selfSignedHttpsServer(): Promise<Local> {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-health-tls-'));
  try {
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
    const server = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (_req, res) => res.end('secure\n'));
    return await listen(server as unknown as Server);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
