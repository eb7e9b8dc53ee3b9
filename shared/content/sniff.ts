/**
 * The type of a response, decided from its bytes and the Content-Type as sent, after the
 * WHATWG MIME Sniffing Standard ("determining the computed MIME type of a resource").
 * Pure: give it the first bytes of the body (the standard's resource header is 1,445 bytes;
 * DOCX recognition reads up to 4 KiB) and the header.
 *
 * What it follows from the standard:
 * - no or an unparsable Content-Type, `unknown/unknown`, `application/unknown`, `*\/*`:
 *   the rules for an unknown type (HTML signatures after whitespace, `<?xml`, `%PDF-`, only
 *   without nosniff; then PostScript, BOMs, images, audio/video, archives; text when no binary
 *   byte, else `application/octet-stream`);
 * - `X-Content-Type-Options: nosniff` (option `noSniff`): the type as sent stands;
 * - the Apache bug (`text/plain`, `text/plain; charset=ISO-8859-1`/`iso-8859-1`/`UTF-8`
 *   exactly): text or binary by the bytes;
 * - `text/html`: feed or HTML (a first element `<rss`, `<feed`, or `<rdf:RDF` with the RSS 1.0
 *   and RDF namespaces);
 * - a declared image, audio or video type: the signature's type when one matches.
 *
 * What it adds, for a crawler:
 * - `application/octet-stream` is sniffed like an unknown type (not under nosniff);
 * - a ZIP whose local file headers (first 4 KiB) list `[Content_Types].xml` and `word/`
 *   (`xl/`, `ppt/`) entries is a Word (Excel, PowerPoint) document;
 * - a UTF-8 BOM before HTML or `<?xml` does not make an untyped resource `text/plain`;
 * - an untyped text resource whose first element is a feed's root is that feed, and so is an
 *   `<?xml` resource or one declared as XML; JSON (declared, or untyped text) whose first
 *   bytes name `https://jsonfeed.org/version/` is a JSON Feed;
 * - a type we would parse as text (HTML, XML, JSON, text) whose bytes carry a binary
 *   signature (PDF, ZIP, image, audio, video, archive, PostScript) is that binary type
 *   (signatures that text may start with, such as `BM` or `ID3`, only next to a binary byte);
 * - a declared PDF or ZIP/Office document whose bytes do not start with its signature but
 *   with an HTML tag (an error page) is `text/html`.
 * Under nosniff the type as sent stands; an untyped resource is still sniffed as the
 * standard says (no HTML, XML or feed signatures then), and `%PDF-`, binary signatures and
 * JSON Feed still count (the crawler runs no script in them).
 *
 * What it skips: MP3 frames without an ID3 tag (the frame-header walk) and fonts (the
 * unknown-type rules do not match fonts either).
 */

export type ContentKind = 'html' | 'pdf' | 'docx' | 'feed' | 'xml' | 'text' | 'json' | 'binary';

export interface SniffedType {
  /** The Content-Type as sent, or null when there was none. */
  contentType: string | null;
  /** The type the bytes show (MIME essence, lowercase) when it differs from the one sent; null when they agree. */
  detectedType: string | null;
  /** What the pipeline does with it: the parser it goes to, or `binary` (not parsed). */
  kind: ContentKind;
}

export interface SniffOptions {
  /** The response said `X-Content-Type-Options: nosniff`. */
  noSniff?: boolean;
}

export const DOCX_TYPE = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';
export const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
export const PPTX_TYPE = 'application/vnd.openxmlformats-officedocument.presentationml.presentation';

/** The standard's resource header length. */
const HEADER_BYTES = 1445;
/** How far the ZIP local file headers are read for Office entries. */
const ZIP_SCAN_BYTES = 4096;

// ---------------------------------------------------------------------------------------
// Byte patterns (MIME Sniffing §4.1 "matching a MIME type pattern")

interface Pattern {
  pattern: number[];
  mask: number[];
  /** Leading bytes to ignore: whitespace (09 0A 0C 0D 20), or none. */
  skipWhitespace: boolean;
  type: string;
}

const bytesOf = (s: string): number[] => Array.from(s, (c) => c.charCodeAt(0));
const isWhitespace = (b: number): boolean => b === 0x09 || b === 0x0a || b === 0x0c || b === 0x0d || b === 0x20;
/** A tag-terminating byte: space or `>`. */
const TT = [0x20, 0x3e];

function exact(s: string | number[], type: string): Pattern {
  const pattern = typeof s === 'string' ? bytesOf(s) : s;
  return { pattern, mask: pattern.map(() => 0xff), skipWhitespace: false, type };
}

/** Pattern with `?` as any byte. */
function masked(s: string, type: string): Pattern {
  return { pattern: Array.from(s, (c) => (c === '?' ? 0 : c.charCodeAt(0))), mask: Array.from(s, (c) => (c === '?' ? 0 : 0xff)), skipWhitespace: false, type };
}

function matches(bytes: Uint8Array, p: Pattern, trailer?: readonly number[]): boolean {
  let s = 0;
  if (p.skipWhitespace) while (s < bytes.length && isWhitespace(bytes[s] as number)) s++;
  if (bytes.length - s < p.pattern.length + (trailer ? 1 : 0)) return false;
  for (let i = 0; i < p.pattern.length; i++) {
    if (((bytes[s + i] as number) & (p.mask[i] as number)) !== p.pattern[i]) return false;
  }
  return trailer ? trailer.includes(bytes[s + p.pattern.length] as number) : true;
}

/** HTML signatures: case-insensitive tag names after whitespace, then a tag-terminating byte. */
const HTML_TAGS = ['<!DOCTYPE HTML', '<HTML', '<HEAD', '<SCRIPT', '<IFRAME', '<H1', '<DIV', '<FONT', '<TABLE', '<A', '<STYLE', '<TITLE', '<B', '<BODY', '<BR', '<P', '<!--'];
const HTML_SIGNATURES: Pattern[] = HTML_TAGS.map((tag) => ({
  pattern: bytesOf(tag),
  mask: Array.from(tag, (c) => (c >= 'A' && c <= 'Z' ? 0xdf : 0xff)),
  skipWhitespace: true,
  type: 'text/html',
}));

/** The unknown-type rows that need sniff-scriptable (no nosniff), after the HTML ones. */
const SCRIPTABLE_SIGNATURES: Pattern[] = [{ ...exact('<?xml', 'text/xml'), skipWhitespace: true }, exact('%PDF-', 'application/pdf')];

/** The unknown-type rows that always apply. */
const SAFE_SIGNATURES: Pattern[] = [
  exact('%!PS-Adobe-', 'application/postscript'),
  masked('\xfe\xff??', 'text/plain'), // UTF-16BE BOM
  masked('\xff\xfe??', 'text/plain'), // UTF-16LE BOM
  masked('\xef\xbb\xbf?', 'text/plain'), // UTF-8 BOM
];

/** §6.1 image type pattern matching. */
const IMAGE_SIGNATURES: Pattern[] = [
  exact([0x00, 0x00, 0x01, 0x00], 'image/x-icon'),
  exact([0x00, 0x00, 0x02, 0x00], 'image/x-icon'),
  exact('BM', 'image/bmp'),
  exact('GIF87a', 'image/gif'),
  exact('GIF89a', 'image/gif'),
  masked('RIFF????WEBPVP', 'image/webp'),
  exact([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'image/png'),
  exact([0xff, 0xd8, 0xff], 'image/jpeg'),
];

/** §6.2 audio or video type pattern matching (the table; MP4 and WebM below). */
const MEDIA_SIGNATURES: Pattern[] = [
  exact('.snd', 'audio/basic'),
  masked('FORM????AIFF', 'audio/aiff'),
  exact('ID3', 'audio/mpeg'),
  exact('OggS\x00', 'application/ogg'),
  exact('MThd\x00\x00\x00\x06', 'audio/midi'),
  masked('RIFF????AVI ', 'video/avi'),
  masked('RIFF????WAVE', 'audio/wave'),
];

/** §6.4 archive type pattern matching. */
const ARCHIVE_SIGNATURES: Pattern[] = [
  exact([0x1f, 0x8b, 0x08], 'application/x-gzip'),
  exact('PK\x03\x04', 'application/zip'),
  exact('Rar \x1a\x07\x00', 'application/x-rar-compressed'),
];

function firstMatch(bytes: Uint8Array, table: readonly Pattern[]): string | null {
  for (const p of table) if (matches(bytes, p)) return p.type;
  return null;
}

function matchesHtml(bytes: Uint8Array): boolean {
  return HTML_SIGNATURES.some((p) => matches(bytes, p, TT));
}

/** §6.2.1 signature for MP4. */
function isMp4(bytes: Uint8Array): boolean {
  if (bytes.length < 12) return false;
  const boxSize = ((bytes[0] as number) << 24) | ((bytes[1] as number) << 16) | ((bytes[2] as number) << 8) | (bytes[3] as number);
  if (boxSize <= 0 || bytes.length < boxSize || boxSize % 4 !== 0) return false;
  const at = (i: number, s: string): boolean => Array.from(s).every((c, k) => bytes[i + k] === c.charCodeAt(0));
  if (!at(4, 'ftyp')) return false;
  if (at(8, 'mp4')) return true;
  for (let read = 16; read < boxSize; read += 4) if (at(read, 'mp4')) return true;
  return false;
}

/** §6.2.2 signature for WebM. */
function isWebm(bytes: Uint8Array): boolean {
  const len = bytes.length;
  if (len < 4 || bytes[0] !== 0x1a || bytes[1] !== 0x45 || bytes[2] !== 0xdf || bytes[3] !== 0xa3) return false;
  let iter = 4;
  while (iter < len && iter < 38) {
    if (bytes[iter] === 0x42 && bytes[iter + 1] === 0x82) {
      iter += 2;
      if (iter >= len) break;
      // The size of a variable-length integer: 1 plus its leading zero bits (at most 8).
      let mask = 0x80;
      let size = 1;
      while (size < 8 && ((bytes[iter] as number) & mask) === 0) {
        mask >>= 1;
        size++;
      }
      iter += size;
      if (iter >= len - 4) break;
      if (bytes[iter] === 0x77 && bytes[iter + 1] === 0x65 && bytes[iter + 2] === 0x62 && bytes[iter + 3] === 0x6d) return true;
    }
    iter++;
  }
  return false;
}

function imageType(bytes: Uint8Array): string | null {
  return firstMatch(bytes, IMAGE_SIGNATURES);
}

function mediaType(bytes: Uint8Array): string | null {
  return firstMatch(bytes, MEDIA_SIGNATURES) ?? (isMp4(bytes) ? 'video/mp4' : isWebm(bytes) ? 'video/webm' : null);
}

/** A ZIP's Office type from the entry names of its local file headers, else application/zip. */
function zipType(bytes: Uint8Array): string {
  const end = Math.min(bytes.length, ZIP_SCAN_BYTES);
  const names: string[] = [];
  for (let i = 0; i + 30 <= end; i++) {
    if (bytes[i] !== 0x50 || bytes[i + 1] !== 0x4b || bytes[i + 2] !== 0x03 || bytes[i + 3] !== 0x04) continue;
    const nameLength = (bytes[i + 26] as number) | ((bytes[i + 27] as number) << 8);
    if (i + 30 + nameLength > end) break;
    names.push(String.fromCharCode(...bytes.subarray(i + 30, i + 30 + nameLength)));
    i += 29 + nameLength;
  }
  if (!names.includes('[Content_Types].xml')) return 'application/zip';
  if (names.some((n) => n.startsWith('word/'))) return DOCX_TYPE;
  if (names.some((n) => n.startsWith('xl/'))) return XLSX_TYPE;
  if (names.some((n) => n.startsWith('ppt/'))) return PPTX_TYPE;
  return 'application/zip';
}

/** A binary data byte (§ "identifying a resource with an unknown MIME type"). */
function isBinaryByte(b: number): boolean {
  return b <= 0x08 || b === 0x0b || (b >= 0x0e && b <= 0x1a) || (b >= 0x1c && b <= 0x1f);
}

function hasBinaryByte(bytes: Uint8Array): boolean {
  const end = Math.min(bytes.length, HEADER_BYTES);
  for (let i = 0; i < end; i++) if (isBinaryByte(bytes[i] as number)) return true;
  return false;
}

/** Signatures that text may start with ("BMW…", "ID3…"): they count only next to a binary data byte. */
const WEAK_TYPES = new Set(['image/bmp', 'image/x-icon', 'audio/basic', 'audio/mpeg']);

/** The binary signatures: PDF, PostScript, images, audio/video, archives (ZIP refined to Office). */
function binarySignature(bytes: Uint8Array): string | null {
  if (matches(bytes, exact('%PDF-', ''))) return 'application/pdf';
  if (matches(bytes, exact('%!PS-Adobe-', ''))) return 'application/postscript';
  const found = imageType(bytes) ?? mediaType(bytes) ?? firstMatch(bytes, ARCHIVE_SIGNATURES);
  if (found !== null && WEAK_TYPES.has(found) && !hasBinaryByte(bytes)) return null;
  return found === 'application/zip' ? zipType(bytes) : found;
}

/** The bytes after a UTF-8 BOM. */
function afterUtf8Bom(bytes: Uint8Array): Uint8Array {
  return bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? bytes.subarray(3) : bytes;
}

/** §7.1 identifying a resource with an unknown MIME type (ZIP refined to Office, XML to feeds). */
function identifyUnknown(bytes: Uint8Array, sniffScriptable: boolean): string {
  if (sniffScriptable) {
    // A UTF-8 BOM before the markup is passed over (the standard would answer text/plain).
    const markup = afterUtf8Bom(bytes);
    if (matchesHtml(markup)) return 'text/html';
    const scriptable = firstMatch(markup, SCRIPTABLE_SIGNATURES);
    if (scriptable === 'text/xml') return feedType(bytes) ?? 'text/xml';
    if (scriptable) return scriptable;
  }
  const found = binarySignature(bytes) ?? firstMatch(bytes, SAFE_SIGNATURES);
  if (found && found !== 'text/plain') return found;
  if (found === null && hasBinaryByte(bytes)) return 'application/octet-stream';
  // Text: a feed's root element or a JSON Feed still says what it is.
  return (sniffScriptable ? feedType(bytes) : null) ?? (isJsonFeed(bytes) ? 'application/feed+json' : 'text/plain');
}

// ---------------------------------------------------------------------------------------
// §7.3 distinguishing a feed from HTML

function startsWithAt(bytes: Uint8Array, at: number, s: string): boolean {
  if (at + s.length > bytes.length) return false;
  for (let k = 0; k < s.length; k++) if (bytes[at + k] !== s.charCodeAt(k)) return false;
  return true;
}

function indexOfAt(bytes: Uint8Array, from: number, s: string): number {
  for (let i = from; i + s.length <= bytes.length; i++) if (startsWithAt(bytes, i, s)) return i;
  return -1;
}

/** The feed type named by the first element (after comments, `<!…>` and `<?…?>`), else null. */
function feedType(bytes: Uint8Array): string | null {
  const end = Math.min(bytes.length, HEADER_BYTES);
  const head = bytes.subarray(0, end);
  let s = startsWithAt(head, 0, '\xef\xbb\xbf') ? 3 : 0;
  for (;;) {
    while (s < end && isWhitespace(head[s] as number)) s++;
    if (s >= end || head[s] !== 0x3c) return null;
    s++;
    if (startsWithAt(head, s, '!--')) {
      const close = indexOfAt(head, s + 3, '-->');
      if (close < 0) return null;
      s = close + 3;
    } else if (startsWithAt(head, s, '!')) {
      const close = indexOfAt(head, s + 1, '>');
      if (close < 0) return null;
      s = close + 1;
    } else if (startsWithAt(head, s, '?')) {
      const close = indexOfAt(head, s + 1, '?>');
      if (close < 0) return null;
      s = close + 2;
    } else if (startsWithAt(head, s, 'rss')) {
      return 'application/rss+xml';
    } else if (startsWithAt(head, s, 'feed')) {
      return 'application/atom+xml';
    } else if (startsWithAt(head, s, 'rdf:RDF')) {
      const rest = head.subarray(s + 7);
      const rss = indexOfAt(rest, 0, 'http://purl.org/rss/1.0/') >= 0;
      const rdf = indexOfAt(rest, 0, 'http://www.w3.org/1999/02/22-rdf-syntax-ns#') >= 0;
      return rss && rdf ? 'application/rss+xml' : null;
    } else {
      return null;
    }
  }
}

/** A JSON Feed names its version URL near the start. */
function isJsonFeed(bytes: Uint8Array): boolean {
  return indexOfAt(bytes.subarray(0, HEADER_BYTES), 0, 'https://jsonfeed.org/version/') >= 0;
}

// ---------------------------------------------------------------------------------------
// The computed type

const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

/** The MIME essence of a Content-Type value (`type/subtype`, lowercase), or null when it does not parse. */
export function mimeEssence(contentType: string | null | undefined): string | null {
  if (!contentType) return null;
  const essence = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  const slash = essence.indexOf('/');
  if (slash <= 0) return null;
  return TOKEN.test(essence.slice(0, slash)) && TOKEN.test(essence.slice(slash + 1)) ? essence : null;
}

const isXmlType = (e: string): boolean => e === 'text/xml' || e === 'application/xml' || e.endsWith('+xml');
const isJsonType = (e: string): boolean => e === 'application/json' || e === 'text/json' || e.endsWith('+json');
const FEED_TYPES = new Set(['application/rss+xml', 'application/atom+xml', 'application/feed+json']);

/** What the pipeline does with a type (its MIME essence). */
export function kindOf(essence: string): ContentKind {
  if (essence === 'text/html' || essence === 'application/xhtml+xml') return 'html';
  if (essence === 'application/pdf') return 'pdf';
  if (essence === DOCX_TYPE) return 'docx';
  if (FEED_TYPES.has(essence)) return 'feed';
  if (isXmlType(essence)) return 'xml';
  if (isJsonType(essence)) return 'json';
  if (essence.startsWith('text/')) return 'text';
  return 'binary';
}

const UNKNOWN_TYPES = new Set(['unknown/unknown', 'application/unknown', '*/*', 'application/octet-stream']);
const APACHE_BUG = new Set(['text/plain', 'text/plain; charset=ISO-8859-1', 'text/plain; charset=iso-8859-1', 'text/plain; charset=UTF-8']);
/** Declared types whose bytes must start with their signature (else an HTML page may be served in their place). */
const SIGNED_DOCUMENTS: Record<string, (bytes: Uint8Array) => boolean> = {
  'application/pdf': (b) => matches(b, exact('%PDF-', '')),
  'application/zip': (b) => matches(b, exact('PK\x03\x04', '')),
  [DOCX_TYPE]: (b) => matches(b, exact('PK\x03\x04', '')),
  [XLSX_TYPE]: (b) => matches(b, exact('PK\x03\x04', '')),
  [PPTX_TYPE]: (b) => matches(b, exact('PK\x03\x04', '')),
};

/** The computed type of a resource: its essence, lowercase. */
function computedType(bytes: Uint8Array, sent: string | null, essence: string | null, noSniff: boolean): string {
  if (essence === null || UNKNOWN_TYPES.has(essence)) {
    // The standard sniffs an unknown type even under nosniff (no scriptable signatures then);
    // application/octet-stream is ours to sniff, and nosniff leaves it as sent.
    if (essence === 'application/octet-stream' && noSniff) return essence;
    return identifyUnknown(bytes, !noSniff);
  }
  if (noSniff) return essence;
  if (sent !== null && APACHE_BUG.has(sent.trim())) {
    // Text or binary: a BOM or no binary byte is text; else the unknown rules without scripts.
    const bom = (bytes[0] === 0xfe && bytes[1] === 0xff) || (bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf);
    if (bom || !hasBinaryByte(bytes)) return binarySignature(bytes) ?? 'text/plain';
    return identifyUnknown(bytes, false);
  }
  const kind = kindOf(essence);
  if (kind !== 'binary' && kind !== 'pdf' && kind !== 'docx') {
    const binary = binarySignature(bytes);
    if (binary) return binary;
  }
  const signed = SIGNED_DOCUMENTS[essence];
  if (signed && !signed(bytes) && matchesHtml(bytes)) return 'text/html';
  if (essence === 'text/html' || isXmlType(essence)) return feedType(bytes) ?? essence;
  if (isJsonType(essence)) return isJsonFeed(bytes) ? 'application/feed+json' : essence;
  if (essence === 'application/zip') return zipType(bytes);
  if (essence.startsWith('image/')) return imageType(bytes) ?? essence;
  if (essence.startsWith('audio/') || essence.startsWith('video/') || essence === 'application/ogg') return mediaType(bytes) ?? essence;
  return essence;
}

/**
 * Decide a response's type from its first bytes and its Content-Type as sent.
 * `detectedType` is null when the bytes agree with what was sent.
 */
export function sniffContentType(bytes: Uint8Array, contentType: string | null | undefined, opts: SniffOptions = {}): SniffedType {
  const sent = contentType ?? null;
  const essence = mimeEssence(sent);
  const computed = computedType(bytes, sent, essence, opts.noSniff === true);
  return { contentType: sent, detectedType: computed === essence ? null : computed, kind: kindOf(computed) };
}
