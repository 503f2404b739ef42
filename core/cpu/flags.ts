/**
 * Lazy arithmetic flags (Intel SDM Vol. 1, 3.4.3.1 "Status Flags").
 *
 * The common flag producers (ADD, SUB, CMP, NEG, INC, DEC, AND, OR, XOR,
 * TEST) do not compute CF/PF/AF/ZF/SF/OF; they record the operation, the
 * operand size and the operands/result, and the flags are derived when an
 * instruction reads them (Jcc, SETcc, CMOVcc, ADC, PUSHF, an exit...).
 * Producers whose flags are irregular (shifts, rotates, multiply, BT...)
 * compute them eagerly and store them with `setArith`.
 *
 * 64-bit operations keep the high halves of the operands in the *H fields.
 */
import { CF, PF, AF, ZF, SF, OF, ARITH_FLAGS } from './regs.js';

/** Flag-producing operation kinds. */
export const LF_NONE = 0, LF_ADD = 1, LF_SUB = 2, LF_LOGIC = 3, LF_INC = 4, LF_DEC = 5;

/** The lazy-flag record, a slice of the CPU state. */
export interface LazyFlags {
  lop: number;
  /** Operand size in bytes: 1, 2, 4 or 8. */
  lsz: number;
  lres: number; ldst: number; lsrc: number;
  lresH: number; ldstH: number; lsrcH: number;
  /** CF carried through INC/DEC, which leave it unchanged. */
  lcf: number;
  /** Materialized status flags, valid when lop === LF_NONE. */
  farith: number;
}

/** PF of a result, by its low byte. */
export const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let b = i, p = 1;
  while (b) { p ^= b & 1; b >>>= 1; }
  PARITY[i] = p ? PF : 0;
}

function signBit(sz: number): number {
  return sz === 1 ? 0x80 : sz === 2 ? 0x8000 : 0x80000000 | 0;
}

export function getCF(f: LazyFlags): boolean {
  switch (f.lop) {
    case LF_NONE: return (f.farith & CF) !== 0;
    case LF_ADD:
      if (f.lsz === 8) {
        const rh = f.lresH >>> 0, dh = f.ldstH >>> 0;
        return rh < dh || (rh === dh && (f.lres >>> 0) < (f.ldst >>> 0));
      }
      return (f.lres >>> 0) < (f.ldst >>> 0);
    case LF_SUB:
      if (f.lsz === 8) {
        const dh = f.ldstH >>> 0, sh = f.lsrcH >>> 0;
        return dh < sh || (dh === sh && (f.ldst >>> 0) < (f.lsrc >>> 0));
      }
      return (f.ldst >>> 0) < (f.lsrc >>> 0);
    case LF_LOGIC: return false;
    default: return f.lcf !== 0; // INC, DEC
  }
}

export function getZF(f: LazyFlags): boolean {
  if (f.lop === LF_NONE) return (f.farith & ZF) !== 0;
  return f.lsz === 8 ? (f.lres | f.lresH) === 0 : f.lres === 0;
}

export function getSF(f: LazyFlags): boolean {
  if (f.lop === LF_NONE) return (f.farith & SF) !== 0;
  return f.lsz === 8 ? f.lresH < 0 : (f.lres & signBit(f.lsz)) !== 0;
}

export function getOF(f: LazyFlags): boolean {
  switch (f.lop) {
    case LF_NONE: return (f.farith & OF) !== 0;
    case LF_LOGIC: return false;
    case LF_ADD: case LF_INC:
      if (f.lsz === 8) return ((f.ldstH ^ f.lresH) & (f.lsrcH ^ f.lresH)) < 0;
      return (((f.ldst ^ f.lres) & (f.lsrc ^ f.lres)) & signBit(f.lsz)) !== 0;
    default: // SUB, DEC
      if (f.lsz === 8) return ((f.ldstH ^ f.lsrcH) & (f.ldstH ^ f.lresH)) < 0;
      return (((f.ldst ^ f.lsrc) & (f.ldst ^ f.lres)) & signBit(f.lsz)) !== 0;
  }
}

export function getPF(f: LazyFlags): boolean {
  if (f.lop === LF_NONE) return (f.farith & PF) !== 0;
  return PARITY[f.lres & 0xff] !== 0;
}

export function getAF(f: LazyFlags): boolean {
  if (f.lop === LF_NONE) return (f.farith & AF) !== 0;
  if (f.lop === LF_LOGIC) return false; // undefined for logic ops; we clear it
  return ((f.lres ^ f.ldst ^ f.lsrc) & 0x10) !== 0;
}

/** The six status flags as RFLAGS bits. */
export function getArith(f: LazyFlags): number {
  if (f.lop === LF_NONE) return f.farith;
  return (getCF(f) ? CF : 0) | (getPF(f) ? PF : 0) | (getAF(f) ? AF : 0) |
    (getZF(f) ? ZF : 0) | (getSF(f) ? SF : 0) | (getOF(f) ? OF : 0);
}

/** Store materialized status flags (other bits ignored). */
export function setArith(f: LazyFlags, v: number): void {
  f.farith = v & ARITH_FLAGS;
  f.lop = LF_NONE;
}

/** ZF/SF/PF of a result of size sz (low half r, high half rh for sz=8). */
export function szpOf(sz: number, r: number, rh: number): number {
  let v = PARITY[r & 0xff]!;
  if (sz === 8) {
    if ((r | rh) === 0) v |= ZF;
    if (rh < 0) v |= SF;
  } else {
    if (r === 0) v |= ZF;
    if (r & signBit(sz)) v |= SF;
  }
  return v;
}

/**
 * Condition codes of Jcc/SETcc/CMOVcc (Vol. 1, Appendix B, Table B-1),
 * indexed by the low nibble of the opcode.
 */
export function testCC(f: LazyFlags, cc: number): boolean {
  let r: boolean;
  switch (cc >> 1) {
    case 0: r = getOF(f); break;                       // O / NO
    case 1: r = getCF(f); break;                       // B / AE
    case 2: r = getZF(f); break;                       // E / NE
    case 3: r = getCF(f) || getZF(f); break;           // BE / A
    case 4: r = getSF(f); break;                       // S / NS
    case 5: r = getPF(f); break;                       // P / NP
    case 6: r = getSF(f) !== getOF(f); break;          // L / GE
    default: r = getZF(f) || getSF(f) !== getOF(f);    // LE / G
  }
  return (cc & 1) ? !r : r;
}
