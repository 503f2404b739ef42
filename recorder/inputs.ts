/**
 * Input descriptions for the trace header: every input of a run (kernel,
 * initrd, disk image, command line, test guest) is identified by role, name,
 * size and SHA-256, so a replay can refuse inputs that are not the recorded
 * ones.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { TraceError, type InputRole, type TraceInput } from './format.js';

const BLOCK = 1 << 20;

/** Hex SHA-256 of a file, read synchronously in 1 MiB blocks (bounded memory). */
export function sha256File(file: string): string {
  return hashFile(file).sha256;
}

function hashFile(file: string): { sha256: string; size: number } {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new TraceError('IO', `cannot open input: ${(e as Error).message}`, { path: file });
  }
  try {
    const h = createHash('sha256');
    const buf = Buffer.allocUnsafe(BLOCK);
    let size = 0;
    for (;;) {
      const n = fs.readSync(fd, buf, 0, BLOCK, size);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      size += n;
    }
    return { sha256: h.digest('hex'), size };
  } catch (e) {
    throw new TraceError('IO', `cannot read input: ${(e as Error).message}`, { path: file });
  } finally {
    fs.closeSync(fd);
  }
}

/** Describes a file input; `name` defaults to the file's base name (never the full host path: traces must not depend on where files live). */
export function describeInput(role: InputRole, file: string, name: string = path.basename(file)): TraceInput {
  const { sha256, size } = hashFile(file);
  return { role, name, size, sha256 };
}

/** Describes an in-memory input (a command line string is hashed as UTF-8). */
export function describeBytes(role: InputRole, name: string, data: Uint8Array | string): TraceInput {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return { role, name, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}
