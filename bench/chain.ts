/**
 * The headline figure of the whole chain: a container started → its first
 * request answered through nginx, with the sidekick, a health check and lbsync
 * in the path; and a container stopped gracefully (SIGTERM, the app drains for
 * 2 s) → nginx no longer sending to it, before the app exits.
 * Everything real: dockerd, etcd, nginx, the compiled `beacon` CLI as
 * separate processes, a busybox httpd per sample.
 *
 *   node dist/bench/chain.js [--samples 40] [--mode reload|dynamic|both]
 *
 * Both nginx modes by default, side by side: reload (every change reloads
 * nginx; a kept-alive client waits out the old workers) and dynamic (the
 * change is pushed into nginx's Lua balancer, no reload).
 *
 * Times start at Docker's own event time (`timeNano` of `start` / `kill`), as
 * docker-gen's figures do (p50 ~55 ms start → nginx reloaded, no health
 * check; ~133 ms after a container dies). Targets: start → answered p50 ≤ 40 ms, p95 ≤ 80 ms.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import {
  ensureTestImage,
  freePort,
  removeTestContainers,
  runContainer,
  startBeacon,
  TestEtcd,
  TestNginx,
  waitFor,
} from '../test/harness/index.js';
import { containerEvents, writeLbsyncConfig } from './chain-stack.js';
import { median, percentile, printFigures, r1, writeResults, type Figure } from './report.js';

const { values } = parseArgs({ options: { samples: { type: 'string', default: '40' }, mode: { type: 'string', default: 'both' } } });
const SAMPLES = Number(values.samples);
type Mode = 'reload' | 'dynamic';
const MODES: Mode[] = values.mode === 'reload' || values.mode === 'dynamic' ? [values.mode] : ['reload', 'dynamic'];
const LABEL = 'beacon.bench.chain';

const agent = new Agent({ keepAliveTimeout: 10_000, connections: 64, connect: { timeout: 250 } });

/** Wall-clock milliseconds with sub-millisecond precision, comparable with Docker's timeNano. */
function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/** One GET through nginx: the body when it answered 200, else the status. */
async function probe(url: string): Promise<{ status: number; body: string }> {
  try {
    const res = await request(url, { dispatcher: agent, headersTimeout: 250, bodyTimeout: 250 });
    return { status: res.statusCode, body: (await res.body.text()).trim() };
  } catch {
    return { status: 0, body: '' };
  }
}

/**
 * Launches a probe every 2 ms (each with its own short timeout, up to 32 at
 * once) until one sees `done`; resolves with the wall time of that answer.
 * Probing in parallel matters: a connection opened while the container's
 * network is still coming up can hang for hundreds of milliseconds, and a
 * serial prober stuck on it would report that instead of the first answer.
 */
function firstTime(url: string, done: (res: { status: number; body: string }) => boolean, timeoutMs = 10_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    let inFlight = 0;
    let finished = false;
    const timer = setInterval(() => {
      if (finished) return;
      if (Date.now() > deadline) {
        finished = true;
        clearInterval(timer);
        reject(new Error(`timed out after ${timeoutMs}ms probing ${url}`));
        return;
      }
      if (inFlight >= 32) return;
      inFlight++;
      void probe(url).then((res) => {
        inFlight--;
        if (!finished && done(res)) {
          finished = true;
          clearInterval(timer);
          resolve(wallNow());
        }
      });
    }, 2);
  });
}

/** Resolves with Docker's event time (ms, sub-ms precision) of the next `action` of container `id`. */
function nextEvent(events: NodeJS.EventEmitter, id: string, action: string): Promise<number> {
  return new Promise((resolve) => {
    const onEvent = (e: { id?: string; Action?: string; status?: string; timeNano?: number }) => {
      if (e.id === id && (e.Action ?? e.status) === action) {
        events.off('event', onEvent);
        resolve(Number(e.timeNano) / 1e6);
      }
    };
    events.on('event', onEvent);
  });
}

async function main(mode: Mode): Promise<{ figures: Figure[]; data: Record<string, unknown> }> {
  await ensureTestImage();
  const etcd = await new TestEtcd().start();
  const nginx = await new TestNginx({ lua: mode === 'dynamic' }).start();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const config = writeLbsyncConfig(nginx, 'chain', port, mode);
  const logs = nginx.prefix;
  const sidekick = startBeacon(['sidekick', 'docker', '--etcd', etcd.url, '--label-filter', `${LABEL}=1`, '--advertise-ip', '127.0.0.1', '--node', 'bench'], join(logs, 'sidekick.log'));
  const lbsync = startBeacon(['lbsync', '--etcd', etcd.url, '--config', config], join(logs, 'lbsync.log'));
  const { bus, close: closeEvents } = await containerEvents(LABEL);

  const startMs: number[] = [];
  const appMs: number[] = [];
  const goneMs: number[] = [];
  try {
    await waitFor(async () => (await probe(url)).status === 502, 20_000, 'lbsync to render the empty pool (502)');
    for (let i = 0; i < SAMPLES; i++) {
      const name = `chain-${i}-${process.pid}`;
      const hostPort = await freePort();
      const container = await runContainer({
        name,
        start: false,
        publish: [`${hostPort}:80`],
        env: { NAME: name, DRAIN: '2' },
        labels: { [LABEL]: '1', SERVICE_NAME: 'chain', SERVICE_CHECK_HTTP: '/health', SERVICE_CHECK_INTERVAL: '1s' },
      });
      // Probe from before the action: Docker's API answer and its event can
      // arrive after nginx has already changed, and must not inflate the figure.
      const started = nextEvent(bus, container.id, 'start');
      // The app's own start-up (sh, then httpd listening) bounds the chain from
      // below: probe it directly too, to show beacon's share of the time.
      // The direct probe starts at the start event, not before: connecting to a
      // container's address before its network is up leaves a failed ARP entry
      // that delays it by most of a second (nginx, fed by beacon, never does that).
      const answered = firstTime(url, (res) => res.body === name);
      const listening = started.then(() => firstTime(`http://127.0.0.1:${hostPort}/`, (res) => res.body === name));
      await container.start();
      const t0 = await started;
      startMs.push((await answered) - t0);
      appMs.push((await listening) - t0);
      // A graceful stop: SIGTERM, the app keeps answering for DRAIN seconds.
      // nginx must stop routing to it before it exits, counted from the signal.
      const signalled = nextEvent(bus, container.id, 'kill');
      const unrouted = firstTime(url, (res) => res.status !== 200);
      const stopping = container.stop({ t: 10 });
      goneMs.push((await unrouted) - (await signalled));
      await stopping;
      await container.remove({ force: true });
      process.stdout.write(`  sample ${i + 1}/${SAMPLES}: start → answered ${r1(startMs.at(-1)!)} ms (app itself listening ${r1(appMs.at(-1)!)} ms), SIGTERM → not routed ${r1(goneMs.at(-1)!)} ms\n`);
    }
  } catch (err) {
    const { readFileSync } = await import('node:fs');
    for (const log of ['lbsync.log', 'sidekick.log']) process.stderr.write(`--- ${log}\n${readFileSync(join(logs, log), 'utf8').split('\n').slice(-15).join('\n')}\n`);
    throw err;
  } finally {
    if (process.env.BENCH_LOGS) {
      const { readFileSync } = await import('node:fs');
      for (const log of ['lbsync.log', 'sidekick.log']) process.stderr.write(`--- ${log}\n${readFileSync(join(logs, log), 'utf8')}\n`);
    }
    closeEvents();
    await sidekick.stop();
    await lbsync.stop();
    await removeTestContainers();
    await nginx.destroy();
    await etcd.destroy();
  }

  const p50 = median(startMs);
  const p95 = percentile(startMs, 95);
  // Reload mode keeps the figure names of earlier runs; dynamic mode has its own, tighter targets.
  const tag = mode === 'dynamic' ? ' (nginx dynamic mode)' : '';
  const [t50, t95] = mode === 'dynamic' ? [15, 30] : [40, 80];
  const figures: Figure[] = [
    { figure: `chain: container start → first answer via nginx (kept-alive connections), p50${tag}`, target: `≤ ${t50} ms`, measured: `${r1(p50)} ms`, met: p50 <= t50 },
    { figure: `chain: container start → first answer via nginx (kept-alive connections), p95${tag}`, target: `≤ ${t95} ms`, measured: `${r1(p95)} ms`, met: p95 <= t95 },
    { figure: `chain: the app alone, start → answering directly, p50 (the floor)${tag}`, target: '', measured: `${r1(median(appMs))} ms (p95 ${r1(percentile(appMs, 95))})`, met: null },
    { figure: `chain: docker stop (SIGTERM) → no longer routed by nginx, p50${tag}`, target: '', measured: `${r1(median(goneMs))} ms (p95 ${r1(percentile(goneMs, 95))})`, met: null },
  ];
  return { figures, data: { samples: SAMPLES, startMs, appMs, goneMs } };
}

const figures: Figure[] = [];
const data: Record<string, unknown> = {};
for (const mode of MODES) {
  const result = await main(mode);
  figures.push(...result.figures);
  // Reload mode's samples stay at the top level, where run-all.ts reads them.
  if (mode === 'reload') Object.assign(data, result.data);
  else data.dynamic = result.data;
}
await agent.close();
printFigures(`whole chain, ${SAMPLES} samples per mode (docker-gen here: ~55 ms start → reload done, ~133 ms after die)`, figures);
writeResults('chain', figures, data);
