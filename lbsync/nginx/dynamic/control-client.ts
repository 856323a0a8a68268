import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { LbsyncError } from '../../errors.js';
import { parseControlState, type ControlState } from './protocol.js';

/** The control channel failed: nginx did not answer, refused, or answered something else. */
export class ControlChannelError extends LbsyncError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('BEACON_NGINX_CONTROL', message, { ...options, recoverable: true });
  }
}

/** Reads the control secret, or makes one (0600) the first time. The secret never appears in a log line. */
export async function ensureSecret(path: string): Promise<string> {
  const existing = (await readFile(path, 'utf8').catch(() => '')).trim();
  if (/^[0-9a-f]{64}$/.test(existing)) return existing;
  const secret = randomBytes(32).toString('hex');
  await writeFile(path, `${secret}\n`, { mode: 0o600 });
  await chmod(path, 0o600);
  return secret;
}

/**
 * Talks to the control location over nginx's unix socket, on one kept-alive
 * connection (a push costs one round trip, no connect). nginx closes that
 * connection when its worker retires (a reload) or stops; a request that
 * fails on a reused connection is sent once more on a fresh one, which is
 * safe because a push carries its version and the read is a read.
 */
export class ControlClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });

  constructor(private readonly socket: string, private readonly secret: string, private readonly timeoutMs = 2000) {}

  /** Closes the kept connection. */
  close(): void {
    this.agent.destroy();
  }

  /** What nginx holds now. */
  async state(): Promise<ControlState> {
    return this.stateFrom(await this.call('GET'));
  }

  /**
   * Sends a push; nginx validates every line again and refuses the whole push
   * on any bad value. Its answer is what nginx holds once the push is stored
   * (the read-back), so a push costs one round trip.
   */
  async push(body: string): Promise<ControlState> {
    return this.stateFrom(await this.call('POST', body));
  }

  private stateFrom(text: string): ControlState {
    const state = parseControlState(text);
    if (!state) throw new ControlChannelError(`the control socket ${this.socket} answered something else: ${text.slice(0, 80)}`);
    return state;
  }

  private async call(method: 'GET' | 'POST', body?: string): Promise<string> {
    try {
      return await this.send(method, body, this.agent);
    } catch (err) {
      if (!(err instanceof StaleConnection)) throw err;
      return this.send(method, body, false);
    }
  }

  private send(method: 'GET' | 'POST', body: string | undefined, agent: Agent | false): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socket,
          path: '/beacon/upstreams',
          method,
          headers: { 'x-beacon-secret': this.secret, ...(body !== undefined ? { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) } : {}) },
          timeout: this.timeoutMs,
          agent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode === 200) resolve(text);
            else reject(new ControlChannelError(`nginx's control location answered ${res.statusCode}: ${text.trim().slice(0, 200)}`));
          });
          res.on('error', (err) => reject(new ControlChannelError(`reading the control answer failed: ${err.message}`, { cause: err })));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs}ms`)));
      req.on('error', (err) => {
        if (req.reusedSocket && !(err instanceof ControlChannelError) && STALE.has((err as NodeJS.ErrnoException).code ?? '')) reject(new StaleConnection());
        else reject(err instanceof ControlChannelError ? err : new ControlChannelError(`cannot reach nginx's control socket ${this.socket}: ${err.message}`, { cause: err }));
      });
      req.end(body);
    });
  }
}

/** How a kept connection that nginx closed meanwhile fails. */
const STALE = new Set(['ECONNRESET', 'EPIPE']);

/** The kept connection was gone; the request is sent again on a fresh one. */
class StaleConnection extends Error {}
