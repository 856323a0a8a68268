/**
 * What the benches that run the whole chain (bench/chain.ts, bench/burst.ts)
 * share: lbsync's config for one service behind a test nginx, and Docker's
 * container events as an emitter.
 */
import { EventEmitter } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LineSplitter } from '../sidekicks/line-splitter.js';
import { docker, type TestNginx } from '../test/harness/index.js';

/** Writes lbsync's config: only `service`, served by `nginx` on 127.0.0.1:`port` at `/`, in nginx `mode`. Returns its path. */
export function writeLbsyncConfig(nginx: TestNginx, service: string, port: number, mode: 'reload' | 'dynamic' = 'reload'): string {
  const config = join(nginx.prefix, 'lbsync.yaml');
  writeFileSync(
    config,
    [
      `nginx-conf: ${join(nginx.confDir, 'conf.d', 'beacon.conf')}`,
      `nginx-test: ${nginx.command('-t')}`,
      `nginx-reload: ${nginx.command('-s', 'reload')}`,
      `nginx-mode: ${mode}`,
      `services: ${service}`,
      'upstreams:',
      `  ${service}:`,
      `    servers: [{ listen: "127.0.0.1:${port}", location: / }]`,
      '',
    ].join('\n'),
  );
  return config;
}

/** Docker's events for containers labelled `label`=1, each parsed and emitted as 'event'. */
export async function containerEvents(label: string): Promise<{ bus: EventEmitter; close: () => void }> {
  const stream = (await docker.getEvents({ filters: { type: ['container'], label: [`${label}=1`] } })) as unknown as NodeJS.ReadableStream & { destroy?: () => void };
  const bus = new EventEmitter();
  const lines = new LineSplitter();
  stream.on('data', (chunk: Buffer) => {
    for (const line of lines.push(chunk)) bus.emit('event', JSON.parse(line));
  });
  return { bus, close: () => stream.destroy?.() };
}
