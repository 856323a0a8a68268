import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { DockerSource, type ContainerFacts } from '../../../sidekicks/index.js';
import { waitFor } from '../../harness/ports.js';

/**
 * A scripted stand-in for dockerode: an events stream we write to, and a set
 * of "running" containers that list and inspect answer from. Lets the
 * ordering rules (events first, then list; list-and-diff on reconnect) be
 * checked without a dockerd.
 */
class FakeDocker {
  running = new Map<string, { ports: number; health?: string }>();
  streams: PassThrough[] = [];
  listDelay: Promise<void> = Promise.resolve();
  failConnect = false;

  async getEvents(): Promise<NodeJS.ReadableStream> {
    if (this.failConnect) throw new Error('connect ENOENT /var/run/docker.sock');
    const s = new PassThrough();
    this.streams.push(s);
    return s;
  }

  async listContainers(): Promise<Docker.ContainerInfo[]> {
    const snapshot = [...this.running.keys()];
    await this.listDelay;
    return snapshot.map((id) => ({ Id: id, State: 'running', Status: 'Up 1 second' }) as Docker.ContainerInfo);
  }

  getContainer(id: string) {
    return {
      inspect: async () => {
        const c = this.running.get(id);
        if (!c) throw Object.assign(new Error('no such container'), { statusCode: 404 });
        return {
          Id: id,
          Name: `/${id}`,
          State: { Running: true, Paused: false, StartedAt: '2026-01-01T00:00:00Z', ...(c.health ? { Health: { Status: c.health } } : {}) },
          Config: { Image: 'app', Labels: {}, Env: [], ExposedPorts: { '80/tcp': {} } },
          NetworkSettings: { Ports: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: String(c.ports) }] }, Networks: {} },
        };
      },
    };
  }

  emit(id: string, action: string, attributes: Record<string, string> = {}): void {
    this.streams.at(-1)!.write(JSON.stringify({ Type: 'container', Action: action, Actor: { ID: id, Attributes: attributes }, timeNano: Date.now() * 1e6 }) + '\n');
  }
}

const tick = () => new Promise((r) => setTimeout(r, 5));

/** Every Docker event the source has handled, as `id action[:detail]`. */
function handledEvents(source: DockerSource): string[] {
  const handled: string[] = [];
  source.on('event', (e) => handled.push(`${e.id} ${e.action}${e.detail ? `:${e.detail}` : ''}`));
  return handled;
}

/** Waits until the source has handled an event: only then may a test assert that it did not act on it. */
const handledIt = (handled: string[], event: string) => waitFor(() => handled.includes(event), 10_000, `the source to handle "${event}"`, 5);

function follow(source: DockerSource) {
  const live = new Map<string, ContainerFacts>();
  source.on('update', (f) => live.set(f.id, f));
  source.on('gone', (id) => live.delete(id));
  return live;
}

describe('sidekicks: DockerSource ordering (fake dockerd)', () => {
  it('subscribes before listing: a container started during the listing is not missed', async () => {
    const fake = new FakeDocker();
    fake.running.set('a', { ports: 1001 });
    let release!: () => void;
    fake.listDelay = new Promise((r) => (release = r));
    const source = new DockerSource({ docker: fake as unknown as Docker });
    const live = follow(source);
    const started = source.start();
    await tick();
    // Started after the list was taken, before it came back.
    fake.running.set('b', { ports: 1002 });
    fake.emit('b', 'start');
    release();
    await started;
    await tick();
    assert.deepEqual([...live.keys()].sort(), ['a', 'b']);
    source.stop();
  });

  it('a die during the listing wins over the listing', async () => {
    const fake = new FakeDocker();
    fake.running.set('a', { ports: 1001 });
    let release!: () => void;
    fake.listDelay = new Promise((r) => (release = r));
    const source = new DockerSource({ docker: fake as unknown as Docker });
    const live = follow(source);
    const handled = handledEvents(source);
    const snapshot = new Promise((r) => source.once('snapshot', r));
    const started = source.start();
    await tick();
    fake.running.delete('a');
    fake.emit('a', 'die');
    await handledIt(handled, 'a die');
    release();
    await started;
    await snapshot;
    assert.equal(live.size, 0, 'the listing (taken before the die) did not bring it back');
    source.stop();
  });

  it('kill with SIGTERM marks the container stopping; SIGHUP does not', async () => {
    const fake = new FakeDocker();
    fake.running.set('a', { ports: 1001 });
    const source = new DockerSource({ docker: fake as unknown as Docker });
    const live = follow(source);
    const handled = handledEvents(source);
    await source.start();
    await waitFor(() => live.has('a'), 10_000, 'a listed', 5);
    fake.emit('a', 'kill', { signal: '1' });
    await handledIt(handled, 'a kill:1');
    assert.equal(live.get('a')?.stopping, undefined);
    fake.emit('a', 'kill', { signal: '15' });
    await waitFor(() => live.get('a')?.stopping, 10_000, 'a stopping', 5);
    source.stop();
  });

  it('health_status updates the cached facts without another inspect', async () => {
    const fake = new FakeDocker();
    fake.running.set('a', { ports: 1001, health: 'starting' });
    const source = new DockerSource({ docker: fake as unknown as Docker });
    const live = follow(source);
    await source.start();
    await tick();
    assert.equal(live.get('a')?.health, 'starting');
    fake.running.delete('a'); // an inspect now would say "gone"
    fake.emit('a', 'health_status: healthy');
    await tick();
    assert.equal(live.get('a')?.health, 'healthy');
    source.stop();
  });

  it('reconnects after the stream closes and lists again: stale containers go, new ones come', async () => {
    const fake = new FakeDocker();
    fake.running.set('a', { ports: 1001 });
    const source = new DockerSource({ docker: fake as unknown as Docker, backoff: { initialMs: 10, maxMs: 20 } });
    const live = follow(source);
    const reconnected = new Promise<void>((resolve) => source.on('connected', (again) => again && resolve()));
    const disconnects: Error[] = [];
    source.on('disconnected', (err) => disconnects.push(err));
    await source.start();
    await tick();
    fake.failConnect = true;
    fake.streams.at(-1)!.end();
    // While Docker is away: a goes, b comes.
    fake.running.delete('a');
    fake.running.set('b', { ports: 1002 });
    await waitFor(() => disconnects.length >= 2, 10_000, 'a retry while dockerd is unreachable (a second disconnect)', 5);
    fake.failConnect = false;
    await reconnected;
    await new Promise((r) => source.once('snapshot', () => r(undefined)));
    assert.deepEqual([...live.keys()], ['b']);
    source.stop();
  });
});
