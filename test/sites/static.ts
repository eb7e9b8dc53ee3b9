/**
 * A directory of files served over HTTP, for crawling a real corpus locally (the bench's
 * python3-doc run: `apt-get install python3-doc`, /usr/share/doc/python3/html). GET and HEAD
 * of a path under the root answer the file with a type from its extension; `/` answers
 * `index.html`; anything else is 404. Never serves outside the root (symlinks are followed
 * only to files under the root's real path).
 *
 * `reachable()` is the oracle: every URL a crawler that follows `<a href>` links of the same
 * origin from `/` would request, found by walking the files the same way as the bench's
 * baseline crawler (cheerio on htmlparser2, its resolveLink: against `<base href>` and the
 * page, fragments dropped).
 */
import { createReadStream, existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, sep } from 'node:path';
import * as cheerio from 'cheerio';
import { resolveLink as resolve } from '../../bench/baseline.js';
import type { SiteStats } from './generated.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.css': 'text/css',
  '.js': 'text/javascript',
  '.txt': 'text/plain; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.jpg': 'image/jpeg',
  '.gif': 'image/gif',
  '.ico': 'image/x-icon',
  '.pdf': 'application/pdf',
  '.zip': 'application/zip',
  '.bz2': 'application/x-bzip2',
  '.xml': 'application/xml',
  '.json': 'application/json',
  '.py': 'text/x-python; charset=utf-8',
};

export class StaticSite {
  private server: Server | null = null;
  private counters: SiteStats = StaticSite.emptyStats();
  private readonly root: string;

  constructor(root: string) {
    if (!existsSync(root) || !statSync(root).isDirectory()) throw new Error(`StaticSite: ${root} is not a directory`);
    this.root = realpathSync(root);
  }

  private static emptyStats(): SiteStats {
    return { requests: 0, inFlight: 0, maxInFlight: 0, bytesSent: 0, byPath: new Map() };
  }

  get stats(): SiteStats {
    return this.counters;
  }

  resetStats(): void {
    const inFlight = this.counters.inFlight;
    this.counters = StaticSite.emptyStats();
    this.counters.inFlight = inFlight;
    this.counters.maxInFlight = inFlight;
  }

  async start(host = '127.0.0.1', port = 0): Promise<string> {
    if (this.server) throw new Error('StaticSite already started');
    const server = createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 30_000;
    this.server = server;
    await new Promise<void>((resolve) => server.listen(port, host, resolve));
    return `http://${host}:${(server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The file a request path names, or null (outside the root, missing, not a file). */
  fileOf(path: string): string | null {
    let pathname: string;
    try {
      pathname = decodeURIComponent(new URL(path, 'http://x').pathname);
    } catch {
      return null;
    }
    if (pathname.endsWith('/')) pathname += 'index.html';
    const candidate = join(this.root, pathname);
    try {
      const real = realpathSync(candidate);
      if (real !== this.root && !real.startsWith(this.root + sep)) return null;
      return statSync(real).isFile() ? real : null;
    } catch {
      return null;
    }
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const target = req.url ?? '/';
    const c = this.counters;
    c.requests++;
    c.inFlight++;
    if (c.inFlight > c.maxInFlight) c.maxInFlight = c.inFlight;
    c.byPath.set(target, (c.byPath.get(target) ?? 0) + 1);
    res.once('close', () => void c.inFlight--);
    const file = req.method === 'GET' || req.method === 'HEAD' ? this.fileOf(target) : null;
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const size = statSync(file).size;
    res.writeHead(200, { 'content-type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream', 'content-length': size });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    c.bytesSent += size;
    createReadStream(file).pipe(res);
  }

  /** Paths (pathname + search) of every URL reachable from `/` through same-origin `<a href>` links, 404s included. */
  reachable(): Set<string> {
    const origin = 'http://static.test';
    const seen = new Set<string>([`${origin}/`]);
    const queue = [`${origin}/`];
    for (let i = 0; i < queue.length; i++) {
      const url = queue[i] as string;
      const file = this.fileOf(new URL(url).pathname);
      if (!file || !TYPES[extname(file).toLowerCase()]?.startsWith('text/html')) continue;
      const $ = cheerio.load(readFileSync(file, 'utf8'), { xml: { xmlMode: false, decodeEntities: true } });
      const baseHref = $('base[href]').first().attr('href');
      const base = baseHref ? (resolve(baseHref, url, origin) ?? url) : url;
      for (const el of $('a[href]').toArray()) {
        const link = resolve((el.attribs.href ?? '').trim(), base, origin);
        if (link === null || link === '' || seen.has(link)) continue;
        seen.add(link);
        queue.push(link);
      }
    }
    return new Set([...seen].map((u) => {
      const x = new URL(u);
      return x.pathname + x.search;
    }));
  }
}
