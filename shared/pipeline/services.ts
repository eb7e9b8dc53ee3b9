/**
 * The services of crawlfleet, described once. The launcher (`bin/crawlfleet.js`), the
 * supervisor of `npm start` and the tests, and the deployment validation read this list; a
 * service's entry point is `services/<name>/index.ts` exporting `main`.
 */

export interface ServiceDef {
  /** Environment variable of `npm start` that sets how many replicas run (absent: exactly one). */
  readonly replicasEnv?: string;
  /** Replicas `npm start` runs when the variable is not set. */
  readonly defaultReplicas: number;
  /** The service answers the API on controller.port; the others serve /healthz, /readyz and /metrics on http.port. */
  readonly api?: true;
  /** What it does, for usage texts. */
  readonly summary: string;
}

export const SERVICES = {
  controller: { defaultReplicas: 1, api: true, summary: 'HTTP API, admits seeds, serves results' },
  fetcher: { replicasEnv: 'FETCHERS', defaultReplicas: 2, summary: 'consumes the fetch queue: robots, politeness, SSRF-guarded HTTP' },
  extractor: { replicasEnv: 'EXTRACTORS', defaultReplicas: 1, summary: 'consumes the extract queue: parse, fields, links, admission' },
  renderer: { replicasEnv: 'RENDERERS', defaultReplicas: 1, summary: 'consumes the render queue: headless Chromium, every request through the SSRF guard' },
  delivery: { replicasEnv: 'DELIVERIES', defaultReplicas: 1, summary: 'consumes the deliver queue: records, completion, hand-over, webhooks' },
  cleaner: { defaultReplicas: 1, summary: 'periodic sweep: deadlines, expired leases, retention' },
} as const satisfies Record<string, ServiceDef>;

export type ServiceName = keyof typeof SERVICES;

/** Every service, in start order. */
export const SERVICE_NAMES = Object.keys(SERVICES) as ServiceName[];

export function isServiceName(value: unknown): value is ServiceName {
  return typeof value === 'string' && Object.hasOwn(SERVICES, value);
}
