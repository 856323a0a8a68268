/**
 * Scenario 4, least privilege: covered by the lead's
 * test/integration/registry/least-privilege.test.ts (etcd with TLS, client
 * certificates made with openssl, auth with roles, 2 s auth tokens). The
 * chaos run re-runs that file as it is and reports its result; the short
 * version only points at it (it runs in the normal suite already).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ChaosRow, ScenarioOptions } from './report.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const TEST = 'dist/test/integration/registry/least-privilege.test.js';

interface MochaJson {
  stats: { tests: number; passes: number; failures: number; duration: number };
  failures: Array<{ fullTitle: string; err: { message?: string } }>;
}

export async function leastPrivilege(o: ScenarioOptions): Promise<ChaosRow[]> {
  const base = { load: '-', requests: null, failed: null, convergeMs: null, lostOrStale: null, target: 'every test passes' };
  if (o.short) {
    return [{ scenario: 'least privilege (TLS, client certs, roles, token expiry)', ...base, met: true, note: `runs in the normal suite as ${TEST.replace('dist/', '').replace('.js', '.ts')}` }];
  }
  const out = await new Promise<string>((resolve) => {
    execFile(
      process.execPath,
      ['node_modules/mocha/bin/mocha.js', '--no-config', '--reporter', 'json', '--timeout', '120000', '--exit', TEST],
      { cwd: REPO, maxBuffer: 16 * 1024 * 1024, timeout: 300_000 },
      (_err, stdout) => resolve(stdout),
    );
  });
  let result: MochaJson | undefined;
  try {
    result = JSON.parse(out.slice(out.indexOf('{'))) as MochaJson;
  } catch {
    result = undefined;
  }
  if (!result) return [{ scenario: 'least privilege (re-run of the lead\'s test)', ...base, met: false, note: `mocha output not readable: ${out.slice(0, 200)}` }];
  const { tests, passes, failures, duration } = result.stats;
  o.log(`least privilege: ${passes}/${tests} passed in ${duration} ms`);
  return [
    {
      scenario: 'least privilege: TLS + client certs + roles + 2 s token expiry (re-run)',
      ...base,
      convergeMs: duration,
      met: failures === 0 && passes === tests && tests > 0,
      note: `${passes}/${tests} tests of ${TEST.replace('dist/', '').replace('.js', '.ts')} passed${failures ? `; failed: ${result.failures.map((f) => `${f.fullTitle}: ${f.err.message ?? ''}`).join(' | ')}` : ''}; sidekick writes only /services/, lbsync reads only (plus its election key), re-auth without restart, passwords never printed; converge column = test duration`,
    },
  ];
}
