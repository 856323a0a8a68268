import { failover } from '../../chaos/failover.js';
import { canRunNamespaces, runShort } from './helpers.js';

describe('chaos (short): multi-host failover: halt, return, etcd leader loss, link cut (namespaces, 3-member etcd)', function () {
  this.timeout(180_000);

  it('meets every target', async function () {
    if (!canRunNamespaces()) this.skip();
    await runShort(failover);
  });
});
