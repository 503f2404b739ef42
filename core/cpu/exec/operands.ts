/**
 * Operand access shared by the handlers. 64-bit values travel as (lo, hi):
 * readers return the low half and leave the high half in cpu.th.
 * Register writes follow Vol. 1, 3.4.1.1: 32-bit results zero-extend into
 * the full 64-bit register, 8- and 16-bit results leave the rest intact.
 */
import type { Cpu } from '../cpu.js';
import type { Insn } from '../insn.js';

/** Read register r of size sz; byte registers use AH..BH for 4-7 when there is no REX. */
export function getReg(cpu: Cpu, r: number, sz: number, rex: number): number {
  switch (sz) {
    case 1:
      if (r >= 4 && r < 8 && rex === 0) return (cpu.lo[r - 4]! >> 8) & 0xff;
      return cpu.lo[r]! & 0xff;
    case 2: return cpu.lo[r]! & 0xffff;
    case 4: return cpu.lo[r]!;
    default: cpu.th = cpu.hi[r]!; return cpu.lo[r]!;
  }
}

export function setReg(cpu: Cpu, r: number, sz: number, v: number, vh: number, rex: number): void {
  switch (sz) {
    case 1:
      if (r >= 4 && r < 8 && rex === 0) cpu.lo[r - 4] = (cpu.lo[r - 4]! & ~0xff00) | ((v & 0xff) << 8);
      else cpu.lo[r] = (cpu.lo[r]! & ~0xff) | (v & 0xff);
      return;
    case 2: cpu.lo[r] = (cpu.lo[r]! & ~0xffff) | (v & 0xffff); return;
    case 4: cpu.lo[r] = v; cpu.hi[r] = 0; return;
    default: cpu.lo[r] = v; cpu.hi[r] = vh;
  }
}

/** Read a value of size sz from linear address a. */
export function readMem(cpu: Cpu, a: number, sz: number): number {
  switch (sz) {
    case 1: return cpu.read8(a);
    case 2: return cpu.read16(a);
    case 4: return cpu.read32(a);
    default: return cpu.read64(a);
  }
}
export function writeMem(cpu: Cpu, a: number, sz: number, v: number, vh: number): void {
  switch (sz) {
    case 1: cpu.write8(a, v); return;
    case 2: cpu.write16(a, v); return;
    case 4: cpu.write32(a, v); return;
    default: cpu.write64(a, v, vh);
  }
}

/** Read the ModRM r/m operand. */
export function readE(cpu: Cpu, i: Insn, sz: number): number {
  if (i.mod === 3) return getReg(cpu, i.rm, sz, i.rex);
  return readMem(cpu, i.ea(cpu, i), sz);
}
export function writeE(cpu: Cpu, i: Insn, sz: number, v: number, vh: number): void {
  if (i.mod === 3) setReg(cpu, i.rm, sz, v, vh, i.rex);
  else writeMem(cpu, i.ea(cpu, i), sz, v, vh);
}
/** Read the ModRM reg operand. */
export function readG(cpu: Cpu, i: Insn, sz: number): number {
  return getReg(cpu, i.reg, sz, i.rex);
}
export function writeG(cpu: Cpu, i: Insn, sz: number, v: number, vh: number): void {
  setReg(cpu, i.reg, sz, v, vh, i.rex);
}

/** Mask a value to sz bytes (sz < 8); 32-bit values stay as int32. */
export function trunc(v: number, sz: number): number {
  return sz === 1 ? v & 0xff : sz === 2 ? v & 0xffff : v | 0;
}

/** The immediate as (lo, hi) of operand size sz: hi is the sign extension for 64-bit operands. */
export function immHi(i: Insn, sz: number): number {
  return sz === 8 ? i.imm >> 31 : 0;
}

/** Read the count register (CX/ECX/RCX by address size) as a double >= 0. */
export function getCount(cpu: Cpu, asz: number): number {
  if (asz === 2) return cpu.lo[1]! & 0xffff;
  if (asz === 4) return cpu.lo[1]! >>> 0;
  return (cpu.hi[1]! >>> 0) * 4294967296 + (cpu.lo[1]! >>> 0);
}
export function setCount(cpu: Cpu, asz: number, v: number): void {
  if (asz === 2) cpu.lo[1] = (cpu.lo[1]! & ~0xffff) | (v & 0xffff);
  else if (asz === 4) { cpu.lo[1] = v; cpu.hi[1] = 0; }
  else { cpu.lo[1] = v; cpu.hi[1] = Math.floor(v / 4294967296); }
}

/** Add `delta` to an index register (SI/DI) according to address size. */
export function addIndex(cpu: Cpu, r: number, asz: number, delta: number): void {
  if (asz === 2) cpu.lo[r] = (cpu.lo[r]! & ~0xffff) | ((cpu.lo[r]! + delta) & 0xffff);
  else if (asz === 4) { cpu.lo[r] = cpu.lo[r]! + delta; cpu.hi[r] = 0; }
  else {
    const s = (cpu.lo[r]! >>> 0) + delta;
    cpu.lo[r] = s;
    cpu.hi[r] = (cpu.hi[r]! + Math.floor(s / 4294967296)) | 0;
  }
}
