/**
 * crawlctl's client of the controller API: the wire types (taken from shared/tasks and
 * shared/config, type-only: the CLI links no service code), the errors a command ends with
 * (each carrying its exit code), and ApiClient, one method per route.
 */
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { AuditEntry, LiveState } from '../shared/config/center.js';
import type { Origin, SchemaEntry } from '../shared/config/index.js';
import type { ReplicaView, Rollout } from '../shared/service/heartbeat.js';
import { redactSession } from '../shared/observability/redact.js';
import type { ResultRecord, SessionCounts, SessionRequest, SessionSpec, SessionStatus, SessionView } from '../shared/tasks/types.js';

// ---------------------------------------------------------------------------------------
// Wire types

export type { SessionCounts, SessionStatus } from '../shared/tasks/types.js';
export type { ReplicaView, Rollout } from '../shared/service/heartbeat.js';

/**
 * A session as GET /sessions/:id answers it (shared SessionView), read leniently: a field an
 * older or newer controller leaves out or widens does not break the CLI. The extras are what
 * the controller adds to SessionView.
 */
/** A schedule as GET /schedules answers it. */
export interface ScheduleView {
  id: string;
  every?: string;
  cron?: string;
  createdAt: string;
  nextRunAt: string | null;
  session: CreateSessionBody;
  runs: { at: string; sessionId: string | null; error: string | null }[];
}

export interface Session {
  id: SessionView['id'];
  status: SessionStatus | string;
  createdAt: SessionView['createdAt'] | null;
  deadlineAt: SessionView['deadlineAt'] | null;
  finishedAt: SessionView['finishedAt'];
  counts: Partial<SessionCounts>;
  /** Links refused by a spider-trap rule, by reason. */
  traps?: SessionView['traps'];
  spec?: Partial<SessionSpec>;
  resultsFile?: SessionView['resultsFile'];
  limited?: number;
  retries?: number;
  partialAt?: string | null;
  handedOverAt?: string | null;
  /** Seeds whose task ended without a fetched page (when the controller reports it). */
  seedsFailed?: number;
}

/** The answer of DELETE /sessions/:id?purge=true. */
export interface PurgeResult {
  id: string;
  purged: boolean;
  /** Redis keys removed. */
  keys: number;
}

/** One page of GET /sessions/:id/results. */
export interface ResultsPageQuery {
  /** Records in the page, at most (the API takes 1..100000). */
  limit: number;
  /** The cursor of the previous page (its X-Next-Cursor); from the first record when null. */
  after: string | null;
  outcome?: string;
  /** Only these keys of each record. */
  fields?: readonly string[];
}

/** Body of POST /sessions. */
export type CreateSessionBody = SessionRequest;

/** One effective setting of GET /config. */
export interface ConfigSetting {
  key: string;
  value: unknown;
  origin: Origin | string;
}

/** GET /config: the live state (shared/config/center LiveState, times as ISO text) and the settings. */
export interface ConfigView {
  version: LiveState['version'];
  updatedAt: string | null;
  updatedBy: LiveState['updatedBy'];
  values?: Record<string, unknown>;
  settings: ConfigSetting[];
  overrides?: LiveState['overrides'];
}

/** One changed setting of a config write (shared/config/center AuditEntry). */
export type ConfigChange = AuditEntry['changes'][number];

/** PATCH /config and POST /config/rollback. */
export interface ConfigWriteResult {
  version: number;
  changes: ConfigChange[];
  rolledBackTo?: number;
  /** The rollout measured right after the write (absent from controllers without replica heartbeats). */
  rollout?: Rollout;
}

/** One entry of GET /config/history: shared/config/center AuditEntry with `at` as ISO text. */
export type ConfigHistoryEntry = Omit<AuditEntry, 'at' | 'overrides'> & { at: string; overrides?: AuditEntry['overrides'] };

/** One entry of GET /config/schema (shared/config SchemaEntry; `sensitive` may be absent). */
export type ConfigSchemaEntry = Omit<SchemaEntry, 'sensitive'> & { sensitive?: boolean };

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
/** JSON requests give up after this long. */
export const REQUEST_TIMEOUT_MS = 30_000;

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
        throw new CliError(`the API at ${this.base} did not answer within ${(timeoutMs / 1000).toFixed(1)}s`, EXIT.error, true);
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

  /**
   * A session as the API answered it, its secrets (header and cookie values) shown as `***`
   * whatever the controller did: everything crawlctl prints of a session comes through here.
   */
  private async session(method: string, path: string, opts: SendOptions = {}): Promise<Session> {
    return redactSession(await this.json<Session>(method, path, opts));
  }

  createSession(body: CreateSessionBody): Promise<Session> {
    return this.session('POST', '/sessions', { body });
  }

  getSession(id: string, signal?: AbortSignal): Promise<Session> {
    return this.session('GET', `/sessions/${encodeURIComponent(id)}`, signal ? { signal } : {});
  }

  async listSessions(limit?: number, offset?: number): Promise<{ sessions: Session[] }> {
    const q = new URLSearchParams();
    if (limit !== undefined) q.set('limit', String(limit));
    if (offset !== undefined) q.set('offset', String(offset));
    const qs = q.toString();
    const page = await this.json<{ sessions: Session[] }>('GET', `/sessions${qs ? `?${qs}` : ''}`);
    return { ...page, sessions: page.sessions.map(redactSession) };
  }

  cancelSession(id: string): Promise<Session> {
    return this.session('DELETE', `/sessions/${encodeURIComponent(id)}`);
  }

  pauseSession(id: string): Promise<Session> {
    return this.session('POST', `/sessions/${encodeURIComponent(id)}/pause`);
  }

  resumeSession(id: string): Promise<Session> {
    return this.session('POST', `/sessions/${encodeURIComponent(id)}/resume`);
  }

  /** Removes a finished or cancelled session: its keys, records and results file. */
  purgeSession(id: string): Promise<PurgeResult> {
    return this.json<PurgeResult>('DELETE', `/sessions/${encodeURIComponent(id)}?purge=true`);
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

  /**
   * One page of the session's records as NDJSON (not buffered), and the cursor of the next
   * page (X-Next-Cursor), null when there is nothing more now.
   */
  async resultsPage(id: string, q: ResultsPageQuery): Promise<{ body: Readable; next: string | null }> {
    const qs = new URLSearchParams({ limit: String(q.limit) });
    if (q.after !== null) qs.set('after', q.after);
    if (q.outcome !== undefined) qs.set('outcome', q.outcome);
    if (q.fields !== undefined) qs.set('fields', q.fields.join(','));
    const res = await this.send('GET', `/sessions/${encodeURIComponent(id)}/results?${qs.toString()}`, { accept: 'application/x-ndjson', timeoutMs: 0 });
    const next = res.headers.get('x-next-cursor');
    return {
      body: res.body ? Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>) : Readable.from([]),
      next: next === null || next === '' ? null : next,
    };
  }

  /** The record of one URL of the session (GET /sessions/:id/page?url=); 404 when the session has none. */
  page(id: string, url: string): Promise<ResultRecord> {
    return this.json<ResultRecord>('GET', `/sessions/${encodeURIComponent(id)}/page?url=${encodeURIComponent(url)}`);
  }

  /** GET /urls?url=: the crawl index's last fetch of a URL by any session; 404 when never fetched. */
  urlEntry(url: string): Promise<Record<string, unknown>> {
    return this.json<Record<string, unknown>>('GET', `/urls?url=${encodeURIComponent(url)}`);
  }

  /** POST /schedules. */
  createSchedule(body: { every?: string; cron?: string; session: CreateSessionBody }): Promise<ScheduleView> {
    return this.json<ScheduleView>('POST', '/schedules', { body });
  }

  listSchedules(): Promise<{ schedules: ScheduleView[] }> {
    return this.json<{ schedules: ScheduleView[] }>('GET', '/schedules');
  }

  deleteSchedule(id: string): Promise<{ id: string; deleted: boolean }> {
    return this.json<{ id: string; deleted: boolean }>('DELETE', `/schedules/${encodeURIComponent(id)}`);
  }

  /** GET /replicas, optionally of one service. */
  replicas(service?: string): Promise<{ replicas: ReplicaView[] }> {
    return this.json<{ replicas: ReplicaView[] }>('GET', `/replicas${service !== undefined ? `?service=${encodeURIComponent(service)}` : ''}`);
  }

  /** GET /config/rollout: how many live replicas run `version` (default the current one). */
  configRollout(version?: number): Promise<Rollout> {
    return this.json<Rollout>('GET', `/config/rollout${version !== undefined ? `?version=${version}` : ''}`);
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

