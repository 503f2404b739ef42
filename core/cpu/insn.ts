/**
 * A decoded instruction. The decoder fills one of these per instruction once;
 * it is cached (inside a Block) and executed many times, so every decision
 * that depends only on the bytes and the mode is taken here, at decode time.
 */
import type { Cpu } from './cpu.js';

export type Handler = (cpu: Cpu, i: Insn) => void;
/** Effective-address function: returns the linear address of the memory operand. */
export type EaFn = (cpu: Cpu, i: Insn) => number;

export class Insn {
  /** The handler from the opcode table. */
  fn: Handler;
  /** Total length in bytes (prefixes, opcode, ModRM, SIB, displacement, immediates). */
  len = 0;
  /** Opcode: 0x00-0xff one-byte map, 0x100-0x1ff the 0F map. */
  op = 0;
  /** Mnemonic from the opcode table (for messages and tests). */
  mn = '';
  /** Operand size and address size in bytes: 2, 4 or 8. */
  osz = 4;
  asz = 4;
  /** ModRM fields; reg and rm include REX.R / REX.B. mod === 3 means a register operand. */
  mod = 3;
  reg = 0;
  rm = 0;
  /** Memory operand: base and index register (-1 for none), scale shift, displacement. */
  base = -1;
  index = -1;
  scale = 0;
  disp = 0;
  /** Segment of the memory operand (after overrides). */
  seg = 3;
  /** Computes the linear address of the memory operand. */
  ea: EaFn;
  /** Immediates: imm (low 32 bits, sign-extended where the SDM says), immHi, imm2 (second immediate: ENTER's Ib, far pointer selector). */
  imm = 0;
  immHi = 0;
  imm2 = 0;
  /** 0 none, 1 REP/REPE (F3), 2 REPNE (F2). */
  rep = 0;
  lock = false;
  /** The REX byte (0 if none). */
  rex = 0;
  /** Parameter from the opcode table entry (ALU operation, condition code, ...). */
  arg = 0;
  /** Decode flags from the opcode table entry. */
  flags = 0;

  constructor(fn: Handler, ea: EaFn) {
    this.fn = fn;
    this.ea = ea;
  }
}

/** Decode flags of opcode table entries. */
export const IF_BLOCK_END = 1;   // ends a block: control transfer or a change of mode/paging/interruptibility
export const IF_D64 = 2;         // default operand size 64 in 64-bit mode (PUSH/POP/...)
export const IF_F64 = 4;         // operand size forced to 64 in 64-bit mode (near branches, Intel)
export const IF_I64 = 8;         // invalid in 64-bit mode (#UD)
export const IF_O64 = 16;        // valid only in 64-bit mode
export const IF_BYTE = 32;       // byte operand size
export const IF_LOCKABLE = 64;   // LOCK prefix allowed (with a memory destination)
export const IF_REP = 128;       // REP prefix meaningful (string instructions)
