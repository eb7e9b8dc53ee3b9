/**
 * A small site for recrawls that counts the requests of each path and answers conditional
 * requests as a cache-friendly server does: every page has an ETag (a hash of its body) and a
 * Last-Modified; If-None-Match (or, without it, If-Modified-Since) that still holds is a 304.
 * Pages can be changed (`setPage`) between crawls. robots.txt is a 404 (all allowed).
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface PageDef {
  title: string;
  links: string[];
  /** Extra text: change it to change the page without changing its links. */
  text?: string;
}

function render(p: PageDef): string {
  return `<!doctype html><html><head><title>${p.title}</title></head><body><h1>${p.title}</h1><p>${p.text ?? ''}</p>${p.links.map((l) => `<a href="${l}">${l}</a>`).join(' ')}</body></html>`;
}

export class RevisitSite {
  private server: Server | null = null;
  private readonly pages = new Map<string, { body: string; etag: string; lastModified: string }>();
  /** Requests per path (robots.txt included). */
  readonly requests = new Map<string, number>();
  /** Responses per status. */
  readonly statuses = new Map<number, number>();
  origin = '';

  constructor(private readonly host = '127.0.0.2', pages: Record<string, PageDef> = {}) {
    for (const [path, def] of Object.entries(pages)) this.setPage(path, def);
  }

  /** Adds or changes a page (its ETag and Last-Modified change with it). */
  setPage(path: string, def: PageDef, lastModified = new Date()): void {
    const body = render(def);
    this.pages.set(path, { body, etag: `"${createHash('sha1').update(body).digest('hex').slice(0, 12)}"`, lastModified: new Date(Math.floor(lastModified.getTime() / 1000) * 1000).toUTCString() });
  }

  /** Requests of the pages (robots.txt excluded). */
  pageRequests(): number {
    let n = 0;
    for (const [path, c] of this.requests) if (path !== '/robots.txt') n += c;
    return n;
  }

  count(path: string): number {
    return this.requests.get(path) ?? 0;
  }

  reset(): void {
    this.requests.clear();
    this.statuses.clear();
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      this.requests.set(path, this.count(path) + 1);
      const page = this.pages.get(path);
      const answer = (status: number, headers: Record<string, string>, body = ''): void => {
        this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
        res.writeHead(status, headers).end(body);
      };
      if (!page) return answer(404, { 'content-type': 'text/plain' }, 'not found');
      const validators = { etag: page.etag, 'last-modified': page.lastModified };
      const inm = req.headers['if-none-match'];
      const ims = req.headers['if-modified-since'];
      const notModified = inm !== undefined ? inm.split(',').map((s) => s.trim()).includes(page.etag) : ims !== undefined && Date.parse(ims) >= Date.parse(page.lastModified);
      if (notModified) return answer(304, validators);
      answer(200, { 'content-type': 'text/html; charset=utf-8', ...validators }, page.body);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, this.host, resolve));
    this.origin = `http://${this.host}:${(this.server.address() as AddressInfo).port}`;
    return this.origin;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
