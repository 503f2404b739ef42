/**
 * Segment-register loads with the protected-mode descriptor checks
 * (SDM Vol. 3A, 3.4 "Logical and Linear Addresses", 5.5-5.8 privilege
 * checks; Vol. 2B "MOV—Move to/from Segment Registers", "LTR", "LLDT").
 * Descriptor attributes are kept in the VMCS access-rights layout.
 */
import type { Cpu } from './cpu.js';
import { CS, SS, FS, LDTR, TR, GP, NP, SS_VEC, TS, AR_UNUSABLE, AR_P, AR_S, AR_L, AR_DB, TWO32 } from './regs.js';

/** A descriptor read from the GDT/LDT: raw words, plus decoded fields. */
export interface Descriptor { lo: number; hi: number; hi2: number; ar: number; base: number; limit: number; addr: number }
const desc: Descriptor = { lo: 0, hi: 0, hi2: 0, ar: 0, base: 0, limit: 0, addr: 0 };

/** Access rights (VMCS layout, Vol. 3C Table 25-2) from descriptor bits 63:32. */
export function arFromHi(hi: number): number { return (hi >>> 8) & 0xf0ff; }
export function baseOf(lo: number, hi: number): number { return ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000)) >>> 0; }
export function limitOf(lo: number, hi: number): number {
  const l = (lo & 0xffff) | (hi & 0xf0000);
  return hi & (1 << 23) ? l * 4096 + 0xfff : l;
}

/** Fetch the descriptor for `sel` (#GP(sel) when outside the table, `vec` selects the fault). */
export function readDescriptor(cpu: Cpu, sel: number, vec = GP, system = false): Descriptor {
  const ti = (sel & 4) !== 0;
  const idx = sel & 0xfff8;
  const tableBase = ti ? cpu.segBase[LDTR]! : cpu.gdtrBase;
  const tableLimit = ti ? cpu.segLimit[LDTR]! : cpu.gdtrLimit;
  if (ti && (cpu.segAr[LDTR]! & AR_UNUSABLE)) cpu.fault(vec, sel & 0xfffc);
  const size = system && cpu.mode === 8 ? 16 : 8;
  if (idx + size - 1 > tableLimit) cpu.fault(vec, sel & 0xfffc);
  const addr = cpu.linAdd(tableBase, idx);
  desc.addr = addr;
  desc.lo = cpu.sysRead32(addr);
  desc.hi = cpu.sysRead32(cpu.linAdd(addr, 4));
  desc.hi2 = size === 16 ? cpu.sysRead32(cpu.linAdd(addr, 8)) : 0;
  desc.ar = arFromHi(desc.hi);
  desc.base = baseOf(desc.lo, desc.hi) + (size === 16 ? (desc.hi2 | 0) * TWO32 : 0);
  desc.limit = limitOf(desc.lo, desc.hi);
  return desc;
}

/** Set the accessed bit (type bit 0) of a code/data descriptor if clear. */
function markAccessed(cpu: Cpu, d: Descriptor): void {
  if (!(d.hi & 0x100)) {
    cpu.sysWrite8(cpu.linAdd(d.addr, 5), ((d.hi >>> 8) & 0xff) | 1);
    d.ar |= 1;
  }
}

export function setSegment(cpu: Cpu, seg: number, sel: number, base: number, limit: number, ar: number): void {
  cpu.segSel[seg] = sel;
  cpu.segBase[seg] = base;
  cpu.segLimit[seg] = limit;
  cpu.segAr[seg] = ar;
  cpu.updateMode();
}

/** MOV/POP to DS, ES, FS, GS or SS in protected or 64-bit mode. */
export function loadDataSegment(cpu: Cpu, seg: number, sel: number): void {
  sel &= 0xffff;
  const rpl = sel & 3;
  if ((sel & 0xfffc) === 0) {
    // Null selector: allowed for DS/ES/FS/GS; for SS only in 64-bit mode at CPL < 3 with RPL = CPL (Vol. 2B MOV).
    if (seg === SS && !(cpu.mode === 8 && cpu.cpl !== 3 && rpl === cpu.cpl)) cpu.gp(0);
    const ar = AR_UNUSABLE | (seg === SS ? (rpl << 5) : 0);
    cpu.segSel[seg] = sel;
    cpu.segAr[seg] = ar;
    if (cpu.mode !== 8 || seg < FS) cpu.segBase[seg] = 0;
    cpu.updateMode();
    return;
  }
  const d = readDescriptor(cpu, sel);
  const type = d.ar & 0xf;
  const dpl = (d.ar >> 5) & 3;
  if (seg === SS) {
    // Writable data segment, RPL = CPL, DPL = CPL.
    if (!(d.ar & AR_S) || (type & 8) || !(type & 2) || rpl !== cpu.cpl || dpl !== cpu.cpl) cpu.gp(sel & 0xfffc);
    if (!(d.ar & AR_P)) cpu.fault(SS_VEC, sel & 0xfffc);
  } else {
    // Data or readable code; non-conforming needs DPL >= max(CPL, RPL).
    if (!(d.ar & AR_S) || ((type & 8) && !(type & 2))) cpu.gp(sel & 0xfffc);
    const conforming = (type & 0xc) === 0xc;
    if (!conforming && (dpl < cpu.cpl || dpl < rpl)) cpu.gp(sel & 0xfffc);
    if (!(d.ar & AR_P)) cpu.fault(NP, sel & 0xfffc);
  }
  markAccessed(cpu, d);
  setSegment(cpu, seg, sel, d.base, d.limit, d.ar);
}

/**
 * Load CS for a far JMP/CALL to a code segment (Vol. 2A "JMP", protected-mode
 * path for code-segment targets; call gates and task switches are not modelled).
 */
export function loadCodeSegmentFar(cpu: Cpu, sel: number, forCall: boolean): void {
  sel &= 0xffff;
  if ((sel & 0xfffc) === 0) cpu.gp(0);
  const d = readDescriptor(cpu, sel);
  const type = d.ar & 0xf;
  const dpl = (d.ar >> 5) & 3;
  const rpl = sel & 3;
  if (!(d.ar & AR_S)) {
    cpu.unimplementedMsg(`far ${forCall ? 'CALL' : 'JMP'} through a system descriptor (gate/TSS) selector 0x${sel.toString(16)}`);
  }
  if (!(type & 8)) cpu.gp(sel & 0xfffc);
  if (type & 4) { if (dpl > cpu.cpl) cpu.gp(sel & 0xfffc); }
  else if (rpl > cpu.cpl || dpl !== cpu.cpl) cpu.gp(sel & 0xfffc);
  if (!(d.ar & AR_P)) cpu.fault(NP, sel & 0xfffc);
  if ((d.ar & AR_L) && (d.ar & AR_DB)) cpu.gp(sel & 0xfffc);
  markAccessed(cpu, d);
  cpu.segSel[CS] = (sel & 0xfffc) | cpu.cpl;
  cpu.segBase[CS] = d.base;
  cpu.segLimit[CS] = d.limit;
  cpu.segAr[CS] = d.ar;
  cpu.updateMode();
}

/** Load CS (and optionally SS) from a selector for interrupt/return paths, with a target CPL. */
export function loadCsForCpl(cpu: Cpu, sel: number, cpl: number, vec = GP): void {
  const d = readDescriptor(cpu, sel, vec);
  if (!(d.ar & AR_S) || !(d.ar & 8)) cpu.fault(vec, sel & 0xfffc);
  if (!(d.ar & AR_P)) cpu.fault(NP, sel & 0xfffc);
  markAccessed(cpu, d);
  cpu.segSel[CS] = (sel & 0xfffc) | cpl;
  cpu.segBase[CS] = d.base;
  cpu.segLimit[CS] = d.limit;
  cpu.segAr[CS] = d.ar;
}
export function loadSsForCpl(cpu: Cpu, sel: number, cpl: number, vec = TS): void {
  if ((sel & 0xfffc) === 0) {
    if (cpu.efer & 0x400 && cpl < 3) { cpu.segSel[SS] = sel; cpu.segAr[SS] = AR_UNUSABLE | (cpl << 5) | 0x13; cpu.segBase[SS] = 0; return; }
    cpu.fault(vec, 0);
  }
  const d = readDescriptor(cpu, sel, vec);
  if (!(d.ar & AR_S) || (d.ar & 8) || !(d.ar & 2)) cpu.fault(vec, sel & 0xfffc);
  if (!(d.ar & AR_P)) cpu.fault(SS_VEC, sel & 0xfffc);
  markAccessed(cpu, d);
  cpu.segSel[SS] = sel;
  cpu.segBase[SS] = d.base;
  cpu.segLimit[SS] = d.limit;
  cpu.segAr[SS] = d.ar;
}

/** In IA-32e mode a 16-byte system descriptor's base must be canonical (Vol. 2A LTR/LLDT, #GP(selector)). */
function canonicalBase(cpu: Cpu, base: number): boolean {
  return cpu.mode !== 8 || (base >= -0x8000_0000_0000 && base < 0x8000_0000_0000);
}

/** LTR (Vol. 2A "LTR"): available TSS descriptor, marked busy. */
export function ltr(cpu: Cpu, sel: number): void {
  if ((sel & 0xfffc) === 0 || (sel & 4)) cpu.gp(sel & 0xfffc);
  const d = readDescriptor(cpu, sel, GP, true);
  const type = d.ar & 0x1f;
  if (type !== 0x09 && type !== 0x01) cpu.gp(sel & 0xfffc);
  if (!(d.ar & AR_P)) cpu.fault(NP, sel & 0xfffc);
  if (!canonicalBase(cpu, d.base)) cpu.gp(sel & 0xfffc);
  cpu.sysWrite8(cpu.linAdd(d.addr, 5), ((d.hi >>> 8) & 0xff) | 2);
  cpu.segSel[TR] = sel;
  cpu.segBase[TR] = d.base;
  cpu.segLimit[TR] = d.limit;
  cpu.segAr[TR] = d.ar | 2;
}

/** LLDT (Vol. 2A "LLDT"): a null selector makes LDTR unusable. */
export function lldt(cpu: Cpu, sel: number): void {
  if ((sel & 0xfffc) === 0) { cpu.segSel[LDTR] = sel; cpu.segAr[LDTR] = AR_UNUSABLE; return; }
  if (sel & 4) cpu.gp(sel & 0xfffc);
  const d = readDescriptor(cpu, sel, GP, true);
  if ((d.ar & 0x1f) !== 0x02) cpu.gp(sel & 0xfffc);
  if (!(d.ar & AR_P)) cpu.fault(NP, sel & 0xfffc);
  if (!canonicalBase(cpu, d.base)) cpu.gp(sel & 0xfffc);
  cpu.segSel[LDTR] = sel;
  cpu.segBase[LDTR] = d.base;
  cpu.segLimit[LDTR] = d.limit;
  cpu.segAr[LDTR] = d.ar;
}

