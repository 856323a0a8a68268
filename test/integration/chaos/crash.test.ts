import { crashHosts } from '../../chaos/crash-hosts.js';
import { crashLbsync } from '../../chaos/crash-lbsync.js';
import { canRunNamespaces, runShort } from './helpers.js';

describe('chaos (short): crash and restart safety', function () {
  this.timeout(180_000);

  it('lbsync kill -9 during rapid changes keeps nginx valid; a compaction while cut off forces a full resync', async () => {
    await runShort(crashLbsync);
  });

  it('sidekick kill -9, dockerd restart and a whole-cluster etcd outage all converge', async function () {
    if (!canRunNamespaces()) this.skip();
    await runShort(crashHosts);
  });
});
