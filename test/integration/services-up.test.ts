/**
 * scripts/services-up.sh against the real servers: one line per server and well under a
 * second when everything answers; a local Redis that does not answer is started on the
 * port its URL names; what it cannot start (another host, RabbitMQ on a port other than
 * its own) ends with exit 1 and one line saying what to do. When redis-server is not
 * installed, root gets it installed with apt-get (here a stand-in apt-get on a PATH without
 * redis-server, which records its arguments and links the real binary), anyone else the
 * command to run.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { packageRoot } from '../../shared/paths.js';
import { AMQP_URL, REDIS_URL } from '../support/stack.js';

const SCRIPT = join(packageRoot, 'scripts', 'services-up.sh');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

async function servicesUp(env: Record<string, string>): Promise<Run> {
  const t0 = performance.now();
  try {
    const { stdout, stderr } = await promisify(execFile)('bash', [SCRIPT], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', AMQP_URL, REDIS_URL, SERVICES_UP_CHROMIUM: '0', ...env }, timeout: 30_000 });
    return { code: 0, stdout, stderr, ms: performance.now() - t0 };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '', ms: performance.now() - t0 };
  }
}

function hostPort(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port}`;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

describe('scripts/services-up.sh', function () {
  this.timeout(40_000);

  it('says that RabbitMQ and Redis answer, one line each, in well under a second', async () => {
    const r = await servicesUp({});
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), [`services-up: Redis answers on ${hostPort(REDIS_URL)}`, `services-up: RabbitMQ answers on ${hostPort(AMQP_URL)}`]);
    assert.ok(r.ms < 1000, `took ${Math.round(r.ms)} ms`);
  });

  it('checks for Chromium (the renderer\'s and the browser tests\' browser); a missing one at another path is a note with the command, not a failure', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'services-up-chromium-'));
    try {
      const browser = join(dir, 'chromium');
      writeFileSync(browser, '#!/bin/sh\n', { mode: 0o755 });
      const found = await servicesUp({ SERVICES_UP_CHROMIUM: '1', CHROMIUM_PATH: browser });
      assert.equal(found.code, 0, found.stderr);
      assert.equal(found.stdout.trim().split('\n')[2], `services-up: Chromium at ${browser}`);
      const missing = await servicesUp({ SERVICES_UP_CHROMIUM: '1', CHROMIUM_PATH: join(dir, 'none') });
      assert.equal(missing.code, 0, missing.stderr);
      assert.match(missing.stdout.trim().split('\n')[2] ?? '', /^services-up: note: Chromium is not at .*none; the renderer and the browser tests need it: sudo apt-get install -y chromium, or set RENDER_CHROMIUM_PATH$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('starts a redis-server on the port of a local REDIS_URL that does not answer', async () => {
    const port = await freePort();
    const r = await servicesUp({ REDIS_URL: `redis://127.0.0.1:${port}/0` });
    const redis = new Redis(`redis://127.0.0.1:${port}`, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
    redis.on('error', () => undefined); // the SHUTDOWN below closes the connection
    try {
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout.split('\n')[0] ?? '', new RegExp(`^services-up: Redis answers on 127\\.0\\.0\\.1:${port} \\(started redis-server, ready after \\d+ s\\)$`));
      await redis.connect();
      assert.equal(await redis.ping(), 'PONG');
      assert.deepEqual(await redis.config('GET', 'save'), ['save', ''], 'started without snapshots, as the machine runs it');
      const again = await servicesUp({ REDIS_URL: `redis://127.0.0.1:${port}` });
      assert.match(again.stdout, new RegExp(`^services-up: Redis answers on 127\\.0\\.0\\.1:${port}\\n`));
    } finally {
      await redis.call('SHUTDOWN', 'NOSAVE').catch(() => undefined);
      redis.disconnect();
    }
  });

  describe('when redis-server is not installed', () => {
    let bin: string;
    beforeEach(() => {
      // A PATH with the tools the script uses, and no redis-server.
      bin = mkdtempSync(join(tmpdir(), 'crawlfleet-path-'));
      for (const tool of ['bash', 'id', 'grep', 'mkdir', 'dirname', 'sleep', 'timeout', 'ls', 'sort', 'tail', 'awk', 'cat', 'pg_isready']) {
        const found = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'].map((d) => join(d, tool)).find((f) => { try { readFileSync(f); return true; } catch { return false; } });
        if (found) symlinkSync(found, join(bin, tool));
      }
      writeFileSync(join(bin, 'apt-get'), `#!/bin/bash\necho "$*" >> "${bin}/apt.log"\nif [[ $1 == install ]]; then for p in "$@"; do [[ $p == redis-server ]] && /bin/ln -sf /usr/bin/redis-server "${bin}/redis-server"; done; fi\nexit 0\n`);
      chmodSync(join(bin, 'apt-get'), 0o755);
    });
    afterEach(() => rmSync(bin, { recursive: true, force: true }));

    it('installs it with apt-get when run as root on Debian, then starts it', async function () {
      if (process.getuid?.() !== 0 || !/^(ID|ID_LIKE)=.*(debian|ubuntu)/m.test(readFileSync('/etc/os-release', 'utf8'))) this.skip();
      const port = await freePort();
      const r = await servicesUp({ PATH: bin, REDIS_URL: `redis://127.0.0.1:${port}` });
      const redis = new Redis(`redis://127.0.0.1:${port}`, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
      redis.on('error', () => undefined);
      try {
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout.split('\n')[0] ?? '', new RegExp(`^services-up: Redis answers on 127\\.0\\.0\\.1:${port} \\(installed redis-server with apt-get, started redis-server, ready after \\d+ s\\)$`));
        assert.deepEqual(readFileSync(join(bin, 'apt.log'), 'utf8').trim().split('\n'), ['update -qq', 'install -y -qq --no-install-recommends redis-server']);
        await redis.connect();
        assert.equal(await redis.ping(), 'PONG');
      } finally {
        await redis.call('SHUTDOWN', 'NOSAVE').catch(() => undefined);
        redis.disconnect();
      }
    });

    it('prints the command to install it when not run as root', async function () {
      if (process.getuid?.() === 0) this.skip();
      const r = await servicesUp({ PATH: bin, REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
      assert.equal(r.code, 1);
      assert.match(r.stderr.trim(), /^services-up: Redis is not installed: run {2}sudo apt-get install -y redis-server/);
    });
  });

  const refusals: Array<[string, Record<string, string>, RegExp]> = [
    ['Redis on another host', { REDIS_URL: 'redis://:secret@192.0.2.1:6379' }, /^services-up: Redis does not answer on 192\.0\.2\.1:6379 \(REDIS_URL names another host: start it there\)$/],
    ['RabbitMQ on a local port other than its own', { AMQP_URL: 'amqp://guest:guest@127.0.0.1:1' }, /^services-up: RabbitMQ does not answer on 127\.0\.0\.1:1; this script starts the local node on 5672 only/],
    ['PostgreSQL on another host', { RESULTS_URL: 'postgres://u:p@[2001:db8::1]:5433/db' }, /^services-up: PostgreSQL does not answer on 2001:db8::1:5433 \(RESULTS_URL names another host: start it there\)$/],
  ];
  for (const [name, env, message] of refusals) {
    it(`stops with exit 1 and one line for ${name}`, async () => {
      const r = await servicesUp(env);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stderr.trim(), message);
    });
  }
});
