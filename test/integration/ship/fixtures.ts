import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { docker, REPO_ROOT, removeBeaconImages, RUN_ID, RUN_LABEL, TEST_LABEL } from '../../harness/index.js';

const exec = promisify(execFile);

export const LOG_DIR = join(REPO_ROOT, 'test-artifacts', 'ship');
mkdirSync(LOG_DIR, { recursive: true });

/** `docker ARGS…` with the given extra environment; rejects with docker's stderr. */
export async function dockerCli(args: string[], env: NodeJS.ProcessEnv = {}, timeout = 120_000): Promise<string> {
  try {
    const { stdout } = await exec('docker', args, { env: { ...process.env, ...env }, timeout, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`docker ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** The labels every container this suite starts carries (removed by removeTestContainers). */
export const LABEL_ARGS = ['--label', `${TEST_LABEL}=1`, '--label', `${RUN_LABEL}=${RUN_ID}`];

/** The group that owns the Docker socket, for `--group-add`. */
export async function dockerSocketGid(): Promise<string> {
  return (await exec('stat', ['-c', '%g', '/var/run/docker.sock'])).stdout.trim();
}

/**
 * Sends `count` GETs to `url` from inside `container` (with its own node, so
 * the traffic stays in that container's network namespace) and counts the
 * answers by body.
 */
export async function fetchFrom(container: string, url: string, count: number): Promise<Record<string, number>> {
  const script = `const seen = {};
for (let i = 0; i < ${count}; i++) {
  try { const r = await fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(3000) }); const t = (await r.text()).trim(); seen[r.status + ' ' + t] = (seen[r.status + ' ' + t] ?? 0) + 1; }
  catch (e) { seen['error ' + (e.cause?.code ?? e.message)] = (seen['error ' + (e.cause?.code ?? e.message)] ?? 0) + 1; }
}
console.log(JSON.stringify(seen));`;
  return JSON.parse(await dockerCli(['exec', container, 'node', '--input-type=module', '-e', script])) as Record<string, number>;
}

/** The bodies that answered 200, as a sorted list of names. */
export function answered(seen: Record<string, number>): string[] {
  return Object.keys(seen).filter((k) => k.startsWith('200 ')).map((k) => k.slice(4)).sort();
}

/** The docker health status of a container ("starting", "healthy", "unhealthy"). */
export async function healthOf(container: string): Promise<string | undefined> {
  const info = await docker.getContainer(container).inspect();
  return info.State.Health?.Status;
}

// The images this suite builds are removed after the whole run (they inherit
// beacon.test=1 from the local base); BEACON_TEST_KEEP_IMAGES=1 keeps them for
// a faster next run (the build is skipped when context and base are unchanged).
after(async function () {
  this.timeout(120_000);
  if (process.env.BEACON_TEST_KEEP_IMAGES === '1') return;
  await removeBeaconImages();
});
