import { readFileSync } from 'node:fs';
import Docker from 'dockerode';
import { ValidationError } from '../registry/index.js';

/** How to reach dockerd: a unix socket, or tcp with optional TLS files. */
export interface DockerConnection {
  /** `unix:///var/run/docker.sock`, a bare socket path, or `tcp://host:port`. */
  host: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

export const DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock';

/** Builds a dockerode client, refusing a host it cannot understand. */
export function createDockerClient(conn: DockerConnection): Docker {
  const host = conn.host.trim();
  if (host.startsWith('/') || host.startsWith('unix://')) {
    return new Docker({ socketPath: host.replace(/^unix:\/\//, '') });
  }
  const match = /^(tcp|https?):\/\/([^:/]+|\[[0-9a-fA-F:]+\]):(\d{1,5})\/?$/.exec(host);
  if (!match) throw new ValidationError('--docker-host', 'must be unix:///path/to/docker.sock, a socket path, or tcp://host:port', conn.host);
  const tls = !!(conn.tlsCa || conn.tlsCert || conn.tlsKey) || match[1] === 'https';
  if (tls && !(conn.tlsCa && conn.tlsCert && conn.tlsKey)) {
    throw new ValidationError('--docker-tls-ca/--docker-tls-cert/--docker-tls-key', 'TLS to dockerd needs all three files');
  }
  return new Docker({
    host: match[2]!.replace(/^\[|\]$/g, ''),
    port: Number(match[3]),
    protocol: tls ? 'https' : 'http',
    ...(tls ? { ca: readFileSync(conn.tlsCa!), cert: readFileSync(conn.tlsCert!), key: readFileSync(conn.tlsKey!) } : {}),
  });
}
