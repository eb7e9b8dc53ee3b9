/**
 * A fetch that captures (a session with `warc`) keeps the exchange as it went over the wire:
 * the status text, the header lines as the server wrote them, the body before decompression,
 * the request's header lines; a fetch that does not capture keeps nothing.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import { fetchPage } from '../../../services/fetcher/http.js';
import { createGuardedAgent } from '../../../shared/net/agent.js';
import { AddressPolicy } from '../../../shared/net/ssrf.js';

describe('fetcher: the exchange as on the wire (WARC capture)', function () {
  this.timeout(20_000);
  let server: Server;
  let origin: string;
  const html = Buffer.from('<html><head><title>gz</title></head><body>' + 'word '.repeat(500) + '</body></html>');
  const gz = zlib.gzipSync(html);
  const policy = new AddressPolicy(['127.0.0.0/8']);
  const agent = createGuardedAgent(policy, 2000);
  const opts = { userAgent: 'crawlfleet-test', headersTimeoutMs: 2000, bodyIdleTimeoutMs: 2000, totalTimeoutMs: 10_000, maxBytes: 1024 * 1024, maxRedirects: 5 };

  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/moved') return void res.writeHead(302, { location: '/gz' }).end();
      // Raw header lines, names in mixed case, a repeated header, chunked (no Content-Length).
      res.writeHead(200, 'Fine Thanks', ['X-Mixed-Case', 'Yes', 'Content-Type', 'text/html; charset=utf-8', 'Content-Encoding', 'gzip', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2']);
      res.write(gz.subarray(0, 100));
      setTimeout(() => res.end(gz.subarray(100)), 10);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await agent.close();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('keeps the status line, raw headers and wire bytes of the final hop, and decodes the body as usual', async () => {
    const res = await fetchPage(`${origin}/moved`, agent, policy, { ...opts, capture: true });
    assert.deepEqual(res.body, html);
    const x = res.exchange;
    assert.ok(x);
    assert.equal(x.url, `${origin}/gz`);
    assert.equal(x.ip, '127.0.0.1');
    assert.equal(x.status, 200);
    assert.equal(x.statusText, 'Fine Thanks');
    const names = x.rawHeaders.map(([k]) => k);
    assert.deepEqual(names.filter((n) => n !== 'Date' && n !== 'Connection' && n !== 'Keep-Alive'), ['X-Mixed-Case', 'Content-Type', 'Content-Encoding', 'Set-Cookie', 'Set-Cookie', 'Transfer-Encoding']);
    assert.deepEqual(x.body, gz, 'the body as sent: gzip, before decompression');
    assert.deepEqual(x.requestHeaders.map(([k]) => k), ['host', 'connection', 'user-agent', 'accept', 'accept-encoding']);
    assert.equal(x.requestHeaders[0]?.[1], new URL(origin).host);
  });

  it('keeps nothing when the fetch does not capture', async () => {
    const res = await fetchPage(`${origin}/gz`, agent, policy, opts);
    assert.deepEqual(res.body, html);
    assert.equal(res.exchange, undefined);
  });
});
