import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { docker, ensureDocker, TEST_LABEL } from './docker.js';

const run = promisify(execFile);

/** The repository root (tests run from dist/test/harness). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * A Node 24 base image made without a registry: the project's own Node binary,
 * busybox, nginx and the libraries they link, as `node:24-bookworm-slim` would
 * provide them (node on PATH, user `node` uid 1000, and an nginx so that the
 * lbsync Dockerfile's `command -v nginx ||` skips apt).
 */
export const NODE_BASE_IMAGE = 'beacon-test/node-base:24';
/** etcd (and etcdctl) from the host's packages, for the swarm stack's etcd service. */
export const ETCD_TEST_IMAGE = 'beacon-test/etcd:latest';
/** Where the tests tag the images they build, so `beacon/*` stays the user's. */
export const TEST_IMAGE_REPO = 'beacon-test';

/** Bumped whenever the recipe below changes, so an old base is rebuilt. */
const RECIPE = 'node-base v4: node, busybox applets, nginx + mime.types + Lua module, passwd/group, ca-certificates, nsswitch';
const RECIPE_LABEL = 'beacon.test.recipe';
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const BUSYBOX_APPLETS = [
  'sh', 'ash', 'ls', 'cat', 'echo', 'printf', 'mkdir', 'rmdir', 'rm', 'cp', 'mv', 'ln', 'chmod', 'chown', 'id', 'env',
  'sleep', 'kill', 'ps', 'grep', 'sed', 'awk', 'head', 'tail', 'wc', 'test', '[', 'true', 'false', 'nc', 'hostname',
  'stat', 'du', 'find', 'sort', 'uniq', 'cut', 'tr', 'date', 'touch', 'which', 'xargs', 'tee', 'readlink', 'basename',
  'dirname', 'uname', 'whoami', 'pidof', 'tar', 'gzip',
];

/** The real path of the Node 24 binary the project installed (node_modules/.bin/node → node/bin/node). */
export function projectNodeBinary(): string {
  return realpathSync(join(REPO_ROOT, 'node_modules/.bin/node'));
}

/** The shared libraries a binary loads, as ldd lists them (absolute paths, dynamic loader included). */
export async function sharedLibraries(binary: string): Promise<string[]> {
  const { stdout } = await run('ldd', [binary]).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  const libs = new Set<string>();
  for (const line of stdout.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.add(m[1]!);
  }
  return [...libs];
}

/**
 * Writes a file into the root filesystem at its absolute path, following
 * merged /usr: /lib, /lib64, /bin and /sbin are symlinks to /usr/* in the image.
 */
function place(root: string, path: string): string {
  const inUsr = /^\/(lib|lib64|bin|sbin)\//.test(path) ? `/usr${path}` : path;
  const target = join(root, inUsr);
  mkdirSync(dirname(target), { recursive: true });
  return target;
}

async function copyWithLibraries(root: string, binary: string, at: string): Promise<void> {
  copyFileSync(binary, place(root, at));
  chmodSync(place(root, at), 0o755);
  for (const lib of await sharedLibraries(binary)) {
    const target = place(root, lib);
    if (!existsSync(target)) copyFileSync(realpathSync(lib), target);
  }
}

/** A minimal merged-/usr tree with /etc basics, busybox and users root + node (1000). */
function skeleton(root: string): void {
  for (const dir of ['usr/bin', 'usr/sbin', 'usr/lib', 'usr/lib64', 'usr/local/bin', 'etc/ssl/certs', 'var/lib', 'var/log', 'home/node', 'root', 'proc', 'sys', 'dev']) {
    mkdirSync(join(root, dir), { recursive: true });
  }
  for (const link of ['bin', 'sbin', 'lib', 'lib64']) symlinkSync(`usr/${link}`, join(root, link));
  mkdirSync(join(root, 'tmp'));
  chmodSync(join(root, 'tmp'), 0o1777);
  copyFileSync('/bin/busybox', join(root, 'usr/bin/busybox'));
  chmodSync(join(root, 'usr/bin/busybox'), 0o755);
  for (const applet of BUSYBOX_APPLETS) symlinkSync('busybox', join(root, 'usr/bin', applet));
  writeFileSync(
    join(root, 'etc/passwd'),
    'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
  );
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\nnode:x:1000:\nnogroup:x:65534:\n');
  writeFileSync(join(root, 'etc/nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n');
  if (existsSync('/etc/ssl/certs/ca-certificates.crt')) copyFileSync('/etc/ssl/certs/ca-certificates.crt', join(root, 'etc/ssl/certs/ca-certificates.crt'));
}

async function importRootfs(root: string, image: string, changes: string[]): Promise<void> {
  const args = ['import', ...changes.flatMap((c) => ['--change', c]), '-', image];
  await new Promise<void>((resolve, reject) => {
    const tar = spawn('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', root, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const imp = spawn('docker', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    imp.stderr!.on('data', (d) => (err += d));
    tar.stdout!.pipe(imp.stdin!);
    imp.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`docker import ${image} failed (${code}): ${err}`))));
    tar.on('error', reject);
    imp.on('error', reject);
  });
}

/** The recipe label of an existing image, or undefined when it is missing. */
async function recipeOf(image: string): Promise<string | undefined> {
  try {
    const info = await docker.getImage(image).inspect();
    return info.Config?.Labels?.[RECIPE_LABEL] ?? '';
  } catch {
    return undefined;
  }
}

function fingerprint(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 16);
}

/**
 * Makes `beacon-test/node-base:24` by `docker import` of a root filesystem
 * (about 2 s) unless an image from the same recipe and the same Node binary
 * exists. Labelled beacon.test=1 (images built on it inherit the label).
 */
export async function ensureNodeBaseImage(): Promise<string> {
  await ensureDocker();
  const node = projectNodeBinary();
  const nodeVersion = (await run(node, ['--version'])).stdout.trim();
  const nginx = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : undefined;
  const key = fingerprint(RECIPE, node, nodeVersion, nginx ?? 'no-nginx');
  if ((await recipeOf(NODE_BASE_IMAGE)) === key) return NODE_BASE_IMAGE;
  const root = mkdtempSync(join(tmpdir(), 'beacon-node-base-'));
  try {
    skeleton(root);
    await copyWithLibraries(root, node, '/usr/local/bin/node');
    if (nginx) {
      await copyWithLibraries(root, nginx, '/usr/sbin/nginx');
      mkdirSync(join(root, 'etc/nginx'), { recursive: true });
      if (existsSync('/etc/nginx/mime.types')) copyFileSync('/etc/nginx/mime.types', join(root, 'etc/nginx/mime.types'));
      for (const dir of ['var/lib/nginx', 'var/log/nginx']) mkdirSync(join(root, dir), { recursive: true });
      // The Lua module and lua-resty-core, as libnginx-mod-http-lua installs them (lbsync's dynamic mode).
      const modules = '/usr/lib/nginx/modules';
      if (existsSync(`${modules}/ngx_http_lua_module.so`)) {
        mkdirSync(join(root, modules), { recursive: true });
        for (const so of ['ndk_http_module.so', 'ngx_http_lua_module.so']) await copyWithLibraries(root, `${modules}/${so}`, `${modules}/${so}`);
        cpSync('/usr/share/lua/5.1', join(root, 'usr/share/lua/5.1'), { recursive: true, dereference: true });
      }
    }
    await importRootfs(root, NODE_BASE_IMAGE, [
      `ENV ${PATH_ENV}`,
      'ENV NODE_VERSION=' + nodeVersion.replace(/^v/, ''),
      `LABEL ${TEST_LABEL}=1`,
      `LABEL ${RECIPE_LABEL}=${key}`,
      'CMD ["node"]',
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return NODE_BASE_IMAGE;
}

/** Makes `beacon-test/etcd` from the host's etcd (and etcdctl) with their libraries; CMD is etcd, as quay.io/coreos/etcd. */
export async function ensureEtcdImage(): Promise<string> {
  await ensureDocker();
  const etcd = '/usr/bin/etcd';
  const etcdctl = existsSync('/usr/bin/etcdctl') ? '/usr/bin/etcdctl' : undefined;
  const key = fingerprint('etcd v1', readFileSync(etcd).length.toString(), (await run(etcd, ['--version'])).stdout);
  if ((await recipeOf(ETCD_TEST_IMAGE)) === key) return ETCD_TEST_IMAGE;
  const root = mkdtempSync(join(tmpdir(), 'beacon-etcd-image-'));
  try {
    skeleton(root);
    await copyWithLibraries(root, etcd, '/usr/local/bin/etcd');
    if (etcdctl) await copyWithLibraries(root, etcdctl, '/usr/local/bin/etcdctl');
    mkdirSync(join(root, 'var/lib/etcd'), { recursive: true });
    await importRootfs(root, ETCD_TEST_IMAGE, [
      `ENV ${PATH_ENV}`,
      'ENV ETCDCTL_API=3',
      `LABEL ${TEST_LABEL}=1`,
      `LABEL ${RECIPE_LABEL}=${key}`,
      'EXPOSE 2379 2380',
      'CMD ["/usr/local/bin/etcd"]',
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return ETCD_TEST_IMAGE;
}

export interface BeaconImages {
  sidekick: string;
  lbsync: string;
  /** `scripts/build-images.sh`'s output: each image with its size. */
  report: string;
}

let built: Promise<BeaconImages> | undefined;

/**
 * Builds the sidekick and lbsync images from docker/*.Dockerfile with
 * scripts/build-images.sh on the local Node base, tagged
 * `beacon-test/{sidekick,lbsync}:<version>`. Once per test run (memoised);
 * the script itself skips a build whose context and base did not change.
 * Uses the dist/ the tests run from (--no-build).
 */
export function buildBeaconImages(): Promise<BeaconImages> {
  built ??= (async () => {
    const base = await ensureNodeBaseImage();
    const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    const { stdout } = await run('bash', [join(REPO_ROOT, 'scripts/build-images.sh'), '--base', base, '--repo', TEST_IMAGE_REPO, '--no-build'], {
      cwd: REPO_ROOT,
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, PATH: `${join(REPO_ROOT, 'node_modules/.bin')}:${process.env.PATH ?? ''}` },
    }).catch((err: Error & { stderr?: string }) => {
      throw new Error(`scripts/build-images.sh failed: ${err.message}\n${(err.stderr ?? '').split('\n').slice(-30).join('\n')}`);
    });
    return { sidekick: `${TEST_IMAGE_REPO}/sidekick:${version}`, lbsync: `${TEST_IMAGE_REPO}/lbsync:${version}`, report: stdout.trim() };
  })();
  built.catch(() => (built = undefined));
  return built;
}

/** Removes the images buildBeaconImages() tagged (all their tags) and their build stages, keeping the bases. */
export async function removeBeaconImages(): Promise<void> {
  const images = await docker.listImages({ filters: { reference: [`${TEST_IMAGE_REPO}/sidekick`, `${TEST_IMAGE_REPO}/lbsync`] } });
  for (const image of images) await docker.getImage(image.Id).remove({ force: true }).catch(() => undefined);
  // The legacy builder keeps each build's first stage as an untagged image; those
  // built on our base carry its recipe label.
  const stages = await docker.listImages({ filters: { dangling: ['true'], label: [RECIPE_LABEL] } });
  for (const image of stages) await docker.getImage(image.Id).remove().catch(() => undefined);
  built = undefined;
}
