/**
 * The scale bench's backends (forked by bench/scale.ts): real node:http
 * servers the simulated fleet's records point at, each answering
 * `<service> <version> <address>:<port>` (and `ok` on /health).
 *
 * The deployed service has one server per host, on that host's own loopback
 * address, so the rolling deploy really starts the new instance and stops
 * the old one host by host. The other services share one server per service
 * listening on 0.0.0.0 (every 127.1.x.y address reaches it; traffic stays on
 * loopback): 20,000 listening sockets would drain the ephemeral port range
 * other processes on this machine need.
 */
import { createServer, type Server } from 'node:http';
import { DEPLOYED, hostAddress, serviceName, type FleetPorts, type FleetShape } from './scale-plan.js';

export type BackendsCommand =
  | { type: 'init'; shape: FleetShape; ports: FleetPorts }
  | { type: 'start'; host: number }
  | { type: 'stop'; host: number }
  | { type: 'quit' };

const old = new Map<number, Server>();
const renewed = new Map<number, Server>();
let ports: FleetPorts;

function serve(service: string, version: string, port: number, address: string): Promise<Server> {
  const server = createServer((req, res) => {
    res.end(req.url === '/health' ? 'ok' : `${service} ${version} ${req.socket.localAddress}:${req.socket.localPort}\n`);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => resolve(server));
  });
}

/** Stops a server as a stopped container does: no new connections, open ones cut. */
function halt(server: Server | undefined): void {
  if (!server) return;
  server.close();
  server.closeAllConnections();
}

async function init(shape: FleetShape, given: FleetPorts): Promise<void> {
  ports = given;
  for (let i = 1; i < shape.services; i++) await serve(serviceName(i), 'v1', ports.shared[i]!, '0.0.0.0');
  for (let h = 0; h < shape.hosts; h++) old.set(h, await serve(DEPLOYED, 'v1', ports.deployOld, hostAddress(h)));
  process.send!({ type: 'ready' });
}

process.on('disconnect', () => process.exit(0));

process.on('message', (message: BackendsCommand) => {
  switch (message.type) {
    case 'init':
      init(message.shape, message.ports).catch((err: Error) => process.send!({ type: 'error', message: err.message }));
      break;
    case 'start':
      serve(DEPLOYED, 'v2', ports.deployNew, hostAddress(message.host)).then(
        (server) => {
          renewed.set(message.host, server);
          process.send!({ type: 'started', host: message.host });
        },
        (err: Error) => process.send!({ type: 'error', message: err.message }),
      );
      break;
    case 'stop':
      halt(old.get(message.host));
      old.delete(message.host);
      process.send!({ type: 'stopped', host: message.host });
      break;
    case 'quit':
      process.exit(0);
  }
});
