/**
 * Byte caps on record fields: a string longer than its cap in UTF-8 is cut at the last whole
 * code point that fits (TextEncoder.encodeInto never splits a code point or a surrogate
 * pair), so a cut never leaves a broken character or a lone surrogate. Pure.
 */

const encoder = new TextEncoder();

/** `value` cut to at most `maxBytes` bytes of UTF-8, on a code-point boundary; itself when it fits. */
export function capUtf8(value: string, maxBytes: number): string {
  const limit = Math.max(0, Math.floor(maxBytes));
  // Each UTF-16 unit encodes to at most 3 bytes: a string this short always fits.
  if (value.length * 3 <= limit) return value;
  if (Buffer.byteLength(value, 'utf8') <= limit) return value;
  const { read } = encoder.encodeInto(value, new Uint8Array(limit));
  return value.slice(0, read);
}

/** UTF-8 bytes of `value` as JSON (what a capped list costs in a record). */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}
