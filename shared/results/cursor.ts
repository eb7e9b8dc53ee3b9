/**
 * The cursor and page size of the stores. A cursor is a decimal string that clients pass
 * back unread: in the SQL stores the write-order sequence of the last row a page returned, in
 * the Redis store the list position to read next.
 */
import { CrawlError } from '../errors/index.js';

/** The sequence after which a page starts: 0 (from the first row) when there is no cursor. */
export function decodeCursor(after: string | null | undefined): bigint {
  if (after === undefined || after === null || after === '') return 0n;
  if (!/^(0|[1-9][0-9]{0,18})$/.test(after)) throw new CrawlError('validation', `not a results cursor: ${JSON.stringify(after.slice(0, 40))}`);
  return BigInt(after);
}

/** A page size as the interface asks for it: a positive integer. */
export function pageLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new CrawlError('validation', `limit must be a positive integer, got ${limit}`);
  return limit;
}
