/**
 * VM-entry checks as one table of named rules (SDM Vol. 3C, chapter "VM
 * Entries", section "Basic VM-Entry Checks" and "Checks on VMX Controls and
 * Host-State Area" / "Checking and Loading Guest State"; numbered 26.2-26.3
 * in older editions and 27.2-27.3 in newer ones). Every rule has an id, the
 * section it comes from and a one-line statement, so a failure names the
 * rule instead of "invalid guest state".
 *
 * Control-field failures give VMfailValid 7, host-state failures VMfailValid
 * 8, guest-state failures a VM exit with basic reason 33 and bit 31 set.
 */
import type { Vmcs } from './vmcs.js';
import { VMCS } from './fields.js';
import { MSR, PIN_BASED, PROC_BASED, PROC_BASED2, EXIT_CTLS, ENTRY_CTLS, type VmxCapabilities } from './capabilities.js';

export type RuleKind = 'control' | 'host' | 'guest';

export interface EntryRule {
  readonly id: string;
  readonly kind: RuleKind;
  /** SDM section title (and number in the 2023 edition). */
  readonly section: string;
  readonly text: string;
  /** True when the VMCS satisfies the rule. */
  readonly ok: (c: CheckContext) => boolean;
  /** Exit qualification for a failing guest-state rule (Vol. 3C, "VM-Entry Failures During or After Loading Guest State"): 0 default, 2 PDPTE, 3 NMI injection, 4 VMCS link pointer. */
  readonly qual?: number;
}

/** What rules look at: the VMCS plus the capability MSRs. */
export interface CheckContext {
  readonly v: Vmcs;
  readonly caps: VmxCapabilities;
  pin: number; proc: number; proc2: number; exit: number; entry: number;
}

const S_CTL = 'Checks on VM-Execution Control Fields (27.2.1.1)';
const S_EXIT = 'Checks on VM-Exit Control Fields (27.2.1.2)';
const S_ENTRY = 'Checks on VM-Entry Control Fields (27.2.1.3)';
const S_HOST_CR = 'Checks on Host Control Registers, MSRs, and SSP (27.2.2)';
const S_HOST_SEG = 'Checks on Host Segment and Descriptor-Table Registers (27.2.3)';
const S_HOST_AS = 'Checks Related to Address-Space Size (27.2.4)';
const S_G_CR = 'Checks on Guest Control Registers, Debug Registers, and MSRs (27.3.1.1)';
const S_G_SEG = 'Checks on Guest Segment Registers (27.3.1.2)';
const S_G_DT = 'Checks on Guest Descriptor-Table Registers (27.3.1.3)';
const S_G_RIP = 'Checks on Guest RIP, RFLAGS, and SSP (27.3.1.4)';
const S_G_NR = 'Checks on Guest Non-Register State (27.3.1.5)';

const TWO32 = 4294967296;
const PHYS_HI_MASK = ~((1 << (39 - 32)) - 1); // bits 63:39 in the high half must be 0 for physical addresses

function controlOk(c: CheckContext, msrIdx: number, value: number): boolean {
  return c.caps.controlsValid(msrIdx, value);
}
function physOk(c: CheckContext, enc: number, align: number): boolean {
  return (c.v.getHi(enc) & PHYS_HI_MASK) === 0 && (c.v.getLo(enc) % align) === 0;
}
function canonicalField(c: CheckContext, enc: number): boolean {
  const hi = c.v.getHi(enc) | 0;
  const lo = c.v.getLo(enc);
  const s = hi * TWO32 + lo;
  return s >= -0x8000_0000_0000 && s < 0x8000_0000_0000;
}
const ia32e = (c: CheckContext): boolean => (c.entry & ENTRY_CTLS.IA32E_MODE_GUEST) !== 0;
const unrestricted = (c: CheckContext): boolean => (c.proc & PROC_BASED.ACTIVATE_SECONDARY_CONTROLS) !== 0 && (c.proc2 & PROC_BASED2.UNRESTRICTED_GUEST) !== 0;
const ar = (c: CheckContext, enc: number): number => c.v.get32(enc);
const usable = (a: number): boolean => (a & 0x10000) === 0;

export const ENTRY_RULES: readonly EntryRule[] = [
  // ---- VM-execution controls ----
  { id: 'ctl.pin.reserved', kind: 'control', section: S_CTL, text: 'pin-based controls respect IA32_VMX_(TRUE_)PINBASED_CTLS', ok: (c) => controlOk(c, c.caps.controlMsr('pin'), c.pin) },
  { id: 'ctl.proc.reserved', kind: 'control', section: S_CTL, text: 'primary processor-based controls respect IA32_VMX_(TRUE_)PROCBASED_CTLS', ok: (c) => controlOk(c, c.caps.controlMsr('proc'), c.proc) },
  { id: 'ctl.proc2.reserved', kind: 'control', section: S_CTL, text: 'secondary controls respect IA32_VMX_PROCBASED_CTLS2 (when activated)', ok: (c) => !(c.proc & PROC_BASED.ACTIVATE_SECONDARY_CONTROLS) || controlOk(c, MSR.IA32_VMX_PROCBASED_CTLS2, c.proc2) },
  { id: 'ctl.cr3-target-count', kind: 'control', section: S_CTL, text: 'CR3-target count is not greater than IA32_VMX_MISC bits 24:16', ok: (c) => c.v.get32(VMCS.CR3_TARGET_COUNT) <= c.caps.cr3TargetCount },
  { id: 'ctl.io-bitmap-a', kind: 'control', section: S_CTL, text: 'with "use I/O bitmaps", I/O bitmap A is 4-KByte aligned within the physical-address width', ok: (c) => !(c.proc & PROC_BASED.USE_IO_BITMAPS) || physOk(c, VMCS.IO_BITMAP_A_ADDRESS, 4096) },
  { id: 'ctl.io-bitmap-b', kind: 'control', section: S_CTL, text: 'with "use I/O bitmaps", I/O bitmap B is 4-KByte aligned within the physical-address width', ok: (c) => !(c.proc & PROC_BASED.USE_IO_BITMAPS) || physOk(c, VMCS.IO_BITMAP_B_ADDRESS, 4096) },
  { id: 'ctl.msr-bitmap', kind: 'control', section: S_CTL, text: 'with "use MSR bitmaps", the MSR-bitmap address is 4-KByte aligned within the physical-address width', ok: (c) => !(c.proc & PROC_BASED.USE_MSR_BITMAPS) || physOk(c, VMCS.MSR_BITMAPS_ADDRESS, 4096) },
  { id: 'ctl.virtual-nmis', kind: 'control', section: S_CTL, text: '"virtual NMIs" requires "NMI exiting"', ok: (c) => !(c.pin & PIN_BASED.VIRTUAL_NMIS) || (c.pin & PIN_BASED.NMI_EXITING) !== 0 },
  { id: 'ctl.nmi-window', kind: 'control', section: S_CTL, text: '"NMI-window exiting" requires "virtual NMIs"', ok: (c) => !(c.proc & PROC_BASED.NMI_WINDOW_EXITING) || (c.pin & PIN_BASED.VIRTUAL_NMIS) !== 0 },
  { id: 'ctl.eptp.memory-type', kind: 'control', section: S_CTL, text: 'with "enable EPT", EPTP bits 2:0 are a supported memory type (UC 0 or WB 6)', ok: (c) => !eptOn(c) || [0, 6].includes(c.v.getLo(VMCS.EPT_POINTER) & 7) },
  { id: 'ctl.eptp.walk-length', kind: 'control', section: S_CTL, text: 'with "enable EPT", EPTP bits 5:3 are 3 (4-level walk)', ok: (c) => !eptOn(c) || ((c.v.getLo(VMCS.EPT_POINTER) >> 3) & 7) === 3 },
  { id: 'ctl.eptp.reserved', kind: 'control', section: S_CTL, text: 'with "enable EPT", EPTP bits 11:7 and 63:MAXPHYADDR are 0', ok: (c) => !eptOn(c) || ((c.v.getLo(VMCS.EPT_POINTER) & 0xf80) === 0 && (c.v.getHi(VMCS.EPT_POINTER) & PHYS_HI_MASK) === 0) },
  { id: 'ctl.unrestricted-requires-ept', kind: 'control', section: S_CTL, text: '"unrestricted guest" requires "enable EPT"', ok: (c) => !unrestricted(c) || eptOn(c) },
  { id: 'ctl.vpid-nonzero', kind: 'control', section: S_CTL, text: 'with "enable VPID", the VPID is not 0000H', ok: (c) => !((c.proc & PROC_BASED.ACTIVATE_SECONDARY_CONTROLS) && (c.proc2 & PROC_BASED2.ENABLE_VPID)) || c.v.get32(VMCS.VPID) !== 0 },
  // ---- VM-exit controls ----
  { id: 'ctl.exit.reserved', kind: 'control', section: S_EXIT, text: 'VM-exit controls respect IA32_VMX_(TRUE_)EXIT_CTLS', ok: (c) => controlOk(c, c.caps.controlMsr('exit'), c.exit) },
  { id: 'ctl.exit.save-preemption', kind: 'control', section: S_EXIT, text: '"save VMX-preemption timer value" requires "activate VMX-preemption timer"', ok: (c) => !(c.exit & EXIT_CTLS.SAVE_VMX_PREEMPTION_TIMER_VALUE) || (c.pin & PIN_BASED.ACTIVATE_VMX_PREEMPTION_TIMER) !== 0 },
  { id: 'ctl.exit.msr-store-address', kind: 'control', section: S_EXIT, text: 'a non-zero VM-exit MSR-store count needs a 16-byte-aligned address', ok: (c) => c.v.get32(VMCS.VM_EXIT_MSR_STORE_COUNT) === 0 || physOk(c, VMCS.VM_EXIT_MSR_STORE_ADDRESS, 16) },
  { id: 'ctl.exit.msr-load-address', kind: 'control', section: S_EXIT, text: 'a non-zero VM-exit MSR-load count needs a 16-byte-aligned address', ok: (c) => c.v.get32(VMCS.VM_EXIT_MSR_LOAD_COUNT) === 0 || physOk(c, VMCS.VM_EXIT_MSR_LOAD_ADDRESS, 16) },
  // ---- VM-entry controls ----
  { id: 'ctl.entry.reserved', kind: 'control', section: S_ENTRY, text: 'VM-entry controls respect IA32_VMX_(TRUE_)ENTRY_CTLS', ok: (c) => controlOk(c, c.caps.controlMsr('entry'), c.entry) },
  { id: 'ctl.entry.intr-type', kind: 'control', section: S_ENTRY, text: 'a valid VM-entry interruption type is not 1 (reserved), nor 7 (other event) without MTF support', ok: (c) => !injValid(c) || ![1, 7].includes((inj(c) >> 8) & 7) },
  { id: 'ctl.entry.intr-vector', kind: 'control', section: S_ENTRY, text: 'injected NMI uses vector 2; a hardware exception uses vector 0-31', ok: (c) => !injValid(c) || (injType(c) !== 2 || (inj(c) & 0xff) === 2) && (injType(c) !== 3 || (inj(c) & 0xff) <= 31) },
  { id: 'ctl.entry.intr-error-code', kind: 'control', section: S_ENTRY, text: '"deliver error code" is 1 exactly for hardware exceptions 8, 10-14, 17, 21 (with CR0.PE = 1 under "unrestricted guest")', ok: (c) => {
    if (!injValid(c)) return true;
    const should = injType(c) === 3 && [8, 10, 11, 12, 13, 14, 17, 21].includes(inj(c) & 0xff) && (!unrestricted(c) || (c.v.getLo(VMCS.GUEST_CR0) & 1) === 1);
    return ((inj(c) & 0x800) !== 0) === should;
  } },
  { id: 'ctl.entry.intr-reserved', kind: 'control', section: S_ENTRY, text: 'bits 30:12 of a valid VM-entry interruption-information field are 0', ok: (c) => !injValid(c) || (inj(c) & 0x7ffff000) === 0 },
  { id: 'ctl.entry.intr-error-code-reserved', kind: 'control', section: S_ENTRY, text: 'bits 31:16 of the VM-entry exception error code are 0 when an error code is delivered', ok: (c) => !injValid(c) || !(inj(c) & 0x800) || (c.v.get32(VMCS.VM_ENTRY_EXCEPTION_ERROR_CODE) & 0xffff0000) === 0 },
  { id: 'ctl.entry.intr-length', kind: 'control', section: S_ENTRY, text: 'software interrupts/exceptions are injected with an instruction length of 1-15', ok: (c) => !injValid(c) || ![4, 5, 6].includes(injType(c)) || ((l) => l >= 1 && l <= 15)(c.v.get32(VMCS.VM_ENTRY_INSTRUCTION_LENGTH)) },
  { id: 'ctl.entry.msr-load-address', kind: 'control', section: S_ENTRY, text: 'a non-zero VM-entry MSR-load count needs a 16-byte-aligned address', ok: (c) => c.v.get32(VMCS.VM_ENTRY_MSR_LOAD_COUNT) === 0 || physOk(c, VMCS.VM_ENTRY_MSR_LOAD_ADDRESS, 16) },
  // ---- host state ----
  { id: 'host.cr0-fixed', kind: 'host', section: S_HOST_CR, text: 'host CR0 respects IA32_VMX_CR0_FIXED0/1', ok: (c) => fixedOk(c.v.getLo(VMCS.HOST_CR0), c.caps, MSR.IA32_VMX_CR0_FIXED0, MSR.IA32_VMX_CR0_FIXED1) },
  { id: 'host.cr4-fixed', kind: 'host', section: S_HOST_CR, text: 'host CR4 respects IA32_VMX_CR4_FIXED0/1', ok: (c) => fixedOk(c.v.getLo(VMCS.HOST_CR4), c.caps, MSR.IA32_VMX_CR4_FIXED0, MSR.IA32_VMX_CR4_FIXED1) },
  { id: 'host.cr3-width', kind: 'host', section: S_HOST_CR, text: 'host CR3 bits 63:MAXPHYADDR are 0', ok: (c) => (c.v.getHi(VMCS.HOST_CR3) & PHYS_HI_MASK) === 0 },
  { id: 'host.selector-rpl-ti', kind: 'host', section: S_HOST_SEG, text: 'host ES/CS/SS/DS/FS/GS/TR selectors have RPL 0 and TI 0', ok: (c) => [VMCS.HOST_ES_SELECTOR, VMCS.HOST_CS_SELECTOR, VMCS.HOST_SS_SELECTOR, VMCS.HOST_DS_SELECTOR, VMCS.HOST_FS_SELECTOR, VMCS.HOST_GS_SELECTOR, VMCS.HOST_TR_SELECTOR].every((e) => (c.v.get32(e) & 7) === 0) },
  { id: 'host.cs-nonnull', kind: 'host', section: S_HOST_SEG, text: 'host CS selector is not 0000H', ok: (c) => c.v.get32(VMCS.HOST_CS_SELECTOR) !== 0 },
  { id: 'host.tr-nonnull', kind: 'host', section: S_HOST_SEG, text: 'host TR selector is not 0000H', ok: (c) => c.v.get32(VMCS.HOST_TR_SELECTOR) !== 0 },
  { id: 'host.bases-canonical', kind: 'host', section: S_HOST_SEG, text: 'host FS, GS, TR, GDTR and IDTR bases are canonical', ok: (c) => [VMCS.HOST_FS_BASE, VMCS.HOST_GS_BASE, VMCS.HOST_TR_BASE, VMCS.HOST_GDTR_BASE, VMCS.HOST_IDTR_BASE].every((e) => canonicalField(c, e)) },
  { id: 'host.address-space-size', kind: 'host', section: S_HOST_AS, text: 'the host is in IA-32e mode, so "host address-space size" must be 1', ok: (c) => (c.exit & EXIT_CTLS.HOST_ADDRESS_SPACE_SIZE) !== 0 },
  { id: 'host.rip-canonical', kind: 'host', section: S_HOST_AS, text: 'host RIP is canonical', ok: (c) => canonicalField(c, VMCS.HOST_RIP) },
  // ---- guest state ----
  { id: 'guest.cr0-fixed', kind: 'guest', section: S_G_CR, text: 'guest CR0 respects IA32_VMX_CR0_FIXED0/1 (PE and PG exempt with "unrestricted guest")', ok: (c) => fixedOk(c.v.getLo(VMCS.GUEST_CR0), c.caps, MSR.IA32_VMX_CR0_FIXED0, MSR.IA32_VMX_CR0_FIXED1, unrestricted(c) ? 0x80000001 : 0) },
  { id: 'guest.cr0-pg-pe', kind: 'guest', section: S_G_CR, text: 'guest CR0.PG = 1 requires CR0.PE = 1', ok: (c) => { const v = c.v.getLo(VMCS.GUEST_CR0); return !(v & 0x80000000) || (v & 1) === 1; } },
  { id: 'guest.cr4-fixed', kind: 'guest', section: S_G_CR, text: 'guest CR4 respects IA32_VMX_CR4_FIXED0/1', ok: (c) => fixedOk(c.v.getLo(VMCS.GUEST_CR4), c.caps, MSR.IA32_VMX_CR4_FIXED0, MSR.IA32_VMX_CR4_FIXED1) },
  { id: 'guest.ia32e-pg', kind: 'guest', section: S_G_CR, text: 'with "IA-32e mode guest", CR0.PG and CR4.PAE are 1', ok: (c) => !ia32e(c) || ((c.v.getLo(VMCS.GUEST_CR0) & 0x80000000) !== 0 && (c.v.getLo(VMCS.GUEST_CR4) & 0x20) !== 0) },
  { id: 'guest.cr4-pcide', kind: 'guest', section: S_G_CR, text: 'without "IA-32e mode guest", CR4.PCIDE is 0', ok: (c) => ia32e(c) || (c.v.getLo(VMCS.GUEST_CR4) & (1 << 17)) === 0 },
  { id: 'guest.cr3-width', kind: 'guest', section: S_G_CR, text: 'guest CR3 bits 63:MAXPHYADDR are 0', ok: (c) => (c.v.getHi(VMCS.GUEST_CR3) & PHYS_HI_MASK) === 0 },
  { id: 'guest.efer-lma', kind: 'guest', section: S_G_CR, text: 'with "load IA32_EFER", EFER.LMA equals "IA-32e mode guest" and, if CR0.PG = 1, EFER.LME too', ok: (c) => {
    if (!(c.entry & ENTRY_CTLS.LOAD_IA32_EFER)) return true;
    const e = c.v.getLo(VMCS.GUEST_IA32_EFER);
    const lma = (e & 0x400) !== 0, lme = (e & 0x100) !== 0;
    return lma === ia32e(c) && (!(c.v.getLo(VMCS.GUEST_CR0) & 0x80000000) || lma === lme);
  } },
  { id: 'guest.efer-reserved', kind: 'guest', section: S_G_CR, text: 'with "load IA32_EFER", reserved bits of IA32_EFER are 0', ok: (c) => !(c.entry & ENTRY_CTLS.LOAD_IA32_EFER) || (c.v.getHi(VMCS.GUEST_IA32_EFER) === 0 && (c.v.getLo(VMCS.GUEST_IA32_EFER) & ~0xd01) === 0) },
  { id: 'guest.tr-type', kind: 'guest', section: S_G_SEG, text: 'TR is a busy TSS: type 11 (or 3 outside IA-32e mode), S = 0, present, usable', ok: (c) => { const a = ar(c, VMCS.GUEST_TR_ACCESS_RIGHTS); const t = a & 0xf; return (t === 11 || (!ia32e(c) && t === 3)) && !(a & 0x10) && (a & 0x80) !== 0 && usable(a); } },
  { id: 'guest.tr-ti', kind: 'guest', section: S_G_SEG, text: 'TR selector TI flag is 0', ok: (c) => (c.v.get32(VMCS.GUEST_TR_SELECTOR) & 4) === 0 },
  { id: 'guest.ldtr-type', kind: 'guest', section: S_G_SEG, text: 'a usable LDTR has type 2, S = 0, P = 1 and TI = 0', ok: (c) => { const a = ar(c, VMCS.GUEST_LDTR_ACCESS_RIGHTS); return !usable(a) || ((a & 0x1f) === 2 && (a & 0x80) !== 0 && (c.v.get32(VMCS.GUEST_LDTR_SELECTOR) & 4) === 0); } },
  { id: 'guest.cs-type', kind: 'guest', section: S_G_SEG, text: 'CS is an accessed code segment (type 9, 11, 13, 15; or 3 with "unrestricted guest"), S = 1, present', ok: (c) => { const a = ar(c, VMCS.GUEST_CS_ACCESS_RIGHTS); const t = a & 0xf; return ([9, 11, 13, 15].includes(t) || (unrestricted(c) && t === 3)) && (a & 0x10) !== 0 && (a & 0x80) !== 0; } },
  { id: 'guest.cs-l-db', kind: 'guest', section: S_G_SEG, text: 'in IA-32e mode with CS.L = 1, CS.D/B is 0', ok: (c) => { const a = ar(c, VMCS.GUEST_CS_ACCESS_RIGHTS); return !(ia32e(c) && (a & 0x2000)) || (a & 0x4000) === 0; } },
  { id: 'guest.ss-dpl', kind: 'guest', section: S_G_SEG, text: 'SS.DPL equals CS.DPL for a non-conforming CS (and is 0 when CR0.PE = 0)', ok: (c) => { const cs = ar(c, VMCS.GUEST_CS_ACCESS_RIGHTS), ss = ar(c, VMCS.GUEST_SS_ACCESS_RIGHTS); if (!(c.v.getLo(VMCS.GUEST_CR0) & 1)) return ((ss >> 5) & 3) === 0; return (cs & 0xf) === 3 || (cs & 4) !== 0 || ((cs >> 5) & 3) === ((ss >> 5) & 3); } },
  { id: 'guest.ss-type', kind: 'guest', section: S_G_SEG, text: 'a usable SS is a writable data segment (type 3 or 7), S = 1, present', ok: (c) => { const a = ar(c, VMCS.GUEST_SS_ACCESS_RIGHTS); return !usable(a) || ((a & 0xf) === 3 || (a & 0xf) === 7) && (a & 0x90) === 0x90; } },
  { id: 'guest.ar-reserved', kind: 'guest', section: S_G_SEG, text: 'bits 11:8 and 31:17 of usable segment access rights are 0', ok: (c) => [VMCS.GUEST_ES_ACCESS_RIGHTS, VMCS.GUEST_CS_ACCESS_RIGHTS, VMCS.GUEST_SS_ACCESS_RIGHTS, VMCS.GUEST_DS_ACCESS_RIGHTS, VMCS.GUEST_FS_ACCESS_RIGHTS, VMCS.GUEST_GS_ACCESS_RIGHTS, VMCS.GUEST_TR_ACCESS_RIGHTS, VMCS.GUEST_LDTR_ACCESS_RIGHTS].every((e) => { const a = ar(c, e); return !usable(a) || (a & 0xfffe0f00) === 0; }) },
  { id: 'guest.seg-granularity', kind: 'guest', section: S_G_SEG, text: 'limit and G agree for usable segments: G = 0 if any of limit bits 31:20 is 1... (limit bits 11:0 all 1 when G = 1)', ok: (c) => [[VMCS.GUEST_CS_LIMIT, VMCS.GUEST_CS_ACCESS_RIGHTS], [VMCS.GUEST_SS_LIMIT, VMCS.GUEST_SS_ACCESS_RIGHTS], [VMCS.GUEST_DS_LIMIT, VMCS.GUEST_DS_ACCESS_RIGHTS], [VMCS.GUEST_ES_LIMIT, VMCS.GUEST_ES_ACCESS_RIGHTS], [VMCS.GUEST_FS_LIMIT, VMCS.GUEST_FS_ACCESS_RIGHTS], [VMCS.GUEST_GS_LIMIT, VMCS.GUEST_GS_ACCESS_RIGHTS], [VMCS.GUEST_TR_LIMIT, VMCS.GUEST_TR_ACCESS_RIGHTS]].every(([l, a]) => { const arv = ar(c, a!); if (!usable(arv)) return true; const lim = c.v.get32(l!); const g = (arv & 0x8000) !== 0; return (((lim & 0xfff) === 0xfff) || !g) && (((lim >>> 20) === 0) || g); }) },
  { id: 'guest.gdtr-idtr-limit', kind: 'guest', section: S_G_DT, text: 'bits 31:16 of the GDTR and IDTR limits are 0', ok: (c) => (c.v.get32(VMCS.GUEST_GDTR_LIMIT) >>> 16) === 0 && (c.v.get32(VMCS.GUEST_IDTR_LIMIT) >>> 16) === 0 },
  { id: 'guest.gdtr-idtr-canonical', kind: 'guest', section: S_G_DT, text: 'GDTR and IDTR bases are canonical', ok: (c) => canonicalField(c, VMCS.GUEST_GDTR_BASE) && canonicalField(c, VMCS.GUEST_IDTR_BASE) },
  { id: 'guest.rip-width', kind: 'guest', section: S_G_RIP, text: 'bits 63:32 of RIP are 0 unless in IA-32e mode with CS.L = 1', ok: (c) => (ia32e(c) && (ar(c, VMCS.GUEST_CS_ACCESS_RIGHTS) & 0x2000) !== 0) || c.v.getHi(VMCS.GUEST_RIP) === 0 },
  { id: 'guest.rflags-reserved', kind: 'guest', section: S_G_RIP, text: 'RFLAGS bits 63:22, 15, 5, 3 are 0 and bit 1 is 1', ok: (c) => { const f = c.v.getLo(VMCS.GUEST_RFLAGS); return c.v.getHi(VMCS.GUEST_RFLAGS) === 0 && (f & 0xffc08028) === 0 && (f & 2) === 2; } },
  { id: 'guest.rflags-vm', kind: 'guest', section: S_G_RIP, text: 'RFLAGS.VM is 0 in IA-32e mode or when CR0.PE = 0', ok: (c) => !(c.v.getLo(VMCS.GUEST_RFLAGS) & 0x20000) || (!ia32e(c) && (c.v.getLo(VMCS.GUEST_CR0) & 1) === 1) },
  { id: 'guest.rflags-if-extint', kind: 'guest', section: S_G_RIP, text: 'RFLAGS.IF is 1 when injecting an external interrupt', ok: (c) => !injValid(c) || injType(c) !== 0 || (c.v.getLo(VMCS.GUEST_RFLAGS) & 0x200) !== 0 },
  { id: 'guest.activity-state', kind: 'guest', section: S_G_NR, text: 'activity state is 0 (active) or a state IA32_VMX_MISC supports (1 = HLT)', ok: (c) => { const s = c.v.get32(VMCS.GUEST_ACTIVITY_STATE); return s === 0 || c.caps.activityStateSupported(s); } },
  { id: 'guest.activity-hlt-ss-dpl', kind: 'guest', section: S_G_NR, text: 'HLT activity state requires SS.DPL = 0', ok: (c) => c.v.get32(VMCS.GUEST_ACTIVITY_STATE) !== 1 || ((ar(c, VMCS.GUEST_SS_ACCESS_RIGHTS) >> 5) & 3) === 0 },
  { id: 'guest.interruptibility-reserved', kind: 'guest', section: S_G_NR, text: 'bits 31:5 of the interruptibility state are 0', ok: (c) => (c.v.get32(VMCS.GUEST_INTERRUPTIBILITY_STATE) >>> 5) === 0 },
  { id: 'guest.sti-movss', kind: 'guest', section: S_G_NR, text: 'blocking by STI and blocking by MOV SS are not both set', ok: (c) => (c.v.get32(VMCS.GUEST_INTERRUPTIBILITY_STATE) & 3) !== 3 },
  { id: 'guest.sti-if', kind: 'guest', section: S_G_NR, text: 'blocking by STI requires RFLAGS.IF = 1', ok: (c) => !(c.v.get32(VMCS.GUEST_INTERRUPTIBILITY_STATE) & 1) || (c.v.getLo(VMCS.GUEST_RFLAGS) & 0x200) !== 0 },
  { id: 'guest.extint-blocking', kind: 'guest', section: S_G_NR, text: 'no external interrupt is injected while blocking by STI or MOV SS is in effect', ok: (c) => !injValid(c) || injType(c) !== 0 || (c.v.get32(VMCS.GUEST_INTERRUPTIBILITY_STATE) & 3) === 0 },
  { id: 'guest.nmi-movss', kind: 'guest', section: S_G_NR, text: 'no NMI is injected while blocking by MOV SS is in effect', ok: (c) => !injValid(c) || injType(c) !== 2 || (c.v.get32(VMCS.GUEST_INTERRUPTIBILITY_STATE) & 2) === 0, qual: 3 },
  { id: 'guest.pending-debug-reserved', kind: 'guest', section: S_G_NR, text: 'reserved bits of the pending debug exceptions field are 0', ok: (c) => c.v.getHi(VMCS.GUEST_PENDING_DEBUG_EXCEPTIONS) === 0 && (c.v.getLo(VMCS.GUEST_PENDING_DEBUG_EXCEPTIONS) & ~0x1500f) === 0 },
  { id: 'guest.vmcs-link-pointer', kind: 'guest', section: S_G_NR, text: 'the VMCS link pointer is FFFFFFFF_FFFFFFFFH (VMCS shadowing is not supported)', ok: (c) => c.v.getLo(VMCS.VMCS_LINK_POINTER) === 0xffffffff && c.v.getHi(VMCS.VMCS_LINK_POINTER) === 0xffffffff, qual: 4 },
];

function eptOn(c: CheckContext): boolean { return (c.proc & PROC_BASED.ACTIVATE_SECONDARY_CONTROLS) !== 0 && (c.proc2 & PROC_BASED2.ENABLE_EPT) !== 0; }
function inj(c: CheckContext): number { return c.v.get32(VMCS.VM_ENTRY_INTERRUPTION_INFORMATION); }
function injValid(c: CheckContext): boolean { return (inj(c) & 0x80000000) !== 0; }
function injType(c: CheckContext): number { return (inj(c) >> 8) & 7; }
function fixedOk(v: number, caps: VmxCapabilities, f0: number, f1: number, exempt = 0): boolean {
  const must1 = (caps.read(f0)?.lo ?? 0) & ~exempt;
  const may1 = caps.read(f1)?.lo ?? 0xffffffff;
  return ((v & must1) >>> 0) === (must1 >>> 0) && ((v & ~may1) >>> 0) === 0;
}

/** The first failing rule of a kind, or null. */
export function firstFailure(c: CheckContext, kind: RuleKind): EntryRule | null {
  for (const r of ENTRY_RULES) if (r.kind === kind && !r.ok(c)) return r;
  return null;
}
