/**
 * Every setting of every crawlfleet service, declared once: doc, format,
 * default and environment variable. `crawlctl config schema` prints this table
 * and docs/configuration.md is checked against it by a test.
 *
 * Settings with `live: true` are applied by running services when the config
 * center pushes a change; the others take effect at start (the API refuses to
 * change them live).
 *
 * Every number has bounds (`intIn`, `numberIn`): what the broker and Node accept (AMQP
 * prefetch and heartbeat are 16-bit, Node timers take at most 2^31-1 ms, a page must fit in
 * one message) and sane maxima for counts and sizes, so the environment, the config file
 * and PATCH /config all refuse a value a replica could not apply. Prefetches derived from
 * several settings are checked by `crossFieldProblems` (limits.ts) in the same validation.
 */
import type convict from 'convict';
import type { RecordFormat, RenderMode } from '../tasks/types.js';
import { DEFAULT_STRIP_PARAMS } from '../url/normalize.js';
import { intIn, numberIn } from './formats.js';
import { AMQP_MAX_HEARTBEAT_S, AMQP_MAX_PREFETCH, PAGE_MAX_BYTES, TIMER_MAX_MS } from './limits.js';

export type QueueType = 'quorum' | 'classic';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Settings {
  namespace: string;
  amqp: {
    url: string;
    queueType: QueueType;
    deliveryLimit: number;
    heartbeatS: number;
    fetchBatch: number;
    extractBatch: number;
    deliverBatch: number;
    batchMaxBytes: number;
    lingerMs: number;
    compressPages: boolean;
  };
  redis: { url: string; clusterNodes: string };
  log: { level: LogLevel };
  http: { host: string; port: number };
  controller: { host: string; port: number };
  api: { token: string; tokenFile: string; bodyLimitBytes: number; maxSeeds: number; maxUrlLength: number; seedLookupTimeoutMs: number; rateLimitPerMinute: number };
  fetch: {
    concurrency: number;
    prefetch: number;
    userAgent: string;
    connectTimeoutMs: number;
    headersTimeoutMs: number;
    bodyIdleTimeoutMs: number;
    totalTimeoutMs: number;
    maxBytes: number;
    maxRedirects: number;
    allowedNetworks: string[];
    htmlTypes: string[];
    skipTypes: string[];
  };
  rate: { global: number; perHost: number; perReplica: number; hosts: string[]; globalLease: number };
  retry: { maxAttempts: number; baseDelayMs: number; maxDelayMs: number };
  extract: { concurrency: number; prefetch: number; maxLinksPerPage: number; followNofollow: boolean; maxParseMs: number; maxHtmlBytes: number };
  documents: { concurrency: number; prefetch: number; maxBytes: number; maxPages: number; maxFeedItems: number; maxInflatedBytes: number; maxParseMs: number; niceness: number };
  render: {
    defaultMode: RenderMode;
    chromiumPath: string;
    concurrency: number;
    timeoutMs: number;
    maxPagesPerBrowser: number;
    maxBrowserRssBytes: number;
    maxBytesPerPage: number;
    maxScreenshotBytes: number;
    launchTimeoutMs: number;
  };
  content: {
    defaultFormats: RecordFormat[];
    maxMarkdownBytes: number;
    maxTextBytes: number;
    maxHtmlBytes: number;
    maxRawHtmlBytes: number;
    maxLinksBytes: number;
  };
  robots: { obey: boolean; cacheTtlMs: number; errorTtlMs: number; memoryTtlMs: number; maxBytes: number; maxCrawlDelayS: number };
  politeness: {
    perHostConcurrency: number;
    maxWaitMs: number;
    backoffStartMs: number;
    backoffMaxMs: number;
    backoffHalfLifeMs: number;
    maxRetryAfterMs: number;
  };
  traps: { maxPathDepth: number; maxRepeatedSegments: number; maxQueryParams: number; maxPagesPerHost: number; stripParams: string[] };
  deliver: { concurrency: number; resultsDir: string; webhookTimeoutMs: number; webhookSecret: string };
  results: { url: string };
  warc: { dir: string; maxFileBytes: number; idleCloseMs: number };
  task: { leaseMs: number; admitLeaseMs: number };
  session: {
    defaultTimeoutMs: number;
    maxTimeoutMs: number;
    closeAfterMs: number;
    retentionMs: number;
    defaultMaxPages: number;
    maxPagesLimit: number;
    defaultMaxDepth: number;
  };
  cleaner: { intervalMs: number; batchSize: number; redriveMaxBacklog: number };
  shutdown: { graceMs: number };
  config: { file: string; pollMs: number; historyLength: number };
  replicas: { heartbeatMs: number; missedBeats: number };
  index: { retentionMs: number; shardChars: number };
  schedules: { keepRuns: number };
}

/** Pages per second, cluster-wide: far above what one cluster fetches, low enough for the rate scripts' arithmetic. */
const RATE_MAX = 1_000_000;

export const schema: convict.Schema<Settings> = {
  namespace: {
    doc: 'Prefix of every queue, exchange and Redis key, so several stacks share one broker and one Redis.',
    format: 'namespace',
    default: 'crawlfleet',
    env: 'CRAWLER_NAMESPACE',
  },
  amqp: {
    url: {
      doc: 'RabbitMQ URL, or the nodes of a cluster comma-separated: every (re)connect tries them in order and uses the first that answers.',
      format: 'amqp-url',
      default: 'amqp://guest:guest@127.0.0.1:5672',
      env: 'AMQP_URL',
      sensitive: true,
    },
    queueType: {
      doc: 'Type of the work queues: quorum (replicated, default) or classic.',
      format: ['quorum', 'classic'],
      default: 'quorum',
      env: 'AMQP_QUEUE_TYPE',
    },
    deliveryLimit: {
      doc: 'Deliveries of one message before it is dead-lettered as poison (x-delivery-limit).',
      format: intIn(1, 1000),
      default: 5,
      env: 'AMQP_DELIVERY_LIMIT',
    },
    heartbeatS: {
      doc: 'AMQP heartbeat in seconds.',
      format: intIn(0, AMQP_MAX_HEARTBEAT_S),
      default: 15,
      env: 'AMQP_HEARTBEAT_S',
    },
    fetchBatch: {
      doc: 'Fetch tasks per message at most. Small enough that several messages fill one fetcher (they are acked whole), large enough to save the broker work.',
      live: true,
      format: intIn(1, 1000),
      default: 8,
      env: 'AMQP_FETCH_BATCH',
    },
    extractBatch: {
      doc: 'Fetched pages per message to the extractor at most.',
      live: true,
      format: intIn(1, 1000),
      default: 32,
      env: 'AMQP_EXTRACT_BATCH',
    },
    deliverBatch: {
      doc: 'Records per message to delivery at most.',
      live: true,
      format: intIn(1, 1000),
      default: 64,
      env: 'AMQP_DELIVER_BATCH',
    },
    batchMaxBytes: {
      doc: 'Bytes per message at most when batching (a single larger page still travels, alone).',
      live: true,
      format: intIn(1024, PAGE_MAX_BYTES),
      default: 1_048_576,
      env: 'AMQP_BATCH_MAX_BYTES',
    },
    lingerMs: {
      doc: 'Longest a task waits for others to share its message; 0 batches only what is sent in the same tick.',
      live: true,
      format: intIn(0, 60_000),
      default: 10,
      env: 'AMQP_LINGER_MS',
    },
    compressPages: {
      doc: 'Deflate the batches of fetched pages on the extract queue (about 3x fewer bytes through the broker for HTML, for CPU in the fetcher).',
      live: true,
      format: 'boolean',
      default: true,
      env: 'AMQP_COMPRESS_PAGES',
    },
  },
  redis: {
    url: {
      doc: 'Redis URL: redis:// or rediss:// for one server, redis+cluster://host:port,host:port (rediss+cluster:// for TLS) for a Redis Cluster, with credentials as in any URL.',
      format: 'redis-url',
      default: 'redis://127.0.0.1:6379',
      env: 'REDIS_URL',
      sensitive: true,
    },
    clusterNodes: {
      doc: 'Seed nodes of a Redis Cluster (host:port,host:port); when set, Redis is a cluster and redis.url only gives its credentials and TLS. Empty: redis.url says.',
      format: 'redis-nodes',
      default: '',
      env: 'REDIS_CLUSTER_NODES',
    },
  },
  log: {
    level: {
      doc: 'Log level.',
      live: true,
      format: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      default: 'info',
      env: 'LOG_LEVEL',
    },
  },
  http: {
    host: {
      doc: 'Address the health and metrics server of a worker service listens on.',
      format: String,
      default: '127.0.0.1',
      env: 'HTTP_HOST',
    },
    port: {
      doc: 'Port of the health and metrics server of a worker service (0 picks a free one).',
      format: 'port',
      default: 8081,
      env: 'HTTP_PORT',
    },
  },
  controller: {
    host: {
      doc: 'Address the controller API listens on.',
      format: String,
      default: '127.0.0.1',
      env: 'CONTROLLER_HOST',
    },
    port: {
      doc: 'Port of the controller API.',
      format: 'port',
      default: 8080,
      env: 'CONTROLLER_PORT',
    },
  },
  api: {
    token: {
      doc: 'Bearer token required by every API route when set (all but /healthz, /readyz, /metrics and /openapi.json), and by the dashboard.',
      format: String,
      default: '',
      env: 'API_TOKEN',
      sensitive: true,
    },
    tokenFile: {
      doc: 'When api.token is empty and this names a file, the controller takes the token from that file; when the file does not exist, it generates one (64 hex characters) on start, writes it there readable by its owner only, and logs the path. Empty = no file.',
      format: String,
      default: '',
      env: 'API_TOKEN_FILE',
    },
    bodyLimitBytes: {
      doc: 'Largest request body the API accepts.',
      format: intIn(1024, 1024 * 1024 * 1024),
      default: 1_048_576,
      env: 'API_BODY_LIMIT_BYTES',
    },
    maxSeeds: {
      doc: 'Most seed URLs one session may name.',
      format: intIn(1, 1_000_000),
      default: 10_000,
      env: 'API_MAX_SEEDS',
    },
    maxUrlLength: {
      doc: 'Longest URL accepted as a seed or admitted from a page.',
      format: intIn(64, 65_536),
      default: 2048,
      env: 'API_MAX_URL_LENGTH',
    },
    seedLookupTimeoutMs: {
      doc: "How long POST /sessions waits for the DNS lookups of its seeds' host names (all of them, a few at a time): a seed whose host resolves to any address the SSRF guard forbids is refused with 400; a host that does not resolve, or not in time, is accepted and left to the fetch (dns_failed or blocked_address). 0 = no lookups, only IP literals are checked.",
      live: true,
      format: intIn(0, 60_000),
      default: 2000,
      env: 'API_SEED_LOOKUP_TIMEOUT_MS',
    },
    rateLimitPerMinute: {
      doc: 'API requests per minute accepted from one token (requests with the right token) or else from one client address, in bursts of as many; 0 = no limit. Counted per controller process.',
      live: true,
      format: intIn(0, 1_000_000),
      default: 600,
      env: 'API_RATE_LIMIT_PER_MINUTE',
    },
  },
  fetch: {
    concurrency: {
      doc: 'Requests in flight per fetcher replica.',
      live: true,
      format: intIn(1, AMQP_MAX_PREFETCH),
      default: 32,
      env: 'FETCH_CONCURRENCY',
    },
    prefetch: {
      doc: 'Unacknowledged fetch tasks held per replica; 0 means twice the concurrency.',
      live: true,
      format: intIn(0, AMQP_MAX_PREFETCH),
      default: 0,
      env: 'FETCH_PREFETCH',
    },
    userAgent: {
      doc: 'User-Agent header; include a way to contact the operator.',
      format: String,
      default: 'crawlfleet/0.1 (+https://github.com/crawlfleet/crawlfleet)',
      env: 'FETCH_USER_AGENT',
    },
    connectTimeoutMs: {
      doc: 'TCP/TLS connect timeout.',
      live: true,
      format: intIn(1, TIMER_MAX_MS),
      default: 10_000,
      env: 'FETCH_CONNECT_TIMEOUT_MS',
    },
    headersTimeoutMs: {
      doc: 'Time allowed until the response headers are complete.',
      live: true,
      format: intIn(1, TIMER_MAX_MS),
      default: 15_000,
      env: 'FETCH_HEADERS_TIMEOUT_MS',
    },
    bodyIdleTimeoutMs: {
      doc: 'Longest pause between two chunks of the body.',
      live: true,
      format: intIn(1, TIMER_MAX_MS),
      default: 15_000,
      env: 'FETCH_BODY_IDLE_TIMEOUT_MS',
    },
    totalTimeoutMs: {
      doc: 'Deadline for one whole fetch, redirects included.',
      live: true,
      format: intIn(1, TIMER_MAX_MS),
      default: 30_000,
      env: 'FETCH_TOTAL_TIMEOUT_MS',
    },
    maxBytes: {
      doc: 'Largest response body kept, in bytes, on the wire and after each decompression layer; a larger one fails with too_large. A response whose Content-Type declares a document the session parses (PDF, DOCX, feed, XML, JSON, plain text) is capped by documents.maxBytes instead.',
      live: true,
      format: intIn(1, PAGE_MAX_BYTES),
      default: 10_485_760,
      env: 'FETCH_MAX_BYTES',
    },
    maxRedirects: {
      doc: 'Redirect hops followed per fetch.',
      live: true,
      format: intIn(0, 100),
      default: 10,
      env: 'FETCH_MAX_REDIRECTS',
    },
    allowedNetworks: {
      doc: 'CIDRs that may be fetched although private or loopback, e.g. 127.0.0.0/8 for a local test site.',
      live: true,
      format: 'cidr-list',
      default: [],
      env: 'FETCH_ALLOWED_NETWORKS',
    },
    htmlTypes: {
      doc: 'Content types that are parsed for fields and links; others are recorded unparsed.',
      live: true,
      format: 'string-list',
      default: ['text/html', 'application/xhtml+xml'],
      env: 'FETCH_HTML_TYPES',
    },
    skipTypes: {
      doc: 'Content types that are never parsed, so not downloaded: the fetch stops after the headers and the record keeps contentType and contentLength (Content-Length). `type/*` matches a whole top-level type. robots.txt and sitemap fetches are not affected.',
      live: true,
      format: 'string-list',
      default: ['image/*', 'video/*', 'audio/*', 'font/*', 'application/zip', 'application/x-tar', 'application/x-7z-compressed', 'application/vnd.rar', 'application/x-rar-compressed', 'application/x-msdownload', 'application/vnd.microsoft.portable-executable', 'application/x-executable', 'application/x-iso9660-image', 'application/x-apple-diskimage', 'application/java-archive', 'application/wasm'],
      env: 'FETCH_SKIP_TYPES',
    },
  },
  rate: {
    global: {
      doc: 'Pages per second for the whole cluster, 0 = unlimited.',
      live: true,
      format: numberIn(0, RATE_MAX),
      default: 0,
      env: 'RATE_GLOBAL',
    },
    perHost: {
      doc: 'Pages per second per host for the whole cluster, 0 = unlimited.',
      live: true,
      format: numberIn(0, RATE_MAX),
      default: 0,
      env: 'RATE_PER_HOST',
    },
    perReplica: {
      doc: 'Pages per second per fetcher replica, 0 = unlimited; applied with the global and per-host rates (the strictest wins), so N replicas fetch at most N times this.',
      live: true,
      format: numberIn(0, RATE_MAX),
      default: 0,
      env: 'RATE_PER_REPLICA',
    },
    globalLease: {
      doc: 'Tokens of rate.global a fetcher leases from Redis per call, each due at its own time (at most 250 ms of the global rate ahead): the global bucket sees about rate.global / this calls a second, however many replicas; the cluster-wide rate still holds. 1 = one call per fetch.',
      live: true,
      format: intIn(1, 1000),
      default: 10,
      env: 'RATE_GLOBAL_LEASE',
    },
    hosts: {
      doc: 'Pages per second for particular hosts, overriding rate.perHost: a list of host=rate or host:port=rate, e.g. ["example.com=2"].',
      live: true,
      format: 'host-rates',
      default: [],
      env: 'RATE_HOSTS',
    },
  },
  retry: {
    maxAttempts: {
      doc: 'Fetch attempts of one URL before a transient failure becomes final.',
      live: true,
      format: intIn(1, 100),
      default: 3,
      env: 'RETRY_MAX_ATTEMPTS',
    },
    baseDelayMs: {
      doc: 'Delay before the first retry; doubles each attempt, with jitter.',
      live: true,
      format: intIn(1, TIMER_MAX_MS),
      default: 1000,
      env: 'RETRY_BASE_DELAY_MS',
    },
    maxDelayMs: {
      doc: 'Longest delay between two attempts.',
      live: true,
      format: intIn(1, TIMER_MAX_MS),
      default: 60_000,
      env: 'RETRY_MAX_DELAY_MS',
    },
  },
  extract: {
    concurrency: {
      doc: 'Parse worker threads per extractor replica, for pages too large to parse inline. One by default: scale extractors with replicas (each worker is one more heap of ~47 MB and one more copy of the converter to compile, and more workers than cores cost CPU per page: docs/performance.md, session 8).',
      live: true,
      format: intIn(1, 64),
      default: 1,
      env: 'EXTRACT_CONCURRENCY',
    },
    prefetch: {
      doc: 'Fetched pages held (being extracted or waiting for their outputs to be confirmed) per extractor replica; 0 means 256, or 64 per parse worker when there are more than four.',
      live: true,
      format: intIn(0, AMQP_MAX_PREFETCH),
      default: 0,
      env: 'EXTRACT_PREFETCH',
    },
    maxLinksPerPage: {
      doc: 'Links taken from one page; the rest are ignored.',
      live: true,
      format: intIn(1, 1_000_000),
      default: 1000,
      env: 'EXTRACT_MAX_LINKS_PER_PAGE',
    },
    followNofollow: {
      doc: 'Follow links marked rel=nofollow.',
      live: true,
      format: 'boolean',
      default: false,
      env: 'EXTRACT_FOLLOW_NOFOLLOW',
    },
    maxParseMs: {
      doc: 'Longest time parsing one page may take (in a worker thread, which is stopped past it); the page then fails with parse_timeout.',
      live: true,
      format: intIn(1, TIMER_MAX_MS),
      default: 5000,
      env: 'EXTRACT_MAX_PARSE_MS',
    },
    maxHtmlBytes: {
      doc: 'Only the first this many bytes of an HTML body are parsed for fields and links.',
      live: true,
      format: intIn(1, PAGE_MAX_BYTES),
      default: 4_194_304,
      env: 'EXTRACT_MAX_HTML_BYTES',
    },
  },
  documents: {
    concurrency: {
      doc: 'Document parse worker threads per extractor replica (PDF, DOCX, feeds, text: the document stage, apart from the HTML parse workers).',
      live: true,
      format: intIn(1, 64),
      default: 2,
      env: 'DOCUMENTS_CONCURRENCY',
    },
    prefetch: {
      doc: 'Documents held (being parsed or waiting for their outputs to be confirmed) per extractor replica; 0 means 2 per document worker.',
      live: true,
      format: intIn(0, AMQP_MAX_PREFETCH),
      default: 0,
      env: 'DOCUMENTS_PREFETCH',
    },
    maxBytes: {
      doc: 'Largest document downloaded and parsed, in bytes; a larger one fails with too_large. It is the download cap (on the wire and after decompression) of a response whose Content-Type declares a document kind the session parses, in place of fetch.maxBytes; a document recognised only by its bytes (no type, application/octet-stream) is downloaded under fetch.maxBytes.',
      live: true,
      format: intIn(1, PAGE_MAX_BYTES),
      default: 52_428_800,
      env: 'DOCUMENTS_MAX_BYTES',
    },
    maxPages: {
      doc: 'PDF pages read; a longer PDF keeps its first pages and names `pages` in `truncated`.',
      live: true,
      format: intIn(1, 1_000_000),
      default: 500,
      env: 'DOCUMENTS_MAX_PAGES',
    },
    maxFeedItems: {
      doc: 'Items kept of one feed (RSS, Atom, JSON Feed); the rest are ignored and the record names `feed` in `truncated`.',
      live: true,
      format: intIn(1, 1_000_000),
      default: 1000,
      env: 'DOCUMENTS_MAX_FEED_ITEMS',
    },
    maxInflatedBytes: {
      doc: 'Largest total size of the parts of a DOCX once inflated; past it (a ZIP bomb) the document fails with too_large.',
      live: true,
      format: intIn(1, 1_073_741_824),
      default: 209_715_200,
      env: 'DOCUMENTS_MAX_INFLATED_BYTES',
    },
    maxParseMs: {
      doc: 'Longest time parsing one document may take (in a worker thread, which is stopped past it); the document then fails with parse_timeout.',
      live: true,
      format: intIn(1, TIMER_MAX_MS),
      default: 60_000,
      env: 'DOCUMENTS_MAX_PARSE_MS',
    },
    niceness: {
      doc: 'Scheduling niceness (0-19) of the document worker threads, on Linux: above 0 they yield the CPU to the HTML pages of the same machine when both compete (10: about a tenth of a contended core), and get all of it when pages leave it idle. Their maxParseMs then counts their own CPU time, with at most 5 times as much wall-clock time. Applies to document workers started after a change.',
      live: true,
      format: intIn(0, 19),
      default: 10,
      env: 'DOCUMENTS_NICENESS',
    },
  },
  render: {
    defaultMode: {
      doc: 'How a session that names no `render` renders its pages: never (HTTP only), always (every page in headless Chromium), auto (pages that look script-built).',
      live: true,
      format: ['never', 'always', 'auto'],
      default: 'never' as RenderMode,
      env: 'RENDER_DEFAULT_MODE',
    },
    chromiumPath: {
      doc: 'The Chromium executable the renderer drives (Debian package chromium).',
      format: String,
      default: '/usr/bin/chromium',
      env: 'RENDER_CHROMIUM_PATH',
    },
    concurrency: {
      doc: 'Pages one renderer replica renders at once, each in its own browser context.',
      format: intIn(1, 64),
      default: 2,
      env: 'RENDER_CONCURRENCY',
    },
    timeoutMs: {
      doc: 'Longest time one render may take when the session names no renderTimeoutMs; past it the context is closed and the attempt fails with render_timeout.',
      live: true,
      format: intIn(1000, 600_000),
      default: 30_000,
      env: 'RENDER_TIMEOUT_MS',
    },
    maxPagesPerBrowser: {
      doc: 'Pages a browser renders before the renderer replaces it with a fresh one.',
      live: true,
      format: intIn(1, 1_000_000),
      default: 200,
      env: 'RENDER_MAX_PAGES_PER_BROWSER',
    },
    maxBrowserRssBytes: {
      doc: 'Resident memory of the browser (all its processes) past which the renderer replaces it once its pages finish.',
      live: true,
      format: intIn(64 * 1024 * 1024, 64 * 1024 * 1024 * 1024),
      default: 1_610_612_736,
      env: 'RENDER_MAX_BROWSER_RSS_BYTES',
    },
    maxBytesPerPage: {
      doc: 'Bytes all the requests of one rendered page may receive (document and sub-resources); past it every further request of the page is refused and the record names the budget.',
      live: true,
      format: intIn(1024, 4 * PAGE_MAX_BYTES),
      default: 20_971_520,
      env: 'RENDER_MAX_BYTES_PER_PAGE',
    },
    maxScreenshotBytes: {
      doc: 'Largest screenshot stored; a larger PNG is left out and the record says so.',
      live: true,
      format: intIn(1024, PAGE_MAX_BYTES),
      default: 5_242_880,
      env: 'RENDER_MAX_SCREENSHOT_BYTES',
    },
    launchTimeoutMs: {
      doc: 'Longest time starting Chromium may take before the renderer reports browser_unavailable and tries again.',
      format: intIn(1000, 600_000),
      default: 30_000,
      env: 'RENDER_LAUNCH_TIMEOUT_MS',
    },
  },
  content: {
    defaultFormats: {
      doc: 'Record formats of a session that does not name its own (POST /sessions `formats`): any of markdown, text, html, rawHtml, links, metadata, headers; an empty list (`none` in the environment) gives records without page content.',
      live: true,
      format: 'record-formats',
      default: ['markdown', 'links', 'metadata'],
      env: 'CONTENT_DEFAULT_FORMATS',
    },
    maxMarkdownBytes: {
      doc: 'Largest `markdown` field of a record, in UTF-8 bytes. A longer value is cut on a UTF-8 character boundary and the record names `markdown` in `truncated`.',
      live: true,
      format: intIn(1, PAGE_MAX_BYTES),
      default: 1_048_576,
      env: 'CONTENT_MAX_MARKDOWN_BYTES',
    },
    maxTextBytes: {
      doc: 'Largest `text` field of a record, in UTF-8 bytes. A longer value is cut on a UTF-8 character boundary and the record names `text` in `truncated`.',
      live: true,
      format: intIn(1, PAGE_MAX_BYTES),
      default: 1_048_576,
      env: 'CONTENT_MAX_TEXT_BYTES',
    },
    maxHtmlBytes: {
      doc: 'Largest `html` (cleaned) field of a record, in UTF-8 bytes. A longer value is cut on a UTF-8 character boundary and the record names `html` in `truncated`.',
      live: true,
      format: intIn(1, PAGE_MAX_BYTES),
      default: 2_097_152,
      env: 'CONTENT_MAX_HTML_BYTES',
    },
    maxRawHtmlBytes: {
      doc: 'Largest `rawHtml` field of a record, in UTF-8 bytes. A longer value is cut on a UTF-8 character boundary and the record names `rawHtml` in `truncated`.',
      live: true,
      format: intIn(1, PAGE_MAX_BYTES),
      default: 4_194_304,
      env: 'CONTENT_MAX_RAW_HTML_BYTES',
    },
    maxLinksBytes: {
      doc: 'Largest `links` list of a record (when the session asks for the links format), in bytes of its JSON; whole entries are kept, and the record names `links` in `truncated` when some were left out.',
      live: true,
      format: intIn(1, PAGE_MAX_BYTES),
      default: 524_288,
      env: 'CONTENT_MAX_LINKS_BYTES',
    },
  },
  robots: {
    obey: {
      doc: 'Fetch robots.txt once per host for the whole cluster and skip the URLs it disallows.',
      live: true,
      format: 'boolean',
      default: true,
      env: 'ROBOTS_OBEY',
    },
    cacheTtlMs: {
      doc: 'How long a fetched robots.txt (or its 4xx absence) is cached in Redis for the whole cluster; longer values count as 24 h.',
      live: true,
      format: intIn(1, TIMER_MAX_MS),
      default: 86_400_000,
      env: 'ROBOTS_CACHE_TTL_MS',
    },
    errorTtlMs: {
      doc: 'How long an unreachable robots.txt (5xx, 429, timeout, network error) is cached before it is fetched again; meanwhile the host is fully disallowed.',
      live: true,
      format: intIn(1, TIMER_MAX_MS),
      default: 60_000,
      env: 'ROBOTS_ERROR_TTL_MS',
    },
    memoryTtlMs: {
      doc: 'How long each fetcher keeps a robots.txt in memory before reading the cluster cache again.',
      live: true,
      format: intIn(1, TIMER_MAX_MS),
      default: 60_000,
      env: 'ROBOTS_MEMORY_TTL_MS',
    },
    maxBytes: {
      doc: 'Bytes of a robots.txt read from the wire and after decompression (at least 512 KiB are read whatever this says); the rest is ignored. The first 512 KiB are parsed.',
      live: true,
      format: intIn(1, PAGE_MAX_BYTES),
      default: 600 * 1024,
      env: 'ROBOTS_MAX_BYTES',
    },
    maxCrawlDelayS: {
      doc: 'Largest Crawl-delay honoured, in seconds: a host is crawled at min(its rate, 1 / min(Crawl-delay, this)) pages per second.',
      live: true,
      format: numberIn(0, 86_400),
      default: 10,
      env: 'ROBOTS_MAX_CRAWL_DELAY_S',
    },
  },
  politeness: {
    perHostConcurrency: {
      doc: 'Requests in flight to one host across the whole cluster, 0 = unlimited; slots are leased, so a dead fetcher frees its own.',
      live: true,
      format: intIn(0, 1_000_000),
      default: 0,
      env: 'POLITENESS_PER_HOST_CONCURRENCY',
    },
    maxWaitMs: {
      doc: "Longest a fetch waits in place for its host's rate, backoff or concurrency slot; a longer wait sends the task to a delay queue, so the replica serves other hosts meanwhile.",
      live: true,
      format: intIn(1, TIMER_MAX_MS),
      default: 2000,
      env: 'POLITENESS_MAX_WAIT_MS',
    },
    backoffStartMs: {
      doc: 'After a 429 or 503, the least interval between two requests to that host across the cluster; doubled by each further 429/503.',
      live: true,
      format: intIn(1, TIMER_MAX_MS),
      default: 1000,
      env: 'POLITENESS_BACKOFF_START_MS',
    },
    backoffMaxMs: {
      doc: 'Largest interval the 429/503 backoff imposes on a host.',
      live: true,
      format: intIn(1, TIMER_MAX_MS),
      default: 60_000,
      env: 'POLITENESS_BACKOFF_MAX_MS',
    },
    backoffHalfLifeMs: {
      doc: 'The backoff interval of a host halves every this many ms without a new 429/503, so the host recovers gradually.',
      live: true,
      format: intIn(1, TIMER_MAX_MS),
      default: 30_000,
      env: 'POLITENESS_BACKOFF_HALF_LIFE_MS',
    },
    maxRetryAfterMs: {
      doc: 'Longest Retry-After honoured: no request goes to the host until then, on any replica.',
      live: true,
      format: intIn(0, TIMER_MAX_MS),
      default: 300_000,
      env: 'POLITENESS_MAX_RETRY_AFTER_MS',
    },
  },
  traps: {
    maxPathDepth: {
      doc: 'Links with more path segments are not admitted (counted as trap:path_depth), 0 = unlimited.',
      live: true,
      format: intIn(0, 10_000),
      default: 32,
      env: 'TRAPS_MAX_PATH_DEPTH',
    },
    maxRepeatedSegments: {
      doc: 'Links whose path repeats one segment more often (/a/a/a/a) are not admitted (trap:repeated_segments), 0 = unlimited.',
      live: true,
      format: intIn(0, 10_000),
      default: 3,
      env: 'TRAPS_MAX_REPEATED_SEGMENTS',
    },
    maxQueryParams: {
      doc: 'Links with more query parameters are not admitted (trap:query_params), 0 = unlimited.',
      live: true,
      format: intIn(0, 10_000),
      default: 16,
      env: 'TRAPS_MAX_QUERY_PARAMS',
    },
    maxPagesPerHost: {
      doc: 'Links admitted per host in one session (seeds not counted); further links to the host are refused (trap:host_pages), 0 = unlimited.',
      live: true,
      format: intIn(0, 1_000_000_000),
      default: 0,
      env: 'TRAPS_MAX_PAGES_PER_HOST',
    },
    stripParams: {
      doc: 'Query parameters removed from links before deduplication (session ids, tracking); `name*` is a prefix, jsessionid also strips ;jsessionid=.',
      live: true,
      format: 'string-list',
      default: [...DEFAULT_STRIP_PARAMS],
      env: 'TRAPS_STRIP_PARAMS',
    },
  },
  deliver: {
    concurrency: {
      doc: 'Records handled at once per delivery replica.',
      live: true,
      format: intIn(1, Math.floor(AMQP_MAX_PREFETCH / 2)),
      default: 32,
      env: 'DELIVER_CONCURRENCY',
    },
    resultsDir: {
      doc: 'Directory where a finished session is written as <id>.jsonl.',
      format: String,
      default: './results',
      env: 'RESULTS_DIR',
    },
    webhookTimeoutMs: {
      doc: 'Timeout of one webhook call.',
      live: true,
      format: intIn(1, TIMER_MAX_MS),
      default: 10_000,
      env: 'WEBHOOK_TIMEOUT_MS',
    },
    webhookSecret: {
      doc: 'Key of the HMAC-SHA256 signature sent with every webhook (X-Crawlfleet-Signature).',
      format: String,
      default: '',
      env: 'WEBHOOK_SECRET',
      sensitive: true,
    },
  },
  results: {
    url: {
      doc:
        'Where the records of sessions are kept. "sqlite:" (default): an embedded SQLite file, results.db in RESULTS_DIR, shared by the processes of one host; ' +
        '"sqlite:/abs/path.db": that file (a relative path is taken in RESULTS_DIR). ' +
        '"postgres://user:pass@host:5432/db?schema=name" (or postgresql://): a PostgreSQL table in that schema (default public), created when missing, for a cluster. ' +
        '"redis:": a list per session in the Redis of redis.url.',
      format: String,
      default: 'sqlite:',
      env: 'RESULTS_URL',
      sensitive: true,
    },
  },
  warc: {
    dir: {
      doc: 'Directory of the WARC files of sessions that ask for "warc": true (empty: <RESULTS_DIR>/warc). The fetchers and extractors write there, the controller lists and serves the files, the cleaner removes them: one volume shared by all four.',
      format: String,
      default: '',
      env: 'WARC_DIR',
    },
    maxFileBytes: {
      doc: 'A WARC file rolls over to a new one before it passes this size (its records of one exchange stay together).',
      live: true,
      format: intIn(1024, 1024 ** 4),
      default: 1024 ** 3,
      env: 'WARC_MAX_FILE_BYTES',
    },
    idleCloseMs: {
      doc: "A replica closes its WARC file of a session (and writes the file's CDXJ index) after this long without a record of that session; the next record opens a new file.",
      live: true,
      format: intIn(100, TIMER_MAX_MS),
      default: 30_000,
      env: 'WARC_IDLE_CLOSE_MS',
    },
  },
  task: {
    leaseMs: {
      doc: 'Lease of a task in one stage; an expired lease lets the cleaner re-drive it. Keep far below RabbitMQ consumer_timeout.',
      live: true,
      format: intIn(1000, TIMER_MAX_MS),
      default: 120_000,
      env: 'TASK_LEASE_MS',
    },
    admitLeaseMs: {
      doc: 'Time an admitted link may stay unconfirmed on the queue before the cleaner publishes it again.',
      live: true,
      format: intIn(1000, TIMER_MAX_MS),
      default: 60_000,
      env: 'TASK_ADMIT_LEASE_MS',
    },
  },
  session: {
    defaultTimeoutMs: {
      doc: 'Deadline of a session that names no timeoutMs.',
      live: true,
      format: intIn(1, TIMER_MAX_MS),
      default: 3_600_000,
      env: 'SESSION_DEFAULT_TIMEOUT_MS',
    },
    maxTimeoutMs: {
      doc: 'Longest timeoutMs a session may ask for.',
      live: true,
      format: intIn(1, TIMER_MAX_MS),
      default: 7 * 86_400_000,
      env: 'SESSION_MAX_TIMEOUT_MS',
    },
    closeAfterMs: {
      doc: 'After a partial delivery, how long late results are still delivered as supplements.',
      live: true,
      format: intIn(1, TIMER_MAX_MS),
      default: 600_000,
      env: 'SESSION_CLOSE_AFTER_MS',
    },
    retentionMs: {
      doc: 'How long a finished session and its results are kept.',
      live: true,
      format: intIn(1, 10 * 365 * 86_400_000),
      default: 7 * 86_400_000,
      env: 'SESSION_RETENTION_MS',
    },
    defaultMaxPages: {
      doc: 'Page limit of a session that names no maxPages.',
      live: true,
      format: intIn(1, 1_000_000_000),
      default: 10_000,
      env: 'SESSION_DEFAULT_MAX_PAGES',
    },
    maxPagesLimit: {
      doc: 'Largest maxPages a session may ask for.',
      live: true,
      format: intIn(1, 1_000_000_000),
      default: 10_000_000,
      env: 'SESSION_MAX_PAGES_LIMIT',
    },
    defaultMaxDepth: {
      doc: 'Link depth limit of a session that names no maxDepth; seeds are depth 0.',
      live: true,
      format: intIn(0, 10_000),
      default: 16,
      env: 'SESSION_DEFAULT_MAX_DEPTH',
    },
  },
  cleaner: {
    intervalMs: {
      doc: 'Time between two cleaner sweeps.',
      live: true,
      format: intIn(10, TIMER_MAX_MS),
      default: 5000,
      env: 'CLEANER_INTERVAL_MS',
    },
    batchSize: {
      doc: 'Items one cleaner step handles in one Redis call, so no call blocks Redis for long.',
      live: true,
      format: intIn(1, 100_000),
      default: 500,
      env: 'CLEANER_BATCH_SIZE',
    },
    redriveMaxBacklog: {
      doc: 'Expired leases are re-driven only while the extract and deliver queues hold fewer ready messages than this, and the document and render queues none (one of their tasks takes seconds); above it leases expire from slowness, not from dead consumers, and re-driving would only add load.',
      live: true,
      format: intIn(1, 1_000_000_000),
      default: 1000,
      env: 'CLEANER_REDRIVE_MAX_BACKLOG',
    },
  },
  shutdown: {
    graceMs: {
      doc: 'On SIGTERM, how long a service drains in-flight work before it exits.',
      format: intIn(1, TIMER_MAX_MS),
      default: 20_000,
      env: 'SHUTDOWN_GRACE_MS',
    },
  },
  config: {
    file: {
      doc: 'JSON or YAML file with settings, watched for changes (a mounted ConfigMap works).',
      format: String,
      default: '',
      env: 'CONFIG_FILE',
    },
    pollMs: {
      doc: 'How often a replica re-reads the config file and the live overrides, in case a change notification was missed.',
      live: true,
      format: intIn(100, TIMER_MAX_MS),
      default: 5000,
      env: 'CONFIG_POLL_MS',
    },
    historyLength: {
      doc: 'Versions of the live overrides kept in the audit history.',
      live: true,
      format: intIn(1, 100_000),
      default: 200,
      env: 'CONFIG_HISTORY_LENGTH',
    },
  },
  replicas: {
    heartbeatMs: {
      doc: 'How often every replica writes its heartbeat to Redis (GET /replicas, crawlctl replicas, the config rollout).',
      live: true,
      format: intIn(100, 60_000),
      default: 2000,
      env: 'REPLICAS_HEARTBEAT_MS',
    },
    missedBeats: {
      doc: 'A heartbeat expires after this many heartbeat intervals (heartbeatMs × missedBeats): a replica that stopped beating without a graceful stop disappears from the list then.',
      live: true,
      format: intIn(2, 100),
      default: 3,
      env: 'REPLICAS_MISSED_BEATS',
    },
  },
  index: {
    retentionMs: {
      doc: 'How long the crawl index remembers a URL after its last fetch (GET /urls, recrawl.maxAgeMs, conditional requests, `changed`).',
      live: true,
      format: intIn(60_000, 10 * 365 * 86_400_000),
      default: 30 * 86_400_000,
      env: 'INDEX_RETENTION_MS',
    },
    shardChars: {
      doc: 'Fingerprint characters that name a crawl index shard (64^n hashes; the first two are the Redis Cluster hash tag). Size it so a shard holds about 100 URLs (2: up to ~400,000 URLs, 3: ~25 million); changing it starts an empty index.',
      format: intIn(2, 4),
      default: 2,
      env: 'INDEX_SHARD_CHARS',
    },
  },
  schedules: {
    keepRuns: {
      doc: 'Runs (time and session id) kept per schedule for GET /schedules.',
      live: true,
      format: intIn(1, 10_000),
      default: 50,
      env: 'SCHEDULES_KEEP_RUNS',
    },
  },
};
