/**
 * PDF → DocumentContent with pdf.js (pdfjs-dist, Mozilla's reader; its legacy build runs on
 * Node 20): the text of each page (lines kept; a line set in a clearly larger font than the
 * document's body text becomes a Markdown heading), one section per page (Markdown: a thematic break
 * between pages; text: a form feed), the Title (else the first line), Author, page count,
 * CreationDate, Producer and Language, and links from URI link annotations and from URLs
 * written in the text. Runs in a document worker (worker.ts): the pool bounds its time.
 *
 * Errors: an encrypted PDF that needs a password → document_encrypted; one pdf.js cannot
 * read (truncated, malformed) → document_corrupt. A PDF longer than documents.maxPages
 * keeps its first pages and names `pages` in `truncated`. A PDF whose pages hold no text
 * (a scan) is delivered with empty text and reason no_text_layer.
 */
import type * as PdfJsModule from 'pdfjs-dist/legacy/build/pdf.mjs';
import { CrawlError } from '../../../shared/errors/index.js';
import type { RecordMetadata } from '../../../shared/tasks/types.js';
import type { DocumentLimits } from '../parse.js';
import { firstLine, urlsInText, type DocumentContent } from './common.js';

type PdfJs = typeof PdfJsModule;
let pdfjs: Promise<PdfJs> | null = null;
/** pdf.js is an ES module of 2 MB: loaded once per worker, on first use. */
function loadPdfJs(): Promise<PdfJs> {
  pdfjs ??= import('pdfjs-dist/legacy/build/pdf.mjs');
  return pdfjs;
}

interface TextItem {
  str: string;
  hasEOL: boolean;
  height: number;
}

/** A line of a page: its text and the largest font height in it. */
interface Line {
  text: string;
  size: number;
}

function pageLines(items: readonly TextItem[]): Line[] {
  const lines: Line[] = [];
  let text = '';
  let size = 0;
  const flush = (): void => {
    const t = text.replace(/\s+/g, ' ').trim();
    if (t !== '') lines.push({ text: t, size });
    text = '';
    size = 0;
  };
  for (const item of items) {
    text += item.str;
    if (item.str.trim() !== '') size = Math.max(size, item.height);
    if (item.hasEOL) flush();
  }
  flush();
  return lines;
}

/** The font height most of the document's characters are set in (a tie goes to the smaller). */
function bodySize(lines: readonly Line[]): number {
  const weight = new Map<number, number>();
  for (const l of lines) weight.set(Math.round(l.size), (weight.get(Math.round(l.size)) ?? 0) + l.text.length);
  let best = 0;
  let most = -1;
  for (const [size, n] of weight) if (n > most || (n === most && size < best)) [best, most] = [size, n];
  return best;
}

function pageMarkdown(lines: readonly Line[], body: number): string {
  return lines
    .map((l) => {
      if (body > 0 && l.size >= body * 1.6 && l.text.length <= 200) return `# ${l.text}`;
      if (body > 0 && l.size >= body * 1.2 && l.text.length <= 200) return `## ${l.text}`;
      return l.text;
    })
    .join('\n\n');
}

/** A PDF date (`D:YYYYMMDDHHmmSS+HH'mm'`, every part after the year optional) as ISO 8601; undefined when it does not parse. */
export function pdfDate(raw: unknown): string | undefined {
  if (typeof raw !== 'string') return undefined;
  const m = /^(?:D:)?(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:([Zz+-])(\d{2})?'?(\d{2})?'?)?/.exec(raw.trim());
  if (!m) return undefined;
  const [, y, mo = '01', d = '01', h = '00', mi = '00', s = '00', tz, th = '00', tm = '00'] = m;
  const offset = tz === undefined || tz === 'Z' || tz === 'z' ? 'Z' : `${tz}${th}:${tm}`;
  const date = new Date(`${y}-${mo}-${d}T${h}:${mi}:${s}${offset}`);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

function str(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const t = v.replace(/\s+/g, ' ').trim();
  return t === '' ? undefined : t;
}

export async function parsePdf(body: Buffer, pageUrl: string, limits: DocumentLimits): Promise<DocumentContent> {
  const { getDocument } = await loadPdfJs();
  // pdf.js takes the bytes over (transfers them): give it a copy.
  const task = getDocument({ data: new Uint8Array(body), isEvalSupported: false, disableFontFace: true, useSystemFonts: false, stopAtErrors: true, verbosity: 0 });
  let pdf;
  try {
    pdf = await task.promise;
  } catch (err) {
    await task.destroy().catch(() => undefined);
    const name = err instanceof Error ? err.name : '';
    if (name === 'PasswordException') throw new CrawlError('document_encrypted', `${pageUrl}: the PDF is encrypted`, { cause: err });
    throw new CrawlError('document_corrupt', `${pageUrl}: not a readable PDF (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  try {
    const pages = Math.min(pdf.numPages, limits.maxPages);
    const pageLinesList: Line[][] = [];
    const text: string[] = [];
    const links: { url: string; text: string }[] = [];
    for (let n = 1; n <= pages; n++) {
      const page = await pdf.getPage(n);
      const content = await page.getTextContent();
      const lines = pageLines(content.items.flatMap((i) => ('str' in i ? [{ str: i.str, hasEOL: i.hasEOL, height: i.height }] : [])));
      for (const a of (await page.getAnnotations()) as { subtype?: string; url?: string }[]) {
        if (a.subtype === 'Link' && typeof a.url === 'string') links.push({ url: a.url, text: '' });
      }
      pageLinesList.push(lines);
      text.push(lines.map((l) => l.text).join('\n'));
      page.cleanup();
    }
    const allText = text.join('\f');
    const body = bodySize(pageLinesList.flat());
    const markdown = pageLinesList.map((lines) => pageMarkdown(lines, body));
    for (const url of urlsInText(allText)) links.push({ url, text: url });
    const { info } = (await pdf.getMetadata().catch(() => ({ info: {} }))) as { info: Record<string, unknown> };
    const metadata: RecordMetadata = { pages: pdf.numPages };
    const author = str(info['Author']);
    const createdAt = pdfDate(info['CreationDate']);
    const producer = str(info['Producer']);
    const language = str(info['Language']);
    if (author) metadata.author = author;
    if (createdAt) metadata.createdAt = createdAt;
    if (producer) metadata.producer = producer;
    if (language) metadata.language = language;
    const hasText = allText.replace(/\f/g, '').trim() !== '';
    return {
      kind: 'pdf',
      title: str(info['Title']) ?? firstLine(allText),
      markdown: hasText ? markdown.join('\n\n---\n\n') : '',
      text: hasText ? allText : '',
      links,
      metadata,
      truncated: pdf.numPages > pages ? ['pages'] : [],
      ...(hasText ? {} : { reason: 'no_text_layer' }),
    };
  } catch (err) {
    if (err instanceof CrawlError) throw err;
    throw new CrawlError('document_corrupt', `${pageUrl}: the PDF could not be read (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  } finally {
    await pdf.destroy().catch(() => undefined);
  }
}
