import { scanConf, walkConf } from '../conf-scanner.js';

const METHODS = new Set(['least_conn', 'ip_hash', 'hash', 'random', 'least_time']);

/**
 * Edit-in-place: the balancing directive the user wrote inside each
 * `upstream NAME { }` block (a block with one stays on reloads: nginx's own
 * method and a Lua balancer cannot both pick the peer). Pure.
 */
export function userMethods(source: string, file?: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const d of walkConf(scanConf(source, file))) {
    if (d.name !== 'upstream' || !d.args[0] || !d.block) continue;
    const method = d.block.children.find((c) => METHODS.has(c.name));
    if (method) found.set(d.args[0], method.name);
  }
  return found;
}
