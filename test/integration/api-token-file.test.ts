/**
 * The controller started without API_TOKEN but with API_TOKEN_FILE (docker compose from a
 * clean clone): it generates the token into the file, requires it in front of the API, and
 * takes the same token again after a restart; API_TOKEN, when set, wins over the file.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runService, type RunningService } from '../../shared/service/runtime.js';
import { startController } from '../../services/controller/index.js';
import { cleanupNamespace, http, serviceEnv, testNamespace } from '../support/stack.js';

describe('controller API token file', function () {
  this.timeout(30_000);
  const ns = testNamespace('tf');
  let dir: string;
  let tokenFile: string;
  let svc: RunningService | undefined;

  const start = async (extra: Record<string, string>): Promise<string> => {
    svc = await runService('controller', startController, {
      manageProcess: false,
      env: serviceEnv(ns, { CONTROLLER_PORT: '0', LOG_LEVEL: 'silent', API_TOKEN_FILE: tokenFile, ...extra }),
    });
    return svc.address;
  };
  const stop = async (): Promise<void> => {
    await svc?.stop();
    svc = undefined;
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'crawlfleet-token-'));
    tokenFile = join(dir, 'api-token');
  });
  afterEach(stop);
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await cleanupNamespace(ns);
  });

  it('generates a token on first start and requires it; a restart takes the same one', async () => {
    let api = await start({ API_TOKEN: '' });
    const token = readFileSync(tokenFile, 'utf8').trim();
    assert.match(token, /^[0-9a-f]{64}$/);
    const anonymous = await http(api, 'GET', '/sessions');
    assert.equal(anonymous.status, 401);
    assert.deepEqual(anonymous.body, { error: { code: 'unauthorized', message: 'missing or wrong bearer token' } });
    assert.equal((await http(api, 'GET', '/sessions', undefined, { authorization: 'Bearer wrong-token-0123456789' })).status, 401);
    assert.equal((await http(api, 'GET', '/sessions', undefined, { authorization: `Bearer ${token}` })).status, 200);
    assert.equal((await http(api, 'GET', '/healthz')).status, 200, 'probes stay open');

    await stop();
    api = await start({ API_TOKEN: '' });
    assert.equal(readFileSync(tokenFile, 'utf8').trim(), token, 'the file is not rewritten');
    assert.equal((await http(api, 'GET', '/sessions', undefined, { authorization: `Bearer ${token}` })).status, 200);
    assert.equal((await http(api, 'GET', '/sessions')).status, 401);
  });

  it('uses API_TOKEN instead of the file when it is set', async () => {
    const fileToken = readFileSync(tokenFile, 'utf8').trim();
    const api = await start({ API_TOKEN: 'set-token-0123456789' });
    assert.equal((await http(api, 'GET', '/sessions', undefined, { authorization: 'Bearer set-token-0123456789' })).status, 200);
    assert.equal((await http(api, 'GET', '/sessions', undefined, { authorization: `Bearer ${fileToken}` })).status, 401);
  });

  it('does not start when the file cannot be created, naming it', async () => {
    await assert.rejects(start({ API_TOKEN: '', API_TOKEN_FILE: join(dir, 'missing', 'api-token') }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'config_invalid');
      assert.match(err.message, /cannot create the API token file .*\/missing\/api-token \(api\.tokenFile\)/);
      return true;
    });
  });
});
