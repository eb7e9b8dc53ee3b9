/**
 * Prometheus metrics. One registry per process; every service exposes the same families
 * (a family a service does not use stays at zero), so dashboards need no per-service logic.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  messages: Counter<'queue' | 'outcome'>;
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
  queueDepth: Gauge<'queue'>;
  sessions: Gauge<'status'>;
}

export function createMetrics(service: string): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: 'crawlfleet_process_' });
  const r = [registry];
  return {
    registry,
    messages: new Counter({ name: 'crawlfleet_messages_total', help: 'Messages consumed, by queue and how they were settled.', labelNames: ['queue', 'outcome'], registers: r }),
    stageSeconds: new Histogram({ name: 'crawlfleet_stage_seconds', help: 'Time a stage spent on one message.', labelNames: ['stage'], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: r }),
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
    queueDepth: new Gauge({ name: 'crawlfleet_queue_depth', help: 'Messages ready in a queue (sampled).', labelNames: ['queue'], registers: r }),
    sessions: new Gauge({ name: 'crawlfleet_sessions', help: 'Sessions by status (sampled by the controller).', labelNames: ['status'], registers: r }),
  };
}
