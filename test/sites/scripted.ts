/**
 * A site built by JavaScript, for the renderer's tests. It listens on one loopback address;
 * `stop()` destroys every socket. The forbidden target (`forbiddenHost:forbiddenPort`) is
 * another address the test's policy refuses; a `ForbiddenCounter` there counts connections.
 *
 * | Path              | What it is                                                                                     |
 * |-------------------|------------------------------------------------------------------------------------------------|
 * | `/`               | static index (no script) linking /app, /feed, /members, /static/1                             |
 * | `/app`            | an empty `<div id="root">` shell; a script sets the title, heading, text and links after 200 ms |
 * | `/gz-app`         | the shell of /app sent gzip-encoded                                                            |
 * | `/slow/<n>`       | a static page sent after 1.5 s                                                                 |
 * | `/feed`           | a shell whose script loads `/api/links` by XHR, then adds more links when scrolled to the end  |
 * | `/api/links`      | JSON list of links                                                                            |
 * | `/members`        | a shell whose script shows the secret only when the `member=yes` cookie is sent               |
 * | `/static/<n>`     | a static page with text and a link to /static/<n+1> (n < 3)                                   |
 * | `/ssrf`           | XHR, fetch, image, iframe, WebSocket to the forbidden target, a name that resolves to it        |
 * | `/to-forbidden`   | 302 to the forbidden target                                                                   |
 * | `/to-static`      | 302 to /static/1                                                                              |
 * | `/spin`           | `while (true) {}` after the page parsed                                                       |
 * | `/popups`         | tries to open 100 pop-up windows                                                               |
 * | `/big-image`      | a page showing /big.png                                                                       |
 * | `/big.png`        | a 50 MiB image/png body, generated in chunks                                                   |
 * | `/many/<n>`       | n < MANY_PAGES: a shell whose script adds its title and links to /many/2n+1 and /many/2n+2      |
 */
import http from 'node:http';
import type net from 'node:net';
import { gzipSync } from 'node:zlib';

export const BIG_IMAGE_BYTES = 50 * 1024 * 1024;
/** Pages of the /many/<n> tree. */
export const MANY_PAGES = 30;

const html = (title: string, body: string, script = ''): string =>
  `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body>${body}${script ? `<script>${script}</script>` : ''}</body></html>`;

/** The shell of a script-built page: an empty root, a large script, a noscript asking for JavaScript. */
const shell = (script: string): string =>
  html('Loading…', '<noscript>You need to enable JavaScript to run this app.</noscript><div id="root"></div>', `/* ${'x'.repeat(4000)} */\n${script}`);

export class ScriptedSite {
  private server: http.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  /** Requests served, by path. */
  readonly hits = new Map<string, number>();
  /** The last body served for each path, before any content coding. */
  readonly bodies = new Map<string, Buffer>();
  private readonly timers = new Set<NodeJS.Timeout>();
  port = 0;

  constructor(readonly host: string, readonly forbidden: { host: string; port: number; name: string }) {}

  get origin(): string {
    return `http://${this.host}:${this.port}`;
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => this.answer(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server?.listen(0, this.host, resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private answer(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    this.hits.set(path, (this.hits.get(path) ?? 0) + 1);
    const page = (body: string, status = 200): void => {
      this.bodies.set(path, Buffer.from(body));
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' }).end(body);
    };
    const f = this.forbidden;
    const forbiddenUrl = `http://${f.host}:${f.port}`;
    switch (path) {
      case '/':
        return page(html('Index', '<h1>Index</h1><p>A static index page with enough visible text to need no rendering at all, about the site and what it holds.</p><a href="/app">app</a> <a href="/feed">feed</a> <a href="/members">members</a> <a href="/static/1">static</a>'));
      case '/app':
        return page(shell(`setTimeout(() => {
          document.title = 'Rendered App';
          document.getElementById('root').innerHTML = '<h1>Made by script</h1><p>This paragraph was written by JavaScript after a delay.</p><a href="/static/1">first</a> <a href="/static/2">second</a>';
        }, 200);`));
      case '/gz-app': {
        const body = Buffer.from(shell(`setTimeout(() => { document.title = 'Rendered App'; document.getElementById('root').innerHTML = '<h1>Made by script</h1>'; }, 200);`));
        this.bodies.set(path, body);
        return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-encoding': 'gzip' }).end(gzipSync(body));
      }
      case '/feed':
        return page(shell(`const root = document.getElementById('root');
          document.title = 'Feed';
          const x = new XMLHttpRequest();
          x.open('GET', '/api/links');
          x.onload = () => {
            for (const l of JSON.parse(x.responseText)) root.insertAdjacentHTML('beforeend', '<p><a href="' + l + '">' + l + '</a></p>');
            root.insertAdjacentHTML('beforeend', '<div style="height:3000px">spacer</div>');
            let more = false;
            window.addEventListener('scroll', () => {
              if (more || window.scrollY + window.innerHeight < document.documentElement.scrollHeight - 10) return;
              more = true;
              root.insertAdjacentHTML('beforeend', '<p><a href="/static/3">loaded on scroll</a></p>');
            });
          };
          x.send();`));
      case '/api/links':
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(['/static/1', '/static/2']));
      case '/members':
        return page(shell(`document.title = document.cookie.includes('member=yes') ? 'Members area' : 'Please log in';
          document.getElementById('root').textContent = document.cookie.includes('member=yes') ? 'The secret member text.' : 'No cookie, no secret.';`));
      case '/static/1':
      case '/static/2':
      case '/static/3': {
        const n = Number(path.slice('/static/'.length));
        return page(html(`Static ${n}`, `<h1>Static ${n}</h1><p>A plain page, written on the server, with text a reader can see without any script.</p>${n < 3 ? `<a href="/static/${n + 1}">next</a>` : ''}`));
      }
      case '/ssrf':
        return page(html('SSRF', `<h1>SSRF</h1><p>This page tries to reach a forbidden address.</p><img src="${forbiddenUrl}/img.png"><iframe src="${forbiddenUrl}/frame"></iframe><img src="http://${f.name}:${f.port}/named.png">`,
          `fetch('${forbiddenUrl}/fetch').catch(() => {});
           const x = new XMLHttpRequest(); x.open('GET', '${forbiddenUrl}/xhr'); x.onerror = () => {}; x.send();
           try { new WebSocket('ws://${f.host}:${f.port}/ws'); } catch (e) {}
           fetch('http://${f.name}:${f.port}/named').catch(() => {});`));
      case '/to-static':
        return void res.writeHead(302, { location: '/static/1' }).end();
      case '/to-forbidden':
        return void res.writeHead(302, { location: `${forbiddenUrl}/redirected` }).end();
      case '/spin':
        return page(html('Spin', '<p>spins</p>', 'setTimeout(() => { while (true) {} }, 0);'));
      case '/popups':
        return page(html('Popups', '<h1>Popups</h1><p>A page that opens windows.</p>', `for (let i = 0; i < 100; i++) { try { window.open('/static/1?' + i, '_blank'); } catch (e) {} }`));
      case '/big-image':
        return page(html('Big image', '<h1>Big image</h1><p>A page with a very large picture.</p><img src="/big.png">'));
      case '/big.png': {
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(BIG_IMAGE_BYTES) });
        const chunk = Buffer.alloc(64 * 1024, 7);
        let sent = 0;
        const pump = (): void => {
          while (sent < BIG_IMAGE_BYTES) {
            sent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        res.on('close', () => (sent = BIG_IMAGE_BYTES));
        return pump();
      }
      default: {
        const slow = /^\/slow\/(\d+)$/.exec(path);
        if (slow) {
          const t = setTimeout(() => {
            this.timers.delete(t);
            page(html(`Slow ${slow[1]}`, `<h1>Slow ${slow[1]}</h1><p>A static page that took its time.</p>`));
          }, 1500);
          this.timers.add(t);
          return;
        }
        const many = /^\/many\/(\d+)$/.exec(path);
        const n = many ? Number(many[1]) : -1;
        if (n >= 0 && n < MANY_PAGES) {
          const links = [2 * n + 1, 2 * n + 2].filter((k) => k < MANY_PAGES).map((k) => `<a href="/many/${k}">page ${k}</a>`).join(' ');
          return page(shell(`document.title = 'Many ${n}'; document.getElementById('root').innerHTML = '<h1>Many ${n}</h1><p>Built by script.</p>${links}';`));
        }
        return page(html('Not found', '<p>not found</p>'), 404);
      }
    }
  }
}

/** A listener that counts the connections it accepts (it should see none). */
export class ForbiddenCounter {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  accepted = 0;
  port = 0;

  async start(host: string): Promise<number> {
    const { createServer } = await import('node:net');
    this.server = createServer((s) => {
      this.accepted++;
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => undefined);
      s.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi');
    });
    await new Promise<void>((resolve) => this.server?.listen(0, host, resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
