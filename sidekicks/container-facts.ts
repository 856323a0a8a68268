import type Docker from 'dockerode';

/** One container port, and where Docker published it on the host (if it did). */
export interface PortFacts {
  /** The container's (exposed) port. */
  port: number;
  proto: 'tcp' | 'udp';
  /** The binding's host address; `0.0.0.0`/`::`/empty mean every interface. */
  hostIp?: string;
  /** The host port, when published. */
  hostPort?: number;
}

/** Container health as Docker reports it; `none` when the image has no HEALTHCHECK. */
export type Health = 'none' | 'starting' | 'healthy' | 'unhealthy';

/**
 * What the sidekick needs to know about a container, reduced from
 * `docker inspect`: small enough to cache for every running container, so a
 * removal never needs another round trip to dockerd.
 */
export interface ContainerFacts {
  id: string;
  /** Name without Docker's leading `/`. */
  name: string;
  /** The image as the container was created from it (`Config.Image`). */
  image: string;
  labels: Record<string, string>;
  /** `KEY=VALUE` strings. */
  env: string[];
  /** Published ports, one entry per container port. */
  ports: PortFacts[];
  /** Exposed ports (for `--internal`). */
  exposed: PortFacts[];
  /** The container's address on its network, for `--internal`. */
  networkIp?: string;
  /** Runs in the host's network namespace (`--network host`): its exposed ports are the host's. */
  hostNetwork?: boolean;
  running: boolean;
  paused: boolean;
  health: Health;
  /** A stop signal (SIGTERM, SIGINT, SIGKILL) was sent: the process is shutting down. */
  stopping?: boolean;
  /** When the container last started (ISO 8601 UTC). */
  startedAt?: string;
}

/** Reduces `docker inspect` output to ContainerFacts. Pure. */
export function factsFromInspect(info: Docker.ContainerInspectInfo): ContainerFacts {
  const ports: PortFacts[] = [];
  const bindings = info.NetworkSettings?.Ports ?? {};
  for (const [key, list] of Object.entries(bindings)) {
    const spec = parsePortKey(key);
    if (!spec || !Array.isArray(list) || list.length === 0) continue;
    // Docker lists an IPv4 and an IPv6 binding for the same port; prefer IPv4.
    const binding = list.find((b) => b.HostIp && !b.HostIp.includes(':')) ?? list[0]!;
    const hostPort = Number(binding.HostPort);
    ports.push({ ...spec, ...(binding.HostIp ? { hostIp: binding.HostIp } : {}), ...(hostPort > 0 ? { hostPort } : {}) });
  }
  const exposedKeys = new Set([...Object.keys(info.Config?.ExposedPorts ?? {}), ...Object.keys(bindings)]);
  const exposed = [...exposedKeys].map(parsePortKey).filter((p): p is PortFacts => p !== undefined);
  const health = info.State?.Health?.Status;
  const facts: ContainerFacts = {
    id: info.Id,
    name: info.Name.replace(/^\//, ''),
    image: info.Config?.Image ?? '',
    labels: info.Config?.Labels ?? {},
    env: info.Config?.Env ?? [],
    ports: sortPorts(ports),
    exposed: sortPorts(exposed),
    running: !!info.State?.Running,
    paused: !!info.State?.Paused,
    health: health === 'starting' || health === 'healthy' || health === 'unhealthy' ? health : 'none',
  };
  const ip = networkIp(info);
  if (ip) facts.networkIp = ip;
  if (info.HostConfig?.NetworkMode === 'host') facts.hostNetwork = true;
  if (info.State?.StartedAt && !info.State.StartedAt.startsWith('0001-')) facts.startedAt = info.State.StartedAt;
  return facts;
}

/** `80/tcp` → { port: 80, proto: 'tcp' }; anything else (sctp) is skipped. */
export function parsePortKey(key: string): PortFacts | undefined {
  const match = /^(\d{1,5})\/(tcp|udp)$/.exec(key);
  if (!match) return undefined;
  return { port: Number(match[1]), proto: match[2] as 'tcp' | 'udp' };
}

function sortPorts(ports: PortFacts[]): PortFacts[] {
  return ports.sort((a, b) => a.port - b.port || a.proto.localeCompare(b.proto));
}

/**
 * The container's address for `--internal`: the default bridge address if it
 * has one, else the first user network by name, skipping swarm's ingress
 * (which no client should dial directly).
 */
function networkIp(info: Docker.ContainerInspectInfo): string | undefined {
  const settings = info.NetworkSettings;
  if (!settings) return undefined;
  // Older engines (20.10) still report the default bridge address at the top level.
  const legacy = (settings as { IPAddress?: string }).IPAddress;
  if (legacy) return legacy;
  const networks = Object.entries(settings.Networks ?? {})
    .filter(([name, n]) => name !== 'ingress' && n?.IPAddress)
    .sort(([a], [b]) => a.localeCompare(b));
  return networks[0]?.[1].IPAddress || undefined;
}

/** Whether a container should be visible: running, not paused, not stopping, and healthy if it has a HEALTHCHECK. */
export function isPublishable(facts: Pick<ContainerFacts, 'running' | 'paused' | 'health' | 'stopping'>, ignoreHealth = false): boolean {
  if (!facts.running || facts.paused || facts.stopping) return false;
  return ignoreHealth || facts.health === 'none' || facts.health === 'healthy';
}
