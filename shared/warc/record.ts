/**
 * WARC/1.1 records (ISO 28500:2017): one general record builder (any WARC-Type, its named
 * fields, a block) and the blocks of the record types crawlfleet writes: warcinfo, request and
 * response (`application/http`), metadata (`application/warc-fields`), conversion (a rendered
 * DOM, exchange.ts). Digests are `sha1:`
 * in RFC 4648 base32, as Heritrix, wget and warcio write them. Each record is compressed as
 * its own gzip member, so a reader (or a CDXJ index) can start at any record's offset.
 */
import { createHash, randomUUID } from 'node:crypto';
import zlib from 'node:zlib';

export type WarcRecordType = 'warcinfo' | 'request' | 'response' | 'metadata' | 'resource' | 'conversion' | 'revisit';

/** One record to serialize. The fields the builder computes (version, Content-Length, Block-Digest) are not given here. */
export interface WarcRecordInput {
  type: WarcRecordType;
  /** `urn:uuid:…` (without angle brackets); a new one when absent. */
  id?: string;
  date?: Date;
  targetUri?: string;
  contentType?: string;
  block: Buffer;
  /**
   * Where the payload starts in the block (after an HTTP message's header section); the
   * payload digest is written when this is set.
   */
  payloadOffset?: number;
  /** More named fields, in order: WARC-Concurrent-To, WARC-IP-Address, WARC-Filename, WARC-Truncated… */
  fields?: ReadonlyArray<readonly [string, string]>;
}

export interface WarcRecord {
  id: string;
  type: WarcRecordType;
  date: Date;
  targetUri: string | null;
  /** The record as written, uncompressed. */
  bytes: Buffer;
  /** `sha1:<base32>` of the block, and of the payload when there is one. */
  blockDigest: string;
  payloadDigest: string | null;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 (with padding; a SHA-1 of 20 bytes needs none). */
export function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  while (out.length % 8 !== 0) out += '=';
  return out;
}

/** `sha1:` and the base32 SHA-1 of the bytes (WARC-Block-Digest, WARC-Payload-Digest). */
export function sha1Digest(...parts: Uint8Array[]): string {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return `sha1:${base32(h.digest())}`;
}

export function newRecordId(): string {
  return `urn:uuid:${randomUUID()}`;
}

/** WARC-Date: UTC, W3C-DTF; WARC/1.1 allows the milliseconds. */
export function warcDate(d: Date): string {
  return d.toISOString();
}

/** A field value on one line: CR and LF (which would end the field or the header) become spaces. */
function oneLine(value: string): string {
  return value.replace(/[\r\n]+/g, ' ');
}

/** Serializes a record: the version line, the named fields, a blank line, the block, two CRLFs. */
export function warcRecord(input: WarcRecordInput): WarcRecord {
  const id = input.id ?? newRecordId();
  const date = input.date ?? new Date();
  const blockDigest = sha1Digest(input.block);
  const payloadDigest = input.payloadOffset !== undefined ? sha1Digest(input.block.subarray(input.payloadOffset)) : null;
  const lines = ['WARC/1.1', `WARC-Type: ${input.type}`, `WARC-Record-ID: <${id}>`, `WARC-Date: ${warcDate(date)}`];
  if (input.targetUri !== undefined) lines.push(`WARC-Target-URI: ${oneLine(input.targetUri)}`);
  for (const [name, value] of input.fields ?? []) lines.push(`${name}: ${oneLine(value)}`);
  lines.push(`WARC-Block-Digest: ${blockDigest}`);
  if (payloadDigest !== null) lines.push(`WARC-Payload-Digest: ${payloadDigest}`);
  if (input.contentType !== undefined) lines.push(`Content-Type: ${input.contentType}`);
  lines.push(`Content-Length: ${input.block.length}`);
  const head = Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'utf8');
  return {
    id,
    type: input.type,
    date,
    targetUri: input.targetUri ?? null,
    bytes: Buffer.concat([head, input.block, CRLF2]),
    blockDigest,
    payloadDigest,
  };
}

const CRLF2 = Buffer.from('\r\n\r\n');

/** One record as its own gzip member. */
export function gzipMember(record: WarcRecord): Buffer {
  return zlib.gzipSync(record.bytes, { level: 6 });
}

/** An `application/warc-fields` block: `name: value` lines. */
export function warcFields(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  return Buffer.from(fields.map(([k, v]) => `${k}: ${oneLine(v)}\r\n`).join(''), 'utf8');
}

/** Header names whose values are secrets: written as `***` unless the session asks for them. */
export const SECRET_HEADERS: ReadonlySet<string> = new Set(['authorization', 'cookie', 'proxy-authorization']);

export interface HttpRequestBlock {
  method: string;
  url: URL;
  /** Header lines as sent, names as written. */
  headers: ReadonlyArray<readonly [string, string]>;
  /** Keep the values of SECRET_HEADERS and secretHeaders (the session's warcRecordSecrets); default `***`. */
  keepSecrets?: boolean;
  /** More header names whose values are secrets: the session's own request headers (any case). */
  secretHeaders?: readonly string[];
}

/** The request as sent: request line (origin form) and headers; a GET has no body. */
export function httpRequestBlock(req: HttpRequestBlock): Buffer {
  const target = `${req.url.pathname}${req.url.search}` || '/';
  const lines = [`${req.method} ${target} HTTP/1.1`];
  const more = new Set((req.secretHeaders ?? []).map((n) => n.toLowerCase()));
  for (const [name, value] of req.headers) {
    const secret = SECRET_HEADERS.has(name.toLowerCase()) || more.has(name.toLowerCase());
    lines.push(`${name}: ${!req.keepSecrets && secret ? '***' : oneLine(value)}`);
  }
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
}

export interface HttpResponseBlock {
  status: number;
  statusText: string;
  /** Header lines as received: names and values as the server wrote them (latin1). */
  rawHeaders: ReadonlyArray<readonly [string, string]>;
  /** The body as sent on the wire: content-encoded, transfer-decoded (unless `decoded`). */
  body: Buffer;
  /**
   * The body as a browser hands it over, its content coding already undone (the renderer's
   * main document): Content-Encoding and Content-Length no longer describe it, so they are
   * kept as X-Archive-Orig-Content-Encoding and X-Archive-Orig-Content-Length.
   */
  decoded?: boolean;
}

/**
 * The framing header a response block cannot keep: the body is stored without its chunked
 * transfer coding (the HTTP client removes it), so `Transfer-Encoding` is kept under this
 * name, and readers do not try to de-chunk the body (the convention of warcprox and pywb).
 */
export const ORIGINAL_TRANSFER_ENCODING = 'X-Archive-Orig-Transfer-Encoding';

/** Headers that describe the body on the wire, kept under `X-Archive-Orig-<name>` when the stored body is decoded. */
const WIRE_BODY_HEADERS: ReadonlySet<string> = new Set(['content-encoding', 'content-length']);

/** The response as received: status line, headers, body; and where the payload starts. */
export function httpResponseBlock(res: HttpResponseBlock): { block: Buffer; payloadOffset: number } {
  const lines = [`HTTP/1.1 ${res.status} ${oneLine(res.statusText)}`.trimEnd()];
  for (const [name, value] of res.rawHeaders) {
    const lower = name.toLowerCase();
    const kept = lower === 'transfer-encoding' ? ORIGINAL_TRANSFER_ENCODING : res.decoded && WIRE_BODY_HEADERS.has(lower) ? `X-Archive-Orig-${name}` : name;
    lines.push(`${kept}: ${oneLine(value)}`);
  }
  const head = Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
  return { block: Buffer.concat([head, res.body]), payloadOffset: head.length };
}
