import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ServiceRecord } from '../../../registry/index.js';
import type { Endpoint, PoolView, ServicePool } from '../../../lbsync/index.js';

const GOLDEN = fileURLToPath(new URL('../../../../test/unit/lbsync/golden/', import.meta.url));

/** Compares with a golden file; `UPDATE_GOLDEN=1` rewrites it. */
export function golden(name: string, actual: string): void {
  const file = `${GOLDEN}${name}`;
  if (process.env.UPDATE_GOLDEN) writeFileSync(file, actual);
  assert.equal(actual, readFileSync(file, 'utf8'), `differs from golden file ${name} (UPDATE_GOLDEN=1 to accept)`);
}

export function rec(service: string, instance: string, host: string, port: number, meta?: Record<string, string>): ServiceRecord {
  return { service, instance, host, port, ...(meta ? { meta } : {}) };
}

export function pool(service: string, records: ServiceRecord[], opts: { failing?: string[]; failOpen?: boolean } = {}): ServicePool {
  const endpoints: Endpoint[] = records.map((record) => ({ record, health: opts.failing?.includes(record.instance) ? 'failing' : 'passing' }));
  const members = opts.failOpen ? records : records.filter((r) => !opts.failing?.includes(r.instance));
  return { service, endpoints, members, failOpen: !!opts.failOpen };
}

export function viewOf(...pools: ServicePool[]): PoolView {
  return { pools, revision: 42, stableForMs: 1000 };
}

