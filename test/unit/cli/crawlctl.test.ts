import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { EXIT, UsageError, type Rollout, type Session, type SessionCounts } from '../../../cli/client.js';
import {
  COMMANDS,
  buildConfigPatch,
  buildCrawlBody,
  exitCodeForStatus,
  localConfigSchema,
  parseAssignment,
  parseCommandLine,
  parseConfigValue,
  parseField,
  waitForRollout,
  type CliIO,
  type CommandDef,
} from '../../../cli/commands.js';
import { main } from '../../../cli/crawlctl.js';
import {
  RateMeter,
  computeRate,
  formatChange,
  formatConfigValue,
  formatDuration,
  renderBar,
  renderConfig,
  renderConfigHistory,
  renderConfigSchema,
  renderConfigWrite,
  renderProgress,
  renderSession,
  renderSessionList,
  renderTraps,
  terminalCount,
} from '../../../cli/render.js';

// ---------------------------------------------------------------------------------------
// helpers

class Sink extends Writable {
  readonly chunks: Buffer[] = [];
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    cb();
  }
  buffer(): Buffer {
    return Buffer.concat(this.chunks);
  }
  text(): string {
    return this.buffer().toString('utf8');
  }
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  out: Sink;
}

async function run(argv: string[], io: Partial<CliIO> = {}): Promise<Run> {
  const out = new Sink();
  const err = new Sink();
  const code = await main(argv, { stdout: out, stderr: err, isTTY: false, pollMs: 5, env: {}, ...io });
  return { code, stdout: out.text(), stderr: err.text(), out };
}

function bodyOf(argv: string[]): ReturnType<typeof buildCrawlBody> {
  const p = parseCommandLine(argv);
  assert.equal(p.command, 'crawl');
  return buildCrawlBody(p.positionals, p.values);
}

function usageMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof UsageError, `expected a UsageError, got ${String(err)}`);
    return err.message;
  }
  assert.fail('expected a UsageError');
}

const counts = (c: Partial<SessionCounts>): SessionCounts => ({
  admitted: 0, fetched: 0, delivered: 0, failed: 0, skipped: 0, cancelled: 0, supplements: 0, ...c,
});

// ---------------------------------------------------------------------------------------
// pure helpers

describe('crawlctl: arguments → request body', () => {
  it('maps every crawl option to the POST /sessions body', () => {
    const body = bodyOf([
      'crawl', 'https://a.example/', 'https://b.example/x',
      '--max-pages', '100', '--max-depth', '0', '--timeout-ms=60000',
      '--allow-host', 'a.example', '--allow-host', '*.b.example',
      '--include', '^https://a\\.example/docs/', '--exclude', '\\.pdf$', '--exclude', '/private/',
      '--field', 'title=h1', '--field', 'price=span[data-x="1"]',
      '--webhook', 'https://hooks.example/done', '--label', 'nightly', '--sitemaps', '--warc',
    ]);
    assert.deepEqual(body, {
      seeds: ['https://a.example/', 'https://b.example/x'],
      maxPages: 100,
      maxDepth: 0,
      timeoutMs: 60000,
      allowedHosts: ['a.example', '*.b.example'],
      include: ['^https://a\\.example/docs/'],
      exclude: ['\\.pdf$', '/private/'],
      fields: { title: 'h1', price: 'span[data-x="1"]' },
      webhook: 'https://hooks.example/done',
      label: 'nightly',
      sitemaps: true,
      warc: true,
    });
  });

  it('leaves out what was not given', () => {
    assert.deepEqual(bodyOf(['crawl', 'https://a.example/']), { seeds: ['https://a.example/'] });
  });

  it('accepts global options before and after the command', () => {
    const p = parseCommandLine(['--api', 'http://h:1', '--json', 'crawl', 'https://a.example/', '--token', 't', '--wait']);
    assert.equal(p.command, 'crawl');
    assert.deepEqual(p.positionals, ['https://a.example/']);
    assert.equal(p.values.api, 'http://h:1');
    assert.equal(p.values.token, 't');
    assert.equal(p.values.json, true);
    assert.equal(p.values.wait, true);
  });

  it('validates numbers with a message naming the option', () => {
    assert.equal(usageMessage(() => bodyOf(['crawl', 'http://a/', '--max-pages', 'abc'])), '--max-pages must be a positive integer');
    assert.equal(usageMessage(() => bodyOf(['crawl', 'http://a/', '--max-pages', '0'])), '--max-pages must be a positive integer');
    assert.equal(usageMessage(() => bodyOf(['crawl', 'http://a/', '--max-pages=-3'])), '--max-pages must be a positive integer');
    assert.equal(usageMessage(() => bodyOf(['crawl', 'http://a/', '--max-pages', '1.5'])), '--max-pages must be a positive integer');
    assert.equal(usageMessage(() => bodyOf(['crawl', 'http://a/', '--max-pages', '1e3'])), '--max-pages must be a positive integer');
    assert.equal(usageMessage(() => bodyOf(['crawl', 'http://a/', '--timeout-ms', '99999999999999999999'])), '--timeout-ms must be a positive integer');
    assert.equal(usageMessage(() => bodyOf(['crawl', 'http://a/', '--max-depth', 'x'])), '--max-depth must be a non-negative integer');
  });

  it('validates --field and the URL list', () => {
    assert.deepEqual(parseField('link=a[href="x=y"]'), ['link', 'a[href="x=y"]']);
    assert.equal(usageMessage(() => parseField('title')), '--field must be name=selector, got "title"');
    assert.equal(usageMessage(() => parseField('=h1')), '--field must be name=selector, got "=h1"');
    assert.equal(usageMessage(() => bodyOf(['crawl', 'http://a/', '--field', 't=h1', '--field', 't=h2'])), '--field t is given twice');
    assert.equal(usageMessage(() => buildCrawlBody([], {})), 'crawl needs at least one URL');
  });

  it('reports unknown commands and options, and values missing', () => {
    assert.equal(usageMessage(() => parseCommandLine(['crawly'])), 'unknown command "crawly"');
    assert.equal(usageMessage(() => parseCommandLine(['crawl', 'http://a/', '--bogus'])), 'unknown option --bogus');
    assert.equal(usageMessage(() => parseCommandLine(['crawl', 'http://a/', '--max-pages'])), '--max-pages needs a value');
    assert.equal(usageMessage(() => parseCommandLine(['status', 'x', '--wait=yes'])), '--wait does not take a value');
    assert.equal(parseCommandLine(['--json']).command, null);
  });

  it('dispatches two-word command families from the same table', () => {
    const noop = (): Promise<number> => Promise.resolve(0);
    const def = (usage: string): CommandDef => ({ usage, summary: '', options: { key: { type: 'string', help: '' } }, args: { min: 0, max: 1, missing: '' }, run: noop });
    const others = Object.fromEntries(Object.entries(COMMANDS).filter(([k]) => !k.startsWith('config ')));
    const table: Record<string, CommandDef> = { ...others, 'config get': def('config get'), 'config set': def('config set') };
    const p = parseCommandLine(['--json', 'config', 'get', 'fetch.timeoutMs', '--key', 'k'], table);
    assert.equal(p.command, 'config get');
    assert.deepEqual(p.positionals, ['fetch.timeoutMs']);
    assert.equal(p.values.key, 'k');
    assert.equal(usageMessage(() => parseCommandLine(['config'], table)), 'config needs a subcommand (get|set)');
    assert.equal(usageMessage(() => parseCommandLine(['config', 'nope'], table)), 'config has no subcommand "nope" (get|set)');
  });

  it('has the config family in the real table', () => {
    assert.equal(usageMessage(() => parseCommandLine(['config'])), 'config needs a subcommand (get|set|rollout|history|rollback|schema)');
    const p = parseCommandLine(['config', 'set', 'rate.global=20', '--expected-version', '3', '--token', 't']);
    assert.equal(p.command, 'config set');
    assert.deepEqual(p.positionals, ['rate.global=20']);
    assert.equal(p.values['expected-version'], '3');
    const w = parseCommandLine(['config', 'set', 'rate.global=20', '--wait', '--wait-ms', '500']);
    assert.equal(w.values.wait, true);
    assert.equal(w.values['wait-ms'], '500');
    const r = parseCommandLine(['--json', 'replicas', '--service', 'fetcher']);
    assert.equal(r.command, 'replicas');
    assert.equal(r.values.service, 'fetcher');
    assert.equal(parseCommandLine(['config', 'rollout', '--version', '4']).command, 'config rollout');
  });

  it('waitForRollout polls until every replica runs the version, or answers the last count when the bound passes', async () => {
    const answers = (currents: number[]): { calls: number[]; configRollout(v?: number): Promise<Rollout> } => {
      const calls: number[] = [];
      return {
        calls,
        configRollout: (v) => {
          calls.push(v ?? -1);
          const current = currents[Math.min(calls.length - 1, currents.length - 1)] ?? 0;
          const behind = Array.from({ length: 3 - current }, (_, i) => ({ id: `r${i}`, service: 'fetcher', host: 'h', configVersion: 1 }));
          return Promise.resolve({ version: 2, replicas: 3, current, behind });
        },
      };
    };
    const reaching = answers([0, 2, 3]);
    const done = await waitForRollout(reaching, 2, 5000, 1);
    assert.equal(done.current, 3);
    assert.deepEqual(reaching.calls, [2, 2, 2], 'asks about the written version until all run it');
    const stuck = answers([1]);
    const started = Date.now();
    const last = await waitForRollout(stuck, 2, 60, 5);
    assert.ok(Date.now() - started >= 60 && Date.now() - started < 1000);
    assert.equal(last.current, 1);
    assert.equal(last.behind.length, 2);
    assert.ok(stuck.calls.length >= 2);
  });

  it('maps final statuses to exit codes', () => {
    assert.equal(exitCodeForStatus('completed'), 0);
    assert.equal(exitCodeForStatus('partial'), 3);
    assert.equal(exitCodeForStatus('cancelled'), 4);
    assert.equal(exitCodeForStatus('closed'), 4);
    assert.equal(exitCodeForStatus('weird'), 1);
  });
});

describe('crawlctl: progress and rate', () => {
  it('renders the progress line', () => {
    const c = counts({ admitted: 2100, delivered: 1200, failed: 34, skipped: 0 });
    assert.equal(
      renderProgress({ counts: c, rate: 412.3, elapsedMs: 5100 }),
      '[#####-----] 1234/2100 delivered 1200 failed 34 skipped 0 | 412.3 pages/s | 5.1s',
    );
    assert.equal(
      renderProgress({ counts: c, rate: null, elapsedMs: 125_000, barWidth: 0 }),
      '1234/2100 delivered 1200 failed 34 skipped 0 | -- pages/s | 2m05s',
    );
    assert.equal(
      renderProgress({ counts: counts({ admitted: 10, delivered: 5, cancelled: 5 }), rate: 0, elapsedMs: 0, barWidth: 4 }),
      '[####] 10/10 delivered 5 failed 0 skipped 0 cancelled 5 | 0.0 pages/s | 0.0s',
    );
  });

  it('draws the bar by whole steps and copes with nothing admitted', () => {
    assert.equal(renderBar(0, 10), '[----------]');
    assert.equal(renderBar(0.99, 10), '[#########-]');
    assert.equal(renderBar(1, 10), '[##########]');
    assert.equal(renderBar(3, 4), '[####]');
    assert.equal(renderBar(NaN, 4), '[----]');
    assert.equal(renderProgress({ counts: {}, rate: null, elapsedMs: 0 }).slice(0, 17), '[----------] 0/0 ');
  });

  it('counts terminal records (not fetched, not supplements)', () => {
    assert.equal(terminalCount(counts({ admitted: 9, fetched: 7, delivered: 1, failed: 2, skipped: 3, cancelled: 4, supplements: 5 })), 10);
  });

  it('computes the rate between the first and last sample', () => {
    assert.equal(computeRate([]), null);
    assert.equal(computeRate([{ t: 0, n: 0 }]), null);
    assert.equal(computeRate([{ t: 0, n: 0 }, { t: 0, n: 5 }]), null);
    assert.equal(computeRate([{ t: 1000, n: 10 }, { t: 3000, n: 30 }]), 10);
    assert.equal(computeRate([{ t: 0, n: 10 }, { t: 1000, n: 5 }]), 0);
  });

  it('measures the rate over a trailing window', () => {
    const m = new RateMeter(5000);
    assert.equal(m.rate(), null);
    // 100/s for 10 s, then 10/s for 5 s: the window only sees the recent pace
    for (let t = 0; t <= 10_000; t += 500) m.add(t, t / 10);
    assert.equal(m.rate(), 100);
    for (let t = 10_500; t <= 15_000; t += 500) m.add(t, 1000 + (t - 10_000) / 100);
    assert.equal(m.rate(), 10);
  });

  it('formats durations', () => {
    assert.equal(formatDuration(5100), '5.1s');
    assert.equal(formatDuration(59_949), '59.9s');
    assert.equal(formatDuration(61_000), '1m01s');
    assert.equal(formatDuration(3_723_000), '1h02m');
    assert.equal(formatDuration(-5), '0.0s');
  });

  it('renders the session list as a table', () => {
    const s = (id: string, status: string, admitted: number): Session => ({
      id, status, createdAt: '2024-05-01T10:00:00.000Z', deadlineAt: null, finishedAt: null, counts: counts({ admitted, delivered: admitted - 1, failed: 1 }),
    });
    assert.equal(renderSessionList([s('a1', 'running', 10), s('b22', 'completed', 1000)]), [
      'ID   STATUS     ADMITTED  DELIVERED  FAILED  CREATED',
      'a1   running    10        9          1       2024-05-01T10:00:00.000Z',
      'b22  completed  1000      999        1       2024-05-01T10:00:00.000Z',
    ].join('\n'));
    assert.equal(renderSessionList([]), 'no sessions');
  });

  it('shows the trap counters that are not 0 in the session view', () => {
    assert.equal(renderTraps({ url_length: 0, path_depth: 3, repeated_segments: 0, query_params: 0, host_pages: 12 }), 'path_depth 3, host_pages 12');
    assert.equal(renderTraps({ url_length: 0, path_depth: 0 }), '-');
    assert.equal(renderTraps(undefined), '-', 'a controller that predates the counters');
    const view = renderSession({ id: 'x1', status: 'completed', createdAt: null, deadlineAt: null, finishedAt: null, counts: counts({}), traps: { repeated_segments: 2, calendar: 1 } });
    assert.match(view, /^traps +repeated_segments 2, calendar 1$/m);
  });
});

// ---------------------------------------------------------------------------------------
// against a stub of the controller's HTTP API

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  body: unknown;
}

interface FakeOptions {
  token?: string;
  /** statuses GET /sessions/:id walks through, one per poll (the last one repeats) */
  statuses?: string[];
  /** NDJSON as the server streams it, chunk by chunk */
  results?: Buffer[];
}

interface Fake {
  url: string;
  seen: Seen[];
  close(): Promise<void>;
}

const ID = 'lx1abc-0badc0de';

function session(status: string, poll: number): Record<string, unknown> {
  const admitted = 40;
  const done = status === 'running' ? Math.min(admitted - 1, poll * 10) : admitted;
  const created = Date.now() - 4000;
  return {
    id: ID,
    status,
    createdAt: new Date(created).toISOString(),
    deadlineAt: new Date(created + 60_000).toISOString(),
    finishedAt: status === 'running' ? null : new Date(created + 2000).toISOString(),
    counts: { admitted, fetched: done, delivered: done - Math.floor(done / 10), failed: Math.floor(done / 10), skipped: 0, cancelled: 0, supplements: 0 },
    limited: false,
    retries: 0,
    resultsFile: null,
    handedOverAt: null,
    spec: { seeds: ['https://a.example/'], maxPages: 40, maxDepth: 2, timeoutMs: 60000, allowedHosts: ['a.example'], include: [], exclude: [], fields: {}, webhook: null, label: null },
  };
}

async function startFake(opts: FakeOptions = {}): Promise<Fake> {
  const seen: Seen[] = [];
  const statuses = opts.statuses ?? ['running', 'running', 'completed'];
  let polls = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const body: unknown = raw ? JSON.parse(raw) : undefined;
      seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, body });
      const send = (status: number, payload: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify(payload));
      };
      const fail = (status: number, code: string, message: string): void => send(status, { error: { code, message } });
      if (opts.token && req.headers.authorization !== `Bearer ${opts.token}`) return fail(401, 'unauthorized', 'missing or wrong bearer token');
      const path = (req.url ?? '').split('?')[0] ?? '';
      if (req.method === 'POST' && path === '/sessions') {
        const seeds = (body as { seeds?: string[] }).seeds ?? [];
        if (seeds[0] === 'not a url') return fail(400, 'validation', 'body/seeds/0 must be an absolute http or https URL, got "not a url"');
        return send(201, session('running', 0));
      }
      if (req.method === 'GET' && path === '/sessions') return send(200, { sessions: [session('running', 1)] });
      const m = /^\/sessions\/([^/]+)(\/results)?$/.exec(path);
      if (!m || decodeURIComponent(m[1] ?? '') !== ID) return fail(404, 'not_found', `session ${decodeURIComponent(m?.[1] ?? '')} not found`);
      if (req.method === 'DELETE') return send(200, session('cancelled', 0));
      if (m[2]) {
        res.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8' });
        const parts = [...(opts.results ?? [])];
        const next = (): void => {
          const part = parts.shift();
          if (part === undefined) {
            res.end();
            return;
          }
          res.write(part);
          setTimeout(next, 2);
        };
        next();
        return undefined;
      }
      const status = statuses[Math.min(polls, statuses.length - 1)] as string;
      const s = session(status, polls);
      polls++;
      return send(200, s);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** NDJSON with a multi-byte character split across two chunks. */
function ndjsonChunks(): Buffer[] {
  const lines = [
    { url: 'https://a.example/', finalUrl: 'https://a.example/', status: 200, depth: 0, parent: null, outcome: 'delivered', title: 'Café – accueil', links: ['https://a.example/b'] },
    { url: 'https://a.example/b', status: 404, depth: 1, parent: 'https://a.example/', outcome: 'failed', reason: 'http_status', error: 'HTTP 404' },
    { url: 'https://a.example/c', depth: 1, outcome: 'skipped', reason: 'robots' },
  ].map((l) => JSON.stringify(l)).join('\n') + '\n';
  const bytes = Buffer.from(lines, 'utf8');
  const cut = bytes.indexOf(Buffer.from('é', 'utf8')) + 1;
  return [bytes.subarray(0, cut), bytes.subarray(cut, cut + 50), bytes.subarray(cut + 50)];
}

describe('crawlctl: against the controller API', function () {
  this.timeout(10_000);
  let dir: string;
  let fake: Fake | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'crawlctl-'));
  });

  afterEach(async () => {
    await fake?.close();
    fake = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('crawl --wait follows running → completed, saves the results byte for byte, exits 0', async () => {
    const chunks = ndjsonChunks();
    fake = await startFake({ statuses: ['running', 'running', 'completed'], results: chunks });
    const output = join(dir, 'out.jsonl');
    const r = await run(['--api', fake.url, 'crawl', 'https://a.example/', '--max-pages', '40', '--wait', '--output', output], { isTTY: true });
    assert.equal(r.code, EXIT.ok, r.stderr);
    assert.deepEqual(await readFile(output), Buffer.concat(chunks));

    const post = fake.seen.find((s) => s.method === 'POST');
    assert.deepEqual(post?.body, { seeds: ['https://a.example/'], maxPages: 40 });
    const polls = fake.seen.filter((s) => s.method === 'GET' && s.url === `/sessions/${ID}`);
    assert.equal(polls.length, 3);
    assert.ok(fake.seen.some((s) => s.url === `/sessions/${ID}/results?limit=1000`), 'results read by cursor pages');

    const lines = r.stdout.split('\n');
    assert.equal(lines[0], ID);
    assert.match(r.stdout, /^status +completed$/m);
    assert.match(r.stdout, /^counts +admitted 40, fetched 40, delivered 36, failed 4, skipped 0, cancelled 0, supplements 0$/m);
    assert.match(r.stdout, /^elapsed +2\.0s \(20\.0 pages\/s average\)$/m);
    assert.ok(r.stdout.includes(`results  ${output} (3 records)`), r.stdout);
    // live progress on the terminal: redrawn in place, ended with a newline
    const progress = r.stderr.replaceAll('\x1b[K', '<clear-eol>');
    assert.match(progress, /^\r\[-{20}\] 0\/40 delivered 0 failed 0 skipped 0 \| -- pages\/s \| \d+\.\ds<clear-eol>\r/);
    assert.match(progress, /\r\[#{20}\] 40\/40 delivered 36 failed 4 skipped 0 \| [\d.]+ pages\/s \| 2\.0s<clear-eol>\n$/);
  });

  it('prints plain progress lines when not on a terminal', async () => {
    fake = await startFake({ statuses: ['running', 'completed'], results: [] });
    const output = join(dir, 'out.jsonl');
    const r = await run(['--api', fake.url, 'crawl', 'https://a.example/', '--wait', '--output', output], { isTTY: false });
    assert.equal(r.code, EXIT.ok, r.stderr);
    assert.ok(!r.stderr.includes('\r'));
    assert.match(r.stderr, /^running 0\/40 delivered 0 failed 0 skipped 0 \| -- pages\/s \| \d+\.\ds\n$/);
    assert.deepEqual(await readFile(output), Buffer.alloc(0));
    assert.ok(r.stdout.includes('(0 records)'));
  });

  it('status --wait exits 3 for partial and 4 for cancelled; --json prints one document', async () => {
    fake = await startFake({ statuses: ['running', 'partial'], results: ndjsonChunks() });
    const output = join(dir, 'p.jsonl');
    const partial = await run(['--api', fake.url, 'status', ID, '--wait', '--output', output, '--json']);
    assert.equal(partial.code, EXIT.partial, partial.stderr);
    const doc = JSON.parse(partial.stdout) as { session: Session; output: string; records: number };
    assert.equal(doc.session.status, 'partial');
    assert.equal(doc.output, output);
    assert.equal(doc.records, 3);
    await fake.close();

    fake = await startFake({ statuses: ['cancelled'], results: [] });
    const cancelled = await run(['--api', fake.url, 'status', ID, '--wait', '--output', output]);
    assert.equal(cancelled.code, EXIT.cancelled, cancelled.stderr);
    assert.match(cancelled.stdout, /^status +cancelled$/m);
  });

  it('stops following on interrupt without cancelling, and says how to resume', async () => {
    fake = await startFake({ statuses: ['running'] });
    const stop = new AbortController();
    const pending = run(['--api', fake.url, 'status', ID, '--wait'], { signal: stop.signal, pollMs: 20 });
    setTimeout(() => stop.abort(), 70);
    const r = await pending;
    assert.equal(r.code, EXIT.interrupted);
    assert.ok(r.stderr.includes(`stopped following session ${ID} (it keeps running); resume with: crawlctl status ${ID} --wait`), r.stderr);
    assert.ok(!fake.seen.some((s) => s.method === 'DELETE'));
    assert.ok(!fake.seen.some((s) => s.url.includes('/results')));
  });

  it('reports API errors as code: message and exits 1', async () => {
    fake = await startFake();
    const bad = await run(['--api', fake.url, 'crawl', 'not a url']);
    assert.equal(bad.code, EXIT.error);
    assert.equal(bad.stderr, 'crawlctl: validation: body/seeds/0 must be an absolute http or https URL, got "not a url"\n');
    assert.equal(bad.stdout, '');

    const missing = await run(['--api', fake.url, 'status', 'nope']);
    assert.equal(missing.code, EXIT.error);
    assert.equal(missing.stderr, 'crawlctl: not_found: session nope not found\n');
  });

  it('says when the API cannot be reached', async () => {
    const server = http.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const api = `http://127.0.0.1:${port}`;
    const r = await run(['list', '--api', api]);
    assert.equal(r.code, EXIT.error);
    assert.equal(r.stderr, `crawlctl: cannot reach the API at ${api} (is the controller running? start it with npm start)\n`);
  });

  it('sends the bearer token from --token or the environment', async () => {
    fake = await startFake({ token: 's3cret' });
    const denied = await run(['--api', fake.url, 'list']);
    assert.equal(denied.code, EXIT.error);
    assert.equal(denied.stderr, 'crawlctl: unauthorized: missing or wrong bearer token\n');

    const ok = await run(['--api', fake.url, '--token', 's3cret', 'list']);
    assert.equal(ok.code, EXIT.ok, ok.stderr);
    assert.equal(fake.seen.at(-1)?.authorization, 'Bearer s3cret');

    const fromEnv = await run(['status', ID], { env: { CRAWLFLEET_API: fake.url, CRAWLFLEET_TOKEN: 's3cret' } });
    assert.equal(fromEnv.code, EXIT.ok, fromEnv.stderr);
    assert.match(fromEnv.stdout, new RegExp(`^id +${ID}$`, 'm'));
    assert.equal(fake.seen.at(-1)?.authorization, 'Bearer s3cret');
  });

  it('results streams to stdout unchanged; cancel and list print the new state', async () => {
    const chunks = ndjsonChunks();
    fake = await startFake({ results: chunks });
    const results = await run(['--api', fake.url, 'results', ID]);
    assert.equal(results.code, EXIT.ok, results.stderr);
    assert.deepEqual(results.out.buffer(), Buffer.concat(chunks));

    const file = join(dir, 'r.jsonl');
    const toFile = await run(['--api', fake.url, 'results', ID, '--output', file]);
    assert.equal(toFile.code, EXIT.ok, toFile.stderr);
    assert.deepEqual(await readFile(file), Buffer.concat(chunks));

    const cancel = await run(['--api', fake.url, 'cancel', ID]);
    assert.equal(cancel.stdout, `${ID} cancelled\n`);
    assert.equal(fake.seen.at(-1)?.method, 'DELETE');

    const list = await run(['--api', fake.url, 'list', '--limit', '5']);
    assert.equal(list.code, EXIT.ok, list.stderr);
    assert.equal(fake.seen.at(-1)?.url, '/sessions?limit=5');
    assert.match(list.stdout, /^ID +STATUS +ADMITTED +DELIVERED +FAILED +CREATED\n/);
    assert.match(list.stdout, new RegExp(`^${ID} +running +40 +9 +1 +\\d{4}-`, 'm'));
  });

  it('bad usage prints the message and the usage, exits 2, and makes no request', async () => {
    fake = await startFake();
    const r = await run(['--api', fake.url, 'crawl', 'https://a.example/', '--max-pages', 'abc']);
    assert.equal(r.code, EXIT.usage);
    assert.match(r.stderr, /^crawlctl: --max-pages must be a positive integer\n\nusage: crawlctl crawl <url\.\.\.> \[options\]\n/);
    const noWait = await run(['--api', fake.url, 'crawl', 'https://a.example/', '--output', join(dir, 'x')]);
    assert.equal(noWait.code, EXIT.usage);
    assert.match(noWait.stderr, /^crawlctl: --output only applies with --wait\n/);
    const noCommand = await run([]);
    assert.equal(noCommand.code, EXIT.usage);
    assert.match(noCommand.stderr, /^crawlctl: missing command\n\nusage: crawlctl /);
    const badApi = await run(['--api', 'localhost:8080', 'list']);
    assert.equal(badApi.code, EXIT.usage);
    assert.match(badApi.stderr, /^crawlctl: --api must be an http\(s\) URL, got "localhost:8080"\n/);
    assert.equal(fake.seen.length, 0);
    const help = await run(['--help']);
    assert.equal(help.code, EXIT.ok);
    assert.match(help.stdout, /^usage: crawlctl /);
  });
});

// ---------------------------------------------------------------------------------------
// config commands

describe('crawlctl config: pure helpers', () => {
  it('parses values as JSON when they parse, else as text', () => {
    assert.equal(parseConfigValue('20'), 20);
    assert.equal(parseConfigValue('2.5'), 2.5);
    assert.equal(parseConfigValue('true'), true);
    assert.equal(parseConfigValue('false'), false);
    assert.equal(parseConfigValue('null'), null);
    assert.deepEqual(parseConfigValue('["a.example=2","b.example:8080=5"]'), ['a.example=2', 'b.example:8080=5']);
    assert.equal(parseConfigValue('"20"'), '20');
    assert.equal(parseConfigValue('debug'), 'debug');
    assert.equal(parseConfigValue('crawlfleet/1.0 (+https://x.example)'), 'crawlfleet/1.0 (+https://x.example)');
    assert.equal(parseConfigValue(''), '');
    assert.deepEqual(parseAssignment('rate.hosts=["a=1"]'), ['rate.hosts', ['a=1']]);
    assert.deepEqual(parseAssignment(' log.level = debug'), ['log.level', ' debug']);
  });

  it('turns dotted keys into the nested PATCH body', () => {
    assert.deepEqual(buildConfigPatch(['rate.global=20', 'rate.perHost=2', 'fetch.concurrency=4', 'log.level=debug', 'rate.hosts=[]']), {
      rate: { global: 20, perHost: 2, hosts: [] },
      fetch: { concurrency: 4 },
      log: { level: 'debug' },
    });
    assert.deepEqual(buildConfigPatch(['rate.global=null']), { rate: { global: null } });
  });

  it('refuses malformed, repeated and overlapping keys', () => {
    assert.equal(usageMessage(() => buildConfigPatch([])), 'config set needs at least one key=value');
    assert.equal(usageMessage(() => buildConfigPatch(['rate.global'])), 'config set wants key=value, got "rate.global"');
    assert.equal(usageMessage(() => buildConfigPatch(['=5'])), 'config set wants key=value, got "=5"');
    assert.equal(usageMessage(() => buildConfigPatch(['rate..global=5'])), 'invalid setting name "rate..global"');
    assert.equal(usageMessage(() => buildConfigPatch(['rate.global.=5'])), 'invalid setting name "rate.global."');
    assert.equal(usageMessage(() => buildConfigPatch(['__proto__.x=5'])), 'invalid setting name "__proto__.x"');
    assert.equal(usageMessage(() => buildConfigPatch(['rate.global=1', 'rate.global=2'])), 'rate.global is given twice');
    assert.equal(usageMessage(() => buildConfigPatch(['rate={"global":1}', 'rate.perHost=2'])), 'rate.perHost and rate overlap; give one of them');
  });

  it('formats values, changes, the effective table, history and schema', () => {
    assert.equal(formatConfigValue('info'), 'info');
    assert.equal(formatConfigValue(''), '""');
    assert.equal(formatConfigValue(20), '20');
    assert.equal(formatConfigValue(false), 'false');
    assert.equal(formatConfigValue(null), 'null');
    assert.equal(formatConfigValue(['a=1', 'b=2']), '["a=1","b=2"]');
    assert.equal(formatChange({ key: 'rate.global', old: 20, new: 60 }), 'rate.global: 20 → 60');
    assert.equal(renderConfig({ version: 3, updatedAt: '2024-05-01T10:00:00.000Z', updatedBy: 'alice' }, [
      { key: 'log.level', value: 'info', origin: 'default' },
      { key: 'rate.global', value: 60, origin: 'override' },
      { key: 'rate.hosts', value: [], origin: 'default' },
    ]), [
      'config version 3, updated 2024-05-01T10:00:00.000Z by alice',
      'KEY          VALUE  ORIGIN',
      'log.level    info   default',
      'rate.global  60     override',
      'rate.hosts   []     default',
    ].join('\n'));
    assert.equal(renderConfigWrite({ version: 4, changes: [{ key: 'rate.global', old: 0, new: 20 }, { key: 'log.level', old: 'info', new: 'debug' }] }),
      'version 4\n  rate.global: 0 → 20\n  log.level: info → debug');
    assert.equal(renderConfigWrite({ version: 5, changes: [], rolledBackTo: 2 }), 'version 5 (rolled back to 2)\nno value changed');
    assert.equal(renderConfigHistory([
      { version: 2, at: '2024-05-01T10:00:02.000Z', who: 'crawlctl:bob', action: 'rollback', changes: [] },
      { version: 1, at: '2024-05-01T10:00:01.000Z', who: 'api@127.0.0.1', action: 'set', changes: [{ key: 'rate.global', old: 0, new: 20 }, { key: 'fetch.concurrency', old: 32, new: 8 }] },
    ]), [
      'VERSION  AT                        WHO            ACTION    CHANGES',
      '2        2024-05-01T10:00:02.000Z  crawlctl:bob   rollback  -',
      '1        2024-05-01T10:00:01.000Z  api@127.0.0.1  set       rate.global: 0 → 20; fetch.concurrency: 32 → 8',
    ].join('\n'));
    assert.equal(renderConfigHistory([]), 'no configuration changes');
    assert.equal(renderConfigSchema([{ key: 'rate.global', doc: 'Pages per second (live).', format: 'non-negative-number', default: 0, env: 'RATE_GLOBAL', live: true }]), [
      'KEY          ENV          DEFAULT  LIVE  DOC',
      'rate.global  RATE_GLOBAL  0        yes   Pages per second (live).',
    ].join('\n'));
  });

  it('carries the local schema for offline use, with secrets masked', async () => {
    const entries = await localConfigSchema();
    const rate = entries.find((e) => e.key === 'rate.global');
    assert.deepEqual({ env: rate?.env, default: rate?.default, live: rate?.live }, { env: 'RATE_GLOBAL', default: 0, live: true });
    assert.equal(entries.find((e) => e.key === 'namespace')?.live, false);
    assert.equal(entries.find((e) => e.key === 'amqp.url')?.default, '***');
  });
});

interface ConfigSeen {
  method: string;
  url: string;
  authorization: string | undefined;
  actor: string | undefined;
  body: unknown;
}

interface ConfigFake {
  url: string;
  seen: ConfigSeen[];
  close(): Promise<void>;
}

const STUB_SCHEMA = [
  { key: 'namespace', doc: 'Prefix of every queue.', format: 'namespace', default: 'crawlfleet', env: 'CRAWLER_NAMESPACE', sensitive: false, live: false },
  { key: 'api.token', doc: 'Bearer token.', format: 'String', default: '', env: 'API_TOKEN', sensitive: true, live: false },
  { key: 'log.level', doc: 'Log level (live).', format: 'fatal|error|warn|info|debug|trace|silent', default: 'info', env: 'LOG_LEVEL', sensitive: false, live: true },
  { key: 'fetch.concurrency', doc: 'Requests in flight per replica (live).', format: 'positive-int', default: 32, env: 'FETCH_CONCURRENCY', sensitive: false, live: true },
  { key: 'rate.global', doc: 'Pages per second for the whole cluster, 0 = unlimited (live).', format: 'non-negative-number', default: 0, env: 'RATE_GLOBAL', sensitive: false, live: true },
  { key: 'rate.hosts', doc: 'Per-host rates (live).', format: 'host-rates', default: [], env: 'RATE_HOSTS', sensitive: false, live: true },
];

/** A stub of the config API with the controller's semantics (CAS, validation, history, rollback). */
async function startConfigFake(opts: { token?: string } = {}): Promise<ConfigFake> {
  const seen: ConfigSeen[] = [];
  const known = new Set(STUB_SCHEMA.map((e) => e.key));
  let version = 0;
  let overrides: Record<string, unknown> = {};
  let updated: { at: string; by: string } | null = null;
  const history: Record<string, unknown>[] = [];
  const valueOf = (o: Record<string, unknown>, key: string): unknown => (Object.hasOwn(o, key) ? o[key] : STUB_SCHEMA.find((e) => e.key === key)?.default);
  const flatten = (obj: Record<string, unknown>, prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> => {
    for (const [k, v] of Object.entries(obj)) {
      const key = prefix ? `${prefix}.${k}` : k;
      if (v && typeof v === 'object' && !Array.isArray(v) && !known.has(key)) flatten(v as Record<string, unknown>, key, out);
      else out[key] = v;
    }
    return out;
  };
  /** Like the controller: a set reports every key it names, a rollback the keys whose value moved. */
  const commit = (next: Record<string, unknown>, who: string, action: 'set' | 'rollback', named: string[] = []): { version: number; changes: ConfigChangeLike[] } => {
    const changes = action === 'set'
      ? named.map((key) => ({ key, old: valueOf(overrides, key), new: valueOf(next, key) }))
      : [...new Set([...Object.keys(overrides), ...Object.keys(next)])].map((key) => ({ key, old: valueOf(overrides, key), new: valueOf(next, key) })).filter((c) => JSON.stringify(c.old) !== JSON.stringify(c.new));
    overrides = next;
    version++;
    updated = { at: new Date(Date.UTC(2024, 4, 1, 10, 0, version)).toISOString(), by: who };
    history.unshift({ version, at: updated.at, who, action, changes, overrides: { ...next } });
    return { version, changes };
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const body: unknown = raw ? JSON.parse(raw) : undefined;
      const actor = typeof req.headers['x-actor'] === 'string' ? req.headers['x-actor'] : undefined;
      seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, actor, body });
      const send = (status: number, payload: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify(payload));
      };
      const fail = (status: number, code: string, message: string): void => send(status, { error: { code, message } });
      if (opts.token && req.headers.authorization !== `Bearer ${opts.token}`) return fail(401, 'unauthorized', 'missing or wrong bearer token');
      const url = new URL(req.url ?? '/', 'http://stub');
      const expected = url.searchParams.get('expectedVersion');
      const who = actor ?? 'api@127.0.0.1';
      if (req.method === 'GET' && url.pathname === '/config') {
        const settings = STUB_SCHEMA.map((e) => ({ key: e.key, value: valueOf(overrides, e.key), origin: Object.hasOwn(overrides, e.key) ? 'override' : 'default' }));
        return send(200, { version, updatedAt: updated?.at ?? null, updatedBy: updated?.by ?? null, values: {}, settings, overrides });
      }
      const keyMatch = /^\/config\/keys\/(.+)$/.exec(url.pathname);
      if (req.method === 'GET' && keyMatch) {
        const key = decodeURIComponent(keyMatch[1] ?? '');
        if (!known.has(key)) return fail(404, 'not_found', `${key}: unknown setting`);
        return send(200, { version, key, value: valueOf(overrides, key), origin: Object.hasOwn(overrides, key) ? 'override' : 'default' });
      }
      if (req.method === 'GET' && url.pathname === '/config/schema') return send(200, { settings: STUB_SCHEMA });
      if (req.method === 'GET' && url.pathname === '/config/history') {
        return send(200, { history: history.slice(0, Number(url.searchParams.get('limit') ?? 50)) });
      }
      if (expected !== null && Number(expected) !== version) return fail(409, 'conflict', `config is at version ${version}, not ${expected}`);
      if (req.method === 'PATCH' && url.pathname === '/config') {
        const flat = flatten(body as Record<string, unknown>);
        for (const [key, v] of Object.entries(flat)) {
          if (!known.has(key)) return fail(400, 'config_invalid', `${key}: unknown setting`);
          if (!STUB_SCHEMA.find((e) => e.key === key)?.live) return fail(400, 'config_invalid', `${key}: not a live setting; set it in the environment or the config file and restart`);
          if (key === 'rate.global' && v !== null && !(typeof v === 'number' && v >= 0)) return fail(400, 'config_invalid', `rate.global: must be a non-negative number: value was ${JSON.stringify(v)}`);
        }
        const next = { ...overrides };
        for (const [key, v] of Object.entries(flat)) {
          if (v === null) delete next[key];
          else next[key] = v;
        }
        return send(200, commit(next, who, 'set', Object.keys(flat)));
      }
      if (req.method === 'POST' && url.pathname === '/config/rollback') {
        const to = (body as { version: number }).version;
        const target = history.find((h) => h.version === to);
        if (!target && to !== 0) return fail(404, 'not_found', `config version ${to} is not in the history`);
        const r = commit({ ...((target?.overrides as Record<string, unknown> | undefined) ?? {}) }, who, 'rollback');
        return send(200, { ...r, rolledBackTo: to });
      }
      return fail(404, 'not_found', `${req.method} ${url.pathname} not found`);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

type ConfigChangeLike = { key: string; old: unknown; new: unknown };

async function closedPort(): Promise<string> {
  const server = http.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

describe('crawlctl config: against the config API', function () {
  this.timeout(10_000);
  let fake: ConfigFake | undefined;

  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  it('config get shows every effective value with its origin; one key; --json', async () => {
    fake = await startConfigFake();
    const all = await run(['--api', fake.url, 'config', 'get']);
    assert.equal(all.code, EXIT.ok, all.stderr);
    assert.equal(all.stdout, [
      'config version 0',
      'KEY                VALUE       ORIGIN',
      'namespace          crawlfleet  default',
      'api.token          ""          default',
      'log.level          info        default',
      'fetch.concurrency  32          default',
      'rate.global        0           default',
      'rate.hosts         []          default',
      '',
    ].join('\n'));

    const one = await run(['--api', fake.url, 'config', 'get', 'fetch.concurrency']);
    assert.equal(one.code, EXIT.ok, one.stderr);
    assert.equal(one.stdout, 'config version 0\nKEY                VALUE  ORIGIN\nfetch.concurrency  32     default\n');
    assert.equal(fake.seen.at(-1)?.url, '/config/keys/fetch.concurrency');

    const json = await run(['--api', fake.url, '--json', 'config', 'get', 'rate.global']);
    assert.deepEqual(JSON.parse(json.stdout), { version: 0, key: 'rate.global', value: 0, origin: 'default' });
    const allJson = await run(['--api', fake.url, 'config', 'get', '--json']);
    assert.equal((JSON.parse(allJson.stdout) as { settings: unknown[] }).settings.length, STUB_SCHEMA.length);

    const unknown = await run(['--api', fake.url, 'config', 'get', 'nope.x']);
    assert.equal(unknown.code, EXIT.error);
    assert.equal(unknown.stderr, 'crawlctl: not_found: nope.x: unknown setting\n');
  });

  it('config set sends the nested body with the token and actor, prints version and old → new', async () => {
    fake = await startConfigFake({ token: 's3cret' });
    const r = await run(['--api', fake.url, '--token', 's3cret', 'config', 'set', 'rate.global=20', 'fetch.concurrency=8', 'rate.hosts=["a.example=2"]', 'log.level=debug'], { env: { USER: 'alice' } });
    assert.equal(r.code, EXIT.ok, r.stderr);
    const patch = fake.seen.at(-1);
    assert.equal(patch?.method, 'PATCH');
    assert.equal(patch?.url, '/config');
    assert.equal(patch?.authorization, 'Bearer s3cret');
    assert.equal(patch?.actor, 'crawlctl:alice');
    assert.deepEqual(patch?.body, { rate: { global: 20, hosts: ['a.example=2'] }, fetch: { concurrency: 8 }, log: { level: 'debug' } });
    assert.equal(r.stdout, [
      'version 1',
      '  rate.global: 0 → 20',
      '  rate.hosts: [] → ["a.example=2"]',
      '  fetch.concurrency: 32 → 8',
      '  log.level: info → debug',
      '',
    ].join('\n'));

    const got = await run(['--api', fake.url, '--token', 's3cret', 'config', 'get']);
    assert.match(got.stdout, /^config version 1, updated 2024-05-01T10:00:01\.000Z by crawlctl:alice\n/);
    assert.match(got.stdout, /^rate\.global +20 +override$/m);

    const denied = await run(['--api', fake.url, 'config', 'set', 'rate.global=5']);
    assert.equal(denied.code, EXIT.error);
    assert.equal(denied.stderr, 'crawlctl: unauthorized: missing or wrong bearer token\n');

    const json = await run(['--api', fake.url, '--token', 's3cret', '--json', 'config', 'set', 'rate.global=null'], { env: { CRAWLCTL_ACTOR: 'deploy-bot' } });
    assert.equal(json.code, EXIT.ok, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), { version: 2, changes: [{ key: 'rate.global', old: 20, new: 0 }] });
    assert.equal(fake.seen.at(-1)?.actor, 'deploy-bot');
    assert.deepEqual(fake.seen.at(-1)?.body, { rate: { global: null } });
  });

  it('config set reports an invalid value as config_invalid: <message>, exit 1', async () => {
    fake = await startConfigFake();
    const r = await run(['--api', fake.url, 'config', 'set', 'rate.global=-1']);
    assert.equal(r.code, EXIT.error);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, 'crawlctl: config_invalid: rate.global: must be a non-negative number: value was -1\n');
    const notLive = await run(['--api', fake.url, 'config', 'set', 'namespace=x']);
    assert.equal(notLive.code, EXIT.error);
    assert.equal(notLive.stderr, 'crawlctl: config_invalid: namespace: not a live setting; set it in the environment or the config file and restart\n');
  });

  it('config set --expected-version: applies at that version, a conflict exits 1 and says what to do', async () => {
    fake = await startConfigFake();
    const first = await run(['--api', fake.url, 'config', 'set', 'rate.global=10', '--expected-version', '0']);
    assert.equal(first.code, EXIT.ok, first.stderr);
    assert.equal(fake.seen.at(-1)?.url, '/config?expectedVersion=0');
    const stale = await run(['--api', fake.url, 'config', 'set', 'rate.global=30', '--expected-version', '0']);
    assert.equal(stale.code, EXIT.error);
    assert.equal(stale.stdout, '');
    assert.equal(stale.stderr, 'crawlctl: conflict: config is at version 1, not 0; the configuration changed since version 0; review it with crawlctl config get (or config history) and retry with the current version\n');
    const bad = await run(['--api', fake.url, 'config', 'set', 'rate.global=30', '--expected-version', 'x']);
    assert.equal(bad.code, EXIT.usage);
    assert.match(bad.stderr, /^crawlctl: --expected-version must be a non-negative integer\n\nusage: crawlctl config set /);
  });

  it('config history lists changes newest first; config rollback restores an earlier version', async () => {
    fake = await startConfigFake();
    assert.equal((await run(['--api', fake.url, 'config', 'history'])).stdout, 'no configuration changes\n');
    await run(['--api', fake.url, 'config', 'set', 'rate.global=20'], { env: { USER: 'alice' } });
    await run(['--api', fake.url, 'config', 'set', 'rate.global=60', 'fetch.concurrency=4'], { env: { USER: 'bob' } });
    const h = await run(['--api', fake.url, 'config', 'history', '--limit', '5']);
    assert.equal(h.code, EXIT.ok, h.stderr);
    assert.equal(fake.seen.at(-1)?.url, '/config/history?limit=5');
    assert.equal(h.stdout, [
      'VERSION  AT                        WHO             ACTION  CHANGES',
      '2        2024-05-01T10:00:02.000Z  crawlctl:bob    set     rate.global: 20 → 60; fetch.concurrency: 32 → 4',
      '1        2024-05-01T10:00:01.000Z  crawlctl:alice  set     rate.global: 0 → 20',
      '',
    ].join('\n'));

    const rb = await run(['--api', fake.url, 'config', 'rollback', '1'], { env: { USER: 'carol' } });
    assert.equal(rb.code, EXIT.ok, rb.stderr);
    assert.deepEqual(fake.seen.at(-1)?.body, { version: 1 });
    assert.equal(fake.seen.at(-1)?.actor, 'crawlctl:carol');
    assert.equal(rb.stdout, 'version 3 (rolled back to 1)\n  rate.global: 60 → 20\n  fetch.concurrency: 4 → 32\n');
    const after = await run(['--api', fake.url, '--json', 'config', 'history', '--limit', '1']);
    const entry = (JSON.parse(after.stdout) as { history: { version: number; action: string }[] }).history[0];
    assert.deepEqual({ version: entry?.version, action: entry?.action }, { version: 3, action: 'rollback' });

    const missing = await run(['--api', fake.url, 'config', 'rollback', '42']);
    assert.equal(missing.code, EXIT.error);
    assert.equal(missing.stderr, 'crawlctl: not_found: config version 42 is not in the history\n');
    const conflict = await run(['--api', fake.url, 'config', 'rollback', '1', '--expected-version', '2']);
    assert.equal(conflict.code, EXIT.error);
    assert.match(conflict.stderr, /^crawlctl: conflict: config is at version 3, not 2; /);
    const usage = await run(['--api', fake.url, 'config', 'rollback']);
    assert.equal(usage.code, EXIT.usage);
    assert.match(usage.stderr, /^crawlctl: config rollback needs a version\n/);
    const badLimit = await run(['--api', fake.url, 'config', 'history', '--limit', '0']);
    assert.equal(badLimit.code, EXIT.usage);
  });

  it('config schema comes from the API when it answers, else from this build', async () => {
    fake = await startConfigFake();
    const online = await run(['--api', fake.url, 'config', 'schema']);
    assert.equal(online.code, EXIT.ok, online.stderr);
    assert.equal(online.stderr, '');
    assert.match(online.stdout, /^KEY +ENV +DEFAULT +LIVE +DOC\n/);
    assert.match(online.stdout, /^rate\.global +RATE_GLOBAL +0 +yes +Pages per second for the whole cluster, 0 = unlimited \(live\)\.$/m);
    assert.match(online.stdout, /^namespace +CRAWLER_NAMESPACE +crawlfleet +no +Prefix of every queue\.$/m);
    assert.equal(online.stdout.trim().split('\n').length, STUB_SCHEMA.length + 1);

    const api = await closedPort();
    const offline = await run(['--api', api, 'config', 'schema']);
    assert.equal(offline.code, EXIT.ok, offline.stderr);
    assert.equal(offline.stderr, `crawlctl: cannot reach the API at ${api} (is the controller running? start it with npm start); showing the schema of this crawlctl build\n`);
    assert.match(offline.stdout, /^rate\.global +RATE_GLOBAL +0 +yes +Pages per second/m);
    assert.match(offline.stdout, /^amqp\.url +AMQP_URL +\*\*\* +no +/m);
    assert.match(offline.stdout, /^config\.pollMs +CONFIG_POLL_MS +5000 +yes +/m);
    const json = JSON.parse((await run(['--api', api, '--json', 'config', 'schema'])).stdout) as { source: string; settings: { key: string }[] };
    assert.equal(json.source, 'local');
    assert.ok(json.settings.some((e) => e.key === 'fetch.concurrency'));
  });

  it('bad config usage exits 2 and makes no request', async () => {
    fake = await startConfigFake();
    const r = await run(['--api', fake.url, 'config', 'set', 'rate.global']);
    assert.equal(r.code, EXIT.usage);
    assert.match(r.stderr, /^crawlctl: config set wants key=value, got "rate\.global"\n\nusage: crawlctl config set <key=value\.\.\.> \[--expected-version N\]\n/);
    const none = await run(['--api', fake.url, 'config', 'set']);
    assert.equal(none.code, EXIT.usage);
    assert.match(none.stderr, /^crawlctl: config set needs at least one key=value\n/);
    const sub = await run(['--api', fake.url, 'config', 'del']);
    assert.equal(sub.code, EXIT.usage);
    assert.match(sub.stderr, /^crawlctl: config has no subcommand "del" \(get\|set\|rollout\|history\|rollback\|schema\)\n/);
    assert.equal(fake.seen.length, 0);
    const help = await run(['help', 'config', 'set']);
    assert.equal(help.code, EXIT.ok);
    assert.match(help.stdout, /--expected-version N +only if the configuration is still at version N/);
  });
});
