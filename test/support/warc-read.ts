/**
 * WARC files read back by warcio, a reader other than ours (the e2e tests of WARC and of the
 * renderer check our writer's records and digests with it).
 */
import { WARCParser } from 'warcio';

export interface ReadRecord {
  type: string;
  id: string;
  uri: string | null;
  concurrentTo: string[];
  headers: Map<string, string>;
  /** The block as warcio hands it over (parseHttp off). */
  block: Buffer;
  /** The HTTP payload as warcio splits it, not decoded (responses). */
  payload: Buffer | null;
  status: number | null;
  /** The payload with its content encoding undone by warcio. */
  text: string | null;
}

/** Every record of a file, as warcio reads it (twice: raw blocks, then HTTP parsed). */
export async function readWarc(bytes: Buffer): Promise<ReadRecord[]> {
  const out: ReadRecord[] = [];
  for await (const r of new WARCParser([bytes], { parseHttp: false })) {
    const headers = new Map<string, string>();
    for (const [k, v] of r.warcHeaders.headers as Iterable<[string, string]>) headers.set(k.toLowerCase(), v);
    out.push({ type: r.warcType as string, id: r.warcHeader('WARC-Record-ID') ?? '', uri: r.warcTargetURI ?? null, concurrentTo: r.warcConcurrentTo ?? [], headers, block: Buffer.from(await r.readFully()), payload: null, status: null, text: null });
  }
  let i = 0;
  for await (const r of new WARCParser([bytes])) {
    const rec = out[i++] as ReadRecord;
    if (r.warcType === 'response' && r.httpHeaders) {
      rec.status = Number(r.httpHeaders.statusCode);
      rec.payload = Buffer.from(await r.readFully(false));
    }
  }
  // warcio's content decoding (gzip) of each response, from a fresh parse
  i = 0;
  for await (const r of new WARCParser([bytes])) {
    const rec = out[i++] as ReadRecord;
    if (r.warcType === 'response') rec.text = await r.contentText();
  }
  return out;
}
