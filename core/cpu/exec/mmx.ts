/**
 * The MMX data moves (CPUID.01H:EDX.MMX): MOVD/MOVQ mm, r/m32/64 (0F 6E),
 * MOVD/MOVQ r/m32/64, mm (0F 7E), MOVQ mm, mm/m64 (0F 6F), MOVQ mm/m64, mm
 * (0F 7F) and EMMS (0F 77); no MMX arithmetic. SDM Vol. 2B MOVD/MOVQ, MOVQ,
 * Vol. 2A EMMS; Vol. 1, 9.5 "Compatibility with x87 FPU Architecture":
 * MMX register i is bits 63:0 of x87 data register R_i, a write sets bits
 * 79:64 to all ones, and every MMX instruction (but EMMS) sets TOP = 0 and
 * every tag valid; EMMS tags them all empty. Exceptions (Vol. 2B, Table
 * 22-7 "Exception Conditions for Legacy SIMD/MMX Instructions without FP
 * Exception"): #UD if CR0.EM = 1, #NM if CR0.TS = 1, #MF if an unmasked
 * x87 exception is pending. REX.R/REX.B do not extend MMX register numbers.
 */
import type { Cpu } from '../cpu.js';
import type { Insn } from '../insn.js';
import { fpuState } from '../fpu-state.js';
import { getReg, writeE } from './operands.js';
import { CR0_EM, CR0_TS, UD, NM, MF } from '../regs.js';
import { fswValue } from './fpu.js';

const FSW_ES = 0x80;

function mmxCheck(cpu: Cpu): Uint8Array {
  if (cpu.cr0 & CR0_EM) cpu.fault(UD);
  if (cpu.cr0 & CR0_TS) cpu.fault(NM);
  if (fswValue(cpu) & FSW_ES) cpu.fault(MF);
  cpu.fpuSw &= ~0x3800; // TOP = 0
  cpu.fpuTw = 0; // all valid
  return fpuState(cpu).st;
}
function getMm(st: Uint8Array, r: number, cpu: Cpu): number {
  const o = 10 * (r & 7);
  cpu.th = st[o + 4]! | (st[o + 5]! << 8) | (st[o + 6]! << 16) | (st[o + 7]! << 24);
  return st[o]! | (st[o + 1]! << 8) | (st[o + 2]! << 16) | (st[o + 3]! << 24);
}
function setMm(st: Uint8Array, r: number, lo: number, hi: number): void {
  const o = 10 * (r & 7);
  for (let k = 0; k < 4; k++) { st[o + k] = (lo >>> (8 * k)) & 0xff; st[o + 4 + k] = (hi >>> (8 * k)) & 0xff; }
  st[o + 8] = 0xff; st[o + 9] = 0xff;
}

/** MOVD/MOVQ mm, r/m32/64 (NP 0F 6E; REX.W: 64 bits); a doubleword is zero-extended. */
export function movdToMm(cpu: Cpu, i: Insn): void {
  const st = mmxCheck(cpu);
  const w = (i.rex & 8) !== 0;
  let lo: number, hi = 0;
  if (i.mod === 3) { lo = getReg(cpu, i.rm, w ? 8 : 4, i.rex); if (w) hi = cpu.th; }
  else { const a = i.ea(cpu, i); if (w) { lo = cpu.read64(a); hi = cpu.th; } else lo = cpu.read32(a); }
  setMm(st, i.reg, lo, hi);
}
/** MOVD/MOVQ r/m32/64, mm (NP 0F 7E); a 32-bit GPR destination is zero-extended. */
export function movdFromMm(cpu: Cpu, i: Insn): void {
  const st = mmxCheck(cpu);
  const w = (i.rex & 8) !== 0;
  const lo = getMm(st, i.reg, cpu), hi = cpu.th;
  writeE(cpu, i, w ? 8 : 4, lo, hi); // a 32-bit GPR destination zero-extends
}
/** MOVQ mm, mm/m64 (NP 0F 6F). */
export function movqToMm(cpu: Cpu, i: Insn): void {
  const st = mmxCheck(cpu);
  let lo: number, hi: number;
  if (i.mod === 3) { lo = getMm(st, i.rm, cpu); hi = cpu.th; } else { lo = cpu.read64(i.ea(cpu, i)); hi = cpu.th; }
  setMm(st, i.reg, lo, hi);
}
/** MOVQ mm/m64, mm (NP 0F 7F). */
export function movqFromMm(cpu: Cpu, i: Insn): void {
  const st = mmxCheck(cpu);
  const lo = getMm(st, i.reg, cpu), hi = cpu.th;
  if (i.mod === 3) setMm(st, i.rm, lo, hi); else cpu.write64(i.ea(cpu, i), lo, hi);
}
/** EMMS (NP 0F 77): every x87 tag empty (Vol. 2A EMMS). */
export function emms(cpu: Cpu): void {
  if (cpu.cr0 & CR0_EM) cpu.fault(UD);
  if (cpu.cr0 & CR0_TS) cpu.fault(NM);
  if (fswValue(cpu) & FSW_ES) cpu.fault(MF);
  cpu.fpuTw = 0xffff;
}
