/**
 * The hypervisor's x86 instruction decoder for MMIO exits (the decode half
 * of hvtrace's "emulate.c"). Independent of core/cpu/decoder.ts: it has its
 * own opcode table (./table.ts) and is compared with the CPU and with
 * iced-x86 by the properties in properties/mmio/.
 *
 * It frames every instruction it can (legacy, 0F, 0F 38, 0F 3A, 3DNow!,
 * VEX, EVEX, XOP) to give its length, and decodes the operands of the
 * instructions the emulator executes (./table.ts OP_*). Everything else
 * is a typed rejection: UNSUPPORTED (valid-looking, length known, not
 * emulated), INVALID (#UD), TRUNCATED (ran out of bytes), TOO_LONG (more
 * than 15 bytes: #GP(0)).
 *
 * References (Intel SDM Vol. 2A, chapter 2 "Instruction Format"):
 *  - 2.1.1 Instruction prefixes (groups 1-4); 2.2.1 REX prefixes (a REX
 *    not immediately before the opcode is ignored);
 *  - 2.1.3 ModR/M and SIB bytes; Table 2-1 "16-Bit Addressing Forms with
 *    the ModR/M Byte", Table 2-2 "32-Bit Addressing Forms with the ModR/M
 *    Byte", Table 2-3 "32-Bit Addressing Forms with the SIB Byte";
 *    2.2.1.6 RIP-relative addressing; Table 2-5 "Special Cases of REX
 *    Encodings" (SIB index 100b without REX.X is "none"; base 101b with
 *    mod 00 is disp32; R12/R13 need the same SIB/disp forms as RSP/RBP);
 *  - 2.1.4 Displacement and immediate bytes; 2.3.11 "Instruction Length
 *    Limit" ... no instruction is longer than 15 bytes (#GP otherwise);
 *  - 2.3 VEX (C4 3-byte, C5 2-byte; in 16/32-bit modes only when the next
 *    byte's bits 7:6 are 11b, otherwise LES/LDS), 2.7 EVEX (62; same rule
 *    against BOUND); VEX/EVEX after 66/F2/F3/F0/REX is #UD;
 *  - Vol. 1, 3.6 "Operand-size and Address-size Attributes", Table 3-4
 *    (effective sizes in 64-bit mode: REX.W beats 66h);
 *  - Vol. 1, 3.7.4 segment defaults (SS for rBP/rSP-based addresses);
 *  - AMD64 APM Vol. 3, 1.8 (XOP: 8F when the next byte's map field >= 8)
 *    and the 3DNow! suffix byte (0F 0F /r ib).
 * No BigInt: 64-bit values are kept as two int32 halves.
 */
import {
  MAP1, MAP2, VEX_MAP1_IMM8, A_MODRM, A_IMM_SHIFT, A_INV64, A_UD, A_SPECIAL, A_CRDR, A_LOCK,
  I_NONE, I_B, I_W, I_Z, I_V, I_MOFFS, I_PTR, I_ENTER, I_JZ, I_GRP3, I_0F78,
  OP_NONE, OP_MOV_STORE, OP_MOV_LOAD, OP_MOV_IMM, OP_MOVZX, OP_MOVSX, OP_MOVSXD, OP_ALU_EG, OP_ALU_GE,
  OP_ALU_EI, OP_TEST_EG, OP_TEST_EI, OP_NOT, OP_NEG, OP_INC, OP_DEC, OP_BT_EG, OP_BT_EI, OP_XCHG,
  OP_CMPXCHG, OP_XADD, OP_MOVS, OP_STOS, OP_LODS, OP_CMPS, OP_SCAS, opName, isStringOp, isCompareString,
  OP_PUSH, OP_POP, OP_RET, OP_ENTER, OP_LEAVE, OP_CALL_IND, OP_JMP_IND, OP_JMP_FAR, OP_IMUL, OP_MULDIV, OP_BS, OP_SHD,
  OP_CMOV, OP_MOV_FROM_SREG, OP_MOV_TO_SREG, OP_LTR, OP_SMSW, OP_XMM_LOAD, OP_XMM_STORE, OP_MMX_LOAD, OP_MMX_STORE,
} from './table.js';

export type DecodeMode = 16 | 32 | 64;

// ---- decode status ----
export const D_OK = 0;
export const D_UNSUPPORTED = 1;
export const D_INVALID = 2;
export const D_TRUNCATED = 3;
export const D_TOO_LONG = 4;
export const STATUS_NAMES = ['ok', 'unsupported', 'invalid', 'truncated', 'too-long'] as const;
export type DecodeStatusName = (typeof STATUS_NAMES)[number];

// ---- rejection reasons (index into REASONS) ----
export const R_NONE = 0;
export const R_NOT_EMULATED = 1;
export const R_VECTOR = 2;
export const R_UD_OPCODE = 3;
export const R_UD_64 = 4;
export const R_UD_LOCK = 5;
export const R_UD_VEX_PREFIX = 6;
export const R_UD_VEX_MAP = 7;
export const R_TRUNCATED = 8;
export const R_TOO_LONG = 9;
export const R_UD_GROUP = 10;
export const REASONS = [
  '',
  'instruction not emulated for MMIO',
  'VEX/EVEX/XOP (vector) instruction not emulated for MMIO',
  'undefined opcode (#UD)',
  'opcode invalid in 64-bit mode (#UD)',
  'LOCK prefix not allowed with this instruction or operand (#UD)',
  'VEX/EVEX/XOP after a 66/F2/F3/F0/REX prefix (#UD)',
  'undefined VEX/EVEX/XOP opcode map (#UD)',
  'instruction bytes end before the instruction does',
  'instruction longer than 15 bytes (#GP)',
  'undefined opcode extension in ModR/M.reg (#UD)',
] as const;

/** Register numbers: 0-15 in ModR/M encoding order (RAX..R15); RIP as a base. */
export const REG_RIP = 16;
export const REG_NONE = -1;
/** Segment registers in Sreg encoding order (SDM Vol. 2A, 3.1.1.3). */
export const SEG_ES = 0, SEG_CS = 1, SEG_SS = 2, SEG_DS = 3, SEG_FS = 4, SEG_GS = 5;

// 16-bit addressing (Table 2-1): base and index by r/m.
const BX = 3, BP = 5, SI = 6, DI = 7;
const RM16_BASE = Int8Array.of(BX, BX, BP, BP, SI, DI, BP, BX);
const RM16_INDEX = Int8Array.of(SI, DI, SI, DI, -1, -1, -1, -1);

/**
 * One decoded instruction. Reused across calls (decodeInto fills every
 * field), so the hot path allocates nothing.
 */
export class MmioInsn {
  /** D_* status of the last decode. */
  status = D_INVALID;
  /** R_* reason for a rejection. */
  reason = R_NONE;
  /** Length in bytes (valid for D_OK and D_UNSUPPORTED, and for most D_INVALID). */
  len = 0;
  mode: DecodeMode = 64;
  /** Opcode map: 1 one-byte, 2 0F, 3 0F38, 4 0F3A, 0x10+m VEX, 0x20+m EVEX, 0x30+m XOP. */
  map = 0;
  opcode = 0;
  /** ModR/M byte, or -1. */
  modrm = -1;
  /** Operation (table.ts OP_*); OP_NONE unless status is D_OK. */
  op = OP_NONE;
  /** ALU kind (ALU_*) or BT kind (BT_*). */
  sub = 0;
  /** Operand size in bytes (1, 2, 4, 8); for MOVZX/MOVSX/MOVSXD the destination's. */
  size = 0;
  /** Memory source size for MOVZX/MOVSX/MOVSXD, else = size. */
  srcSize = 0;
  /** Effective operand size of the instruction (2, 4, 8) before byte forms. */
  osize = 0;
  /** Effective address size in bytes (2, 4, 8). */
  asize = 0;
  /** Register operand (ModR/M.reg, or the accumulator for moffs/string forms); REG_NONE if none. */
  reg = REG_NONE;
  /** reg is AH/CH/DH/BH (byte register 4-7 without REX): bits 15:8 of register reg. */
  regHi8 = false;
  /** true when the ModR/M r/m operand is memory (mod != 11b), or for moffs forms. */
  hasMem = false;
  /** r/m register when !hasMem (mod = 11b). */
  rm = REG_NONE;
  rmHi8 = false;
  /** Memory operand: base (0-15, REG_RIP, REG_NONE), index (0-15 or REG_NONE), scale (1/2/4/8). */
  base = REG_NONE;
  index = REG_NONE;
  scale = 1;
  /** Displacement (or moffs), sign-extended, as two int32 halves. */
  dispLo = 0;
  dispHi = 0;
  /** Effective segment of the memory operand (or of a string source): override or default. */
  seg = SEG_DS;
  /** Segment override prefix in effect, or -1. */
  segOverride = -1;
  /**
   * Default segment of the memory operand (SS for rBP/rSP bases, else DS).
   * In 64-bit mode it alone decides #SS vs #GP for a non-canonical address
   * unless FS/GS override it: ES/CS/SS/DS prefixes are ignored there (Vol. 1,
   * 3.3.7.1; measured on the host CPU with the native harness).
   */
  defSeg = SEG_DS;
  /** Immediate operand, sign-extended to the operand size, as two int32 halves. */
  hasImm = false;
  immLo = 0;
  immHi = 0;
  lock = false;
  /** Last F2/F3 prefix byte, or 0. */
  rep = 0;
  /** REX byte (0 if none). */
  rex = 0;
}

// Prefix classes by byte (Vol. 2A 2.1.1); REX (40-4F) only in 64-bit mode.
const P_SEG = 1, P_FSGS = 2, P_OPSZ = 3, P_ADSZ = 4, P_LOCK = 5, P_REP = 6, P_REX = 7;
const PFX = new Uint8Array(256);
for (const b of [0x26, 0x2e, 0x36, 0x3e]) PFX[b] = P_SEG;
PFX[0x64] = PFX[0x65] = P_FSGS; PFX[0x66] = P_OPSZ; PFX[0x67] = P_ADSZ; PFX[0xf0] = P_LOCK; PFX[0xf2] = PFX[0xf3] = P_REP;
const PFX64 = PFX.slice();
for (let b = 0x40; b < 0x50; b++) PFX64[b] = P_REX;

function r8(buf: Uint8Array, p: number): number { return buf[p]! | 0; }
function s8(buf: Uint8Array, p: number): number { return ((buf[p]! | 0) << 24) >> 24; }
function u16(buf: Uint8Array, p: number): number { return (buf[p]! | 0) | ((buf[p + 1]! | 0) << 8); }
function i32(buf: Uint8Array, p: number): number {
  return (buf[p]! | 0) | ((buf[p + 1]! | 0) << 8) | ((buf[p + 2]! | 0) << 16) | ((buf[p + 3]! | 0) << 24);
}

/** A4..AF: MOVS MOVS CMPS CMPS (A8 A9 TEST imm) STOS STOS LODS LODS SCAS SCAS (Table A-2 row A). */
const STRING_OPS = Int8Array.of(OP_MOVS, OP_MOVS, OP_CMPS, OP_CMPS, OP_NONE, OP_NONE, OP_STOS, OP_STOS, OP_LODS, OP_LODS, OP_SCAS, OP_SCAS);

/** Whether `lock` is allowed on (map, opcode, /reg) with a memory operand (Vol. 2A, LOCK). */
function lockable(map: number, op: number, reg: number): boolean {
  if (map === 1) {
    if (op >= 0x80 && op <= 0x83) return reg !== 7;
    if (op === 0xf6 || op === 0xf7) return reg === 2 || reg === 3;
    if (op === 0xfe || op === 0xff) return reg < 2;
    return true;
  }
  if (op === 0xba) return reg >= 5;
  if (op === 0xc7) return reg === 1;
  return true;
}

/**
 * Decode one instruction from buf[start .. start+avail) in `mode` into `o`.
 * Returns o.status. Never throws, never reads state other than buf.
 */
export function decodeInto(buf: Uint8Array, start: number, avail: number, mode: DecodeMode, o: MmioInsn): number {
  const lim = start + (avail < 15 ? avail : 15);
  let p = start;
  let opsz = false, adsz = false, lock = false;
  let seg = -1, rep = 0, rex = 0;
  o.mode = mode;
  o.op = OP_NONE; o.sub = 0; o.modrm = -1; o.reason = R_NONE;
  o.hasMem = false; o.hasImm = false; o.immLo = 0; o.immHi = 0;
  o.base = REG_NONE; o.index = REG_NONE; o.scale = 1; o.dispLo = 0; o.dispHi = 0;
  o.reg = REG_NONE; o.regHi8 = false; o.rm = REG_NONE; o.rmHi8 = false;
  o.seg = SEG_DS; o.defSeg = SEG_DS; o.size = 0; o.srcSize = 0;

  // ---- prefixes (Vol. 2A, 2.1.1; REX 2.2.1) ----
  let b = 0;
  const pfxTable = mode === 64 ? PFX64 : PFX;
  for (;;) {
    if (p >= lim) return frameFail(o, start, p + 1, avail);
    b = buf[p]!;
    const k = pfxTable[b]!;
    if (k === 0) break;
    p++;
    if (k === P_REX) { rex = b; continue; }
    rex = 0;
    switch (k) {
      case P_SEG:
        // In 64-bit mode ES/CS/SS/DS overrides are null prefixes and do not displace FS/GS.
        if (mode !== 64 || seg < SEG_FS) seg = (b >>> 3) & 3;
        break;
      case P_FSGS: seg = b - 0x60; break;
      case P_OPSZ: opsz = true; break;
      case P_ADSZ: adsz = true; break;
      case P_LOCK: lock = true; break;
      default: rep = b; // F2, F3
    }
  }
  o.lock = lock; o.rep = rep; o.rex = rex; o.segOverride = seg;
  const rexW = (rex & 8) !== 0;
  const osz = mode === 64 ? (rexW ? 8 : opsz ? 2 : 4) : mode === 32 ? (opsz ? 2 : 4) : (opsz ? 4 : 2);
  const asz = mode === 64 ? (adsz ? 4 : 8) : mode === 32 ? (adsz ? 2 : 4) : (adsz ? 4 : 2);
  o.osize = osz; o.asize = asz;

  // ---- opcode and map ----
  let map = 1, op = b, attr: number;
  p++;
  if (b === 0x0f) {
    op = r8(buf, p++);
    if (op === 0x38) { map = 3; op = r8(buf, p++); attr = A_MODRM; }
    else if (op === 0x3a) { map = 4; op = r8(buf, p++); attr = A_MODRM | (I_B << A_IMM_SHIFT); }
    else { map = 2; attr = MAP2[op]!; }
  } else {
    attr = MAP1[op]!;
    if (attr & A_SPECIAL) {
      const n = r8(buf, p);
      if (op === 0x8f) {
        if ((n & 0x1f) >= 8) return frameVector(buf, start, p, avail, asz, 0x30, o, opsz || rep !== 0 || lock || rex !== 0);
        attr = A_MODRM; // POP Ev
      } else if (mode === 64 || n >= 0xc0) {
        return frameVector(buf, start, p, avail, asz, op === 0x62 ? 0x20 : 0x10, o, opsz || rep !== 0 || lock || rex !== 0, op);
      } else {
        attr = A_MODRM; // BOUND, LES, LDS
      }
    }
  }
  o.map = map; o.opcode = op;

  // ---- ModR/M, SIB, displacement (Tables 2-1 .. 2-3) ----
  let mod = 3, reg = 0, rm = 0;
  if (attr & A_MODRM) {
    const m = r8(buf, p++);
    o.modrm = m;
    mod = m >>> 6; reg = (m >>> 3) & 7; rm = m & 7;
    if (attr & A_CRDR) mod = 3;
    if (mod !== 3) {
      o.hasMem = true;
      let dseg = SEG_DS;
      if (asz === 2) {
        if (mod === 0 && rm === 6) { o.dispLo = u16(buf, p); p += 2; }
        else {
          o.base = RM16_BASE[rm]!; o.index = RM16_INDEX[rm]!;
          if (o.base === BP) dseg = SEG_SS;
          if (mod === 1) { o.dispLo = s8(buf, p) & 0xffff; p++; } else if (mod === 2) { o.dispLo = u16(buf, p); p += 2; }
        }
      } else {
        let base: number;
        if (rm === 4) {
          const sib = r8(buf, p++);
          const idx = ((sib >>> 3) & 7) | ((rex & 2) << 2);
          if (idx !== 4) { o.index = idx; o.scale = 1 << (sib >>> 6); }
          base = sib & 7;
          if (base === 5 && mod === 0) { base = -1; o.dispLo = i32(buf, p); p += 4; }
        } else if (rm === 5 && mod === 0) {
          base = mode === 64 ? REG_RIP : -1;
          o.dispLo = i32(buf, p); p += 4;
        } else base = rm;
        if (base >= 0 && base < 8) base |= (rex & 1) << 3;
        // SS for rSP/rBP bases; R12/R13 (REX.B) use DS (Vol. 1, 3.7.4.1)
        if (base === 4 || base === 5) dseg = SEG_SS;
        o.base = base;
        if (mod === 1) { o.dispLo = s8(buf, p); p++; } else if (mod === 2) { o.dispLo = i32(buf, p); p += 4; }
        o.dispHi = o.dispLo >> 31;
      }
      o.seg = seg >= 0 ? seg : dseg;
      o.defSeg = dseg;
    }
  }

  // ---- immediate (Appendix A.2.1: I, J, O, A) ----
  const immPos = p;
  let immSize = 0;
  switch ((attr >>> A_IMM_SHIFT) & 0xf) {
    case I_NONE: break;
    case I_B: immSize = 1; break;
    case I_W: immSize = 2; break;
    case I_Z: immSize = osz === 2 ? 2 : 4; break;
    case I_V: immSize = osz; break;
    case I_MOFFS: immSize = asz; break;
    case I_PTR: immSize = osz === 2 ? 4 : 6; break;
    case I_ENTER: immSize = 3; break;
    case I_JZ: immSize = mode === 64 || osz === 4 ? 4 : 2; break;
    case I_GRP3: immSize = reg >= 2 ? 0 : op === 0xf6 ? 1 : osz === 2 ? 2 : 4; break;
    case I_0F78: {
      const mand = rep !== 0 ? rep : opsz ? 0x66 : 0;
      immSize = mand === 0x66 || mand === 0xf2 ? 2 : 0;
      break;
    }
  }
  p += immSize;
  const len = p - start;
  o.len = len;
  if (len > 15) return fail(o, D_TOO_LONG, R_TOO_LONG);
  if (len > avail) return fail(o, D_TRUNCATED, R_TRUNCATED);
  if (attr & A_UD) return fail(o, D_INVALID, R_UD_OPCODE);
  if ((attr & A_INV64) && mode === 64) return fail(o, D_INVALID, R_UD_64);
  if (lock && !((attr & A_LOCK) && mod !== 3 && lockable(map, op, reg))) return fail(o, D_INVALID, R_UD_LOCK);

  // ---- semantics of the supported instructions ----
  const rexR = (rex & 4) << 1, rexB = (rex & 1) << 3;
  if (map === 1) {
    if (op < 0x40 && (op & 7) < 4) {
      // ADD/OR/ADC/SBB/AND/SUB/XOR/CMP E,G / G,E (Table A-2 rows 0-3)
      o.op = op & 2 ? OP_ALU_GE : OP_ALU_EG; o.sub = op >>> 3;
      return modrmOperands(o, op & 1 ? osz : 1, reg | rexR, rm | rexB, rex, mod);
    }
    // Stack operand size (Vol. 1, 6.2.5 / Vol. 2B PUSH: 64 bits in 64-bit mode, 16 with 66h; 32 not encodable)
    const ssz = mode === 64 ? (opsz && !rexW ? 2 : 8) : osz;
    if (op >= 0x50 && op < 0x60) {
      // PUSH r / POP r (Table A-2 row 5); the stack is the memory operand
      o.op = op < 0x58 ? OP_PUSH : OP_POP;
      o.size = o.srcSize = ssz; o.reg = (op & 7) | rexB; o.seg = SEG_SS; o.defSeg = SEG_SS;
      o.status = D_OK;
      return D_OK;
    }
    switch (op) {
      case 0x68: case 0x6a:
        o.op = OP_PUSH; o.size = o.srcSize = ssz; o.seg = SEG_SS; o.defSeg = SEG_SS;
        setImm(o, buf, immPos, op === 0x6a ? 1 : ssz === 2 ? 2 : 4, ssz);
        o.status = D_OK;
        return D_OK;
      case 0x69: case 0x6b:
        o.op = OP_IMUL;
        setImm(o, buf, immPos, immSize, osz);
        return modrmOperands(o, osz, reg | rexR, rm | rexB, rex, mod);
      case 0x8c:
        if (reg > 5) return fail(o, D_INVALID, R_UD_GROUP);
        o.op = OP_MOV_FROM_SREG; o.sub = reg;
        // the memory form always stores 16 bits (Vol. 2B MOV: "MOV r/m16, Sreg")
        return modrmOperands(o, mod === 3 ? osz : 2, REG_NONE, rm | rexB, rex, mod);
      case 0x8e:
        if (reg > 5 || reg === SEG_CS) return fail(o, D_INVALID, R_UD_GROUP);
        o.op = OP_MOV_TO_SREG; o.sub = reg;
        return modrmOperands(o, 2, REG_NONE, rm | rexB, rex, mod);
      case 0x8f:
        if (reg !== 0) return fail(o, D_INVALID, R_UD_GROUP);
        o.op = OP_POP;
        return stackRm(o, modrmOperands(o, ssz, REG_NONE, rm | rexB, rex, mod));
      case 0xc2: case 0xc3:
        // 66h near RET/JMP/CALL in 64-bit mode differ between vendors: not emulated
        if (mode === 64 && opsz) break;
        o.op = OP_RET; o.size = o.srcSize = mode === 64 ? 8 : osz; o.seg = o.defSeg = SEG_SS;
        if (op === 0xc2) { o.hasImm = true; o.immLo = u16(buf, immPos); }
        o.status = D_OK;
        return D_OK;
      case 0xc8:
        if (buf[immPos + 2] !== 0) break; // nesting level > 0 not emulated
        o.op = OP_ENTER; o.size = o.srcSize = ssz; o.seg = o.defSeg = SEG_SS;
        o.hasImm = true; o.immLo = u16(buf, immPos); o.immHi = 0;
        o.status = D_OK;
        return D_OK;
      case 0xc9:
        o.op = OP_LEAVE; o.size = o.srcSize = ssz; o.seg = o.defSeg = SEG_SS;
        o.status = D_OK;
        return D_OK;
      case 0x63:
        if (mode !== 64) break; // ARPL
        o.op = OP_MOVSXD;
        modrmOperands(o, osz, reg | rexR, rm | rexB, rex, mod);
        o.srcSize = osz === 8 ? 4 : osz;
        return D_OK;
      case 0x80: case 0x81: case 0x82: case 0x83: {
        o.op = OP_ALU_EI; o.sub = reg;
        const size = op === 0x81 || op === 0x83 ? osz : 1;
        setImm(o, buf, immPos, immSize, size);
        return modrmOperands(o, size, REG_NONE, rm | rexB, rex, mod);
      }
      case 0x84: case 0x85: o.op = OP_TEST_EG; return modrmOperands(o, op & 1 ? osz : 1, reg | rexR, rm | rexB, rex, mod);
      case 0x86: case 0x87: o.op = OP_XCHG; return modrmOperands(o, op & 1 ? osz : 1, reg | rexR, rm | rexB, rex, mod);
      case 0x88: case 0x89: o.op = OP_MOV_STORE; return modrmOperands(o, op & 1 ? osz : 1, reg | rexR, rm | rexB, rex, mod);
      case 0x8a: case 0x8b: o.op = OP_MOV_LOAD; return modrmOperands(o, op & 1 ? osz : 1, reg | rexR, rm | rexB, rex, mod);
      case 0xa0: case 0xa1: case 0xa2: case 0xa3: {
        // MOV AL/eAX <-> moffs (Vol. 2B MOV; the offset is address-size wide)
        o.op = op & 2 ? OP_MOV_STORE : OP_MOV_LOAD;
        o.size = o.srcSize = op & 1 ? osz : 1;
        o.reg = 0; o.hasMem = true; o.seg = seg >= 0 ? seg : SEG_DS;
        if (asz === 8) { o.dispLo = i32(buf, immPos); o.dispHi = i32(buf, immPos + 4); }
        else if (asz === 4) { o.dispLo = i32(buf, immPos); o.dispHi = 0; }
        else { o.dispLo = u16(buf, immPos); o.dispHi = 0; }
        o.status = D_OK;
        return D_OK;
      }
      case 0xa4: case 0xa5: case 0xa6: case 0xa7: case 0xaa: case 0xab: case 0xac: case 0xad: case 0xae: case 0xaf:
        // MOVS/CMPS/STOS/LODS/SCAS: [seg:rSI] source (DS default, overridable), ES:[rDI]
        // destination (no override) (Vol. 2B MOVS, STOS, LODS, SCAS; Vol. 2A CMPS)
        o.op = STRING_OPS[op - 0xa4]!;
        o.size = o.srcSize = op & 1 ? osz : 1;
        o.seg = seg >= 0 ? seg : SEG_DS;
        if (o.op !== OP_MOVS && o.op !== OP_CMPS) o.reg = 0;
        o.status = D_OK;
        return D_OK;
      case 0xc6: case 0xc7:
        if (reg !== 0) break; // C6 F8 XABORT, C7 F8 XBEGIN, others #UD
        o.op = OP_MOV_IMM;
        setImm(o, buf, immPos, immSize, op & 1 ? osz : 1);
        return modrmOperands(o, op & 1 ? osz : 1, REG_NONE, rm | rexB, rex, mod);
      case 0xf6: case 0xf7: {
        const size = op & 1 ? osz : 1;
        if (reg < 2) { o.op = OP_TEST_EI; setImm(o, buf, immPos, immSize, size); }
        else if (reg === 2) o.op = OP_NOT;
        else if (reg === 3) o.op = OP_NEG;
        else { o.op = OP_MULDIV; o.sub = reg - 4; }
        return modrmOperands(o, size, REG_NONE, rm | rexB, rex, mod);
      }
      case 0xfe: case 0xff:
        if (reg < 2) {
          o.op = reg === 0 ? OP_INC : OP_DEC;
          return modrmOperands(o, op & 1 ? osz : 1, REG_NONE, rm | rexB, rex, mod);
        }
        if (op === 0xfe || reg === 7) return fail(o, D_INVALID, R_UD_GROUP);
        if (reg === 6) { o.op = OP_PUSH; return stackRm(o, modrmOperands(o, mode === 64 ? (opsz && !rexW ? 2 : 8) : osz, REG_NONE, rm | rexB, rex, mod)); }
        if (reg === 5) {
          // JMP m16:16/32/64 (REX.W: m16:64); the register form is #UD
          if (mod === 3) return fail(o, D_INVALID, R_UD_GROUP);
          o.op = OP_JMP_FAR;
          return modrmOperands(o, osz, REG_NONE, rm | rexB, rex, mod);
        }
        if (reg === 3 || (mode === 64 && opsz)) break; // far CALL; 66h near branches in 64-bit mode
        o.op = reg === 2 ? OP_CALL_IND : OP_JMP_IND;
        return modrmOperands(o, mode === 64 ? 8 : osz, REG_NONE, rm | rexB, rex, mod);
    }
  } else if (map === 2) {
    if (op >= 0x40 && op < 0x50) {
      o.op = OP_CMOV; o.sub = op & 15;
      return modrmOperands(o, osz, reg | rexR, rm | rexB, rex, mod);
    }
    switch (op) {
      case 0x00:
        if (reg !== 3) break; // SLDT STR LLDT VERR VERW
        o.op = OP_LTR;
        return modrmOperands(o, 2, REG_NONE, rm | rexB, rex, mod);
      case 0x01:
        if (reg !== 4 || mod === 3) break; // SGDT .. INVLPG; 0F 01 C0-FF are other instructions
        o.op = OP_SMSW;
        return modrmOperands(o, 2, REG_NONE, rm | rexB, rex, mod);
      case 0x10: case 0x11: case 0x28: case 0x29: {
        // MOVUPS/MOVUPD (0F 10/11), MOVAPS/MOVAPD (0F 28/29); F3/F2 select scalar forms (not emulated)
        if (rep !== 0) break;
        o.op = op & 1 ? OP_XMM_STORE : OP_XMM_LOAD;
        o.sub = ((op >= 0x28 ? 2 : 0) + (opsz ? 1 : 0)) << 1 | (op >= 0x28 ? 1 : 0);
        return modrmOperands(o, 16, reg | rexR, rm | rexB, rex, mod);
      }
      case 0x6f: case 0x7f:
        // F3: MOVDQU, 66: MOVDQA (the last of F2/F3 wins over 66), none: MMX MOVQ (Vol. 2B MOVDQU, MOVDQA, MOVQ)
        if (rep === 0xf2) break;
        if (rep === 0xf3 || opsz) {
          o.op = op === 0x7f ? OP_XMM_STORE : OP_XMM_LOAD;
          o.sub = rep === 0xf3 ? 4 << 1 : (5 << 1) | 1;
          return modrmOperands(o, 16, reg | rexR, rm | rexB, rex, mod);
        }
        o.op = op === 0x7f ? OP_MMX_STORE : OP_MMX_LOAD;
        return modrmOperands(o, 8, reg & 7, rm | rexB, rex, mod);
      case 0xa4: case 0xa5: case 0xac: case 0xad:
        o.op = OP_SHD; o.sub = (op >= 0xac ? 1 : 0) | (op & 1 ? 2 : 0);
        if (!(op & 1)) { o.hasImm = true; o.immLo = r8(buf, immPos); }
        return modrmOperands(o, osz, reg | rexR, rm | rexB, rex, mod);
      case 0xaf:
        o.op = OP_IMUL;
        return modrmOperands(o, osz, reg | rexR, rm | rexB, rex, mod);
      case 0xbc: case 0xbd:
        if (rep === 0xf3) break; // TZCNT / LZCNT
        o.op = OP_BS; o.sub = op & 1;
        return modrmOperands(o, osz, reg | rexR, rm | rexB, rex, mod);
      case 0xa3: case 0xab: case 0xb3: case 0xbb:
        o.op = OP_BT_EG; o.sub = (op >>> 3) & 3;
        return modrmOperands(o, osz, reg | rexR, rm | rexB, rex, mod);
      case 0xba:
        if (reg < 4) return fail(o, D_INVALID, R_UD_GROUP);
        o.op = OP_BT_EI; o.sub = reg - 4;
        setImm(o, buf, immPos, 1, 1);
        return modrmOperands(o, osz, REG_NONE, rm | rexB, rex, mod);
      case 0xb0: case 0xb1: o.op = OP_CMPXCHG; return modrmOperands(o, op & 1 ? osz : 1, reg | rexR, rm | rexB, rex, mod);
      case 0xc0: case 0xc1: o.op = OP_XADD; return modrmOperands(o, op & 1 ? osz : 1, reg | rexR, rm | rexB, rex, mod);
      case 0xb6: case 0xb7: case 0xbe: case 0xbf:
        o.op = op < 0xb8 ? OP_MOVZX : OP_MOVSX;
        modrmOperands(o, osz, reg | rexR, rm | rexB, rex, mod);
        o.srcSize = op & 1 ? 2 : 1;
        if (!o.hasMem) { o.rmHi8 = o.srcSize === 1 && rex === 0 && o.rm >= 4 && o.rm < 8; if (o.rmHi8) o.rm -= 4; }
        return D_OK;
    }
  }
  return fail(o, D_UNSUPPORTED, R_NOT_EMULATED);
}

/** PUSH/POP r/m: the register form (mod = 11b) names its register as the operand, like 50+r/58+r; SS:rSP is the memory. */
function stackRm(o: MmioInsn, st: number): number {
  if (!o.hasMem) { o.reg = o.rm; o.rm = REG_NONE; o.seg = o.defSeg = SEG_SS; }
  return st;
}

/** Fill the register (reg) and r/m operands; byte registers 4-7 without REX are AH..BH. */
function modrmOperands(o: MmioInsn, size: number, reg: number, rm: number, rex: number, mod: number): number {
  o.size = o.srcSize = size;
  if (reg >= 0) {
    if (size === 1 && rex === 0 && reg >= 4 && reg < 8) { o.reg = reg - 4; o.regHi8 = true; } else o.reg = reg;
  }
  if (mod === 3) {
    if (size === 1 && rex === 0 && rm >= 4 && rm < 8) { o.rm = rm - 4; o.rmHi8 = true; } else o.rm = rm;
  }
  o.status = D_OK;
  return D_OK;
}

/** Immediate of immSize bytes at buf[pos], sign-extended to `size` bytes (then to 64 bits). */
function setImm(o: MmioInsn, buf: Uint8Array, pos: number, immSize: number, size: number): void {
  o.hasImm = true;
  let v = immSize === 1 ? s8(buf, pos) : immSize === 2 ? (u16(buf, pos) << 16) >> 16 : i32(buf, pos);
  if (size === 1) v &= 0xff; else if (size === 2) v &= 0xffff;
  o.immLo = v;
  o.immHi = size === 8 ? v >> 31 : 0;
}

function fail(o: MmioInsn, status: number, reason: number): number {
  o.status = status; o.reason = reason; o.op = OP_NONE;
  return status;
}

/** The byte at `end - 1` was needed but missing: truncated, or too long if 15 bytes were available. */
function frameFail(o: MmioInsn, start: number, end: number, avail: number): number {
  o.len = end - start;
  o.map = 0; o.opcode = 0;
  return avail >= 15 && end - start > 15 ? fail(o, D_TOO_LONG, R_TOO_LONG) : fail(o, D_TRUNCATED, R_TRUNCATED);
}

/**
 * Frame a VEX (C4/C5), EVEX (62) or XOP (8F) instruction starting with the
 * byte after the escape at buf[p]. kind: 0x10 VEX, 0x20 EVEX, 0x30 XOP.
 */
function frameVector(buf: Uint8Array, start: number, p: number, avail: number, asz: number, kind: number,
  o: MmioInsn, badPrefix: boolean, esc = 0x8f): number {
  let map: number, op: number;
  if (kind === 0x10 && esc === 0xc5) { map = 1; op = r8(buf, p + 1); p += 2; }
  else if (kind === 0x20) { map = r8(buf, p) & 7; op = r8(buf, p + 3); p += 4; }
  else { map = r8(buf, p) & 0x1f; op = r8(buf, p + 2); p += 3; }
  o.map = kind + map; o.opcode = op;
  let imm = -1;
  if (kind === 0x30) imm = map === 8 ? 1 : map === 9 ? 0 : map === 10 ? 4 : -1;
  else if (map === 1) imm = VEX_MAP1_IMM8[op]!;
  else if (map === 2 || (kind === 0x20 && (map === 5 || map === 6))) imm = 0;
  else if (map === 3) imm = 1;
  const hasModrm = !(kind === 0x10 && map === 1 && op === 0x77); // VZEROUPPER/VZEROALL
  if (hasModrm) {
    const m = r8(buf, p++);
    o.modrm = m;
    const mod = m >>> 6, rm = m & 7;
    if (mod !== 3) {
      if (asz === 2) {
        if (mod === 0 && rm === 6) p += 2; else if (mod === 1) p += 1; else if (mod === 2) p += 2;
      } else {
        let base = rm;
        if (rm === 4) base = r8(buf, p++) & 7;
        if (mod === 0 && base === 5) p += 4; else if (mod === 1) p += 1; else if (mod === 2) p += 4;
      }
    }
  }
  if (imm > 0) p += imm;
  const len = p - start;
  o.len = len;
  if (len > 15) return fail(o, D_TOO_LONG, R_TOO_LONG);
  if (len > avail) return fail(o, D_TRUNCATED, R_TRUNCATED);
  if (badPrefix) return fail(o, D_INVALID, R_UD_VEX_PREFIX);
  if (imm < 0) return fail(o, D_INVALID, R_UD_VEX_MAP);
  return fail(o, D_UNSUPPORTED, R_VECTOR);
}

// =====================================================================
// Typed, allocating API (tests, tools)
// =====================================================================

export type DecodeResult =
  | { readonly kind: 'insn'; readonly insn: MmioInsn; readonly length: number }
  | { readonly kind: 'unsupported'; readonly length: number; readonly reason: string }
  | { readonly kind: 'invalid'; readonly length: number; readonly reason: string }
  | { readonly kind: 'truncated'; readonly reason: string }
  | { readonly kind: 'too-long'; readonly reason: string };

/** Decode the first instruction of `bytes` (at most 15 are looked at). */
export function decode(bytes: Uint8Array, mode: DecodeMode): DecodeResult {
  const o = new MmioInsn();
  const s = decodeInto(bytes, 0, bytes.length, mode, o);
  const reason = REASONS[o.reason] ?? '';
  switch (s) {
    case D_OK: return { kind: 'insn', insn: o, length: o.len };
    case D_UNSUPPORTED: return { kind: 'unsupported', length: o.len, reason };
    case D_INVALID: return { kind: 'invalid', length: o.len, reason };
    case D_TRUNCATED: return { kind: 'truncated', reason };
    default: return { kind: 'too-long', reason };
  }
}

// =====================================================================
// Formatting (Intel syntax, for messages)
// =====================================================================

const R64 = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];
const R32 = ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi', 'r8d', 'r9d', 'r10d', 'r11d', 'r12d', 'r13d', 'r14d', 'r15d'];
const R16 = ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di', 'r8w', 'r9w', 'r10w', 'r11w', 'r12w', 'r13w', 'r14w', 'r15w'];
const R8 = ['al', 'cl', 'dl', 'bl', 'spl', 'bpl', 'sil', 'dil', 'r8b', 'r9b', 'r10b', 'r11b', 'r12b', 'r13b', 'r14b', 'r15b'];
const R8H = ['ah', 'ch', 'dh', 'bh'];
const SEGS = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'];
const PTR = ['', 'byte', 'word', '', 'dword', '', '', '', 'qword', '', '', '', '', '', '', '', 'xmmword'];

export function regName(r: number, size: number, hi8 = false): string {
  if (hi8) return R8H[r] ?? '?';
  const t = size === 8 ? R64 : size === 4 ? R32 : size === 2 ? R16 : R8;
  return t[r] ?? '?';
}

function hex32(v: number): string { return '0x' + (v >>> 0).toString(16); }

/** The memory operand as text, e.g. "dword ptr fs:[rbx+rcx*4+0x10]". */
export function formatMem(o: MmioInsn, size: number): string {
  const parts: string[] = [];
  const an = o.asize === 8 ? R64 : o.asize === 4 ? R32 : R16;
  if (o.base === REG_RIP) parts.push(o.asize === 4 ? 'eip' : 'rip');
  else if (o.base >= 0) parts.push(an[o.base]!);
  if (o.index >= 0) parts.push(`${an[o.index]!}${o.scale > 1 ? '*' + o.scale : ''}`);
  let s = parts.join('+');
  const neg = o.dispHi < 0 && (o.base >= 0 || o.index >= 0) && o.asize !== 2;
  if (o.dispLo !== 0 || o.dispHi !== 0 || parts.length === 0) {
    if (o.asize === 8 && o.dispHi !== 0 && o.dispHi !== o.dispLo >> 31) s += (s ? '+' : '') + '0x' + (o.dispHi >>> 0).toString(16) + (o.dispLo >>> 0).toString(16).padStart(8, '0');
    else if (neg) s += '-' + hex32(-o.dispLo);
    else s += (s ? '+' : '') + hex32(o.asize === 2 ? o.dispLo & 0xffff : o.dispLo);
  }
  const segText = o.segOverride >= 0 || o.seg === SEG_FS || o.seg === SEG_GS ? SEGS[o.seg] + ':' : '';
  return `${PTR[size] ?? ''} ptr ${segText}[${s}]`;
}

/** Intel-syntax text of a decoded (D_OK) instruction. */
export function formatInsn(o: MmioInsn): string {
  if (o.status !== D_OK) return `(${STATUS_NAMES[o.status] ?? '?'}: ${REASONS[o.reason] ?? ''})`;
  const name = opName(o.op, o.sub);
  const rm = (size: number): string => (o.hasMem ? formatMem(o, size) : regName(o.rm, size, o.rmHi8));
  const g = regName(o.reg, o.size, o.regHi8);
  const imm = (): string => (o.size === 8 && o.immHi !== o.immLo >> 31 ? '0x' + (o.immHi >>> 0).toString(16) + (o.immLo >>> 0).toString(16).padStart(8, '0') : hex32(o.size === 8 ? o.immLo : o.immLo));
  const pfx = (o.lock ? 'lock ' : '') + (isStringOp(o.op) && o.rep ? (o.rep === 0xf3 ? (isCompareString(o.op) ? 'repe ' : 'rep ') : 'repne ') : '');
  let text: string;
  switch (o.op) {
    case OP_MOV_STORE: case OP_ALU_EG: case OP_TEST_EG: case OP_XCHG: case OP_CMPXCHG: case OP_XADD: case OP_BT_EG:
      text = `${name} ${rm(o.size)}, ${g}`; break;
    case OP_MOV_LOAD: case OP_ALU_GE: text = `${name} ${g}, ${rm(o.size)}`; break;
    case OP_MOVZX: case OP_MOVSX: case OP_MOVSXD: text = `${name} ${g}, ${rm(o.srcSize)}`; break;
    case OP_MOV_IMM: case OP_ALU_EI: case OP_TEST_EI: text = `${name} ${rm(o.size)}, ${imm()}`; break;
    case OP_BT_EI: text = `${name} ${rm(o.size)}, ${hex32(o.immLo & 0xff)}`; break;
    case OP_NOT: case OP_NEG: case OP_INC: case OP_DEC: text = `${name} ${rm(o.size)}`; break;
    case OP_MOVS: case OP_STOS: case OP_LODS: case OP_CMPS: case OP_SCAS: text = `${name}${'bw?d???q'[o.size - 1]}`; break;
    case OP_PUSH: case OP_POP:
      text = `${name} ${o.hasMem ? rm(o.size) : o.hasImm ? imm() : regName(o.reg, o.size)}`; break;
    case OP_RET: text = o.hasImm ? `${name} ${hex32(o.immLo)}` : name; break;
    case OP_ENTER: text = `${name} ${hex32(o.immLo)}, 0`; break;
    case OP_IMUL: text = `${name} ${g}, ${rm(o.size)}${o.hasImm ? ', ' + imm() : ''}`; break;
    case OP_MULDIV: case OP_CALL_IND: case OP_JMP_IND: case OP_LTR: case OP_SMSW: text = `${name} ${rm(o.size)}`; break;
    case OP_JMP_FAR: text = `${name} far ${formatMem(o, 0).replace(/^ ptr /, '')}`; break;
    case OP_BS: case OP_CMOV: text = `${name} ${g}, ${rm(o.size)}`; break;
    case OP_SHD: text = `${name} ${rm(o.size)}, ${g}, ${o.sub & 2 ? 'cl' : hex32(o.immLo)}`; break;
    case OP_MOV_FROM_SREG: text = `${name} ${rm(2)}, ${SEGS[o.sub]}`; break;
    case OP_MOV_TO_SREG: text = `${name} ${SEGS[o.sub]}, ${rm(2)}`; break;
    case OP_XMM_LOAD: text = `${name} xmm${o.reg}, ${rm(16)}`; break;
    case OP_XMM_STORE: text = `${name} ${rm(16)}, xmm${o.reg}`; break;
    case OP_MMX_LOAD: text = `${name} mm${o.reg}, ${rm(8)}`; break;
    case OP_MMX_STORE: text = `${name} ${rm(8)}, mm${o.reg}`; break;
    default: text = name;
  }
  return pfx + text;
}
