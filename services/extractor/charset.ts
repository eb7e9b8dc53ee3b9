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

export function sniffCharset(bytes: Buffer, contentType: string | undefined): string {
  return (
    bomCharset(bytes) ??
    supported(headerCharset(contentType)) ??
    supported(META_CHARSET.exec(bytes.subarray(0, 1024).toString('latin1'))?.[1] ?? null) ??
    'utf-8'
  );
}

export function decodeHtml(bytes: Buffer, contentType: string | undefined): { text: string; charset: string } {
  const charset = sniffCharset(bytes, contentType);
  // TextDecoder strips a BOM that matches its encoding.
  return { text: new TextDecoder(charset).decode(bytes), charset };
}
