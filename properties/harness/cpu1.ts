/**
 * Run ONE instruction on our CPU (core/cpu) with the layout of the native
 * harness (properties/harness/harness.c), and report the result in the native
 * harness's shape, so the two can be compared field by field.
 *
 * Machine: a small PhysMem, 64-bit mode (EFER.LME|LMA|NXE, CR0.PE|PG|NE|ET,
 * CR4.PAE|OSFXSR|OSXMMEXCPT|OSXSAVE and XCR0 = x87|SSE as Linux sets them), 4-level paging (SDM Vol. 3A, 4.5) mapping
 *   NATIVE_SCRATCH_BASE            1 page  RW, NX   (pages around it unmapped)
 *   NATIVE_CODE_ADDR - 0x1000 ..   3 pages RWX      (the harness's CODE_BASE)
 * a 64-bit code segment (access rights 0xa09b), flat data segments (0xc093),
 * no EPT, CPL 0 by default (CPL 3 on request, for #PF U/S tests).
 * x87/SSE state: the harness's, i.e. x87 in the FNINIT state (data registers
 * zero), XMM0-15 and MXCSR from the case (fpu-state.ts); results report them.
 *
 * The code pages are filled exactly like the harness does: 0xCC everywhere,
 * the instruction at NATIVE_CODE_ADDR followed by `jmp rel32` (E9) to the
 * exit stub at CODE_BASE + 0x2000 (`jmp *2(%rip)`; the stub's pointer bytes
 * are 0 here), so an instruction that reads past its end sees the same bytes.
 *
 * Exceptions: the exception bitmap is all ones (pfecMask = pfecMatch = 0,
 * SDM Vol. 3C, 25.6.3), so every exception becomes a VM exit (VM_EXIT with
 * cpu.xIntInfo = vector | type << 8 | ...), which is caught and reported as
 * a fault with the signal Linux would deliver for it. A completed
 * instruction whose next RIP is outside the three code pages is executed
 * one step further, so a branch to unmapped memory faults on the fetch at
 * the target, as in the native harness.
 */
import { PhysMem } from '../../core/memory/physmem.js';
import { Cpu } from '../../core/cpu/cpu.js';
import { VM_EXIT, CPU_FAULT, UnimplementedError } from '../../core/cpu/fault.js';
import { CS, SS, DS, ES, FS, GS, LDTR, TR, IF, CR4_PAE, CR4_OSFXSR, CR4_OSXMMEXCPT, CR4_OSXSAVE, CR4_FSGSBASE } from '../../core/cpu/regs.js';
import { fpuState, resetFpu } from '../../core/cpu/fpu-state.js';
import {
  NATIVE_CODE_ADDR, NATIVE_SCRATCH_BASE, NATIVE_SCRATCH_SIZE, NATIVE_RFLAGS_INPUT_MASK,
  type NativeCase, type NativeResult, type NativeSignal, type NativeState,
} from './native.js';

/** The harness's CODE_BASE (three pages) and exit stub. */
export const CODE_BASE = NATIVE_CODE_ADDR - 0x1000;
export const CODE_SIZE = 0x3000;
export const EXIT_ADDR = CODE_BASE + 0x2000;

// Physical layout of the small memory.
export const PA_PML4 = 0x0000, PA_PDPT = 0x1000, PA_PD = 0x2000, PA_PT_SCRATCH = 0x3000, PA_PT_CODE = 0x4000;
export const PA_SCRATCH = 0x5000, PA_CODE = 0x6000;
const MEM_SIZE = 0x10000;

// Page-table entry bits (Vol. 3A, 4.5, Tables 4-14 .. 4-20).
export const PTE_P = 1, PTE_W = 2, PTE_U = 4, PTE_PS = 0x80;
/** Bit 63 (XD) of an entry, in the high half. */
export const PTE_XD_HI = 0x8000_0000 | 0;

// Exit reasons (Vol. 3C, Appendix C).
const EXIT_EXCEPTION = 0;
const EXIT_TRIPLE_FAULT = 2;

/** Result of runOne: the native shape plus what our CPU alone can tell. */
export type Cpu1Result = NativeResult & {
  /** Set when the CPU stopped with UnimplementedError (never a native outcome). */
  unimplemented?: string;
  /** Set when the CPU left with a VM exit that is not an exception. */
  exitReason?: number;
  /** CR2 after the run (linear address of the last #PF). */
  cr2?: number;
};

export interface Cpu1Options {
  /** Run at CPL 3 (CS/SS DPL 3, user-accessible pages): default false (CPL 0). */
  user?: boolean;
  /**
   * Deliver exceptions whose bit is clear in `excBitmap` through a real IDT
   * (64-bit interrupt gates to CODE_BASE + vector, i.e. onto an INT3 fill
   * byte, whose #BP then exits) with a GDT, both in a page mapped at
   * SYS_ADDR. Default: every exception exits (no IDT).
   */
  idt?: boolean;
  /** Run in compatibility mode (IA-32e with a 32-bit code segment, CS.L = 0, CS.D = 1): 32-bit decoding. */
  compat?: boolean;
  /**
   * Run the case's block through its compiled function (core/cpu/jit.ts): the code runs once to
   * decode and compile it, then again from the same state (exec). Default: one interpreted step.
   */
  compiled?: boolean;
  /** Exception bitmap (default all ones). */
  excBitmap?: number;
  /** Adjusts the CPU after its reset, before each run (CR0.WP, EFER.NXE, FS base...). */
  setup?: (cpu: Cpu) => void;
}

/** Linear address of the GDT/IDT page (option idt). */
export const SYS_ADDR = CODE_BASE + 0x3000;
const PA_SYS = 0x9000;
/** First physical page handed out by mapPage for extra paging structures and pages. */
const PA_ALLOC = 0xa000;

/** Linux's signal for an exception vector (arch/x86/kernel/traps.c). */
export function signalOfVector(v: number): NativeSignal {
  switch (v) {
    case 0: return 'SIGFPE'; // #DE
    case 1: case 3: return 'SIGTRAP'; // #DB, #BP
    case 6: return 'SIGILL'; // #UD
    case 12: return 'SIGBUS'; // #SS
    case 17: return 'SIGBUS'; // #AC
    case 16: case 19: return 'SIGFPE'; // #MF, #XM
    default: return 'SIGSEGV'; // #GP, #PF, #NP, #TS, ...
  }
}

function pdIndex(lin: number): number { return (lin >>> 21) & 0x1ff; }
function ptIndex(lin: number): number { return (lin >>> 12) & 0x1ff; }

/** One CPU over a small memory, reused for many cases. */
export class Cpu1 {
  readonly mem = new PhysMem(MEM_SIZE);
  readonly cpu = new Cpu(this.mem);
  readonly user: boolean;
  readonly opts: Cpu1Options;
  private nextPa = PA_ALLOC;

  constructor(opts: Cpu1Options = {}) {
    this.opts = opts;
    this.user = opts.user === true;
    this.resetPaging();
  }

  /** A zeroed physical page of the small memory (for tests that map their own pages). */
  allocPage(): number {
    if (this.nextPa >= MEM_SIZE) throw new Error('Cpu1: out of physical pages');
    const pa = this.nextPa;
    this.nextPa += 0x1000;
    this.mem.fill(pa, 0x1000);
    return pa;
  }

  /**
   * Maps the 4-KiB linear page `lin` (canonical, as a double) to physical `pa`
   * with PTE bits `lo` (P, W, U, ...) and `hi` (XD...), creating the paging
   * structures on the way (present, writable, user).
   */
  mapPage(lin: number, pa: number, lo: number, hi = 0): void {
    const u = BigInt.asUintN(64, BigInt(lin));
    const idx = [Number((u >> 39n) & 0x1ffn), Number((u >> 30n) & 0x1ffn), Number((u >> 21n) & 0x1ffn), Number((u >> 12n) & 0x1ffn)];
    let table = PA_PML4;
    for (let level = 0; level < 3; level++) {
      const ea = table + idx[level]! * 8;
      let e = this.mem.dv.getUint32(ea, true);
      if (!(e & PTE_P)) {
        e = this.allocPage() | PTE_P | PTE_W | PTE_U;
        this.mem.dv.setUint32(ea, e, true);
        this.mem.dv.setUint32(ea + 4, 0, true);
      }
      table = e & ~0xfff;
    }
    const ea = table + idx[3]! * 8;
    this.mem.dv.setInt32(ea, (pa & ~0xfff) | lo, true);
    this.mem.dv.setInt32(ea + 4, hi, true);
    this.cpu.flushTlb();
  }

  /** Writes the page tables (all entries present, A/D clear). */
  resetPaging(): void {
    const m = this.mem;
    m.fill(0, 0x5000);
    const u = this.user ? PTE_U : 0;
    const dir = PTE_P | PTE_W | PTE_U;
    m.write64(PA_PML4 + 0 * 8, PA_PDPT | dir);
    m.write64(PA_PDPT + 0 * 8, PA_PD | dir);
    m.write64(PA_PD + pdIndex(NATIVE_SCRATCH_BASE) * 8, PA_PT_SCRATCH | dir);
    m.write64(PA_PD + pdIndex(CODE_BASE) * 8, PA_PT_CODE | dir);
    this.setPte(NATIVE_SCRATCH_BASE, PA_SCRATCH | PTE_P | PTE_W | u, PTE_XD_HI);
    for (let k = 0; k < 3; k++) this.setPte(CODE_BASE + k * 0x1000, (PA_CODE + k * 0x1000) | PTE_P | PTE_W | u, 0);
    this.nextPa = PA_ALLOC;
    if (this.opts.idt === true) {
      this.setPte(SYS_ADDR, PA_SYS | PTE_P | PTE_W, 0);
      this.writeSystemTables();
    }
    this.cpu.flushTlb();
  }

  /** GDT at SYS_ADDR (null, 64-bit code 0x08, data 0x10), IDT at SYS_ADDR + 0x800 (Vol. 3A, 6.14.1). */
  private writeSystemTables(): void {
    const dv = this.mem.dv;
    this.mem.fill(PA_SYS, 0x1000);
    dv.setUint32(PA_SYS + 8, 0x0000ffff, true); dv.setUint32(PA_SYS + 12, 0x00af9b00, true);
    dv.setUint32(PA_SYS + 16, 0x0000ffff, true); dv.setUint32(PA_SYS + 20, 0x00cf9300, true);
    for (let v = 0; v < 128; v++) {
      const g = PA_SYS + 0x800 + v * 16;
      const target = CODE_BASE + v;
      dv.setUint32(g, (0x08 << 16) | (target & 0xffff), true);
      dv.setUint32(g + 4, (target & 0xffff0000) | 0x8e00, true); // P, DPL 0, 64-bit interrupt gate
      dv.setUint32(g + 8, 0, true);
    }
  }

  /** Physical address of the PTE mapping `lin` (scratch or code pages only). */
  ptePa(lin: number): number {
    const pt = pdIndex(lin) === pdIndex(NATIVE_SCRATCH_BASE) ? PA_PT_SCRATCH : PA_PT_CODE;
    return pt + ptIndex(lin) * 8;
  }
  /** Sets the PTE for `lin` (low and high 32-bit halves) and flushes the TLB. */
  setPte(lin: number, lo: number, hi: number): void {
    const pa = this.ptePa(lin);
    this.mem.dv.setInt32(pa, lo, true);
    this.mem.dv.setInt32(pa + 4, hi, true);
    this.cpu.flushTlb();
  }
  getPte(lin: number): [number, number] {
    const pa = this.ptePa(lin);
    return [this.mem.dv.getInt32(pa, true), this.mem.dv.getInt32(pa + 4, true)];
  }

  /** Puts the CPU in the 64-bit state described in the module comment. */
  private resetCpu(): void {
    const c = this.cpu;
    c.efer = (1 << 8) | (1 << 10) | (1 << 11); // LME | LMA | NXE
    c.cr0 = (1 << 0) | (1 << 4) | (1 << 5) | (1 << 31) | (1 << 16); // PE | ET | NE | PG | WP
    c.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_OSXSAVE | CR4_FSGSBASE; // as Linux user space with HWCAP2.FSGSBASE
    fpuState(c).xcr0 = 3; // x87 | SSE: the components both this CPU and the host support
    c.cr3 = PA_PML4;
    c.cr2 = 0;
    const dpl = this.user ? 3 : 0;
    for (let s = 0; s < 8; s++) {
      c.segSel[s] = 0; c.segBase[s] = 0; c.segLimit[s] = 0xffff_ffff; c.segAr[s] = 0xc093 | (dpl << 5);
    }
    c.segSel[CS] = 0x08 | dpl; c.segAr[CS] = (this.opts.compat === true ? 0xc09b : 0xa09b) | (dpl << 5);
    for (const s of [SS, DS, ES, FS, GS]) c.segSel[s] = 0x10 | dpl;
    c.segAr[LDTR] = 0x10000; // unusable
    c.segSel[TR] = 0x18; c.segAr[TR] = 0x8b; c.segLimit[TR] = 0x67;
    c.updateMode();
    c.eptOn = false;
    c.excBitmap = this.opts.excBitmap ?? 0xffff_ffff;
    if (this.opts.idt === true) { c.gdtrBase = SYS_ADDR; c.gdtrLimit = 0x17; c.idtrBase = SYS_ADDR + 0x800; c.idtrLimit = 0x7ff; }
    c.pfecMask = 0; c.pfecMatch = 0;
    c.ctlPin = 0; c.ctlProc = 0; c.ctlProc2 = 0;
    if (this.opts.idt !== true) c.idtrLimit = 0; // never used: every exception exits
    c.halted = false; c.shadowAt = -1; c.shadowKind = 0;
    c.vecInfo = 0; c.vecErr = 0; c.codeDirty = false;
    this.opts.setup?.(c);
  }

  /** Loads the code pages exactly like harness.c's run_case. */
  loadCode(code: Uint8Array): void {
    const u8 = this.mem.u8;
    u8.fill(0xcc, PA_CODE, PA_CODE + CODE_SIZE);
    const at = PA_CODE + 0x1000;
    u8.set(code, at);
    const len = code.length;
    u8[at + len] = 0xe9;
    this.mem.dv.setInt32(at + len + 1, EXIT_ADDR - (NATIVE_CODE_ADDR + len + 5), true);
    const ex = PA_CODE + 0x2000;
    u8[ex] = 0xff; u8[ex + 1] = 0x25;
    this.mem.dv.setInt32(ex + 2, 2, true);
    for (let k = 8; k < 16; k++) u8[ex + k] = 0;
    this.cpu.flushCode();
  }

  private snapshot(): NativeState {
    const c = this.cpu;
    const gpr = new Uint32Array(32);
    for (let r = 0; r < 16; r++) { gpr[2 * r] = c.lo[r]! >>> 0; gpr[2 * r + 1] = c.hi[r]! >>> 0; }
    const mem = this.mem.u8.slice(PA_SCRATCH, PA_SCRATCH + NATIVE_SCRATCH_SIZE);
    const f = fpuState(c);
    return { gpr, rflags: c.getFlags() >>> 0, mem, xmm: new Uint32Array(f.xmm), mxcsr: f.mxcsr >>> 0 };
  }

  /**
   * Runs `c` and reports like the native harness: one instruction, or, with
   * `steps` > 1, instructions until RIP reaches the end of `c.code` (the
   * harness's exit stub) or `steps` have run.
   */
  run(k: NativeCase, steps = 1): Cpu1Result {
    this.loadCode(k.code);
    return this.exec(NATIVE_CODE_ADDR, k.state, true, steps, NATIVE_CODE_ADDR + k.code.length);
  }

  /** Put the machine in `state` at `rip`; `flush`: forget decoded (and compiled) blocks. */
  private load(rip: number, state: NativeState, flush: boolean): void {
    const c = this.cpu;
    this.resetCpu();
    if (flush) c.flushCode();
    this.mem.u8.set(state.mem, PA_SCRATCH);
    for (let r = 0; r < 16; r++) { c.lo[r] = state.gpr[2 * r]! | 0; c.hi[r] = state.gpr[2 * r + 1]! | 0; }
    resetFpu(c);
    const f = fpuState(c);
    if (state.xmm !== undefined) f.xmm.set(state.xmm);
    f.mxcsr = state.mxcsr ?? 0x1f80;
    c.setFlags((state.rflags & NATIVE_RFLAGS_INPUT_MASK) | IF | 2);
    c.rip = rip;
  }

  /**
   * Runs one instruction at linear `rip` (code already in memory) from
   * `state`; ripOffset in the result is relative to NATIVE_CODE_ADDR.
   * `followBranch`: if the next RIP is outside the harness's code pages,
   * run one more step so that the fetch at the target faults.
   */
  exec(rip: number, state: NativeState, followBranch = false, steps = 1, end = -1): Cpu1Result {
    const c = this.cpu;
    const compiled = this.opts.compiled === true;
    if (compiled) {
      // Warm-up: run the code once so that its blocks are decoded and compiled (jitAfter 0: at their
      // first fast-loop run), then start again from the same state with the blocks kept.
      this.load(rip, state, true);
      c.jitAfter = 0;
      try { c.run(c.icount + 64); } catch (e) { if (e !== VM_EXIT && !(e instanceof UnimplementedError)) throw e; }
      this.load(rip, state, false);
    } else this.load(rip, state, true);
    try {
      let n = 1, atEnd = false;
      let b = null;
      if (compiled) {
        try { b = c.blockAt(rip); } catch (e) { if (e !== CPU_FAULT) throw e; } // a fetch fault: the step below takes it
      }
      if (b !== null && b.jit !== null && b.insns.length <= steps + 1) {
        // The whole block through its compiled function; it may end with the harness's jump to the
        // exit stub (at `end`), which changes nothing the result holds.
        atEnd = rip + b.insns[b.insns.length - 1]!.off === end;
        n = b.insns.length - (atEnd ? 1 : 0);
        c.run(c.icount + b.insns.length);
      } else c.run(c.icount + 1);
      if (atEnd) return { ok: true, state: this.snapshot(), ripOffset: end - NATIVE_CODE_ADDR, cr2: c.cr2 };
      // Sequences stop at the end of the code or where a branch left it (the harness reports that target).
      for (; n < steps && c.rip !== end && c.rip >= rip && c.rip < end; n++) c.run(c.icount + 1);
      const off = c.rip - CODE_BASE;
      if (followBranch && !(off >= 0 && off < CODE_SIZE)) c.run(c.icount + 1); // fetch at the target faults
      return { ok: true, state: this.snapshot(), ripOffset: c.rip - NATIVE_CODE_ADDR, cr2: c.cr2 };
    } catch (e) {
      if (e instanceof UnimplementedError) {
        return { ok: false, signal: 'SIGILL', code: 0, state: this.snapshot(), ripOffset: c.rip - NATIVE_CODE_ADDR, addr: 0n, errorCode: 0, unimplemented: e.message };
      }
      if (e !== VM_EXIT) throw e;
      if (c.xReason === EXIT_EXCEPTION) {
        const vector = c.xIntInfo & 0xff;
        const hasErr = (c.xIntInfo & 0x800) !== 0;
        return {
          ok: false,
          signal: signalOfVector(vector),
          code: 0,
          state: this.snapshot(),
          ripOffset: c.rip - NATIVE_CODE_ADDR,
          addr: vector === 14 ? BigInt.asUintN(64, BigInt(c.xQual)) : 0n,
          vector,
          errorCode: hasErr ? c.xIntErr >>> 0 : 0,
          cr2: c.cr2,
        };
      }
      return {
        ok: false, signal: 'SIGSEGV', code: 0, state: this.snapshot(), ripOffset: c.rip - NATIVE_CODE_ADDR,
        addr: 0n, errorCode: 0, exitReason: c.xReason === EXIT_TRIPLE_FAULT ? EXIT_TRIPLE_FAULT : c.xReason,
      };
    }
  }
}

let shared: Cpu1 | undefined;
/** Runs one case on a shared CPL-0 machine. */
export function runOnCpu(k: NativeCase): Cpu1Result {
  shared ??= new Cpu1();
  return shared.run(k);
}
