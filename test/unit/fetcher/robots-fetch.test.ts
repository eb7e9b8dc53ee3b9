/**
 * Fetching a robots.txt through the guarded fetch in truncating mode: a file larger than the
 * cap is cut (not failed), compressed ones too, a decompression bomb yields only the cap.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import { decodeBody, fetchPage } from '../../../services/fetcher/http.js';
import { createGuardedAgent } from '../../../shared/net/agent.js';
import { AddressPolicy } from '../../../shared/net/ssrf.js';
import { CrawlError } from '../../../shared/errors/index.js';
import { bigRobots } from '../../sites/adversarial.js';

const KB = 1024;
const big = Buffer.from(bigRobots(512 * KB, 900 * KB));
const bomb = zlib.gzipSync(Buffer.alloc(40 * 1024 * KB));

describe('truncating fetch (robots.txt)', function () {
  this.timeout(20_000);
  let server: Server;
  let origin: string;
  const policy = new AddressPolicy(['127.0.0.0/8']);
  const agent = createGuardedAgent(policy, 2000);
  const opts = { userAgent: 'crawlfleet-test', headersTimeoutMs: 2000, bodyIdleTimeoutMs: 2000, totalTimeoutMs: 5000, maxBytes: 600 * KB, maxRedirects: 5, truncate: true };

  before(async () => {
    const brotli = zlib.brotliCompressSync(big, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } });
    const bodies: Record<string, [Record<string, string>, Buffer | string]> = {
      '/plain': [{}, big],
      '/gzip': [{ 'content-encoding': 'gzip' }, zlib.gzipSync(big)],
      '/br': [{ 'content-encoding': 'br' }, brotli],
      '/bomb': [{ 'content-encoding': 'gzip' }, bomb],
      '/small': [{}, 'User-agent: *\nDisallow: /x\n'],
    };
    server = createServer((req, res) => {
      const b = bodies[req.url ?? ''];
      if (b) res.writeHead(200, b[0]).end(b[1]);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await agent.close();
    await new Promise((r) => server.close(r));
  });

  for (const path of ['/plain', '/gzip', '/br']) {
    it(`keeps the first maxBytes of a ${big.length}-byte file (${path.slice(1)})`, async () => {
      const res = await fetchPage(`${origin}${path}`, agent, policy, opts);
      assert.equal(res.status, 200);
      assert.equal(res.body.length, 600 * KB);
      assert.ok(res.body.equals(big.subarray(0, 600 * KB)));
      assert.equal(res.truncated, true);
    });
  }

  it('keeps a small file whole', async () => {
    const res = await fetchPage(`${origin}/small`, agent, policy, opts);
    assert.equal(res.body.toString(), 'User-agent: *\nDisallow: /x\n');
    assert.equal(res.truncated, false);
  });

  it('reads only the cap of a decompression bomb, fast', async () => {
    const started = performance.now();
    const res = await fetchPage(`${origin}/bomb`, agent, policy, opts);
    assert.equal(res.body.length, 600 * KB);
    assert.ok(performance.now() - started < 2000);
  });

  it('without truncate, the same file fails too_large as before', async () => {
    await assert.rejects(fetchPage(`${origin}/plain`, agent, policy, { ...opts, truncate: false }), (e: unknown) => e instanceof CrawlError && e.code === 'too_large');
  });

  it('decodeBody, prefix mode: a cut gzip stream still yields what it holds', async () => {
    const gz = zlib.gzipSync(big);
    const out = await decodeBody(gz.subarray(0, Math.floor(gz.length / 2)), 'gzip', 10 * 1024 * KB, 'http://x/', 'prefix');
    assert.ok(out.length > 0 && big.subarray(0, out.length).equals(out));
    await assert.rejects(decodeBody(Buffer.from('not gzip at all'), 'gzip', 1000, 'http://x/', 'prefix'), (e: unknown) => e instanceof CrawlError && e.code === 'protocol_error');
  });
});
