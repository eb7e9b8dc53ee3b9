/**
 * Preloaded into the service processes by the benchmark (NODE_OPTIONS=--import ...).
 * Measurement only; it changes nothing the service does.
 *
 * With BENCH_REDIS_COUNT_DIR: counts the Redis commands the process sends, by command name, and the round trips
 * (a pipeline, including ioredis auto-pipelining, is one write and one round trip; any
 * other command is one). Measurement only: it wraps `Redis.prototype.sendCommand` of
 * ioredis and changes nothing else.
 *
 * On SIGUSR2 it writes `{ pid, at, commands: {name: n}, total, roundTrips }` to
 * `$BENCH_REDIS_COUNT_DIR/<pid>.json` (synchronously), so the bench can read exact
 * counts at the start and the end of a crawl.
 *
 * With BENCH_CPU_PROF_DIR: records a V8 CPU profile from the first SIGUSR2 (the bench's
 * start mark) to the exit (node:inspector, because Node 20 refuses --cpu-prof in
 * NODE_OPTIONS) and writes it on exit as
 * `CPU.bench.<time>.<pid>.0.001.cpuprofile`, the layout `node --cpu-prof` uses.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { createRequire } from 'node:module';
import { join } from 'node:path';

interface SendCommand {
  (this: unknown, command: { name?: string }, stream?: unknown, ...rest: unknown[]): unknown;
}

const require = createRequire(import.meta.url);
const dir = process.env.BENCH_REDIS_COUNT_DIR;
if (dir) {
  const ioredis = require('ioredis') as { Redis: { prototype: { sendCommand: SendCommand } } };
  const proto = ioredis.Redis.prototype;
  const original = proto.sendCommand;
  const commands = new Map<string, number>();
  const pipelines = new WeakSet<object>();
  let total = 0;
  let roundTrips = 0;
  proto.sendCommand = function (this: unknown, command: { name?: string }, stream?: unknown, ...rest: unknown[]): unknown {
    const name = command?.name ?? '?';
    commands.set(name, (commands.get(name) ?? 0) + 1);
    total++;
    if (stream !== null && typeof stream === 'object' && 'isPipeline' in stream) {
      if (!pipelines.has(stream)) {
        pipelines.add(stream);
        roundTrips++;
      }
    } else {
      roundTrips++;
    }
    return original.call(this, command, stream, ...rest);
  } as SendCommand;
  const dump = (): void => {
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${process.pid}.json`), JSON.stringify({ pid: process.pid, at: Date.now(), commands: Object.fromEntries(commands), total, roundTrips }));
    } catch {
      /* measurement must never break the service */
    }
  };
  process.on('SIGUSR2', dump);
}

const profDir = process.env.BENCH_CPU_PROF_DIR;
if (profDir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  let started = false;
  // The first SIGUSR2 (the bench's start mark) starts the profiler, so start-up is left out.
  process.on('SIGUSR2', () => {
    if (started) return;
    started = true;
    session.post('Profiler.start');
  });
  // A same-thread inspector session answers synchronously, so this works in 'exit'.
  process.on('exit', () => {
    if (!started) return;
    session.post('Profiler.stop', (err, result) => {
      if (err) return;
      try {
        mkdirSync(profDir, { recursive: true });
        writeFileSync(join(profDir, `CPU.bench.${Date.now()}.${process.pid}.0.001.cpuprofile`), JSON.stringify(result.profile));
      } catch {
        /* measurement must never break the service */
      }
    });
  });
}
