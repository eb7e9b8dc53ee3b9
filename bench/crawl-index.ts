/**
 * Bytes of Redis memory per URL of the crawl index (shared/crawlindex).
 *
 *   npm run build && node dist/bench/crawl-index.js [--urls N] [--shard-chars 2,3] [--json FILE]
 *
 * Starts a redis-server of its own (a free port, no persistence, default settings otherwise:
 * hash-max-listpack-entries 128, hash-max-listpack-value 64), writes N URL entries through
 * the index's own write (index-put-1.lua, pipelined) and reads INFO memory `used_memory`
 * before and after; the delta over N is the figure. Entries look like real ones: a fetch time,
 * status 200, a content hash, a session id as the controller makes them, a Last-Modified and a
 * 15-character ETag (`"5f2b1c-1a2b3c"`, nginx's shape; `--etag` another); URLs of ~45
 * characters. Once per index.shardChars value; `--listpack-value` sets the server's
 * hash-max-listpack-value (default 64, Redis's). The server is stopped in `finally`.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { CrawlIndex } from '../shared/crawlindex/index.js';
import { packEntry } from '../shared/crawlindex/entry.js';
import { redisKeys } from '../shared/redis/keys.js';
import { defineScripts } from '../shared/redis/scripts.js';
import { fingerprint } from '../shared/url/normalize.js';

const { values: args } = parseArgs({
  options: {
    urls: { type: 'string', default: '100000' },
    'shard-chars': { type: 'string', default: '2,3' },
    etag: { type: 'string', default: '"5f2b1c-1a2b3c"' },
    'listpack-value': { type: 'string', default: '64' },
    json: { type: 'string' },
  },
});
const N = Number(args.urls);
const SHARD_CHARS = String(args['shard-chars']).split(',').map(Number);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts connections on the port (the redis-server started). */
async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const open = await new Promise<boolean>((resolve) => {
      const sock = connect(port, '127.0.0.1');
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`redis-server did not listen on port ${port}`);
}

function usedMemory(info: string): number {
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1]);
}

interface Row {
  shardChars: number;
  urls: number;
  shards: number;
  encoding: string | null;
  usedBefore: number;
  usedAfter: number;
  bytesPerUrl: number;
  entryBytes: number;
  writesPerSecond: number;
}

async function measure(redis: Redis, shardChars: number): Promise<Row> {
  await redis.flushall();
  const keys = redisKeys('bench');
  const index = new CrawlIndex(redis, keys, () => ({ retentionMs: 30 * 86_400_000, shardChars }));
  const before = usedMemory(await redis.info('memory'));
  const now = Date.now();
  const sample = {
    fetchedAt: now, status: 200, contentHash: 'sha256:9f86d081884c', sessionId: `${now.toString(36)}-0a1b2c3d`,
    lastModified: Math.floor((now - 86_400_000) / 1000) * 1000, etag: String(args.etag),
  };
  const started = performance.now();
  const CHUNK = 2000;
  for (let i = 0; i < N; i += CHUNK) {
    const puts: Promise<unknown>[] = [];
    for (let k = i; k < Math.min(N, i + CHUNK); k++) {
      const url = `http://www.example-site-${k % 997}.com/section/page-${k}.html`;
      puts.push(index.put(fingerprint(url), { ...sample, fetchedAt: now + k, contentHash: `sha256:${(k * 2654435761 % 2 ** 32).toString(16).padStart(12, '0')}` }));
    }
    await Promise.all(puts);
  }
  const seconds = (performance.now() - started) / 1000;
  const after = usedMemory(await redis.info('memory'));
  const dbsize = await redis.dbsize();
  const [first] = await redis.scan('0', 'MATCH', 'bench:idx:*', 'COUNT', 100).then((r) => r[1]);
  const encoding = first ? ((await redis.object('ENCODING', first)) as string | null) : null;
  return {
    shardChars,
    urls: N,
    shards: dbsize,
    encoding,
    usedBefore: before,
    usedAfter: after,
    bytesPerUrl: Math.round(((after - before) / N) * 10) / 10,
    entryBytes: packEntry(sample).length,
    writesPerSecond: Math.round(N / seconds),
  };
}

async function main(): Promise<void> {
  const port = await freePort();
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--hash-max-listpack-value', String(args['listpack-value'])], { stdio: 'ignore' });
  let redis: Redis | null = null;
  try {
    await waitForPort(port);
    redis = new Redis({ port, host: '127.0.0.1' });
    defineScripts(redis);
    const version = /^redis_version:(\S+)/m.exec(await redis.info('server'))?.[1];
    const rows: Row[] = [];
    for (const sc of SHARD_CHARS) {
      const row = await measure(redis, sc);
      rows.push(row);
      console.log(`shardChars ${sc}: ${row.urls} URLs in ${row.shards} shards (${row.encoding}), used_memory ${row.usedBefore} → ${row.usedAfter} B = ${row.bytesPerUrl} B per URL (entry ${row.entryBytes} B); ${row.writesPerSecond} writes/s`);
    }
    console.log(`redis ${version}, hash-max-listpack-value ${String(args['listpack-value'])}, ETag ${String(args.etag).length} characters`);
    if (args.json) writeFileSync(args.json, JSON.stringify({ redis: version, rows }, null, 2));
  } finally {
    redis?.disconnect();
    server.kill('SIGTERM');
  }
}

await main();
