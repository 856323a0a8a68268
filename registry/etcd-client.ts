import { readFileSync } from 'node:fs';
import { Etcd3, isRecoverableError, type IOptions } from 'etcd3';
import { circuitBreaker, ConsecutiveBreaker, handleWhen, retry } from 'cockatiel';
import { ValidationError } from './errors.js';

/** How to reach etcd: endpoints, optional TLS and optional user/password auth. */
export interface EtcdConnection {
  /** Endpoint URLs, e.g. `http://127.0.0.1:2379`. */
  endpoints: string[];
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  user?: string;
  /** Never logged; from BEACON_ETCD_PASSWORD. */
  password?: string;
  /** Per-call deadline for unary calls. */
  callTimeoutMs?: number;
}

/** Parses `--etcd` (comma-separated URLs) into endpoint URLs, refusing anything that is not http(s)://host:port. */
export function parseEndpoints(text: string): string[] {
  const endpoints = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (endpoints.length === 0) throw new ValidationError('--etcd', 'needs at least one URL such as http://127.0.0.1:2379', text);
  for (const endpoint of endpoints) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw new ValidationError('--etcd', 'each endpoint must be a URL such as http://127.0.0.1:2379', endpoint);
    }
    if (!['http:', 'https:'].includes(url.protocol) || !url.port) {
      throw new ValidationError('--etcd', 'each endpoint must be http(s)://host:port', endpoint);
    }
  }
  return endpoints;
}

// grpc-js waits up to two minutes between reconnect attempts by default; a
// sidekick must be back within a second of etcd returning.
const GRPC_OPTIONS = {
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.min_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 500,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  // gRPC refuses responses over 4 MiB by default: a sidekick's full listing
  // of a 20,000-record fleet is 4.4 MB. listPrefix pages stay well under this.
  'grpc.max_receive_message_length': 64 * 2 ** 20,
};

/** Builds an etcd3 client tuned for fast recovery. The caller closes it. */
export function createEtcdClient(conn: EtcdConnection): Etcd3 {
  const options: IOptions = {
    hosts: conn.endpoints.map((e) => e.replace(/^https?:\/\//, '')),
    grpcOptions: GRPC_OPTIONS,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + (conn.callTimeoutMs ?? 5000) }),
    faultHandling: {
      // Skip a dead member of a cluster for a moment, but try it again soon.
      host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 500, breaker: new ConsecutiveBreaker(3) }),
      global: retry(handleWhen(isRecoverableError), { maxAttempts: Math.max(1, conn.endpoints.length - 1) }),
    },
  };
  if (conn.caFile || conn.endpoints.some((e) => e.startsWith('https:'))) {
    if (!conn.caFile) throw new ValidationError('--etcd-ca', 'is required for https:// endpoints');
    options.credentials = {
      rootCertificate: readFileSync(conn.caFile),
      ...(conn.keyFile ? { privateKey: readFileSync(conn.keyFile) } : {}),
      ...(conn.certFile ? { certChain: readFileSync(conn.certFile) } : {}),
    };
  }
  if (conn.user) {
    if (conn.password === undefined) throw new ValidationError('BEACON_ETCD_PASSWORD', `must be set when --etcd-user is given`);
    options.auth = { username: conn.user, password: conn.password };
  }
  return new Etcd3(options);
}
