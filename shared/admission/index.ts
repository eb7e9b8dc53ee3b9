/**
 * The one admission path, shared by the controller (seeds) and the extractor (links):
 * normalize (session and tracking parameters stripped) → in-page dedup → depth → scope →
 * spider-trap rules (pure, here) → page limits and Redis dedup (one Lua round trip: the
 * ledger's `admitSeeds` for seeds, `admitFoundPages` for the links of a batch of pages, which
 * adds the per-host limit and counts the refused links per reason) → publish with confirms.
 */
import type { Config } from '../config/index.js';
import type { SessionStore, TaskLedger } from '../ledger/index.js';
import type { Outbox } from '../pipeline/outbox.js';
import type { LinkToAdmit } from '../redis/commands.js';
import type { FetchTask, SessionSpec, TaskRole } from '../tasks/types.js';
import { compileScope, type Scope } from '../url/scope.js';
import { DEFAULT_STRIP_PARAMS, fingerprint, hostOfNormalized, normalizeUrl } from '../url/normalize.js';
import { trapOf, type TrapReason, type TrapRules } from '../url/traps.js';

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
    private readonly sessions: Pick<SessionStore, 'get'>,
    private readonly max = 1000,
  ) {}

  async get(id: string): Promise<SessionPolicy | null> {
    const hit = this.cache.get(id);
    if (hit) return hit;
    const session = await this.sessions.get(id);
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
  /** Query parameters stripped before dedup (traps.stripParams); default DEFAULT_STRIP_PARAMS. */
  stripParams?: readonly string[];
  /** Spider-trap limits besides the URL length (traps.*); none when absent. */
  traps?: Omit<TrapRules, 'maxUrlLength'>;
  /** The URLs were normalized already, with the same stripParams (the extractor's parser does): do not again. */
  normalized?: boolean;
}

/** How the admission path screens URLs under this config: seeds (controller) and links (extractor) alike. */
export function admissionOptions(cfg: Config): Required<Omit<CandidateOptions, 'normalized'>> {
  const { maxPathDepth, maxRepeatedSegments, maxQueryParams, stripParams } = cfg.traps;
  return { maxUrlLength: cfg.api.maxUrlLength, stripParams, traps: { maxPathDepth, maxRepeatedSegments, maxQueryParams } };
}

/** A link worth asking Redis about, with its host (for the per-host page limit). */
export interface FoundLink extends LinkToAdmit {
  host: string;
}

export interface ScreenedLinks {
  links: FoundLink[];
  /** In-scope links refused by a trap rule, per reason. */
  refused: Partial<Record<TrapReason, number>>;
}

/**
 * Absolute URLs found at `depth - 1` → the links worth asking Redis about: normalized, each
 * once, within maxDepth, in scope, breaking no trap rule; and how many in-scope links each
 * trap rule refused.
 */
export function screenLinks(urls: readonly string[], policy: SessionPolicy, depth: number, opts: CandidateOptions, role?: TaskRole): ScreenedLinks {
  const refused: ScreenedLinks['refused'] = {};
  const links: FoundLink[] = [];
  if (depth > policy.spec.maxDepth) return { links, refused };
  const rules: TrapRules = { maxPathDepth: 0, maxRepeatedSegments: 0, maxQueryParams: 0, ...opts.traps, maxUrlLength: opts.maxUrlLength };
  const normalize = { stripParams: opts.stripParams ?? DEFAULT_STRIP_PARAMS };
  const seen = new Set<string>();
  for (const raw of urls) {
    const url = opts.normalized ? raw : normalizeUrl(raw, undefined, normalize);
    if (url === null || seen.has(url)) continue;
    seen.add(url);
    if (!policy.scope.allowsNormalized(url)) continue;
    const trap = trapOf(url, rules);
    if (trap !== null) {
      refused[trap] = (refused[trap] ?? 0) + 1;
      continue;
    }
    links.push({ taskId: fingerprint(url), depth, url, host: hostOfNormalized(url), ...(role ? { role } : {}) });
  }
  return { links, refused };
}

export function fetchTask(sessionId: string, link: LinkToAdmit, parent?: string): FetchTask {
  return {
    sessionId,
    taskId: link.taskId,
    url: link.url,
    depth: link.depth,
    attempt: 0,
    ...(parent ? { parent } : {}),
    admittedAt: Date.now(),
    ...(link.role ? { role: link.role } : {}),
  };
}

export interface AdmissionDeps {
  tasks: Pick<TaskLedger, 'admitSeeds' | 'confirmQueued'>;
  outbox: Pick<Outbox, 'send'>;
  admitLeaseMs: number;
}

/**
 * The tasks that find a session's sitemaps (`"sitemaps": true`): for every origin of its
 * seeds, robots.txt (role robots: the extractor turns its `Sitemap:` lines into sitemap tasks)
 * and /sitemap.xml (role sitemap, admitted at once so that a page linking to it cannot claim
 * it first as a page). Screened like seeds.
 */
export function sitemapDiscovery(seeds: readonly LinkToAdmit[], policy: SessionPolicy, opts: CandidateOptions): LinkToAdmit[] {
  const origins = [...new Set(seeds.map((l) => new URL(l.url).origin))];
  const screen = (path: string, role: TaskRole): LinkToAdmit[] =>
    screenLinks(origins.map((o) => `${o}${path}`), policy, 0, opts, role).links.map(({ taskId, depth, url }) => ({ taskId, depth, url, role }));
  return [...screen('/robots.txt', 'robots'), ...screen('/sitemap.xml', 'sitemap')];
}

/** Admits seeds of a new session: reserve in Redis, publish with confirms, then confirm queued. */
export async function admitSeeds(deps: AdmissionDeps, policy: SessionPolicy, opts: CandidateOptions): Promise<{ admitted: number; limited: number }> {
  const seeds: LinkToAdmit[] = screenLinks(policy.spec.seeds, policy, 0, opts).links.map(({ taskId, depth, url }) => ({ taskId, depth, url }));
  const links = policy.spec.sitemaps ? [...seeds, ...sitemapDiscovery(seeds, policy, opts)] : seeds;
  const reply = await deps.tasks.admitSeeds(policy.id, links, deps.admitLeaseMs);
  if (reply.kind !== 'ok') return { admitted: 0, limited: 0 };
  const admitted = reply.admitted.map((i) => links[i] as LinkToAdmit);
  await deps.outbox.send('fetch', admitted.map((l) => fetchTask(policy.id, l)));
  await deps.tasks.confirmQueued(policy.id, admitted.map((l) => l.taskId));
  return { admitted: admitted.length, limited: reply.limited };
}
