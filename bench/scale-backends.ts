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
 *
 * The ports are chosen here, by listening on port 0, and reported in
 * `ready`: a port picked elsewhere and bound later can be taken meanwhile
 * by another process on a busy machine.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEPLOYED, hostAddress, serviceName, type FleetPorts, type FleetShape } from './scale-plan.js';

export type BackendsCommand =
  | { type: 'init'; shape: FleetShape }
  | { type: 'start'; host: number }
  | { type: 'stop'; host: number }
  | { type: 'quit' };

const old = new Map<number, Server>();
const renewed = new Map<number, Server>();
let ports: FleetPorts;
/** The first host's new-version server, listening from the start to hold its port; no record names it before the deploy. */
let reserved: Server | undefined;

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

function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}

async function init(shape: FleetShape): Promise<void> {
  ports = { deployOld: 0, deployNew: 0, shared: [0] };
  for (let i = 1; i < shape.services; i++) ports.shared.push(portOf(await serve(serviceName(i), 'v1', 0, '0.0.0.0')));
  // The first host's servers pick the deployed service's two ports; every other host reuses them on its own address.
  const first = await serve(DEPLOYED, 'v1', 0, hostAddress(0));
  old.set(0, first);
  ports.deployOld = portOf(first);
  const next = await serve(DEPLOYED, 'v2', 0, hostAddress(0));
  reserved = next;
  ports.deployNew = portOf(next);
  for (let h = 1; h < shape.hosts; h++) old.set(h, await serve(DEPLOYED, 'v1', ports.deployOld, hostAddress(h)));
  process.send!({ type: 'ready', ports });
}

process.on('disconnect', () => process.exit(0));

process.on('message', (message: BackendsCommand) => {
  switch (message.type) {
    case 'init':
      init(message.shape).catch((err: Error) => process.send!({ type: 'error', message: err.message }));
      break;
    case 'start':
      (message.host === 0 && reserved ? Promise.resolve(reserved) : serve(DEPLOYED, 'v2', ports.deployNew, hostAddress(message.host))).then(
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
