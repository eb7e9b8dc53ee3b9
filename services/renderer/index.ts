/**
 * Renderer: consumes the render queue, one page per message, and renders it in headless
 * Chromium (browser.ts, render.ts) with every request through the SSRF-guarded proxy
 * (proxy.ts). The page arrives claimed, past robots.txt and the politeness gate: from the
 * fetcher when its session renders `always`, from the extractor when the session renders
 * `auto` and the fetched page looked script-built. The rendered DOM goes to the extract
 * stage as a page the extractor already understands (UTF-8 HTML, the final URL, the main
 * response's status and kept headers) with `rendered` set; its output is confirmed before
 * the message is acked.
 *
 * Failures: an HTTP error status, a forbidden address or a timeout fail the attempt like a
 * fetch's (retryable ones go back to the fetch queue through a delay queue while attempts
 * remain); a crash of the browser or the page propagates, so the message is nacked and
 * redelivered (the host starts a new browser). The consumer starts once the browser runs;
 * until then /readyz answers 503 naming why.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SessionCache, type SessionPolicy } from '../../shared/admission/index.js';
import { toCrawlError, type CrawlError } from '../../shared/errors/index.js';
import { Consumer } from '../../shared/messaging/consumer.js';
import { AddressPolicy } from '../../shared/net/ssrf.js';
import { renderOptions } from '../../shared/render/options.js';
import { runService, type ServiceContext, type ServiceHandle } from '../../shared/service/runtime.js';
import { deliverMessage, failureRecord, taskRef } from '../../shared/tasks/records.js';
import type { ExtractTask, FetchTask, RenderTask } from '../../shared/tasks/types.js';
import { retryDelay, statusClass } from '../fetcher/classify.js';
import { BrowserHost } from './browser.js';
import { GuardedProxy } from './proxy.js';
import { renderPage, type RequestState } from './render.js';

/**
 * The session's request state for the browser: the headers and cookies of the session spec
 * (POST /sessions `headers`, `cookies`; shared/fetch/request-state.ts applies them to HTTP
 * fetches). Cookies without a domain go to the page's own host (playwright needs a url or a
 * domain: the render sets the page URL for those).
 */
export function sessionRequestState(spec: SessionPolicy['spec']): RequestState {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(spec.headers ?? {})) headers[k.toLowerCase()] = v;
  const cookies: RequestState['cookies'] = (spec.cookies ?? []).map((c) => ({
    name: c.name,
    value: c.value,
    ...(c.domain !== undefined ? { domain: c.domain, path: c.path ?? '/' } : {}),
  }));
  return { headers, cookies };
}

/** The fetch task a render task came from (what goes back to the fetch queue for a retry). */
function fetchTaskOf(task: RenderTask): FetchTask {
  return {
    sessionId: task.sessionId,
    taskId: task.taskId,
    url: task.url,
    depth: task.depth,
    attempt: task.attempt,
    admittedAt: task.admittedAt,
    ...(task.parent ? { parent: task.parent } : {}),
    ...(task.role ? { role: task.role } : {}),
  };
}

export async function startRenderer(ctx: ServiceContext): Promise<ServiceHandle> {
  const { tasks, outbox, topology, metrics } = ctx;
  const sessions = new SessionCache(ctx.sessions);
  let policyFor: readonly string[] | null = null;
  let policy: AddressPolicy | null = null;
  const proxy = new GuardedProxy({
    policy: () => {
      const networks = ctx.config().fetch.allowedNetworks;
      if (policy === null || policyFor !== networks) {
        policy = new AddressPolicy(networks);
        policyFor = networks;
      }
      return policy;
    },
    connectTimeoutMs: () => ctx.config().fetch.connectTimeoutMs,
  });
  const deny = await proxy.deny();
  const host = new BrowserHost({
    chromiumPath: () => ctx.config().render.chromiumPath,
    launchTimeoutMs: () => ctx.config().render.launchTimeoutMs,
    maxPagesPerBrowser: () => ctx.config().render.maxPagesPerBrowser,
    maxRssBytes: () => ctx.config().render.maxBrowserRssBytes,
    denyProxyUrl: deny.url,
    log: ctx.log,
    onLaunch: (pid) => ctx.log.debug({ pid }, 'browser launched'),
  });
  ctx.addReadinessCheck(() => host.problem());

  async function renderOne(task: RenderTask): Promise<void> {
    const session = await sessions.get(task.sessionId);
    if (!session) return;
    const cfg = ctx.config();
    const opts = renderOptions(session.spec, cfg);
    const log = ctx.log.child({ sessionId: task.sessionId, taskId: task.taskId });
    const fetchedAt = Date.now();
    try {
      const r = await host.use((browser) =>
        renderPage(browser, proxy, {
          url: task.url,
          opts,
          userAgent: cfg.fetch.userAgent,
          state: sessionRequestState(session.spec),
          maxBytes: cfg.render.maxBytesPerPage,
          maxScreenshotBytes: cfg.render.maxScreenshotBytes,
        }, (why) => host.retire(why)),
      );
      let screenshot: string | undefined;
      if (r.screenshot) {
        const rel = join('screenshots', task.sessionId, `${task.taskId}.png`);
        await mkdir(join(cfg.deliver.resultsDir, 'screenshots', task.sessionId), { recursive: true });
        await writeFile(join(cfg.deliver.resultsDir, rel), r.screenshot);
        screenshot = rel;
      }
      const blocked = [...r.traffic.blocked];
      if (r.screenshotMissing) blocked.push(`screenshot (${r.screenshotMissing})`);
      if (r.popups > 0) blocked.push(`${r.popups} pop-up window${r.popups === 1 ? '' : 's'} (refused)`);
      const page: ExtractTask = {
        sessionId: task.sessionId,
        taskId: task.taskId,
        url: task.url,
        finalUrl: r.finalUrl,
        depth: task.depth,
        attempt: task.attempt,
        ...(task.parent ? { parent: task.parent } : {}),
        status: r.status,
        contentType: 'text/html; charset=utf-8',
        headers: r.headers,
        fetchedAt,
        fetchMs: r.ms,
        body: Buffer.from(r.html, 'utf8'),
        rendered: { reason: task.reason, blocked, bytes: r.traffic.bytes, ...(screenshot ? { screenshot } : {}) },
      };
      metrics.pagesFetched.inc({ status_class: statusClass(r.status) });
      metrics.fetchBytes.inc(r.traffic.bytes);
      await outbox.send('extract', page);
    } catch (err) {
      const e = toCrawlError(err);
      // A crashed browser or page, or a dependency away: the message is redelivered.
      if (e.code === 'render_crashed' || e.code === 'browser_unavailable' || e.code === 'unavailable') {
        log.warn({ code: e.code, err: e.message }, 'render interrupted; the page will be rendered again');
        throw e;
      }
      await fail(task, e);
    }
  }

  /** A failed attempt: retried through the fetch queue while attempts remain and the error is transient, else delivered failed. */
  async function fail(task: RenderTask, err: CrawlError): Promise<void> {
    const cfg = ctx.config();
    const attempt = task.attempt;
    if (err.retryable) {
      const delay = retryDelay(attempt, cfg.retry, Math.random());
      if (delay !== null) {
        if (await tasks.parkForRetry(task.sessionId, task.taskId, attempt, delay + cfg.task.leaseMs)) {
          await outbox.later('fetch', delay, fetchTaskOf(task));
          metrics.retries.inc({ reason: err.code });
        }
        return;
      }
    }
    const status = typeof err.details.status === 'number' ? { status: err.details.status } : {};
    const record = failureRecord(taskRef(task), err, { attempts: attempt, rendered: true, renderReason: task.reason, ...status });
    await outbox.send('deliver', deliverMessage(taskRef(task), record));
  }

  const consumer = new Consumer<RenderTask>(ctx.broker, {
    name: 'render',
    queue: topology.queue('render'),
    quarantine: topology.quarantine(topology.queue('render')),
    codec: outbox.codecs.render,
    concurrency: ctx.config().render.concurrency,
    prefetch: ctx.config().render.concurrency,
    handle: async (items) => {
      for (const task of items) await renderOne(task);
    },
    log: ctx.log,
    metrics,
  });
  let closed = false;
  // Consume only once the browser runs: until then the queue waits for a replica that can render.
  const consuming = host.start().then(async () => {
    if (!closed) await consumer.start();
  }).catch(() => undefined);

  return {
    async close(graceMs) {
      closed = true;
      await consumer.close(graceMs);
      await host.close();
      await consuming;
      await deny.close();
    },
  };
}

/** Entry point: `crawlfleet renderer`. */
export const main = (): Promise<unknown> => runService('renderer', startRenderer);
