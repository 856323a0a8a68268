import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { freePort } from '../../harness/index.js';
import { event, facts, scriptedSidekick } from './scripted-source.js';

describe('sidekicks: writes awaiting their latency are bounded', () => {
  it('a container restarting in a loop while no write lands keeps the pending map under its bound', async () => {
    // A real publisher and client, against a port nothing listens on: no write ever lands.
    const client = new Etcd3({ hosts: `127.0.0.1:${await freePort()}` });
    const { sidekick, source } = scriptedSidekick(client, { maxPending: 100 });
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
