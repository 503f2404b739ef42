/**
 * Host-physical memory: one ArrayBuffer, little-endian, no per-byte objects.
 *
 * Every access is bounds-checked; an access that does not lie entirely inside
 * the buffer raises a MemoryRangeError naming the address and the size. The
 * CPU's fast paths index `u8` / `dv` directly after their own translation has
 * proven the range, so the checked methods here are for loaders, devices and
 * the hypervisor.
 */

export class MemoryRangeError extends Error {
  override readonly name = 'MemoryRangeError';
  constructor(readonly address: number, readonly size: number, readonly limit: number) {
    super(`host-physical access of ${size} byte(s) at 0x${address.toString(16)} is outside memory (size 0x${limit.toString(16)})`);
  }
}

export class PhysMem {
  readonly buffer: ArrayBuffer;
  readonly u8: Uint8Array;
  readonly dv: DataView;
  readonly size: number;
  /**
   * One flag per 4-KiB page, set by every write (here, by the CPU's write
   * path and by hypervisor writers through touch()): lets state digests
   * rehash only what changed.
   */
  readonly dirty: Uint8Array;

  constructor(size: number) {
    if (!Number.isInteger(size) || size <= 0 || size % 4096 !== 0) {
      throw new RangeError(`memory size must be a positive multiple of 4096 bytes, got ${size}`);
    }
    this.size = size;
    this.buffer = new ArrayBuffer(size);
    this.u8 = new Uint8Array(this.buffer);
    this.dv = new DataView(this.buffer);
    this.dirty = new Uint8Array(size / 4096).fill(1);
  }

  /** Mark [pa, pa+len) as written. */
  touch(pa: number, len: number): void {
    for (let p = pa >>> 12; p <= (pa + len - 1) >>> 12 && p < this.dirty.length; p++) this.dirty[p] = 1;
  }

  /** Throws MemoryRangeError unless [pa, pa+len) lies inside memory. */
  check(pa: number, len: number): void {
    if (!(pa >= 0 && len >= 0 && pa + len <= this.size) || !Number.isInteger(pa)) {
      throw new MemoryRangeError(pa, len, this.size);
    }
  }

  read8(pa: number): number { this.check(pa, 1); return this.u8[pa]!; }
  read16(pa: number): number { this.check(pa, 2); return this.dv.getUint16(pa, true); }
  read32(pa: number): number { this.check(pa, 4); return this.dv.getUint32(pa, true); }
  /** 64-bit read as a double; exact for values below 2^53 (addresses). */
  read64(pa: number): number { this.check(pa, 8); return this.dv.getUint32(pa, true) + this.dv.getUint32(pa + 4, true) * 0x1_0000_0000; }

  write8(pa: number, v: number): void { this.check(pa, 1); this.u8[pa] = v; this.dirty[pa >>> 12] = 1; }
  write16(pa: number, v: number): void { this.check(pa, 2); this.dv.setUint16(pa, v, true); this.touch(pa, 2); }
  write32(pa: number, v: number): void { this.check(pa, 4); this.dv.setUint32(pa, v >>> 0, true); this.touch(pa, 4); }
  /** 64-bit write of a non-negative double below 2^53. */
  write64(pa: number, v: number): void {
    this.check(pa, 8);
    this.dv.setUint32(pa, v >>> 0, true);
    this.dv.setUint32(pa + 4, Math.floor(v / 0x1_0000_0000) >>> 0, true);
    this.touch(pa, 8);
  }

  readBytes(pa: number, len: number): Uint8Array { this.check(pa, len); return this.u8.slice(pa, pa + len); }
  writeBytes(pa: number, data: Uint8Array): void { this.check(pa, data.length); this.u8.set(data, pa); if (data.length) this.touch(pa, data.length); }
  fill(pa: number, len: number, value = 0): void { this.check(pa, len); this.u8.fill(value, pa, pa + len); if (len) this.touch(pa, len); }
}
