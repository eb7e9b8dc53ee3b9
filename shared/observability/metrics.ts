/**
 * Prometheus metrics. One registry per process; every service exposes the same families
 * (a family a service does not use stays at zero), so dashboards need no per-service logic.
 * docs/operations.md lists them; deploy/grafana/crawlfleet.json uses them, and a unit test
 * checks that every metric the dashboard queries is defined here.
 *
 * Process and Node.js metrics of prom-client carry the `crawlfleet_` prefix too:
 * `crawlfleet_process_cpu_seconds_total`, `crawlfleet_process_resident_memory_bytes`,
 * `crawlfleet_nodejs_eventloop_lag_seconds`, ...
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  messages: Counter<'queue' | 'outcome'>;
  /** Tasks carried by the messages consumed (a message is a batch). */
  messageItems: Counter<'queue'>;
  stageSeconds: Histogram<'stage'>;
  pagesFetched: Counter<'status_class'>;
  fetchSeconds: Histogram<never>;
  fetchBytes: Counter<never>;
  retries: Counter<'reason'>;
  deadLetters: Counter<'queue'>;
  records: Counter<'outcome'>;
  duplicates: Counter<'stage'>;
  rateWaitSeconds: Counter<never>;
  cleanerActions: Counter<'action'>;
  configVersion: Gauge<never>;
  /** Sampled by the controller (one sampler for the cluster, not one per worker). */
  queueDepth: Gauge<'queue'>;
  queueConsumers: Gauge<'queue'>;
  sessions: Gauge<'status'>;
  /** Requests the controller API answered, by route template (not raw path) and status. */
  httpRequests: Counter<'method' | 'route' | 'status_code'>;
  httpSeconds: Histogram<'method' | 'route'>;
  /** Requests refused with 429 by the API rate limit. */
  httpRateLimited: Counter<never>;
  /** Fetcher politeness and robots.txt. */
  fetchDeferred: Counter<'reason'>;
  robotsLookups: Counter<'source' | 'verdict'>;
  hostBackoffs: Counter<never>;
  /** Extractor: links not admitted, pages not parsed. */
  linksRefused: Counter<'reason'>;
  parseFailures: Counter<'reason'>;
}

export function createMetrics(service: string): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: 'crawlfleet_' });
  const r = [registry];
  return {
    registry,
    messages: new Counter({ name: 'crawlfleet_messages_total', help: 'Messages consumed, by queue and how they were settled.', labelNames: ['queue', 'outcome'], registers: r }),
    messageItems: new Counter({ name: 'crawlfleet_message_items_total', help: 'Tasks carried by the messages consumed (each message is a batch), by queue.', labelNames: ['queue'], registers: r }),
    stageSeconds: new Histogram({ name: 'crawlfleet_stage_seconds', help: 'Time a stage spent on one message (a batch of tasks).', labelNames: ['stage'], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: r }),
    pagesFetched: new Counter({ name: 'crawlfleet_pages_fetched_total', help: 'Responses received, by status class (2xx, 3xx, 4xx, 5xx, error).', labelNames: ['status_class'], registers: r }),
    fetchSeconds: new Histogram({ name: 'crawlfleet_fetch_seconds', help: 'Fetch latency, redirects included.', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: r }),
    fetchBytes: new Counter({ name: 'crawlfleet_fetch_bytes_total', help: 'Response body bytes received (after decompression).', registers: r }),
    retries: new Counter({ name: 'crawlfleet_retries_total', help: 'Fetches scheduled for a retry, by reason code.', labelNames: ['reason'], registers: r }),
    deadLetters: new Counter({ name: 'crawlfleet_dead_letters_total', help: 'Poison messages turned into failed(poison).', labelNames: ['queue'], registers: r }),
    records: new Counter({ name: 'crawlfleet_records_total', help: 'Records delivered, by outcome.', labelNames: ['outcome'], registers: r }),
    duplicates: new Counter({ name: 'crawlfleet_duplicates_dropped_total', help: 'Redelivered or stale messages dropped by the ledger.', labelNames: ['stage'], registers: r }),
    rateWaitSeconds: new Counter({ name: 'crawlfleet_rate_limit_wait_seconds_total', help: 'Time fetches waited for the cluster-wide rate limit.', registers: r }),
    cleanerActions: new Counter({ name: 'crawlfleet_cleaner_actions_total', help: 'Cleaner actions (redriven, timed_out, partial, closed, ...).', labelNames: ['action'], registers: r }),
    configVersion: new Gauge({ name: 'crawlfleet_config_version', help: 'Version of the live configuration this replica applies.', registers: r }),
    queueDepth: new Gauge({ name: 'crawlfleet_queue_depth', help: 'Messages ready in a RabbitMQ queue (sampled by the controller every 5 s; label: fetch, extract, deliver, dead, retry.<ms>).', labelNames: ['queue'], registers: r }),
    queueConsumers: new Gauge({ name: 'crawlfleet_queue_consumers', help: 'Consumers attached to a RabbitMQ queue (sampled by the controller every 5 s).', labelNames: ['queue'], registers: r }),
    sessions: new Gauge({ name: 'crawlfleet_sessions', help: 'Sessions by status (sampled by the controller every 15 s).', labelNames: ['status'], registers: r }),
    httpRequests: new Counter({ name: 'crawlfleet_http_requests_total', help: 'API requests answered, by method, route template and status code.', labelNames: ['method', 'route', 'status_code'], registers: r }),
    httpSeconds: new Histogram({ name: 'crawlfleet_http_request_seconds', help: 'API response time, by method and route template.', labelNames: ['method', 'route'], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: r }),
    fetchDeferred: new Counter({ name: 'crawlfleet_fetch_deferred_total', help: 'Fetches handed to a delay queue instead of fetched now, by reason: the host was not ready (host, backoff, slots) or the session is paused (paused); cancelled counts tasks a cancel stopped before their request.', labelNames: ['reason'], registers: r }),
    robotsLookups: new Counter({ name: 'crawlfleet_robots_lookups_total', help: 'robots.txt lookups that missed the memory cache, by source (redis, fetched, waited) and verdict.', labelNames: ['source', 'verdict'], registers: r }),
    hostBackoffs: new Counter({ name: 'crawlfleet_host_backoffs_total', help: '429/503 answers that slowed their host down for the cluster.', registers: r }),
    linksRefused: new Counter({ name: 'crawlfleet_links_refused_total', help: 'Links found on pages and not admitted, by reason (spider-trap rules, host_pages).', labelNames: ['reason'], registers: r }),
    parseFailures: new Counter({ name: 'crawlfleet_parse_failures_total', help: 'Pages that could not be parsed, by reason (parse_failed, parse_timeout).', labelNames: ['reason'], registers: r }),
    httpRateLimited: new Counter({ name: 'crawlfleet_http_rate_limited_total', help: 'API requests refused with 429 by the per-token (or per-address) rate limit.', registers: r }),
  };
}
