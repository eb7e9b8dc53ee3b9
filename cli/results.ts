/**
 * `crawlctl results` output: a session's records read page by page through the cursor of
 * GET /sessions/:id/results (`limit`, `after`, the next cursor in X-Next-Cursor), written as
 * JSON lines (the API's bytes as they come), CSV (RFC 4180) or one Markdown document. Only
 * one page of records is held at a time. The CSV and Markdown pieces are pure functions,
 * exported for unit tests.
 */
import { createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as delay } from 'node:timers/promises';
import type { ResultRecord } from '../shared/tasks/types.js';
import { CliError, type ApiClient, type ResultsPageQuery } from './client.js';

export const RESULT_FORMATS = ['jsonl', 'csv', 'md'] as const;
export type ResultFormat = (typeof RESULT_FORMATS)[number];

/** The outcomes `--outcome` takes (ResultRecord outcome). */
export const OUTCOMES = ['delivered', 'failed', 'skipped', 'cancelled'] as const;

/** CSV columns when --fields is not given. */
export const CSV_DEFAULT_FIELDS: readonly string[] = ['url', 'finalUrl', 'status', 'outcome', 'reason', 'title', 'depth', 'fetchedAt', 'contentHash', 'bytes'];

/** The record keys a Markdown document reads. */
export const MARKDOWN_FIELDS: readonly string[] = ['url', 'title', 'outcome', 'reason', 'error', 'contentType', 'markdown', 'truncated'];

/** Records per API request unless --page-size says otherwise. */
export const DEFAULT_PAGE_SIZE = 1000;
/** The API's largest `limit`. */
export const MAX_PAGE_SIZE = 100_000;
/** A page request that fails with a transient error (unreachable, 5xx, timeout) is tried this many times in all. */
export const PAGE_ATTEMPTS = 4;

// ---------------------------------------------------------------------------------------
// CSV (RFC 4180)

/**
 * One value as CSV text: empty for null/absent, JSON for objects and arrays, quoted when it
 * holds `"`, `,`, CR or LF. A crawled string that a spreadsheet would run as a formula
 * (starting with `=`, `+`, `-`, `@`, tab or CR: CSV injection, OWASP) gets a leading `'`,
 * so a page title such as `=HYPERLINK(...)` stays text; numbers are written as they are.
 */
export function csvCell(value: unknown): string {
  let text: string;
  if (value === null || value === undefined) text = '';
  else if (typeof value === 'string') text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') text = String(value);
  else text = JSON.stringify(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** One CSV line (CRLF-terminated) of the named keys of a record. */
export function csvRow(record: Record<string, unknown>, fields: readonly string[]): string {
  return `${fields.map((f) => csvCell(Object.hasOwn(record, f) ? record[f] : null)).join(',')}\r\n`;
}

/** The header line: the field names. */
export function csvHeader(fields: readonly string[]): string {
  return `${fields.map((f) => csvCell(f)).join(',')}\r\n`;
}

// ---------------------------------------------------------------------------------------
// Markdown

/** Text put inside a Markdown heading literally: whitespace collapsed, inline syntax backslash-escaped. */
export function markdownInline(text: string): string {
  return text.replace(/\s+/g, ' ').trim().replace(/[\\`*_[\]<>&~#|!]/g, (c) => `\\${c}`);
}

/** A URL as a CommonMark autolink when it can be one, else as escaped text. */
export function markdownUrl(url: string): string {
  const plain = /^[A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*$/.test(url) && [...url].every((c) => c.charCodeAt(0) > 0x1f && c.charCodeAt(0) !== 0x7f);
  return plain ? `<${url}>` : markdownInline(url);
}

/**
 * Closes a fenced code block left open at the end of a page's Markdown (a byte cap can cut
 * one), so that it cannot swallow the pages after it. A fence is a line of three or more
 * backticks or tildes after any indentation; a block closes at a line of the same character,
 * at least as long, with nothing after it.
 */
export function closeOpenFence(markdown: string): string {
  let open: { char: string; length: number } | null = null;
  for (const line of markdown.split('\n')) {
    const m = /^\s*(`{3,}|~{3,})(.*)$/.exec(line);
    if (!m) continue;
    const fence = m[1] as string;
    const rest = (m[2] as string).trim();
    if (open === null) {
      if (fence[0] === '`' && rest.includes('`')) continue; // not a fence: a backtick fence's info string has no backtick
      open = { char: fence[0] as string, length: fence.length };
    } else if (fence[0] === open.char && fence.length >= open.length && rest === '') {
      open = null;
    }
  }
  return open === null ? markdown : `${markdown.replace(/\n*$/, '\n')}${open.char.repeat(open.length)}`;
}

/** The document's first lines. */
export function markdownPreamble(sessionId: string): string {
  return `# Session ${markdownInline(sessionId)}\n`;
}

/**
 * One record as a section of the document: `## <title> — <url>` (the URL alone when there is
 * no title), then its Markdown; a line in italics says when there is none, and why when the
 * record tells.
 */
export function markdownSection(record: Partial<ResultRecord>): string {
  const url = record.url ?? '';
  const title = typeof record.title === 'string' ? markdownInline(record.title) : '';
  const lines = [`## ${title ? `${title} — ` : ''}${markdownUrl(url)}`, ''];
  if (record.outcome !== undefined && record.outcome !== 'delivered') {
    const why = [record.reason, record.error].filter((s): s is string => typeof s === 'string' && s !== '').join(': ');
    lines.push(`_Not delivered: ${record.outcome}${why ? ` (${markdownInline(why)})` : ''}._`);
  } else if (typeof record.markdown !== 'string') {
    const type = record.contentType?.split(';')[0]?.trim();
    lines.push(type && !/html/i.test(type)
      ? `_No Markdown for this page: it is ${markdownInline(type)}, not HTML._`
      : '_No Markdown for this page: the session\'s formats do not include markdown._');
  } else if (record.markdown.trim() === '') {
    lines.push('_This page has no text content._');
  } else {
    lines.push(closeOpenFence(record.markdown.replace(/\s+$/, '')));
    if (record.truncated?.includes('markdown')) lines.push('', '_This page\'s Markdown was cut at the byte cap of the session (content.maxMarkdownBytes)._');
  }
  return `\n${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------
// Reading the pages

export interface ResultsRequest {
  format: ResultFormat;
  /** Only records of this outcome (md: delivered unless given). */
  outcome?: string | undefined;
  /** Keys of each record (jsonl: passed to the API; csv: the columns). */
  fields?: readonly string[] | undefined;
  pageSize: number;
  /** Wait before trying a page again after a transient error, times the attempt. */
  retryDelayMs: number;
}

export interface ResultsWritten {
  records: number;
  bytes: number;
  /** API requests made, retries included. */
  requests: number;
}

/** What GET /sessions/:id/results is asked for a format. */
export function pageQuery(req: ResultsRequest): Omit<ResultsPageQuery, 'after'> {
  const fields = req.format === 'md' ? MARKDOWN_FIELDS : req.format === 'csv' ? (req.fields ?? CSV_DEFAULT_FIELDS) : req.fields;
  const outcome = req.outcome ?? (req.format === 'md' ? 'delivered' : undefined);
  return { limit: req.pageSize, ...(outcome ? { outcome } : {}), ...(fields ? { fields } : {}) };
}

/** Reads every page of a session's results and writes them in a format. */
class ResultsWriter {
  readonly done: ResultsWritten = { records: 0, bytes: 0, requests: 0 };
  private readonly query: Omit<ResultsPageQuery, 'after'>;

  constructor(private readonly api: ApiClient, private readonly id: string, private readonly req: ResultsRequest) {
    this.query = pageQuery(req);
  }

  /** One page, tried again on transient errors (nothing of it has been read yet then). */
  async page(after: string | null): Promise<{ body: Readable; next: string | null }> {
    for (let attempt = 1; ; attempt++) {
      this.done.requests++;
      try {
        return await this.api.resultsPage(this.id, { ...this.query, after });
      } catch (err) {
        if (!(err instanceof CliError) || !err.transient || attempt >= PAGE_ATTEMPTS) throw err;
        await delay(this.req.retryDelayMs * attempt);
      }
    }
  }

  /** The output, from the first page (already requested) on. */
  async *chunks(first: { body: Readable; next: string | null }): AsyncGenerator<string | Buffer> {
    const { format } = this.req;
    const columns = this.query.fields ?? CSV_DEFAULT_FIELDS;
    if (format === 'csv') yield this.count(csvHeader(columns));
    if (format === 'md') yield this.count(markdownPreamble(this.id));
    let page = first;
    let after: string | null = null;
    for (;;) {
      if (format === 'jsonl') {
        let last = 0x0a;
        for await (const chunk of page.body as AsyncIterable<Buffer>) {
          for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) this.done.records++;
          if (chunk.length > 0) last = chunk[chunk.length - 1] as number;
          yield this.count(chunk);
        }
        if (last !== 0x0a) {
          // The API ends every record with a newline; a page that does not is completed here.
          this.done.records++;
          yield this.count('\n');
        }
      } else {
        const lines = createInterface({ input: page.body, crlfDelay: Infinity });
        for await (const line of lines) {
          if (line.trim() === '') continue;
          let record: Record<string, unknown>;
          try {
            record = JSON.parse(line) as Record<string, unknown>;
          } catch {
            throw new CliError(`the API answered a results line that is not JSON: ${line.slice(0, 120)}`);
          }
          this.done.records++;
          yield this.count(format === 'csv' ? csvRow(record, columns) : markdownSection(record as Partial<ResultRecord>));
        }
      }
      if (page.next === null || page.next === after) return;
      after = page.next;
      page = await this.page(after);
    }
  }

  private count(chunk: string | Buffer): string | Buffer {
    this.done.bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    return chunk;
  }
}

/**
 * Writes a session's results to `dest` (left open) or to the file `path`. The first page is
 * requested before anything is written, so an unknown session or an unreachable API ends the
 * command with the API's error and creates no file.
 */
export async function writeResults(api: ApiClient, id: string, req: ResultsRequest, to: { stream: NodeJS.WritableStream } | { path: string }): Promise<ResultsWritten> {
  const writer = new ResultsWriter(api, id, req);
  const first = await writer.page(null);
  const source = Readable.from(writer.chunks(first), { objectMode: false });
  try {
    if ('path' in to) await pipeline(source, createWriteStream(to.path));
    else await pipeline(source, to.stream, { end: false });
  } catch (err) {
    const where = 'path' in to ? `saving results to ${to.path}` : 'writing results';
    const message = err instanceof CliError ? err.message : (err as Error).message;
    throw new CliError(`${where} failed after ${writer.done.records} records (${writer.done.bytes} bytes): ${message}`);
  }
  return writer.done;
}
