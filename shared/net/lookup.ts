/**
 * Bounded DNS lookups for checks made before any fetch (the seeds of a new session). Each
 * distinct host is looked up with the system resolver (dns.lookup, as the fetcher's guarded
 * agent does, so /etc/hosts counts), a few at a time, and the whole batch has one deadline.
 * A lookup cannot be cancelled: one still running at the deadline is abandoned (its answer
 * ignored) and its host reported unresolved, like a host that does not resolve at all.
 */
import dns from 'node:dns';

/** Every address of a host name (dns.lookup with `all: true`). */
export type LookupAll = (host: string) => Promise<readonly string[]>;

export const systemLookup: LookupAll = async (host) => (await dns.promises.lookup(host, { all: true })).map((a) => a.address);

export interface LookupOptions {
  /** Deadline of the whole batch, in ms. */
  timeoutMs: number;
  /** Lookups in flight at once; default 4, the size of the libuv pool that runs getaddrinfo. */
  concurrency?: number;
  lookup?: LookupAll;
}

/** host → its addresses, or null when it did not resolve (error, no address, or past the deadline). */
export async function lookupHosts(hosts: readonly string[], opts: LookupOptions): Promise<Map<string, readonly string[] | null>> {
  const lookup = opts.lookup ?? systemLookup;
  const out = new Map<string, readonly string[] | null>(hosts.map((h) => [h, null]));
  let next = 0;
  let expired = false;
  const worker = async (): Promise<void> => {
    while (!expired && next < hosts.length) {
      const host = hosts[next++] as string;
      try {
        const addresses = await lookup(host);
        if (!expired && addresses.length > 0) out.set(host, addresses);
      } catch {
        // ENOTFOUND, EAI_AGAIN, ...: unresolved
      }
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, opts.timeoutMs);
  });
  const workers = Array.from({ length: Math.min(opts.concurrency ?? 4, hosts.length) }, worker);
  try {
    await Promise.race([Promise.all(workers), deadline]);
  } finally {
    expired = true;
    clearTimeout(timer);
  }
  return out;
}
