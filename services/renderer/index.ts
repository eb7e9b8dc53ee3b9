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
 * Cancel and pause: right before a page is opened the session's status is checked as the
 * fetcher checks it before a request (fetcher/session-control.ts): a cancelled session's task
 * ends cancelled, a paused one's goes back to the fetch queue with its attempt given back.
 *
 * WARC (sessions with `warc`): the main document's request and response records (written by
 * the fetcher for `auto`, captured from the browser here for `always`) and a conversion record
 * of the rendered DOM that refers to the response; the extractor adds the metadata record.
 *
 * Failures: an HTTP error status, a forbidden address or a timeout fail the attempt like a
 * fetch's (retryable ones go back to the fetch queue through a delay queue while attempts
 * remain); a crash of the browser or the page propagates, so the message is nacked and
 * redelivered (the host starts a new browser). The consumer starts once the browser runs;
 * until then /readyz answers 503 naming why.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SessionCache, type SessionPolicy } from '../../shared/admission/index.js';
import { CrawlError, toCrawlError } from '../../shared/errors/index.js';
import { Consumer } from '../../shared/messaging/consumer.js';
import { AddressPolicy } from '../../shared/net/ssrf.js';
import { renderOptions } from '../../shared/render/options.js';
import { screenshotPath } from '../../shared/results/files.js';
import { runService, type ServiceContext, type ServiceHandle } from '../../shared/service/runtime.js';
import { deliverMessage, failureRecord, taskRef } from '../../shared/tasks/records.js';
import type { ExtractTask, FetchTask, RenderTask } from '../../shared/tasks/types.js';
import { conversionRecord, exchangeRecords } from '../../shared/warc/exchange.js';
import type { WarcEntry } from '../../shared/warc/writer.js';
import { replicaWarcWriters } from '../../shared/warc/service.js';
import { retryDelay, statusClass } from '../fetcher/classify.js';
import { SessionControl } from '../fetcher/session-control.js';
import { BrowserHost } from './browser.js';
import { GuardedProxy } from './proxy.js';
import { renderPage, type Rendered, type RequestState } from './render.js';

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
  // Cancel and pause, checked as the fetcher checks them before a request.
  const control = new SessionControl(ctx, 'renderer');
  /** WARC files of the sessions that ask for them (the main documents of `always`, the conversion records). */
  const warc = replicaWarcWriters(ctx.name, ctx.config, (err, sessionId) => ctx.log.error({ sessionId, err: (err as Error).message }, 'cannot close a WARC file'));

  async function renderOne(task: RenderTask): Promise<void> {
    const session = await sessions.get(task.sessionId);
    if (!session) return;
    await control.ensure(task.sessionId);
    if (control.halted(task.sessionId)) return control.stop(fetchTaskOf(task), task.attempt);
    const cfg = ctx.config();
    const opts = renderOptions(session.spec, cfg);
    const log = ctx.log.child({ sessionId: task.sessionId, taskId: task.taskId });
    const fetchedAt = Date.now();
    const archived = session.spec.warc === true;
    try {
      const r = await host.use<Rendered | null>((browser) =>
        // The last look before the page opens (a wait for the browser may have been long).
        control.halted(task.sessionId) ? Promise.resolve(null) : renderPage(browser, proxy, {
          url: task.url,
          opts,
          userAgent: cfg.fetch.userAgent,
          state: sessionRequestState(session.spec),
          maxBytes: cfg.render.maxBytesPerPage,
          maxScreenshotBytes: cfg.render.maxScreenshotBytes,
          ...(archived && !task.warcResponseId ? { capture: true } : {}),
          inScope: (u) => session.scope.allows(u),
        }, (why) => host.retire(why)),
      );
      if (r === null) return await control.stop(fetchTaskOf(task), task.attempt);
      let screenshot: string | undefined;
      if (r.screenshot) {
        const rel = screenshotPath(task.sessionId, task.taskId);
        await mkdir(dirname(join(cfg.deliver.resultsDir, rel)), { recursive: true });
        await writeFile(join(cfg.deliver.resultsDir, rel), r.screenshot);
        screenshot = rel;
      }
      const body = Buffer.from(r.html, 'utf8');
      // The records are on disk before the page goes on: a delivered page has its conversion record.
      const warcResponseId = archived ? await archive(task, session, r, body, fetchedAt, log) : null;
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
        body,
        ...(warcResponseId ? { warcResponseId } : {}),
        rendered: { reason: task.reason, blocked, bytes: r.traffic.bytes, ...(screenshot ? { screenshot } : {}) },
      };
      metrics.pagesFetched.inc({ status_class: statusClass(r.status) });
      metrics.fetchBytes.inc(r.traffic.bytes);
      await outbox.send('extract', page);
    } catch (err) {
      const e = toCrawlError(err);
      // A crashed browser or page, a dependency away, a WARC file that cannot be written: the message is redelivered.
      if (e.code === 'render_crashed' || e.code === 'browser_unavailable' || e.code === 'unavailable' || e.code === 'internal') {
        log.warn({ code: e.code, err: e.message }, 'render interrupted; the page will be rendered again');
        throw e;
      }
      await fail(task, e);
    }
  }

  /**
   * The WARC records of a rendered page: the main document's request and response (unless the
   * fetcher wrote them: `auto`), then the conversion record of the DOM, referring to the
   * response. Answers the response record's id (the extractor's metadata record is concurrent to it).
   */
  async function archive(task: RenderTask, session: SessionPolicy, r: Rendered, dom: Buffer, at: number, log: ServiceContext['log']): Promise<string | null> {
    const entries: WarcEntry[] = [];
    let responseId = task.warcResponseId ?? null;
    if (r.exchange) {
      const { request, response } = exchangeRecords(r.exchange, { keepSecrets: session.spec.warcRecordSecrets === true, secretHeaders: Object.keys(session.spec.headers ?? {}) });
      entries.push(request, response);
      responseId = response.record.id;
    } else if (r.exchangeMissing) {
      log.warn({ why: r.exchangeMissing }, "the main document's exchange could not be captured; its conversion record refers to no response");
    }
    entries.push(conversionRecord({ url: r.documentUrl, refersTo: responseId, html: dom, at: new Date(at) }));
    try {
      await warc.write(task.sessionId, entries);
    } catch (err) {
      throw new CrawlError('internal', `${task.url}: cannot write its WARC records: ${(err as Error).message}`, { cause: err });
    }
    return responseId;
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
      await warc.close();
      control.close();
      await host.close();
      await consuming;
      await deny.close();
    },
  };
}

/** Entry point: `crawlfleet renderer`. */
export const main = (): Promise<unknown> => runService('renderer', startRenderer);
