/**
 * crawlctl's rendering: progress lines and bars, rates, durations, tables, and the human
 * views of sessions and of the configuration. Pure functions, plus ProgressView, which draws
 * the progress of a followed session on stderr.
 */
import { FINAL_STATUSES, type ConfigChange, type ConfigHistoryEntry, type ConfigSchemaEntry, type ConfigSetting, type ConfigView, type ConfigWriteResult, type ReplicaView, type Rollout, type Session, type SessionCounts } from './client.js';

/** A non-TTY follower prints one plain progress line this often. */
export const PLAIN_PROGRESS_EVERY_MS = 2000;
/** Pages/s is measured over this trailing window. */
export const RATE_WINDOW_MS = 5000;

// ---------------------------------------------------------------------------------------
// Progress, rate, tables

function count(counts: Partial<SessionCounts>, key: keyof SessionCounts): number {
  const v = counts[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/** Records that reached an outcome: delivered + failed + skipped + cancelled. */
export function terminalCount(counts: Partial<SessionCounts>): number {
  return count(counts, 'delivered') + count(counts, 'failed') + count(counts, 'skipped') + count(counts, 'cancelled');
}

export interface RateSample {
  /** ms */
  t: number;
  /** terminal records at t */
  n: number;
}

/** Records per second between the first and the last sample; null when it cannot be told yet. */
export function computeRate(samples: readonly RateSample[]): number | null {
  if (samples.length < 2) return null;
  const first = samples[0] as RateSample;
  const last = samples[samples.length - 1] as RateSample;
  const dt = (last.t - first.t) / 1000;
  if (!(dt > 0)) return null;
  return Math.max(0, (last.n - first.n) / dt);
}

/** Trailing-window rate: keeps the newest samples plus one anchor at or before the window start. */
export class RateMeter {
  private readonly samples: RateSample[] = [];
  constructor(readonly windowMs: number = RATE_WINDOW_MS) {}

  add(t: number, n: number): void {
    this.samples.push({ t, n });
    while (this.samples.length > 2 && (this.samples[1] as RateSample).t <= t - this.windowMs) this.samples.shift();
  }

  rate(): number | null {
    return computeRate(this.samples);
  }
}

/** 5.1s, 2m05s, 1h02m. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const total = Math.floor(s);
  if (total < 3600) return `${Math.floor(total / 60)}m${String(total % 60).padStart(2, '0')}s`;
  return `${Math.floor(total / 3600)}h${String(Math.floor((total % 3600) / 60)).padStart(2, '0')}m`;
}

export function formatRate(rate: number | null): string {
  return rate === null || !Number.isFinite(rate) ? '-- pages/s' : `${rate.toFixed(1)} pages/s`;
}

/** `[#####-----]`, filled by whole steps so it is full only when done. */
export function renderBar(fraction: number, width: number): string {
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const filled = Math.floor(f * width + 1e-9);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

export interface ProgressInput {
  counts: Partial<SessionCounts>;
  /** terminal records per second, null if unknown yet */
  rate: number | null;
  elapsedMs: number;
  /** bar width; 0 = no bar (plain, non-TTY lines) */
  barWidth?: number;
}

/** `[#####-----] 1234/2100 delivered 1200 failed 34 skipped 0 | 412.3 pages/s | 5.1s` */
export function renderProgress(p: ProgressInput): string {
  const admitted = count(p.counts, 'admitted');
  const done = terminalCount(p.counts);
  const width = p.barWidth ?? 10;
  const parts: string[] = [];
  if (width > 0) parts.push(renderBar(admitted > 0 ? done / admitted : 0, width));
  let tally = `${done}/${admitted} delivered ${count(p.counts, 'delivered')} failed ${count(p.counts, 'failed')} skipped ${count(p.counts, 'skipped')}`;
  const cancelled = count(p.counts, 'cancelled');
  if (cancelled > 0) tally += ` cancelled ${cancelled}`;
  parts.push(tally);
  return `${parts.join(' ')} | ${formatRate(p.rate)} | ${formatDuration(p.elapsedMs)}`;
}

function parseTime(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : null;
}

/** Elapsed time of a session: created → finished, or created → now while it runs. */
export function sessionElapsedMs(s: Pick<Session, 'createdAt' | 'finishedAt'>, now: number): number | null {
  const created = parseTime(s.createdAt);
  if (created === null) return null;
  const end = parseTime(s.finishedAt) ?? now;
  return Math.max(0, end - created);
}

export function averageRate(s: Pick<Session, 'counts'>, elapsedMs: number | null): number | null {
  if (elapsedMs === null || elapsedMs <= 0) return null;
  return terminalCount(s.counts) / (elapsedMs / 1000);
}

/** Left-aligned columns separated by two spaces. */
export function renderTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** Two-column `key  value` lines. */
export function renderKeyValues(pairs: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}

function show(v: unknown): string {
  if (v === null || v === undefined || v === '') return '-';
  if (Array.isArray(v)) return v.length === 0 ? '-' : v.map(show).join(', ');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function renderCounts(counts: Partial<SessionCounts>): string {
  const keys: Array<keyof SessionCounts> = ['admitted', 'fetched', 'delivered', 'failed', 'skipped', 'cancelled', 'supplements'];
  return keys.map((k) => `${k} ${count(counts, k)}`).join(', ');
}

/** Trap counters that are not 0, `path_depth 3, host_pages 12`; `-` when none. */
export function renderTraps(traps: Readonly<Record<string, number>> | undefined): string {
  const counted = Object.entries(traps ?? {}).filter(([, n]) => n > 0);
  return counted.length === 0 ? '-' : counted.map(([reason, n]) => `${reason} ${n}`).join(', ');
}

/** The human view of `status <id>`. */
export function renderSession(s: Session): string {
  const spec = s.spec ?? {};
  const limits: string[] = [];
  if (spec.maxPages !== undefined) limits.push(`maxPages ${show(spec.maxPages)}`);
  if (spec.maxDepth !== undefined) limits.push(`maxDepth ${show(spec.maxDepth)}`);
  if (typeof spec.timeoutMs === 'number') limits.push(`timeout ${formatDuration(spec.timeoutMs)}`);
  const pairs: Array<[string, string]> = [
    ['id', s.id],
    ['status', s.status],
    ['label', show(spec.label)],
    ['seeds', show(spec.seeds)],
    ['limits', limits.length > 0 ? limits.join(', ') : '-'],
    ['created', show(s.createdAt)],
    ['deadline', show(s.deadlineAt)],
    ['finished', show(s.finishedAt)],
    ['counts', renderCounts(s.counts)],
    ['traps', renderTraps(s.traps)],
    ['limited', show(s.limited)],
    ['retries', show(s.retries)],
    ['results file', show(s.resultsFile)],
    ['handed over', show(s.handedOverAt)],
  ];
  return renderKeyValues(pairs);
}

export function renderSessionList(sessions: readonly Session[]): string {
  if (sessions.length === 0) return 'no sessions';
  return renderTable(
    ['ID', 'STATUS', 'ADMITTED', 'DELIVERED', 'FAILED', 'CREATED'],
    sessions.map((s) => [
      s.id,
      s.status,
      String(count(s.counts, 'admitted')),
      String(count(s.counts, 'delivered')),
      String(count(s.counts, 'failed')),
      show(s.createdAt),
    ]),
  );
}

export function formatConfigValue(v: unknown): string {
  if (v === undefined) return '-';
  if (typeof v === 'string') return v === '' ? '""' : v;
  return JSON.stringify(v);
}

/** `rate.global: 20 → 60` */
export function formatChange(c: ConfigChange): string {
  return `${c.key}: ${formatConfigValue(c.old)} → ${formatConfigValue(c.new)}`;
}

/** GET /config (or a subset of its settings) as a KEY VALUE ORIGIN table under a version line. */
export function renderConfig(view: Pick<ConfigView, 'version' | 'updatedAt' | 'updatedBy'>, settings: readonly ConfigSetting[]): string {
  const head = [`config version ${view.version}`];
  if (view.updatedAt) head.push(`updated ${view.updatedAt}${view.updatedBy ? ` by ${view.updatedBy}` : ''}`);
  const table = renderTable(['KEY', 'VALUE', 'ORIGIN'], settings.map((s) => [s.key, formatConfigValue(s.value), s.origin ?? '-']));
  return `${head.join(', ')}\n${table}`;
}

/** The answer of a change: `version 8`, one `key: old → new` line per change, and the rollout line. */
export function renderConfigWrite(r: ConfigWriteResult): string {
  const head = `version ${r.version}${r.rolledBackTo !== undefined ? ` (rolled back to ${r.rolledBackTo})` : ''}`;
  const lines = r.changes.length === 0 ? [head, 'no value changed'] : [head, ...r.changes.map((c) => `  ${formatChange(c)}`)];
  if (r.rollout) lines.push(renderRollout(r.rollout));
  return lines.join('\n');
}

/** `rollout of version 8: 3 of 5 replicas` and, when some lag, who. */
export function renderRollout(r: Rollout): string {
  const head = `rollout of version ${r.version}: ${r.current} of ${r.replicas} replica${r.replicas === 1 ? '' : 's'}`;
  if (r.behind.length === 0) return head;
  return `${head}; behind: ${r.behind.map((b) => `${b.id} (v${b.configVersion})`).join(', ')}`;
}

/** The replicas table of `crawlctl replicas`. */
export function renderReplicas(replicas: readonly ReplicaView[]): string {
  if (replicas.length === 0) return 'no live replicas';
  return renderTable(
    ['SERVICE', 'ID', 'HOST', 'PID', 'VERSION', 'CONFIG', 'IN FLIGHT', 'PAGES/S', 'READY', 'LAST ERROR'],
    replicas.map((r) => [
      r.service,
      r.id,
      r.host,
      String(r.pid),
      r.version,
      String(r.configVersion),
      String(r.inFlight),
      r.pagesPerSecond.toFixed(1),
      r.ready ? 'yes' : `no: ${r.reasons.join('; ')}`,
      r.lastError ?? '-',
    ]),
  );
}

export function renderConfigHistory(entries: readonly ConfigHistoryEntry[]): string {
  if (entries.length === 0) return 'no configuration changes';
  return renderTable(
    ['VERSION', 'AT', 'WHO', 'ACTION', 'CHANGES'],
    entries.map((e) => [
      String(e.version),
      e.at,
      e.who,
      e.action,
      e.changes.length === 0 ? '-' : e.changes.map(formatChange).join('; '),
    ]),
  );
}

export function renderConfigSchema(entries: readonly ConfigSchemaEntry[]): string {
  return renderTable(
    ['KEY', 'ENV', 'DEFAULT', 'LIVE', 'DOC'],
    entries.map((e) => [e.key, e.env ?? '-', formatConfigValue(e.default), e.live ? 'yes' : 'no', e.doc]),
  );
}

/** The schema this build carries, shaped as GET /config/schema answers it. */
// ---------------------------------------------------------------------------------------
// Progress of a followed session

const CLEAR_EOL = '\x1b[K';

/** Where and how ProgressView draws. */
export interface ProgressIO {
  stderr: NodeJS.WritableStream;
  /** Redraw one line in place (a terminal), or print a plain line every PLAIN_PROGRESS_EVERY_MS. */
  isTTY: boolean;
  /** Terminal width used to clip the line. */
  columns?: number;
  now(): number;
}

export class ProgressView {
  private lastPlain = -Infinity;
  private drawn = false;
  private readonly meter = new RateMeter();

  constructor(private readonly io: ProgressIO) {}

  update(s: Session): void {
    const now = this.io.now();
    this.meter.add(now, terminalCount(s.counts));
    const elapsedMs = sessionElapsedMs(s, now) ?? 0;
    if (this.io.isTTY) {
      let line = renderProgress({ counts: s.counts, rate: this.meter.rate(), elapsedMs, barWidth: 20 });
      if (this.io.columns && line.length >= this.io.columns) line = line.slice(0, this.io.columns - 1);
      this.io.stderr.write(`\r${line}${CLEAR_EOL}`);
      this.drawn = true;
    } else if (now - this.lastPlain >= PLAIN_PROGRESS_EVERY_MS && !FINAL_STATUSES.has(s.status)) {
      this.lastPlain = now;
      this.io.stderr.write(`${s.status} ${renderProgress({ counts: s.counts, rate: this.meter.rate(), elapsedMs, barWidth: 0 })}\n`);
    }
  }

  /** ends the redrawn line */
  finish(): void {
    if (this.drawn) this.io.stderr.write('\n');
    this.drawn = false;
  }
}

