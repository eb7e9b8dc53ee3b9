/**
 * Text of an HTML body, decoded as a browser decodes it (HTML Standard, "determining the
 * character encoding"):
 *
 * 1. a byte-order mark (UTF-8, UTF-16LE, UTF-16BE) → `bom`;
 * 2. a supported charset label in the Content-Type header → `header`;
 * 3. the prescan of the first 1,024 bytes (`html-encoding-sniffer`: comments skipped,
 *    `<meta charset>` or `http-equiv="content-type"` with `content`, the first supported label
 *    wins, UTF-16 read as UTF-8, x-user-defined as windows-1252) → `meta`;
 * 4. a `<meta>` past the prescan, found by the HTML parser (htmlparser2): a browser's parser
 *    changes the encoding when it meets one ("changing the encoding while parsing") → `meta`;
 * 5. nothing declared: bytes that are valid UTF-8 and hold a non-ASCII byte → UTF-8, `detected`;
 *    ASCII only → UTF-8, `default` (every ASCII-compatible encoding gives the same text);
 *    otherwise the statistical detector (`chardet`) over the text of the first 64 KiB (markup
 *    left out), when its best guess is a supported encoding that scores above the runner-up
 *    → `detected`;
 * 6. else windows-1252 → `default`.
 *
 * Decoding goes through the Encoding Standard's decoders (`@exodus/bytes`), so every label the
 * standard defines decodes to the standard's code points (windows-1252 0x80 is €, whatever
 * Node's ICU does). Undecodable bytes become U+FFFD, never an exception.
 */
import { isAscii, isUtf8 } from 'node:buffer';
import { TextDecoder, getBOMEncoding, normalizeEncoding } from '@exodus/bytes/encoding.js';
import { analyse } from 'chardet';
import htmlEncodingSniffer from 'html-encoding-sniffer';
import { Parser } from 'htmlparser2';

/** How the charset was found. */
export type CharsetSource = 'bom' | 'header' | 'meta' | 'detected' | 'default';

export interface CharsetSniff {
  /** The Encoding Standard's name of the encoding, lowercase (e.g. `utf-8`, `windows-1252`, `shift_jis`). */
  charset: string;
  source: CharsetSource;
}

/** The statistical detector reads at most this many bytes. */
export const DETECT_SAMPLE_BYTES = 64 * 1024;

/** The detector's best guess is taken only at or above this confidence (chardet scores 0–100). */
const MIN_DETECT_CONFIDENCE = 10;

/**
 * The `charset` parameter of a Content-Type value. Tolerant like Chromium's parser: spaces
 * around `=`, a value in double or single quotes.
 */
function headerLabel(contentType: string | undefined): string | null {
  if (!contentType) return null;
  const m = /;\s*charset\s*=\s*(?:"([^"]*)"|'([^']*)'|([^;\s]*))/i.exec(contentType);
  if (!m) return null;
  return (m[1] ?? m[2] ?? m[3] ?? '').trim() || null;
}

/** A label's encoding name, lowercase, or null when the Encoding Standard does not know it (or it is `replacement`). */
function encodingOf(label: string | null): string | null {
  if (!label) return null;
  const name = normalizeEncoding(label);
  return name === 'replacement' ? null : name;
}

const isSpace = (c: string | undefined): boolean => c === '\t' || c === '\n' || c === '\f' || c === '\r' || c === ' ';

/** HTML Standard, "extracting a character encoding from a meta element": the label in a `content` value. */
function contentLabel(content: string): string | null {
  const lower = content.toLowerCase();
  let from = 0;
  for (;;) {
    const at = lower.indexOf('charset', from);
    if (at < 0) return null;
    let p = at + 'charset'.length;
    while (isSpace(content[p])) p++;
    if (content[p] !== '=') {
      from = p;
      continue;
    }
    p++;
    while (isSpace(content[p])) p++;
    const quote = content[p];
    if (quote === '"' || quote === "'") {
      const end = content.indexOf(quote, p + 1);
      return end < 0 ? null : content.slice(p + 1, end);
    }
    if (p >= content.length) return null;
    let end = p;
    while (end < content.length && !isSpace(content[end]) && content[end] !== ';') end++;
    return content.slice(p, end);
  }
}

/** Some `<meta …>` tag holds the word charset, in any case (one pass). */
function mentionsMetaCharset(html: string): boolean {
  const meta = /<meta/gi;
  for (let m = meta.exec(html); m !== null; m = meta.exec(html)) {
    const gt = html.indexOf('>', m.index);
    if (/charset/i.test(html.slice(m.index, gt < 0 ? html.length : gt))) return true;
    if (gt < 0) return false;
    meta.lastIndex = gt;
  }
  return false;
}

/**
 * The encoding of the first `<meta>` the HTML parser meets that declares one (HTML Standard,
 * the "in head" rules for `meta` and "changing the encoding while parsing"): `charset`, or
 * `http-equiv="content-type"` with a `content` naming one. UTF-16 becomes UTF-8 and
 * x-user-defined windows-1252, as in the prescan. The bytes are read as latin1, which keeps
 * every ASCII byte of markup in place.
 */
function parserMetaCharset(bytes: Uint8Array): string | null {
  const html = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
  if (!mentionsMetaCharset(html)) return null;
  let found: string | null = null;
  const parser = new Parser(
    {
      onopentag(name, attribs) {
        if (name !== 'meta' || found !== null) return;
        const charset = attribs['charset'];
        const content = attribs['content'];
        let label: string | null = null;
        if (charset !== undefined) label = charset;
        else if (attribs['http-equiv']?.toLowerCase() === 'content-type' && content !== undefined) label = contentLabel(content);
        found = encodingOf(label);
        if (found !== null) parser.pause();
      },
    },
    { decodeEntities: true },
  );
  parser.write(html);
  if (found === 'utf-16le' || found === 'utf-16be') return 'utf-8';
  return found === 'x-user-defined' ? 'windows-1252' : found;
}

/** Valid UTF-8, allowing the last sequence to be cut off (a body truncated at a byte cap). */
function isUtf8Prefix(bytes: Uint8Array): boolean {
  if (isUtf8(bytes)) return true;
  // Up to 3 trailing bytes may be the start of a 2- to 4-byte sequence.
  for (let cut = 1; cut <= 3 && cut <= bytes.length; cut++) {
    const lead = bytes[bytes.length - cut] as number;
    if (lead >= 0x80 && lead < 0xc0) continue; // a continuation byte: look further back
    const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc2 ? 2 : 0;
    return need > cut && isUtf8(bytes.subarray(0, bytes.length - cut));
  }
  return false;
}

/**
 * The text of some HTML with its markup (tags, comments, scripts, styles) replaced by spaces,
 * in one pass: an unclosed script, style or comment ends the text, an unclosed tag is kept.
 */
function withoutMarkup(html: string): string {
  const lower = html.toLowerCase(); // latin1 characters keep their length
  const out: string[] = [];
  let i = 0;
  while (i < html.length) {
    const lt = html.indexOf('<', i);
    if (lt < 0) break;
    out.push(html.slice(i, lt));
    let end: number;
    if (lower.startsWith('<script', lt) || lower.startsWith('<style', lt)) {
      const close = lower.indexOf(lower.startsWith('<script', lt) ? '</script' : '</style', lt);
      end = close < 0 ? -1 : html.indexOf('>', close);
    } else if (html.startsWith('<!--', lt)) {
      const close = html.indexOf('-->', lt + 4);
      end = close < 0 ? -1 : close + 2;
    } else {
      end = html.indexOf('>', lt);
      if (end < 0) {
        i = lt;
        break;
      }
    }
    out.push(' ');
    if (end < 0) return out.join('');
    i = end + 1;
  }
  out.push(html.slice(i));
  return out.join('');
}

/**
 * What the detector reads: the first 64 KiB with their markup replaced by spaces. Markup is
 * ASCII, so the text keeps its byte values; without it the detector runs about 3 times
 * faster and is more confident (bench/encoding.ts). '<' and '>' are never the trail byte of
 * Shift_JIS, EUC-JP, EUC-KR, GBK or Big5, so no character is cut (7-bit ISO-2022-JP has no
 * byte above 0x7F and never reaches the detector).
 */
export function detectorSample(bytes: Uint8Array): Buffer {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, DETECT_SAMPLE_BYTES));
  return Buffer.from(withoutMarkup(head.toString('latin1')), 'latin1');
}

/** chardet's best supported guess when it leads the runner-up, else null. */
function detectLegacy(bytes: Uint8Array): string | null {
  const matches = analyse(detectorSample(bytes)).filter((m) => m.name !== 'ASCII');
  const best = matches[0];
  if (!best || best.confidence < MIN_DETECT_CONFIDENCE) return null;
  if (matches[1] && matches[1].confidence >= best.confidence) return null;
  const name = encodingOf(best.name);
  // UTF-8 was ruled out before; UTF-16/32 without a BOM is not how HTML is served.
  return name === null || name === 'utf-8' || name.startsWith('utf-16') ? null : name;
}

/** The prescan's encoding, or null. */
function prescan(bytes: Uint8Array): string | null {
  try {
    // No BOM and no transport label: the sniffer's answer is the prescan's, else our '' default.
    return encodingOf(htmlEncodingSniffer(bytes.subarray(0, 1024), { defaultEncoding: '' }));
  } catch (err) {
    // html-encoding-sniffer 6 throws a TypeError on a content value that ends at "charset" or
    // "charset=" (jsdom/html-encoding-sniffer#26; fixed in 7, which needs Node 22). The
    // parser's search that follows applies the same rules to every <meta>.
    if (err instanceof TypeError) return null;
    throw err;
  }
}

/** Decide the encoding of an HTML body and say how it was found. */
export function sniffCharset(bytes: Uint8Array, contentType: string | undefined): CharsetSniff {
  const bom = getBOMEncoding(bytes);
  if (bom) return { charset: bom, source: 'bom' };
  const header = encodingOf(headerLabel(contentType));
  if (header) return { charset: header, source: 'header' };
  const meta = prescan(bytes);
  if (meta) return { charset: meta, source: 'meta' };
  const late = parserMetaCharset(bytes);
  if (late) return { charset: late, source: 'meta' };
  if (isAscii(bytes)) return { charset: 'utf-8', source: 'default' };
  if (isUtf8Prefix(bytes)) return { charset: 'utf-8', source: 'detected' };
  const detected = detectLegacy(bytes);
  if (detected) return { charset: detected, source: 'detected' };
  return { charset: 'windows-1252', source: 'default' };
}

export function decodeHtml(bytes: Buffer, contentType: string | undefined): { text: string } & CharsetSniff {
  const sniff = sniffCharset(bytes, contentType);
  // The decoder strips a BOM that matches its encoding.
  return { text: new TextDecoder(sniff.charset).decode(bytes), ...sniff };
}
