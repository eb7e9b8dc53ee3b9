import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CATALOGUE, CrawlError, isErrorCode, toCrawlError } from '../../../shared/errors/index.js';
import type { ErrorClass, ErrorCode } from '../../../shared/errors/index.js';
import { packageRoot } from '../../../shared/paths.js';

interface DocRow {
  code: string;
  cls: string;
  meaning: string;
}

/** The rows of the `code | class | meaning` table of docs/errors.md, in document order. */
function docRows(): DocRow[] {
  const text = readFileSync(join(packageRoot, 'docs', 'errors.md'), 'utf8');
  const rows: DocRow[] = [];
  for (const line of text.split('\n')) {
    const m = /^\|\s*`([a-z_]+)`\s*\|\s*([a-z]+)\s*\|\s*(.*?)\s*\|\s*$/.exec(line);
    if (m) rows.push({ code: m[1] as string, cls: m[2] as string, meaning: m[3] as string });
  }
  return rows;
}

const codes = Object.keys(CATALOGUE) as ErrorCode[];

describe('error catalogue', () => {
  describe('docs/errors.md', () => {
    const rows = docRows();

    it('has the table header', () => {
      const text = readFileSync(join(packageRoot, 'docs', 'errors.md'), 'utf8');
      assert.match(text, /^\|\s*code\s*\|\s*class\s*\|\s*meaning\s*\|\s*$/m);
    });

    it('lists exactly the catalogue codes, once each, in catalogue order', () => {
      assert.deepEqual(rows.map((r) => r.code), codes);
    });

    it('gives each code the class of the catalogue', () => {
      const documented = Object.fromEntries(rows.map((r) => [r.code, r.cls]));
      const expected = Object.fromEntries(codes.map((c) => [c, CATALOGUE[c].class]));
      assert.deepEqual(documented, expected);
    });

    it('gives each code a meaning', () => {
      for (const r of rows) assert.ok(r.meaning.length > 0, r.code);
    });
  });

  describe('CATALOGUE', () => {
    it('uses only the three classes and documents every code', () => {
      for (const c of codes) {
        assert.ok((['retryable', 'permanent', 'skip'] as ErrorClass[]).includes(CATALOGUE[c].class), c);
        assert.ok(CATALOGUE[c].doc.length > 0, c);
        assert.match(c, /^[a-z][a-z_]*$/);
      }
    });

    it('isErrorCode accepts catalogue codes only', () => {
      assert.equal(isErrorCode('timeout'), true);
      assert.equal(isErrorCode('poison'), true);
      for (const v of ['TIMEOUT', 'nope', 'toString', 'constructor', '', 42, null, undefined]) assert.equal(isErrorCode(v), false, String(v));
    });
  });

  describe('CrawlError', () => {
    const cases: { code: ErrorCode; cls: ErrorClass; retryable: boolean }[] = [
      { code: 'timeout', cls: 'retryable', retryable: true },
      { code: 'http_rate_limited', cls: 'retryable', retryable: true },
      { code: 'unavailable', cls: 'retryable', retryable: true },
      { code: 'internal', cls: 'retryable', retryable: true },
      { code: 'http_client_error', cls: 'permanent', retryable: false },
      { code: 'too_large', cls: 'permanent', retryable: false },
      { code: 'config_invalid', cls: 'permanent', retryable: false },
      { code: 'out_of_scope', cls: 'skip', retryable: false },
      { code: 'cancelled', cls: 'skip', retryable: false },
      { code: 'deadline', cls: 'skip', retryable: false },
    ];
    for (const c of cases) {
      it(`${c.code} is ${c.cls}`, () => {
        const err = new CrawlError(c.code, 'msg');
        assert.equal(err.code, c.code);
        assert.equal(err.errorClass, c.cls);
        assert.equal(err.retryable, c.retryable);
      });
    }

    it('is an Error with name, message, details and no cause by default', () => {
      const err = new CrawlError('bad_url', 'ftp://x: only http', { details: { scheme: 'ftp' } });
      assert.ok(err instanceof Error);
      assert.equal(err.name, 'CrawlError');
      assert.equal(err.message, 'ftp://x: only http');
      assert.deepEqual(err.details, { scheme: 'ftp' });
      assert.equal(Object.hasOwn(err, 'cause'), false);
      assert.deepEqual(new CrawlError('bad_url', 'x').details, {});
      assert.match(String(err.stack), /CrawlError: ftp:\/\/x: only http/);
    });

    it('chains a cause', () => {
      const root = new Error('socket hang up');
      const err = new CrawlError('connect_failed', 'http://x/: reset', { cause: root });
      assert.equal(err.cause, root);
      const outer = new CrawlError('internal', 'wrapped', { cause: err });
      assert.equal((outer.cause as CrawlError).cause, root);
    });

    it('keeps a falsy non-undefined cause', () => {
      assert.equal(new CrawlError('internal', 'x', { cause: null }).cause, null);
      assert.equal(new CrawlError('internal', 'x', { cause: 0 }).cause, 0);
    });
  });

  describe('toCrawlError', () => {
    it('returns a CrawlError unchanged', () => {
      const err = new CrawlError('timeout', 'slow');
      assert.equal(toCrawlError(err), err);
    });

    it('wraps an Error as internal, keeping message and cause', () => {
      const root = new TypeError('undefined is not a function');
      const err = toCrawlError(root);
      assert.equal(err.code, 'internal');
      assert.equal(err.message, 'undefined is not a function');
      assert.equal(err.cause, root);
      assert.equal(err.retryable, true);
    });

    const values: { name: string; value: unknown; message: string }[] = [
      { name: 'a string', value: 'boom', message: 'boom' },
      { name: 'a number', value: 42, message: '42' },
      { name: 'null', value: null, message: 'null' },
      { name: 'undefined', value: undefined, message: 'undefined' },
    ];
    for (const v of values) {
      it(`wraps ${v.name} as internal`, () => {
        const err = toCrawlError(v.value);
        assert.equal(err.code, 'internal');
        assert.equal(err.message, v.message);
      });
    }
  });
});
