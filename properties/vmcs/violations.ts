/**
 * One targeted violation per VM-entry rule.
 *
 * For every rule of core/vmx/entry-checks.ts there is a recipe that takes a
 * valid scenario (scenario.ts), adjusts the scenario where the rule needs a
 * precondition (a mode, a control, a usable segment; still a valid state),
 * builds its image and changes the fields that break exactly that rule while
 * every rule before it still holds. The expected outcome follows from the
 * SDM, not from the checker: VMfailValid(7) for a control rule (27.2.1),
 * VMfailValid(8) for a host-state rule (27.2.2-27.2.4), a VM exit with
 * reason 33 | bit 31 and the rule's qualification (27.8) for a guest-state
 * rule, reason 34 | bit 31 with the entry's number for an MSR-load entry
 * (27.4). The recipes are written from the SDM's wording of each check, not
 * from the predicates.
 *
 * Recipes for controls the machine does not offer run on caps.ts WIDE
 * (which offers them); the A/D-bit rule runs on a processor without EPT A/D
 * flags.
 */
import fc from 'fast-check';
import type { VmcsFieldName } from '../../core/vmx/fields.js';
import {
  PIN_BASED as PIN, PROC_BASED as PROC, PROC_BASED2 as PROC2, EXIT_CTLS as EXIT, ENTRY_CTLS as ENTRY, MSR,
  VMCS_REVISION_ID, VmxCapabilities, type MsrValue,
} from '../../core/vmx/capabilities.js';
import { DEFAULT_CAPS, WIDE_CAPS } from './caps.js';
import { Draft, facts, buildImage, PIN_OPT, PROC_OPT, EXIT_OPT, ENTRY_OPT, type Scenario, type Facts, type Mode, type SegChoice } from './scenario.js';
import { LINK_PAGE, MSR_LOAD_PAGE, EXIT_MSR_PAGE, LAYOUT } from './world.js';

/** A processor without EPT accessed/dirty flags (IA32_VMX_EPT_VPID_CAP bit 21 clear). */
export const NO_EPT_AD_CAPS = (() => {
  const v = DEFAULT_CAPS.read(MSR.IA32_VMX_EPT_VPID_CAP)!;
  return new VmxCapabilities(new Map<number, MsrValue>([[MSR.IA32_VMX_EPT_VPID_CAP, { lo: v.lo & ~(1 << 21), hi: v.hi }]]));
})();

/** A processor without the "monitor trap flag" control (allowed-1 bit 27 of the primary controls clear). */
export const NO_MTF_CAPS = (() => {
  const narrow = (msr: number): [number, MsrValue] => { const v = DEFAULT_CAPS.read(msr)!; return [msr, { lo: v.lo, hi: (v.hi & ~PROC.MONITOR_TRAP_FLAG) >>> 0 }]; };
  return new VmxCapabilities(new Map<number, MsrValue>([narrow(MSR.IA32_VMX_PROCBASED_CTLS), narrow(MSR.IA32_VMX_TRUE_PROCBASED_CTLS)]));
})();

/**
 * A processor with PCIDE (IA32_VMX_CR4_FIXED1 bit 17 set). This machine does not advertise
 * PCID, so on it a guest CR4.PCIDE fails guest.cr4.fixed1 first and guest.cr4.pcide is unreachable.
 */
export const PCIDE_CAPS = (() => {
  const v = DEFAULT_CAPS.read(MSR.IA32_VMX_CR4_FIXED1)!;
  return new VmxCapabilities(new Map<number, MsrValue>([[MSR.IA32_VMX_CR4_FIXED1, { lo: (v.lo | 0x20000) >>> 0, hi: v.hi }]]));
})();

export interface Ctx { readonly s: Scenario; readonly f: Facts; readonly caps: VmxCapabilities }

export interface Violation {
  readonly rule: string;
  readonly caps: VmxCapabilities;
  /** Make the rule's preconditions hold (the result is still a valid scenario). */
  readonly prep: (s: Scenario) => Scenario;
  /** The free choice of the violation (which bit, which value...). */
  readonly param: fc.Arbitrary<number>;
  /** Break the rule in the image. */
  readonly apply: (d: Draft, p: number, x: Ctx) => void;
  /** For MSR-load rules: the 1-based number of the failing entry. */
  readonly msrEntry?: (p: number) => number;
}

/** The image of a violation: the valid scenario's image with the recipe applied. */
export function violatedImage(v: Violation, s0: Scenario, p: number, eptp: number): { draft: Draft; scenario: Scenario } {
  const s = v.prep(s0);
  const img = buildImage(s, v.caps, eptp);
  const d = new Draft();
  for (const [enc, h] of img.fields) d.fields.set(enc, [h[0], h[1]]);
  for (const m of img.mem) d.mem.push([m[0], m[1]]);
  v.apply(d, p, { s, f: facts(s, v.caps), caps: v.caps });
  return { draft: d, scenario: s };
}

// ---------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------

const VIOLATIONS: Violation[] = [];
type Prep = (s: Scenario) => Scenario;
const id: Prep = (s) => s;
function seq(...ps: Prep[]): Prep { return (s) => ps.reduce((a, p) => p(a), s); }
function v(rule: string, param: fc.Arbitrary<number>, apply: Violation['apply'], opts: { caps?: VmxCapabilities; prep?: Prep; msrEntry?: (p: number) => number } = {}): void {
  VIOLATIONS.push({ rule, caps: opts.caps ?? DEFAULT_CAPS, prep: opts.prep ?? id, param, apply, ...(opts.msrEntry ? { msrEntry: opts.msrEntry } : {}) });
}
const any = fc.nat(0xffff_ffff);
const nat = (max: number): fc.Arbitrary<number> => fc.nat(max);

/** Keep the mode if it is one of `modes`, else take the first. */
const mode = (...modes: Mode[]): Prep => (s) => (modes.includes(s.mode) ? s : { ...s, mode: modes[0]! });
/** Scenario overrides. */
const with_ = (o: Partial<Scenario>): Prep => (s) => ({ ...s, ...o });
/** Turn a toggle option on/off: `on(PIN_OPT, PIN.X, base)` etc. */
function opt(list: readonly number[], bit: number, baseOn: boolean, want: boolean, key: 'pin' | 'proc' | 'exit' | 'entry'): Prep {
  const k = list.indexOf(bit);
  if (k < 0) throw new Error(`no option ${bit}`);
  return (s) => ({ ...s, [key]: want === baseOn ? s[key] & ~(1 << k) : s[key] | (1 << k) });
}
const ioBitmapsOn = opt(PROC_OPT, PROC.USE_IO_BITMAPS, true, true, 'proc');
const msrBitmapsOn = opt(PROC_OPT, PROC.USE_MSR_BITMAPS, true, true, 'proc');
const noMtf = opt(PROC_OPT, PROC.MONITOR_TRAP_FLAG, false, false, 'proc');
const loadEferOn = opt(ENTRY_OPT, ENTRY.LOAD_IA32_EFER, true, true, 'entry');
const loadPatOn = opt(ENTRY_OPT, ENTRY.LOAD_IA32_PAT, true, true, 'entry');
const loadDebugOn = opt(ENTRY_OPT, ENTRY.LOAD_DEBUG_CONTROLS, false, true, 'entry');
const hostLoadEferOn = opt(EXIT_OPT, EXIT.LOAD_IA32_EFER, true, true, 'exit');
const hostLoadEferOff = opt(EXIT_OPT, EXIT.LOAD_IA32_EFER, true, false, 'exit');
const hostLoadPatOn = opt(EXIT_OPT, EXIT.LOAD_IA32_PAT, true, true, 'exit');
const extintOn = opt(PIN_OPT, PIN.EXTERNAL_INTERRUPT_EXITING, true, true, 'pin');
const ackOn = opt(EXIT_OPT, EXIT.ACKNOWLEDGE_INTERRUPT_ON_EXIT, true, true, 'exit');
const eptOn: Prep = with_({ noEpt: false });
/** EPT off: a paging mode, "unrestricted guest" and "enable EPT" off. */
const eptOff: Prep = seq(mode('paging32', 'pae', 'long64', 'compat'), with_({ restricted: true, noEpt: true }));
/** "unrestricted guest" off (a paging mode). */
const restricted: Prep = seq(mode('paging32', 'pae', 'long64', 'compat'), with_({ restricted: true }));
const unrestrictedOn: Prep = (s) => (s.mode === 'real' || s.mode === 'prot32' || s.mode === 'prot16' ? s : { ...s, restricted: false, noEpt: false });
const notV86 = mode('prot32', 'long64', 'compat', 'paging32', 'pae', 'prot16', 'real');
/** Protected mode (CR0.PE = 1), not virtual-8086: hardware exceptions deliver error codes. */
const pm = mode('prot32', 'long64', 'compat', 'paging32', 'pae', 'prot16');
const noEvent = with_({ event: { kind: 0, vector: 0, errorCode: 0, length: 1 } });
const noLink = with_({ link: false });
const noHlt = with_({ hlt: false, blocking: 0 });
/** Segment choice overrides. */
function seg(n: 'cs' | 'ss' | 'ds' | 'es' | 'fs' | 'gs' | 'tr' | 'ldtr', o: Partial<SegChoice>): Prep {
  return (s) => ({ ...s, [n]: { ...s[n], ...o } });
}

/** A value of bits 63:32 that sets a bit at or beyond the 39-bit physical-address width. */
const beyondWidth = fc.integer({ min: 0x80, max: 0xffff_ffff });
/** A value of bits 63:32 that makes an address non-canonical (bits 63:47 not all equal). */
const nonCanonicalHi = fc.integer({ min: 0x8000, max: 0xffff_7fff });

/** Violations of "bits X:0 are 0" and "within the physical-address width" for an address field. */
function addressPair(rule: string, field: VmcsFieldName, mask: number, enable: (d: Draft, x: Ctx) => void, opts: { caps?: VmxCapabilities; prep?: Prep } = {}): void {
  v(`${rule}.align`, fc.integer({ min: 1, max: mask }), (d, p, x) => { enable(d, x); d.set(field, (d.lo(field) & ~mask) | p, 0); }, opts);
  v(`${rule}.width`, beyondWidth, (d, p, x) => { enable(d, x); d.set(field, d.lo(field) & ~mask, p); }, opts);
}
const orCtl = (f: VmcsFieldName, bits: number) => (d: Draft): void => d.or(f, bits);
const PIN_F = 'PIN_BASED_VM_EXECUTION_CONTROLS', PROC_F = 'PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS';
const PROC2_F = 'SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS', EXIT_F = 'VM_EXIT_CONTROLS', ENTRY_F = 'VM_ENTRY_CONTROLS';
const INJ = 'VM_ENTRY_INTERRUPTION_INFORMATION';

/** Bits of a control field the processor forbids: allowed-0 bits to clear or allowed-1 zeros to set. */
function reservedControl(rule: string, field: VmcsFieldName, msrOf: (c: VmxCapabilities) => number): void {
  const m = msrOf(DEFAULT_CAPS);
  const must1 = DEFAULT_CAPS.allowed0(m), may1 = DEFAULT_CAPS.allowed1(m);
  const bad: number[] = [];
  for (let b = 0; b < 32; b++) if (((must1 >>> b) & 1) === 1 || ((may1 >>> b) & 1) === 0) bad.push(b);
  v(rule, nat(bad.length - 1), (d, p) => {
    const b = bad[p]!;
    if ((must1 >>> b) & 1) d.clear(field, 1 << b); else d.or(field, 1 << b);
  });
}

// ===========================================================================
// 27.2.1.1 VM-execution control fields
// ===========================================================================

reservedControl('ctl.pin.reserved', PIN_F, (c) => c.controlMsr('pin'));
reservedControl('ctl.proc.reserved', PROC_F, (c) => c.controlMsr('proc'));
reservedControl('ctl.proc2.reserved', PROC2_F, () => MSR.IA32_VMX_PROCBASED_CTLS2);
v('ctl.cr3-target-count', fc.integer({ min: 5, max: 0xffff_ffff }), (d, p) => d.set('CR3_TARGET_COUNT', p));
addressPair('ctl.io-bitmap-a', 'IO_BITMAP_A_ADDRESS', 0xfff, () => {}, { prep: ioBitmapsOn });
addressPair('ctl.io-bitmap-b', 'IO_BITMAP_B_ADDRESS', 0xfff, () => {}, { prep: ioBitmapsOn });
addressPair('ctl.msr-bitmap', 'MSR_BITMAPS_ADDRESS', 0xfff, () => {}, { prep: msrBitmapsOn });
const tprShadow = orCtl(PROC_F, PROC.USE_TPR_SHADOW);
addressPair('ctl.virtual-apic', 'VIRTUAL_APIC_ADDRESS', 0xfff, tprShadow, { caps: WIDE_CAPS });
v('ctl.tpr-threshold.reserved', fc.integer({ min: 0x10, max: 0xffff_ffff }), (d, p) => { tprShadow(d); d.set('TPR_THRESHOLD', p); }, { caps: WIDE_CAPS });
// VTPR bits 7:4 (byte 80H of the virtual-APIC page) below the threshold: the page is in RAM at 0x5000.
v('ctl.tpr-threshold.vtpr', fc.tuple(fc.integer({ min: 1, max: 15 }), nat(15), nat(15)).map(([t, a, b]) => t * 256 + a * 16 + b) as fc.Arbitrary<number>, (d, p) => {
  const t = p >>> 8, vtpr = ((((p >>> 4) & 15) % t) << 4) | (p & 15);
  tprShadow(d); d.set('TPR_THRESHOLD', t); d.set('VIRTUAL_APIC_ADDRESS', 0x5000); d.word(0x5080, vtpr);
}, { caps: WIDE_CAPS });
v('ctl.x2apic-requires-tpr-shadow', nat(0), (d) => d.or(PROC2_F, PROC2.VIRTUALIZE_X2APIC_MODE), { caps: WIDE_CAPS });
v('ctl.apic-register-virtualization-requires-tpr-shadow', nat(0), (d) => d.or(PROC2_F, PROC2.APIC_REGISTER_VIRTUALIZATION), { caps: WIDE_CAPS });
v('ctl.virtual-interrupt-delivery-requires-tpr-shadow', nat(0), (d) => d.or(PROC2_F, PROC2.VIRTUAL_INTERRUPT_DELIVERY), { caps: WIDE_CAPS });
v('ctl.virtual-nmis-requires-nmi-exiting', nat(0), (d) => { d.or(PIN_F, PIN.VIRTUAL_NMIS); d.clear(PIN_F, PIN.NMI_EXITING); d.clear(PROC_F, PROC.NMI_WINDOW_EXITING); });
v('ctl.nmi-window-requires-virtual-nmis', nat(0), (d) => { d.or(PROC_F, PROC.NMI_WINDOW_EXITING); d.clear(PIN_F, PIN.VIRTUAL_NMIS); });
const apicAccess = orCtl(PROC2_F, PROC2.VIRTUALIZE_APIC_ACCESSES);
addressPair('ctl.apic-access', 'APIC_ACCESS_ADDRESS', 0xfff, apicAccess, { caps: WIDE_CAPS });
v('ctl.x2apic-excludes-apic-access', nat(0), (d) => { tprShadow(d); d.or(PROC2_F, PROC2.VIRTUALIZE_X2APIC_MODE | PROC2.VIRTUALIZE_APIC_ACCESSES); }, { caps: WIDE_CAPS });
v('ctl.virtual-interrupt-delivery-requires-extint-exiting', nat(0), (d) => { tprShadow(d); d.or(PROC2_F, PROC2.VIRTUAL_INTERRUPT_DELIVERY); d.clear(PIN_F, PIN.EXTERNAL_INTERRUPT_EXITING); }, { caps: WIDE_CAPS });
const postedOk = (d: Draft): void => { tprShadow(d); d.or(PROC2_F, PROC2.VIRTUAL_INTERRUPT_DELIVERY); d.or(PIN_F, PIN.PROCESS_POSTED_INTERRUPTS | PIN.EXTERNAL_INTERRUPT_EXITING); d.or(EXIT_F, EXIT.ACKNOWLEDGE_INTERRUPT_ON_EXIT); };
v('ctl.posted-interrupts.requires-virtual-interrupt-delivery', nat(0), (d) => d.or(PIN_F, PIN.PROCESS_POSTED_INTERRUPTS), { caps: WIDE_CAPS });
v('ctl.posted-interrupts.requires-acknowledge', nat(0), (d) => { postedOk(d); d.clear(EXIT_F, EXIT.ACKNOWLEDGE_INTERRUPT_ON_EXIT); }, { caps: WIDE_CAPS, prep: seq(extintOn, ackOn) });
v('ctl.posted-interrupts.vector', fc.integer({ min: 0x100, max: 0xffff }), (d, p) => { postedOk(d); d.set('POSTED_INTERRUPT_NOTIFICATION_VECTOR', p); }, { caps: WIDE_CAPS });
addressPair('ctl.posted-interrupts.descriptor', 'POSTED_INTERRUPT_DESCRIPTOR_ADDRESS', 0x3f, postedOk, { caps: WIDE_CAPS });
v('ctl.vpid-nonzero', nat(0), (d) => { d.or(PROC2_F, PROC2.ENABLE_VPID); d.set('VPID', 0); });
const MEMTYPES_BAD = [0, 1, 2, 3, 4, 5, 7]; // UC (0) is not advertised (IA32_VMX_EPT_VPID_CAP bit 8), only WB (6)
v('ctl.eptp.memory-type', nat(MEMTYPES_BAD.length - 1), (d, p) => d.set('EPT_POINTER', (d.lo('EPT_POINTER') & ~7) | MEMTYPES_BAD[p]!, 0), { prep: eptOn });
const WALKS_BAD = [0, 1, 2, 4, 5, 6, 7]; // only a 4-level walk (bit 6) is advertised
v('ctl.eptp.walk-length', nat(WALKS_BAD.length - 1), (d, p) => d.set('EPT_POINTER', (d.lo('EPT_POINTER') & ~0x38) | (WALKS_BAD[p]! << 3), 0), { prep: eptOn });
v('ctl.eptp.accessed-dirty', nat(0), (d) => d.or('EPT_POINTER', 0x40), { prep: eptOn, caps: NO_EPT_AD_CAPS });
v('ctl.eptp.reserved', fc.integer({ min: 1, max: 0x1f }), (d, p) => d.or('EPT_POINTER', p << 7), { prep: eptOn });
v('ctl.eptp.width', beyondWidth, (d, p) => d.setHi('EPT_POINTER', p), { prep: eptOn });
const pml = orCtl(PROC2_F, PROC2.ENABLE_PML);
v('ctl.pml.requires-ept', nat(0), pml, { caps: WIDE_CAPS, prep: eptOff });
addressPair('ctl.pml', 'PML_ADDRESS', 0xfff, pml, { caps: WIDE_CAPS, prep: eptOn });
v('ctl.unrestricted-guest-requires-ept', nat(0), (d) => { d.or(PROC2_F, PROC2.UNRESTRICTED_GUEST); d.clear(PROC2_F, PROC2.ENABLE_EPT); });
const vmfunc = orCtl(PROC2_F, PROC2.ENABLE_VM_FUNCTIONS);
v('ctl.vmfunc.reserved', fc.integer({ min: 1, max: 63 }), (d, p) => { vmfunc(d); if (p < 32) d.set('VM_FUNCTION_CONTROLS', 1 << p); else d.set('VM_FUNCTION_CONTROLS', 0, 1 << (p - 32)); }, { caps: WIDE_CAPS });
const eptpSwitching = (d: Draft): void => { vmfunc(d); d.set('VM_FUNCTION_CONTROLS', 1); };
v('ctl.vmfunc.eptp-switching-requires-ept', nat(0), eptpSwitching, { caps: WIDE_CAPS, prep: eptOff });
addressPair('ctl.vmfunc.eptp-list', 'EPTP_LIST_ADDRESS', 0xfff, eptpSwitching, { caps: WIDE_CAPS, prep: eptOn });
const shadowing = orCtl(PROC2_F, PROC2.VMCS_SHADOWING);
addressPair('ctl.vmread-bitmap', 'VMREAD_BITMAP_ADDRESS', 0xfff, shadowing, { caps: WIDE_CAPS, prep: noLink });
addressPair('ctl.vmwrite-bitmap', 'VMWRITE_BITMAP_ADDRESS', 0xfff, shadowing, { caps: WIDE_CAPS, prep: noLink });
addressPair('ctl.ve-info', 'VIRTUALIZATION_EXCEPTION_INFORMATION_ADDRESS', 0xfff, orCtl(PROC2_F, PROC2.EPT_VIOLATION_VE), { caps: WIDE_CAPS, prep: eptOn });

// ===========================================================================
// 27.2.1.2 VM-exit control fields
// ===========================================================================

reservedControl('ctl.exit.reserved', EXIT_F, (c) => c.controlMsr('exit'));
v('ctl.exit.save-preemption-timer', nat(0), (d) => { d.or(EXIT_F, EXIT.SAVE_VMX_PREEMPTION_TIMER_VALUE); d.clear(PIN_F, PIN.ACTIVATE_VMX_PREEMPTION_TIMER); });
/** The three checks of an MSR area: 16-byte alignment, width, last byte within the width. */
function msrArea(rule: string, addr: VmcsFieldName, count: VmcsFieldName): void {
  const enable = (d: Draft): void => { if (d.lo(count) === 0) { d.set(count, 1); d.setNum(addr, 0x4000); } };
  v(`${rule}.align`, fc.integer({ min: 1, max: 15 }), (d, p) => { enable(d); d.set(addr, (d.lo(addr) & ~15) | p, 0); });
  v(`${rule}.width`, beyondWidth, (d, p) => { enable(d); d.set(addr, d.lo(addr) & ~15, p); });
  // Address within the width, but address + count * 16 - 1 beyond it: 2^39 - 16 * k with count > k.
  v(`${rule}.end`, fc.tuple(fc.integer({ min: 1, max: 0xffff }), fc.integer({ min: 1, max: 0xffff })).map(([k, extra]) => k * 0x10000 + extra) as fc.Arbitrary<number>, (d, p) => {
    const k = p >>> 16, extra = p & 0xffff;
    d.setNum(addr, 2 ** 39 - 16 * k);
    d.set(count, k + extra);
  });
}
msrArea('ctl.exit.msr-store', 'VM_EXIT_MSR_STORE_ADDRESS', 'VM_EXIT_MSR_STORE_COUNT');
msrArea('ctl.exit.msr-load', 'VM_EXIT_MSR_LOAD_ADDRESS', 'VM_EXIT_MSR_LOAD_COUNT');

// ===========================================================================
// 27.2.1.3 VM-entry control fields
// ===========================================================================

reservedControl('ctl.entry.reserved', ENTRY_F, (c) => c.controlMsr('entry'));
/** Inject: valid bit, type, vector (+ error-code bit), replacing the scenario's event. */
const inject = (d: Draft, type: number, vector: number, err = false): void => {
  d.set(INJ, (0x8000_0000 | (type << 8) | (vector & 0xff) | (err ? 0x800 : 0)) >>> 0);
  d.set('VM_ENTRY_INSTRUCTION_LENGTH', 1);
};
v('ctl.entry.event.type-reserved', nat(255), (d, p) => inject(d, 1, p));
// Type 7 needs a processor without "monitor trap flag" (this machine offers it since it implements MTF).
v('ctl.entry.event.type-other', nat(255), (d, p) => inject(d, 7, p), { caps: NO_MTF_CAPS, prep: noMtf });
v('ctl.entry.event.nmi-vector', nat(254), (d, p) => inject(d, 2, p >= 2 ? p + 1 : p));
v('ctl.entry.event.exception-vector', fc.integer({ min: 32, max: 255 }), (d, p) => inject(d, 3, p));
v('ctl.entry.event.other-vector', fc.integer({ min: 1, max: 255 }), (d, p) => inject(d, 7, p), { caps: WIDE_CAPS });
const ERR_VECTORS = [8, 10, 11, 12, 13, 14, 17];
v('ctl.entry.event.error-code-required', nat(ERR_VECTORS.length - 1), (d, p) => inject(d, 3, ERR_VECTORS[p]!), { prep: mode('prot32', 'long64', 'compat', 'paging32', 'pae', 'prot16', 'v86') });
// Error code where none is delivered: another type (0, 2 with vector 2, 4, 5, 6), a vector without one, or real mode under "unrestricted guest".
v('ctl.entry.event.error-code-forbidden', nat(30), (d, p, x) => {
  if (p < 5) { const t = [0, 2, 4, 5, 6][p]!; inject(d, t, t === 2 ? 2 : 0x40 + p, true); return; }
  const noErr = [0, 1, 2, 3, 4, 5, 6, 7, 9, 15, 16, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31];
  if (x.s.mode === 'real') inject(d, 3, ERR_VECTORS[p % ERR_VECTORS.length]!, true);
  else inject(d, 3, noErr[(p - 5) % noErr.length]!, true);
});
v('ctl.entry.event.reserved', fc.integer({ min: 1, max: 0x7ffff }), (d, p) => { inject(d, 0, 0x30); d.or(INJ, p << 12); });
v('ctl.entry.event.error-code-reserved', fc.integer({ min: 1, max: 0xffff }), (d, p) => { inject(d, 3, 13, true); d.set('VM_ENTRY_EXCEPTION_ERROR_CODE', (p << 16) >>> 0); }, { prep: mode('prot32', 'long64', 'compat', 'paging32', 'pae', 'prot16', 'v86') });
v('ctl.entry.event.instruction-length', fc.tuple(nat(2), fc.oneof(fc.constant(0), fc.integer({ min: 16, max: 0xffff_ffff }))).map(([t, l]) => t * 2 ** 32 + l) as fc.Arbitrary<number>, (d, p) => {
  const t = 4 + Math.floor(p / 2 ** 32), len = p % 2 ** 32;
  inject(d, t, 0x80); d.set('VM_ENTRY_INSTRUCTION_LENGTH', len);
});
msrArea('ctl.entry.msr-load', 'VM_ENTRY_MSR_LOAD_ADDRESS', 'VM_ENTRY_MSR_LOAD_COUNT');
v('ctl.entry.smm-outside-smm', nat(0), (d) => d.or(ENTRY_F, ENTRY.ENTRY_TO_SMM), { caps: WIDE_CAPS });
v('ctl.entry.dual-monitor-outside-smm', nat(0), (d) => d.or(ENTRY_F, ENTRY.DEACTIVATE_DUAL_MONITOR_TREATMENT), { caps: WIDE_CAPS });

// ===========================================================================
// 27.2.2 - 27.2.4 Host-state area
// ===========================================================================

const FIXED0_CR0 = [0, 5, 31]; // PE, NE, PG (IA32_VMX_CR0_FIXED0)
v('host.cr0.fixed0', nat(2), (d, p) => d.clear('HOST_CR0', 1 << FIXED0_CR0[p]!));
v('host.cr0.fixed1', fc.integer({ min: 1, max: 0xffff_ffff }), (d, p) => d.setHi('HOST_CR0', p));
v('host.cr4.fixed0', nat(0), (d) => d.clear('HOST_CR4', 0x2000));
/** CR4 bits IA32_VMX_CR4_FIXED1 leaves 0: 11, 12, 14, 15, 19, 22-31, or any of 63:32. */
/** CR4 bits IA32_VMX_CR4_FIXED1 leaves 0: LA57 (12), 14, 15, PCIDE (17), 19, 22-63. */
const CR4_UNSUPPORTED = [12, 14, 15, 17, 19, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 40, 63];
const setBit = (d: Draft, f: VmcsFieldName, b: number): void => { if (b < 32) d.or(f, 1 << b); else d.setHi(f, d.hi(f) | (1 << (b - 32))); };
v('host.cr4.fixed1', nat(CR4_UNSUPPORTED.length - 1), (d, p) => setBit(d, 'HOST_CR4', CR4_UNSUPPORTED[p]!));
v('host.cr3.width', beyondWidth, (d, p) => d.setHi('HOST_CR3', p));
v('host.sysenter-esp.canonical', nonCanonicalHi, (d, p) => d.setHi('HOST_IA32_SYSENTER_ESP', p));
v('host.sysenter-eip.canonical', nonCanonicalHi, (d, p) => d.setHi('HOST_IA32_SYSENTER_EIP', p));
v('host.perf-global-ctrl.reserved', fc.integer({ min: 0, max: 63 }), (d, p) => { d.or(EXIT_F, EXIT.LOAD_IA32_PERF_GLOBAL_CTRL); setBit(d, 'HOST_IA32_PERF_GLOBAL_CTRL', p); }, { caps: WIDE_CAPS });
/** A PAT value with byte k replaced by an invalid memory type (2, 3 or 8-255). */
const badPat = (d: Draft, f: VmcsFieldName, p: number): void => {
  const k = p & 7, t = [2, 3][(p >>> 3) & 1]! + ((p >>> 4) > 0 ? 6 + (p >>> 4) : 0);
  const [lo, hi] = d.get(f);
  if (k < 4) d.set(f, (lo & ~(0xff << (8 * k))) | ((t & 0xff) << (8 * k)), hi); else d.set(f, lo, (hi & ~(0xff << (8 * (k - 4)))) | ((t & 0xff) << (8 * (k - 4))));
};
v('host.pat', fc.integer({ min: 0, max: 0x7ff }).filter((p) => ((p >>> 4) === 0 || 6 + (p >>> 4) + [2, 3][(p >>> 3) & 1]! <= 255)), (d, p) => badPat(d, 'HOST_IA32_PAT', p), { prep: hostLoadPatOn });
/** EFER bits that are reserved: every bit but 0, 8, 10, 11 (of 0-63). */
const EFER_RESERVED = Array.from({ length: 64 }, (_, b) => b).filter((b) => b !== 0 && b !== 8 && b !== 10 && b !== 11);
v('host.efer.reserved', nat(EFER_RESERVED.length - 1), (d, p) => setBit(d, 'HOST_IA32_EFER', EFER_RESERVED[p]!), { prep: hostLoadEferOn });
v('host.efer.lma', nat(0), (d) => d.clear('HOST_IA32_EFER', 0x400), { prep: hostLoadEferOn });
v('host.efer.lme', nat(0), (d) => d.clear('HOST_IA32_EFER', 0x100), { prep: hostLoadEferOn });
for (const n of ['ES', 'CS', 'SS', 'DS', 'FS', 'GS', 'TR'] as const) {
  v(`host.${n.toLowerCase()}.selector-rpl-ti`, fc.integer({ min: 1, max: 7 }), (d, p) => d.or(`HOST_${n}_SELECTOR`, p));
}
v('host.cs.selector-nonnull', nat(0), (d) => d.set('HOST_CS_SELECTOR', 0));
v('host.tr.selector-nonnull', nat(0), (d) => d.set('HOST_TR_SELECTOR', 0));
// "host address-space size" 0 with a null SS (no "load IA32_EFER" on exit, whose LMA/LME check would come first).
v('host.ss.selector-nonnull', nat(0), (d) => { d.clear(EXIT_F, EXIT.HOST_ADDRESS_SPACE_SIZE); d.set('HOST_SS_SELECTOR', 0); }, { prep: hostLoadEferOff });
for (const n of ['FS', 'GS', 'GDTR', 'IDTR', 'TR'] as const) {
  v(`host.${n.toLowerCase()}-base.canonical`, nonCanonicalHi, (d, p) => d.setHi(`HOST_${n}_BASE`, p));
}
v('host.address-space-size', nat(0), (d) => { d.clear(EXIT_F, EXIT.HOST_ADDRESS_SPACE_SIZE); d.set('HOST_SS_SELECTOR', 0x10); }, { prep: hostLoadEferOff });
v('host.cr4.pae', nat(0), (d) => d.clear('HOST_CR4', 0x20));
v('host.rip.canonical', nonCanonicalHi, (d, p) => d.setHi('HOST_RIP', p));

// ===========================================================================
// 27.3.1.1 Guest control registers, debug registers, MSRs
// ===========================================================================

v('guest.cr0.fixed0', nat(2), (d, p, x) => {
  // NE is always required; PE and PG only without "unrestricted guest".
  if (p === 0 || x.f.unrestricted) d.clear('GUEST_CR0', 0x20); else d.clear('GUEST_CR0', p === 1 ? 1 : 0x8000_0000);
});
v('guest.cr0.fixed1', fc.integer({ min: 1, max: 0xffff_ffff }), (d, p) => d.setHi('GUEST_CR0', p));
// No event: clearing CR0.PE under "unrestricted guest" forbids an injected error code (a control check, 27.2.1.3).
v('guest.cr0.pg-requires-pe', nat(0), (d) => { d.or('GUEST_CR0', 0x8000_0000); d.clear('GUEST_CR0', 1); }, { prep: seq(mode('real', 'prot32', 'prot16'), noEvent) });
v('guest.cr4.fixed0', nat(0), (d) => d.clear('GUEST_CR4', 0x2000));
v('guest.cr4.fixed1', nat(CR4_UNSUPPORTED.length - 1), (d, p) => setBit(d, 'GUEST_CR4', CR4_UNSUPPORTED[p]!));
v('guest.debugctl.reserved', fc.integer({ min: 2, max: 63 }), (d, p) => setBit(d, 'GUEST_IA32_DEBUGCTL', p), { prep: loadDebugOn });
v('guest.cr0.pg-ia32e', nat(0), (d) => d.clear('GUEST_CR0', 0x8000_0000), { prep: seq(mode('long64', 'compat'), with_({ restricted: false, noEpt: false })) });
v('guest.cr4.pae-ia32e', nat(0), (d) => d.clear('GUEST_CR4', 0x20), { prep: mode('long64', 'compat') });
// Needs a processor with PCIDE (this one has none: CR4.PCIDE violates guest.cr4.fixed1 first).
v('guest.cr4.pcide', nat(0), (d) => d.or('GUEST_CR4', 0x20000), { caps: PCIDE_CAPS, prep: mode('prot32', 'paging32', 'pae', 'prot16', 'real', 'v86') });
v('guest.cr3.width', beyondWidth, (d, p) => d.setHi('GUEST_CR3', p));
v('guest.dr7.high', fc.integer({ min: 1, max: 0xffff_ffff }), (d, p) => d.setHi('GUEST_DR7', p), { prep: loadDebugOn });
v('guest.sysenter-esp.canonical', nonCanonicalHi, (d, p) => d.setHi('GUEST_IA32_SYSENTER_ESP', p));
v('guest.sysenter-eip.canonical', nonCanonicalHi, (d, p) => d.setHi('GUEST_IA32_SYSENTER_EIP', p));
v('guest.perf-global-ctrl.reserved', fc.integer({ min: 0, max: 63 }), (d, p) => { d.or(ENTRY_F, ENTRY.LOAD_IA32_PERF_GLOBAL_CTRL); setBit(d, 'GUEST_IA32_PERF_GLOBAL_CTRL', p); }, { caps: WIDE_CAPS });
v('guest.pat', fc.integer({ min: 0, max: 0xf }), (d, p) => badPat(d, 'GUEST_IA32_PAT', p), { prep: loadPatOn });
v('guest.efer.reserved', nat(EFER_RESERVED.length - 1), (d, p) => setBit(d, 'GUEST_IA32_EFER', EFER_RESERVED[p]!), { prep: loadEferOn });
v('guest.efer.lma', nat(0), (d) => { const e = d.lo('GUEST_IA32_EFER'); d.set('GUEST_IA32_EFER', e ^ 0x400); }, { prep: loadEferOn });
// With paging on, LME differs from LMA (LMA still equals "IA-32e mode guest").
v('guest.efer.lme', nat(0), (d) => { const e = d.lo('GUEST_IA32_EFER'); d.set('GUEST_IA32_EFER', e ^ 0x100); }, { prep: seq(loadEferOn, mode('paging32', 'pae', 'long64', 'compat')) });

// ===========================================================================
// 27.3.1.2 Guest segment registers
// ===========================================================================

type SN = 'CS' | 'SS' | 'DS' | 'ES' | 'FS' | 'GS' | 'TR' | 'LDTR';
const AR = (n: SN): VmcsFieldName => `GUEST_${n}_ACCESS_RIGHTS`;
const SEL = (n: SN): VmcsFieldName => `GUEST_${n}_SELECTOR`;
const BASE = (n: SN): VmcsFieldName => `GUEST_${n}_BASE`;
const LIM = (n: SN): VmcsFieldName => `GUEST_${n}_LIMIT`;
const setAr = (d: Draft, n: SN, f: (a: number) => number): void => d.set(AR(n), f(d.lo(AR(n))) >>> 0);
const lower = (n: SN): 'cs' => n.toLowerCase() as 'cs';
const CODE_DATA: readonly SN[] = ['CS', 'SS', 'DS', 'ES', 'FS', 'GS'];
const DATA4: readonly SN[] = ['DS', 'ES', 'FS', 'GS'];
/** Make a segment usable (CS always is checked). */
const usable = (n: SN): Prep => (n === 'CS' ? id : seg(lower(n), { flip: false }));
const ldtrUsable = seg('ldtr', { flip: true });

v('guest.tr.selector-ti', nat(0), (d) => d.or(SEL('TR'), 4));
v('guest.ldtr.selector-ti', nat(0), (d) => d.or(SEL('LDTR'), 4), { prep: ldtrUsable });
v('guest.ss.selector-rpl', fc.integer({ min: 1, max: 3 }), (d, p) => d.set(SEL('SS'), (d.lo(SEL('SS')) & ~3) | ((d.lo(SEL('CS')) + p) & 3)), { prep: restricted });
for (const n of CODE_DATA) {
  v(`guest.${lower(n)}.base-v86`, fc.integer({ min: 1, max: 0xffff_ffff }), (d, p) => d.set(BASE(n), (d.lo(BASE(n)) + p) >>> 0, 0), { prep: mode('v86') });
}
for (const n of ['TR', 'FS', 'GS'] as const) v(`guest.${lower(n)}.base-canonical`, nonCanonicalHi, (d, p) => d.setHi(BASE(n), p), { prep: notV86 });
v('guest.ldtr.base-canonical', nonCanonicalHi, (d, p) => d.setHi(BASE('LDTR'), p), { prep: ldtrUsable });
for (const n of ['CS', 'SS', 'DS', 'ES'] as const) v(`guest.${lower(n)}.base-high`, fc.integer({ min: 1, max: 0xffff_ffff }), (d, p) => d.setHi(BASE(n), p), { prep: seq(notV86, usable(n)) });
for (const n of CODE_DATA) v(`guest.${lower(n)}.limit-v86`, fc.integer({ min: 0, max: 0xffff_fffe }), (d, p) => d.set(LIM(n), p >= 0xffff ? p + 1 : p), { prep: mode('v86') });
for (const n of CODE_DATA) v(`guest.${lower(n)}.ar-v86`, fc.integer({ min: 0, max: 0xffff_fffe }), (d, p) => d.set(AR(n), p >= 0xf3 ? p + 1 : p), { prep: mode('v86') });

/** Segments outside virtual-8086 mode, CS and the usable others. */
const nv = (n: SN): Prep => seq(notV86, usable(n));
const CS_BAD_RESTRICTED = [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14];
const CS_BAD_UNRESTRICTED = [0, 1, 2, 4, 5, 6, 7, 8, 10, 12, 14];
v('guest.cs.type', nat(11), (d, p, x) => {
  const bad = x.f.unrestricted ? CS_BAD_UNRESTRICTED : CS_BAD_RESTRICTED;
  setAr(d, 'CS', (a) => (a & ~0xf) | bad[p % bad.length]!);
}, { prep: notV86 });
const SS_BAD = [0, 1, 2, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15];
v('guest.ss.type', nat(SS_BAD.length - 1), (d, p) => setAr(d, 'SS', (a) => (a & ~0xf) | SS_BAD[p]!), { prep: nv('SS') });
for (const n of DATA4) {
  v(`guest.${lower(n)}.type-accessed`, nat(7), (d, p) => setAr(d, n, (a) => (a & ~0xf) | (p << 1)), { prep: nv(n) });
  v(`guest.${lower(n)}.type-readable`, nat(1), (d, p) => setAr(d, n, (a) => (a & ~0xf) | (p ? 13 : 9)), { prep: seq(nv(n), with_({})) });
}
for (const n of CODE_DATA) v(`guest.${lower(n)}.s`, nat(0), (d) => setAr(d, n, (a) => a & ~0x10), { prep: nv(n) });
// CS type 3 (unrestricted guest) with DPL 1-3: SS.DPL is 0 (CPL 0) as a CS of type 3 requires.
v('guest.cs.dpl-type3', fc.integer({ min: 1, max: 3 }), (d, p) => setAr(d, 'CS', (a) => (a & ~0x6f) | 3 | (p << 5)), { prep: seq(notV86, unrestrictedOn, with_({ cpl: 0 })) });
v('guest.cs.dpl-nonconforming', fc.integer({ min: 1, max: 3 }), (d, p) => setAr(d, 'CS', (a) => (a & ~0x60) | ((((a >>> 5) & 3) + p) & 3) << 5), { prep: seq(notV86, seg('cs', { type: 0 })) });
// Conforming CS with DPL above SS.DPL: CPL (= SS.DPL) below 3.
v('guest.cs.dpl-conforming', nat(2), (d, p) => {
  const ss = (d.lo(AR('SS')) >>> 5) & 3;
  setAr(d, 'CS', (a) => (a & ~0x6f) | 0xf | ((ss + 1 + (p % (3 - ss))) << 5));
}, { prep: seq(pm, (s) => ({ ...s, cpl: s.cpl % 3 })) });
// SS.DPL differs from SS.RPL (= CS.RPL) while CS stays consistent: CS conforming with DPL 0 (<= any SS.DPL).
v('guest.ss.dpl-rpl', fc.integer({ min: 1, max: 3 }), (d, p) => {
  const rpl = d.lo(SEL('SS')) & 3;
  setAr(d, 'SS', (a) => (a & ~0x60) | (((rpl + p) & 3) << 5));
  setAr(d, 'CS', (a) => (a & ~0x6f) | 0xf);
}, { prep: seq(restricted, noHlt) });
// SS.DPL not 0 in real mode (CS.DPL following it for a non-conforming CS, or CS type 3 with DPL 0).
v('guest.ss.dpl-real', fc.integer({ min: 1, max: 7 }), (d, p) => {
  const dpl = ((p - 1) % 3) + 1;
  setAr(d, 'SS', (a) => (a & ~0x60) | (dpl << 5));
  if (p > 3) setAr(d, 'CS', (a) => (a & ~0x6f) | 3); else setAr(d, 'CS', (a) => (a & ~0x6f) | 11 | (dpl << 5));
}, { prep: seq(mode('real'), noHlt) });
// A usable data or non-conforming code segment with DPL below its selector's RPL (no "unrestricted guest").
for (const n of DATA4) {
  v(`guest.${lower(n)}.dpl-rpl`, nat(5), (d, p) => {
    const rpl = 1 + (p % 3), dpl = p % rpl;
    d.set(SEL(n), (d.lo(SEL(n)) & ~3) | rpl);
    setAr(d, n, (a) => (a & ~0x6f) | [3, 11][p & 1]! | (dpl << 5));
  }, { prep: seq(restricted, usable(n)) });
}
for (const n of CODE_DATA) v(`guest.${lower(n)}.present`, nat(0), (d) => setAr(d, n, (a) => a & ~0x80), { prep: nv(n) });
for (const n of CODE_DATA) v(`guest.${lower(n)}.ar-reserved-11-8`, fc.integer({ min: 1, max: 15 }), (d, p) => setAr(d, n, (a) => a | (p << 8)), { prep: nv(n) });
v('guest.cs.db-long', nat(0), (d) => setAr(d, 'CS', (a) => a | 0x4000), { prep: mode('long64') });
/** G = 1 with limit bits 11:0 not all 1; G = 0 with a limit bit in 31:20 set. */
function granularity(n: SN, prep: Prep): void {
  v(`guest.${lower(n)}.g-limit-low`, fc.integer({ min: 0, max: 0xffe }), (d, p) => { d.set(LIM(n), (d.lo(LIM(n)) & ~0xfff) | p); setAr(d, n, (a) => a | 0x8000); }, { prep });
  v(`guest.${lower(n)}.g-limit-high`, fc.integer({ min: 1, max: 0xfff }), (d, p) => { d.set(LIM(n), (d.lo(LIM(n)) | (p << 20)) >>> 0); setAr(d, n, (a) => a & ~0x8000); }, { prep });
}
for (const n of CODE_DATA) granularity(n, nv(n));
for (const n of CODE_DATA) v(`guest.${lower(n)}.ar-reserved-31-17`, fc.integer({ min: 1, max: 0x7fff }), (d, p) => setAr(d, n, (a) => a | (p << 17)), { prep: nv(n) });
v('guest.tr.type', nat(14), (d, p, x) => {
  const bad = x.f.ia32e ? [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15] : [0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15];
  setAr(d, 'TR', (a) => (a & ~0xf) | bad[p % bad.length]!);
});
v('guest.tr.s', nat(0), (d) => setAr(d, 'TR', (a) => a | 0x10));
v('guest.tr.present', nat(0), (d) => setAr(d, 'TR', (a) => a & ~0x80));
v('guest.tr.ar-reserved-11-8', fc.integer({ min: 1, max: 15 }), (d, p) => setAr(d, 'TR', (a) => a | (p << 8)));
granularity('TR', id);
v('guest.tr.usable', nat(0), (d) => setAr(d, 'TR', (a) => a | 0x10000));
v('guest.tr.ar-reserved-31-17', fc.integer({ min: 1, max: 0x7fff }), (d, p) => setAr(d, 'TR', (a) => a | (p << 17)));
v('guest.ldtr.type', nat(14), (d, p) => setAr(d, 'LDTR', (a) => (a & ~0xf) | [0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15][p]!), { prep: ldtrUsable });
v('guest.ldtr.s', nat(0), (d) => setAr(d, 'LDTR', (a) => a | 0x10), { prep: ldtrUsable });
v('guest.ldtr.present', nat(0), (d) => setAr(d, 'LDTR', (a) => a & ~0x80), { prep: ldtrUsable });
v('guest.ldtr.ar-reserved-11-8', fc.integer({ min: 1, max: 15 }), (d, p) => setAr(d, 'LDTR', (a) => a | (p << 8)), { prep: ldtrUsable });
granularity('LDTR', ldtrUsable);
v('guest.ldtr.ar-reserved-31-17', fc.integer({ min: 1, max: 0x7fff }), (d, p) => setAr(d, 'LDTR', (a) => a | (p << 17)), { prep: ldtrUsable });

// ===========================================================================
// 27.3.1.3 - 27.3.1.4 Descriptor tables, RIP, RFLAGS
// ===========================================================================

v('guest.gdtr.base-canonical', nonCanonicalHi, (d, p) => d.setHi('GUEST_GDTR_BASE', p));
v('guest.idtr.base-canonical', nonCanonicalHi, (d, p) => d.setHi('GUEST_IDTR_BASE', p));
v('guest.gdtr.limit-high', fc.integer({ min: 1, max: 0xffff }), (d, p) => d.set('GUEST_GDTR_LIMIT', (d.lo('GUEST_GDTR_LIMIT') | (p << 16)) >>> 0));
v('guest.idtr.limit-high', fc.integer({ min: 1, max: 0xffff }), (d, p) => d.set('GUEST_IDTR_LIMIT', (d.lo('GUEST_IDTR_LIMIT') | (p << 16)) >>> 0));
v('guest.rip.high', fc.integer({ min: 1, max: 0xffff_ffff }), (d, p) => d.setHi('GUEST_RIP', p), { prep: mode('prot32', 'compat', 'paging32', 'pae', 'prot16', 'real', 'v86') });
// Bits 63:48 not identical (27.3.1.4 with 48 linear-address bits); bit 47 alone is not checked.
v('guest.rip.linear-width', fc.integer({ min: 0x1_0000, max: 0xfffe_ffff }), (d, p) => d.setHi('GUEST_RIP', p), { prep: mode('long64') });
/** RFLAGS bits reserved to 0: 3, 5, 15, 22-63. */
const RFLAGS_RESERVED = [3, 5, 15, ...Array.from({ length: 42 }, (_, k) => 22 + k)];
v('guest.rflags.reserved', nat(RFLAGS_RESERVED.length - 1), (d, p) => setBit(d, 'GUEST_RFLAGS', RFLAGS_RESERVED[p]!));
v('guest.rflags.bit1', nat(0), (d) => d.clear('GUEST_RFLAGS', 2));
// RFLAGS.VM with IA-32e mode (compatibility mode, 32-bit RIP) or CR0.PE = 0; the segments already in
// virtual-8086 form so that the segment checks (which follow RFLAGS.VM) hold.
v('guest.rflags.vm', nat(1), (d, p) => {
  void p;
  for (const n of CODE_DATA) { const sel = d.lo(SEL(n)) & 0xffff; d.set(BASE(n), sel << 4); d.set(LIM(n), 0xffff); d.set(AR(n), 0xf3); }
  d.or('GUEST_RFLAGS', 0x20000);
}, { prep: seq(mode('compat', 'real'), noHlt) });
v('guest.rflags.if-extint', nat(255), (d, p) => { inject(d, 0, p); d.clear('GUEST_RFLAGS', 0x200); }, { prep: noHlt });

// ===========================================================================
// 27.3.1.5 Guest non-register state
// ===========================================================================

const INTR = 'GUEST_INTERRUPTIBILITY_STATE', ACT = 'GUEST_ACTIVITY_STATE';
v('guest.activity.supported', fc.integer({ min: 2, max: 0xffff_ffff }), (d, p) => d.set(ACT, p), { prep: noHlt });
v('guest.activity.hlt-ss-dpl', nat(0), (d) => { d.set(ACT, 1); }, { prep: seq(noHlt, noEvent, (s) => (s.mode === 'v86' ? s : { ...s, mode: s.mode === 'real' ? 'prot32' : s.mode, cpl: 1 + (s.cpl % 3) })) });
v('guest.activity.blocking', nat(1), (d, p) => { d.set(ACT, 1); d.set(INTR, (d.lo(INTR) & ~3) | (p + 1)); d.or('GUEST_RFLAGS', 0x200); }, { prep: seq(notV86, with_({ cpl: 0, hlt: false, blocking: 0 }), noEvent) });
/** Events injection of which the HLT state does not allow: exceptions other than #DB/#MC, software interrupts and exceptions. */
v('guest.activity.hlt-event', nat(31), (d, p) => {
  d.set(ACT, 1);
  if (p < 29) { const vec = [0, 2, 3, 4, 5, 6, 7, 9, 15, 16, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 8, 10, 11, 12, 13, 14][p]!; inject(d, 3, vec, [8, 10, 11, 12, 13, 14].includes(vec)); }
  else inject(d, p - 25, 0x80); // types 4, 5, 6
}, { prep: seq(pm, with_({ cpl: 0, hlt: false, blocking: 0 })) });
v('guest.activity.shutdown-event', nat(30), (d, p) => {
  d.set(ACT, 2);
  if (p < 28) { const vec = [0, 1, 2, 3, 4, 5, 6, 7, 9, 15, 16, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 8, 10, 13, 14][p]!; inject(d, 3, vec, [8, 10, 11, 12, 13, 14].includes(vec)); }
  else if (p === 28) { inject(d, 0, 0x40); d.or('GUEST_RFLAGS', 0x200); } else inject(d, p - 25, 0x80);
}, { caps: WIDE_CAPS, prep: seq(pm, noHlt) });
v('guest.activity.sipi-event', nat(4), (d, p) => {
  d.set(ACT, 3);
  if (p === 0) { inject(d, 0, 0x40); d.or('GUEST_RFLAGS', 0x200); } else if (p === 1) inject(d, 2, 2); else if (p === 2) inject(d, 3, 18); else inject(d, p + 1, 0x80);
}, { caps: WIDE_CAPS, prep: seq(pm, noHlt) });
v('guest.interruptibility.reserved', fc.integer({ min: 1, max: 0x7ff_ffff }), (d, p) => d.set(INTR, (d.lo(INTR) | (p << 5)) >>> 0));
v('guest.interruptibility.sti-and-movss', nat(0), (d) => { d.or(INTR, 3); d.or('GUEST_RFLAGS', 0x200); }, { prep: seq(noHlt, noEvent) });
v('guest.interruptibility.sti-if', nat(0), (d) => { d.set(INTR, (d.lo(INTR) & ~3) | 1); d.clear('GUEST_RFLAGS', 0x200); }, { prep: seq(noHlt, noEvent) });
v('guest.interruptibility.extint', nat(1), (d, p) => { inject(d, 0, 0x30); d.or('GUEST_RFLAGS', 0x200); d.set(INTR, (d.lo(INTR) & ~3) | (p + 1)); }, { prep: noHlt });
v('guest.interruptibility.nmi-movss', nat(0), (d) => { inject(d, 2, 2); d.set(INTR, (d.lo(INTR) & ~3) | 2); }, { prep: noHlt });
v('guest.interruptibility.smi', nat(0), (d) => d.or(INTR, 4));
v('guest.interruptibility.nmi-sti', nat(0), (d) => { inject(d, 2, 2); d.or('GUEST_RFLAGS', 0x200); d.set(INTR, (d.lo(INTR) & ~3) | 1); }, { prep: noHlt });
v('guest.interruptibility.virtual-nmi', nat(0), (d) => { d.or(PIN_F, PIN.VIRTUAL_NMIS | PIN.NMI_EXITING); inject(d, 2, 2); d.set(INTR, (d.lo(INTR) & ~3) | 8); });
v('guest.interruptibility.enclave', nat(0), (d) => d.or(INTR, 0x10));
v('guest.pending-debug.reserved', nat(51), (d, p) => {
  const bits = [4, 5, 6, 7, 8, 9, 10, 11, 13, 15, ...Array.from({ length: 47 }, (_, k) => 17 + k)];
  setBit(d, 'GUEST_PENDING_DEBUG_EXCEPTIONS', bits[p % bits.length]!);
});
/** Blocking by STI (with IF), by MOV SS, or the HLT state; no event injected. */
function bsCase(d: Draft, p: number): void {
  if (p === 0) { d.set(INTR, (d.lo(INTR) & ~3) | 1); d.or('GUEST_RFLAGS', 0x200); }
  else if (p === 1) d.set(INTR, (d.lo(INTR) & ~3) | 2);
  else d.set(ACT, 1);
}
const bsPrep = seq(notV86, with_({ cpl: 0, hlt: false, blocking: 0 }), noEvent);
v('guest.pending-debug.bs-set', nat(2), (d, p) => { bsCase(d, p); d.or('GUEST_RFLAGS', 0x100); d.clear('GUEST_IA32_DEBUGCTL', 2); d.clear('GUEST_PENDING_DEBUG_EXCEPTIONS', 0x4000); }, { prep: bsPrep });
v('guest.pending-debug.bs-clear', nat(5), (d, p) => {
  bsCase(d, p % 3);
  if (p < 3) d.clear('GUEST_RFLAGS', 0x100); else { d.or('GUEST_RFLAGS', 0x100); d.or('GUEST_IA32_DEBUGCTL', 2); }
  d.or('GUEST_PENDING_DEBUG_EXCEPTIONS', 0x4000);
}, { prep: bsPrep });
v('guest.pending-debug.rtm', nat(0), (d) => d.or('GUEST_PENDING_DEBUG_EXCEPTIONS', 0x10000)); // this processor has no RTM
const LINK = 'VMCS_LINK_POINTER';
v('guest.vmcs-link.align', fc.integer({ min: 1, max: 0xfff }), (d, p) => d.set(LINK, LINK_PAGE | p, 0));
v('guest.vmcs-link.width', beyondWidth, (d, p) => d.set(LINK, LINK_PAGE, p));
v('guest.vmcs-link.revision', any.filter((x) => (x & 0x7fff_ffff) !== VMCS_REVISION_ID), (d, p) => { d.set(LINK, LINK_PAGE, 0); d.word(LINK_PAGE, p); });
v('guest.vmcs-link.shadow-indicator', nat(0), (d) => { d.set(LINK, LINK_PAGE, 0); d.word(LINK_PAGE, (VMCS_REVISION_ID | 0x8000_0000) >>> 0); });
v('guest.vmcs-link.not-current', nat(0), (d) => d.set(LINK, LAYOUT.vmcs, 0));

// ===========================================================================
// 27.3.1.6 PDPTEs (PAE paging)
// ===========================================================================

/** A present PDPTE with a reserved bit (2:1, 8:5, or at/above bit 39). */
const PDPTE_RESERVED = [1, 2, 5, 6, 7, 8, 39, 40, 51, 52, 62, 63];
for (let k = 0; k < 4; k++) {
  v(`guest.pdpte${k}.reserved`, nat(2 * PDPTE_RESERVED.length - 1), (d, p, x) => {
    const b = PDPTE_RESERVED[p % PDPTE_RESERVED.length]!;
    const [lo, hi] = b < 32 ? [(1 | (1 << b)) >>> 0, 0] : [1, (1 << (b - 32)) >>> 0];
    if (x.f.ept) d.set(`GUEST_PDPTE${k}` as VmcsFieldName, lo, hi);
    else { const pa = (d.lo('GUEST_CR3') & 0xffff_ffe0) + 8 * k; d.word(pa, lo); d.word(pa + 4, hi); }
  }, { prep: (s) => ({ ...mode('pae')(s), ...(s.mode === 'pae' ? {} : { noEpt: (s.pin & 1) === 1, restricted: (s.pin & 1) === 1 }) }) });
}

// ===========================================================================
// 27.4 VM-entry MSR-load entries: valid entries before the failing one
// ===========================================================================

/** Write `good` loadable entries then the bad one; expected qualification good + 1. */
function msrCase(rule: string, bad: (p: number) => [index: number, reserved: number, lo: number, hi: number], param: fc.Arbitrary<number>): void {
  v(rule, fc.tuple(nat(3), param).map(([g, p]) => g * 2 ** 32 + p) as fc.Arbitrary<number>, (d, q) => {
    const good = Math.floor(q / 2 ** 32), p = q % 2 ** 32;
    d.set('VM_ENTRY_MSR_LOAD_COUNT', good + 1 + (p & 1));
    d.setNum('VM_ENTRY_MSR_LOAD_ADDRESS', MSR_LOAD_PAGE);
    for (let k = 0; k < good; k++) { d.word(MSR_LOAD_PAGE + 16 * k, 0x174); d.word(MSR_LOAD_PAGE + 16 * k + 4, 0); d.word(MSR_LOAD_PAGE + 16 * k + 8, k); d.word(MSR_LOAD_PAGE + 16 * k + 12, 0); }
    const [i, r, lo, hi] = bad(p);
    const a = MSR_LOAD_PAGE + 16 * good;
    d.word(a, i); d.word(a + 4, r); d.word(a + 8, lo); d.word(a + 12, hi);
  }, { prep: with_({ msrLoad: [] }), msrEntry: (q) => Math.floor(q / 2 ** 32) + 1 });
}
msrCase('msr.fs-gs-base', (p) => [0xc000_0100 + (p & 1), 0, 0, 0], nat(1));
msrCase('msr.x2apic', (p) => [0x800 + (p & 0xff), 0, 0, 0], nat(0xff));
msrCase('msr.smm-only', () => [0x9b, 0, 0, 0], nat(1));
msrCase('msr.model-specific', (p) => [(p & 2) ? 0x8b : 0x79, 0, 0, 0], nat(3));
msrCase('msr.reserved', (p) => [0x174, (p >>> 1) || 1, 0, 0], fc.integer({ min: 2, max: 0xffff_ffff }));
// WRMSR would #GP: an unimplemented MSR, a reserved bit of IA32_EFER / IA32_DEBUGCTL, a non-canonical LSTAR, a bad PAT type.
msrCase('msr.wrmsr', (p) => {
  switch ((p >>> 1) % 5) {
    case 0: return [0x12345 + (p >>> 4), 0, 0, 0];
    case 1: return [0xc000_0080, 0, 0x2, 0];
    case 2: return [0x1d9, 0, 0x4, 0];
    case 3: return [0xc000_0082, 0, 0, 0x8000];
    default: return [0x277, 0, 0x2, 0];
  }
}, fc.integer({ min: 0, max: 0xffff }));

// ===========================================================================
// 28.4 / 28.6 VM-exit MSR areas (a VMX abort, 28.7, not a VM-entry failure)
// ===========================================================================

/**
 * Break entry `p % count + 1` of the VM-exit MSR-store (`store`) or MSR-load area of a valid scenario with at
 * least one entry; the entries before it are the scenario's valid ones, so the exit aborts on exactly this rule:
 * indicator 1 (store) or 4 (load).
 */
function exitMsrCase(rule: string, store: boolean, entry: (p: number) => [number, number, number, number], param: fc.Arbitrary<number>): void {
  const key = store ? 'exitMsrStore' : 'exitMsrLoad';
  v(rule, param, (d, p, x) => {
    const k = (p >>> 8) % x.s[key];
    const [index, reserved, lo, hi] = entry(p & 0xff);
    const a = EXIT_MSR_PAGE + (store ? 0 : 0x800) + 16 * k;
    d.word(a, index); d.word(a + 4, reserved); d.word(a + 8, lo); d.word(a + 12, hi);
  }, { prep: (s) => ({ ...s, [key]: Math.max(1, s[key]) }) });
}
const exitParam = fc.integer({ min: 0, max: 0xffff });
exitMsrCase('exit-msr-store.x2apic', true, (p) => [0x800 + p, 0, 0, 0], exitParam);
exitMsrCase('exit-msr-store.smm-only', true, () => [0x9e, 0, 0, 0], exitParam);
exitMsrCase('exit-msr-store.reserved', true, (p) => [0x174, p + 1, 0, 0], exitParam);
// RDMSR would #GP: an MSR this processor does not implement.
exitMsrCase('exit-msr-store.rdmsr', true, (p) => [[0x0, 0x12345 + p, 0x4000_0000, 0xc001_0000][p & 3]!, 0, 0, 0], exitParam);
exitMsrCase('exit-msr-load.fs-gs-base', false, (p) => [0xc000_0100 + (p & 1), 0, 0, 0], exitParam);
exitMsrCase('exit-msr-load.x2apic', false, (p) => [0x800 + p, 0, 0, 0], exitParam);
exitMsrCase('exit-msr-load.smm-only', false, () => [0x9b, 0, 0, 0], exitParam);
exitMsrCase('exit-msr-load.model-specific', false, (p) => [(p & 1) ? 0x8b : 0x79, 0, 0, 0], exitParam);
exitMsrCase('exit-msr-load.reserved', false, (p) => [0x174, p + 1, 0, 0], exitParam);
// WRMSR would #GP: an unimplemented MSR, a non-canonical LSTAR, a bad PAT type, EFER.LME cleared under the
// host's paging (28.5 loaded host CR0.PG = 1 before the MSRs), a reserved EFER bit.
exitMsrCase('exit-msr-load.wrmsr', false, (p) => {
  switch (p % 5) {
    case 0: return [0x12345 + p, 0, 0, 0];
    case 1: return [0xc000_0082, 0, 0, 0x8000];
    case 2: return [0x277, 0, 0x2, 0];
    case 3: return [0xc000_0080, 0, 0x400, 0];
    default: return [0xc000_0080, 0, 0x502, 0];
  }
}, exitParam);

export const RULE_VIOLATIONS: ReadonlyMap<string, Violation> = new Map(VIOLATIONS.map((x) => [x.rule, x]));
if (RULE_VIOLATIONS.size !== VIOLATIONS.length) throw new Error('internal: two violations for one rule');
