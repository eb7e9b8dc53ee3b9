/**
 * What WARC costs a fetch, and that it costs nothing when a session does not ask for it:
 * fetchPage against a local server (a gzip-encoded HTML page, chunked) with capture off and
 * capture on (plus writing the request and response records to a WARC file), in alternating
 * rounds so that the machine's load falls on both alike. `--before <module>` adds the
 * fetchPage of another build (e.g. the commit before WARC, compiled) as a third variant.
 *
 *   node dist/bench/warc-capture.js [--pages N] [--rounds N] [--concurrency N] [--before FILE]
 *
 * Prints pages/s and CPU ms per page of each variant (median of the rounds). Loopback only;
 * every loop is bounded by --pages and --rounds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { fetchPage } from '../services/fetcher/http.js';
import type { FetchRequest, FetchResponse } from '../shared/fetch/seam.js';
import { createGuardedAgent } from '../shared/net/agent.js';
import { AddressPolicy } from '../shared/net/ssrf.js';
import { exchangeRecords, WarcFileWriter } from '../shared/warc/index.js';

type Fetch = typeof fetchPage;

const { values } = parseArgs({ options: { pages: { type: 'string', default: '2000' }, rounds: { type: 'string', default: '5' }, concurrency: { type: 'string', default: '16' }, before: { type: 'string' } } });
const PAGES = Number(values.pages);
const ROUNDS = Number(values.rounds);
const CONCURRENCY = Number(values.concurrency);

const paras = Array.from({ length: 400 }, (_, i) => `<p>Paragraph ${i}: ${((i * 7919) % 10007).toString(36)} words of a page, <a href="/x/${(i * 104729) % 65521}">link ${i}</a>.</p>`);
const page = gzipSync(Buffer.from(`<!DOCTYPE html><html><head><title>Bench</title></head><body>${paras.join('\n')}</body></html>`));
const server = createServer((_req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Encoding': 'gzip', 'Cache-Control': 'max-age=60' });
  res.end(page);
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/page`;
const policy = new AddressPolicy(['127.0.0.0/8']);
const agent = createGuardedAgent(policy, 5000);
const opts: FetchRequest = { userAgent: 'crawlfleet-bench', headersTimeoutMs: 10_000, bodyIdleTimeoutMs: 10_000, totalTimeoutMs: 30_000, maxBytes: 10 * 1024 * 1024, maxRedirects: 5 };
const dir = mkdtempSync(join(tmpdir(), 'crawlfleet-warc-bench-'));
const writer = new WarcFileWriter({ dir, sessionId: 'bench-00000000', replica: 'bench', maxFileBytes: () => 1024 ** 3, software: 'crawlfleet/bench' });

interface Variant {
  name: string;
  run(): Promise<FetchResponse>;
}
const variants: Variant[] = [
  { name: 'warc off', run: () => fetchPage(url, agent, policy, opts) },
  {
    name: 'warc on (capture + records written)',
    async run() {
      const res = await fetchPage(url, agent, policy, { ...opts, capture: true });
      if (!res.exchange) throw new Error('no exchange captured');
      const { request, response } = exchangeRecords(res.exchange);
      await writer.write([request, response]);
      return res;
    },
  },
];
if (values.before) {
  const before = (await import(pathToFileURL(values.before).href)) as { fetchPage: Fetch };
  variants.push({ name: 'before WARC (--before)', run: () => before.fetchPage(url, agent, policy, opts) });
}

async function round(v: Variant): Promise<{ pps: number; cpuMsPerPage: number }> {
  let next = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < PAGES) {
      next++;
      const res = await v.run();
      if (res.body.length === 0) throw new Error('empty body');
    }
  }));
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { pps: (PAGES / ms) * 1000, cpuMsPerPage: (cpu.user + cpu.system) / 1000 / PAGES };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const results = new Map<string, { pps: number[]; cpu: number[] }>(variants.map((v) => [v.name, { pps: [], cpu: [] }]));
try {
  for (const v of variants) await round(v); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    for (const v of variants) {
      const m = await round(v);
      const acc = results.get(v.name) as { pps: number[]; cpu: number[] };
      acc.pps.push(m.pps);
      acc.cpu.push(m.cpuMsPerPage);
    }
  }
  console.log(`fetchPage of a ${page.length}-byte gzip page, ${PAGES} pages x ${ROUNDS} rounds, concurrency ${CONCURRENCY} (medians)`);
  for (const [name, acc] of results) console.log(`${name.padEnd(40)} ${median(acc.pps).toFixed(0).padStart(6)} pages/s  ${median(acc.cpu).toFixed(3)} CPU ms/page`);
} finally {
  await writer.close();
  await agent.close();
  server.close();
  rmSync(dir, { recursive: true, force: true });
}
