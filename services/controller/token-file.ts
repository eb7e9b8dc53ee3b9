/**
 * The API token kept in a file (`api.tokenFile`), used when `api.token` is empty: a
 * deployment started without a token (docker compose from a clean clone) still requires
 * one. The first controller to start writes a generated token there; every start after
 * that, and every other controller sharing the file, reads the same one.
 */
import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { CrawlError } from '../../shared/errors/index.js';

/** Shortest token accepted from a file. */
export const MIN_FILE_TOKEN_LENGTH = 16;

export interface FileToken {
  token: string;
  /** True when this call generated the token and wrote the file. */
  created: boolean;
}

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

/** The token in `path` (surrounding whitespace ignored), or null when the file does not exist. */
function readToken(path: string): string | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return null;
    throw new CrawlError('config_invalid', `cannot read the API token file ${path} (api.tokenFile): ${(err as Error).message}`, { cause: err });
  }
  const token = text.trim();
  if (token.length < MIN_FILE_TOKEN_LENGTH || /\s/.test(token)) {
    throw new CrawlError('config_invalid', `the API token file ${path} (api.tokenFile) must hold one token of at least ${MIN_FILE_TOKEN_LENGTH} characters without spaces; delete it to have one generated`);
  }
  return token;
}

/**
 * Reads the token in `path`, or generates one and creates the file (mode 0600). The file
 * appears complete or not at all: the token is written to a temporary file first, then
 * linked to `path`, which fails when another process created `path` meanwhile; that
 * process's token is read instead.
 */
export function loadOrCreateTokenFile(path: string): FileToken {
  const existing = readToken(path);
  if (existing !== null) return { token: existing, created: false };
  const token = randomBytes(32).toString('hex');
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(tmp, `${token}\n`, { mode: 0o600, flag: 'wx' });
    try {
      linkSync(tmp, path);
      return { token, created: true };
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw err;
    }
  } catch (err) {
    throw new CrawlError('config_invalid', `cannot create the API token file ${path} (api.tokenFile): ${(err as Error).message}`, { cause: err });
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // not created
    }
  }
  const winner = readToken(path);
  if (winner === null) throw new CrawlError('config_invalid', `the API token file ${path} (api.tokenFile) vanished while it was created`);
  return { token: winner, created: false };
}
