/**
 * Event delivery: exceptions, software and external interrupts through the
 * guest IDT (SDM Vol. 3A, chapter 6 "Interrupt and Exception Handling":
 * 6.12 protected mode, 6.14 64-bit mode with IST, 6.15 exception classes,
 * Table 6-5 "Conditions for Generating a Double Fault"), or as a VM exit
 * when the exception bitmap says so (Vol. 3C, 26.2 "Other Causes of VM
 * Exits": exceptions; 25.6.3 "Exception Bitmap").
 */
import type { Cpu } from './cpu.js';
import { EXIT_REASON } from '../vmx/exit-reasons.js';
import { CPU_FAULT, VM_EXIT } from './fault.js';
import { pfState } from './mmu.js';
import { getArith } from './flags.js';
import { PIN_BASED, PROC_BASED } from '../vmx/capabilities.js';
import {
  CS, SS, TR, RSP, IF, TF, NT, RF, VM, AC, ARITH_FLAGS, FLAGS_FIXED1, TWO32, CR0_PE,
  DE, DB, TS, NP, SS_VEC, GP, PF_VEC, DF_VEC, AR_UNUSABLE, EFER_LMA,
} from './regs.js';
import { debugDelivered } from './debug.js';
import { readDescriptor, loadCsForCpl, setSegment } from './segments.js';

/** VMX interruption types (Vol. 3C, 25.8.3 "VM-Entry Controls for Event Injection"). */
export const T_EXTINT = 0, T_NMI = 2, T_HWEXC = 3, T_SWINT = 4, T_PRIVSW = 5, T_SWEXC = 6;

/** Exceptions that push an error code (Vol. 3A, Table 6-1). */
export function hasErrorCode(vector: number): boolean {
  return vector === DF_VEC || vector === TS || vector === NP || vector === SS_VEC || vector === GP || vector === PF_VEC || vector === 17 || vector === 21;
}
/** Exceptions of the fault class (Vol. 3A, Table 6-1), #DB excluded (its class depends on the condition). */
const FAULT_VECTORS = new Set([0, 5, 6, 7, 10, 11, 12, 13, 14, 16, 17, 19, 20]);

function contributory(v: number): boolean {
  return v === DE || v === TS || v === NP || v === SS_VEC || v === GP;
}

/**
 * Deliver an event. `code` is the error code (-1 for none); `len` the
 * instruction length for software interrupts/exceptions (the return address
 * skips the instruction). May throw VM_EXIT.
 */
export function deliverEvent(cpu: Cpu, vector: number, type: number, code: number, len: number): void {
  let v = vector, t = type, c = code;
  // DR6 bits of a #DB raised by debug.ts (0 for an injected #DB, which leaves DR6 alone).
  let dbq = v === DB && t === T_HWEXC ? cpu.dbg.qual : 0;
  cpu.dbg.qual = 0;
  // The event whose delivery raised the exception now being delivered: an exit for that exception
  // happens "during event delivery" and reports it as IDT-vectoring information (Vol. 3C 28.2.3).
  let outer = 0, outerErr = 0;
  for (;;) {
    if (t === T_HWEXC || t === T_SWEXC || t === T_PRIVSW) {
      if (interceptException(cpu, v, c)) {
        cpu.vecInfo = outer; cpu.vecErr = outerErr;
        cpu.xIntInfo = v | (t << 8) | (c >= 0 ? 0x800 : 0) | 0x80000000;
        cpu.xIntErr = c >= 0 ? c : 0;
        // #DB: B0-B3, BD, BS in the qualification; DR6 and DR7 are not changed (Vol. 3C 27.1, 28.2.1).
        cpu.xQual = v === PF_VEC ? pfState.addr : v === DB ? dbq : 0;
        cpu.xReason = EXIT_REASON.EXCEPTION_OR_NMI;
        cpu.xLen = t === T_HWEXC ? 0 : len;
        cpu.xInfo = 0;
        throw VM_EXIT;
      }
    }
    cpu.vecInfo = v | (t << 8) | (c >= 0 ? 0x800 : 0) | 0x80000000;
    cpu.vecErr = c >= 0 ? c : 0;
    try {
      if (v === PF_VEC && t === T_HWEXC) cpu.cr2 = pfState.addr;
      deliverThroughIdt(cpu, v, t, c, len);
      if (dbq !== 0) debugDelivered(cpu, dbq);
      cpu.dbg.delivered++;
      cpu.vecInfo = 0;
      cpu.halted = false;
      // Delivering an NMI blocks NMIs (Vol. 3A 6.7.1); an NMI injected with "virtual NMIs" = 1 sets
      // virtual-NMI blocking instead (Vol. 3C 27.6.1.2 "VM Entry Injecting an NMI"). Either way it is bit 3.
      if (t === T_NMI) cpu.nmiBlocked = true;
      // The IRET that unblocked NMIs is over once an event has been delivered.
      cpu.iretNmiIc = -1;
      return;
    } catch (e) {
      if (e !== CPU_FAULT) throw e;
      outer = cpu.vecInfo; outerErr = cpu.vecErr;
      cpu.vecInfo = 0;
      const nv = cpu.faultVector;
      // Double-fault rules (Vol. 3A, 6.15, Table 6-5).
      const prev = t === T_HWEXC ? v : -1;
      if (prev === DF_VEC) {
        cpu.xReason = EXIT_REASON.TRIPLE_FAULT; cpu.xQual = 0; cpu.xLen = 0; cpu.xInfo = 0;
        throw VM_EXIT;
      }
      if ((contributory(prev) && contributory(nv)) || (prev === PF_VEC && (contributory(nv) || nv === PF_VEC))) {
        v = DF_VEC; t = T_HWEXC; c = 0;
      } else {
        v = nv; t = T_HWEXC; c = cpu.faultCode;
      }
      dbq = v === DB ? cpu.dbg.qual : 0;
      cpu.dbg.qual = 0;
      len = 0;
    }
  }
}

/** VM-exit interruption information of an NMI (Vol. 3C 28.2.2 "Information for VM Exits Due to Vectored Events", table "Format of the VM-Exit Interruption-Information Field" in 25.9.2): vector 2, type 2, valid. */
export const NMI_EXIT_INFO = 2 | (T_NMI << 8) | 0x80000000;

/**
 * Events recognized on an instruction boundary, in the priority order of
 * Vol. 3A 6.9 "Priority Among Concurrent Exceptions and Interrupts" as VMX
 * extends it (Vol. 3C 26.7.6 and 26.7.5; the MTF VM exit, above them all, is
 * handled by Cpu.run):
 *  1. NMI-window exiting (26.7.6): a VM exit if there is no virtual-NMI
 *     blocking and no blocking by MOV SS - nor, on this processor, by STI
 *     (the SDM lets a processor also hold the exit back then);
 *  2. an NMI latched at the NMI input, unless NMIs are blocked (blocking by
 *     NMI when "virtual NMIs" is 0; blocking by MOV SS or STI, as above): a
 *     VM exit with reason 0 when "NMI exiting" is 1 (26.2), else delivery
 *     through the guest IDT, vector 2;
 *  3. interrupt-window exiting (26.7.5): RFLAGS.IF = 1 and no blocking by STI
 *     or MOV SS.
 * Returns true when an NMI was delivered through the IDT (RIP changed).
 * Exits throw VM_EXIT. Called only when one of those can apply (the run
 * loop hoists that test out of the per-block path).
 */
export function boundaryEvents(cpu: Cpu, ic: number): boolean {
  const shadow = ic === cpu.shadowAt;
  const proc = cpu.ctlProc;
  if ((proc & PROC_BASED.NMI_WINDOW_EXITING) !== 0 && !cpu.nmiBlocked && !shadow) cpu.vmexit(EXIT_REASON.NMI_WINDOW, 0, 0);
  if (cpu.nmiPending && !shadow && (!cpu.nmiBlocked || (cpu.ctlPin & PIN_BASED.VIRTUAL_NMIS) !== 0)) {
    cpu.nmiPending = false;
    if (cpu.ctlPin & PIN_BASED.NMI_EXITING) {
      // Bit 12 ("NMI unblocking due to IRET") is 0: the exit is not due to a fault on IRET (28.2.2).
      cpu.xIntInfo = NMI_EXIT_INFO; cpu.xIntErr = 0; cpu.vecInfo = 0;
      cpu.vmexit(EXIT_REASON.EXCEPTION_OR_NMI, 0, 0);
    }
    deliverEvent(cpu, 2, T_NMI, -1, 0);
    return true;
  }
  if ((proc & PROC_BASED.INTERRUPT_WINDOW_EXITING) !== 0 && (cpu.flagsRest & IF) !== 0 && !shadow) cpu.vmexit(EXIT_REASON.INTERRUPT_WINDOW, 0, 0);
  return false;
}

/** An MTF VM exit (Vol. 3C 26.5.2; basic exit reason 37, exit qualification 0). */
export function mtfExit(cpu: Cpu): never {
  return cpu.vmexit(EXIT_REASON.MONITOR_TRAP_FLAG, 0, 0);
}

/**
 * IRET and NMI blocking in VMX non-root operation (Vol. 3C 26.3 "Changes to
 * Instruction Behavior in VMX Non-Root Operation", IRET): with "NMI exiting"
 * 0 IRET unblocks NMIs as it normally does; with "NMI exiting" 1 it leaves
 * blocking by NMI alone, unless "virtual NMIs" is 1 too, when it removes
 * virtual-NMI blocking. The unblocking happens even if IRET then faults;
 * iretNmiIc records it for bit 12 of the exit information (28.2.2, 28.2.3).
 * Called by IRET before anything that can fault.
 */
export function iretUnblocksNmi(cpu: Cpu): void {
  if (!cpu.nmiBlocked) return;
  const pin = cpu.ctlPin;
  if ((pin & PIN_BASED.NMI_EXITING) !== 0 && (pin & PIN_BASED.VIRTUAL_NMIS) === 0) return;
  cpu.nmiBlocked = false;
  cpu.iretNmiIc = cpu.icount;
}

/**
 * "NMI unblocking due to IRET" for a VM exit at the current instruction
 * (bit 12 of the VM-exit interruption information, 28.2.2, and of the
 * EPT-violation exit qualification, 28.2.1): the exit is due to a fault on
 * an IRET that removed (virtual-)NMI blocking. Undefined - here 0 - when
 * the exit also sets IDT-vectoring information or is due to a #DF.
 */
export function nmiUnblockedByIret(cpu: Cpu): boolean {
  return cpu.iretNmiIc === cpu.icount && cpu.iretNmiIc >= 0 && cpu.vecInfo === 0;
}

/** Exception bitmap check, with the #PF error-code mask/match rule (Vol. 3C, 25.6.3). */
function interceptException(cpu: Cpu, v: number, code: number): boolean {
  if (!((cpu.excBitmap >>> v) & 1)) return false;
  if (v !== PF_VEC) return true;
  const match = ((code & cpu.pfecMask) >>> 0) === (cpu.pfecMatch >>> 0);
  return match;
}

function rflagsForPush(cpu: Cpu): number {
  return (cpu.flagsRest & ~ARITH_FLAGS) | getArith(cpu) | FLAGS_FIXED1;
}

function deliverThroughIdt(cpu: Cpu, v: number, t: number, code: number, len: number): void {
  const ext = t === T_SWINT || t === T_SWEXC ? 0 : 1;
  const retRip = t === T_SWINT || t === T_SWEXC || t === T_PRIVSW ? cpu.rip + len : cpu.rip;
  // Faults push RFLAGS with RF set so the faulting instruction restarts without a new
  // instruction-breakpoint #DB (Vol. 3A, 17.3.1.1); traps, aborts and software interrupts do not.
  const fault = t === T_HWEXC && FAULT_VECTORS.has(v);
  const flags = rflagsForPush(cpu) | (fault ? RF : 0);
  if (!(cpu.cr0 & CR0_PE)) { deliverReal(cpu, v, retRip, flags); return; }
  const long = (cpu.efer & EFER_LMA) !== 0;
  const gsize = long ? 16 : 8;
  const idtErr = v * 8 + 2 + ext;
  if (v * gsize + gsize - 1 > cpu.idtrLimit) cpu.gp(idtErr);
  const ga = cpu.linAdd(cpu.idtrBase, v * gsize);
  const g0 = cpu.sysRead32(ga), g1 = cpu.sysRead32(cpu.linAdd(ga, 4));
  const g2 = long ? cpu.sysRead32(cpu.linAdd(ga, 8)) : 0;
  const gtype = (g1 >>> 8) & 0x1f;
  const gdpl = (g1 >>> 13) & 3;
  const present = (g1 & 0x8000) !== 0;
  const valid = long ? gtype === 0x0e || gtype === 0x0f : gtype === 0x0e || gtype === 0x0f || gtype === 0x06 || gtype === 0x07;
  if (!valid) {
    if (!long && gtype === 0x05) cpu.unimplementedMsg(`task gate in IDT entry ${v}`);
    cpu.gp(idtErr);
  }
  if ((t === T_SWINT || t === T_SWEXC) && gdpl < cpu.cpl) cpu.gp(v * 8 + 2);
  if (!present) cpu.fault(NP, idtErr);
  const sel = g0 >>> 16;
  let target = (g0 & 0xffff) | (g1 & 0xffff0000);
  if (long) target = (target >>> 0) + (g2 | 0) * TWO32;
  else target >>>= 0;
  const trap = (gtype & 1) !== 0;
  const gate16 = !long && (gtype & 8) === 0;
  if ((sel & 0xfffc) === 0) cpu.gp(ext);
  const cs = readDescriptor(cpu, sel, GP);
  const dpl = (cs.ar >> 5) & 3;
  if (!(cs.ar & 0x10) || !(cs.ar & 8) || dpl > cpu.cpl) cpu.gp((sel & 0xfffc) + ext);
  if (!(cs.ar & 0x80)) cpu.fault(NP, (sel & 0xfffc) + ext);
  const conforming = (cs.ar & 4) !== 0;
  const newCpl = conforming ? cpu.cpl : dpl;
  const oldCs = cpu.segSel[CS]!, oldSs = cpu.segSel[SS]!;
  const oldRspLo = cpu.lo[RSP]!, oldRspHi = cpu.hi[RSP]!;
  if (long) {
    if (!(cs.ar & 0x2000) || (cs.ar & 0x4000)) cpu.gp((sel & 0xfffc) + ext);
    const ist = g1 & 7;
    let rsp: number;
    if (ist !== 0 || newCpl !== cpu.cpl) {
      const off = ist !== 0 ? 0x24 + ist * 8 - 8 : 4 + newCpl * 8;
      if (off + 7 > cpu.segLimit[TR]!) cpu.fault(TS, (cpu.segSel[TR]! & 0xfffc) + ext);
      const a = cpu.linAdd(cpu.segBase[TR]!, off);
      rsp = (cpu.sysRead32(a) >>> 0) + (cpu.sysRead32(cpu.linAdd(a, 4)) | 0) * TWO32;
    } else {
      rsp = (oldRspLo >>> 0) + oldRspHi * TWO32;
    }
    rsp -= ((rsp % 16) + 16) % 16; // align to 16 bytes (Vol. 3A, 6.14.2)
    const frame = [oldSs & 0xffff, (oldRspLo >>> 0) + oldRspHi * TWO32, flags, oldCs & 0xffff, retRip];
    if (code >= 0) frame.push(code >>> 0);
    // Write the frame at the new stack with the new CPL's privileges.
    const savedCpl = cpu.cpl;
    setCplForAccess(cpu, newCpl);
    try {
      let a = rsp;
      for (const val of frame) {
        a -= 8;
        if (a < -0x8000_0000_0000 || a >= 0x8000_0000_0000) cpu.fault(SS_VEC, ext);
        cpu.write64(a, lo32(val), hi32(val));
      }
      rsp = a;
    } catch (e) { setCplForAccess(cpu, savedCpl); throw e; }
    loadCsForCpl(cpu, sel, newCpl);
    if (newCpl !== savedCpl) {
      cpu.segSel[SS] = newCpl; cpu.segBase[SS] = 0; cpu.segLimit[SS] = 0; cpu.segAr[SS] = AR_UNUSABLE | (newCpl << 5) | 0x13;
    }
    cpu.lo[RSP] = lo32(rsp); cpu.hi[RSP] = hi32(rsp);
    cpu.updateMode();
    cpu.rip = target;
  } else {
    let ssSel = oldSs, ssBase = cpu.segBase[SS]!, ssLimit = cpu.segLimit[SS]!, ssAr = cpu.segAr[SS]!;
    let esp = oldRspLo >>> 0;
    const switching = newCpl !== cpu.cpl;
    if (switching) {
      const tss32 = (cpu.segAr[TR]! & 8) !== 0;
      const off = tss32 ? 4 + newCpl * 8 : 2 + newCpl * 4;
      const a = cpu.linAdd(cpu.segBase[TR]!, off);
      esp = tss32 ? cpu.sysRead32(a) >>> 0 : cpu.sysRead32(a) & 0xffff;
      ssSel = (tss32 ? cpu.sysRead32(cpu.linAdd(a, 4)) : cpu.sysRead32(cpu.linAdd(a, 2))) & 0xffff;
      const sd = readDescriptor(cpu, ssSel, TS);
      if ((ssSel & 3) !== newCpl || ((sd.ar >> 5) & 3) !== newCpl || !(sd.ar & 0x10) || (sd.ar & 8) || !(sd.ar & 2)) cpu.fault(TS, (ssSel & 0xfffc) + ext);
      if (!(sd.ar & 0x80)) cpu.fault(SS_VEC, (ssSel & 0xfffc) + ext);
      ssBase = sd.base; ssLimit = sd.limit; ssAr = sd.ar;
    }
    const w = gate16 ? 2 : 4;
    const frame: number[] = [];
    if (switching) frame.push(oldSs & 0xffff, oldRspLo >>> 0);
    frame.push(flags >>> 0, oldCs & 0xffff, retRip >>> 0);
    if (code >= 0) frame.push(code >>> 0);
    const savedCpl = cpu.cpl;
    setCplForAccess(cpu, newCpl);
    const big = (ssAr & 0x4000) !== 0;
    try {
      for (const val of frame) {
        esp = big ? (esp - w) >>> 0 : (esp - w) & 0xffff;
        const a = (ssBase + esp) >>> 0;
        if (w === 4) cpu.write32(a, val); else cpu.write16(a, val);
      }
    } catch (e) { setCplForAccess(cpu, savedCpl); throw e; }
    loadCsForCpl(cpu, sel, newCpl);
    if (switching) setSegment(cpu, SS, ssSel, ssBase, ssLimit, ssAr);
    if (big) { cpu.lo[RSP] = esp; cpu.hi[RSP] = 0; } else cpu.lo[RSP] = (cpu.lo[RSP]! & ~0xffff) | esp;
    cpu.updateMode();
    cpu.rip = gate16 ? target & 0xffff : target;
  }
  let f = cpu.flagsRest & ~(TF | NT | RF | VM);
  if (!trap) f &= ~IF;
  cpu.flagsRest = f;
}

function setCplForAccess(cpu: Cpu, cpl: number): void {
  cpu.cpl = cpl;
  const user = cpl === 3;
  cpu.permR = user ? 8 : 1; cpu.permW = user ? 16 : 2; cpu.permX = user ? 32 : 4;
}

/** Real-address-mode delivery through the IVT (Vol. 3A, 20.1.4). */
function deliverReal(cpu: Cpu, v: number, retRip: number, flags: number): void {
  if (v * 4 + 3 > cpu.idtrLimit) cpu.gp(0);
  const ent = cpu.sysRead32(cpu.linAdd(cpu.idtrBase, v * 4));
  for (const val of [flags & 0xffff, cpu.segSel[CS]! & 0xffff, retRip & 0xffff]) {
    const sp = (cpu.lo[RSP]! - 2) & 0xffff;
    cpu.write16((cpu.segBase[SS]! + sp) >>> 0, val);
    cpu.lo[RSP] = (cpu.lo[RSP]! & ~0xffff) | sp;
  }
  const sel = ent >>> 16;
  cpu.segSel[CS] = sel; cpu.segBase[CS] = sel * 16;
  cpu.updateMode();
  cpu.rip = ent & 0xffff;
  cpu.flagsRest &= ~(IF | TF | AC | RF);
}

function lo32(v: number): number { return v | 0; }
function hi32(v: number): number { return Math.floor(v / TWO32) | 0; }
