import { EventEmitter } from 'node:events';
import type { ContainerFacts } from '../../../sidekicks/index.js';

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

