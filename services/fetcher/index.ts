/**
 * Fetcher: consumes the fetch queue, a batch of tasks per message. The batch is claimed in
 * one ledger call per session (CAS, lease); then each claimed task goes through the steps of
 * steps.ts, the gate and the request within this replica's requests in flight
 * (fetch.concurrency, shared fairly across hosts: slots.ts):
 *   preflight (scheme, IP literals against the SSRF policy) →
 *   robots (robots.txt of the origin, cached for the cluster; disallowed → skipped) →
 *   recrawl (a session with `recrawl`: a page the crawl index says is fresh goes to the
 *   extractor without a request; others may be fetched conditionally) →
 *   gate (cluster-wide rate buckets with Crawl-delay, the host's 429/503 backoff, per-host
 *   concurrency slots; a long wait hands the task to a delay queue) →
 *   fetch (through the fetch seam: SSRF guard, caps, timeouts, redirects; a session that
 *   renders `always` sends the page to the render stage instead, services/renderer) →
 *   route (HTML to the extract stage; other content, HTTP errors and permanent failures to
 *   delivery; transient failures back to this stage through a delay queue);
 *   every response is written to the crawl index (shared/crawlindex), which says whether the
 *   body changed.
 * Every output is confirmed by the broker before the input is acked.
 *
 * Cancel and pause (session-control.ts, shared with the renderer): a claimed task checks its session's status, a Map
 * read, when its steps begin, when it gets a request slot, at each turn of the gate and right
 * before the request. A cancelled session's task ends C there (cancel-task-3); a paused one's
 * goes back to W with its attempt given back (defer-3) and to a delay queue, and so does a task
 * claimed while its session is paused (claim-3): it comes back every PAUSE_RECHECK_MS until the
 * session is resumed, using no attempt, no rate token and no fetch.
 */
import { createHash } from 'node:crypto';
import { SessionCache, type SessionPolicy } from '../../shared/admission/index.js';
import { changedSince, CrawlIndex, shortHash } from '../../shared/crawlindex/index.js';
import { fetchItemWindow } from '../../shared/config/limits.js';
import { CrawlError } from '../../shared/errors/index.js';
import { RedisCookieJarStore } from '../../shared/fetch/cookie-jar.js';
import { SessionRequestState } from '../../shared/fetch/request-state.js';
import { fetchRequest } from '../../shared/fetch/seam.js';
import { redactError, secretsOf } from '../../shared/observability/redact.js';
import type { ClaimReply } from '../../shared/ledger/index.js';
import { Consumer, type DeliveryContext } from '../../shared/messaging/consumer.js';
import { RateLimiter, ReplicaRate } from '../../shared/ratelimit.js';
import { renderMode } from '../../shared/render/options.js';
import { runService, type ServiceContext, type ServiceHandle } from '../../shared/service/runtime.js';
import { bySession } from '../../shared/tasks/group.js';
import { deliverMessage, failureRecord, taskRef } from '../../shared/tasks/records.js';
import { DOCUMENT_KINDS, type FetchTask, type ResultRecord } from '../../shared/tasks/types.js';
import { exchangeRecords } from '../../shared/warc/exchange.js';
import { replicaWarcWriters } from '../../shared/warc/service.js';
import { ROBOTS_MAX_BYTES } from '../../shared/url/robots.js';
import { parseRetryAfter, retryDelay, statusClass } from './classify.js';
import { HttpFetcher, type FetchResponse } from './http.js';
import { ROBOTS_MAX_REDIRECTS, RobotsCache } from './robots-cache.js';
import { PAUSE_RECHECK_MS, SessionControl } from './session-control.js';
import { HostSlots } from './slots.js';
import { fetchStep, gateStep, indexEntryOf, preflightStep, recrawlStep, robotsStep, routeStep, type FetchJob, type Verdict } from './steps.js';

/** Tasks held per replica (the schema bounds it so the derived prefetch stays valid). */
const itemWindow = fetchItemWindow;

export async function startFetcher(ctx: ServiceContext): Promise<ServiceHandle> {
  const { tasks, outbox, topology, metrics } = ctx;
  /** Requests in flight on this replica, handed out fairly across hosts, resized live. */
  const inFlight = new HostSlots(ctx.config().fetch.concurrency);
  const sessions = new SessionCache(ctx.sessions);
  const limiter = new RateLimiter(ctx.redis, ctx.keys);
  const fetcher = new HttpFetcher(ctx.config);
  /** WARC files of the sessions that ask for them (one per session on this replica). */
  const warc = replicaWarcWriters(ctx.name, ctx.config, (err, sessionId) => ctx.log.error({ sessionId, err: (err as Error).message }, 'cannot close a WARC file'));
  // The sessions' headers, cookies and jars: built once per cached session policy (specs never change).
  const jars = new RedisCookieJarStore(ctx.redis, ctx.keys);
  const requestStates = new WeakMap<SessionPolicy, { state: SessionRequestState; secrets: string[] }>();
  const requestStateOf = (session: SessionPolicy): { state: SessionRequestState; secrets: string[] } => {
    let entry = requestStates.get(session);
    if (!entry) {
      const state = new SessionRequestState({
        sessionId: session.id,
        spec: session.spec,
        inScope: (url) => session.scope.allows(url),
        jar: jars,
        jarTtlMs: () => session.spec.timeoutMs + ctx.config().session.closeAfterMs + ctx.config().session.retentionMs,
      });
      entry = { state, secrets: secretsOf(session.spec) };
      requestStates.set(session, entry);
    }
    return entry;
  };
  const index = new CrawlIndex(ctx.redis, ctx.keys, () => ctx.config().index);

  // Cancel and pause: the session watch (statuses pushed on the control channel, read back once a second).
  const control = new SessionControl(ctx, 'fetcher');
  /** The session of a claimed task is paused or cancelled: its request must not start. */
  const halted = (job: FetchJob): boolean => control.halted(job.task.sessionId);

  const robots = new RobotsCache({
    redis: ctx.redis,
    keys: ctx.keys,
    config: ctx.config,
    onLookup: (source, stored) => metrics.robotsLookups.inc({ source, verdict: stored.verdict }),
    async fetch(url) {
      const cfg = ctx.config();
      const res = await fetcher.fetch(url, fetchRequest(cfg, {
        maxBytes: Math.max(cfg.robots.maxBytes, ROBOTS_MAX_BYTES + 1),
        maxRedirects: ROBOTS_MAX_REDIRECTS,
        truncate: true,
        accept: 'text/plain,*/*;q=0.5',
      }));
      return { status: res.status, body: res.body };
    },
  });

  const gateDeps = {
    config: ctx.config,
    tryEnter: limiter.tryEnter.bind(limiter),
    replica: new ReplicaRate(),
    async defer(job: FetchJob, waitMs: number): Promise<boolean> {
      const { task, attempt } = job;
      if (!(await tasks.defer(task.sessionId, task.taskId, attempt, waitMs + ctx.config().task.leaseMs))) return false;
      await outbox.later('fetch', waitMs, { ...task, attempt: attempt - 1 });
      return true;
    },
    halted,
    sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
    onWaited: (ms: number) => metrics.rateWaitSeconds.inc(ms / 1000),
    onDeferred: (reason: string) => metrics.fetchDeferred.inc({ reason }),
  };

  const routeDeps = {
    get htmlTypes() {
      return ctx.config().fetch.htmlTypes;
    },
    async penalize(host: string, status: number, retryAfterMs: number): Promise<void> {
      const p = ctx.config().politeness;
      const b = await limiter.penalize(host, { startMs: p.backoffStartMs, maxMs: p.backoffMaxMs, halfLifeMs: p.backoffHalfLifeMs, retryAfterMs: Math.min(retryAfterMs, p.maxRetryAfterMs) });
      metrics.hostBackoffs.inc();
      ctx.log.info({ host, status, intervalMs: b.intervalMs, untilMs: b.untilMs }, 'host asks to slow down: backing off');
    },
    now: () => Date.now(),
  };

  const deliver = (task: FetchTask, record: ResultRecord): Promise<void> => outbox.send('deliver', deliverMessage(taskRef(task), record));

  /** Claims a batch: one ledger call per session; replies in the order of the tasks. */
  async function claimAll(batch: readonly FetchTask[], takeOver: boolean): Promise<ClaimReply[]> {
    const cfg = ctx.config();
    const replies = new Array<ClaimReply>(batch.length);
    const groups = bySession(batch.map((t, i) => ({ sessionId: t.sessionId, taskId: t.taskId, i })));
    await Promise.all([...groups].map(async ([sessionId, group]) => {
      const r = await tasks.claim(sessionId, group.map((g) => g.taskId), { leaseMs: cfg.task.leaseMs, maxAttempts: cfg.retry.maxAttempts, takeOver, pauseLeaseMs: PAUSE_RECHECK_MS + cfg.task.leaseMs });
      group.forEach((g, k) => (replies[g.i] = r[k] as ClaimReply));
    }));
    return replies;
  }

  /** A message: claim every task, then fetch the claimed ones within the requests in flight. */
  async function handleBatch(batch: FetchTask[], delivery: DeliveryContext): Promise<void> {
    const claims = await claimAll(batch, delivery.redelivered);
    const work = batch.map((task, i) => {
      const claim = claims[i] as ClaimReply;
      if (claim.kind === 'exhausted') {
        const err = new CrawlError('timeout', `${task.url}: no attempt finished within its lease (${claim.attempt} attempts)`);
        return deliver(task, failureRecord(taskRef(task), err, { attempts: claim.attempt }));
      }
      if (claim.kind === 'paused') {
        metrics.fetchDeferred.inc({ reason: 'paused' });
        return outbox.later('fetch', PAUSE_RECHECK_MS, { ...task, attempt: claim.attempt });
      }
      if (claim.kind !== 'ok') {
        if (claim.kind === 'busy' || claim.kind === 'done') metrics.duplicates.inc({ stage: 'fetch' });
        return Promise.resolve();
      }
      return handle(task, claim.attempt);
    }).map((p) => p.finally(() => delivery.itemsDone()));
    // Every task finishes (or fails) before the message is settled: a redelivery must not race them.
    const failed = (await Promise.allSettled(work)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** A claimed task whose session is paused or cancelled, before its request started (session-control.ts). */
  const stop = (job: FetchJob): Promise<void> => control.stop(job.task, job.attempt);

  /** One claimed task through the steps. */
  async function handle(task: FetchTask, attempt: number): Promise<void> {
    const session = await sessions.get(task.sessionId);
    if (!session) return;
    const job: FetchJob = { task, attempt, session, target: new URL(task.url), crawlDelayS: null };
    await control.ensure(task.sessionId);
    if (halted(job)) return stop(job);
    let verdict = preflightStep(job, fetcher);
    if (verdict.kind === 'next') verdict = await robotsStep(job, ctx.config().robots.obey, (url) => robots.check(url));
    if (verdict.kind === 'next') verdict = await recrawlStep(job, (taskId) => index.get(taskId), () => Date.now());
    if (verdict.kind === 'next') {
      // The gate and the request hold one of this replica's request slots (the wait for the
      // output's confirm below does not).
      const fetched = await inFlight.run(job.target.host, async () => {
        if (halted(job)) return 'halted' as const;
        const entered = await gateStep(job, gateDeps);
        if (entered === 'deferred' || entered === 'halted') return entered;
        // The last look before the request: a cancel or pause that arrived during the gate wins.
        if (halted(job)) {
          await limiter.release(job.target.host, entered.slot);
          return 'halted' as const;
        }
        // A session that renders every page: past robots.txt and the gate, the renderer fetches it in Chromium.
        if (!task.role && renderMode(session.spec, ctx.config()) === 'always') {
          await limiter.release(job.target.host, entered.slot);
          return 'render' as const;
        }
        const endTimer = metrics.fetchSeconds.startTimer();
        try {
          const own = requestStateOf(session);
          const hop = own.state.hop();
          const fetched = await fetchStep(job, fetcher, fetchRequest(ctx.config(), {
            allowRedirect: (u) => session.scope.allows(u),
            ...(task.role ? {} : { skipTypes: ctx.config().fetch.skipTypes, documents: { kinds: session.spec.documents ?? DOCUMENT_KINDS, maxBytes: ctx.config().documents.maxBytes } }),
            ...(session.spec.userAgent ? { userAgent: session.spec.userAgent } : {}),
            ...(hop ? { requestState: hop } : {}),
            ...(session.spec.warc ? { capture: true } : {}),
            ...(job.validators ? { validators: job.validators } : {}),
          }));
          // An error message never shows the session's header or cookie values.
          return fetched.kind === 'fail' && own.secrets.length > 0 ? { ...fetched, error: redactError(fetched.error, own.secrets) } : fetched;
        } finally {
          endTimer();
          await limiter.release(job.target.host, entered.slot);
        }
      });
      if (fetched === 'deferred') return;
      if (fetched === 'halted') return stop(job);
      if (fetched === 'render') return outbox.send('render', { ...task, attempt, reason: 'always' });
      if (fetched.kind === 'fetched') {
        metrics.pagesFetched.inc({ status_class: statusClass(fetched.response.status) });
        metrics.fetchBytes.inc(fetched.response.body.length);
        // The exchange is on disk before the page goes on: a delivered page has its response record.
        const responseId = await archive(job, fetched.response);
        verdict = await indexed(job, fetched.response, await routeStep(job, fetched.response, routeDeps));
        if (verdict.kind === 'page' && responseId !== null) verdict.page.warcResponseId = responseId;
      } else {
        metrics.pagesFetched.inc({ status_class: 'error' });
        verdict = fetched;
      }
    }
    await act(job, verdict);
  }

  /** Writes the request and response records of a captured exchange (a session with `warc`); answers the response record's id. */
  async function archive(job: FetchJob, res: FetchResponse): Promise<string | null> {
    if (!res.exchange) return null;
    const { request, response } = exchangeRecords(res.exchange, { keepSecrets: job.session.spec.warcRecordSecrets === true, secretHeaders: Object.keys(job.session.spec.headers ?? {}) });
    try {
      await warc.write(job.task.sessionId, [request, response]);
    } catch (err) {
      throw new CrawlError('internal', `${job.task.url}: cannot write its WARC records: ${(err as Error).message}`, { cause: err });
    }
    return response.record.id;
  }

  /**
   * Every response goes into the crawl index (the newest fetch of a URL wins); the page or
   * record learns whether its body changed since the fetch the index knew.
   */
  async function indexed(job: FetchJob, res: FetchResponse, verdict: Verdict): Promise<Verdict> {
    const page = verdict.kind === 'page' ? verdict.page : null;
    const fetchedAt = page?.fetchedAt ?? Date.now();
    const hashed = !res.bodySkipped && res.status >= 200 && res.status < 300;
    const contentHash = hashed ? `sha256:${createHash('sha256').update(res.body).digest('hex')}` : null;
    const { previous } = await index.put(job.task.taskId, indexEntryOf(job, res, fetchedAt, contentHash));
    const changed = page?.reuse ? false : changedSince(previous, shortHash(contentHash));
    if (page) return { kind: 'page', page: { ...page, changed, ...(contentHash !== null && !page.reuse ? { contentHash } : {}) } };
    if (verdict.kind === 'record' && verdict.record.outcome === 'delivered') return { kind: 'record', record: { ...verdict.record, changed } };
    return verdict;
  }

  /** What a verdict does to the task. */
  async function act(job: FetchJob, verdict: Verdict): Promise<void> {
    switch (verdict.kind) {
      case 'page':
        return outbox.send('extract', verdict.page);
      case 'document':
        return outbox.send('document', verdict.page);
      case 'record':
        return deliver(job.task, verdict.record);
      case 'fail':
        return fail(job, verdict.error, verdict.response);
      case 'next':
        throw new CrawlError('internal', `${job.task.url}: the fetch steps ended without a verdict`);
    }
  }

  /** A failed attempt: park and retry if transient and attempts remain, else deliver the failure. */
  async function fail(job: FetchJob, err: CrawlError, res: FetchResponse | null): Promise<void> {
    const { task, attempt } = job;
    const cfg = ctx.config();
    const log = ctx.log.child({ sessionId: task.sessionId, taskId: task.taskId });
    if (err.retryable) {
      const retryAfter = res ? parseRetryAfter(res.headers['retry-after'], Date.now()) : null;
      const delay = retryDelay(attempt, cfg.retry, Math.random(), retryAfter);
      if (delay !== null) {
        if (await tasks.parkForRetry(task.sessionId, task.taskId, attempt, delay + cfg.task.leaseMs)) {
          await outbox.later('fetch', delay, { ...task, attempt });
          metrics.retries.inc({ reason: err.code });
          log.debug({ code: err.code, attempt, delayMs: delay }, 'fetch will be retried');
        }
        return;
      }
    }
    log.debug({ code: err.code, attempt }, 'fetch failed');
    const extra = { attempts: attempt, ...(res ? { status: res.status, finalUrl: res.finalUrl, contentType: res.headers['content-type'] ?? null, fetchedAt: new Date().toISOString() } : {}) };
    await deliver(task, failureRecord(taskRef(task), err, extra));
  }

  const consumer = new Consumer<FetchTask>(ctx.broker, {
    name: 'fetch',
    queue: topology.queue('fetch'),
    quarantine: topology.quarantine(topology.queue('fetch')),
    codec: outbox.codecs.fetch,
    // Messages are not the limit: tasks are, through inFlight and the item window.
    concurrency: Number.POSITIVE_INFINITY,
    itemWindow: itemWindow(ctx.config().fetch),
    itemsPerMessage: ctx.config().amqp.fetchBatch,
    handle: handleBatch,
    log: ctx.log,
    metrics,
  });
  await consumer.start();
  ctx.onConfigChange(async (next, prev) => {
    if (next.fetch.concurrency !== prev.fetch.concurrency || next.fetch.prefetch !== prev.fetch.prefetch) {
      inFlight.concurrency = next.fetch.concurrency;
      await consumer.resize(Number.POSITIVE_INFINITY, { itemWindow: itemWindow(next.fetch) });
      ctx.log.info({ concurrency: next.fetch.concurrency, itemWindow: itemWindow(next.fetch) }, 'fetch concurrency changed');
    }
  });

  return {
    async close(graceMs) {
      await consumer.close(graceMs);
      await warc.close();
      control.close();
      await fetcher.close();
    },
  };
}

/** Entry point: `crawlfleet fetcher`. */
export const main = (): Promise<unknown> => runService('fetcher', startFetcher);
