/**
 * The total deadline of a fetch (fetch.totalTimeoutMs): a body that keeps trickling in under
 * the idle timeout still ends as `timeout` once the whole fetch has taken that long, the
 * server sees the connection closed, and a fetch that ends in time leaves no timer behind.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fetchPage } from '../../../services/fetcher/http.js';
import { CrawlError } from '../../../shared/errors/index.js';
import { createGuardedAgent } from '../../../shared/net/agent.js';
import { AddressPolicy } from '../../../shared/net/ssrf.js';

const TOTAL_MS = 600;

describe('the total deadline of a fetch', function () {
  this.timeout(20_000);
  let server: Server;
  let origin: string;
  let dripClosed: Promise<number>;
  const policy = new AddressPolicy(['127.0.0.0/8']);
  const agent = createGuardedAgent(policy, 2000);
  const opts = { userAgent: 'crawlfleet-test', headersTimeoutMs: 2000, bodyIdleTimeoutMs: 2000, totalTimeoutMs: TOTAL_MS, maxBytes: 1 << 20, maxRedirects: 5 };

  before(async () => {
    let closed: (ms: number) => void = () => undefined;
    dripClosed = new Promise((r) => (closed = r));
    server = createServer((req, res) => {
      if (req.url === '/quick') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>ok</html>');
      // One byte every 50 ms, far within the 2 s idle timeout, for 10 s.
      const started = Date.now();
      res.writeHead(200, { 'content-type': 'text/html' });
      const timer = setInterval(() => (Date.now() - started > 10_000 ? res.end() : res.write('.')), 50);
      res.on('close', () => {
        clearInterval(timer);
        closed(Date.now() - started);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await agent.close();
    await new Promise((r) => server.close(r));
  });

  it('ends a trickling body as timeout at the deadline, and closes the connection', async () => {
    const started = Date.now();
    await assert.rejects(fetchPage(`${origin}/drip`, agent, policy, opts), (err: unknown) => err instanceof CrawlError && err.code === 'timeout' && err.retryable);
    const took = Date.now() - started;
    assert.ok(took >= TOTAL_MS - 50 && took < TOTAL_MS + 1500, `ended after ${took} ms`);
    assert.ok((await dripClosed) < TOTAL_MS + 2000, 'the server saw the connection close');
  });

  it('leaves no timer behind a fetch that ended in time', async () => {
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    for (let i = 0; i < 20; i++) assert.equal((await fetchPage(`${origin}/quick`, agent, policy, { ...opts, totalTimeoutMs: 60_000 })).status, 200);
    const afterCount = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    assert.ok(afterCount - before < 5, `${afterCount - before} timers more than before 20 fetches`);
  });
});
