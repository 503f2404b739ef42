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

/** SF ZF PF of a `size`-byte result (halves). */
export function szpFlags(lo: number, hi: number, size: number): number { return szp(lo, hi, size); }

// ---- multiply and divide on 32-bit words (Vol. 2A MUL, IMUL, DIV, IDIV) ----

/** Product words (little-endian uint32 values) of the last multiply(). */
export const W = new Float64Array(4);
/** Dividend (in), quotient and remainder (out) words of divide128(), little-endian uint32 values. */
export const N = new Float64Array(4);
export const Q = new Float64Array(4);
export const REM = new Float64Array(4);

/** Two's complement negation of a 4-word little-endian number in place. */
export function neg128(x: Float64Array): void {
  let c = 1;
  for (let k = 0; k < 4; k++) { const t = ((~x[k]!) >>> 0) + c; x[k] = t % TWO32; c = t >= TWO32 ? 1 : 0; }
}
const TWO32 = 4294967296;

/** a * b of unsigned 32-bit values as [lo, hi] words (16-bit partial products: exact in doubles). */
function mul32(a: number, b: number, out: Float64Array, at: number): void {
  const al = a & 0xffff, ah = a >>> 16, bl = b & 0xffff, bh = b >>> 16;
  const lo = al * bl, mid = al * bh + ah * bl, hi = ah * bh; // mid < 2^33
  const low = lo + (mid % 65536) * 65536; // < 2^49
  out[at] = low % TWO32;
  out[at + 1] = hi + Math.floor(mid / 65536) + Math.floor(low / TWO32);
}
const P = new Float64Array(2);

/**
 * Full product of two `size`-byte operands, signed or not, into W (128 bits,
 * two's complement). Returns whether the upper half is significant (CF = OF
 * for MUL and IMUL: the result does not fit the destination's size).
 */
export function multiply(size: number, alo: number, ahi: number, blo: number, bhi: number, signed: boolean): boolean {
  // Extend both operands to 64 bits.
  const ext = (lo: number, hi: number): [number, number] => {
    if (size === 8) return [lo >>> 0, hi >>> 0];
    const bits = size * 8;
    let v = size === 4 ? lo | 0 : bits === 16 ? (signed ? (lo << 16) >> 16 : lo & 0xffff) : (signed ? (lo << 24) >> 24 : lo & 0xff);
    if (size === 4 && !signed) return [lo >>> 0, 0];
    v |= 0;
    return [v >>> 0, v < 0 ? 0xffffffff : 0];
  };
  let [a0, a1] = ext(alo, ahi);
  let [b0, b1] = ext(blo, bhi);
  let negate = false;
  if (signed) {
    if (a1 >= 0x80000000) { negate = !negate; const t = ((~a0) >>> 0) + 1; a0 = t % TWO32; a1 = (((~a1) >>> 0) + (t >= TWO32 ? 1 : 0)) % TWO32; }
    if (b1 >= 0x80000000) { negate = !negate; const t = ((~b0) >>> 0) + 1; b0 = t % TWO32; b1 = (((~b1) >>> 0) + (t >= TWO32 ? 1 : 0)) % TWO32; }
  }
  // schoolbook on 32-bit words
  W.fill(0);
  const A = [a0, a1], B = [b0, b1];
  for (let i = 0; i < 2; i++) {
    for (let j = 0; j < 2; j++) {
      mul32(A[i]!, B[j]!, P, 0);
      let k = i + j, carry = P[0]!;
      let s = W[k]! + carry; W[k] = s % TWO32; carry = Math.floor(s / TWO32) + P[1]!;
      for (k++; k < 4 && carry > 0; k++) { s = W[k]! + carry; W[k] = s % TWO32; carry = Math.floor(s / TWO32); }
    }
  }
  if (negate) neg128(W);
  // significant upper half: the product differs from the (sign/zero) extension of its low `size` bytes
  const bits = size * 8;
  if (bits === 64) {
    const sx = signed && W[1]! >= 0x80000000 ? 0xffffffff : 0;
    return W[2] !== sx || W[3] !== sx;
  }
  if (bits === 32) {
    const sx = signed && W[0]! >= 0x80000000 ? 0xffffffff : 0;
    return W[1] !== sx || W[2] !== sx || W[3] !== sx;
  }
  const v = W[0]! | 0;
  const low = signed ? (v << (32 - bits)) >> (32 - bits) : v & ((1 << bits) - 1);
  const sx = signed && low < 0 ? 0xffffffff : 0;
  return low !== v || W[1] !== sx || W[2] !== sx || W[3] !== sx;
}

/**
 * RFLAGS after MUL/IMUL: CF = OF = `over`; SF ZF AF PF are undefined — as
 * core/cpu does, SF and PF from the low half of the product, ZF = AF = 0.
 */
export function mulFlags(flags: number, size: number, over: boolean): number {
  const lo = W[0]! | 0, hi = size === 8 ? W[1]! | 0 : 0;
  const r = size === 8 ? lo : size === 4 ? lo : lo & (size === 2 ? 0xffff : 0xff);
  return (flags & ~F_STATUS) | (szp(r, hi, size) & ~F_ZF) | (over ? F_CF | F_OF : 0);
}

/** Unsigned N / (dhi:dlo), 128 by 64 bits, restoring division bit by bit: quotient in Q, remainder in REM. */
export function divide128(n: Float64Array, dlo: number, dhi: number): void {
  Q.fill(0); REM.fill(0);
  const d = dhi * TWO32 + dlo; // compared word-wise below (doubles are not exact beyond 2^53)
  void d;
  let r0 = 0, r1 = 0, r2 = 0; // remainder, up to 65 bits
  for (let bit = 127; bit >= 0; bit--) {
    const w = bit >>> 5, b = bit & 31;
    const inBit = Math.floor(n[w]! / 2 ** b) % 2;
    // r = r * 2 + inBit
    r2 = r2 * 2 + Math.floor(r1 / 0x80000000);
    r1 = (r1 % 0x80000000) * 2 + Math.floor(r0 / 0x80000000);
    r0 = (r0 % 0x80000000) * 2 + inBit;
    // r >= d ?
    if (r2 > 0 || r1 > dhi || (r1 === dhi && r0 >= dlo)) {
      let s0 = r0 - dlo, borrow = 0;
      if (s0 < 0) { s0 += TWO32; borrow = 1; }
      let s1 = r1 - dhi - borrow;
      if (s1 < 0) { s1 += TWO32; r2 -= 1; }
      r0 = s0; r1 = s1;
      Q[w] = Q[w]! + 2 ** b;
    }
  }
  REM[0] = r0; REM[1] = r1;
}

/** 64-bit funnel helpers on halves: results in FUN[0] (lo), FUN[1] (hi). */
export const FUN = new Int32Array(2);
export function shl64(l: number, h: number, c: number): void {
  if (c === 0) { FUN[0] = l; FUN[1] = h; } else if (c < 32) { FUN[1] = (h << c) | (l >>> (32 - c)); FUN[0] = l << c; } else if (c < 64) { FUN[1] = l << (c - 32); FUN[0] = 0; } else { FUN[0] = 0; FUN[1] = 0; }
}
export function shr64(l: number, h: number, c: number): void {
  if (c === 0) { FUN[0] = l; FUN[1] = h; } else if (c < 32) { FUN[0] = (l >>> c) | (h << (32 - c)); FUN[1] = h >>> c; } else if (c < 64) { FUN[0] = h >>> (c - 32); FUN[1] = 0; } else { FUN[0] = 0; FUN[1] = 0; }
}

/** Condition code cc (0-F: O NO B AE E NE BE A S NS P NP L GE LE G; Vol. 1 Appendix B, Table B-1) on RFLAGS. */
export function condition(cc: number, f: number): boolean {
  let r: boolean;
  switch (cc >>> 1) {
    case 0: r = (f & F_OF) !== 0; break;
    case 1: r = (f & F_CF) !== 0; break;
    case 2: r = (f & F_ZF) !== 0; break;
    case 3: r = (f & (F_CF | F_ZF)) !== 0; break;
    case 4: r = (f & F_SF) !== 0; break;
    case 5: r = (f & F_PF) !== 0; break;
    case 6: r = ((f & F_SF) !== 0) !== ((f & F_OF) !== 0); break;
    default: r = (f & F_ZF) !== 0 || ((f & F_SF) !== 0) !== ((f & F_OF) !== 0);
  }
  return cc & 1 ? !r : r;
}
