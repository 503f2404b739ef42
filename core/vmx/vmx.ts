/**
 * The VMX instructions, as a host-side API for the hypervisor (core/hv).
 *
 * Intel SDM Vol. 3C chapter "VMX Instruction Reference" (30 in older
 * editions, 31 in newer): section "Conventions" (VMsucceed, VMfailInvalid,
 * VMfailValid(ErrorNumber), VMfail), and the operation pseudocode of VMXON,
 * VMXOFF, VMCLEAR, VMPTRLD, VMPTRST, VMREAD, VMWRITE, VMLAUNCH/VMRESUME.
 * Error numbers: section "VM Instruction Error Numbers" (errors.ts).
 *
 * The caller is always software in VMX root operation at CPL 0 in 64-bit
 * mode, so the #UD/#GP conditions that depend on CPL, CR0.PE, RFLAGS.VM,
 * CS.L, A20M, IA32_FEATURE_CONTROL or the host's CR0/CR4 fixed bits are not
 * modelled; "not in VMX operation" raises VmxFault('#UD'). VMX non-root
 * callers (nested virtualization) and the dual-monitor treatment of SMM are
 * not modelled either.
 *
 * VMCS state: VMCSs made active by VMPTRLD live in a Map keyed by region
 * address ("cached in the processor"); VMCLEAR writes a VMCS's data back into
 * its region (vmcs.ts describes the implementation-specific layout), sets its
 * launch state to clear and makes it inactive; VMPTRLD of an inactive VMCS
 * reads it from its region.
 *
 * Per-exit paths use the BigInt-free variants (vmread32, vmreadNum,
 * vmreadSigned, vmwrite32, vmwriteNum, vmwriteHalves); vmread/vmwrite take and
 * return 64-bit BigInts for tests and tools.
 */

import type { PhysMem } from '../memory/physmem.js';
import { Vmcs, readRegion32, regionInMemory, VMCS_REGION_LAYOUT } from './vmcs.js';
import { VMCS, VMCS_FIELDS, MAX_ENCODING, fieldSupported, encodingName } from './fields.js';
import { DEFAULT_VMX_CAPABILITIES, PROC_BASED2, type VmxCapabilities } from './capabilities.js';
import { VM_INSTRUCTION_ERROR as ERR, VM_INSTRUCTION_ERROR_MESSAGES, VmxFault } from './errors.js';
import { isEntryFailure } from './exit-reasons.js';
import type { VmxAbort } from './exit-msrs.js';

export type VmxStatus = 'VMsucceed' | 'VMfailInvalid' | 'VMfailValid';

/** What the VM-entry engine reports back to VMLAUNCH/VMRESUME. */
export type VmEntryOutcome =
  /** Control came back through a VM exit (including a VM-entry failure that loads host state, exit reason bit 31). */
  | { readonly kind: 'exit' }
  /** The checks on VMX controls / host state failed: VMfailValid(error), e.g. 7 or 8. */
  | { readonly kind: 'failValid'; readonly error: number }
  /**
   * The VM exit ended in a VMX abort (Vol. 3C 28.7): the indicator is in the VMCS region and
   * the logical processor is in the VMX-abort shutdown state.
   */
  | { readonly kind: 'abort'; readonly abort: VmxAbort };

/**
 * Performs the VM entry proper (Vol. 3C chapter "VM Entries": checks on
 * controls and host state, loading guest state, running the guest until a VM
 * exit). Implemented elsewhere; injected with `Vmx.setEntryEngine`.
 */
export interface VmEntryEngine {
  enter(vmcs: Vmcs, launch: boolean): VmEntryOutcome;
}

/** The current-VMCS pointer's "no VMCS" value FFFFFFFF_FFFFFFFFH, as a canonical signed double. */
export const INVALID_VMCS_POINTER = -1;

/** RFLAGS bits the VMX instruction conventions define: CF, PF, AF, ZF, SF, OF. */
export const VMX_STATUS_FLAGS_MASK = 0x8d5;

/** The RFLAGS arithmetic-flag bits a status leaves (VMsucceed: all 0; VMfailInvalid: CF; VMfailValid: ZF). */
export function statusRflags(status: VmxStatus): number {
  return status === 'VMfailInvalid' ? 0x1 : status === 'VMfailValid' ? 0x40 : 0;
}

const TWO32 = 0x1_0000_0000;

export class Vmx {
  /** Status of the last VMX instruction. */
  status: VmxStatus = 'VMsucceed';
  /** Set by a VM exit that ended in a VMX abort (Vol. 3C 28.7): the processor is shut down until RESET. */
  abort: VmxAbort | null = null;
  /** For VMfailValid: the number written to the VM-instruction error field; otherwise 0. */
  error = 0;

  private inVmx = false;
  private vmxonPtr = INVALID_VMCS_POINTER;
  private current: Vmcs | null = null;
  private readonly active = new Map<number, Vmcs>();
  private engine: VmEntryEngine | null = null;
  /** Encoding -> dense index for every encoding VMREAD/VMWRITE accept here (full, and high of 64-bit fields); -1 otherwise. */
  private readonly access = new Int16Array(MAX_ENCODING + 1).fill(-1);
  /** Encoding -> 1 for VM-exit information fields (type bits 11:10 = 1) when VMWRITE must reject them. */
  private readonly readOnly = new Uint8Array(MAX_ENCODING + 1);
  private readonly addressLimit: number;

  constructor(readonly mem: PhysMem, readonly caps: VmxCapabilities = DEFAULT_VMX_CAPABILITIES) {
    for (const f of VMCS_FIELDS) {
      if (!fieldSupported(f, caps)) continue;
      this.access[f.encoding] = f.index;
      if (f.width === 64) this.access[f.encoding | 1] = f.index;
      if (f.type === 'exit-info' && !caps.vmwriteAnyField) {
        this.readOnly[f.encoding] = 1;
        if (f.width === 64) this.readOnly[f.encoding | 1] = 1;
      }
    }
    this.addressLimit = 2 ** caps.physicalAddressWidth;
  }

  setEntryEngine(engine: VmEntryEngine | null): void { this.engine = engine; }

  get inVmxOperation(): boolean { return this.inVmx; }
  /** Address of the VMXON region, or -1 outside VMX operation. */
  get vmxonPointer(): number { return this.vmxonPtr; }
  /** The current VMCS, or null when the current-VMCS pointer is invalid. */
  get currentVmcs(): Vmcs | null { return this.current; }
  /** The active (VMPTRLD-ed and not VMCLEAR-ed) VMCS of a region, if any. */
  activeVmcs(pa: number): Vmcs | undefined { return this.active.get(pa); }
  /** True iff the last instruction ended with VMsucceed. */
  get ok(): boolean { return this.status === 'VMsucceed'; }

  /** Whether VMREAD accepts this encoding on this processor. */
  isSupportedEncoding(enc: number): boolean {
    return enc >= 0 && enc <= MAX_ENCODING && (this.access[enc] ?? -1) >= 0;
  }

  // --- status conventions ---------------------------------------------------

  private succeed(): void {
    this.status = 'VMsucceed';
    this.error = 0;
  }

  private failInvalid(): void {
    this.status = 'VMfailInvalid';
    this.error = 0;
  }

  /** VMfailValid(n): only with a current VMCS, whose VM-instruction error field receives n. */
  private failValid(n: number): void {
    this.current!.set32(VMCS.VM_INSTRUCTION_ERROR, n);
    this.status = 'VMfailValid';
    this.error = n;
  }

  /** VMfail(n): VMfailValid(n) if there is a current VMCS, else VMfailInvalid. */
  private fail(n: number): void {
    if (this.current) this.failValid(n);
    else this.failInvalid();
  }

  private requireVmx(insn: string): void {
    if (!this.inVmx) throw new VmxFault('#UD', insn, 'not in VMX operation');
  }

  /** 4 KiB aligned and no bits at or beyond the physical-address width. */
  private validRegionAddress(pa: number, insn: string): boolean {
    if (!Number.isInteger(pa)) throw new Error(`internal: ${insn} operand ${pa} is not an integer address`);
    return pa >= 0 && pa < this.addressLimit && pa % 4096 === 0;
  }

  private revisionMatches(rev: number, allowShadow: boolean): boolean {
    if ((rev & 0x7fff_ffff) !== this.caps.vmcsRevisionId) return false;
    return (rev & 0x8000_0000) === 0 || allowShadow;
  }

  // --- VMXON / VMXOFF -------------------------------------------------------

  /** VMXON: enter VMX operation with the VMXON region at host-physical `pa`. */
  vmxon(pa: number): void {
    if (this.inVmx) {
      this.fail(ERR.VMXON_IN_VMX_ROOT);
      return;
    }
    if (!this.validRegionAddress(pa, 'VMXON') || !this.revisionMatches(readRegion32(this.mem, pa), false)) {
      this.failInvalid();
      return;
    }
    this.inVmx = true;
    this.vmxonPtr = pa;
    this.current = null;
    this.succeed();
  }

  /**
   * VMXOFF: leave VMX operation. Active VMCSs stay cached (the SDM asks software
   * to VMCLEAR them first; what happens otherwise is undefined, this model keeps them).
   */
  vmxoff(): void {
    this.requireVmx('VMXOFF');
    this.inVmx = false;
    this.vmxonPtr = INVALID_VMCS_POINTER;
    this.current = null;
    this.succeed();
  }

  // --- VMCLEAR / VMPTRLD / VMPTRST -------------------------------------------

  /** VMCLEAR: write the VMCS at `pa` to memory, set its launch state to clear, make it inactive. */
  vmclear(pa: number): void {
    this.requireVmx('VMCLEAR');
    if (!this.validRegionAddress(pa, 'VMCLEAR')) {
      this.fail(ERR.VMCLEAR_INVALID_ADDRESS);
      return;
    }
    if (pa === this.vmxonPtr) {
      this.fail(ERR.VMCLEAR_VMXON_POINTER);
      return;
    }
    const v = this.active.get(pa) ?? Vmcs.loadFrom(this.mem, pa);
    v.launchState = 'clear';
    v.storeTo(this.mem, pa);
    this.active.delete(pa);
    if (this.current !== null && this.current.regionAddress === pa) this.current = null;
    this.succeed();
  }

  /** VMPTRLD: make the VMCS at `pa` active and current. */
  vmptrld(pa: number): void {
    this.requireVmx('VMPTRLD');
    if (!this.validRegionAddress(pa, 'VMPTRLD')) {
      this.fail(ERR.VMPTRLD_INVALID_ADDRESS);
      return;
    }
    if (pa === this.vmxonPtr) {
      this.fail(ERR.VMPTRLD_VMXON_POINTER);
      return;
    }
    const rev = readRegion32(this.mem, pa);
    // Bit 31 (shadow-VMCS indicator) is accepted only with "VMCS shadowing" support.
    if (!this.revisionMatches(rev, this.caps.canSet('proc2', PROC_BASED2.VMCS_SHADOWING))) {
      this.fail(ERR.VMPTRLD_INCORRECT_REVISION);
      return;
    }
    let v = this.active.get(pa);
    if (v === undefined) {
      v = Vmcs.loadFrom(this.mem, pa);
      this.active.set(pa, v);
    } else {
      v.revisionId = rev & 0x7fff_ffff;
      v.shadowIndicator = (rev & 0x8000_0000) !== 0;
    }
    this.current = v;
    this.succeed();
  }

  /** VMPTRST: the current-VMCS pointer (-1 for FFFFFFFF_FFFFFFFFH when there is none). */
  vmptrst(): number {
    this.requireVmx('VMPTRST');
    this.succeed();
    return this.current === null ? INVALID_VMCS_POINTER : this.current.regionAddress;
  }

  // --- VMREAD / VMWRITE -----------------------------------------------------

  /** Dense index of a VMREAD/VMWRITE operand, or -1 (unsupported component). */
  private lookup(enc: number, insn: string): number {
    if (enc >= 0 && enc <= MAX_ENCODING) {
      const i = this.access[enc];
      if (i !== undefined) return i;
    }
    if (!Number.isInteger(enc)) throw new Error(`internal: ${insn} encoding ${enc} is not an integer`);
    return -1; // bits beyond 14 set: no such component
  }

  /** Common checks of VMREAD; the field index, or -1 after setting the failure status. */
  private readIndex(enc: number): number {
    this.requireVmx('VMREAD');
    if (this.current === null) {
      this.failInvalid();
      return -1;
    }
    const i = this.lookup(enc, 'VMREAD');
    if (i < 0) this.failValid(ERR.UNSUPPORTED_VMCS_COMPONENT);
    return i;
  }

  /** Common checks of VMWRITE; the field index, or -1 after setting the failure status. */
  private writeIndex(enc: number): number {
    this.requireVmx('VMWRITE');
    if (this.current === null) {
      this.failInvalid();
      return -1;
    }
    const i = this.lookup(enc, 'VMWRITE');
    if (i < 0) {
      this.failValid(ERR.UNSUPPORTED_VMCS_COMPONENT);
      return -1;
    }
    if (this.readOnly[enc] === 1) {
      this.failValid(ERR.VMWRITE_READ_ONLY_COMPONENT);
      return -1;
    }
    return i;
  }

  /**
   * VMREAD into a 64-bit register: the field zero-extended; the high access of
   * a 64-bit field gives bits 63:32 of the field. Returns 0n on failure (the
   * destination would be left unchanged).
   */
  vmread(enc: number): bigint {
    const i = this.readIndex(enc);
    if (i < 0) return 0n;
    const c = this.current!;
    this.succeed();
    if ((enc & 1) === 1) return BigInt(c.hi[i]!);
    return (BigInt(c.hi[i]!) << 32n) | BigInt(c.lo[i]!);
  }

  /** VMREAD, bits 31:0 of the result (what a 32-bit destination receives). 0 on failure. */
  vmread32(enc: number): number {
    const i = this.readIndex(enc);
    if (i < 0) return 0;
    const c = this.current!;
    this.succeed();
    return (enc & 1) === 1 ? c.hi[i]! : c.lo[i]!;
  }

  /** VMREAD as an unsigned double (exact below 2^53). 0 on failure. */
  vmreadNum(enc: number): number {
    const i = this.readIndex(enc);
    if (i < 0) return 0;
    const c = this.current!;
    this.succeed();
    return (enc & 1) === 1 ? c.hi[i]! : c.hi[i]! * TWO32 + c.lo[i]!;
  }

  /** VMREAD as a canonical signed double (bits 63:32 sign-extend), e.g. for guest RIP/RSP. 0 on failure. */
  vmreadSigned(enc: number): number {
    const i = this.readIndex(enc);
    if (i < 0) return 0;
    const c = this.current!;
    this.succeed();
    return (enc & 1) === 1 ? c.hi[i]! : (c.hi[i]! | 0) * TWO32 + c.lo[i]!;
  }

  /** Store hi:lo (a 64-bit source) into field i via encoding enc: high access writes bits 63:32 from lo. */
  private store(i: number, enc: number, lo: number, hi: number): void {
    const c = this.current!;
    if ((enc & 1) === 1) c.hi[i] = lo;
    else c.set(enc, lo, hi);
    this.succeed();
  }

  /** VMWRITE from a 64-bit register: the value (two's complement if negative) truncated to the field's width. */
  vmwrite(enc: number, value: bigint): void {
    const i = this.writeIndex(enc);
    if (i < 0) return;
    const v = BigInt.asUintN(64, value);
    this.store(i, enc, Number(v & 0xffff_ffffn), Number(v >> 32n));
  }

  /** VMWRITE from a 32-bit source: zero-extended (a longer field's high bits become 0), truncated to a 16-bit field. */
  vmwrite32(enc: number, v: number): void {
    const i = this.writeIndex(enc);
    if (i < 0) return;
    this.store(i, enc, v >>> 0, 0);
  }

  /** VMWRITE of a safe integer; negative values stand for their 64-bit two's complement. */
  vmwriteNum(enc: number, v: number): void {
    if (!Number.isSafeInteger(v)) throw new Error(`internal: VMWRITE ${encodingName(enc)} := ${v} is not a safe integer`);
    const i = this.writeIndex(enc);
    if (i < 0) return;
    this.store(i, enc, v >>> 0, Math.floor(v / TWO32) >>> 0);
  }

  /** VMWRITE of a 64-bit value given as uint32 halves. */
  vmwriteHalves(enc: number, lo: number, hi: number): void {
    const i = this.writeIndex(enc);
    if (i < 0) return;
    this.store(i, enc, lo >>> 0, hi >>> 0);
  }

  // --- VMLAUNCH / VMRESUME --------------------------------------------------

  vmlaunch(): void { this.enter(true); }
  vmresume(): void { this.enter(false); }

  /**
   * The checks of the VMLAUNCH/VMRESUME pseudocode that concern VMX state,
   * then the injected engine. After a VM exit the instruction "returns" with
   * VMsucceed (the host resumes at HOST_RIP with arithmetic flags clear).
   * VMLAUNCH marks the VMCS launched only if the entry succeeded: a VM-entry
   * failure while loading guest state or MSRs (exit reason bit 31) leaves the
   * launch state unchanged ("IF VMLAUNCH THEN launch state := launched" follows
   * those checks in the pseudocode). The "events blocked by MOV SS" check
   * (error 26) is not modelled: the host-side caller has no MOV SS shadow.
   */
  private enter(launch: boolean): void {
    const insn = launch ? 'VMLAUNCH' : 'VMRESUME';
    this.requireVmx(insn);
    if (this.engine === null) throw new Error(`internal: ${insn} without a VM-entry engine (call setEntryEngine)`);
    if (this.abort !== null) throw new Error(`${insn} in the VMX-abort shutdown state: only RESET leaves it (SDM Vol. 3C 28.7)`);
    const c = this.current;
    if (c === null) {
      this.failInvalid();
      return;
    }
    if (launch && c.launchState !== 'clear') {
      this.failValid(ERR.VMLAUNCH_NON_CLEAR_VMCS);
      return;
    }
    if (!launch && c.launchState !== 'launched') {
      this.failValid(ERR.VMRESUME_NON_LAUNCHED_VMCS);
      return;
    }
    const out = this.engine.enter(c, launch);
    if (out.kind === 'abort') {
      // 28.7: the indicator goes to byte offset 4 of the VMCS region; the VMCS data in memory is left as it is.
      c.abortIndicator = out.abort.indicator;
      if (regionInMemory(this.mem, c.regionAddress)) this.mem.dv.setUint32(c.regionAddress + VMCS_REGION_LAYOUT.ABORT_INDICATOR, out.abort.indicator >>> 0, true);
      this.abort = out.abort;
      return;
    }
    if (out.kind === 'failValid') {
      if (!VM_INSTRUCTION_ERROR_MESSAGES.has(out.error)) throw new Error(`internal: VM-entry engine reported undefined error ${out.error}`);
      this.failValid(out.error);
      return;
    }
    if (launch && !isEntryFailure(c.get32(VMCS.EXIT_REASON))) c.launchState = 'launched';
    this.succeed();
  }
}
