/**
 * Handing a finished session over: its results as one JSONL file (written to a temporary
 * name and renamed, so a file that exists is complete and a second writer produces the
 * same file), and a webhook when the session names one (signed when WEBHOOK_SECRET is set).
 */
import { createHmac } from 'node:crypto';
import { mkdir, open, rename } from 'node:fs/promises';
import { resolve } from 'node:path';
import { request, type Dispatcher } from 'undici';
import { CrawlError } from '../../shared/errors/index.js';
import { resultsFilePath } from '../../shared/results/files.js';
import type { ResultsStore } from '../../shared/results/store.js';
import { redactSession } from '../../shared/observability/redact.js';
import type { SessionView } from '../../shared/tasks/types.js';

const PAGE = 1000;

/**
 * Streams the session's records from the results store into `<dir>/<id>.jsonl`; returns the
 * path. `onlyBeforePartial` leaves out supplements (the partial hand-over holds what was
 * there at the deadline).
 */
export async function writeResultsFile(results: ResultsStore, sessionId: string, dir: string, onlyBeforePartial = false): Promise<{ path: string; records: number }> {
  const absDir = resolve(dir);
  await mkdir(absDir, { recursive: true });
  const path = resultsFilePath(absDir, sessionId);
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  const fh = await open(tmp, 'w');
  let records = 0;
  try {
    let after: string | null = null;
    do {
      // Each record's JSON text as the store holds it: nothing is parsed and written again.
      const page = await results.lines(sessionId, { limit: PAGE, after, ...(onlyBeforePartial ? { supplement: false } : {}) });
      if (page.lines.length > 0) await fh.write(page.lines.join('\n') + '\n');
      records += page.lines.length;
      after = page.next;
    } while (after !== null);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  return { path, records };
}

export const SIGNATURE_HEADER = 'x-crawlfleet-signature';

/** `sha256=<hex>` HMAC of the exact body bytes; receivers recompute and compare. */
export function signBody(secret: string, body: string, timestamp: number): string {
  return 'sha256=' + createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

export interface WebhookOptions {
  secret: string;
  timeoutMs: number;
  dispatcher: Dispatcher;
  attempts?: number;
}

/** POSTs an event as JSON, retrying transient failures a few times. */
export async function sendWebhook(url: string, event: Record<string, unknown>, opts: WebhookOptions): Promise<void> {
  const body = JSON.stringify(event);
  const attempts = opts.attempts ?? 3;
  let lastError: unknown = null;
  for (let i = 0; i < attempts; i++) {
    const timestamp = Date.now();
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-crawlfleet-timestamp': String(timestamp) };
    if (opts.secret) headers[SIGNATURE_HEADER] = signBody(opts.secret, body, timestamp);
    try {
      const res = await request(url, { method: 'POST', body, headers, dispatcher: opts.dispatcher, headersTimeout: opts.timeoutMs, bodyTimeout: opts.timeoutMs, signal: AbortSignal.timeout(opts.timeoutMs) });
      await res.body.dump();
      if (res.statusCode < 300) return;
      lastError = new CrawlError(res.statusCode >= 500 || res.statusCode === 429 ? 'http_server_error' : 'http_client_error', `webhook ${url} answered ${res.statusCode}`);
      if (res.statusCode < 500 && res.statusCode !== 429) break;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 250 * 2 ** i));
  }
  throw lastError instanceof Error ? lastError : new CrawlError('connect_failed', `webhook ${url} failed`);
}

/** A webhook event about a session; its spec's header and cookie values are shown as `***`. */
export function sessionEvent(type: string, session: SessionView, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { event: type, at: new Date().toISOString(), session: redactSession(session), ...extra };
}
