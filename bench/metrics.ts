/**
 * Measurements for the benchmark, all taken from outside the services:
 *
 * - CPU (utime + stime from /proc/<pid>/stat, in ms) and RSS (VmRSS, VmHWM from
 *   /proc/<pid>/status) of each service process and its descendants, per label;
 *   a process that is restarted (new pid) keeps its CPU in the label's total.
 * - Machine-wide busy CPU (/proc/stat), so load from other users of the machine shows.
 * - Messages consumed per queue, from each service's Prometheus `/metrics`
 *   (`crawlfleet_messages_total{queue,outcome}`).
 * - AMQP bytes per service, from `rabbitmqctl list_connections` (recv_oct = bytes the
 *   broker received from the service, i.e. what it published plus acks; send_oct = what
 *   the broker sent it, i.e. deliveries). The services name their connections
 *   `<ns>:<service>:<pid>` (client property connection_name).
 * - Redis commands and round trips per process, counted inside the services by
 *   bench/preload.ts and read with SIGUSR2.
 * - Redis calls, from `INFO commandstats` before and after. That Redis is shared with
 *   everything else on the machine, so the delta is for the whole server during the run,
 *   and it counts the commands run inside Lua scripts as well.
 *
 * Linux only (reads /proc).
 */
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';

const execFileP = promisify(execFile);

/** Clock ticks per second for /proc/<pid>/stat times when `getconf CLK_TCK` cannot be run (100 on Linux). */
export const CLK_TCK = 100;

/** Reads `getconf CLK_TCK` once (falls back to 100). */
export async function clockTicks(): Promise<number> {
  try {
    const { stdout } = await execFileP('getconf', ['CLK_TCK']);
    const n = Number(stdout.trim());
    return Number.isFinite(n) && n > 0 ? n : CLK_TCK;
  } catch {
    return CLK_TCK;
  }
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** utime + stime of one process, in clock ticks, or null if it is gone. */
export function procCpuTicks(pid: number): number | null {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === null) return null;
  // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime is field 14, stime field 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? utime + stime : null;
}

/** VmRSS and VmHWM (peak RSS) of a process, in bytes, or null if it is gone. */
export function procMemory(pid: number): { rss: number; hwm: number } | null {
  const status = readText(`/proc/${pid}/status`);
  if (status === null) return null;
  const kb = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
    return m ? Number(m[1]) * 1024 : 0;
  };
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/**
 * Resets VmHWM of a process to its current RSS (`echo 5 > /proc/<pid>/clear_refs`, Linux
 * >= 4.0, needs the same user or root); returns false when that is not allowed.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Direct children of a process (all its threads' children). */
export function procChildren(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    const text = readText(`/proc/${pid}/task/${tid}/children`);
    if (!text) continue;
    for (const p of text.trim().split(/\s+/)) if (p !== '') out.push(Number(p));
  }
  return out;
}

/** A process and all its descendants. */
export function procTree(pid: number): number[] {
  const seen = new Set<number>();
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop() as number;
    if (seen.has(p)) continue;
    seen.add(p);
    stack.push(...procChildren(p));
  }
  return [...seen];
}

/** Pids whose /proc/<pid>/comm equals `comm` (e.g. `redis-server`, `beam.smp`). */
export function pidsByComm(comm: string): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    if (readText(`/proc/${e}/comm`)?.trim() === comm) out.push(Number(e));
  }
  return out;
}

/** Busy and total jiffies of the whole machine (first line of /proc/stat). */
export function machineCpuTicks(): { busy: number; total: number } {
  const line = (readText('/proc/stat') ?? '').split('\n')[0] ?? '';
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is in user already.
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const total = f.slice(0, 8).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
  return { busy: total - idle, total };
}

/** Memory of the machine from /proc/meminfo, in bytes. */
export function machineMemory(): { total: number; available: number } {
  const text = readText('/proc/meminfo') ?? '';
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
  return { total: kb('MemTotal'), available: kb('MemAvailable') };
}

export interface LabelUsage {
  /** CPU ms used since `mark()`. */
  cpuMs: number;
  /** Highest RSS seen (max of sampled VmRSS and VmHWM of live processes), bytes. */
  peakRss: number;
  /** RSS at the first sample after `mark()`, bytes. */
  startRss: number;
  /** RSS at the last sample, bytes. */
  endRss: number;
  /** Processes seen (restarts show as more than one root pid). */
  pids: number;
}

export interface RssSample {
  t: number;
  rss: Record<string, number>;
}

interface LabelState {
  /** Last CPU ticks seen per pid (a pid that exits keeps its last value). */
  ticks: Map<number, number>;
  /** Ticks per pid at mark time. */
  base: Map<number, number>;
  peakRss: number;
  startRss: number | null;
  endRss: number;
  roots: Set<number>;
}

/**
 * Samples CPU and RSS of labelled process trees. `resolve(label)` gives the current root
 * pid of a label (e.g. `Supervisor.pid`), so restarts are followed.
 */
export class ProcessSampler {
  private readonly labels = new Map<string, LabelState>();
  private timer: NodeJS.Timeout | null = null;
  readonly series: RssSample[] = [];
  private recordSeries = false;
  private readonly ticksPerSec: number;

  constructor(
    private readonly resolve: (label: string) => number | number[] | null,
    labels: string[],
    ticksPerSec = CLK_TCK,
    /** Labels of processes not ours (shared servers): CPU and sampled RSS only, VmHWM neither read nor reset. */
    private readonly external: ReadonlySet<string> = new Set(),
  ) {
    this.ticksPerSec = ticksPerSec;
    for (const l of labels) this.labels.set(l, { ticks: new Map(), base: new Map(), peakRss: 0, startRss: null, endRss: 0, roots: new Set() });
  }

  /** Takes one sample of every label now. */
  sample(): void {
    const t = Date.now();
    const rssNow: Record<string, number> = {};
    for (const [label, st] of this.labels) {
      const r = this.resolve(label);
      const roots = r === null ? [] : Array.isArray(r) ? r : [r];
      let rss = 0;
      for (const root of roots) {
        st.roots.add(root);
        for (const pid of procTree(root)) {
          const ticks = procCpuTicks(pid);
          if (ticks !== null) st.ticks.set(pid, ticks);
          const mem = procMemory(pid);
          if (mem) {
            rss += mem.rss;
            // VmHWM is the exact peak of one process (reset by mark()); for a tree, the sampled sum.
            if (pid === root && !this.external.has(label) && mem.hwm > st.peakRss) st.peakRss = mem.hwm;
          }
        }
      }
      if (rss > st.peakRss) st.peakRss = rss;
      if (roots.length > 0) {
        if (st.startRss === null) st.startRss = rss;
        st.endRss = rss;
      }
      rssNow[label] = rss;
    }
    if (this.recordSeries) this.series.push({ t, rss: rssNow });
  }

  /**
   * Starts counting from now: CPU is measured from here, and the peak RSS is reset.
   * VmHWM of each root process is reset too, so the peak is the peak since now (where allowed).
   */
  mark(): void {
    this.sample();
    for (const [label, st] of this.labels) {
      st.base = new Map(st.ticks);
      st.peakRss = 0;
      st.startRss = null;
      if (this.external.has(label)) continue;
      const r = this.resolve(label);
      for (const root of r === null ? [] : Array.isArray(r) ? r : [r]) resetPeakRss(root);
    }
    this.sample();
  }

  /** Samples every `intervalMs` until `stop()`; `series` keeps RSS per sample when asked. */
  start(intervalMs: number, keepSeries = false): void {
    this.recordSeries = keepSeries;
    this.stop();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Usage per label since `mark()` (take a `sample()` first for an exact end). */
  usage(): Record<string, LabelUsage> {
    const out: Record<string, LabelUsage> = {};
    for (const [label, st] of this.labels) {
      let ticks = 0;
      for (const [pid, v] of st.ticks) ticks += v - (st.base.get(pid) ?? 0);
      out[label] = {
        cpuMs: (ticks * 1000) / this.ticksPerSec,
        peakRss: st.peakRss,
        startRss: st.startRss ?? 0,
        endRss: st.endRss,
        pids: st.roots.size,
      };
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------
// Prometheus /metrics of the services

/** Sums `crawlfleet_messages_total` by queue from a Prometheus text exposition. */
export function parseMessagesTotal(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith('crawlfleet_messages_total{')) continue;
    const m = /queue="([^"]*)"/.exec(line);
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (m && Number.isFinite(v)) out[m[1] as string] = (out[m[1] as string] ?? 0) + v;
  }
  return out;
}

export interface ScrapedInstance {
  address: string;
  /** process_start_time_seconds of the scraped process: tells a restarted replica from the old one. */
  startTime: string;
  byQueue: Record<string, number>;
}

/** Messages consumed per queue of each ops address (`http://127.0.0.1:PORT`) that answers. */
export async function scrapeMessages(addresses: string[]): Promise<ScrapedInstance[]> {
  const out: ScrapedInstance[] = [];
  await Promise.all(
    addresses.map(async (address) => {
      try {
        const res = await fetch(`${address}/metrics`, { signal: AbortSignal.timeout(5000) });
        if (!res.ok) return;
        const text = await res.text();
        const startTime = /^\w*process_start_time_seconds(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1] ?? '?';
        out.push({ address, startTime, byQueue: parseMessagesTotal(text) });
      } catch {
        /* a service that is down just does not count */
      }
    }),
  );
  return out;
}

/**
 * Counters of processes that may restart during a run. Each instance (a process) reports
 * cumulative counters; the total since `mark()` is the sum over instances of their last
 * values minus their values at the mark (zero for instances first seen after it), so a
 * replica that crashes loses at most what it counted since it was last polled.
 */
export class CounterBook {
  private readonly instances = new Map<string, { group: string; base: Record<string, number>; last: Record<string, number> }>();
  private marked = false;

  update(instance: string, group: string, values: Record<string, number>): void {
    const cur = this.instances.get(instance);
    if (cur) cur.last = { ...values };
    else this.instances.set(instance, { group, base: this.marked ? {} : { ...values }, last: { ...values } });
  }

  mark(): void {
    for (const i of this.instances.values()) i.base = { ...i.last };
    this.marked = true;
  }

  /** Totals since the mark, per group and over all groups. */
  totals(): { byGroup: Record<string, Record<string, number>>; all: Record<string, number>; instances: number } {
    const byGroup: Record<string, Record<string, number>> = {};
    const all: Record<string, number> = {};
    for (const i of this.instances.values()) {
      const g = (byGroup[i.group] ??= {});
      for (const [k, v] of Object.entries(i.last)) {
        const d = Math.max(0, v - (i.base[k] ?? 0));
        g[k] = (g[k] ?? 0) + d;
        all[k] = (all[k] ?? 0) + d;
      }
    }
    return { byGroup, all, instances: this.instances.size };
  }
}

// ---------------------------------------------------------------------------------------
// RabbitMQ bytes per connection

export interface AmqpConnStats {
  /** Per service name: bytes the broker received from it, bytes it sent to it. */
  byService: Record<string, { recv: number; send: number; connections: number }>;
  ok: boolean;
  error?: string;
}

/** Bytes per service of a namespace's AMQP connections, via `rabbitmqctl list_connections`. */
export async function amqpConnectionStats(ns: string): Promise<AmqpConnStats> {
  try {
    const { stdout } = await execFileP('rabbitmqctl', ['list_connections', 'client_properties', 'recv_oct', 'send_oct', '-q', '--no-table-headers'], {
      timeout: 20_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    const byService: AmqpConnStats['byService'] = {};
    for (const line of stdout.split('\n')) {
      // client_properties is an Erlang term: [{"connection_name","<ns>:<service>:<pid>"},...]
      const m = /\{"connection_name","([^"]*)"\}/.exec(line);
      if (!m) continue;
      const name = m[1] as string;
      if (!name.startsWith(`${ns}:`)) continue;
      const cols = line.split('\t');
      const recv = Number(cols[cols.length - 2]);
      const send = Number(cols[cols.length - 1]);
      const service = name.split(':')[1] ?? '?';
      const s = (byService[service] ??= { recv: 0, send: 0, connections: 0 });
      s.recv += Number.isFinite(recv) ? recv : 0;
      s.send += Number.isFinite(send) ? send : 0;
      s.connections++;
    }
    return { byService, ok: true };
  } catch (err) {
    return { byService: {}, ok: false, error: (err as Error).message.split('\n')[0] ?? 'failed' };
  }
}

/** Difference of two connection snapshots (connections that closed in between are lost: take both while the stack runs). */
export function amqpDelta(before: AmqpConnStats, after: AmqpConnStats): Record<string, { recv: number; send: number }> {
  const out: Record<string, { recv: number; send: number }> = {};
  for (const [svc, a] of Object.entries(after.byService)) {
    const b = before.byService[svc] ?? { recv: 0, send: 0 };
    out[svc] = { recv: Math.max(0, a.recv - b.recv), send: Math.max(0, a.send - b.send) };
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Redis commands counted in the services (bench/preload.ts)

export interface ClientRedisCounts {
  commands: Record<string, number>;
  total: number;
  roundTrips: number;
}

/**
 * Asks each process for its Redis counts (SIGUSR2) and reads them from `dir`; a process
 * that does not answer within 3 s is left out.
 */
export async function clientRedisCounts(dir: string, pids: number[]): Promise<Map<number, ClientRedisCounts>> {
  const asked = Date.now();
  const out = new Map<number, ClientRedisCounts>();
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGUSR2');
    } catch {
      /* gone */
    }
  }
  const until = asked + 3000;
  while (out.size < pids.length && Date.now() < until) {
    for (const pid of pids) {
      if (out.has(pid)) continue;
      const text = readText(`${dir}/${pid}.json`);
      if (!text) continue;
      try {
        const v = JSON.parse(text) as ClientRedisCounts & { at: number };
        if (v.at >= asked) out.set(pid, { commands: v.commands, total: v.total, roundTrips: v.roundTrips });
      } catch {
        /* being written */
      }
    }
    if (out.size < pids.length) await new Promise((r) => setTimeout(r, 50));
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Redis command statistics (server side)

/** Calls per command from `INFO commandstats`. */
export async function redisCommandStats(redis: Redis): Promise<Record<string, number>> {
  const text = await redis.info('commandstats');
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (m) out[m[1] as string] = Number(m[2]);
  }
  return out;
}

export function commandDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d > 0) out[k] = d;
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Small statistics helpers

export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx] as number;
}

export function sum(values: Iterable<number>): number {
  let s = 0;
  for (const v of values) s += v;
  return s;
}
