/** Shared CLI plumbing: errors that end a command with a one-line message and an exit status. */
import { readFileSync, statSync } from 'node:fs';

export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(message: string, readonly status = 2) { super(message); }
}

/** Read an input file, or fail with a message naming it. */
export function readInput(path: string, what: string): Uint8Array {
  let st;
  try { st = statSync(path); } catch { throw new CliError(`${what} not found: ${path}`, 2); }
  if (!st.isFile()) throw new CliError(`${what} is not a regular file: ${path}`, 2);
  try { return new Uint8Array(readFileSync(path)); } catch (e) { throw new CliError(`cannot read ${what} ${path}: ${(e as Error).message}`, 2); }
}

/** Parse a positive integer option ("16", "1e9", "1_000_000"). */
export function intOption(name: string, v: string | undefined, def: number): number {
  if (v === undefined) return def;
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isSafeInteger(n) || n <= 0) throw new CliError(`--${name} expects a positive integer, got '${v}'`);
  return n;
}

/**
 * Progress of a long run on stderr when it is a terminal (nothing otherwise, so logs and tests see
 * no change): instructions retired and the rate, rewritten in place at most once a second, for
 * Machine.onProgress. `done` clears the line.
 */
export function progressLine(label: string): { onProgress: ((instructions: number) => void) | null; done: () => void } {
  if (!process.stderr.isTTY) return { onProgress: null, done: () => undefined };
  const t0 = process.hrtime.bigint();
  let last = 0, shown = false;
  return {
    onProgress: (n: number): void => {
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      if (s - last < 1) return;
      last = s; shown = true;
      process.stderr.write(`\r[${label}] ${(n / 1e6).toFixed(0)} M instructions, ${(n / 1e6 / s).toFixed(1)} MIPS, ${s.toFixed(0)} s `);
    },
    done: (): void => { if (shown) process.stderr.write('\r\x1b[K'); },
  };
}
