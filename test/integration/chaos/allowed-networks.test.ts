import { allowedNetworksScenario } from '../../chaos/allowed-networks.js';
import { runShort } from './helpers.js';

describe('chaos (short): lbsync --allowed-networks through the real CLI', function () {
  this.timeout(60_000);

  it('drops records outside the networks from nginx and logs each once', async () => {
    await runShort(allowedNetworksScenario);
  });
});
