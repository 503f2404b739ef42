/**
 * Generators for the MMIO properties.
 *
 *  - Byte strings for the decoder: arbitrary 1-15 bytes, and "structured"
 *    strings (legacy prefixes, REX, escapes 0F / 0F 38 / 0F 3A, VEX/EVEX/XOP
 *    headers, then arbitrary bytes) that reach deeper into the opcode maps.
 *  - One-instruction cases for emulate-vs-CPU: a "recipe" of small integers
 *    (shrinks well) turned into machine code plus an initial state in the
 *    native-harness shape (properties/harness/native.ts), with the memory operand
 *    placed in the scratch page: mostly in its first half, which the
 *    emulator's guest treats as MMIO; sometimes in the RAM half, across the
 *    MMIO/RAM boundary, across the page end (#PF), below the page (#PF) or
 *    at a non-canonical address (#GP/#SS). The encoding fields (base, index,
 *    scale, displacement) are computed here from the recipe, independently
 *    of the decoder under test.
 */
import fc from 'fast-check';
import {
  NATIVE_CODE_ADDR, NATIVE_SCRATCH_BASE, NATIVE_SCRATCH_SIZE, NATIVE_RFLAGS_INPUT_MASK, type NativeCase,
} from '../harness/native.js';
import type { DecodeMode } from '../../core/mmio/decoder.js';

// =====================================================================
// Decoder inputs
// =====================================================================

export const MODES: readonly DecodeMode[] = [16, 32, 64];
const LEGACY_PREFIXES = [0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65];

export interface DecodeCase { readonly mode: DecodeMode; readonly bytes: Uint8Array }

/** Arbitrary 1-15 bytes in a random mode. */
export const arbRawDecode: fc.Arbitrary<DecodeCase> = fc.record({
  mode: fc.constantFrom(...MODES),
  bytes: fc.uint8Array({ minLength: 1, maxLength: 15 }),
});

/** Prefixes + REX + escape/VEX header + arbitrary tail, at most 15 bytes. */
export const arbStructuredDecode: fc.Arbitrary<DecodeCase> = fc.record({
  mode: fc.constantFrom(...MODES),
  prefixes: fc.array(fc.constantFrom(...LEGACY_PREFIXES), { maxLength: 5 }),
  rex: fc.option(fc.integer({ min: 0x40, max: 0x4f }), { freq: 2 }),
  esc: fc.constantFrom<number[]>([], [], [0x0f], [0x0f], [0x0f, 0x38], [0x0f, 0x3a], [0xc4], [0xc5], [0x62], [0x8f], [0x0f, 0x0f]),
  head: fc.integer({ min: 0, max: 255 }),
  tail: fc.uint8Array({ minLength: 0, maxLength: 14 }),
}).map(({ mode, prefixes, rex, esc, head, tail }) => {
  const b: number[] = [...prefixes];
  if (rex !== null && mode === 64) b.push(rex);
  b.push(...esc);
  // After C4/C5/62/8F in 16/32-bit modes, mostly the form that makes them VEX/EVEX/XOP.
  let h = head;
  if (esc.length === 1 && esc[0] !== 0x0f && mode !== 64 && h % 4 !== 0) h |= 0xc0;
  if (esc[0] === 0x8f && h % 3 !== 0) h = (h & 0xe0) | (8 + (h % 3));
  b.push(h, ...tail);
  return { mode, bytes: Uint8Array.from(b.slice(0, 15)) };
});

/** Arbitrary code bytes and guest state for the emulator's totality property. */
export interface TotalCase { readonly mode: DecodeMode; readonly bytes: Uint8Array; readonly regs: number[]; readonly flags: number }

/** Register values: mostly pointers into the test guest's MMIO window (0x10000..0x10fff) or small counts. */
const arbRegValue = fc.oneof(
  fc.integer({ min: 0x10000, max: 0x10fff }), fc.integer({ min: 0, max: 16 }), fc.integer({ min: 0, max: 0xffffffff }),
);
export const arbTotalCase: fc.Arbitrary<TotalCase> = fc.record({
  mode: fc.constantFrom(...MODES),
  bytes: fc.oneof(arbStructuredDecode.map((c) => c.bytes), fc.uint8Array({ minLength: 1, maxLength: 15 })),
  regs: fc.array(arbRegValue, { minLength: 32, maxLength: 32 }),
  flags: fc.integer({ min: 0, max: 0xfff }),
});

// =====================================================================
// Emulate-vs-CPU cases (64-bit mode)
// =====================================================================

/** Where the MMIO half of the scratch page ends (the emulator's guest treats [S, S+MMIO_SPLIT) as MMIO). */
export const MMIO_SPLIT = 0x800;

interface Tpl {
  readonly op: readonly number[];
  /** ModR/M.reg values allowed (group opcodes); undefined: a register operand (any). */
  readonly digits?: readonly number[];
  readonly imm?: 'b' | 'z';
  readonly kind?: 'str' | 'moffs' | 'bt' | 'cmpxchg' | 'byte' | 'stack';
}

const ALU_ROWS = [0x00, 0x08, 0x10, 0x18, 0x20, 0x28, 0x30, 0x38];
const ALL = [0, 1, 2, 3, 4, 5, 6, 7];

/** The supported instruction forms (core/mmio/README.md), by encoding (SDM Vol. 2D Tables ). */
export const TEMPLATES: readonly Tpl[] = [
  ...ALU_ROWS.flatMap((r) => [0, 1, 2, 3].map((k) => ({ op: [r + k] }))),
  { op: [0x63] },
  { op: [0x80], digits: ALL, imm: 'b' }, { op: [0x81], digits: ALL, imm: 'z' }, { op: [0x83], digits: ALL, imm: 'b' },
  { op: [0x84] }, { op: [0x85] }, { op: [0x86] }, { op: [0x87] },
  { op: [0x88] }, { op: [0x89] }, { op: [0x8a] }, { op: [0x8b] },
  { op: [0xa0], kind: 'moffs' }, { op: [0xa1], kind: 'moffs' }, { op: [0xa2], kind: 'moffs' }, { op: [0xa3], kind: 'moffs' },
  { op: [0xa4], kind: 'str' }, { op: [0xa5], kind: 'str' }, { op: [0xaa], kind: 'str' }, { op: [0xab], kind: 'str' },
  { op: [0xac], kind: 'str' }, { op: [0xad], kind: 'str' },
  { op: [0xa6], kind: 'str' }, { op: [0xa7], kind: 'str' }, { op: [0xae], kind: 'str' }, { op: [0xaf], kind: 'str' },
  { op: [0xc6], digits: [0], imm: 'b' }, { op: [0xc7], digits: [0], imm: 'z' },
  { op: [0xf6], digits: [0, 1], imm: 'b' }, { op: [0xf6], digits: [2, 3] },
  { op: [0xf7], digits: [0, 1], imm: 'z' }, { op: [0xf7], digits: [2, 3] },
  { op: [0xfe], digits: [0, 1] }, { op: [0xff], digits: [0, 1] },
  { op: [0x0f, 0xa3], kind: 'bt' }, { op: [0x0f, 0xab], kind: 'bt' }, { op: [0x0f, 0xb3], kind: 'bt' }, { op: [0x0f, 0xbb], kind: 'bt' },
  { op: [0x0f, 0xba], digits: [4, 5, 6, 7], imm: 'b' },
  { op: [0x0f, 0xb0], kind: 'cmpxchg' }, { op: [0x0f, 0xb1], kind: 'cmpxchg' },
  { op: [0x0f, 0xc0] }, { op: [0x0f, 0xc1] },
  { op: [0x0f, 0xb6] }, { op: [0x0f, 0xb7] }, { op: [0x0f, 0xbe] }, { op: [0x0f, 0xbf] },
  // multiply/divide, bit scans, double shifts, CMOVcc with a memory source (SDM Vol. 2A/2B)
  { op: [0x0f, 0xaf] }, { op: [0x69], imm: 'z' }, { op: [0x6b], imm: 'b' },
  { op: [0xf6], digits: [4, 5, 6, 7] }, { op: [0xf7], digits: [4, 5, 6, 7] },
  { op: [0x0f, 0xbc] }, { op: [0x0f, 0xbd] },
  { op: [0x0f, 0xa4], imm: 'b' }, { op: [0x0f, 0xa5] }, { op: [0x0f, 0xac], imm: 'b' }, { op: [0x0f, 0xad] },
  ...Array.from({ length: 16 }, (_, k) => ({ op: [0x0f, 0x40 + k] })),
  // PUSH r/m (FF /6) and POP r/m (8F /0): the r/m operand in MMIO, the stack in the RAM half of the page
  { op: [0xff], digits: [6], kind: 'stack' }, { op: [0x8f], digits: [0], kind: 'stack' },
];

/** Opcodes whose memory form accepts LOCK (Vol. 2A, LOCK). */
function lockable(t: Tpl, digit: number): boolean {
  const o = t.op.length === 1 ? t.op[0]! : 0x100 | t.op[1]!;
  if (o < 0x40 && (o & 7) < 2 && (o & 0x38) !== 0x38) return true;
  if (o >= 0x80 && o <= 0x83) return digit !== 7;
  if (o === 0x86 || o === 0x87) return true;
  if (o === 0xf6 || o === 0xf7) return digit === 2 || digit === 3;
  if (o === 0xfe || o === 0xff) return digit < 2;
  if (o === 0x1ab || o === 0x1b3 || o === 0x1bb || o === 0x1b0 || o === 0x1b1 || o === 0x1c0 || o === 0x1c1) return true;
  if (o === 0x1ba) return digit >= 5;
  return false;
}

export interface Recipe {
  tpl: number;
  digit: number;
  p66: boolean;
  p67: boolean;
  rex: number; // -1 none
  seg: number; // -1 none, else Sreg 0-5
  lock: number; // 0 never, 1 when lockable, 2 always (expect #UD when not lockable)
  rep: number; // 0, 0xf2, 0xf3
  mod: number;
  rm: number;
  scale: number;
  sibIndex: number;
  sibBase: number;
  reg: number;
  disp8: number;
  place: number; // 0-5: mmio, mmio, mmio, page, edge, fault
  off: number;
  regs: number[]; // 32 uint32 halves
  imm: number;
  immHi: number;
  flags: number;
  memSeed: number;
  count: number;
  df: boolean;
  strPlace: number;
  cmpEq: boolean;
  btOff: number;
}

const u32 = fc.integer({ min: 0, max: 0xffffffff });

export const arbRecipe: fc.Arbitrary<Recipe> = fc.record({
  tpl: fc.integer({ min: 0, max: TEMPLATES.length - 1 }),
  digit: fc.integer({ min: 0, max: 7 }),
  p66: fc.boolean(),
  p67: fc.integer({ min: 0, max: 4 }).map((v) => v === 4),
  rex: fc.oneof(fc.constant(-1), fc.integer({ min: 0x40, max: 0x4f })),
  seg: fc.oneof({ weight: 4, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 5 }) }),
  lock: fc.integer({ min: 0, max: 9 }).map((v) => (v < 6 ? 0 : v < 9 ? 1 : 2)),
  rep: fc.constantFrom(0, 0xf3, 0xf3, 0xf2),
  mod: fc.integer({ min: 0, max: 2 }),
  rm: fc.integer({ min: 0, max: 7 }),
  scale: fc.integer({ min: 0, max: 3 }),
  sibIndex: fc.integer({ min: 0, max: 7 }),
  sibBase: fc.integer({ min: 0, max: 7 }),
  reg: fc.integer({ min: 0, max: 7 }),
  disp8: fc.integer({ min: -128, max: 127 }),
  place: fc.integer({ min: 0, max: 7 }),
  off: fc.integer({ min: 0, max: 4095 }),
  regs: fc.array(u32, { minLength: 32, maxLength: 32 }),
  imm: u32,
  immHi: u32,
  flags: fc.integer({ min: 0, max: 0xfff }),
  memSeed: fc.integer({ min: 0, max: 0x7fffffff }),
  count: fc.integer({ min: 0, max: 12 }),
  df: fc.boolean(),
  strPlace: fc.integer({ min: 0, max: 5 }),
  cmpEq: fc.boolean(),
  btOff: fc.integer({ min: -600, max: 3000 }),
});

const M64 = (1n << 64n) - 1n;
function getR(regs: Uint32Array, r: number): bigint { return (BigInt(regs[2 * r + 1]!) << 32n) | BigInt(regs[2 * r]!); }
function setR(regs: Uint32Array, r: number, v: bigint): void {
  const x = v & M64;
  regs[2 * r] = Number(x & 0xffffffffn); regs[2 * r + 1] = Number(x >> 32n);
}
function le(v: bigint, n: number): number[] {
  const out: number[] = [];
  for (let k = 0; k < n; k++) out.push(Number((v >> BigInt(8 * k)) & 0xffn));
  return out;
}

export interface BuiltCase extends NativeCase {
  /** A one-line description of the recipe's intent (for reports). */
  readonly note: string;
}

/**
 * 32-bit cases run with every data segment based at DATA_BASE_32, so that
 * offsets 0x8000 + k (reachable with 16-bit addressing too) address the
 * scratch page at NATIVE_SCRATCH_BASE + k.
 */
export const DATA_BASE_32 = NATIVE_SCRATCH_BASE - 0x8000;

/** 16-bit addressing forms (Vol. 2A Table 2-1): base and index register of r/m. */
const RM16: readonly (readonly [number, number])[] = [[3, 6], [3, 7], [5, 6], [5, 7], [6, -1], [7, -1], [5, -1], [3, -1]];

/** Turn a recipe into code + initial state for a 64-bit (default) or 32-bit guest. Pure. */
export function buildCase(r: Recipe, mode: 32 | 64 = 64): BuiltCase {
  let t = TEMPLATES[r.tpl % TEMPLATES.length]!;
  if (mode === 32 && t.op.length === 1 && t.op[0] === 0x63) t = { op: [0x8b] }; // 63 is ARPL outside 64-bit mode
  const gpr = Uint32Array.from(r.regs);
  const mem = new Uint8Array(NATIVE_SCRATCH_SIZE);
  let x = r.memSeed >>> 0;
  if (x !== 0) for (let k = 0; k < mem.length; k++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; mem[k] = x & 0xff; }
  const digit = t.digits ? t.digits[r.digit % t.digits.length]! : -1;
  const rex = mode === 64 ? r.rex : -1;
  const rexW = rex >= 0 && (rex & 8) !== 0;
  const osize = rexW ? 8 : r.p66 ? 2 : 4;
  const asize = mode === 64 ? (r.p67 ? 4 : 8) : r.p67 ? 2 : 4;
  const segBase = mode === 64 ? 0n : BigInt(DATA_BASE_32);
  const op0 = t.op[t.op.length - 1]!;
  const isByte = t.op.length === 1 && (op0 < 0x40 ? (op0 & 1) === 0 : [0x80, 0x84, 0x86, 0x88, 0x8a, 0xa0, 0xa2, 0xa4, 0xa6, 0xaa, 0xac, 0xae, 0xc6, 0xf6, 0xfe].includes(op0))
    || (t.op.length === 2 && (op0 === 0xb0 || op0 === 0xc0));
  const size = t.kind === 'stack' ? (mode === 64 ? (r.p66 && !rexW ? 2 : 8) : osize)
    : t.op.length === 2 && [0xb6, 0xb7, 0xbe, 0xbf].includes(op0) ? (op0 & 1 ? 2 : 1)
    : t.op.length === 1 && op0 === 0x63 ? (rexW ? 4 : osize) : isByte ? 1 : osize;
  const code: number[] = [];
  if (r.seg >= 0) code.push([0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65][r.seg]!);
  if (r.p66) code.push(0x66);
  if (r.p67) code.push(0x67);
  const lockOk = t.kind !== 'str' && t.kind !== 'moffs' && lockable(t, digit);
  if (r.lock === 2 || (r.lock === 1 && lockOk)) code.push(0xf0);
  if (t.kind === 'str' && r.rep) code.push(r.rep);
  if (rex >= 0) code.push(rex);
  code.push(...t.op);
  const S = BigInt(NATIVE_SCRATCH_BASE);
  // PUSH/POP r/m: rSP in the RAM half (a base or index register rSP is then solved for like any other)
  if (t.kind === 'stack') {
    const sp = S + BigInt(MMIO_SPLIT + 0x200 + (r.off % 64) * 8) - segBase;
    setR(gpr, 4, mode === 64 ? sp : (getR(gpr, 4) & ~0xffffffffn) | sp);
  }
  // Target linear address of the (first) memory operand.
  let T: bigint;
  const place = r.place;
  const span = size;
  if (place <= 2) T = S + BigInt(r.off % (MMIO_SPLIT - span + 1));
  else if (place <= 4) T = S + BigInt(r.off % (NATIVE_SCRATCH_SIZE - span + 1));
  else if (place === 5) T = S + BigInt(r.off % 2 ? MMIO_SPLIT - 1 - (r.off % span) : NATIVE_SCRATCH_SIZE - 1 - (r.off % span)); // straddles MMIO/RAM or the page end
  else if (place === 6) T = S - BigInt(1 + (r.off % 64)); // previous page: unmapped
  else if (mode === 32) T = S + 0x1000n + BigInt(r.off % 2048); // the next page: unmapped
  else T = asize === 8 ? 0x0000_8000_0000_0000n + BigInt(r.off) : S + BigInt(r.off % 2048); // non-canonical (64-bit addressing)
  let note = `${mode}-bit ${t.op.map((b) => b.toString(16)).join(' ')}${digit >= 0 ? '/' + digit : ''} size ${size} place ${place}`;

  if (t.kind === 'str') {
    // RSI / RDI (address size), RCX count, DF
    const n = r.rep ? BigInt(r.count) : 1n;
    const a = S + BigInt((r.off * 7) % (MMIO_SPLIT - 8));
    const b = S + BigInt(MMIO_SPLIT + ((r.off * 13) % (MMIO_SPLIT - 8)));
    let si = r.strPlace % 2 ? a : b, di = r.strPlace % 2 ? b : a;
    if (r.strPlace === 4) di = S + BigInt(r.off % MMIO_SPLIT); // both MMIO
    if (r.strPlace === 5) { si = S + BigInt(NATIVE_SCRATCH_SIZE - 4 - (r.off % 8)); } // runs off the page
    if (r.df) { si += n * BigInt(size); di += n * BigInt(size); }
    si -= segBase; di -= segBase;
    const mask = asize === 8 ? M64 : asize === 4 ? 0xffffffffn : 0xffffn;
    setR(gpr, 6, (getR(gpr, 6) & ~mask) | (si & mask));
    setR(gpr, 7, (getR(gpr, 7) & ~mask) | (di & mask));
    if (r.rep) setR(gpr, 1, (getR(gpr, 1) & ~mask) | n);
    // CMPS/SCAS: with cmpEq, make the compared elements equal up to a mismatch at element r.off % (n + 1)
    // (none when that is n), so REPE runs on and REPNE stops early; otherwise the random contents decide.
    if ((op0 === 0xa6 || op0 === 0xa7 || op0 === 0xae || op0 === 0xaf) && r.cmpEq) {
      const stop = BigInt(r.off) % (n + 1n);
      const sz = BigInt(size);
      const acc = le(getR(gpr, 0), size);
      for (let k = 0n; k < n; k++) {
        const step = r.df ? -k * sz : k * sz;
        const dOff = di + segBase + step - S, sOff = si + segBase + step - S;
        if (dOff < 0n || dOff + sz > BigInt(NATIVE_SCRATCH_SIZE)) continue;
        for (let j = 0; j < size; j++) {
          let v: number;
          if (op0 === 0xae || op0 === 0xaf) v = acc[j]!;
          else if (sOff >= 0n && sOff + sz <= BigInt(NATIVE_SCRATCH_SIZE)) v = mem[Number(sOff) + j]!;
          else continue;
          mem[Number(dOff) + j] = k === stop && j === 0 ? v ^ 1 : v;
        }
      }
    }
    note += ` rep ${r.rep.toString(16)} count ${n} df ${r.df}`;
  } else if (t.kind === 'moffs') {
    code.push(...le(T - segBase, asize));
  } else if (asize === 2) {
    // 16-bit addressing (Table 2-1): no SIB; mod 00 r/m 110 is a bare disp16
    const regField = digit >= 0 ? digit : r.reg;
    const mod = r.mod, rm = r.rm;
    const E = T - segBase; // < 0x10000 for the scratch page
    const [b0, i0] = mod === 0 && rm === 6 ? [-1, -1] : RM16[rm]!;
    const dispSize = mod === 0 ? (rm === 6 ? 2 : 0) : mod === 1 ? 1 : 2;
    code.push((mod << 6) | (regField << 3) | rm);
    let disp = BigInt(dispSize === 1 ? r.disp8 : dispSize === 2 ? r.disp8 * 0x101 : 0);
    if (t.kind === 'bt') {
      const bits = BigInt(osize * 8);
      const off = BigInt(r.btOff);
      setR(gpr, regField, off);
      const q = off >= 0n ? off / bits : -((-off + bits - 1n) / bits);
      T -= q * BigInt(osize);
    }
    const E2 = T - segBase;
    if (b0 < 0) disp = E2;
    else if (i0 < 0) setR(gpr, b0, (getR(gpr, b0) & ~0xffffn) | ((E2 - disp) & 0xffffn));
    else setR(gpr, b0, (getR(gpr, b0) & ~0xffffn) | ((E2 - disp - (getR(gpr, i0) & 0xffffn)) & 0xffffn));
    if (dispSize === 1) code.push(Number(BigInt.asUintN(8, disp)));
    else if (dispSize === 2) code.push(...le(BigInt.asUintN(16, disp), 2));
    const immSize = t.imm === 'b' ? 1 : t.imm === 'z' ? (osize === 2 ? 2 : 4) : 0;
    if (immSize) code.push(...le(BigInt(r.imm), immSize));
    if (t.kind === 'cmpxchg' && r.cmpEq) biasAccumulator(gpr, mem, T, size);
    note += ` a16 mod ${mod} rm ${rm} E 0x${E.toString(16)}`;
  } else {
    // ModR/M with a memory operand (Vol. 2A Tables 2-2, 2-3; Table 2-5 REX special cases)
    const regField = digit >= 0 ? digit : r.reg;
    let mod = r.mod, rm = r.rm;
    const rexB = rex >= 0 && (rex & 1) ? 8 : 0, rexX = rex >= 0 && (rex & 2) ? 8 : 0;
    let base = -1, index = -1, scale = 1n, sib = -1;
    let ripRel = false;
    if (rm === 4) {
      sib = (r.scale << 6) | (r.sibIndex << 3) | r.sibBase;
      const idx = r.sibIndex | rexX;
      if (idx !== 4) { index = idx; scale = 1n << BigInt(r.scale); }
      if (r.sibBase === 5 && mod === 0) base = -1; else base = r.sibBase | rexB;
    } else if (rm === 5 && mod === 0) ripRel = true;
    else base = rm | rexB;
    // base == index needs a displacement to solve base*(1+scale) + disp = T
    if (base >= 0 && base === index && mod === 0) mod = 1;
    const dispSize = mod === 1 ? 1 : mod === 2 || ripRel || (sib >= 0 && base < 0) ? 4 : 0;
    code.push((mod << 6) | (regField << 3) | rm);
    if (sib >= 0) code.push(sib);
    const immSize = t.imm === 'b' ? 1 : t.imm === 'z' ? (osize === 2 ? 2 : 4) : 0;
    const len = code.length + dispSize + immSize;
    const amask = asize === 8 ? M64 : 0xffffffffn;
    let disp = BigInt(dispSize === 1 ? r.disp8 : dispSize === 4 ? r.disp8 * 0x10101 : 0);
    // bit offset for BT r/m, reg: adjust the target so the accessed word is T
    if (t.kind === 'bt') {
      const bits = BigInt(osize * 8);
      const off = BigInt(r.btOff);
      const reg = regField | (rex >= 0 && (rex & 4) ? 8 : 0);
      setR(gpr, reg, off);
      // accessed word = EA + (off DIV bits) * osize (floor division); place EA so it lands at T
      const q = off >= 0n ? off / bits : -((-off + bits - 1n) / bits);
      T -= q * BigInt(osize);
      note += ` btoff ${off}`;
    }
    const E = T - segBase; // effective address wanted
    if (ripRel && mode === 64) {
      disp = T - (BigInt(NATIVE_CODE_ADDR) + BigInt(len));
    } else if (ripRel || (base < 0 && index < 0)) {
      disp = E;
    } else if (base < 0) {
      const v = E / scale;
      disp = E - v * scale;
      setR(gpr, index, (getR(gpr, index) & ~amask) | (v & amask));
    } else if (base === index) {
      const k = 1n + scale;
      const v = E / k;
      disp = E - v * k;
      setR(gpr, base, (getR(gpr, base) & ~amask) | (v & amask));
    } else {
      const iv = index >= 0 ? getR(gpr, index) * scale : 0n;
      const bv = (E - disp - iv) & amask;
      setR(gpr, base, (getR(gpr, base) & ~amask) | bv);
    }
    if (dispSize === 1) code.push(Number(BigInt.asUintN(8, disp)));
    else if (dispSize === 4) code.push(...le(BigInt.asUintN(32, disp), 4));
    if (immSize) code.push(...le(BigInt(r.imm), immSize));
    // CMPXCHG: make the accumulator equal the destination sometimes
    if (t.kind === 'cmpxchg' && r.cmpEq) biasAccumulator(gpr, mem, T, size);
    note += ` mod ${mod} rm ${rm}${sib >= 0 ? ' sib ' + sib.toString(16) : ''} base ${base} index ${index}`;
  }
  const flags = (r.flags & NATIVE_RFLAGS_INPUT_MASK & ~0x400) | (r.df ? 0x400 : 0);
  return { code: Uint8Array.from(code), state: { gpr, rflags: flags, mem }, note: note + (r.p67 ? ' a32' : '') };
}

/** CMPXCHG: make the accumulator equal the destination (when it is in the scratch page). */
function biasAccumulator(gpr: Uint32Array, mem: Uint8Array, T: bigint, size: number): void {
  const S = BigInt(NATIVE_SCRATCH_BASE);
  if (!(T >= S && T + BigInt(size) <= S + BigInt(NATIVE_SCRATCH_SIZE))) return;
  let v = 0n;
  const o = Number(T - S);
  for (let k = 0; k < size; k++) v |= BigInt(mem[o + k]!) << BigInt(8 * k);
  const m = (1n << BigInt(8 * size)) - 1n;
  setR(gpr, 0, (getR(gpr, 0) & ~m) | v);
}

export const arbEmuCase: fc.Arbitrary<BuiltCase> = arbRecipe.map((r) => buildCase(r));
export const arbEmuCase32: fc.Arbitrary<BuiltCase> = arbRecipe.map((r) => buildCase(r, 32));
