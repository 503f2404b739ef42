/**
 * Disk backends for block devices: 512-byte sectors, synchronous I/O.
 *
 * `openDisk(path)` opens a raw image file:
 *   - default (overlay): the file is opened read-only and never modified;
 *     written sectors live in memory (a Map sector → 512 bytes) and later
 *     reads see them. A run is therefore repeatable from the same image:
 *     what the guest wrote disappears with the Disk object.
 *   - `persist: true` (write-through): the file is opened read-write and
 *     every write goes to it at once (`flush()` fsyncs). The image then
 *     changes from run to run; a recording made this way replays only
 *     against the image as it was before the run.
 *   - `readOnly: true`: writes are refused (the block device reports
 *     VIRTIO_BLK_F_RO and fails writes with an I/O error).
 *
 * The image must be a regular file of at least one sector whose size is a
 * multiple of 512 bytes: a partial last sector would be unreadable by the
 * guest and silently truncating it would hide a wrong file, so it is a
 * DiskError naming the file (pad it with `truncate -s %512 FILE`).
 *
 * Determinism: every operation is synchronous (node:fs *Sync calls only at
 * open, read, write, flush and close), nothing depends on time or on the
 * order of asynchronous events. `memoryDisk()` is the same interface over
 * a byte array (tests, generated images).
 */
import * as fs from 'node:fs';

export const SECTOR_SIZE = 512;
export const SECTOR_SHIFT = 9;

export type DiskErrorReason = 'missing' | 'not-a-file' | 'empty' | 'unaligned' | 'io' | 'read-only' | 'options';

/** A disk backend failure; `path` names the image. */
export class DiskError extends Error {
  override readonly name = 'DiskError';
  constructor(readonly path: string, readonly reason: DiskErrorReason, detail: string) {
    super(`disk image ${path}: ${detail}`);
  }
}

export interface Disk {
  /** Where the data comes from (a file path, or a label for memory disks). */
  readonly path: string;
  /** Capacity in 512-byte sectors. */
  readonly sectors: number;
  /** Writes are refused. */
  readonly readOnly: boolean;
  /** Writes reach the backing store (false: they stay in an in-memory overlay). */
  readonly persist: boolean;
  /** Copy `count` sectors starting at `sector` into `into` (at least count·512 bytes). */
  read(sector: number, count: number, into: Uint8Array): void;
  /** Write `count` sectors from `from` (at least count·512 bytes). */
  write(sector: number, count: number, from: Uint8Array): void;
  /** Make completed writes durable (fsync in persist mode; nothing to do otherwise). */
  flush(): void;
  /** Release the file; further I/O throws. */
  close(): void;
}

export interface OpenDiskOptions {
  /** Write through to the image file. Default false (copy-on-write overlay in memory). */
  readonly persist?: boolean;
  /** Refuse writes. Cannot be combined with persist. */
  readonly readOnly?: boolean;
}

function checkRange(d: Disk, sector: number, count: number, buf: Uint8Array, verb: string): void {
  if (!Number.isInteger(sector) || !Number.isInteger(count) || sector < 0 || count < 0 || sector + count > d.sectors) {
    throw new RangeError(`${d.path}: ${verb} of ${count} sector(s) at ${sector} is outside the disk (${d.sectors} sectors)`);
  }
  if (buf.length < count * SECTOR_SIZE) {
    throw new RangeError(`${d.path}: ${verb} of ${count} sector(s) needs ${count * SECTOR_SIZE} bytes, buffer has ${buf.length}`);
  }
}

/**
 * A raw image file. Overlay mode keeps written sectors in `overlay`;
 * persist mode writes them to the file.
 */
export class FileDisk implements Disk {
  readonly sectors: number;
  readonly readOnly: boolean;
  readonly persist: boolean;
  private fd: number | undefined;
  private readonly overlay = new Map<number, Uint8Array>();

  constructor(readonly path: string, opts: OpenDiskOptions = {}) {
    this.persist = opts.persist ?? false;
    this.readOnly = opts.readOnly ?? false;
    if (this.persist && this.readOnly) throw new DiskError(path, 'options', 'persist and readOnly cannot be combined');
    let st: fs.Stats;
    try {
      st = fs.statSync(path);
    } catch (e) {
      throw new DiskError(path, 'missing', `cannot open: ${errText(e)}`);
    }
    if (!st.isFile()) throw new DiskError(path, 'not-a-file', 'is not a regular file');
    if (st.size < SECTOR_SIZE) throw new DiskError(path, 'empty', `is ${st.size} bytes, smaller than one ${SECTOR_SIZE}-byte sector`);
    if (st.size % SECTOR_SIZE !== 0) {
      throw new DiskError(path, 'unaligned', `is ${st.size} bytes, not a multiple of ${SECTOR_SIZE} (pad it: truncate -s %${SECTOR_SIZE} ${path})`);
    }
    this.sectors = st.size / SECTOR_SIZE;
    try {
      this.fd = fs.openSync(path, this.persist ? 'r+' : 'r');
    } catch (e) {
      throw new DiskError(path, 'io', `cannot open${this.persist ? ' for writing' : ''}: ${errText(e)}`);
    }
  }

  /** Number of sectors held in the in-memory overlay. */
  get overlaySectors(): number { return this.overlay.size; }

  read(sector: number, count: number, into: Uint8Array): void {
    checkRange(this, sector, count, into, 'read');
    const fd = this.openFd();
    // Runs of sectors not in the overlay are read from the file in one call.
    let runStart = -1;
    for (let s = sector; s <= sector + count; s++) {
      const o = s < sector + count ? this.overlay.get(s) : undefined;
      const inRun = s < sector + count && o === undefined;
      if (inRun) { if (runStart < 0) runStart = s; continue; }
      if (runStart >= 0) {
        this.readFile(fd, runStart, s - runStart, into.subarray((runStart - sector) * SECTOR_SIZE));
        runStart = -1;
      }
      if (o) into.set(o, (s - sector) * SECTOR_SIZE);
    }
  }

  write(sector: number, count: number, from: Uint8Array): void {
    checkRange(this, sector, count, from, 'write');
    if (this.readOnly) throw new DiskError(this.path, 'read-only', `write of ${count} sector(s) at ${sector} refused: the disk is read-only`);
    const fd = this.openFd();
    if (this.persist) {
      const len = count * SECTOR_SIZE;
      let done = 0;
      try {
        while (done < len) done += fs.writeSync(fd, from, done, len - done, sector * SECTOR_SIZE + done);
      } catch (e) {
        throw new DiskError(this.path, 'io', `write of ${count} sector(s) at ${sector} failed: ${errText(e)}`);
      }
      return;
    }
    for (let i = 0; i < count; i++) {
      this.overlay.set(sector + i, from.slice(i * SECTOR_SIZE, (i + 1) * SECTOR_SIZE));
    }
  }

  flush(): void {
    const fd = this.openFd();
    if (!this.persist) return;
    try {
      fs.fsyncSync(fd);
    } catch (e) {
      throw new DiskError(this.path, 'io', `flush failed: ${errText(e)}`);
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    fs.closeSync(this.fd);
    this.fd = undefined;
  }

  private openFd(): number {
    if (this.fd === undefined) throw new DiskError(this.path, 'io', 'is closed');
    return this.fd;
  }

  private readFile(fd: number, sector: number, count: number, into: Uint8Array): void {
    const len = count * SECTOR_SIZE;
    let done = 0;
    try {
      while (done < len) {
        const n = fs.readSync(fd, into, done, len - done, sector * SECTOR_SIZE + done);
        if (n === 0) throw new Error(`unexpected end of file at byte ${sector * SECTOR_SIZE + done} (was the image truncated?)`);
        done += n;
      }
    } catch (e) {
      throw new DiskError(this.path, 'io', `read of ${count} sector(s) at ${sector} failed: ${errText(e)}`);
    }
  }
}

/** Open a raw disk image (see the file header for the modes and the size rule). */
export function openDisk(path: string, opts: OpenDiskOptions = {}): FileDisk {
  return new FileDisk(path, opts);
}

/** A disk over a byte array (its length a positive multiple of 512); writes change the array. */
export function memoryDisk(data: Uint8Array, opts: { label?: string; readOnly?: boolean } = {}): Disk {
  const label = opts.label ?? 'memory';
  if (data.length < SECTOR_SIZE || data.length % SECTOR_SIZE !== 0) {
    throw new DiskError(label, data.length < SECTOR_SIZE ? 'empty' : 'unaligned',
      `is ${data.length} bytes, not a positive multiple of ${SECTOR_SIZE}`);
  }
  const readOnly = opts.readOnly ?? false;
  const d: Disk = {
    path: label,
    sectors: data.length / SECTOR_SIZE,
    readOnly,
    persist: true,
    read(sector, count, into) {
      checkRange(d, sector, count, into, 'read');
      into.set(data.subarray(sector * SECTOR_SIZE, (sector + count) * SECTOR_SIZE));
    },
    write(sector, count, from) {
      checkRange(d, sector, count, from, 'write');
      if (readOnly) throw new DiskError(label, 'read-only', `write of ${count} sector(s) at ${sector} refused: the disk is read-only`);
      data.set(from.subarray(0, count * SECTOR_SIZE), sector * SECTOR_SIZE);
    },
    flush() {},
    close() {},
  };
  return d;
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
