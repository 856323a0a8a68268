import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { DockerSource, LineSplitter, type DockerEvent } from '../../../sidekicks/index.js';

const NAME = 'wébé-日本-🚀';

/** One Docker event line as bytes, and a cut inside the first multibyte character of NAME. */
function eventBytes(): { bytes: Buffer; cut: number } {
  const line = JSON.stringify({ Type: 'container', Action: 'start', Actor: { ID: 'c1', Attributes: { name: NAME, SERVICE_NAME: 'wébé' } }, timeNano: 1 }) + '\n';
  const bytes = Buffer.from(line, 'utf8');
  // 'é' is two bytes (c3 a9): cut between them.
  const cut = bytes.indexOf(Buffer.from('é', 'utf8')) + 1;
  return { bytes, cut };
}

describe('sidekicks: Docker events are split into lines on bytes, not per chunk', () => {
  it('keeps a multibyte character cut by a chunk boundary whole', () => {
    const { bytes, cut } = eventBytes();
    assert.notEqual(bytes.subarray(0, cut).toString().at(-1), 'é', 'the cut really splits a character');
    const splitter = new LineSplitter();
    assert.deepEqual(splitter.push(bytes.subarray(0, cut)), []);
    const [line] = splitter.push(bytes.subarray(cut));
    assert.equal((JSON.parse(line!) as { Actor: { Attributes: { name: string } } }).Actor.Attributes.name, NAME);
  });

  it('cuts every byte boundary of two events and still yields them intact, blank lines dropped', () => {
    const { bytes } = eventBytes();
    const two = Buffer.concat([bytes, Buffer.from('\n'), bytes]);
    for (let cut = 1; cut < two.length; cut++) {
      const splitter = new LineSplitter();
      const lines = [...splitter.push(two.subarray(0, cut)), ...splitter.push(two.subarray(cut))];
      assert.equal(lines.length, 2, `cut at ${cut}`);
      for (const l of lines) assert.ok(l.includes(NAME), `cut at ${cut}: ${l}`);
    }
  });

  it('DockerSource reports the container name intact when the events stream cuts it', async () => {
    const stream = new PassThrough();
    const docker = {
      getEvents: async () => stream,
      listContainers: async () => [],
    } as unknown as Docker;
    const source = new DockerSource({ docker });
    const events: DockerEvent[] = [];
    source.on('event', (e) => events.push(e));
    await source.start();
    const { bytes, cut } = eventBytes();
    stream.write(bytes.subarray(0, cut));
    await new Promise((r) => setImmediate(r));
    stream.write(bytes.subarray(cut));
    await new Promise((r) => setImmediate(r));
    source.stop();
    assert.equal(events.length, 1);
    assert.equal(events[0]!.attributes.name, NAME);
    assert.equal(events[0]!.attributes.SERVICE_NAME, 'wébé');
  });
});
