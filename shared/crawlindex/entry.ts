/**
 * The crawl index's entry: what the cluster remembers about the last fetch of a URL, packed
 * into one short string so that a shard (a Redis hash of about a hundred URLs) stays a
 * listpack, whose entries cost their bytes and little more (docs/performance.md).
 *
 * Layout: `<fetchedAt: 9 base36 digits><status: 3 digits><hash: 8 base64url or 8 '-'><session>|<lastModified: base36 s or ''>|<etag or ''>`
 * (60 bytes with a 15-character ETag; Redis keeps a hash a listpack while every value is at
 * most `hash-max-listpack-value`, 64 bytes by default).
 * The fixed-width time first lets the update script compare two entries as strings (newest
 * fetch wins) without decoding them. The content hash is the first 48 bits of the body's
 * SHA-256: enough to tell a changed page (a false "unchanged" needs a 2^-48 collision).
 */

export interface IndexEntry {
  /** When the response arrived (ms since the epoch). */
  fetchedAt: number;
  status: number;
  /** `sha256:` + the first 12 hex digits of the body's SHA-256; null when no body was read. */
  contentHash: string | null;
  /** The session whose record holds the page's links (the results store's key is session + URL fingerprint). */
  sessionId: string;
  /** Last-Modified (ms, whole seconds), or null. */
  lastModified: number | null;
  etag: string | null;
}

const TIME_WIDTH = 9;
/** 48 bits of the hash: 12 hex digits in the API, 8 base64url characters in Redis. */
const HASH_HEX = 12;
const HASH_CHARS = 8;
const NO_HASH = '-'.repeat(HASH_CHARS);
const CONTENT_HASH = new RegExp(`^sha256:([0-9a-f]{${HASH_HEX}})`);
/** An ETag longer than this is not kept (no conditional request by ETag for that URL). */
export const MAX_ETAG_LENGTH = 200;

/** The fixed-width time prefix of an entry at `ms` (compared as strings by the update script). */
export function packTime(ms: number): string {
  return Math.max(0, Math.floor(ms)).toString(36).padStart(TIME_WIDTH, '0');
}

/** The index's short form of a record's `sha256:<hex>` content hash; null when there is none. */
export function shortHash(contentHash: string | null | undefined): string | null {
  const m = CONTENT_HASH.exec(contentHash ?? '');
  return m ? `sha256:${m[1]}` : null;
}

export function packEntry(e: IndexEntry): string {
  const status = String(Math.min(999, Math.max(0, Math.trunc(e.status)))).padStart(3, '0');
  const hex = shortHash(e.contentHash)?.slice('sha256:'.length);
  const hash = hex === undefined ? NO_HASH : Buffer.from(hex, 'hex').toString('base64url');
  const lm = e.lastModified === null ? '' : Math.floor(e.lastModified / 1000).toString(36);
  const etag = e.etag !== null && e.etag.length <= MAX_ETAG_LENGTH ? e.etag : '';
  return `${packTime(e.fetchedAt)}${status}${hash}${e.sessionId}|${lm}|${etag}`;
}

/** Decodes a packed entry; null when it is not one (a value written by an unknown version). */
export function unpackEntry(v: string): IndexEntry | null {
  const head = TIME_WIDTH + 3 + HASH_CHARS;
  const bar = v.indexOf('|', head);
  const bar2 = bar < 0 ? -1 : v.indexOf('|', bar + 1);
  if (bar2 < 0) return null;
  const fetchedAt = parseInt(v.slice(0, TIME_WIDTH), 36);
  const status = Number(v.slice(TIME_WIDTH, TIME_WIDTH + 3));
  const hash = v.slice(TIME_WIDTH + 3, head);
  const lm = v.slice(bar + 1, bar2);
  const etag = v.slice(bar2 + 1);
  if (!Number.isFinite(fetchedAt) || !Number.isInteger(status)) return null;
  return {
    fetchedAt,
    status,
    contentHash: hash === NO_HASH ? null : `sha256:${Buffer.from(hash, 'base64url').toString('hex')}`,
    sessionId: v.slice(head, bar),
    lastModified: lm === '' ? null : parseInt(lm, 36) * 1000,
    etag: etag === '' ? null : etag,
  };
}

/** Last-Modified as ms (whole seconds), or null when absent or not an HTTP date. */
export function parseHttpDate(value: string | undefined): number | null {
  if (!value) return null;
  const ms = Date.parse(value);
  return Number.isFinite(ms) && ms > 0 ? Math.floor(ms / 1000) * 1000 : null;
}

/** Where an entry lives: the shard key's tag and rest, and the field (the fingerprint's remaining characters). */
export function entryPlace(fingerprint: string, shardChars: number): { tag: string; rest: string; field: string } {
  return { tag: fingerprint.slice(0, 2), rest: fingerprint.slice(2, shardChars), field: fingerprint.slice(shardChars) };
}
