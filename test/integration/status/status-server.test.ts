import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { request } from 'node:http';
import { StatusServer, STATUS_VERSION, type StatusDocument } from '../../../lbsync/status/index.js';

/** A status source whose document the test sets. */
class FakeSource extends EventEmitter<{ change: [] }> {
  doc: StatusDocument = {
    version: STATUS_VERSION,
    generatedAt: new Date().toISOString(),
    startedAt: new Date().toISOString(),
    healthChecks: true,
    revision: 1,
    etcd: { connected: true },
    services: [],
    errors: [],
  };
  snapshot(): StatusDocument {
    return this.doc;
  }
}

/** One GET with a chosen Host header (fetch will not let us set it). */
function get(port: number, path: string, host = `127.0.0.1:${port}`): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('status server (node:http, server-sent events)', () => {
  const source = new FakeSource();
  const server = new StatusServer(source, { port: 0, minPushIntervalMs: 50 });
  let port = 0;

  before(async () => {
    port = (await server.start()).port;
  });
  after(() => server.close());

  it('binds to 127.0.0.1 by default', async () => {
    const other = new StatusServer(source, { port: 0 });
    const at = await other.start();
    await other.close();
    assert.equal(at.address, '127.0.0.1');
  });

  it('serves the page with a strict content security policy (no inline scripts)', async () => {
    const page = await get(port, '/');
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.match(page.body, /<script src="\/app\.js" defer><\/script>/);
    assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
    assert.doesNotMatch(String(page.headers['content-security-policy']), /unsafe-inline/);
    const js = await get(port, '/app.js');
    assert.equal(js.status, 200);
    assert.match(String(js.headers['content-type']), /javascript/);
    assert.doesNotMatch(js.body, /innerHTML/, 'the script never parses data as HTML');
  });

  it('serves the document at /status.json', async () => {
    source.doc = { ...source.doc, revision: 42 };
    const res = await get(port, '/status.json');
    assert.equal(res.status, 200);
    assert.equal((JSON.parse(res.body) as StatusDocument).revision, 42);
  });

  it('pushes the document at once on /events, then after each change', async () => {
    const controller = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port}/events`, { signal: controller.signal });
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const nextEvent = async (): Promise<StatusDocument> => {
      for (;;) {
        const end = text.indexOf('\n\n');
        if (end >= 0) {
          const block = text.slice(0, end);
          text = text.slice(end + 2);
          const data = block.split('\n').find((l) => l.startsWith('data: '));
          if (data) return JSON.parse(data.slice(6)) as StatusDocument;
          continue;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        text += decoder.decode(value);
      }
    };
    assert.equal((await nextEvent()).revision, 42);
    source.doc = { ...source.doc, revision: 43 };
    source.emit('change');
    source.emit('change');
    assert.equal((await nextEvent()).revision, 43);
    controller.abort();
  });

  it('answers only to loopback Host names when bound to loopback (no DNS rebinding)', async () => {
    assert.equal((await get(port, '/status.json', `evil.example:${port}`)).status, 421);
    assert.equal((await get(port, '/status.json', `localhost:${port}`)).status, 200);
  });

  it('is read-only', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/status.json`, { method: 'POST' });
    assert.equal(res.status, 405);
    assert.equal((await get(port, '/nope')).status, 404);
  });
});
