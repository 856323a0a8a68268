import { EventEmitter } from 'node:events';
import type Docker from 'dockerode';
import { Backoff } from '../registry/index.js';
import { factsFromInspect, type ContainerFacts, type Health } from './container-facts.js';
import { CONTAINER_ACTIONS, isStopSignal, parseDockerEvent, type DockerEvent } from './docker-event.js';
import { LineSplitter } from './line-splitter.js';

export interface DockerSourceOptions {
  docker: Docker;
  /** `KEY=VALUE` (or `KEY`) label filters: only matching containers are seen at all. */
  labelFilters?: string[];
  /** Follow one container only (by name or id), as `sidekick announce` does. */
  container?: string;
  /** How many inspects a listing runs at once. */
  inspectConcurrency?: number;
  /** Reconnect backoff bounds. */
  backoff?: { initialMs: number; maxMs: number };
}

/** Why a full listing was compared with what the source knew. */
export type ListReason = 'start' | 'reconnect' | 'resync';

export interface DockerSourceEvents {
  /** Every container event received, before it is acted on. */
  event: [event: DockerEvent];
  /** A container is running (or its state changed: paused, health, stopping). */
  update: [facts: ContainerFacts, cause: DockerEvent | undefined];
  /** A container stopped running (or was found gone by a listing). */
  gone: [id: string, cause: DockerEvent | undefined];
  /** A listing was compared with the known set; `containers` is now the whole truth. */
  snapshot: [containers: ContainerFacts[], reason: ListReason];
  /** The events stream is open (first time or after a reconnect). */
  connected: [reconnect: boolean];
  /** The events stream closed or could not be opened; retrying after `retryInMs`. */
  disconnected: [err: Error, retryInMs: number];
  /** A container could not be inspected (other than being gone). */
  inspectFailed: [id: string, err: Error];
}

/**
 * Follows the containers of one dockerd: subscribes to the events stream
 * first, then lists running containers (so nothing falls between the two),
 * then follows the stream. When the stream closes (dockerd restarted, socket
 * cut) it reconnects with backoff and lists again, re-inspecting everything,
 * so no stale container survives and no new one is missed.
 *
 * A container is inspected once per `start`; its facts are cached so that
 * stop, die, kill, pause and health changes need no further round trip.
 * Emits typed events and never logs.
 */
export class DockerSource extends EventEmitter<DockerSourceEvents> {
  private readonly known = new Map<string, ContainerFacts>();
  /** Stamp of the last lifecycle change per container, to order events against listings. */
  private readonly lifecycle = new Map<string, number>();
  /** Latest inspect issued per container: only the newest answer is applied. */
  private readonly inspectSeq = new Map<string, number>();
  private stamp = 0;
  private seq = 0;
  private stream: NodeJS.ReadableStream | undefined;
  private readonly backoff: Backoff;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private connectedOnce = false;
  private stopped = false;
  private listing: Promise<void> | undefined;

  constructor(private readonly options: DockerSourceOptions) {
    super();
    this.backoff = new Backoff(options.backoff?.initialMs ?? 100, options.backoff?.maxMs ?? 5000);
  }

  /** Starts following; resolves after the first listing, or rejects if dockerd cannot be reached at all. */
  async start(): Promise<void> {
    await this.connect();
  }

  /** Starts following and keeps retrying until dockerd answers; resolves after the first listing. */
  startAndRetry(): Promise<void> {
    return new Promise((resolve) => {
      this.once('snapshot', () => resolve());
      this.attempt();
    });
  }

  /** The containers currently known to be running. */
  containers(): ContainerFacts[] {
    return [...this.known.values()];
  }

  /** The facts of a running container, by full id. */
  get(id: string): ContainerFacts | undefined {
    return this.known.get(id);
  }

  /** How many running containers are known. */
  get size(): number {
    return this.known.size;
  }

  get connected(): boolean {
    return this.stream !== undefined;
  }

  /** Lists running containers and diffs them against what is known (a periodic guard against anything missed). */
  resync(): Promise<void> {
    if (!this.stream) return Promise.resolve();
    return this.list('resync');
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    this.dropStream();
  }

  private async connect(): Promise<void> {
    const reconnect = this.connectedOnce;
    const stream = await this.options.docker.getEvents({ filters: this.eventFilters() });
    if (this.stopped) {
      destroy(stream);
      return;
    }
    this.stream = stream;
    this.connectedOnce = true;
    this.follow(stream);
    this.emit('connected', reconnect);
    await this.list(reconnect ? 'reconnect' : 'start');
    this.backoff.reset();
  }

  private eventFilters(): Record<string, string[]> {
    const filters: Record<string, string[]> = { type: ['container'], event: [...CONTAINER_ACTIONS] };
    if (this.options.labelFilters?.length) filters.label = this.options.labelFilters;
    if (this.options.container) filters.container = [this.options.container];
    return filters;
  }

  private follow(stream: NodeJS.ReadableStream): void {
    const lines = new LineSplitter();
    stream.on('data', (chunk: Buffer | string) => {
      for (const line of lines.push(chunk)) {
        const event = parseDockerEvent(line);
        if (event) this.onEvent(event);
      }
    });
    const lost = (err?: Error) => {
      if (this.stream !== stream) return;
      this.stream = undefined;
      this.retry(err ?? new Error('the Docker events stream closed'));
    };
    stream.on('end', () => lost());
    stream.on('close', () => lost());
    stream.on('error', (err: Error) => lost(err));
  }

  private retry(err: Error): void {
    if (this.stopped) return;
    clearTimeout(this.reconnectTimer);
    const delay = this.backoff.next();
    this.emit('disconnected', err, delay);
    this.reconnectTimer = setTimeout(() => this.attempt(), delay);
  }

  private attempt(): void {
    this.connect().catch((err: Error) => {
      this.dropStream();
      this.retry(err);
    });
  }

  private dropStream(): void {
    const stream = this.stream;
    this.stream = undefined;
    if (stream) destroy(stream);
  }

  private onEvent(event: DockerEvent): void {
    this.emit('event', event);
    const { id, action } = event;
    switch (action) {
      case 'start':
        this.lifecycle.set(id, ++this.stamp);
        void this.inspect(id, event);
        return;
      case 'rename':
        void this.inspect(id, event);
        return;
      case 'kill': {
        if (!isStopSignal(event.detail)) return;
        this.lifecycle.set(id, ++this.stamp);
        const facts = this.known.get(id);
        if (facts && !facts.stopping) this.change(facts, { stopping: true }, event);
        return;
      }
      case 'die':
      case 'stop':
      case 'destroy':
        this.lifecycle.set(id, ++this.stamp);
        this.inspectSeq.delete(id);
        if (this.known.delete(id)) this.emit('gone', id, event);
        if (action === 'destroy') this.lifecycle.delete(id);
        return;
      case 'pause':
      case 'unpause': {
        const facts = this.known.get(id);
        if (facts) this.change(facts, { paused: action === 'pause' }, event);
        else if (this.inspectSeq.has(id)) void this.inspect(id, event);
        return;
      }
      case 'health_status': {
        const health = event.detail as Health | undefined;
        if (health !== 'healthy' && health !== 'unhealthy' && health !== 'starting') return;
        const facts = this.known.get(id);
        if (facts) {
          if (facts.health !== health) this.change(facts, { health }, event);
        } else if (this.inspectSeq.has(id)) void this.inspect(id, event);
        return;
      }
    }
  }

  private change(facts: ContainerFacts, patch: Partial<ContainerFacts>, cause: DockerEvent | undefined): void {
    const next = { ...facts, ...patch };
    this.known.set(facts.id, next);
    this.emit('update', next, cause);
  }

  /**
   * Inspects a container and applies the answer, unless a newer lifecycle
   * event (or a newer inspect) for the same container came in meanwhile.
   */
  private async inspect(id: string, cause: DockerEvent | undefined): Promise<void> {
    const generation = this.lifecycle.get(id);
    const seq = ++this.seq;
    this.inspectSeq.set(id, seq);
    let facts: ContainerFacts | undefined;
    try {
      facts = factsFromInspect(await this.options.docker.getContainer(id).inspect());
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) this.emit('inspectFailed', id, err as Error);
    }
    if (this.lifecycle.get(id) !== generation || this.inspectSeq.get(id) !== seq) return;
    this.inspectSeq.delete(id);
    this.apply(id, facts, cause);
  }

  private apply(id: string, facts: ContainerFacts | undefined, cause: DockerEvent | undefined): void {
    if (!facts || !facts.running) {
      if (this.known.delete(id)) this.emit('gone', id, cause);
      return;
    }
    const before = this.known.get(id);
    // A stop signal already sent to this very run of the container still counts.
    if (before?.stopping && before.startedAt === facts.startedAt && cause?.action !== 'start') facts.stopping = true;
    this.known.set(id, facts);
    this.emit('update', facts, cause);
  }

  /** Lists running containers and diffs them against the known set. One listing at a time. */
  private list(reason: ListReason): Promise<void> {
    const run = (this.listing ?? Promise.resolve()).then(() => this.doList(reason));
    this.listing = run.finally(() => {
      if (this.listing === guard) this.listing = undefined;
    });
    const guard = this.listing;
    return run;
  }

  private async doList(reason: ListReason): Promise<void> {
    const since = this.stamp;
    const listed = await this.listRunning();
    const full = reason !== 'resync';
    const seen = new Set<string>();
    const inspects: string[] = [];
    for (const entry of listed) {
      seen.add(entry.id);
      // An event newer than this listing already told us more than it can.
      if ((this.lifecycle.get(entry.id) ?? 0) > since) continue;
      const facts = this.known.get(entry.id);
      if (!facts || full) {
        inspects.push(entry.id);
        continue;
      }
      const paused = entry.paused;
      const health = entry.health ?? facts.health;
      if (facts.paused !== paused || facts.health !== health) this.change(facts, { paused, health }, undefined);
    }
    for (const id of [...this.known.keys()]) {
      if (seen.has(id) || (this.lifecycle.get(id) ?? 0) > since) continue;
      this.known.delete(id);
      this.emit('gone', id, undefined);
    }
    await mapLimit(inspects, this.options.inspectConcurrency ?? 8, (id) => this.inspect(id, undefined));
    // Forget stamps of containers that are gone and older than this listing.
    for (const [id, stamp] of this.lifecycle) if (stamp <= since && !this.known.has(id)) this.lifecycle.delete(id);
    this.emit('snapshot', this.containers(), reason);
  }

  private async listRunning(): Promise<Array<{ id: string; paused: boolean; health?: Health }>> {
    const { docker, container, labelFilters } = this.options;
    if (container) {
      try {
        const info = await docker.getContainer(container).inspect();
        return info.State.Running ? [{ id: info.Id, paused: info.State.Paused }] : [];
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode === 404) return [];
        throw err;
      }
    }
    const filters: Record<string, string[]> = {};
    if (labelFilters?.length) filters.label = labelFilters;
    const list = await docker.listContainers({ filters });
    return list.map((c) => {
      const health = /\((healthy|unhealthy|health: starting)\)/.exec(c.Status)?.[1];
      return {
        id: c.Id,
        paused: c.State === 'paused',
        ...(health ? { health: (health === 'health: starting' ? 'starting' : health) as Health } : {}),
      };
    });
  }
}

function destroy(stream: NodeJS.ReadableStream): void {
  (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
}

/** Runs `fn` over `items` with at most `limit` at once. */
async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
