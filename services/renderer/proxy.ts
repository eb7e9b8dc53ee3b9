/**
 * The renderer's proxy: every request Chromium makes leaves through it, and it dials only
 * addresses the SSRF policy permits, checked on the address it dials (resolved here, then
 * pinned: Chromium never resolves a name itself, since an HTTP proxy is handed names).
 *
 * - HTTP CONNECT (https, wss, and anything tunnelled): the target is resolved, the permitted
 *   address dialed, then bytes are relayed both ways.
 * - Plain proxy requests (`GET http://host/path`): the request is forwarded to the permitted
 *   address with its own Host header, the answer relayed.
 *
 * One listener (a loopback port of its own) serves one browser context, so every connection
 * is attributed to one page: its refused requests are listed (`blocked`) and its received
 * bytes count against the page's budget; past the budget, the page's connections are cut and
 * every further request is refused. A `deny` listener (the browser's launch proxy) refuses
 * everything: traffic outside the page contexts has nowhere to go.
 */
import dns from 'node:dns';
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { AddressPolicy } from '../../shared/net/ssrf.js';

/** Entries a page's `blocked` list holds at most. */
export const MAX_BLOCKED_ENTRIES = 50;
/** Hosts whose dialed address a page's traffic remembers at most. */
const MAX_DIALED_ENTRIES = 200;

/** Header on the proxy's own refusals of plain requests, so the renderer can tell them from a site's 403. */
export const BLOCKED_HEADER = 'x-crawlfleet-blocked';

export interface ProxyOptions {
  /** The current address policy (fetch.allowedNetworks, read live). */
  policy(): AddressPolicy;
  connectTimeoutMs(): number;
  /** Name resolution; default dns.lookup with all addresses (as the fetcher's guarded agent does, so /etc/hosts counts). */
  lookup?: (host: string) => Promise<string[]>;
}

export interface PageTraffic {
  /** Bytes received from the sites for this page. */
  readonly bytes: number;
  /** Refused requests, `host:port (why)`, distinct, at most MAX_BLOCKED_ENTRIES. */
  readonly blocked: readonly string[];
  /** True once the byte budget was passed. */
  readonly overBudget: boolean;
  /** True when a request to this host and port was refused by the address policy. */
  refused(host: string, port: number): boolean;
  /** The address dialed for this host and port (the last one), or null (WARC-IP-Address). */
  addressOf(host: string, port: number): string | null;
}

export interface ProxyLease extends PageTraffic {
  /** `http://127.0.0.1:<port>`, the proxy of one browser context. */
  readonly url: string;
  close(): Promise<void>;
}

const defaultLookup = async (host: string): Promise<string[]> => (await dns.promises.lookup(host, { all: true })).map((a) => a.address);

class Traffic implements PageTraffic {
  bytes = 0;
  overBudget = false;
  readonly blockedSet = new Set<string>();
  readonly refusedTargets = new Set<string>();
  /** `host:port` → the address dialed, at most MAX_DIALED_ENTRIES. */
  readonly dialed = new Map<string, string>();
  readonly sockets = new Set<Duplex>();

  constructor(readonly budget: number) {}

  get blocked(): string[] {
    return [...this.blockedSet];
  }

  refused(host: string, port: number): boolean {
    return this.refusedTargets.has(`${host.toLowerCase()}:${port}`);
  }

  addressOf(host: string, port: number): string | null {
    return this.dialed.get(dialKey(host, port)) ?? null;
  }

  dial(host: string, port: number, address: string): void {
    const key = dialKey(host, port);
    if (this.dialed.size < MAX_DIALED_ENTRIES || this.dialed.has(key)) this.dialed.set(key, address);
  }

  block(host: string, port: number, why: string, policy: boolean): void {
    if (policy) this.refusedTargets.add(`${host.toLowerCase()}:${port}`);
    if (this.blockedSet.size < MAX_BLOCKED_ENTRIES) this.blockedSet.add(`${host}:${port} (${why})`);
  }

  /** Counts received bytes; false (and every connection cut) once past the budget. */
  received(n: number): boolean {
    this.bytes += n;
    if (this.bytes <= this.budget) return true;
    if (!this.overBudget) {
      this.overBudget = true;
      if (this.blockedSet.size < MAX_BLOCKED_ENTRIES) this.blockedSet.add(`* (byte budget of ${this.budget} bytes exceeded)`);
      for (const s of this.sockets) s.destroy();
    }
    return false;
  }

  track(s: Duplex): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
  }
}

/** A host (IPv6 with or without brackets) and port as one key. */
const dialKey = (host: string, port: number): string => `${host.replace(/^\[|\]$/g, '').toLowerCase()}:${port}`;

type Resolved = { ok: true; address: string } | { ok: false; why: string };

export class GuardedProxy {
  private readonly lookup: (host: string) => Promise<string[]>;

  constructor(private readonly opts: ProxyOptions) {
    this.lookup = opts.lookup ?? defaultLookup;
  }

  /** The address to dial for a host, or why none may be. */
  async resolve(host: string): Promise<Resolved> {
    const bare = host.replace(/^\[|\]$/g, '');
    const policy = this.opts.policy();
    if (net.isIP(bare) !== 0) return policy.permits(bare) ? { ok: true, address: bare } : { ok: false, why: `forbidden address ${bare}` };
    let addresses: string[];
    try {
      addresses = await this.lookup(bare);
    } catch {
      return { ok: false, why: 'does not resolve' };
    }
    const permitted = addresses.find((a) => policy.permits(a));
    if (permitted === undefined) return { ok: false, why: `resolves only to forbidden addresses ${addresses.join(', ')}` };
    return { ok: true, address: permitted };
  }

  /** A listener for one page context, its traffic capped at `budgetBytes`. */
  async open(budgetBytes: number): Promise<ProxyLease> {
    const traffic = new Traffic(budgetBytes);
    const server = http.createServer({ requireHostHeader: false });
    server.on('request', (req, res) => void this.forward(traffic, req, res));
    server.on('connect', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void this.tunnel(traffic, req, socket, head));
    server.on('connection', (s: net.Socket) => {
      traffic.track(s);
      s.on('error', () => undefined);
    });
    server.on('clientError', (_err, socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const port = (server.address() as net.AddressInfo).port;
    return {
      url: `http://127.0.0.1:${port}`,
      get bytes() {
        return traffic.bytes;
      },
      get blocked() {
        return traffic.blocked;
      },
      get overBudget() {
        return traffic.overBudget;
      },
      refused: (host, p) => traffic.refused(host, p),
      addressOf: (host, p) => traffic.addressOf(host, p),
      close: async () => {
        for (const s of traffic.sockets) s.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  }

  /** A listener that refuses every request (the browser's launch proxy). */
  async deny(): Promise<{ url: string; close(): Promise<void> }> {
    const server = http.createServer((_req, res) => {
      res.writeHead(403, { [BLOCKED_HEADER]: 'no page context', connection: 'close' }).end();
    });
    server.on('connect', (_req, socket: Duplex) => socket.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\n\r\n'));
    const sockets = new Set<net.Socket>();
    server.on('connection', (s: net.Socket) => {
      sockets.add(s);
      s.on('error', () => undefined);
      s.once('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const port = (server.address() as net.AddressInfo).port;
    return {
      url: `http://127.0.0.1:${port}`,
      close: async () => {
        for (const s of sockets) s.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  }

  private async tunnel(traffic: Traffic, req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => undefined);
    const target = parseAuthority(req.url ?? '');
    if (!target) return void socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    if (traffic.overBudget) return void socket.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\n\r\n');
    const r = await this.resolve(target.host);
    if (!r.ok) {
      traffic.block(target.host, target.port, r.why, true);
      return void socket.end(`HTTP/1.1 403 Forbidden\r\n${BLOCKED_HEADER}: 1\r\nconnection: close\r\n\r\n`);
    }
    traffic.dial(target.host, target.port, r.address);
    const upstream = net.connect({ host: r.address, port: target.port, timeout: this.opts.connectTimeoutMs() });
    traffic.track(upstream);
    upstream.on('timeout', () => upstream.destroy());
    upstream.on('error', () => {
      if (!socket.destroyed) socket.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\n\r\n');
    });
    upstream.once('connect', () => {
      upstream.setTimeout(0);
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.on('data', (chunk: Buffer) => {
        if (traffic.received(chunk.length)) socket.write(chunk);
      });
      upstream.on('end', () => socket.end());
      socket.pipe(upstream);
      socket.once('close', () => upstream.destroy());
      upstream.once('close', () => socket.destroy());
    });
  }

  private async forward(traffic: Traffic, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '');
    } catch {
      return void res.writeHead(400, { connection: 'close' }).end();
    }
    if (url.protocol !== 'http:') return void res.writeHead(400, { connection: 'close' }).end();
    const port = Number(url.port || 80);
    if (traffic.overBudget) return void res.writeHead(403, { [BLOCKED_HEADER]: 'byte budget', connection: 'close' }).end();
    const r = await this.resolve(url.hostname);
    if (!r.ok) {
      traffic.block(url.hostname, port, r.why, true);
      return void res.writeHead(403, { [BLOCKED_HEADER]: r.why, connection: 'close' }).end();
    }
    traffic.dial(url.hostname, port, r.address);
    const headers: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (k === 'proxy-connection' || k === 'proxy-authorization' || v === undefined) continue;
      headers[k] = v;
    }
    const upstream = http.request({ host: r.address, port, method: req.method, path: `${url.pathname}${url.search}`, headers, setHost: false, agent: false, timeout: this.opts.connectTimeoutMs() });
    upstream.on('timeout', () => upstream.destroy());
    upstream.on('socket', (s) => traffic.track(s));
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { connection: 'close' }).end();
      else res.destroy();
    });
    upstream.on('response', (up) => {
      upstream.setTimeout(0);
      res.writeHead(up.statusCode ?? 502, up.rawHeaders);
      up.on('data', (chunk: Buffer) => {
        if (traffic.received(chunk.length)) res.write(chunk);
        else res.destroy();
      });
      up.on('end', () => res.end());
      up.on('error', () => res.destroy());
    });
    req.pipe(upstream);
  }
}

/** `host:port` of a CONNECT request (IPv6 in brackets); null when malformed. */
export function parseAuthority(authority: string): { host: string; port: number } | null {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]/\s]+):(\d{1,5})$/.exec(authority);
  if (!m) return null;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return null;
  return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port };
}
