/** crawlctl crawl --header, --cookie, --cookie-jar, --user-agent → the request state of POST /sessions; a bad option names itself, never the value. */
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
    assert.ok(err instanceof UsageError, String(err));
    return err.message;
  }
  assert.fail('accepted');
}

describe('crawlctl crawl: request state options', () => {
  it('maps --header, --cookie, --cookie-jar and --user-agent to the body', () => {
    const body = bodyOf([
      'crawl', 'https://a.example/',
      '--header', 'Authorization: Bearer abc:def', '--header', 'Accept-Language:fr',
      '--cookie', 'sid=a=b', '--cookie', 'consent=yes',
      '--cookie-jar', '--user-agent', 'MyBot/1.0 (+https://a.example/bot)',
    ]);
    assert.deepEqual(body.headers, { Authorization: 'Bearer abc:def', 'Accept-Language': 'fr' });
    assert.deepEqual(body.cookies, [{ name: 'sid', value: 'a=b' }, { name: 'consent', value: 'yes' }]);
    assert.equal(body.cookieJar, true);
    assert.equal(body.userAgent, 'MyBot/1.0 (+https://a.example/bot)');
  });

  it('leaves them out when not given', () => {
    const body = bodyOf(['crawl', 'https://a.example/']);
    for (const k of ['headers', 'cookies', 'cookieJar', 'userAgent']) assert.equal(k in body, false, k);
  });

  it('refuses a header without a name or a colon, a cookie without a name or =, a header twice: without showing the value', () => {
    assert.match(usage(['crawl', 'https://a.example/', '--header', 'Bearer-s3cr3t']), /--header must look like 'Name: value'/);
    assert.ok(!usage(['crawl', 'https://a.example/', '--header', ': s3cr3t']).includes('s3cr3t'));
    assert.match(usage(['crawl', 'https://a.example/', '--cookie', 's3cr3t']), /--cookie must look like 'name=value'/);
    assert.ok(!usage(['crawl', 'https://a.example/', '--cookie', '=s3cr3t']).includes('s3cr3t'));
    const twice = usage(['crawl', 'https://a.example/', '--header', 'X-A: s3cr3t', '--header', 'x-a: other']);
    assert.match(twice, /--header x-a is given twice/);
    assert.ok(!twice.includes('s3cr3t'));
  });
});
