/**
 * crawlctl's commands: one table (`COMMANDS`) of what each command takes and does; a command
 * family such as `config get|set` is a set of entries keyed "config get", "config set", ...
 * so adding a command is one entry. The helpers that turn arguments into requests
 * (argument → request body, key=value → config patch) are pure and exported for unit tests.
 *
 * Exit codes (EXIT): `status <id>` and `--wait` exit with the session's status (0 running or
 * completed, 3 partial, 4 cancelled or closed, 130 when following is interrupted); `crawl
 * --wait` exits 1 when no seed could be fetched; the other commands exit 0 once done. Errors
 * exit 1, usage errors 2.
 *
 * `config schema` is the one command that works offline: when the API does not answer it
 * prints the schema this build of crawlfleet carries (shared/config, loaded on demand).
 */
import { constants as fsConstants, createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { RECORD_FORMATS, type RecordFormat, type ResultRecord } from '../shared/tasks/types.js';
import { ApiError, CliError, EXIT, FINAL_STATUSES, UsageError, DEFAULT_API, type ApiClient, type ConfigSchemaEntry, type CreateSessionBody, type Rollout, type Session } from './client.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, OUTCOMES, RESULT_FORMATS, writeResults, type ResultFormat, type ResultsRequest } from './results.js';
import {
  averageRate,
  formatDuration,
  ProgressView,
  renderConfig,
  renderConfigHistory,
  renderConfigSchema,
  renderConfigWrite,
  renderCounts,
  renderKeyValues,
  renderReplicas,
  renderRollout,
  renderSession,
  renderSessionList,
  sessionElapsedMs,
} from './render.js';

export const DEFAULT_POLL_MS = 500;
/** `config set --wait` gives up after this long by default. */
export const DEFAULT_ROLLOUT_WAIT_MS = 10_000;
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

export function str(values: OptionValues, key: string): string | undefined {
  const v = values[key];
  return typeof v === 'string' ? v : undefined;
}

function strs(values: OptionValues, key: string): string[] {
  const v = values[key];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return typeof v === 'string' ? [v] : [];
}

export function flag(values: OptionValues, key: string): boolean {
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
  const formats = strs(values, 'format');
  if (formats.length > 0) body.formats = crawlFormats(formats);
  if (flag(values, 'full-page')) body.onlyMainContent = false;
  if (flag(values, 'warc')) body.warc = true;
  const headers = strs(values, 'header');
  if (headers.length > 0) {
    const map: Record<string, string> = {};
    for (const raw of headers) {
      const [name, value] = parseHeaderOption(raw);
      if (Object.keys(map).some((n) => n.toLowerCase() === name.toLowerCase())) throw new UsageError(`--header ${name} is given twice`, 'crawl');
      map[name] = value;
    }
    body.headers = map;
  }
  const cookies = strs(values, 'cookie');
  if (cookies.length > 0) body.cookies = cookies.map(parseCookieOption);
  if (flag(values, 'cookie-jar')) body.cookieJar = true;
  const userAgent = str(values, 'user-agent');
  if (userAgent !== undefined) body.userAgent = userAgent;
  const maxAge = str(values, 'recrawl-max-age-ms');
  const conditional = flag(values, 'conditional');
  if (maxAge !== undefined || conditional) {
    body.recrawl = {
      ...(maxAge !== undefined ? { maxAgeMs: parsePositiveInt('--recrawl-max-age-ms', maxAge) } : {}),
      ...(conditional ? { conditional: true } : {}),
    };
  }
  return body;
}

/** `schedule add` arguments → the body of POST /schedules. Throws UsageError naming the option. */
export function buildScheduleBody(urls: readonly string[], values: OptionValues): { every?: string; cron?: string; session: CreateSessionBody } {
  const every = str(values, 'every');
  const cron = str(values, 'cron');
  if ((every === undefined) === (cron === undefined)) throw new UsageError('schedule add needs one of --every and --cron', 'schedule add');
  if (urls.length === 0) throw new UsageError('schedule add needs at least one URL', 'schedule add');
  return { ...(every !== undefined ? { every } : {}), ...(cron !== undefined ? { cron } : {}), session: buildCrawlBody(urls, values) };
}

/** `--header 'Name: value'` → [name, value]; the message of a bad one never shows the value (a secret). */
export function parseHeaderOption(raw: string): [string, string] {
  const colon = raw.indexOf(':');
  const name = colon < 0 ? '' : raw.slice(0, colon).trim();
  if (name === '') throw new UsageError('--header must look like \'Name: value\'', 'crawl');
  return [name, raw.slice(colon + 1).trim()];
}

/** `--cookie 'name=value'` → a session cookie for every host of the scope; the message of a bad one never shows the value. */
export function parseCookieOption(raw: string): { name: string; value: string } {
  const eq = raw.indexOf('=');
  const name = eq < 0 ? '' : raw.slice(0, eq).trim();
  if (name === '') throw new UsageError('--cookie must look like \'name=value\'', 'crawl');
  return { name, value: raw.slice(eq + 1).trim() };
}

/** `--format` values → the session's formats; `none` alone asks for none (records without page content). */
function crawlFormats(raw: readonly string[]): RecordFormat[] {
  if (raw.includes('none')) {
    if (raw.length > 1) throw new UsageError('--format none cannot be combined with other formats', 'crawl');
    return [];
  }
  const out: RecordFormat[] = [];
  for (const f of raw) {
    if (!(RECORD_FORMATS as readonly string[]).includes(f)) throw new UsageError(`--format must be one of ${RECORD_FORMATS.join(', ')} or none, got ${JSON.stringify(f)}`, 'crawl');
    if (out.includes(f as RecordFormat)) throw new UsageError(`--format ${f} is given twice`, 'crawl');
    out.push(f as RecordFormat);
  }
  return out;
}

/** A key of a record in `--fields` (as the API's `fields` takes it). */
const FIELD_NAME = /^[A-Za-z][A-Za-z0-9]*$/;

/** `results` options → what to read and how to write it. Throws UsageError naming the option. */
export function buildResultsRequest(values: OptionValues, retryDelayMs: number): ResultsRequest {
  const format = str(values, 'format') ?? 'jsonl';
  if (!(RESULT_FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format must be one of ${RESULT_FORMATS.join(', ')}, got ${JSON.stringify(format)}`, 'results');
  const outcome = str(values, 'outcome');
  if (outcome !== undefined && !(OUTCOMES as readonly string[]).includes(outcome)) throw new UsageError(`--outcome must be one of ${OUTCOMES.join(', ')}, got ${JSON.stringify(outcome)}`, 'results');
  const rawFields = str(values, 'fields');
  let fields: string[] | undefined;
  if (rawFields !== undefined) {
    if (format === 'md') throw new UsageError('--fields does not apply to --format md (the document takes each page\'s title and markdown)', 'results');
    fields = rawFields.split(',').map((f) => f.trim());
    for (const f of fields) {
      if (!FIELD_NAME.test(f)) throw new UsageError(`--fields wants record keys separated by commas (letters and digits), got ${JSON.stringify(rawFields)}`, 'results');
    }
    const twice = fields.find((f, i) => fields?.indexOf(f) !== i);
    if (twice !== undefined) throw new UsageError(`--fields names ${twice} twice`, 'results');
  }
  const rawSize = str(values, 'page-size');
  const pageSize = rawSize === undefined ? DEFAULT_PAGE_SIZE : parsePositiveInt('--page-size', rawSize);
  if (pageSize > MAX_PAGE_SIZE) throw new UsageError(`--page-size must be at most ${MAX_PAGE_SIZE}`, 'results');
  return { format: format as ResultFormat, outcome, fields, pageSize, retryDelayMs };
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
// Command table

export interface OptionDef {
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

export const GLOBAL_OPTIONS: Record<string, OptionDef> = {
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

const RECRAWL_OPTIONS: Record<string, OptionDef> = {
  'recrawl-max-age-ms': { type: 'string', arg: 'N', help: 'do not fetch a page any session fetched less than N ms ago; follow its links from that fetch' },
  conditional: { type: 'boolean', help: 'revalidate pages the crawl index knows (If-None-Match / If-Modified-Since); a 304 keeps the last fetch\'s links' },
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
      warc: { type: 'boolean', help: 'write the exchanges as WARC/1.1 files (GET /sessions/:id/warc)' },
      format: { type: 'string', multiple: true, arg: 'F', help: `put this in each record: ${RECORD_FORMATS.join(', ')} (repeatable; none: no page content; default: the cluster's content.defaultFormats)` },
      'full-page': { type: 'boolean', help: 'markdown, text and html of the whole page, navigation and footers included' },
      header: { type: 'string', multiple: true, arg: "'N: V'", help: 'send this request header to the hosts of the session (repeatable; the value is shown as ***)' },
      cookie: { type: 'string', multiple: true, arg: 'n=v', help: 'send this cookie to the hosts of the session (repeatable; the value is shown as ***)' },
      'cookie-jar': { type: 'boolean', help: 'keep the cookies the site sets and send them back (shared by every fetcher)' },
      'user-agent': { type: 'string', arg: 'UA', help: 'the User-Agent of this session\'s page fetches (robots.txt rules still match the crawler\'s own)' },
      ...RECRAWL_OPTIONS,
      ...WAIT_OPTIONS,
    },
    run: runCrawl,
  },
  url: {
    usage: 'url <url>',
    summary: 'show what the crawl index holds of a URL: its last fetch by any session (JSON)',
    args: { min: 1, max: 1, missing: 'url needs a URL' },
    options: {},
    run: runUrl,
  },
  'schedule add': {
    usage: 'schedule add (--every D | --cron P) <url...> [crawl options]',
    summary: 'start a crawl session on a schedule; prints the schedule id',
    args: { min: 1, max: Infinity, missing: 'schedule add needs at least one URL' },
    options: {
      every: { type: 'string', arg: 'D', help: 'every interval: 30s, 15m, 6h, 1d' },
      cron: { type: 'string', arg: 'P', help: 'on a cron pattern, UTC ("0 3 * * *")' },
      'max-pages': { type: 'string', arg: 'N', help: 'stop after N pages' },
      'max-depth': { type: 'string', arg: 'N', help: 'follow links at most N hops from a seed' },
      'timeout-ms': { type: 'string', arg: 'N', help: 'session deadline in milliseconds' },
      'allow-host': { type: 'string', multiple: true, arg: 'H', help: 'crawl this host (repeatable; default: the seeds\' hosts)' },
      include: { type: 'string', multiple: true, arg: 'RE', help: 'only URLs matching this regex (repeatable)' },
      exclude: { type: 'string', multiple: true, arg: 'RE', help: 'skip URLs matching this regex (repeatable)' },
      label: { type: 'string', arg: 'L', help: 'a label for each session' },
      ...RECRAWL_OPTIONS,
    },
    run: runScheduleAdd,
  },
  'schedule list': {
    usage: 'schedule list',
    summary: 'list the schedules with their latest runs (time and session id)',
    args: { min: 0, max: 0, missing: '' },
    options: {},
    run: runScheduleList,
  },
  'schedule rm': {
    usage: 'schedule rm <id>',
    summary: 'remove a schedule: no further session starts (started ones run on)',
    args: { min: 1, max: 1, missing: 'schedule rm needs a schedule id' },
    options: {},
    run: runScheduleRemove,
  },
  status: {
    usage: 'status <id> [--wait] [--output FILE]',
    summary: 'show a session (--wait follows it to the end)',
    args: ID_ARG('status'),
    options: { ...WAIT_OPTIONS },
    run: runStatus,
  },
  results: {
    usage: 'results <id> [--format jsonl|csv|md] [--output FILE] [--outcome O] [--fields a,b]',
    summary: 'write a session\'s results (JSON lines, CSV or one Markdown document) to stdout or a file',
    args: ID_ARG('results'),
    options: {
      format: { type: 'string', arg: 'F', help: 'jsonl (default): one record per line; csv: a header row, then one row per record; md: one Markdown document, each delivered page under a heading with its title and URL' },
      output: { type: 'string', arg: 'FILE', help: 'write to FILE instead of stdout' },
      outcome: { type: 'string', arg: 'O', help: `only records of this outcome: ${OUTCOMES.join(', ')} (md: delivered unless given)` },
      fields: { type: 'string', arg: 'a,b', help: 'only these keys of each record, in this order (csv columns; default url, finalUrl, status, outcome, reason, title, depth, fetchedAt, contentHash, bytes)' },
      'page-size': { type: 'string', arg: 'N', help: `records per API request (default ${DEFAULT_PAGE_SIZE})` },
    },
    run: runResults,
  },
  page: {
    usage: 'page <id> <url>',
    summary: 'show the record of one URL of a session (JSON)',
    args: { min: 2, max: 2, missing: 'page needs a session id and a URL' },
    options: {},
    run: runPage,
  },
  cancel: {
    usage: 'cancel <id>',
    summary: 'cancel a running session',
    args: ID_ARG('cancel'),
    options: {},
    run: runCancel,
  },
  pause: {
    usage: 'pause <id>',
    summary: 'pause a running session: nothing of it is fetched until resume',
    args: ID_ARG('pause'),
    options: {},
    run: runPause,
  },
  resume: {
    usage: 'resume <id>',
    summary: 'resume a paused session where it stopped',
    args: ID_ARG('resume'),
    options: {},
    run: runResume,
  },
  rm: {
    usage: 'rm <id>',
    summary: 'remove a finished or cancelled session: its keys, records and results file',
    args: ID_ARG('rm'),
    options: {},
    run: runRemove,
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
      wait: { type: 'boolean', help: 'wait until every live replica runs the new version (exit 1 naming the laggards if they do not within --wait-ms)' },
      'wait-ms': { type: 'string', arg: 'N', help: `with --wait: how long to wait, in milliseconds (default ${DEFAULT_ROLLOUT_WAIT_MS})` },
    },
    run: runConfigSet,
  },
  'config rollout': {
    usage: 'config rollout [--version N]',
    summary: 'how many live replicas run a config version (default the current one), and which do not',
    args: { min: 0, max: 0, missing: '' },
    options: { version: { type: 'string', arg: 'N', help: 'the config version (default the current one)' } },
    run: runConfigRollout,
  },
  replicas: {
    usage: 'replicas [--service NAME]',
    summary: 'list the live replicas: service, id, host, pid, version, config version, in flight, pages/s, ready, last error',
    args: { min: 0, max: 0, missing: '' },
    options: { service: { type: 'string', arg: 'NAME', help: 'only replicas of this service (controller, fetcher, extractor, delivery, cleaner)' } },
    run: runReplicas,
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
// Running a command

/** CliIO with its defaults applied (crawlctl.ts resolveIO). */
export interface ResolvedIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  isTTY: boolean;
  pollMs: number;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  columns?: number;
  now: () => number;
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
    return shownStatusExitCode(session.status);
  }
  return followAndSave(ctx, session, output);
}

async function runResults(ctx: CommandContext): Promise<number> {
  const id = ctx.positionals[0] as string;
  const req = buildResultsRequest(ctx.values, ctx.io.pollMs);
  const output = str(ctx.values, 'output');
  if (output !== undefined) {
    if (output === '') throw new UsageError('--output needs a file name', ctx.command);
    await checkWritableDir(output);
    const r = await writeResults(ctx.api, id, req, { path: output });
    ctx.out(ctx.json ? JSON.stringify({ id, output, format: req.format, records: r.records, bytes: r.bytes }) : `${output} (${r.records} records)`);
    return EXIT.ok;
  }
  await writeResults(ctx.api, id, req, { stream: ctx.io.stdout });
  return EXIT.ok;
}

async function runPage(ctx: CommandContext): Promise<number> {
  const [id, url] = ctx.positionals as [string, string];
  let parsed: URL | null;
  try {
    parsed = new URL(url);
  } catch {
    parsed = null;
  }
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) throw new UsageError(`the URL must be an absolute http(s) URL, got ${JSON.stringify(url)}`, ctx.command);
  const record = await ctx.api.page(id, url);
  ctx.out(ctx.json ? JSON.stringify(record) : JSON.stringify(record, null, 2));
  return EXIT.ok;
}

/** An absolute http(s) URL argument, or a usage error. */
function httpArg(ctx: CommandContext, url: string): void {
  let parsed: URL | null;
  try {
    parsed = new URL(url);
  } catch {
    parsed = null;
  }
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) throw new UsageError(`the URL must be an absolute http(s) URL, got ${JSON.stringify(url)}`, ctx.command);
}

async function runUrl(ctx: CommandContext): Promise<number> {
  const url = ctx.positionals[0] as string;
  httpArg(ctx, url);
  const entry = await ctx.api.urlEntry(url);
  ctx.out(ctx.json ? JSON.stringify(entry) : JSON.stringify(entry, null, 2));
  return EXIT.ok;
}

async function runScheduleAdd(ctx: CommandContext): Promise<number> {
  const body = buildScheduleBody(ctx.positionals, ctx.values);
  const s = await ctx.api.createSchedule(body);
  ctx.out(ctx.json ? JSON.stringify(s) : s.id);
  return EXIT.ok;
}

async function runScheduleList(ctx: CommandContext): Promise<number> {
  const { schedules } = await ctx.api.listSchedules();
  if (ctx.json) {
    ctx.out(JSON.stringify({ schedules }));
    return EXIT.ok;
  }
  if (schedules.length === 0) {
    ctx.out('no schedules');
    return EXIT.ok;
  }
  const lines: string[] = [];
  for (const s of schedules) {
    lines.push(`${s.id}  ${s.every !== undefined ? `every ${s.every}` : `cron ${s.cron ?? ''}`}  ${s.session.seeds.join(' ')}  next ${s.nextRunAt ?? '-'}`);
    for (const r of s.runs) lines.push(`  ${r.at}  ${r.sessionId ?? `refused: ${r.error ?? ''}`}`);
  }
  ctx.out(lines.join('\n'));
  return EXIT.ok;
}

async function runScheduleRemove(ctx: CommandContext): Promise<number> {
  const r = await ctx.api.deleteSchedule(ctx.positionals[0] as string);
  ctx.out(ctx.json ? JSON.stringify(r) : `${r.id} deleted`);
  return EXIT.ok;
}

async function runCancel(ctx: CommandContext): Promise<number> {
  const id = ctx.positionals[0] as string;
  const session = await ctx.api.cancelSession(id);
  ctx.out(ctx.json ? JSON.stringify(session) : `${session.id} ${session.status}`);
  return EXIT.ok;
}

async function runPause(ctx: CommandContext): Promise<number> {
  const session = await ctx.api.pauseSession(ctx.positionals[0] as string);
  ctx.out(ctx.json ? JSON.stringify(session) : `${session.id} ${session.status}`);
  return EXIT.ok;
}

async function runResume(ctx: CommandContext): Promise<number> {
  const session = await ctx.api.resumeSession(ctx.positionals[0] as string);
  ctx.out(ctx.json ? JSON.stringify(session) : `${session.id} ${session.status}`);
  return EXIT.ok;
}

async function runRemove(ctx: CommandContext): Promise<number> {
  const r = await ctx.api.purgeSession(ctx.positionals[0] as string);
  ctx.out(ctx.json ? JSON.stringify(r) : `${r.id} removed (${r.keys} keys)`);
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
  if (!flag(ctx.values, 'wait')) {
    ctx.out(ctx.json ? JSON.stringify(r) : renderConfigWrite(r));
    return EXIT.ok;
  }
  const raw = str(ctx.values, 'wait-ms');
  const waitMs = raw === undefined ? DEFAULT_ROLLOUT_WAIT_MS : parsePositiveInt('--wait-ms', raw);
  if (!ctx.json) ctx.out(renderConfigWrite(r));
  const rollout = await waitForRollout(ctx.api, r.version, waitMs, ctx.io.pollMs);
  const done = rollout.current === rollout.replicas;
  if (ctx.json) ctx.out(JSON.stringify({ ...r, rollout }));
  else ctx.out(renderRollout(rollout));
  if (!done) ctx.err(`crawlctl: version ${r.version} did not reach every replica within ${waitMs} ms: ${rollout.behind.map((b) => `${b.id} runs ${b.configVersion}`).join(', ')}`);
  return done ? EXIT.ok : EXIT.error;
}

/** Polls GET /config/rollout until every live replica runs `version` or `waitMs` passed; the last answer. */
export async function waitForRollout(api: Pick<ApiClient, 'configRollout'>, version: number, waitMs: number, pollMs: number): Promise<Rollout> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const r = await api.configRollout(version);
    if (r.current === r.replicas || Date.now() >= deadline) return r;
    await delay(Math.max(1, Math.min(pollMs, deadline - Date.now())));
  }
}

async function runConfigRollout(ctx: CommandContext): Promise<number> {
  const raw = str(ctx.values, 'version');
  const r = await ctx.api.configRollout(raw === undefined ? undefined : parseNonNegativeInt('--version', raw));
  ctx.out(ctx.json ? JSON.stringify(r) : renderRollout(r));
  return EXIT.ok;
}

async function runReplicas(ctx: CommandContext): Promise<number> {
  const r = await ctx.api.replicas(str(ctx.values, 'service'));
  ctx.out(ctx.json ? JSON.stringify(r) : renderReplicas(r.replicas));
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

/** Writes the session's results as JSON lines into `path`, page by page. */
export async function saveResults(api: ApiClient, id: string, path: string, retryDelayMs = DEFAULT_POLL_MS): Promise<{ records: number; bytes: number }> {
  const r = await writeResults(api, id, { format: 'jsonl', pageSize: DEFAULT_PAGE_SIZE, retryDelayMs }, { path });
  return { records: r.records, bytes: r.bytes };
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
  const saved = await saveResults(ctx.api, s.id, output, ctx.io.pollMs);
  if (ctx.json) {
    ctx.out(JSON.stringify({ session: s, elapsedMs, pagesPerSecond: avg, output, records: saved.records, bytes: saved.bytes }));
  } else {
    ctx.out(renderKeyValues([['results', `${output} (${saved.records} records)`]]));
  }
  if (s.status !== 'cancelled' && noSeedFetched(s)) {
    ctx.err(`crawlctl: no seed could be fetched: ${await firstSeedReason(s, output)}`);
    return EXIT.error;
  }
  return exitCodeForStatus(s.status);
}

/** Whether the session reports that none of its seeds could be fetched (`seedsFailed`, when the controller gives it). */
export function noSeedFetched(s: Pick<Session, 'seedsFailed' | 'spec'>): boolean {
  const seeds = s.spec?.seeds?.length;
  return typeof s.seedsFailed === 'number' && seeds !== undefined && seeds > 0 && s.seedsFailed >= seeds;
}

/**
 * The reason of the first seed's record in a saved NDJSON file: the record of spec.seeds[0],
 * else the first page record at depth 0; `reason (error)` when it carries an error text.
 */
export async function firstSeedReason(s: Pick<Session, 'spec'>, path: string): Promise<string> {
  const first = s.spec?.seeds?.[0];
  let fallback: string | null = null;
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      let rec: Partial<ResultRecord>;
      try {
        rec = JSON.parse(line) as Partial<ResultRecord>;
      } catch {
        continue;
      }
      if (rec.role !== undefined || rec.depth !== 0) continue;
      const reason = `${rec.reason ?? rec.outcome ?? 'unknown'}${rec.error ? ` (${rec.error})` : ''}`;
      if (rec.url === first) return reason;
      fallback ??= reason;
    }
  } finally {
    lines.close();
  }
  return fallback ?? 'no record of the seeds was delivered';
}

/** The exit code of `status <id>`: its status's once final (EXIT), 0 while it runs or is paused. */
export function shownStatusExitCode(status: string): number {
  return FINAL_STATUSES.has(status) ? exitCodeForStatus(status) : EXIT.ok;
}

