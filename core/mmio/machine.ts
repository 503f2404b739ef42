/**
 * GuestAccess over a Machine: how the hypervisor (core/hv) lets the MMIO
 * emulator see the guest after an EPT violation or misconfiguration exit,
 * reading and writing guest state through the VMCS as a real VMM does:
 *  - GPRs other than RSP from the register file the exit left behind (VMX
 *    does not save them), RSP/RIP/RFLAGS/segment bases/CR0/CR3/CR4/EFER from
 *    the guest-state area (SDM Vol. 3C, 25.4.1 "Guest Register State");
 *  - guest-linear -> guest-physical with the emulator's own page walker
 *    (./paging.ts), every paging-structure access going through the EPT
 *    named by the EPT pointer (Vol. 3C, 29.3.2); a guest-physical address
 *    the EPT maps is RAM, anything else is MMIO.
 * Writes to RAM mark the page dirty (state digests) and drop decoded code
 * on it, like the string-I/O handler does.
 */
import type { Machine } from '../hv/machine.js';
import { VMCS } from '../vmx/fields.js';
import type { DecodeMode } from './decoder.js';
import type { AccessSize, GuestAccess, GuestSystem, MmioValue } from './emulator.js';
import { fpuState } from '../cpu/fpu-state.js';
import { translateLinear, eptTranslate, ACC_READ, ACC_WRITE, type Access, type PagingRegs, type PhysAccess, Translation } from './paging.js';

const TWO32 = 4294967296;
const RSP = 4;
const SEG_BASE = [VMCS.GUEST_ES_BASE, VMCS.GUEST_CS_BASE, VMCS.GUEST_SS_BASE, VMCS.GUEST_DS_BASE, VMCS.GUEST_FS_BASE, VMCS.GUEST_GS_BASE] as const;

/** The guest's code size from the VMCS: 64 in IA-32e mode with CS.L = 1, else 32 or 16 by CS.D/B (Vol. 3A, 5.2.1). */
export function guestMode(m: Machine): DecodeMode {
  const efer = m.vmx.vmread32(VMCS.GUEST_IA32_EFER);
  const ar = m.vmx.vmread32(VMCS.GUEST_CS_ACCESS_RIGHTS);
  if ((efer & 0x400) && (ar & 0x2000)) return 64;
  return ar & 0x4000 ? 32 : 16;
}

export class MachineGuestAccess implements GuestAccess, PhysAccess {
  private readonly m: Machine;
  private readonly regs: PagingRegs;
  private readonly eptp: number;
  private readonly val: MmioValue = { lo: 0, hi: 0 };
  private readonly hostRead = (hpa: number): number => (hpa >= 0 && hpa + 4 <= this.m.mem.size ? this.m.mem.dv.getUint32(hpa, true) : -1);

  constructor(m: Machine) {
    this.m = m;
    const v = m.vmx;
    this.regs = {
      cr0: v.vmread32(VMCS.GUEST_CR0), cr3: v.vmreadNum(VMCS.GUEST_CR3), cr4: v.vmread32(VMCS.GUEST_CR4),
      efer: v.vmread32(VMCS.GUEST_IA32_EFER), cpl: (v.vmread32(VMCS.GUEST_SS_ACCESS_RIGHTS) >>> 5) & 3,
      ac: (v.vmread32(VMCS.GUEST_RFLAGS) & 0x40000) !== 0,
    };
    this.eptp = v.vmreadNum(VMCS.EPT_POINTER);
  }

  gprLo(r: number): number {
    return r === RSP ? this.m.vmx.vmread32(VMCS.GUEST_RSP) | 0 : this.m.cpu.lo[r]!;
  }
  gprHi(r: number): number {
    return r === RSP ? Math.floor(this.m.vmx.vmreadSigned(VMCS.GUEST_RSP) / TWO32) | 0 : this.m.cpu.hi[r]!;
  }
  setGpr(r: number, lo: number, hi: number): void {
    if (r === RSP) this.m.vmx.vmwriteHalves(VMCS.GUEST_RSP, lo, hi);
    else { this.m.cpu.lo[r] = lo; this.m.cpu.hi[r] = hi; }
  }
  rip(): number { return this.m.vmx.vmreadSigned(VMCS.GUEST_RIP); }
  setRip(rip: number): void { this.m.vmx.vmwriteNum(VMCS.GUEST_RIP, rip); }
  rflags(): number { return this.m.vmx.vmread32(VMCS.GUEST_RFLAGS); }
  setRflags(v: number): void { this.m.vmx.vmwrite32(VMCS.GUEST_RFLAGS, v); }
  segBase(seg: number): number { return this.m.vmx.vmreadSigned(SEG_BASE[seg]!); }

  translate(lin: number, acc: Access, out: Translation): boolean {
    return translateLinear(this.regs, this, lin, acc, out);
  }
  /**
   * Host-physical address of guest-physical `gpa` for `acc`, or -1 (not RAM). An instance serves one
   * VM exit, during which the EPT cannot change: the last few page translations are kept (a paging
   * entry's two halves, and the upper levels shared by the fetch and data walks, hit them).
   */
  hpa(gpa: number, acc: Access = ACC_READ): number {
    const page = gpa - (gpa % 4096);
    for (let k = 0; k < 4; k++) if (this.cPage[k] === page && this.cAcc[k] === acc) return this.cHpa[k]! + (gpa - page);
    const h = eptTranslate(this.hostRead, this.eptp, gpa, acc);
    if (h >= 0) {
      const k = this.cNext;
      this.cNext = (k + 1) & 3;
      this.cPage[k] = page; this.cAcc[k] = acc; this.cHpa[k] = h - (gpa - page);
    }
    return h;
  }
  private readonly cPage = [-1, -1, -1, -1];
  private readonly cAcc = [0, 0, 0, 0];
  private readonly cHpa = [0, 0, 0, 0];
  private cNext = 0;
  isRam(gpa: number): boolean { return this.hpa(gpa) >= 0; }

  readRam(gpa: number, size: AccessSize): MmioValue {
    const h = this.hpa(gpa);
    const v = this.val;
    if (h < 0 || h + size > this.m.mem.size) { v.lo = 0; v.hi = 0; return v; }
    const dv = this.m.mem.dv;
    if (size === 8) { v.lo = dv.getInt32(h, true); v.hi = dv.getInt32(h + 4, true); }
    else { v.lo = size === 4 ? dv.getInt32(h, true) : size === 2 ? dv.getUint16(h, true) : dv.getUint8(h); v.hi = 0; }
    return v;
  }
  writeRam(gpa: number, size: AccessSize, lo: number, hi: number): void {
    const h = this.hpa(gpa, ACC_WRITE);
    if (h < 0 || h + size > this.m.mem.size) return;
    const dv = this.m.mem.dv;
    if (size === 8) { dv.setInt32(h, lo, true); dv.setInt32(h + 4, hi, true); }
    else if (size === 4) dv.setInt32(h, lo, true);
    else if (size === 2) dv.setUint16(h, lo & 0xffff, true);
    else dv.setUint8(h, lo & 0xff);
    this.m.mem.touch(h, size);
    this.m.cpu.invalidateCode(h, size);
  }

  /**
   * System state through the VMCS guest-state area (Vol. 3C, 25.4) and the
   * register file's x87/SSE state. Segment fields: selector 0x0800 + 2n,
   * limit 0x4800 + 2n, access rights 0x4814 + 2n, base 0x6806 + 2n for
   * n = ES CS SS DS FS GS LDTR TR (Vol. 3C, Appendix B).
   */
  get sys(): GuestSystem { return (this.sysAccess ??= this.makeSys()); }
  private sysAccess: GuestSystem | undefined;
  private makeSys(): GuestSystem {
    return {
      cr0: () => this.shadowed(VMCS.GUEST_CR0, VMCS.CR0_GUEST_HOST_MASK, VMCS.CR0_READ_SHADOW),
      cr4: () => this.shadowed(VMCS.GUEST_CR4, VMCS.CR4_GUEST_HOST_MASK, VMCS.CR4_READ_SHADOW),
      cpl: () => (this.m.vmx.vmread32(VMCS.GUEST_SS_ACCESS_RIGHTS) >>> 5) & 3,
      longMode: () => (this.m.vmx.vmread32(VMCS.GUEST_IA32_EFER) & 0x400) !== 0,
      selector: (seg) => this.m.vmx.vmread32(VMCS.GUEST_ES_SELECTOR + 2 * seg) & 0xffff,
      loadSegment: (seg, sel, base, limit, ar) => {
        const v = this.m.vmx;
        v.vmwrite32(VMCS.GUEST_ES_SELECTOR + 2 * seg, sel);
        v.vmwriteNum(VMCS.GUEST_ES_BASE + 2 * seg, base);
        v.vmwrite32(VMCS.GUEST_ES_LIMIT + 2 * seg, limit | 0);
        v.vmwrite32(VMCS.GUEST_ES_ACCESS_RIGHTS + 2 * seg, ar);
      },
      gdtrBase: () => this.m.vmx.vmreadSigned(VMCS.GUEST_GDTR_BASE),
      gdtrLimit: () => this.m.vmx.vmread32(VMCS.GUEST_GDTR_LIMIT),
      blockByMovSs: () => {
        const v = this.m.vmx;
        // blocking by STI and by MOV SS are exclusive (Vol. 3C, 27.3.1.5): MOV SS replaces STI blocking
        v.vmwrite32(VMCS.GUEST_INTERRUPTIBILITY_STATE, (v.vmread32(VMCS.GUEST_INTERRUPTIBILITY_STATE) & ~1) | 2);
      },
      endInterruptShadow: () => {
        const v = this.m.vmx, st = v.vmread32(VMCS.GUEST_INTERRUPTIBILITY_STATE);
        if (st & 3) v.vmwrite32(VMCS.GUEST_INTERRUPTIBILITY_STATE, st & ~3);
      },
      readXmm: (r, out) => { out.set(fpuState(this.m.cpu).xmm.subarray(4 * r, 4 * r + 4)); },
      writeXmm: (r, v) => { fpuState(this.m.cpu).xmm.set(v.subarray(0, 4), 4 * r); },
      readMmx: (r, out) => {
        const st = fpuState(this.m.cpu).st, dv = new DataView(st.buffer, st.byteOffset + 10 * r, 8);
        out[0] = dv.getInt32(0, true); out[1] = dv.getInt32(4, true);
        this.mmxEnter();
      },
      writeMmx: (r, lo, hi) => {
        const st = fpuState(this.m.cpu).st, dv = new DataView(st.buffer, st.byteOffset + 10 * r, 10);
        // an MMX write sets the register's exponent and sign (bits 79:64) to all ones (Vol. 1, 9.5.1)
        dv.setInt32(0, lo, true); dv.setInt32(4, hi, true); dv.setUint16(8, 0xffff, true);
        this.mmxEnter();
      },
    };
  }
  private shadowed(reg: number, mask: number, shadow: number): number {
    const v = this.m.vmx, mk = v.vmread32(mask);
    return (v.vmread32(reg) & ~mk) | (v.vmread32(shadow) & mk);
  }
  /** Any MMX instruction: x87 TOP = 0 and every tag valid (Vol. 1, 9.5.1 "MMX Instructions and the x87 FPU Tag Word"). */
  private mmxEnter(): void {
    const c = this.m.cpu;
    c.fpuSw &= ~0x3800; c.fpuTw = 0;
  }

  // PhysAccess (guest paging structures, through EPT)
  read32(gpa: number): number {
    const h = this.hpa(gpa);
    return h < 0 ? -1 : this.hostRead(h);
  }
  write32(gpa: number, v: number): void {
    this.writeRam(gpa, 4, v | 0, 0);
  }
}

export { Translation };
