import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import { dockerAvailable, ensureTestImage, removeTestContainers, RUN_ID, RUN_LABEL, startBeacon, TestEtcd, waitFor, type Started } from '../../harness/index.js';
import type { ServiceRecord } from '../../../registry/index.js';

/** A per-file scratch directory for sidekick logs. */
export const LOG_DIR = mkdtempSync(join(tmpdir(), 'beacon-sidekick-test-'));

/** A node name of our own, so startup cleanup never touches another test's records. */
export function uniqueNode(): string {
  return `n-${randomBytes(3).toString('hex')}`;
}

/** A service name of our own. */
export function uniqueName(base: string): string {
  return `${base}-${randomBytes(3).toString('hex')}`;
}

export interface SidekickProcess extends Started {
  log: string;
  node: string;
  /** The JSON log lines so far. */
  lines(): Array<Record<string, unknown>>;
}

/**
 * Starts the compiled `beacon sidekick docker`, seeing only this run's
 * containers (label filter), publishing loopback ports on 127.0.0.1.
 */
export function startDockerSidekick(etcd: Pick<TestEtcd, 'url'>, extra: string[] = [], node = uniqueNode()): SidekickProcess {
  const log = join(LOG_DIR, `sidekick-${node}-${Date.now()}.log`);
  const args = ['sidekick', 'docker', '--etcd', etcd.url, '--node', node, '--ttl', '2s', '--advertise-ip', '127.0.0.1', '--label-filter', `${RUN_LABEL}=${RUN_ID}`, ...extra];
  const proc = startBeacon(args, log);
  return { ...proc, log, node, lines: () => readLines(log) };
}

export function readLines(file: string): Array<Record<string, unknown>> {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Every canonical record under /services, by key. */
export async function records(client: Etcd3, prefix = '/services'): Promise<Map<string, ServiceRecord>> {
  const kvs = await client.getAll().prefix(`${prefix}/`).strings();
  const out = new Map<string, ServiceRecord>();
  for (const [key, value] of Object.entries(kvs)) {
    try {
      out.set(key, JSON.parse(value) as ServiceRecord);
    } catch {
      // flat/single values are checked by their own tests
    }
  }
  return out;
}

/** The records of one node. */
export async function nodeRecords(client: Etcd3, node: string): Promise<ServiceRecord[]> {
  return [...(await records(client)).values()].filter((r) => r.node === node);
}

/** Waits until the node's records satisfy `check`, returning them. */
export async function waitForNode(client: Etcd3, node: string, check: (rs: ServiceRecord[]) => boolean, what: string, timeoutMs = 15_000): Promise<ServiceRecord[]> {
  let last: ServiceRecord[] = [];
  try {
    return await waitFor(async () => {
      last = await nodeRecords(client, node);
      return check(last) ? last : undefined;
    }, timeoutMs, what, 50);
  } catch (err) {
    throw new Error(`${(err as Error).message}; last seen: ${JSON.stringify(last.map((r) => `${r.service}/${r.instance} ${r.host}:${r.port}`))}`);
  }
}

/** Waits for a log line matching `pred`. */
export function waitForLog(proc: SidekickProcess, pred: (line: Record<string, unknown>) => boolean, what: string, timeoutMs = 15_000) {
  return waitFor(() => proc.lines().find(pred), timeoutMs, `log line: ${what} (log: ${proc.log})`, 50);
}

/** What a suite made by sidekickSuite() gives its tests. */
export interface SidekickSuite {
  readonly etcd: TestEtcd;
  /** An etcd client for assertions. */
  readonly client: Etcd3;
  /** Starts `beacon sidekick docker` against the suite's etcd, killed after the test. */
  sidekick(extra?: string[]): SidekickProcess;
  /** Kills this process after the test (SIGKILL by pid). */
  track<T extends Started>(proc: T): T;
}

/**
 * The mocha hooks of a suite against the real dockerd and a fresh etcd: skips
 * without Docker; after each test kills the processes it started and removes
 * its containers; after all stops etcd. Call inside `describe`.
 */
export function sidekickSuite(): SidekickSuite {
  let etcd: TestEtcd | undefined;
  let client: Etcd3 | undefined;
  const running: Started[] = [];
  before(async function () {
    if (!dockerAvailable()) this.skip();
    await ensureTestImage();
    etcd = await new TestEtcd().start();
    client = etcd.client();
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((p) => p.stop('SIGKILL')));
    await removeTestContainers();
  });
  after(async () => {
    client?.close();
    await etcd?.destroy();
  });
  const track = <T extends Started>(proc: T): T => {
    running.push(proc);
    return proc;
  };
  return {
    get etcd() {
      return etcd!;
    },
    get client() {
      return client!;
    },
    sidekick: (extra = []) => track(startDockerSidekick(etcd!, extra)),
    track,
  };
}

