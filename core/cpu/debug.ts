/**
 * Debug exceptions (SDM Vol. 3A, chapter 18 "Debug, Branch Profile, TSC, and
 * Intel Resource Director Technology Features": 18.2 debug registers, 18.3
 * debug exceptions; 6.8.3 "Masking Exceptions and Interrupts When Switching
 * Stacks"; Vol. 3A Table 6-2 priorities).
 *
 * - Single-step (RFLAGS.TF, 18.3.1.4): a trap-class #DB after an instruction
 *   that began with TF = 1, DR6.BS = 1. Not after the POPF/IRET that sets TF
 *   (TF was 0 when it began), after the POPF that clears it (it was 1); not
 *   after INT n, INT3, INTO or INT1, whose delivery clears TF. One trap per
 *   iteration of a REP string instruction (each iteration retires here).
 *   SYSCALL and SYSRET go by TF as they leave it: none after a SYSCALL whose
 *   RFLAGS mask clears TF, one after a SYSRET that loads TF = 1 from R11 (as
 *   kvm-unit-tests `syscall` expects of Intel processors; SYSRET notes it in
 *   DebugState.trapNext, since it may run on the fast path).
 * - Instruction breakpoints (DR0-DR3 with L or G enabled and R/W = 00,
 *   18.2.4, 18.3.1.1): a fault-class #DB before the instruction at that
 *   linear address executes, DR6.Bn = 1, unless RFLAGS.RF = 1. RF is cleared
 *   when an instruction completes (IRET loads it), so the handler returns with
 *   RF = 1 in the frame to run the instruction once (18.3.1.1). Fault-class
 *   #DB does not set RF in the pushed RFLAGS (interrupts.ts FAULT_VECTORS).
 * - Data breakpoints (R/W = 01 write, 11 read or write; LEN 1, 2, 4 or 8
 *   bytes, the address aligned down to LEN, 18.2.5, 18.3.1.2): a trap after
 *   the instruction, DR6.Bn = 1. An access is matched by its first byte
 *   only (an unaligned access that starts before the range and reaches into
 *   it is not caught; the SDM lets "unaligned" accesses go undetected,
 *   18.2.5). Implemented without cost in the hot path: while data
 *   breakpoints are armed their pages are never entered in the software TLB,
 *   so each access to them goes through Cpu.translate, which checks them.
 *   Implicit supervisor accesses (descriptor tables, IDT, TSS) and fetches
 *   are not matched. I/O breakpoints (R/W = 10) are not modelled.
 * - General detect (DR7.GD, 18.3.1.3): MOV DR is a fault-class #DB with
 *   DR6.BD = 1, before the MOV-DR VM exit (Vol. 3C 26.1.1); delivery clears
 *   DR7.GD.
 * - DR6: B0-B3 are replaced by the breakpoint matches of each #DB (0 for a
 *   single-step or general-detect #DB); BD, BS are set and never cleared by
 *   the processor (18.2.3). INT1/ICEBP (F1, a privileged software exception,
 *   Vol. 3C 25.8.3 type 5) does not change DR6.
 * - MOV SS / POP SS (6.8.3): debug traps of that instruction are held until
 *   the next instruction completes and then delivered with that
 *   instruction's own (one #DB). If that next instruction faults the held
 *   traps are lost; if it is INT1 they are dropped (its #DB replaces them);
 *   after INT n / INT3 they are delivered at the first instruction of the
 *   handler (on the handler's stack frame).
 * - A #DB intercepted by the exception bitmap (Vol. 3C 27.1, 28.2.1): the
 *   exit qualification holds B0-B3, BD and BS; DR6 and DR7 are unchanged.
 *
 * The run loop (cpu.ts runBlocks) sends execution here, one instruction at a
 * time, only while RFLAGS.TF or RF is 1 or DR7 enables a breakpoint: one test
 * per block; the hot path does not change.
 */
import type { Cpu } from './cpu.js';
import { NO_TAG } from './cpu.js';
import { ACC_W, ACC_X, ACC_SYS } from './access.js';
import { CS, TF, RF, DB } from './regs.js';
import { deliverEvent, T_HWEXC } from './interrupts.js';

/** DR6 (18.2.3): B0-B3, BD (general detect), BS (single step); bits 4-11 and 16-31 read as 1, 12 as 0 (no RTM). */
export const DR6_BN = 0xf, DR6_BD = 1 << 13, DR6_BS = 1 << 14, DR6_WRITABLE = 0xe00f, DR6_FIXED1 = 0xffff0ff0;
/** DR7 (18.2.4): L0/G0..L3/G3 in bits 7:0, GD bit 13; bit 10 reads as 1, bits 12, 14, 15 as 0. */
export const DR7_ENABLES = 0xff, DR7_GD = 1 << 13, DR7_FIXED1 = 0x400, DR7_RESERVED0 = 0xd000;
/** Opcode of INT1/ICEBP (Insn.op). */
const OP_INT1 = 0xf1;
/** Opcode of IRET (it loads RF instead of clearing it). */
const OP_IRET = 0xcf;
/** Opcodes of SYSCALL (0F 05) and SYSRET (0F 07) in Insn.op numbering. */
const OP_SYSCALL = 0x105, OP_SYSRET = 0x107;

/** Per-processor debug state (kept out of the hot Cpu fields). */
export class DebugState {
  /** DR6 bits of the #DB being raised (B0-B3, BD, BS); consumed by deliverEvent. */
  qual = 0;
  /** Data-breakpoint matches of the current instruction (B0-B3). */
  data = 0;
  /** Debug traps held by MOV SS / POP SS, delivered after the instruction that starts at icount pendingAt. */
  pending = 0; pendingAt = -1;
  /** A single-step trap owed by the previous instruction (SYSRET loading TF = 1), delivered before the next one. */
  trapNext = false;
  /** Events delivered through the IDT (a software interrupt inside an instruction shows as a change). */
  delivered = 0;
  /** Armed data breakpoints: [lo, hi) linear ranges, DR6 bit, write-only. */
  watchN = 0;
  readonly wLo = new Float64Array(4);
  readonly wHi = new Float64Array(4);
  readonly wBit = new Int32Array(4);
  readonly wWrite = new Uint8Array(4);
  /** DR0-DR3 and DR7 the watch list was computed from (NaN: recompute). */
  readonly seen = new Float64Array(5).fill(NaN);
}

/** Recompute the armed data breakpoints when DR0-DR3 or DR7 changed; flush the TLB so their pages leave it. */
function syncWatch(cpu: Cpu): void {
  const d = cpu.dbg, dr = cpu.dr;
  if (d.seen[0] === dr[0] && d.seen[1] === dr[1] && d.seen[2] === dr[2] && d.seen[3] === dr[3] && d.seen[4] === dr[7]) return;
  for (let n = 0; n < 4; n++) d.seen[n] = dr[n]!;
  d.seen[4] = dr[7]!;
  const dr7 = dr[7]!;
  d.watchN = 0;
  for (let n = 0; n < 4; n++) {
    if (((dr7 >>> (2 * n)) & 3) === 0) continue;
    const rw = (dr7 >>> (16 + 4 * n)) & 3;
    if (rw !== 1 && rw !== 3) continue;
    const len = [1, 2, 8, 4][(dr7 >>> (18 + 4 * n)) & 3]!;
    const a = cpu.mode === 8 ? dr[n]! : dr[n]! % 0x1_0000_0000;
    const lo = a - (((a % len) + len) % len);
    const k = d.watchN++;
    d.wLo[k] = lo; d.wHi[k] = lo + len; d.wBit[k] = 1 << n; d.wWrite[k] = rw === 1 ? 1 : 0;
  }
  cpu.flushTlb();
}

/**
 * Called by Cpu.translate (the TLB-miss path) while data breakpoints are armed:
 * records a match and keeps a page holding a breakpoint out of the TLB.
 */
export function watchAccess(cpu: Cpu, lin: number, acc: number, idx: number): void {
  const d = cpu.dbg;
  if ((cpu.dr[7]! & DR7_ENABLES) === 0) { d.watchN = 0; d.seen[4] = NaN; return; } // disarmed since: forget them
  if (acc & (ACC_X | ACC_SYS)) return;
  const base = lin - (lin & 0xfff);
  let onPage = false;
  for (let k = 0; k < d.watchN; k++) {
    const lo = d.wLo[k]!, hi = d.wHi[k]!;
    if (lo < base + 4096 && hi > base) onPage = true;
    if (lin >= lo && lin < hi && (d.wWrite[k] === 0 || (acc & ACC_W) !== 0)) d.data |= d.wBit[k]!;
  }
  if (onPage) cpu.tlbTag[idx] = NO_TAG;
}

/** Instruction-breakpoint matches (B0-B3) for the instruction at the current RIP. */
function codeBreakpoints(cpu: Cpu): number {
  const dr7 = cpu.dr[7]!;
  const lin = cpu.mode === 8 ? cpu.rip : (cpu.rip + cpu.segBaseEff[CS]!) % 0x1_0000_0000;
  let hits = 0;
  for (let n = 0; n < 4; n++) {
    if (((dr7 >>> (2 * n)) & 3) === 0 || ((dr7 >>> (16 + 4 * n)) & 3) !== 0) continue;
    const a = cpu.mode === 8 ? cpu.dr[n]! : cpu.dr[n]! % 0x1_0000_0000;
    if (a === lin) hits |= 1 << n;
  }
  return hits;
}

/** Raise a fault-class #DB (instruction breakpoint, general detect) with these DR6 bits. */
export function debugFault(cpu: Cpu, bits: number): never {
  cpu.dbg.qual = bits;
  return cpu.fault(DB);
}

/**
 * DR6 and DR7 as delivery of a #DB with DR6 bits `q` through the IDT leaves
 * them (18.2.3, 18.3.1.3): B0-B3 replaced, BD/BS set, GD cleared for BD.
 */
export function debugDelivered(cpu: Cpu, q: number): void {
  cpu.dr[6] = (((cpu.dr[6]! & ~DR6_BN) | q) >>> 0);
  if (q & DR6_BD) cpu.dr[7] = (cpu.dr[7]! & ~DR7_GD) >>> 0;
}

/**
 * Run one instruction with the debug checks above (the run loop calls this
 * instead of its fast paths while TF, RF or a DR7 enable is set).
 */
export function stepDebug(cpu: Cpu): void {
  const d = cpu.dbg;
  syncWatch(cpu);
  if (d.trapNext) {
    // SYSRET loaded TF = 1 (on the fast path): its single-step trap, RIP at the next instruction.
    d.trapNext = false; d.qual = DR6_BS;
    deliverEvent(cpu, DB, T_HWEXC, -1, 0);
    return;
  }
  const f0 = cpu.flagsRest;
  const ic = cpu.icount;
  // Instruction breakpoints: fault class, priority 7 of Table 6-2 (after traps of the previous
  // instruction, NMIs and interrupts, before fetch faults); suppressed by RF and, here, by MOV SS blocking.
  const movSs = ic === cpu.shadowAt && cpu.shadowKind === 2;
  if ((f0 & RF) === 0 && (cpu.dr[7]! & DR7_ENABLES) !== 0 && !movSs) {
    const hits = codeBreakpoints(cpu);
    if (hits !== 0) { d.pending = 0; debugFault(cpu, hits); }
  }
  const held = d.pendingAt === ic ? d.pending : 0;
  d.pending = 0; d.pendingAt = -1;
  const i = cpu.blockAt(cpu.rip).insns[0]!;
  d.data = 0;
  const del0 = d.delivered;
  cpu.ripNext = cpu.rip + i.len;
  i.fn(cpu, i); // a fault or VM exit propagates: held traps are lost with it
  cpu.rip = cpu.ripNext;
  cpu.icount = ic + 1;
  cpu.codeDirty = false;
  if (i.op !== OP_IRET) cpu.flagsRest &= ~RF; // 18.3.1.1: cleared on completion (IRET loads it)
  const swEvent = d.delivered !== del0;
  let bits = d.data;
  if (i.op === OP_SYSCALL || i.op === OP_SYSRET) {
    d.trapNext = false;
    if ((cpu.flagsRest & TF) !== 0) bits |= DR6_BS; // TF as SYSCALL/SYSRET leave it
  } else if ((f0 & TF) !== 0 && !swEvent) bits |= DR6_BS;
  if (i.op === OP_INT1 && swEvent) return; // its #DB replaces held traps and its own
  if (cpu.shadowKind === 2 && cpu.shadowAt === cpu.icount) {
    // MOV SS / POP SS: hold the traps until after the next instruction (6.8.3).
    if ((bits | held) !== 0) { d.pending = bits | held; d.pendingAt = cpu.icount; }
    return;
  }
  bits |= held;
  if (bits === 0) return;
  d.qual = bits;
  deliverEvent(cpu, DB, T_HWEXC, -1, 0);
}

/**
 * VM entry with pending debug exceptions (Vol. 3C 27.7.3 "Delivery of Pending Debug Exceptions after
 * VM Entry"; called when no event is injected): B3:0 or BS (bit 12 "enabled breakpoint" and the RTM bit
 * aside) make a #DB trap that is delivered before the first guest instruction - it ends the HLT state -
 * or, with blocking by MOV SS, after that instruction. The field replaces any traps held before.
 */
export function debugPendingAtEntry(cpu: Cpu, field: number): void {
  const d = cpu.dbg;
  d.pending = 0; d.pendingAt = -1; d.trapNext = false;
  const bits = field & (DR6_BN | DR6_BS);
  if (bits === 0) return;
  if (cpu.icount === cpu.shadowAt && cpu.shadowKind === 2) { d.pending = bits; d.pendingAt = cpu.icount; return; }
  cpu.halted = false;
  d.qual = bits;
  deliverEvent(cpu, DB, T_HWEXC, -1, 0);
}

/** The pending debug exceptions a VM exit saves (28.3.4): the traps MOV SS holds for the next instruction. */
export function debugPendingAtExit(cpu: Cpu): number {
  const d = cpu.dbg;
  return (d.pendingAt === cpu.icount ? d.pending : 0) | (d.trapNext ? DR6_BS : 0);
}
