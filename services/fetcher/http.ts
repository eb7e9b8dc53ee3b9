/**
 * One page fetch over undici, safe against a hostile server:
 * - the DNS lookup hook dials only addresses the SSRF policy permits (the checked IP is the
 *   one connected to, so DNS rebinding cannot slip through); IP literals are checked first;
 * - connect, headers and idle-body timeouts, and a total deadline over all redirect hops;
 * - a byte cap on the wire and after each decompression layer (bomb-safe), chosen from the
 *   headers (fetch.maxBytes, or documents.maxBytes for a declared document type the session
 *   parses: bodyCap in shared/fetch/seam.ts), and a cap on stacked encodings;
 * - redirects followed by hand, each hop re-checked, loops detected.
 */
import net from 'node:net';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { request, type Agent, type Dispatcher } from 'undici';
import { CrawlError } from '../../shared/errors/index.js';
import type { Config } from '../../shared/config/index.js';
import { bodyCap, type FetchRequest, type FetchResponse, type PageFetcher } from '../../shared/fetch/seam.js';
import type { Validators } from '../../shared/crawlindex/policy.js';
import { createGuardedAgent } from '../../shared/net/agent.js';
import { AddressPolicy } from '../../shared/net/ssrf.js';
import type { HttpExchange } from '../../shared/warc/exchange.js';

const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);
const inflateRaw = promisify(zlib.inflateRaw);
const brotli = promisify(zlib.brotliDecompress);

/** Most content-encoding layers undone on one response. */
export const MAX_ENCODINGS = 2;

export type { FetchRequest, FetchResponse } from '../../shared/fetch/seam.js';

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

function flatHeaders(h: Dispatcher.ResponseData['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    const s = headerValue(v);
    if (s !== undefined) out[k] = s;
  }
  return out;
}

/** What a capturing interceptor saw of a response: the status text and the header lines as received. */
interface WireHead {
  statusText: string;
  rawHeaders: Array<[string, string]>;
}

/**
 * An undici interceptor that keeps the status text and the raw header lines (names as the
 * server wrote them, repeated headers apart) of the response; composed only for a fetch that
 * captures (WARC), so other fetches do not pay for it.
 */
function captureHead(into: WireHead): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (opts, handler) => dispatch(opts, {
    onRequestStart: (c, context) => handler.onRequestStart?.(c, context),
    onRequestUpgrade: (c, status, headers, socket) => handler.onRequestUpgrade?.(c, status, headers, socket),
    onResponseStart(c, status, headers, statusMessage) {
      const raw = (c as { rawHeaders?: Buffer[] | null }).rawHeaders ?? [];
      into.rawHeaders = [];
      for (let i = 0; i + 1 < raw.length; i += 2) into.rawHeaders.push([(raw[i] as Buffer).toString('latin1'), (raw[i + 1] as Buffer).toString('latin1')]);
      into.statusText = statusMessage ?? '';
      handler.onResponseStart?.(c, status, headers, statusMessage);
    },
    onResponseData: (c, chunk) => handler.onResponseData?.(c, chunk),
    onResponseEnd: (c, trailers) => handler.onResponseEnd?.(c, trailers),
    onResponseError: (c, err) => handler.onResponseError?.(c, err),
  });
}

/** Maps an undici/socket/DNS failure to a catalogue error. */
export function fetchError(err: unknown, url: string): CrawlError {
  if (err instanceof CrawlError) return err;
  const e = err as NodeJS.ErrnoException & { name?: string; cause?: unknown };
  const cause = (e.cause ?? {}) as NodeJS.ErrnoException;
  if (cause instanceof CrawlError) return cause;
  const code = e.code ?? cause.code ?? '';
  const name = e.name ?? '';
  if (name === 'TimeoutError' || name === 'AbortError' || /TIMEOUT/.test(code)) {
    return new CrawlError('timeout', `${url}: ${e.message || code || name}`, { cause: err, details: { undici: code } });
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME') {
    return new CrawlError('dns_failed', `${url}: cannot resolve host (${code})`, { cause: err });
  }
  if (/^(ECONNREFUSED|ECONNRESET|EPIPE|EHOSTUNREACH|ENETUNREACH|UND_ERR_SOCKET|UND_ERR_CLOSED)$/.test(code)) {
    return new CrawlError('connect_failed', `${url}: ${code}`, { cause: err });
  }
  if (/^(HPE_|UND_ERR_INVALID|UND_ERR_RES_CONTENT_LENGTH)/.test(code)) {
    return new CrawlError('protocol_error', `${url}: ${e.message}`, { cause: err });
  }
  return new CrawlError('connect_failed', `${url}: ${e.message || code}`, { cause: err });
}

async function readCapped(body: Dispatcher.ResponseData['body'], maxBytes: number, url: string, truncate = false): Promise<{ raw: Buffer; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    if (size + buf.length > maxBytes) {
      body.destroy();
      if (!truncate) throw new CrawlError('too_large', `${url}: body exceeds ${maxBytes} bytes on the wire`, { details: { limit: maxBytes } });
      chunks.push(buf.subarray(0, maxBytes - size));
      return { raw: Buffer.concat(chunks, maxBytes), truncated: true };
    }
    size += buf.length;
    chunks.push(buf);
  }
  return { raw: Buffer.concat(chunks, size), truncated: false };
}

/** One decompression layer as a stream, stopped after maxBytes of output; a cut input yields what it holds. */
function inflatePrefix(input: Buffer, layer: string, maxBytes: number, url: string, raw = false): Promise<Buffer> {
  const flush = { finishFlush: zlib.constants.Z_SYNC_FLUSH };
  let z: zlib.Gunzip | zlib.Inflate | zlib.InflateRaw | zlib.BrotliDecompress;
  if (layer === 'gzip' || layer === 'x-gzip') z = zlib.createGunzip(flush);
  else if (layer === 'deflate') z = raw ? zlib.createInflateRaw(flush) : zlib.createInflate(flush);
  else if (layer === 'br') z = zlib.createBrotliDecompress({ finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH });
  else return Promise.reject(new CrawlError('protocol_error', `${url}: unsupported content encoding ${layer}`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const done = (): void => {
      if (settled) return;
      settled = true;
      z.destroy();
      resolve(Buffer.concat(chunks).subarray(0, maxBytes));
    };
    z.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= maxBytes) done();
    });
    z.on('end', done);
    z.on('error', (err: NodeJS.ErrnoException) => {
      if (size > 0) return done();
      if (settled) return;
      settled = true;
      reject(err);
    });
    z.end(input);
  });
}

/** One decompression layer whole, failing past maxBytes of output. */
function inflateWhole(input: Buffer, layer: string, maxBytes: number, url: string, raw = false): Promise<Buffer> {
  const opts = { maxOutputLength: maxBytes };
  if (layer === 'gzip' || layer === 'x-gzip') return gunzip(input, opts);
  if (layer === 'br') return brotli(input, opts);
  if (layer === 'deflate') return raw ? inflateRaw(input, opts) : inflate(input, opts);
  return Promise.reject(new CrawlError('protocol_error', `${url}: unsupported content encoding ${layer}`));
}

function encodingLayers(encodingHeader: string | undefined, url: string): string[] {
  const layers = (encodingHeader ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '' && s !== 'identity');
  if (layers.length > MAX_ENCODINGS) {
    throw new CrawlError('protocol_error', `${url}: ${layers.length} stacked content encodings (limit ${MAX_ENCODINGS})`);
  }
  return layers;
}

/**
 * Undoes the content encodings of a body, the last applied first, each layer's output capped
 * at maxBytes (bomb-safe). Whole (the default): a layer past the cap fails with too_large.
 * `prefix` (a truncated body, e.g. robots.txt): each layer keeps its first maxBytes and a cut
 * input yields what it holds. "deflate" is zlib-wrapped by the RFC but raw on some servers:
 * it is retried raw when the zlib header is wrong, never after the size cap was hit.
 */
export async function decodeBody(body: Buffer, encodingHeader: string | undefined, maxBytes: number, url: string, mode: 'whole' | 'prefix' = 'whole'): Promise<Buffer> {
  const inflateLayer = mode === 'prefix' ? inflatePrefix : inflateWhole;
  let out = body;
  for (const layer of encodingLayers(encodingHeader, url).reverse()) {
    const input = out;
    try {
      out = await inflateLayer(input, layer, maxBytes, url).catch((err: NodeJS.ErrnoException) => {
        if (layer === 'deflate' && err.code === 'Z_DATA_ERROR' && /header/i.test(err.message)) return inflateLayer(input, layer, maxBytes, url, true);
        throw err;
      });
    } catch (err) {
      if (err instanceof CrawlError) throw err;
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new CrawlError('too_large', `${url}: body exceeds ${maxBytes} bytes after ${layer} decompression`, { cause: err, details: { limit: maxBytes } });
      }
      throw new CrawlError('protocol_error', `${url}: bad ${layer} body: ${(err as Error).message}`, { cause: err });
    }
  }
  return out;
}

/** Whether a Content-Type's essence matches one of `patterns` (`image/*` matches every image type). */
export function typeMatches(contentType: string | undefined, patterns: readonly string[]): boolean {
  const essence = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (essence === '') return false;
  return patterns.some((p) => (p.endsWith('/*') ? essence.startsWith(p.slice(0, -1)) : essence === p));
}

/** If-None-Match / If-Modified-Since of a conditional request (recrawl.conditional). */
export function conditionalHeaders(v: Validators | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (v?.ifNoneMatch !== undefined) out['if-none-match'] = v.ifNoneMatch;
  if (v?.ifModifiedSince !== undefined) out['if-modified-since'] = v.ifModifiedSince;
  return out;
}

/**
 * The checks a URL passes before any connection: http(s) only, and an IP literal host must be
 * permitted by the SSRF policy (host names are checked on the resolved address, at connect).
 */
export function preflight(url: URL, policy: AddressPolicy): void {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CrawlError('bad_url', `${url.href}: only http and https are fetched`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (net.isIP(host) !== 0 && !policy.permits(host)) {
    throw new CrawlError('blocked_address', `${url.href}: address ${host} is forbidden`);
  }
}

/** Where a capture finds the address dialed for a host name (the guarded agent's lookups). */
export type AddressOf = (hostname: string) => string | null;

export async function fetchPage(url: string, agent: Dispatcher, policy: AddressPolicy, opts: FetchRequest, addressOf: AddressOf = () => null): Promise<FetchResponse> {
  // The total deadline, as AbortSignal.timeout(ms) would give it (a TimeoutError reason) but
  // with a timer cleared when the fetch ends: AbortSignal.timeout's timer and weak references
  // stay behind each request until they fire or are collected (2.3% of the fetcher's CPU).
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')), opts.totalTimeoutMs);
  try {
    return await fetchHops(url, agent, policy, opts, addressOf, deadline.signal);
  } finally {
    clearTimeout(timer);
  }
}

async function fetchHops(url: string, agent: Dispatcher, policy: AddressPolicy, opts: FetchRequest, addressOf: AddressOf, signal: AbortSignal): Promise<FetchResponse> {
  const started = performance.now();
  const seen = new Set<string>();
  let current = new URL(url);
  for (let hop = 0; ; hop++) {
    preflight(current, policy);
    seen.add(current.href);
    // The session's headers and cookies, asked for each hop: none for a URL out of its scope.
    const own = opts.requestState ? await opts.requestState.headersFor(current) : {};
    const headers = {
      'user-agent': opts.userAgent,
      accept: opts.accept ?? 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.5',
      ...own,
      'accept-encoding': 'gzip, deflate, br',
      // The validators describe the URL asked for, not a redirect target.
      ...(hop === 0 ? conditionalHeaders(opts.validators) : {}),
    };
    const head: WireHead | null = opts.capture ? { statusText: '', rawHeaders: [] } : null;
    const sentAt = new Date();
    let res: Dispatcher.ResponseData;
    try {
      res = await request(current, {
        dispatcher: head ? agent.compose(captureHead(head)) : agent,
        method: 'GET',
        headers,
        headersTimeout: opts.headersTimeoutMs,
        bodyTimeout: opts.bodyIdleTimeoutMs,
        signal,
      });
    } catch (err) {
      throw fetchError(err, current.href);
    }
    const setCookie = res.headers['set-cookie'];
    if (opts.requestState && setCookie !== undefined) {
      try {
        await opts.requestState.received(current, Array.isArray(setCookie) ? setCookie : [setCookie]);
      } catch (err) {
        res.body.destroy();
        res.body.on('error', () => undefined);
        throw fetchError(err, current.href);
      }
    }
    const location = headerValue(res.headers.location);
    if (res.statusCode >= 300 && res.statusCode < 400 && res.statusCode !== 304 && location) {
      res.body.resume();
      res.body.on('error', () => undefined);
      if (hop >= opts.maxRedirects) {
        throw new CrawlError('too_many_redirects', `${url}: more than ${opts.maxRedirects} redirects`);
      }
      let next: URL;
      try {
        next = new URL(location, current);
      } catch {
        throw new CrawlError('bad_redirect', `${current.href}: unusable Location ${JSON.stringify(location)}`);
      }
      next.hash = '';
      if (seen.has(next.href)) throw new CrawlError('too_many_redirects', `${url}: redirect loop at ${next.href}`);
      if (opts.allowRedirect && !opts.allowRedirect(next)) {
        throw new CrawlError('out_of_scope', `${current.href} redirects out of scope to ${next.href}`);
      }
      current = next;
      continue;
    }
    // A type that is never parsed (images, video, archives...) is not downloaded: the headers say enough.
    if (opts.skipTypes && res.statusCode >= 200 && res.statusCode < 300 && typeMatches(headerValue(res.headers['content-type']), opts.skipTypes)) {
      res.body.destroy();
      res.body.on('error', () => undefined);
      return { status: res.statusCode, finalUrl: current.href, headers: flatHeaders(res.headers), body: Buffer.alloc(0), redirects: hop, ms: performance.now() - started, truncated: false, bodySkipped: true };
    }
    let body: Buffer;
    let truncated = false;
    let exchange: HttpExchange | undefined;
    try {
      // The cap is chosen from the headers, before the body is read: a document the session parses gets documents.maxBytes.
      const cap = bodyCap(opts, headerValue(res.headers['content-type']));
      const read = await readCapped(res.body, cap, current.href, opts.truncate);
      const encoding = headerValue(res.headers['content-encoding']);
      truncated = read.truncated;
      body = await decodeBody(read.raw, encoding, cap, current.href, opts.truncate ? 'prefix' : 'whole');
      if (opts.truncate) truncated ||= body.length >= cap && encoding !== undefined;
      if (head) exchange = wireExchange(current, res.statusCode, head, headers, read.raw, sentAt, addressOf);
    } catch (err) {
      res.body.destroy();
      throw fetchError(err, current.href);
    }
    return {
      status: res.statusCode,
      finalUrl: current.href,
      headers: flatHeaders(res.headers),
      body,
      redirects: hop,
      ms: performance.now() - started,
      truncated,
      ...(exchange ? { exchange } : {}),
    };
  }
}

/** The exchange of one hop as it went over the wire: the request line and headers undici writes (client-h1), the response as received. */
function wireExchange(url: URL, status: number, head: WireHead, headers: Record<string, string>, wire: Buffer, at: Date, addressOf: AddressOf): HttpExchange {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return {
    url: url.href,
    ip: net.isIP(host) !== 0 ? host : addressOf(url.hostname),
    method: 'GET',
    requestHeaders: [['host', url.host], ['connection', 'keep-alive'], ...Object.entries(headers)],
    status,
    statusText: head.statusText,
    rawHeaders: head.rawHeaders,
    body: wire,
    at,
  };
}

/**
 * The undici fetcher of the fetch seam: a guarded agent (the SSRF policy on the address
 * dialed) that follows live changes of the network allowlist and the connect timeout.
 */
export class HttpFetcher implements PageFetcher {
  private policy: AddressPolicy;
  private agent: Agent;
  private settings: { networks: readonly string[]; connectTimeoutMs: number };
  /** The last address the agent resolved for each host name (WARC-IP-Address), bounded. */
  private readonly addresses = new Map<string, string>();
  private readonly onResolved = (hostname: string, address: string): void => {
    if (this.addresses.size >= 10_000 && !this.addresses.has(hostname)) this.addresses.clear();
    this.addresses.set(hostname, address);
  };

  constructor(private readonly config: () => Config) {
    const f = config().fetch;
    this.settings = { networks: f.allowedNetworks, connectTimeoutMs: f.connectTimeoutMs };
    this.policy = new AddressPolicy(f.allowedNetworks);
    this.agent = createGuardedAgent(this.policy, f.connectTimeoutMs, undefined, this.onResolved);
  }

  /** Rebuilds the policy and agent when their settings changed (a new config snapshot holds new values). */
  private current(): { policy: AddressPolicy; agent: Agent } {
    const f = this.config().fetch;
    // A config change makes a new snapshot: compare the values only when the objects differ.
    if (f.allowedNetworks !== this.settings.networks || f.connectTimeoutMs !== this.settings.connectTimeoutMs) {
      if (f.connectTimeoutMs === this.settings.connectTimeoutMs && f.allowedNetworks.join() === this.settings.networks.join()) {
        this.settings = { networks: f.allowedNetworks, connectTimeoutMs: f.connectTimeoutMs };
        return { policy: this.policy, agent: this.agent };
      }
      const old = this.agent;
      this.settings = { networks: f.allowedNetworks, connectTimeoutMs: f.connectTimeoutMs };
      this.policy = new AddressPolicy(f.allowedNetworks);
      this.agent = createGuardedAgent(this.policy, f.connectTimeoutMs, undefined, this.onResolved);
      void old.close();
    }
    return { policy: this.policy, agent: this.agent };
  }

  preflight(url: URL): void {
    preflight(url, this.current().policy);
  }

  fetch(url: string, req: FetchRequest): Promise<FetchResponse> {
    const { policy, agent } = this.current();
    return fetchPage(url, agent, policy, req, (hostname) => this.addresses.get(hostname) ?? null);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
