/**
 * Text of an HTML body: the charset comes from the byte-order mark, then the Content-Type
 * header, then a <meta> tag in the first 1024 bytes, else UTF-8. Unknown labels fall back
 * to UTF-8; undecodable bytes become U+FFFD, never an exception.
 */

const META_CHARSET = /<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)/i;

function bomCharset(bytes: Buffer): string | null {
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return 'utf-8';
  if (bytes.length >= 2 && bytes[0] === 0xfe && bytes[1] === 0xff) return 'utf-16be';
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xfe) return 'utf-16le';
  return null;
}

function headerCharset(contentType: string | undefined): string | null {
  const m = /charset\s*=\s*["']?([\w.:-]+)/i.exec(contentType ?? '');
  return m ? (m[1] as string) : null;
}

function supported(label: string | null): string | null {
  if (!label) return null;
  try {
    return new TextDecoder(label).encoding;
  } catch {
    return null;
  }
}

/** A <meta> cannot name UTF-16: the bytes before it were read as ASCII (HTML prescan rule). */
function metaCharset(bytes: Buffer): string | null {
  const found = supported(META_CHARSET.exec(bytes.subarray(0, 1024).toString('latin1'))?.[1] ?? null);
  return found === 'utf-16le' || found === 'utf-16be' ? 'utf-8' : found;
}

export function sniffCharset(bytes: Buffer, contentType: string | undefined): string {
  return bomCharset(bytes) ?? supported(headerCharset(contentType)) ?? metaCharset(bytes) ?? 'utf-8';
}

/**
 * windows-1252 bytes 0x80-0x9F. Node 20.18.3+ decodes them as C1 controls
 * (nodejs/node#60888), so this table does it; undefined bytes map to themselves.
 */
const CP1252_HIGH = [
  0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f,
  0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
];

function decodeWindows1252(bytes: Buffer): string {
  const latin1 = bytes.toString('latin1');
  return latin1.replace(/[\x80-\x9f]/g, (c) => String.fromCharCode(CP1252_HIGH[c.charCodeAt(0) - 0x80] as number));
}

export function decodeHtml(bytes: Buffer, contentType: string | undefined): { text: string; charset: string } {
  const charset = sniffCharset(bytes, contentType);
  if (charset === 'windows-1252') return { text: decodeWindows1252(bytes), charset };
  // TextDecoder strips a BOM that matches its encoding.
  return { text: new TextDecoder(charset).decode(bytes), charset };
}
