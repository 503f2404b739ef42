/**
 * Differential property: our CPU (core/cpu) against the host CPU (the
 * native harness, properties/harness/native.ts), one instruction at a time.
 *
 * Instructions are drawn from the CPU's own opcode table (OPCODES): every
 * entry that can run natively in Linux user mode with the same result as at
 * CPL 0 is classified below (`classify`) and given generation hints; the
 * others are listed with the reason they are left out (`EXCLUDED`).
 *
 * A case is built from a fast-check "recipe" (small integers that shrink
 * well): prefixes (66, 67, REX.W/R/X/B, F2/F3 on string ops and PAUSE,
 * LOCK, segment overrides, a REX that a later legacy prefix cancels),
 * ModRM/SIB/displacement forms whose address lands in the scratch page (or
 * at its edges, or at a non-canonical / unmapped address), immediates,
 * register values, flags and scratch contents. Both machines run it; the
 * comparison requires identical GPRs, scratch memory, next RIP, fault
 * vector (and #PF error code / address, #GP error code), and RFLAGS except
 * the bits the entry's `undef` marks as undefined (SDM Vol. 2) plus the
 * case-specific undefined results listed in `undefinedDest`.
 *
 * SSE/SSE2 entries (K_SSE) start from random XMM0-15 contents (random,
 * from a small byte alphabet, copies of the memory operand, zeros) and a
 * random valid MXCSR; their mandatory prefix is kept in place (an extra,
 * ignored 66 may precede F2/F3), and memory operands are biased to 16-byte
 * alignment (misaligned ones test #GP). XMM and MXCSR are compared. Masked,
 * because the SDM leaves them to the implementation and this host is AMD:
 * MXCSR_MASK in an FXSAVE image (bytes 28-31: 0x0000FFFF here as on
 * Skylake, 0x0002FFFF on the host, whose MXCSR bit 17 is AMD's MM), the
 * x87 last-instruction fields FOP/FIP/FDP/FCS/FDS (bytes 6-23: AMD stores
 * them only when FSW.ES = 1; this machine never sets them except by
 * FXRSTOR), and LDMXCSR/FXRSTOR of an MXCSR whose only reserved bit is
 * bit 17 (MM: valid on the host, #GP here). The x87 control instructions
 * run too (both sides start from the FNINIT state); x87 state round trips
 * (FXRSTOR, x87 control, FXSAVE) are the `x87seq` cases below.
 */
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OPCODES, PFX_66, PFX_F2, PFX_F3, type OpDef } from '../core/cpu/opcodes.js';
import { IF_BYTE, IF_D64, IF_F64, IF_O64 } from '../core/cpu/insn.js';
import {
  NATIVE_CODE_ADDR, NATIVE_SCRATCH_BASE, NATIVE_SCRATCH_SIZE, GPR_NAMES,
  makeNativeState, runNativeBatch, NativeHarness, getXmm,
  type NativeCase, type NativeResult, type NativeState,
} from './harness/native.js';
import { Cpu1, type Cpu1Result } from './harness/cpu1.js';
import { repoRoot } from './repo.js';

const S = NATIVE_SCRATCH_BASE;
const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, DF = 0x400, OF = 0x800;
/** RFLAGS bits compared: the ones the native harness takes as input (status flags and DF). */
const FLAGS_COMPARED = CF | PF | AF | ZF | SF | DF | OF;

// ---------------------------------------------------------------------------
// Which table entries run, and how to generate their operands

/** Generation hints. */
export const K_RSP = 1;      // RSP points into scratch (stack instructions)
export const K_STR = 2;      // RSI/RDI into scratch, RCX a small count (string instructions)
export const K_BRANCH = 4;   // relative branch: immediate is a displacement to a chosen target; no 66 (AMD truncates IP)
export const K_DIV = 8;      // bias RDX:RAX so that the quotient often fits
export const K_CMPX = 16;    // bias the accumulator to equal the destination
export const K_RBX = 32;     // XLAT: RBX into scratch
export const K_RBP = 64;     // LEAVE/ENTER: RBP into scratch
export const K_INVALID = 128;// invalid in 64-bit mode: both must raise #UD
export const K_TARGET = 256; // JMP/CALL Ev: the operand holds a branch target
export const K_RETADDR = 512;// RET: [RSP] holds a branch target
export const K_LOOP = 1024;  // LOOP/JrCXZ: RCX small
export const K_MOFFS = 2048; // MOV moffs: the address is the immediate
export const K_NO66 = 4096;  // the 66 prefix makes the result undefined (BSWAP r16)
export const K_REP = 8192;   // F2/F3 meaningful (string instructions, PAUSE)
export const K_ENTER = 16384;// ENTER: small frame sizes and levels
export const K_CX8 = 32768;  // CMPXCHG8B/16B: bias EDX:EAX to the memory operand
export const K_SHIFTD = 65536; // SHLD/SHRD: count > operand size makes the result undefined
export const K_BSF = 131072; // BSF/BSR: zero source leaves the destination undefined
export const K_SSE = 1 << 18; // SSE/SSE2: random XMM/MXCSR, mandatory prefix, aligned-memory bias
export const K_MXCSR = 1 << 19; // LDMXCSR: the memory operand holds an MXCSR value (valid or with a reserved bit)
export const K_FX = 1 << 20;  // FXSAVE/FXRSTOR: a 512-byte operand; FXRSTOR: an image with an MXCSR value at +24
export const K_FSGS = 1 << 22; // RDFSBASE..WRGSBASE (F3 0F AE /0-/3 mod = 3): F3 prefix; WR is followed by an RD of the same base
export const K_XS = 1 << 21;  // XSAVE/XRSTOR: a 576-byte, 64-byte aligned area; EAX = RFBM within x87|SSE; XRSTOR: a header

/** 0F-map opcodes whose mandatory prefix selects the instruction (opcodes.ts, decoder.ts). */
const SELECTED = new Set(OPCODES.filter((d) => d.prefix === PFX_66 || d.prefix === PFX_F2).map((d) => d.op));
/** The mandatory prefix byte of an entry (0 for none). */
export function mandatoryPrefix(d: OpDef): number {
  return d.prefix === PFX_66 || d.prefix === PFX_F2 || d.prefix === PFX_F3 ? d.prefix : 0;
}

export interface Entry {
  def: OpDef;
  /** Stable key of the table entry: "0f_bc", "f7/6", "0f_c7/1m". */
  key: string;
  hints: number;
}

export function entryKey(d: OpDef): string {
  let op = d.op >= 0x0f00 ? `0f_${(d.op & 0xff).toString(16).padStart(2, '0')}` : d.op.toString(16).padStart(2, '0');
  // Prefix-selected SSE opcodes: "66_0f_6f", "f3_0f_6f"; ModRM.rm-selected members: "db/4r3".
  if (SELECTED.has(d.op) && mandatoryPrefix(d) !== 0) op = `${mandatoryPrefix(d).toString(16)}_${op}`;
  if (d.reg === undefined) return op;
  return `${op}/${d.reg}${d.mem === true ? 'm' : d.mem === false ? 'r' : ''}${d.rm !== undefined ? d.rm : ''}`;
}

const INVALID_64 = [0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x60, 0x61, 0x82, 0x9a, 0xce, 0xd4, 0xd5, 0xea];

/** Generation hints for an entry, or the reason it is not run natively. */
export function classify(d: OpDef): number | string {
  const op = d.op;
  if (op < 0x40 && (op & 7) < 6) return 0; // ALU Eb,Gb .. rAX,Iz
  if (op === 0x62 || op === 0xc4 || op === 0xc5) return 'EVEX/VEX prefixes in 64-bit mode (the host has AVX/AVX-512, this CPU does not)';
  if (INVALID_64.includes(op)) return K_INVALID;
  if (op >= 0x40 && op <= 0x4f) return 'REX prefixes in 64-bit mode (the INC/DEC forms are tested in 32-bit decoding only)';
  if (op >= 0x50 && op <= 0x5f) return K_RSP;
  if (op === 0x63 || op === 0x69 || op === 0x6b) return 0;
  if (op === 0x68 || op === 0x6a) return K_RSP;
  if (op >= 0x6c && op <= 0x6f) return 'INS/OUTS: I/O is privileged at CPL 3, allowed at CPL 0';
  if (op >= 0x70 && op <= 0x7f) return K_BRANCH;
  if (op >= 0x80 && op <= 0x8b) return 0;
  if (op === 0x8c || op === 0x8e) return 'MOV Sreg: segment selectors differ between Linux user mode and this flat setup';
  if (op === 0x8d) return 0;
  if (op === 0x8f) return K_RSP;
  if (op >= 0x90 && op <= 0x97) return op === 0x90 ? K_REP : 0;
  if (op === 0x98 || op === 0x99) return 0;
  if (op === 0x9b) return 0; // FWAIT: no pending x87 exception in either
  if (op === 0x9c) return K_RSP;
  if (op === 0x9d) return 'POPF: IF/IOPL are writable at CPL 0, not at CPL 3';
  if (op === 0x9e || op === 0x9f) return 0;
  if (op >= 0xa0 && op <= 0xa3) return K_MOFFS;
  if (op >= 0xa4 && op <= 0xaf) return op === 0xa8 || op === 0xa9 ? 0 : K_STR | K_REP;
  if (op >= 0xb0 && op <= 0xbf) return 0;
  if (op === 0xc0 || op === 0xc1 || (op >= 0xd0 && op <= 0xd3)) return 0;
  if (op === 0xc2 || op === 0xc3) return K_RSP | K_RETADDR | K_BRANCH;
  if (op === 0xc6 || op === 0xc7) return 0;
  if (op === 0xc8) return K_RSP | K_RBP | K_ENTER;
  if (op === 0xc9) return K_RSP | K_RBP;
  if (op >= 0xca && op <= 0xcf) return 'far return / INT n / INT3 / IRET: privilege and segment state differ (tested in exceptions.test)';
  if (op === 0xf1) return 'INT1/ICEBP: #DB delivered through the IDT, SIGTRAP without DR6 on the host (debug.test, kvm-unit-tests debug)';
  if (op === 0xd7) return K_RBX;
  if (op >= 0xd8 && op <= 0xdf) return 0; // x87 control instructions: both start in the FNINIT state
  if (op >= 0xe0 && op <= 0xe3) return K_BRANCH | K_LOOP;
  if ((op >= 0xe4 && op <= 0xe7) || (op >= 0xec && op <= 0xef)) return 'IN/OUT: privileged at CPL 3';
  if (op === 0xe8) return K_RSP | K_BRANCH;
  if (op === 0xe9 || op === 0xeb) return K_BRANCH;
  if (op === 0xf4 || op === 0xfa || op === 0xfb) return 'HLT/CLI/STI: privileged at CPL 3';
  if (op === 0xf5 || op === 0xf8 || op === 0xf9 || op === 0xfc || op === 0xfd) return 0;
  if (op === 0xf6 || op === 0xf7) return d.reg === 6 || d.reg === 7 ? K_DIV : 0;
  if (op === 0xfe) return 0;
  if (op === 0xff) {
    if (d.reg === 2) return K_RSP | K_TARGET | K_BRANCH;
    if (d.reg === 4) return K_TARGET | K_BRANCH;
    if (d.reg === 6) return K_RSP;
    if (d.reg === 3 || d.reg === 5) return 'far CALL/JMP: segment loads differ between CPL 0 and CPL 3';
    return 0;
  }
  // two-byte map
  const o = op & 0xff;
  if (SELECTED.has(op)) return K_SSE;
  // XSAVE/XRSTOR: both XCR0s have x87|SSE; RFBM (EAX) is kept within them (the host's XCR0 has more).
  if (o === 0xae && d.mem === true && (d.reg === 4 || d.reg === 5)) return K_SSE | K_XS;
  if (o === 0xae && d.mem === true && d.reg === 6) return 'XSAVEOPT: not advertised (#UD here, CPUID.(EAX=0DH,ECX=1):EAX[0] = 0), the host has it (xsave.test)';
  if (op === 0x0f01 && d.reg === 2 && d.rm === 0) return "XGETBV: reads XCR0, the host's (x87|SSE|AVX|...) against x87|SSE here (xsave.test)";
  if (o === 0xae && d.mem === true && d.reg !== undefined && d.reg <= 3) return K_SSE | (d.reg <= 1 ? K_FX : d.reg === 2 ? K_MXCSR : 0);
  if (op >= 0x0f00 && op <= 0x0f09) return 'system instructions (privileged, or SYSCALL blocked by seccomp)';
  if (o === 0x0b) return 0; // UD2
  if (o === 0x77) return 0; // EMMS: only the x87 tags change
  if (o === 0x0d || (o >= 0x18 && o <= 0x1f)) return 0; // prefetch and hint NOPs
  if (o >= 0x20 && o <= 0x23) return 'MOV CR/DR: privileged';
  if (o >= 0x30 && o <= 0x32) return 'WRMSR/RDTSC/RDMSR: privileged or time-dependent';
  if (o === 0x33) return 'RDPMC: reads host performance counters (CR4.PCE); this CPU has none';
  if (o >= 0x40 && o <= 0x4f) return 0;
  if (o >= 0x80 && o <= 0x8f) return K_BRANCH;
  if (o >= 0x90 && o <= 0x9f) return 0;
  if (o === 0xa0 || o === 0xa1 || o === 0xa8 || o === 0xa9) return 'PUSH/POP FS/GS: selectors differ';
  if (o === 0xa2) return 'CPUID: exits to the hypervisor';
  if (o === 0xa3 || o === 0xab || o === 0xb3 || o === 0xbb || o === 0xba || o === 0xaf) return 0;
  if (o === 0xa4 || o === 0xa5 || o === 0xac || o === 0xad) return K_SHIFTD;
  if (o === 0xb0 || o === 0xb1) return K_CMPX;
  if (o === 0xb6 || o === 0xb7 || o === 0xbe || o === 0xbf) return 0;
  if (o === 0xb8) return 0; // POPCNT (F3 0F B8): the F3 is part of the opcode
  if (o === 0xb9 || o === 0xff) return 0; // UD1, UD0
  // FSGSBASE: the harness runs with FS base = GS base = 0 when the host kernel enables CR4.FSGSBASE
  // (HWCAP2; without it RDFSBASE is SIGILL and no case can match: a host without FSGSBASE fails here).
  if (o === 0xae && d.mem === false && d.reg !== undefined && d.reg <= 3) return K_FSGS;
  if (o === 0xae) return 0; // fences, CLFLUSH
  if (o === 0xc3) return 0; // MOVNTI
  if (o === 0xbc || o === 0xbd) return K_BSF;
  if (o === 0xc0 || o === 0xc1) return 0;
  if (o === 0xc7 && d.reg !== undefined && d.reg >= 3 && d.reg <= 5) return 'XRSTORS/XSAVEC/XSAVES: not advertised (#UD here), the host has them (xsave.test)';
  if (o === 0xc7) return d.reg === 1 ? K_CX8 : 'RDRAND/RDSEED: random';
  if (o >= 0xc8 && o <= 0xcf) return K_NO66;
  if (o === 0x78 || o === 0x79) return 'VMREAD/VMWRITE: exit to the hypervisor';
  return 'not classified for the differential run';
}

/**
 * Hints in compatibility mode (a 32-bit code segment under IA-32e: 32-bit operand and
 * address size, no REX), or why an entry is not run there. The entries invalid in 64-bit
 * mode run here for real: PUSHA/POPA, the BCD instructions, INC/DEC 40-4F, 82.
 */
export function classify32(d: OpDef): number | string {
  const op = d.op;
  if ((d.flags ?? 0) & IF_O64) return '64-bit mode only (SYSCALL/SYSRET/SWAPGS; 63 is ARPL outside 64-bit mode, not implemented)';
  if (op === 0x27 || op === 0x2f || op === 0x37 || op === 0x3f || op === 0xd4 || op === 0xd5 || op === 0x82) return 0;
  if (op >= 0x40 && op <= 0x4f) return 0;
  if (op === 0x60 || op === 0x61) return K_RSP;
  if (op === 0x06 || op === 0x07 || op === 0x0e || op === 0x16 || op === 0x17 || op === 0x1e || op === 0x1f) {
    return 'PUSH/POP Sreg: selectors differ (Linux 0x23/0x2b against a flat setup without a GDT)';
  }
  if (op === 0x9a || op === 0xea) return 'far CALL/JMP ptr16:32: segment loads differ (no GDT here)';
  if (op === 0x62 || op === 0xc4 || op === 0xc5) return 'BOUND/LES/LDS are not implemented (and mod = 3 is EVEX/VEX on the host)';
  if (op === 0xce) return 'INTO: #OF is a trap, delivered like INT n (exceptions.test)';
  const c = classify(d);
  return typeof c === 'string' ? c : c & ~K_INVALID;
}

export const ENTRIES: Entry[] = [];
export const EXCLUDED: { key: string; mn: string; reason: string }[] = [];
/** The same for compatibility mode (classify32). */
export const ENTRIES32: Entry[] = [];
export const EXCLUDED32: { key: string; mn: string; reason: string }[] = [];
for (const def of OPCODES) {
  const c = classify(def);
  if (typeof c === 'string') EXCLUDED.push({ key: entryKey(def), mn: def.mn, reason: c });
  else ENTRIES.push({ def, key: entryKey(def), hints: c });
  const c32 = classify32(def);
  if (typeof c32 === 'string') EXCLUDED32.push({ key: entryKey(def), mn: def.mn, reason: c32 });
  else ENTRIES32.push({ def, key: entryKey(def), hints: c32 });
}
export function entryByKey(key: string): Entry | undefined {
  return ENTRIES.find((e) => e.key === key);
}

// ---------------------------------------------------------------------------
// Recipes

export interface Recipe {
  entry: number;
  p66: number; rex: number; rexEarly: number; rep: number; lock: number; seg: number; a32: number;
  mod: number; reg: number; rm: number; scale: number; index: number; base: number;
  disp: number; addr: number; addrMode: number; idx: number;
  imm: bigint; immMode: number;
  aux: number; auxMode: number;
  regs: bigint[];
  flags: number;
  memSeed: number;
  bias: number;
}

const M64 = (1n << 64n) - 1n;
const regArb = fc.oneof(
  { weight: 3, arbitrary: fc.bigInt({ min: 0n, max: M64 }) },
  { weight: 2, arbitrary: fc.constantFrom(0n, 1n, 2n, 0x7fn, 0x80n, 0xffn, 0x7fffn, 0x8000n, 0xffffn, 0x7fff_ffffn, 0x8000_0000n, 0xffff_ffffn, 0x1_0000_0000n, 0x7fff_ffff_ffff_ffffn, 0x8000_0000_0000_0000n, M64) },
  { weight: 2, arbitrary: fc.bigInt({ min: -70n, max: 70n }).map((v) => v & M64) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 0xffff_ffffn }) },
);

/** The fast-check arbitrary of recipes (`only` restricts the entries, by key). */
export function recipeArb(only?: readonly string[], compat = false): fc.Arbitrary<Recipe> {
  const list = compat ? ENTRIES32 : ENTRIES;
  const pool = only === undefined ? list.map((_, i) => i) : list.flatMap((e, i) => (only.includes(e.key) ? [i] : []));
  if (pool.length === 0) throw new Error(`no table entries match ${only?.join(',')}`);
  return fc.record({
    entry: fc.constantFrom(...pool),
    p66: fc.nat({ max: 3 }),
    rex: fc.nat({ max: 31 }),
    rexEarly: fc.nat({ max: 15 }),
    rep: fc.nat({ max: 5 }),
    lock: fc.nat({ max: 11 }),
    seg: fc.nat({ max: 15 }),
    a32: fc.nat({ max: 7 }),
    mod: fc.nat({ max: 3 }),
    reg: fc.nat({ max: 7 }),
    rm: fc.nat({ max: 7 }),
    scale: fc.nat({ max: 3 }),
    index: fc.nat({ max: 7 }),
    base: fc.nat({ max: 7 }),
    disp: fc.integer({ min: -128, max: 127 }),
    addr: fc.nat({ max: 4095 }),
    addrMode: fc.nat({ max: 15 }),
    idx: fc.integer({ min: -16, max: 64 }),
    imm: fc.bigInt({ min: 0n, max: M64 }),
    immMode: fc.nat({ max: 3 }),
    aux: fc.integer({ min: -6000, max: 6000 }),
    auxMode: fc.nat({ max: 7 }),
    regs: fc.array(regArb, { minLength: 16, maxLength: 16 }),
    flags: fc.nat({ max: 0xfff }),
    memSeed: fc.nat(),
    bias: fc.nat({ max: 3 }),
  });
}

// ---------------------------------------------------------------------------
// Building a case from a recipe

/** What the comparison needs to know about a built case. */
export interface CaseMeta {
  key: string;
  mn: string;
  undef: number;
  hints: number;
  len: number;
  osz: number;
  /** ModRM.reg register (with REX.R), -1 without ModRM. */
  gReg: number;
  /** ModRM.rm register for mod = 3, else -1. */
  eReg: number;
  /** Scratch offset of the memory operand when it lies in scratch, else -1. */
  memOff: number;
  /** Shift count of SHLD/SHRD (masked), -1 otherwise. */
  shiftCount: number;
  rex: number;
  /** A sequence (several instructions up to the end of the code). */
  seq?: boolean;
  /** The sequence ends with LAHF: AH bit 4 is the producer's AF (maybe undefined). */
  lahf?: boolean;
  /** Scratch byte ranges [start, end) not compared (implementation-specific FXSAVE fields). */
  ignore?: number[];
  /** The MXCSR value LDMXCSR/FXRSTOR loads (read from scratch at build time). */
  mxIn?: number;
  /** Scratch bits not compared, as [offset, mask] pairs (XSAVE's XSTATE_BV[1:0]). */
  maskBits?: number[];
  /** Why the case is not compared at all (decided at build time). */
  skip?: string;
  /** Run in compatibility mode: only the low halves of RAX..RDI are compared. */
  compat?: boolean;
  /** A CS segment-override prefix is present (compatibility mode). */
  csOverride?: boolean;
}

export interface Built { c: NativeCase; meta: CaseMeta }

function xorshift(seed: number): () => number {
  let x = seed | 0 || 0x9e3779b9;
  return () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return x >>> 0; };
}

function hasModrm(d: OpDef): boolean {
  return d.reg !== undefined || d.ops.split(',').some((t) => /^[EGMCDRVWUPQN][a-z]*$/.test(t) || /^S[a-z]$/.test(t));
}

function immSize(d: OpDef, osz: number, asz: number): number[] {
  const sizes: number[] = [];
  for (const t of d.ops.split(',')) {
    switch (t) {
      case 'Ib': case 'sIb': case 'Jb': sizes.push(1); break;
      case 'Iw': sizes.push(2); break;
      case 'Iz': sizes.push(osz === 1 ? 1 : osz === 2 ? 2 : 4); break;
      case 'Iv': sizes.push(osz); break;
      case 'Jz': sizes.push(4); break;
      case 'Ob': case 'Ov': sizes.push(asz); break;
    }
  }
  return sizes;
}

/** A branch target, as an offset from NATIVE_CODE_ADDR or an absolute 64-bit value. */
function branchTarget(r: Recipe, len: number, compat = false): bigint {
  const m = r.auxMode;
  if (m === 6) return r.imm; // anything (mostly non-canonical)
  if (m === 7) return 0x0000_1234_5678_0000n + BigInt(r.aux & 0xffff); // canonical, unmapped
  // In the code pages, avoiding the instruction itself, the E9 stub after it and the exit stub.
  let off = r.aux;
  if (off >= 0 && off < len + 5) off = len + 5 + off;
  if (off >= 0xfff && off < 0x1010) off += 0x11;
  if (compat && off >= 0xfff && off < 0x10a0) off += 0xa1; // the compatibility-mode trampolines
  return BigInt(NATIVE_CODE_ADDR + off);
}

export function buildCase(r: Recipe, compat = false): Built {
  const e = (compat ? ENTRIES32 : ENTRIES)[r.entry]!;
  const d = e.def;
  const h = e.hints;
  const fl = d.flags ?? 0;
  const regs = r.regs.map((v) => v & M64);
  while (regs.length < 16) regs.push(0n);
  const rnd = xorshift(r.memSeed);
  const mem = new Uint8Array(NATIVE_SCRATCH_SIZE);
  if (r.memSeed !== 0) for (let k = 0; k < mem.length; k += 4) {
    const v = rnd();
    mem[k] = v; mem[k + 1] = v >>> 8; mem[k + 2] = v >>> 16; mem[k + 3] = v >>> 24;
  }
  const put64 = (off: number, v: bigint): void => {
    for (let k = 0; k < 8; k++) if (off + k >= 0 && off + k < mem.length) mem[off + k] = Number((v >> BigInt(8 * k)) & 0xffn);
  };
  const get64 = (off: number): bigint => {
    let v = 0n;
    for (let k = 7; k >= 0; k--) v = (v << 8n) | BigInt(off + k >= 0 && off + k < mem.length ? mem[off + k]! : 0);
    return v;
  };

  // ---- prefixes ----
  const branch = (h & K_BRANCH) !== 0;
  const sse = (h & K_SSE) !== 0;
  const use66 = r.p66 === 0 && !branch && !(h & K_NO66) && !sse;
  const rexByte = r.rex < 16 && !compat ? 0x40 | r.rex : 0; // 40-4F are INC/DEC outside 64-bit mode
  const legacy: number[] = [];
  if (r.seg >= 10) legacy.push([0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65][r.seg - 10]!);
  if (use66) legacy.push(0x66);
  const a32 = r.a32 === 0 && !compat; // 67 in compatibility mode would select 16-bit addressing
  if (a32) legacy.push(0x67);
  if (r.lock === 0) legacy.push(0xf0);
  const isPopcnt = d.op === 0x0fb8;
  if (isPopcnt || (h & K_FSGS)) legacy.push(0xf3);
  // SSE: the mandatory prefix goes last (a REX after it stays effective); before F2/F3 an
  // extra 66 is ignored (Vol. 2A, 2.1.2).
  const mand = mandatoryPrefix(d);
  if (sse && mand !== 0) { if (mand !== 0x66 && r.p66 === 1) legacy.push(0x66); legacy.push(mand); }
  else if ((h & K_REP) && r.rep >= 1 && r.rep <= 2) legacy.push(r.rep === 1 ? 0xf3 : 0xf2);
  // F2/F3 on other one-byte-map instructions are ignored (Vol. 2A, 2.1.1: "reserved" - and the host's
  // LOOPcc really changes with them, so not on branches); in the 0F map they select other instructions.
  else if (d.op < 0x100 && !branch && r.rep === 5 && r.rexEarly < 4) legacy.push(r.rexEarly & 1 ? 0xf3 : 0xf2);
  const early = rexByte !== 0 && legacy.length > 0 && r.rexEarly === 0;
  const rex = early ? 0 : rexByte;
  const prefix = early ? [...legacy.slice(0, -1), rexByte, legacy[legacy.length - 1]!] : rexByte ? [...legacy, rexByte] : legacy;

  // ---- sizes ----
  let osz: number;
  if (fl & IF_BYTE) osz = 1;
  else if (compat) osz = use66 ? 2 : 4;
  else if (fl & IF_F64) osz = 8;
  else if (rex & 8) osz = 8;
  else if (fl & IF_D64) osz = use66 ? 2 : 8;
  else osz = use66 ? 2 : 4;
  const asz = a32 || compat ? 4 : 8;

  const opBytes = d.op >= 0x0f00 ? [0x0f, d.op & 0xff] : [d.op];
  const bytes = [...prefix, ...opBytes];

  // ---- ModRM / SIB / displacement ----
  let gReg = -1, eReg = -1, memOff = -1;
  let A = BigInt(S + r.addr); // memory operand target
  if (r.addrMode === 12) A = BigInt(S - 8 + (r.addr & 15));           // straddles the page below
  else if (r.addrMode === 13) A = BigInt(S + 0x1000 - 8 + (r.addr & 15)); // straddles the page above
  else if (r.addrMode < 12 && r.addr > 0x1000 - 16 && !(r.addrMode & 1)) A = BigInt(S + (r.addr & 0xff0)); // mostly inside
  if (sse && r.addrMode < 12 && r.bias !== 0) {
    // 16-byte aligned; a 512-byte FXSAVE/FXRSTOR image mostly inside the page (bias 1: anywhere, may cross).
    A = BigInt(S + ((h & K_FX) && r.bias !== 1 ? (r.addr & 0xff0) % 0xe10 : r.addr & 0xff0));
    // XSAVE area: 64-byte aligned and inside the page (bias 1: 16-byte aligned anywhere: #GP or #PF).
    if ((h & K_XS) && r.bias !== 1) A = BigInt(S + (r.addr & 0xfc0) % 0xdc0);
  }
  const wild = r.addrMode >= 14;
  const eaRegs: number[] = [];
  let dispPatch = -1; // index of a disp32 to compute once the length is known (RIP-relative)
  if (hasModrm(d)) {
    const memOnly = d.mem === true || d.ops.split(',').some((t) => t === 'M' || /^M[a-z]/.test(t));
    let mod = d.mem === false ? 3 : r.mod;
    // mod = 3 of a memory-only entry is #UD (bias 0), except on the x87 escapes D8-DF, where it
    // selects other instructions (not implemented here: UnimplementedError).
    if (memOnly && mod === 3 && (r.bias !== 0 || (d.op >= 0xd8 && d.op <= 0xdf))) mod = r.addrMode % 3;
    const regField = d.reg ?? r.reg;
    const rm = d.rm ?? r.rm; // ModRM.rm-selected members (DB E2, DF E0, ...) fix it
    bytes.push((mod << 6) | (regField << 3) | rm);
    gReg = regField | ((rex & 4) << 1);
    if (mod === 3) eReg = rm | ((rex & 1) << 3);
    else {
      let base = -1, index = -1, scale = 1, disp = 0, dispSize = mod === 1 ? 1 : mod === 2 ? 4 : 0, ripRel = false;
      if (rm === 4) {
        const ix = r.index | ((rex & 2) << 2);
        index = ix === 4 ? -1 : ix;
        scale = 1 << r.scale;
        if (r.base === 5 && mod === 0) { dispSize = 4; }
        else base = r.base | ((rex & 1) << 3);
        bytes.push((r.scale << 6) | (r.index << 3) | r.base);
      } else if (rm === 5 && mod === 0) { ripRel = !compat; dispSize = 4; } // disp32 alone outside 64-bit mode
      else base = rm | ((rex & 1) << 3);
      disp = dispSize === 1 ? r.disp : dispSize === 4 ? (r.disp * 37) | 0 : 0;
      if (ripRel && wild) {
        // Anywhere but the code pages (a write there would change the stub the harness runs next).
        disp = Number(BigInt.asIntN(32, r.imm >> 13n));
        const t = NATIVE_CODE_ADDR + 16 + disp;
        if (t >= NATIVE_CODE_ADDR - 0x1000 && t < NATIVE_CODE_ADDR + 0x2000) disp += 0x4000;
      }
      const addrMask = a32 || compat ? 0xffff_ffffn : M64;
      if (!wild) {
        if (ripRel) dispPatch = bytes.length;
        else if (base < 0 && index < 0) disp = Number(BigInt.asIntN(32, A));
        else if (base < 0) { // index*scale + disp32
          const iv = BigInt(r.idx & 0xff);
          regs[index] = iv;
          disp = Number(BigInt.asIntN(32, A - iv * BigInt(scale)));
        } else if (index < 0) regs[base] = (A - BigInt(disp)) & addrMask;
        else if (index === base) regs[base] = ((A - BigInt(disp)) / BigInt(1 + scale)) & addrMask;
        else {
          const iv = BigInt(r.idx) & M64;
          regs[index] = iv;
          regs[base] = (A - BigInt(disp) - BigInt(r.idx) * BigInt(scale)) & addrMask;
        }
        if (a32 || compat) {
          // Garbage in the upper halves: 32-bit addressing must ignore it.
          if (base >= 0) regs[base] = regs[base]! | ((r.imm & 0xffff_ffffn) << 32n);
          if (index >= 0 && index !== base) regs[index] = regs[index]! | ((r.imm >> 32n) << 32n);
        }
      }
      for (let k = 0; k < dispSize; k++) bytes.push((disp >>> (8 * k)) & 0xff);
      if (!wild) {
        // Where the operand really is (a register used as base and index only approximates A).
        let ea = ripRel ? A : BigInt(disp);
        if (base >= 0) ea += regs[base]!;
        if (index >= 0) ea += regs[index]! * BigInt(scale);
        const off = Number(ea & addrMask) - S;
        memOff = off >= 0 && off < 0x1000 ? off : -1;
      }
      if (base >= 0) eaRegs.push(base);
      if (index >= 0) eaRegs.push(index);
    }
  }

  // ---- immediates ----
  const sizes = immSize(d, osz, asz);
  const immAt = bytes.length;
  let immVal = r.immMode === 0 ? r.imm & 0xffn : r.immMode === 1 ? BigInt.asUintN(64, BigInt(r.aux)) : r.imm;
  if (h & K_ENTER) immVal = (r.imm & 0xfff8n) % 0x180n | (BigInt(r.aux & 3) << 16n);
  for (const sz of sizes) for (let k = 0; k < sz; k++) bytes.push(0);
  const len = bytes.length;
  const writeImm = (at: number, size: number, v: bigint): void => {
    for (let k = 0; k < size; k++) bytes[at + k] = Number((v >> BigInt(8 * k)) & 0xffn);
  };
  if ((h & K_BRANCH) && sizes.length > 0 && !(h & K_RETADDR)) {
    const t = branchTarget(r, len, compat);
    writeImm(immAt, sizes[0]!, BigInt.asUintN(64, t - BigInt(NATIVE_CODE_ADDR + len)));
  } else if (h & K_MOFFS) {
    const a = wild ? r.imm : A;
    writeImm(immAt, sizes[0]!, a);
    memOff = wild ? -1 : Number(A) - S;
  } else {
    let at = immAt, v = immVal;
    for (const sz of sizes) { writeImm(at, sz, v); v >>= BigInt(8 * sz); at += sz; }
  }
  if (dispPatch >= 0) {
    const disp = Number(BigInt.asIntN(32, A - BigInt(NATIVE_CODE_ADDR + len)));
    for (let k = 0; k < 4; k++) bytes[dispPatch + k] = (disp >>> (8 * k)) & 0xff;
  }

  // ---- registers with a role ----
  const RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, RDI = 7;
  if ((h & K_RSP) && r.addrMode !== 15) {
    const off = r.addrMode === 13 ? 0x1000 - (r.aux & 7) : r.addrMode === 12 ? (r.aux & 7) : 0x80 + (((r.addr >> 3) % 0x1e0) << 3) + (r.bias === 3 ? r.addr & 7 : 0);
    // Do not move RSP if it is the memory operand's base.
    if (!eaRegs.includes(RSP)) regs[RSP] = BigInt(S + off);
  }
  if (h & K_RBP) regs[RBP] = BigInt(S + 0x100 + ((r.addr * 8) % 0xe00));
  if (h & K_RBX) regs[RBX] = BigInt(S + (r.addr % 0xf00)) | (a32 || compat ? (r.imm << 32n) & M64 : 0n);
  if (h & K_STR) {
    const hiJunk = a32 || compat ? (r.imm << 32n) & M64 : 0n;
    regs[RSI] = BigInt(S + 0x40 + (r.addr % 0xf80)) | hiJunk;
    regs[RDI] = BigInt(S + 0x40 + ((r.addr * 7 + r.idx * 64) & 0xf7f)) | hiJunk;
    if (r.auxMode < 6) regs[RCX] = BigInt(r.aux & 7) | (r.auxMode === 5 ? hiJunk | (r.imm & 0xffff_0000n) : 0n);
  }
  if ((h & K_LOOP) && r.auxMode < 6) regs[RCX] = BigInt(r.aux & 3) | (r.auxMode >= 4 ? (r.imm << 32n) & M64 : 0n);
  if ((h & K_TARGET)) {
    const t = branchTarget(r, len, compat) & M64;
    if (eReg >= 0) regs[eReg] = t;
    else if (memOff >= 0) put64(memOff, t);
  }
  if ((h & K_RETADDR)) {
    const sp = Number(regs[RSP]! - BigInt(S));
    if (sp >= 0 && sp < 0x1000) put64(sp, branchTarget(r, len, compat) & M64);
  }
  if ((h & K_DIV) && r.bias !== 0) {
    const signed = d.reg === 7;
    const divisor = eReg >= 0 ? regs[eReg]! : memOff >= 0 && memOff <= 0x1000 - 8 ? get64(memOff) : 0n;
    const bits = BigInt(osz * 8), m = (1n << bits) - 1n;
    if (r.bias === 3 && osz >= 4 && eReg !== RDX && eReg !== RAX) {
      // A large dividend whose quotient still fits: 0 <= RDX < divisor (unsigned).
      const dvs = divisor & m;
      if (dvs > 1n) regs[RDX] = (regs[RDX]! & ~m) | ((r.imm & m) % dvs);
    } else if (osz === 1) regs[RAX] = signed && r.bias === 2 ? (regs[RAX]! | 0xff80n) : regs[RAX]! & ~0xff00n;
    else regs[RDX] = signed && (regs[RAX]! >> BigInt(osz * 8 - 1)) & 1n ? M64 : 0n;
  }
  if ((h & K_CMPX) && r.bias !== 0) {
    if (eReg >= 0 && eReg !== RAX) regs[RAX] = regs[eReg]!;
    else if (memOff >= 0 && memOff <= 0x1000 - 8) regs[RAX] = get64(memOff);
  }
  if ((h & K_CX8) && r.bias !== 0 && memOff >= 0 && memOff <= 0x1000 - 16) {
    if (rex & 8) { regs[RAX] = get64(memOff); regs[RDX] = get64(memOff + 8); }
    else { const q = get64(memOff); regs[RAX] = q & 0xffff_ffffn; regs[RDX] = q >> 32n; }
  }

  // WRFSBASE/WRGSBASE: mostly canonical values (bias 0: as drawn, usually #GP(0) with REX.W);
  // then RDFSBASE/RDGSBASE (REX.W) into the next register shows the base that was written.
  let fsgsTail: number[] = [];
  if ((h & K_FSGS) && d.reg! >= 2 && eReg >= 0) {
    if (r.bias !== 0) regs[eReg] = BigInt.asUintN(64, BigInt.asIntN(48, regs[eReg]!));
    const dst = eReg ^ 1;
    fsgsTail = [0xf3, 0x48 | (dst >> 3), 0x0f, 0xae, 0xc0 | ((d.reg! & 1) << 3) | (dst & 7)];
  }
  const state = makeNativeState({ rflags: r.flags & FLAGS_COMPARED, mem });
  regs.forEach((v, k) => { state.gpr[2 * k] = Number(v & 0xffff_ffffn); state.gpr[2 * k + 1] = Number(v >> 32n); });
  let shiftCount = -1;
  if (h & K_SHIFTD) {
    const cnt = d.ops.endsWith('CL') ? Number(regs[RCX]! & 0xffn) : bytes[len - 1]!;
    shiftCount = cnt & (osz === 8 ? 63 : 31);
  }
  const meta: CaseMeta = { key: e.key, mn: d.mn, undef: d.undef ?? 0, hints: h, len, osz, gReg, eReg, memOff, shiftCount, rex };
  if (compat) { meta.compat = true; if (r.seg === 11) meta.csOverride = true; }
  if (h & K_XS) {
    // EDX:EAX AND XCR0 = RFBM. XCR0[63:32] is 0 on both, so only EAX matters: bits 1:0, and now
    // and then bit 30 (clear in both XCR0s, so ignored by both). Not when RAX addresses the area.
    if (eaRegs.includes(RAX)) meta.skip = 'RAX is the base or index of the XSAVE area (its low bits would select host-only components)';
    else {
      const eax = [3, 1, 2, 0, 3 | (1 << 30)][r.aux % 5]! >>> 0;
      state.gpr[0] = eax;
    }
  }
  if (sse) sseState(r, state, meta);
  if (fsgsTail.length > 0) { bytes.push(...fsgsTail); meta.len = bytes.length; meta.seq = true; }
  const c: NativeCase = { code: Uint8Array.from(bytes), state };
  if (compat) c.compat = true;
  return { c, meta };
}

const rd32 = (m: Uint8Array, off: number): number => (m[off]! | (m[off + 1]! << 8) | (m[off + 2]! << 16) | (m[off + 3]! << 24)) >>> 0;
const wr32 = (m: Uint8Array, off: number, v: number): void => { for (let k = 0; k < 4; k++) m[off + k] = (v >>> (8 * k)) & 0xff; };

/**
 * An MXCSR value for LDMXCSR/FXRSTOR: bias 1-2 valid (16 bits), bias 3 with one reserved
 * bit (16 or 18-31: bit 17 alone is AMD's valid MM bit), bias 0 whatever memory holds.
 */
function mxcsrValue(r: Recipe, old: number): number {
  const v = Number((r.imm >> 16n) & 0xffffn);
  if (r.bias === 0) return old;
  if (r.bias !== 3) return v;
  const bit = [16, 18, 19, 20, 24, 30, 31][(((r.idx % 7) + 7) % 7)] ?? 16;
  return (v | (1 << bit)) >>> 0;
}

/** XMM0-15 and MXCSR of an SSE case, and the operand set-up of LDMXCSR / FXSAVE / FXRSTOR. */
function sseState(r: Recipe, state: NativeState, meta: CaseMeta): void {
  const xr = xorshift(r.memSeed ^ 0x2545f491);
  const xmm = state.xmm!;
  const m = state.mem, off = meta.memOff;
  const ALPHA = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x41, 0x20, 0xfe];
  for (let k = 0; k < 64; k++) {
    let v = xr();
    switch (r.auxMode) {
      case 3: v = ALPHA[v & 7]! | (ALPHA[(v >>> 3) & 7]! << 8) | (ALPHA[(v >>> 6) & 7]! << 16) | (ALPHA[(v >>> 9) & 7]! << 24); break;
      case 4: // a copy of the memory operand, a byte changed now and then (equal elements for PCMPEQ)
        if (off >= 0 && off + 16 <= 4096) v = rd32(m, off + 4 * (k & 3)) ^ ((v & 0xf00) === 0 ? (v & 0xff) << (8 * ((v >>> 12) & 3)) : 0);
        break;
      case 5: v &= (v & 0x10000 ? 0xff00ff00 : 0xffff00ff) ^ (v & 0x20000 ? 0xff : 0); break; // zero bytes
      case 6: if (k >= 4) v = xmm[k & 3]!; break; // all registers equal
      case 7: v = 0; break;
    }
    xmm[k] = v >>> 0;
  }
  state.mxcsr = r.immMode === 3 ? Number(r.imm >> 48n) : 0x1f80;
  const h = meta.hints;
  if ((h & K_MXCSR) && off >= 0 && off + 4 <= 4096) {
    wr32(m, off, mxcsrValue(r, rd32(m, off)));
    meta.mxIn = rd32(m, off);
  }
  if ((h & K_FX) && off >= 0) {
    if (meta.key.endsWith('/1m') && off + 28 <= 4096) { // FXRSTOR: the image's MXCSR
      wr32(m, off + 24, mxcsrValue(r, rd32(m, off + 24)));
      meta.mxIn = rd32(m, off + 24);
    }
    if (meta.key.endsWith('/0m')) meta.ignore = [off + 28, off + 32]; // FXSAVE: MXCSR_MASK
  }
  if ((h & K_XS) && off >= 0 && off + 576 <= 4096) {
    if (meta.key.endsWith('/5m')) { // XRSTOR: the image's MXCSR and XSAVE header
      wr32(m, off + 24, mxcsrValue(r, rd32(m, off + 24)));
      meta.mxIn = rd32(m, off + 24);
      xsaveHeader(m, off + 512, r.idx);
    } else { // XSAVE
      meta.ignore = [off + 28, off + 32]; // MXCSR_MASK
      meta.maskBits = [off + 512, 3]; // XSTATE_BV[1:0] = XINUSE[1:0], implementation-specific (Vol. 1, 13.6)
    }
  }
}

/**
 * An XSAVE header for XRSTOR at m[at, at + 64), from `sel`: XSTATE_BV within x87|SSE
 * (mostly), or with bit 30 or 63 (clear in both XCR0s: #GP on both); XCOMP_BV and bytes
 * 23:16 zero (mostly) or not (#GP on both: standard form, Vol. 2C XRSTOR); XCOMP_BV[63]
 * (compacted form) is never set, since the host supports compaction and this CPU does not.
 * Bytes 63:24 keep the random memory contents (neither processor checks them).
 */
function xsaveHeader(m: Uint8Array, at: number, sel: number): void {
  const s = ((sel % 64) + 64) % 64;
  for (let k = 0; k < 24; k++) m[at + k] = 0;
  m[at] = s & 3;
  if (s >= 48) {
    if ((s & 12) === 0) m[at + 3] = 0x40;          // XSTATE_BV[30]
    else if ((s & 12) === 4) m[at + 7] = 0x80;     // XSTATE_BV[63]
    else if ((s & 12) === 8) m[at + 8] = 1;        // XCOMP_BV[0]
    else m[at + 16 + (s & 7)] = 0x10;              // bytes 23:16
  }
}

// ---------------------------------------------------------------------------
// Sequences: a flag producer, an optional middle instruction, a flag consumer.
// The single-instruction property only ever starts from materialized flags;
// sequences make the consumer read the lazy flags the producer left
// (flags.ts), through the same block, as guest code does.

/** Producers: entries whose defined flags cover everything a condition code reads. */
export const PRODUCERS: number[] = ENTRIES.flatMap((e, k) =>
  ((e.def.undef ?? 0) & ~AF) === 0 && !(e.hints & (K_BRANCH | K_TARGET | K_RETADDR | K_INVALID)) ? [k] : []);

export interface SeqRecipe { first: Recipe; mid: number; cons: number; cc: number; r1: number; r2: number; w: number }

export function seqArb(): fc.Arbitrary<SeqRecipe> {
  return fc.record({
    first: recipeArb().map((r) => ({ ...r, entry: PRODUCERS[r.entry % PRODUCERS.length]! })),
    mid: fc.nat({ max: 11 }),
    cons: fc.nat({ max: 9 }),
    cc: fc.nat({ max: 15 }),
    r1: fc.nat({ max: 7 }),
    r2: fc.nat({ max: 7 }),
    w: fc.nat({ max: 3 }),
  });
}

/** Middle instructions: flag-preserving or partial flag writers (INC/DEC keep CF). */
function midBytes(s: SeqRecipe): number[] {
  const r = s.r1, q = s.r2;
  switch (s.mid) {
    case 0: return [0xff, 0xc0 | r];                 // inc r32 (CF kept)
    case 1: return [0x48, 0xff, 0xc8 | r];           // dec r64 (CF kept)
    case 2: return [0xfe, 0xc0 | r];                 // inc r8
    case 3: return [0x66, 0xff, 0xc8 | r];           // dec r16
    case 4: return [0xf8];                           // clc
    case 5: return [0xf9];                           // stc
    case 6: return [0xf5];                           // cmc
    case 7: return [0x89, 0xc0 | (q << 3) | r];      // mov (no flags)
    case 8: return [0x8d, 0x40 | (q << 3) | (r === 4 ? 0 : r), 0x01]; // lea (no flags; no SIB)
    default: return [];
  }
}
/** Consumers: instructions whose result depends on the flags. */
function consBytes(s: SeqRecipe): number[] {
  const rex = s.w === 0 ? [0x48] : [];
  const rr = 0xc0 | (s.r1 << 3) | s.r2;
  switch (s.cons) {
    case 0: return [0x0f, 0x90 | s.cc, 0xc0 | s.r2];               // setcc r8
    case 1: return [...rex, 0x0f, 0x40 | s.cc, rr];                // cmovcc
    case 2: return [0x70 | s.cc, 0x02, 0xff, 0xc1];                // jcc over "inc ecx"
    case 3: return [...rex, 0x11, rr];                             // adc
    case 4: return [...rex, 0x19, rr];                             // sbb
    case 5: return [...rex, 0xd1, 0xd0 | s.r2];                    // rcl r, 1
    case 6: return [...rex, 0xd1, 0xd8 | s.r2];                    // rcr r, 1
    case 7: return [0x0f, 0x80 | s.cc, 0x02, 0, 0, 0, 0xff, 0xc1]; // jcc rel32 over "inc ecx"
    case 8: return [0x9f];                                         // lahf (AF masked below)
    default: return [0x0f, 0x90 | s.cc, 0xc0 | s.r2, 0x0f, 0x90 | (s.cc ^ 1), 0xc4 | (s.r1 & 3)]; // setcc; setncc
  }
}

/** Builds a sequence case; null when it does not fit in 15 bytes. */
export function buildSeq(s: SeqRecipe): Built | null {
  const b = buildCase(s.first);
  const tail = [...midBytes(s), ...consBytes(s)];
  if (b.c.code.length + tail.length > 15) return null;
  const code = Uint8Array.from([...b.c.code, ...tail]);
  const meta: CaseMeta = { ...b.meta, key: `seq:${b.meta.key}`, len: code.length, seq: true, lahf: s.cons === 8 };
  return { c: { code, state: b.c.state }, meta };
}

// ---------------------------------------------------------------------------
// x87/SSE state round trips. Single instructions start from the FNINIT state,
// so what FXRSTOR loads into the x87 registers (and FLDCW into FCW) is only
// observable through a second instruction: each case loads an image at RAX
// (random bytes; FCW, FSW, FTW and MXCSR chosen), optionally runs an x87
// control instruction, and stores the state back at RAX + 0x200.

export interface X87Recipe {
  kind: number; w1: number; w2: number; slot: number; memSeed: number;
  fcw: number; fsw: number; ftw: number; mx: Recipe; xmmSeed: number; mxcsr: number;
}

export function x87SeqArb(): fc.Arbitrary<X87Recipe> {
  return fc.record({
    kind: fc.nat({ max: 8 }), w1: fc.nat({ max: 1 }), w2: fc.nat({ max: 1 }), slot: fc.nat({ max: 0x60 }),
    memSeed: fc.nat(),
    fcw: fc.oneof(fc.nat({ max: 0xffff }), fc.constantFrom(0x037f, 0x0040, 0xffff, 0x027f)),
    fsw: fc.oneof(fc.nat({ max: 0xffff }), fc.constantFrom(0, 0x0080, 0x3800, 0x8081, 0x7f7f)),
    ftw: fc.oneof(fc.nat({ max: 0xff }), fc.constantFrom(0, 0xff, 0x01, 0x80)),
    // Only imm (the valid-value bits), idx and bias are used: see mxcsrValue.
    mx: fc.record({ imm: fc.bigInt({ min: 0n, max: M64 }), idx: fc.integer({ min: -16, max: 64 }), bias: fc.nat({ max: 3 }) })
      .map((m) => ({ ...m }) as unknown as Recipe),
    xmmSeed: fc.nat(), mxcsr: fc.nat({ max: 0xffff }),
  });
}

const X87_NAMES = ['fxrstor;fxsave', 'fxrstor;fnclex;fxsave', 'fxrstor;fninit;fxsave', 'fldcw;fxsave',
  'fxrstor;fnstcw;fnstsw ax', 'fxrstor;fwait', 'ldmxcsr;stmxcsr', 'xrstor;xsave', 'xrstor;fxsave'];

/**
 * Random scratch memory holding, at `off`, the legacy region of an FXSAVE/XSAVE image
 * with the recipe's FCW, FSW, FTW and MXCSR (returned as `mx`).
 */
function x87Image(r: X87Recipe, off: number): { mem: Uint8Array; mx: number } {
  const rnd = xorshift(r.memSeed);
  const mem = new Uint8Array(NATIVE_SCRATCH_SIZE);
  for (let k = 0; k < mem.length; k += 4) wr32(mem, k, rnd());
  mem[off] = r.fcw & 0xff; mem[off + 1] = r.fcw >> 8;
  mem[off + 2] = r.fsw & 0xff; mem[off + 3] = r.fsw >> 8;
  mem[off + 4] = r.ftw;
  const mx = r.mx.bias === 0 ? 0x1f80 : mxcsrValue(r.mx, 0);
  wr32(mem, off + 24, mx);
  return { mem, mx };
}

/** A REX.W prefix when `w` is set. */
const rexW = (w: number): number[] => (w ? [0x48] : []);

/** Builds an x87 round-trip case (see above). */
export function buildX87Seq(r: X87Recipe): Built {
  if (r.kind >= 7) return buildXsaveSeq(r);
  const off = r.slot * 16, A = S + off, out = off + 0x200;
  const { mem, mx } = x87Image(r, off);
  const fxrstor = [...rexW(r.w1), 0x0f, 0xae, 0x08];                 // fxrstor [rax]
  const fxsave = [...rexW(r.w2), 0x0f, 0xae, 0x80, 0x00, 0x02, 0, 0]; // fxsave [rax+0x200]
  let code: number[];
  switch (r.kind) {
    case 0: code = [...fxrstor, ...fxsave]; break;
    case 1: code = [...fxrstor, 0xdb, 0xe2, ...fxsave]; break;
    case 2: code = [...fxrstor, 0xdb, 0xe3, ...fxsave]; break;
    case 3: code = [0xd9, 0x28, ...fxsave]; break;                              // fldcw [rax]
    case 4: code = [...fxrstor, 0xd9, 0xb8, 0x00, 0x02, 0, 0, 0xdf, 0xe0]; break; // fnstcw [rax+0x200]; fnstsw ax
    case 5: code = [...fxrstor, 0x9b]; break;                                   // fwait: #MF if FSW.ES
    default: code = [0x0f, 0xae, 0x50, 0x18, 0x0f, 0xae, 0x98, 0x00, 0x02, 0, 0]; // ldmxcsr [rax+24]; stmxcsr [rax+0x200]
  }
  const state = makeNativeState({ rax: A, mem });
  const xr = xorshift(r.xmmSeed);
  for (let k = 0; k < 64; k++) state.xmm![k] = xr();
  state.mxcsr = r.mxcsr;
  const meta: CaseMeta = {
    key: `x87seq:${X87_NAMES[r.kind]}`, mn: X87_NAMES[r.kind]!, undef: 0, hints: K_SSE, len: code.length, osz: 4,
    gReg: -1, eReg: -1, memOff: off, shiftCount: -1, rex: 0, seq: true,
    // FOP/FIP/FDP/FCS/FDS (AMD stores them only when FSW.ES = 1) and MXCSR_MASK of the stored image.
    ignore: [out + 6, out + 24, out + 28, out + 32],
  };
  if (r.kind !== 3) meta.mxIn = mx;
  return { c: { code: Uint8Array.from(code), state }, meta };
}

/**
 * XSAVE round trips (x87 and SSE state through the XSAVE area, Vol. 1, 13.7/13.8): XRSTOR
 * [RBX] of an image (random legacy region with the chosen FCW/FSW/FTW/MXCSR, a header with
 * XSTATE_BV within x87|SSE, XCOMP_BV 0), then XSAVE [RBX+0x240] (kind 7) or FXSAVE
 * [RBX+0x240] (kind 8: shows the components XRSTOR initialized, without XINUSE). EDX:EAX
 * = RFBM within x87|SSE. Compared: registers, XMM, MXCSR and the stored image, except
 * FOP/FIP/FDP/FCS/FDS and MXCSR_MASK (as for FXSAVE) and XSTATE_BV[1:0] (XINUSE).
 */
function buildXsaveSeq(r: X87Recipe): Built {
  const off = (r.slot * 16) & ~63, A = S + off, out = off + 0x240;
  const { mem, mx } = x87Image(r, off);
  xsaveHeader(mem, off + 512, r.memSeed >>> 7);
  const xrstor = [...rexW(r.w1), 0x0f, 0xae, 0x2b];                                  // xrstor [rbx]
  const save = [...rexW(r.w2), 0x0f, 0xae, r.kind === 7 ? 0xa3 : 0x83, 0x40, 0x02, 0, 0]; // xsave / fxsave [rbx+0x240]
  const code = [...xrstor, ...save];
  const rfbm = [3, 1, 2, 3][(r.memSeed >>> 5) & 3]!;
  const state = makeNativeState({ rbx: A, rax: rfbm, rdx: 0, mem });
  const xr = xorshift(r.xmmSeed);
  for (let k = 0; k < 64; k++) state.xmm![k] = xr();
  state.mxcsr = r.mxcsr;
  const name = X87_NAMES[r.kind]!;
  const meta: CaseMeta = {
    key: `x87seq:${name}`, mn: name, undef: 0, hints: K_SSE, len: code.length, osz: 4,
    gReg: -1, eReg: -1, memOff: off, shiftCount: -1, rex: 0, seq: true,
    ignore: [out + 6, out + 24, out + 28, out + 32],
    maskBits: r.kind === 7 ? [out + 512, 3] : [],
  };
  if (rfbm & 2) meta.mxIn = mx;
  return { c: { code: Uint8Array.from(code), state }, meta };
}

// ---------------------------------------------------------------------------
// Comparison

export type Verdict = { kind: 'match' } | { kind: 'skip'; why: string } | { kind: 'mismatch'; diff: string };

const hex = (v: bigint | number): string => '0x' + (typeof v === 'number' ? (v >>> 0).toString(16) : v.toString(16));
function gpr64(g: Uint32Array, r: number): bigint { return (BigInt(g[2 * r + 1]!) << 32n) | BigInt(g[2 * r]!); }

function inOurPages(a: bigint): boolean {
  return (a >= BigInt(S) && a < BigInt(S + 0x1000)) || (a >= BigInt(NATIVE_CODE_ADDR - 0x1000) && a < BigInt(NATIVE_CODE_ADDR + 0x2000));
}

/** Compares our result with the native one for a built case. */
export function compareResults(meta: CaseMeta, ours: Cpu1Result, nat: NativeResult): Verdict {
  if (!nat.ok && (nat.signal === 'TIMEOUT' || nat.signal === 'SIGSYS')) return { kind: 'skip', why: `native ${nat.signal}` };
  if (meta.skip !== undefined) return { kind: 'skip', why: meta.skip };
  if (meta.compat === true && !nat.ok && (nat.vector === 12 || nat.vector === 13) && nat.errorCode === 0) {
    // Segment checks outside 64-bit mode that this CPU does not model (a known gap): writes through
    // CS. (An access that wraps at 4 GiB through a flat segment is #GP/#SS here too: Cpu.segWrap.)
    const ourPf = !ours.ok && ours.vector === 14;
    if ((ours.ok || ourPf) && meta.csOverride === true) return { kind: 'skip', why: 'write through CS (#GP): segment-type checks not modelled' };
  }
  if (meta.mxIn !== undefined && (meta.mxIn & ~0xffff) === 0x20000) return { kind: 'skip', why: 'MXCSR bit 17 (AMD MM, misaligned SSE): valid on the host, reserved here' };
  if (ours.unimplemented !== undefined) return { kind: 'mismatch', diff: `our CPU: ${ours.unimplemented}; native: ${nat.ok ? 'completed' : nat.signal}` };
  if (ours.exitReason !== undefined) return { kind: 'mismatch', diff: `our CPU left with VM exit reason ${ours.exitReason}` };
  const len = meta.len;
  // Targets the native harness cannot report: the instruction itself, its E9 stub, the exit
  // stub, and the INT3 just before the exit stub (its trap RIP is the exit stub: "completed").
  const stubEnd = meta.compat === true ? 0x10a0 : 0x1010; // compatibility mode: trampolines up to EXIT_ADDR + 0x9F
  const unreliable = (o: number): boolean => (o >= 0 && o < len) || (o > len && o < len + 5) || (o >= 0xfff && o < stubEnd);
  if (ours.ok && unreliable(ours.ripOffset)) return { kind: 'skip', why: `branch target code+${ours.ripOffset} is not observable natively` };
  // x87 round trips fault at their own instruction boundaries (#MF at FWAIT, #GP/#PF at the FXSAVE).
  const atBoundary = meta.key.startsWith('x87seq:') && ours.ripOffset > 0 && ours.ripOffset < len;
  if (!ours.ok && ours.ripOffset !== 0 && unreliable(ours.ripOffset) && !atBoundary) return { kind: 'skip', why: 'fault inside the stub' };
  const diffs: string[] = [];
  if (ours.ok !== nat.ok) {
    const what = (x: NativeResult): string => (x.ok ? `completed (rip code+${x.ripOffset})` : `${x.signal} vector ${x.vector ?? '-'} err ${hex(x.errorCode)} at code+${x.ripOffset}`);
    return { kind: 'mismatch', diff: `outcome: ours ${what(ours)}, native ${what(nat)}` };
  }
  if (ours.ripOffset !== nat.ripOffset) diffs.push(`rip: ours code+${ours.ripOffset}, native code+${nat.ripOffset}`);
  if (!nat.ok && nat.vector === 14 && (nat.errorCode & 1) && nat.addr < 0x8000_0000_0000n && !inOurPages(nat.addr)) {
    return { kind: 'skip', why: `native #PF on a page of the harness process (${hex(nat.addr)})` };
  }
  if (!ours.ok && !nat.ok && ours.vector === 13 && (meta.key === 'ff/2' || meta.key === 'e8') && nat.state !== undefined) {
    // CALL with a non-canonical target and a push that faults: Intel checks the target
    // first (#GP(0), Vol. 2A CALL, Operation), AMD the push (#SS or #PF). This machine is Intel.
    const slot = BigInt.asUintN(64, gpr64(nat.state.gpr, 4) - 8n);
    if (nat.vector === 12 || (nat.vector === 14 && nat.addr === slot)) return { kind: 'skip', why: 'vendor-specific fault priority (CALL target vs push)' };
  }
  if (!ours.ok && !nat.ok) {
    if (ours.vector !== nat.vector) diffs.push(`vector: ours ${ours.vector}, native ${nat.vector}`);
    else if (nat.vector === 14) {
      // The U/S bit differs by construction (CPL 0 vs CPL 3); for addresses in
      // the kernel half Linux reports P = 1 whatever happened (sanitize_error_code).
      const ignore = 4 | (nat.addr >= 0x8000_0000_0000n ? 1 : 0);
      if (((ours.errorCode ^ nat.errorCode) & ~ignore) !== 0) diffs.push(`#PF error code: ours ${hex(ours.errorCode)}, native ${hex(nat.errorCode)}`);
      if (ours.addr !== nat.addr) diffs.push(`#PF address: ours ${hex(ours.addr)}, native ${hex(nat.addr)}`);
    } else if (nat.vector === 13 || nat.vector === 12) {
      if (ours.errorCode !== nat.errorCode) diffs.push(`error code: ours ${hex(ours.errorCode)}, native ${hex(nat.errorCode)}`);
    }
  }
  const os = ours.state, ns = nat.state;
  if (os === undefined || ns === undefined) return diffs.length ? { kind: 'mismatch', diff: diffs.join('\n') } : { kind: 'match' };
  // Case-specific undefined results (SDM Vol. 2).
  let skipReg = -1, skipMem = false, undef = meta.undef;
  if ((meta.hints & K_BSF) && (ns.rflags & ZF)) { skipReg = meta.gReg; } // BSF/BSR: source 0 => destination undefined
  if ((meta.hints & K_SHIFTD) && meta.shiftCount > meta.osz * 8) {
    // SHLD/SHRD: count > operand size => destination and flags undefined
    undef |= CF | PF | AF | ZF | SF | OF;
    if (meta.eReg >= 0) skipReg = meta.eReg; else skipMem = true;
  }
  if ((meta.hints & K_SHIFTD) && meta.shiftCount !== 1) undef |= OF; // OF defined for 1-bit shifts only
  if ((meta.hints & K_SHIFTD) && meta.shiftCount !== 0) undef |= AF; // AF undefined for non-zero counts
  // Compatibility mode: bits 63:32 are undefined after it, R8-R15 out of its reach (Vol. 1, 3.4.1.1).
  // POPA that faults midway: the host (AMD) leaves the registers it popped before the fault
  // loaded; this CPU, like a restartable fault, leaves them all as they were.
  const popaFault = meta.key === '61' && !ours.ok && !nat.ok;
  const nGpr = popaFault ? 0 : meta.compat === true ? 8 : 16, gMask = meta.compat === true ? 0xffff_ffffn : M64;
  for (let r = 0; r < nGpr; r++) {
    if (r === skipReg) continue;
    let a = gpr64(os.gpr, r) & gMask, b = gpr64(ns.gpr, r) & gMask;
    if (r === 0 && meta.lahf && (undef & AF)) { a &= ~0x1000n; b &= ~0x1000n; }
    if (a !== b) diffs.push(`${GPR_NAMES[r]}: ours ${hex(a)}, native ${hex(b)}`);
  }
  if (os.xmm !== undefined && ns.xmm !== undefined) {
    for (let r = 0; r < 16; r++) {
      const a = getXmm(os, r), b = getXmm(ns, r);
      if (a !== b) diffs.push(`xmm${r}: ours ${hex(a)}, native ${hex(b)}`);
    }
  }
  if ((os.mxcsr ?? 0x1f80) !== (ns.mxcsr ?? 0x1f80)) diffs.push(`mxcsr: ours ${hex(os.mxcsr ?? 0x1f80)}, native ${hex(ns.mxcsr ?? 0x1f80)}`);
  const ign = meta.ignore ?? [];
  const ignored = (k: number): boolean => { for (let j = 0; j < ign.length; j += 2) if (k >= ign[j]! && k < ign[j + 1]!) return true; return false; };
  const mask = FLAGS_COMPARED & ~undef;
  if (((os.rflags ^ ns.rflags) & mask) !== 0) diffs.push(`rflags (compared ${hex(mask)}): ours ${hex(os.rflags & mask)}, native ${hex(ns.rflags & mask)}`);
  const mb = meta.maskBits ?? [];
  const masked = (k: number, a: number, b: number): boolean => {
    for (let j = 0; j < mb.length; j += 2) if (k === mb[j] && ((a ^ b) & ~mb[j + 1]!) === 0) return true;
    return false;
  };
  for (let k = 0; k < NATIVE_SCRATCH_SIZE; k++) {
    if (os.mem[k] === ns.mem[k] || ignored(k) || masked(k, os.mem[k]!, ns.mem[k]!)) continue;
    if (skipMem && meta.memOff >= 0 && k >= meta.memOff && k < meta.memOff + meta.osz) continue;
    let end = k;
    while (end < NATIVE_SCRATCH_SIZE && os.mem[end] !== ns.mem[end]) end++;
    const hx = (m: Uint8Array): string => Array.from(m.subarray(k, Math.min(end, k + 16)), (x) => x.toString(16).padStart(2, '0')).join('');
    diffs.push(`mem+${hex(k)}..${hex(end)}: ours ${hx(os.mem)}, native ${hx(ns.mem)}`);
    k = end;
  }
  return diffs.length ? { kind: 'mismatch', diff: diffs.join('\n') } : { kind: 'match' };
}

/** A human-readable description of a case. */
export function describeCase(b: Built): string {
  const code = Array.from(b.c.code, (x) => x.toString(16).padStart(2, '0')).join(' ');
  const regs = GPR_NAMES.map((n, r) => `${n}=${hex(gpr64(b.c.state.gpr, r))}`).join(' ');
  let x = '';
  const st = b.c.state;
  if (st.xmm !== undefined && st.xmm.some((v) => v !== 0)) {
    x = '\n  ' + Array.from({ length: 16 }, (_, r) => `xmm${r}=${hex(getXmm(st, r))}`).join(' ');
  }
  if ((st.mxcsr ?? 0x1f80) !== 0x1f80) x += `\n  mxcsr=${hex(st.mxcsr ?? 0)}`;
  return `${b.meta.key} ${b.meta.mn}: ${code}\n  ${regs}\n  rflags=${hex(b.c.state.rflags)}${x}`;
}

// ---------------------------------------------------------------------------
// Regression files: properties/regressions/cpu-native/*.json

export interface Regression {
  key: string;
  mn: string;
  note?: string;
  code: string;
  gpr: string[];
  rflags: number;
  /** Scratch memory, base64. */
  mem: string;
  /** XMM0-15 (256 bytes, base64) and MXCSR, when not all zero / 0x1F80. */
  xmm?: string;
  mxcsr?: number;
  meta: CaseMeta;
  /** What the host CPU did. */
  native: {
    ok: boolean; ripOffset: number; signal?: string; vector?: number; errorCode?: number; addr?: string;
    gpr: string[]; rflags: number; mem: string; xmm?: string; mxcsr?: number;
  };
}

const xmm64 = (x: Uint32Array | undefined): string | undefined =>
  x !== undefined && x.some((v) => v !== 0) ? Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('base64') : undefined;
function xmmFrom(b64: string | undefined): Uint32Array {
  const out = new Uint32Array(64);
  if (b64 !== undefined) { const buf = Buffer.from(b64, 'base64'); for (let k = 0; k < 64; k++) out[k] = buf.readUInt32LE(4 * k); }
  return out;
}

export function regressionDir(): string { return join(repoRoot(), 'properties', 'regressions', 'cpu-native'); }

export function toRegression(b: Built, nat: NativeResult, note?: string): Regression {
  const gprs = (g: Uint32Array): string[] => GPR_NAMES.map((_, r) => hex(gpr64(g, r)));
  const ns = nat.state!;
  const reg: Regression = {
    key: b.meta.key, mn: b.meta.mn,
    code: Array.from(b.c.code, (x) => x.toString(16).padStart(2, '0')).join(' '),
    gpr: gprs(b.c.state.gpr), rflags: b.c.state.rflags,
    mem: Buffer.from(b.c.state.mem).toString('base64'),
    meta: b.meta,
    native: { ok: nat.ok, ripOffset: nat.ripOffset, gpr: gprs(ns.gpr), rflags: ns.rflags, mem: Buffer.from(ns.mem).toString('base64') },
  };
  if (note !== undefined) reg.note = note;
  const xi = xmm64(b.c.state.xmm), xo = xmm64(ns.xmm);
  if (xi !== undefined) reg.xmm = xi;
  if ((b.c.state.mxcsr ?? 0x1f80) !== 0x1f80) reg.mxcsr = b.c.state.mxcsr!;
  if (xo !== undefined) reg.native.xmm = xo;
  if ((ns.mxcsr ?? 0x1f80) !== 0x1f80) reg.native.mxcsr = ns.mxcsr!;
  if (!nat.ok) {
    reg.native.signal = nat.signal;
    if (nat.vector !== undefined) reg.native.vector = nat.vector;
    reg.native.errorCode = nat.errorCode;
    reg.native.addr = hex(nat.addr);
  }
  return reg;
}

function parseGprs(a: string[]): Uint32Array {
  const g = new Uint32Array(32);
  a.forEach((s, r) => { const v = BigInt(s) & M64; g[2 * r] = Number(v & 0xffff_ffffn); g[2 * r + 1] = Number(v >> 32n); });
  return g;
}

/** The case and the recorded native result of a regression. */
export function fromRegression(reg: Regression): { b: Built; nat: NativeResult } {
  const state = makeNativeState({ rflags: reg.rflags });
  state.gpr.set(parseGprs(reg.gpr));
  state.mem.set(Buffer.from(reg.mem, 'base64'));
  state.xmm = xmmFrom(reg.xmm);
  state.mxcsr = reg.mxcsr ?? 0x1f80;
  const code = Uint8Array.from(reg.code.split(' ').filter((x) => x).map((x) => parseInt(x, 16)));
  const n = reg.native;
  const ns = makeNativeState({ rflags: n.rflags });
  ns.gpr.set(parseGprs(n.gpr));
  ns.mem.set(Buffer.from(n.mem, 'base64'));
  ns.xmm = xmmFrom(n.xmm);
  ns.mxcsr = n.mxcsr ?? 0x1f80;
  const nat: NativeResult = n.ok
    ? { ok: true, state: ns, ripOffset: n.ripOffset }
    : { ok: false, signal: n.signal as 'SIGSEGV', code: 0, state: ns, ripOffset: n.ripOffset, addr: BigInt(n.addr ?? 0), errorCode: n.errorCode ?? 0, ...(n.vector !== undefined ? { vector: n.vector } : {}) };
  const c: NativeCase = { code, state };
  if (reg.meta.compat === true) c.compat = true;
  return { b: { c, meta: reg.meta }, nat };
}

export function saveRegression(reg: Regression): string {
  const dir = regressionDir();
  mkdirSync(dir, { recursive: true });
  const h = createHash('sha256').update(reg.code + reg.gpr.join() + reg.rflags + reg.mem + (reg.xmm ?? '') + (reg.mxcsr ?? '')).digest('hex').slice(0, 10);
  const file = join(dir, `${reg.key.replace(/[^A-Za-z0-9_.:-]+/g, '-')}-${h}.json`);
  if (!existsSync(file)) writeFileSync(file, JSON.stringify(reg, null, 1) + '\n');
  return file;
}

export function loadRegressions(): { file: string; reg: Regression }[] {
  const dir = regressionDir();
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => ({ file: f, reg: JSON.parse(readFileSync(join(dir, f), 'utf8')) as Regression }));
}

// ---------------------------------------------------------------------------
// Running

export interface SurveyResult {
  cases: number; matched: number; skipped: number;
  mismatches: Map<string, { count: number; example: string }>;
  ms: number;
}

const SURVEY_BATCH = 4096;

/** Runs one batch of cases (up to `steps` instructions each) on both machines and counts the outcomes into `res`. */
function surveyBatch(res: SurveyResult, cpu: Cpu1, batch: readonly Built[], steps: number): void {
  const nat = runNativeBatch(batch.map((b) => b.c));
  batch.forEach((b, k) => {
    res.cases++;
    const v = compareResults(b.meta, cpu.run(b.c, steps), nat[k]!);
    if (v.kind === 'match') res.matched++;
    else if (v.kind === 'skip') res.skipped++;
    else {
      const m = res.mismatches.get(b.meta.key);
      if (m) m.count++;
      else res.mismatches.set(b.meta.key, { count: 1, example: `${describeCase(b)}\n${v.diff}` });
    }
  });
}

/**
 * Runs `runs` generated cases (no shrinking) through both machines in
 * batches and groups the mismatches by table entry. For bug hunting.
 */
export function survey(runs: number, seed: number, only?: readonly string[], compat = false): SurveyResult {
  const t0 = performance.now();
  const cpu = new Cpu1({ compat });
  const res: SurveyResult = { cases: 0, matched: 0, skipped: 0, mismatches: new Map(), ms: 0 };
  const recipes = fc.sample(recipeArb(only, compat), { numRuns: runs, seed });
  for (let start = 0; start < recipes.length; start += SURVEY_BATCH) {
    surveyBatch(res, cpu, recipes.slice(start, start + SURVEY_BATCH).map((r) => buildCase(r, compat)), 1);
  }
  res.ms = performance.now() - t0;
  return res;
}

/** Survey of sequences (see buildSeq), or of x87/SSE round trips (buildX87Seq). */
export function surveySeq(runs: number, seed: number, x87 = false): SurveyResult {
  const t0 = performance.now();
  const cpu = new Cpu1();
  const res: SurveyResult = { cases: 0, matched: 0, skipped: 0, mismatches: new Map(), ms: 0 };
  const built = x87 ? fc.sample(x87SeqArb(), { numRuns: runs, seed }).map(buildX87Seq)
    : fc.sample(seqArb(), { numRuns: runs, seed }).map(buildSeq).filter((b): b is Built => b !== null);
  for (let start = 0; start < built.length; start += SURVEY_BATCH) surveyBatch(res, cpu, built.slice(start, start + SURVEY_BATCH), 4);
  res.ms = performance.now() - t0;
  return res;
}

export interface PropertyOptions {
  runs: number;
  seed?: number;
  only?: readonly string[];
  /** Save the shrunk counterexample as a regression file (default true). */
  save?: boolean;
  /** Run instruction sequences (producer, middle, flag consumer) instead of single instructions. */
  seq?: boolean;
  /** Run x87/SSE state round trips (buildX87Seq) instead of single instructions. */
  x87?: boolean;
  /** Single instructions in compatibility mode (ENTRIES32). */
  compat?: boolean;
  /** Run each case's block through its compiled function (Cpu1Options.compiled). */
  compiled?: boolean;
}

export interface PropertyOutcome {
  failed: boolean;
  message: string;
  stats: { cases: number; matched: number; skipped: number; ms: number };
  file?: string;
}

/**
 * The fast-check property: every generated case must match the host CPU.
 * Streams cases to one native harness process; on failure, the shrunk
 * counterexample is saved under properties/regressions/cpu-native/.
 */
export async function checkCpuNative(opts: PropertyOptions): Promise<PropertyOutcome> {
  const t0 = performance.now();
  const harness = new NativeHarness();
  const compat = opts.compat === true;
  const cpu = new Cpu1({ compat, compiled: opts.compiled === true });
  const stats = { cases: 0, matched: 0, skipped: 0, ms: 0 };
  let last: { b: Built; nat: NativeResult; diff: string } | undefined;
  try {
    const arb: fc.Arbitrary<Built | null> = opts.x87 === true ? x87SeqArb().map(buildX87Seq)
      : opts.seq === true ? seqArb().map(buildSeq) : recipeArb(opts.only, compat).map((r) => buildCase(r, compat));
    const prop = fc.asyncProperty(arb, async (b) => {
      if (b === null) return true;
      const nat = await harness.runOne(b.c);
      const v = compareResults(b.meta, cpu.run(b.c, b.meta.seq === true ? 4 : 1), nat);
      stats.cases++;
      if (v.kind === 'skip') { stats.skipped++; return true; }
      if (v.kind === 'match') { stats.matched++; return true; }
      last = { b, nat, diff: v.diff };
      return false;
    });
    const params: fc.Parameters<[Built | null]> = { numRuns: opts.runs, endOnFailure: false };
    if (opts.seed !== undefined) params.seed = opts.seed;
    const details = await fc.check(prop, params);
    stats.ms = performance.now() - t0;
    if (!details.failed) return { failed: false, message: `${stats.cases} cases`, stats };
    const ce = details.counterexample?.[0];
    let message = `cpu-native property failed (seed ${details.seed}, path "${details.counterexamplePath ?? ''}")`;
    let file: string | undefined;
    if (ce !== undefined && ce !== null) {
      const b = ce;
      const nat = (await harness.run([b.c]))[0]!;
      const v = compareResults(b.meta, cpu.run(b.c, b.meta.seq === true ? 4 : 1), nat);
      message += `\n${describeCase(b)}\n${v.kind === 'mismatch' ? v.diff : v.kind}`;
      if (opts.save !== false && v.kind === 'mismatch') file = saveRegression(toRegression(b, nat));
    } else if (last !== undefined) message += `\n${describeCase(last.b)}\n${last.diff}`;
    if (details.errorInstance !== undefined && details.errorInstance !== null && !(details.errorInstance instanceof Error && details.errorInstance.message.includes('Property failed'))) {
      message += `\nerror: ${String(details.errorInstance)}`;
    }
    const out: PropertyOutcome = { failed: true, message, stats };
    if (file !== undefined) out.file = file;
    return out;
  } finally {
    await harness.close();
  }
}
