/**
 * A decoded instruction. The decoder fills one of these per instruction once;
 * it is cached (inside a Block) and executed many times, so every decision
 * that depends only on the bytes and the mode is taken here, at decode time.
 */
import type { Cpu } from './cpu.js';

export type Handler = (cpu: Cpu, i: Insn) => void;

/** Insn.sync values. */
export const SYNC_NONE = 0, SYNC_NEXT = 1, SYNC_FULL = 2;
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
  /**
   * Registers resolved at decode time for specialized handlers (destination,
   * source), so they need no ModRM direction or REX logic when they run.
   */
  r0 = 0;
  r1 = 0;
  /**
   * Set by the block builder. `sync`: what the run loop stores before calling
   * the handler - SYNC_FULL: rip, ripNext and icount (the handler may read
   * them, or deliver an event); SYNC_NEXT: ripNext only (RIP-relative
   * operands, relative branches); SYNC_NONE: nothing. Whatever it did not
   * store, the loop restores if the handler throws. `off` / `next`: byte
   * offset of this instruction / of the next one from the start of its block.
   */
  sync = SYNC_FULL;
  off = 0;
  next = 0;

  constructor(fn: Handler, ea: EaFn) {
    this.fn = fn;
    this.ea = ea;
  }
}

/**
 * Handlers that never read or write cpu.rip, cpu.ripNext or cpu.icount and
 * deliver no event themselves (they may fault or exit by throwing: the run
 * loop then restores rip and icount). Memory operands are excepted: a
 * RIP-relative EA reads ripNext, so such instructions are always synced.
 */
const PURE = new Set<Handler>();
export function markPure(...fns: Handler[]): void { for (const f of fns) PURE.add(f); }
export function isPure(fn: Handler): boolean { return PURE.has(fn); }
/**
 * Control transfers that read and write cpu.ripNext but never cpu.rip or
 * cpu.icount (relative and indirect near branches, CALL, RET, LOOP): the run
 * loop stores only ripNext before them and takes RIP from it after.
 */
const NEXT_ONLY = new Set<Handler>();
export function markNextOnly(...fns: Handler[]): void { for (const f of fns) NEXT_ONLY.add(f); }
export function isNextOnly(fn: Handler): boolean { return NEXT_ONLY.has(fn); }
/**
 * Pure handlers that access no memory at all (register operands only): they
 * cannot set cpu.codeDirty, so a compiled block skips the check after them.
 */
const REG_ONLY = new Set<Handler>();
export function markRegOnly(...fns: Handler[]): void { for (const f of fns) { PURE.add(f); REG_ONLY.add(f); } }
export function isRegOnly(fn: Handler): boolean { return REG_ONLY.has(fn); }

/**
 * Decode-time specialization: a table handler may register a specializer
 * that, given a decoded instruction, returns a handler for exactly that form
 * (register operands, a size, an operation, a constant count), or undefined
 * to keep the table's handler. The opcode table stays the single source of
 * which instruction an encoding is; a specialized handler must compute
 * exactly what the table's handler computes for that form.
 */
export type Specializer = (i: Insn) => Handler | undefined;
const SPECS = new Map<Handler, Specializer>();
export function addSpecializer(fn: Handler, spec: Specializer): void { SPECS.set(fn, spec); }
/** Replace i.fn by its specialized handler, if there is one for this form. */
export function specialize(i: Insn): void {
  const sp = SPECS.get(i.fn);
  if (sp === undefined) return;
  const f = sp(i);
  if (f !== undefined) i.fn = f;
}

/**
 * Address forms: a handler with a memory operand whose first effect is
 * computing its effective address may register a variant taking that
 * address as a third argument. A compiled block (block.ts) then calls the
 * instruction's EA function itself, from a call site of its own that V8
 * can inline, instead of the handler's shared (megamorphic) i.ea call.
 */
export type AddrHandler = (cpu: Cpu, i: Insn, a: number) => void;
const ADDR_FORMS = new Map<Handler, AddrHandler>();
export function addAddrForm(fn: Handler, fa: AddrHandler): void { ADDR_FORMS.set(fn, fa); }
export function addrForm(fn: Handler): AddrHandler | undefined { return ADDR_FORMS.get(fn); }

/** Decode flags of opcode table entries. */
export const IF_BLOCK_END = 1;   // ends a block: control transfer or a change of mode/paging/interruptibility
export const IF_D64 = 2;         // default operand size 64 in 64-bit mode (PUSH/POP/...)
export const IF_F64 = 4;         // operand size forced to 64 in 64-bit mode (near branches, Intel)
export const IF_I64 = 8;         // invalid in 64-bit mode (#UD)
export const IF_O64 = 16;        // valid only in 64-bit mode
export const IF_BYTE = 32;       // byte operand size
export const IF_LOCKABLE = 64;   // LOCK prefix allowed (with a memory destination)
export const IF_REP = 128;       // REP prefix meaningful (string instructions)
