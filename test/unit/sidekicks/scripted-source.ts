import { EventEmitter } from 'node:events';
import type { Etcd3 } from 'etcd3';
import { LeasePublisher } from '../../../registry/index.js';
import { DockerSidekick, type ContainerFacts, type DockerEvent, type DockerSidekickOptions, type DockerSource } from '../../../sidekicks/index.js';

/** Stands in for the Docker side only: containers come and go as the test says. */
export class ScriptedSource extends EventEmitter {
  readonly known = new Map<string, ContainerFacts>();
  size = 0;
  get(id: string) {
    return this.known.get(id);
  }
  startAndRetry = async () => undefined;
  resync = async () => undefined;
  stop = () => undefined;
}

/** A running container publishing port 80 as service `loop` (or `service`). */
export function facts(n: number, service = 'loop'): ContainerFacts {
  return {
    id: `c${n}`.padEnd(64, '0'),
    name: `app-${n}`,
    image: 'app',
    labels: { SERVICE_NAME: service },
    env: [],
    ports: [{ port: 80, proto: 'tcp', hostIp: '127.0.0.1', hostPort: 20000 + (n % 1000) }],
    exposed: [],
    running: true,
    paused: false,
    health: 'none',
  };
}

/** A Docker event for container `id`, stamped now. */
export const event = (id: string, action: string): DockerEvent => ({ id, action, timeNano: Date.now() * 1e6, attributes: {} });

/** A DockerSidekick in process: the real LeasePublisher on `client`, a scripted Docker side. */
export function scriptedSidekick(client: Etcd3, options: Partial<DockerSidekickOptions> = {}): { sidekick: DockerSidekick; source: ScriptedSource } {
  const source = new ScriptedSource();
  const sidekick = new DockerSidekick({
    source: source as unknown as DockerSource,
    publisher: new LeasePublisher({ client, prefix: '/services', ttlSeconds: 10, layout: 'json' }),
    client,
    prefix: '/services',
    layout: 'json',
    definition: { node: 'n1', hostAddress: '127.0.0.1' },
    ...options,
  });
  return { sidekick, source };
}

