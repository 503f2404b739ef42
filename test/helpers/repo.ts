/** Paths inside the repository, from compiled test files (under dist/test or another outDir). */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'package.json'))) {
    const up = dirname(d);
    if (up === d) throw new Error('repository root not found');
    d = up;
  }
  return d;
}
export const REPO = findRoot();
export const repoPath = (...p: string[]): string => join(REPO, ...p);
