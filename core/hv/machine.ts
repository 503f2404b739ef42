/**
 * The machine: host memory, the VT-x logical processor, and the hypervisor
 * that drives it KVM-style (configure the VMCS, VMLAUNCH, read the exit
 * reason with VMREAD, dispatch to one handler per exit reason, VMRESUME).
 */
import { PhysMem, MemoryRangeError } from '../memory/physmem.js';
import { Cpu } from '../cpu/cpu.js';
import { UnimplementedError } from '../cpu/fault.js';
import { ripHex } from '../cpu/block.js';
import { Vmx } from '../vmx/vmx.js';
import { VMCS } from '../vmx/fields.js';
import { EntryEngine } from '../vmx/engine.js';
import { DEFAULT_VMX_CAPABILITIES, type VmxCapabilities } from '../vmx/capabilities.js';
import { exitReasonName, EXIT_REASON } from '../vmx/exit-reasons.js';
import { describeVmInstructionError } from '../vmx/errors.js';
import { describeVmxAbort } from '../vmx/exit-msrs.js';
import { VirtualClock } from '../clock.js';
import { IoBus } from './iobus.js';
import { hostLayout, buildEpt, initRegions, MIB, type HostLayout } from './layout.js';
import { configureControls } from './setup.js';
import { NULL_SINK, type TraceSink, type TraceEvent } from './events.js';
import { StateDigest } from './digest.js';
import { EXIT_HANDLERS } from './exits/index.js';
import { Uart16550 } from '../devices/uart16550.js';
import { uartPorts } from './ports.js';
import { PcPlatform } from './platform.js';
import { MachineMmioBus } from './mmio-bus.js';
import { PROC_BASED } from '../vmx/capabilities.js';
import { passThroughMsrs } from './msrs.js';

export interface MachineOptions {
  /** Guest RAM in MiB (a multiple of 2). */
  readonly memMiB: number;
  /** Stop after this many retired guest instructions (the run's budget). */
  readonly maxInstructions?: number;
  readonly sink?: TraceSink;
  /** Bytes the guest writes to COM1. */
  readonly serial?: (byte: number) => void;
  readonly caps?: VmxCapabilities;
  /** Emit a state digest after every this many events (default 1000). */
  readonly digestEvery?: number;
  /** Disk image for virtio-blk (PCI 00:01.0); none when absent. */
  readonly disk?: string;
  /** Write guest disk writes through to the image instead of a copy-on-write overlay. */
  readonly persist?: boolean;
  /** Wall-clock time the CMOS RTC shows at virtual time 0 (ISO 8601, UTC); default DEFAULT_RTC_START. */
  readonly rtcStart?: string;
  /** Offer x2APIC mode (CPUID.01H:ECX[21], IA32_APIC_BASE.EXTD, MSRs 800H-8FFH); default true. */
  readonly x2apic?: boolean;
}

/** The RTC date of a machine unless its configuration says otherwise. */
export const DEFAULT_RTC_START = '2026-01-01T00:00:00Z';

export const DEFAULT_DIGEST_EVERY = 1000;
/** Instructions between Machine.onProgress calls. */
export const PROGRESS_STEP = 50_000_000;

/** VM-entry interruption information injecting an NMI: vector 2, type 2 (NMI), valid (Vol. 3C 25.8.3, 27.6.1). */
const NMI_INJECTION = (0x80000000 | (2 << 8) | 2) >>> 0;

/** Why a run ended. */
export type Stop =
  | { readonly kind: 'halted'; readonly message: string }
  | { readonly kind: 'budget'; readonly message: string }
  | { readonly kind: 'triple-fault'; readonly message: string }
  | { readonly kind: 'entry-failure'; readonly message: string; readonly rule: string }
  | { readonly kind: 'error'; readonly message: string }
  | { readonly kind: 'exit-code'; readonly message: string; readonly code: number }
  | { readonly kind: 'reset'; readonly message: string }
  | { readonly kind: 'power-off'; readonly message: string };

export interface RunResult {
  readonly stop: Stop;
  readonly instructions: number;
  readonly exits: ReadonlyMap<number, number>;
}

export class Machine {
  readonly mem: PhysMem;
  readonly layout: HostLayout;
  readonly cpu: Cpu;
  readonly vmx: Vmx;
  readonly engine: EntryEngine;
  readonly caps: VmxCapabilities;
  readonly io = new IoBus();
  readonly clock: VirtualClock;
  readonly uart: Uart16550;
  readonly pc: PcPlatform;
  readonly mmio: MachineMmioBus;
  readonly sink: TraceSink;
  readonly exitCounts = new Map<number, number>();
  /** Budget end in virtual time. */
  readonly budgetEnd: number;
  private launched = false;
  /**
   * Called between VM exits once every PROGRESS_STEP instructions (at the first exit past each
   * step: nothing is added to the run, so a run with and without it records the same events).
   */
  onProgress: ((instructions: number) => void) | null = null;
  private nextProgress = 0;
  /** Events emitted so far (digests not counted). */
  private events = 0;
  readonly digestEvery: number;
  private readonly digest: StateDigest;
  /** MSR values the hypervisor keeps for intercepted MSRs. */
  readonly msrStore = new Map<number, [number, number]>();
  /** Set by an exit handler that wants the run to stop after it. */
  pendingStop: Stop | null = null;
  /** Controls to restore at the next VM exit, after stepGuestInstruction. */
  private stepRestore: { readonly proc: number; readonly proc2: number } | null = null;
  /** Set by an exit handler that has already dealt with the event in the IDT-vectoring information (not re-injected). */
  vectoringHandled = false;
  /** An NMI raised by the platform waits to be injected (raiseNmi). */
  nmiPending = false;

  constructor(opts: MachineOptions) {
    if (!Number.isInteger(opts.memMiB) || opts.memMiB < 2 || opts.memMiB % 2 !== 0 || opts.memMiB > 3072) {
      throw new RangeError(`--mem must be an even number of MiB between 2 and 3072, got ${opts.memMiB}`);
    }
    this.caps = opts.caps ?? DEFAULT_VMX_CAPABILITIES;
    this.layout = hostLayout(opts.memMiB * MIB);
    this.mem = new PhysMem(this.layout.total);
    this.cpu = new Cpu(this.mem);
    this.vmx = new Vmx(this.mem, this.caps);
    this.engine = new EntryEngine(this.cpu, this.caps);
    this.vmx.setEntryEngine(this.engine);
    this.sink = opts.sink ?? NULL_SINK;
    this.budgetEnd = opts.maxInstructions ?? Number.MAX_SAFE_INTEGER;
    this.digestEvery = opts.digestEvery ?? DEFAULT_DIGEST_EVERY;
    if (!Number.isSafeInteger(this.digestEvery) || this.digestEvery < 1) throw new RangeError(`digest interval must be a positive integer, got ${this.digestEvery}`);
    this.clock = new VirtualClock(() => this.cpu.icount);
    this.uart = new Uart16550({ output: opts.serial ?? (() => undefined), irq: (l) => this.pc.isaIrq(4, l) });
    this.io.register(0x3f8, 8, uartPorts('com1', this.uart));
    // A configuration value parsed, not the host's clock: the same string gives the same date anywhere.
    const rtcMs = Date.parse(opts.rtcStart ?? DEFAULT_RTC_START);
    if (!Number.isFinite(rtcMs) || rtcMs % 1000 !== 0) throw new RangeError(`RTC start must be an ISO 8601 date with whole seconds, got '${opts.rtcStart}'`);
    this.pc = new PcPlatform(this, { ...(opts.disk ? { disk: opts.disk } : {}), ...(opts.persist ? { persist: true } : {}), rtcStartMs: rtcMs, x2apic: opts.x2apic ?? true });
    this.mmio = new MachineMmioBus(this, this.pc.mmioDevices());

    const l = this.layout;
    initRegions(this.mem, l);
    this.mem.fill(l.ioBitmapA, 0x2000, 0xff); // every port exits
    this.mem.fill(l.msrBitmap, 0x1000, 0xff); // every MSR access exits ...
    passThroughMsrs(this.mem, l.msrBitmap); // ... but the SYSCALL/SWAPGS MSRs (msrs.ts)
    const eptp = buildEpt(this.mem, l);
    this.vmx.vmxon(l.vmxon);
    this.vmx.vmclear(l.vmcs);
    this.vmx.vmptrld(l.vmcs);
    if (this.vmx.status !== 'VMsucceed') throw new Error(`hypervisor setup: VMXON/VMPTRLD failed (${this.vmx.status})`);
    configureControls(this.vmx, this.caps, l, eptp);
    this.digest = new StateDigest(this);
  }

  /** Emit an event to the sink; every `digestEvery` events a state digest follows. */
  emit(e: TraceEvent): void {
    this.sink.event(e);
    if (++this.events % this.digestEvery === 0) this.sink.event(this.digest.event());
  }

  /** Bytes of guest RAM (the top of guest-physical RAM). */
  get ramBytes(): number { return this.layout.ram; }

  // ---- helpers for exit handlers ----
  /**
   * Guest RIP += VM-exit instruction length (Vol. 3C: defined for instruction-caused exits).
   * The emulated instruction has now completed, so blocking by STI or by MOV SS (which covers
   * only the instruction after STI / MOV SS, Vol. 3C 25.4.2 "Guest Non-Register State") ends:
   * interruptibility bits 1:0 are cleared, as KVM's skip_emulated_instruction does. Without
   * this, "STI; HLT" with an interrupt pending would not take it until after the next instruction.
   */
  skipInstruction(): void {
    const rip = this.vmx.vmreadSigned(VMCS.GUEST_RIP);
    const len = this.vmx.vmread32(VMCS.VM_EXIT_INSTRUCTION_LENGTH);
    this.vmx.vmwriteNum(VMCS.GUEST_RIP, this.cpu.mode === 8 ? rip + len : (rip + len) >>> 0);
    const intr = this.vmx.vmread32(VMCS.GUEST_INTERRUPTIBILITY_STATE);
    if (intr & 3) this.vmx.vmwrite32(VMCS.GUEST_INTERRUPTIBILITY_STATE, intr & ~3);
    // Single-stepping over an emulated instruction (as KVM's kvm_skip_emulated_instruction): with RFLAGS.TF = 1
    // a single-step #DB trap is pending after it - pending debug exceptions BS (Vol. 3C 25.4.2, 27.7.3).
    if (this.vmx.vmread32(VMCS.GUEST_RFLAGS) & 0x100) this.vmx.vmwrite32(VMCS.GUEST_PENDING_DEBUG_EXCEPTIONS, this.vmx.vmread32(VMCS.GUEST_PENDING_DEBUG_EXCEPTIONS) | 0x4000);
  }
  /** Guest GPR r as [lo, hi]: RSP lives in the VMCS, the others in the register file the exit left behind. */
  getGpr(r: number): [number, number] {
    if (r === 4) return [this.vmx.vmread32(VMCS.GUEST_RSP), Math.floor(this.vmx.vmreadSigned(VMCS.GUEST_RSP) / 4294967296) >>> 0];
    return [this.cpu.lo[r]! >>> 0, this.cpu.hi[r]! >>> 0];
  }
  setGpr(r: number, lo: number, hi: number): void {
    if (r === 4) { this.vmx.vmwriteHalves(VMCS.GUEST_RSP, lo, hi); return; }
    this.cpu.lo[r] = lo; this.cpu.hi[r] = hi;
  }
  /** Inject a hardware exception through the VM-entry interruption-information field (Vol. 3C, 25.8.3). */
  injectException(vector: number, errorCode = -1): void {
    this.vmx.vmwrite32(VMCS.VM_ENTRY_INTERRUPTION_INFORMATION, vector | (3 << 8) | (errorCode >= 0 ? 0x800 : 0) | 0x80000000);
    if (errorCode >= 0) this.vmx.vmwrite32(VMCS.VM_ENTRY_EXCEPTION_ERROR_CODE, errorCode);
  }

  /**
   * Let the processor execute the guest instruction at RIP once, with the secondary controls in `clearProc2`
   * off, and take control back right after it with the monitor trap flag (SDM Vol. 3C 26.5.2: an MTF VM exit
   * follows the instruction, or the delivery of a fault it raised). The controls are restored at that next
   * VM exit, whatever its reason. This is how the hypervisor "emulates" an instruction it intercepted only to
   * observe: the silicon performs it with all its architectural checks and faults.
   */
  stepGuestInstruction(clearProc2: number): void {
    const vmx = this.vmx;
    const proc = vmx.vmread32(VMCS.PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS);
    const proc2 = vmx.vmread32(VMCS.SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS);
    this.stepRestore ??= { proc, proc2 };
    vmx.vmwrite32(VMCS.SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, (proc2 & ~clearProc2) >>> 0);
    vmx.vmwrite32(VMCS.PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, (proc | PROC_BASED.MONITOR_TRAP_FLAG) >>> 0);
  }

  /**
   * An NMI from the platform (local APIC: an NMI IPI, self-NMI included; LINT0/LINT1 in NMI delivery mode; an
   * I/O APIC message with delivery mode NMI). Latched like the NMI input of a processor: one more NMI while one
   * is already pending is lost (SDM Vol. 3A 6.7.1 "Handling Multiple NMIs"). Injected by prepareEntry.
   */
  raiseNmi(): void { this.nmiPending = true; }

  /**
   * Event injection before VM entry, as KVM does it:
   * 1. an event whose delivery a VM exit interrupted (IDT-vectoring
   *    information valid, SDM Vol. 3C 28.2.3) is injected again (bit 12 is
   *    undefined there and is cleared);
   * 2. a pending NMI is injected (type 2, vector 2) when nothing else is
   *    being injected and the guest is not blocking NMIs - no blocking by
   *    STI, MOV SS or (virtual) NMI (interruptibility bits 0, 1, 3; the entry
   *    checks "guest.interruptibility.nmi-movss", "-nmi-sti" and
   *    "-virtual-nmi" of Vol. 3C 27.3.1.5); otherwise "NMI-window exiting"
   *    is requested so the guest exits (reason 8) as soon as it can take one
   *    (Vol. 3C 26.7.6) - with "virtual NMIs" the processor tracks the
   *    guest's blocking and IRET removes it (26.3);
   * 3. else, a pending external interrupt is injected when the guest can take
   *    it (RFLAGS.IF = 1, no blocking by STI or MOV SS; Vol. 3C 27.3.1
   *    checks "guest.rflags.if-extint" / "guest.interruptibility.extint"),
   *    waking a halted guest; when it cannot, interrupt-window exiting is
   *    requested so the guest exits as soon as it can (Vol. 3C, 26.7.5).
   */
  private prepareEntry(): void {
    const vmx = this.vmx;
    let proc = vmx.vmread32(VMCS.PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS);
    const vec = vmx.vmread32(VMCS.IDT_VECTORING_INFORMATION);
    let injected = (vmx.vmread32(VMCS.VM_ENTRY_INTERRUPTION_INFORMATION) & 0x80000000) !== 0;
    const handled = this.vectoringHandled;
    this.vectoringHandled = false;
    if ((vec & 0x80000000) && !handled) {
      vmx.vmwrite32(VMCS.VM_ENTRY_INTERRUPTION_INFORMATION, vec & ~0x1000);
      if (vec & 0x800) vmx.vmwrite32(VMCS.VM_ENTRY_EXCEPTION_ERROR_CODE, vmx.vmread32(VMCS.IDT_VECTORING_ERROR_CODE));
      const type = (vec >> 8) & 7;
      if (type === 4 || type === 5 || type === 6) vmx.vmwrite32(VMCS.VM_ENTRY_INSTRUCTION_LENGTH, vmx.vmread32(VMCS.VM_EXIT_INSTRUCTION_LENGTH));
      injected = true;
    }
    const intr = vmx.vmread32(VMCS.GUEST_INTERRUPTIBILITY_STATE);
    let wantNmiWindow = false;
    if (this.nmiPending) {
      if (!injected && (intr & 0xb) === 0) {
        this.nmiPending = false;
        vmx.vmwrite32(VMCS.VM_ENTRY_INTERRUPTION_INFORMATION, NMI_INJECTION);
        if (vmx.vmread32(VMCS.GUEST_ACTIVITY_STATE) === 1) vmx.vmwrite32(VMCS.GUEST_ACTIVITY_STATE, 0);
        this.emit({ kind: 'irq', ic: this.cpu.icount, vector: 2, type: 2, rip: vmx.vmreadSigned(VMCS.GUEST_RIP) });
        injected = true;
      } else wantNmiWindow = true;
    }
    let wantWindow = false;
    if (!injected) {
      const p = this.pc.pendingInterrupt();
      if (p !== -1) {
        const canTake = (vmx.vmread32(VMCS.GUEST_RFLAGS) & 0x200) !== 0 && (intr & 3) === 0;
        if (canTake) {
          const vector = this.pc.acknowledge(p);
          vmx.vmwrite32(VMCS.VM_ENTRY_INTERRUPTION_INFORMATION, vector | 0x80000000); // type 0: external interrupt
          if (vmx.vmread32(VMCS.GUEST_ACTIVITY_STATE) === 1) vmx.vmwrite32(VMCS.GUEST_ACTIVITY_STATE, 0);
          this.emit({ kind: 'irq', ic: this.cpu.icount, vector, type: 0, rip: vmx.vmreadSigned(VMCS.GUEST_RIP) });
          wantWindow = this.pc.pendingInterrupt() !== -1;
        } else wantWindow = true;
      }
    } else wantWindow = this.pc.pendingInterrupt() !== -1;
    let nproc = wantWindow ? proc | PROC_BASED.INTERRUPT_WINDOW_EXITING : proc & ~PROC_BASED.INTERRUPT_WINDOW_EXITING;
    nproc = wantNmiWindow ? nproc | PROC_BASED.NMI_WINDOW_EXITING : nproc & ~PROC_BASED.NMI_WINDOW_EXITING;
    if (nproc !== proc) { proc = nproc; vmx.vmwrite32(VMCS.PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, proc >>> 0); }
  }

  /** Run the guest until it stops. */
  run(): RunResult {
    const vmx = this.vmx;
    const stop = (s: Stop): RunResult => {
      // A final digest pins the state the run ended in.
      this.sink.event(this.digest.event());
      return { stop: s, instructions: this.cpu.icount, exits: this.exitCounts };
    };
    for (;;) {
      if (this.onProgress !== null && this.cpu.icount >= this.nextProgress) {
        this.nextProgress = this.cpu.icount + PROGRESS_STEP;
        this.onProgress(this.cpu.icount);
      }
      this.engine.kickAt = Math.min(this.budgetEnd, this.clock.next());
      if (this.launched) this.prepareEntry();
      try {
        if (this.launched) vmx.vmresume(); else vmx.vmlaunch();
      } catch (e) {
        if (e instanceof UnimplementedError) return stop({ kind: 'error', message: e.message });
        if (e instanceof MemoryRangeError) return stop({ kind: 'error', message: `guest access outside host memory: ${e.message} (RIP 0x${ripHex(this.cpu.rip)})` });
        throw e;
      }
      if (vmx.abort) return stop({ kind: 'error', message: describeVmxAbort(vmx.abort) });
      if (vmx.status !== 'VMsucceed') {
        // The engine's rule explains errors 7 and 8 only; 4 and 5 are decided by VMLAUNCH/VMRESUME before it runs.
        const rule = vmx.status === 'VMfailValid' && (vmx.error === 7 || vmx.error === 8) ? this.engine.failedRule : null;
        const what = vmx.status === 'VMfailValid' ? `VMfailValid ${vmx.error} (${describeVmInstructionError(vmx.error)})` : vmx.status;
        return stop({ kind: 'entry-failure', rule: rule?.id ?? '', message: `VM entry failed: ${what}${rule ? `: rule ${rule.id} — ${rule.text} [SDM Vol. 3C, ${rule.section}]` : ''}` });
      }
      this.launched = true;
      const reason = vmx.vmread32(VMCS.EXIT_REASON);
      const basic = reason & 0xffff;
      this.exitCounts.set(basic, (this.exitCounts.get(basic) ?? 0) + 1);
      const failed = (reason & 0x80000000) !== 0;
      const rule = failed ? this.engine.failedRule?.id ?? '' : '';
      this.emit({
        kind: 'exit', ic: this.cpu.icount, reason, qual: vmx.vmreadNum(VMCS.EXIT_QUALIFICATION),
        rip: vmx.vmreadSigned(VMCS.GUEST_RIP), len: vmx.vmread32(VMCS.VM_EXIT_INSTRUCTION_LENGTH),
        info: vmx.vmread32(VMCS.VM_EXIT_INSTRUCTION_INFORMATION), gpa: vmx.vmreadNum(VMCS.GUEST_PHYSICAL_ADDRESS),
        gla: vmx.vmreadSigned(VMCS.GUEST_LINEAR_ADDRESS), rule,
      });
      if (failed) {
        const r = this.engine.failedRule;
        this.launched = false;
        return stop({ kind: 'entry-failure', rule, message: `VM entry failed with exit reason ${basic} (${exitReasonName(basic) ?? '?'})${r ? `: rule ${r.id} — ${r.text} [SDM Vol. 3C, ${r.section}]` : ''}` });
      }
      if (this.stepRestore) {
        // The single step of stepGuestInstruction is over (the MTF VM exit, or any earlier one): controls back.
        // The window-exiting bits are prepareEntry's to set again.
        vmx.vmwrite32(VMCS.PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, this.stepRestore.proc);
        vmx.vmwrite32(VMCS.SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, this.stepRestore.proc2);
        this.stepRestore = null;
      }
      const handler = EXIT_HANDLERS[basic];
      if (!handler) {
        return stop({ kind: 'error', message: `unhandled VM exit ${basic} (${exitReasonName(basic) ?? 'unknown'}) at RIP 0x${ripHex(vmx.vmreadSigned(VMCS.GUEST_RIP))}` });
      }
      let s: Stop | void;
      try {
        s = handler(this);
      } catch (e) {
        if (e instanceof UnimplementedError) return stop({ kind: 'error', message: e.message });
        throw e;
      }
      if (s) return stop(s);
      if (this.pendingStop) return stop(this.pendingStop);
      if (this.cpu.icount >= this.budgetEnd) {
        return stop({ kind: 'budget', message: `instruction budget exhausted after ${this.cpu.icount} instructions (RIP 0x${ripHex(vmx.vmreadSigned(VMCS.GUEST_RIP))})` });
      }
      this.clock.fireDue();
    }
  }
}

export { EXIT_REASON };
