/**
 * Counterexample files: `<dir>/<prefix>-<id>.json`, the id being the first 10
 * hex digits of SHA-256 over `key`, so the same finding is saved once.
 * Returns the file's path.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function writeRegressionFile(dir: string, prefix: string, key: string, text: string): string {
  const id = createHash('sha256').update(key).digest('hex').slice(0, 10);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${prefix}-${id}.json`);
  if (!existsSync(file)) writeFileSync(file, text);
  return file;
}
