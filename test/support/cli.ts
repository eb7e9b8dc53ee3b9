/** Runs crawlctl's `main` in the test process, with its output captured; a fake API to run it against. */
import { once } from 'node:events';
import http, { type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { main } from '../../cli/crawlctl.js';

/** A writable that keeps what was written. */
export class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

/** crawlctl with these arguments: its exit code and what it printed (not a TTY, fast polling, empty environment). */
export async function runCrawlctl(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = new Sink();
  const err = new Sink();
  const code = await main(argv, { stdout: out, stderr: err, isTTY: false, pollMs: 5, env: {} });
  return { code, stdout: out.text, stderr: err.text };
}

/** A request the fake API saw. */
export interface Seen {
  method: string;
  url: string;
}

export interface FakeServer {
  url: string;
  /** Every request, in order. */
  seen: Seen[];
  close(): Promise<void>;
}

/** Answers a request: `send` writes a JSON answer; `res` is there for other bodies. */
export type FakeHandler = (req: Seen, res: ServerResponse, send: (status: number, body: unknown) => void) => void;

/** A local HTTP server standing in for the API, each request recorded and handed to `handle` once its body is read. */
export async function fakeServer(handle: FakeHandler): Promise<FakeServer> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const r = { method: req.method ?? '', url: req.url ?? '' };
      seen.push(r);
      handle(r, res, (status, body) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
