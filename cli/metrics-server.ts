import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

/**
 * Why the process is not ready, or undefined when it is. A process that is up
 * but cannot do its job (a sidekick etcd will not let write) is live, not ready.
 */
export type NotReady = () => string | undefined;

/**
 * Serves a prom-client registry as Prometheus text on `GET /metrics`, a
 * plain `GET /healthz` (live), and `GET /readyz` (200, or 503 with the reason
 * `notReady` gives). Binds to 127.0.0.1 unless `host` says otherwise.
 */
export async function serveMetrics(registry: Registry, port: number, host = '127.0.0.1', notReady: NotReady = () => undefined): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: Error) => res.writeHead(500).end(err.message),
      );
    } else if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (req.url === '/readyz') {
      const reason = notReady();
      res.writeHead(reason ? 503 : 200, { 'content-type': 'text/plain' }).end(reason ? `not ready: ${reason}\n` : 'ready\n');
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
