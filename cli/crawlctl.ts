/**
 * crawlctl: the command-line client of the controller's HTTP API.
 *
 *   crawlctl [--api URL] [--token T] [--json] <command> [options]
 *
 * Commands live in one table (`COMMANDS`); a command family such as `config get|set` is a
 * set of entries keyed "config get", "config set", ... so adding a command is one entry.
 * `main` never exits the process: it returns the exit code (see EXIT below).
 * Everything that can be a pure function (argument → request body, progress rendering,
 * rate computation, tables) is exported for unit tests.
 *
 * `config schema` is the one command that works offline: when the API does not answer it
 * prints the schema this build of crawlfleet carries (shared/config, loaded on demand).
 */
import { once } from 'node:events';
import { constants as fsConstants, createWriteStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';

import type { SessionCounts, SessionRequest, SessionStatus } from '../shared/tasks/types.js';
// ---------------------------------------------------------------------------------------
// Types of the API: the wire types come from shared/tasks (type-only: the CLI links no service code)

export type { SessionCounts, SessionStatus } from '../shared/tasks/types.js';

export interface Session {
  id: string;
  status: SessionStatus | string;
  createdAt: string | null;
  deadlineAt: string | null;
  finishedAt: string | null;
  counts: Partial<SessionCounts>;
  /** Links refused by a spider-trap rule, by reason. */
  traps?: Record<string, number>;
  limited?: unknown;
  retries?: unknown;
  resultsFile?: string | null;
  handedOverAt?: string | null;
  spec?: Record<string, unknown>;
}

/** Body of POST /sessions. */
export type CreateSessionBody = SessionRequest;

/** One effective setting of GET /config. */
export interface ConfigSetting {
  key: string;
  value: unknown;
  origin: string;
}

/** GET /config. */
export interface ConfigView {
  version: number;
  updatedAt: string | null;
  updatedBy: string | null;
  values?: Record<string, unknown>;
  settings: ConfigSetting[];
  overrides?: Record<string, unknown>;
}

export interface ConfigChange {
  key: string;
  old: unknown;
  new: unknown;
}

/** PATCH /config and POST /config/rollback. */
export interface ConfigWriteResult {
  version: number;
  changes: ConfigChange[];
  rolledBackTo?: number;
}

export interface ConfigHistoryEntry {
  version: number;
  at: string;
  who: string;
  action: string;
  changes: ConfigChange[];
  overrides?: Record<string, unknown>;
}

/** One entry of GET /config/schema. */
export interface ConfigSchemaEntry {
  key: string;
  doc: string;
  format: string;
  default: unknown;
  env?: string | undefined;
  sensitive?: boolean;
  live: boolean;
}

export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  partial: 3,
  cancelled: 4,
  interrupted: 130,
} as const;

export const FINAL_STATUSES: ReadonlySet<string> = new Set(['completed', 'partial', 'cancelled', 'closed']);

export const DEFAULT_API = 'http://127.0.0.1:8080';
export const DEFAULT_POLL_MS = 500;
/** A non-TTY follower prints one plain progress line this often. */
export const PLAIN_PROGRESS_EVERY_MS = 2000;
/** Pages/s is measured over this trailing window. */
export const RATE_WINDOW_MS = 5000;
/** JSON requests give up after this long. */
export const REQUEST_TIMEOUT_MS = 30_000;
/** While following, transient failures (unreachable API, 5xx) are retried for this long. */
export const FOLLOW_GRACE_MS = 30_000;

export interface CliIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Whether progress (written to stderr) may be redrawn in place. Default: process.stderr.isTTY. */
  isTTY?: boolean;
  /** Poll interval while following. Default: env CRAWLCTL_POLL_MS, else 500 ms. */
  pollMs?: number;
  /** Environment for defaults (CRAWLFLEET_API, CRAWLFLEET_TOKEN, API_TOKEN, CRAWLCTL_POLL_MS). Default: process.env. */
  env?: NodeJS.ProcessEnv;
  /** Aborting it stops following, as Ctrl-C does. */
  signal?: AbortSignal;
  /** Terminal width used to clip the progress line. */
  columns?: number;
  /** Clock, for tests. */
  now?: () => number;
}

// ---------------------------------------------------------------------------------------
// Errors

/** A failure reported as one line `crawlctl: <message>` with an exit code. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: number = EXIT.error, readonly transient = false) {
    super(message);
    this.name = 'CliError';
  }
}

/** Bad command line: the message plus the usage text, exit 2. */
export class UsageError extends CliError {
  constructor(message: string, readonly command?: string) {
    super(message, EXIT.usage);
    this.name = 'UsageError';
  }
}

/** An error answer of the API: `{ error: { code, message } }`. */
export class ApiError extends CliError {
  constructor(readonly status: number, readonly code: string, readonly apiMessage: string) {
    super(`${code}: ${apiMessage}`, EXIT.error, status >= 500);
    this.name = 'ApiError';
  }
}

// ---------------------------------------------------------------------------------------
// Pure helpers: validation, request body

export function parsePositiveInt(option: string, raw: string): number {
  const n = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`${option} must be a positive integer`);
  return n;
}

export function parseNonNegativeInt(option: string, raw: string): number {
  const n = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!Number.isSafeInteger(n)) throw new UsageError(`${option} must be a non-negative integer`);
  return n;
}

/** `--field name=selector` → [name, selector]; the selector may itself contain '='. */
export function parseField(raw: string): [string, string] {
  const eq = raw.indexOf('=');
  const name = eq > 0 ? raw.slice(0, eq).trim() : '';
  const selector = eq > 0 ? raw.slice(eq + 1).trim() : '';
  if (!name || !selector) throw new UsageError(`--field must be name=selector, got ${JSON.stringify(raw)}`);
  return [name, selector];
}

/** Values as node:util parseArgs returns them, for any option table. */
export type OptionValues = Record<string, string | boolean | Array<string | boolean> | undefined>;

function str(values: OptionValues, key: string): string | undefined {
  const v = values[key];
  return typeof v === 'string' ? v : undefined;
}

function strs(values: OptionValues, key: string): string[] {
  const v = values[key];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return typeof v === 'string' ? [v] : [];
}

function flag(values: OptionValues, key: string): boolean {
  return values[key] === true;
}

/** `crawl` arguments → the body of POST /sessions. Throws UsageError naming the option. */
export function buildCrawlBody(urls: readonly string[], values: OptionValues): CreateSessionBody {
  if (urls.length === 0) throw new UsageError('crawl needs at least one URL', 'crawl');
  const body: CreateSessionBody = { seeds: [...urls] };
  const maxPages = str(values, 'max-pages');
  if (maxPages !== undefined) body.maxPages = parsePositiveInt('--max-pages', maxPages);
  const maxDepth = str(values, 'max-depth');
  if (maxDepth !== undefined) body.maxDepth = parseNonNegativeInt('--max-depth', maxDepth);
  const timeoutMs = str(values, 'timeout-ms');
  if (timeoutMs !== undefined) body.timeoutMs = parsePositiveInt('--timeout-ms', timeoutMs);
  const hosts = strs(values, 'allow-host');
  if (hosts.length > 0) body.allowedHosts = hosts;
  const include = strs(values, 'include');
  if (include.length > 0) body.include = include;
  const exclude = strs(values, 'exclude');
  if (exclude.length > 0) body.exclude = exclude;
  const fields = strs(values, 'field');
  if (fields.length > 0) {
    const map: Record<string, string> = {};
    for (const raw of fields) {
      const [name, selector] = parseField(raw);
      if (Object.hasOwn(map, name)) throw new UsageError(`--field ${name} is given twice`);
      map[name] = selector;
    }
    body.fields = map;
  }
  const webhook = str(values, 'webhook');
  if (webhook !== undefined) body.webhook = webhook;
  const label = str(values, 'label');
  if (label !== undefined) body.label = label;
  if (flag(values, 'sitemaps')) body.sitemaps = true;
  return body;
}

/** Exit code of a session that reached `status`. */
export function exitCodeForStatus(status: string): number {
  switch (status) {
    case 'completed': return EXIT.ok;
    case 'partial': return EXIT.partial;
    case 'cancelled':
    case 'closed': return EXIT.cancelled;
    default: return EXIT.error;
  }
}

// ---------------------------------------------------------------------------------------
// Pure helpers: progress, rate, tables

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

// ---------------------------------------------------------------------------------------
// Pure helpers: configuration

/** A key of `config set`: dotted names of letters, digits, `_` and `-`. */
const CONFIG_KEY = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$/;
const FORBIDDEN_SEGMENTS: ReadonlySet<string> = new Set(['__proto__', 'prototype', 'constructor']);

/**
 * The value of `key=value`: JSON when it parses (numbers, booleans, arrays, objects, null
 * — null removes the live override), otherwise the text itself.
 */
export function parseConfigValue(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

/** `key=value` → [key, value]; the value may itself contain '='. */
export function parseAssignment(raw: string): [string, unknown] {
  const eq = raw.indexOf('=');
  const key = eq > 0 ? raw.slice(0, eq).trim() : '';
  if (!key) throw new UsageError(`config set wants key=value, got ${JSON.stringify(raw)}`, 'config set');
  if (!CONFIG_KEY.test(key) || key.split('.').some((seg) => FORBIDDEN_SEGMENTS.has(seg))) {
    throw new UsageError(`invalid setting name ${JSON.stringify(key)}`, 'config set');
  }
  return [key, parseConfigValue(raw.slice(eq + 1))];
}

/**
 * `key=value` arguments → the nested body of PATCH /config:
 * `rate.global=20 fetch.concurrency=4` → `{ rate: { global: 20 }, fetch: { concurrency: 4 } }`.
 * A key given twice, or a key that is also the prefix of another, is a usage error.
 */
export function buildConfigPatch(assignments: readonly string[]): Record<string, unknown> {
  if (assignments.length === 0) throw new UsageError('config set needs at least one key=value', 'config set');
  const body: Record<string, unknown> = {};
  const leaves = new Set<string>();
  for (const raw of assignments) {
    const [key, value] = parseAssignment(raw);
    if (leaves.has(key)) throw new UsageError(`${key} is given twice`, 'config set');
    for (const other of leaves) {
      if (other.startsWith(`${key}.`) || key.startsWith(`${other}.`)) {
        throw new UsageError(`${key} and ${other} overlap; give one of them`, 'config set');
      }
    }
    leaves.add(key);
    const parts = key.split('.');
    let node = body;
    for (const part of parts.slice(0, -1)) {
      const next = node[part];
      if (next === undefined) node[part] = {};
      node = node[part] as Record<string, unknown>;
    }
    node[parts[parts.length - 1] as string] = value;
  }
  return body;
}

/** A setting's value for a table: text as is, anything else as JSON; empty text as "". */
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

/** The answer of a change: `version 8` and one `key: old → new` line per change. */
export function renderConfigWrite(r: ConfigWriteResult): string {
  const head = `version ${r.version}${r.rolledBackTo !== undefined ? ` (rolled back to ${r.rolledBackTo})` : ''}`;
  if (r.changes.length === 0) return `${head}\nno value changed`;
  return [head, ...r.changes.map((c) => `  ${formatChange(c)}`)].join('\n');
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
export async function localConfigSchema(): Promise<ConfigSchemaEntry[]> {
  const { schemaEntries } = await import('../shared/config/index.js');
  return schemaEntries().map((e) => ({
    ...e,
    default: e.sensitive && e.default !== '' ? '***' : e.default,
  }));
}

/** Who makes a change, for the audit trail (X-Actor): CRAWLCTL_ACTOR, else crawlctl:<user>. */
export function configActor(env: NodeJS.ProcessEnv): string {
  const named = env.CRAWLCTL_ACTOR?.trim();
  if (named) return named;
  const user = (env.USER || env.LOGNAME || env.USERNAME || '').trim();
  return user ? `crawlctl:${user}` : 'crawlctl';
}

// ---------------------------------------------------------------------------------------
// HTTP client

function networkCode(err: unknown): string | undefined {
  const cause = (err as { cause?: unknown } | null)?.cause as { code?: unknown; errors?: unknown[] } | undefined;
  if (!cause) return undefined;
  if (typeof cause.code === 'string') return cause.code;
  const first = Array.isArray(cause.errors) ? (cause.errors[0] as { code?: unknown } | undefined) : undefined;
  return typeof first?.code === 'string' ? first.code : undefined;
}

export function unreachableMessage(api: string, code?: string): string {
  if (code === undefined || code === 'ECONNREFUSED') {
    return `cannot reach the API at ${api} (is the controller running? start it with npm start)`;
  }
  return `cannot reach the API at ${api} (${code})`;
}

interface SendOptions {
  body?: unknown;
  signal?: AbortSignal;
  /** ms; 0 = no timeout (streams) */
  timeoutMs?: number;
  accept?: string;
  headers?: Record<string, string>;
}

export class ApiClient {
  readonly base: string;
  constructor(base: string, private readonly token?: string) {
    this.base = base.replace(/\/+$/, '');
  }

  async send(method: string, path: string, opts: SendOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { ...opts.headers, accept: opts.accept ?? 'application/json' };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const timeoutMs = opts.timeoutMs ?? REQUEST_TIMEOUT_MS;
    const signals = [opts.signal, timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined].filter((s): s is AbortSignal => s !== undefined);
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers,
        ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
        ...(signals.length > 0 ? { signal: signals.length === 1 ? signals[0] : AbortSignal.any(signals) } : {}),
      });
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      if ((err as { name?: unknown } | null)?.name === 'TimeoutError') {
        throw new CliError(`the API at ${this.base} did not answer within ${formatDuration(timeoutMs)}`, EXIT.error, true);
      }
      throw new CliError(unreachableMessage(this.base, networkCode(err)), EXIT.error, true);
    }
    if (!res.ok) throw await apiErrorOf(res);
    return res;
  }

  async json<T>(method: string, path: string, opts: SendOptions = {}): Promise<T> {
    const res = await this.send(method, path, opts);
    try {
      return (await res.json()) as T;
    } catch {
      throw new CliError(`the API at ${this.base} answered ${method} ${path} with a body that is not JSON`);
    }
  }

  createSession(body: CreateSessionBody): Promise<Session> {
    return this.json<Session>('POST', '/sessions', { body });
  }

  getSession(id: string, signal?: AbortSignal): Promise<Session> {
    return this.json<Session>('GET', `/sessions/${encodeURIComponent(id)}`, signal ? { signal } : {});
  }

  listSessions(limit?: number, offset?: number): Promise<{ sessions: Session[] }> {
    const q = new URLSearchParams();
    if (limit !== undefined) q.set('limit', String(limit));
    if (offset !== undefined) q.set('offset', String(offset));
    const qs = q.toString();
    return this.json<{ sessions: Session[] }>('GET', `/sessions${qs ? `?${qs}` : ''}`);
  }

  cancelSession(id: string): Promise<Session> {
    return this.json<Session>('DELETE', `/sessions/${encodeURIComponent(id)}`);
  }

  getConfig(): Promise<ConfigView> {
    return this.json<ConfigView>('GET', '/config');
  }

  getConfigKey(key: string): Promise<ConfigSetting & { version: number }> {
    return this.json<ConfigSetting & { version: number }>('GET', `/config/keys/${encodeURIComponent(key)}`);
  }

  configSchema(): Promise<{ settings: ConfigSchemaEntry[] }> {
    return this.json<{ settings: ConfigSchemaEntry[] }>('GET', '/config/schema');
  }

  /** PATCH /config; with expectedVersion, only if the config is still at that version. */
  patchConfig(body: Record<string, unknown>, opts: { expectedVersion?: number; actor?: string } = {}): Promise<ConfigWriteResult> {
    const qs = opts.expectedVersion !== undefined ? `?expectedVersion=${opts.expectedVersion}` : '';
    return this.json<ConfigWriteResult>('PATCH', `/config${qs}`, { body, ...(opts.actor ? { headers: { 'x-actor': opts.actor } } : {}) });
  }

  configHistory(limit?: number): Promise<{ history: ConfigHistoryEntry[] }> {
    return this.json<{ history: ConfigHistoryEntry[] }>('GET', `/config/history${limit !== undefined ? `?limit=${limit}` : ''}`);
  }

  rollbackConfig(version: number, opts: { expectedVersion?: number; actor?: string } = {}): Promise<ConfigWriteResult> {
    const qs = opts.expectedVersion !== undefined ? `?expectedVersion=${opts.expectedVersion}` : '';
    return this.json<ConfigWriteResult>('POST', `/config/rollback${qs}`, { body: { version }, ...(opts.actor ? { headers: { 'x-actor': opts.actor } } : {}) });
  }

  /** The NDJSON results stream (not buffered). */
  async results(id: string): Promise<Readable> {
    const res = await this.send('GET', `/sessions/${encodeURIComponent(id)}/results`, { accept: 'application/x-ndjson', timeoutMs: 0 });
    if (!res.body) return Readable.from([]);
    return Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>);
  }
}

async function apiErrorOf(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (parsed.error && typeof parsed.error.code === 'string') {
      return new ApiError(res.status, parsed.error.code, typeof parsed.error.message === 'string' ? parsed.error.message : res.statusText);
    }
  } catch {
    // not JSON: fall through
  }
  const snippet = text.replace(/\s+/g, ' ').trim().slice(0, 200);
  return new ApiError(res.status, `http_${res.status}`, snippet || res.statusText || 'request failed');
}

// ---------------------------------------------------------------------------------------
// Command table

interface OptionDef {
  type: 'string' | 'boolean';
  multiple?: boolean;
  short?: string;
  /** placeholder in help, e.g. N */
  arg?: string;
  help: string;
}

export interface CommandContext {
  command: string;
  values: OptionValues;
  positionals: string[];
  json: boolean;
  api: ApiClient;
  out(text: string): void;
  err(text: string): void;
  io: ResolvedIO;
}

export interface CommandDef {
  /** after `crawlctl `, e.g. `crawl <url...> [options]` */
  usage: string;
  summary: string;
  options: Record<string, OptionDef>;
  /** positional arguments: [min, max] and the message when there are too few */
  args: { min: number; max: number; missing: string };
  /** does not talk to the API (help) */
  local?: boolean;
  run(ctx: CommandContext): Promise<number>;
}

const GLOBAL_OPTIONS: Record<string, OptionDef> = {
  api: { type: 'string', arg: 'URL', help: `controller API base URL (env CRAWLFLEET_API, default ${DEFAULT_API})` },
  token: { type: 'string', arg: 'T', help: 'bearer token (env CRAWLFLEET_TOKEN or API_TOKEN)' },
  json: { type: 'boolean', help: 'machine-readable output' },
  help: { type: 'boolean', short: 'h', help: 'show help' },
};

const ID_ARG = (cmd: string): CommandDef['args'] => ({ min: 1, max: 1, missing: `${cmd} needs a session id` });

const WAIT_OPTIONS: Record<string, OptionDef> = {
  wait: { type: 'boolean', help: 'follow the session to its end, then save its results' },
  output: { type: 'string', arg: 'FILE', help: 'with --wait: where to save the results (default ./<id>.jsonl)' },
};

export const COMMANDS: Record<string, CommandDef> = {
  crawl: {
    usage: 'crawl <url...> [options]',
    summary: 'start a crawl session; prints its id (--wait follows it to the end)',
    args: { min: 1, max: Infinity, missing: 'crawl needs at least one URL' },
    options: {
      'max-pages': { type: 'string', arg: 'N', help: 'stop after N pages' },
      'max-depth': { type: 'string', arg: 'N', help: 'follow links at most N hops from a seed' },
      'timeout-ms': { type: 'string', arg: 'N', help: 'session deadline in milliseconds' },
      'allow-host': { type: 'string', multiple: true, arg: 'H', help: 'crawl this host (repeatable; default: the seeds\' hosts)' },
      include: { type: 'string', multiple: true, arg: 'RE', help: 'only URLs matching this regex (repeatable)' },
      exclude: { type: 'string', multiple: true, arg: 'RE', help: 'skip URLs matching this regex (repeatable)' },
      field: { type: 'string', multiple: true, arg: 'name=selector', help: 'extract a field by CSS selector (repeatable)' },
      webhook: { type: 'string', arg: 'URL', help: 'notify this URL when the session ends' },
      label: { type: 'string', arg: 'L', help: 'a label for the session' },
      sitemaps: { type: 'boolean', help: 'also seed from the sitemaps of the seeds\' sites (robots.txt, /sitemap.xml)' },
      ...WAIT_OPTIONS,
    },
    run: runCrawl,
  },
  status: {
    usage: 'status <id> [--wait] [--output FILE]',
    summary: 'show a session (--wait follows it to the end)',
    args: ID_ARG('status'),
    options: { ...WAIT_OPTIONS },
    run: runStatus,
  },
  results: {
    usage: 'results <id> [--output FILE]',
    summary: 'stream a session\'s results (NDJSON) to stdout or a file',
    args: ID_ARG('results'),
    options: { output: { type: 'string', arg: 'FILE', help: 'write to FILE instead of stdout' } },
    run: runResults,
  },
  cancel: {
    usage: 'cancel <id>',
    summary: 'cancel a running session',
    args: ID_ARG('cancel'),
    options: {},
    run: runCancel,
  },
  list: {
    usage: 'list [--limit N] [--offset N]',
    summary: 'list sessions, newest first',
    args: { min: 0, max: 0, missing: '' },
    options: {
      limit: { type: 'string', arg: 'N', help: 'at most N sessions (default 50)' },
      offset: { type: 'string', arg: 'N', help: 'skip the first N sessions' },
    },
    run: runList,
  },
  'config get': {
    usage: 'config get [key]',
    summary: 'show the effective configuration (key, value, origin), or one setting',
    args: { min: 0, max: 1, missing: '' },
    options: {},
    run: runConfigGet,
  },
  'config set': {
    usage: 'config set <key=value...> [--expected-version N]',
    summary: 'change live settings (values are JSON when they parse, else text; null removes an override)',
    args: { min: 1, max: Infinity, missing: 'config set needs at least one key=value' },
    options: {
      'expected-version': { type: 'string', arg: 'N', help: 'only if the configuration is still at version N' },
    },
    run: runConfigSet,
  },
  'config history': {
    usage: 'config history [--limit N]',
    summary: 'list configuration changes, newest first',
    args: { min: 0, max: 0, missing: '' },
    options: { limit: { type: 'string', arg: 'N', help: 'at most N entries (default 50)' } },
    run: runConfigHistory,
  },
  'config rollback': {
    usage: 'config rollback <version> [--expected-version N]',
    summary: 'make the live overrides of an earlier version current again (as a new version)',
    args: { min: 1, max: 1, missing: 'config rollback needs a version' },
    options: {
      'expected-version': { type: 'string', arg: 'N', help: 'only if the configuration is still at version N' },
    },
    run: runConfigRollback,
  },
  'config schema': {
    usage: 'config schema',
    summary: 'list every setting: key, environment variable, default, live or not, doc (works offline)',
    args: { min: 0, max: 0, missing: '' },
    options: {},
    run: runConfigSchema,
  },
  help: {
    usage: 'help [command]',
    summary: 'show help for a command',
    args: { min: 0, max: 2, missing: '' },
    options: {},
    local: true,
    run: (ctx) => {
      const name = ctx.positionals.join(' ');
      if (!name) {
        ctx.out(globalUsage());
        return Promise.resolve(EXIT.ok);
      }
      const def = COMMANDS[name];
      if (!def) throw new UsageError(`unknown command ${JSON.stringify(name)}`);
      ctx.out(commandUsage(def));
      return Promise.resolve(EXIT.ok);
    },
  },
};

function optionLines(options: Record<string, OptionDef>): string[] {
  const rows = Object.entries(options).map(([name, o]) => {
    const flagText = `${o.short ? `-${o.short}, ` : ''}--${name}${o.arg ? ` ${o.arg}` : ''}`;
    return [flagText, o.help] as const;
  });
  const width = Math.max(0, ...rows.map(([f]) => f.length));
  return rows.map(([f, h]) => `  ${f.padEnd(width)}  ${h}`);
}

export function globalUsage(): string {
  const names = Object.keys(COMMANDS);
  const width = Math.max(...names.map((n) => COMMANDS[n]?.usage.split(' [')[0]?.length ?? 0));
  return [
    'usage: crawlctl [--api URL] [--token T] [--json] <command> [options]',
    '',
    'commands:',
    ...names.map((n) => {
      const def = COMMANDS[n] as CommandDef;
      return `  ${(def.usage.split(' [')[0] ?? n).padEnd(width)}  ${def.summary}`;
    }),
    '',
    'global options:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    'exit codes: 0 ok/completed, 1 error, 2 bad usage, 3 partial, 4 cancelled/closed, 130 interrupted',
  ].join('\n');
}

export function commandUsage(def: CommandDef): string {
  const lines = [`usage: crawlctl ${def.usage}`, '', def.summary];
  if (Object.keys(def.options).length > 0) lines.push('', 'options:', ...optionLines(def.options));
  lines.push('', 'global options:', ...optionLines(GLOBAL_OPTIONS));
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------
// Command-line parsing

export interface ParsedCommandLine {
  /** null when no command was given */
  command: string | null;
  values: OptionValues;
  positionals: string[];
}

/** Options of the global table that take a value, to skip them when looking for the command. */
function takesValue(token: string): boolean {
  if (!token.startsWith('--') || token.includes('=')) return false;
  return GLOBAL_OPTIONS[token.slice(2)]?.type === 'string';
}

function parseArgsMessage(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(err);
  const opt = /'(-{1,2}[^' <]+)/.exec(message)?.[1];
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${opt ?? message}`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return message.replace(/^Unexpected argument/, 'unexpected argument');
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (opt && /argument missing|ambiguous/.test(message)) return `${opt} needs a value`;
      if (opt && /does not take an argument/.test(message)) return `${opt} does not take a value`;
      return message;
    default:
      return message;
  }
}

/**
 * argv → command name (one entry of COMMANDS, possibly two words such as "config get"),
 * option values (global and the command's) and positional arguments. Global options may
 * come before or after the command. Throws UsageError.
 */
export function parseCommandLine(argv: readonly string[], commands: Record<string, CommandDef> = COMMANDS): ParsedCommandLine {
  let i = 0;
  while (i < argv.length) {
    const t = argv[i] as string;
    if (t === '--' || !t.startsWith('-') || t === '-') break;
    i += takesValue(t) ? 2 : 1;
  }
  const toParse = (args: string[], options: Record<string, OptionDef>, command?: string): { values: OptionValues; positionals: string[] } => {
    const config = Object.fromEntries(Object.entries(options).map(([k, o]) => [k, {
      type: o.type,
      ...(o.multiple ? { multiple: true } : {}),
      ...(o.short ? { short: o.short } : {}),
    }]));
    try {
      const r = parseArgs({ args, options: config, strict: true, allowPositionals: true });
      return { values: r.values as OptionValues, positionals: r.positionals };
    } catch (err) {
      throw new UsageError(parseArgsMessage(err), command);
    }
  };
  const first = argv[i];
  if (first === undefined || first === '--') {
    const { values } = toParse(argv.slice(0, i), GLOBAL_OPTIONS);
    return { command: null, values, positionals: [] };
  }
  const second = argv[i + 1];
  let name: string;
  let width = 1;
  if (second !== undefined && commands[`${first} ${second}`]) {
    name = `${first} ${second}`;
    width = 2;
  } else if (commands[first]) {
    name = first;
  } else {
    const family = Object.keys(commands).filter((k) => k.startsWith(`${first} `)).map((k) => k.slice(first.length + 1));
    if (family.length > 0) {
      const what = second === undefined || second.startsWith('-') ? 'needs a subcommand' : `has no subcommand ${JSON.stringify(second)}`;
      throw new UsageError(`${first} ${what} (${family.join('|')})`);
    }
    throw new UsageError(`unknown command ${JSON.stringify(first)}`);
  }
  const def = commands[name] as CommandDef;
  const rest = [...argv.slice(0, i), ...argv.slice(i + width)];
  const { values, positionals } = toParse(rest, { ...GLOBAL_OPTIONS, ...def.options }, name);
  return { command: name, values, positionals };
}

// ---------------------------------------------------------------------------------------
// main

interface ResolvedIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  isTTY: boolean;
  pollMs: number;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  columns?: number;
  now: () => number;
}

function resolveIO(io?: CliIO): ResolvedIO {
  const env = io?.env ?? process.env;
  const stderr = io?.stderr ?? process.stderr;
  const envPoll = Number(env.CRAWLCTL_POLL_MS);
  const columns = io?.columns ?? (stderr as { columns?: unknown }).columns;
  return {
    stdout: io?.stdout ?? process.stdout,
    stderr,
    isTTY: io?.isTTY ?? (stderr as { isTTY?: unknown }).isTTY === true,
    pollMs: io?.pollMs ?? (Number.isFinite(envPoll) && envPoll > 0 ? envPoll : DEFAULT_POLL_MS),
    env,
    ...(io?.signal ? { signal: io.signal } : {}),
    ...(typeof columns === 'number' && columns > 0 ? { columns } : {}),
    now: io?.now ?? Date.now,
  };
}

function resolveApi(values: OptionValues, env: NodeJS.ProcessEnv): string {
  const fromFlag = str(values, 'api');
  const raw = fromFlag ?? (env.CRAWLFLEET_API || DEFAULT_API);
  let url: URL | null = null;
  try {
    url = new URL(raw);
  } catch {
    url = null;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new UsageError(`${fromFlag !== undefined ? '--api' : 'CRAWLFLEET_API'} must be an http(s) URL, got ${JSON.stringify(raw)}`);
  }
  return raw.replace(/\/+$/, '');
}

/** Runs crawlctl with `argv` (without node and script); returns the exit code. */
export async function main(argv: string[], io?: CliIO): Promise<number> {
  const rio = resolveIO(io);
  const write = (stream: NodeJS.WritableStream) => (text: string): void => {
    stream.write(text.endsWith('\n') ? text : `${text}\n`);
  };
  const out = write(rio.stdout);
  const err = write(rio.stderr);
  let parsed: ParsedCommandLine | null = null;
  try {
    parsed = parseCommandLine(argv);
    if (parsed.command === null) {
      if (flag(parsed.values, 'help')) {
        out(globalUsage());
        return EXIT.ok;
      }
      throw new UsageError('missing command');
    }
    const def = COMMANDS[parsed.command] as CommandDef;
    if (flag(parsed.values, 'help')) {
      out(commandUsage(def));
      return EXIT.ok;
    }
    if (parsed.positionals.length < def.args.min) throw new UsageError(def.args.missing, parsed.command);
    if (parsed.positionals.length > def.args.max) {
      throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[def.args.max])}`, parsed.command);
    }
    const api = def.local ? new ApiClient(DEFAULT_API) : new ApiClient(resolveApi(parsed.values, rio.env), resolveToken(parsed.values, rio.env));
    return await def.run({
      command: parsed.command,
      values: parsed.values,
      positionals: parsed.positionals,
      json: flag(parsed.values, 'json'),
      api,
      out,
      err,
      io: rio,
    });
  } catch (e) {
    if (e instanceof UsageError) {
      const name = e.command ?? parsed?.command ?? undefined;
      const def = name ? COMMANDS[name] : undefined;
      err(`crawlctl: ${e.message}\n\n${def ? commandUsage(def) : globalUsage()}`);
      return EXIT.usage;
    }
    if (e instanceof CliError) {
      err(`crawlctl: ${e.message}`);
      return e.exitCode;
    }
    err(`crawlctl: ${e instanceof Error ? e.message : String(e)}`);
    return EXIT.error;
  }
}

function resolveToken(values: OptionValues, env: NodeJS.ProcessEnv): string | undefined {
  const t = str(values, 'token') ?? (env.CRAWLFLEET_TOKEN || env.API_TOKEN);
  return t ? t : undefined;
}

// ---------------------------------------------------------------------------------------
// Commands

async function checkWritableDir(path: string): Promise<void> {
  try {
    await access(dirname(path), fsConstants.W_OK);
  } catch {
    throw new CliError(`cannot write ${path}: directory ${dirname(path)} does not exist or is not writable`);
  }
}

/** --output of a waiting command: validated up front so a long follow does not end in a write error. */
async function waitOutput(ctx: CommandContext): Promise<string | undefined> {
  const output = str(ctx.values, 'output');
  if (output === undefined) return undefined;
  if (!flag(ctx.values, 'wait')) throw new UsageError('--output only applies with --wait', ctx.command);
  if (output === '') throw new UsageError('--output needs a file name', ctx.command);
  await checkWritableDir(output);
  return output;
}

async function runCrawl(ctx: CommandContext): Promise<number> {
  const body = buildCrawlBody(ctx.positionals, ctx.values);
  const output = await waitOutput(ctx);
  const session = await ctx.api.createSession(body);
  if (!flag(ctx.values, 'wait')) {
    ctx.out(ctx.json ? JSON.stringify(session) : session.id);
    return EXIT.ok;
  }
  if (!ctx.json) ctx.out(session.id);
  return followAndSave(ctx, session, output);
}

async function runStatus(ctx: CommandContext): Promise<number> {
  const id = ctx.positionals[0] as string;
  const output = await waitOutput(ctx);
  const session = await ctx.api.getSession(id);
  if (!flag(ctx.values, 'wait')) {
    ctx.out(ctx.json ? JSON.stringify(session) : renderSession(session));
    return EXIT.ok;
  }
  return followAndSave(ctx, session, output);
}

async function runResults(ctx: CommandContext): Promise<number> {
  const id = ctx.positionals[0] as string;
  const output = str(ctx.values, 'output');
  if (output !== undefined) {
    if (output === '') throw new UsageError('--output needs a file name', ctx.command);
    await checkWritableDir(output);
    const r = await saveResults(ctx.api, id, output);
    ctx.out(ctx.json ? JSON.stringify({ id, output, ...r }) : `${output} (${r.records} records)`);
    return EXIT.ok;
  }
  const stream = await ctx.api.results(id);
  try {
    for await (const chunk of stream) {
      if (!ctx.io.stdout.write(chunk as Buffer)) await once(ctx.io.stdout, 'drain');
    }
  } catch (err) {
    throw new CliError(`results stream interrupted: ${(err as Error).message}`);
  }
  return EXIT.ok;
}

async function runCancel(ctx: CommandContext): Promise<number> {
  const id = ctx.positionals[0] as string;
  const session = await ctx.api.cancelSession(id);
  ctx.out(ctx.json ? JSON.stringify(session) : `${session.id} ${session.status}`);
  return EXIT.ok;
}

async function runList(ctx: CommandContext): Promise<number> {
  const limitRaw = str(ctx.values, 'limit');
  const offsetRaw = str(ctx.values, 'offset');
  const limit = limitRaw === undefined ? undefined : parsePositiveInt('--limit', limitRaw);
  const offset = offsetRaw === undefined ? undefined : parseNonNegativeInt('--offset', offsetRaw);
  const r = await ctx.api.listSessions(limit, offset);
  ctx.out(ctx.json ? JSON.stringify(r) : renderSessionList(r.sessions ?? []));
  return EXIT.ok;
}

function expectedVersionOf(ctx: CommandContext): number | undefined {
  const raw = str(ctx.values, 'expected-version');
  return raw === undefined ? undefined : parseNonNegativeInt('--expected-version', raw);
}

/** A refused compare-and-set says what to do next; other errors pass through. */
function explainConflict(err: unknown, expected: number | undefined): never {
  if (err instanceof ApiError && err.status === 409) {
    const hint = expected !== undefined
      ? `the configuration changed since version ${expected}; review it with crawlctl config get (or config history) and retry with the current version`
      : 'the configuration changed meanwhile; retry';
    throw new CliError(`conflict: ${err.apiMessage}; ${hint}`);
  }
  throw err;
}

async function runConfigGet(ctx: CommandContext): Promise<number> {
  const key = ctx.positionals[0];
  if (key !== undefined) {
    const one = await ctx.api.getConfigKey(key);
    ctx.out(ctx.json ? JSON.stringify(one) : renderConfig({ version: one.version, updatedAt: null, updatedBy: null }, [one]));
    return EXIT.ok;
  }
  const view = await ctx.api.getConfig();
  ctx.out(ctx.json ? JSON.stringify(view) : renderConfig(view, view.settings ?? []));
  return EXIT.ok;
}

async function runConfigSet(ctx: CommandContext): Promise<number> {
  const body = buildConfigPatch(ctx.positionals);
  const expectedVersion = expectedVersionOf(ctx);
  const r = await ctx.api.patchConfig(body, { ...(expectedVersion !== undefined ? { expectedVersion } : {}), actor: configActor(ctx.io.env) })
    .catch((err: unknown) => explainConflict(err, expectedVersion));
  ctx.out(ctx.json ? JSON.stringify(r) : renderConfigWrite(r));
  return EXIT.ok;
}

async function runConfigHistory(ctx: CommandContext): Promise<number> {
  const raw = str(ctx.values, 'limit');
  const limit = raw === undefined ? undefined : parsePositiveInt('--limit', raw);
  const r = await ctx.api.configHistory(limit);
  ctx.out(ctx.json ? JSON.stringify(r) : renderConfigHistory(r.history ?? []));
  return EXIT.ok;
}

async function runConfigRollback(ctx: CommandContext): Promise<number> {
  const version = parseNonNegativeInt('version', ctx.positionals[0] as string);
  const expectedVersion = expectedVersionOf(ctx);
  const r = await ctx.api.rollbackConfig(version, { ...(expectedVersion !== undefined ? { expectedVersion } : {}), actor: configActor(ctx.io.env) })
    .catch((err: unknown) => explainConflict(err, expectedVersion));
  ctx.out(ctx.json ? JSON.stringify(r) : renderConfigWrite({ ...r, rolledBackTo: r.rolledBackTo ?? version }));
  return EXIT.ok;
}

async function runConfigSchema(ctx: CommandContext): Promise<number> {
  let settings: ConfigSchemaEntry[];
  let source: 'api' | 'local';
  try {
    settings = (await ctx.api.configSchema()).settings;
    if (!Array.isArray(settings)) throw new CliError(`the API at ${ctx.api.base} answered GET /config/schema without settings`);
    source = 'api';
  } catch (err) {
    if (ctx.io.signal?.aborted) throw err;
    settings = await localConfigSchema();
    source = 'local';
    ctx.err(`crawlctl: ${err instanceof Error ? err.message : String(err)}; showing the schema of this crawlctl build`);
  }
  ctx.out(ctx.json ? JSON.stringify({ source, settings }) : renderConfigSchema(settings));
  return EXIT.ok;
}

// ---------------------------------------------------------------------------------------
// Following a session, saving results

/** Counts newline-terminated records while passing bytes through. */
class RecordCounter extends Transform {
  records = 0;
  bytes = 0;
  private lastByte = 0x0a;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) this.records++;
    if (chunk.length > 0) this.lastByte = chunk[chunk.length - 1] as number;
    this.bytes += chunk.length;
    cb(null, chunk);
  }

  /** records including an unterminated last line */
  total(): number {
    return this.records + (this.bytes > 0 && this.lastByte !== 0x0a ? 1 : 0);
  }
}

/** Streams GET /sessions/:id/results into `path`. */
export async function saveResults(api: ApiClient, id: string, path: string): Promise<{ records: number; bytes: number }> {
  const source = await api.results(id);
  const counter = new RecordCounter();
  try {
    await pipeline(source, counter, createWriteStream(path));
  } catch (err) {
    throw new CliError(`saving results to ${path} failed after ${counter.bytes} bytes: ${(err as Error).message}`);
  }
  return { records: counter.total(), bytes: counter.bytes };
}

const CLEAR_EOL = '\x1b[K';

class ProgressView {
  private lastPlain = -Infinity;
  private drawn = false;
  private readonly meter = new RateMeter();

  constructor(private readonly io: ResolvedIO) {}

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

type FollowResult = { kind: 'final'; session: Session } | { kind: 'interrupted'; session: Session };

/** Polls GET /sessions/:id until a final status, showing progress; Ctrl-C (or io.signal) stops following. */
async function follow(ctx: CommandContext, initial: Session): Promise<FollowResult> {
  const stop = new AbortController();
  const onSigint = (): void => stop.abort();
  process.once('SIGINT', onSigint);
  const signal = ctx.io.signal ? AbortSignal.any([stop.signal, ctx.io.signal]) : stop.signal;
  const view = new ProgressView(ctx.io);
  let session = initial;
  let failingSince: number | null = null;
  try {
    for (;;) {
      view.update(session);
      if (FINAL_STATUSES.has(session.status)) return { kind: 'final', session };
      if (signal.aborted) return { kind: 'interrupted', session };
      try {
        await delay(ctx.io.pollMs, undefined, { signal });
        session = await ctx.api.getSession(session.id, signal);
        failingSince = null;
      } catch (err) {
        if (signal.aborted) return { kind: 'interrupted', session };
        // A controller restart or a proxy hiccup should not end a long follow.
        if (!(err instanceof CliError) || !err.transient) throw err;
        failingSince ??= ctx.io.now();
        if (ctx.io.now() - failingSince > FOLLOW_GRACE_MS) throw err;
      }
    }
  } finally {
    view.finish();
    process.removeListener('SIGINT', onSigint);
  }
}

async function followAndSave(ctx: CommandContext, initial: Session, outputOpt: string | undefined): Promise<number> {
  const r = await follow(ctx, initial);
  const s = r.session;
  if (r.kind === 'interrupted') {
    const output = outputOpt ? ` --output ${outputOpt}` : '';
    ctx.err(`stopped following session ${s.id} (it keeps running); resume with: crawlctl status ${s.id} --wait${output}`);
    return EXIT.interrupted;
  }
  const elapsedMs = sessionElapsedMs(s, ctx.io.now());
  const avg = averageRate(s, elapsedMs);
  const output = outputOpt ?? `./${s.id}.jsonl`;
  if (!ctx.json) {
    ctx.out(renderKeyValues([
      ['status', s.status],
      ['counts', renderCounts(s.counts)],
      ['elapsed', `${elapsedMs === null ? '-' : formatDuration(elapsedMs)} (${avg === null ? '--' : avg.toFixed(1)} pages/s average)`],
    ]));
  }
  const saved = await saveResults(ctx.api, s.id, output);
  if (ctx.json) {
    ctx.out(JSON.stringify({ session: s, elapsedMs, pagesPerSecond: avg, output, records: saved.records, bytes: saved.bytes }));
  } else {
    ctx.out(renderKeyValues([['results', `${output} (${saved.records} records)`]]));
  }
  return exitCodeForStatus(s.status);
}
