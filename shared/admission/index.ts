/**
 * The one admission path, shared by the controller (seeds) and the extractor (links):
 * normalize → scope → depth and length limits → in-page dedup (pure, here) → page limit
 * and Redis dedup (one Lua round trip, in the ledger) → publish with confirms.
 */
import type { Ledger, LinkToAdmit } from '../ledger/index.js';
import type { Broker } from '../messaging/broker.js';
import type { FetchTask, SessionSpec } from '../tasks/types.js';
import { compileScope, type Scope } from '../url/scope.js';
import { fingerprint, normalizeUrl } from '../url/normalize.js';

export interface SessionPolicy {
  readonly id: string;
  readonly spec: SessionSpec;
  readonly scope: Scope;
}

export function sessionPolicy(id: string, spec: SessionSpec): SessionPolicy {
  return { id, spec, scope: compileScope(spec) };
}

/**
 * Session specs never change after creation, so each process caches them (bounded) and
 * pays one Redis read per session, not per page.
 */
export class SessionCache {
  private readonly cache = new Map<string, SessionPolicy>();

  constructor(
    private readonly ledger: Ledger,
    private readonly max = 1000,
  ) {}

  async get(id: string): Promise<SessionPolicy | null> {
    const hit = this.cache.get(id);
    if (hit) return hit;
    const session = await this.ledger.getSession(id);
    if (!session) return null;
    const policy = sessionPolicy(id, session.spec);
    if (this.cache.size >= this.max) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(id, policy);
    return policy;
  }
}

export interface CandidateOptions {
  maxUrlLength: number;
}

/**
 * Absolute URLs found at `depth - 1` → the links worth asking Redis about: normalized, in
 * scope, within maxDepth and the URL length cap, each once.
 */
export function candidateLinks(urls: readonly string[], policy: SessionPolicy, depth: number, opts: CandidateOptions): LinkToAdmit[] {
  if (depth > policy.spec.maxDepth) return [];
  const seen = new Set<string>();
  const out: LinkToAdmit[] = [];
  for (const raw of urls) {
    const url = normalizeUrl(raw);
    if (url === null || url.length > opts.maxUrlLength || seen.has(url)) continue;
    seen.add(url);
    if (!policy.scope.allows(url)) continue;
    out.push({ taskId: fingerprint(url), depth, url });
  }
  return out;
}

export function fetchTask(sessionId: string, link: LinkToAdmit, parent?: string): FetchTask {
  return {
    v: 1,
    kind: 'fetch',
    sessionId,
    taskId: link.taskId,
    url: link.url,
    depth: link.depth,
    attempt: 0,
    ...(parent ? { parent } : {}),
    admittedAt: Date.now(),
  };
}

export interface AdmissionDeps {
  ledger: Ledger;
  broker: Broker;
  admitLeaseMs: number;
}

/** Admits seeds of a new session: reserve in Redis, publish with confirms, then confirm queued. */
export async function admitSeeds(deps: AdmissionDeps, policy: SessionPolicy, opts: CandidateOptions): Promise<{ admitted: number; limited: number }> {
  const links = candidateLinks(policy.spec.seeds, policy, 0, opts);
  const reply = await deps.ledger.admitSeeds(policy.id, links, deps.admitLeaseMs);
  if (reply.kind !== 'ok') return { admitted: 0, limited: 0 };
  const admitted = reply.admitted.map((i) => links[i] as LinkToAdmit);
  await Promise.all(admitted.map((l) => deps.broker.publishJson(deps.broker.topology.fetch, fetchTask(policy.id, l))));
  await deps.ledger.confirmQueued(policy.id, admitted.map((l) => l.taskId));
  return { admitted: admitted.length, limited: reply.limited };
}
