/**
 * WARC end to end: a session with `"warc": true` crawls a local site (a gzip-encoded page sent
 * chunked, a 404, a file that is not parsed) with two fetchers as real processes. The files,
 * listed and downloaded through the API, are read back with warcio (not our writer): every
 * delivered HTML URL has a response record holding the bytes as served (gzip included), every
 * block and payload digest verifies, request and response name each other, each page has a
 * metadata record with the session id and its outlinks, concurrent to its response; no secret
 * reaches a file. Download names are checked; purge removes the files.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { ResultRecord } from '../../shared/tasks/types.js';
import { sha1Digest } from '../../shared/warc/record.js';
import { waitFinished } from '../support/oracle.js';
import { http, startTestStack, waitFor, type TestStack } from '../support/stack.js';
import { readWarc, type ReadRecord } from '../support/warc-read.js';

interface Page {
  body: Buffer;
  type: string;
  gzip?: boolean;
  status?: number;
}

function site(): Map<string, Page> {
  const html = (title: string, links: string[]): Buffer => Buffer.from(`<!DOCTYPE html><html><head><title>${title}</title></head><body><h1>${title}</h1>${links.map((l) => `<a href="${l}">${l}</a>`).join(' ')}</body></html>`);
  return new Map<string, Page>([
    ['/', { body: html('Home', ['/a.html', '/gz.html', '/missing.html', '/file.bin']), type: 'text/html; charset=utf-8' }],
    ['/a.html', { body: html('A', ['/', '/b.html']), type: 'text/html' }],
    ['/b.html', { body: html('B', ['/a.html']), type: 'text/html' }],
    ['/gz.html', { body: html('Gzipped', ['/b.html', '/']), type: 'text/html', gzip: true }],
    ['/file.bin', { body: Buffer.from([0, 1, 2, 3, 4]), type: 'application/octet-stream' }],
  ]);
}

describe('WARC archives (five processes, local site)', function () {
  this.timeout(180_000);
  let server: Server;
  let origin: string;
  const pages = site();
  let stack: TestStack;

  before(async () => {
    server = createServer((req, res) => {
      const p = pages.get((req.url ?? '/').split('?')[0] as string);
      if (!p) return void res.writeHead(404, { 'Content-Type': 'text/plain', 'X-Served-By': 'test' }).end('not found');
      if (p.gzip) {
        // chunked (no Content-Length), gzip-encoded, in two writes
        const gz = gzipSync(p.body);
        res.writeHead(200, { 'Content-Type': p.type, 'Content-Encoding': 'gzip', 'Set-Cookie': 'sid=secret-cookie-value' });
        res.write(gz.subarray(0, 20));
        setTimeout(() => res.end(gz.subarray(20)), 5);
        return;
      }
      res.writeHead(p.status ?? 200, { 'Content-Type': p.type, 'Content-Length': String(p.body.length) }).end(p.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    stack = await startTestStack({ fetchers: 2, env: { RETRY_MAX_ATTEMPTS: '1', WARC_IDLE_CLOSE_MS: '500' } });
  });

  after(async () => {
    await stack?.stop();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('writes request, response and metadata records that warcio reads and whose digests verify; lists, serves and purges the files', async () => {
    const created = await http<{ id: string; spec: { warc?: boolean } }>(stack.api, 'POST', '/sessions', { seeds: [`${origin}/`], maxDepth: 3, warc: true, formats: [] });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.spec.warc, true);
    const id = created.body.id;
    const s = await waitFinished(stack.api, id, 120_000);
    assert.equal(s.status, 'completed');
    const results = await http(stack.api, 'GET', `/sessions/${id}/results`);
    const records = results.text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as ResultRecord);
    const htmlDelivered = records.filter((r) => r.outcome === 'delivered' && (r.contentType ?? '').startsWith('text/html')).map((r) => r.finalUrl);
    assert.deepEqual(htmlDelivered.sort(), ['/', '/a.html', '/b.html', '/gz.html'].map((p) => `${origin}${p}`).sort());

    // Idle writers close their files (warc.idleCloseMs) and index them.
    type Listing = { files: Array<{ name: string; bytes: number; records: number; closed: boolean }> };
    const listing = await waitFor(async () => {
      const r = await http<Listing>(stack.api, 'GET', `/sessions/${id}/warc`);
      assert.equal(r.status, 200, r.text);
      return r.body.files.length > 0 && r.body.files.every((f) => f.closed) ? r.body : null;
    }, { timeoutMs: 30_000, what: 'WARC files closed' });
    const warcDir = join(stack.resultsDir, 'warc');
    for (const f of listing.files) {
      assert.match(f.name, new RegExp(`^${id}-\\d{17}-\\d{5}-(fetcher|extractor)-.+\\.warc\\.gz$`));
      assert.ok(existsSync(join(warcDir, `${f.name}.cdxj`)), `${f.name} has its CDXJ index`);
    }

    const all: ReadRecord[] = [];
    for (const f of listing.files) {
      const dl = await fetch(`${stack.api}/sessions/${id}/warc/${f.name}`);
      assert.equal(dl.status, 200);
      assert.equal(dl.headers.get('content-type'), 'application/warc');
      const bytes = Buffer.from(await dl.arrayBuffer());
      assert.equal(bytes.length, f.bytes);
      assert.deepEqual(bytes, readFileSync(join(warcDir, f.name)), 'the download is the file');
      const read = await readWarc(bytes);
      assert.equal(read.length, f.records, `${f.name}: records listed`);
      assert.equal(read[0]?.type, 'warcinfo', `${f.name} starts with warcinfo`);
      all.push(...read);
    }

    // Every digest verifies (block: the whole block; payload: after the HTTP header section).
    for (const r of all) {
      assert.equal(r.headers.get('warc-block-digest'), sha1Digest(r.block), `${r.type} ${r.uri}: block digest`);
      if (r.payload !== null) assert.equal(r.headers.get('warc-payload-digest'), sha1Digest(r.payload), `${r.uri}: payload digest`);
    }
    const byId = new Map(all.map((r) => [r.id, r]));
    const responses = all.filter((r) => r.type === 'response');
    for (const url of htmlDelivered) {
      const res = responses.find((r) => r.uri === url);
      assert.ok(res, `${url} has a response record`);
      assert.equal(res.status, 200, url);
      const path = new URL(url).pathname;
      const page = pages.get(path) as Page;
      // The body as it went over the wire: gzip stays gzip; warcio undoes it to the page.
      if (page.gzip) {
        assert.deepEqual(res.payload, gzipSync(page.body), `${url}: the gzip bytes as sent`);
        assert.match(res.block.toString('latin1'), /\r\nContent-Encoding: gzip\r\n/);
        assert.match(res.block.toString('latin1'), /\r\nX-Archive-Orig-Transfer-Encoding: chunked\r\n/);
      } else {
        assert.deepEqual(res.payload, page.body, url);
      }
      assert.equal(res.text, page.body.toString('utf8'), `${url}: warcio decodes the payload to the page`);
      assert.match(res.block.toString('latin1'), /^HTTP\/1\.1 200 OK\r\n/);
      assert.equal(res.headers.get('warc-ip-address'), '127.0.0.1');
      // request and response name each other
      const req = byId.get(res.concurrentTo[0] ?? '');
      assert.ok(req && req.type === 'request', `${url}: its request record`);
      assert.deepEqual(req.concurrentTo, [res.id]);
      assert.equal(req.uri, url);
      assert.match(req.block.toString('latin1'), new RegExp(`^GET ${path.replace('.', '\\.')} HTTP/1\\.1\\r\\nhost: ${new URL(origin).host}\\r\\n`));
      assert.match(req.block.toString('latin1'), /\r\nuser-agent: [^\r]+\r\naccept: [^\r]+\r\naccept-encoding: gzip, deflate, br\r\n/);
      // the page's metadata: session and outlinks, concurrent to the response
      const meta = all.find((r) => r.type === 'metadata' && r.concurrentTo.includes(res.id));
      assert.ok(meta, `${url}: its metadata record`);
      const fields = meta.block.toString('utf8').split('\r\n').filter((l) => l !== '');
      assert.ok(fields.includes(`crawlfleet-session: ${id}`), fields.join(' | '));
      const outlinks = fields.filter((l) => l.startsWith('outlink: ')).map((l) => l.slice('outlink: '.length));
      const expected = [...page.body.toString().matchAll(/href="([^"]+)"/g)].map((m) => new URL(m[1] as string, url).href);
      assert.deepEqual([...new Set(outlinks)].sort(), [...new Set(expected)].sort(), `${url}: outlinks`);
    }
    // The 404 and the unparsed file are archived too.
    assert.equal(responses.find((r) => r.uri === `${origin}/missing.html`)?.status, 404);
    assert.deepEqual(responses.find((r) => r.uri === `${origin}/file.bin`)?.payload, (pages.get('/file.bin') as Page).body);
    // No request carries a secret in clear (none was sent; the session did not ask to keep any).
    for (const r of all.filter((x) => x.type === 'request')) assert.doesNotMatch(r.block.toString('latin1'), /\r\n(authorization|cookie|proxy-authorization): (?!\*\*\*)/i);

    // Names are checked: another session's name form, traversal, unknown files and sessions.
    const first = listing.files[0]?.name as string;
    for (const bad of [`..%2F..%2Fetc%2Fpasswd`, first.replace(id, 'zzzz-00000000'), `${first}.cdxj`, first.replace(/\d{5}-/, '99999-')]) {
      const r = await http(stack.api, 'GET', `/sessions/${id}/warc/${bad}`);
      assert.ok(r.status === 404 || r.status === 400, `${bad}: ${r.status}`);
    }
    assert.equal((await http(stack.api, 'GET', `/sessions/nosuch-00000000/warc`)).status, 404);

    // Purge removes the files with the session.
    const purged = await http<{ purged: boolean }>(stack.api, 'DELETE', `/sessions/${id}?purge=true`);
    assert.equal(purged.status, 200, purged.text);
    assert.deepEqual(readdirSync(warcDir).filter((n) => n.startsWith(id)), []);
  });

  it('a session without warc writes no file', async () => {
    const created = await http<{ id: string }>(stack.api, 'POST', '/sessions', { seeds: [`${origin}/a.html`], maxDepth: 0, formats: [] });
    assert.equal(created.status, 201, created.text);
    await waitFinished(stack.api, created.body.id, 60_000);
    const r = await http<{ files: unknown[] }>(stack.api, 'GET', `/sessions/${created.body.id}/warc`);
    assert.deepEqual(r.body, { files: [] });
  });
});

describe('WARC files at shutdown (five processes, local site)', function () {
  this.timeout(180_000);
  let server: Server;
  let origin: string;
  let stack: TestStack;

  before(async () => {
    server = createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html><body><a href="/next">next</a></body></html>'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // Files stay open (no idle close during the test) until the replicas stop.
    stack = await startTestStack({ fetchers: 1, env: { WARC_IDLE_CLOSE_MS: '600000' } });
  });

  after(async () => {
    await stack?.stop();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('lists open files with their records counted, and a graceful stop closes and indexes them', async () => {
    const created = await http<{ id: string }>(stack.api, 'POST', '/sessions', { seeds: [`${origin}/`], maxDepth: 1, warc: true, formats: [] });
    assert.equal(created.status, 201, created.text);
    const id = created.body.id;
    await waitFinished(stack.api, id, 120_000);
    type Listing = { files: Array<{ name: string; records: number; closed: boolean }> };
    const open = await http<Listing>(stack.api, 'GET', `/sessions/${id}/warc`);
    // the fetcher's file (warcinfo + 2 exchanges) and the extractor's (warcinfo + 2 metadata)
    assert.equal(open.body.files.length, 2, open.text);
    assert.ok(open.body.files.every((f) => !f.closed), open.text);
    assert.deepEqual(open.body.files.map((f) => f.records).sort(), [3, 5], open.text);
    for (const label of stack.supervisor.labels().filter((l) => /^(fetcher|extractor)/.test(l))) await stack.supervisor.stop(label);
    const closed = await http<Listing>(stack.api, 'GET', `/sessions/${id}/warc`);
    assert.deepEqual(closed.body.files.map((f) => [f.records, f.closed]).sort(), [[3, true], [5, true]], closed.text);
    for (const f of closed.body.files) assert.ok(existsSync(join(stack.resultsDir, 'warc', `${f.name}.cdxj`)), f.name);
  });
});
