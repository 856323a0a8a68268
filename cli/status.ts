import { Command, Option } from 'commander';
import { DEFAULT_STATUS_PORT, STATUS_VERSION, summarise, type ServiceSummary, type StatusDocument } from '../lbsync/status/index.js';
import { durationArg, EXIT, runCommand, UsageError } from './common.js';
import { formatAge, renderTable } from './table.js';

interface StatusFlags {
  lbsync: string;
  json?: boolean;
  timeout: number;
}

/** `host:port` or a URL → the URL of lbsync's `/status.json`. */
function statusUrl(base: string): URL {
  let url: URL;
  try {
    url = new URL(/^[a-z]+:\/\//i.test(base) ? base : `http://${base}`);
  } catch {
    throw new UsageError(`--lbsync must be a URL such as http://127.0.0.1:${DEFAULT_STATUS_PORT}, got ${JSON.stringify(base)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--lbsync must be an http:// or https:// URL, got ${url.protocol}`);
  return new URL('/status.json', url);
}

async function fetchStatus(url: URL, timeoutMs: number): Promise<StatusDocument> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
  } catch (err) {
    // fetch wraps the socket error (sometimes an AggregateError of one per address) in `cause`.
    const c = (err as { cause?: { code?: string; message?: string; errors?: Array<{ code?: string }> } }).cause;
    const cause = c?.code ?? c?.errors?.[0]?.code ?? c?.message ?? (err as Error).message;
    throw new Error(`cannot reach lbsync's status at ${url} (${cause}); is \`beacon lbsync --status-port ${url.port || DEFAULT_STATUS_PORT}\` running?`);
  }
  if (!res.ok) throw new Error(`lbsync's status at ${url} answered HTTP ${res.status}`);
  const doc = (await res.json()) as StatusDocument;
  if (doc?.version !== STATUS_VERSION || !Array.isArray(doc.services)) throw new Error(`${url} is not a beacon status document (version ${STATUS_VERSION})`);
  return doc;
}

function endpointsText(s: ServiceSummary): string {
  const parts = [];
  if (s.passing) parts.push(`${s.passing} passing`);
  if (s.failing) parts.push(`${s.failing} failing`);
  if (s.unknown) parts.push(`${s.unknown} unknown`);
  return parts.join(', ') || 'none';
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The table `beacon status` prints: one row per service across the whole chain. */
export function statusTable(doc: StatusDocument, rows: ServiceSummary[], now = Date.now()): string {
  const header = ['SERVICE', 'ENDPOINTS', ...(doc.nginx ? ['NGINX'] : []), ...(doc.elbv2 ? ['ELBV2'] : []), 'LAST CHANGE', 'STATE'];
  const body = rows.map((s) => [
    s.service,
    endpointsText(s),
    ...(doc.nginx ? [s.nginx === null ? '-' : plural(s.nginx, 'server')] : []),
    ...(doc.elbv2 ? [s.elbv2 === null ? (doc.services.find((x) => x.service === s.service)?.elbv2 ? 'standby' : '-') : plural(s.elbv2, 'target')] : []),
    `${formatAge(s.lastChange, now)} ago`,
    !s.ok ? (s.failOpen ? 'DOWN (fail-open)' : 'DOWN') : s.failing ? 'degraded' : 'ok',
  ]);
  return rows.length ? renderTable(header, body) : 'no services\n';
}

/** `beacon status`: one table across all services, read from a running lbsync. */
export function statusCommand(): Command {
  return new Command('status')
    .description('show every service across the chain (endpoints and health, nginx, ELBv2) from a running lbsync; exits 1 when a service has no passing endpoint')
    .addOption(
      new Option('--lbsync <url>', `where lbsync serves its status (beacon lbsync --status-port)`).env('BEACON_LBSYNC_URL').default(`http://127.0.0.1:${DEFAULT_STATUS_PORT}`),
    )
    .option('--json', 'print the rows as JSON instead of a table')
    .option('--timeout <duration>', 'how long to wait for lbsync', durationArg('--timeout'), 5000)
    .addHelpText(
      'after',
      `
Columns: ENDPOINTS counts endpoints by health state; NGINX is the number of
servers in the upstream nginx last accepted; ELBV2 the registered targets of
the service's target group ("standby" on an lbsync replica that does not
write); LAST CHANGE is when endpoints, health or routing last changed.

Exit codes: 0 every service has a passing endpoint (with --health off: at
least one endpoint), 1 some service has none or lbsync cannot be reached,
2 bad usage.

Examples:
  $ beacon status
  $ beacon status --lbsync http://10.0.0.5:${DEFAULT_STATUS_PORT} --json
  $ beacon status >/dev/null || echo "a service is down"`,
    )
    .action((flags: StatusFlags) =>
      runCommand(async () => {
        const url = statusUrl(flags.lbsync);
        const doc = await fetchStatus(url, flags.timeout);
        const rows = summarise(doc);
        const down = rows.filter((r) => !r.ok).map((r) => r.service);
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ source: url.toString(), generatedAt: doc.generatedAt, healthChecks: doc.healthChecks, services: rows, down }, null, 2)}\n`);
        } else {
          process.stdout.write(statusTable(doc, rows));
          // Dynamic nginx mode: the version nginx confirmed holding, read back after lbsync's last push.
          if (doc.nginx?.dynamicVersion !== undefined) process.stdout.write(`\nnginx (dynamic mode) confirmed endpoint-set version ${doc.nginx.dynamicVersion}\n`);
          if (down.length) process.stdout.write(`\n${plural(down.length, 'service')} with no passing endpoint: ${down.join(', ')}\n`);
        }
        return down.length ? EXIT.failure : EXIT.ok;
      }),
    );
}
