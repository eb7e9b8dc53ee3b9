/**
 * Types that are never parsed are not downloaded (fetch.skipTypes): the fetch stops after the
 * headers, the record keeps the type and the declared length.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fetchPage, typeMatches } from '../../../services/fetcher/http.js';
import { routeStep } from '../../../services/fetcher/steps.js';
import { sessionPolicy } from '../../../shared/admission/index.js';
import { loadConfig } from '../../../shared/config/index.js';
import { createGuardedAgent } from '../../../shared/net/agent.js';
import { AddressPolicy } from '../../../shared/net/ssrf.js';

const MB = 1024 * 1024;

describe('types that are not downloaded (fetch.skipTypes)', function () {
  this.timeout(20_000);
  const skipTypes = loadConfig({ env: {}, file: null }).config.fetch.skipTypes;

  it('matches by essence, with type/* for a whole top-level type', () => {
    const cases: [string | undefined, boolean][] = [
      ['image/png', true], ['IMAGE/JPEG; q=1', true], ['video/mp4', true], ['application/zip', true],
      ['text/html; charset=utf-8', false], ['application/pdf', false], ['application/zipx', false], ['', false], [undefined, false],
    ];
    for (const [type, expected] of cases) assert.equal(typeMatches(type, skipTypes), expected, String(type));
  });

  describe('against a local server', () => {
    let server: Server;
    let origin: string;
    let sent = 0;
    let closedEarly = false;
    const policy = new AddressPolicy(['127.0.0.0/8']);
    const agent = createGuardedAgent(policy, 2000);
    const opts = { userAgent: 'crawlfleet-test', headersTimeoutMs: 2000, bodyIdleTimeoutMs: 2000, totalTimeoutMs: 10_000, maxBytes: 100 * MB, maxRedirects: 5 };

    before(async () => {
      server = createServer((req, res) => {
        if (req.url === '/page') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>ok</html>');
        // A 50 MB image, sent slowly in 64 KiB chunks.
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(50 * MB) });
        const chunk = Buffer.alloc(64 * 1024, 1);
        const timer = setInterval(() => {
          if (sent >= 50 * MB) {
            clearInterval(timer);
            res.end();
            return;
          }
          res.write(chunk);
          sent += chunk.length;
        }, 20);
        res.on('close', () => {
          clearInterval(timer);
          if (sent < 50 * MB) closedEarly = true;
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(async () => {
      await agent.close();
      await new Promise((r) => server.close(r));
    });

    it('stops after the headers of a 50 MB image, and reads a page as before', async () => {
      const started = Date.now();
      const res = await fetchPage(`${origin}/big.png`, agent, policy, { ...opts, skipTypes });
      assert.equal(res.bodySkipped, true);
      assert.equal(res.body.length, 0);
      assert.equal(res.headers['content-length'], String(50 * MB));
      assert.ok(Date.now() - started < 2000, `${Date.now() - started} ms`);
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(closedEarly, 'the server saw the connection close before the body was sent');
      assert.ok(sent < 5 * MB, `${sent} bytes sent`);
      const page = await fetchPage(`${origin}/page`, agent, policy, { ...opts, skipTypes });
      assert.equal(page.bodySkipped, undefined);
      assert.equal(page.body.toString(), '<html>ok</html>');
    });
  });

  it('routes a skipped body to a delivered record with its type and declared length', async () => {
    const spec = { seeds: ['http://site.test/'], maxPages: 10, maxDepth: 2, timeoutMs: 60_000, allowedHosts: ['site.test'], include: [], exclude: [], fields: {}, webhook: null, label: null };
    const job = { task: { sessionId: 's', taskId: 't', url: 'http://site.test/a.png', depth: 1, attempt: 0, admittedAt: 0 }, attempt: 1, session: sessionPolicy('s', spec), target: new URL('http://site.test/a.png'), crawlDelayS: null };
    const res = { status: 200, finalUrl: 'http://site.test/a.png', headers: { 'content-type': 'image/png', 'content-length': '52428800' }, body: Buffer.alloc(0), redirects: 0, ms: 3, truncated: false, bodySkipped: true };
    const v = await routeStep(job, res, { htmlTypes: ['text/html'], penalize: async () => undefined, now: () => 0 });
    assert.equal(v.kind, 'record');
    if (v.kind !== 'record') return;
    assert.equal(v.record.outcome, 'delivered');
    assert.equal(v.record.contentType, 'image/png');
    assert.equal(v.record.contentLength, 52428800);
  });
});
