/**
 * The console's client of the controller API. Pure apart from the `fetch` it is given: no
 * DOM, no storage, so the unit tests run it in Node against a recording fetch
 * (test/unit/console/api.test.ts). The token comes from `token()` on every call and travels
 * only in the Authorization header, never in a URL.
 *
 * Errors are the API's: `{ error: { code, message } }` becomes an ApiError with the HTTP
 * status, the catalogue code, the message as the API wrote it, and the field the message
 * names (`body/maxPages must be <= 100000` → `maxPages`; `rate.global: must be …` →
 * `rate.global`), so a form can show the message beside that field.
 */

/** The part of a fetch Response the client reads. */
export interface HttpAnswer {
  status: number;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
}

export interface HttpCall {
  method: string;
  headers: Record<string, string>;
  body?: string;
}

export type FetchFn = (url: string, init: HttpCall) => Promise<HttpAnswer>;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The request field or setting the message names, or null. */
    readonly field: string | null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/**
 * The field an API message names: the first segment after `body/` or `querystring/`, the
 * property of an "additional properties" or "required property" refusal, or a dotted config key
 * at the start of the message. Null when it names none.
 */
export function fieldOfMessage(message: string): string | null {
  const part = /^(?:body|querystring)\/([A-Za-z][A-Za-z0-9]*)/.exec(message);
  if (part) return part[1] ?? null;
  const extra = /^(?:body|querystring) must NOT have additional properties \(([^)]+)\)/.exec(message);
  if (extra) return extra[1] ?? null;
  const required = /^(?:body|querystring) must have required property '([^']+)'/.exec(message);
  if (required) return required[1] ?? null;
  const key = /^([a-z][A-Za-z0-9]*(?:\.[A-Za-z0-9]+)+):/.exec(message);
  if (key) return key[1] ?? null;
  return null;
}

/** The ApiError of a refusal (any status >= 400), from its body when it has the API's shape. */
export function errorOf(status: number, text: string): ApiError {
  let code = status === 401 ? 'unauthorized' : 'http_error';
  let message = text.trim() || `HTTP ${status}`;
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (body.error && typeof body.error.message === 'string') {
      message = body.error.message;
      if (typeof body.error.code === 'string') code = body.error.code;
    }
  } catch {
    /* not JSON: keep the text */
  }
  return new ApiError(status, code, message, fieldOfMessage(message));
}

/** NDJSON text → its records (blank lines skipped). */
export function parseNdjson<T = Record<string, unknown>>(text: string): T[] {
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as T);
}

export type SessionStatus = 'running' | 'paused' | 'completed' | 'partial' | 'cancelled' | 'closed';

export interface SessionCounts {
  admitted: number;
  fetched: number;
  delivered: number;
  failed: number;
  skipped: number;
  cancelled: number;
  supplements: number;
}

export interface Session {
  id: string;
  status: SessionStatus;
  createdAt: string;
  deadlineAt: string;
  finishedAt: string | null;
  counts: SessionCounts;
  seedsFailed: number;
  traps: Record<string, number>;
  limited?: unknown;
  spec: { seeds: string[]; label: string | null; maxPages: number; maxDepth: number; timeoutMs: number; formats?: string[] } & Record<string, unknown>;
}

export interface ReasonCounts {
  total: number;
  reasons: Record<string, number>;
}

export interface Outcomes {
  id: string;
  delivered: number;
  failed: ReasonCounts;
  skipped: ReasonCounts;
  cancelled: ReasonCounts;
}

/** What the session page lists of a record (`fields=` of GET /sessions/:id/results). */
export interface ResultLine {
  url: string;
  title?: string | null;
  outcome?: string;
  reason?: string | null;
  status?: number | null;
  markdown?: string;
}

export interface ResultsPage {
  records: ResultLine[];
  /** The cursor after this page when more records follow now (X-Next-Cursor), else null. */
  next: string | null;
}

export interface Replica {
  id: string;
  service: string;
  host: string;
  pid: number;
  version: string;
  startedAt: string;
  beatAt: string;
  ageMs: number;
  configVersion: number;
  inFlight: number;
  pagesPerSecond: number;
  ready: boolean;
  reasons: string[];
  lastError: string | null;
}

export interface QueueDepth {
  name: string;
  ready: number;
  consumers: number;
}

export interface Stats {
  sampledAt: string;
  queues: Record<string, QueueDepth | (QueueDepth & { queues: QueueDepth[] }) | QueueDepth[]>;
  sessions: Record<string, number>;
}

export interface Setting {
  key: string;
  value: unknown;
  origin: string;
}

export interface ConfigView {
  version: number;
  updatedAt: string | null;
  updatedBy: string | null;
  settings: Setting[];
  overrides: Record<string, unknown>;
}

export interface SchemaEntry {
  key: string;
  doc: string;
  format: string;
  default: unknown;
  live: boolean;
  sensitive: boolean;
}

export interface Rollout {
  version: number;
  replicas: number;
  current: number;
  behind: { id: string; service: string; host: string; configVersion: number }[];
}

export interface ConfigChange {
  version: number;
  changes: { key: string; old: unknown; new: unknown }[];
  rollout: Rollout;
}

export interface HistoryEntry {
  version: number;
  at: string;
  who: string;
  action: 'set' | 'rollback';
  changes: { key: string; old: unknown; new: unknown }[];
}

/** The body of POST /sessions (shared/tasks/types.ts SessionRequest; the console sends what the form holds). */
export type SessionRequest = Record<string, unknown> & { seeds: string[] };

export interface ApiClientOptions {
  fetch: FetchFn;
  /** The bearer token, read on every call; null or '' sends none. */
  token(): string | null;
  /** Prefix of every path ('' = same origin). */
  base?: string;
  /** Called on a 401 before the error is thrown (the console shows its login form). */
  onUnauthorized?(): void;
}

const enc = encodeURIComponent;

export class ApiClient {
  constructor(private readonly opts: ApiClientOptions) {}

  /** The headers of a call: the bearer token when there is one, JSON when there is a body. */
  headers(hasBody: boolean): Record<string, string> {
    const h: Record<string, string> = { accept: 'application/json' };
    const token = this.opts.token();
    if (token) h.authorization = `Bearer ${token}`;
    if (hasBody) h['content-type'] = 'application/json';
    return h;
  }

  /** One call; the answer's text and headers, or the ApiError of a refusal. */
  async raw(method: string, path: string, body?: unknown): Promise<{ text: string; headers: HttpAnswer['headers']; status: number }> {
    const call: HttpCall = { method, headers: this.headers(body !== undefined) };
    if (body !== undefined) call.body = JSON.stringify(body);
    const res = await this.opts.fetch(`${this.opts.base ?? ''}${path}`, call);
    const text = await res.text();
    if (res.status >= 400) {
      if (res.status === 401) this.opts.onUnauthorized?.();
      throw errorOf(res.status, text);
    }
    return { text, headers: res.headers, status: res.status };
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const { text } = await this.raw(method, path, body);
    return JSON.parse(text) as T;
  }

  /** Whether the token is accepted (GET /config/rollout is small and needs it). */
  async check(): Promise<void> {
    await this.raw('GET', '/config/rollout');
  }

  async sessions(limit = 100): Promise<Session[]> {
    return (await this.json<{ sessions: Session[] }>('GET', `/sessions?limit=${limit}`)).sessions;
  }

  session(id: string): Promise<Session> {
    return this.json('GET', `/sessions/${enc(id)}`);
  }

  outcomes(id: string): Promise<Outcomes> {
    return this.json('GET', `/sessions/${enc(id)}/outcomes`);
  }

  async results(id: string, q: { limit: number; after?: string | null; fields?: readonly string[] }): Promise<ResultsPage> {
    const params = [`limit=${q.limit}`];
    if (q.after) params.push(`after=${enc(q.after)}`);
    if (q.fields && q.fields.length > 0) params.push(`fields=${q.fields.join(',')}`);
    const { text, headers } = await this.raw('GET', `/sessions/${enc(id)}/results?${params.join('&')}`);
    return { records: parseNdjson<ResultLine>(text), next: headers.get('x-next-cursor') };
  }

  /** The full record of one URL of the session. */
  page(id: string, url: string): Promise<ResultLine & Record<string, unknown>> {
    return this.json('GET', `/sessions/${enc(id)}/page?url=${enc(url)}`);
  }

  createSession(req: SessionRequest): Promise<Session> {
    return this.json('POST', '/sessions', req);
  }

  cancel(id: string): Promise<Session> {
    return this.json('DELETE', `/sessions/${enc(id)}`);
  }

  async replicas(): Promise<Replica[]> {
    return (await this.json<{ replicas: Replica[] }>('GET', '/replicas')).replicas;
  }

  stats(): Promise<Stats> {
    return this.json('GET', '/stats');
  }

  config(): Promise<ConfigView> {
    return this.json('GET', '/config');
  }

  async configSchema(): Promise<SchemaEntry[]> {
    return (await this.json<{ settings: SchemaEntry[] }>('GET', '/config/schema')).settings;
  }

  patchConfig(patch: Record<string, unknown>): Promise<ConfigChange> {
    return this.json('PATCH', '/config', patch);
  }

  async history(limit = 20): Promise<HistoryEntry[]> {
    return (await this.json<{ history: HistoryEntry[] }>('GET', `/config/history?limit=${limit}`)).history;
  }

  rollback(version: number): Promise<ConfigChange> {
    return this.json('POST', '/config/rollback', { version });
  }

  rollout(version?: number): Promise<Rollout> {
    return this.json('GET', `/config/rollout${version === undefined ? '' : `?version=${version}`}`);
  }

  /** The status a HEAD of `path` answers (404 for a route that does not exist), never throwing for a refusal. */
  async probe(path: string): Promise<number> {
    const res = await this.opts.fetch(`${this.opts.base ?? ''}${path}`, { method: 'HEAD', headers: this.headers(false) });
    await res.text().catch(() => '');
    return res.status;
  }
}
