import { traffic } from '../../chaos/traffic.js';
import { canRunNamespaces, runShort } from './helpers.js';

describe('chaos (short): zero-error traffic through nginx during scale, rolling replace, stop and kill', function () {
  this.timeout(420_000); // both nginx modes, one after the other

  it('meets every target', async function () {
    if (!canRunNamespaces()) this.skip();
    await runShort(traffic);
  });
});
