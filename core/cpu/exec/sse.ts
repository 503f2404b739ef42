/**
 * SSE/SSE2 data movement, the 128-bit integer operations that compiled
 * string and memory routines use, and MXCSR access (SDM Vol. 2, one
 * section per instruction, cited at each handler). No floating-point
 * arithmetic: nothing here can raise a SIMD floating-point exception.
 *
 * Every instruction first makes the checks of its exception class (Vol. 2A,
 * 2.5 "Exception Classifications of SSE instructions"; Vol. 3A, 2.5 CR0.EM /
 * CR0.TS and CR4.OSFXSR, 13.1 "Provide Operating System Support for SSE"):
 * #UD if CR0.EM = 1 or CR4.OSFXSR = 0, then #NM if CR0.TS = 1. A 128-bit
 * memory operand of a legacy SSE instruction must be 16-byte aligned
 * (#GP(0), checked before the canonical check, as the host CPU does),
 * except for the explicitly unaligned moves (MOVUPS/MOVUPD/MOVDQU) and the
 * instructions with 32/64-bit memory operands.
 *
 * Registers come from fpu-state.ts (XMMn dword j = xmm[4n + j]); sources are
 * copied to a module scratch first, so a register may be source and
 * destination. No allocation per instruction, no BigInt.
 */
import type { Cpu } from '../cpu.js';
import type { Insn } from '../insn.js';
import { fpuState, MXCSR_MASK, type FpuState } from '../fpu-state.js';
import { eaLow32 } from '../ea.js';
import { setReg, getReg, writeE } from './operands.js';
import { CR0_EM, CR0_TS, CR4_OSFXSR, UD, NM } from '../regs.js';

/** The source operand of the current instruction (16 bytes), and a copy of the destination. */
const SRC = new Int32Array(4), SRCB = new Uint8Array(SRC.buffer), SRCW = new Uint16Array(SRC.buffer);
const DST = new Int32Array(4), DSTB = new Uint8Array(DST.buffer), DSTW = new Uint16Array(DST.buffer);

/** #UD if CR0.EM or !CR4.OSFXSR, then #NM if CR0.TS; returns the register state. */
export function sseState(cpu: Cpu): FpuState {
  const cr0 = cpu.cr0;
  if ((cr0 & CR0_EM) !== 0 || (cpu.cr4 & CR4_OSFXSR) === 0) cpu.fault(UD);
  if ((cr0 & CR0_TS) !== 0) cpu.fault(NM);
  return fpuState(cpu);
}

/** Linear address of the memory operand; #GP(0) if `align` and it is not 16-byte aligned. */
function addr(cpu: Cpu, i: Insn, align: number): number {
  if (align !== 0 && (eaLow32(cpu, i) & 15) !== 0) cpu.gp(0);
  return i.ea(cpu, i);
}

/** Reads the W operand (XMM r/m or m128) into SRC. */
function loadW(cpu: Cpu, i: Insn, s: FpuState, align: number): void {
  if (i.mod === 3) {
    const o = i.rm << 2, x = s.xmm;
    SRC[0] = x[o]!; SRC[1] = x[o + 1]!; SRC[2] = x[o + 2]!; SRC[3] = x[o + 3]!;
    return;
  }
  const a = addr(cpu, i, align);
  SRC[0] = cpu.read64(a); SRC[1] = cpu.th;
  SRC[2] = cpu.read64(cpu.linAdd(a, 8)); SRC[3] = cpu.th;
}

/** Writes XMM register `r` to m128 at `a`, checking both pages first (no partial store). */
function store128(cpu: Cpu, a: number, s: FpuState, r: number): void {
  const o = r << 2, x = s.xmm;
  if ((a & 0xfff) > 0xff0) cpu.probeWrite(a, 16);
  cpu.write64(a, x[o]!, x[o + 1]!);
  cpu.write64(cpu.linAdd(a, 8), x[o + 2]!, x[o + 3]!);
}

function setX(s: FpuState, r: number, d0: number, d1: number, d2: number, d3: number): void {
  const o = r << 2, x = s.xmm;
  x[o] = d0; x[o + 1] = d1; x[o + 2] = d2; x[o + 3] = d3;
}

// ---- 128-bit moves ------------------------------------------------------------------

/**
 * MOVUPS/MOVUPD/MOVDQU xmm, xmm/m128 (0F 10, 66 0F 10, F3 0F 6F) and
 * MOVAPS/MOVAPD/MOVDQA (0F 28, 66 0F 28, 66 0F 6F); arg = 1: aligned
 * (Vol. 2B MOVUPS, MOVUPD, MOVDQU; Vol. 2B MOVAPS, MOVAPD, MOVDQA).
 */
export function movLoad(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  loadW(cpu, i, s, i.arg);
  setX(s, i.reg, SRC[0]!, SRC[1]!, SRC[2]!, SRC[3]!);
}
/**
 * MOVUPS/MOVUPD/MOVDQU xmm/m128, xmm (0F 11, 66 0F 11, F3 0F 7F), MOVAPS/
 * MOVAPD/MOVDQA (0F 29, 66 0F 29, 66 0F 7F) and the non-temporal stores
 * MOVNTPS/MOVNTPD/MOVNTDQ m128 (0F 2B, 66 0F 2B, 66 0F E7: aligned, no
 * cache here); arg = 1: aligned (Vol. 2B MOVAPS ..., MOVNTPS, MOVNTPD, MOVNTDQ).
 */
export function movStore(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  if (i.mod === 3) {
    const o = i.reg << 2, x = s.xmm;
    setX(s, i.rm, x[o]!, x[o + 1]!, x[o + 2]!, x[o + 3]!);
    return;
  }
  store128(cpu, addr(cpu, i, i.arg), s, i.reg);
}

// ---- scalar and half moves ----------------------------------------------------------

/**
 * MOVSS xmm, xmm/m32 (F3 0F 10; arg 4) and MOVSD xmm, xmm/m64 (F2 0F 10;
 * arg 8): register source: the low element only, the rest of the
 * destination unchanged; memory source: the rest is zeroed (Vol. 2B MOVSS, MOVSD).
 */
export function movScalarLoad(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  const o = i.reg << 2, x = s.xmm;
  if (i.mod === 3) {
    const q = i.rm << 2;
    x[o] = x[q]!;
    if (i.arg === 8) x[o + 1] = x[q + 1]!;
    return;
  }
  const a = i.ea(cpu, i);
  if (i.arg === 4) setX(s, i.reg, cpu.read32(a), 0, 0, 0);
  else { const lo = cpu.read64(a); setX(s, i.reg, lo, cpu.th, 0, 0); }
}
/** MOVSS xmm/m32, xmm (F3 0F 11) and MOVSD xmm/m64, xmm (F2 0F 11) (Vol. 2B MOVSS, MOVSD). */
export function movScalarStore(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  const o = i.reg << 2, x = s.xmm;
  if (i.mod === 3) {
    const q = i.rm << 2;
    x[q] = x[o]!;
    if (i.arg === 8) x[q + 1] = x[o + 1]!;
    return;
  }
  const a = i.ea(cpu, i);
  if (i.arg === 4) cpu.write32(a, x[o]!);
  else cpu.write64(a, x[o]!, x[o + 1]!);
}

/**
 * The 64-bit half moves (Vol. 2B MOVLPS, MOVLPD, MOVHPS, MOVHPD, MOVHLPS,
 * MOVLHPS); arg = 0 low half, 2 high half of the XMM register:
 *   0F 12 / 66 0F 12  MOVLPS/MOVLPD xmm, m64 (NP mod = 3: MOVHLPS xmm, xmm: high -> low)
 *   0F 16 / 66 0F 16  MOVHPS/MOVHPD xmm, m64 (NP mod = 3: MOVLHPS xmm, xmm: low -> high)
 */
export function movHalfLoad(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  const x = s.xmm, o = (i.reg << 2) + i.arg;
  if (i.mod === 3) {
    const q = (i.rm << 2) + (2 - i.arg);
    const l = x[q]!, h = x[q + 1]!;
    x[o] = l; x[o + 1] = h;
    return;
  }
  const lo = cpu.read64(i.ea(cpu, i));
  x[o] = lo; x[o + 1] = cpu.th;
}
/** MOVLPS/MOVLPD m64, xmm (0F 13, 66 0F 13; arg 0) and MOVHPS/MOVHPD m64, xmm (0F 17, 66 0F 17; arg 2). */
export function movHalfStore(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  const o = (i.reg << 2) + i.arg;
  cpu.write64(i.ea(cpu, i), s.xmm[o]!, s.xmm[o + 1]!);
}

/**
 * MOVD/MOVQ xmm, r/m32/64 (66 0F 6E; REX.W: MOVQ): zero-extends into the
 * XMM register (Vol. 2B MOVD/MOVQ).
 */
export function movdToXmm(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  const w = (i.rex & 8) !== 0;
  let lo: number, hi = 0;
  if (i.mod === 3) { lo = getReg(cpu, i.rm, w ? 8 : 4, i.rex); if (w) hi = cpu.th; }
  else {
    const a = i.ea(cpu, i);
    if (w) { lo = cpu.read64(a); hi = cpu.th; } else lo = cpu.read32(a);
  }
  setX(s, i.reg, lo, hi, 0, 0);
}
/** MOVD/MOVQ r/m32/64, xmm (66 0F 7E; REX.W: MOVQ); a 32-bit GPR destination is zero-extended (Vol. 2B MOVD/MOVQ). */
export function movdFromXmm(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  const w = (i.rex & 8) !== 0;
  const o = i.reg << 2;
  const lo = s.xmm[o]!, hi = s.xmm[o + 1]!;
  writeE(cpu, i, w ? 8 : 4, lo, hi); // a 32-bit GPR destination zero-extends
}
/** MOVQ xmm, xmm/m64 (F3 0F 7E): the low quadword, upper quadword zeroed (Vol. 2B MOVQ). */
export function movqLoad(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  let lo: number, hi: number;
  if (i.mod === 3) { const q = i.rm << 2; lo = s.xmm[q]!; hi = s.xmm[q + 1]!; }
  else { lo = cpu.read64(i.ea(cpu, i)); hi = cpu.th; }
  setX(s, i.reg, lo, hi, 0, 0);
}
/** MOVQ xmm/m64, xmm (66 0F D6): a register destination gets its upper quadword zeroed (Vol. 2B MOVQ). */
export function movqStore(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  const o = i.reg << 2;
  const lo = s.xmm[o]!, hi = s.xmm[o + 1]!;
  if (i.mod === 3) setX(s, i.rm, lo, hi, 0, 0);
  else cpu.write64(i.ea(cpu, i), lo, hi);
}

// ---- mask extraction ----------------------------------------------------------------

/** PMOVMSKB r32/64, xmm (66 0F D7): the 16 byte sign bits, zero-extended (Vol. 2B PMOVMSKB). */
export function pmovmskb(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  const b = s.xmmB, o = i.rm << 4;
  let m = 0;
  for (let k = 0; k < 16; k++) m |= (b[o + k]! >> 7) << k;
  setReg(cpu, i.reg, 4, m, 0, 1);
}
/**
 * MOVMSKPS r32/64, xmm (0F 50; the 4 dword sign bits) and MOVMSKPD (66 0F 50;
 * the 2 qword sign bits), zero-extended (Vol. 2B MOVMSKPS, MOVMSKPD).
 */
export function movmsk(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  const x = s.xmm, o = i.rm << 2;
  const m = i.arg === 4
    ? (x[o]! >>> 31) | ((x[o + 1]! >>> 31) << 1) | ((x[o + 2]! >>> 31) << 2) | ((x[o + 3]! >>> 31) << 3)
    : (x[o + 1]! >>> 31) | ((x[o + 3]! >>> 31) << 1);
  setReg(cpu, i.reg, 4, m, 0, 1);
}

// ---- bitwise logic ------------------------------------------------------------------

/**
 * Bitwise operations on 128 bits, arg: 0 AND, 1 AND NOT (NOT destination,
 * then AND), 2 OR, 3 XOR. PAND/PANDN/POR/PXOR (66 0F DB/DF/EB/EF; Vol. 2B),
 * ANDPS/ANDNPS/ORPS/XORPS (0F 54-57) and the PD forms (66 0F 54-57; Vol. 2A
 * ANDPS ..., Vol. 2C XORPS, XORPD): no floating-point semantics.
 */
export function logic(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  loadW(cpu, i, s, 1);
  const x = s.xmm, o = i.reg << 2, op = i.arg;
  for (let k = 0; k < 4; k++) {
    const d = x[o + k]!, v = SRC[k]!;
    x[o + k] = op === 0 ? d & v : op === 1 ? ~d & v : op === 2 ? d | v : d ^ v;
  }
}

// ---- integer arithmetic and compares ------------------------------------------------

/**
 * PCMPEQB/PCMPEQW/PCMPEQD xmm, xmm/m128 (66 0F 74/75/76): all ones where
 * equal, zero elsewhere; arg = element size (Vol. 2B PCMPEQB/PCMPEQW/PCMPEQD).
 */
export function pcmpeq(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  loadW(cpu, i, s, 1);
  if (i.arg === 1) {
    const b = s.xmmB, o = i.reg << 4;
    for (let k = 0; k < 16; k++) b[o + k] = b[o + k] === SRCB[k] ? 0xff : 0;
  } else if (i.arg === 2) {
    const w = s.xmmW, o = i.reg << 3;
    for (let k = 0; k < 8; k++) w[o + k] = w[o + k] === SRCW[k] ? 0xffff : 0;
  } else {
    const x = s.xmm, o = i.reg << 2;
    for (let k = 0; k < 4; k++) x[o + k] = x[o + k] === SRC[k] ? -1 : 0;
  }
}

/**
 * PADDB/W/D/Q (66 0F FC/FD/FE/D4) and PSUBB/W/D/Q (66 0F F8/F9/FA/FB):
 * wrapping element-wise add/subtract; arg = element size, + 16 for
 * subtraction (Vol. 2B PADDB/PADDW/PADDD/PADDQ, PSUBB/PSUBW/PSUBD, PSUBQ).
 */
export function paddsub(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  loadW(cpu, i, s, 1);
  const sub = i.arg >= 16, size = i.arg & 15;
  if (size === 1) {
    const b = s.xmmB, o = i.reg << 4;
    for (let k = 0; k < 16; k++) b[o + k] = sub ? b[o + k]! - SRCB[k]! : b[o + k]! + SRCB[k]!;
  } else if (size === 2) {
    const w = s.xmmW, o = i.reg << 3;
    for (let k = 0; k < 8; k++) w[o + k] = sub ? w[o + k]! - SRCW[k]! : w[o + k]! + SRCW[k]!;
  } else if (size === 4) {
    const x = s.xmm, o = i.reg << 2;
    for (let k = 0; k < 4; k++) x[o + k] = sub ? (x[o + k]! - SRC[k]!) | 0 : (x[o + k]! + SRC[k]!) | 0;
  } else {
    const x = s.xmm, o = i.reg << 2;
    for (let k = 0; k < 4; k += 2) {
      const l = sub ? (x[o + k]! >>> 0) - (SRC[k]! >>> 0) : (x[o + k]! >>> 0) + (SRC[k]! >>> 0);
      const c = l < 0 ? -1 : l > 0xffffffff ? 1 : 0;
      x[o + k + 1] = (sub ? x[o + k + 1]! - SRC[k + 1]! : x[o + k + 1]! + SRC[k + 1]!) + c;
      x[o + k] = l;
    }
  }
}

/** PMINUB/PMAXUB xmm, xmm/m128 (66 0F DA / DE): unsigned byte minimum (arg 0) / maximum (arg 1) (Vol. 2B PMINUB, PMAXUB). */
export function pminmaxub(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  loadW(cpu, i, s, 1);
  const b = s.xmmB, o = i.reg << 4, max = i.arg === 1;
  for (let k = 0; k < 16; k++) {
    const d = b[o + k]!, v = SRCB[k]!;
    b[o + k] = (v > d) === max ? v : d;
  }
}

/**
 * PCMPGTB/PCMPGTW/PCMPGTD xmm, xmm/m128 (66 0F 64/65/66): all ones where the destination
 * element is greater (signed) than the source element; arg = element size (Vol. 2B PCMPGTB/PCMPGTW/PCMPGTD).
 */
export function pcmpgt(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  loadW(cpu, i, s, 1);
  if (i.arg === 1) {
    const b = s.xmmB, o = i.reg << 4;
    for (let k = 0; k < 16; k++) b[o + k] = ((b[o + k]! << 24) >> 24) > ((SRCB[k]! << 24) >> 24) ? 0xff : 0;
  } else if (i.arg === 2) {
    const w = s.xmmW, o = i.reg << 3;
    for (let k = 0; k < 8; k++) w[o + k] = ((w[o + k]! << 16) >> 16) > ((SRCW[k]! << 16) >> 16) ? 0xffff : 0;
  } else {
    const x = s.xmm, o = i.reg << 2;
    for (let k = 0; k < 4; k++) x[o + k] = x[o + k]! > SRC[k]! ? -1 : 0;
  }
}

/** Saturating-arithmetic kinds in `arg`: element size (1, 2) | SAT_SIGNED | SAT_SUB. */
export const SAT_SIGNED = 0x10, SAT_SUB = 0x20;
/**
 * PADDUSB/PADDUSW (66 0F DC/DD), PSUBUSB/PSUBUSW (66 0F D8/D9), PADDSB/PADDSW (66 0F EC/ED),
 * PSUBSB/PSUBSW (66 0F E8/E9): element-wise add/subtract with unsigned or signed saturation
 * (Vol. 2B PADDUSB/PADDUSW, PSUBUSB/PSUBUSW, PADDSB/PADDSW, PSUBSB/PSUBSW).
 */
export function paddsubSat(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  loadW(cpu, i, s, 1);
  const sgn = (i.arg & SAT_SIGNED) !== 0, sub = (i.arg & SAT_SUB) !== 0;
  if ((i.arg & 15) === 1) {
    const b = s.xmmB, o = i.reg << 4;
    const lo = sgn ? -128 : 0, hi = sgn ? 127 : 255;
    for (let k = 0; k < 16; k++) {
      const d = sgn ? (b[o + k]! << 24) >> 24 : b[o + k]!, v = sgn ? (SRCB[k]! << 24) >> 24 : SRCB[k]!;
      const r = sub ? d - v : d + v;
      b[o + k] = r < lo ? lo : r > hi ? hi : r;
    }
  } else {
    const w = s.xmmW, o = i.reg << 3;
    const lo = sgn ? -32768 : 0, hi = sgn ? 32767 : 65535;
    for (let k = 0; k < 8; k++) {
      const d = sgn ? (w[o + k]! << 16) >> 16 : w[o + k]!, v = sgn ? (SRCW[k]! << 16) >> 16 : SRCW[k]!;
      const r = sub ? d - v : d + v;
      w[o + k] = r < lo ? lo : r > hi ? hi : r;
    }
  }
}

/** PMINSW/PMAXSW xmm, xmm/m128 (66 0F EA / EE): signed word minimum (arg 0) / maximum (arg 1) (Vol. 2B PMINSW, PMAXSW). */
export function pminmaxsw(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  loadW(cpu, i, s, 1);
  const w = s.xmmW, o = i.reg << 3, max = i.arg === 1;
  for (let k = 0; k < 8; k++) {
    const d = (w[o + k]! << 16) >> 16, v = (SRCW[k]! << 16) >> 16;
    if ((v > d) === max && v !== d) w[o + k] = v;
  }
}

/** PAVGB/PAVGW xmm, xmm/m128 (66 0F E0 / E3): unsigned (a + b + 1) >> 1; arg = element size (Vol. 2B PAVGB/PAVGW). */
export function pavg(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  loadW(cpu, i, s, 1);
  if (i.arg === 1) {
    const b = s.xmmB, o = i.reg << 4;
    for (let k = 0; k < 16; k++) b[o + k] = (b[o + k]! + SRCB[k]! + 1) >> 1;
  } else {
    const w = s.xmmW, o = i.reg << 3;
    for (let k = 0; k < 8; k++) w[o + k] = (w[o + k]! + SRCW[k]! + 1) >> 1;
  }
}

/** Multiplication kinds in `arg`. */
export const MUL_LW = 0, MUL_HW = 1, MUL_HUW = 2, MUL_UDQ = 3, MUL_ADDWD = 4;
/**
 * PMULLW (66 0F D5: low 16 bits of the signed products), PMULHW (66 0F E5: high 16 bits,
 * signed), PMULHUW (66 0F E4: high 16 bits, unsigned), PMULUDQ (66 0F F4: dwords 0 and 2,
 * unsigned, to two 64-bit products), PMADDWD (66 0F F5: signed word products, adjacent
 * pairs added into dwords; 8000H * 8000H * 2 wraps to 80000000H) (Vol. 2B PMULLW, PMULHW,
 * PMULHUW, PMULUDQ, PMADDWD).
 */
export function pmul(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  loadW(cpu, i, s, 1);
  const k0 = i.arg;
  if (k0 === MUL_UDQ) {
    const x = s.xmm, o = i.reg << 2;
    for (let k = 0; k < 4; k += 2) {
      // 32 x 32 -> 64 bits from 16-bit halves (exact in doubles), no BigInt.
      const a = x[o + k]! >>> 0, b = SRC[k]! >>> 0;
      const al = a & 0xffff, ah = a >>> 16, bl = b & 0xffff, bh = b >>> 16;
      const ll = al * bl, mid = ah * bl + al * bh, hh = ah * bh;
      const lo = ll + (mid % 65536) * 65536;
      x[o + k] = lo | 0; // lo < 2^49: the low 32 bits are exact
      x[o + k + 1] = (hh + Math.floor(mid / 65536) + Math.floor(lo / 4294967296)) | 0;
    }
    return;
  }
  if (k0 === MUL_ADDWD) {
    const w = s.xmmW, x = s.xmm, o = i.reg << 3;
    for (let k = 0; k < 4; k++) {
      const p0 = ((w[o + 2 * k]! << 16) >> 16) * ((SRCW[2 * k]! << 16) >> 16);
      const p1 = ((w[o + 2 * k + 1]! << 16) >> 16) * ((SRCW[2 * k + 1]! << 16) >> 16);
      x[(i.reg << 2) + k] = (p0 + p1) | 0;
    }
    return;
  }
  const w = s.xmmW, o = i.reg << 3;
  for (let k = 0; k < 8; k++) {
    const p = k0 === MUL_HUW ? w[o + k]! * SRCW[k]! : ((w[o + k]! << 16) >> 16) * ((SRCW[k]! << 16) >> 16);
    w[o + k] = k0 === MUL_LW ? p : Math.floor(p / 65536);
  }
}

/**
 * PSADBW xmm, xmm/m128 (66 0F F6): for each 8-byte half, the sum of the absolute byte
 * differences into bits 15:0 of that quadword, bits 63:16 zero (Vol. 2B PSADBW).
 */
export function psadbw(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  loadW(cpu, i, s, 1);
  const b = s.xmmB;
  let s0 = 0, s1 = 0;
  const o = i.reg << 4;
  for (let k = 0; k < 8; k++) { s0 += Math.abs(b[o + k]! - SRCB[k]!); s1 += Math.abs(b[o + 8 + k]! - SRCB[8 + k]!); }
  setX(s, i.reg, s0, 0, s1, 0);
}

/**
 * PACKSSWB (66 0F 63: signed words to signed bytes), PACKSSDW (66 0F 6B: signed dwords to
 * signed words), PACKUSWB (66 0F 67: signed words to unsigned bytes), with saturation; the
 * destination's elements fill the low half, the source's the high half; arg: 0 SSWB, 1 SSDW,
 * 2 USWB (Vol. 2B PACKSSWB/PACKSSDW, PACKUSWB).
 */
export function pack(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  loadW(cpu, i, s, 1);
  const o = i.reg << 2, x = s.xmm;
  for (let k = 0; k < 4; k++) DST[k] = x[o + k]!;
  if (i.arg === 1) {
    const w = s.xmmW, ow = i.reg << 3;
    for (let k = 0; k < 8; k++) {
      const v = k < 4 ? DST[k]! : SRC[k - 4]!;
      w[ow + k] = v < -32768 ? -32768 : v > 32767 ? 32767 : v;
    }
    return;
  }
  const b = s.xmmB, ob = i.reg << 4, lo = i.arg === 0 ? -128 : 0, hi = i.arg === 0 ? 127 : 255;
  for (let k = 0; k < 16; k++) {
    const v = ((k < 8 ? DSTW[k]! : SRCW[k - 8]!) << 16) >> 16;
    b[ob + k] = v < lo ? lo : v > hi ? hi : v;
  }
}

// ---- shuffles and unpacks -----------------------------------------------------------

/**
 * PUNPCKLBW/WD/DQ/QDQ (66 0F 60/61/62/6C) and PUNPCKHBW/WD/DQ/QDQ (66 0F
 * 68/69/6A/6D): interleave the elements of the low (or high) halves of the
 * destination and the source, destination first; arg = element size, + 16
 * for the high halves (Vol. 2B PUNPCKHBW..., PUNPCKLBW...).
 */
export function punpck(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  loadW(cpu, i, s, 1);
  const b = s.xmmB, o = i.reg << 4;
  const size = i.arg & 15, half = i.arg >= 16 ? 8 : 0;
  for (let k = 0; k < 16; k++) DSTB[k] = b[o + k]!;
  for (let e = 0; e < 8 / size; e++) {
    for (let j = 0; j < size; j++) {
      b[o + 2 * e * size + j] = DSTB[half + e * size + j]!;
      b[o + (2 * e + 1) * size + j] = SRCB[half + e * size + j]!;
    }
  }
}

/**
 * PSHUFD xmm, xmm/m128, imm8 (66 0F 70): dword k = source dword imm[2k+1:2k];
 * PSHUFLW (F2 0F 70) / PSHUFHW (F3 0F 70): the same on the low / high four
 * words, the other half copied; arg: 0 D, 1 LW, 2 HW (Vol. 2B PSHUFD, PSHUFLW, PSHUFHW).
 */
export function pshuf(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  loadW(cpu, i, s, 1);
  const imm = i.imm & 0xff;
  if (i.arg === 0) {
    setX(s, i.reg, SRC[imm & 3]!, SRC[(imm >> 2) & 3]!, SRC[(imm >> 4) & 3]!, SRC[(imm >> 6) & 3]!);
    return;
  }
  const w = s.xmmW, o = i.reg << 3, base = i.arg === 1 ? 0 : 4, keep = 4 - base;
  for (let k = 0; k < 4; k++) {
    w[o + base + k] = SRCW[base + ((imm >> (2 * k)) & 3)]!;
    w[o + keep + k] = SRCW[keep + k]!;
  }
}

/**
 * SHUFPS xmm, xmm/m128, imm8 (0F C6): dwords 0-1 from the destination, 2-3 from the source,
 * each chosen by two bits of imm8; SHUFPD (66 0F C6): quadword 0 from the destination,
 * 1 from the source, chosen by imm8 bits 0 and 1; arg: 4 PS, 8 PD (Vol. 2C SHUFPS, SHUFPD).
 */
export function shufp(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  loadW(cpu, i, s, 1);
  const imm = i.imm & 0xff, o = i.reg << 2, x = s.xmm;
  for (let k = 0; k < 4; k++) DST[k] = x[o + k]!;
  if (i.arg === 4) {
    setX(s, i.reg, DST[imm & 3]!, DST[(imm >> 2) & 3]!, SRC[(imm >> 4) & 3]!, SRC[(imm >> 6) & 3]!);
  } else {
    const d = (imm & 1) << 1, q = imm & 2;
    setX(s, i.reg, DST[d]!, DST[d + 1]!, SRC[q]!, SRC[q + 1]!);
  }
}

/** PEXTRW r32/64, xmm, imm8 (66 0F C5, register source): word imm8[2:0], zero-extended (Vol. 2B PEXTRW). */
export function pextrw(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  setReg(cpu, i.reg, 4, s.xmmW[(i.rm << 3) + (i.imm & 7)]!, 0, 1);
}
/** PINSRW xmm, r32/m16, imm8 (66 0F C4): word imm8[2:0] of the destination from the low word of the source (Vol. 2B PINSRW). */
export function pinsrw(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  const v = i.mod === 3 ? cpu.lo[i.rm]! & 0xffff : cpu.read16(i.ea(cpu, i));
  s.xmmW[(i.reg << 3) + (i.imm & 7)] = v;
}

// ---- shifts by an immediate (groups 12, 13, 14: 66 0F 71, 72, 73) -------------------

/** Shift kinds in `arg` (low bits) and element size (arg >> 4: 2, 4, 8; 16 = whole register in bytes). */
export const SH_RL = 0, SH_RA = 1, SH_LL = 2;

/**
 * PSRLW/PSRAW/PSLLW xmm, imm8 (66 0F 71 /2 /4 /6), PSRLD/PSRAD/PSLLD (66 0F
 * 72 /2 /4 /6), PSRLQ/PSLLQ (66 0F 73 /2 /6), PSRLDQ/PSLLDQ (66 0F 73 /3 /7,
 * a byte count): a count beyond the element width gives 0 (logical) or the
 * sign (arithmetic) (Vol. 2B PSLLW/PSLLD/PSLLQ, PSRAW/PSRAD, PSRLW/PSRLD/PSRLQ, PSLLDQ, PSRLDQ).
 */
export function pshiftImm(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  shiftReg(s, i.rm, i.arg & 3, i.arg >> 4, i.imm & 0xff);
}

/**
 * PSRLW/PSRLD/PSRLQ (66 0F D1/D2/D3), PSRAW/PSRAD (66 0F E1/E2), PSLLW/PSLLD/PSLLQ (66 0F
 * F1/F2/F3) xmm, xmm/m128: the count is the source's whole low quadword (a count beyond
 * the element width gives 0, or the sign for PSRA); arg as for pshiftImm (same SDM pages).
 */
export function pshiftXmm(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  loadW(cpu, i, s, 1);
  const c = SRC[1] !== 0 || (SRC[0]! >>> 0) > 255 ? 255 : SRC[0]!;
  shiftReg(s, i.reg, i.arg & 3, i.arg >> 4, c);
}

/** Shifts XMM register `r` by `c` (0-255): kind SH_*, element size 2/4/8, or 16 (bytes). */
function shiftReg(s: FpuState, r: number, kind: number, size: number, c: number): void {
  if (size === 2) {
    const w = s.xmmW, o = r << 3;
    for (let k = 0; k < 8; k++) {
      const v = w[o + k]!;
      w[o + k] = kind === SH_RA ? ((v << 16) >> 16) >> (c > 15 ? 15 : c) : c > 15 ? 0 : kind === SH_RL ? v >>> c : v << c;
    }
  } else if (size === 4) {
    const x = s.xmm, o = r << 2;
    for (let k = 0; k < 4; k++) {
      const v = x[o + k]!;
      x[o + k] = kind === SH_RA ? v >> (c > 31 ? 31 : c) : c > 31 ? 0 : kind === SH_RL ? v >>> c : v << c;
    }
  } else if (size === 8) {
    const x = s.xmm, o = r << 2;
    for (let k = 0; k < 4; k += 2) {
      const lo = x[o + k]!, hi = x[o + k + 1]!;
      let l: number, h: number;
      if (c > 63) { l = 0; h = 0; }
      else if (c === 0) { l = lo; h = hi; }
      else if (kind === SH_RL) {
        if (c >= 32) { l = hi >>> (c - 32); h = 0; } else { l = (lo >>> c) | (hi << (32 - c)); h = hi >>> c; }
      } else if (c >= 32) { h = lo << (c - 32); l = 0; } else { h = (hi << c) | (lo >>> (32 - c)); l = lo << c; }
      x[o + k] = l; x[o + k + 1] = h;
    }
  } else {
    const b = s.xmmB, o = r << 4;
    if (kind === SH_RL) for (let k = 0; k < 16; k++) b[o + k] = k + c < 16 ? b[o + k + c]! : 0;
    else for (let k = 15; k >= 0; k--) b[o + k] = k >= c ? b[o + k - c]! : 0;
  }
}

// ---- MXCSR ----------------------------------------------------------------------------

/** LDMXCSR m32 (0F AE /2): #GP(0) if a bit outside MXCSR_MASK is set (Vol. 2B LDMXCSR). */
export function ldmxcsr(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  const v = cpu.read32(i.ea(cpu, i));
  if ((v & ~MXCSR_MASK) !== 0) cpu.gp(0);
  s.mxcsr = v & MXCSR_MASK;
}
/** STMXCSR m32 (0F AE /3) (Vol. 2B STMXCSR). */
export function stmxcsr(cpu: Cpu, i: Insn): void {
  const s = sseState(cpu);
  cpu.write32(i.ea(cpu, i), s.mxcsr);
}
