/**
 * Finds the cdktf-slurm package root, so files shipped beside the code (`bootstrap-scripts/`) are found
 * from `lib/` under jest, from `dist/lib/` after tsc, and from `node_modules/cdktf-slurm`.
 */
import { existsSync, readFileSync } from 'fs';
import { dirname, join } from 'path';

export const PACKAGE_NAME = 'cdktf-slurm';

/** Walks up from `start` to the directory whose package.json is named `cdktf-slurm`. */
export function findPackageRoot(start: string = __dirname): string {
  let dir = start;
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === PACKAGE_NAME) return dir;
      } catch {
        // An unreadable package.json on the way up is not ours; keep walking.
      }
    }
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(
        `Cannot find the ${PACKAGE_NAME} package root above ${start} (no package.json named "${PACKAGE_NAME}"). ` +
          `Pass scriptsDir explicitly, or run from an installed ${PACKAGE_NAME}.`,
      );
    }
    dir = parent;
  }
}
