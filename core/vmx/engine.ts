/**
 * The VM-entry engine: what VMLAUNCH/VMRESUME do after the VMX-state checks
 * (SDM Vol. 3C, chapter "VM Entries": checks, loading guest state, event
 * injection) and what a VM exit does (chapter "VM Exits": recording exit
 * information, saving guest state). Between the two the CPU runs in VMX
 * non-root operation.
 *
 * The CPU reports exits through raw fields (Cpu.x*); this module is the only
 * place that writes the VMCS exit-information and guest-state fields.
 */
import type { Vmcs } from './vmcs.js';
import type { VmEntryEngine, VmEntryOutcome } from './vmx.js';
import { VMCS } from './fields.js';
import { PIN_BASED, PROC_BASED, PROC_BASED2, EXIT_CTLS, ENTRY_CTLS, type VmxCapabilities, DEFAULT_VMX_CAPABILITIES } from './capabilities.js';
import { EXIT_REASON } from './exit-reasons.js';
import { firstFailure, EntryMemo, EFER_VALID, type CheckContext, type EntryRule } from './entry-checks.js';
import { readRegion32, Vmcs as VmcsClass } from './vmcs.js';
import { wrmsr, rdmsr } from '../cpu/msr.js';
import { firstExitMsrFailure, VMX_ABORT, type ExitMsrEntry, type ExitMsrKind, type VmxAbort } from './exit-msrs.js';
import { VM_INSTRUCTION_ERROR as ERR } from './errors.js';
import type { Cpu } from '../cpu/cpu.js';
import { VM_EXIT, CPU_FAULT } from '../cpu/fault.js';
import { deliverEvent, nmiUnblockedByIret, T_EXTINT, T_HWEXC } from '../cpu/interrupts.js';
import { debugPendingAtEntry, debugPendingAtExit } from '../cpu/debug.js';

/** Interruption type 7, "other event" (Vol. 3C 25.8.3 "VM-Entry Controls for Event Injection"). */
const T_OTHER = 7;
import { RSP, EFER_LMA, EFER_LME, MSR_EFER } from '../cpu/regs.js';

/** Dense field indices (fields.ts) of the fields VM entry and VM exit touch, resolved once. */
const ix = (enc: number): number => VmcsClass.index(enc);
const SEG_FIELDS: readonly (readonly [number, number, number, number])[] = [
  [VMCS.GUEST_ES_SELECTOR, VMCS.GUEST_ES_BASE, VMCS.GUEST_ES_LIMIT, VMCS.GUEST_ES_ACCESS_RIGHTS],
  [VMCS.GUEST_CS_SELECTOR, VMCS.GUEST_CS_BASE, VMCS.GUEST_CS_LIMIT, VMCS.GUEST_CS_ACCESS_RIGHTS],
  [VMCS.GUEST_SS_SELECTOR, VMCS.GUEST_SS_BASE, VMCS.GUEST_SS_LIMIT, VMCS.GUEST_SS_ACCESS_RIGHTS],
  [VMCS.GUEST_DS_SELECTOR, VMCS.GUEST_DS_BASE, VMCS.GUEST_DS_LIMIT, VMCS.GUEST_DS_ACCESS_RIGHTS],
  [VMCS.GUEST_FS_SELECTOR, VMCS.GUEST_FS_BASE, VMCS.GUEST_FS_LIMIT, VMCS.GUEST_FS_ACCESS_RIGHTS],
  [VMCS.GUEST_GS_SELECTOR, VMCS.GUEST_GS_BASE, VMCS.GUEST_GS_LIMIT, VMCS.GUEST_GS_ACCESS_RIGHTS],
  [VMCS.GUEST_LDTR_SELECTOR, VMCS.GUEST_LDTR_BASE, VMCS.GUEST_LDTR_LIMIT, VMCS.GUEST_LDTR_ACCESS_RIGHTS],
  [VMCS.GUEST_TR_SELECTOR, VMCS.GUEST_TR_BASE, VMCS.GUEST_TR_LIMIT, VMCS.GUEST_TR_ACCESS_RIGHTS],
].map((f) => f.map(ix) as unknown as readonly [number, number, number, number]);
/** Selector, base, limit and access-rights indices of ES, CS, SS, DS, FS, GS, LDTR, TR (flat, 4 per register). */
const SEG_IX = Int32Array.from(SEG_FIELDS.flat());
const CR3_TARGET_IX = [VMCS.CR3_TARGET_VALUE_0, VMCS.CR3_TARGET_VALUE_1, VMCS.CR3_TARGET_VALUE_2, VMCS.CR3_TARGET_VALUE_3].map(ix);
const I = {
  CR0_GUEST_HOST_MASK: ix(VMCS.CR0_GUEST_HOST_MASK),
  CR0_READ_SHADOW: ix(VMCS.CR0_READ_SHADOW),
  CR3_TARGET_COUNT: ix(VMCS.CR3_TARGET_COUNT),
  CR4_GUEST_HOST_MASK: ix(VMCS.CR4_GUEST_HOST_MASK),
  CR4_READ_SHADOW: ix(VMCS.CR4_READ_SHADOW),
  EPT_POINTER: ix(VMCS.EPT_POINTER),
  EXCEPTION_BITMAP: ix(VMCS.EXCEPTION_BITMAP),
  EXIT_QUALIFICATION: ix(VMCS.EXIT_QUALIFICATION),
  EXIT_REASON: ix(VMCS.EXIT_REASON),
  GUEST_ACTIVITY_STATE: ix(VMCS.GUEST_ACTIVITY_STATE),
  GUEST_CR0: ix(VMCS.GUEST_CR0),
  GUEST_CR3: ix(VMCS.GUEST_CR3),
  GUEST_CR4: ix(VMCS.GUEST_CR4),
  GUEST_DR7: ix(VMCS.GUEST_DR7),
  GUEST_GDTR_BASE: ix(VMCS.GUEST_GDTR_BASE),
  GUEST_GDTR_LIMIT: ix(VMCS.GUEST_GDTR_LIMIT),
  GUEST_IA32_DEBUGCTL: ix(VMCS.GUEST_IA32_DEBUGCTL),
  GUEST_IA32_EFER: ix(VMCS.GUEST_IA32_EFER),
  GUEST_IA32_PAT: ix(VMCS.GUEST_IA32_PAT),
  GUEST_IA32_SYSENTER_CS: ix(VMCS.GUEST_IA32_SYSENTER_CS),
  GUEST_IA32_SYSENTER_EIP: ix(VMCS.GUEST_IA32_SYSENTER_EIP),
  GUEST_IA32_SYSENTER_ESP: ix(VMCS.GUEST_IA32_SYSENTER_ESP),
  GUEST_IDTR_BASE: ix(VMCS.GUEST_IDTR_BASE),
  GUEST_IDTR_LIMIT: ix(VMCS.GUEST_IDTR_LIMIT),
  GUEST_INTERRUPTIBILITY_STATE: ix(VMCS.GUEST_INTERRUPTIBILITY_STATE),
  GUEST_LINEAR_ADDRESS: ix(VMCS.GUEST_LINEAR_ADDRESS),
  GUEST_PENDING_DEBUG_EXCEPTIONS: ix(VMCS.GUEST_PENDING_DEBUG_EXCEPTIONS),
  GUEST_PHYSICAL_ADDRESS: ix(VMCS.GUEST_PHYSICAL_ADDRESS),
  GUEST_RFLAGS: ix(VMCS.GUEST_RFLAGS),
  GUEST_RIP: ix(VMCS.GUEST_RIP),
  GUEST_RSP: ix(VMCS.GUEST_RSP),
  IDT_VECTORING_ERROR_CODE: ix(VMCS.IDT_VECTORING_ERROR_CODE),
  IDT_VECTORING_INFORMATION: ix(VMCS.IDT_VECTORING_INFORMATION),
  IO_BITMAP_A_ADDRESS: ix(VMCS.IO_BITMAP_A_ADDRESS),
  IO_BITMAP_B_ADDRESS: ix(VMCS.IO_BITMAP_B_ADDRESS),
  MSR_BITMAPS_ADDRESS: ix(VMCS.MSR_BITMAPS_ADDRESS),
  PAGE_FAULT_ERROR_CODE_MASK: ix(VMCS.PAGE_FAULT_ERROR_CODE_MASK),
  PAGE_FAULT_ERROR_CODE_MATCH: ix(VMCS.PAGE_FAULT_ERROR_CODE_MATCH),
  PIN_BASED_VM_EXECUTION_CONTROLS: ix(VMCS.PIN_BASED_VM_EXECUTION_CONTROLS),
  PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS: ix(VMCS.PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS),
  SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS: ix(VMCS.SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS),
  TSC_OFFSET: ix(VMCS.TSC_OFFSET),
  VMX_PREEMPTION_TIMER_VALUE: ix(VMCS.VMX_PREEMPTION_TIMER_VALUE),
  VM_ENTRY_CONTROLS: ix(VMCS.VM_ENTRY_CONTROLS),
  VM_ENTRY_EXCEPTION_ERROR_CODE: ix(VMCS.VM_ENTRY_EXCEPTION_ERROR_CODE),
  VM_ENTRY_INSTRUCTION_LENGTH: ix(VMCS.VM_ENTRY_INSTRUCTION_LENGTH),
  VM_ENTRY_INTERRUPTION_INFORMATION: ix(VMCS.VM_ENTRY_INTERRUPTION_INFORMATION),
  VM_ENTRY_MSR_LOAD_ADDRESS: ix(VMCS.VM_ENTRY_MSR_LOAD_ADDRESS),
  VM_ENTRY_MSR_LOAD_COUNT: ix(VMCS.VM_ENTRY_MSR_LOAD_COUNT),
  VM_EXIT_CONTROLS: ix(VMCS.VM_EXIT_CONTROLS),
  VM_EXIT_INSTRUCTION_INFORMATION: ix(VMCS.VM_EXIT_INSTRUCTION_INFORMATION),
  VM_EXIT_INSTRUCTION_LENGTH: ix(VMCS.VM_EXIT_INSTRUCTION_LENGTH),
  VM_EXIT_INTERRUPTION_ERROR_CODE: ix(VMCS.VM_EXIT_INTERRUPTION_ERROR_CODE),
  VM_EXIT_INTERRUPTION_INFORMATION: ix(VMCS.VM_EXIT_INTERRUPTION_INFORMATION),
} as const;

/** The outcome of every VM entry that ends in a VM exit (one object: nothing is allocated per exit). */
const EXITED: VmEntryOutcome = Object.freeze({ kind: 'exit' });

/** Vector the host's timer interrupt uses when the host takes control back ("kick"). */
export const HOST_KICK_VECTOR = 0xec;

export class EntryEngine implements VmEntryEngine {
  /**
   * Virtual time (retired instructions) at which a host timer interrupt
   * arrives; with "external-interrupt exiting" it ends the guest's run with
   * an external-interrupt VM exit. This is how the hypervisor bounds a run
   * and services device deadlines, deterministically.
   */
  kickAt = Number.MAX_SAFE_INTEGER;
  /** The rule that failed on the last VM entry (null when it passed). */
  failedRule: EntryRule | null = null;
  private readonly ctx: CheckContext;
  private readonly memos = new WeakMap<Vmcs, EntryMemo>();
  private lastMemo: EntryMemo | null = null;
  /** Translation regime the CPU's TLB entries were filled under (see loadGuest). */
  private readonly tlbContext = new Float64Array(5);
  /** Set by invept(): the next VM entry drops every cached translation. */
  private tlbInvalid = true;
  /** Virtual time at the last VM entry (for the preemption timer). */
  private entryIc = 0;

  constructor(readonly cpu: Cpu, readonly caps: VmxCapabilities = DEFAULT_VMX_CAPABILITIES) {
    this.ctx = { v: null as unknown as Vmcs, caps, pin: 0, proc: 0, proc2: 0, exit: 0, entry: 0, mem: cpu.mem, wrmsr: (i, lo, hi) => this.loadMsr(i, lo, hi) };
  }

  /** The memoized entry checks of a VMCS (one per VMCS object; the last one cached). */
  private memoFor(v: Vmcs): EntryMemo {
    if (this.lastMemo !== null && this.lastMemo.v === v) return this.lastMemo;
    let m = this.memos.get(v);
    if (m === undefined) { m = new EntryMemo(v, this.caps, this.cpu.mem); this.memos.set(v, m); }
    this.lastMemo = m;
    return m;
  }

  /**
   * INVEPT (all contexts), from the hypervisor's side: it changed EPT
   * entries, so cached guest-physical translations must go (Vol. 3C, 29.4.3.1).
   */
  invept(): void { this.tlbInvalid = true; }

  enter(v: Vmcs, launch: boolean): VmEntryOutcome {
    void launch;
    const c = this.ctx as { v: Vmcs } & CheckContext;
    c.v = v;
    c.pin = v.at32(I.PIN_BASED_VM_EXECUTION_CONTROLS);
    c.proc = v.at32(I.PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS);
    c.proc2 = c.proc & PROC_BASED.ACTIVATE_SECONDARY_CONTROLS ? v.at32(I.SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS) : 0;
    c.exit = v.at32(I.VM_EXIT_CONTROLS);
    c.entry = v.at32(I.VM_ENTRY_CONTROLS);
    this.failedRule = null;
    // Checks on VMX controls and host-state area (VMfailValid 7 / 8), then on the guest-state area (VM exit with
    // reason 33, bit 31 set): the first failing rule of entry-checks.ts, re-evaluating only rules whose fields changed.
    const bad = this.memoFor(v).check();
    if (bad && bad.kind === 'control') { this.failedRule = bad; return { kind: 'failValid', error: ERR.ENTRY_INVALID_CONTROL_FIELDS }; }
    if (bad && bad.kind === 'host') { this.failedRule = bad; return { kind: 'failValid', error: ERR.ENTRY_INVALID_HOST_STATE }; }
    if (bad) {
      this.failedRule = bad;
      v.set32At(I.EXIT_REASON, EXIT_REASON.ENTRY_FAILURE_INVALID_GUEST_STATE | 0x80000000);
      v.setNumAt(I.EXIT_QUALIFICATION, bad.qual ?? 0);
      return this.finishFailedEntry(v);
    }
    this.loadGuest(v, c);
    // VM-entry MSR-load area (Vol. 3C 27.4 "Loading MSRs", 26.4 in older editions): after guest state,
    // before event injection; a failing entry gives exit reason 34 with its number as the qualification.
    const msrCount = v.at32(I.VM_ENTRY_MSR_LOAD_COUNT) >>> 0;
    const area = v.atNum(I.VM_ENTRY_MSR_LOAD_ADDRESS);
    for (let k = 0; k < msrCount; k++) {
      const pa = area + 16 * k;
      c.msrIndex = readRegion32(this.cpu.mem, pa); c.msrReserved = readRegion32(this.cpu.mem, pa + 4);
      c.msrLo = readRegion32(this.cpu.mem, pa + 8); c.msrHi = readRegion32(this.cpu.mem, pa + 12);
      const badMsr = firstFailure(c, 'msr');
      if (badMsr) {
        this.failedRule = badMsr;
        v.set32At(I.EXIT_REASON, EXIT_REASON.ENTRY_FAILURE_MSR_LOADING | 0x80000000);
        v.setNumAt(I.EXIT_QUALIFICATION, k + 1);
        return this.finishFailedEntry(v);
      }
    }
    const cpu = this.cpu;
    const intInfo = v.at32(I.VM_ENTRY_INTERRUPTION_INFORMATION);
    try {
      if (intInfo & 0x80000000) {
        const type = (intInfo >> 8) & 7;
        if (type === T_OTHER) {
          // Type 7, vector 0: injecting a pending MTF VM exit (Vol. 3C 27.6.2 "Injection of Pending MTF VM Exits"):
          // no event is delivered; the MTF VM exit happens before the first instruction, whatever the MTF control.
          cpu.mtfPending = true;
        } else {
          // Event injection (Vol. 3C 27.6.1 "Vectored-Event Injection"): delivered as if it occurred at the guest's RIP.
          // An NMI sets blocking by NMI, or virtual-NMI blocking with "virtual NMIs" (27.6.1.2; deliverEvent).
          const code = intInfo & 0x800 ? v.at32(I.VM_ENTRY_EXCEPTION_ERROR_CODE) : -1;
          cpu.halted = false;
          deliverEvent(cpu, intInfo & 0xff, type, code, v.at32(I.VM_ENTRY_INSTRUCTION_LENGTH));
          // With the "monitor trap flag" control, an MTF VM exit is pending after a vectored event (26.5.2).
          if (c.proc & PROC_BASED.MONITOR_TRAP_FLAG) cpu.mtfPending = true;
        }
      } else {
        // Pending debug exceptions B3:0 / BS without an injected event: a #DB trap before the first instruction (27.7.3; core/cpu/debug.ts).
        debugPendingAtEntry(cpu, v.getLo(VMCS.GUEST_PENDING_DEBUG_EXCEPTIONS));
      }
      this.entryIc = cpu.icount;
      let stop = this.kickAt;
      let preemptAt = Number.MAX_SAFE_INTEGER;
      if (c.pin & PIN_BASED.ACTIVATE_VMX_PREEMPTION_TIMER) {
        preemptAt = cpu.icount + v.at32(I.VMX_PREEMPTION_TIMER_VALUE) * 2 ** this.caps.preemptionTimerRate;
        if (preemptAt < stop) stop = preemptAt;
      }
      cpu.run(stop);
      // Time ran out without an exit: preemption timer or the host's kick.
      if (cpu.icount >= preemptAt && preemptAt <= this.kickAt) {
        cpu.xReason = EXIT_REASON.VMX_PREEMPTION_TIMER_EXPIRED; cpu.xQual = 0; cpu.xLen = 0; cpu.xInfo = 0;
      } else {
        cpu.xReason = EXIT_REASON.EXTERNAL_INTERRUPT; cpu.xQual = 0; cpu.xLen = 0; cpu.xInfo = 0;
        cpu.xIntInfo = c.exit & EXIT_CTLS.ACKNOWLEDGE_INTERRUPT_ON_EXIT ? (HOST_KICK_VECTOR | (T_EXTINT << 8) | 0x80000000) : 0;
        cpu.xIntErr = 0;
      }
    } catch (e) {
      if (e !== VM_EXIT) throw e;
    }
    this.saveExit(v, c, this.preemptLeft(v, c));
    // Saving MSRs (28.4) follows saving guest state; host state (28.5) is the hypervisor's; then loading MSRs (28.6).
    const abort = this.processExitMsrs(v, 'store') ?? this.processExitMsrs(v, 'load');
    return abort ? { kind: 'abort', abort } : EXITED;
  }

  /**
   * A VM-entry failure during or after loading guest state (27.8) saves neither guest state nor MSRs, but loads
   * host state and the VM-exit MSR-load area as a VM exit does.
   */
  private finishFailedEntry(v: Vmcs): VmEntryOutcome {
    const abort = this.processExitMsrs(v, 'load');
    return abort ? { kind: 'abort', abort } : EXITED;
  }

  /**
   * The VM-exit MSR-store area (28.4: each entry's MSR read as by RDMSR into bits 127:64) or the VM-exit
   * MSR-load area (28.6: each entry's bits 127:64 written as by WRMSR), entry by entry in order. The first
   * entry that fails a rule of exit-msrs.ts ends the exit in a VMX abort with indicator 1 or 4 (28.7).
   */
  private processExitMsrs(v: Vmcs, kind: ExitMsrKind): VmxAbort | null {
    const store = kind === 'store';
    const count = v.get32(store ? VMCS.VM_EXIT_MSR_STORE_COUNT : VMCS.VM_EXIT_MSR_LOAD_COUNT) >>> 0;
    if (count === 0) return null;
    const area = v.getNum(store ? VMCS.VM_EXIT_MSR_STORE_ADDRESS : VMCS.VM_EXIT_MSR_LOAD_ADDRESS);
    const mem = this.cpu.mem;
    for (let k = 0; k < count; k++) {
      const pa = area + 16 * k;
      const e: ExitMsrEntry = { index: readRegion32(mem, pa), reserved: readRegion32(mem, pa + 4), lo: readRegion32(mem, pa + 8), hi: readRegion32(mem, pa + 12) };
      const access = store ? (): boolean => this.storeMsr(e.index >>> 0, pa + 8) : (): boolean => this.loadHostMsr(e.index >>> 0, e.lo | 0, e.hi | 0);
      const bad = firstExitMsrFailure(kind, e, access);
      if (bad) return { indicator: store ? VMX_ABORT.SAVE_GUEST_MSRS : VMX_ABORT.LOAD_HOST_MSRS, rule: bad, entry: k + 1, msr: e.index >>> 0 };
    }
    return null;
  }

  /** RDMSR at CPL 0 of a VM-exit MSR-store entry, its value written at `pa` (bits 127:64); false on #GP. */
  private storeMsr(index: number, pa: number): boolean {
    const cpu = this.cpu;
    let lo: number;
    try { lo = rdmsr(cpu, index); } catch (e) { if (e === CPU_FAULT) return false; throw e; }
    this.writePhys32(pa, lo); this.writePhys32(pa + 4, cpu.th);
    return true;
  }

  /** A processor write to host-physical memory (an MSR-store entry): dropped outside memory, like a bus write nobody claims. */
  private writePhys32(pa: number, val: number): void {
    const cpu = this.cpu;
    if (!Number.isSafeInteger(pa) || pa < 0 || pa + 4 > cpu.mem.size) return;
    cpu.mem.dv.setUint32(pa, val >>> 0, true);
    const page = Math.floor(pa / 4096);
    cpu.dirty[page] = 1;
    if (cpu.codePages[page]) cpu.invalidateCode(pa, 4);
  }

  /**
   * WRMSR at CPL 0 of a VM-exit MSR-load entry; false if it would #GP. The MSRs are the logical processor's,
   * so a value loaded here is what the guest sees next unless VM entry loads it again - as on hardware.
   * IA32_EFER is judged against the host state that 28.5 has loaded by then (this machine keeps the guest's
   * control registers in the Cpu): host CR0.PG = 1 and LMA = "host address-space size" = 1, so reserved bits
   * and a change of LME #GP (Vol. 3A 9.8.5), and LMA stays 1.
   */
  private loadHostMsr(index: number, lo: number, hi: number): boolean {
    const cpu = this.cpu;
    if (index === MSR_EFER) {
      if (hi !== 0 || (lo & ~EFER_VALID) !== 0 || (lo & EFER_LME) === 0) return false;
      cpu.efer = lo | EFER_LMA;
      cpu.flushTlb();
      return true;
    }
    return this.loadMsr(index, lo, hi);
  }

  /** WRMSR of a VM-entry MSR-load entry; false if WRMSR would raise #GP. */
  private loadMsr(index: number, lo: number, hi: number): boolean {
    try {
      wrmsr(this.cpu, index >>> 0, lo | 0, hi | 0);
      return true;
    } catch (e) {
      if (e === CPU_FAULT) return false;
      throw e;
    }
  }

  /** Load the guest-state area and the controls the CPU consults (Vol. 3C, "Loading Guest State"). */
  private loadGuest(v: Vmcs, c: CheckContext): void {
    const cpu = this.cpu;
    cpu.ctlPin = c.pin; cpu.ctlProc = c.proc; cpu.ctlProc2 = c.proc2;
    cpu.excBitmap = v.at32(I.EXCEPTION_BITMAP);
    cpu.pfecMask = v.at32(I.PAGE_FAULT_ERROR_CODE_MASK);
    cpu.pfecMatch = v.at32(I.PAGE_FAULT_ERROR_CODE_MATCH);
    cpu.cr0Mask = v.at32(I.CR0_GUEST_HOST_MASK); cpu.cr0Shadow = v.at32(I.CR0_READ_SHADOW);
    cpu.cr4Mask = v.at32(I.CR4_GUEST_HOST_MASK); cpu.cr4Shadow = v.at32(I.CR4_READ_SHADOW);
    cpu.ioBitmapA = v.atNum(I.IO_BITMAP_A_ADDRESS); cpu.ioBitmapB = v.atNum(I.IO_BITMAP_B_ADDRESS);
    cpu.msrBitmap = v.atNum(I.MSR_BITMAPS_ADDRESS);
    cpu.cr3TargetCount = v.at32(I.CR3_TARGET_COUNT);
    for (let k = 0; k < 4; k++) cpu.cr3Targets[k] = v.atNum(CR3_TARGET_IX[k]!);
    cpu.tscOffset = v.atSigned(I.TSC_OFFSET);
    cpu.eptOn = (c.proc2 & PROC_BASED2.ENABLE_EPT) !== 0;
    const eptp = v.atNum(I.EPT_POINTER);
    cpu.eptRoot = eptp - (eptp % 4096);
    cpu.eptAd = (v.at32(I.EPT_POINTER) & 0x40) !== 0;

    // CR0: VM entry does not change ET, CD, NW (Vol. 3C, 27.3.2.1 "Loading Guest Control Registers ..."); ET reads 1 on this CPU.
    cpu.cr0 = ((v.at32(I.GUEST_CR0) & ~0x60000010) | (cpu.cr0 & 0x60000000) | 0x10) | 0;
    cpu.cr3 = v.atNum(I.GUEST_CR3);
    cpu.cr4 = v.at32(I.GUEST_CR4) | 0;
    if (c.entry & ENTRY_CTLS.LOAD_DEBUG_CONTROLS) {
      // DR7 bit 10 is loaded as 1 and bits 12, 15:14 as 0 (27.3.2.1).
      cpu.dr[7] = (v.at32(I.GUEST_DR7) & ~0xd000 | 0x400) >>> 0;
      cpu.debugctl = v.at32(I.GUEST_IA32_DEBUGCTL);
    }
    if (c.entry & ENTRY_CTLS.LOAD_IA32_EFER) cpu.efer = v.at32(I.GUEST_IA32_EFER);
    else {
      // Without "load IA32_EFER": LMA takes "IA-32e mode guest", and so does LME when CR0.PG = 1 (27.3.2.1).
      const on = (c.entry & ENTRY_CTLS.IA32E_MODE_GUEST) !== 0;
      cpu.efer = on ? cpu.efer | EFER_LMA : cpu.efer & ~EFER_LMA;
      if (cpu.cr0 & 0x80000000) cpu.efer = on ? cpu.efer | EFER_LME : cpu.efer & ~EFER_LME;
    }
    if (c.entry & ENTRY_CTLS.LOAD_IA32_PAT) { cpu.patLo = v.at32(I.GUEST_IA32_PAT); cpu.patHi = v.hi[I.GUEST_IA32_PAT]!; }
    cpu.sysenterCs = v.at32(I.GUEST_IA32_SYSENTER_CS);
    cpu.sysenterEsp = v.atSigned(I.GUEST_IA32_SYSENTER_ESP);
    cpu.sysenterEip = v.atSigned(I.GUEST_IA32_SYSENTER_EIP);
    for (let s = 0; s < 8; s++) {
      const sel = SEG_IX[4 * s]!, base = SEG_IX[4 * s + 1]!, limit = SEG_IX[4 * s + 2]!, ar = SEG_IX[4 * s + 3]!;
      cpu.segSel[s] = v.at32(sel);
      // 27.3.2.2 (26.3.2.2 in older editions): an unusable SS, DS or ES gets bits 63:32 of its base cleared and an
      // unusable LDTR an undefined but canonical base (here: bits 47:0 of the field, sign-extended). No check
      // bounds those fields, so they are not loaded as they are.
      const unusable = (v.at32(ar) & 0x10000) !== 0;
      cpu.segBase[s] = !unusable || s === 1 || s === 4 || s === 5 || s === 7 ? v.atSigned(base)
        : s === 6 ? ((v.hi[base]! << 16) >> 16) * 4294967296 + v.at32(base) : v.at32(base);
      cpu.segLimit[s] = v.at32(limit);
      cpu.segAr[s] = v.at32(ar);
    }
    cpu.gdtrBase = v.atSigned(I.GUEST_GDTR_BASE); cpu.gdtrLimit = v.at32(I.GUEST_GDTR_LIMIT);
    cpu.idtrBase = v.atSigned(I.GUEST_IDTR_BASE); cpu.idtrLimit = v.at32(I.GUEST_IDTR_LIMIT);
    cpu.lo[RSP] = v.at32(I.GUEST_RSP) | 0; cpu.hi[RSP] = v.hi[I.GUEST_RSP]! | 0;
    cpu.rip = v.atSigned(I.GUEST_RIP);
    cpu.setFlags(v.at32(I.GUEST_RFLAGS));
    cpu.halted = v.at32(I.GUEST_ACTIVITY_STATE) === 1;
    const intr = v.at32(I.GUEST_INTERRUPTIBILITY_STATE);
    if (intr & 3) { cpu.shadowKind = intr & 1 ? 1 : 2; cpu.shadowAt = cpu.icount; } else { cpu.shadowKind = 0; cpu.shadowAt = -1; }
    // Bit 3, blocking by NMI: NMIs blocked after entry; with "virtual NMIs", virtual-NMI blocking (27.3.2.5 "Loading Non-Register State").
    cpu.nmiBlocked = (intr & 8) !== 0;
    cpu.iretNmiIc = -1;
    cpu.mtfPending = false;
    cpu.vecInfo = 0;
    cpu.xGlaValid = false;
    cpu.xIntInfo = 0;
    cpu.updateMode();
    // The TLB caches combined guest-paging + EPT translations. Without VPIDs the SDM has VM
    // entries and exits invalidate them (Vol. 3C, 29.4.3.3 "Guidelines for Use of the INVVPID
    // Instruction" / 29.4.2 "Invalidating Cached Information"); since software may never rely on
    // a stale entry, dropping the cache is only needed when the translation regime itself may
    // differ from the one the entries were filled under.
    const t = this.tlbContext;
    const cr0 = cpu.cr0 & 0x80010001, cr4 = cpu.cr4 & 0x3200b0, efer = cpu.efer & 0xc00, eptRoot = cpu.eptOn ? cpu.eptRoot : -1;
    if (this.tlbInvalid || t[0] !== cr0 || t[1] !== cpu.cr3 || t[2] !== cr4 || t[3] !== efer || t[4] !== eptRoot) {
      cpu.flushTlb();
      t[0] = cr0; t[1] = cpu.cr3; t[2] = cr4; t[3] = efer; t[4] = eptRoot;
      this.tlbInvalid = false;
    }
  }

  /** Preemption-timer value left at exit: it counts down once every 2^rate instructions since entry (Vol. 3C, "VMX-Preemption Timer"). */
  private preemptLeft(v: Vmcs, c: CheckContext): number {
    if (!(c.pin & PIN_BASED.ACTIVATE_VMX_PREEMPTION_TIMER)) return 0;
    const ticks = Math.floor((this.cpu.icount - this.entryIc) / 2 ** this.caps.preemptionTimerRate);
    return Math.max(0, v.at32(I.VMX_PREEMPTION_TIMER_VALUE) - ticks);
  }

  /** Record exit information and save guest state (Vol. 3C, "Recording VM-Exit Information", "Saving Guest State"). */
  private saveExit(v: Vmcs, c: CheckContext, preemptLeft: number): void {
    const cpu = this.cpu;
    const reason = cpu.xReason;
    v.set32At(I.EXIT_REASON, reason);
    // Natural-width qualifications (addresses, sign-extended displacements) are stored as 64-bit
    // values; the others are 32-bit formats whose bit 31 may be set (Vol. 3C 28.2.1).
    const wide = reason === EXIT_REASON.EPT_VIOLATION || reason === EXIT_REASON.EPT_MISCONFIGURATION || reason === EXIT_REASON.INVLPG ||
      reason === EXIT_REASON.EXCEPTION_OR_NMI || reason === EXIT_REASON.VMREAD || reason === EXIT_REASON.VMWRITE ||
      reason === EXIT_REASON.GDTR_IDTR_ACCESS || reason === EXIT_REASON.LDTR_TR_ACCESS;
    // "NMI unblocking due to IRET" (bit 12): the exit is due to a fault on an IRET that removed (virtual-)NMI
    // blocking - in the EPT-violation exit qualification (28.2.1, Table 28-7) and the VM-exit interruption
    // information of an exception other than #DF (28.2.2). The saved blocking by NMI is then 0 (26.3).
    const iretUnblock = nmiUnblockedByIret(cpu);
    let qual = wide ? cpu.xQual : cpu.xQual >>> 0;
    if (reason === EXIT_REASON.EPT_VIOLATION && iretUnblock) qual = (qual | 0x1000) >>> 0;
    v.setNumAt(I.EXIT_QUALIFICATION, qual);
    v.set32At(I.VM_EXIT_INSTRUCTION_LENGTH, cpu.xLen);
    v.set32At(I.VM_EXIT_INSTRUCTION_INFORMATION, cpu.xInfo);
    if (cpu.xGlaValid) v.setNumAt(I.GUEST_LINEAR_ADDRESS, cpu.xGla); else v.setNumAt(I.GUEST_LINEAR_ADDRESS, 0);
    if (reason === EXIT_REASON.EPT_VIOLATION || reason === EXIT_REASON.EPT_MISCONFIGURATION) v.setNumAt(I.GUEST_PHYSICAL_ADDRESS, cpu.xGpa);
    const withInt = reason === EXIT_REASON.EXCEPTION_OR_NMI || reason === EXIT_REASON.EXTERNAL_INTERRUPT;
    let intInfo = withInt ? cpu.xIntInfo : 0;
    if (reason === EXIT_REASON.EXCEPTION_OR_NMI && iretUnblock && ((intInfo >> 8) & 7) === T_HWEXC && (intInfo & 0xff) !== 8) intInfo |= 0x1000;
    v.set32At(I.VM_EXIT_INTERRUPTION_INFORMATION, intInfo);
    v.set32At(I.VM_EXIT_INTERRUPTION_ERROR_CODE, withInt ? cpu.xIntErr : 0);
    v.set32At(I.IDT_VECTORING_INFORMATION, cpu.vecInfo);
    v.set32At(I.IDT_VECTORING_ERROR_CODE, cpu.vecInfo ? cpu.vecErr : 0);
    cpu.vecInfo = 0;
    cpu.xGlaValid = false;
    // The valid bit of the VM-entry interruption-information field is cleared on every VM exit.
    v.set32At(I.VM_ENTRY_INTERRUPTION_INFORMATION, v.at32(I.VM_ENTRY_INTERRUPTION_INFORMATION) & 0x7fffffff);
    // Guest state.
    v.set32At(I.GUEST_CR0, cpu.cr0 >>> 0);
    v.setNumAt(I.GUEST_CR3, cpu.cr3);
    v.set32At(I.GUEST_CR4, cpu.cr4 >>> 0);
    if (c.exit & EXIT_CTLS.SAVE_DEBUG_CONTROLS) { v.setNumAt(I.GUEST_DR7, cpu.dr[7]!); v.set32At(I.GUEST_IA32_DEBUGCTL, cpu.debugctl); }
    v.setAt(I.GUEST_RSP, cpu.lo[RSP]!, cpu.hi[RSP]!);
    v.setNumAt(I.GUEST_RIP, cpu.rip);
    v.set32At(I.GUEST_RFLAGS, cpu.getFlags());
    for (let s = 0; s < 8; s++) {
      const sel = SEG_IX[4 * s]!, base = SEG_IX[4 * s + 1]!, limit = SEG_IX[4 * s + 2]!, ar = SEG_IX[4 * s + 3]!;
      v.set32At(sel, cpu.segSel[s]!);
      v.setNumAt(base, cpu.segBase[s]!);
      v.set32At(limit, cpu.segLimit[s]!);
      v.set32At(ar, cpu.segAr[s]!);
    }
    v.setNumAt(I.GUEST_GDTR_BASE, cpu.gdtrBase); v.set32At(I.GUEST_GDTR_LIMIT, cpu.gdtrLimit);
    v.setNumAt(I.GUEST_IDTR_BASE, cpu.idtrBase); v.set32At(I.GUEST_IDTR_LIMIT, cpu.idtrLimit);
    v.set32At(I.GUEST_IA32_SYSENTER_CS, cpu.sysenterCs);
    v.setNumAt(I.GUEST_IA32_SYSENTER_ESP, cpu.sysenterEsp);
    v.setNumAt(I.GUEST_IA32_SYSENTER_EIP, cpu.sysenterEip);
    if (c.exit & EXIT_CTLS.SAVE_IA32_EFER) v.set32At(I.GUEST_IA32_EFER, cpu.efer);
    if (c.exit & EXIT_CTLS.SAVE_IA32_PAT) v.setAt(I.GUEST_IA32_PAT, cpu.patLo, cpu.patHi);
    if (c.exit & EXIT_CTLS.SAVE_VMX_PREEMPTION_TIMER_VALUE) v.set32At(I.VMX_PREEMPTION_TIMER_VALUE, preemptLeft);
    // "IA-32e mode guest" receives EFER.LMA (IA32_VMX_MISC bit 5).
    const entry = v.at32(I.VM_ENTRY_CONTROLS);
    v.set32At(I.VM_ENTRY_CONTROLS, cpu.efer & EFER_LMA ? entry | ENTRY_CTLS.IA32E_MODE_GUEST : entry & ~ENTRY_CTLS.IA32E_MODE_GUEST);
    v.set32At(I.GUEST_ACTIVITY_STATE, cpu.halted ? 1 : 0);
    const blocked = cpu.icount === cpu.shadowAt ? (cpu.shadowKind === 1 ? 1 : 2) : 0;
    // Bit 3: blocking by NMI, or virtual-NMI blocking with "virtual NMIs" (28.3.4 "Saving Non-Register State").
    v.set32At(I.GUEST_INTERRUPTIBILITY_STATE, blocked | (cpu.nmiBlocked ? 8 : 0));
    cpu.iretNmiIc = -1;
    cpu.mtfPending = false;
    v.setNumAt(I.GUEST_PENDING_DEBUG_EXCEPTIONS, debugPendingAtExit(cpu)); // traps held by MOV SS (28.3.4; core/cpu/debug.ts)
  }
}

