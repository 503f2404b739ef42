/**
 * The hypervisor's MMIO dispatcher: guest-physical ranges claimed by
 * devices (the local APIC at its current IA32_APIC_BASE, the I/O APIC page).
 * The MMIO emulator (core/mmio) calls read/write here for every access an
 * emulated instruction makes; each access is emitted as an MMIO event.
 * Accesses of 8 bytes are split into two 4-byte register accesses, lowest
 * first; an address no device claims reads all ones and drops writes.
 */
import type { Machine } from './machine.js';
import type { MmioBus, MmioValue, AccessSize } from '../mmio/emulator.js';

export interface MmioDevice {
  readonly name: string;
  /** Does the device answer at guest-physical `gpa` right now? */
  claims(gpa: number): boolean;
  /** Base of its window (register offsets are relative to it). */
  base(): number;
  read(offset: number, size: number): number;
  write(offset: number, size: number, value: number): void;
}

export class MachineMmioBus implements MmioBus {
  private readonly val: MmioValue = { lo: 0, hi: 0 };
  constructor(private readonly m: Machine, private readonly devices: readonly MmioDevice[]) {}

  find(gpa: number): MmioDevice | undefined {
    for (const d of this.devices) if (d.claims(gpa)) return d;
    return undefined;
  }

  read(gpa: number, size: AccessSize): MmioValue {
    const d = this.find(gpa);
    const v = this.val;
    if (!d) { v.lo = -1; v.hi = size === 8 ? -1 : 0; if (size < 4) v.lo &= size === 2 ? 0xffff : 0xff; }
    else if (size === 8) { const off = gpa - d.base(); v.lo = d.read(off, 4) | 0; v.hi = d.read(off + 4, 4) | 0; }
    else { v.lo = d.read(gpa - d.base(), size); v.hi = 0; }
    this.m.emit({ kind: 'mmio', ic: this.m.cpu.icount, gpa, size, write: false, valueLo: v.lo >>> 0, valueHi: v.hi >>> 0, device: d?.name ?? 'none' });
    return v;
  }

  write(gpa: number, size: AccessSize, lo: number, hi: number): void {
    const d = this.find(gpa);
    this.m.emit({ kind: 'mmio', ic: this.m.cpu.icount, gpa, size, write: true, valueLo: lo >>> 0, valueHi: size === 8 ? hi >>> 0 : 0, device: d?.name ?? 'none' });
    if (!d) return;
    const off = gpa - d.base();
    if (size === 8) { d.write(off, 4, lo); d.write(off + 4, 4, hi); }
    else d.write(off, size, size === 4 ? lo >>> 0 : lo & (size === 2 ? 0xffff : 0xff));
  }
}
