/**
 * Limits that come from the runtime and the broker rather than from taste, and the
 * prefetch each consuming stage derives from its settings. The schema's bounds and the
 * cross-field check of `loadConfig` use them, so no accepted setting asks the broker or
 * Node for something it refuses.
 */
/** basic.qos prefetch-count is a 16-bit field: RabbitMQ refuses more (and amqplib cannot encode it). */
export const AMQP_MAX_PREFETCH = 65_535;
/** Node's setTimeout/setInterval take at most 2^31-1 ms; a longer delay fires after 1 ms. */
export const TIMER_MAX_MS = 2_147_483_647;
/** AMQP heartbeat is a 16-bit field (seconds). */
export const AMQP_MAX_HEARTBEAT_S = 65_535;
/** RabbitMQ 3.10's default max_message_size is 128 MiB; a page and its envelope must fit in one message. */
export const PAGE_MAX_BYTES = 64 * 1024 * 1024;

interface Derived {
  fetch: { prefetch: number; concurrency: number };
  extract: { prefetch: number; concurrency: number };
  deliver: { concurrency: number };
  session: { defaultTimeoutMs: number; maxTimeoutMs: number; defaultMaxPages: number; maxPagesLimit: number };
}

/** Fetch tasks a fetcher holds (its consumer's item window): fetch.prefetch, or twice the requests in flight. */
export function fetchItemWindow(f: Derived['fetch']): number {
  return f.prefetch > 0 ? f.prefetch : 2 * f.concurrency;
}

/**
 * Pages an extractor holds: extract.prefetch, or 256 (64 per parse worker when there are more
 * than four). The window does not shrink with fewer workers: most pages parse inline, and a
 * smaller window makes smaller deliver batches (more messages, more store commits per record).
 */
export function extractItemWindow(e: Derived['extract']): number {
  return e.prefetch > 0 ? e.prefetch : 64 * Math.max(4, e.concurrency);
}

/** Documents an extractor holds: documents.prefetch, or 2 per document worker. */
export function documentItemWindow(d: { prefetch: number; concurrency: number }): number {
  return d.prefetch > 0 ? d.prefetch : 2 * d.concurrency;
}

/** Messages a delivery replica holds: twice its concurrency (the consumer runtime's default). */
export function deliverPrefetch(d: Derived['deliver']): number {
  return 2 * d.concurrency;
}

/**
 * Problems no single field shows: a prefetch derived from several settings above the AMQP
 * maximum, and a session default above its own limit (every session that names no value
 * would then be refused). Each names the setting to change first.
 */
export function crossFieldProblems(cfg: Derived): { key: string; message: string }[] {
  const out: { key: string; message: string }[] = [];
  const fw = fetchItemWindow(cfg.fetch);
  if (fw > AMQP_MAX_PREFETCH) {
    out.push({
      key: 'fetch.concurrency',
      message: `the fetch prefetch (fetch.prefetch 0 means 2 × fetch.concurrency = ${fw}) must be at most ${AMQP_MAX_PREFETCH}, the AMQP maximum: lower fetch.concurrency or set fetch.prefetch`,
    });
  }
  const ew = extractItemWindow(cfg.extract);
  if (ew > AMQP_MAX_PREFETCH) {
    out.push({
      key: 'extract.concurrency',
      message: `the extract prefetch (extract.prefetch 0 means 64 × max(4, extract.concurrency) = ${ew}) must be at most ${AMQP_MAX_PREFETCH}, the AMQP maximum: lower extract.concurrency or set extract.prefetch`,
    });
  }
  const dp = deliverPrefetch(cfg.deliver);
  if (dp > AMQP_MAX_PREFETCH) {
    out.push({ key: 'deliver.concurrency', message: `the delivery prefetch (2 × deliver.concurrency = ${dp}) must be at most ${AMQP_MAX_PREFETCH}, the AMQP maximum` });
  }
  const s = cfg.session;
  if (s.defaultTimeoutMs > s.maxTimeoutMs) {
    out.push({ key: 'session.defaultTimeoutMs', message: `must be at most session.maxTimeoutMs (${s.maxTimeoutMs}), or every session that names no timeoutMs is refused` });
  }
  if (s.defaultMaxPages > s.maxPagesLimit) {
    out.push({ key: 'session.defaultMaxPages', message: `must be at most session.maxPagesLimit (${s.maxPagesLimit}), or every session that names no maxPages is refused` });
  }
  return out;
}
