import { allowedNetworksScenario } from './allowed-networks.js';
import { crashHosts } from './crash-hosts.js';
import { crashLbsync } from './crash-lbsync.js';
import { failover } from './failover.js';
import { hostile } from './hostile.js';
import { leastPrivilege } from './least-privilege.js';
import type { Scenario } from './report.js';
import { traffic } from './traffic.js';

/** Every scenario of `npm run chaos`, in the order it runs them. */
export const SCENARIOS: Record<string, Scenario> = {
  failover,
  traffic,
  'crash-lbsync': crashLbsync,
  'crash-hosts': crashHosts,
  'least-privilege': leastPrivilege,
  'allowed-networks': allowedNetworksScenario,
  hostile,
};
