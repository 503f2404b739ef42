/**
 * Every VM-entry check of the SDM as one table of named rules.
 *
 * Source: Intel SDM Vol. 3C, chapter "VM Entries". Section numbers are those
 * of the editions since 2022, where "VM Entries" is chapter 27; editions up
 * to 2021 number the same sections 26.x (e.g. "Checks on Guest Segment
 * Registers" is 27.3.1.2, formerly 26.3.1.2). Every rule's `section` gives
 * the title and both numbers.
 *
 *  - 27.2 "Checks on VMX Controls and Host-State Area": a failing rule gives
 *    VMfailValid(7) (controls, 27.2.1.1-27.2.1.3) or VMfailValid(8) (host
 *    state, 27.2.2-27.2.4).
 *  - 27.3.1 "Checks on the Guest State Area": a failing rule gives a VM exit
 *    with basic reason 33 and bit 31 set (27.8 "VM-Entry Failures During or
 *    After Loading Guest State"); the exit qualification is 2 for PDPTEs, 3
 *    for the optional NMI-vs-STI-blocking check, 4 for the VMCS link pointer,
 *    0 otherwise.
 *  - 27.4 "Loading MSRs": a failing VM-entry MSR-load entry gives a VM exit
 *    with basic reason 34, bit 31 set, qualification = the entry's number
 *    (1 for the first). Those rules (kind 'msr') see one entry at a time.
 *
 * The SDM says the guest-state checks "may be performed in any order"; this
 * machine evaluates every table in the SDM's order of presentation and
 * reports the FIRST failing rule, so the order here is part of the contract.
 *
 * Scope: every check that can apply to a processor whose capability MSRs
 * advertise at most the controls named in capabilities.ts. Checks for
 * features this table cannot express are left out and listed here:
 * tertiary controls, sub-page write permissions (no SPPTP field),
 * PT/IA32_RTIT_CTL, CET (S_CET, SSP, interrupt-SSP table), PKRS, BNDCFGS
 * (MPX), HLAT, SGX's enclave interruption beyond "bit 4 requires SGX", and
 * the branch of 27.2.4 for a host outside IA-32e mode (the host of this
 * machine always runs in 64-bit mode, so "host address-space size" must be 1
 * and the checks for its 0-setting cannot be reached). The machine is never
 * in SMM, so the SMM-only variants of the checks are the "not in SMM" ones,
 * and the checks that only matter once "entry to SMM" is 1 (blocking by SMI
 * must then be 1, no wait-for-SIPI state, not both SMM entry controls) are
 * left out: ctl.entry.smm-outside-smm rejects that control before them.
 * Rules for controls the default capability MSRs do not offer (TPR shadow,
 * posted interrupts, PML, VM functions, VMCS shadowing, #VE, ...) are kept:
 * the reserved-bit rules reject those controls first with the default MSRs,
 * and a processor model that advertises them gets the full checks.
 *
 * Each rule is a small predicate over a CheckContext: the VMCS (read by
 * dense field index, no BigInt), the capability MSRs, the five control
 * words, and host memory for the few checks that read it (VMCS link
 * pointer, PDPTEs without EPT, the virtual-APIC page's VTPR).
 */
import type { Vmcs } from './vmcs.js';
import { readRegion32 } from './vmcs.js';
import type { PhysMem } from '../memory/physmem.js';
import { VMCS, VMCS_FIELD_COUNT, fieldIndex } from './fields.js';
import {
  MSR, PIN_BASED as PIN, PROC_BASED as PROC, PROC_BASED2 as PROC2, EXIT_CTLS as EXIT, ENTRY_CTLS as ENTRY,
  BASIC_BIT, MISC_BIT, EPT_VPID_CAP_BIT, type VmxCapabilities,
} from './capabilities.js';
import { siliconCpuid } from '../cpu/cpuid.js';

export type RuleKind = 'control' | 'host' | 'guest' | 'msr';

export interface EntryRule {
  /** Stable name, e.g. 'guest.ss.dpl-vs-cs'. */
  readonly id: string;
  readonly kind: RuleKind;
  /** SDM section title with its number in current (27.x) and older (26.x) editions. */
  readonly section: string;
  /** One-line statement of the requirement. */
  readonly text: string;
  /** True when the VMCS satisfies the rule. */
  readonly ok: (c: CheckContext) => boolean;
  /** Exit qualification of a failing guest-state rule (27.8): 0, 2 (PDPTE), 3 (NMI vs STI), 4 (VMCS link pointer). */
  readonly qual?: number;
}

/** What rules look at. */
export interface CheckContext {
  readonly v: Vmcs;
  readonly caps: VmxCapabilities;
  /** Pin-based, primary and secondary processor-based (0 unless activated), VM-exit and VM-entry controls. */
  pin: number; proc: number; proc2: number; exit: number; entry: number;
  /** Host-physical memory, for the checks that read it; absent: every read returns all ones. */
  mem?: PhysMem | null;
  /** The VM-entry MSR-load entry under check (kind 'msr'): bits 31:0, 63:32, and the data bits 127:64. */
  msrIndex?: number; msrReserved?: number; msrLo?: number; msrHi?: number;
  /** Loads the MSR as WRMSR would; false if WRMSR would raise #GP. Absent: assumed to succeed. */
  wrmsr?: ((index: number, lo: number, hi: number) => boolean) | null;
}

// ---------------------------------------------------------------------------
// Sections (title; current number; older number)
// ---------------------------------------------------------------------------

const sec = (title: string, n: string): string => `${title} (SDM Vol. 3C ${n}; 26.${n.slice(3)} in editions before 2022)`;
const S_EXEC = sec('Checks on VM-Execution Control Fields', '27.2.1.1');
const S_EXIT = sec('Checks on VM-Exit Control Fields', '27.2.1.2');
const S_ENTRY = sec('Checks on VM-Entry Control Fields', '27.2.1.3');
const S_HOST_CR = sec('Checks on Host Control Registers, MSRs, and SSP', '27.2.2');
const S_HOST_SEG = sec('Checks on Host Segment and Descriptor-Table Registers', '27.2.3');
const S_HOST_AS = sec('Checks Related to Address-Space Size', '27.2.4');
const S_G_CR = sec('Checks on Guest Control Registers, Debug Registers, and MSRs', '27.3.1.1');
const S_G_SEG = sec('Checks on Guest Segment Registers', '27.3.1.2');
const S_G_DT = sec('Checks on Guest Descriptor-Table Registers', '27.3.1.3');
const S_G_RIP = sec('Checks on Guest RIP, RFLAGS, and SSP', '27.3.1.4');
const S_G_NR = sec('Checks on Guest Non-Register State', '27.3.1.5');
const S_G_PDPTE = sec('Checks on Guest Page-Directory-Pointer-Table Entries', '27.3.1.6');
const S_MSR = sec('Loading MSRs', '27.4');

// ---------------------------------------------------------------------------
// Field access by dense index (no per-read encoding lookup)
// ---------------------------------------------------------------------------

function ix(enc: number): number {
  const i = fieldIndex(enc);
  if (i < 0) throw new Error(`internal: no VMCS field 0x${enc.toString(16)}`);
  return i;
}
/**
 * Set while an EntryMemo evaluates a rule: every field read is reported to it
 * with the bits the rule looked at (dependency tracking).
 */
let TRACK: EntryMemo | null = null;
const lo = (c: CheckContext, i: number): number => { if (TRACK !== null) TRACK.dep(i, -1, 0); return c.v.lo[i]!; };
const hi = (c: CheckContext, i: number): number => { if (TRACK !== null) TRACK.dep(i, 0, -1); return c.v.hi[i]!; };
/** Bits m of bits 31:0 of a field (only those bits are a dependency of the rule). */
const loBits = (c: CheckContext, i: number, m: number): number => { if (TRACK !== null) TRACK.dep(i, m, 0); return c.v.lo[i]! & m; };

const F = {
  VPID: ix(VMCS.VPID), PINV: ix(VMCS.POSTED_INTERRUPT_NOTIFICATION_VECTOR),
  IO_A: ix(VMCS.IO_BITMAP_A_ADDRESS), IO_B: ix(VMCS.IO_BITMAP_B_ADDRESS), MSR_BITMAP: ix(VMCS.MSR_BITMAPS_ADDRESS),
  EXIT_MSR_STORE: ix(VMCS.VM_EXIT_MSR_STORE_ADDRESS), EXIT_MSR_LOAD: ix(VMCS.VM_EXIT_MSR_LOAD_ADDRESS),
  ENTRY_MSR_LOAD: ix(VMCS.VM_ENTRY_MSR_LOAD_ADDRESS), PML: ix(VMCS.PML_ADDRESS), VAPIC: ix(VMCS.VIRTUAL_APIC_ADDRESS),
  APIC_ACCESS: ix(VMCS.APIC_ACCESS_ADDRESS), PID: ix(VMCS.POSTED_INTERRUPT_DESCRIPTOR_ADDRESS),
  VMFUNC: ix(VMCS.VM_FUNCTION_CONTROLS), EPTP: ix(VMCS.EPT_POINTER), EPTP_LIST: ix(VMCS.EPTP_LIST_ADDRESS),
  VMREAD_BITMAP: ix(VMCS.VMREAD_BITMAP_ADDRESS), VMWRITE_BITMAP: ix(VMCS.VMWRITE_BITMAP_ADDRESS),
  VE_INFO: ix(VMCS.VIRTUALIZATION_EXCEPTION_INFORMATION_ADDRESS),
  LINK: ix(VMCS.VMCS_LINK_POINTER), G_DEBUGCTL: ix(VMCS.GUEST_IA32_DEBUGCTL), G_PAT: ix(VMCS.GUEST_IA32_PAT),
  G_EFER: ix(VMCS.GUEST_IA32_EFER), G_PERF: ix(VMCS.GUEST_IA32_PERF_GLOBAL_CTRL),
  G_PDPTE: [ix(VMCS.GUEST_PDPTE0), ix(VMCS.GUEST_PDPTE1), ix(VMCS.GUEST_PDPTE2), ix(VMCS.GUEST_PDPTE3)] as const,
  H_PAT: ix(VMCS.HOST_IA32_PAT), H_EFER: ix(VMCS.HOST_IA32_EFER), H_PERF: ix(VMCS.HOST_IA32_PERF_GLOBAL_CTRL),
  CR3_COUNT: ix(VMCS.CR3_TARGET_COUNT), EXIT_MSR_STORE_COUNT: ix(VMCS.VM_EXIT_MSR_STORE_COUNT),
  EXIT_MSR_LOAD_COUNT: ix(VMCS.VM_EXIT_MSR_LOAD_COUNT), ENTRY_MSR_LOAD_COUNT: ix(VMCS.VM_ENTRY_MSR_LOAD_COUNT),
  INJ: ix(VMCS.VM_ENTRY_INTERRUPTION_INFORMATION), INJ_ERR: ix(VMCS.VM_ENTRY_EXCEPTION_ERROR_CODE),
  INJ_LEN: ix(VMCS.VM_ENTRY_INSTRUCTION_LENGTH), TPR_THRESHOLD: ix(VMCS.TPR_THRESHOLD),
  G_GDTR_LIMIT: ix(VMCS.GUEST_GDTR_LIMIT), G_IDTR_LIMIT: ix(VMCS.GUEST_IDTR_LIMIT),
  G_INTR: ix(VMCS.GUEST_INTERRUPTIBILITY_STATE), G_ACTIVITY: ix(VMCS.GUEST_ACTIVITY_STATE),
  G_CR0: ix(VMCS.GUEST_CR0), G_CR3: ix(VMCS.GUEST_CR3), G_CR4: ix(VMCS.GUEST_CR4), G_DR7: ix(VMCS.GUEST_DR7),
  G_GDTR_BASE: ix(VMCS.GUEST_GDTR_BASE), G_IDTR_BASE: ix(VMCS.GUEST_IDTR_BASE), G_RIP: ix(VMCS.GUEST_RIP),
  G_RFLAGS: ix(VMCS.GUEST_RFLAGS), G_PENDING_DBG: ix(VMCS.GUEST_PENDING_DEBUG_EXCEPTIONS),
  G_SYSENTER_ESP: ix(VMCS.GUEST_IA32_SYSENTER_ESP), G_SYSENTER_EIP: ix(VMCS.GUEST_IA32_SYSENTER_EIP),
  H_CR0: ix(VMCS.HOST_CR0), H_CR3: ix(VMCS.HOST_CR3), H_CR4: ix(VMCS.HOST_CR4), H_FS_BASE: ix(VMCS.HOST_FS_BASE),
  H_GS_BASE: ix(VMCS.HOST_GS_BASE), H_TR_BASE: ix(VMCS.HOST_TR_BASE), H_GDTR_BASE: ix(VMCS.HOST_GDTR_BASE),
  H_IDTR_BASE: ix(VMCS.HOST_IDTR_BASE), H_SYSENTER_ESP: ix(VMCS.HOST_IA32_SYSENTER_ESP),
  H_SYSENTER_EIP: ix(VMCS.HOST_IA32_SYSENTER_EIP), H_RIP: ix(VMCS.HOST_RIP),
  H_CS_SEL: ix(VMCS.HOST_CS_SELECTOR), H_SS_SEL: ix(VMCS.HOST_SS_SELECTOR), H_TR_SEL: ix(VMCS.HOST_TR_SELECTOR),
} as const;

/** A guest segment register's four fields. */
interface Seg { readonly name: string; readonly sel: number; readonly base: number; readonly limit: number; readonly ar: number }
function seg(name: string, sel: number, base: number, limit: number, ar: number): Seg {
  return { name, sel: ix(sel), base: ix(base), limit: ix(limit), ar: ix(ar) };
}
const CS = seg('CS', VMCS.GUEST_CS_SELECTOR, VMCS.GUEST_CS_BASE, VMCS.GUEST_CS_LIMIT, VMCS.GUEST_CS_ACCESS_RIGHTS);
const SS = seg('SS', VMCS.GUEST_SS_SELECTOR, VMCS.GUEST_SS_BASE, VMCS.GUEST_SS_LIMIT, VMCS.GUEST_SS_ACCESS_RIGHTS);
const DS = seg('DS', VMCS.GUEST_DS_SELECTOR, VMCS.GUEST_DS_BASE, VMCS.GUEST_DS_LIMIT, VMCS.GUEST_DS_ACCESS_RIGHTS);
const ES = seg('ES', VMCS.GUEST_ES_SELECTOR, VMCS.GUEST_ES_BASE, VMCS.GUEST_ES_LIMIT, VMCS.GUEST_ES_ACCESS_RIGHTS);
const FS = seg('FS', VMCS.GUEST_FS_SELECTOR, VMCS.GUEST_FS_BASE, VMCS.GUEST_FS_LIMIT, VMCS.GUEST_FS_ACCESS_RIGHTS);
const GS = seg('GS', VMCS.GUEST_GS_SELECTOR, VMCS.GUEST_GS_BASE, VMCS.GUEST_GS_LIMIT, VMCS.GUEST_GS_ACCESS_RIGHTS);
const TR = seg('TR', VMCS.GUEST_TR_SELECTOR, VMCS.GUEST_TR_BASE, VMCS.GUEST_TR_LIMIT, VMCS.GUEST_TR_ACCESS_RIGHTS);
const LDTR = seg('LDTR', VMCS.GUEST_LDTR_SELECTOR, VMCS.GUEST_LDTR_BASE, VMCS.GUEST_LDTR_LIMIT, VMCS.GUEST_LDTR_ACCESS_RIGHTS);
/** CS, SS, DS, ES, FS, GS: the order in which 27.3.1.2 lists them. */
const CODE_DATA: readonly Seg[] = [CS, SS, DS, ES, FS, GS];
const DATA4: readonly Seg[] = [DS, ES, FS, GS];

// ---------------------------------------------------------------------------
// Processor facts the rules depend on
// ---------------------------------------------------------------------------

const CPUID_EXT8 = siliconCpuid(0x80000008, 0).eax;
/** Linear-address width (CPUID.80000008H:EAX[15:8]); canonical = bits 63:N-1 all equal. */
export const LINEAR_ADDRESS_WIDTH = (CPUID_EXT8 >>> 8) & 0xff;
const CANON_SHIFT = LINEAR_ADDRESS_WIDTH - 1 - 32;
/**
 * IA32_PERF_GLOBAL_CTRL bits that exist (Vol. 3B "Architectural Performance
 * Monitoring"): one enable per general-purpose counter (CPUID.0AH:EAX[15:8])
 * and per fixed counter (EDX[4:0], at bits 32+). This silicon reports no
 * architectural PMU, so every bit is reserved.
 */
const PMU = siliconCpuid(0x0a, 0);
const PERF_GP = (PMU.eax >>> 8) & 0xff, PERF_FIXED = PMU.edx & 0x1f;
const PERF_VALID_LO = PERF_GP >= 32 ? 0xffff_ffff : (2 ** PERF_GP - 1) >>> 0;
const PERF_VALID_HI = (2 ** PERF_FIXED - 1) >>> 0;
/** IA32_EFER bits this processor implements (SCE, LME, LMA, NXE; Vol. 3A 2.2.1); the others are reserved. */
export const EFER_VALID = 0xd01;
/** IA32_DEBUGCTL bits this processor implements (LBR, BTF: what core/cpu/msr.ts WRMSR accepts). */
export const DEBUGCTL_VALID = 0x3;
/** Whether the silicon has RTM (CPUID.(EAX=07H,ECX=0):EBX[11]) and SGX (EBX[2]). */
const CPUID7_EBX = siliconCpuid(7, 0).ebx;
const HAS_RTM = ((CPUID7_EBX >>> 11) & 1) === 1, HAS_SGX = ((CPUID7_EBX >>> 2) & 1) === 1;

// ---------------------------------------------------------------------------
// Predicates shared by many rules
// ---------------------------------------------------------------------------

const W = (c: CheckContext): number => c.caps.physicalAddressWidth;
/** Bits 63:N of a 64-bit field are 0 (N = physical-address width). */
function inWidth(c: CheckContext, i: number): boolean { return widthOk(hi(c, i), W(c)); }
function widthOk(h: number, width: number): boolean { return width >= 64 || (h >>> 0) < 2 ** (width - 32); }
function aligned(c: CheckContext, i: number, mask: number): boolean { return (lo(c, i) & mask) === 0; }
/** Bits 63:N-1 of a 64-bit value (given its high half) are all equal (N = linear-address width). */
function canonicalHi(h: number): boolean {
  const s = (h | 0) >> CANON_SHIFT;
  return s === 0 || s === -1;
}
function canonical(c: CheckContext, i: number): boolean { return canonicalHi(hi(c, i)); }
/** Address of the last byte of an n-entry MSR area (16 bytes each) stays within the physical-address width. */
function msrAreaEndOk(c: CheckContext, addr: number, count: number): boolean {
  const start = hi(c, addr) * 2 ** 32 + lo(c, addr);
  return start + (lo(c, count) >>> 0) * 16 - 1 < 2 ** W(c);
}
function patOk(l: number, h: number): boolean {
  for (let k = 0; k < 4; k++) {
    const a = (l >>> (8 * k)) & 0xff, b = (h >>> (8 * k)) & 0xff;
    if (a === 2 || a === 3 || a > 7 || b === 2 || b === 3 || b > 7) return false;
  }
  return true;
}
/** Fixed-bit check against IA32_VMX_CRx_FIXED0/1 (Vol. 3D A.7, A.8) over all 64 bits; `exempt` bits (low half) are not checked. */
function fixed0Ok(c: CheckContext, msr: number, i: number, exempt = 0): boolean {
  const f = c.caps.read(msr);
  const mLo = ((f?.lo ?? 0) & ~exempt) >>> 0, mHi = (f?.hi ?? 0) >>> 0;
  return ((lo(c, i) & mLo) >>> 0) === mLo && ((hi(c, i) & mHi) >>> 0) === mHi;
}
function fixed1Ok(c: CheckContext, msr: number, i: number, exempt = 0): boolean {
  const f = c.caps.read(msr);
  const okLo = ((f?.lo ?? 0xffff_ffff) | exempt) >>> 0, okHi = (f?.hi ?? 0xffff_ffff) >>> 0;
  return (lo(c, i) & ~okLo) === 0 && (hi(c, i) & ~okHi) === 0;
}

const sec2 = (c: CheckContext, m: number): boolean => (c.proc2 & m) !== 0;
const ept = (c: CheckContext): boolean => sec2(c, PROC2.ENABLE_EPT);
const unrestricted = (c: CheckContext): boolean => sec2(c, PROC2.UNRESTRICTED_GUEST);
const tprShadow = (c: CheckContext): boolean => (c.proc & PROC.USE_TPR_SHADOW) !== 0;
const ia32e = (c: CheckContext): boolean => (c.entry & ENTRY.IA32E_MODE_GUEST) !== 0;
const cr0 = (c: CheckContext): number => lo(c, F.G_CR0);
const cr4 = (c: CheckContext): number => lo(c, F.G_CR4);
/** RFLAGS bits m (bits 31:0 of the field; rules look at single bits, so a change of the arithmetic flags does not concern them). */
const rflags = (c: CheckContext, m: number): number => loBits(c, F.G_RFLAGS, m);
const v86 = (c: CheckContext): boolean => rflags(c, 0x20000) !== 0;
const intr = (c: CheckContext): number => lo(c, F.G_INTR);
const activity = (c: CheckContext): number => lo(c, F.G_ACTIVITY);

const inj = (c: CheckContext): number => lo(c, F.INJ);
const injValid = (c: CheckContext): boolean => (inj(c) & 0x8000_0000) !== 0;
const injType = (c: CheckContext): number => (inj(c) >>> 8) & 7;
const injVector = (c: CheckContext): number => inj(c) & 0xff;
/** A valid event of interruption type t is being injected. */
const injecting = (c: CheckContext, t: number): boolean => injValid(c) && injType(c) === t;
const T_EXTINT = 0, T_NMI = 2, T_HWEXC = 3, T_SWINT = 4, T_PRIVSW = 5, T_SWEXC = 6, T_OTHER = 7;

const ar = (c: CheckContext, s: Seg): number => lo(c, s.ar);
const usable = (c: CheckContext, s: Seg): boolean => (ar(c, s) & 0x10000) === 0;
/** CS is checked whether usable or not; the others only when usable (27.3.1.2). */
const checked = (c: CheckContext, s: Seg): boolean => s === CS || usable(c, s);
const type = (c: CheckContext, s: Seg): number => ar(c, s) & 0xf;
const dpl = (c: CheckContext, s: Seg): number => (ar(c, s) >>> 5) & 3;
const rpl = (c: CheckContext, s: Seg): number => lo(c, s.sel) & 3;
const csL = (c: CheckContext): boolean => (ar(c, CS) & 0x2000) !== 0;

// ---------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------

const RULES: EntryRule[] = [];
let curKind: RuleKind = 'control';
let curSection = '';
function section(kind: RuleKind, s: string): void { curKind = kind; curSection = s; }
function rule(id: string, text: string, ok: (c: CheckContext) => boolean, qual?: number): void {
  RULES.push(Object.freeze(qual === undefined ? { id, kind: curKind, section: curSection, text, ok } : { id, kind: curKind, section: curSection, text, ok, qual }));
}
/** "bits 11:0 are 0" and "no bit beyond the physical-address width" for an address used when `on`. */
function addressRules(id: string, what: string, when: string, i: number, on: (c: CheckContext) => boolean, alignMask = 0xfff): void {
  const bits = alignMask === 0xfff ? '11:0' : alignMask === 0xf ? '3:0' : '5:0';
  rule(`${id}.align`, `${when}, bits ${bits} of the ${what} are 0`, (c) => !on(c) || aligned(c, i, alignMask));
  rule(`${id}.width`, `${when}, the ${what} sets no bit beyond the physical-address width`, (c) => !on(c) || inWidth(c, i));
}

// ===== 27.2.1.1 Checks on VM-Execution Control Fields (VMfailValid 7) =====
section('control', S_EXEC);
rule('ctl.pin.reserved', 'reserved bits of the pin-based controls are set as IA32_VMX_(TRUE_)PINBASED_CTLS requires',
  (c) => c.caps.controlsValid(c.caps.controlMsr('pin'), c.pin));
rule('ctl.proc.reserved', 'reserved bits of the primary processor-based controls are set as IA32_VMX_(TRUE_)PROCBASED_CTLS requires',
  (c) => c.caps.controlsValid(c.caps.controlMsr('proc'), c.proc));
rule('ctl.proc2.reserved', 'with "activate secondary controls", reserved secondary controls are 0 (IA32_VMX_PROCBASED_CTLS2)',
  (c) => (c.proc & PROC.ACTIVATE_SECONDARY_CONTROLS) === 0 || (c.caps.read(MSR.IA32_VMX_PROCBASED_CTLS2) !== undefined && c.caps.controlsValid(MSR.IA32_VMX_PROCBASED_CTLS2, c.proc2)));
rule('ctl.cr3-target-count', 'the CR3-target count is not greater than IA32_VMX_MISC bits 24:16',
  (c) => (lo(c, F.CR3_COUNT) >>> 0) <= c.caps.cr3TargetCount);
const ioBitmaps = (c: CheckContext): boolean => (c.proc & PROC.USE_IO_BITMAPS) !== 0;
addressRules('ctl.io-bitmap-a', 'I/O-bitmap A address', 'with "use I/O bitmaps"', F.IO_A, ioBitmaps);
addressRules('ctl.io-bitmap-b', 'I/O-bitmap B address', 'with "use I/O bitmaps"', F.IO_B, ioBitmaps);
addressRules('ctl.msr-bitmap', 'MSR-bitmap address', 'with "use MSR bitmaps"', F.MSR_BITMAP, (c) => (c.proc & PROC.USE_MSR_BITMAPS) !== 0);
addressRules('ctl.virtual-apic', 'virtual-APIC address', 'with "use TPR shadow"', F.VAPIC, tprShadow);
rule('ctl.tpr-threshold.reserved', 'with "use TPR shadow" and without "virtual-interrupt delivery", bits 31:4 of the TPR threshold are 0',
  (c) => !tprShadow(c) || sec2(c, PROC2.VIRTUAL_INTERRUPT_DELIVERY) || (lo(c, F.TPR_THRESHOLD) >>> 4) === 0);
rule('ctl.tpr-threshold.vtpr', 'with "use TPR shadow", without "virtualize APIC accesses" and "virtual-interrupt delivery", TPR threshold bits 3:0 are not above VTPR bits 7:4 (byte 80H of the virtual-APIC page)',
  (c) => {
    if (!tprShadow(c) || sec2(c, PROC2.VIRTUALIZE_APIC_ACCESSES) || sec2(c, PROC2.VIRTUAL_INTERRUPT_DELIVERY)) return true;
    const page = hi(c, F.VAPIC) * 2 ** 32 + lo(c, F.VAPIC);
    const vtpr = c.mem ? readRegion32(c.mem, page + 0x80) & 0xff : 0xff;
    return (lo(c, F.TPR_THRESHOLD) & 0xf) <= (vtpr >>> 4);
  });
rule('ctl.x2apic-requires-tpr-shadow', 'without "use TPR shadow", "virtualize x2APIC mode" is 0', (c) => tprShadow(c) || !sec2(c, PROC2.VIRTUALIZE_X2APIC_MODE));
rule('ctl.apic-register-virtualization-requires-tpr-shadow', 'without "use TPR shadow", "APIC-register virtualization" is 0', (c) => tprShadow(c) || !sec2(c, PROC2.APIC_REGISTER_VIRTUALIZATION));
rule('ctl.virtual-interrupt-delivery-requires-tpr-shadow', 'without "use TPR shadow", "virtual-interrupt delivery" is 0', (c) => tprShadow(c) || !sec2(c, PROC2.VIRTUAL_INTERRUPT_DELIVERY));
rule('ctl.virtual-nmis-requires-nmi-exiting', 'without "NMI exiting", "virtual NMIs" is 0', (c) => (c.pin & PIN.VIRTUAL_NMIS) === 0 || (c.pin & PIN.NMI_EXITING) !== 0);
rule('ctl.nmi-window-requires-virtual-nmis', 'without "virtual NMIs", "NMI-window exiting" is 0', (c) => (c.proc & PROC.NMI_WINDOW_EXITING) === 0 || (c.pin & PIN.VIRTUAL_NMIS) !== 0);
addressRules('ctl.apic-access', 'APIC-access address', 'with "virtualize APIC accesses"', F.APIC_ACCESS, (c) => sec2(c, PROC2.VIRTUALIZE_APIC_ACCESSES));
rule('ctl.x2apic-excludes-apic-access', 'with "virtualize x2APIC mode", "virtualize APIC accesses" is 0', (c) => !sec2(c, PROC2.VIRTUALIZE_X2APIC_MODE) || !sec2(c, PROC2.VIRTUALIZE_APIC_ACCESSES));
rule('ctl.virtual-interrupt-delivery-requires-extint-exiting', 'with "virtual-interrupt delivery", "external-interrupt exiting" is 1', (c) => !sec2(c, PROC2.VIRTUAL_INTERRUPT_DELIVERY) || (c.pin & PIN.EXTERNAL_INTERRUPT_EXITING) !== 0);
const posted = (c: CheckContext): boolean => (c.pin & PIN.PROCESS_POSTED_INTERRUPTS) !== 0;
rule('ctl.posted-interrupts.requires-virtual-interrupt-delivery', 'with "process posted interrupts", "virtual-interrupt delivery" is 1', (c) => !posted(c) || sec2(c, PROC2.VIRTUAL_INTERRUPT_DELIVERY));
rule('ctl.posted-interrupts.requires-acknowledge', 'with "process posted interrupts", the "acknowledge interrupt on exit" VM-exit control is 1', (c) => !posted(c) || (c.exit & EXIT.ACKNOWLEDGE_INTERRUPT_ON_EXIT) !== 0);
rule('ctl.posted-interrupts.vector', 'with "process posted interrupts", bits 15:8 of the posted-interrupt notification vector are 0', (c) => !posted(c) || (lo(c, F.PINV) & 0xff00) === 0);
addressRules('ctl.posted-interrupts.descriptor', 'posted-interrupt descriptor address', 'with "process posted interrupts"', F.PID, posted, 0x3f);
rule('ctl.vpid-nonzero', 'with "enable VPID", the VPID is not 0000H', (c) => !sec2(c, PROC2.ENABLE_VPID) || (lo(c, F.VPID) & 0xffff) !== 0);
const eptCap = (c: CheckContext, bit: number): boolean => c.caps.bit(MSR.IA32_VMX_EPT_VPID_CAP, bit);
rule('ctl.eptp.memory-type', 'with "enable EPT", EPTP bits 2:0 are a memory type IA32_VMX_EPT_VPID_CAP supports (0 UC via bit 8, 6 WB via bit 14)',
  (c) => { if (!ept(c)) return true; const t = lo(c, F.EPTP) & 7; return (t === 0 && eptCap(c, EPT_VPID_CAP_BIT.MEMORY_TYPE_UC)) || (t === 6 && eptCap(c, EPT_VPID_CAP_BIT.MEMORY_TYPE_WB)); });
rule('ctl.eptp.walk-length', 'with "enable EPT", EPTP bits 5:3 are 3 (4-level walk), or 4 if a 5-level walk is supported',
  (c) => { if (!ept(c)) return true; const n = (lo(c, F.EPTP) >>> 3) & 7; return (n === 3 && eptCap(c, EPT_VPID_CAP_BIT.PAGE_WALK_LENGTH_4)) || (n === 4 && eptCap(c, EPT_VPID_CAP_BIT.PAGE_WALK_LENGTH_5)); });
rule('ctl.eptp.accessed-dirty', 'with "enable EPT", EPTP bit 6 (accessed and dirty flags) is 0 unless IA32_VMX_EPT_VPID_CAP bit 21 is 1',
  (c) => !ept(c) || (lo(c, F.EPTP) & 0x40) === 0 || eptCap(c, EPT_VPID_CAP_BIT.ACCESSED_DIRTY_FLAGS));
rule('ctl.eptp.reserved', 'with "enable EPT", EPTP bits 11:7 are 0 (bit 7 only with supervisor shadow-stack control)',
  (c) => !ept(c) || (lo(c, F.EPTP) & (eptCap(c, EPT_VPID_CAP_BIT.SUPERVISOR_SHADOW_STACK) ? 0xf00 : 0xf80)) === 0);
rule('ctl.eptp.width', 'with "enable EPT", EPTP bits 63:N are 0 (N = physical-address width)', (c) => !ept(c) || inWidth(c, F.EPTP));
const pml = (c: CheckContext): boolean => sec2(c, PROC2.ENABLE_PML);
rule('ctl.pml.requires-ept', 'with "enable PML", "enable EPT" is 1', (c) => !pml(c) || ept(c));
addressRules('ctl.pml', 'PML address', 'with "enable PML"', F.PML, pml);
rule('ctl.unrestricted-guest-requires-ept', 'with "unrestricted guest", "enable EPT" is 1', (c) => !unrestricted(c) || ept(c));
const vmfunc = (c: CheckContext): boolean => sec2(c, PROC2.ENABLE_VM_FUNCTIONS);
rule('ctl.vmfunc.reserved', 'with "enable VM functions", VM-function controls set only bits IA32_VMX_VMFUNC allows',
  (c) => { if (!vmfunc(c)) return true; const m = c.caps.read(MSR.IA32_VMX_VMFUNC); return (lo(c, F.VMFUNC) & ~(m?.lo ?? 0)) === 0 && (hi(c, F.VMFUNC) & ~(m?.hi ?? 0)) === 0; });
const eptpSwitching = (c: CheckContext): boolean => vmfunc(c) && (lo(c, F.VMFUNC) & 1) !== 0;
rule('ctl.vmfunc.eptp-switching-requires-ept', 'with the "EPTP switching" VM function, "enable EPT" is 1', (c) => !eptpSwitching(c) || ept(c));
addressRules('ctl.vmfunc.eptp-list', 'EPTP-list address', 'with the "EPTP switching" VM function', F.EPTP_LIST, eptpSwitching);
const shadowing = (c: CheckContext): boolean => sec2(c, PROC2.VMCS_SHADOWING);
addressRules('ctl.vmread-bitmap', 'VMREAD-bitmap address', 'with "VMCS shadowing"', F.VMREAD_BITMAP, shadowing);
addressRules('ctl.vmwrite-bitmap', 'VMWRITE-bitmap address', 'with "VMCS shadowing"', F.VMWRITE_BITMAP, shadowing);
addressRules('ctl.ve-info', 'virtualization-exception information address', 'with "EPT-violation #VE"', F.VE_INFO, (c) => sec2(c, PROC2.EPT_VIOLATION_VE));

// ===== 27.2.1.2 Checks on VM-Exit Control Fields (VMfailValid 7) =====
section('control', S_EXIT);
rule('ctl.exit.reserved', 'reserved bits of the VM-exit controls are set as IA32_VMX_(TRUE_)EXIT_CTLS requires',
  (c) => c.caps.controlsValid(c.caps.controlMsr('exit'), c.exit));
rule('ctl.exit.save-preemption-timer', 'without "activate VMX-preemption timer", "save VMX-preemption timer value" is 0',
  (c) => (c.exit & EXIT.SAVE_VMX_PREEMPTION_TIMER_VALUE) === 0 || (c.pin & PIN.ACTIVATE_VMX_PREEMPTION_TIMER) !== 0);
const exitStore = (c: CheckContext): boolean => lo(c, F.EXIT_MSR_STORE_COUNT) !== 0;
addressRules('ctl.exit.msr-store', 'VM-exit MSR-store address', 'with a non-zero VM-exit MSR-store count', F.EXIT_MSR_STORE, exitStore, 0xf);
rule('ctl.exit.msr-store.end', 'with a non-zero VM-exit MSR-store count, the last byte of the area (address + count * 16 - 1) is within the physical-address width',
  (c) => !exitStore(c) || msrAreaEndOk(c, F.EXIT_MSR_STORE, F.EXIT_MSR_STORE_COUNT));
const exitLoad = (c: CheckContext): boolean => lo(c, F.EXIT_MSR_LOAD_COUNT) !== 0;
addressRules('ctl.exit.msr-load', 'VM-exit MSR-load address', 'with a non-zero VM-exit MSR-load count', F.EXIT_MSR_LOAD, exitLoad, 0xf);
rule('ctl.exit.msr-load.end', 'with a non-zero VM-exit MSR-load count, the last byte of the area is within the physical-address width',
  (c) => !exitLoad(c) || msrAreaEndOk(c, F.EXIT_MSR_LOAD, F.EXIT_MSR_LOAD_COUNT));

// ===== 27.2.1.3 Checks on VM-Entry Control Fields (VMfailValid 7) =====
section('control', S_ENTRY);
rule('ctl.entry.reserved', 'reserved bits of the VM-entry controls are set as IA32_VMX_(TRUE_)ENTRY_CTLS requires',
  (c) => c.caps.controlsValid(c.caps.controlMsr('entry'), c.entry));
const mtfSupported = (c: CheckContext): boolean => c.caps.canSet('proc', PROC.MONITOR_TRAP_FLAG);
rule('ctl.entry.event.type-reserved', 'a valid VM-entry interruption-information field does not use interruption type 1 (reserved)',
  (c) => !injValid(c) || injType(c) !== 1);
rule('ctl.entry.event.type-other', 'interruption type 7 (other event) is injected only if "monitor trap flag" is supported',
  (c) => !injecting(c, T_OTHER) || mtfSupported(c));
rule('ctl.entry.event.nmi-vector', 'an injected NMI (type 2) has vector 2', (c) => !injecting(c, T_NMI) || injVector(c) === 2);
rule('ctl.entry.event.exception-vector', 'an injected hardware exception (type 3) has a vector of at most 31', (c) => !injecting(c, T_HWEXC) || injVector(c) <= 31);
rule('ctl.entry.event.other-vector', 'an injected "other event" (type 7, pending MTF VM exit) has vector 0', (c) => !injecting(c, T_OTHER) || injVector(c) === 0);
/** Exceptions that deliver an error code (Vol. 3A Table 6-1): #DF, #TS, #NP, #SS, #GP, #PF, #AC. #CP (21) only exists with CET, which this processor lacks. */
const ERROR_CODE_VECTORS = (1 << 8) | (1 << 10) | (1 << 11) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 17);
/** IA32_VMX_BASIC[56]: hardware exceptions may be injected with or without error code regardless of vector. */
const anyErrorCode = (c: CheckContext): boolean => c.caps.bit(MSR.IA32_VMX_BASIC, BASIC_BIT.ANY_EXCEPTION_ERROR_CODE);
const deliverErrorCode = (c: CheckContext): boolean => (inj(c) & 0x800) !== 0;
const pmodeForErrorCode = (c: CheckContext): boolean => !unrestricted(c) || (cr0(c) & 1) === 1;
rule('ctl.entry.event.error-code-required', 'deliver-error-code is 1 for a hardware exception that delivers one (8, 10-14, 17) unless "unrestricted guest" with CR0.PE = 0 (not checked if IA32_VMX_BASIC[56] = 1)',
  (c) => !injecting(c, T_HWEXC) || anyErrorCode(c) || !pmodeForErrorCode(c) || injVector(c) > 31 || ((ERROR_CODE_VECTORS >>> injVector(c)) & 1) === 0 || deliverErrorCode(c));
rule('ctl.entry.event.error-code-forbidden', 'deliver-error-code is 0 for other interruption types, other vectors, and under "unrestricted guest" with CR0.PE = 0',
  (c) => {
    if (!injValid(c) || !deliverErrorCode(c)) return true;
    if (injType(c) !== T_HWEXC || !pmodeForErrorCode(c)) return false;
    return anyErrorCode(c) || (injVector(c) <= 31 && ((ERROR_CODE_VECTORS >>> injVector(c)) & 1) === 1);
  });
rule('ctl.entry.event.reserved', 'bits 30:12 of a valid VM-entry interruption-information field are 0', (c) => !injValid(c) || (inj(c) & 0x7fff_f000) === 0);
rule('ctl.entry.event.error-code-reserved', 'with deliver-error-code, bits 31:16 of the VM-entry exception error code are 0 (31:15 in pre-2016 editions)',
  (c) => !injValid(c) || !deliverErrorCode(c) || (lo(c, F.INJ_ERR) >>> 16) === 0);
rule('ctl.entry.event.instruction-length', 'an injected software interrupt or (privileged) software exception has an instruction length of 1-15 (0 allowed if IA32_VMX_MISC[30] = 1)',
  (c) => {
    if (!injValid(c)) return true;
    const t = injType(c);
    if (t !== T_SWINT && t !== T_PRIVSW && t !== T_SWEXC) return true;
    const n = lo(c, F.INJ_LEN) >>> 0;
    return (n >= 1 && n <= 15) || (n === 0 && c.caps.bit(MSR.IA32_VMX_MISC, MISC_BIT.ZERO_LENGTH_INJECTION));
  });
const entryLoad = (c: CheckContext): boolean => lo(c, F.ENTRY_MSR_LOAD_COUNT) !== 0;
addressRules('ctl.entry.msr-load', 'VM-entry MSR-load address', 'with a non-zero VM-entry MSR-load count', F.ENTRY_MSR_LOAD, entryLoad, 0xf);
rule('ctl.entry.msr-load.end', 'with a non-zero VM-entry MSR-load count, the last byte of the area is within the physical-address width',
  (c) => !entryLoad(c) || msrAreaEndOk(c, F.ENTRY_MSR_LOAD, F.ENTRY_MSR_LOAD_COUNT));
rule('ctl.entry.smm-outside-smm', 'outside SMM (always, here), "entry to SMM" is 0', (c) => (c.entry & ENTRY.ENTRY_TO_SMM) === 0);
rule('ctl.entry.dual-monitor-outside-smm', 'outside SMM (always, here), "deactivate dual-monitor treatment" is 0', (c) => (c.entry & ENTRY.DEACTIVATE_DUAL_MONITOR_TREATMENT) === 0);

// ===== 27.2.2 Checks on Host Control Registers, MSRs, and SSP (VMfailValid 8) =====
/** IA32_PERF_GLOBAL_CTRL / IA32_EFER field values with no reserved bit set (host and guest rules share them). */
const perfOk = (c: CheckContext, f: number): boolean => (lo(c, f) & ~PERF_VALID_LO) === 0 && (hi(c, f) & ~PERF_VALID_HI) === 0;
const eferReservedOk = (c: CheckContext, f: number): boolean => hi(c, f) === 0 && (lo(c, f) & ~EFER_VALID) === 0;
section('host', S_HOST_CR);
rule('host.cr0.fixed0', 'host CR0 sets every bit IA32_VMX_CR0_FIXED0 requires', (c) => fixed0Ok(c, MSR.IA32_VMX_CR0_FIXED0, F.H_CR0));
rule('host.cr0.fixed1', 'host CR0 sets no bit IA32_VMX_CR0_FIXED1 leaves 0 (bits 63:32 included)', (c) => fixed1Ok(c, MSR.IA32_VMX_CR0_FIXED1, F.H_CR0));
rule('host.cr4.fixed0', 'host CR4 sets every bit IA32_VMX_CR4_FIXED0 requires (VMXE)', (c) => fixed0Ok(c, MSR.IA32_VMX_CR4_FIXED0, F.H_CR4));
rule('host.cr4.fixed1', 'host CR4 sets no bit IA32_VMX_CR4_FIXED1 leaves 0 (bits 63:32 included)', (c) => fixed1Ok(c, MSR.IA32_VMX_CR4_FIXED1, F.H_CR4));
rule('host.cr3.width', 'host CR3 bits 63:N are 0 (N = physical-address width)', (c) => inWidth(c, F.H_CR3));
rule('host.sysenter-esp.canonical', 'the host IA32_SYSENTER_ESP field is canonical', (c) => canonical(c, F.H_SYSENTER_ESP));
rule('host.sysenter-eip.canonical', 'the host IA32_SYSENTER_EIP field is canonical', (c) => canonical(c, F.H_SYSENTER_EIP));
rule('host.perf-global-ctrl.reserved', 'with the "load IA32_PERF_GLOBAL_CTRL" VM-exit control, reserved bits of the host field are 0',
  (c) => (c.exit & EXIT.LOAD_IA32_PERF_GLOBAL_CTRL) === 0 || perfOk(c, F.H_PERF));
rule('host.pat', 'with the "load IA32_PAT" VM-exit control, every byte of the host IA32_PAT field is 0, 1, 4, 5, 6 or 7',
  (c) => (c.exit & EXIT.LOAD_IA32_PAT) === 0 || patOk(lo(c, F.H_PAT), hi(c, F.H_PAT)));
const loadHostEfer = (c: CheckContext): boolean => (c.exit & EXIT.LOAD_IA32_EFER) !== 0;
const hostAs = (c: CheckContext): boolean => (c.exit & EXIT.HOST_ADDRESS_SPACE_SIZE) !== 0;
rule('host.efer.reserved', 'with the "load IA32_EFER" VM-exit control, reserved bits of the host IA32_EFER field are 0',
  (c) => !loadHostEfer(c) || eferReservedOk(c, F.H_EFER));
rule('host.efer.lma', 'with the "load IA32_EFER" VM-exit control, host IA32_EFER.LMA equals "host address-space size"',
  (c) => !loadHostEfer(c) || ((lo(c, F.H_EFER) & 0x400) !== 0) === hostAs(c));
rule('host.efer.lme', 'with the "load IA32_EFER" VM-exit control, host IA32_EFER.LME equals "host address-space size"',
  (c) => !loadHostEfer(c) || ((lo(c, F.H_EFER) & 0x100) !== 0) === hostAs(c));

// ===== 27.2.3 Checks on Host Segment and Descriptor-Table Registers (VMfailValid 8) =====
section('host', S_HOST_SEG);
for (const [name, enc] of [['es', VMCS.HOST_ES_SELECTOR], ['cs', VMCS.HOST_CS_SELECTOR], ['ss', VMCS.HOST_SS_SELECTOR], ['ds', VMCS.HOST_DS_SELECTOR],
  ['fs', VMCS.HOST_FS_SELECTOR], ['gs', VMCS.HOST_GS_SELECTOR], ['tr', VMCS.HOST_TR_SELECTOR]] as const) {
  const i = ix(enc);
  rule(`host.${name}.selector-rpl-ti`, `the host ${name.toUpperCase()} selector has RPL 0 and TI 0`, (c) => (lo(c, i) & 7) === 0);
}
rule('host.cs.selector-nonnull', 'the host CS selector is not 0000H', (c) => (lo(c, F.H_CS_SEL) & 0xffff) !== 0);
rule('host.tr.selector-nonnull', 'the host TR selector is not 0000H', (c) => (lo(c, F.H_TR_SEL) & 0xffff) !== 0);
rule('host.ss.selector-nonnull', 'with "host address-space size" 0, the host SS selector is not 0000H', (c) => hostAs(c) || (lo(c, F.H_SS_SEL) & 0xffff) !== 0);
rule('host.fs-base.canonical', 'the host FS base is canonical', (c) => canonical(c, F.H_FS_BASE));
rule('host.gs-base.canonical', 'the host GS base is canonical', (c) => canonical(c, F.H_GS_BASE));
rule('host.gdtr-base.canonical', 'the host GDTR base is canonical', (c) => canonical(c, F.H_GDTR_BASE));
rule('host.idtr-base.canonical', 'the host IDTR base is canonical', (c) => canonical(c, F.H_IDTR_BASE));
rule('host.tr-base.canonical', 'the host TR base is canonical', (c) => canonical(c, F.H_TR_BASE));

// ===== 27.2.4 Checks Related to Address-Space Size (VMfailValid 8) =====
section('host', S_HOST_AS);
rule('host.address-space-size', 'the logical processor is in IA-32e mode at VM entry (the host here always is), so "host address-space size" is 1', hostAs);
rule('host.cr4.pae', 'with "host address-space size" 1, host CR4.PAE is 1', (c) => !hostAs(c) || (lo(c, F.H_CR4) & 0x20) !== 0);
rule('host.rip.canonical', 'with "host address-space size" 1, host RIP is canonical', (c) => !hostAs(c) || canonical(c, F.H_RIP));

// ===== 27.3.1.1 Checks on Guest Control Registers, Debug Registers, and MSRs (exit 33) =====
section('guest', S_G_CR);
/** CR0.PE and PG are exempt with "unrestricted guest"; NW (29) and CD (30) are never checked. */
const cr0Exempt = (c: CheckContext): number => (unrestricted(c) ? 0x8000_0001 : 0) | 0x6000_0000;
rule('guest.cr0.fixed0', 'guest CR0 sets every bit IA32_VMX_CR0_FIXED0 requires (PE and PG exempt with "unrestricted guest"; NW, CD never checked)',
  (c) => fixed0Ok(c, MSR.IA32_VMX_CR0_FIXED0, F.G_CR0, cr0Exempt(c)));
rule('guest.cr0.fixed1', 'guest CR0 sets no bit IA32_VMX_CR0_FIXED1 leaves 0 (bits 63:32 included; NW, CD never checked)',
  (c) => fixed1Ok(c, MSR.IA32_VMX_CR0_FIXED1, F.G_CR0, cr0Exempt(c)));
rule('guest.cr0.pg-requires-pe', 'guest CR0.PG = 1 requires CR0.PE = 1', (c) => (cr0(c) & 0x8000_0000) === 0 || (cr0(c) & 1) === 1);
rule('guest.cr4.fixed0', 'guest CR4 sets every bit IA32_VMX_CR4_FIXED0 requires (VMXE)', (c) => fixed0Ok(c, MSR.IA32_VMX_CR4_FIXED0, F.G_CR4));
rule('guest.cr4.fixed1', 'guest CR4 sets no bit IA32_VMX_CR4_FIXED1 leaves 0 (bits 63:32 included)', (c) => fixed1Ok(c, MSR.IA32_VMX_CR4_FIXED1, F.G_CR4));
const loadDebug = (c: CheckContext): boolean => (c.entry & ENTRY.LOAD_DEBUG_CONTROLS) !== 0;
rule('guest.debugctl.reserved', 'with "load debug controls", reserved bits of the IA32_DEBUGCTL field are 0 (this processor implements LBR and BTF)',
  (c) => !loadDebug(c) || (hi(c, F.G_DEBUGCTL) === 0 && (lo(c, F.G_DEBUGCTL) & ~DEBUGCTL_VALID) === 0));
rule('guest.cr0.pg-ia32e', 'with "IA-32e mode guest", guest CR0.PG is 1', (c) => !ia32e(c) || (cr0(c) & 0x8000_0000) !== 0);
rule('guest.cr4.pae-ia32e', 'with "IA-32e mode guest", guest CR4.PAE is 1', (c) => !ia32e(c) || (cr4(c) & 0x20) !== 0);
rule('guest.cr4.pcide', 'without "IA-32e mode guest", guest CR4.PCIDE is 0', (c) => ia32e(c) || (cr4(c) & 0x20000) === 0);
rule('guest.cr3.width', 'guest CR3 bits 63:N are 0 (N = physical-address width)', (c) => inWidth(c, F.G_CR3));
rule('guest.dr7.high', 'with "load debug controls", bits 63:32 of the DR7 field are 0', (c) => !loadDebug(c) || hi(c, F.G_DR7) === 0);
rule('guest.sysenter-esp.canonical', 'the guest IA32_SYSENTER_ESP field is canonical', (c) => canonical(c, F.G_SYSENTER_ESP));
rule('guest.sysenter-eip.canonical', 'the guest IA32_SYSENTER_EIP field is canonical', (c) => canonical(c, F.G_SYSENTER_EIP));
rule('guest.perf-global-ctrl.reserved', 'with the "load IA32_PERF_GLOBAL_CTRL" VM-entry control, reserved bits of the guest field are 0',
  (c) => (c.entry & ENTRY.LOAD_IA32_PERF_GLOBAL_CTRL) === 0 || perfOk(c, F.G_PERF));
rule('guest.pat', 'with the "load IA32_PAT" VM-entry control, every byte of the guest IA32_PAT field is 0, 1, 4, 5, 6 or 7',
  (c) => (c.entry & ENTRY.LOAD_IA32_PAT) === 0 || patOk(lo(c, F.G_PAT), hi(c, F.G_PAT)));
const loadGuestEfer = (c: CheckContext): boolean => (c.entry & ENTRY.LOAD_IA32_EFER) !== 0;
rule('guest.efer.reserved', 'with the "load IA32_EFER" VM-entry control, reserved bits of the guest IA32_EFER field are 0',
  (c) => !loadGuestEfer(c) || eferReservedOk(c, F.G_EFER));
rule('guest.efer.lma', 'with the "load IA32_EFER" VM-entry control, guest IA32_EFER.LMA equals "IA-32e mode guest"',
  (c) => !loadGuestEfer(c) || ((lo(c, F.G_EFER) & 0x400) !== 0) === ia32e(c));
rule('guest.efer.lme', 'with the "load IA32_EFER" VM-entry control and guest CR0.PG = 1, guest IA32_EFER.LME equals LMA',
  (c) => !loadGuestEfer(c) || (cr0(c) & 0x8000_0000) === 0 || ((lo(c, F.G_EFER) & 0x100) !== 0) === ((lo(c, F.G_EFER) & 0x400) !== 0));

// ===== 27.3.1.2 Checks on Guest Segment Registers (exit 33) =====
section('guest', S_G_SEG);
// Selector fields.
rule('guest.tr.selector-ti', 'the TR selector has TI = 0', (c) => (lo(c, TR.sel) & 4) === 0);
rule('guest.ldtr.selector-ti', 'a usable LDTR has a selector with TI = 0', (c) => !usable(c, LDTR) || (lo(c, LDTR.sel) & 4) === 0);
rule('guest.ss.selector-rpl', 'outside virtual-8086 mode and without "unrestricted guest", SS.RPL equals CS.RPL',
  (c) => v86(c) || unrestricted(c) || rpl(c, SS) === rpl(c, CS));
// Base-address fields.
for (const s of CODE_DATA) {
  rule(`guest.${s.name.toLowerCase()}.base-v86`, `in virtual-8086 mode, the ${s.name} base is the selector shifted left 4 bits`,
    (c) => !v86(c) || (hi(c, s.base) === 0 && lo(c, s.base) === ((lo(c, s.sel) & 0xffff) << 4)));
}
rule('guest.tr.base-canonical', 'the TR base is canonical', (c) => canonical(c, TR.base));
rule('guest.fs.base-canonical', 'the FS base is canonical', (c) => canonical(c, FS.base));
rule('guest.gs.base-canonical', 'the GS base is canonical', (c) => canonical(c, GS.base));
rule('guest.ldtr.base-canonical', 'a usable LDTR has a canonical base', (c) => !usable(c, LDTR) || canonical(c, LDTR.base));
rule('guest.cs.base-high', 'bits 63:32 of the CS base are 0', (c) => hi(c, CS.base) === 0);
for (const s of [SS, DS, ES]) {
  rule(`guest.${s.name.toLowerCase()}.base-high`, `bits 63:32 of a usable ${s.name} base are 0`, (c) => !usable(c, s) || hi(c, s.base) === 0);
}
// Limit fields.
for (const s of CODE_DATA) {
  rule(`guest.${s.name.toLowerCase()}.limit-v86`, `in virtual-8086 mode, the ${s.name} limit is 0000FFFFH`, (c) => !v86(c) || lo(c, s.limit) === 0xffff);
}
// Access-rights fields of CS, SS, DS, ES, FS, GS.
for (const s of CODE_DATA) {
  rule(`guest.${s.name.toLowerCase()}.ar-v86`, `in virtual-8086 mode, the ${s.name} access rights are 000000F3H`, (c) => !v86(c) || lo(c, s.ar) === 0xf3);
}
const nv = (c: CheckContext): boolean => !v86(c);
rule('guest.cs.type', 'CS type is 9, 11, 13 or 15 (accessed code), or 3 with "unrestricted guest"',
  (c) => { if (!nv(c)) return true; const t = type(c, CS); return t === 9 || t === 11 || t === 13 || t === 15 || (t === 3 && unrestricted(c)); });
rule('guest.ss.type', 'a usable SS has type 3 or 7 (read/write accessed data)', (c) => !nv(c) || !usable(c, SS) || type(c, SS) === 3 || type(c, SS) === 7);
for (const s of DATA4) {
  const n = s.name.toLowerCase();
  rule(`guest.${n}.type-accessed`, `a usable ${s.name} has the accessed bit (type bit 0) set`, (c) => !nv(c) || !usable(c, s) || (type(c, s) & 1) === 1);
  rule(`guest.${n}.type-readable`, `a usable ${s.name} holding a code segment (type bit 3) is readable (type bit 1)`, (c) => !nv(c) || !usable(c, s) || (type(c, s) & 8) === 0 || (type(c, s) & 2) !== 0);
}
for (const s of CODE_DATA) {
  rule(`guest.${s.name.toLowerCase()}.s`, `${s === CS ? 'CS' : `a usable ${s.name}`} has S = 1 (code or data)`, (c) => !nv(c) || !checked(c, s) || (ar(c, s) & 0x10) !== 0);
}
rule('guest.cs.dpl-type3', 'a CS of type 3 (unrestricted guest) has DPL 0', (c) => !nv(c) || type(c, CS) !== 3 || dpl(c, CS) === 0);
rule('guest.cs.dpl-nonconforming', 'a non-conforming CS (type 9 or 11) has DPL equal to SS.DPL', (c) => !nv(c) || (type(c, CS) !== 9 && type(c, CS) !== 11) || dpl(c, CS) === dpl(c, SS));
rule('guest.cs.dpl-conforming', 'a conforming CS (type 13 or 15) has DPL not greater than SS.DPL', (c) => !nv(c) || (type(c, CS) !== 13 && type(c, CS) !== 15) || dpl(c, CS) <= dpl(c, SS));
rule('guest.ss.dpl-rpl', 'without "unrestricted guest", SS.DPL equals the RPL of the SS selector', (c) => !nv(c) || unrestricted(c) || dpl(c, SS) === rpl(c, SS));
rule('guest.ss.dpl-real', 'SS.DPL is 0 if CS has type 3 or guest CR0.PE = 0', (c) => !nv(c) || (type(c, CS) !== 3 && (cr0(c) & 1) === 1) || dpl(c, SS) === 0);
for (const s of DATA4) {
  rule(`guest.${s.name.toLowerCase()}.dpl-rpl`, `without "unrestricted guest", a usable ${s.name} of type 0-11 has DPL not less than its selector's RPL`,
    (c) => !nv(c) || unrestricted(c) || !usable(c, s) || type(c, s) > 11 || dpl(c, s) >= rpl(c, s));
}
for (const s of CODE_DATA) {
  rule(`guest.${s.name.toLowerCase()}.present`, `${s === CS ? 'CS' : `a usable ${s.name}`} is present (P = 1)`, (c) => !nv(c) || !checked(c, s) || (ar(c, s) & 0x80) !== 0);
}
for (const s of CODE_DATA) {
  rule(`guest.${s.name.toLowerCase()}.ar-reserved-11-8`, `bits 11:8 of the ${s === CS ? 'CS' : `usable ${s.name}`} access rights are 0`, (c) => !nv(c) || !checked(c, s) || (ar(c, s) & 0xf00) === 0);
}
rule('guest.cs.db-long', 'with "IA-32e mode guest" and CS.L = 1, CS.D/B is 0', (c) => !nv(c) || !ia32e(c) || !csL(c) || (ar(c, CS) & 0x4000) === 0);
function granularityRules(s: Seg, guard: (c: CheckContext) => boolean, who: string): void {
  const n = s.name.toLowerCase();
  rule(`guest.${n}.g-limit-low`, `${who}: if any of limit bits 11:0 is 0, G is 0`, (c) => !guard(c) || (lo(c, s.limit) & 0xfff) === 0xfff || (ar(c, s) & 0x8000) === 0);
  rule(`guest.${n}.g-limit-high`, `${who}: if any of limit bits 31:20 is 1, G is 1`, (c) => !guard(c) || (lo(c, s.limit) >>> 20) === 0 || (ar(c, s) & 0x8000) !== 0);
}
for (const s of CODE_DATA) granularityRules(s, (c) => nv(c) && checked(c, s), s === CS ? 'CS' : `a usable ${s.name}`);
for (const s of CODE_DATA) {
  rule(`guest.${s.name.toLowerCase()}.ar-reserved-31-17`, `bits 31:17 of the ${s === CS ? 'CS' : `usable ${s.name}`} access rights are 0`, (c) => !nv(c) || !checked(c, s) || (ar(c, s) >>> 17) === 0);
}
// TR.
rule('guest.tr.type', 'TR type is 11 (busy 64-bit TSS) with "IA-32e mode guest", else 3 or 11 (busy 16/32-bit TSS)',
  (c) => { const t = type(c, TR); return t === 11 || (t === 3 && !ia32e(c)); });
rule('guest.tr.s', 'TR has S = 0 (system segment)', (c) => (ar(c, TR) & 0x10) === 0);
rule('guest.tr.present', 'TR is present (P = 1)', (c) => (ar(c, TR) & 0x80) !== 0);
rule('guest.tr.ar-reserved-11-8', 'bits 11:8 of the TR access rights are 0', (c) => (ar(c, TR) & 0xf00) === 0);
granularityRules(TR, () => true, 'TR');
rule('guest.tr.usable', 'TR is usable (access-rights bit 16 is 0)', (c) => usable(c, TR));
rule('guest.tr.ar-reserved-31-17', 'bits 31:17 of the TR access rights are 0', (c) => (ar(c, TR) >>> 17) === 0);
// LDTR.
rule('guest.ldtr.type', 'a usable LDTR has type 2 (LDT)', (c) => !usable(c, LDTR) || type(c, LDTR) === 2);
rule('guest.ldtr.s', 'a usable LDTR has S = 0', (c) => !usable(c, LDTR) || (ar(c, LDTR) & 0x10) === 0);
rule('guest.ldtr.present', 'a usable LDTR is present (P = 1)', (c) => !usable(c, LDTR) || (ar(c, LDTR) & 0x80) !== 0);
rule('guest.ldtr.ar-reserved-11-8', 'bits 11:8 of the usable LDTR access rights are 0', (c) => !usable(c, LDTR) || (ar(c, LDTR) & 0xf00) === 0);
granularityRules(LDTR, (c) => usable(c, LDTR), 'a usable LDTR');
rule('guest.ldtr.ar-reserved-31-17', 'bits 31:17 of the usable LDTR access rights are 0', (c) => !usable(c, LDTR) || (ar(c, LDTR) >>> 17) === 0);

// ===== 27.3.1.3 Checks on Guest Descriptor-Table Registers (exit 33) =====
section('guest', S_G_DT);
rule('guest.gdtr.base-canonical', 'the GDTR base is canonical', (c) => canonical(c, F.G_GDTR_BASE));
rule('guest.idtr.base-canonical', 'the IDTR base is canonical', (c) => canonical(c, F.G_IDTR_BASE));
rule('guest.gdtr.limit-high', 'bits 31:16 of the GDTR limit are 0', (c) => (lo(c, F.G_GDTR_LIMIT) >>> 16) === 0);
rule('guest.idtr.limit-high', 'bits 31:16 of the IDTR limit are 0', (c) => (lo(c, F.G_IDTR_LIMIT) >>> 16) === 0);

// ===== 27.3.1.4 Checks on Guest RIP, RFLAGS, and SSP (exit 33) =====
section('guest', S_G_RIP);
const longMode = (c: CheckContext): boolean => ia32e(c) && csL(c);
rule('guest.rip.high', 'bits 63:32 of RIP are 0 unless "IA-32e mode guest" and CS.L = 1', (c) => longMode(c) || hi(c, F.G_RIP) === 0);
/** Bits 63:N of RIP identical (N = linear-address width): bit N-1 is not included, unlike "canonical". */
const RIP_SHIFT = LINEAR_ADDRESS_WIDTH - 32;
rule('guest.rip.linear-width', `with "IA-32e mode guest" and CS.L = 1, bits 63:${LINEAR_ADDRESS_WIDTH} of RIP are identical (N = ${LINEAR_ADDRESS_WIDTH} linear-address bits; bit ${LINEAR_ADDRESS_WIDTH - 1} is not checked)`,
  (c) => { if (!longMode(c) || RIP_SHIFT >= 32) return true; const t = (hi(c, F.G_RIP) | 0) >> RIP_SHIFT; return t === 0 || t === -1; });
rule('guest.rflags.reserved', 'RFLAGS bits 63:22, 15, 5 and 3 are 0', (c) => hi(c, F.G_RFLAGS) === 0 && rflags(c, 0xffc0_8028) === 0);
rule('guest.rflags.bit1', 'RFLAGS bit 1 is 1', (c) => rflags(c, 2) !== 0);
rule('guest.rflags.vm', 'RFLAGS.VM is 0 with "IA-32e mode guest" or guest CR0.PE = 0', (c) => !v86(c) || (!ia32e(c) && (cr0(c) & 1) === 1));
rule('guest.rflags.if-extint', 'RFLAGS.IF is 1 when an external interrupt is injected', (c) => !injecting(c, T_EXTINT) || rflags(c, 0x200) !== 0);

// ===== 27.3.1.5 Checks on Guest Non-Register State (exit 33) =====
section('guest', S_G_NR);
const ACT_ACTIVE = 0, ACT_HLT = 1, ACT_SHUTDOWN = 2, ACT_SIPI = 3;
rule('guest.activity.supported', 'the activity state is 0-3 and one IA32_VMX_MISC bits 8:6 advertise (0 = active always)',
  (c) => c.caps.activityStateSupported(activity(c) >>> 0));
rule('guest.activity.hlt-ss-dpl', 'the activity state is not HLT if SS.DPL is not 0', (c) => activity(c) !== ACT_HLT || dpl(c, SS) === 0);
rule('guest.activity.blocking', 'the activity state is active if blocking by STI or by MOV SS is in effect', (c) => (intr(c) & 3) === 0 || activity(c) === ACT_ACTIVE);
rule('guest.activity.hlt-event', 'in the HLT state only external interrupts, NMIs, #DB, #MC and pending MTF exits may be injected',
  (c) => {
    if (activity(c) !== ACT_HLT || !injValid(c)) return true;
    const t = injType(c), v = injVector(c);
    return t === T_EXTINT || t === T_NMI || (t === T_HWEXC && (v === 1 || v === 18)) || (t === T_OTHER && v === 0);
  });
rule('guest.activity.shutdown-event', 'in the shutdown state only NMIs and machine checks may be injected',
  (c) => activity(c) !== ACT_SHUTDOWN || !injValid(c) || injType(c) === T_NMI || (injType(c) === T_HWEXC && injVector(c) === 18));
rule('guest.activity.sipi-event', 'in the wait-for-SIPI state no event may be injected', (c) => activity(c) !== ACT_SIPI || !injValid(c));
rule('guest.interruptibility.reserved', 'bits 31:5 of the interruptibility state are 0', (c) => (intr(c) >>> 5) === 0);
rule('guest.interruptibility.sti-and-movss', 'blocking by STI and blocking by MOV SS are not both set', (c) => (intr(c) & 3) !== 3);
rule('guest.interruptibility.sti-if', 'blocking by STI requires RFLAGS.IF = 1', (c) => (intr(c) & 1) === 0 || rflags(c, 0x200) !== 0);
rule('guest.interruptibility.extint', 'no blocking by STI or MOV SS when an external interrupt is injected', (c) => !injecting(c, T_EXTINT) || (intr(c) & 3) === 0);
rule('guest.interruptibility.nmi-movss', 'no blocking by MOV SS when an NMI is injected', (c) => !injecting(c, T_NMI) || (intr(c) & 2) === 0);
rule('guest.interruptibility.smi', 'blocking by SMI is 0 (the processor is not in SMM)', (c) => (intr(c) & 4) === 0);
rule('guest.interruptibility.nmi-sti', 'no blocking by STI when an NMI is injected (the optional check of 27.3.1.5 this processor makes)',
  (c) => !injecting(c, T_NMI) || (intr(c) & 1) === 0, 3);
rule('guest.interruptibility.virtual-nmi', 'with "virtual NMIs", blocking by NMI is 0 when an NMI is injected', (c) => (c.pin & PIN.VIRTUAL_NMIS) === 0 || !injecting(c, T_NMI) || (intr(c) & 8) === 0);
rule('guest.interruptibility.enclave', 'enclave interruption (bit 4) requires SGX support and no blocking by MOV SS', (c) => (intr(c) & 0x10) === 0 || (HAS_SGX && (intr(c) & 2) === 0));
const pdbg = (c: CheckContext): number => lo(c, F.G_PENDING_DBG);
rule('guest.pending-debug.reserved', 'bits 11:4, 13, 15 and 63:17 of the pending debug exceptions are 0', (c) => hi(c, F.G_PENDING_DBG) === 0 && (pdbg(c) & 0xfffe_aff0) === 0);
const bsChecked = (c: CheckContext): boolean => (intr(c) & 3) !== 0 || activity(c) === ACT_HLT;
const tfNoBtf = (c: CheckContext): boolean => rflags(c, 0x100) !== 0 && (lo(c, F.G_DEBUGCTL) & 2) === 0;
rule('guest.pending-debug.bs-set', 'with blocking by STI/MOV SS or HLT, BS (bit 14) is 1 if RFLAGS.TF = 1 and IA32_DEBUGCTL.BTF = 0',
  (c) => !bsChecked(c) || !tfNoBtf(c) || (pdbg(c) & 0x4000) !== 0);
rule('guest.pending-debug.bs-clear', 'with blocking by STI/MOV SS or HLT, BS (bit 14) is 0 if RFLAGS.TF = 0 or IA32_DEBUGCTL.BTF = 1',
  (c) => !bsChecked(c) || tfNoBtf(c) || (pdbg(c) & 0x4000) === 0);
rule('guest.pending-debug.rtm', 'RTM (bit 16) requires RTM support, bits 11:0 and 15:13 clear, and no blocking by MOV SS',
  (c) => (pdbg(c) & 0x10000) === 0 || (HAS_RTM && (pdbg(c) & 0xefff) === 0 && (intr(c) & 2) === 0));
const linkSet = (c: CheckContext): boolean => !(lo(c, F.LINK) === 0xffff_ffff && hi(c, F.LINK) === 0xffff_ffff);
const linkAddr = (c: CheckContext): number => hi(c, F.LINK) * 2 ** 32 + lo(c, F.LINK);
const linkWord = (c: CheckContext): number => (c.mem ? readRegion32(c.mem, linkAddr(c)) : 0xffff_ffff) >>> 0;
rule('guest.vmcs-link.align', 'a VMCS link pointer other than FFFFFFFF_FFFFFFFFH has bits 11:0 clear', (c) => !linkSet(c) || (lo(c, F.LINK) & 0xfff) === 0, 4);
rule('guest.vmcs-link.width', 'a VMCS link pointer other than FFFFFFFF_FFFFFFFFH sets no bit beyond the physical-address width', (c) => !linkSet(c) || inWidth(c, F.LINK), 4);
rule('guest.vmcs-link.revision', 'the VMCS the link pointer references starts with this processor\'s VMCS revision identifier (bits 30:0)',
  (c) => !linkSet(c) || (linkWord(c) & 0x7fff_ffff) === c.caps.vmcsRevisionId, 4);
rule('guest.vmcs-link.shadow-indicator', 'bit 31 of the referenced VMCS (shadow-VMCS indicator) equals the "VMCS shadowing" control',
  (c) => !linkSet(c) || ((linkWord(c) >>> 31) === 1) === shadowing(c), 4);
rule('guest.vmcs-link.not-current', 'outside SMM, the VMCS link pointer is not the current-VMCS pointer',
  (c) => !linkSet(c) || linkAddr(c) !== c.v.regionAddress, 4);

// ===== 27.3.1.6 Checks on Guest Page-Directory-Pointer-Table Entries (exit 33, qualification 2) =====
section('guest', S_G_PDPTE);
const paePaging = (c: CheckContext): boolean => (cr0(c) & 0x8000_0000) !== 0 && (cr4(c) & 0x20) !== 0 && !ia32e(c);
/** A present PDPTE's reserved bits: 2:1, 8:5 and 63:N (Vol. 3A 4.4.1, Table 4-8). */
function pdpteOk(l: number, h: number, width: number): boolean {
  return (l & 1) === 0 || ((l & 0x1e6) === 0 && widthOk(h, width));
}
for (let k = 0; k < 4; k++) {
  rule(`guest.pdpte${k}.reserved`, `with PAE paging, a present PDPTE${k} (the guest-state field with "enable EPT", else the entry at CR3[31:5] + ${8 * k}) has reserved bits 2:1, 8:5, 63:N clear`,
    (c) => {
      if (!paePaging(c)) return true;
      if (ept(c)) return pdpteOk(lo(c, F.G_PDPTE[k]!), hi(c, F.G_PDPTE[k]!), W(c));
      const pa = (lo(c, F.G_CR3) & 0xffff_ffe0) + 8 * k;
      const l = c.mem ? readRegion32(c.mem, pa) : 0xffff_ffff, h = c.mem ? readRegion32(c.mem, pa + 4) : 0xffff_ffff;
      return pdpteOk(l, h, W(c));
    }, 2);
}

// ===== 27.4 Loading MSRs (exit 34, qualification = entry number) =====
section('msr', S_MSR);
const mi = (c: CheckContext): number => (c.msrIndex ?? 0) >>> 0;
rule('msr.fs-gs-base', 'a VM-entry MSR-load entry does not load IA32_FS_BASE (C0000100H) or IA32_GS_BASE (C0000101H)', (c) => mi(c) !== 0xc000_0100 && mi(c) !== 0xc000_0101);
rule('msr.x2apic', 'a VM-entry MSR-load entry does not load an x2APIC MSR (bits 31:8 = 000008H)', (c) => (mi(c) >>> 8) !== 0x8);
rule('msr.smm-only', 'a VM-entry MSR-load entry does not load IA32_SMM_MONITOR_CTL (9BH), writable only in SMM', (c) => mi(c) !== 0x9b);
rule('msr.model-specific', 'a VM-entry MSR-load entry does not load IA32_BIOS_UPDT_TRIG (79H) or IA32_BIOS_SIGN_ID (8BH), which VM entry cannot load on this processor',
  (c) => mi(c) !== 0x79 && mi(c) !== 0x8b);
rule('msr.reserved', 'bits 63:32 of a VM-entry MSR-load entry are 0', (c) => ((c.msrReserved ?? 0) >>> 0) === 0);
rule('msr.wrmsr', 'the entry\'s data can be written by WRMSR at CPL 0 without #GP (the MSR is loaded by this rule)',
  (c) => !c.wrmsr || c.wrmsr(mi(c), (c.msrLo ?? 0) >>> 0, (c.msrHi ?? 0) >>> 0));

/** Every rule, in evaluation order: controls, host state, guest state, MSR loading. */
export const ENTRY_RULES: readonly EntryRule[] = Object.freeze(RULES.slice());

const BY_KIND: Readonly<Record<RuleKind, readonly EntryRule[]>> = {
  control: ENTRY_RULES.filter((r) => r.kind === 'control'),
  host: ENTRY_RULES.filter((r) => r.kind === 'host'),
  guest: ENTRY_RULES.filter((r) => r.kind === 'guest'),
  msr: ENTRY_RULES.filter((r) => r.kind === 'msr'),
};
const BY_ID: ReadonlyMap<string, EntryRule> = new Map(ENTRY_RULES.map((r) => [r.id, r]));
if (BY_ID.size !== ENTRY_RULES.length) throw new Error('internal: duplicate VM-entry rule id');

/** The rule with this id, or undefined. */
export function entryRule(id: string): EntryRule | undefined { return BY_ID.get(id); }

/** The rules of one kind, in evaluation order. */
export function rulesOfKind(kind: RuleKind): readonly EntryRule[] { return BY_KIND[kind]; }

/** The first failing rule of a kind (evaluation order), or null. */
export function firstFailure(c: CheckContext, kind: RuleKind, rules: readonly EntryRule[] = BY_KIND[kind]): EntryRule | null {
  for (let k = 0; k < rules.length; k++) {
    const r = rules[k]!;
    if (r.kind === kind && !r.ok(c)) return r;
  }
  return null;
}

/** Outcome of the checks that precede loading MSRs, in the order VM entry performs them. */
export type CheckOutcome =
  | { readonly kind: 'ok' }
  | { readonly kind: 'failValid'; readonly error: 7 | 8; readonly rule: EntryRule }
  | { readonly kind: 'guest'; readonly rule: EntryRule; readonly qual: number };

/**
 * Run the control (VMfailValid 7), host-state (VMfailValid 8) and guest-state
 * (exit 33) checks. `rules` replaces the table (for tests of the checker).
 */
export function checkEntry(c: CheckContext, rules: readonly EntryRule[] = ENTRY_RULES): CheckOutcome {
  const same = rules === ENTRY_RULES;
  let bad = firstFailure(c, 'control', same ? BY_KIND.control : rules);
  if (bad) return { kind: 'failValid', error: 7, rule: bad };
  bad = firstFailure(c, 'host', same ? BY_KIND.host : rules);
  if (bad) return { kind: 'failValid', error: 8, rule: bad };
  bad = firstFailure(c, 'guest', same ? BY_KIND.guest : rules);
  if (bad) return { kind: 'guest', rule: bad, qual: bad.qual ?? 0 };
  return { kind: 'ok' };
}

/** Build a CheckContext for a VMCS the way VM entry reads its controls (secondary controls count as 0 unless activated). */
export function checkContext(v: Vmcs, caps: VmxCapabilities, mem: PhysMem | null = null): CheckContext {
  const proc = v.get32(VMCS.PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS);
  return {
    v, caps, mem,
    pin: v.get32(VMCS.PIN_BASED_VM_EXECUTION_CONTROLS),
    proc,
    proc2: proc & PROC.ACTIVATE_SECONDARY_CONTROLS ? v.get32(VMCS.SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS) : 0,
    exit: v.get32(VMCS.VM_EXIT_CONTROLS),
    entry: v.get32(VMCS.VM_ENTRY_CONTROLS),
  };
}

// ---------------------------------------------------------------------------
// Memoized checking (speed only: the outcome is that of checkEntry)
// ---------------------------------------------------------------------------

/** Control, host-state and guest-state rules, in the order checkEntry evaluates them. */
const ENTRY_CHECK_RULES: readonly EntryRule[] = [...BY_KIND.control, ...BY_KIND.host, ...BY_KIND.guest];
const IX_PIN = ix(VMCS.PIN_BASED_VM_EXECUTION_CONTROLS), IX_PROC = ix(VMCS.PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS);
const IX_PROC2 = ix(VMCS.SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS);
const IX_EXIT = ix(VMCS.VM_EXIT_CONTROLS), IX_ENTRY = ix(VMCS.VM_ENTRY_CONTROLS);

/**
 * The context an EntryMemo evaluates rules with: the five control words are
 * read from the VMCS when a rule asks for them (as checkContext computes them),
 * so those reads are tracked like any other field; touching host memory makes
 * the rule's result volatile.
 */
class TrackingContext implements CheckContext {
  constructor(readonly memo: EntryMemo, readonly v: Vmcs, readonly caps: VmxCapabilities, private readonly physMem: PhysMem | null) {}
  get pin(): number { this.memo.dep(IX_PIN, -1, 0); return this.v.lo[IX_PIN]!; }
  get proc(): number { this.memo.dep(IX_PROC, -1, 0); return this.v.lo[IX_PROC]!; }
  get proc2(): number {
    this.memo.dep(IX_PROC, PROC.ACTIVATE_SECONDARY_CONTROLS, 0);
    if ((this.v.lo[IX_PROC]! & PROC.ACTIVATE_SECONDARY_CONTROLS) === 0) return 0;
    this.memo.dep(IX_PROC2, -1, 0);
    return this.v.lo[IX_PROC2]!;
  }
  get exit(): number { this.memo.dep(IX_EXIT, -1, 0); return this.v.lo[IX_EXIT]!; }
  get entry(): number { this.memo.dep(IX_ENTRY, -1, 0); return this.v.lo[IX_ENTRY]!; }
  get mem(): PhysMem | null { this.memo.volatile = true; return this.physMem; }
}

const UNKNOWN = 0, PASSED = 1, FAILED = 2;

/**
 * The control, host-state and guest-state checks of one VMCS, re-evaluating
 * only what can have changed since the last VM entry.
 *
 * Every rule is a pure function of the VMCS fields it reads, the capability
 * MSRs (fixed for a memo) and, for a few rules, host memory. Each evaluation
 * records, through the field accessors above, every field the rule read, the
 * bits it looked at and their values then (dynamic dependency tracking). At
 * the next check, a rule whose recorded bits all still hold those values would
 * take the same path and give the same result, so that result is reused. A
 * rule that touched host memory (VMCS link pointer, PDPTEs without EPT, the
 * virtual-APIC page's VTPR) is always evaluated again. Rules are visited in
 * checkEntry's order and the first failing one is returned, so the outcome is
 * checkEntry's; no write path of the VMCS needs to cooperate. The property
 * "memoized entry checks" (properties/vmcs) checks this on random VMWRITE
 * sequences, step by step.
 */
export class EntryMemo {
  private readonly ctx: TrackingContext;
  private readonly state = new Uint8Array(ENTRY_CHECK_RULES.length);
  /** Per rule, its last evaluation's reads: field index, mask of bits 31:0, mask of bits 63:32, bits 31:0, bits 63:32. */
  private readonly deps: number[][] = ENTRY_CHECK_RULES.map(() => []);
  /**
   * A filter in front of the exact test above: per field, every rule that has
   * ever read it and the union of the bits each looked at (append-only, so a
   * superset of the current dependencies), and per rule whether one of those
   * bits has changed since the rule was last visited. Fields are compared with
   * a snapshot taken at the previous check.
   */
  private readonly readers: number[][] = Array.from({ length: VMCS_FIELD_COUNT }, () => []);
  private readonly isReader = new Uint8Array(ENTRY_CHECK_RULES.length * VMCS_FIELD_COUNT);
  /** Per (rule, field): every bit of the field the rule has ever looked at (bits 31:0, bits 63:32). */
  private readonly readLo = new Int32Array(ENTRY_CHECK_RULES.length * VMCS_FIELD_COUNT);
  private readonly readHi = new Int32Array(ENTRY_CHECK_RULES.length * VMCS_FIELD_COUNT);
  private readonly suspect = new Uint8Array(ENTRY_CHECK_RULES.length);
  /** Per field: the union of readLo/readHi over its readers (a change outside these bits concerns no rule). */
  private readonly fieldLo = new Int32Array(VMCS_FIELD_COUNT);
  private readonly fieldHi = new Int32Array(VMCS_FIELD_COUNT);
  /** The VMCS's fields as int32 (same memory as v.lo / v.hi) and their snapshot at the previous check. */
  private readonly vlo: Int32Array;
  private readonly vhi: Int32Array;
  private readonly snapLo = new Int32Array(VMCS_FIELD_COUNT);
  private readonly snapHi = new Int32Array(VMCS_FIELD_COUNT);
  private cur: number[] = [];
  /**
   * Rules before this index passed at the last check and were not volatile:
   * unless a change makes one of them suspect, the next check starts here.
   */
  private prefix = 0;
  /** Set when the rule being evaluated touches host memory. */
  volatile = false;
  /** Rules evaluated / reused so far (for benchmarks and tests). */
  evaluated = 0;
  reused = 0;

  constructor(readonly v: Vmcs, readonly caps: VmxCapabilities, readonly mem: PhysMem | null = null) {
    this.ctx = new TrackingContext(this, v, caps, mem);
    this.vlo = new Int32Array(v.lo.buffer, v.lo.byteOffset, v.lo.length);
    this.vhi = new Int32Array(v.hi.buffer, v.hi.byteOffset, v.hi.length);
    this.snapLo.set(this.vlo);
    this.snapHi.set(this.vhi);
  }

  /** Dependency tracking: the rule under evaluation read bits (mlo, mhi) of field i. */
  dep(i: number, mlo: number, mhi: number): void {
    this.cur.push(i, mlo | 0, mhi | 0, this.vlo[i]!, this.vhi[i]!);
  }

  /** The first failing control, host-state or guest-state rule (checkEntry's order), or null. */
  check(): EntryRule | null {
    const vlo = this.vlo, vhi = this.vhi, slo = this.snapLo, shi = this.snapHi, suspect = this.suspect;
    let start = this.prefix;
    this.prefix = 0; // set again when the check completes (a rule that throws leaves every rule to visit)
    for (let i = 0; i < VMCS_FIELD_COUNT; i++) {
      const l = vlo[i]!, h = vhi[i]!;
      if (l !== slo[i] || h !== shi[i]) {
        const xl = l ^ slo[i]!, xh = h ^ shi[i]!;
        slo[i] = l; shi[i] = h;
        if (((xl & this.fieldLo[i]!) | (xh & this.fieldHi[i]!)) === 0) continue;
        const rd = this.readers[i]!;
        for (let j = 0; j < rd.length; j++) {
          const k = rd[j]!, at = k * VMCS_FIELD_COUNT + i;
          if (((xl & this.readLo[at]!) | (xh & this.readHi[at]!)) !== 0) { suspect[k] = 1; if (k < start) start = k; }
        }
      }
    }
    const rules = ENTRY_CHECK_RULES, state = this.state, deps = this.deps;
    // Rules before `start` passed, were not volatile and none of their bits changed: reused without a visit.
    this.reused += start;
    let prefix = -1;
    for (let k = start; k < rules.length; k++) {
      const s = state[k]!;
      if (s !== UNKNOWN) {
        let same = true;
        if (suspect[k] !== 0) {
          suspect[k] = 0;
          const d = deps[k]!;
          for (let j = 0; j < d.length; j += 5) {
            const i = d[j]!;
            if ((((vlo[i]! ^ d[j + 3]!) & d[j + 1]!) | ((vhi[i]! ^ d[j + 4]!) & d[j + 2]!)) !== 0) { same = false; break; }
          }
        }
        if (same) {
          this.reused++;
          if (s === FAILED) { this.prefix = prefix < 0 ? k : prefix; return rules[k]!; }
          continue;
        }
      }
      const ok = this.evaluate(k);
      if (!ok) { this.prefix = prefix < 0 ? k : prefix; return rules[k]!; }
      if (prefix < 0 && state[k] === UNKNOWN) prefix = k;
    }
    this.prefix = prefix < 0 ? rules.length : prefix;
    return null;
  }

  /** Evaluate rule k, recording what it reads. */
  private evaluate(k: number): boolean {
    const d = this.deps[k]!;
    d.length = 0;
    this.state[k] = UNKNOWN; // until the evaluation completes (a rule that throws leaves nothing to reuse)
    this.cur = d;
    this.volatile = false;
    TRACK = this;
    let ok: boolean;
    try { ok = ENTRY_CHECK_RULES[k]!.ok(this.ctx); } finally { TRACK = null; }
    this.evaluated++;
    this.state[k] = this.volatile ? UNKNOWN : ok ? PASSED : FAILED;
    this.suspect[k] = 0;
    const base = k * VMCS_FIELD_COUNT;
    for (let j = 0; j < d.length; j += 5) {
      const at = base + d[j]!;
      if (this.isReader[at] === 0) { this.isReader[at] = 1; this.readers[d[j]!]!.push(k); }
      this.readLo[at] = this.readLo[at]! | d[j + 1]!;
      this.readHi[at] = this.readHi[at]! | d[j + 2]!;
      this.fieldLo[d[j]!] = this.fieldLo[d[j]!]! | d[j + 1]!;
      this.fieldHi[d[j]!] = this.fieldHi[d[j]!]! | d[j + 2]!;
    }
    return ok;
  }
}

/** checkEntry's outcome for the rule EntryMemo.check returned. */
export function outcomeOf(bad: EntryRule | null): CheckOutcome {
  if (bad === null) return { kind: 'ok' };
  if (bad.kind === 'control') return { kind: 'failValid', error: 7, rule: bad };
  if (bad.kind === 'host') return { kind: 'failValid', error: 8, rule: bad };
  return { kind: 'guest', rule: bad, qual: bad.qual ?? 0 };
}
