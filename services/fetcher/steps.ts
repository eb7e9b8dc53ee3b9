/**
 * The fetcher's steps, in order: preflight → robots → gate → fetch → route. Each takes the
 * job of one claimed task and the few collaborators it needs, and answers a verdict: go on,
 * or what becomes of the task. The handler (index.ts) runs them and acts on the verdicts.
 */
import type { SessionPolicy } from '../../shared/admission/index.js';
import type { Config } from '../../shared/config/index.js';
import { CrawlError, toCrawlError } from '../../shared/errors/index.js';
import type { FetchRequest, FetchResponse, PageFetcher } from '../../shared/fetch/seam.js';
import { effectiveHostRate, ratesFor, type HostLimits, type ReplicaRate, type WaitReason } from '../../shared/ratelimit.js';
import { bareRecord, failureRecord, taskRef } from '../../shared/tasks/records.js';
import type { ExtractTask, FetchTask, ResultRecord } from '../../shared/tasks/types.js';
import type { RobotsDecision } from './robots-cache.js';
import { documentKind } from '../../shared/content/documents.js';
import { mimeEssence, sniffContentType } from '../../shared/content/sniff.js';
import { redactHeaders } from '../../shared/observability/redact.js';
import { DOCUMENT_KINDS } from '../../shared/tasks/types.js';
import { parseHttpDate, shortHash, type IndexEntry } from '../../shared/crawlindex/entry.js';
import { recrawlDecision, type Validators } from '../../shared/crawlindex/policy.js';
import { mimeType, parseRetryAfter, statusError } from './classify.js';

/** Bytes of a body the type sniffing reads (the MIME Sniffing Standard's 1,445, and a Word document's ZIP entries). */
const SNIFF_BYTES = 4096;

/** One claimed task on its way through the steps. */
export interface FetchJob {
  task: FetchTask;
  /** The attempt this fetcher claimed. */
  attempt: number;
  session: SessionPolicy;
  target: URL;
  /** The host's Crawl-delay from robots.txt (set by the robots step). */
  crawlDelayS: number | null;
  /** The crawl index's entry of the URL, when the session has a recrawl policy (set by the recrawl step). */
  previous?: IndexEntry | null;
  /** Validators of a conditional request (set by the recrawl step). */
  validators?: Validators | null;
}

export type Verdict =
  /** Go on to the next step. */
  | { kind: 'next' }
  /** The task ends with this record, without a page to extract (a skip, a file that is not parsed). */
  | { kind: 'record'; record: ResultRecord }
  /** The attempt failed: retried if transient and attempts remain, else the task fails. */
  | { kind: 'fail'; error: CrawlError; response: FetchResponse | null }
  /** The page goes to the extractor. */
  | { kind: 'page'; page: ExtractTask }
  /** A document the session has parsed (PDF, DOCX, feed, text) goes to the documents stage. */
  | { kind: 'document'; page: ExtractTask };

const NEXT: Verdict = { kind: 'next' };

/**
 * Response headers passed on to the extractor (and into a record that asks for the `headers`
 * format): what describes the document, its caching and its indexing rules. Never
 * `set-cookie` or other per-client state.
 */
export const KEPT_HEADERS = [
  'content-type',
  'content-language',
  'content-length',
  'content-encoding',
  'content-disposition',
  'last-modified',
  'etag',
  'date',
  'expires',
  'age',
  'cache-control',
  'vary',
  'link',
  'x-robots-tag',
  'server',
];

/** 1. Preflight: no connection for a URL of a scheme or an address the policy refuses. */
export function preflightStep(job: FetchJob, fetcher: Pick<PageFetcher, 'preflight'>): Verdict {
  try {
    fetcher.preflight(job.target);
    return NEXT;
  } catch (err) {
    return { kind: 'fail', error: toCrawlError(err), response: null };
  }
}

/**
 * 2. robots.txt: a disallowed URL ends skipped without a connection. robots.txt itself is
 * always fetched (RFC 9309 2.4). Redis or the broker being away (unavailable, internal)
 * propagates, so the message is redelivered; any other error fails the attempt.
 */
export async function robotsStep(job: FetchJob, obey: boolean, check: (url: URL) => Promise<RobotsDecision>): Promise<Verdict> {
  if (!obey || job.task.role === 'robots') return NEXT;
  let decision: RobotsDecision;
  try {
    decision = await check(job.target);
  } catch (err) {
    const e = toCrawlError(err);
    if (e.code === 'internal' || e.code === 'unavailable') throw err;
    return { kind: 'fail', error: e, response: null };
  }
  if (!decision.allowed) return { kind: 'record', record: failureRecord(taskRef(job.task), decision.error, { attempts: job.attempt }) };
  job.crawlDelayS = decision.crawlDelayS;
  return NEXT;
}

/**
 * 2b. Recrawl (a session with `recrawl`): a page the crawl index says any session fetched
 * recently enough is not fetched: it goes to the extractor without a body, to be recorded
 * `skipped(fresh)` with the links of that fetch; otherwise the request may be conditional.
 * robots.txt and sitemap tasks are always fetched.
 */
export async function recrawlStep(job: FetchJob, lookup: (taskId: string) => Promise<IndexEntry | null>, now: () => number): Promise<Verdict> {
  const policy = job.session.spec.recrawl;
  if (!policy || job.task.role) return NEXT;
  const entry = await lookup(job.task.taskId);
  const decision = recrawlDecision(entry, policy, now());
  job.previous = entry;
  if (decision.kind === 'fetch') {
    job.validators = decision.validators;
    return NEXT;
  }
  return { kind: 'page', page: reusedPage(job, { status: decision.entry.status, finalUrl: job.task.url, headers: {}, fetchedAt: decision.entry.fetchedAt, fetchMs: 0 }, 'fresh', decision.entry) };
}

/** A page the extractor records from the last fetch's record (its links), without a body. */
function reusedPage(job: FetchJob, res: Pick<ExtractTask, 'status' | 'finalUrl' | 'headers' | 'fetchedAt' | 'fetchMs'>, kind: 'fresh' | 'notModified', previous: IndexEntry): ExtractTask {
  const { task, attempt } = job;
  return {
    sessionId: task.sessionId,
    taskId: task.taskId,
    url: task.url,
    depth: task.depth,
    attempt,
    ...(task.parent ? { parent: task.parent } : {}),
    contentType: '',
    body: Buffer.alloc(0),
    ...res,
    reuse: { kind, previous },
  };
}

/**
 * What the crawl index records of a response: its time, status, validators and content hash
 * (a 304 keeps the hash of the body it revalidated; a 304 without validators of its own keeps
 * the ones it answered).
 */
export function indexEntryOf(job: FetchJob, res: Pick<FetchResponse, 'status' | 'headers' | 'body' | 'bodySkipped'>, fetchedAt: number, contentHash: string | null): IndexEntry {
  const notModified = res.status === 304 && job.previous;
  const etag = res.headers['etag'] ?? null;
  const lastModified = parseHttpDate(res.headers['last-modified']);
  return {
    fetchedAt,
    status: res.status,
    contentHash: notModified ? job.previous!.contentHash : shortHash(contentHash),
    sessionId: job.task.sessionId,
    etag: etag ?? (notModified ? job.previous!.etag : null),
    lastModified: lastModified ?? (notModified ? job.previous!.lastModified : null),
  };
}

/** What the politeness gate checks for one host, from the live config and the host's Crawl-delay. */
export function hostLimits(cfg: Config, target: URL, crawlDelayS: number | null): HostLimits {
  const rates = ratesFor(cfg.rate, target);
  return {
    global: rates.global,
    globalLease: cfg.rate.globalLease,
    perHost: effectiveHostRate(rates.perHost, crawlDelayS, cfg.robots.maxCrawlDelayS),
    concurrency: cfg.politeness.perHostConcurrency,
    // A fetch ends within its total deadline: a slot outliving that belongs to a dead fetcher.
    slotLeaseMs: cfg.fetch.totalTimeoutMs + 10_000,
    backoffHalfLifeMs: cfg.politeness.backoffHalfLifeMs,
  };
}

export interface GateDeps {
  config(): Config;
  tryEnter(host: string, limits: HostLimits): Promise<{ granted: true; slot: string | null } | { granted: false; waitMs: number; reason: WaitReason }>;
  /** Hands the task to a delay queue for at least `waitMs`, its attempt given back; false when the task moved meanwhile. */
  defer(job: FetchJob, waitMs: number): Promise<boolean>;
  /** The task's session was paused or cancelled: stop waiting (a Map read, no round trip). */
  halted?(job: FetchJob): boolean;
  /** This replica's own rate bucket (rate.perReplica). */
  replica?: Pick<ReplicaRate, 'waitMs' | 'take'>;
  sleep(ms: number): Promise<void>;
  onWaited?(ms: number): void;
  onDeferred?(reason: WaitReason): void;
}

/**
 * 3. The politeness gate: waits in place for this replica's own rate and while the cluster's
 * wait is short (or global: nothing else could go either); a longer host wait hands the task to a delay queue, giving back its
 * attempt, and frees this request slot for other hosts. Answers the slot (null when the host
 * has no concurrency limit), 'deferred', or 'halted' when the session was paused or cancelled
 * before a token was taken.
 */
export async function gateStep(job: FetchJob, deps: GateDeps): Promise<{ slot: string | null } | 'deferred' | 'halted'> {
  let waited = 0;
  for (;;) {
    if (deps.halted?.(job)) {
      if (waited > 0) deps.onWaited?.(waited);
      return 'halted';
    }
    // This replica's own rate applies to every host it fetches: wait in place.
    const perReplica = deps.config().rate.perReplica;
    const local = deps.replica?.waitMs(perReplica) ?? 0;
    if (local > 0) {
      const ms = Math.min(local, 1000);
      waited += ms;
      await deps.sleep(ms);
      continue;
    }
    const g = await deps.tryEnter(job.target.host, hostLimits(deps.config(), job.target, job.crawlDelayS));
    if (g.granted) {
      deps.replica?.take(perReplica);
      if (waited > 0) deps.onWaited?.(waited);
      return { slot: g.slot };
    }
    const maxWaitMs = deps.config().politeness.maxWaitMs;
    if (g.reason !== 'global' && waited + g.waitMs > maxWaitMs) {
      if (await deps.defer(job, g.reason === 'slots' ? maxWaitMs : g.waitMs)) deps.onDeferred?.(g.reason);
      if (waited > 0) deps.onWaited?.(waited);
      return 'deferred';
    }
    const ms = g.reason === 'slots' ? 20 + Math.random() * 60 : Math.min(g.waitMs, 1000);
    waited += ms;
    await deps.sleep(ms);
  }
}

/** 4. The fetch itself, through the seam; a failure becomes a verdict. */
export async function fetchStep(job: FetchJob, fetcher: Pick<PageFetcher, 'fetch'>, request: FetchRequest): Promise<{ kind: 'fetched'; response: FetchResponse } | Verdict> {
  try {
    return { kind: 'fetched', response: await fetcher.fetch(job.task.url, request) };
  } catch (err) {
    return { kind: 'fail', error: toCrawlError(err), response: null };
  }
}

export interface RouteDeps {
  /** Content types parsed as pages (fetch.htmlTypes). */
  htmlTypes: readonly string[];
  /** A 429 or 503 slows the answering host down for the whole cluster. */
  penalize(host: string, status: number, retryAfterMs: number): Promise<void>;
  now(): number;
}

/**
 * 5. Route the response: a 429 or 503 first slows the answering host down; an HTTP error
 * fails the attempt; HTML (and the documents of robots.txt and sitemap tasks, whatever their
 * type) goes to the extractor; a PDF, DOCX, feed (or other XML/JSON) or plain text the
 * session parses (spec.documents) to the documents stage; any other type ends delivered as
 * it is.
 */
export async function routeStep(job: FetchJob, res: FetchResponse, deps: RouteDeps): Promise<Verdict> {
  const { task, attempt } = job;
  if (res.status === 429 || res.status === 503) {
    await deps.penalize(new URL(res.finalUrl).host, res.status, parseRetryAfter(res.headers['retry-after'], deps.now()) ?? 0);
  }
  // A 304 to a conditional request: the page is the last fetch's, and so are its links.
  if (res.status === 304 && job.previous && job.validators) {
    const headers: Record<string, string> = {};
    for (const h of KEPT_HEADERS) if (res.headers[h] !== undefined) headers[h] = res.headers[h] as string;
    return { kind: 'page', page: reusedPage(job, { status: 304, finalUrl: res.finalUrl, headers, fetchedAt: deps.now(), fetchMs: Math.round(res.ms) }, 'notModified', job.previous) };
  }
  const code = statusError(res.status);
  if (code) return { kind: 'fail', error: new CrawlError(code, `${task.url}: HTTP ${res.status}`, { details: { status: res.status } }), response: res };
  const contentType = res.headers['content-type'] ?? '';
  const mime = mimeType(contentType);
  const fetchedAt = deps.now();
  /** The task ends delivered with the response as it is, unparsed. */
  const unparsed = (extra: Partial<ResultRecord>): Verdict => ({
    kind: 'record',
    record: bareRecord(taskRef(task), 'delivered', { finalUrl: res.finalUrl, status: res.status, contentType, ...extra, fetchedAt: new Date(fetchedAt).toISOString(), attempts: attempt }),
  });
  if (res.bodySkipped) {
    const declared = Number(res.headers['content-length']);
    return unparsed(Number.isSafeInteger(declared) && declared >= 0 ? { contentLength: declared } : {});
  }
  // When the bytes agree with the type as sent, fetch.htmlTypes decides what is a page; when
  // they contradict it (a page served as application/octet-stream, a PDF served as text/html),
  // the bytes do (shared/content/sniff.ts).
  const sniffed = sniffContentType(res.body.subarray(0, SNIFF_BYTES), contentType === '' ? null : contentType, { noSniff: /nosniff/i.test(res.headers['x-content-type-options'] ?? '') });
  const isPage = sniffed.detectedType === null ? mime === '' || deps.htmlTypes.includes(mime) : sniffed.kind === 'html';
  // A document the session parses (spec.documents, default all) goes to its own stage.
  const doc = !task.role && !isPage ? documentKind(sniffed.kind, sniffed.detectedType ?? mimeEssence(contentType) ?? '') : null;
  const parsesDoc = doc !== null && (job.session.spec.documents ?? DOCUMENT_KINDS).includes(doc);
  if (!task.role && !isPage && !parsesDoc) return unparsed(sniffed.detectedType ? { detectedType: sniffed.detectedType } : {});
  const headers: Record<string, string> = {};
  for (const h of KEPT_HEADERS) if (res.headers[h] !== undefined) headers[h] = res.headers[h] as string;
  // Credentials and client state never travel on (the list above holds none; this keeps it so).
  const shown = redactHeaders(headers);
  return {
    kind: parsesDoc ? 'document' : 'page',
    page: {
      sessionId: task.sessionId,
      taskId: task.taskId,
      url: task.url,
      finalUrl: res.finalUrl,
      depth: task.depth,
      attempt,
      ...(task.parent ? { parent: task.parent } : {}),
      status: res.status,
      contentType,
      ...(sniffed.detectedType ? { detectedType: sniffed.detectedType } : {}),
      headers: shown,
      fetchedAt,
      fetchMs: Math.round(res.ms),
      body: res.body,
      ...(task.role ? { role: task.role } : {}),
    },
  };
}
