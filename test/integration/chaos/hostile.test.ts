import { hostile } from '../../chaos/hostile.js';
import { canRunNamespaces, runShort } from './helpers.js';

describe('chaos (short): hostile input corpus: refused, logged, never in nginx or ELBv2, secrets never logged', function () {
  this.timeout(180_000);

  it('meets every target', async function () {
    if (!canRunNamespaces()) this.skip();
    await runShort(hostile);
  });
});
