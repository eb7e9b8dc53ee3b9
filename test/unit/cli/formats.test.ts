/**
 * crawlctl crawl --format (repeatable) and --full-page → the formats and onlyMainContent of
 * POST /sessions.
 */
import assert from 'node:assert/strict';
import { UsageError } from '../../../cli/client.js';
import { buildCrawlBody, parseCommandLine } from '../../../cli/commands.js';

function bodyOf(argv: string[]): ReturnType<typeof buildCrawlBody> {
  const p = parseCommandLine(argv);
  assert.equal(p.command, 'crawl');
  return buildCrawlBody(p.positionals, p.values);
}

function usage(argv: string[]): string {
  try {
    bodyOf(argv);
  } catch (err) {
    assert.ok(err instanceof UsageError, `expected a UsageError, got ${String(err)}`);
    return err.message;
  }
  return assert.fail('expected a UsageError');
}

describe('crawlctl crawl --format and --full-page', () => {
  const cases: [string, string[], { formats?: string[]; onlyMainContent?: boolean }][] = [
    ['no option: the cluster default (nothing sent)', [], {}],
    ['one format', ['--format', 'markdown'], { formats: ['markdown'] }],
    ['repeated, in the order given', ['--format', 'markdown', '--format', 'links', '--format=headers'], { formats: ['markdown', 'links', 'headers'] }],
    ['every format', ['--format', 'markdown', '--format', 'text', '--format', 'html', '--format', 'rawHtml', '--format', 'links', '--format', 'metadata', '--format', 'headers'], { formats: ['markdown', 'text', 'html', 'rawHtml', 'links', 'metadata', 'headers'] }],
    ['none: no page content', ['--format', 'none'], { formats: [] }],
    ['--full-page', ['--full-page'], { onlyMainContent: false }],
    ['both', ['--format', 'text', '--full-page'], { formats: ['text'], onlyMainContent: false }],
  ];
  for (const [name, args, want] of cases) {
    it(name, () => {
      const body = bodyOf(['crawl', 'http://a.test/', ...args]);
      assert.deepEqual({ formats: body.formats, onlyMainContent: body.onlyMainContent }, { formats: want.formats, onlyMainContent: want.onlyMainContent });
      assert.deepEqual(body.seeds, ['http://a.test/']);
    });
  }

  const refusals: [string, string[], string][] = [
    ['an unknown format', ['--format', 'pdf'], '--format must be one of markdown, text, html, rawHtml, links, metadata, headers or none, got "pdf"'],
    ['a format twice', ['--format', 'links', '--format', 'links'], '--format links is given twice'],
    ['none with another', ['--format', 'none', '--format', 'markdown'], '--format none cannot be combined with other formats'],
    ['a value for --full-page', ['--full-page=yes'], '--full-page does not take a value'],
  ];
  for (const [name, args, message] of refusals) {
    it(`refuses ${name}`, () => {
      assert.equal(usage(['crawl', 'http://a.test/', ...args]), message);
    });
  }
});
