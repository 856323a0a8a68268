import { Command } from 'commander';
import { discover } from '../registry/index.js';
import { etcdContext, runCommand, withEtcdOptions, type EtcdOptions } from './common.js';
import { renderTable } from './table.js';

/** `beacon services`: every service with its endpoint count. */
export function servicesCommand(): Command {
  const cmd = new Command('services')
    .description('list every service under the prefix with its endpoint count')
    .option('--json', 'print a JSON array of {service, endpoints}')
    .addHelpText('after', '\nExamples:\n  $ beacon services\n  $ beacon services --json --prefix /staging/services');
  withEtcdOptions(cmd).action((opts: EtcdOptions & { json?: boolean }) => {
    const { log, prefix, client } = etcdContext(opts, 'services');
    return runCommand(async () => {
      const { records, problems } = await discover({ client, prefix });
      client.close();
      for (const p of problems) log.warn({ key: p.key, reason: p.reason }, `skipped ${p.key}: ${p.reason}`);
      const counts = new Map<string, number>();
      for (const r of records) counts.set(r.service, (counts.get(r.service) ?? 0) + 1);
      const rows = [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([service, endpoints]) => ({ service, endpoints }));
      if (opts.json) process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
      else if (rows.length === 0) process.stdout.write('no services\n');
      else process.stdout.write(renderTable(['SERVICE', 'ENDPOINTS'], rows.map((r) => [r.service, String(r.endpoints)])));
    }, log);
  });
  return cmd;
}
