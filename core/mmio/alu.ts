/**
 * Integer arithmetic and RFLAGS for the MMIO emulator, computed eagerly on
 * 32-bit halves (no BigInt). Results land in the exported `R` record.
 *
 * Flag rules, SDM Vol. 2A/2B, each instruction's "Flags Affected":
 *  - ADD, ADC, SUB, SBB, CMP, NEG, XADD, CMPXCHG: OF SF ZF AF CF PF per result
 *    (NEG: CF = 0 iff the source is 0).
 *  - AND, OR, XOR, TEST: OF = CF = 0; SF ZF PF per result; AF undefined
 *    (set to 0 here, as Intel processors do).
 *  - INC, DEC: as ADD/SUB 1 but CF unaffected.
 *  - NOT: no flags.  BT/BTS/BTR/BTC: CF = selected bit; ZF unaffected;
 *    OF SF AF PF undefined (left unchanged here).
 * RFLAGS bit positions: Vol. 1, 3.4.3, Figure 3-8.
 */
import { ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_CMP } from './table.js';

export const F_CF = 0x1, F_PF = 0x4, F_AF = 0x10, F_ZF = 0x40, F_SF = 0x80, F_TF = 0x100, F_DF = 0x400, F_OF = 0x800;
export const F_RF = 0x10000;
export const F_STATUS = F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF;

/** Result of the last operation: value halves (int32; hi = 0 below 8 bytes) and the new RFLAGS. */
export const R = { lo: 0, hi: 0, flags: 0 };

/** PF: 1 when the low byte of the result has an even number of 1 bits. */
const PARITY = (() => {
  const t = new Uint8Array(256);
  for (let v = 0; v < 256; v++) {
    let n = 0;
    for (let b = v; b; b >>= 1) n += b & 1;
    t[v] = n & 1 ? 0 : F_PF;
  }
  return t;
})();

const MASK = [0, 0xff, 0xffff, 0, 0xffffffff] as const;

/** Flags SF ZF PF of a result (halves), for `size` bytes. */
function szp(lo: number, hi: number, size: number): number {
  let f = PARITY[lo & 0xff]!;
  if (size === 8) {
    if ((lo | hi) === 0) f |= F_ZF;
    if (hi < 0) f |= F_SF;
  } else {
    if (lo === 0) f |= F_ZF;
    if (lo & (1 << (size * 8 - 1))) f |= F_SF;
  }
  return f;
}

/**
 * a + b + c (c = 0/1) or a - b - c, for `size` bytes, with the six status flags.
 * Sets R.lo/R.hi and returns the status-flag bits.
 */
function addsub(size: number, alo: number, ahi: number, blo: number, bhi: number, c: number, sub: boolean): number {
  let f = 0;
  if (size === 8) {
    const A = alo >>> 0, B = blo >>> 0;
    let lo: number, hi: number;
    if (sub) {
      lo = A - B - c;
      const borrow = lo < 0 ? 1 : 0;
      hi = (ahi >>> 0) - (bhi >>> 0) - borrow;
      if (hi < 0) f |= F_CF;
    } else {
      lo = A + B + c;
      const carry = lo > 0xffffffff ? 1 : 0;
      hi = (ahi >>> 0) + (bhi >>> 0) + carry;
      if (hi > 0xffffffff) f |= F_CF;
    }
    const rlo = lo | 0, rhi = hi | 0;
    if (sub ? ((ahi ^ bhi) & (ahi ^ rhi)) < 0 : ((ahi ^ rhi) & (bhi ^ rhi)) < 0) f |= F_OF;
    f |= (alo ^ blo ^ rlo) & F_AF;
    R.lo = rlo; R.hi = rhi;
    return f | szp(rlo, rhi, 8);
  }
  const mask = MASK[size]!;
  const sign = 1 << (size * 8 - 1);
  const A = (alo & mask) >>> 0, B = (blo & mask) >>> 0;
  let r: number;
  if (sub) {
    const d = A - B - c;
    if (d < 0) f |= F_CF;
    r = (d & mask) >>> 0;
    if ((A ^ B) & (A ^ r) & sign) f |= F_OF;
  } else {
    const s = A + B + c;
    if (s > mask) f |= F_CF;
    r = (s & mask) >>> 0;
    if ((A ^ r) & (B ^ r) & sign) f |= F_OF;
  }
  f |= (A ^ B ^ r) & F_AF;
  R.lo = r | 0; R.hi = 0;
  return f | szp(r | 0, 0, size);
}

/** Mask a value to `size` bytes into R (hi = 0 below 8). */
export function truncate(size: number, lo: number, hi: number): void {
  if (size === 8) { R.lo = lo | 0; R.hi = hi | 0; return; }
  R.lo = (lo & MASK[size]!) | 0; R.hi = 0;
}

/**
 * One of the eight group-1 operations (ALU_* kinds): R = a op b, R.flags =
 * `flags` with the status flags replaced.
 */
export function alu(kind: number, size: number, alo: number, ahi: number, blo: number, bhi: number, flags: number): void {
  const keep = flags & ~F_STATUS;
  let f: number;
  switch (kind) {
    case ALU_ADD: f = addsub(size, alo, ahi, blo, bhi, 0, false); break;
    case ALU_ADC: f = addsub(size, alo, ahi, blo, bhi, flags & F_CF, false); break;
    case ALU_SUB: case ALU_CMP: f = addsub(size, alo, ahi, blo, bhi, 0, true); break;
    case ALU_SBB: f = addsub(size, alo, ahi, blo, bhi, flags & F_CF, true); break;
    default: {
      const lo = kind === ALU_AND ? alo & blo : kind === ALU_OR ? alo | blo : alo ^ blo;
      const hi = kind === ALU_AND ? ahi & bhi : kind === ALU_OR ? ahi | bhi : ahi ^ bhi;
      truncate(size, lo, hi);
      f = szp(R.lo, R.hi, size);
    }
  }
  R.flags = keep | f;
}

/** INC (dec = false) or DEC: CF is preserved. */
export function incdec(size: number, lo: number, hi: number, dec: boolean, flags: number): void {
  const f = addsub(size, lo, hi, 1, 0, 0, dec);
  R.flags = (flags & ~(F_STATUS & ~F_CF)) | (f & ~F_CF);
}

/** NEG: 0 - a (CF = a != 0, which the subtraction's borrow gives). */
export function neg(size: number, lo: number, hi: number, flags: number): void {
  const f = addsub(size, 0, 0, lo, hi, 0, true);
  R.flags = (flags & ~F_STATUS) | f;
}

/** Sign-extend a `from`-byte value to 64 bits (halves in R). */
export function signExtend(from: number, lo: number): void {
  if (from === 1) { R.lo = (lo << 24) >> 24; R.hi = R.lo >> 31; }
  else if (from === 2) { R.lo = (lo << 16) >> 16; R.hi = R.lo >> 31; }
  else { R.lo = lo | 0; R.hi = R.lo >> 31; }
}
