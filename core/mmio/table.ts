/**
 * The MMIO decoder's own opcode table. Independent of core/cpu/opcodes.ts on
 * purpose: the hypervisor's decoder is software under test, the CPU's is
 * the "silicon", and the properties compare the two (and both with
 * iced-x86).
 *
 * Two concerns live here:
 *
 *  1. LENGTH. For every opcode of the one-byte and two-byte maps (SDM Vol.
 *     2D, Appendix A, Table A-2 "One-byte Opcode Map" and Table A-3
 *     "Two-byte Opcode Map"), whether a ModR/M byte follows and which
 *     immediate (SDM Vol. 2A, 2.1.6 and Appendix A.2.1 "Codes for
 *     Addressing Method": I, J, O, A operands). The three-byte maps 0F 38
 *     (Table A-4, ModR/M, no immediate) and 0F 3A (Table A-5, ModR/M +
 *     imm8) are uniform and handled in the decoder. The decoder computes
 *     the length of every instruction it can frame, supported or not.
 *
 *  2. SEMANTICS, for the few opcodes an MMIO emulator must execute (see
 *     README.md): which operation, operand order and width.
 *
 * Spec tokens (one per opcode, 16 per row):
 *   .   no ModR/M, no immediate          M   ModR/M
 *   b   imm8 / rel8 (Ib, Jb)             w   imm16 (Iw)
 *   z   imm16/32 by operand size (Iz)    v   imm16/32/64 (Iv: B8+r MOV)
 *   J   rel16/32 (Jz; rel32 in 64-bit mode, where Intel ignores 66h)
 *   a   moffs (Ob/Ov: address-size bytes)
 *   p   far pointer (Ap: 16:16 or 16:32 by operand size)
 *   e   ENTER (Iw, Ib)                   3   group 3 (F6/F7: immediate for /0, /1)
 *   C   MOV CR/DR: ModR/M always read as register form (Vol. 2B MOV—Move to/from
 *       Control/Debug Registers: "the 2 bits in the mod field are ignored")
 *   x   0F 78: two imm8 after ModR/M with mandatory 66h/F2h (AMD EXTRQ/INSERTQ)
 *   P   legacy prefix   S   escape or VEX/EVEX/XOP candidate, framed by code
 *   #   undefined (#UD) in every mode
 * Modifiers (suffixes): ! invalid in 64-bit mode (Table A-2 superscript i64);
 *   L   LOCK allowed with a memory destination (Vol. 2A, LOCK—Assert LOCK# Signal
 *       Prefix: ADD ADC AND BTC BTR BTS CMPXCHG CMPXCHG8B/16B DEC INC NEG NOT
 *       OR SBB SUB XOR XADD XCHG); per-/digit refinement is done by the decoder.
 */

// ---- attribute bits ----
export const A_MODRM = 1;
export const A_IMM_SHIFT = 1;
export const A_IMM_MASK = 0xf << A_IMM_SHIFT;
export const A_INV64 = 1 << 5;
export const A_UD = 1 << 6;
export const A_PREFIX = 1 << 7;
export const A_SPECIAL = 1 << 8;
export const A_CRDR = 1 << 9;
export const A_LOCK = 1 << 10;

// ---- immediate kinds (A_IMM field) ----
export const I_NONE = 0, I_B = 1, I_W = 2, I_Z = 3, I_V = 4, I_MOFFS = 5, I_PTR = 6, I_ENTER = 7;
export const I_JZ = 8, I_GRP3 = 9, I_0F78 = 10;

const TOKEN_ATTR: Record<string, number> = {
  '.': 0,
  M: A_MODRM,
  b: I_B << A_IMM_SHIFT,
  w: I_W << A_IMM_SHIFT,
  z: I_Z << A_IMM_SHIFT,
  v: I_V << A_IMM_SHIFT,
  J: I_JZ << A_IMM_SHIFT,
  a: I_MOFFS << A_IMM_SHIFT,
  p: I_PTR << A_IMM_SHIFT,
  e: I_ENTER << A_IMM_SHIFT,
  '3': A_MODRM | (I_GRP3 << A_IMM_SHIFT),
  C: A_MODRM | A_CRDR,
  x: A_MODRM | (I_0F78 << A_IMM_SHIFT),
  P: A_PREFIX,
  S: A_SPECIAL,
  '#': A_UD,
};

function compile(rows: readonly string[]): Uint16Array {
  const t = new Uint16Array(256);
  if (rows.length !== 16) throw new Error(`opcode map needs 16 rows, got ${rows.length}`);
  rows.forEach((row, r) => {
    const toks = row.trim().split(/\s+/);
    if (toks.length !== 16) throw new Error(`opcode map row ${r.toString(16)} has ${toks.length} entries`);
    toks.forEach((tok, c) => {
      let a = 0;
      let body = tok;
      if (body.startsWith('!')) { a |= A_INV64; body = body.slice(1); }
      if (body.endsWith('L')) { a |= A_LOCK; body = body.slice(0, -1); }
      // "Mb" / "Mz": ModR/M followed by an immediate
      if (body.length === 2 && body[0] === 'M') { a |= A_MODRM; body = body.slice(1); }
      const base = TOKEN_ATTR[body];
      if (base === undefined) throw new Error(`bad opcode token '${tok}'`);
      t[r * 16 + c] = a | base;
    });
  });
  return t;
}

/**
 * One-byte opcode map (SDM Vol. 2D, Table A-2). 40-4F are REX in 64-bit mode
 * (handled by the prefix loop); 62, C4, C5 are EVEX/VEX or BOUND/LES/LDS;
 * 8F is XOP or POP Ev; 0F escapes to the two-byte map.
 */
export const MAP1 = compile([
  /* 0 */ 'ML ML M  M  b  z  !. !. ML ML M  M  b  z  !. S',
  /* 1 */ 'ML ML M  M  b  z  !. !. ML ML M  M  b  z  !. !.',
  /* 2 */ 'ML ML M  M  b  z  P  !. ML ML M  M  b  z  P  !.',
  /* 3 */ 'ML ML M  M  b  z  P  !. M  M  M  M  b  z  P  !.',
  /* 4 */ '.  .  .  .  .  .  .  .  .  .  .  .  .  .  .  .',
  /* 5 */ '.  .  .  .  .  .  .  .  .  .  .  .  .  .  .  .',
  /* 6 */ '!. !. S  M  P  P  P  P  z  Mz b  Mb .  .  .  .',
  /* 7 */ 'b  b  b  b  b  b  b  b  b  b  b  b  b  b  b  b',
  /* 8 */ 'MbL MzL !MbL MbL M M ML ML M M  M  M  M  M  M  S',
  /* 9 */ '.  .  .  .  .  .  .  .  .  .  !p .  .  .  .  .',
  /* A */ 'a  a  a  a  .  .  .  .  b  z  .  .  .  .  .  .',
  /* B */ 'b  b  b  b  b  b  b  b  v  v  v  v  v  v  v  v',
  /* C */ 'Mb Mb w  .  S  S  Mb Mz e  .  w  .  .  b  !. .',
  /* D */ 'M  M  M  M  !b !b !. .  M  M  M  M  M  M  M  M',
  /* E */ 'b  b  b  b  b  b  b  b  J  J  !p b  .  .  .  .',
  /* F */ 'P  .  P  P  .  .  3L 3L .  .  .  .  .  .  ML ML',
]);

/**
 * Two-byte opcode map, 0F xx (SDM Vol. 2D, Table A-3). 0F 0F is AMD 3DNow!
 * (ModR/M, then the opcode as an imm8 suffix); 0F 38 and 0F 3A escape to
 * the three-byte maps.
 */
export const MAP2 = compile([
  /* 0 */ 'M  M  M  M  #  .  .  .  .  .  #  .  #  M  .  Mb',
  /* 1 */ 'M  M  M  M  M  M  M  M  M  M  M  M  M  M  M  M',
  /* 2 */ 'C  C  C  C  #  #  #  #  M  M  M  M  M  M  M  M',
  /* 3 */ '.  .  .  .  .  .  #  .  S  #  S  #  #  #  #  #',
  /* 4 */ 'M  M  M  M  M  M  M  M  M  M  M  M  M  M  M  M',
  /* 5 */ 'M  M  M  M  M  M  M  M  M  M  M  M  M  M  M  M',
  /* 6 */ 'M  M  M  M  M  M  M  M  M  M  M  M  M  M  M  M',
  /* 7 */ 'Mb Mb Mb Mb M  M  M  .  x  M  #  #  M  M  M  M',
  /* 8 */ 'J  J  J  J  J  J  J  J  J  J  J  J  J  J  J  J',
  /* 9 */ 'M  M  M  M  M  M  M  M  M  M  M  M  M  M  M  M',
  /* A */ '.  .  .  M  Mb M  M  M  .  .  .  ML Mb M  M  M',
  /* B */ 'ML ML M  ML M  M  M  M  M  M  MbL ML M M  M  M',
  /* C */ 'ML ML Mb M  Mb Mb Mb ML .  .  .  .  .  .  .  .',
  /* D */ 'M  M  M  M  M  M  M  M  M  M  M  M  M  M  M  M',
  /* E */ 'M  M  M  M  M  M  M  M  M  M  M  M  M  M  M  M',
  /* F */ 'M  M  M  M  M  M  M  M  M  M  M  M  M  M  M  M',
]);

/**
 * VEX/EVEX map 1 (0F) opcodes with an imm8 (SDM Vol. 2D Table A-3 entries
 * with Ib: PSHUFx 70, shift groups 71-73, CMPPS C2, PINSRW C4, PEXTRW C5,
 * SHUFPS C6). Map 3 (0F 3A) always has one; maps 2, 5, 6 never do.
 */
export const VEX_MAP1_IMM8 = (() => {
  const t = new Uint8Array(256);
  for (const o of [0x70, 0x71, 0x72, 0x73, 0xc2, 0xc4, 0xc5, 0xc6]) t[o] = 1;
  return t;
})();

// =====================================================================
// Semantics of the supported instructions
// =====================================================================

/** Operations the MMIO emulator executes. */
export const OP_NONE = 0;
export const OP_MOV_STORE = 1;   // Eb/Ev <- Gb/Gv (88, 89), moffs <- AL/eAX (A2, A3)
export const OP_MOV_LOAD = 2;    // Gb/Gv <- Eb/Ev (8A, 8B), AL/eAX <- moffs (A0, A1)
export const OP_MOV_IMM = 3;     // Eb/Ev <- Ib/Iz (C6 /0, C7 /0)
export const OP_MOVZX = 4;       // 0F B6, 0F B7
export const OP_MOVSX = 5;       // 0F BE, 0F BF
export const OP_MOVSXD = 6;      // 63 /r in 64-bit mode
export const OP_ALU_EG = 7;      // E op= G   (sub = ALU kind)
export const OP_ALU_GE = 8;      // G op= E
export const OP_ALU_EI = 9;      // E op= imm (80, 81, 82, 83)
export const OP_TEST_EG = 10;    // 84, 85
export const OP_TEST_EI = 11;    // F6 /0 /1, F7 /0 /1
export const OP_NOT = 12;        // F6/F7 /2
export const OP_NEG = 13;        // F6/F7 /3
export const OP_INC = 14;        // FE/FF /0
export const OP_DEC = 15;        // FE/FF /1
export const OP_BT_EG = 16;      // 0F A3/AB/B3/BB (sub = BT kind)
export const OP_BT_EI = 17;      // 0F BA /4-7
export const OP_XCHG = 18;       // 86, 87
export const OP_CMPXCHG = 19;    // 0F B0, 0F B1
export const OP_XADD = 20;       // 0F C0, 0F C1
export const OP_MOVS = 21;       // A4, A5
export const OP_STOS = 22;       // AA, AB
export const OP_LODS = 23;       // AC, AD
export const OP_CMPS = 24;       // A6, A7: [seg:rSI] - ES:[rDI] (Vol. 2A CMPS/CMPSB/CMPSW/CMPSD/CMPSQ)
export const OP_SCAS = 25;       // AE, AF: AL/rAX - ES:[rDI] (Vol. 2B SCAS/SCASB/SCASW/SCASD)
// Stack (SS:rSP is the memory operand; Vol. 2B PUSH, POP, RET, ENTER, LEAVE; Vol. 2A CALL, JMP)
export const OP_PUSH = 26;       // 50+r, 68 Iz, 6A Ib, FF /6 m (source: reg, imm or memory)
export const OP_POP = 27;        // 58+r, 8F /0 m
export const OP_RET = 28;        // C3, C2 Iw (near)
export const OP_ENTER = 29;      // C8 Iw Ib (nesting level 0)
export const OP_LEAVE = 30;      // C9
export const OP_CALL_IND = 31;   // FF /2 m (near, absolute indirect)
export const OP_JMP_IND = 32;    // FF /4 m (near, absolute indirect)
export const OP_JMP_FAR = 33;    // FF /5 m16:16/32/64 (far, indirect)
// Integer arithmetic with a memory source
export const OP_IMUL = 34;       // 0F AF, 69 Iz, 6B Ib: Gv = Ev * (Gv | imm)
export const OP_MULDIV = 35;     // F6/F7 /4 MUL /5 IMUL /6 DIV /7 IDIV (sub = /digit - 4)
export const OP_BS = 36;         // 0F BC BSF, 0F BD BSR (sub 0/1)
export const OP_SHD = 37;        // 0F A4/A5 SHLD, 0F AC/AD SHRD (sub: bit 0 right, bit 1 count in CL)
export const OP_CMOV = 38;       // 0F 40-4F (sub = condition code, Vol. 1 Table B-1)
// Segments and system (Vol. 2B MOV—Move to/from Segment Registers, LTR, SMSW)
export const OP_MOV_FROM_SREG = 39; // 8C /r m16 <- Sreg (sub = Sreg)
export const OP_MOV_TO_SREG = 40;   // 8E /r Sreg <- m16 (sub = Sreg)
export const OP_LTR = 41;        // 0F 00 /3 m16
export const OP_SMSW = 42;       // 0F 01 /4 m16
// SSE / MMX moves (Vol. 2B MOVUPS MOVUPD MOVAPS MOVAPD MOVDQU MOVDQA, MOVQ mm)
export const OP_XMM_LOAD = 43;   // 0F 10, 0F 28, 0F 6F (66/F3): xmm <- m128 (sub 1: 16-byte alignment required)
export const OP_XMM_STORE = 44;  // 0F 11, 0F 29, 0F 7F (66/F3): m128 <- xmm
export const OP_MMX_LOAD = 45;   // 0F 6F (no prefix): mm <- m64
export const OP_MMX_STORE = 46;  // 0F 7F (no prefix): m64 <- mm

export const OP_NAMES = [
  '', 'mov', 'mov', 'mov', 'movzx', 'movsx', 'movsxd', '', '', '', 'test', 'test', 'not', 'neg', 'inc', 'dec',
  '', '', 'xchg', 'cmpxchg', 'xadd', 'movs', 'stos', 'lods', 'cmps', 'scas',
  'push', 'pop', 'ret', 'enter', 'leave', 'call', 'jmp', 'jmp', 'imul', '', '', '', 'cmov', 'mov', 'mov', 'ltr', 'smsw',
  '', '', 'movq', 'movq',
] as const;

/** ALU kinds in opcode-row order (SDM Vol. 2D, Table A-2 rows 0-3 and group 1, Table A-6). */
export const ALU_ADD = 0, ALU_OR = 1, ALU_ADC = 2, ALU_SBB = 3, ALU_AND = 4, ALU_SUB = 5, ALU_XOR = 6, ALU_CMP = 7;
export const ALU_NAMES = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'] as const;
/** BT kinds in group-8 order /4../7 (Table A-6): BT, BTS, BTR, BTC. */
export const BT_BT = 0, BT_BTS = 1, BT_BTR = 2, BT_BTC = 3;
export const BT_NAMES = ['bt', 'bts', 'btr', 'btc'] as const;

export const MULDIV_NAMES = ['mul', 'imul', 'div', 'idiv'] as const;
/** Condition codes 0-F (Vol. 1 Appendix B, Table B-1), as in CMOVcc/Jcc/SETcc names. */
export const CC_NAMES = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'] as const;
/** XMM moves by (opcode, mandatory prefix): sub bits 7:0 = names index. */
export const XMM_NAMES = ['movups', 'movupd', 'movaps', 'movapd', 'movdqu', 'movdqa'] as const;

/** Name of a decoded operation (ALU/BT kinds resolved). */
export function opName(op: number, sub: number): string {
  if (op === OP_MULDIV) return MULDIV_NAMES[sub & 3]!;
  if (op === OP_BS) return sub ? 'bsr' : 'bsf';
  if (op === OP_SHD) return sub & 1 ? 'shrd' : 'shld';
  if (op === OP_CMOV) return 'cmov' + CC_NAMES[sub & 15]!;
  if (op === OP_XMM_LOAD || op === OP_XMM_STORE) return XMM_NAMES[sub >> 1]!;
  if (op === OP_ALU_EG || op === OP_ALU_GE || op === OP_ALU_EI) return ALU_NAMES[sub & 7]!;
  if (op === OP_BT_EG || op === OP_BT_EI) return BT_NAMES[sub & 3]!;
  return OP_NAMES[op] ?? '?';
}

/** String instructions (Vol. 2B REP/REPE/REPZ/REPNE/REPNZ): rSI/rDI operands, F3/F2 repeat them. */
export function isStringOp(op: number): boolean {
  return op === OP_MOVS || op === OP_STOS || op === OP_LODS || op === OP_CMPS || op === OP_SCAS;
}
/** CMPS and SCAS: F3 is REPE (stop when ZF = 0), F2 is REPNE (stop when ZF = 1); the others ignore the difference. */
export function isCompareString(op: number): boolean {
  return op === OP_CMPS || op === OP_SCAS;
}
