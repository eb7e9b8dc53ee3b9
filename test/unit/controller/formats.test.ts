/**
 * POST /sessions `formats` and `onlyMainContent`: the request schema's messages, the
 * defaults buildSpec applies (content.defaultFormats), and the setting's own validation.
 */
import assert from 'node:assert/strict';
import { validatorFactory } from '../../../services/controller/index.js';
import { buildSpec, createSessionSchema } from '../../../services/controller/sessions.js';
import { loadConfig } from '../../../shared/config/index.js';

type Validate = ((data: unknown) => boolean) & { errors?: { instancePath: string; message?: string }[] | null };

describe('session formats', () => {
  const validate = validatorFactory()({}, {})({ schema: createSessionSchema as never, method: 'POST', url: '/sessions', httpPart: 'body' }) as unknown as Validate;
  const first = (): string => `body${validate.errors?.[0]?.instancePath ?? ''} ${validate.errors?.[0]?.message ?? ''}`;

  const bodies: [string, unknown, string | null][] = [
    ['every format', ['markdown', 'text', 'html', 'rawHtml', 'links', 'metadata', 'headers'], null],
    ['none', [], null],
    ['an unknown one, named by its index', ['markdown', 'pdf'], 'body/formats/1 must be equal to one of the allowed values'],
    ['a wrong case', ['Markdown'], 'body/formats/0 must be equal to one of the allowed values'],
    ['one twice', ['links', 'links'], 'body/formats must NOT have duplicate items (items ## 1 and 0 are identical)'],
    ['not a list', 'markdown', 'body/formats must be array'],
    ['a number in the list', [1], 'body/formats/0 must be string'],
  ];
  for (const [name, formats, message] of bodies) {
    it(`formats ${name}: ${message ?? 'accepted'}`, () => {
      assert.equal(validate({ seeds: ['http://a/'], formats }), message === null);
      if (message !== null) assert.equal(first(), message);
    });
  }

  it('onlyMainContent is a boolean', () => {
    assert.equal(validate({ seeds: ['http://a/'], onlyMainContent: false }), true);
    assert.equal(validate({ seeds: ['http://a/'], onlyMainContent: 'no' }), false);
    assert.equal(first(), 'body/onlyMainContent must be boolean');
  });

  it('documents names kinds from pdf, docx, feeds, text, each once', () => {
    assert.equal(validate({ seeds: ['http://a/'], documents: ['pdf', 'feeds'] }), true);
    assert.equal(validate({ seeds: ['http://a/'], documents: [] }), true);
    assert.equal(validate({ seeds: ['http://a/'], documents: ['pdf', 'xlsx'] }), false);
    assert.equal(first(), 'body/documents/1 must be equal to one of the allowed values');
    assert.equal(validate({ seeds: ['http://a/'], documents: ['pdf', 'pdf'] }), false);
    assert.equal(first(), 'body/documents must NOT have duplicate items (items ## 1 and 0 are identical)');
  });

  describe('buildSpec', () => {
    it('documents: all by default, else what the request names', () => {
      const c = loadConfig({ env: { FETCH_ALLOWED_NETWORKS: '127.0.0.0/8' }, file: null }).config;
      assert.deepEqual(buildSpec({ seeds: ['http://127.0.0.1:8000/'] }, c).documents, ['pdf', 'docx', 'feeds', 'text']);
      assert.deepEqual(buildSpec({ seeds: ['http://127.0.0.1:8000/'], documents: ['text'] }, c).documents, ['text']);
    });

    const cfg = loadConfig({ env: { FETCH_ALLOWED_NETWORKS: '127.0.0.0/8' }, file: null }).config;
    const seeds = ['http://127.0.0.1:8000/'];

    it('defaults: content.defaultFormats (markdown, links, metadata) and main content only', () => {
      const spec = buildSpec({ seeds }, cfg);
      assert.deepEqual(spec.formats, ['markdown', 'links', 'metadata']);
      assert.equal(spec.onlyMainContent, true);
    });

    it('keeps what the request asks, [] included', () => {
      assert.deepEqual(buildSpec({ seeds, formats: [] }, cfg).formats, []);
      const spec = buildSpec({ seeds, formats: ['headers', 'rawHtml'], onlyMainContent: false }, cfg);
      assert.deepEqual([spec.formats, spec.onlyMainContent], [['headers', 'rawHtml'], false]);
    });

    it('the default follows the setting, and the spec does not share its list', () => {
      const c = loadConfig({ env: { FETCH_ALLOWED_NETWORKS: '127.0.0.0/8', CONTENT_DEFAULT_FORMATS: 'text,headers' }, file: null }).config;
      const spec = buildSpec({ seeds }, c);
      assert.deepEqual(spec.formats, ['text', 'headers']);
      spec.formats?.push('html');
      assert.deepEqual(c.content.defaultFormats, ['text', 'headers']);
      const none = loadConfig({ env: { FETCH_ALLOWED_NETWORKS: '127.0.0.0/8', CONTENT_DEFAULT_FORMATS: 'none' }, file: null }).config;
      assert.deepEqual(buildSpec({ seeds }, none).formats, []);
    });
  });

  describe('the content.defaultFormats setting', () => {
    const refused: [string, string][] = [
      ['markdown,pdf', '"pdf" is not one'],
      ['links,links', 'names "links" twice'],
    ];
    for (const [value, message] of refused) {
      it(`refuses ${value}`, () => {
        assert.throws(() => loadConfig({ env: { CONTENT_DEFAULT_FORMATS: value }, file: null }), (err: Error) => err.message.includes('content.defaultFormats') && err.message.includes(message));
      });
    }
  });
});
