/**
 * The previous release, built once beside this one, for upgrade tests: the tree of
 * `PREVIOUS_RELEASE` (read from git, not checked out: no worktree is added), this checkout's
 * node_modules linked in, compiled with tsc into its own dist/. Kept in the temporary
 * directory under the commit's name, so later runs reuse it (a build takes a minute or more);
 * a later run links its own node_modules in, since the checkout that built it may be gone.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../../shared/paths.js';

const run = promisify(execFile);

/** The release before layout 3 and the N-1 wire reading: the commit before this work. */
export const PREVIOUS_RELEASE = 'f5d5e3f';

/** Builds (or finds) the previous release and answers its root (with dist/ and bin/). */
export async function previousRelease(commit = PREVIOUS_RELEASE): Promise<string> {
  const dir = join(tmpdir(), `crawlfleet-prev-${commit}`);
  const marker = join(dir, 'dist', 'scripts', 'supervisor.js');
  const modules = join(packageRoot, 'node_modules');
  if (existsSync(marker)) {
    // Built by another checkout (a clone since removed, say): its packages are this one's.
    const link = join(dir, 'node_modules');
    if (readlinkSync(link) !== modules) {
      rmSync(link, { force: true });
      symlinkSync(modules, link);
    }
    return dir;
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  try {
    // git archive | tar: the commit's files without touching this repository's worktrees.
    await run('sh', ['-c', `git -C "$1" archive "$2" | tar -x -C "$3"`, 'sh', packageRoot, commit, dir], { maxBuffer: 1 << 26 });
    symlinkSync(modules, join(dir, 'node_modules'));
    await run(process.execPath, [join(packageRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, 'tsconfig.json')], { cwd: dir, timeout: 600_000 });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return dir;
}
