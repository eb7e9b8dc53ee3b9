/**
 * CDXJ index lines (the format of pywb and OpenWayback's successors): a SURT key, a 14-digit
 * timestamp, then a JSON object with the URL, the record's type (when not a response), a
 * response's MIME type and status, its payload digest (base32 SHA-1, no prefix), and where its gzip member sits in the WARC file (offset,
 * compressed length, file name). A file's lines are sorted, so lookups can bisect.
 */
import type { WarcRecord } from './record.js';

/**
 * The SURT form of a URL (Sort-friendly URI Reordering Transform, as the `surt` library
 * writes it): the host's labels reversed and comma-joined (an IP address kept as it is), a
 * leading `www` dropped, a non-default port kept, `)`, then path and query, lowercased, with
 * the query's parameters sorted.
 */
export function surt(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return raw.toLowerCase();
  }
  const hostname = u.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  let host = hostname.split('.').reverse().join(',');
  if (host.endsWith(',www')) host = host.slice(0, -4);
  if (u.port !== '') host += `:${u.port}`;
  const params = u.search === '' ? '' : '?' + u.search.slice(1).split('&').sort().join('&');
  return `${host})${u.pathname}${params}`.toLowerCase();
}

/** `yyyyMMddHHmmss` in UTC. */
export function timestamp14(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

export interface CdxjEntry {
  record: WarcRecord;
  /** Where the record's gzip member starts in the file, and its compressed length. */
  offset: number;
  length: number;
  filename: string;
  /** A response's status and MIME type. */
  status?: number;
  mime?: string;
}

/** One CDXJ line (without its newline); null for a record that is not indexed (warcinfo, no target). */
export function cdxjLine(e: CdxjEntry): string | null {
  const r = e.record;
  if (r.targetUri === null || r.type === 'warcinfo') return null;
  const json: Record<string, string> = { url: r.targetUri };
  if (r.type !== 'response') json['type'] = r.type;
  if (e.mime !== undefined) json['mime'] = e.mime;
  if (e.status !== undefined) json['status'] = String(e.status);
  // as pywb and warcio index it: the base32 digest without its algorithm prefix
  json['digest'] = (r.payloadDigest ?? r.blockDigest).replace(/^sha1:/, '');
  json['length'] = String(e.length);
  json['offset'] = String(e.offset);
  json['filename'] = e.filename;
  return `${surt(r.targetUri)} ${timestamp14(r.date)} ${JSON.stringify(json)}`;
}

/** A file's index: its lines sorted (key, then timestamp, then the rest), each ending in a newline. */
export function cdxjFile(lines: readonly string[]): string {
  return [...lines].sort().map((l) => l + '\n').join('');
}
