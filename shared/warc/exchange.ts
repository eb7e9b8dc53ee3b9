/**
 * The records of one HTTP exchange (the fetcher's request and response, each naming the other
 * in WARC-Concurrent-To), of what the parser found on the page (a metadata record with the
 * session id and the outlinks, concurrent to the response), and of what the renderer made of
 * it (a conversion record of the rendered DOM, referring to the response).
 */
import { httpRequestBlock, httpResponseBlock, newRecordId, warcFields, warcRecord } from './record.js';
import type { WarcEntry } from './writer.js';

/** What the fetcher captured of one exchange (services/fetcher/http.ts). */
export interface HttpExchange {
  url: string;
  /** The address dialed, when known. */
  ip: string | null;
  method: string;
  /** The request's header lines as sent. */
  requestHeaders: Array<[string, string]>;
  status: number;
  statusText: string;
  /** The response's header lines as received. */
  rawHeaders: Array<[string, string]>;
  /** The body as on the wire (before decompression), unless `decoded`. */
  body: Buffer;
  /** The body with its content coding undone (as a browser hands it over); see HttpResponseBlock. */
  decoded?: boolean;
  /** When the request was sent. */
  at: Date;
}

/** The MIME essence of a header section's Content-Type, lowercased; `unk` when absent. */
function mimeOf(headers: ReadonlyArray<readonly [string, string]>): string {
  const ct = headers.find(([k]) => k.toLowerCase() === 'content-type')?.[1];
  const essence = (ct ?? '').split(';')[0]!.trim().toLowerCase();
  return essence === '' ? 'unk' : essence;
}

/** The request and response records of an exchange, request first. */
export function exchangeRecords(x: HttpExchange, opts: { keepSecrets?: boolean; secretHeaders?: readonly string[] } = {}): { request: WarcEntry; response: WarcEntry } {
  const requestId = newRecordId();
  const responseId = newRecordId();
  const ip: Array<[string, string]> = x.ip ? [['WARC-IP-Address', x.ip]] : [];
  const req = httpRequestBlock({ method: x.method, url: new URL(x.url), headers: x.requestHeaders, keepSecrets: opts.keepSecrets === true, secretHeaders: opts.secretHeaders ?? [] });
  const request = warcRecord({
    type: 'request',
    id: requestId,
    date: x.at,
    targetUri: x.url,
    contentType: 'application/http;msgtype=request',
    fields: [...ip, ['WARC-Concurrent-To', `<${responseId}>`]],
    block: req,
    payloadOffset: req.length,
  });
  const res = httpResponseBlock({ status: x.status, statusText: x.statusText, rawHeaders: x.rawHeaders, body: x.body, ...(x.decoded ? { decoded: true } : {}) });
  const response = warcRecord({
    type: 'response',
    id: responseId,
    date: x.at,
    targetUri: x.url,
    contentType: 'application/http;msgtype=response',
    fields: [...ip, ['WARC-Concurrent-To', `<${requestId}>`]],
    block: res.block,
    payloadOffset: res.payloadOffset,
  });
  return { request: { record: request }, response: { record: response, status: x.status, mime: mimeOf(x.rawHeaders) } };
}

/** The metadata record of a parsed page: the session and its outlinks (`outlink: <url>` lines, as Heritrix writes them). */
export function metadataRecord(m: { url: string; responseId: string | null; sessionId: string; outlinks: readonly string[]; at?: Date }): WarcEntry {
  const fields: Array<[string, string]> = [['crawlfleet-session', m.sessionId], ...m.outlinks.map((u): [string, string] => ['outlink', u])];
  const record = warcRecord({
    type: 'metadata',
    ...(m.at ? { date: m.at } : {}),
    targetUri: m.url,
    contentType: 'application/warc-fields',
    fields: m.responseId ? [['WARC-Concurrent-To', `<${m.responseId}>`]] : [],
    block: warcFields(fields),
  });
  return { record };
}

/** The content type of a conversion record of a rendered DOM. */
export const RENDERED_DOM_TYPE = 'text/html; charset=utf-8';

/**
 * The conversion record of a rendered page (WARC/1.1 6.8): its block is the DOM the browser
 * built, serialized as UTF-8 HTML; WARC-Refers-To names the response record of the document
 * it was rendered from (when there is one). The block is the payload: both digests are written.
 */
export function conversionRecord(c: { url: string; refersTo: string | null; html: Buffer; at?: Date }): WarcEntry {
  const record = warcRecord({
    type: 'conversion',
    ...(c.at ? { date: c.at } : {}),
    targetUri: c.url,
    contentType: RENDERED_DOM_TYPE,
    fields: c.refersTo ? [['WARC-Refers-To', `<${c.refersTo}>`]] : [],
    block: c.html,
    payloadOffset: 0,
  });
  return { record, mime: 'text/html' };
}
