/**
 * crawlctl results --format jsonl|csv|md and crawlctl page: the CSV quoting and the Markdown
 * assembly as table tests, then the commands against a local fake of the API that pages the
 * records by cursor (limit, after, X-Next-Cursor), filters by outcome, keeps the named
 * fields and answers GET /sessions/:id/page.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT } from '../../../cli/client.js';
import { buildResultsRequest, parseCommandLine } from '../../../cli/commands.js';
import { fakeServer, runCrawlctl, type FakeServer } from '../../support/cli.js';
import { closeOpenFence, csvCell, csvHeader, csvRow, markdownInline, markdownSection, markdownUrl, pageQuery } from '../../../cli/results.js';

const run = runCrawlctl;

// ---------------------------------------------------------------------------------------
// Pure: CSV

describe('crawlctl results: CSV cells and rows (RFC 4180)', () => {
  const cells: [string, unknown, string][] = [
    ['plain text as is', 'Example', 'Example'],
    ['a comma: quoted', 'a, b', '"a, b"'],
    ['a quote: quoted and doubled', 'say "hi"', '"say ""hi"""'],
    ['a line feed: quoted', 'one\ntwo', '"one\ntwo"'],
    ['a carriage return: quoted', 'one\rtwo', '"one\rtwo"'],
    ['only quotes', '""', '""""""'],
    ['null: empty', null, ''],
    ['absent: empty', undefined, ''],
    ['the empty string: empty', '', ''],
    ['a number', 404, '404'],
    ['zero', 0, '0'],
    ['a boolean', true, 'true'],
    ['non-ASCII text as is', 'Café – accueil', 'Café – accueil'],
    ['leading and trailing spaces kept, not quoted', '  x  ', '  x  '],
    ['an object as JSON, quoted (commas and quotes)', { price: '9,99', name: null }, '"{""price"":""9,99"",""name"":null}"'],
    ['an array of links as JSON', [{ url: 'https://a.example/', text: 'A', rel: null }], '"[{""url"":""https://a.example/"",""text"":""A"",""rel"":null}]"'],
    ['an empty object', {}, '{}'],
    ['a formula: made text with a leading quote', '=HYPERLINK("http://evil.test","x")', '"\'=HYPERLINK(""http://evil.test"",""x"")"'],
    ['a leading plus, minus, at: made text', '+1', "'+1"],
    ['a leading minus', '-2+3', "'-2+3"],
    ['a leading at', '@SUM(A1)', "'@SUM(A1)"],
    ['a leading tab', '\tx', "'\tx"],
    ['a negative number stays a number', -5, '-5'],
  ];
  for (const [name, value, want] of cells) {
    it(name, () => assert.equal(csvCell(value), want));
  }

  it('a row takes the named keys in order, absent keys empty, and ends with CRLF', () => {
    const record = { url: 'https://a.example/', status: 200, title: 'A, "the" page', fields: { h: 'x' }, extra: 'ignored' };
    assert.equal(csvRow(record, ['title', 'url', 'reason', 'status', 'fields']), '"A, ""the"" page",https://a.example/,,200,"{""h"":""x""}"\r\n');
    assert.equal(csvHeader(['url', 'title']), 'url,title\r\n');
  });

  it('an own key named like an Object.prototype member is read, an inherited one is not', () => {
    assert.equal(csvRow({ constructor: 'own' }, ['constructor', 'toString']), 'own,\r\n');
  });
});

// ---------------------------------------------------------------------------------------
// Pure: Markdown

describe('crawlctl results: the Markdown document', () => {
  const inline: [string, string][] = [
    ['Plain title', 'Plain title'],
    ['  Spaced\n\ttitle  ', 'Spaced title'],
    ['*bold* _it_ `code` [link](x) <b> & C# ~~s~~ | a\\b !', '\\*bold\\* \\_it\\_ \\`code\\` \\[link\\](x) \\<b\\> \\& C\\# \\~\\~s\\~\\~ \\| a\\\\b \\!'],
  ];
  for (const [raw, want] of inline) {
    it(`escapes ${JSON.stringify(raw)} in a heading`, () => assert.equal(markdownInline(raw), want));
  }

  it('writes a URL as an autolink when it can be one', () => {
    assert.equal(markdownUrl('https://a.example/x?y=1'), '<https://a.example/x?y=1>');
    assert.equal(markdownUrl('https://a.example/a b'), 'https://a.example/a b');
    assert.equal(markdownUrl('not a url'), 'not a url');
    assert.equal(markdownUrl('https://a.example/<x>'), 'https://a.example/\\<x\\>');
  });

  const sections: [string, Record<string, unknown>, string][] = [
    ['a page: title and URL as the heading, then its Markdown without trailing blank lines',
      { url: 'https://a.example/', title: 'Home', outcome: 'delivered', markdown: '# Home\n\nHello.\n\n\n' },
      '\n## Home — <https://a.example/>\n\n# Home\n\nHello.\n'],
    ['a page without title: the URL alone',
      { url: 'https://a.example/b', title: null, outcome: 'delivered', markdown: 'B' },
      '\n## <https://a.example/b>\n\nB\n'],
    ['a page without markdown: a line saying the formats leave it out',
      { url: 'https://a.example/c', title: 'C', outcome: 'delivered', contentType: 'text/html; charset=utf-8' },
      '\n## C — <https://a.example/c>\n\n_No Markdown for this page: the session\'s formats do not include markdown._\n'],
    ['a document that is not HTML: a line naming its type',
      { url: 'https://a.example/f.pdf', title: null, outcome: 'delivered', contentType: 'application/pdf' },
      '\n## <https://a.example/f.pdf>\n\n_No Markdown for this page: it is application/pdf, not HTML._\n'],
    ['empty Markdown: a line saying the page has no text',
      { url: 'https://a.example/e', title: 'E', outcome: 'delivered', markdown: '  \n' },
      '\n## E — <https://a.example/e>\n\n_This page has no text content._\n'],
    ['Markdown cut at its cap inside a code block: the block is closed and the cut said',
      { url: 'https://a.example/t', title: 'T', outcome: 'delivered', markdown: 'Intro\n\n```python\n# a comment\nx = 1', truncated: ['markdown'] },
      '\n## T — <https://a.example/t>\n\nIntro\n\n```python\n# a comment\nx = 1\n```\n\n_This page\'s Markdown was cut at the byte cap of the session (content.maxMarkdownBytes)._\n'],
    ['a record not delivered (--outcome failed): its outcome and reason',
      { url: 'https://a.example/m', title: null, outcome: 'failed', reason: 'http_client_error', error: 'HTTP 404' },
      '\n## <https://a.example/m>\n\n_Not delivered: failed (http\\_client\\_error: HTTP 404)._\n'],
  ];
  for (const [name, record, want] of sections) {
    it(name, () => assert.equal(markdownSection(record), want));
  }

  const fences: [string, string, string][] = [
    ['closed backtick fence: unchanged', 'a\n```js\nx\n```\nb', 'a\n```js\nx\n```\nb'],
    ['open backtick fence: closed with the same length', 'a\n````\nx', 'a\n````\nx\n````'],
    ['open tilde fence: closed with tildes', '~~~\nx\n', '~~~\nx\n~~~'],
    ['a shorter fence inside does not close', '````\n```\nx', '````\n```\nx\n````'],
    ['the other fence character does not close', '```\n~~~\nx', '```\n~~~\nx\n```'],
    ['a fence indented in a list item counts', '- item\n\n  ```sh\n  ls', '- item\n\n  ```sh\n  ls\n```'],
    ['inline code with three backticks is not a fence', 'use ```x``` here', 'use ```x``` here'],
    ['no fences: unchanged', 'text', 'text'],
  ];
  for (const [name, md, want] of fences) {
    it(`closeOpenFence: ${name}`, () => assert.equal(closeOpenFence(md), want));
  }
});

// ---------------------------------------------------------------------------------------
// Pure: options → request

describe('crawlctl results: options', () => {
  const req = (argv: string[]): ReturnType<typeof buildResultsRequest> => {
    const p = parseCommandLine(['results', 'x', ...argv]);
    return buildResultsRequest(p.values, 5);
  };

  it('asks the API for each format\'s keys, outcome and page size', () => {
    assert.deepEqual(pageQuery(req([])), { limit: 1000 });
    assert.deepEqual(pageQuery(req(['--fields', 'url,title', '--outcome', 'failed', '--page-size', '10'])), { limit: 10, outcome: 'failed', fields: ['url', 'title'] });
    assert.deepEqual(pageQuery(req(['--format', 'csv'])), { limit: 1000, fields: ['url', 'finalUrl', 'status', 'outcome', 'reason', 'title', 'depth', 'fetchedAt', 'contentHash', 'bytes'] });
    assert.deepEqual(pageQuery(req(['--format', 'md'])), { limit: 1000, outcome: 'delivered', fields: ['url', 'title', 'outcome', 'reason', 'error', 'contentType', 'markdown', 'truncated'] });
    assert.equal(pageQuery(req(['--format', 'md', '--outcome', 'failed'])).outcome, 'failed');
  });

  const refusals: [string[], RegExp][] = [
    [['--format', 'xml'], /^--format must be one of jsonl, csv, md, got "xml"$/],
    [['--outcome', 'done'], /^--outcome must be one of delivered, failed, skipped, cancelled, got "done"$/],
    [['--fields', 'url,,title'], /^--fields wants record keys/],
    [['--fields', 'url,ti-tle'], /^--fields wants record keys/],
    [['--fields', 'url,url'], /^--fields names url twice$/],
    [['--format', 'md', '--fields', 'url'], /^--fields does not apply to --format md/],
    [['--page-size', '0'], /^--page-size must be a positive integer$/],
    [['--page-size', '100001'], /^--page-size must be at most 100000$/],
  ];
  for (const [argv, message] of refusals) {
    it(`refuses ${argv.join(' ')}`, () => assert.throws(() => req(argv), { name: 'UsageError', message }));
  }
});

// ---------------------------------------------------------------------------------------
// Against a fake API

interface Fake extends FakeServer {
  /** Answer 503 to the next request for a results page after this cursor. */
  failOnceAfter: string | null;
}

const ID = 'r1-results';

/** Seven records in write order; titles and fields that need CSV quoting; markdown on some. */
const RECORDS: Record<string, unknown>[] = [
  { url: 'https://a.example/', finalUrl: 'https://a.example/', status: 200, depth: 0, outcome: 'delivered', reason: null, title: 'Home, "sweet" home', fields: { h1: 'Welcome' }, fetchedAt: '2026-01-01T00:00:00.000Z', contentHash: 'sha256:aa', bytes: 120, contentType: 'text/html', markdown: '# Welcome\n\nSee [B](https://a.example/b).\n' },
  { url: 'https://a.example/b', finalUrl: 'https://a.example/b', status: 200, depth: 1, outcome: 'delivered', reason: null, title: 'Café\nB', fields: {}, fetchedAt: '2026-01-01T00:00:01.000Z', contentHash: 'sha256:bb', bytes: 80, contentType: 'text/html', markdown: 'Plain *B*.' },
  { url: 'https://a.example/missing', finalUrl: 'https://a.example/missing', status: 404, depth: 1, outcome: 'failed', reason: 'http_client_error', title: null, fields: {}, fetchedAt: '2026-01-01T00:00:02.000Z', contentType: 'text/html' },
  { url: 'https://a.example/c', finalUrl: 'https://a.example/c/', status: 200, depth: 1, outcome: 'delivered', reason: null, title: null, fields: {}, fetchedAt: '2026-01-01T00:00:03.000Z', contentHash: 'sha256:cc', bytes: 10, contentType: 'text/html' },
  { url: 'https://a.example/robots', finalUrl: 'https://a.example/robots', status: null, depth: 1, outcome: 'skipped', reason: 'robots', title: null, fields: {}, fetchedAt: null },
  { url: 'https://a.example/d', finalUrl: 'https://a.example/d', status: 200, depth: 2, outcome: 'delivered', reason: null, title: 'D', fields: {}, fetchedAt: '2026-01-01T00:00:05.000Z', contentHash: 'sha256:dd', bytes: 30, contentType: 'text/html', markdown: 'D page' },
  { url: 'https://a.example/e', finalUrl: 'https://a.example/e', status: 200, depth: 2, outcome: 'delivered', reason: null, title: 'E', fields: {}, fetchedAt: '2026-01-01T00:00:06.000Z', contentHash: 'sha256:ee', bytes: 40, contentType: 'text/html', markdown: 'E page' },
];

/** The API's paging: records after the cursor (an index), filtered, `limit` of them; X-Next-Cursor when more are there. */
async function fakeApi(): Promise<Fake> {
  const fake: Fake = { url: '', seen: [], failOnceAfter: null, close: () => Promise.resolve() };
  const server = await fakeServer((req, res, send) => {
    const u = new URL(req.url || '/', 'http://fake');
    const m = /^\/sessions\/([^/]+)\/(results|page)$/.exec(u.pathname);
    if (!m || m[1] !== ID) return send(404, { error: { code: 'not_found', message: `session ${m?.[1] ?? ''} not found` } });
    if (m[2] === 'page') {
      const record = RECORDS.find((r) => r.url === u.searchParams.get('url'));
      if (!record) return send(404, { error: { code: 'not_found', message: `${u.searchParams.get('url')} has no record in session ${ID}` } });
      return send(200, record);
    }
    const after = u.searchParams.get('after');
    if (fake.failOnceAfter !== null && (after ?? '') === fake.failOnceAfter) {
      fake.failOnceAfter = null;
      return send(503, { error: { code: 'unavailable', message: 'results store busy' } });
    }
    const limit = Number(u.searchParams.get('limit') ?? RECORDS.length);
    const outcome = u.searchParams.get('outcome');
    const fields = u.searchParams.get('fields')?.split(',') ?? null;
    const start = after === null ? 0 : Number(after);
    const page: string[] = [];
    let i = start;
    for (; i < RECORDS.length && page.length < limit; i++) {
      const r = RECORDS[i] as Record<string, unknown>;
      if (outcome !== null && r.outcome !== outcome) continue;
      const kept = fields === null ? r : Object.fromEntries(fields.filter((f) => f in r).map((f) => [f, r[f]]));
      page.push(`${JSON.stringify(kept)}\n`);
    }
    const more = RECORDS.slice(i).some((r) => outcome === null || r.outcome === outcome);
    res.writeHead(200, { 'content-type': 'application/x-ndjson', ...(more ? { 'x-next-cursor': String(i) } : {}) });
    // Written in two parts, split inside a record, to exercise the line reassembly.
    const chunk = Buffer.from(page.join(''));
    res.write(chunk.subarray(0, Math.floor(chunk.length / 2)));
    setTimeout(() => res.end(chunk.subarray(Math.floor(chunk.length / 2))), 2);
  });
  return Object.assign(fake, { url: server.url, seen: server.seen, close: server.close });
}

const jsonl = (records: Record<string, unknown>[]): string => records.map((r) => `${JSON.stringify(r)}\n`).join('');
const resultRequests = (fake: Fake): string[] => fake.seen.filter((s) => s.url.includes('/results')).map((s) => s.url);

describe('crawlctl results and page: against the API', function () {
  this.timeout(10_000);
  let fake: Fake;
  let dir: string;

  before(async () => {
    fake = await fakeApi();
    dir = await mkdtemp(join(tmpdir(), 'crawlctl-results-'));
  });
  beforeEach(() => {
    fake.seen.length = 0;
    fake.failOnceAfter = null;
  });
  after(async () => {
    await fake.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('jsonl walks the cursor pages and writes every record once, in write order', async () => {
    const r = await run(['--api', fake.url, 'results', ID, '--page-size', '3']);
    assert.equal(r.code, EXIT.ok, r.stderr);
    assert.equal(r.stdout, jsonl(RECORDS));
    assert.deepEqual(resultRequests(fake), [
      `/sessions/${ID}/results?limit=3`,
      `/sessions/${ID}/results?limit=3&after=3`,
      `/sessions/${ID}/results?limit=3&after=6`,
    ]);
  });

  it('jsonl with --outcome and --fields passes both to the API', async () => {
    const r = await run(['--api', fake.url, 'results', ID, '--outcome', 'delivered', '--fields', 'url,title', '--page-size', '2']);
    assert.equal(r.code, EXIT.ok, r.stderr);
    const want = RECORDS.filter((x) => x.outcome === 'delivered').map((x) => ({ url: x.url, title: x.title }));
    assert.equal(r.stdout, jsonl(want));
    assert.equal(resultRequests(fake)[0], `/sessions/${ID}/results?limit=2&outcome=delivered&fields=url%2Ctitle`);
    assert.equal(resultRequests(fake).length, 3, 'five delivered records in pages of two');
  });

  it('a page that fails with a 503 is asked again from the same cursor', async () => {
    fake.failOnceAfter = '3';
    const r = await run(['--api', fake.url, 'results', ID, '--page-size', '3']);
    assert.equal(r.code, EXIT.ok, r.stderr);
    assert.equal(r.stdout, jsonl(RECORDS));
    assert.deepEqual(resultRequests(fake).map((u) => new URL(u, 'http://x').searchParams.get('after')), [null, '3', '3', '6']);
  });

  it('csv: a header row of the default fields, one row per record, quoted as RFC 4180 says', async () => {
    const r = await run(['--api', fake.url, 'results', ID, '--format', 'csv', '--page-size', '4']);
    assert.equal(r.code, EXIT.ok, r.stderr);
    const lines = r.stdout.split('\r\n');
    assert.equal(lines[0], 'url,finalUrl,status,outcome,reason,title,depth,fetchedAt,contentHash,bytes');
    assert.equal(lines[1], 'https://a.example/,https://a.example/,200,delivered,,"Home, ""sweet"" home",0,2026-01-01T00:00:00.000Z,sha256:aa,120');
    assert.equal(lines[2], 'https://a.example/b,https://a.example/b,200,delivered,,"Café\nB",1,2026-01-01T00:00:01.000Z,sha256:bb,80');
    assert.equal(lines[3], 'https://a.example/missing,https://a.example/missing,404,failed,http_client_error,,1,2026-01-01T00:00:02.000Z,,');
    assert.equal(lines[5], 'https://a.example/robots,https://a.example/robots,,skipped,robots,,1,,,');
    assert.equal(lines.length, 1 + RECORDS.length + 1, 'header, seven rows, and the empty rest after the last CRLF');
    assert.equal(lines.at(-1), '');
    assert.equal(resultRequests(fake).length, 2);
    assert.equal(new URL(resultRequests(fake)[0] as string, 'http://x').searchParams.get('fields'), 'url,finalUrl,status,outcome,reason,title,depth,fetchedAt,contentHash,bytes');
  });

  it('csv --fields: those columns in that order, nested values as JSON; --output writes the file', async () => {
    const file = join(dir, 'r.csv');
    const r = await run(['--api', fake.url, 'results', ID, '--format', 'csv', '--fields', 'title,fields,url', '--outcome', 'delivered', '--output', file]);
    assert.equal(r.code, EXIT.ok, r.stderr);
    assert.equal(r.stdout, `${file} (5 records)\n`);
    const text = await readFile(file, 'utf8');
    assert.equal(text.split('\r\n')[0], 'title,fields,url');
    assert.equal(text.split('\r\n')[1], '"Home, ""sweet"" home","{""h1"":""Welcome""}",https://a.example/');
    assert.equal(text.split('\r\n')[3], ',{},https://a.example/c');
    const json = await run(['--api', fake.url, '--json', 'results', ID, '--format', 'csv', '--output', file]);
    const doc = JSON.parse(json.stdout) as { records: number; bytes: number; format: string };
    assert.equal(doc.records, 7);
    assert.equal(doc.format, 'csv');
    assert.equal(doc.bytes, (await stat(file)).size);
  });

  it('md: one document, each delivered page under its title and URL, in write order', async () => {
    const r = await run(['--api', fake.url, 'results', ID, '--format', 'md', '--page-size', '2']);
    assert.equal(r.code, EXIT.ok, r.stderr);
    assert.equal(r.stdout, [
      `# Session ${ID}`,
      '',
      '## Home, "sweet" home — <https://a.example/>',
      '',
      '# Welcome',
      '',
      'See [B](https://a.example/b).',
      '',
      '## Café B — <https://a.example/b>',
      '',
      'Plain *B*.',
      '',
      '## <https://a.example/c>',
      '',
      '_No Markdown for this page: the session\'s formats do not include markdown._',
      '',
      '## D — <https://a.example/d>',
      '',
      'D page',
      '',
      '## E — <https://a.example/e>',
      '',
      'E page',
      '',
    ].join('\n'));
    const first = new URL(resultRequests(fake)[0] as string, 'http://x').searchParams;
    assert.equal(first.get('outcome'), 'delivered');
    assert.equal(first.get('fields'), 'url,title,outcome,reason,error,contentType,markdown,truncated');
    assert.equal(resultRequests(fake).length, 3);
  });

  it('an unknown session exits 1 with the API\'s message and creates no file', async () => {
    const file = join(dir, 'none.md');
    const r = await run(['--api', fake.url, 'results', 'nope', '--format', 'md', '--output', file]);
    assert.equal(r.code, EXIT.error);
    assert.equal(r.stderr, 'crawlctl: not_found: session nope not found\n');
    await assert.rejects(stat(file), { code: 'ENOENT' });
  });

  it('bad results options exit 2 and make no request', async () => {
    for (const argv of [['--format', 'xml'], ['--outcome', 'ok'], ['--format', 'md', '--fields', 'url']]) {
      const r = await run(['--api', fake.url, 'results', ID, ...argv]);
      assert.equal(r.code, EXIT.usage, argv.join(' '));
      assert.match(r.stderr, /\n\nusage: crawlctl results <id> \[--format jsonl\|csv\|md\]/);
    }
    assert.equal(fake.seen.length, 0);
  });

  it('page prints the record of one URL; --json on one line', async () => {
    const r = await run(['--api', fake.url, 'page', ID, 'https://a.example/b']);
    assert.equal(r.code, EXIT.ok, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), RECORDS[1]);
    assert.equal(r.stdout, `${JSON.stringify(RECORDS[1], null, 2)}\n`);
    assert.deepEqual(fake.seen, [{ method: 'GET', url: `/sessions/${ID}/page?url=${encodeURIComponent('https://a.example/b')}` }]);
    const json = await run(['--api', fake.url, '--json', 'page', ID, 'https://a.example/b']);
    assert.equal(json.stdout, `${JSON.stringify(RECORDS[1])}\n`);
  });

  it('page: a URL without a record exits 1 with the message; a bad URL or a missing one exits 2', async () => {
    const r = await run(['--api', fake.url, 'page', ID, 'https://a.example/zzz']);
    assert.equal(r.code, EXIT.error);
    assert.equal(r.stderr, `crawlctl: not_found: https://a.example/zzz has no record in session ${ID}\n`);
    assert.equal(r.stdout, '');
    const bad = await run(['--api', fake.url, 'page', ID, 'a.example/zzz']);
    assert.equal(bad.code, EXIT.usage);
    assert.match(bad.stderr, /^crawlctl: the URL must be an absolute http\(s\) URL, got "a\.example\/zzz"\n/);
    const missing = await run(['--api', fake.url, 'page', ID]);
    assert.equal(missing.code, EXIT.usage);
    assert.match(missing.stderr, /^crawlctl: page needs a session id and a URL\n/);
    assert.equal(fake.seen.length, 1);
  });
});
