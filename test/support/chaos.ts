/**
 * Shared pieces of the chaos tests (test/chaos/*): the recovery settings that make a SIGKILLed
 * process's tasks come back quickly, starting a crawl, an operator's control call that rides
 * out a controller restart, a session's terminal count read from Redis (which the kills do not
 * touch), and the SIGKILL itself, recorded.
 */
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { parseLedgerEntry } from '../../shared/ledger/index.js';
import { redisKeys } from '../../shared/redis/keys.js';
import { REDIS_URL, http, waitFor, type TestStack } from './stack.js';

/** Short leases and sweeps, so that what a killed process held comes back within seconds. */
export const FAST_RECOVERY = {
  TASK_LEASE_MS: '15000',
  TASK_ADMIT_LEASE_MS: '30000',
  CLEANER_INTERVAL_MS: '500',
  SHUTDOWN_GRACE_MS: '2000',
  FETCH_CONCURRENCY: '16',
};

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function pick<T>(xs: readonly T[]): T {
  return xs[Math.floor(Math.random() * xs.length)] as T;
}

/** Starts a session on `seed` with room for every page of the site (and `extra` fields); its id. */
export async function startCrawl(stack: TestStack, seed: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await http<{ id: string }>(stack.api, 'POST', '/sessions', { seeds: [seed], maxPages: 100_000, ...extra });
  assert.equal(res.status, 201, res.text);
  return res.body.id;
}

/** An operator's control call, retried while the controller is down or restarting (a SIGKILL); answers the status code. */
export async function control(stack: TestStack, method: string, path: string): Promise<number> {
  return waitFor(
    async () => {
      const res = await http(stack.api, method, path).catch(() => null);
      return res && res.status !== 503 ? res.status : null;
    },
    { timeoutMs: 30_000, intervalMs: 200, what: `${method} ${path}` },
  );
}

/** A session's counters and ledger read straight from Redis; `close` when done. */
export interface SessionProbe {
  /** Delivered plus failed tasks. */
  terminal(): Promise<number>;
  /** The ledger state letter of each admitted URL (shared/redis/lua/includes/ledger.lua). */
  states(): Promise<Map<string, string>>;
  close(): void;
}

export function sessionProbe(stack: TestStack, sessionId: string): SessionProbe {
  const redis = new Redis(REDIS_URL);
  const k = redisKeys(stack.ns).session(sessionId);
  return {
    terminal: async () => (await redis.hmget(k.session, 'delivered', 'failed')).reduce((n, v) => n + Number(v ?? 0), 0),
    async states() {
      const out = new Map<string, string>();
      for (const v of Object.values(await redis.hgetall(k.tasks))) {
        const entry = parseLedgerEntry(v);
        if (entry) out.set(entry.url, entry.state);
      }
      return out;
    },
    close: () => redis.disconnect(),
  };
}

/** SIGKILLs the process labelled `victim` and records it in `kills`; false when it was not running. */
export function kill(stack: TestStack, victim: string, kills: string[]): boolean {
  if (!stack.supervisor.signal(victim, 'SIGKILL')) return false;
  kills.push(victim);
  return true;
}

/** SIGKILLs one of `victims` at random, preferring those running. */
export function killAny(stack: TestStack, victims: readonly string[], kills: string[]): boolean {
  const alive = victims.filter((v) => stack.supervisor.pid(v) !== null);
  return kill(stack, pick(alive.length > 0 ? alive : victims), kills);
}
