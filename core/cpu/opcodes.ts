/**
 * THE opcode table (SDM Vol. 2D, Appendix A "Opcode Map"). One entry per
 * opcode (or group member): mnemonic, operand specification in the SDM's
 * notation (drives ModRM and immediate decoding), handler, decode flags and
 * the RFLAGS bits the SDM leaves undefined (for the differential tests).
 * The decoder, the interpreter dispatch and the tests are all driven by it.
 *
 * Operand notation (Vol. 2D, A.2): E r/m, G reg, M memory only, S segment
 * register, C/D control/debug register; b byte, w word, d dword, q qword,
 * v 16/32/64 by operand size, z 16/32 (imm32 sign-extended for 64-bit);
 * I immediate, J relative offset, O moffs, A far pointer.
 */
import type { Handler } from './insn.js';
import { IF_BLOCK_END as END, IF_D64 as D64, IF_F64 as F64, IF_I64 as I64, IF_O64 as O64, IF_BYTE as B, IF_LOCKABLE as LK, IF_REP as REP } from './insn.js';
import { CF, PF, AF, ZF, SF, OF, ES, CS, SS, DS, FS, GS } from './regs.js';
import * as alu from './exec/alu.js';
import * as mov from './exec/mov.js';
import * as ctl from './exec/control.js';
import * as sys from './exec/system.js';
import * as io from './exec/io.js';
import * as str from './exec/string.js';
import * as sse from './exec/sse.js';
import * as fpu from './exec/fpu.js';
import * as mmx from './exec/mmx.js';
import { EXIT_REASON } from '../vmx/exit-reasons.js';

export interface OpDef {
  /** 0x00-0xff one-byte map; 0x0f00-0x0fff two-byte map. */
  op: number;
  /** ModRM.reg selecting a group member. */
  reg?: number;
  /** For group members: true = memory form only, false = register form only (mod = 3). */
  mem?: boolean;
  mn: string;
  ops: string;
  fn: Handler;
  arg?: number;
  flags?: number;
  /** RFLAGS bits the SDM calls undefined after this instruction. */
  undef?: number;
  /**
   * Mandatory-prefix column of the opcode map (Vol. 2A, 2.1.2; Vol. 2D A.3):
   * PFX_F3 = the entry exists only with F3, which is then part of the opcode
   * rather than a REP; PFX_NP = #UD with 66, F2 or F3 (those select other
   * instructions); PFX_NOREP = #UD with F2 or F3 (66 is allowed).
   * SSE/SSE2 opcodes whose prefix selects the instruction (an entry with
   * PFX_66 or PFX_F2 makes the whole opcode prefix-selected): every entry of
   * such an opcode names its column, PFX_NP (none), PFX_66, PFX_F3 or
   * PFX_F2; F3/F2 (the last one) take precedence over 66, and the prefix is
   * not an operand-size override or REP there (Vol. 2A, 2.1.2).
   */
  prefix?: number;
  /** For mod = 3 group members selected by ModRM.rm as well (0F 01 C1, DB E3, ...). */
  rm?: number;
  /** Allowed ModRM.reg values (bit n = reg n, REX.R included): others are #UD. */
  regMask?: number;
}

export const PFX_NP = 0, PFX_NOREP = 1, PFX_F3 = 0xf3, PFX_66 = 0x66, PFX_F2 = 0xf2;
const NP = PFX_NP;

const ALU_NAMES = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'] as const;
const CC = ['o', 'no', 'b', 'ae', 'e', 'ne', 'be', 'a', 's', 'ns', 'p', 'np', 'l', 'ge', 'le', 'g'] as const;
const SHIFT_NAMES = ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sal', 'sar'] as const;

function build(): OpDef[] {
  const t: OpDef[] = [];
  const add = (d: OpDef): void => { t.push(d); };

  // ---- ALU: 00-3F (Vol. 2D Table A-2) ----
  for (let k = 0; k < 8; k++) {
    const base = k * 8, mn = ALU_NAMES[k]!;
    const lk = k === 7 ? 0 : LK;
    add({ op: base + 0, mn, ops: 'Eb,Gb', fn: alu.aluEG, arg: k, flags: B | lk });
    add({ op: base + 1, mn, ops: 'Ev,Gv', fn: alu.aluEG, arg: k, flags: lk });
    add({ op: base + 2, mn, ops: 'Gb,Eb', fn: alu.aluGE, arg: k, flags: B });
    add({ op: base + 3, mn, ops: 'Gv,Ev', fn: alu.aluGE, arg: k });
    add({ op: base + 4, mn, ops: 'AL,Ib', fn: alu.aluAI, arg: k, flags: B });
    add({ op: base + 5, mn, ops: 'rAX,Iz', fn: alu.aluAI, arg: k });
    add({ op: 0x80, reg: k, mn, ops: 'Eb,Ib', fn: alu.aluEI, arg: k, flags: B | lk });
    add({ op: 0x81, reg: k, mn, ops: 'Ev,Iz', fn: alu.aluEI, arg: k, flags: lk });
    add({ op: 0x82, reg: k, mn, ops: 'Eb,Ib', fn: alu.aluEI, arg: k, flags: B | I64 | lk });
    add({ op: 0x83, reg: k, mn, ops: 'Ev,sIb', fn: alu.aluEI, arg: k, flags: lk });
  }
  const logicUndef = AF;
  for (const d of t) if (d.arg === 4 || d.arg === 1 || d.arg === 6) d.undef = logicUndef;

  // ---- legacy instructions invalid in 64-bit mode (#UD, Vol. 2D Table A-2 "i64") ----
  add({ op: 0x27, mn: 'daa', ops: '', fn: alu.daaDas, flags: I64, undef: OF });
  add({ op: 0x2f, mn: 'das', ops: '', fn: alu.daaDas, flags: I64, undef: OF });
  add({ op: 0x37, mn: 'aaa', ops: '', fn: alu.aaaAas, flags: I64, undef: OF | SF | ZF | PF });
  add({ op: 0x3f, mn: 'aas', ops: '', fn: alu.aaaAas, flags: I64, undef: OF | SF | ZF | PF });
  add({ op: 0x60, mn: 'pusha', ops: '', fn: mov.pusha, flags: I64 });
  add({ op: 0x61, mn: 'popa', ops: '', fn: mov.popa, flags: I64 });
  // 62 is EVEX, C4/C5 VEX in 64-bit mode: AVX/AVX-512 are not advertised, so #UD.
  add({ op: 0x62, mn: 'bound', ops: 'Gv,Ma', fn: mov.legacyUnimplemented, flags: I64, mem: true });
  add({ op: 0xc4, mn: 'les', ops: 'Gz,Mp', fn: mov.legacyUnimplemented, flags: I64, mem: true });
  add({ op: 0xc5, mn: 'lds', ops: 'Gz,Mp', fn: mov.legacyUnimplemented, flags: I64, mem: true });
  add({ op: 0xd4, mn: 'aam', ops: 'Ib', fn: alu.aam, flags: I64, undef: OF | AF | CF });
  add({ op: 0xd5, mn: 'aad', ops: 'Ib', fn: alu.aad, flags: I64, undef: OF | AF | CF });

  // ---- segment push/pop (06/07, 0E, 16/17, 1E/1F; 0F A0/A1, A8/A9) ----
  add({ op: 0x06, mn: 'push', ops: 'ES', fn: mov.pushSeg, arg: ES, flags: I64 });
  add({ op: 0x07, mn: 'pop', ops: 'ES', fn: mov.popSeg, arg: ES, flags: I64 });
  add({ op: 0x0e, mn: 'push', ops: 'CS', fn: mov.pushSeg, arg: CS, flags: I64 });
  add({ op: 0x16, mn: 'push', ops: 'SS', fn: mov.pushSeg, arg: SS, flags: I64 });
  add({ op: 0x17, mn: 'pop', ops: 'SS', fn: mov.popSeg, arg: SS, flags: I64 | END });
  add({ op: 0x1e, mn: 'push', ops: 'DS', fn: mov.pushSeg, arg: DS, flags: I64 });
  add({ op: 0x1f, mn: 'pop', ops: 'DS', fn: mov.popSeg, arg: DS, flags: I64 });
  add({ op: 0x0fa0, mn: 'push', ops: 'FS', fn: mov.pushSeg, arg: FS, flags: D64 });
  add({ op: 0x0fa1, mn: 'pop', ops: 'FS', fn: mov.popSeg, arg: FS, flags: D64 });
  add({ op: 0x0fa8, mn: 'push', ops: 'GS', fn: mov.pushSeg, arg: GS, flags: D64 });
  add({ op: 0x0fa9, mn: 'pop', ops: 'GS', fn: mov.popSeg, arg: GS, flags: D64 });

  // ---- INC/DEC r (40-4F outside 64-bit mode), PUSH/POP r (50-5F) ----
  for (let r = 0; r < 8; r++) {
    add({ op: 0x40 + r, mn: 'inc', ops: 'Zv', fn: alu.incR, flags: I64 });
    add({ op: 0x48 + r, mn: 'dec', ops: 'Zv', fn: alu.incR, flags: I64 });
    add({ op: 0x50 + r, mn: 'push', ops: 'Zv', fn: mov.pushR, flags: D64 });
    add({ op: 0x58 + r, mn: 'pop', ops: 'Zv', fn: mov.popR, flags: D64 });
  }
  add({ op: 0x63, mn: 'movsxd', ops: 'Gv,Ed', fn: mov.movsxd, flags: O64 });
  add({ op: 0x68, mn: 'push', ops: 'Iz', fn: mov.pushI, flags: D64 });
  add({ op: 0x69, mn: 'imul', ops: 'Gv,Ev,Iz', fn: alu.imulGE, undef: SF | ZF | AF | PF });
  add({ op: 0x6a, mn: 'push', ops: 'sIb', fn: mov.pushI, flags: D64 });
  add({ op: 0x6b, mn: 'imul', ops: 'Gv,Ev,sIb', fn: alu.imulGE, undef: SF | ZF | AF | PF });
  add({ op: 0x6c, mn: 'insb', ops: 'Yb,DX', fn: io.insOuts, flags: B | REP });
  add({ op: 0x6d, mn: 'ins', ops: 'Yz,DX', fn: io.insOuts, flags: REP });
  add({ op: 0x6e, mn: 'outsb', ops: 'DX,Xb', fn: io.insOuts, flags: B | REP });
  add({ op: 0x6f, mn: 'outs', ops: 'DX,Xz', fn: io.insOuts, flags: REP });

  // ---- Jcc (70-7F, 0F 80-8F), SETcc, CMOVcc ----
  for (let c = 0; c < 16; c++) {
    add({ op: 0x70 + c, mn: 'j' + CC[c], ops: 'Jb', fn: ctl.jcc, flags: F64 | END });
    add({ op: 0x0f80 + c, mn: 'j' + CC[c], ops: 'Jz', fn: ctl.jcc, flags: F64 | END });
    add({ op: 0x0f90 + c, mn: 'set' + CC[c], ops: 'Eb', fn: alu.setcc, flags: B });
    add({ op: 0x0f40 + c, mn: 'cmov' + CC[c], ops: 'Gv,Ev', fn: alu.cmovcc });
  }

  // ---- 84-8F ----
  add({ op: 0x84, mn: 'test', ops: 'Eb,Gb', fn: alu.testEG, flags: B, undef: AF });
  add({ op: 0x85, mn: 'test', ops: 'Ev,Gv', fn: alu.testEG, undef: AF });
  add({ op: 0x86, mn: 'xchg', ops: 'Eb,Gb', fn: mov.xchgEG, flags: B | LK });
  add({ op: 0x87, mn: 'xchg', ops: 'Ev,Gv', fn: mov.xchgEG, flags: LK });
  add({ op: 0x88, mn: 'mov', ops: 'Eb,Gb', fn: mov.movEG, flags: B });
  add({ op: 0x89, mn: 'mov', ops: 'Ev,Gv', fn: mov.movEG });
  add({ op: 0x8a, mn: 'mov', ops: 'Gb,Eb', fn: mov.movGE, flags: B });
  add({ op: 0x8b, mn: 'mov', ops: 'Gv,Ev', fn: mov.movGE });
  add({ op: 0x8c, mn: 'mov', ops: 'Ev,Sw', fn: mov.movESreg, regMask: 0x3f3f }); // ES..GS (REX.R ignored)
  add({ op: 0x8d, mn: 'lea', ops: 'Gv,M', fn: mov.lea, mem: true });
  add({ op: 0x8e, mn: 'mov', ops: 'Sw,Ew', fn: mov.movSregE, flags: END, regMask: 0x3d3d }); // not CS
  add({ op: 0x8f, reg: 0, mn: 'pop', ops: 'Ev', fn: mov.popE, flags: D64 });

  // ---- 90-9F ----
  add({ op: 0x90, mn: 'nop', ops: '', fn: nopOrPause });
  for (let r = 1; r < 8; r++) add({ op: 0x90 + r, mn: 'xchg', ops: 'Zv,rAX', fn: mov.xchgAR });
  add({ op: 0x98, mn: 'cbw', ops: '', fn: alu.cbw });
  add({ op: 0x99, mn: 'cwd', ops: '', fn: alu.cwd });
  add({ op: 0x9a, mn: 'call far', ops: 'Ap', fn: ctl.callFar, flags: I64 | END });
  add({ op: 0x9b, mn: 'fwait', ops: '', fn: fpu.fwait });
  add({ op: 0x9c, mn: 'pushf', ops: '', fn: mov.pushf, flags: D64 });
  add({ op: 0x9d, mn: 'popf', ops: '', fn: mov.popf, flags: D64 | END });
  add({ op: 0x9e, mn: 'sahf', ops: '', fn: alu.sahf });
  add({ op: 0x9f, mn: 'lahf', ops: '', fn: alu.lahf });

  // ---- A0-AF: moffs, string, test ----
  add({ op: 0xa0, mn: 'mov', ops: 'AL,Ob', fn: mov.movMoffs, flags: B });
  add({ op: 0xa1, mn: 'mov', ops: 'rAX,Ov', fn: mov.movMoffs });
  add({ op: 0xa2, mn: 'mov', ops: 'Ob,AL', fn: mov.movMoffs, flags: B });
  add({ op: 0xa3, mn: 'mov', ops: 'Ov,rAX', fn: mov.movMoffs });
  add({ op: 0xa4, mn: 'movsb', ops: 'Yb,Xb', fn: str.movs, flags: B | REP });
  add({ op: 0xa5, mn: 'movs', ops: 'Yv,Xv', fn: str.movs, flags: REP });
  add({ op: 0xa6, mn: 'cmpsb', ops: 'Xb,Yb', fn: str.cmps, flags: B | REP });
  add({ op: 0xa7, mn: 'cmps', ops: 'Xv,Yv', fn: str.cmps, flags: REP });
  add({ op: 0xa8, mn: 'test', ops: 'AL,Ib', fn: alu.testAI, flags: B, undef: AF });
  add({ op: 0xa9, mn: 'test', ops: 'rAX,Iz', fn: alu.testAI, undef: AF });
  add({ op: 0xaa, mn: 'stosb', ops: 'Yb,AL', fn: str.stos, flags: B | REP });
  add({ op: 0xab, mn: 'stos', ops: 'Yv,rAX', fn: str.stos, flags: REP });
  add({ op: 0xac, mn: 'lodsb', ops: 'AL,Xb', fn: str.lods, flags: B | REP });
  add({ op: 0xad, mn: 'lods', ops: 'rAX,Xv', fn: str.lods, flags: REP });
  add({ op: 0xae, mn: 'scasb', ops: 'AL,Yb', fn: str.scas, flags: B | REP });
  add({ op: 0xaf, mn: 'scas', ops: 'rAX,Yv', fn: str.scas, flags: REP });

  // ---- B0-BF: MOV r, imm ----
  for (let r = 0; r < 8; r++) {
    add({ op: 0xb0 + r, mn: 'mov', ops: 'Zb,Ib', fn: mov.movRI, flags: B });
    add({ op: 0xb8 + r, mn: 'mov', ops: 'Zv,Iv', fn: mov.movRI });
  }

  // ---- shifts: C0, C1, D0-D3 (group 2) ----
  for (let k = 0; k < 8; k++) {
    const mn = SHIFT_NAMES[k]!;
    // OF is undefined for counts other than 1; AF undefined for shifts (Vol. 2B SAL/SAR/SHL/SHR, RCL/RCR/ROL/ROR).
    const undef = k < 4 ? OF : OF | AF;
    add({ op: 0xc0, reg: k, mn, ops: 'Eb,Ib', fn: alu.shiftE, flags: B, undef });
    add({ op: 0xc1, reg: k, mn, ops: 'Ev,Ib', fn: alu.shiftE, undef });
    add({ op: 0xd0, reg: k, mn, ops: 'Eb,1', fn: alu.shiftE, flags: B, undef: k < 4 ? 0 : AF });
    add({ op: 0xd1, reg: k, mn, ops: 'Ev,1', fn: alu.shiftE, undef: k < 4 ? 0 : AF });
    add({ op: 0xd2, reg: k, mn, ops: 'Eb,CL', fn: alu.shiftE, flags: B, undef });
    add({ op: 0xd3, reg: k, mn, ops: 'Ev,CL', fn: alu.shiftE, undef });
  }

  // ---- C2-CF ----
  add({ op: 0xc2, mn: 'ret', ops: 'Iw', fn: ctl.ret, flags: F64 | END });
  add({ op: 0xc3, mn: 'ret', ops: '', fn: ctl.ret, flags: F64 | END });
  add({ op: 0xc6, reg: 0, mn: 'mov', ops: 'Eb,Ib', fn: mov.movEI, flags: B });
  add({ op: 0xc7, reg: 0, mn: 'mov', ops: 'Ev,Iz', fn: mov.movEI });
  add({ op: 0xc8, mn: 'enter', ops: 'Iw,Ib', fn: mov.enter, flags: D64 });
  add({ op: 0xc9, mn: 'leave', ops: '', fn: mov.leave, flags: D64 });
  add({ op: 0xca, mn: 'retf', ops: 'Iw', fn: ctl.retFar, flags: END });
  add({ op: 0xcb, mn: 'retf', ops: '', fn: ctl.retFar, flags: END });
  add({ op: 0xcc, mn: 'int3', ops: '', fn: ctl.int3, flags: END });
  add({ op: 0xf1, mn: 'int1', ops: '', fn: ctl.int1, flags: END }); // ICEBP
  add({ op: 0xcd, mn: 'int', ops: 'Ib', fn: ctl.intN, flags: END });
  add({ op: 0xce, mn: 'into', ops: '', fn: ctl.into, flags: I64 | END });
  add({ op: 0xcf, mn: 'iret', ops: '', fn: ctl.iret, flags: END });
  add({ op: 0xd7, mn: 'xlat', ops: '', fn: mov.xlat });

  // ---- x87 control instructions (D9 /5, /7; DB E2, E3; DD /7; DF E0), exec/fpu.ts ----
  add({ op: 0xd9, reg: 5, mem: true, mn: 'fldcw', ops: 'Mw', fn: fpu.fldcw });
  add({ op: 0xd9, reg: 7, mem: true, mn: 'fnstcw', ops: 'Mw', fn: fpu.fnstcw });
  add({ op: 0xdb, reg: 4, mem: false, rm: 2, mn: 'fnclex', ops: '', fn: fpu.fnclex }); // DB E2
  add({ op: 0xdb, reg: 4, mem: false, rm: 3, mn: 'fninit', ops: '', fn: fpu.fninit }); // DB E3
  add({ op: 0xdd, reg: 7, mem: true, mn: 'fnstsw', ops: 'Mw', fn: fpu.fnstsw });
  add({ op: 0xdf, reg: 4, mem: false, rm: 0, mn: 'fnstsw', ops: 'AX', fn: fpu.fnstsw }); // DF E0

  // ---- E0-EF ----
  add({ op: 0xe0, mn: 'loopne', ops: 'Jb', fn: ctl.loop, flags: F64 | END });
  add({ op: 0xe1, mn: 'loope', ops: 'Jb', fn: ctl.loop, flags: F64 | END });
  add({ op: 0xe2, mn: 'loop', ops: 'Jb', fn: ctl.loop, flags: F64 | END });
  add({ op: 0xe3, mn: 'jrcxz', ops: 'Jb', fn: ctl.loop, flags: F64 | END });
  add({ op: 0xe4, mn: 'in', ops: 'AL,Ib', fn: io.inInsn, flags: B });
  add({ op: 0xe5, mn: 'in', ops: 'eAX,Ib', fn: io.inInsn });
  add({ op: 0xe6, mn: 'out', ops: 'Ib,AL', fn: io.outInsn, flags: B });
  add({ op: 0xe7, mn: 'out', ops: 'Ib,eAX', fn: io.outInsn });
  add({ op: 0xe8, mn: 'call', ops: 'Jz', fn: ctl.callRel, flags: F64 | END });
  add({ op: 0xe9, mn: 'jmp', ops: 'Jz', fn: ctl.jmpRel, flags: F64 | END });
  add({ op: 0xea, mn: 'jmp far', ops: 'Ap', fn: ctl.jmpFarImm, flags: I64 | END });
  add({ op: 0xeb, mn: 'jmp', ops: 'Jb', fn: ctl.jmpRel, flags: F64 | END });
  add({ op: 0xec, mn: 'in', ops: 'AL,DX', fn: io.inInsn, flags: B });
  add({ op: 0xed, mn: 'in', ops: 'eAX,DX', fn: io.inInsn });
  add({ op: 0xee, mn: 'out', ops: 'DX,AL', fn: io.outInsn, flags: B });
  add({ op: 0xef, mn: 'out', ops: 'DX,eAX', fn: io.outInsn });

  // ---- F4-FF ----
  add({ op: 0xf4, mn: 'hlt', ops: '', fn: sys.hlt, flags: END });
  add({ op: 0xf5, mn: 'cmc', ops: '', fn: alu.cmc });
  const g3 = (op: number, b: number): void => {
    add({ op, reg: 0, mn: 'test', ops: b ? 'Eb,Ib' : 'Ev,Iz', fn: alu.testEI, flags: b, undef: AF });
    add({ op, reg: 1, mn: 'test', ops: b ? 'Eb,Ib' : 'Ev,Iz', fn: alu.testEI, flags: b, undef: AF });
    add({ op, reg: 2, mn: 'not', ops: b ? 'Eb' : 'Ev', fn: alu.notE, flags: b | LK });
    add({ op, reg: 3, mn: 'neg', ops: b ? 'Eb' : 'Ev', fn: alu.negE, flags: b | LK });
    add({ op, reg: 4, mn: 'mul', ops: b ? 'Eb' : 'Ev', fn: alu.mulE, arg: 0, flags: b, undef: SF | ZF | AF | PF });
    add({ op, reg: 5, mn: 'imul', ops: b ? 'Eb' : 'Ev', fn: alu.mulE, arg: 1, flags: b, undef: SF | ZF | AF | PF });
    add({ op, reg: 6, mn: 'div', ops: b ? 'Eb' : 'Ev', fn: alu.divE, arg: 0, flags: b, undef: CF | OF | SF | ZF | AF | PF });
    add({ op, reg: 7, mn: 'idiv', ops: b ? 'Eb' : 'Ev', fn: alu.divE, arg: 1, flags: b, undef: CF | OF | SF | ZF | AF | PF });
  };
  g3(0xf6, B); g3(0xf7, 0);
  add({ op: 0xf8, mn: 'clc', ops: '', fn: alu.clc });
  add({ op: 0xf9, mn: 'stc', ops: '', fn: alu.stc });
  add({ op: 0xfa, mn: 'cli', ops: '', fn: sys.cli });
  add({ op: 0xfb, mn: 'sti', ops: '', fn: sys.sti, flags: END });
  add({ op: 0xfc, mn: 'cld', ops: '', fn: sys.cld });
  add({ op: 0xfd, mn: 'std', ops: '', fn: sys.std });
  add({ op: 0xfe, reg: 0, mn: 'inc', ops: 'Eb', fn: alu.incE, flags: B | LK });
  add({ op: 0xfe, reg: 1, mn: 'dec', ops: 'Eb', fn: alu.decE, flags: B | LK });
  add({ op: 0xff, reg: 0, mn: 'inc', ops: 'Ev', fn: alu.incE, flags: LK });
  add({ op: 0xff, reg: 1, mn: 'dec', ops: 'Ev', fn: alu.decE, flags: LK });
  add({ op: 0xff, reg: 2, mn: 'call', ops: 'Ev', fn: ctl.callE, flags: F64 | END });
  add({ op: 0xff, reg: 3, mem: true, mn: 'call far', ops: 'Mp', fn: ctl.callFar, flags: END });
  add({ op: 0xff, reg: 4, mn: 'jmp', ops: 'Ev', fn: ctl.jmpE, flags: F64 | END });
  add({ op: 0xff, reg: 5, mem: true, mn: 'jmp far', ops: 'Mp', fn: ctl.jmpFarMem, flags: END });
  add({ op: 0xff, reg: 6, mn: 'push', ops: 'Ev', fn: mov.pushE, flags: D64 });

  // ---- two-byte map (0F xx) ----
  add({ op: 0x0f00, reg: 0, mn: 'sldt', ops: 'Ev', fn: sys.sldtStr });
  add({ op: 0x0f00, reg: 1, mn: 'str', ops: 'Ev', fn: sys.sldtStr });
  add({ op: 0x0f00, reg: 2, mn: 'lldt', ops: 'Ew', fn: sys.lldtInsn, flags: END });
  add({ op: 0x0f00, reg: 3, mn: 'ltr', ops: 'Ew', fn: sys.ltrInsn });
  add({ op: 0x0f00, reg: 4, mn: 'verr', ops: 'Ew', fn: sys.verrVerw });
  add({ op: 0x0f00, reg: 5, mn: 'verw', ops: 'Ew', fn: sys.verrVerw });
  add({ op: 0x0f01, reg: 0, mem: true, mn: 'sgdt', ops: 'Ms', fn: sys.sgdt });
  add({ op: 0x0f01, reg: 1, mem: true, mn: 'sidt', ops: 'Ms', fn: sys.sgdt });
  add({ op: 0x0f01, reg: 2, mem: true, mn: 'lgdt', ops: 'Ms', fn: sys.lgdt, flags: END });
  add({ op: 0x0f01, reg: 3, mem: true, mn: 'lidt', ops: 'Ms', fn: sys.lgdt });
  add({ op: 0x0f01, reg: 4, mn: 'smsw', ops: 'Ev', fn: sys.smsw });
  add({ op: 0x0f01, reg: 6, mn: 'lmsw', ops: 'Ew', fn: sys.lmsw, flags: END });
  add({ op: 0x0f01, reg: 7, mem: true, mn: 'invlpg', ops: 'Mb', fn: sys.invlpg, flags: END });
  // 0F 01 with mod = 3: the r/m field selects the instruction (Vol. 2D, Table A-6).
  // VMX instructions in the guest exit unconditionally (Vol. 3C, 26.1.2).
  add({ op: 0x0f01, reg: 0, mem: false, rm: 1, mn: 'vmcall', ops: '', fn: vmcall, prefix: NP, flags: END });
  add({ op: 0x0f01, reg: 0, mem: false, rm: 2, mn: 'vmlaunch', ops: '', fn: vmlaunch, prefix: NP, flags: END });
  add({ op: 0x0f01, reg: 0, mem: false, rm: 3, mn: 'vmresume', ops: '', fn: vmresume, prefix: NP, flags: END });
  add({ op: 0x0f01, reg: 0, mem: false, rm: 4, mn: 'vmxoff', ops: '', fn: vmxoff, prefix: NP, flags: END });
  // CPUID.01H:ECX.MONITOR[bit 3] = 0: MONITOR and MWAIT are #UD (Vol. 2B MONITOR/MWAIT), which has priority over MWAIT/MONITOR exiting.
  add({ op: 0x0f01, reg: 1, mem: false, rm: 0, mn: 'monitor', ops: '', fn: ctl.ud, prefix: NP });
  add({ op: 0x0f01, reg: 1, mem: false, rm: 1, mn: 'mwait', ops: '', fn: ctl.ud, prefix: NP });
  // CLAC/STAC (CPUID.07H:EBX.SMAP): exec/system.ts.
  add({ op: 0x0f01, reg: 1, mem: false, rm: 2, mn: 'clac', ops: '', fn: sys.clacStac, arg: 0, prefix: NP });
  add({ op: 0x0f01, reg: 1, mem: false, rm: 3, mn: 'stac', ops: '', fn: sys.clacStac, arg: 1, prefix: NP });
  // XGETBV/XSETBV (CPUID.01H:ECX.XSAVE; Vol. 2C XGETBV, XSETBV): exec/fpu.ts.
  add({ op: 0x0f01, reg: 2, mem: false, rm: 0, mn: 'xgetbv', ops: '', fn: fpu.xgetbv, prefix: NP });
  add({ op: 0x0f01, reg: 2, mem: false, rm: 1, mn: 'xsetbv', ops: '', fn: fpu.xsetbv, prefix: NP, flags: END });
  add({ op: 0x0f01, reg: 7, mem: false, rm: 0, mn: 'swapgs', ops: '', fn: swapgs, flags: O64 | END });
  add({ op: 0x0f01, reg: 7, mem: false, rm: 1, mn: 'rdtscp', ops: '', fn: sys.rdtscp });
  add({ op: 0x0f05, mn: 'syscall', ops: '', fn: sys.syscall, flags: O64 | END });
  add({ op: 0x0f06, mn: 'clts', ops: '', fn: sys.clts });
  add({ op: 0x0f07, mn: 'sysret', ops: '', fn: sys.sysret, flags: O64 | END });
  add({ op: 0x0f08, mn: 'invd', ops: '', fn: sys.invd });
  add({ op: 0x0f09, mn: 'wbinvd', ops: '', fn: sys.wbinvd });
  add({ op: 0x0f0b, mn: 'ud2', ops: '', fn: ctl.ud, flags: END });
  add({ op: 0x0f0d, mn: 'prefetch', ops: 'Mb', fn: mov.nop, mem: true }); // PREFETCH/PREFETCHW m8: mod = 3 is #UD
  for (let k = 0x18; k <= 0x1f; k++) add({ op: 0x0f00 + k, mn: k === 0x1f ? 'nop' : 'hint-nop', ops: 'Ev', fn: mov.nop });
  // MOV to/from CRn/DRn: ModRM.mod is ignored, the operand is always a register (Vol. 2B MOV CR).
  add({ op: 0x0f20, mn: 'mov', ops: 'Rd,Cd', fn: sys.movFromCr, regMask: 0x11d }); // CR0, CR2, CR3, CR4, CR8
  add({ op: 0x0f21, mn: 'mov', ops: 'Rd,Dd', fn: sys.movDr, regMask: 0xff });
  add({ op: 0x0f22, mn: 'mov', ops: 'Cd,Rd', fn: sys.movToCr, flags: END, regMask: 0x11d });
  add({ op: 0x0f23, mn: 'mov', ops: 'Dd,Rd', fn: sys.movDr, regMask: 0xff, flags: END }); // END: a new DR7 applies from the next instruction
  add({ op: 0x0f30, mn: 'wrmsr', ops: '', fn: sys.wrmsrInsn, flags: END });
  add({ op: 0x0f31, mn: 'rdtsc', ops: '', fn: sys.rdtsc });
  add({ op: 0x0f33, mn: 'rdpmc', ops: '', fn: sys.rdpmc });
  add({ op: 0x0f32, mn: 'rdmsr', ops: '', fn: sys.rdmsrInsn });
  add({ op: 0x0fa2, mn: 'cpuid', ops: '', fn: sys.cpuid });
  add({ op: 0x0fa3, mn: 'bt', ops: 'Ev,Gv', fn: alu.btOp, arg: 0, undef: OF | SF | AF | PF });
  add({ op: 0x0fab, mn: 'bts', ops: 'Ev,Gv', fn: alu.btOp, arg: 1, flags: LK, undef: OF | SF | AF | PF });
  add({ op: 0x0faf, mn: 'imul', ops: 'Gv,Ev', fn: alu.imulGE, undef: SF | ZF | AF | PF });
  // Double-precision shifts: OF is defined for 1-bit counts only, AF undefined (Vol. 2B SHLD/SHRD).
  add({ op: 0x0fa4, mn: 'shld', ops: 'Ev,Gv,Ib', fn: alu.shiftDouble, undef: OF | AF });
  add({ op: 0x0fa5, mn: 'shld', ops: 'Ev,Gv,CL', fn: alu.shiftDouble, undef: OF | AF });
  add({ op: 0x0fac, mn: 'shrd', ops: 'Ev,Gv,Ib', fn: alu.shiftDouble, undef: OF | AF });
  add({ op: 0x0fad, mn: 'shrd', ops: 'Ev,Gv,CL', fn: alu.shiftDouble, undef: OF | AF });
  // 0F AE group 15: FXSAVE/FXRSTOR (CPUID.01H:EDX.FXSR), LDMXCSR/STMXCSR (SSE), fences
  // (mod = 3), CLFLUSH (CPUID.01H:EDX.SSE2/CLFSH), XSAVE/XRSTOR (CPUID.01H:ECX.XSAVE;
  // REX.W: XSAVE64/XRSTOR64). XSAVEOPT (/6) is #UD: CPUID.(EAX=0DH,ECX=1):EAX[0] = 0.
  add({ op: 0x0fae, reg: 0, mem: true, mn: 'fxsave', ops: 'M', fn: fpu.fxsave, prefix: NP });
  add({ op: 0x0fae, reg: 1, mem: true, mn: 'fxrstor', ops: 'M', fn: fpu.fxrstor, prefix: NP });
  add({ op: 0x0fae, reg: 4, mem: true, mn: 'xsave', ops: 'M', fn: fpu.xsave, prefix: NP });
  add({ op: 0x0fae, reg: 5, mem: true, mn: 'xrstor', ops: 'M', fn: fpu.xrstor, prefix: NP });
  add({ op: 0x0fae, reg: 6, mem: true, mn: 'xsaveopt', ops: 'M', fn: ctl.ud, prefix: NP });
  add({ op: 0x0fae, reg: 2, mem: true, mn: 'ldmxcsr', ops: 'Md', fn: sse.ldmxcsr, prefix: NP });
  add({ op: 0x0fae, reg: 3, mem: true, mn: 'stmxcsr', ops: 'Md', fn: sse.stmxcsr, prefix: NP });
  add({ op: 0x0fae, reg: 5, mem: false, mn: 'lfence', ops: '', fn: mov.nop, prefix: NP });
  add({ op: 0x0fae, reg: 6, mem: false, mn: 'mfence', ops: '', fn: mov.nop, prefix: NP });
  add({ op: 0x0fae, reg: 7, mem: false, mn: 'sfence', ops: '', fn: mov.nop, prefix: NP });
  // F3 0F AE /0-/3 with mod = 3: RDFSBASE, RDGSBASE, WRFSBASE, WRGSBASE (CPUID.07H:EBX.FSGSBASE; Vol. 2C).
  add({ op: 0x0fae, reg: 0, mem: false, mn: 'rdfsbase', ops: 'Ry', fn: sys.fsgsbase, prefix: PFX_F3, flags: O64 });
  add({ op: 0x0fae, reg: 1, mem: false, mn: 'rdgsbase', ops: 'Ry', fn: sys.fsgsbase, prefix: PFX_F3, flags: O64 });
  add({ op: 0x0fae, reg: 2, mem: false, mn: 'wrfsbase', ops: 'Ry', fn: sys.fsgsbase, prefix: PFX_F3, flags: O64 });
  add({ op: 0x0fae, reg: 3, mem: false, mn: 'wrgsbase', ops: 'Ry', fn: sys.fsgsbase, prefix: PFX_F3, flags: O64 });
  add({ op: 0x0fae, reg: 7, mem: true, mn: 'clflush', ops: 'Mb', fn: mov.clflush, prefix: PFX_NOREP }); // 66: CLFLUSHOPT, same effect here
  add({ op: 0x0fb0, mn: 'cmpxchg', ops: 'Eb,Gb', fn: alu.cmpxchg, flags: B | LK });
  add({ op: 0x0fb1, mn: 'cmpxchg', ops: 'Ev,Gv', fn: alu.cmpxchg, flags: LK });
  add({ op: 0x0fb3, mn: 'btr', ops: 'Ev,Gv', fn: alu.btOp, arg: 2, flags: LK, undef: OF | SF | AF | PF });
  add({ op: 0x0fb8, mn: 'popcnt', ops: 'Gv,Ev', fn: alu.popcnt, prefix: PFX_F3 }); // CPUID.01H:ECX.POPCNT
  add({ op: 0x0fb9, mn: 'ud1', ops: 'Gv,Ev', fn: ctl.ud, flags: END });
  add({ op: 0x0fff, mn: 'ud0', ops: 'Gv,Ev', fn: ctl.ud, flags: END });
  add({ op: 0x0fc3, mn: 'movnti', ops: 'My,Gy', fn: mov.movnti, mem: true, prefix: NP }); // CPUID.01H:EDX.SSE2
  add({ op: 0x0fc7, reg: 1, mem: true, mn: 'cmpxchg8b', ops: 'Mq', fn: alu.cmpxchg8b, flags: LK }); // 16B with REX.W (CX8, CX16)
  // XRSTORS, XSAVEC, XSAVES: #UD, CPUID.(EAX=0DH,ECX=1):EAX[1] = EAX[3] = 0 (Vol. 2C XRSTORS/XSAVEC/XSAVES).
  add({ op: 0x0fc7, reg: 3, mem: true, mn: 'xrstors', ops: 'M', fn: ctl.ud, prefix: NP });
  add({ op: 0x0fc7, reg: 4, mem: true, mn: 'xsavec', ops: 'M', fn: ctl.ud, prefix: NP });
  add({ op: 0x0fc7, reg: 5, mem: true, mn: 'xsaves', ops: 'M', fn: ctl.ud, prefix: NP });
  add({ op: 0x0fb6, mn: 'movzx', ops: 'Gv,Eb', fn: mov.movzx });
  add({ op: 0x0fb7, mn: 'movzx', ops: 'Gv,Ew', fn: mov.movzx });
  for (let k = 4; k < 8; k++) {
    add({ op: 0x0fba, reg: k, mn: ['bt', 'bts', 'btr', 'btc'][k - 4]!, ops: 'Ev,Ib', fn: alu.btOp, flags: k > 4 ? LK : 0, undef: OF | SF | AF | PF });
  }
  add({ op: 0x0fbb, mn: 'btc', ops: 'Ev,Gv', fn: alu.btOp, arg: 3, flags: LK, undef: OF | SF | AF | PF });
  add({ op: 0x0fbc, mn: 'bsf', ops: 'Gv,Ev', fn: alu.bsfr, undef: CF | OF | SF | AF | PF });
  add({ op: 0x0fbd, mn: 'bsr', ops: 'Gv,Ev', fn: alu.bsfr, undef: CF | OF | SF | AF | PF });
  add({ op: 0x0fbe, mn: 'movsx', ops: 'Gv,Eb', fn: mov.movsx });
  add({ op: 0x0fbf, mn: 'movsx', ops: 'Gv,Ew', fn: mov.movsx });
  add({ op: 0x0fc0, mn: 'xadd', ops: 'Eb,Gb', fn: alu.xadd, flags: B | LK });
  add({ op: 0x0fc1, mn: 'xadd', ops: 'Ev,Gv', fn: alu.xadd, flags: LK });
  for (let r = 0; r < 8; r++) add({ op: 0x0fc8 + r, mn: 'bswap', ops: 'Zv', fn: alu.bswap });
  // VMX instructions in the guest exit unconditionally (Vol. 3C, 26.1.2).
  add({ op: 0x0f78, mn: 'vmread', ops: 'Ey,Gy', fn: sys.vmxInsn, arg: EXIT_REASON.VMREAD, prefix: NP }); // 66/F2: EXTRQ/INSERTQ
  add({ op: 0x0f79, mn: 'vmwrite', ops: 'Gy,Ey', fn: sys.vmxInsn, arg: EXIT_REASON.VMWRITE, prefix: NP });
  sseEntries(add);
  return t;
}

/**
 * SSE/SSE2 (CPUID.01H:EDX.SSE/SSE2): the moves and the 128-bit integer operations
 * compiled string/memory routines use (exec/sse.ts). Operands (Vol. 2D, A.2): V xmm in
 * ModRM.reg, W xmm or memory in r/m, U xmm in r/m (register only); ps/pd/ss/sd/x 128-bit
 * or scalar, q 64, d 32, y 32/64 by REX.W. arg: 1 = 16-byte aligned memory operand.
 * The MMX (no-prefix) forms of the integer instructions are not implemented
 * (UnimplementedError), nor are scalar/packed floating-point arithmetic and conversions.
 */
function sseEntries(add: (d: OpDef) => void): void {
  const P66 = PFX_66, F3 = PFX_F3, F2 = PFX_F2;
  // Vol. 2B MOVUPS/MOVUPD/MOVSS/MOVSD (0F 10/11), MOVAPS/MOVAPD (0F 28/29).
  add({ op: 0x0f10, prefix: NP, mn: 'movups', ops: 'Vps,Wps', fn: sse.movLoad, arg: 0 });
  add({ op: 0x0f10, prefix: P66, mn: 'movupd', ops: 'Vpd,Wpd', fn: sse.movLoad, arg: 0 });
  add({ op: 0x0f10, prefix: F3, mn: 'movss', ops: 'Vss,Wss', fn: sse.movScalarLoad, arg: 4 });
  add({ op: 0x0f10, prefix: F2, mn: 'movsd', ops: 'Vsd,Wsd', fn: sse.movScalarLoad, arg: 8 });
  add({ op: 0x0f11, prefix: NP, mn: 'movups', ops: 'Wps,Vps', fn: sse.movStore, arg: 0 });
  add({ op: 0x0f11, prefix: P66, mn: 'movupd', ops: 'Wpd,Vpd', fn: sse.movStore, arg: 0 });
  add({ op: 0x0f11, prefix: F3, mn: 'movss', ops: 'Wss,Vss', fn: sse.movScalarStore, arg: 4 });
  add({ op: 0x0f11, prefix: F2, mn: 'movsd', ops: 'Wsd,Vsd', fn: sse.movScalarStore, arg: 8 });
  add({ op: 0x0f28, prefix: NP, mn: 'movaps', ops: 'Vps,Wps', fn: sse.movLoad, arg: 1 });
  add({ op: 0x0f28, prefix: P66, mn: 'movapd', ops: 'Vpd,Wpd', fn: sse.movLoad, arg: 1 });
  add({ op: 0x0f29, prefix: NP, mn: 'movaps', ops: 'Wps,Vps', fn: sse.movStore, arg: 1 });
  add({ op: 0x0f29, prefix: P66, mn: 'movapd', ops: 'Wpd,Vpd', fn: sse.movStore, arg: 1 });
  // Vol. 2B MOVLPS/MOVHLPS, MOVLPD, MOVHPS/MOVLHPS, MOVHPD (0F 12/13/16/17).
  add({ op: 0x0f12, prefix: NP, mn: 'movlps', ops: 'Vq,Wq', fn: sse.movHalfLoad, arg: 0 }); // mod = 3: MOVHLPS
  add({ op: 0x0f12, prefix: P66, mn: 'movlpd', ops: 'Vq,Mq', fn: sse.movHalfLoad, arg: 0, mem: true });
  add({ op: 0x0f13, prefix: NP, mn: 'movlps', ops: 'Mq,Vq', fn: sse.movHalfStore, arg: 0, mem: true });
  add({ op: 0x0f13, prefix: P66, mn: 'movlpd', ops: 'Mq,Vq', fn: sse.movHalfStore, arg: 0, mem: true });
  add({ op: 0x0f16, prefix: NP, mn: 'movhps', ops: 'Vq,Wq', fn: sse.movHalfLoad, arg: 2 }); // mod = 3: MOVLHPS
  add({ op: 0x0f16, prefix: P66, mn: 'movhpd', ops: 'Vq,Mq', fn: sse.movHalfLoad, arg: 2, mem: true });
  add({ op: 0x0f17, prefix: NP, mn: 'movhps', ops: 'Mq,Vq', fn: sse.movHalfStore, arg: 2, mem: true });
  add({ op: 0x0f17, prefix: P66, mn: 'movhpd', ops: 'Mq,Vq', fn: sse.movHalfStore, arg: 2, mem: true });
  // Vol. 2B MOVNTPS, MOVNTPD (0F 2B), MOVNTDQ (66 0F E7): memory only, aligned.
  add({ op: 0x0f2b, prefix: NP, mn: 'movntps', ops: 'Mps,Vps', fn: sse.movStore, arg: 1, mem: true });
  add({ op: 0x0f2b, prefix: P66, mn: 'movntpd', ops: 'Mpd,Vpd', fn: sse.movStore, arg: 1, mem: true });
  add({ op: 0x0fe7, prefix: P66, mn: 'movntdq', ops: 'Mx,Vx', fn: sse.movStore, arg: 1, mem: true });
  // Vol. 2B MOVMSKPS, MOVMSKPD (0F 50), PMOVMSKB (66 0F D7): register source only.
  add({ op: 0x0f50, prefix: NP, mn: 'movmskps', ops: 'Gd,Ups', fn: sse.movmsk, arg: 4, mem: false });
  add({ op: 0x0f50, prefix: P66, mn: 'movmskpd', ops: 'Gd,Upd', fn: sse.movmsk, arg: 8, mem: false });
  add({ op: 0x0fd7, prefix: P66, mn: 'pmovmskb', ops: 'Gd,Ux', fn: sse.pmovmskb, mem: false });
  // Vol. 2A ANDPS/ANDPD/ANDNPS/ANDNPD, Vol. 2B ORPS/ORPD, Vol. 2C XORPS/XORPD (0F 54-57);
  // Vol. 2B PAND/PANDN/POR/PXOR (66 0F DB/DF/EB/EF).
  const LOGIC = [[0x54, 'and', 0], [0x55, 'andn', 1], [0x56, 'or', 2], [0x57, 'xor', 3]] as const;
  for (const [o, n, k] of LOGIC) {
    add({ op: 0x0f00 | o, prefix: NP, mn: n + 'ps', ops: 'Vps,Wps', fn: sse.logic, arg: k });
    add({ op: 0x0f00 | o, prefix: P66, mn: n + 'pd', ops: 'Vpd,Wpd', fn: sse.logic, arg: k });
  }
  add({ op: 0x0fdb, prefix: P66, mn: 'pand', ops: 'Vx,Wx', fn: sse.logic, arg: 0 });
  add({ op: 0x0fdf, prefix: P66, mn: 'pandn', ops: 'Vx,Wx', fn: sse.logic, arg: 1 });
  add({ op: 0x0feb, prefix: P66, mn: 'por', ops: 'Vx,Wx', fn: sse.logic, arg: 2 });
  add({ op: 0x0fef, prefix: P66, mn: 'pxor', ops: 'Vx,Wx', fn: sse.logic, arg: 3 });
  // Vol. 2B PUNPCKLBW/WD/DQ/QDQ (66 0F 60/61/62/6C), PUNPCKHBW/WD/DQ/QDQ (66 0F 68/69/6A/6D).
  const UNPCK = [[0x60, 'punpcklbw', 1], [0x61, 'punpcklwd', 2], [0x62, 'punpckldq', 4], [0x6c, 'punpcklqdq', 8],
    [0x68, 'punpckhbw', 17], [0x69, 'punpckhwd', 18], [0x6a, 'punpckhdq', 20], [0x6d, 'punpckhqdq', 24]] as const;
  for (const [o, mn, k] of UNPCK) add({ op: 0x0f00 | o, prefix: P66, mn, ops: 'Vx,Wx', fn: sse.punpck, arg: k });
  // Vol. 2B MOVD/MOVQ (66 0F 6E/7E), MOVQ (F3 0F 7E, 66 0F D6), MOVDQA/MOVDQU (66/F3 0F 6F/7F).
  // MMX moves (no prefix; exec/mmx.ts): kvm-unit-tests' emulator test moves MMX registers to and from MMIO
  add({ op: 0x0f6e, prefix: NP, mn: 'movd', ops: 'Pd,Ey', fn: mmx.movdToMm });
  add({ op: 0x0f7e, prefix: NP, mn: 'movd', ops: 'Ey,Pd', fn: mmx.movdFromMm });
  add({ op: 0x0f6f, prefix: NP, mn: 'movq', ops: 'Pq,Qq', fn: mmx.movqToMm });
  add({ op: 0x0f7f, prefix: NP, mn: 'movq', ops: 'Qq,Pq', fn: mmx.movqFromMm });
  add({ op: 0x0f77, prefix: NP, mn: 'emms', ops: '', fn: mmx.emms });
  add({ op: 0x0f6e, prefix: P66, mn: 'movd', ops: 'Vy,Ey', fn: sse.movdToXmm });
  add({ op: 0x0f7e, prefix: P66, mn: 'movd', ops: 'Ey,Vy', fn: sse.movdFromXmm });
  add({ op: 0x0f7e, prefix: F3, mn: 'movq', ops: 'Vq,Wq', fn: sse.movqLoad });
  add({ op: 0x0fd6, prefix: P66, mn: 'movq', ops: 'Wq,Vq', fn: sse.movqStore });
  add({ op: 0x0f6f, prefix: P66, mn: 'movdqa', ops: 'Vx,Wx', fn: sse.movLoad, arg: 1 });
  add({ op: 0x0f6f, prefix: F3, mn: 'movdqu', ops: 'Vx,Wx', fn: sse.movLoad, arg: 0 });
  add({ op: 0x0f7f, prefix: P66, mn: 'movdqa', ops: 'Wx,Vx', fn: sse.movStore, arg: 1 });
  add({ op: 0x0f7f, prefix: F3, mn: 'movdqu', ops: 'Wx,Vx', fn: sse.movStore, arg: 0 });
  // Vol. 2B PSHUFD, PSHUFHW, PSHUFLW (66/F3/F2 0F 70).
  add({ op: 0x0f70, prefix: P66, mn: 'pshufd', ops: 'Vx,Wx,Ib', fn: sse.pshuf, arg: 0 });
  add({ op: 0x0f70, prefix: F2, mn: 'pshuflw', ops: 'Vx,Wx,Ib', fn: sse.pshuf, arg: 1 });
  add({ op: 0x0f70, prefix: F3, mn: 'pshufhw', ops: 'Vx,Wx,Ib', fn: sse.pshuf, arg: 2 });
  // Groups 12-14 (66 0F 71/72/73, Vol. 2D Table A-6): shifts of an XMM register by imm8.
  const { SH_RL, SH_RA, SH_LL } = sse;
  const SHIFTS = [[0x71, 2, 'psrlw', 0x20 | SH_RL], [0x71, 4, 'psraw', 0x20 | SH_RA], [0x71, 6, 'psllw', 0x20 | SH_LL],
    [0x72, 2, 'psrld', 0x40 | SH_RL], [0x72, 4, 'psrad', 0x40 | SH_RA], [0x72, 6, 'pslld', 0x40 | SH_LL],
    [0x73, 2, 'psrlq', 0x80 | SH_RL], [0x73, 3, 'psrldq', 0x100 | SH_RL], [0x73, 6, 'psllq', 0x80 | SH_LL],
    [0x73, 7, 'pslldq', 0x100 | SH_LL]] as const;
  for (const [o, reg, mn, k] of SHIFTS) add({ op: 0x0f00 | o, reg, mem: false, prefix: P66, mn, ops: 'Ux,Ib', fn: sse.pshiftImm, arg: k });
  // Vol. 2B PCMPEQB/W/D (66 0F 74/75/76), PADDB/W/D/Q (66 0F FC/FD/FE/D4), PSUBB/W/D/Q
  // (66 0F F8/F9/FA/FB), PMINUB/PMAXUB (66 0F DA/DE).
  add({ op: 0x0f74, prefix: P66, mn: 'pcmpeqb', ops: 'Vx,Wx', fn: sse.pcmpeq, arg: 1 });
  add({ op: 0x0f75, prefix: P66, mn: 'pcmpeqw', ops: 'Vx,Wx', fn: sse.pcmpeq, arg: 2 });
  add({ op: 0x0f76, prefix: P66, mn: 'pcmpeqd', ops: 'Vx,Wx', fn: sse.pcmpeq, arg: 4 });
  const ARITH = [[0xfc, 'paddb', 1], [0xfd, 'paddw', 2], [0xfe, 'paddd', 4], [0xd4, 'paddq', 8],
    [0xf8, 'psubb', 17], [0xf9, 'psubw', 18], [0xfa, 'psubd', 20], [0xfb, 'psubq', 24]] as const;
  for (const [o, mn, k] of ARITH) add({ op: 0x0f00 | o, prefix: P66, mn, ops: 'Vx,Wx', fn: sse.paddsub, arg: k });
  add({ op: 0x0fda, prefix: P66, mn: 'pminub', ops: 'Vx,Wx', fn: sse.pminmaxub, arg: 0 });
  add({ op: 0x0fde, prefix: P66, mn: 'pmaxub', ops: 'Vx,Wx', fn: sse.pminmaxub, arg: 1 });
  // Vol. 2B PCMPGTB/W/D (66 0F 64/65/66).
  add({ op: 0x0f64, prefix: P66, mn: 'pcmpgtb', ops: 'Vx,Wx', fn: sse.pcmpgt, arg: 1 });
  add({ op: 0x0f65, prefix: P66, mn: 'pcmpgtw', ops: 'Vx,Wx', fn: sse.pcmpgt, arg: 2 });
  add({ op: 0x0f66, prefix: P66, mn: 'pcmpgtd', ops: 'Vx,Wx', fn: sse.pcmpgt, arg: 4 });
  // Vol. 2B PADDUSB/W (66 0F DC/DD), PSUBUSB/W (66 0F D8/D9), PADDSB/W (66 0F EC/ED), PSUBSB/W (66 0F E8/E9).
  const { SAT_SIGNED: SS_, SAT_SUB: SB_ } = sse;
  const SAT = [[0xdc, 'paddusb', 1], [0xdd, 'paddusw', 2], [0xd8, 'psubusb', 1 | SB_], [0xd9, 'psubusw', 2 | SB_],
    [0xec, 'paddsb', 1 | SS_], [0xed, 'paddsw', 2 | SS_], [0xe8, 'psubsb', 1 | SS_ | SB_], [0xe9, 'psubsw', 2 | SS_ | SB_]] as const;
  for (const [o, mn, k] of SAT) add({ op: 0x0f00 | o, prefix: P66, mn, ops: 'Vx,Wx', fn: sse.paddsubSat, arg: k });
  // Vol. 2B PMINSW/PMAXSW (66 0F EA/EE), PAVGB/PAVGW (66 0F E0/E3).
  add({ op: 0x0fea, prefix: P66, mn: 'pminsw', ops: 'Vx,Wx', fn: sse.pminmaxsw, arg: 0 });
  add({ op: 0x0fee, prefix: P66, mn: 'pmaxsw', ops: 'Vx,Wx', fn: sse.pminmaxsw, arg: 1 });
  add({ op: 0x0fe0, prefix: P66, mn: 'pavgb', ops: 'Vx,Wx', fn: sse.pavg, arg: 1 });
  add({ op: 0x0fe3, prefix: P66, mn: 'pavgw', ops: 'Vx,Wx', fn: sse.pavg, arg: 2 });
  // Vol. 2B PMULLW (66 0F D5), PMULHW (E5), PMULHUW (E4), PMULUDQ (F4), PMADDWD (F5), PSADBW (F6).
  add({ op: 0x0fd5, prefix: P66, mn: 'pmullw', ops: 'Vx,Wx', fn: sse.pmul, arg: sse.MUL_LW });
  add({ op: 0x0fe5, prefix: P66, mn: 'pmulhw', ops: 'Vx,Wx', fn: sse.pmul, arg: sse.MUL_HW });
  add({ op: 0x0fe4, prefix: P66, mn: 'pmulhuw', ops: 'Vx,Wx', fn: sse.pmul, arg: sse.MUL_HUW });
  add({ op: 0x0ff4, prefix: P66, mn: 'pmuludq', ops: 'Vx,Wx', fn: sse.pmul, arg: sse.MUL_UDQ });
  add({ op: 0x0ff5, prefix: P66, mn: 'pmaddwd', ops: 'Vx,Wx', fn: sse.pmul, arg: sse.MUL_ADDWD });
  add({ op: 0x0ff6, prefix: P66, mn: 'psadbw', ops: 'Vx,Wx', fn: sse.psadbw });
  // Vol. 2B PACKSSWB (66 0F 63), PACKSSDW (66 0F 6B), PACKUSWB (66 0F 67).
  add({ op: 0x0f63, prefix: P66, mn: 'packsswb', ops: 'Vx,Wx', fn: sse.pack, arg: 0 });
  add({ op: 0x0f6b, prefix: P66, mn: 'packssdw', ops: 'Vx,Wx', fn: sse.pack, arg: 1 });
  add({ op: 0x0f67, prefix: P66, mn: 'packuswb', ops: 'Vx,Wx', fn: sse.pack, arg: 2 });
  // Shifts by the low quadword of xmm/m128 (Vol. 2B PSRLW/D/Q 66 0F D1-D3, PSRAW/D E1/E2, PSLLW/D/Q F1-F3).
  const XSH = [[0xd1, 'psrlw', 0x20 | SH_RL], [0xd2, 'psrld', 0x40 | SH_RL], [0xd3, 'psrlq', 0x80 | SH_RL],
    [0xe1, 'psraw', 0x20 | SH_RA], [0xe2, 'psrad', 0x40 | SH_RA],
    [0xf1, 'psllw', 0x20 | SH_LL], [0xf2, 'pslld', 0x40 | SH_LL], [0xf3, 'psllq', 0x80 | SH_LL]] as const;
  for (const [o, mn, k] of XSH) add({ op: 0x0f00 | o, prefix: P66, mn, ops: 'Vx,Wx', fn: sse.pshiftXmm, arg: k });
  // Vol. 2C SHUFPS (0F C6), SHUFPD (66 0F C6); Vol. 2B PEXTRW (66 0F C5, register only), PINSRW (66 0F C4).
  add({ op: 0x0fc6, prefix: NP, mn: 'shufps', ops: 'Vps,Wps,Ib', fn: sse.shufp, arg: 4 });
  add({ op: 0x0fc6, prefix: P66, mn: 'shufpd', ops: 'Vpd,Wpd,Ib', fn: sse.shufp, arg: 8 });
  add({ op: 0x0fc5, prefix: P66, mn: 'pextrw', ops: 'Gd,Ux,Ib', fn: sse.pextrw, mem: false });
  add({ op: 0x0fc4, prefix: P66, mn: 'pinsrw', ops: 'Vx,Ew,Ib', fn: sse.pinsrw });
}

// ---- small dispatchers for encodings selected by prefixes or ModRM.rm ----
import type { Cpu } from './cpu.js';
import { markPure, type Insn } from './insn.js';

/** 90: NOP; F3 90: PAUSE; REX.B 90: XCHG r8, rAX. */
function nopOrPause(cpu: Cpu, i: Insn): void {
  if (i.rex & 1) { mov.xchgAR(cpu, i); return; }
  if (i.rep === 1) sys.pause(cpu, i);
}
markPure(nopOrPause); // reads neither RIP nor the instruction count (insn.ts); PAUSE exits by throwing
/** 0F 01 C1-C4: VMCALL, VMLAUNCH, VMRESUME, VMXOFF exit unconditionally (Vol. 3C, 26.1.2). */
function vmcall(cpu: Cpu, i: Insn): void { cpu.vmexit(EXIT_REASON.VMCALL, 0, i.len); }
function vmlaunch(cpu: Cpu, i: Insn): void { cpu.vmexit(EXIT_REASON.VMLAUNCH, 0, i.len); }
function vmresume(cpu: Cpu, i: Insn): void { cpu.vmexit(EXIT_REASON.VMRESUME, 0, i.len); }
function vmxoff(cpu: Cpu, i: Insn): void { cpu.vmexit(EXIT_REASON.VMXOFF, 0, i.len); }
function swapgs(cpu: Cpu): void { sys.swapgs(cpu); }

export const OPCODES: readonly OpDef[] = build();
