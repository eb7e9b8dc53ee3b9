/**
 * A session's files, known in one place: its results file (`<resultsDir>/<id>.jsonl`, written
 * by delivery at the hand-over), its WARC files and their CDXJ indexes (`warc.dir`, see
 * shared/warc/files.ts) and its screenshots (`<resultsDir>/screenshots/<id>/<task>.png`,
 * written by the renderer). Retention (the cleaner) and purge (DELETE /sessions/:id?purge=true)
 * remove them all with `removeSessionFiles`.
 */
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CrawlError } from '../errors/index.js';
import { removeSessionWarcs, warcDir } from '../warc/files.js';

/** The folder below the results directory that holds the screenshots, one folder per session. */
export const SCREENSHOTS_DIR = 'screenshots';

/** What the paths of a session's files depend on. */
export interface SessionFilesConfig {
  deliver: { resultsDir: string };
  warc: { dir: string };
}

/** A session or task id used as a path segment: letters, digits, `.`, `_`, `-`, and no `.` or `..`. */
function segment(id: string, what: string): string {
  if (!/^[A-Za-z0-9._-]{1,200}$/.test(id) || id === '.' || id === '..') throw new CrawlError('validation', `${what} ${JSON.stringify(id)} cannot name a file`);
  return id;
}

/** The results file of a session (delivery's hand-over). */
export function resultsFilePath(resultsDir: string, sessionId: string): string {
  return join(resolve(resultsDir), `${segment(sessionId, 'session id')}.jsonl`);
}

/** The folder of a session's screenshots. */
export function screenshotsDir(resultsDir: string, sessionId: string): string {
  return join(resolve(resultsDir), SCREENSHOTS_DIR, segment(sessionId, 'session id'));
}

/** A screenshot's path relative to the results directory (what the record's `screenshot` says). */
export function screenshotPath(sessionId: string, taskId: string): string {
  return join(SCREENSHOTS_DIR, segment(sessionId, 'session id'), `${segment(taskId, 'task id')}.png`);
}

/** Removes every file of the session: results file, WARC files and indexes, screenshots. Answers how many WARC files went. */
export async function removeSessionFiles(cfg: SessionFilesConfig, sessionId: string): Promise<{ warcFiles: number }> {
  await rm(resultsFilePath(cfg.deliver.resultsDir, sessionId), { force: true });
  await rm(screenshotsDir(cfg.deliver.resultsDir, sessionId), { recursive: true, force: true });
  return { warcFiles: await removeSessionWarcs(warcDir(cfg), sessionId) };
}
