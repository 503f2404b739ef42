/**
 * Integer arithmetic and logic (SDM Vol. 2: ADD, OR, ADC, SBB, AND, SUB,
 * XOR, CMP, TEST, INC, DEC, NEG, NOT, MUL, IMUL, DIV, IDIV, shifts and
 * rotates, BT*, BSF/BSR, SETcc, CMOVcc, CBW..CQO, flag instructions).
 * Undefined flags follow what this machine computes; the table records
 * which ones the SDM leaves undefined so differential tests can mask them.
 */
import type { Cpu } from '../cpu.js';
import { markPure, markRegOnly, addSpecializer, addAddrForm, type Insn, type Handler } from '../insn.js';
import { LF_NONE, LF_ADD, LF_SUB, LF_LOGIC, LF_INC, LF_DEC, getCF, setArith, szpOf, testCC, getArith, type LazyFlags } from '../flags.js';
import { CF, PF, AF, ZF, SF, OF, DE, TWO32, RAX, RDX } from '../regs.js';
import { checkLinear, eaLow32 } from '../ea.js';
import { readE, writeE, readG, writeG, getReg, setReg, trunc, immHi, readMem, writeMem } from './operands.js';

export const ALU_ADD = 0, ALU_OR = 1, ALU_ADC = 2, ALU_SBB = 3, ALU_AND = 4, ALU_SUB = 5, ALU_XOR = 6, ALU_CMP = 7;

/**
 * Read the destination of a read-modify-write instruction: the access is
 * checked for writing first, so a fault reports W/R = 1 in the #PF error
 * code (SDM Vol. 3A, 4.7; RMW loads are performed with write intent, as
 * the host CPU shows) and nothing is read from a page that cannot be written.
 */
export function readRmw(cpu: Cpu, a: number, sz: number): number {
  // A split access faults on the first byte of the second page (CR2), as the host CPU reports;
  // one that wraps at 4 GiB through a flat segment is #GP/#SS first (Cpu.probeWrite).
  cpu.probeWrite(a, (a & 0xfff) + sz > 4096 ? sz : 1);
  return readMem(cpu, a, sz);
}

function signBit(sz: number): number { return sz === 1 ? 0x80 : sz === 2 ? 0x8000 : 0x80000000 | 0; }

function lazy(cpu: Cpu, op: number, sz: number, r: number, d: number, s: number, rh: number, dh: number, sh: number): void {
  cpu.lop = op; cpu.lsz = sz; cpu.lres = r; cpu.ldst = d; cpu.lsrc = s;
  cpu.lresH = rh; cpu.ldstH = dh; cpu.lsrcH = sh;
}

/** d op s for operand size sz; returns the low half of the result, high half in cpu.th. */
export function alu(cpu: Cpu, op: number, sz: number, d: number, dh: number, s: number, sh: number): number {
  let r: number, rh = 0;
  if (sz !== 8) { d = trunc(d, sz); s = trunc(s, sz); dh = 0; sh = 0; }
  switch (op) {
    case ALU_ADD: {
      if (sz === 8) { const t = (d >>> 0) + (s >>> 0); r = t | 0; rh = (dh + sh + (t >= TWO32 ? 1 : 0)) | 0; }
      else r = trunc(d + s, sz);
      lazy(cpu, LF_ADD, sz, r, d, s, rh, dh, sh);
      break;
    }
    case ALU_SUB: case ALU_CMP: {
      if (sz === 8) { const t = (d >>> 0) - (s >>> 0); r = t | 0; rh = (dh - sh - (t < 0 ? 1 : 0)) | 0; }
      else r = trunc(d - s, sz);
      lazy(cpu, LF_SUB, sz, r, d, s, rh, dh, sh);
      if (op === ALU_CMP) { cpu.th = dh; return d; }
      break;
    }
    case ALU_AND: r = d & s; rh = dh & sh; lazy(cpu, LF_LOGIC, sz, r, d, s, rh, dh, sh); break;
    case ALU_OR: r = d | s; rh = dh | sh; lazy(cpu, LF_LOGIC, sz, r, d, s, rh, dh, sh); break;
    case ALU_XOR: r = d ^ s; rh = dh ^ sh; lazy(cpu, LF_LOGIC, sz, r, d, s, rh, dh, sh); break;
    case ALU_ADC: {
      const c = getCF(cpu) ? 1 : 0;
      let cf: boolean;
      if (sz === 8) {
        const t = (d >>> 0) + (s >>> 0) + c; r = t | 0;
        const th = (dh >>> 0) + (sh >>> 0) + (t >= TWO32 ? 1 : 0); rh = th | 0; cf = th >= TWO32;
      } else {
        const t = (d >>> 0) + (s >>> 0) + c; r = trunc(t, sz);
        cf = sz === 4 ? t >= TWO32 : t > (sz === 1 ? 0xff : 0xffff);
      }
      eager(cpu, sz, r, rh, d, s, dh, sh, cf, true);
      break;
    }
    default: { // SBB
      const c = getCF(cpu) ? 1 : 0;
      let cf: boolean;
      if (sz === 8) {
        const t = (d >>> 0) - (s >>> 0) - c; r = t | 0;
        const th = (dh >>> 0) - (sh >>> 0) - (t < 0 ? 1 : 0); rh = th | 0; cf = th < 0;
      } else {
        const t = (d >>> 0) - (s >>> 0) - c; r = trunc(t, sz); cf = t < 0;
      }
      eager(cpu, sz, r, rh, d, s, dh, sh, cf, false);
    }
  }
  cpu.th = rh;
  return r;
}

function eager(cpu: Cpu, sz: number, r: number, rh: number, d: number, s: number, dh: number, sh: number, cf: boolean, add: boolean): void {
  setArith(cpu, eagerFlags(sz, r, rh, d, s, dh, sh, cf, add));
}
/** The status flags of an ADC/SBB (add: ADC) result, as RFLAGS bits (also used by compiled blocks, jit.ts). */
export function eagerFlags(sz: number, r: number, rh: number, d: number, s: number, dh: number, sh: number, cf: boolean, add: boolean): number {
  let of: boolean;
  if (sz === 8) of = add ? ((dh ^ rh) & (sh ^ rh)) < 0 : ((dh ^ sh) & (dh ^ rh)) < 0;
  else of = add ? (((d ^ r) & (s ^ r)) & signBit(sz)) !== 0 : (((d ^ s) & (d ^ r)) & signBit(sz)) !== 0;
  return szpOf(sz, r, rh) | (cf ? CF : 0) | (of ? OF : 0) | ((d ^ s ^ r) & AF);
}

// ---- two-operand forms -------------------------------------------------

/** dest(r/m) := dest op (s, sh); CMP only sets flags. The memory form reads for write (#PF W bit) unless CMP. */
function aluToE(cpu: Cpu, i: Insn, s: number, sh: number): void {
  const sz = i.osz;
  if (i.mod === 3) {
    const d = getReg(cpu, i.rm, sz, i.rex), dh = cpu.th;
    const r = alu(cpu, i.arg, sz, d, dh, s, sh);
    if (i.arg !== ALU_CMP) setReg(cpu, i.rm, sz, r, cpu.th, i.rex);
  } else {
    const a = i.ea(cpu, i);
    const d = i.arg !== ALU_CMP ? readRmw(cpu, a, sz) : readMem(cpu, a, sz), dh = cpu.th;
    const r = alu(cpu, i.arg, sz, d, dh, s, sh);
    if (i.arg !== ALU_CMP) writeMem(cpu, a, sz, r, cpu.th);
  }
}

/** op Eb/Ev, Gb/Gv (direction r/m <- reg). arg = ALU op. */
export function aluEG(cpu: Cpu, i: Insn): void {
  const s = readG(cpu, i, i.osz);
  aluToE(cpu, i, s, cpu.th);
}
/** op Gb/Gv, Eb/Ev (direction reg <- r/m). */
export function aluGE(cpu: Cpu, i: Insn): void {
  const sz = i.osz;
  const s = readE(cpu, i, sz), sh = cpu.th;
  const d = readG(cpu, i, sz), dh = cpu.th;
  const r = alu(cpu, i.arg, sz, d, dh, s, sh);
  if (i.arg !== ALU_CMP) writeG(cpu, i, sz, r, cpu.th);
}
/** op AL/eAX, imm. */
export function aluAI(cpu: Cpu, i: Insn): void {
  const sz = i.osz;
  const d = getReg(cpu, RAX, sz, 1), dh = cpu.th;
  const r = alu(cpu, i.arg, sz, d, dh, i.imm, immHi(i, sz));
  if (i.arg !== ALU_CMP) setReg(cpu, RAX, sz, r, cpu.th, 1);
}
/** Group 1: op Eb/Ev, imm (80, 81, 83). */
export function aluEI(cpu: Cpu, i: Insn): void {
  aluToE(cpu, i, i.imm, immHi(i, i.osz));
}

/** TEST Eb/Ev, Gb/Gv. */
export function testEG(cpu: Cpu, i: Insn): void {
  const sz = i.osz;
  const s = readG(cpu, i, sz), sh = cpu.th;
  const d = readE(cpu, i, sz), dh = cpu.th;
  alu(cpu, ALU_AND, sz, d, dh, s, sh);
}
/** TEST AL/eAX, imm and TEST Eb/Ev, imm (F6/F7 /0). */
export function testAI(cpu: Cpu, i: Insn): void {
  const d = getReg(cpu, RAX, i.osz, 1), dh = cpu.th;
  alu(cpu, ALU_AND, i.osz, d, dh, i.imm, immHi(i, i.osz));
}
export function testEI(cpu: Cpu, i: Insn): void {
  const d = readE(cpu, i, i.osz), dh = cpu.th;
  alu(cpu, ALU_AND, i.osz, d, dh, i.imm, immHi(i, i.osz));
}

// ---- one-operand forms -------------------------------------------------

function rmw(cpu: Cpu, i: Insn, f: (cpu: Cpu, sz: number, v: number, vh: number) => number): void {
  const sz = i.osz;
  if (i.mod === 3) {
    const v = getReg(cpu, i.rm, sz, i.rex), vh = cpu.th;
    const r = f(cpu, sz, v, vh);
    setReg(cpu, i.rm, sz, r, cpu.th, i.rex);
  } else {
    const a = i.ea(cpu, i);
    const v = readRmw(cpu, a, sz), vh = cpu.th;
    const r = f(cpu, sz, v, vh);
    writeMem(cpu, a, sz, r, cpu.th);
  }
}

function incdec(cpu: Cpu, sz: number, v: number, vh: number, dec: boolean): number {
  const cf = getCF(cpu) ? 1 : 0;
  const r = alu(cpu, dec ? ALU_SUB : ALU_ADD, sz, v, vh, 1, 0);
  cpu.lop = dec ? LF_DEC : LF_INC;
  cpu.lcf = cf;
  return r;
}
const incF = (cpu: Cpu, sz: number, v: number, vh: number): number => incdec(cpu, sz, v, vh, false);
const decF = (cpu: Cpu, sz: number, v: number, vh: number): number => incdec(cpu, sz, v, vh, true);
const negF = (cpu: Cpu, sz: number, v: number, vh: number): number => alu(cpu, ALU_SUB, sz, 0, 0, v, vh);
const notF = (cpu: Cpu, sz: number, v: number, vh: number): number => { cpu.th = ~vh; return trunc(~v, sz); };

export function incE(cpu: Cpu, i: Insn): void { rmw(cpu, i, incF); }
export function decE(cpu: Cpu, i: Insn): void { rmw(cpu, i, decF); }
export function negE(cpu: Cpu, i: Insn): void { rmw(cpu, i, negF); }
export function notE(cpu: Cpu, i: Insn): void { rmw(cpu, i, notF); }
/** INC/DEC r16/r32 (40+r / 48+r, outside 64-bit mode). */
export function incR(cpu: Cpu, i: Insn): void {
  const r = i.op & 7;
  setReg(cpu, r, i.osz, incdec(cpu, i.osz, getReg(cpu, r, i.osz, 1), 0, (i.op & 8) !== 0), 0, 1);
}

// ---- multiply and divide (Vol. 2A: MUL, IMUL, DIV, IDIV) --------------

/**
 * 32x32 -> 64 unsigned multiply: returns the low word, the high word in
 * mulHi. Math.imul gives the low word exactly; the double product is within
 * 2^11 of the exact one (53-bit significand, product < 2^64), and so is
 * (product - low), so dividing by 2^32 lands within 2^-20 of the exact high
 * word: rounding recovers it.
 */
function mulu32(a: number, b: number): number {
  const lo = Math.imul(a, b);
  mulHi = Math.round(((a >>> 0) * (b >>> 0) - (lo >>> 0)) / TWO32) | 0;
  return lo;
}
let mulHi = 0;
/** The double-width product of mulFull, as little-endian 32-bit words. */
const w = new Int32Array(4);

/** 64x64 -> 128 unsigned multiply: result words in w[0..3] (little-endian 32-bit words). */
function mulu64(al: number, ah: number, bl: number, bh: number): void {
  // Both factors below 2^32 (the common case: 32-bit values zero-extended): one partial product.
  if ((ah | bh) === 0) { w[0] = mulu32(al, bl); w[1] = mulHi; w[2] = 0; w[3] = 0; return; }
  const l0 = mulu32(al, bl) >>> 0, h0 = mulHi >>> 0;
  const l1 = mulu32(al, bh) >>> 0, h1 = mulHi >>> 0;
  const l2 = mulu32(ah, bl) >>> 0, h2 = mulHi >>> 0;
  const l3 = mulu32(ah, bh) >>> 0, h3 = mulHi >>> 0;
  const s1 = h0 + l1 + l2; // < 2^34: exact
  const s2 = h1 + h2 + l3 + Math.floor(s1 / TWO32);
  w[0] = l0; w[1] = s1; w[2] = s2; w[3] = h3 + Math.floor(s2 / TWO32);
}
function neg128(): void {
  let c = 1;
  for (let k = 0; k < 4; k++) { const t = ((~w[k]!) >>> 0) + c; w[k] = t; c = t >= TWO32 ? 1 : 0; }
}

/** Signed or unsigned full multiply of size sz; returns [lo, hi] halves via w and sets CF=OF. */
function mulFull(cpu: LazyFlags, sz: number, a: number, ah: number, b: number, bh: number, signed: boolean): void {
  // Fills w[] with the double-width product (as 32-bit words) and the flags (Vol. 2A MUL/IMUL: CF=OF set when the upper half is significant).
  let over: boolean;
  if (sz <= 2) {
    const bits = sz * 8;
    const av = signed ? (a << (32 - bits)) >> (32 - bits) : a & ((1 << bits) - 1);
    const bv = signed ? (b << (32 - bits)) >> (32 - bits) : b & ((1 << bits) - 1);
    const p = av * bv; // exact: |p| < 2^31
    w[0] = p; w[1] = p < 0 ? -1 : 0; w[2] = w[1]!; w[3] = w[1]!;
    const lowSigned = (p << (32 - bits)) >> (32 - bits);
    over = signed ? lowSigned !== p : (p >>> bits) !== 0;
  } else if (sz === 4) {
    const neg = signed && ((a < 0) !== (b < 0));
    const ua = signed && a < 0 ? -a >>> 0 : a >>> 0, ub = signed && b < 0 ? -b >>> 0 : b >>> 0;
    w[0] = mulu32(ua, ub); w[1] = mulHi; w[2] = 0; w[3] = 0;
    if (neg) neg128();
    over = signed ? w[1] !== (w[0]! >> 31) : w[1] !== 0;
  } else {
    let neg = false;
    let xa = a, xah = ah, xb = b, xbh = bh;
    if (signed) {
      if (ah < 0) { neg = !neg; xa = (~a + 1) | 0; xah = (~ah + (xa === 0 ? 1 : 0)) | 0; }
      if (bh < 0) { neg = !neg; xb = (~b + 1) | 0; xbh = (~bh + (xb === 0 ? 1 : 0)) | 0; }
    }
    mulu64(xa, xah, xb, xbh);
    if (neg) neg128();
    over = signed ? !(w[2] === (w[1]! >> 31) && w[3] === (w[1]! >> 31)) : (w[2]! | w[3]!) !== 0;
  }
  // SF, ZF, AF, PF are undefined after MUL/IMUL; this machine derives SF/ZF/PF from the low half, AF = 0.
  setArith(cpu, szpOf(sz, trunc(w[0]!, sz === 8 ? 4 : sz), sz === 8 ? w[1]! : 0) & ~ZF | (over ? CF | OF : 0));
}

/** F6/F7 /4 MUL and /5 IMUL (one-operand forms): rDX:rAX = rAX * r/m. */
export function mulE(cpu: Cpu, i: Insn): void {
  const sz = i.osz;
  const b = readE(cpu, i, sz), bh = cpu.th;
  const a = getReg(cpu, RAX, sz, 1), ah = cpu.th;
  mulFull(cpu, sz, a, ah, b, bh, i.arg === 1);
  if (sz === 1) setReg(cpu, RAX, 2, w[0]!, 0, 1);
  else if (sz === 2) { setReg(cpu, RAX, 2, w[0]!, 0, 1); setReg(cpu, RDX, 2, w[0]! >>> 16, 0, 1); }
  else if (sz === 4) { setReg(cpu, RAX, 4, w[0]!, 0, 1); setReg(cpu, RDX, 4, w[1]!, 0, 1); }
  else { setReg(cpu, RAX, 8, w[0]!, w[1]!, 1); setReg(cpu, RDX, 8, w[2]!, w[3]!, 1); }
}
/** IMUL Gv, Ev (0F AF) and IMUL Gv, Ev, imm (69, 6B). */
export function imulGE(cpu: Cpu, i: Insn): void {
  const sz = i.osz;
  const a = readE(cpu, i, sz), ah = cpu.th;
  let b: number, bh: number;
  if (i.op === 0x1af) { b = readG(cpu, i, sz); bh = cpu.th; } else { b = i.imm; bh = i.imm >> 31; }
  mulFull(cpu, sz, a, ah, b, bh, true);
  writeG(cpu, i, sz, sz === 2 ? w[0]! & 0xffff : w[0]!, w[1]!);
}

/**
 * IMUL r64, r64 (0F AF) and IMUL r64, r64, imm (69, 6B), specialized: the
 * low 64 bits of the signed product, CF = OF = whether it differs from the
 * full product (Vol. 2A IMUL), SF/ZF/PF as mulFull derives them. Factors
 * that are sign-extended 32-bit values multiply exactly as below (|p| <
 * 2^62, so the rounded double is within 2^9 and rounding recovers the high
 * word) and never overflow; zero-extended 32-bit factors take one 32x32
 * product; anything else goes through mulFull.
 */
function imul64(cpu: Cpu, r: number, a: number, ah: number, b: number, bh: number): void {
  if (ah === (a >> 31) && bh === (b >> 31)) {
    const lo = Math.imul(a, b);
    const hi = Math.round((a * b - (lo >>> 0)) / TWO32) | 0;
    cpu.lo[r] = lo; cpu.hi[r] = hi;
    setArith(cpu, szpOf(8, lo, hi) & ~ZF);
    return;
  }
  if ((ah | bh) === 0) {
    // Both factors in [0, 2^32): the product is below 2^64 and non-negative, so it fits the signed
    // 64-bit result exactly when it is below 2^63 (high word's bit 31 clear).
    const lo = mulu32(a, b), hi = mulHi;
    cpu.lo[r] = lo; cpu.hi[r] = hi;
    setArith(cpu, szpOf(8, lo, hi) & ~ZF | (hi < 0 ? CF | OF : 0));
    return;
  }
  mulFull(cpu, 8, a, ah, b, bh, true);
  cpu.lo[r] = w[0]!; cpu.hi[r] = w[1]!;
}
/**
 * The general 64-bit IMUL of imul64 as a value, for compiled blocks (jit.ts):
 * returns the low half; the high half and the status flags are left in MUL_OUT[0] and [1].
 */
export const MUL_OUT = new Int32Array(2);
const mulFlags: LazyFlags = { lop: 0, lsz: 8, lres: 0, ldst: 0, lsrc: 0, lresH: 0, ldstH: 0, lsrcH: 0, lcf: 0, farith: 0 };
export function imul64Full(a: number, ah: number, b: number, bh: number): number {
  mulFull(mulFlags, 8, a, ah, b, bh, true);
  MUL_OUT[0] = w[1]!; MUL_OUT[1] = mulFlags.farith;
  return w[0]!;
}
export function imul64RR(cpu: Cpu, i: Insn): void {
  imul64(cpu, i.r0, cpu.lo[i.r1]!, cpu.hi[i.r1]!, cpu.lo[i.r0]!, cpu.hi[i.r0]!);
}
export function imul64RRI(cpu: Cpu, i: Insn): void {
  imul64(cpu, i.r0, cpu.lo[i.r1]!, cpu.hi[i.r1]!, i.imm, i.imm >> 31);
}
addSpecializer(imulGE, (i) => {
  if (i.mod !== 3 || i.osz !== 8) return undefined;
  i.r0 = i.reg; i.r1 = i.rm;
  return i.op === 0x1af ? imul64RR : imul64RRI;
});

/**
 * F6/F7 /6 DIV and /7 IDIV (Vol. 2A DIV, IDIV): #DE on division by zero or
 * when the quotient does not fit; the quotient truncates toward zero and
 * the remainder has the dividend's sign. Dividends below 2^53 in magnitude
 * divide as doubles (exact: the rounding error of n/d is below the distance
 * 1/|d| from Q to the next integer, so Math.trunc(n/d) is the exact
 * quotient); larger ones go through a 128-by-64 long division on words.
 */
export function divE(cpu: Cpu, i: Insn): void {
  const sz = i.osz;
  const signed = i.arg === 1;
  const dv = readE(cpu, i, sz), dvh = cpu.th;
  let n: number, d: number;
  if (sz === 1) {
    const ax = cpu.lo[RAX]! & 0xffff;
    n = signed ? (ax << 16) >> 16 : ax;
    d = signed ? (dv << 24) >> 24 : dv & 0xff;
  } else if (sz === 2) {
    const v = ((cpu.lo[RDX]! & 0xffff) << 16) | (cpu.lo[RAX]! & 0xffff);
    n = signed ? v : v >>> 0;
    d = signed ? (dv << 16) >> 16 : dv & 0xffff;
  } else if (sz === 4) {
    const h = cpu.lo[RDX]!, l = cpu.lo[RAX]! >>> 0;
    d = signed ? dv | 0 : dv >>> 0;
    if (d === 0) return cpu.fault(DE);
    if (signed ? h >= -0x200000 && h < 0x200000 : h >>> 0 < 0x200000) n = (signed ? h : h >>> 0) * TWO32 + l;
    else {
      // Beyond 2^53: the long division (the quotient cannot fit, but its sign and size decide #DE).
      if (!divWords(l, h, signed ? h >> 31 : 0, signed ? h >> 31 : 0, d | 0, signed ? d >> 31 : 0, signed)) return cpu.fault(DE);
      if (signed ? dQ1 !== dQ0 >> 31 : dQ1 !== 0) return cpu.fault(DE);
      setReg(cpu, RAX, 4, dQ0, 0, 1); setReg(cpu, RDX, 4, dR0, 0, 1);
      return;
    }
  } else { div64(cpu, dv, dvh, signed); return; }
  if (d === 0) return cpu.fault(DE);
  const q = Math.trunc(n / d), r = n - q * d;
  const bits = sz * 8;
  if (signed ? q < -(2 ** (bits - 1)) || q > 2 ** (bits - 1) - 1 : q > 2 ** bits - 1) return cpu.fault(DE);
  if (sz === 1) setReg(cpu, RAX, 2, (q & 0xff) | ((r & 0xff) << 8), 0, 1);
  else if (sz === 2) { setReg(cpu, RAX, 2, q, 0, 1); setReg(cpu, RDX, 2, r, 0, 1); }
  else { setReg(cpu, RAX, 4, q | 0, 0, 1); setReg(cpu, RDX, 4, r | 0, 0, 1); }
}

/** 64-bit DIV/IDIV: RDX:RAX by a 64-bit divisor. */
function div64(cpu: Cpu, dl: number, dh: number, signed: boolean): void {
  const al = cpu.lo[RAX]!, ah = cpu.hi[RAX]!, dxl = cpu.lo[RDX]!, dxh = cpu.hi[RDX]!;
  if ((dl | dh) === 0) return cpu.fault(DE);
  // Fast path: dividend and divisor within +-2^53 (RDX the extension of RAX).
  const ext = signed ? ah >> 31 : 0;
  if (dxl === ext && dxh === ext && (signed ? ah >= -0x200000 && ah < 0x200000 : ah >>> 0 < 0x200000) &&
      (signed ? dh >= -0x200000 && dh < 0x200000 : dh >>> 0 < 0x200000)) {
    const n = (signed ? ah : ah >>> 0) * TWO32 + (al >>> 0);
    const d = (signed ? dh : dh >>> 0) * TWO32 + (dl >>> 0);
    const q = Math.trunc(n / d), r = n - q * d;
    setReg(cpu, RAX, 8, q | 0, Math.floor(q / TWO32) | 0, 1);
    setReg(cpu, RDX, 8, r | 0, Math.floor(r / TWO32) | 0, 1);
    return;
  }
  if (!divWords(al, ah, dxl, dxh, dl, dh, signed)) return cpu.fault(DE);
  // The quotient must fit in 64 bits (signed: -2^63 .. 2^63-1).
  if (signed ? dQ2 !== dQ1 >> 31 || dQ3 !== dQ1 >> 31 : (dQ2 | dQ3) !== 0) return cpu.fault(DE);
  setReg(cpu, RAX, 8, dQ0, dQ1, 1);
  setReg(cpu, RDX, 8, dR0, dR1, 1);
}

/** Results of divWords: the 128-bit quotient and the 64-bit remainder, as int32 words. */
let dQ0 = 0, dQ1 = 0, dQ2 = 0, dQ3 = 0, dR0 = 0, dR1 = 0;
const dn = new Uint32Array(4);
/**
 * 128-by-64 division by shift-subtract on 32-bit words (no BigInt, no
 * allocation): (n0..n3) / (d0, d1), signed or unsigned (two's complement).
 * Returns false for a zero divisor; the caller checks that the quotient fits.
 */
function divWords(n0: number, n1: number, n2: number, n3: number, d0: number, d1: number, signed: boolean): boolean {
  if ((d0 | d1) === 0) return false;
  let negQ = false, negR = false;
  dn[0] = n0; dn[1] = n1; dn[2] = n2; dn[3] = n3;
  if (signed && n3 < 0) { neg4(dn); negQ = true; negR = true; }
  let e0 = d0 >>> 0, e1 = d1 >>> 0;
  if (signed && d1 < 0) { e0 = (~d0 + 1) >>> 0; e1 = (~d1 + (e0 === 0 ? 1 : 0)) >>> 0; negQ = !negQ; }
  let q0 = 0, q1 = 0, q2 = 0, q3 = 0;
  let r0 = 0, r1 = 0, r2 = 0; // remainder, up to 65 bits
  for (let bit = 127; bit >= 0; bit--) {
    r2 = ((r2 << 1) | (r1 >>> 31)) >>> 0;
    r1 = ((r1 << 1) | (r0 >>> 31)) >>> 0;
    r0 = ((r0 << 1) | ((dn[bit >> 5]! >>> (bit & 31)) & 1)) >>> 0;
    if (r2 !== 0 || r1 > e1 || (r1 === e1 && r0 >= e0)) {
      const t = r0 - e0;
      r0 = t >>> 0;
      const t1 = r1 - e1 - (t < 0 ? 1 : 0);
      r1 = t1 >>> 0;
      r2 = (r2 - (t1 < 0 ? 1 : 0)) >>> 0;
      const m = 1 << (bit & 31);
      switch (bit >> 5) { case 0: q0 |= m; break; case 1: q1 |= m; break; case 2: q2 |= m; break; default: q3 |= m; }
    }
  }
  if (negQ) {
    q0 = ~q0 + 1; let c = q0 === 0 ? 1 : 0;
    q1 = ~q1 + c; c = c && q1 === 0 ? 1 : 0;
    q2 = ~q2 + c; c = c && q2 === 0 ? 1 : 0;
    q3 = ~q3 + c;
  }
  if (negR) { r0 = (~r0 + 1) >>> 0; r1 = ~r1 + (r0 === 0 ? 1 : 0); }
  dQ0 = q0 | 0; dQ1 = q1 | 0; dQ2 = q2 | 0; dQ3 = q3 | 0; dR0 = r0 | 0; dR1 = r1 | 0;
  return true;
}
function neg4(a: Uint32Array): void {
  let c = 1;
  for (let k = 0; k < 4; k++) { const t = ((~a[k]!) >>> 0) + c; a[k] = t; c = t >= TWO32 ? 1 : 0; }
}

// ---- shifts and rotates (Vol. 2B: SAL/SAR/SHL/SHR, RCL/RCR/ROL/ROR) ---

/** Group 2: arg from ModRM.reg; count source from the table: 1, CL or imm8. */
export function shiftE(cpu: Cpu, i: Insn): void {
  const sz = i.osz;
  const mask = sz === 8 ? 63 : 31;
  const cnt = (i.op === 0xd0 || i.op === 0xd1 ? 1 : i.op === 0xd2 || i.op === 0xd3 ? cpu.lo[1]! : i.imm) & mask;
  if (i.mod === 3) {
    const v = getReg(cpu, i.rm, sz, i.rex), vh = cpu.th;
    if (cnt === 0) { if (sz === 4) cpu.hi[i.rm] = 0; return; } // a 32-bit destination is written (zero-extended) even for count 0
    const r = shiftOp(cpu, i.reg & 7, sz, v, vh, cnt);
    setReg(cpu, i.rm, sz, r, cpu.th, i.rex);
  } else {
    const a = i.ea(cpu, i);
    const v = readRmw(cpu, a, sz), vh = cpu.th;
    if (cnt === 0) return;
    const r = shiftOp(cpu, i.reg & 7, sz, v, vh, cnt);
    writeMem(cpu, a, sz, r, cpu.th);
  }
}

/**
 * Shift/rotate of a value with a non-zero masked count (Vol. 2B SAL/SAR/SHL/SHR,
 * RCL/RCR/ROL/ROR, "Operation" and "Flags Affected"), without loops or
 * allocation. Shifts: CF = last bit shifted out, SF/ZF/PF from the result,
 * OF = MSB(result) XOR CF for SHL, MSB(source) for SHR, 0 for SAR (defined
 * for 1-bit shifts; the same formulas otherwise), AF 0 (undefined).
 * Rotates: only CF and OF change; OF = MSB XOR CF (ROL, RCL) or the XOR of
 * the two top bits of the result (ROR, RCR). RCL/RCR of 8/16-bit operands
 * rotate through CF modulo 9/17.
 */
function shiftOp(cpu: Cpu, op: number, sz: number, v: number, vh: number, cnt: number): number {
  if (sz === 8) return shiftOp64(cpu, op, v, vh, cnt);
  const bits = sz * 8;
  const mask = sz === 4 ? -1 : (1 << bits) - 1;
  const top = bits - 1;
  const x = v & mask; // operand, zero-extended (int32 for 32-bit)
  const flagsIn = getArith(cpu);
  let r: number, cf: number, of: number;
  switch (op) {
    case 0: case 1: { // ROL / ROR
      const n = cnt % bits;
      if (op === 0) {
        r = n === 0 ? x : ((x << n) | (x >>> (bits - n))) & mask;
        cf = r & 1; of = ((r >>> top) & 1) ^ cf;
      } else {
        r = n === 0 ? x : ((x >>> n) | (x << (bits - n))) & mask;
        cf = (r >>> top) & 1; of = cf ^ ((r >>> (top - 1)) & 1);
      }
      setArith(cpu, (flagsIn & ~(CF | OF)) | (cf ? CF : 0) | (of ? OF : 0));
      cpu.th = 0;
      return r | 0;
    }
    case 2: case 3: { // RCL / RCR through CF
      const n = sz === 1 ? cnt % 9 : sz === 2 ? cnt % 17 : cnt;
      const c = flagsIn & CF;
      if (n === 0) { r = x; cf = c; }
      else if (op === 2) {
        r = ((x << n) | (c << (n - 1)) | ((x >>> (bits - n)) >>> 1)) & mask;
        cf = (x >>> (bits - n)) & 1;
      } else {
        r = ((x >>> n) | (c << (bits - n)) | ((x << 1) << (bits - n))) & mask;
        cf = (x >>> (n - 1)) & 1;
      }
      of = op === 2 ? ((r >>> top) & 1) ^ cf : ((r >>> top) & 1) ^ ((r >>> (top - 1)) & 1);
      setArith(cpu, (flagsIn & ~(CF | OF)) | (cf ? CF : 0) | (of ? OF : 0));
      cpu.th = 0;
      return r | 0;
    }
    case 4: case 6: // SHL / SAL
      r = cnt < bits ? (x << cnt) & mask : 0;
      cf = cnt <= bits ? (x >>> (bits - cnt)) & 1 : 0;
      of = ((r >>> top) & 1) ^ cf;
      break;
    case 5: // SHR
      r = cnt < bits ? x >>> cnt : 0;
      cf = cnt <= bits ? (x >>> (cnt - 1)) & 1 : 0;
      of = (x >>> top) & 1;
      break;
    default: { // SAR
      const sx = (x << (32 - bits)) >> (32 - bits);
      r = (cnt < bits ? sx >> cnt : sx >> 31) & mask;
      cf = (cnt <= bits ? sx >> (cnt - 1) : sx >> 31) & 1;
      of = 0;
    }
  }
  r |= 0;
  setArith(cpu, szpOf(sz, r, 0) | (cf ? CF : 0) | (of ? OF : 0));
  cpu.th = 0;
  return r;
}

/** 64-bit shifts and rotates on halves (count 1..63). */
function shiftOp64(cpu: Cpu, op: number, l: number, h: number, n: number): number {
  const flagsIn = getArith(cpu);
  let rl: number, rh: number, cf: number, of: number;
  switch (op) {
    case 0: // ROL
      shl64(l, h, n); rl = fL; rh = fH; shr64(l, h, 64 - n); rl |= fL; rh |= fH;
      cf = rl & 1; of = (rh >>> 31) ^ cf;
      setArith(cpu, (flagsIn & ~(CF | OF)) | (cf ? CF : 0) | (of ? OF : 0));
      cpu.th = rh | 0; return rl | 0;
    case 1: // ROR
      shr64(l, h, n); rl = fL; rh = fH; shl64(l, h, 64 - n); rl |= fL; rh |= fH;
      cf = rh >>> 31; of = cf ^ ((rh >>> 30) & 1);
      setArith(cpu, (flagsIn & ~(CF | OF)) | (cf ? CF : 0) | (of ? OF : 0));
      cpu.th = rh | 0; return rl | 0;
    case 2: { // RCL: (v << n) | (CF << (n - 1)) | (v >>> (65 - n))
      const c = flagsIn & CF;
      shl64(l, h, n); rl = fL; rh = fH;
      shl64(c, 0, n - 1); rl |= fL; rh |= fH;
      shr64(l, h, 65 - n); rl |= fL; rh |= fH;
      cf = bit64(l, h, 64 - n);
      of = (rh >>> 31) ^ cf;
      setArith(cpu, (flagsIn & ~(CF | OF)) | (cf ? CF : 0) | (of ? OF : 0));
      cpu.th = rh | 0; return rl | 0;
    }
    case 3: { // RCR: (v >>> n) | (CF << (64 - n)) | (v << (65 - n))
      const c = flagsIn & CF;
      shr64(l, h, n); rl = fL; rh = fH;
      shl64(c, 0, 64 - n); rl |= fL; rh |= fH;
      shl64(l, h, 65 - n); rl |= fL; rh |= fH;
      cf = bit64(l, h, n - 1);
      of = (rh >>> 31) ^ ((rh >>> 30) & 1);
      setArith(cpu, (flagsIn & ~(CF | OF)) | (cf ? CF : 0) | (of ? OF : 0));
      cpu.th = rh | 0; return rl | 0;
    }
    case 4: case 6: // SHL
      shl64(l, h, n); rl = fL; rh = fH;
      cf = bit64(l, h, 64 - n); of = (rh >>> 31) ^ cf;
      break;
    case 5: // SHR
      shr64(l, h, n); rl = fL; rh = fH;
      cf = bit64(l, h, n - 1); of = h >>> 31;
      break;
    default: // SAR
      if (n < 32) { rl = (l >>> n) | (h << (32 - n)); rh = h >> n; }
      else { rl = h >> (n - 32); rh = h >> 31; }
      cf = bit64(l, h, n - 1); of = 0;
  }
  rl |= 0; rh |= 0;
  setArith(cpu, szpOf(8, rl, rh) | (cf ? CF : 0) | (of ? OF : 0));
  cpu.th = rh;
  return rl;
}
/** Bit k (0..63) of (l, h). */
function bit64(l: number, h: number, k: number): number {
  return k < 32 ? (l >>> k) & 1 : (h >>> (k - 32)) & 1;
}

// ---- conditions ---------------------------------------------------------

/** SETcc Eb (0F 90-9F). */
export function setcc(cpu: Cpu, i: Insn): void {
  writeE(cpu, i, 1, testCC(cpu, i.op & 0xf) ? 1 : 0, 0);
}
/** CMOVcc Gv, Ev (0F 40-4F): the source is read even when the condition is false; a 32-bit CMOV zero-extends in either case. */
export function cmovcc(cpu: Cpu, i: Insn): void {
  const v = readE(cpu, i, i.osz), vh = cpu.th;
  if (testCC(cpu, i.op & 0xf)) writeG(cpu, i, i.osz, v, vh);
  else if (i.osz === 4) cpu.hi[i.reg] = 0;
}

// ---- flag instructions --------------------------------------------------

export function clc(cpu: Cpu): void { setArith(cpu, getArith(cpu) & ~CF); }
export function stc(cpu: Cpu): void { setArith(cpu, getArith(cpu) | CF); }
export function cmc(cpu: Cpu): void { setArith(cpu, getArith(cpu) ^ CF); }
/** LAHF: AH <- SF:ZF:0:AF:0:PF:1:CF. */
export function lahf(cpu: Cpu): void {
  const f = getArith(cpu) & (SF | ZF | AF | PF | CF);
  cpu.lo[RAX] = (cpu.lo[RAX]! & ~0xff00) | ((f | 2) << 8);
}
/** SAHF: SF ZF AF PF CF <- AH. */
export function sahf(cpu: Cpu): void {
  const ah = (cpu.lo[RAX]! >> 8) & 0xff;
  setArith(cpu, (getArith(cpu) & OF) | (ah & (SF | ZF | AF | PF | CF)));
}

// ---- conversions --------------------------------------------------------

/** CBW / CWDE / CDQE (98). */
export function cbw(cpu: Cpu, i: Insn): void {
  const v = cpu.lo[RAX]!;
  if (i.osz === 2) setReg(cpu, RAX, 2, (v << 24) >> 24, 0, 1);
  else if (i.osz === 4) setReg(cpu, RAX, 4, (v << 16) >> 16, 0, 1);
  else setReg(cpu, RAX, 8, v, v >> 31, 1);
}
/** CWD / CDQ / CQO (99). */
export function cwd(cpu: Cpu, i: Insn): void {
  if (i.osz === 2) setReg(cpu, RDX, 2, (cpu.lo[RAX]! << 16) >> 31, 0, 1);
  else if (i.osz === 4) setReg(cpu, RDX, 4, cpu.lo[RAX]! >> 31, 0, 1);
  else { const s = cpu.hi[RAX]! >> 31; setReg(cpu, RDX, 8, s, s, 1); }
}

// ---- bit operations -----------------------------------------------------

/** BT/BTS/BTR/BTC with a register or imm8 bit offset (0F A3/AB/B3/BB, 0F BA /4-7). arg: 0 BT, 1 BTS, 2 BTR, 3 BTC. */
export function btOp(cpu: Cpu, i: Insn): void {
  const sz = i.osz;
  const bits = sz * 8;
  const isImm = i.op === 0x1ba;
  const op = isImm ? (i.reg & 7) - 4 : i.arg;
  let off: number, offHi = 0;
  if (isImm) off = i.imm & (bits - 1);
  else { off = getReg(cpu, i.reg, sz, i.rex); offHi = sz === 8 ? cpu.th : 0; }
  let a = 0, v: number, vh: number;
  if (i.mod === 3) {
    const b = off & (bits - 1);
    v = getReg(cpu, i.rm, sz, i.rex); vh = cpu.th;
    const r = bitop(cpu, op, sz, v, vh, b);
    if (op !== 0) setReg(cpu, i.rm, sz, r, cpu.th, i.rex);
    return;
  }
  // With a register bit offset, the canonical check applies to the final address, so the
  // 64-bit EA is formed here without it (a host CPU faults #PF, not #GP, when only EA is non-canonical).
  a = !isImm && i.asz === 8 ? 0 : i.ea(cpu, i);
  let b: number;
  if (!isImm) {
    // A register bit offset is signed and may address memory beyond the operand
    // (Vol. 2A BT: the operand accessed is at EA + sz * (BitOffset DIV bits)).
    // The displacement is added to the offset within the address size, on
    // 32-bit halves (a 64-bit offset does not fit a double).
    let qLo: number, qHi: number; // BitOffset DIV bits (arithmetic shift)
    if (sz === 8) { qLo = (off >>> 6) | (offHi << 26); qHi = offHi >> 6; }
    else if (sz === 4) { qLo = off >> 5; qHi = qLo >> 31; }
    else { qLo = ((off << 16) >> 16) >> 4; qHi = qLo >> 31; }
    const dLo = Math.imul(qLo, sz); // displacement modulo 2^32
    const base = cpu.segBaseEff[i.seg]!;
    if (i.asz === 8) {
      // EA + sz * (BitOffset DIV bits), modulo 2^64, on 32-bit halves.
      let lo = 0, hi = 0;
      if (cpu.mode === 8 && i.base < 0 && i.index < 0 && i.mod === 0 && (i.rm & 7) === 5) {
        const r = cpu.ripNext + i.disp; lo = r >>> 0; hi = Math.floor(r / TWO32);
      } else {
        lo = i.disp; // signed; the sum below is exact (< 2^37 in magnitude)
        if (i.base >= 0) { lo += cpu.lo[i.base]! >>> 0; hi += cpu.hi[i.base]!; }
        if (i.index >= 0) { const m = 1 << i.scale; lo += (cpu.lo[i.index]! >>> 0) * m; hi += cpu.hi[i.index]! * m; }
      }
      lo += (qLo >>> 0) * sz; hi += qHi * sz;
      const h = (hi + Math.floor(lo / TWO32)) | 0;
      a = checkLinear(cpu, i.seg, h * TWO32 + (lo >>> 0) + base);
    } else if (i.asz === 4) {
      a = cpu.mode === 8 ? checkLinear(cpu, i.seg, ((a - base + dLo) >>> 0) + base) : (a + dLo) >>> 0;
    } else {
      const sb = cpu.segBase[i.seg]!;
      a = ((((a - sb) + dLo) & 0xffff) + sb) >>> 0;
    }
    b = off & (bits - 1);
  } else b = off;
  v = op !== 0 ? readRmw(cpu, a, sz) : readMem(cpu, a, sz); vh = cpu.th;
  const r = bitop(cpu, op, sz, v, vh, b);
  if (op !== 0) writeMem(cpu, a, sz, r, cpu.th);
}
function bitop(cpu: Cpu, op: number, sz: number, v: number, vh: number, b: number): number {
  const inHi = b >= 32;
  const mask = 1 << (b & 31);
  const word = inHi ? vh : v;
  const bit = (word & mask) !== 0;
  // CF = selected bit; OF, SF, AF, PF undefined; ZF unaffected.
  setArith(cpu, (getArith(cpu) & ~CF) | (bit ? CF : 0));
  let nw = word;
  if (op === 1) nw = word | mask; else if (op === 2) nw = word & ~mask; else if (op === 3) nw = word ^ mask;
  cpu.th = inHi ? nw : vh;
  return trunc(inHi ? v : nw, sz === 8 ? 4 : sz);
}

/** BSF / BSR (0F BC / BD): ZF=1 and destination unchanged when the source is 0. */
export function bsfr(cpu: Cpu, i: Insn): void {
  const sz = i.osz;
  const v = readE(cpu, i, sz), vh = sz === 8 ? cpu.th : 0;
  const lo = sz < 4 ? v & ((1 << (sz * 8)) - 1) : v;
  const f = getArith(cpu) & ~(ZF);
  if (lo === 0 && vh === 0) { setArith(cpu, f | ZF); return; }
  let idx: number;
  if (i.op === 0x1bc) idx = lo !== 0 ? 31 - Math.clz32(lo & -lo) : 32 + 31 - Math.clz32(vh & -vh);
  else idx = vh !== 0 ? 63 - Math.clz32(vh) : 31 - Math.clz32(lo);
  setArith(cpu, f);
  writeG(cpu, i, sz, idx, 0);
}

/** BSWAP r32/r64 (0F C8+r). */
export function bswap(cpu: Cpu, i: Insn): void {
  const r = (i.op & 7) | ((i.rex & 1) << 3);
  const sw = (x: number): number => ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24);
  if (i.osz === 8) { const l = cpu.lo[r]!, h = cpu.hi[r]!; cpu.lo[r] = sw(h); cpu.hi[r] = sw(l); }
  else { cpu.lo[r] = sw(cpu.lo[r]!); cpu.hi[r] = 0; }
}

/** XADD Eb/Ev, Gb/Gv (0F C0/C1). */
export function xadd(cpu: Cpu, i: Insn): void {
  const sz = i.osz;
  const s = readG(cpu, i, sz), sh = cpu.th;
  if (i.mod === 3) {
    const d = getReg(cpu, i.rm, sz, i.rex), dh = cpu.th;
    const r = alu(cpu, ALU_ADD, sz, d, dh, s, sh), rh = cpu.th;
    setReg(cpu, i.reg, sz, d, dh, i.rex);
    setReg(cpu, i.rm, sz, r, rh, i.rex);
  } else {
    const a = i.ea(cpu, i);
    const d = readRmw(cpu, a, sz), dh = cpu.th;
    const r = alu(cpu, ALU_ADD, sz, d, dh, s, sh);
    writeMem(cpu, a, sz, r, cpu.th);
    setReg(cpu, i.reg, sz, d, dh, i.rex);
  }
}

/** CMPXCHG Eb/Ev, Gb/Gv (0F B0/B1). */
export function cmpxchg(cpu: Cpu, i: Insn): void {
  const sz = i.osz;
  const acc = getReg(cpu, RAX, sz, 1), acch = cpu.th;
  const a = i.mod === 3 ? 0 : i.ea(cpu, i);
  const d = i.mod === 3 ? getReg(cpu, i.rm, sz, i.rex) : readRmw(cpu, a, sz), dh = cpu.th;
  alu(cpu, ALU_CMP, sz, acc, acch, d, dh);
  const eq = trunc(acc, sz === 8 ? 4 : sz) === trunc(d, sz === 8 ? 4 : sz) && (sz !== 8 || acch === dh);
  if (eq) {
    const s = readG(cpu, i, sz), sh = cpu.th;
    if (i.mod === 3) setReg(cpu, i.rm, sz, s, sh, i.rex); else writeMem(cpu, a, sz, s, sh);
  } else {
    // The destination is written back with its own value (a locked RMW always writes), then the accumulator is loaded.
    if (i.mod !== 3) writeMem(cpu, a, sz, d, dh);
    setReg(cpu, RAX, sz, d, dh, 1);
  }
}

// ---- double-precision shifts (Vol. 2B SHLD, SHRD) -----------------------

let fL = 0, fH = 0; // result of the 64-bit funnel helpers
/** (l, h) << c for 0 <= c <= 64, into fL/fH. */
function shl64(l: number, h: number, c: number): void {
  if (c === 0) { fL = l; fH = h; } else if (c < 32) { fH = (h << c) | (l >>> (32 - c)); fL = l << c; } else if (c < 64) { fH = l << (c - 32); fL = 0; } else { fL = 0; fH = 0; }
}
/** (l, h) >>> c for 0 <= c <= 64, into fL/fH. */
function shr64(l: number, h: number, c: number): void {
  if (c === 0) { fL = l; fH = h; } else if (c < 32) { fL = (l >>> c) | (h << (32 - c)); fH = h >>> c; } else if (c < 64) { fL = h >>> (c - 32); fH = 0; } else { fL = 0; fH = 0; }
}

/**
 * SHLD Ev, Gv, Ib/CL (0F A4/A5) and SHRD (0F AC/AD): the destination is
 * shifted and the vacated bits are filled from the source. The count is
 * masked to 5 bits (6 with REX.W); 0 changes nothing (a 32-bit register
 * destination is still zero-extended). CF = last bit shifted out, OF = sign
 * change (defined for a count of 1), SF/ZF/PF from the result, AF undefined
 * (0 here). A 16-bit count above 16 leaves result and flags undefined; this
 * machine then shifts the 32-bit D:S (SHLD) or S:D (SHRD) pair.
 */
export function shiftDouble(cpu: Cpu, i: Insn): void {
  const sz = i.osz;
  const left = i.op === 0x1a4 || i.op === 0x1a5;
  const raw = i.op === 0x1a5 || i.op === 0x1ad ? cpu.lo[1]! : i.imm;
  const cnt = raw & (sz === 8 ? 63 : 31);
  const s = readG(cpu, i, sz), sh = cpu.th;
  let a = 0, d: number, dh: number;
  if (i.mod === 3) { d = getReg(cpu, i.rm, sz, i.rex); dh = cpu.th; }
  else { a = i.ea(cpu, i); d = readRmw(cpu, a, sz); dh = cpu.th; }
  if (cnt === 0) {
    if (i.mod === 3 && sz === 4) cpu.hi[i.rm] = 0;
    return;
  }
  let r: number, rh = 0, cf: number, msbIn: number, msbOut: number;
  if (sz === 8) {
    if (left) {
      shl64(d, dh, cnt); const l = fL, h = fH;
      shr64(s, sh, 64 - cnt); r = l | fL; rh = h | fH;
      cf = cnt > 32 ? (d >>> (64 - cnt)) & 1 : (dh >>> (32 - cnt)) & 1; // bit 64-cnt of D
    } else {
      shr64(d, dh, cnt); const l = fL, h = fH;
      shl64(s, sh, 64 - cnt); r = l | fL; rh = h | fH;
      cf = cnt <= 32 ? (d >>> (cnt - 1)) & 1 : (dh >>> (cnt - 33)) & 1; // bit cnt-1 of D
    }
    msbIn = dh >>> 31; msbOut = rh >>> 31;
  } else if (sz === 4) {
    if (left) { r = (d << cnt) | (s >>> (32 - cnt)); cf = (d >>> (32 - cnt)) & 1; }
    else { r = (d >>> cnt) | (s << (32 - cnt)); cf = (d >>> (cnt - 1)) & 1; }
    msbIn = d >>> 31; msbOut = r >>> 31;
  } else {
    const d16 = d & 0xffff, s16 = s & 0xffff;
    if (left) {
      const x = ((d16 << 16) | s16) >>> 0; // D:S
      r = ((x << cnt) | (cnt > 16 ? d16 << (cnt - 16) : 0)) >>> 16 & 0xffff;
      cf = cnt <= 16 ? (d16 >>> (16 - cnt)) & 1 : (s16 >>> (32 - cnt)) & 1;
    } else {
      const x = ((s16 << 16) | d16) >>> 0; // S:D
      r = ((x >>> cnt) | (cnt > 16 ? d16 << (32 - cnt) : 0)) & 0xffff;
      cf = (x >>> (cnt - 1)) & 1;
    }
    msbIn = d16 >>> 15; msbOut = r >>> 15;
  }
  setArith(cpu, szpOf(sz, trunc(r, sz === 8 ? 4 : sz), rh) | (cf ? CF : 0) | (msbIn !== msbOut ? OF : 0));
  if (i.mod === 3) setReg(cpu, i.rm, sz, r, rh, i.rex);
  else writeMem(cpu, a, sz, r, rh);
}

// ---- CMPXCHG8B / CMPXCHG16B (Vol. 2A) -------------------------------------

/**
 * 0F C7 /1 (memory only): compare EDX:EAX (RDX:RAX with REX.W) with m64
 * (m128); if equal, ZF = 1 and ECX:EBX (RCX:RBX) is stored, else ZF = 0 and
 * the memory value is loaded into EDX:EAX (RDX:RAX). The destination is
 * always written (it is a locked read-modify-write). CMPXCHG16B needs a
 * 16-byte aligned operand (#GP(0)). Other flags are unchanged.
 */
export function cmpxchg8b(cpu: Cpu, i: Insn): void {
  const wide = (i.rex & 8) !== 0;
  // Misalignment (#GP(0)) is checked before the canonical form (#GP/#SS), as the host CPU does.
  if (wide && (eaLow32(cpu, i) & 15) !== 0) cpu.gp(0);
  const a = i.ea(cpu, i);
  const f = getArith(cpu) & ~ZF;
  if (!wide) {
    const ml = readRmw(cpu, a, 8), mh = cpu.th;
    if (ml === cpu.lo[RAX] && mh === cpu.lo[RDX]) {
      writeMem(cpu, a, 8, cpu.lo[RBX_]!, cpu.lo[RCX_]!);
      setArith(cpu, f | ZF);
    } else {
      writeMem(cpu, a, 8, ml, mh);
      setReg(cpu, RAX, 4, ml, 0, 1); setReg(cpu, RDX, 4, mh, 0, 1);
      setArith(cpu, f);
    }
    return;
  }
  cpu.probeWrite(a, 16);
  const l0 = cpu.read64(a), h0 = cpu.th;
  const a8 = cpu.linAdd(a, 8);
  const l1 = cpu.read64(a8), h1 = cpu.th;
  if (l0 === cpu.lo[RAX] && h0 === cpu.hi[RAX] && l1 === cpu.lo[RDX] && h1 === cpu.hi[RDX]) {
    cpu.write64(a, cpu.lo[RBX_]!, cpu.hi[RBX_]!);
    cpu.write64(a8, cpu.lo[RCX_]!, cpu.hi[RCX_]!);
    setArith(cpu, f | ZF);
  } else {
    cpu.write64(a, l0, h0);
    cpu.write64(a8, l1, h1);
    setReg(cpu, RAX, 8, l0, h0, 1); setReg(cpu, RDX, 8, l1, h1, 1);
    setArith(cpu, f);
  }
}
const RCX_ = 1, RBX_ = 3;

// ---- POPCNT (F3 0F B8, Vol. 2B) -------------------------------------------

function pop32(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}
/** POPCNT Gv, Ev: OF SF AF CF PF cleared, ZF = (source = 0). */
export function popcnt(cpu: Cpu, i: Insn): void {
  const sz = i.osz;
  const v = readE(cpu, i, sz), vh = sz === 8 ? cpu.th : 0;
  const n = pop32(sz === 2 ? v & 0xffff : v) + pop32(vh);
  setArith(cpu, n === 0 ? ZF : 0);
  writeG(cpu, i, sz, n, 0);
}

// ---- decimal adjust (Vol. 2A DAA, DAS, AAA, AAS, AAM, AAD; invalid in 64-bit mode) ----

/** DAA (27) / DAS (2F): OF undefined (0 here). */
export function daaDas(cpu: Cpu, i: Insn): void {
  const sub = i.op === 0x2f;
  const f = getArith(cpu);
  const oldAl = cpu.lo[RAX]! & 0xff, oldCf = (f & CF) !== 0;
  let al = oldAl, cf = false, af = false;
  if ((al & 0x0f) > 9 || (f & AF)) {
    const t = sub ? al - 6 : al + 6;
    cf = oldCf || (sub ? t < 0 : t > 0xff);
    al = t & 0xff;
    af = true;
  }
  if (oldAl > 0x99 || oldCf) { al = (sub ? al - 0x60 : al + 0x60) & 0xff; cf = true; }
  else if (!sub) cf = false;
  cpu.lo[RAX] = (cpu.lo[RAX]! & ~0xff) | al;
  setArith(cpu, szpOf(1, al, 0) | (cf ? CF : 0) | (af ? AF : 0));
}
/** AAA (37) / AAS (3F): OF, SF, ZF, PF undefined (computed from AL here). */
export function aaaAas(cpu: Cpu, i: Insn): void {
  const sub = i.op === 0x3f;
  const f = getArith(cpu);
  let ax = cpu.lo[RAX]! & 0xffff;
  const adj = (ax & 0x0f) > 9 || (f & AF) !== 0;
  // AAA: AX <- AX + 106H; AAS: AX <- AX - 6, AH <- AH - 1 (the SDM's Operation, borrow included).
  if (adj) ax = sub ? (((ax - 6) & 0xffff) - 0x100) & 0xffff : (ax + 0x106) & 0xffff;
  ax &= 0xff0f;
  cpu.lo[RAX] = (cpu.lo[RAX]! & ~0xffff) | ax;
  setArith(cpu, szpOf(1, ax & 0xff, 0) | (adj ? CF | AF : 0));
}
/** AAM imm8 (D4): #DE when imm8 = 0; OF, AF, CF undefined (0 here). */
export function aam(cpu: Cpu, i: Insn): void {
  const base = i.imm & 0xff;
  if (base === 0) cpu.fault(DE);
  const al = cpu.lo[RAX]! & 0xff;
  const r = al % base;
  cpu.lo[RAX] = (cpu.lo[RAX]! & ~0xffff) | (((al / base) | 0) << 8) | r;
  setArith(cpu, szpOf(1, r, 0));
}
/** AAD imm8 (D5): OF, AF, CF undefined (0 here). */
export function aad(cpu: Cpu, i: Insn): void {
  const ax = cpu.lo[RAX]!;
  const al = ((ax & 0xff) + ((ax >> 8) & 0xff) * (i.imm & 0xff)) & 0xff;
  cpu.lo[RAX] = (ax & ~0xffff) | al;
  setArith(cpu, szpOf(1, al, 0));
}

// Handlers that neither read nor change RIP or the instruction count (insn.ts, markPure).
markPure(aluEG, aluGE, aluAI, aluEI, testEG, testAI, testEI, incE, decE, negE, notE, incR, mulE, imulGE, divE,
  shiftE, setcc, cmovcc, clc, stc, cmc, lahf, sahf, cbw, cwd, btOp, bsfr, bswap, xadd, cmpxchg, shiftDouble,
  cmpxchg8b, popcnt, daaDas, aaaAas, aam, aad);

// =====================================================================
// Specialized forms (insn.ts, addSpecializer): register operands resolved
// at decode time (i.r0 destination, i.r1 source or constant count), no
// size or operation switch, no cpu.th side channel. Each leaves the
// registers and the lazy-flag record exactly as the table's handler does
// for that form (fields the flag getters never read for that kind, such
// as the operands of a logic operation or the high halves of a 32-bit
// one, may be left as they were).
// =====================================================================

// ---- 64-bit register, register ----
function add64RR(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, hi = cpu.hi, d = i.r0, s = i.r1;
  const dl = lo[d]!, dh = hi[d]!, sl = lo[s]!, sh = hi[s]!;
  const t = (dl >>> 0) + (sl >>> 0);
  const rl = t | 0, rh = (dh + sh + (t >= TWO32 ? 1 : 0)) | 0;
  lo[d] = rl; hi[d] = rh;
  cpu.lop = LF_ADD; cpu.lsz = 8; cpu.lres = rl; cpu.lresH = rh; cpu.ldst = dl; cpu.ldstH = dh; cpu.lsrc = sl; cpu.lsrcH = sh;
}
function sub64RR(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, hi = cpu.hi, d = i.r0, s = i.r1;
  const dl = lo[d]!, dh = hi[d]!, sl = lo[s]!, sh = hi[s]!;
  const t = (dl >>> 0) - (sl >>> 0);
  const rl = t | 0, rh = (dh - sh - (t < 0 ? 1 : 0)) | 0;
  lo[d] = rl; hi[d] = rh;
  cpu.lop = LF_SUB; cpu.lsz = 8; cpu.lres = rl; cpu.lresH = rh; cpu.ldst = dl; cpu.ldstH = dh; cpu.lsrc = sl; cpu.lsrcH = sh;
}
function cmp64RR(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, hi = cpu.hi, d = i.r0, s = i.r1;
  const dl = lo[d]!, dh = hi[d]!, sl = lo[s]!, sh = hi[s]!;
  const t = (dl >>> 0) - (sl >>> 0);
  cpu.lop = LF_SUB; cpu.lsz = 8; cpu.lres = t | 0; cpu.lresH = (dh - sh - (t < 0 ? 1 : 0)) | 0;
  cpu.ldst = dl; cpu.ldstH = dh; cpu.lsrc = sl; cpu.lsrcH = sh;
}
function and64RR(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, hi = cpu.hi, d = i.r0, s = i.r1;
  const rl = lo[d]! & lo[s]!, rh = hi[d]! & hi[s]!;
  lo[d] = rl; hi[d] = rh;
  cpu.lop = LF_LOGIC; cpu.lsz = 8; cpu.lres = rl; cpu.lresH = rh;
}
function or64RR(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, hi = cpu.hi, d = i.r0, s = i.r1;
  const rl = lo[d]! | lo[s]!, rh = hi[d]! | hi[s]!;
  lo[d] = rl; hi[d] = rh;
  cpu.lop = LF_LOGIC; cpu.lsz = 8; cpu.lres = rl; cpu.lresH = rh;
}
function xor64RR(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, hi = cpu.hi, d = i.r0, s = i.r1;
  const rl = lo[d]! ^ lo[s]!, rh = hi[d]! ^ hi[s]!;
  lo[d] = rl; hi[d] = rh;
  cpu.lop = LF_LOGIC; cpu.lsz = 8; cpu.lres = rl; cpu.lresH = rh;
}
export function test64RR(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, hi = cpu.hi, d = i.r0, s = i.r1;
  cpu.lop = LF_LOGIC; cpu.lsz = 8; cpu.lres = lo[d]! & lo[s]!; cpu.lresH = hi[d]! & hi[s]!;
}

// ---- 32-bit register, register (the result zero-extends into the 64-bit register) ----
function add32RR(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, d = i.r0;
  const dl = lo[d]!, sl = lo[i.r1]!;
  const r = (dl + sl) | 0;
  lo[d] = r; cpu.hi[d] = 0;
  cpu.lop = LF_ADD; cpu.lsz = 4; cpu.lres = r; cpu.ldst = dl; cpu.lsrc = sl;
}
function sub32RR(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, d = i.r0;
  const dl = lo[d]!, sl = lo[i.r1]!;
  const r = (dl - sl) | 0;
  lo[d] = r; cpu.hi[d] = 0;
  cpu.lop = LF_SUB; cpu.lsz = 4; cpu.lres = r; cpu.ldst = dl; cpu.lsrc = sl;
}
function cmp32RR(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo;
  const dl = lo[i.r0]!, sl = lo[i.r1]!;
  cpu.lop = LF_SUB; cpu.lsz = 4; cpu.lres = (dl - sl) | 0; cpu.ldst = dl; cpu.lsrc = sl;
}
function and32RR(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, d = i.r0;
  const r = lo[d]! & lo[i.r1]!;
  lo[d] = r; cpu.hi[d] = 0;
  cpu.lop = LF_LOGIC; cpu.lsz = 4; cpu.lres = r;
}
function or32RR(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, d = i.r0;
  const r = lo[d]! | lo[i.r1]!;
  lo[d] = r; cpu.hi[d] = 0;
  cpu.lop = LF_LOGIC; cpu.lsz = 4; cpu.lres = r;
}
function xor32RR(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, d = i.r0;
  const r = lo[d]! ^ lo[i.r1]!;
  lo[d] = r; cpu.hi[d] = 0;
  cpu.lop = LF_LOGIC; cpu.lsz = 4; cpu.lres = r;
}
export function test32RR(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo;
  cpu.lop = LF_LOGIC; cpu.lsz = 4; cpu.lres = lo[i.r0]! & lo[i.r1]!;
}

// ---- 64-bit register, immediate (sign-extended imm8/imm32) ----
function add64RI(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, hi = cpu.hi, d = i.r0, sl = i.imm, sh = sl >> 31;
  const dl = lo[d]!, dh = hi[d]!;
  const t = (dl >>> 0) + (sl >>> 0);
  const rl = t | 0, rh = (dh + sh + (t >= TWO32 ? 1 : 0)) | 0;
  lo[d] = rl; hi[d] = rh;
  cpu.lop = LF_ADD; cpu.lsz = 8; cpu.lres = rl; cpu.lresH = rh; cpu.ldst = dl; cpu.ldstH = dh; cpu.lsrc = sl; cpu.lsrcH = sh;
}
function sub64RI(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, hi = cpu.hi, d = i.r0, sl = i.imm, sh = sl >> 31;
  const dl = lo[d]!, dh = hi[d]!;
  const t = (dl >>> 0) - (sl >>> 0);
  const rl = t | 0, rh = (dh - sh - (t < 0 ? 1 : 0)) | 0;
  lo[d] = rl; hi[d] = rh;
  cpu.lop = LF_SUB; cpu.lsz = 8; cpu.lres = rl; cpu.lresH = rh; cpu.ldst = dl; cpu.ldstH = dh; cpu.lsrc = sl; cpu.lsrcH = sh;
}
function cmp64RI(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, hi = cpu.hi, d = i.r0, sl = i.imm, sh = sl >> 31;
  const dl = lo[d]!, dh = hi[d]!;
  const t = (dl >>> 0) - (sl >>> 0);
  cpu.lop = LF_SUB; cpu.lsz = 8; cpu.lres = t | 0; cpu.lresH = (dh - sh - (t < 0 ? 1 : 0)) | 0;
  cpu.ldst = dl; cpu.ldstH = dh; cpu.lsrc = sl; cpu.lsrcH = sh;
}
function and64RI(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, hi = cpu.hi, d = i.r0;
  const rl = lo[d]! & i.imm, rh = hi[d]! & (i.imm >> 31);
  lo[d] = rl; hi[d] = rh;
  cpu.lop = LF_LOGIC; cpu.lsz = 8; cpu.lres = rl; cpu.lresH = rh;
}
function or64RI(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, hi = cpu.hi, d = i.r0;
  const rl = lo[d]! | i.imm, rh = hi[d]! | (i.imm >> 31);
  lo[d] = rl; hi[d] = rh;
  cpu.lop = LF_LOGIC; cpu.lsz = 8; cpu.lres = rl; cpu.lresH = rh;
}
function xor64RI(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, hi = cpu.hi, d = i.r0;
  const rl = lo[d]! ^ i.imm, rh = hi[d]! ^ (i.imm >> 31);
  lo[d] = rl; hi[d] = rh;
  cpu.lop = LF_LOGIC; cpu.lsz = 8; cpu.lres = rl; cpu.lresH = rh;
}
export function test64RI(cpu: Cpu, i: Insn): void {
  const d = i.r0;
  cpu.lop = LF_LOGIC; cpu.lsz = 8; cpu.lres = cpu.lo[d]! & i.imm; cpu.lresH = cpu.hi[d]! & (i.imm >> 31);
}

// ---- 32-bit register, immediate ----
function add32RI(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, d = i.r0, dl = lo[d]!, sl = i.imm;
  const r = (dl + sl) | 0;
  lo[d] = r; cpu.hi[d] = 0;
  cpu.lop = LF_ADD; cpu.lsz = 4; cpu.lres = r; cpu.ldst = dl; cpu.lsrc = sl;
}
function sub32RI(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, d = i.r0, dl = lo[d]!, sl = i.imm;
  const r = (dl - sl) | 0;
  lo[d] = r; cpu.hi[d] = 0;
  cpu.lop = LF_SUB; cpu.lsz = 4; cpu.lres = r; cpu.ldst = dl; cpu.lsrc = sl;
}
function cmp32RI(cpu: Cpu, i: Insn): void {
  const dl = cpu.lo[i.r0]!, sl = i.imm;
  cpu.lop = LF_SUB; cpu.lsz = 4; cpu.lres = (dl - sl) | 0; cpu.ldst = dl; cpu.lsrc = sl;
}
function and32RI(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, d = i.r0, r = lo[d]! & i.imm;
  lo[d] = r; cpu.hi[d] = 0;
  cpu.lop = LF_LOGIC; cpu.lsz = 4; cpu.lres = r;
}
function or32RI(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, d = i.r0, r = lo[d]! | i.imm;
  lo[d] = r; cpu.hi[d] = 0;
  cpu.lop = LF_LOGIC; cpu.lsz = 4; cpu.lres = r;
}
function xor32RI(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, d = i.r0, r = lo[d]! ^ i.imm;
  lo[d] = r; cpu.hi[d] = 0;
  cpu.lop = LF_LOGIC; cpu.lsz = 4; cpu.lres = r;
}
export function test32RI(cpu: Cpu, i: Insn): void {
  cpu.lop = LF_LOGIC; cpu.lsz = 4; cpu.lres = cpu.lo[i.r0]! & i.imm;
}

/** By ALU operation (ADD OR ADC SBB AND SUB XOR CMP); 32-bit ADC/SBB keep the table's handler. */
/** ADC / SBB r64, r64 (11/13, 19/1B register forms): alu()'s ALU_ADC / SBB case with the registers resolved. */
function adc64RR(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, hi = cpu.hi, d = i.r0, s = i.r1;
  const dl = lo[d]!, dh = hi[d]!, sl = lo[s]!, sh = hi[s]!;
  const t = (dl >>> 0) + (sl >>> 0) + (getCF(cpu) ? 1 : 0);
  const rl = t | 0;
  const th = (dh >>> 0) + (sh >>> 0) + (t >= TWO32 ? 1 : 0);
  const rh = th | 0;
  lo[d] = rl; hi[d] = rh;
  eager(cpu, 8, rl, rh, dl, sl, dh, sh, th >= TWO32, true);
}
function sbb64RR(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, hi = cpu.hi, d = i.r0, s = i.r1;
  const dl = lo[d]!, dh = hi[d]!, sl = lo[s]!, sh = hi[s]!;
  const t = (dl >>> 0) - (sl >>> 0) - (getCF(cpu) ? 1 : 0);
  const rl = t | 0;
  const th = (dh >>> 0) - (sh >>> 0) - (t < 0 ? 1 : 0);
  const rh = th | 0;
  lo[d] = rl; hi[d] = rh;
  eager(cpu, 8, rl, rh, dl, sl, dh, sh, th < 0, false);
}
export const RR64: (Handler | undefined)[] = [add64RR, or64RR, adc64RR, sbb64RR, and64RR, sub64RR, xor64RR, cmp64RR];
export const RR32: (Handler | undefined)[] = [add32RR, or32RR, undefined, undefined, and32RR, sub32RR, xor32RR, cmp32RR];
export const RI64: (Handler | undefined)[] = [add64RI, or64RI, undefined, undefined, and64RI, sub64RI, xor64RI, cmp64RI];
export const RI32: (Handler | undefined)[] = [add32RI, or32RI, undefined, undefined, and32RI, sub32RI, xor32RI, cmp32RI];

function rrForm(i: Insn, d: number, s: number, t64: (Handler | undefined)[], t32: (Handler | undefined)[], op: number): Handler | undefined {
  if (i.mod !== 3 || (i.osz !== 8 && i.osz !== 4)) return undefined;
  i.r0 = d; i.r1 = s;
  return (i.osz === 8 ? t64 : t32)[op];
}
addSpecializer(aluAI, (i) => rrForm(i, 0, 0, RI64, RI32, i.arg));
addSpecializer(testAI, (i) => rrForm(i, 0, 0, [test64RI], [test32RI], 0));

// ---- CMP and TEST with a memory operand (no write: a plain read, as the table's handlers do) ----
function cmp64Flags(cpu: Cpu, dl: number, dh: number, sl: number, sh: number): void {
  const t = (dl >>> 0) - (sl >>> 0);
  cpu.lop = LF_SUB; cpu.lsz = 8; cpu.lres = t | 0; cpu.lresH = (dh - sh - (t < 0 ? 1 : 0)) | 0;
  cpu.ldst = dl; cpu.ldstH = dh; cpu.lsrc = sl; cpu.lsrcH = sh;
}
function cmp32Flags(cpu: Cpu, dl: number, sl: number): void {
  cpu.lop = LF_SUB; cpu.lsz = 4; cpu.lres = (dl - sl) | 0; cpu.ldst = dl; cpu.lsrc = sl;
}
/** CMP m, imm (81 /7, 83 /7). */
function cmp64MIa(cpu: Cpu, i: Insn, a: number): void { const d = cpu.read64(a); cmp64Flags(cpu, d, cpu.th, i.imm, i.imm >> 31); }
function cmp32MIa(cpu: Cpu, i: Insn, a: number): void { cmp32Flags(cpu, cpu.read32(a), i.imm); }
/** CMP m, r (39). */
function cmp64MRa(cpu: Cpu, i: Insn, a: number): void { const d = cpu.read64(a); cmp64Flags(cpu, d, cpu.th, cpu.lo[i.r1]!, cpu.hi[i.r1]!); }
function cmp32MRa(cpu: Cpu, i: Insn, a: number): void { cmp32Flags(cpu, cpu.read32(a), cpu.lo[i.r1]!); }
/** CMP r, m (3B). */
function cmp64RMa(cpu: Cpu, i: Insn, a: number): void { const s = cpu.read64(a), sh = cpu.th; cmp64Flags(cpu, cpu.lo[i.r0]!, cpu.hi[i.r0]!, s, sh); }
function cmp32RMa(cpu: Cpu, i: Insn, a: number): void { const s = cpu.read32(a); cmp32Flags(cpu, cpu.lo[i.r0]!, s); }
/** TEST m, imm (F7 /0) and TEST m, r (85): the read comes before any flag state changes (it may fault). */
function test64MIa(cpu: Cpu, i: Insn, a: number): void {
  const d = cpu.read64(a);
  cpu.lop = LF_LOGIC; cpu.lsz = 8; cpu.lres = d & i.imm; cpu.lresH = cpu.th & (i.imm >> 31);
}
function test32MIa(cpu: Cpu, i: Insn, a: number): void {
  const d = cpu.read32(a);
  cpu.lop = LF_LOGIC; cpu.lsz = 4; cpu.lres = d & i.imm;
}
function test64MRa(cpu: Cpu, i: Insn, a: number): void {
  const d = cpu.read64(a);
  cpu.lop = LF_LOGIC; cpu.lsz = 8; cpu.lres = d & cpu.lo[i.r1]!; cpu.lresH = cpu.th & cpu.hi[i.r1]!;
}
function test32MRa(cpu: Cpu, i: Insn, a: number): void {
  const d = cpu.read32(a);
  cpu.lop = LF_LOGIC; cpu.lsz = 4; cpu.lres = d & cpu.lo[i.r1]!;
}
// The table's handlers read the register operand before the EA: no difference (reading a register has no effect).
export function cmp64MI(cpu: Cpu, i: Insn): void { cmp64MIa(cpu, i, i.ea(cpu, i)); }
export function cmp32MI(cpu: Cpu, i: Insn): void { cmp32MIa(cpu, i, i.ea(cpu, i)); }
export function cmp64MR(cpu: Cpu, i: Insn): void { cmp64MRa(cpu, i, i.ea(cpu, i)); }
export function cmp32MR(cpu: Cpu, i: Insn): void { cmp32MRa(cpu, i, i.ea(cpu, i)); }
export function cmp64RM(cpu: Cpu, i: Insn): void { cmp64RMa(cpu, i, i.ea(cpu, i)); }
export function cmp32RM(cpu: Cpu, i: Insn): void { cmp32RMa(cpu, i, i.ea(cpu, i)); }
function test64MI(cpu: Cpu, i: Insn): void { test64MIa(cpu, i, i.ea(cpu, i)); }
function test32MI(cpu: Cpu, i: Insn): void { test32MIa(cpu, i, i.ea(cpu, i)); }
function test64MR(cpu: Cpu, i: Insn): void { test64MRa(cpu, i, i.ea(cpu, i)); }
function test32MR(cpu: Cpu, i: Insn): void { test32MRa(cpu, i, i.ea(cpu, i)); }
addAddrForm(cmp64MI, cmp64MIa); addAddrForm(cmp32MI, cmp32MIa); addAddrForm(cmp64MR, cmp64MRa); addAddrForm(cmp32MR, cmp32MRa);
addAddrForm(cmp64RM, cmp64RMa); addAddrForm(cmp32RM, cmp32RMa); addAddrForm(test64MI, test64MIa); addAddrForm(test32MI, test32MIa);
addAddrForm(test64MR, test64MRa); addAddrForm(test32MR, test32MRa);
markPure(cmp64MI, cmp32MI, cmp64MR, cmp32MR, cmp64RM, cmp32RM, test64MI, test32MI, test64MR, test32MR);

/** Memory forms: d, s as in rrForm; only CMP/TEST are specialized. */
function memForm(i: Insn, d: number, s: number, f64: Handler, f32: Handler): Handler | undefined {
  if (i.mod === 3 || (i.osz !== 8 && i.osz !== 4)) return undefined;
  i.r0 = d; i.r1 = s;
  return i.osz === 8 ? f64 : f32;
}
addSpecializer(aluEG, (i) => (i.mod === 3 ? rrForm(i, i.rm, i.reg, RR64, RR32, i.arg) : i.arg === ALU_CMP ? memForm(i, 0, i.reg, cmp64MR, cmp32MR) : undefined));
addSpecializer(aluGE, (i) => (i.mod === 3 ? rrForm(i, i.reg, i.rm, RR64, RR32, i.arg) : i.arg === ALU_CMP ? memForm(i, i.reg, 0, cmp64RM, cmp32RM) : undefined));
addSpecializer(aluEI, (i) => (i.mod === 3 ? rrForm(i, i.rm, 0, RI64, RI32, i.arg) : i.arg === ALU_CMP ? memForm(i, 0, 0, cmp64MI, cmp32MI) : undefined));
addSpecializer(testEG, (i) => (i.mod === 3 ? rrForm(i, i.rm, i.reg, [test64RR], [test32RR], 0) : memForm(i, 0, i.reg, test64MR, test32MR)));
addSpecializer(testEI, (i) => (i.mod === 3 ? rrForm(i, i.rm, 0, [test64RI], [test32RI], 0) : memForm(i, 0, 0, test64MI, test32MI)));

// ---- INC/DEC register: CF is kept (materialized into lcf, as incdec does) ----
export function inc64R(cpu: Cpu, i: Insn): void {
  const cf = getCF(cpu) ? 1 : 0;
  const lo = cpu.lo, hi = cpu.hi, d = i.r0;
  const dl = lo[d]!, dh = hi[d]!;
  const rl = (dl + 1) | 0, rh = rl === 0 ? (dh + 1) | 0 : dh;
  lo[d] = rl; hi[d] = rh;
  cpu.lop = LF_INC; cpu.lsz = 8; cpu.lres = rl; cpu.lresH = rh; cpu.ldst = dl; cpu.ldstH = dh; cpu.lsrc = 1; cpu.lsrcH = 0; cpu.lcf = cf;
}
export function dec64R(cpu: Cpu, i: Insn): void {
  const cf = getCF(cpu) ? 1 : 0;
  const lo = cpu.lo, hi = cpu.hi, d = i.r0;
  const dl = lo[d]!, dh = hi[d]!;
  const rl = (dl - 1) | 0, rh = dl === 0 ? (dh - 1) | 0 : dh;
  lo[d] = rl; hi[d] = rh;
  cpu.lop = LF_DEC; cpu.lsz = 8; cpu.lres = rl; cpu.lresH = rh; cpu.ldst = dl; cpu.ldstH = dh; cpu.lsrc = 1; cpu.lsrcH = 0; cpu.lcf = cf;
}
export function inc32R(cpu: Cpu, i: Insn): void {
  const cf = getCF(cpu) ? 1 : 0;
  const lo = cpu.lo, d = i.r0, dl = lo[d]!;
  const r = (dl + 1) | 0;
  lo[d] = r; cpu.hi[d] = 0;
  cpu.lop = LF_INC; cpu.lsz = 4; cpu.lres = r; cpu.ldst = dl; cpu.lsrc = 1; cpu.lcf = cf;
}
export function dec32R(cpu: Cpu, i: Insn): void {
  const cf = getCF(cpu) ? 1 : 0;
  const lo = cpu.lo, d = i.r0, dl = lo[d]!;
  const r = (dl - 1) | 0;
  lo[d] = r; cpu.hi[d] = 0;
  cpu.lop = LF_DEC; cpu.lsz = 4; cpu.lres = r; cpu.ldst = dl; cpu.lsrc = 1; cpu.lcf = cf;
}
addSpecializer(incR, (i) => {
  if (i.osz !== 4) return undefined;
  i.r0 = i.op & 7;
  return (i.op & 8) !== 0 ? dec32R : inc32R;
});

// ---- INC/DEC memory (64/32-bit): read with write intent, flags, write (the order of rmw + incdec) ----
function incDecMem(cpu: Cpu, a: number, sz: number, dec: boolean): void {
  const v = readRmw(cpu, a, sz), vh = sz === 8 ? cpu.th : 0;
  const cf = getCF(cpu) ? 1 : 0;
  let rl: number, rh = 0;
  if (dec) { rl = (v - 1) | 0; if (sz === 8) rh = v === 0 ? (vh - 1) | 0 : vh; }
  else { rl = (v + 1) | 0; if (sz === 8) rh = rl === 0 ? (vh + 1) | 0 : vh; }
  cpu.lop = dec ? LF_DEC : LF_INC; cpu.lsz = sz; cpu.lres = rl; cpu.lresH = rh; cpu.ldst = v; cpu.ldstH = vh; cpu.lsrc = 1; cpu.lsrcH = 0; cpu.lcf = cf;
  if (sz === 8) cpu.write64(a, rl, rh); else cpu.write32(a, rl);
}
function inc64Ma(cpu: Cpu, _i: Insn, a: number): void { incDecMem(cpu, a, 8, false); }
function dec64Ma(cpu: Cpu, _i: Insn, a: number): void { incDecMem(cpu, a, 8, true); }
function inc32Ma(cpu: Cpu, _i: Insn, a: number): void { incDecMem(cpu, a, 4, false); }
function dec32Ma(cpu: Cpu, _i: Insn, a: number): void { incDecMem(cpu, a, 4, true); }
function inc64M(cpu: Cpu, i: Insn): void { incDecMem(cpu, i.ea(cpu, i), 8, false); }
function dec64M(cpu: Cpu, i: Insn): void { incDecMem(cpu, i.ea(cpu, i), 8, true); }
function inc32M(cpu: Cpu, i: Insn): void { incDecMem(cpu, i.ea(cpu, i), 4, false); }
function dec32M(cpu: Cpu, i: Insn): void { incDecMem(cpu, i.ea(cpu, i), 4, true); }
addAddrForm(inc64M, inc64Ma); addAddrForm(dec64M, dec64Ma); addAddrForm(inc32M, inc32Ma); addAddrForm(dec32M, dec32Ma);
addSpecializer(incE, (i) => (i.mod === 3 ? rrForm(i, i.rm, 0, [inc64R], [inc32R], 0) : i.osz === 8 ? inc64M : i.osz === 4 ? inc32M : undefined));
addSpecializer(decE, (i) => (i.mod === 3 ? rrForm(i, i.rm, 0, [dec64R], [dec32R], 0) : i.osz === 8 ? dec64M : i.osz === 4 ? dec32M : undefined));
markPure(inc64M, dec64M, inc32M, dec32M);

// ---- SHL/SHR/SAR register by a constant non-zero count (C1 /4,5,6,7 Ib; D1 /4,5,6,7) ----
// Flags as shiftOp/shiftOp64: CF last bit out, OF from the formulas there, SF/ZF/PF of the result, AF 0.
export function shl64RI(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, hi = cpu.hi, d = i.r0, n = i.r1;
  const l = lo[d]!, h = hi[d]!;
  let rl: number, rh: number;
  if (n < 32) { rl = l << n; rh = (h << n) | (l >>> (32 - n)); } else { rl = 0; rh = l << (n - 32); }
  const cf = n <= 32 ? (h >>> (32 - n)) & 1 : (l >>> (64 - n)) & 1; // bit 64 - n
  lo[d] = rl; hi[d] = rh;
  cpu.farith = szpOf(8, rl, rh) | cf | (((rh >>> 31) ^ cf) !== 0 ? OF : 0);
  cpu.lop = LF_NONE;
}
export function shr64RI(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, hi = cpu.hi, d = i.r0, n = i.r1;
  const l = lo[d]!, h = hi[d]!;
  let rl: number, rh: number;
  if (n < 32) { rl = (l >>> n) | (h << (32 - n)); rh = (h >>> n) | 0; } else { rl = (h >>> (n - 32)) | 0; rh = 0; }
  const cf = n <= 32 ? (l >>> (n - 1)) & 1 : (h >>> (n - 33)) & 1; // bit n - 1
  lo[d] = rl; hi[d] = rh;
  cpu.farith = szpOf(8, rl, rh) | cf | (h < 0 ? OF : 0);
  cpu.lop = LF_NONE;
}
export function sar64RI(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, hi = cpu.hi, d = i.r0, n = i.r1;
  const l = lo[d]!, h = hi[d]!;
  let rl: number, rh: number;
  if (n < 32) { rl = (l >>> n) | (h << (32 - n)); rh = h >> n; } else { rl = h >> (n - 32); rh = h >> 31; }
  const cf = n <= 32 ? (l >>> (n - 1)) & 1 : (h >>> (n - 33)) & 1;
  lo[d] = rl; hi[d] = rh;
  cpu.farith = szpOf(8, rl, rh) | cf;
  cpu.lop = LF_NONE;
}
export function shl32RI(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, d = i.r0, n = i.r1, x = lo[d]!;
  const r = x << n, cf = (x >>> (32 - n)) & 1;
  lo[d] = r; cpu.hi[d] = 0;
  cpu.farith = szpOf(4, r, 0) | cf | (((r >>> 31) ^ cf) !== 0 ? OF : 0);
  cpu.lop = LF_NONE;
}
export function shr32RI(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, d = i.r0, n = i.r1, x = lo[d]!;
  const r = (x >>> n) | 0;
  lo[d] = r; cpu.hi[d] = 0;
  cpu.farith = szpOf(4, r, 0) | ((x >>> (n - 1)) & 1) | (x < 0 ? OF : 0);
  cpu.lop = LF_NONE;
}
export function sar32RI(cpu: Cpu, i: Insn): void {
  const lo = cpu.lo, d = i.r0, n = i.r1, x = lo[d]!;
  const r = x >> n;
  lo[d] = r; cpu.hi[d] = 0;
  cpu.farith = szpOf(4, r, 0) | ((x >> (n - 1)) & 1);
  cpu.lop = LF_NONE;
}
const SH64: (Handler | undefined)[] = [undefined, undefined, undefined, undefined, shl64RI, shr64RI, shl64RI, sar64RI];
const SH32: (Handler | undefined)[] = [undefined, undefined, undefined, undefined, shl32RI, shr32RI, shl32RI, sar32RI];
addSpecializer(shiftE, (i) => {
  if (i.op !== 0xc1 && i.op !== 0xd1) return undefined;
  const n = (i.op === 0xd1 ? 1 : i.imm) & (i.osz === 8 ? 63 : 31);
  if (n === 0) return undefined;
  const f = rrForm(i, i.rm, n, SH64, SH32, i.reg & 7);
  return f;
});

markRegOnly(add64RR, sub64RR, cmp64RR, and64RR, or64RR, xor64RR, test64RR, add32RR, sub32RR, cmp32RR, and32RR, or32RR,
  xor32RR, test32RR, add64RI, sub64RI, cmp64RI, and64RI, or64RI, xor64RI, test64RI, add32RI, sub32RI, cmp32RI, and32RI,
  or32RI, xor32RI, test32RI, inc64R, dec64R, inc32R, dec32R, shl64RI, shr64RI, sar64RI, shl32RI, shr32RI, sar32RI,
  imul64RR, imul64RRI, adc64RR, sbb64RR);
