/**
 * The controller's answers to inputs it must refuse, in-process against the real broker and
 * Redis: bodies taken as sent (no type coercion), query numbers bounded, bodies that are not
 * JSON, a seed on port 0; and DELETE /sessions/:id?purge=true removing a finished session.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Redis } from 'ioredis';
import { redisKeys } from '../../shared/redis/keys.js';
import { runService, type RunningService } from '../../shared/service/runtime.js';
import { startController } from '../../services/controller/index.js';
import { cleanupNamespace, http, REDIS_URL, serviceEnv, testNamespace } from '../support/stack.js';

interface ErrorBody { error: { code: string; message: string } }

describe('controller API inputs and purge', function () {
  this.timeout(20_000);
  const ns = testNamespace('a');
  const keys = redisKeys(ns);
  let svc: RunningService;
  let api: string;
  let redis: Redis;
  let resultsDir: string;

  before(async () => {
    resultsDir = mkdtempSync(join(tmpdir(), 'crawlfleet-purge-'));
    svc = await runService('controller', startController, {
      manageProcess: false,
      env: serviceEnv(ns, { CONTROLLER_PORT: '0', RESULTS_DIR: resultsDir, LOG_LEVEL: 'silent' }),
    });
    api = svc.address;
    redis = new Redis(REDIS_URL);
  });

  after(async () => {
    await svc.stop();
    redis.disconnect();
    await cleanupNamespace(ns);
    rmSync(resultsDir, { recursive: true, force: true });
  });

  const bodyCases: [string, unknown, string][] = [
    ['maxPages true', { seeds: ['http://a/'], maxPages: true }, 'body/maxPages must be integer'],
    ['maxPages as text', { seeds: ['http://a/'], maxPages: '3' }, 'body/maxPages must be integer'],
    ['maxPages null', { seeds: ['http://a/'], maxPages: null }, 'body/maxPages must be integer'],
    ['maxDepth 1.5', { seeds: ['http://a/'], maxDepth: 1.5 }, 'body/maxDepth must be integer'],
    ['sitemaps as text', { seeds: ['http://a/'], sitemaps: 'true' }, 'body/sitemaps must be boolean'],
    ['label a number', { seeds: ['http://a/'], label: 7 }, 'body/label must be string'],
    ['seed a number', { seeds: [7] }, 'body/seeds/0 must be string'],
    ['seed on port 0', { seeds: ['http://127.0.0.1:0/'] }, 'body/seeds/0 has port 0; a port must be 1-65535, got "http://127.0.0.1:0/"'],
  ];
  for (const [name, body, message] of bodyCases) {
    it(`POST /sessions answers 400 naming the field as sent: ${name}`, async () => {
      const res = await http<ErrorBody>(api, 'POST', '/sessions', body);
      assert.equal(res.status, 400, res.text);
      assert.deepEqual(res.body, { error: { code: 'validation', message } });
    });
  }

  const queryCases: [string, string][] = [
    ['/sessions/x1/results?limit=99999999999999999999', 'querystring/limit must be <= 100000'],
    ['/sessions/x1/results?limit=0', 'querystring/limit must be >= 1'],
    ['/sessions/x1/results?limit=abc', 'querystring/limit must be integer'],
    ['/sessions/x1/results?after=-1', 'querystring/after must match pattern "^[0-9]{1,19}$"'],
    ['/sessions/x1/results?outcome=lost', 'querystring/outcome must be equal to one of the allowed values'],
    ['/sessions?offset=99999999999999999999', 'querystring/offset must be <= 2147483647'],
    ['/sessions?limit=1001', 'querystring/limit must be <= 1000'],
    ['/config/history?limit=99999999999999999999', 'querystring/limit must be <= 1000'],
    ['/sessions/x1?purge=yes', 'querystring/purge must be boolean'],
  ];
  for (const [path, message] of queryCases) {
    it(`answers 400 naming the query parameter: ${path}`, async () => {
      const method = path.includes('purge') ? 'DELETE' : 'GET';
      const res = await http<ErrorBody>(api, method, path);
      assert.equal(res.status, 400, res.text);
      assert.deepEqual(res.body, { error: { code: 'validation', message } });
    });
  }

  it('bounds every number of every query string in the OpenAPI document', async () => {
    const doc = (await http<{ paths: Record<string, Record<string, { parameters?: { in: string; name: string; schema: { type: string; maximum?: number } }[] }>> }>(api, 'GET', '/openapi.json')).body;
    let numbers = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        for (const p of op.parameters ?? []) {
          if (p.in !== 'query' || (p.schema.type !== 'integer' && p.schema.type !== 'number')) continue;
          numbers++;
          assert.equal(typeof p.schema.maximum, 'number', `${method} ${path} ?${p.name} has a maximum`);
        }
      }
    }
    assert.ok(numbers >= 5, `found ${numbers} numeric query parameters`);
  });

  it('documents the ResultRecord schema as a component of a valid OpenAPI document', async () => {
    const doc = (await http<{ components: { schemas: Record<string, { required?: string[]; additionalProperties?: boolean }> } }>(api, 'GET', '/openapi.json')).body;
    const validation = await new Validator().validate(doc as never);
    assert.equal(validation.valid, true, JSON.stringify(validation.errors));
    const record = doc.components.schemas.ResultRecord;
    assert.ok(record, `components: ${Object.keys(doc.components.schemas).join(', ')}`);
    assert.equal(record.additionalProperties, false);
    assert.ok(record.required?.includes('outcome'));
  });

  it('coerces query numbers from text (they are text on the wire)', async () => {
    const res = await http<{ sessions: unknown[] }>(api, 'GET', '/sessions?limit=2&offset=0');
    assert.equal(res.status, 200, res.text);
    assert.ok(Array.isArray(res.body.sessions));
  });

  it('answers 415 to a body that is not JSON', async () => {
    const text = await http<ErrorBody>(api, 'POST', '/sessions', '{"seeds":["http://a/"]}', { 'content-type': 'text/plain' });
    assert.equal(text.status, 415, text.text);
    assert.deepEqual(text.body, { error: { code: 'validation', message: 'body must be JSON (content-type application/json), got text/plain' } });
    const form = await http<ErrorBody>(api, 'POST', '/sessions', 'seeds=http://a/', { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(form.status, 415, form.text);
    assert.equal(form.body.error.message, 'body must be JSON (content-type application/json), got application/x-www-form-urlencoded');
  });

  it('purge: 404 for an unknown session, 409 while it runs', async () => {
    const unknown = await http<ErrorBody>(api, 'DELETE', '/sessions/nosuch-1?purge=true');
    assert.equal(unknown.status, 404, unknown.text);
    assert.equal(unknown.body.error.code, 'not_found');
    const created = await http<{ id: string }>(api, 'POST', '/sessions', { seeds: ['http://127.0.0.1:9/'] });
    assert.equal(created.status, 201, created.text);
    const running = await http<ErrorBody>(api, 'DELETE', `/sessions/${created.body.id}?purge=true`);
    assert.equal(running.status, 409, running.text);
    assert.deepEqual(running.body.error, { code: 'conflict', message: `session ${created.body.id} is running; only a completed, cancelled or closed session can be purged (cancel it first)` });
    assert.equal((await http(api, 'GET', `/sessions/${created.body.id}`)).status, 200);
  });

  it('purge: removes a handed-over session\'s keys, index entries and results file; a cancelled one not yet handed over is a 409', async () => {
    const created = await http<{ id: string }>(api, 'POST', '/sessions', { seeds: ['http://127.0.0.1:9/'] });
    const id = created.body.id;
    const cancelled = await http<{ status: string }>(api, 'DELETE', `/sessions/${id}`);
    assert.equal(cancelled.body.status, 'cancelled');
    const early = await http<ErrorBody>(api, 'DELETE', `/sessions/${id}?purge=true`);
    assert.equal(early.status, 409, early.text);
    assert.match(early.body.error.message, /not handed over yet/);
    // What delivery's hand-over does: results file written, handedOverAt set, a record listed.
    const sk = keys.session(id);
    const file = join(resultsDir, `${id}.jsonl`);
    writeFileSync(file, '{"url":"http://127.0.0.1:9/"}\n');
    await redis.multi().hset(sk.session, { handedOverAt: Date.now(), resultsFile: file }).rpush(sk.results, '{"url":"http://127.0.0.1:9/"}').exec();
    const purged = await http<{ id: string; purged: boolean; keys: number }>(api, 'DELETE', `/sessions/${id}?purge=true`);
    assert.equal(purged.status, 200, purged.text);
    assert.equal(purged.body.purged, true);
    assert.ok(purged.body.keys >= 3, `removed ${purged.body.keys} keys`);
    assert.equal(await redis.exists(...Object.values(sk)), 0);
    assert.equal(await redis.zscore(keys.sessionsIndex, id), null);
    assert.equal(await redis.zscore(keys.sessionsDue, id), null);
    assert.equal(existsSync(file), false);
    assert.equal((await http(api, 'GET', `/sessions/${id}`)).status, 404);
    assert.equal((await http(api, 'DELETE', `/sessions/${id}?purge=true`)).status, 404);
  });
});
