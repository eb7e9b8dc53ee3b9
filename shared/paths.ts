/** Locations inside the installed package, valid from source (tests) and from dist/. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'shared'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`crawlfleet package root not found above ${start}`);
    dir = parent;
  }
}

/** The package root: the folder with package.json (dist/ is below it). */
export const packageRoot = findPackageRoot(dirname(fileURLToPath(import.meta.url)));
export const luaDir = join(packageRoot, 'shared', 'redis', 'lua');
