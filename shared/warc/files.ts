/**
 * Where a session's WARC files live and what they are called:
 * `<warc dir>/<session>-<timestamp>-<serial>-<replica>.warc.gz`, the CDXJ index of a closed
 * file beside it as `<file>.cdxj`. One writer (one replica of one service) owns a file: the
 * replica id in the name keeps writers apart, and a file is created exclusively. The
 * controller lists and serves them, the cleaner and purge remove them.
 */
import { createReadStream } from 'node:fs';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import zlib from 'node:zlib';

export const WARC_SUFFIX = '.warc.gz';
export const CDXJ_SUFFIX = '.cdxj';

/** The WARC directory of a config: `warc.dir`, or `<deliver.resultsDir>/warc` when empty. */
export function warcDir(cfg: { warc: { dir: string }; deliver: { resultsDir: string } }): string {
  return resolve(cfg.warc.dir !== '' ? cfg.warc.dir : join(cfg.deliver.resultsDir, 'warc'));
}

/** `yyyyMMddHHmmssSSS` in UTC: a file name's timestamp. */
export function fileTimestamp(d: Date): string {
  return d.toISOString().replace(/[-:TZ.]/g, '');
}

/** A replica id as a file name part: `[A-Za-z0-9._-]`, at most 100 characters. */
export function fileSafe(id: string): string {
  return id.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100);
}

export function warcFileName(sessionId: string, at: Date, serial: number, replica: string): string {
  return `${sessionId}-${fileTimestamp(at)}-${String(serial).padStart(5, '0')}-${fileSafe(replica)}${WARC_SUFFIX}`;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Whether `name` is one of the session's WARC file names (and nothing else: no path, no traversal). */
export function isSessionWarcName(sessionId: string, name: string): boolean {
  return new RegExp(`^${escape(sessionId)}-[0-9]{17}-[0-9]{5,}-[A-Za-z0-9._-]{1,100}\\.warc\\.gz$`).test(name) && !name.includes('..');
}

export interface WarcFileInfo {
  name: string;
  bytes: number;
  /** Records in the file (its warcinfo included). */
  records: number;
  /** Its writer closed it and wrote its CDXJ index; an open file (or one whose writer died) has none. */
  closed: boolean;
}

/**
 * Counts the records of a WARC file of gzip members, reading it through (for a file without
 * its index). A record cut short at the end (being written) is not counted.
 */
export async function countRecords(path: string): Promise<number> {
  const gunzip = zlib.createGunzip({ finishFlush: zlib.constants.Z_SYNC_FLUSH });
  createReadStream(path).on('error', (err) => gunzip.destroy(err)).pipe(gunzip);
  let count = 0;
  let buf: Buffer = Buffer.alloc(0);
  let skip = 0;
  try {
    for await (const chunk of gunzip) {
      buf = buf.length === 0 ? (chunk as Buffer) : Buffer.concat([buf, chunk as Buffer]);
      for (;;) {
        if (skip > 0) {
          const n = Math.min(skip, buf.length);
          buf = buf.subarray(n);
          skip -= n;
          if (skip > 0) break;
        }
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) break;
        const m = /\r\nContent-Length:\s*(\d+)/i.exec(buf.subarray(0, end + 2).toString('latin1'));
        if (!m) return count;
        count++;
        buf = buf.subarray(end + 4);
        skip = Number(m[1]) + 4;
      }
    }
  } catch {
    // a member cut short by a writer that is still writing (or died): what was whole counts
  }
  return skip > 0 ? count - 1 : count;
}

/** The session's WARC files, oldest name first; an unknown directory has none. */
export async function listSessionWarcs(dir: string, sessionId: string): Promise<WarcFileInfo[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const present = new Set(names);
  const files = names.filter((n) => isSessionWarcName(sessionId, n)).sort();
  return Promise.all(files.map(async (name): Promise<WarcFileInfo> => {
    const path = join(dir, name);
    const bytes = (await stat(path)).size;
    if (present.has(name + CDXJ_SUFFIX)) {
      const index = await readFile(path + CDXJ_SUFFIX, 'utf8').catch(() => null);
      if (index !== null) return { name, bytes, records: indexedRecords(index), closed: true };
    }
    return { name, bytes, records: await countRecords(path), closed: false };
  }));
}

/** Records of a closed file from its index: one line per record but the warcinfo. */
function indexedRecords(index: string): number {
  let lines = 0;
  for (let i = index.indexOf('\n'); i >= 0; i = index.indexOf('\n', i + 1)) lines++;
  return lines + 1;
}

/** Removes the session's WARC files and their indexes; answers how many files. */
export async function removeSessionWarcs(dir: string, sessionId: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  const mine = names.filter((n) => isSessionWarcName(sessionId, n.endsWith(CDXJ_SUFFIX) ? n.slice(0, -CDXJ_SUFFIX.length) : n));
  await Promise.all(mine.map((n) => rm(join(dir, n), { force: true })));
  return mine.filter((n) => n.endsWith(WARC_SUFFIX)).length;
}
