import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, chmodSync, copyFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { waitFor } from './ports.js';

const run = promisify(execFile);

/** Every container, network and image a test makes carries this label. */
export const TEST_LABEL = 'beacon.test';
/** ...and this one, so a run removes only what it made itself. */
export const RUN_LABEL = 'beacon.test.run';
export const RUN_ID = randomBytes(4).toString('hex');
export const TEST_IMAGE = 'beacon-test/busybox:latest';

export const docker = new Docker({ socketPath: process.env.BEACON_TEST_DOCKER_SOCKET ?? '/var/run/docker.sock' });

/** Waits for dockerd, starting it (loopback-published ports) when it is not running. */
export async function ensureDocker(): Promise<void> {
  if (await docker.ping().then(() => true, () => false)) return;
  const log = join(tmpdir(), 'beacon-dockerd.log');
  const child = spawn('sh', ['-c', `setsid dockerd --ip 127.0.0.1 >${log} 2>&1 &`], { stdio: 'ignore' });
  await new Promise((resolve) => child.on('exit', resolve));
  await waitFor(() => docker.ping().then(() => true), 30_000, `dockerd (log: ${log})`, 200);
}

/**
 * Imports `beacon-test/busybox` from the host's busybox-static when missing: a
 * tiny web server whose index page is its container name, with /health.
 * SIGTERM waits DRAIN seconds before stopping httpd, as a graceful app would.
 */
export async function ensureTestImage(): Promise<string> {
  await ensureDocker();
  const images = await docker.listImages({ filters: { reference: [TEST_IMAGE] } });
  if (images.length > 0) return TEST_IMAGE;
  const root = mkdtempSync(join(tmpdir(), 'beacon-rootfs-'));
  try {
    for (const dir of ['bin', 'www', 'tmp', 'etc']) mkdirSync(join(root, dir));
    copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
    for (const applet of ['sh', 'httpd', 'nc', 'sleep', 'cat', 'echo', 'hostname', 'ls', 'mkdir', 'rm', 'kill', 'sha1sum', 'true', 'false']) {
      symlinkSync('busybox', join(root, 'bin', applet));
    }
    writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
    writeFileSync(
      join(root, 'bin/serve'),
      [
        '#!/bin/sh',
        '# index page = this container\'s name (NAME or hostname); /health answers "ok"',
        'echo "${NAME:-$(hostname)}" > /www/index.html',
        'echo ok > /www/health',
        'httpd -f -p "${PORT:-80}" -h /www &',
        'pid=$!',
        "trap 'sleep ${DRAIN:-0}; kill $pid' TERM INT",
        'wait $pid; wait $pid',
        '',
      ].join('\n'),
    );
    chmodSync(join(root, 'bin/serve'), 0o755);
    await run('sh', [
      '-c',
      `tar -C ${root} -c . | docker import --change 'CMD ["/bin/serve"]' --change 'EXPOSE 80' --change 'LABEL ${TEST_LABEL}=1' - ${TEST_IMAGE}`,
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return TEST_IMAGE;
}

export interface TestContainerOptions {
  name?: string;
  image?: string;
  labels?: Record<string, string>;
  env?: Record<string, string>;
  /** Container ports to publish on 127.0.0.1: `80` for a random host port, `18001:80` (host:container, as docker -p) for a fixed one. */
  publish?: Array<number | string>;
  cmd?: string[];
  healthcheck?: { test: string[]; intervalMs: number; retries?: number };
  start?: boolean;
}

/** Creates (and by default starts) a labelled test container. */
export async function runContainer(options: TestContainerOptions = {}): Promise<Docker.Container> {
  const exposed: Record<string, object> = {};
  const bindings: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const spec of options.publish ?? []) {
    const [container, host] = String(spec).split(':').reverse() as [string, string | undefined];
    exposed[`${container}/tcp`] = {};
    bindings[`${container}/tcp`] = [{ HostIp: '127.0.0.1', HostPort: host ?? '' }];
  }
  const container = await docker.createContainer({
    Image: options.image ?? TEST_IMAGE,
    ...(options.name ? { name: options.name } : {}),
    ...(options.cmd ? { Cmd: options.cmd } : {}),
    Labels: { [TEST_LABEL]: '1', [RUN_LABEL]: RUN_ID, ...options.labels },
    Env: Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`),
    ExposedPorts: exposed,
    ...(options.healthcheck
      ? {
          Healthcheck: {
            Test: options.healthcheck.test,
            Interval: options.healthcheck.intervalMs * 1e6,
            Timeout: 1e9,
            Retries: options.healthcheck.retries ?? 1,
          },
        }
      : {}),
    HostConfig: { PortBindings: bindings },
  });
  if (options.start !== false) await container.start();
  return container;
}

/** The host port Docker bound for a container port. */
export async function hostPortOf(container: Docker.Container, port = 80): Promise<number> {
  const info = await container.inspect();
  const binding = info.NetworkSettings.Ports[`${port}/tcp`]?.[0];
  if (!binding) throw new Error(`container ${info.Name} has no binding for ${port}/tcp`);
  return Number(binding.HostPort);
}

/** Removes every container this test run created (by its run label). */
export async function removeTestContainers(): Promise<void> {
  const containers = await docker.listContainers({ all: true, filters: { label: [`${RUN_LABEL}=${RUN_ID}`] } });
  await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
}

/** True when this machine can run the Docker tests at all. */
export function dockerAvailable(): boolean {
  return existsSync('/var/run/docker.sock') || !!process.env.BEACON_TEST_DOCKER_SOCKET;
}
