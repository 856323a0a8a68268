import { networkInterfaces } from 'node:os';

// Bridges and veths belong to containers, not to the host's own network.
const VIRTUAL = /^(docker|br-|veth|virbr|cni|flannel|cali|weave|vxlan|lo)/;

/**
 * The host's address as other hosts would dial it: the first IPv4 address of
 * a physical-looking interface, else 127.0.0.1. `--advertise-ip` overrides it,
 * and should be given wherever a host has more than one network.
 */
export function detectHostAddress(interfaces = networkInterfaces()): string {
  const names = Object.keys(interfaces).sort();
  for (const name of names) {
    if (VIRTUAL.test(name)) continue;
    for (const addr of interfaces[name] ?? []) {
      if (addr.family === 'IPv4' && !addr.internal) return addr.address;
    }
  }
  return '127.0.0.1';
}
