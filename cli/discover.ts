import { Command } from 'commander';
import { discover, ServiceWatch, validateServiceName, type ServiceRecord } from '../registry/index.js';
import { etcdContext, runCommand, stdoutClosed, withEtcdOptions, type EtcdOptions } from './common.js';
import { formatAge, renderTable } from './table.js';

interface DiscoverOptions extends EtcdOptions {
  json?: boolean;
  watch?: boolean;
}

/** `beacon discover SERVICE`: the endpoints of one service, once or live. */
export function discoverCommand(): Command {
  const cmd = new Command('discover')
    .description('list the endpoints of a service from etcd (all key layouts)')
    .argument('<service>', 'service name, e.g. web')
    .option('--json', 'print a JSON array of records instead of a table')
    .option('--watch', 'keep running and print the new set on every change (JSON: one array per line)')
    .addHelpText(
      'after',
      `
Examples:
  $ beacon discover web
  $ beacon discover web --json | jq -r '.[] | "\\(.host):\\(.port)"'
  $ BEACON_ETCD=http://10.0.0.5:2379 beacon discover mongodb --watch`,
    );
  withEtcdOptions(cmd).action((service: string, opts: DiscoverOptions) => {
    validateServiceName(service, 'SERVICE');
    const { log, prefix, client } = etcdContext(opts, 'discover');
    const readerGone = stdoutClosed();
    let reading = true;
    void readerGone.then(() => (reading = false));
    const print = (records: ServiceRecord[]) => {
      if (reading) process.stdout.write(opts.json ? formatJson(records, !!opts.watch) : formatTable(records));
    };
    return runCommand(async () => {
      if (!opts.watch) {
        const { records, problems } = await discover({ client, prefix }, service);
        for (const p of problems) log.warn({ key: p.key, reason: p.reason }, `skipped ${p.key}: ${p.reason}`);
        print(records);
        client.close();
        return;
      }
      const watch = new ServiceWatch({ client, prefix }, service);
      watch.on('problem', (p) => log.warn({ key: p.key, reason: p.reason }, `skipped ${p.key}: ${p.reason}`));
      watch.on('disconnected', (err) => log.warn({ err: err.message }, 'lost the etcd watch; reconnecting'));
      watch.on('update', (records) => {
        if (!opts.json && reading) process.stdout.write(`--- ${new Date().toISOString()} ${service}: ${records.length} endpoint(s)\n`);
        print(records);
      });
      await watch.start();
      // Until interrupted, or until the reader has seen enough (`| head`).
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
        void readerGone.then(resolve);
      });
      await watch.stop();
      client.close();
    }, log);
  });
  return cmd;
}

function formatJson(records: ServiceRecord[], oneLine: boolean): string {
  return (oneLine ? JSON.stringify(records) : JSON.stringify(records, null, 2)) + '\n';
}

function formatTable(records: ServiceRecord[]): string {
  if (records.length === 0) return 'no endpoints\n';
  return renderTable(
    ['INSTANCE', 'ADDRESS', 'NODE', 'TAGS', 'AGE'],
    records.map((r) => [r.instance, hostPort(r), r.node ?? '-', r.tags?.join(',') || '-', formatAge(r.since)]),
  );
}

/** `host:port`, with brackets around IPv6 literals. */
export function hostPort(r: Pick<ServiceRecord, 'host' | 'port'>): string {
  return r.host.includes(':') ? `[${r.host}]:${r.port}` : `${r.host}:${r.port}`;
}
