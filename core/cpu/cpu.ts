/**
 * The x86-64 logical processor ("silicon") executing in VMX non-root mode.
 *
 * State layout is chosen for speed: 64-bit registers are two Int32 halves in
 * typed arrays, RIP and linear addresses are doubles (a canonical address
 * sign-extended from bit 47 is exact), status flags are lazy (flags.ts), and
 * code is decoded once into Blocks cached by host-physical address.
 *
 * The CPU never calls a device and never touches the VMCS layout: when the
 * guest does something the VM-execution controls say must exit, it fills the
 * raw exit fields `x*` and throws VM_EXIT; core/vmx turns that into VMCS
 * exit-information fields (SDM Vol. 3C, chapter "VM Exits").
 */
import type { PhysMem } from '../memory/physmem.js';
import { CPU_FAULT, VM_EXIT, UnimplementedError } from './fault.js';
import { LF_NONE, getArith, setArith, type LazyFlags } from './flags.js';
import {
  CS, SS, FS, RSP, ARITH_FLAGS, FLAGS_FIXED1, TWO32, TF, RF, AC,
  CR0_PG, CR0_PE, CR0_AM, EFER_LMA, EFER_LME, AR_L, AR_DB, AR_DPL_SHIFT, GP, SS_VEC, AC_VEC,
} from './regs.js';
import { SYNC_NONE, SYNC_FULL, type Insn } from './insn.js';
import { Block, buildBlock, compileBlock, JIT_THRESHOLD, ripHex, hexBytes } from './block.js';
import { walk, type WalkResult } from './mmu.js';
import { deliverEvent, boundaryEvents, mtfExit } from './interrupts.js';
import { PROC_BASED } from '../vmx/capabilities.js';
import { DebugState, stepDebug, watchAccess, DR6_FIXED1, DR7_FIXED1, DR7_ENABLES } from './debug.js';

/** Controls whose exits are decided on instruction boundaries (checked once per block, see runBlocks). */
const BOUNDARY_CONTROLS = PROC_BASED.INTERRUPT_WINDOW_EXITING | PROC_BASED.NMI_WINDOW_EXITING;

import { ACC_R, ACC_W, ACC_X, ACC_SYS, ACC_SZ2, ACC_SZ4, ACC_SZ8, P_SR, P_SW, P_SX, P_UR, P_UW, P_UX, P_SRA, P_SWA, P_ACU, TLB_BITS, TLB_MASK } from './access.js';
export { ACC_R, ACC_W, ACC_X, ACC_SYS, P_SR, P_SW, P_SX, P_UR, P_UW, P_UX };

const TLB_SIZE = 1 << TLB_BITS;
/** Entries of the guest-physical (EPT) translation cache. */
export const EPTC_SIZE = 1024;
export const NO_TAG = 0.5; // never equal to a page base

export class Cpu implements LazyFlags {
  readonly mem: PhysMem;
  readonly u8: Uint8Array;
  readonly dv: DataView;
  /** Per-page written flags of host memory (PhysMem.dirty). */
  readonly dirty: Uint8Array;

  // ---- general-purpose registers: low and high 32-bit halves ----
  readonly lo = new Int32Array(16);
  readonly hi = new Int32Array(16);
  /** RIP of the current instruction (canonical signed double in 64-bit mode). */
  rip = 0;
  /** RIP of the next instruction; branch handlers overwrite it. */
  ripNext = 0;

  // ---- RFLAGS: everything but the six status flags lives here ----
  flagsRest = FLAGS_FIXED1;
  lop = LF_NONE; lsz = 4; lres = 0; ldst = 0; lsrc = 0; lresH = 0; ldstH = 0; lsrcH = 0; lcf = 0; farith = 0;

  // ---- segments: selector, base (double), limit, access rights (VMCS layout) ----
  readonly segSel = new Int32Array(8);
  readonly segBase = new Float64Array(8);
  readonly segLimit = new Float64Array(8);
  readonly segAr = new Int32Array(8);
  /** Base actually added to effective addresses (0 for ES/CS/SS/DS in 64-bit mode). */
  readonly segBaseEff = new Float64Array(8);
  gdtrBase = 0; gdtrLimit = 0xffff; idtrBase = 0; idtrLimit = 0xffff;
  cpl = 0;
  /** Code size of the current mode in bytes: 2, 4 or 8 (64-bit mode). */
  mode = 4;

  // ---- control registers and MSR-backed state ----
  cr0 = CR0_PE | 0x10; cr2 = 0; cr3 = 0; cr4 = 0; cr8 = 0; efer = 0;
  readonly dr = new Float64Array(8);
  /**
   * Segment of the last data address formed outside 64-bit mode (ea.ts ea32/ea16, linearOf, stackAddr):
   * which segment a 4-GiB wrap belongs to (segWrap). Not maintained in 64-bit mode.
   */
  accSeg = 3;
  /** Debug-exception state (debug.ts): #DB qualification, held traps, data breakpoints. */
  readonly dbg = new DebugState();
  /** MSRs without dedicated fields, keyed by index: [lo, hi]. */
  readonly msrs = new Map<number, [number, number]>();
  kernelGsBase = 0; star = 0; starHi = 0; lstar = 0; cstar = 0; fmask = 0;
  sysenterCs = 0; sysenterEsp = 0; sysenterEip = 0; tscAux = 0;
  patLo = 0x00070406; patHi = 0x00070406; debugctl = 0;
  xcr0 = 1;
  /** x87 control, status and tag words (only the control instructions are modelled). */
  fpuCw = 0x37f; fpuSw = 0; fpuTw = 0xffff;

  // ---- virtual time ----
  /** Retired instructions in non-root mode: the machine's clock. */
  icount = 0;
  /** TSC offset applied in non-root mode when "use TSC offsetting" is set. */
  tscOffset = 0;
  /** HLT activity state. */
  halted = false;
  /** Interrupt shadow: blocking by STI (1) / MOV SS (2) while icount === shadowAt. */
  shadowKind = 0; shadowAt = -1;
  /**
   * Blocking by NMI (guest interruptibility state bit 3); with the "virtual
   * NMIs" control it is virtual-NMI blocking (SDM Vol. 3C, Table 25-3
   * "Format of Interruptibility State"). Set by NMI delivery, removed by IRET
   * (interrupts.ts iretUnblocksNmi).
   */
  nmiBlocked = false;
  /** An NMI latched at the processor's NMI input, not yet recognized (Vol. 3A, 6.7.1 "Handling Multiple NMIs"). */
  nmiPending = false;
  /** icount of the IRET that removed (virtual-)NMI blocking, for "NMI unblocking due to IRET" (Vol. 3C 28.2.2/28.2.3); -1: none. */
  iretNmiIc = -1;
  /** An MTF VM exit is pending before the next instruction (VM entry injected one, or a vectored event, Vol. 3C 26.5.2). */
  mtfPending = false;

  // ---- VMX non-root controls, loaded by core/vmx at VM entry ----
  ctlPin = 0; ctlProc = 0; ctlProc2 = 0; excBitmap = 0; pfecMask = 0; pfecMatch = 0;
  cr0Mask = 0; cr0Shadow = 0; cr4Mask = 0; cr4Shadow = 0;
  ioBitmapA = 0; ioBitmapB = 0; msrBitmap = 0;
  cr3TargetCount = 0; readonly cr3Targets = new Float64Array(4);
  eptOn = false; eptRoot = 0; eptAd = false;
  /**
   * Guest-physical translations through EPT (Vol. 3C, 29.4.1 "guest-physical mappings"),
   * by 4-KiB guest-physical page, direct-mapped: tag = page address (-1: empty), the
   * host-physical page and the R/W/X bits combined over the walk. Filled by
   * mmu.ts eptTranslate on a successful walk, dropped with the TLB (flushTlb: INVEPT
   * and EPTP changes reach it through the engine's VM-entry context check).
   */
  readonly eptcTag = new Float64Array(EPTC_SIZE).fill(-1);
  readonly eptcHpa = new Float64Array(EPTC_SIZE);
  readonly eptcRwx = new Int32Array(EPTC_SIZE);

  // ---- raw exit information for core/vmx (valid when VM_EXIT is thrown) ----
  xReason = 0; xQual = 0; xLen = 0; xInfo = 0; xGla = 0; xGlaValid = false; xGpa = 0;
  xIntInfo = 0; xIntErr = 0;
  /** IDT-vectoring information of the event being delivered (0 if none). */
  vecInfo = 0; vecErr = 0;

  // ---- faults ----
  faultVector = 0;
  /** Error code, or -1 when the exception has none. */
  faultCode = -1;

  // ---- TLB: linear page base -> host-physical page base with permissions ----
  readonly tlbTag = new Float64Array(TLB_SIZE).fill(NO_TAG);
  readonly tlbHpa = new Float64Array(TLB_SIZE);
  readonly tlbPerm = new Int32Array(TLB_SIZE);
  /** TLB indices filled from large guest pages, by the large page's linear base (for INVLPG). */
  readonly tlbLarge = new Map<number, number[]>();
  /** Permission bit required for a data read / write / fetch at the current CPL. */
  permR = P_SR; permW = P_SW; permX = P_SX;

  // ---- decoded-code cache ----
  readonly blocks = new Map<number, Block>();
  /** Per host page: blocks decoded from it (for invalidation on writes). */
  readonly codePages: Uint8Array;
  readonly pageBlocks = new Map<number, Block[]>();
  /** Set when a write invalidated code, so the current block stops after this instruction. */
  codeDirty = false;
  /**
   * Bumped by every change that can alter what blockAt returns for a linear
   * RIP - a TLB fill or flush, dropped code, a mode change - so a block
   * chain checked at the current value needs no new check (Block.succGen0).
   */
  chainGen = 0;
  /**
   * false: run as the reference interpreter - the opcode table's handlers
   * only (no decode-time specialization), every instruction synced and run
   * one at a time, no block chaining. Tests compare the two paths; set it
   * before any code is decoded (or call flushCode).
   */
  fast = true;
  /** Whole-block fast-loop runs after which a block is compiled (block.ts compileBlock); Infinity: never. */
  jitAfter = JIT_THRESHOLD;

  // ---- scratch for 64-bit results ----
  /** High half of the last 64-bit value returned by a read helper. */
  th = 0;

  constructor(mem: PhysMem) {
    this.mem = mem;
    this.u8 = mem.u8;
    this.dv = mem.dv;
    this.dirty = mem.dirty;
    this.codePages = new Uint8Array(Math.ceil(mem.size / 4096));
    this.segLimit.fill(0xffff);
    this.dr[6] = DR6_FIXED1; this.dr[7] = DR7_FIXED1; // power-up values (Vol. 3A, Table 10-1)
  }

  // =====================================================================
  // RFLAGS
  // =====================================================================
  getFlags(): number {
    return (this.flagsRest & ~ARITH_FLAGS) | getArith(this) | FLAGS_FIXED1;
  }
  setFlags(v: number): void {
    setArith(this, v);
    const ac = (this.flagsRest ^ v) & AC;
    this.flagsRest = (v & ~ARITH_FLAGS) | FLAGS_FIXED1;
    if (ac !== 0) this.dataPerms();
  }
  /** permR/permW for the CPL and, at CPL < 3, RFLAGS.AC (SMAP: access.ts P_SRA/P_SWA). Call when AC changes. */
  dataPerms(): void {
    const user = this.cpl === 3, ac = (this.flagsRest & AC) !== 0;
    // Alignment checking (access.ts P_ACU): CPL 3 with CR0.AM and RFLAGS.AC.
    this.acCheck = user && ac && (this.cr0 & CR0_AM) !== 0;
    this.permR = user ? (this.acCheck ? P_ACU : P_UR) : ac ? P_SR | P_SRA : P_SR;
    this.permW = user ? (this.acCheck ? P_ACU : P_UW) : ac ? P_SW | P_SWA : P_SW;
  }
  /** Whether data accesses are alignment-checked (CPL 3, CR0.AM, RFLAGS.AC; set by dataPerms). */
  acCheck = false;
  /** #AC(0) for a misaligned access of mask+1 bytes when alignment checking is on (Vol. 3A 6.15). */
  private alignCheck(lin: number, mask: number): void {
    if (this.acCheck && (lin & mask) !== 0) this.fault(AC_VEC, 0);
  }

  // =====================================================================
  // Faults and exits
  // =====================================================================
  /** Raise exception `vector` (error code `code`, -1 for none). Never returns. */
  fault(vector: number, code = -1): never {
    this.faultVector = vector;
    this.faultCode = code;
    throw CPU_FAULT;
  }
  gp(code = 0): never { return this.fault(GP, code); }

  /** Cause a VM exit with the given basic reason and raw fields. Never returns. */
  vmexit(reason: number, qual: number, len: number, info = 0): never {
    this.xReason = reason;
    this.xQual = qual;
    this.xLen = len;
    this.xInfo = info;
    throw VM_EXIT;
  }

  // =====================================================================
  // Mode bookkeeping
  // =====================================================================
  /** Recompute mode, CPL-dependent permissions and effective segment bases. */
  updateMode(): void {
    const lma = (this.efer & EFER_LMA) !== 0;
    const csAr = this.segAr[CS]!;
    this.mode = lma && (csAr & AR_L) ? 8 : (csAr & AR_DB) ? 4 : 2;
    this.cpl = (this.segAr[SS]! >> AR_DPL_SHIFT) & 3;
    const user = this.cpl === 3;
    this.dataPerms();
    this.permX = user ? P_UX : P_SX;
    this.chainGen++;
    for (let s = 0; s < 8; s++) {
      this.segBaseEff[s] = this.mode === 8 && s < FS ? 0 : this.segBase[s]!;
    }
  }

  flushTlb(): void {
    this.chainGen++;
    this.tlbTag.fill(NO_TAG);
    this.tlbLarge.clear();
    this.eptcTag.fill(-1);
  }
  /**
   * INVLPG (SDM Vol. 3A, 4.10.4.1): drop the translation of the page holding
   * `lin`. A 2-MiB/4-MiB/1-GiB guest page is cached as 4-KiB entries, all of
   * which are listed under the large page's base in tlbLarge.
   */
  flushTlbPage(lin: number): void {
    this.chainGen++;
    const base = lin - (lin & 0xfff);
    const idx = (lin >>> 12) & TLB_MASK;
    if (this.tlbTag[idx] === base) this.tlbTag[idx] = NO_TAG;
    if (this.tlbLarge.size === 0) return;
    for (const size of [0x200000, 0x400000, 0x40000000]) {
      const lb = lin - (((lin % size) + size) % size);
      const list = this.tlbLarge.get(lb);
      if (!list) continue;
      for (const k of list) { const t = this.tlbTag[k]!; if (t >= lb && t < lb + size) this.tlbTag[k] = NO_TAG; }
      this.tlbLarge.delete(lb);
    }
  }

  // =====================================================================
  // Address translation (slow path in mmu.ts)
  // =====================================================================
  /** Translate a linear address for an access; fills the TLB; returns the host-physical address. */
  translate(lin: number, acc: number): number {
    // Sized data accesses under alignment checking all come here (P_ACU): misaligned ones are #AC(0).
    if ((acc & (ACC_SZ2 | ACC_SZ4 | ACC_SZ8)) !== 0) this.alignCheck(lin, acc & ACC_SZ8 ? 7 : acc & ACC_SZ4 ? 3 : 1);
    const r: WalkResult = walk(this, lin, acc);
    this.chainGen++;
    const base = lin - (lin & 0xfff);
    const idx = (lin >>> 12) & TLB_MASK;
    this.tlbTag[idx] = base;
    this.tlbHpa[idx] = r.hpaPage;
    this.tlbPerm[idx] = r.perm;
    if (r.large >= 0) {
      const list = this.tlbLarge.get(r.large);
      if (list) list.push(idx); else this.tlbLarge.set(r.large, [idx]);
    }
    if (this.dbg.watchN !== 0) watchAccess(this, lin, acc, idx); // data breakpoints (debug.ts)
    return r.hpaPage + (lin & 0xfff);
  }

  private hpaFor(lin: number, acc: number, perm: number): number {
    const idx = (lin >>> 12) & TLB_MASK;
    if (this.tlbTag[idx] === lin - (lin & 0xfff) && (this.tlbPerm[idx]! & perm) !== 0) {
      return this.tlbHpa[idx]! + (lin & 0xfff);
    }
    return this.translate(lin, acc);
  }

  // =====================================================================
  // Linear memory access (hot paths)
  // =====================================================================
  read8(lin: number): number {
    const idx = (lin >>> 12) & TLB_MASK;
    const off = lin & 0xfff;
    if (this.tlbTag[idx] === lin - off && (this.tlbPerm[idx]! & this.permR) !== 0) return this.u8[this.tlbHpa[idx]! + off]!;
    return this.u8[this.translate(lin, ACC_R)]!;
  }
  read16(lin: number): number {
    const off = lin & 0xfff;
    if (off > 4094) {
      this.alignCheck(lin, 1);
      if (this.mode !== 8 && lin > TWO32 - 2) this.segWrap();
      return this.read8(lin) | (this.read8(this.linAdd(lin, 1)) << 8);
    }
    return this.dv.getUint16(this.hpaFor(lin, ACC_R | ACC_SZ2, this.permR), true);
  }
  read32(lin: number): number {
    const off = lin & 0xfff;
    if (off > 4092) {
      this.alignCheck(lin, 3);
      if (this.mode !== 8 && lin > TWO32 - 4) this.segWrap();
      return this.read16(lin) | (this.read16(this.linAdd(lin, 2)) << 16);
    }
    return this.dv.getInt32(this.hpaFor(lin, ACC_R | ACC_SZ4, this.permR), true);
  }
  /** 64-bit read: returns the low half, leaves the high half in `th`. */
  read64(lin: number): number {
    const off = lin & 0xfff;
    if (off > 4088) {
      this.alignCheck(lin, 7);
      if (this.mode !== 8 && lin > TWO32 - 8) this.segWrap();
      const l = this.read32(lin);
      this.th = this.read32(this.linAdd(lin, 4));
      return l;
    }
    const pa = this.hpaFor(lin, ACC_R | ACC_SZ8, this.permR);
    this.th = this.dv.getInt32(pa + 4, true);
    return this.dv.getInt32(pa, true);
  }

  /**
   * Host-physical address for a write of `len` bytes at `lin` within one page, after the
   * same translation, dirty-page and code-page bookkeeping as a write there (string
   * instructions writing a page's worth of elements at once).
   */
  pageForWrite(lin: number, len: number): number { return this.wpa(lin, len); }
  /** Host-physical address for a read at `lin`, translated (and checked) as a read there. */
  pageForRead(lin: number): number { return this.hpaFor(lin, ACC_R, this.permR); }

  /** Host-physical address of a write of `len` bytes within one page, checking code pages. */
  private wpa(lin: number, len: number): number {
    const pa = this.hpaFor(lin, ACC_W | (len === 8 ? ACC_SZ8 : len === 4 ? ACC_SZ4 : len === 2 ? ACC_SZ2 : 0), this.permW);
    const page = pa >>> 12;
    this.dirty[page] = 1;
    if (this.codePages[page]) this.invalidateCode(pa, len);
    return pa;
  }
  write8(lin: number, v: number): void {
    this.u8[this.wpa(lin, 1)] = v;
  }
  write16(lin: number, v: number): void {
    if ((lin & 0xfff) > 4094) { this.writeSplit(lin, 2, v, 0); return; }
    this.dv.setUint16(this.wpa(lin, 2), v, true);
  }
  write32(lin: number, v: number): void {
    if ((lin & 0xfff) > 4092) { this.writeSplit(lin, 4, v, 0); return; }
    this.dv.setInt32(this.wpa(lin, 4), v, true);
  }
  write64(lin: number, lo: number, hi: number): void {
    if ((lin & 0xfff) > 4088) { this.writeSplit(lin, 8, lo, hi); return; }
    const pa = this.wpa(lin, 8);
    this.dv.setInt32(pa, lo, true);
    this.dv.setInt32(pa + 4, hi, true);
  }
  /** A write that crosses a page boundary: both pages are checked before any byte is written. */
  private writeSplit(lin: number, len: number, lo: number, hi: number): void {
    this.alignCheck(lin, len - 1);
    if (this.mode !== 8 && lin > TWO32 - len) this.segWrap();
    const first = 4096 - (lin & 0xfff);
    const pa1 = this.wpa(lin, first);
    const pa2 = this.wpa(this.linAdd(lin, first), len - first);
    for (let k = 0; k < len; k++) {
      const b = k < 4 ? (lo >>> (8 * k)) & 0xff : (hi >>> (8 * (k - 4))) & 0xff;
      this.u8[k < first ? pa1 + k : pa2 + k - first] = b;
    }
  }
  /** Check a write is possible without performing it (for instructions that must not fault half-way). */
  probeWrite(lin: number, len: number): void {
    if ((lin & 0xfff) + len > 4096 && this.mode !== 8 && lin > TWO32 - len) this.segWrap(); // #GP/#SS before #PF
    this.hpaFor(lin, ACC_W, this.permW);
    // The second page is checked at its first byte: that is the address a #PF reports (CR2).
    if ((lin & 0xfff) + len > 4096) {
      this.hpaFor(this.linAdd(lin, 4096 - (lin & 0xfff)), ACC_W, this.permW);
    }
  }
  /**
   * An access outside 64-bit mode whose linear range wraps past 4 GiB crosses a page and comes
   * through the split paths above. Through a flat segment (base 0, limit 4 GiB - 1) that is an
   * offset beyond the limit: #GP(0), #SS(0) for SS (Vol. 3A 5.3 "Limit Checking", 6.15). Other
   * segments (a base that is not 0, smaller limits) are not limit-checked by this machine.
   */
  private segWrap(): void {
    const s = this.accSeg;
    if (this.segBase[s] === 0 && this.segLimit[s] === 0xffff_ffff) this.fault(s === SS ? SS_VEC : GP, 0);
  }

  /** Supervisor-mode ("implicit") accesses to system structures: GDT, IDT, TSS. */
  sysRead32(lin: number): number {
    const pa = (lin & 0xfff) > 4092 ? -1 : this.translate(lin, ACC_R | ACC_SYS);
    if (pa < 0) return this.sysRead8(lin) | (this.sysRead8(lin + 1) << 8) | (this.sysRead8(lin + 2) << 16) | (this.sysRead8(lin + 3) << 24);
    return this.dv.getInt32(pa, true);
  }
  sysRead8(lin: number): number { return this.u8[this.translate(lin, ACC_R | ACC_SYS)]!; }
  sysWrite8(lin: number, v: number): void {
    const pa = this.translate(lin, ACC_W | ACC_SYS);
    this.dirty[pa >>> 12] = 1;
    if (this.codePages[pa >>> 12]) this.invalidateCode(pa, 1);
    this.u8[pa] = v;
  }

  /** lin + k with the wrap of the current address space (2^32 outside 64-bit mode). */
  linAdd(lin: number, k: number): number {
    const r = lin + k;
    return this.mode === 8 ? r : r >>> 0;
  }

  // =====================================================================
  // Stack
  // =====================================================================
  /** Linear address of SS:RSP+delta for the current stack size. */
  stackAddr(delta: number): number {
    const ssAr = this.segAr[SS]!;
    if (this.mode === 8) {
      const v = this.lo[RSP]! >>> 0;
      const a = this.hi[RSP]! * TWO32 + v + delta;
      if (a < -0x8000_0000_0000 || a >= 0x8000_0000_0000) this.fault(SS_VEC, 0);
      return a;
    }
    const sp = ssAr & AR_DB ? (this.lo[RSP]! + delta) >>> 0 : (this.lo[RSP]! + delta) & 0xffff;
    this.accSeg = SS;
    return (this.segBase[SS]! + sp) >>> 0;
  }
  addRsp(delta: number): void {
    if (this.mode === 8) {
      const s = (this.lo[RSP]! >>> 0) + delta;
      this.lo[RSP] = s;
      this.hi[RSP] = (this.hi[RSP]! + Math.floor(s / TWO32)) | 0;
    } else if (this.segAr[SS]! & AR_DB) {
      this.lo[RSP] = this.lo[RSP]! + delta;
    } else {
      this.lo[RSP] = (this.lo[RSP]! & ~0xffff) | ((this.lo[RSP]! + delta) & 0xffff);
    }
  }
  /** Push a value of `size` bytes (2, 4 or 8); high half in `hi` for 8. */
  push(size: number, lo: number, hi: number): void {
    const a = this.stackAddr(-size);
    if (size === 8) this.write64(a, lo, hi);
    else if (size === 4) this.write32(a, lo);
    else this.write16(a, lo);
    this.addRsp(-size);
  }
  /** push(8, lo, hi) in 64-bit mode (the same checks and order, no size dispatch). */
  push64(lo: number, hi: number): void {
    const l = this.lo[RSP]! >>> 0;
    const a = this.hi[RSP]! * TWO32 + l - 8;
    if (a < -0x8000_0000_0000 || a >= 0x8000_0000_0000) this.fault(SS_VEC, 0);
    this.write64(a, lo, hi);
    const s = l - 8;
    this.lo[RSP] = s;
    this.hi[RSP] = (this.hi[RSP]! + (s < 0 ? -1 : 0)) | 0;
  }
  /** pop(8) in 64-bit mode: returns the low half, high half in `th`. */
  pop64(): number {
    const l = this.lo[RSP]! >>> 0;
    const a = this.hi[RSP]! * TWO32 + l;
    if (a < -0x8000_0000_0000 || a >= 0x8000_0000_0000) this.fault(SS_VEC, 0);
    const v = this.read64(a);
    const s = l + 8;
    this.lo[RSP] = s;
    this.hi[RSP] = (this.hi[RSP]! + (s >= TWO32 ? 1 : 0)) | 0;
    return v;
  }
  /** Pop `size` bytes: returns the low half, high half in `th`. */
  pop(size: number): number {
    const a = this.stackAddr(0);
    let v: number;
    if (size === 8) v = this.read64(a);
    else { v = size === 4 ? this.read32(a) : this.read16(a); this.th = 0; }
    this.addRsp(size);
    return v;
  }

  // =====================================================================
  // Code cache
  // =====================================================================
  /** Invalidate decoded code overlapping host-physical [pa, pa+len). */
  invalidateCode(pa: number, len: number): void {
    this.chainGen++;
    for (let page = pa >>> 12; page <= (pa + len - 1) >>> 12; page++) {
      if (!this.codePages[page]) continue;
      const list = this.pageBlocks.get(page);
      if (list) for (const b of list) { this.blocks.delete(b.key); b.valid = false; }
      this.pageBlocks.delete(page);
      this.codePages[page] = 0;
    }
    this.codeDirty = true;
  }
  /** Drop every decoded block (after a change the cache key does not capture). */
  flushCode(): void {
    this.chainGen++;
    for (const b of this.blocks.values()) b.valid = false;
    this.blocks.clear();
    this.pageBlocks.clear();
    this.codePages.fill(0);
  }
  /** Record that a block was decoded from host page `page`. */
  addCodePage(page: number, b: Block): void {
    this.codePages[page] = 1;
    const list = this.pageBlocks.get(page);
    if (list) list.push(b); else this.pageBlocks.set(page, [b]);
  }

  // =====================================================================
  // The execution loop
  // =====================================================================
  /**
   * Execute until `stopAt` instructions have retired, or until a VM exit is
   * thrown (VM_EXIT propagates to the caller, core/vmx). Guest exceptions are
   * delivered through the guest IDT (or turned into VM exits by the
   * exception bitmap) inside the loop.
   */
  run(stopAt: number): void {
    // An MTF VM exit pending before the first instruction outranks everything below SMI/INIT (Vol. 3C 26.5.2).
    if (this.mtfPending) { this.mtfPending = false; mtfExit(this); }
    const mtf = (this.ctlProc & PROC_BASED.MONITOR_TRAP_FLAG) !== 0;
    const evt = (this.ctlProc & BOUNDARY_CONTROLS) !== 0 || this.nmiPending;
    while (this.icount < stopAt) {
      try {
        if (this.halted || mtf) {
          // Window exits and NMIs are checked before an instruction; they also end the HLT state.
          const delivered = evt && boundaryEvents(this, this.icount);
          if (mtf) {
            // Monitor trap flag (Vol. 3C 26.5.2): one instruction, or the delivery of an event, then an MTF VM exit.
            if (!delivered) {
              if (this.halted) { this.icount = stopAt; return; }
              if (this.debugOn()) stepDebug(this); else this.stepBlock(this.blockAt(this.rip), this.icount + 1);
            }
            mtfExit(this);
          }
          if (this.halted) { this.icount = stopAt; return; }
          if (delivered) continue;
        }
        this.runBlocks(stopAt, evt);
      } catch (e) {
        if (e !== CPU_FAULT) throw e;
        this.codeDirty = false;
        deliverEvent(this, this.faultVector, 3 /* hardware exception */, this.faultCode, 0);
        // A fault (and any nested exception) is delivered, then the MTF VM exit (26.5.2).
        if (mtf) mtfExit(this);
      }
    }
  }

  /**
   * The dispatch loop. A whole block runs without per-instruction stores of
   * rip and icount: a pure handler (insn.ts) gets them restored only if it
   * throws, a branch gets only ripNext, anything that reads RIP or the
   * instruction count is synced before it runs (Insn.sync). Hot blocks run
   * compiled (block.ts compileBlock) with the same stores. The slow path,
   * one synced instruction at a time, serves a block that would run past
   * stopAt, starts inside an interrupt shadow, or the reference interpreter.
   * Block boundaries are those of the decoded blocks in every path: the
   * interrupt-window check below happens between them.
   */
  private runBlocks(stopAt: number, evt: boolean): void {
    const fast = this.fast;
    let prev: Block | null = null;
    for (;;) {
      const ic0 = this.icount;
      if (ic0 >= stopAt) return;
      // NMI-window and interrupt-window exits, NMIs (interrupts.ts boundaryEvents): only when a control or a latched NMI asks.
      if (evt && boundaryEvents(this, ic0)) { prev = null; continue; }
      if (this.halted) return;
      // Single-step, RF, DR7 breakpoints (debug.ts): one instruction at a time, checked once per block.
      if (this.debugOn()) { stepDebug(this); prev = null; continue; }
      const rip = this.rip;
      let b: Block;
      if (prev === null) b = this.blockAt(rip);
      else if (rip === prev.succRip0 && ((prev.succGen0 === this.chainGen && prev.succPx0 === this.permX) || this.chainOk(prev, 0, rip))) b = prev.succ0!;
      else if (rip === prev.succRip1 && ((prev.succGen1 === this.chainGen && prev.succPx1 === this.permX) || this.chainOk(prev, 1, rip))) b = prev.succ1!;
      else {
        b = this.blockAt(rip);
        if (b.valid) {
          if (prev.succ0 === null) { prev.succRip0 = rip; prev.succ0 = b; prev.succGen0 = this.chainGen; prev.succPx0 = this.permX; }
          else { prev.succRip1 = rip; prev.succ1 = b; prev.succGen1 = this.chainGen; prev.succPx1 = this.permX; }
        }
      }
      const insns = b.insns;
      const n = insns.length;
      if (n > stopAt - ic0 || ic0 === this.shadowAt || !fast) { this.stepBlock(b, stopAt); prev = null; continue; }
      prev = b;
      const jit = b.jit;
      if (jit !== null && !this.codeDirty) { jit(this, rip, ic0, stopAt, !evt); continue; }
      if (++b.runs >= this.jitAfter && b.valid) {
        // Code generation from strings may be disallowed (--disallow-code-generation-from-strings): keep interpreting.
        try { b.jit = compileBlock(b); } catch (e) { if (!(e instanceof EvalError)) throw e; this.jitAfter = Infinity; }
      }
      let k = 0;
      try {
        for (; k < n; k++) {
          const i = insns[k]!;
          const sync = i.sync;
          if (sync !== SYNC_NONE) {
            this.ripNext = rip + i.next;
            if (sync === SYNC_FULL) { this.rip = rip + i.off; this.icount = ic0 + k; }
          }
          i.fn(this, i);
          if (this.codeDirty) break;
        }
      } catch (e) {
        const i = insns[k]!;
        if (i.sync !== SYNC_FULL) { this.rip = rip + i.off; this.icount = ic0 + k; }
        throw e;
      }
      if (k < n) { this.codeDirty = false; k++; }
      const last = insns[k - 1]!;
      this.rip = last.sync !== SYNC_NONE ? this.ripNext : rip + last.next;
      this.icount = ic0 + k;
    }
  }

  /**
   * Whether successor `slot` of `from` is the block blockAt(rip) would return:
   * the same TLB hit, still valid, decoded for this mode. Records the check.
   */
  private chainOk(from: Block, slot: number, rip: number): boolean {
    const c = slot === 0 ? from.succ0! : from.succ1!;
    const lin = this.mode === 8 ? rip : (rip + this.segBaseEff[CS]!) >>> 0;
    const idx = (lin >>> 12) & TLB_MASK;
    const off = lin & 0xfff;
    if (this.tlbTag[idx] !== lin - off || (this.tlbPerm[idx]! & this.permX) === 0 ||
      this.tlbHpa[idx]! + off !== c.pa || !c.valid || c.mode !== this.mode) return false;
    if (slot === 0) { from.succGen0 = this.chainGen; from.succPx0 = this.permX; } else { from.succGen1 = this.chainGen; from.succPx1 = this.permX; }
    return true;
  }

  /** RFLAGS.TF or RF is 1, or DR7 enables a breakpoint: instructions go through debug.ts stepDebug. */
  debugOn(): boolean {
    return ((this.flagsRest & (TF | RF)) | (this.dr[7]! & DR7_ENABLES)) !== 0;
  }

  /** Run up to stopAt - icount instructions of b (at most one inside an interrupt shadow), each synced. */
  stepBlock(b: Block, stopAt: number): void {
    const insns = b.insns;
    let n = insns.length;
    const left = stopAt - this.icount;
    if (n > left) n = left;
    if (this.icount === this.shadowAt && n > 1) n = 1;
    for (let k = 0; k < n; k++) {
      const i = insns[k]!;
      this.ripNext = this.rip + i.len;
      i.fn(this, i);
      this.rip = this.ripNext;
      this.icount++;
      if (this.codeDirty) { this.codeDirty = false; break; }
    }
  }

  /** The block for linear RIP, decoding it if needed. */
  blockAt(rip: number): Block {
    const lin = this.mode === 8 ? rip : (rip + this.segBaseEff[CS]!) >>> 0; // CS base outside 64-bit mode (Vol. 3A, 3.4)
    const pa = this.hpaFor(lin, ACC_X, this.permX);
    const key = pa * 16 + this.mode;
    const b = this.blocks.get(key);
    if (b !== undefined) return b;
    return buildBlock(this, lin, pa, key);
  }

  // =====================================================================
  // Helpers used by handlers
  // =====================================================================
  /** Stop the machine: the guest used something this machine does not implement. */
  unimplementedMsg(what: string): never {
    const bytes = new Uint8Array(0);
    throw new UnimplementedError(`${what} at RIP 0x${ripHex(this.rip)}`, this.rip, bytes);
  }

  /** Throw UnimplementedError for the instruction at RIP. */
  unimplemented(i: Insn, what: string): never {
    const bytes = new Uint8Array(i.len);
    for (let k = 0; k < i.len; k++) {
      try { bytes[k] = this.read8(this.linAdd(this.rip, k)); } catch { break; }
    }
    throw new UnimplementedError(`${what} (${i.mn}) at RIP 0x${ripHex(this.rip)}: ${hexBytes(bytes)}`, this.rip, bytes);
  }

  /** Apply a new CR0/CR4/EFER combination: LMA, TLB and mode bookkeeping (SDM Vol. 3A, 4.1.1). */
  pagingChanged(): void {
    const lmaWas = this.efer & EFER_LMA;
    if ((this.cr0 & CR0_PG) && (this.efer & EFER_LME)) this.efer |= EFER_LMA;
    else this.efer &= ~EFER_LMA;
    if ((this.efer & EFER_LMA) !== lmaWas) this.updateMode();
    this.flushTlb();
  }
}
