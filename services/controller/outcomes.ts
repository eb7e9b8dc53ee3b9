/**
 * `GET /sessions/:id/outcomes`: how a session's URLs ended, by outcome and reason code
 * (docs/errors.md), e.g. `failed: { total: 3, reasons: { timeout: 2, http_server_error: 1 } }`.
 * Counted from the session's records in the results store (the records that have a reason:
 * failed, skipped, cancelled), page by page; `delivered` is the store's count.
 */
import type { FastifyInstance } from 'fastify';
import { CrawlError } from '../../shared/errors/index.js';
import type { SessionStore } from '../../shared/ledger/index.js';
import type { ResultsStore } from '../../shared/results/store.js';
import type { Outcome, ResultRecord } from '../../shared/tasks/types.js';

const PAGE = 1000;
/** The outcomes that carry a reason. */
export const REASONED_OUTCOMES = ['failed', 'skipped', 'cancelled'] as const satisfies readonly Outcome[];

export interface ReasonCounts {
  total: number;
  /** Records by reason code; `unknown` for a record without one. */
  reasons: Record<string, number>;
}

export type OutcomeCounts = { delivered: number } & Record<(typeof REASONED_OUTCOMES)[number], ReasonCounts>;

/** Adds records' reasons to `into` (pure). */
export function countReasons(records: readonly Pick<ResultRecord, 'reason'>[], into: ReasonCounts): ReasonCounts {
  for (const r of records) {
    const reason = r.reason ?? 'unknown';
    into.reasons[reason] = (into.reasons[reason] ?? 0) + 1;
    into.total++;
  }
  return into;
}

export async function countOutcomes(results: ResultsStore, sessionId: string): Promise<OutcomeCounts> {
  const out = { delivered: await results.count(sessionId, { outcome: 'delivered' }) } as OutcomeCounts;
  for (const outcome of REASONED_OUTCOMES) {
    const counts: ReasonCounts = { total: 0, reasons: {} };
    let after: string | null = null;
    do {
      const page = await results.list(sessionId, { outcome, limit: PAGE, after });
      countReasons(page.records, counts);
      after = page.next;
    } while (after !== null);
    out[outcome] = counts;
  }
  return out;
}

const reasonCountsSchema = {
  type: 'object',
  required: ['total', 'reasons'],
  properties: {
    total: { type: 'integer', minimum: 0 },
    reasons: { type: 'object', additionalProperties: { type: 'integer', minimum: 0 }, description: 'Records by reason code (docs/errors.md).' },
  },
} as const;

/** The answer of GET /sessions/{id}/outcomes (documented in openapi.ts). */
export const outcomesResponseSchema = {
  type: 'object',
  required: ['id', 'delivered', ...REASONED_OUTCOMES],
  properties: {
    id: { type: 'string' },
    delivered: { type: 'integer', minimum: 0 },
    ...Object.fromEntries(REASONED_OUTCOMES.map((o) => [o, reasonCountsSchema])),
  },
} as const;

export interface OutcomesRouteDeps {
  sessions: SessionStore;
  results: ResultsStore;
}

export function registerOutcomesRoute(app: FastifyInstance, deps: OutcomesRouteDeps): void {
  app.get<{ Params: { id: string } }>('/sessions/:id/outcomes', {
    schema: { params: { type: 'object', properties: { id: { type: 'string', pattern: '^[a-z0-9-]{1,64}$' } }, required: ['id'] } },
  }, async (req) => {
    const id = req.params.id;
    if (!(await deps.sessions.get(id))) throw new CrawlError('not_found', `session ${id} not found`);
    return { id, ...(await countOutcomes(deps.results, id)) };
  });
}
