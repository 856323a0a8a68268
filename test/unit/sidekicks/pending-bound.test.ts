import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { LeasePublisher } from '../../../registry/index.js';
import { DockerSidekick, type DockerEvent, type DockerSource } from '../../../sidekicks/index.js';
import { facts, ScriptedSource } from './scripted-source.js';
import { freePort } from '../../harness/index.js';

const event = (id: string, action: string): DockerEvent => ({ id, action, timeNano: Date.now() * 1e6, attributes: {} });

describe('sidekicks: writes awaiting their latency are bounded', () => {
  it('a container restarting in a loop while no write lands keeps the pending map under its bound', async () => {
    // A real publisher and client, against a port nothing listens on: no write ever lands.
    const client = new Etcd3({ hosts: `127.0.0.1:${await freePort()}` });
    const publisher = new LeasePublisher({ client, prefix: '/services', ttlSeconds: 5, layout: 'json' });
    const source = new ScriptedSource();
    const sidekick = new DockerSidekick({
      source: source as unknown as DockerSource,
      publisher,
      client,
      prefix: '/services',
      layout: 'json',
      definition: { node: 'n1', hostAddress: '127.0.0.1' },
      maxPending: 100,
    });
    try {
      for (let n = 0; n < 1000; n++) {
        const f = facts(n);
        source.emit('update', f, event(f.id, 'start'));
        source.emit('gone', f.id, event(f.id, 'die'));
      }
      assert.equal(sidekick.pendingCount, 100, 'bounded, and it did track writes');
    } finally {
      await sidekick.stop({ revoke: false });
      client.close();
    }
  });
});
