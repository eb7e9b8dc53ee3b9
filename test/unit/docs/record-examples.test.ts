/**
 * The record examples of docs/api.md are records the stack writes: every JSON object in a
 * ```json block of the file that has an `outcome` (a result record) must validate against
 * the ResultRecord schema of the API document, strictly (no unknown field, no required field
 * missing), with the validator fastify uses. The schema's fields are the ResultRecord type's.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AjvCompiler } from '@fastify/ajv-compiler';
import { resultRecordSchema } from '../../../services/controller/openapi.js';
import { packageRoot } from '../../../shared/paths.js';
import type { ResultRecord } from '../../../shared/tasks/types.js';

type Validate = ((data: unknown) => boolean) & { errors?: { instancePath: string; message?: string; params: unknown }[] | null };

function validator(): Validate {
  const build = AjvCompiler()({}, { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: true } });
  return build({ schema: resultRecordSchema, method: 'GET', url: '/', httpPart: 'body' }) as unknown as Validate;
}

/** Every JSON value of the ```json blocks: a block parses whole, or line by line (NDJSON). */
export function jsonExamples(markdown: string): unknown[] {
  const out: unknown[] = [];
  for (const m of markdown.matchAll(/```json\n([\s\S]*?)```/g)) {
    const block = m[1] ?? '';
    try {
      out.push(JSON.parse(block));
    } catch {
      for (const line of block.split('\n').filter((l) => l.trim() !== '')) {
        try {
          out.push(JSON.parse(line));
        } catch {
          // an illustration with elisions ({...}), not a value
        }
      }
    }
  }
  return out;
}

/** Objects anywhere in `value` that look like result records (they have url and outcome). */
export function recordsIn(value: unknown, found: Record<string, unknown>[] = []): Record<string, unknown>[] {
  if (Array.isArray(value)) {
    for (const v of value) recordsIn(v, found);
  } else if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if ('outcome' in o && 'url' in o) found.push(o);
    else for (const v of Object.values(o)) recordsIn(v, found);
  }
  return found;
}

const explain = (v: Validate): string => (v.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`).join('; ');

describe('docs/api.md record examples', () => {
  const validate = validator();
  const complete: ResultRecord = {
    url: 'https://a.example/', finalUrl: 'https://a.example/', status: 200, depth: 0, parent: null, outcome: 'delivered', reason: null, error: null,
    title: 'A', contentType: 'text/html', fields: { h: 'A', p: null }, links: 1, canonical: null, fetchedAt: '2026-11-22T09:07:04.010Z', attempts: 1,
    supplement: true, role: 'sitemap',
    contentHash: `sha256:${'0a'.repeat(32)}`, bytes: 120, contentLength: 120, detectedType: 'text/html', charset: 'utf-8', charsetSource: 'meta',
    markdown: '# A\n', text: 'A', html: '<h1>A</h1>', rawHtml: '<title>A</title><h1>A</h1>',
    metadata: { description: 'd', language: 'en', canonical: 'https://a.example/', author: 'x', publishedAt: '2026-01-01', ogTitle: 'A', ogImage: 'https://a.example/i.png', keywords: ['k'] },
    headers: { 'content-type': 'text/html' }, truncated: ['markdown', 'links'],
    changed: null, notModified: true, lastFetchedAt: '2026-11-21T09:07:04.010Z', outlinks: ['https://a.example/b'],
  };

  it('the schema names exactly the fields of the ResultRecord type', () => {
    const fields: Record<keyof ResultRecord, true> = {
      url: true, finalUrl: true, status: true, depth: true, parent: true, outcome: true, reason: true, error: true, title: true,
      contentType: true, fields: true, links: true, canonical: true, fetchedAt: true, attempts: true, supplement: true, role: true,
      contentHash: true, bytes: true, contentLength: true, detectedType: true, charset: true, charsetSource: true, markdown: true, text: true, html: true, rawHtml: true, metadata: true, headers: true, truncated: true,
      feed: true,
      changed: true, notModified: true, lastFetchedAt: true, outlinks: true,
      rendered: true, renderReason: true, blocked: true, screenshot: true,
    };
    const optional = ['supplement', 'role', 'contentHash', 'bytes', 'contentLength', 'detectedType', 'charset', 'charsetSource', 'markdown', 'text', 'html', 'rawHtml', 'metadata', 'headers', 'truncated', 'feed', 'changed', 'notModified', 'lastFetchedAt', 'outlinks', 'rendered', 'renderReason', 'blocked', 'screenshot'];
    assert.deepEqual(Object.keys(resultRecordSchema.properties).sort(), Object.keys(fields).sort());
    assert.deepEqual([...resultRecordSchema.required].sort(), Object.keys(fields).filter((k) => !optional.includes(k)).sort());
  });

  const refusals: [string, Record<string, unknown>][] = [
    ['an unknown field', { ...complete, links: 1, extra: 1 }],
    ['a required field missing', Object.fromEntries(Object.entries(complete).filter(([k]) => k !== 'canonical'))],
    ['links as a list of URLs', { ...complete, links: ['https://a.example/b'] }],
    ['a link without rel', { ...complete, links: [{ url: 'https://a.example/b', text: 'b' }] }],
    ['a link with another key', { ...complete, links: [{ url: 'https://a.example/b', text: 'b', rel: null, x: 1 }] }],
    ['a contentHash that is not sha256 hex', { ...complete, contentHash: 'md5:0a0a' }],
    ['truncated naming a field without a cap', { ...complete, truncated: ['title'] }],
    ['an unknown metadata key', { ...complete, metadata: { robots: 'noindex' } }],
    ['a header that is not text', { ...complete, headers: { age: 3 } }],
    ['an unknown reason', { ...complete, outcome: 'failed', reason: 'http_status' }],
    ['a status as text', { ...complete, status: '200' }],
    ['fetchedAt not a time', { ...complete, fetchedAt: 'yesterday' }],
  ];
  for (const [name, record] of refusals) {
    it(`the schema refuses ${name}`, () => {
      assert.equal(validate(record), false, name);
    });
  }

  it('the schema accepts a complete record, optional fields included', () => {
    assert.equal(validate(complete), true, explain(validate));
    assert.equal(validate({ ...complete, links: [{ url: 'https://a.example/b', text: 'b', rel: 'nofollow' }, { url: 'https://a.example/c', text: '', rel: null }] }), true, explain(validate));
  });

  it('every record example in docs/api.md validates', () => {
    const doc = readFileSync(join(packageRoot, 'docs', 'api.md'), 'utf8');
    const records = recordsIn(jsonExamples(doc));
    assert.ok(records.length >= 4, `found ${records.length} record examples`);
    for (const r of records) assert.equal(validate(r), true, `${JSON.stringify(r)}: ${explain(validate)}`);
  });
});
