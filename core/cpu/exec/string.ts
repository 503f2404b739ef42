/**
 * String instructions with REP prefixes (SDM Vol. 2B: MOVS, STOS, LODS,
 * SCAS, CMPS; Vol. 2B "REP/REPE/REPZ/REPNE/REPNZ"). A REP instruction runs
 * to completion as one retired instruction; on a fault, the count and index
 * registers show the progress made and RIP stays at the instruction, as
 * the SDM specifies for interrupted string operations.
 */
import type { Cpu } from '../cpu.js';
import type { Insn } from '../insn.js';
import { linearOf } from '../ea.js';
import { alu, ALU_CMP } from './alu.js';
import { getZF } from '../flags.js';
import { addIndex, setReg, getReg, readMem, writeMem } from './operands.js';
import { RAX, RCX, RSI, RDI, ES, DF } from '../regs.js';
import { PROC_BASED } from '../../vmx/capabilities.js';

const MONITOR_TRAP_FLAG = PROC_BASED.MONITOR_TRAP_FLAG;

function srcAddr(cpu: Cpu, i: Insn): number { return linearOf(cpu, i.seg, i.asz, cpu.lo[RSI]!, cpu.hi[RSI]!); }
function dstAddr(cpu: Cpu, i: Insn): number { return linearOf(cpu, ES, i.asz, cpu.lo[RDI]!, cpu.hi[RDI]!); }

/** Whether the count register (CX/ECX/RCX by address size) is zero. */
function countZero(cpu: Cpu, asz: number): boolean {
  if (asz === 2) return (cpu.lo[RCX]! & 0xffff) === 0;
  if (asz === 4) return cpu.lo[RCX] === 0;
  return (cpu.lo[RCX]! | cpu.hi[RCX]!) === 0;
}
/** Decrement the count register; a 32-bit count zero-extends into RCX. On halves: RCX may exceed 2^53. */
function countDec(cpu: Cpu, asz: number): void {
  const l = cpu.lo[RCX]!;
  if (asz === 2) cpu.lo[RCX] = (l & ~0xffff) | ((l - 1) & 0xffff);
  else if (asz === 4) { cpu.lo[RCX] = (l - 1) | 0; cpu.hi[RCX] = 0; }
  else { if (l === 0) cpu.hi[RCX] = (cpu.hi[RCX]! - 1) | 0; cpu.lo[RCX] = (l - 1) | 0; }
}

/** One iteration of a string instruction; `d` is the signed element step (DF). */
type Body = (cpu: Cpu, i: Insn, d: number) => void;

/**
 * Run `body` once, or while the count is not zero under REP (Vol. 2B
 * "REP/REPE/REPZ/REPNE/REPNZ", Operation); for CMPS/SCAS (`usesZf`) REPE
 * stops when ZF = 0 and REPNE when ZF = 1, tested after each iteration.
 * Bodies are module-level functions: nothing is allocated per instruction.
 */
function repeat(cpu: Cpu, i: Insn, body: Body, usesZf: boolean): void {
  const d = cpu.flagsRest & DF ? -i.osz : i.osz;
  if (i.rep === 0) { body(cpu, i, d); return; }
  const asz = i.asz;
  // With the monitor trap flag an MTF VM exit is pending after the first iteration (Vol. 3C 26.5.2): stop there
  // with RIP still at the instruction, as after an interrupt between iterations. One test per REP instruction.
  if ((cpu.ctlProc & MONITOR_TRAP_FLAG) !== 0 && !countZero(cpu, asz)) {
    body(cpu, i, d);
    countDec(cpu, asz);
    if (usesZf) {
      const zf = getZF(cpu);
      if ((i.rep === 1 && !zf) || (i.rep === 2 && zf)) return;
    }
    if (!countZero(cpu, asz)) cpu.ripNext = cpu.rip;
    return;
  }
  while (!countZero(cpu, asz)) {
    body(cpu, i, d);
    countDec(cpu, asz);
    if (usesZf) {
      const zf = getZF(cpu);
      if ((i.rep === 1 && !zf) || (i.rep === 2 && zf)) break;
    }
  }
}

const movsBody: Body = (cpu, i, d) => {
  const v = readMem(cpu, srcAddr(cpu, i), i.osz), vh = cpu.th;
  writeMem(cpu, dstAddr(cpu, i), i.osz, v, vh);
  addIndex(cpu, RSI, i.asz, d);
  addIndex(cpu, RDI, i.asz, d);
};
const stosBody: Body = (cpu, i, d) => {
  const v = getReg(cpu, RAX, i.osz, 1), vh = cpu.th;
  writeMem(cpu, dstAddr(cpu, i), i.osz, v, vh);
  addIndex(cpu, RDI, i.asz, d);
};
const lodsBody: Body = (cpu, i, d) => {
  const v = readMem(cpu, srcAddr(cpu, i), i.osz);
  setReg(cpu, RAX, i.osz, v, cpu.th, 1);
  addIndex(cpu, RSI, i.asz, d);
};
const scasBody: Body = (cpu, i, d) => {
  const a = getReg(cpu, RAX, i.osz, 1), ah = cpu.th;
  const v = readMem(cpu, dstAddr(cpu, i), i.osz), vh = cpu.th;
  alu(cpu, ALU_CMP, i.osz, a, ah, v, vh);
  addIndex(cpu, RDI, i.asz, d);
};
const cmpsBody: Body = (cpu, i, d) => {
  const s = readMem(cpu, srcAddr(cpu, i), i.osz), sh = cpu.th;
  const t = readMem(cpu, dstAddr(cpu, i), i.osz), th = cpu.th;
  alu(cpu, ALU_CMP, i.osz, s, sh, t, th);
  addIndex(cpu, RSI, i.asz, d);
  addIndex(cpu, RDI, i.asz, d);
};

/**
 * REP STOS / REP MOVS with 64-bit addresses and DF = 0 (memset, memcpy, clear_page), a page
 * at a time: the elements that lie wholly inside the current destination (and source)
 * page are stored at once after one translation of each page. The result is the element
 * loop's: within a page only the first element can fault (its translation is the one made
 * here, in the same order - source read, then destination write), so RCX/RSI/RDI show the
 * same progress at a fault; code-page invalidation and dirty tracking cover the whole run.
 * MOVS copies at once only when the destination does not start inside the source run
 * (where a forward element copy would re-read bytes it has just written). An element that
 * straddles a page boundary, or an overlapping copy, goes through the element body.
 */
function repBulk(cpu: Cpu, i: Insn): boolean {
  // The reference interpreter (cpu.fast = false) keeps the element loop: tests compare the two.
  return cpu.fast && !cpu.acCheck && i.rep !== 0 && i.asz === 8 && (cpu.flagsRest & DF) === 0 && (cpu.ctlProc & MONITOR_TRAP_FLAG) === 0;
}
/** Elements left in RCX, capped at `cap` (RCX may exceed 2^53 in halves). */
function countUpTo(cpu: Cpu, cap: number): number {
  if (cpu.hi[RCX] !== 0) return cap;
  const c = cpu.lo[RCX]! >>> 0;
  return c < cap ? c : cap;
}
function advance(cpu: Cpu, r: number, bytes: number): void {
  const s = (cpu.lo[r]! >>> 0) + bytes;
  cpu.lo[r] = s;
  cpu.hi[r] = (cpu.hi[r]! + (s >= 4294967296 ? 1 : 0)) | 0;
}
function countSub(cpu: Cpu, n: number): void {
  const l = cpu.lo[RCX]! >>> 0;
  if (l < n) cpu.hi[RCX] = (cpu.hi[RCX]! - 1) | 0;
  cpu.lo[RCX] = (l - n) | 0;
}
function stosRep64(cpu: Cpu, i: Insn): void {
  const sz = i.osz;
  const v = getReg(cpu, RAX, sz, 1), vh = cpu.th;
  const b0 = v & 0xff;
  // All bytes of the element equal (zeroing, memset): one fill.
  const same = sz === 1 || (sz === 2 ? (v & 0xffff) === b0 * 0x101 : (v | 0) === (b0 * 0x01010101 | 0) && (sz === 4 || (vh | 0) === (v | 0)));
  while (!countZero(cpu, 8)) {
    const a = dstAddr(cpu, i);
    const off = a - Math.floor(a / 4096) * 4096;
    const n = countUpTo(cpu, Math.floor((4096 - off) / sz));
    if (n === 0) { stosBody(cpu, i, sz); countDec(cpu, 8); continue; }
    const pa = cpu.pageForWrite(a, n * sz);
    if (same) cpu.u8.fill(b0, pa, pa + n * sz);
    else {
      const dv = cpu.dv;
      for (let k = 0, p = pa; k < n; k++, p += sz) {
        if (sz === 8) { dv.setInt32(p, v, true); dv.setInt32(p + 4, vh, true); } else if (sz === 4) dv.setInt32(p, v, true); else dv.setUint16(p, v, true);
      }
    }
    advance(cpu, RDI, n * sz);
    countSub(cpu, n);
  }
}
function movsRep64(cpu: Cpu, i: Insn): void {
  const sz = i.osz;
  while (!countZero(cpu, 8)) {
    // As one element does it: source address and read, then destination address and write.
    const s = srcAddr(cpu, i);
    const so = s - Math.floor(s / 4096) * 4096;
    if (so + sz > 4096) { movsBody(cpu, i, sz); countDec(cpu, 8); continue; }
    const ps = cpu.pageForRead(s);
    const d = dstAddr(cpu, i);
    const dof = d - Math.floor(d / 4096) * 4096;
    const n = countUpTo(cpu, Math.floor(Math.min(4096 - so, 4096 - dof) / sz));
    if (n === 0) { movsBody(cpu, i, sz); countDec(cpu, 8); continue; }
    const len = n * sz;
    const pd = cpu.pageForWrite(d, len);
    if (pd > ps && pd < ps + len) { movsBody(cpu, i, sz); countDec(cpu, 8); continue; }
    cpu.u8.copyWithin(pd, ps, ps + len);
    advance(cpu, RSI, len);
    advance(cpu, RDI, len);
    countSub(cpu, n);
  }
}

export function movs(cpu: Cpu, i: Insn): void { if (repBulk(cpu, i)) movsRep64(cpu, i); else repeat(cpu, i, movsBody, false); }
export function stos(cpu: Cpu, i: Insn): void { if (repBulk(cpu, i)) stosRep64(cpu, i); else repeat(cpu, i, stosBody, false); }
export function lods(cpu: Cpu, i: Insn): void { repeat(cpu, i, lodsBody, false); }
export function scas(cpu: Cpu, i: Insn): void { repeat(cpu, i, scasBody, true); }
export function cmps(cpu: Cpu, i: Insn): void { repeat(cpu, i, cmpsBody, true); }
