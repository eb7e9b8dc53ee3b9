/**
 * Fetcher: consumes the fetch queue, a batch of tasks per message. The batch is claimed in
 * one ledger call per session (CAS, lease); then each claimed task, in order (the gate and
 * the request within the replica's requests in flight, fetch.concurrency, shared fairly
 * across hosts: slots.ts):
 *   preflight (scheme, IP literals against the SSRF policy) →
 *   robots (robots.txt of the origin, cached for the cluster; disallowed → skipped) →
 *   politeness gate (cluster-wide rate buckets with Crawl-delay, the host's 429/503 backoff,
 *   per-host concurrency slots; a long wait hands the task to a delay queue) → fetch (SSRF
 *   guard, caps, timeouts, redirects) → route: HTML to the extract queue; other content, HTTP
 *   errors and permanent failures to delivery; transient failures to a delayed retry queue.
 * Every output is confirmed by the broker before the input is acked.
 */
import type { Agent } from 'undici';
import { SessionCache } from '../../shared/admission/index.js';
import { CrawlError, toCrawlError } from '../../shared/errors/index.js';
import { Consumer, type DeliveryContext } from '../../shared/messaging/consumer.js';
import { RETRY_DELAYS_MS } from '../../shared/messaging/topology.js';
import { createGuardedAgent } from '../../shared/net/agent.js';
import { AddressPolicy } from '../../shared/net/ssrf.js';
import { effectiveHostRate, RateLimiter, ratesFor, type HostLimits } from '../../shared/ratelimit.js';
import { callScript } from '../../shared/redis/scripts.js';
import { runService, type ServiceContext, type ServiceHandle } from '../../shared/service/runtime.js';
import type { Config } from '../../shared/config/index.js';
import type { ClaimReply } from '../../shared/ledger/index.js';
import { deliverCodec, extractCodec, fetchCodec } from '../../shared/tasks/codec.js';
import { bySession } from '../../shared/tasks/group.js';
import { bareRecord, deliverMessage, failureRecord, taskRef } from '../../shared/tasks/records.js';
import type { ExtractTask, FetchTask } from '../../shared/tasks/types.js';
import { mimeType, parseRetryAfter, retryDelay, statusClass, statusError } from './classify.js';
import { fetchPage, preflight, type FetchResponse } from './http.js';
import { ROBOTS_MAX_REDIRECTS, RobotsCache } from './robots-cache.js';
import { HostSlots } from './slots.js';
import { ROBOTS_MAX_BYTES } from '../../shared/url/robots.js';

/** Response headers worth passing on to the extractor. */
const KEPT_HEADERS = ['content-type', 'content-language', 'last-modified', 'etag', 'x-robots-tag'];

/** Tasks held per replica: fetch.prefetch, or twice the requests in flight. */
const itemWindow = (f: Config['fetch']): number => (f.prefetch > 0 ? f.prefetch : 2 * f.concurrency);

export async function startFetcher(ctx: ServiceContext): Promise<ServiceHandle> {
  const { ledger, outbox, topology, metrics } = ctx;
  const pages = extractCodec(() => ctx.config().amqp.compressPages);
  /** Requests in flight on this replica, handed out fairly across hosts, resized live. */
  const inFlight = new HostSlots(ctx.config().fetch.concurrency);
  const sessions = new SessionCache(ledger);
  const limiter = new RateLimiter(ctx.redis, ctx.keys);
  let policy = new AddressPolicy(ctx.config().fetch.allowedNetworks);
  let agent: Agent = createGuardedAgent(policy, ctx.config().fetch.connectTimeoutMs);
  let agentKey = JSON.stringify([ctx.config().fetch.allowedNetworks, ctx.config().fetch.connectTimeoutMs]);

  /** The agent follows live changes of the network allowlist and connect timeout. */
  const currentAgent = (): Agent => {
    const f = ctx.config().fetch;
    const key = JSON.stringify([f.allowedNetworks, f.connectTimeoutMs]);
    if (key !== agentKey) {
      const old = agent;
      policy = new AddressPolicy(f.allowedNetworks);
      agent = createGuardedAgent(policy, f.connectTimeoutMs);
      agentKey = key;
      void old.close();
    }
    return agent;
  };

  const deliver = (task: FetchTask, record: Parameters<typeof deliverMessage>[1]): Promise<void> =>
    outbox.send(deliverCodec, topology.deliver, deliverMessage(taskRef(task), record));
  const retryLater = (delayMs: number, task: FetchTask): Promise<void> => outbox.send(fetchCodec, topology.retry(delayMs), task);

  const robots = new RobotsCache({
    redis: ctx.redis,
    keys: ctx.keys,
    config: ctx.config,
    onLookup: (source, stored) => metrics.robotsLookups.inc({ source, verdict: stored.verdict }),
    async fetch(url) {
      const f = ctx.config().fetch;
      const res = await fetchPage(url, currentAgent(), policy, {
        userAgent: f.userAgent,
        headersTimeoutMs: f.headersTimeoutMs,
        bodyIdleTimeoutMs: f.bodyIdleTimeoutMs,
        totalTimeoutMs: f.totalTimeoutMs,
        maxBytes: Math.max(ctx.config().robots.maxBytes, ROBOTS_MAX_BYTES + 1),
        maxRedirects: ROBOTS_MAX_REDIRECTS,
        truncate: true,
        accept: 'text/plain,*/*;q=0.5',
      });
      return { status: res.status, body: res.body };
    },
  });

  /** What the politeness gate checks for one host, from the live config and the host's Crawl-delay. */
  const hostLimits = (target: URL, crawlDelayS: number | null): HostLimits => {
    const c = ctx.config();
    const rates = ratesFor(c.rate, target);
    return {
      global: rates.global,
      perHost: effectiveHostRate(rates.perHost, crawlDelayS, c.robots.maxCrawlDelayS),
      concurrency: c.politeness.perHostConcurrency,
      // A fetch ends within its total deadline: a slot outliving that belongs to a dead fetcher.
      slotLeaseMs: c.fetch.totalTimeoutMs + 10_000,
      backoffHalfLifeMs: c.politeness.backoffHalfLifeMs,
    };
  };

  /**
   * Waits at the politeness gate: in place while the wait is short (or global: nothing else
   * could go either); a longer host wait hands the task to the first delay queue at least
   * that long, giving back its attempt, and frees this consumer slot for other hosts.
   * Returns the slot (null when unlimited), or 'deferred'.
   */
  async function gate(task: FetchTask, attempt: number, target: URL, crawlDelayS: number | null): Promise<{ slot: string | null } | 'deferred'> {
    let waited = 0;
    for (;;) {
      const g = await limiter.tryEnter(target.host, hostLimits(target, crawlDelayS));
      if (g.granted) {
        if (waited > 0) metrics.rateWaitSeconds.inc(waited / 1000);
        return { slot: g.slot };
      }
      const maxWaitMs = ctx.config().politeness.maxWaitMs;
      if (g.reason !== 'global' && waited + g.waitMs > maxWaitMs) {
        const want = g.reason === 'slots' ? maxWaitMs : g.waitMs;
        const delay = RETRY_DELAYS_MS.find((d) => d >= want) ?? RETRY_DELAYS_MS[RETRY_DELAYS_MS.length - 1]!;
        const k = ctx.keys.session(task.sessionId);
        const r = (await callScript(ctx.redis, 'defer', [k.session, k.tasks, k.leases], [task.taskId, attempt, delay + ctx.config().task.leaseMs])) as string[];
        if (r[0] === 'ok') {
          await retryLater(delay, { ...task, attempt: attempt - 1 });
          metrics.fetchDeferred.inc({ reason: g.reason });
        }
        if (waited > 0) metrics.rateWaitSeconds.inc(waited / 1000);
        return 'deferred';
      }
      const ms = g.reason === 'slots' ? 20 + Math.random() * 60 : Math.min(g.waitMs, 1000);
      waited += ms;
      await new Promise((r) => setTimeout(r, ms));
    }
  }

  /** Claims a batch: one ledger call per session; replies in the order of the tasks. */
  async function claimAll(tasks: readonly FetchTask[], redelivered: boolean): Promise<ClaimReply[]> {
    const cfg = ctx.config();
    const replies = new Array<ClaimReply>(tasks.length);
    const groups = bySession(tasks.map((t, i) => ({ sessionId: t.sessionId, taskId: t.taskId, i })));
    await Promise.all([...groups].map(async ([sessionId, group]) => {
      const r = await ledger.claimMany(sessionId, group.map((g) => g.taskId), cfg.task.leaseMs, cfg.retry.maxAttempts, redelivered);
      group.forEach((g, k) => (replies[g.i] = r[k] as ClaimReply));
    }));
    return replies;
  }

  /** A message: claim every task, then fetch the claimed ones within the requests in flight. */
  async function handleBatch(tasks: FetchTask[], delivery: DeliveryContext): Promise<void> {
    const claims = await claimAll(tasks, delivery.redelivered);
    const work = tasks.map((task, i) => {
      const claim = claims[i] as ClaimReply;
      if (claim.kind === 'exhausted') {
        const err = new CrawlError('timeout', `${task.url}: no attempt finished within its lease (${claim.attempt} attempts)`);
        return deliver(task, failureRecord(taskRef(task), err, { attempts: claim.attempt }));
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

  async function handle(task: FetchTask, attempt: number): Promise<void> {
    const cfg = ctx.config();
    const log = ctx.log.child({ sessionId: task.sessionId, taskId: task.taskId });
    const session = await sessions.get(task.sessionId);
    if (!session) return;

    // 1. preflight and robots: no connection for a URL the policy or the site refuses
    const target = new URL(task.url);
    let crawlDelayS: number | null = null;
    try {
      currentAgent();
      preflight(target, policy);
      // robots.txt itself is always fetched (RFC 9309 2.4); a sitemap seeding task reads it.
      if (cfg.robots.obey && task.role !== 'robots') {
        const decision = await robots.check(target);
        if (!decision.allowed) {
          log.debug({ code: decision.error.code }, 'skipped by robots.txt');
          await deliver(task, failureRecord(taskRef(task), decision.error, { attempts: attempt }));
          return;
        }
        crawlDelayS = decision.crawlDelayS;
      }
    } catch (err) {
      const e = toCrawlError(err);
      if (e.code === 'internal' || e.code === 'unavailable') throw err;
      await fail(task, attempt, e, null, log);
      return;
    }

    // 2-3. politeness gate and fetch, within one of this replica's request slots (the wait for
    // the output's confirm below does not hold a slot)
    const fetched = await inFlight.run(target.host, async (): Promise<'deferred' | { res: FetchResponse } | { err: CrawlError }> => {
      const entered = await gate(task, attempt, target, crawlDelayS);
      if (entered === 'deferred') return 'deferred';
      const f = ctx.config().fetch;
      const endTimer = metrics.fetchSeconds.startTimer();
      try {
        return {
          res: await fetchPage(task.url, currentAgent(), policy, {
            userAgent: f.userAgent,
            headersTimeoutMs: f.headersTimeoutMs,
            bodyIdleTimeoutMs: f.bodyIdleTimeoutMs,
            totalTimeoutMs: f.totalTimeoutMs,
            maxBytes: f.maxBytes,
            maxRedirects: f.maxRedirects,
            allowRedirect: (u) => session.scope.allows(u),
          }),
        };
      } catch (err) {
        return { err: toCrawlError(err) };
      } finally {
        endTimer();
        await limiter.release(target.host, entered.slot);
      }
    });
    if (fetched === 'deferred') return;
    if ('err' in fetched) {
      metrics.pagesFetched.inc({ status_class: 'error' });
      await fail(task, attempt, fetched.err, null, log);
      return;
    }
    const res = fetched.res;
    metrics.pagesFetched.inc({ status_class: statusClass(res.status) });
    metrics.fetchBytes.inc(res.body.length);

    // 4. route (a 429 or 503 first slows the answering host down for the whole cluster)
    if (res.status === 429 || res.status === 503) {
      const p = ctx.config().politeness;
      const retryAfter = parseRetryAfter(res.headers['retry-after'], Date.now()) ?? 0;
      const answering = new URL(res.finalUrl).host;
      const b = await limiter.penalize(answering, {
        startMs: p.backoffStartMs,
        maxMs: p.backoffMaxMs,
        halfLifeMs: p.backoffHalfLifeMs,
        retryAfterMs: Math.min(retryAfter, p.maxRetryAfterMs),
      });
      metrics.hostBackoffs.inc();
      log.info({ host: answering, status: res.status, intervalMs: b.intervalMs, untilMs: b.untilMs }, 'host asks to slow down: backing off');
    }
    const code = statusError(res.status);
    if (code) {
      const err = new CrawlError(code, `${task.url}: HTTP ${res.status}`, { details: { status: res.status } });
      await fail(task, attempt, err, res, log);
      return;
    }
    const contentType = res.headers['content-type'] ?? '';
    const mime = mimeType(contentType);
    const isHtml = mime === '' || cfg.fetch.htmlTypes.includes(mime);
    // robots.txt and sitemaps (XML, gzip, text) go to the extractor whatever their type.
    const fetchedAt = Date.now();
    if (!isHtml && !task.role) {
      await deliver(task, bareRecord(taskRef(task), 'delivered', {
        finalUrl: res.finalUrl,
        status: res.status,
        contentType,
        fetchedAt: new Date(fetchedAt).toISOString(),
        attempts: attempt,
      }));
      return;
    }
    const headers: Record<string, string> = {};
    for (const h of KEPT_HEADERS) if (res.headers[h] !== undefined) headers[h] = res.headers[h] as string;
    const extract: ExtractTask = {
      sessionId: task.sessionId,
      taskId: task.taskId,
      url: task.url,
      finalUrl: res.finalUrl,
      depth: task.depth,
      attempt,
      ...(task.parent ? { parent: task.parent } : {}),
      status: res.status,
      contentType,
      headers,
      fetchedAt,
      fetchMs: Math.round(res.ms),
      body: res.body,
      ...(task.role ? { role: task.role } : {}),
    };
    await outbox.send(pages, topology.extract, extract);
  }

  /** A failed attempt: park and retry if transient and attempts remain, else deliver the failure. */
  async function fail(task: FetchTask, attempt: number, err: CrawlError, res: FetchResponse | null, log: ServiceContext['log']): Promise<void> {
    const cfg = ctx.config();
    const extra = {
      attempts: attempt,
      ...(res ? { status: res.status, finalUrl: res.finalUrl, contentType: res.headers['content-type'] ?? null, fetchedAt: new Date().toISOString() } : {}),
    };
    if (err.retryable) {
      const retryAfter = res ? parseRetryAfter(res.headers['retry-after'], Date.now()) : null;
      const delay = retryDelay(attempt, cfg.retry, Math.random(), retryAfter);
      if (delay !== null) {
        const parked = await ledger.parkForRetry(task.sessionId, task.taskId, attempt, delay + cfg.task.leaseMs);
        if (parked) {
          await retryLater(delay, { ...task, attempt });
          metrics.retries.inc({ reason: err.code });
          log.debug({ code: err.code, attempt, delayMs: delay }, 'fetch will be retried');
        }
        return;
      }
    }
    log.debug({ code: err.code, attempt }, 'fetch failed');
    await deliver(task, failureRecord(taskRef(task), err, extra));
  }

  const consumer = new Consumer<FetchTask>(ctx.broker, {
    name: 'fetch',
    queue: topology.fetch,
    quarantine: topology.quarantine(topology.fetch),
    codec: fetchCodec,
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
      await agent.close();
    },
  };
}

/** Entry point: `crawlfleet fetcher`. */
export const main = (): Promise<unknown> => runService('fetcher', startFetcher);
