/**
 * A session's files (shared/results/files.ts): where they are, and that removing a session's
 * files removes its results file, WARC files with their indexes and screenshots, and nothing
 * of another session (real files in a temporary directory).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeSessionFiles, resultsFilePath, screenshotPath, screenshotsDir } from '../../../shared/results/files.js';
import { warcFileName } from '../../../shared/warc/files.js';

const MINE = 'mabc123-0a1b2c3d';
const OTHER = 'mabc124-11111111';

/** Every file below `dir`, as relative paths, sorted. */
function tree(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? tree(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`])).sort();
}

describe('session files (shared/results/files.ts)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'crawlfleet-files-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** The files a session leaves: results file, a WARC file and its index, two screenshots. */
  function leave(id: string): void {
    writeFileSync(resultsFilePath(dir, id), '{}\n');
    mkdirSync(join(dir, 'warc'), { recursive: true });
    const warc = warcFileName(id, new Date('2026-01-02T03:04:05.006Z'), 0, 'renderer-x');
    writeFileSync(join(dir, 'warc', warc), 'w');
    writeFileSync(join(dir, 'warc', `${warc}.cdxj`), 'c');
    for (const task of ['t1', 't2']) {
      mkdirSync(join(dir, 'screenshots', id), { recursive: true });
      writeFileSync(join(dir, screenshotPath(id, task)), 'png');
    }
  }

  it('names a session\'s results file and screenshots below the results directory', () => {
    assert.equal(resultsFilePath(dir, MINE), join(dir, `${MINE}.jsonl`));
    assert.equal(screenshotsDir(dir, MINE), join(dir, 'screenshots', MINE));
    assert.equal(screenshotPath(MINE, 'abc'), join('screenshots', MINE, 'abc.png'));
  });

  it('removes the results file, WARC files, indexes and screenshots of the session, and nothing of another', async () => {
    leave(MINE);
    leave(OTHER);
    assert.equal(tree(dir).filter((p) => p.includes(MINE)).length, 5);
    const removed = await removeSessionFiles({ deliver: { resultsDir: dir }, warc: { dir: '' } }, MINE);
    assert.deepEqual(removed, { warcFiles: 1 });
    const left = tree(dir);
    assert.deepEqual(left.filter((p) => p.includes(MINE)), []);
    assert.equal(existsSync(screenshotsDir(dir, MINE)), false);
    assert.equal(left.filter((p) => p.includes(OTHER)).length, 5, left.join(' '));
    // Again: nothing left to remove is no error.
    assert.deepEqual(await removeSessionFiles({ deliver: { resultsDir: dir }, warc: { dir: '' } }, MINE), { warcFiles: 0 });
  });

  it('refuses an id that is no single path segment', async () => {
    for (const bad of ['..', '.', 'a/b', '', '../x']) {
      await assert.rejects(removeSessionFiles({ deliver: { resultsDir: dir }, warc: { dir: '' } }, bad), (err: Error & { code?: string }) => err.code === 'validation', bad);
      assert.throws(() => screenshotPath(MINE, bad), /cannot name a file/, bad);
    }
  });
});
