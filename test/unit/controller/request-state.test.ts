/**
 * POST /sessions request state: `headers`, `cookies`, `cookieJar`, `userAgent`. The schema's
 * messages, the rules buildSpec adds (RFC 9110 tokens, hop-by-hop and client-set headers
 * refused by name, no CR/LF/NUL, RFC 6265 cookie syntax), every refusal naming its field and
 * none showing the secret value.
 */
import assert from 'node:assert/strict';
import { validatorFactory } from '../../../services/controller/index.js';
import { buildSpec, createSessionSchema } from '../../../services/controller/sessions.js';
import { loadConfig } from '../../../shared/config/index.js';
import { CrawlError } from '../../../shared/errors/index.js';
import type { SessionRequest } from '../../../shared/tasks/types.js';

type Validate = ((data: unknown) => boolean) & { errors?: { instancePath: string; message?: string }[] | null };

const SECRET = 'Bearer s3cr3t-value-42';

describe('session request state (POST /sessions)', () => {
  const cfg = loadConfig({ env: { FETCH_ALLOWED_NETWORKS: '127.0.0.0/8' }, file: null }).config;
  const seeds = ['http://127.0.0.1:8000/'];
  const validate = validatorFactory()({}, {})({ schema: createSessionSchema as never, method: 'POST', url: '/sessions', httpPart: 'body' }) as unknown as Validate;
  const first = (): string => `body${validate.errors?.[0]?.instancePath ?? ''} ${validate.errors?.[0]?.message ?? ''}`;

  /** The refusal of buildSpec: its message and field; asserts it is a validation error. */
  function refusal(body: Partial<SessionRequest>): { message: string; field: unknown } {
    try {
      buildSpec({ seeds, ...body }, cfg);
    } catch (err) {
      assert.ok(err instanceof CrawlError);
      assert.equal(err.code, 'validation');
      return { message: err.message, field: err.details.field };
    }
    assert.fail('accepted');
  }

  describe('schema', () => {
    const cases: [string, unknown, string | null][] = [
      ['headers of strings', { headers: { Authorization: SECRET, 'Accept-Language': 'fr' } }, null],
      ['a header value that is no string', { headers: { 'X-N': 1 } }, 'body/headers/X-N must be string'],
      ['cookies with every field', { cookies: [{ name: 'sid', value: 'abc', domain: 'a.test', path: '/x', secure: true }] }, null],
      ['a cookie without a value', { cookies: [{ name: 'sid' }] }, "body/cookies/0 must have required property 'value'"],
      ['a cookie with an unknown field', { cookies: [{ name: 'sid', value: 'v', httpOnly: true }] }, 'body/cookies/0 must NOT have additional properties'],
      ['cookieJar not a boolean', { cookieJar: 'yes' }, 'body/cookieJar must be boolean'],
      ['an empty userAgent', { userAgent: '' }, 'body/userAgent must NOT have fewer than 1 characters'],
    ];
    for (const [name, extra, message] of cases) {
      it(`${name}: ${message ?? 'accepted'}`, () => {
        assert.equal(validate({ seeds, ...(extra as object) }), message === null);
        if (message !== null) assert.equal(first(), message);
      });
    }
  });

  describe('headers', () => {
    for (const name of ['Connection', 'keep-alive', 'Proxy-Authorization', 'proxy-connection', 'TE', 'Trailer', 'Transfer-Encoding', 'Upgrade', 'Host', 'Content-Length']) {
      it(`refuses ${name}, naming it`, () => {
        const r = refusal({ headers: { [name]: 'x' } });
        assert.equal(r.field, `headers/${name}`);
        assert.match(r.message, new RegExp(`^body/headers/${name} `));
      });
    }
    for (const name of ['Cookie', 'User-Agent', 'Accept-Encoding']) {
      it(`refuses ${name} (the session sets it otherwise)`, () => assert.equal(refusal({ headers: { [name]: 'x' } }).field, `headers/${name}`));
    }
    for (const [label, value] of [['CR', `${SECRET}\r`], ['LF', `a\nX-Injected: 1${SECRET}`], ['NUL', `${SECRET}\u0000`], ['a control character', `${SECRET}\u0007`]] as const) {
      it(`refuses a value with ${label} without showing it`, () => {
        const r = refusal({ headers: { Authorization: value } });
        assert.equal(r.field, 'headers/Authorization');
        assert.ok(!r.message.includes('s3cr3t'), r.message);
        assert.match(r.message, /control characters/);
      });
    }
    it('refuses a name that is not an RFC 9110 token', () => {
      for (const name of ['X Space', 'X:Colon', 'X(paren)', 'Ünï', '']) assert.equal(refusal({ headers: { [name]: 'v' } }).field, 'headers', name);
    });
    it('refuses two names that differ only in case', () => {
      const r = refusal({ headers: { Authorization: 'a', authorization: 'b' } });
      assert.equal(r.field, 'headers/authorization');
      assert.match(r.message, /case-insensitive/);
    });
    it('keeps the names as given, with their values, and tabs inside a value', () => {
      const spec = buildSpec({ seeds, headers: { Authorization: SECRET, 'X-Tab': 'a\tb', 'Accept-Language': 'fr' } }, cfg);
      assert.deepEqual(spec.headers, { Authorization: SECRET, 'X-Tab': 'a\tb', 'Accept-Language': 'fr' });
    });
  });

  describe('cookies', () => {
    it('refuses a bad name, value, domain or path, naming the field and never the value', () => {
      assert.equal(refusal({ cookies: [{ name: 'a b', value: 'v' }] }).field, 'cookies/0/name');
      const bad = refusal({ cookies: [{ name: 'ok', value: 'v' }, { name: 'sid', value: 's3cr3t;x=1' }] });
      assert.equal(bad.field, 'cookies/1/value');
      assert.ok(!bad.message.includes('s3cr3t'), bad.message);
      for (const v of ['has space', 'quo"te', 'back\\slash', 'com,ma']) assert.equal(refusal({ cookies: [{ name: 'n', value: v }] }).field, 'cookies/0/value', v);
      assert.equal(refusal({ cookies: [{ name: 'n', value: 'v', domain: 'a b.test' }] }).field, 'cookies/0/domain');
      assert.equal(refusal({ cookies: [{ name: 'n', value: 'v', path: 'x' }] }).field, 'cookies/0/path');
      assert.equal(refusal({ cookies: [{ name: 'n', value: 'v', path: '/a;b' }] }).field, 'cookies/0/path');
    });
    it('refuses the same cookie twice (name, domain and path)', () => {
      assert.equal(refusal({ cookies: [{ name: 'n', value: 'a' }, { name: 'n', value: 'b', path: '/' }] }).field, 'cookies/1');
      assert.doesNotThrow(() => buildSpec({ seeds, cookies: [{ name: 'n', value: 'a' }, { name: 'n', value: 'b', path: '/x' }] }, cfg));
    });
    it('keeps cookies with a canonical domain (no leading dot, lower case), quoted values accepted', () => {
      const spec = buildSpec({ seeds, cookies: [{ name: 'sid', value: '"abc"', domain: '.A.Test', path: '/p', secure: true }, { name: 'ip', value: 'x', domain: '127.0.0.1' }] }, cfg);
      assert.deepEqual(spec.cookies, [{ name: 'sid', value: '"abc"', domain: 'a.test', path: '/p', secure: true }, { name: 'ip', value: 'x', domain: '127.0.0.1' }]);
    });
  });

  describe('cookieJar and userAgent', () => {
    it('are in the spec only when asked for', () => {
      const plain = buildSpec({ seeds }, cfg);
      for (const k of ['headers', 'cookies', 'cookieJar', 'userAgent']) assert.equal(k in plain, false, k);
      const spec = buildSpec({ seeds, cookieJar: true, userAgent: 'MyBot/2.0 (+https://a.test/bot)', headers: {}, cookies: [] }, cfg);
      assert.equal(spec.cookieJar, true);
      assert.equal(spec.userAgent, 'MyBot/2.0 (+https://a.test/bot)');
      assert.equal('headers' in spec, false);
      assert.equal('cookies' in spec, false);
      assert.equal('cookieJar' in buildSpec({ seeds, cookieJar: false }, cfg), false);
    });
    it('refuses a userAgent with CR or LF', () => {
      assert.equal(refusal({ userAgent: 'Bot\r\nX-Injected: 1' }).field, 'userAgent');
    });
  });
});
