/**
 * An undici dispatcher whose every connection passes the SSRF address policy: the DNS
 * lookup hook returns only permitted addresses, so the address checked is the address
 * dialed (no rebinding window). IP literals skip DNS and are checked by the caller.
 * Used for page fetches and for webhooks.
 */
import dns from 'node:dns';
import type net from 'node:net';
import { Agent } from 'undici';
import { CrawlError } from '../errors/index.js';
import type { AddressPolicy } from './ssrf.js';

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

/**
 * A dispatcher whose every connection passes the address policy. `onResolved` hears the
 * first permitted address of every host name looked up (the address a WARC record names).
 */
export function createGuardedAgent(policy: AddressPolicy, connectTimeoutMs: number, connections = 64, onResolved?: (hostname: string, address: string) => void): Agent {
  const lookup = (hostname: string, options: dns.LookupOptions, callback: LookupCallback): void => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const permitted = addresses.filter((a) => policy.permits(a.address));
      if (permitted.length === 0) {
        const e = new CrawlError('blocked_address', `${hostname} resolves only to forbidden addresses (${addresses.map((a) => a.address).join(', ')})`) as unknown as NodeJS.ErrnoException;
        return callback(e, '', 0);
      }
      const first = permitted[0] as dns.LookupAddress;
      onResolved?.(hostname, first.address);
      if (options.all) return callback(null, permitted);
      return callback(null, first.address, first.family);
    });
  };
  return new Agent({
    connect: { timeout: connectTimeoutMs, lookup: lookup as unknown as net.LookupFunction },
    connections,
    keepAliveTimeout: 10_000,
    pipelining: 1,
  });
}
