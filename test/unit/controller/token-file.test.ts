/**
 * The API token file (api.tokenFile): generated once with owner-only permissions, read back
 * on every later start, the same token for controllers that start at the same moment, and a
 * config_invalid error naming the file when it cannot be used.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { CrawlError } from '../../../shared/errors/index.js';
import { loadOrCreateTokenFile } from '../../../services/controller/token-file.js';

const run = promisify(execFile);

describe('API token file', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'crawlfleet-token-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('generates a 64-hex token into a missing file, readable by its owner only', () => {
    const path = join(dir, 'api-token');
    const first = loadOrCreateTokenFile(path);
    assert.equal(first.created, true);
    assert.match(first.token, /^[0-9a-f]{64}$/);
    assert.equal(readFileSync(path, 'utf8'), `${first.token}\n`);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir), ['api-token'], 'no temporary file is left');
  });

  it('reads the same token back on the next start, and two files hold different tokens', () => {
    const path = join(dir, 'api-token');
    const first = loadOrCreateTokenFile(path);
    assert.deepEqual(loadOrCreateTokenFile(path), { token: first.token, created: false });
    assert.notEqual(loadOrCreateTokenFile(join(dir, 'other')).token, first.token);
  });

  it('takes a token written by hand, without surrounding whitespace', () => {
    const path = join(dir, 'api-token');
    writeFileSync(path, '  my-own-token-0123456789 \n');
    assert.deepEqual(loadOrCreateTokenFile(path), { token: 'my-own-token-0123456789', created: false });
  });

  it('gives every process that starts at the same moment the same token, and one of them created it', async () => {
    const path = join(dir, 'api-token');
    const mod = pathToFileURL(join(import.meta.dirname, '../../../services/controller/token-file.js')).href;
    const script = `const m = await import(${JSON.stringify(mod)}); console.log(JSON.stringify(m.loadOrCreateTokenFile(process.argv[1])));`;
    const outs = await Promise.all(Array.from({ length: 6 }, () => run(process.execPath, ['--input-type=module', '-e', script, path])));
    const results = outs.map((o) => JSON.parse(o.stdout) as { token: string; created: boolean });
    const tokens = new Set(results.map((r) => r.token));
    assert.equal(tokens.size, 1, `tokens: ${[...tokens].join(', ')}`);
    assert.equal(results.filter((r) => r.created).length, 1);
    assert.equal(readFileSync(path, 'utf8'), `${[...tokens][0]}\n`);
    assert.deepEqual(readdirSync(dir), ['api-token']);
  });

  const refusals: Array<[string, (dir: string) => string, RegExp]> = [
    ['an empty file', (d) => (writeFileSync(join(d, 't'), '\n'), join(d, 't')), /^the API token file .*\/t \(api\.tokenFile\) must hold one token of at least 16 characters without spaces; delete it/],
    ['a short token', (d) => (writeFileSync(join(d, 't'), 'short'), join(d, 't')), /at least 16 characters/],
    ['two words', (d) => (writeFileSync(join(d, 't'), 'one-token-0123456789 two-token-0123456789'), join(d, 't')), /without spaces/],
    ['a missing directory', (d) => join(d, 'missing', 't'), /cannot create the API token file .*\/missing\/t \(api\.tokenFile\): ENOENT/],
    ['a directory in its place', (d) => d, /cannot read the API token file .* \(api\.tokenFile\): EISDIR/],
  ];
  for (const [name, make, message] of refusals) {
    it(`refuses ${name} with config_invalid naming the file`, () => {
      const path = make(dir);
      assert.throws(() => loadOrCreateTokenFile(path), (err: unknown) => {
        assert.ok(err instanceof CrawlError);
        assert.equal(err.code, 'config_invalid');
        assert.match(err.message, message);
        return true;
      });
    });
  }
});
