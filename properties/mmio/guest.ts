/**
 * A GuestAccess and an MmioBus for tests and properties, over one PhysMem
 * (guest-physical = host-physical, no EPT): registers in plain arrays,
 * guest paging through core/mmio/paging.ts (or off), and a predicate that
 * says which guest-physical addresses are MMIO. `RamDevice` is an MMIO
 * device backed by the same memory, so an instruction run through the
 * emulator must leave exactly what the CPU leaves when it runs the same
 * instruction on RAM (property 3). Every device access is logged.
 */
import type { PhysMem } from '../../core/memory/physmem.js';
import type { AccessSize, GuestAccess, GuestSystem, MmioBus, MmioValue } from '../../core/mmio/emulator.js';
import { translateLinear, type Access, type PagingRegs, type PhysAccess, Translation } from '../../core/mmio/paging.js';

export interface DeviceAccess { readonly write: boolean; readonly gpa: number; readonly size: number; readonly lo: number; readonly hi: number }

export class TestGuest implements GuestAccess, PhysAccess {
  readonly lo = new Int32Array(16);
  readonly hi = new Int32Array(16);
  ripValue = 0;
  flags = 2;
  readonly bases = new Float64Array(6);
  paging: PagingRegs = { cr0: 0, cr3: 0, cr4: 0, efer: 0, cpl: 0, ac: false };
  /** System state for SMSW, LTR, segment loads, far JMP, SSE/MMX moves (undefined: those stop). */
  sys: TestSystem | undefined = undefined;
  private readonly val: MmioValue = { lo: 0, hi: 0 };

  constructor(readonly mem: PhysMem, readonly isMmio: (gpa: number) => boolean) {}

  gprLo(r: number): number { return this.lo[r]!; }
  gprHi(r: number): number { return this.hi[r]!; }
  setGpr(r: number, lo: number, hi: number): void { this.lo[r] = lo; this.hi[r] = hi; }
  rip(): number { return this.ripValue; }
  setRip(rip: number): void { this.ripValue = rip; }
  rflags(): number { return this.flags; }
  setRflags(v: number): void { this.flags = v; }
  segBase(seg: number): number { return this.bases[seg]!; }
  translate(lin: number, acc: Access, out: Translation): boolean {
    return translateLinear(this.paging, this, lin, acc, out);
  }
  isRam(gpa: number): boolean { return gpa >= 0 && gpa < this.mem.size && !this.isMmio(gpa); }
  readRam(gpa: number, size: AccessSize): MmioValue { return readMem(this.mem, gpa, size, this.val); }
  writeRam(gpa: number, size: AccessSize, lo: number, hi: number): void { writeMem(this.mem, gpa, size, lo, hi); }
  read32(gpa: number): number { return gpa >= 0 && gpa + 4 <= this.mem.size ? this.mem.dv.getUint32(gpa, true) : -1; }
  write32(gpa: number, v: number): void { this.mem.dv.setUint32(gpa, v >>> 0, true); }
}

/** Plain-field GuestSystem: segment registers 0 ES .. 5 GS, 6 LDTR, 7 TR; 16 XMM and 8 MMX registers. */
export class TestSystem implements GuestSystem {
  cr0v = 0x80000011; cr4v = 0x220; cplv = 0; long = true;
  readonly sel = new Uint16Array(8);
  readonly base = new Float64Array(8);
  readonly limit = new Float64Array(8);
  readonly ar = new Uint32Array(8);
  gdtBase = 0; gdtLimit = 0xffff;
  movSs = false;
  readonly xmm = new Int32Array(64);
  readonly mm = new Int32Array(16);
  mmxUsed = false;
  cr0(): number { return this.cr0v; }
  cr4(): number { return this.cr4v; }
  cpl(): number { return this.cplv; }
  longMode(): boolean { return this.long; }
  selector(seg: number): number { return this.sel[seg]!; }
  loadSegment(seg: number, sel: number, base: number, limit: number, ar: number): void {
    this.sel[seg] = sel; this.base[seg] = base; this.limit[seg] = limit; this.ar[seg] = ar;
  }
  gdtrBase(): number { return this.gdtBase; }
  gdtrLimit(): number { return this.gdtLimit; }
  blockByMovSs(): void { this.movSs = true; this.shadow = 2; }
  /** Blocking by STI (bit 0) / MOV SS (bit 1) as the interruptibility state holds them. */
  shadow = 0;
  endInterruptShadow(): void { this.shadow = 0; this.movSs = false; }
  readXmm(r: number, v: Int32Array): void { v.set(this.xmm.subarray(4 * r, 4 * r + 4)); }
  writeXmm(r: number, v: Int32Array): void { this.xmm.set(v.subarray(0, 4), 4 * r); }
  readMmx(r: number, v: Int32Array): void { v[0] = this.mm[2 * r]!; v[1] = this.mm[2 * r + 1]!; this.mmxUsed = true; }
  writeMmx(r: number, lo: number, hi: number): void { this.mm[2 * r] = lo; this.mm[2 * r + 1] = hi; this.mmxUsed = true; }
}

export function readMem(mem: PhysMem, gpa: number, size: number, v: MmioValue): MmioValue {
  const dv = mem.dv;
  if (gpa < 0 || gpa + size > mem.size) { v.lo = -1; v.hi = size === 8 ? -1 : 0; return v; }
  if (size === 8) { v.lo = dv.getInt32(gpa, true); v.hi = dv.getInt32(gpa + 4, true); }
  else { v.lo = size === 4 ? dv.getInt32(gpa, true) : size === 2 ? dv.getUint16(gpa, true) : dv.getUint8(gpa); v.hi = 0; }
  return v;
}
export function writeMem(mem: PhysMem, gpa: number, size: number, lo: number, hi: number): void {
  if (gpa < 0 || gpa + size > mem.size) return;
  const dv = mem.dv;
  if (size === 8) { dv.setInt32(gpa, lo, true); dv.setInt32(gpa + 4, hi, true); }
  else if (size === 4) dv.setInt32(gpa, lo, true);
  else if (size === 2) dv.setUint16(gpa, lo & 0xffff, true);
  else dv.setUint8(gpa, lo & 0xff);
}

/** An MMIO device whose registers are the bytes of `mem` at the accessed address; logs every access. */
export class RamDevice implements MmioBus {
  readonly log: DeviceAccess[] = [];
  private readonly val: MmioValue = { lo: 0, hi: 0 };
  constructor(readonly mem: PhysMem) {}
  read(gpa: number, size: AccessSize): MmioValue {
    const v = readMem(this.mem, gpa, size, this.val);
    this.log.push({ write: false, gpa, size, lo: v.lo, hi: v.hi });
    return v;
  }
  write(gpa: number, size: AccessSize, lo: number, hi: number): void {
    this.log.push({ write: true, gpa, size, lo, hi });
    writeMem(this.mem, gpa, size, lo, hi);
  }
}

/** A device with fixed read values (from a function) that records writes. */
export class FakeDevice implements MmioBus {
  readonly log: DeviceAccess[] = [];
  private readonly val: MmioValue = { lo: 0, hi: 0 };
  constructor(readonly onRead: (gpa: number, size: number) => [number, number] = () => [0, 0]) {}
  read(gpa: number, size: AccessSize): MmioValue {
    const [lo, hi] = this.onRead(gpa, size);
    this.val.lo = lo; this.val.hi = hi;
    this.log.push({ write: false, gpa, size, lo, hi });
    return this.val;
  }
  write(gpa: number, size: AccessSize, lo: number, hi: number): void {
    this.log.push({ write: true, gpa, size, lo, hi });
  }
}

export { Translation };
