/**
 * The SSRF guard's address policy: which IP addresses a fetch may connect to. Loopback,
 * private, link-local (incl. the 169.254.169.254 metadata address), CGNAT, unique-local,
 * multicast, reserved and documentation ranges are forbidden unless a configured CIDR
 * (`fetch.allowedNetworks`) opens them. IPv4-mapped IPv6 addresses are judged as IPv4.
 * The check runs on the resolved address that is dialed (see services/fetcher/http.ts).
 */
import net from 'node:net';
import { networkList } from './cidr.js';

export const FORBIDDEN_NETWORKS = [
  '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12',
  '192.0.0.0/24', '192.0.2.0/24', '192.88.99.0/24', '192.168.0.0/16', '198.18.0.0/15', '198.51.100.0/24',
  '203.0.113.0/24', '224.0.0.0/4', '240.0.0.0/4',
  '::/128', '::1/128', '64:ff9b::/96', '100::/64', '2001::/32', '2001:db8::/32', 'fc00::/7', 'fe80::/10', 'ff00::/8',
] as const;

const forbidden = networkList(FORBIDDEN_NETWORKS);

/** `::ffff:7f00:1` or `::ffff:127.0.0.1` → `127.0.0.1`; other addresses unchanged. */
export function unmapIPv4(address: string): string {
  const lower = address.toLowerCase();
  const dotted = /^(?:0{0,4}:){0,5}:?ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower) ?? /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1] as string;
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (hex) {
    const hi = parseInt(hex[1] as string, 16);
    const lo = parseInt(hex[2] as string, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return address;
}

export class AddressPolicy {
  private readonly allowed: net.BlockList;

  constructor(readonly allowedNetworks: readonly string[]) {
    this.allowed = networkList(allowedNetworks);
  }

  /** True when a connection to this IP address may be opened. */
  permits(address: string): boolean {
    const ip = unmapIPv4(address.replace(/^\[|\]$/g, ''));
    const family = net.isIP(ip);
    if (family === 0) return false;
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (this.allowed.check(ip, type)) return true;
    return !forbidden.check(ip, type);
  }
}
