import { isIPv4 } from 'node:net';

/** An IPv4 CIDR block such as `127.0.0.0/8`. */
export interface Cidr {
  text: string;
  base: number;
  mask: number;
}

function toInt(ip: string): number {
  return ip.split('.').reduce((acc, octet) => ((acc << 8) | Number(octet)) >>> 0, 0);
}

/** Parses `a.b.c.d/n`; throws on anything else, since a bad server setting is a test bug. */
export function parseCidr(text: string): Cidr {
  const [ip, bits] = text.split('/');
  const n = Number(bits);
  if (!ip || !isIPv4(ip) || !Number.isInteger(n) || n < 0 || n > 32) throw new Error(`not an IPv4 CIDR block: ${text}`);
  const mask = n === 0 ? 0 : (0xffffffff << (32 - n)) >>> 0;
  return { text, base: (toInt(ip) & mask) >>> 0, mask };
}

/** True when `ip` is an IPv4 address inside the block. */
export function cidrContains(cidr: Cidr, ip: string): boolean {
  return isIPv4(ip) && ((toInt(ip) & cidr.mask) >>> 0) === cidr.base;
}
