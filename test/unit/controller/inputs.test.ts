/**
 * The input rules of the API that need no server: request validators (bodies taken as sent,
 * query strings read from text), the maximum every query number gets, and a seed on port 0.
 */
import assert from 'node:assert/strict';
import { validatorFactory } from '../../../services/controller/index.js';
import { boundedQuery } from '../../../services/controller/openapi.js';
import { buildSpec, createSessionSchema } from '../../../services/controller/sessions.js';
import { loadConfig } from '../../../shared/config/index.js';
import { CrawlError } from '../../../shared/errors/index.js';

type Validate = ((data: unknown) => boolean) & { errors?: { instancePath: string; message?: string }[] | null };

describe('API inputs', () => {
  const build = validatorFactory()({}, {});
  const compile = (schema: unknown, httpPart: 'body' | 'querystring'): Validate =>
    build({ schema: schema as never, method: 'POST', url: '/x', httpPart }) as unknown as Validate;

  describe('bodies are validated as sent', () => {
    const body = compile(createSessionSchema, 'body');
    const cases: [string, unknown, string | null][] = [
      ['an integer', 3, null],
      ['true', true, '/maxPages must be integer'],
      ['text of a number', '3', '/maxPages must be integer'],
      ['null', null, '/maxPages must be integer'],
      ['zero', 0, '/maxPages must be >= 1'],
    ];
    for (const [name, maxPages, message] of cases) {
      it(`maxPages ${name}: ${message ?? 'accepted'}`, () => {
        const data = { seeds: ['http://a/'], maxPages };
        const ok = body(data);
        assert.equal(ok, message === null);
        if (message !== null) assert.equal(`${body.errors?.[0]?.instancePath} ${body.errors?.[0]?.message}`, message);
        assert.equal(data.maxPages, maxPages, 'the body is not changed');
      });
    }
  });

  it('query strings are read from text', () => {
    const q = compile({ type: 'object', properties: { from: { type: 'integer', maximum: 10 }, purge: { type: 'boolean' } } }, 'querystring');
    const data: Record<string, unknown> = { from: '3', purge: 'true' };
    assert.equal(q(data), true);
    assert.deepEqual(data, { from: 3, purge: true });
    assert.equal(q({ from: '11' }), false);
    assert.equal(q.errors?.[0]?.message, 'must be <= 10');
  });

  it('boundedQuery gives every number without a maximum Number.MAX_SAFE_INTEGER, and keeps the rest', () => {
    const q = boundedQuery({ type: 'object', additionalProperties: false, properties: { a: { type: 'integer' }, b: { type: 'number', maximum: 5 }, c: { type: 'string' }, d: { type: 'boolean' } } });
    assert.deepEqual(q, { type: 'object', additionalProperties: false, properties: { a: { type: 'integer', maximum: Number.MAX_SAFE_INTEGER }, b: { type: 'number', maximum: 5 }, c: { type: 'string' }, d: { type: 'boolean' } } });
    assert.deepEqual(boundedQuery({ type: 'object' }), { type: 'object' });
  });

  describe('buildSpec refuses a seed on port 0, naming the port', () => {
    const cfg = loadConfig({ env: { FETCH_ALLOWED_NETWORKS: '127.0.0.0/8,::1/128' }, file: null }).config;
    const cases: [string, string | null][] = [
      ['http://127.0.0.1:0/', 'body/seeds/0 has port 0; a port must be 1-65535, got "http://127.0.0.1:0/"'],
      ['http://[::1]:0/x', 'body/seeds/0 has port 0; a port must be 1-65535, got "http://[::1]:0/x"'],
      ['http://a.example:00/', 'body/seeds/0 has port 0; a port must be 1-65535, got "http://a.example:00/"'],
      ['http://127.0.0.1:1/', null],
      ['http://a.example:80/', null],
    ];
    for (const [seed, message] of cases) {
      it(`${seed}: ${message ?? 'accepted'}`, () => {
        if (message === null) {
          assert.equal(buildSpec({ seeds: [seed] }, cfg).seeds.length, 1);
          return;
        }
        assert.throws(() => buildSpec({ seeds: [seed] }, cfg), (err: unknown) => err instanceof CrawlError && err.code === 'validation' && err.message === message);
      });
    }
  });
});
