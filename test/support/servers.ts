/**
 * Private servers for tests that stop, restart or stall them: a RabbitMQ node and a Redis of
 * the test's own on spare ports, so the shared local servers (and whatever else uses them)
 * are never disturbed. Both come from the Debian packages the machine already runs.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, waitFor } from './stack.js';

const run = promisify(execFile);

export interface OwnRabbit {
  url: string;
  node: string;
  stopApp(): Promise<void>;
  startApp(): Promise<void>;
  stop(): Promise<void>;
}

/** A RabbitMQ node of our own (no plugins), booted in ~10 s. */
export async function startOwnRabbit(): Promise<OwnRabbit> {
  const port = await freePort();
  const dist = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'crawlfleet-rmq-'));
  writeFileSync(join(dir, 'enabled_plugins'), '[].\n');
  // rabbitmq-server drops to the rabbitmq user when started as root.
  await run('chown', ['-R', 'rabbitmq:rabbitmq', dir]).catch(() => undefined);
  const node = `cftest${port}@localhost`;
  const env = {
    ...process.env,
    RABBITMQ_NODENAME: node,
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(dist),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_CONFIG_FILE: join(dir, 'none'),
  };
  await run('rabbitmq-server', ['-detached'], { env });
  const ctl = (...args: string[]): Promise<unknown> => run('rabbitmqctl', ['-n', node, ...args], { env });
  // Right after -detached returns the node may not be registered yet: ask again, bounded.
  await waitFor(async () => (await ctl('await_startup', '--timeout', '90').then(() => true, () => false)) || null, { timeoutMs: 120_000, intervalMs: 1000, what: `RabbitMQ node ${node}` });
  return {
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    node,
    stopApp: async () => void (await ctl('stop_app')),
    startApp: async () => void (await ctl('start_app')),
    async stop() {
      await ctl('stop').catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface OwnRedis {
  url: string;
  client(): Redis;
  stop(): Promise<void>;
}

/** A Redis of our own with DEBUG enabled locally (for DEBUG SLEEP), no persistence. */
export async function startOwnRedis(): Promise<OwnRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'crawlfleet-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--enable-debug-command', 'local'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      const r = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      try {
        await r.connect();
        return (await r.ping()) === 'PONG';
      } finally {
        r.disconnect();
      }
    },
    { timeoutMs: 10_000, what: 'own redis-server' },
  );
  return {
    url,
    client: () => new Redis(url),
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
