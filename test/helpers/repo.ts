/** Paths inside the repository, from compiled test files (under dist/test or another outDir). */
import { join } from 'node:path';
import { repoRoot } from '../../properties/repo.js';

export const REPO = repoRoot();
export const repoPath = (...p: string[]): string => join(REPO, ...p);
