/**
 * Valid VMCS states, by construction from the SDM.
 *
 * A Scenario is a small JSON-able record of choices; `buildImage` turns it
 * into VMCS field values (and the memory they reference) that satisfy every
 * check of SDM Vol. 3C 27.2-27.4 (26.2-26.4 in editions before 2022). Each
 * choice's "zero" (what fast-check shrinks towards) is the state of
 * core/hv/setup.ts for the PVH entry (32-bit protected mode, flat segments,
 * EPT and unrestricted guest), so a shrunk counterexample differs from that
 * base only where it must.
 *
 * Covered: every guest mode VM entry can produce (real mode and unpaged
 * protected mode under "unrestricted guest", 32-bit paging, PAE paging with
 * PDPTEs from memory or from the VMCS, IA-32e 64-bit and compatibility
 * mode, virtual-8086 mode), CPL 0-3, conforming and non-conforming code,
 * unusable segments, every granularity form, optional controls, VPID, EPT
 * A/D, I/O and MSR bitmaps anywhere within the physical-address width,
 * CR3-target values, VM-exit and VM-entry MSR areas (with loadable MSRs),
 * the VMCS link pointer, activity HLT, interruptibility, pending debug
 * exceptions and every kind of event injection.
 */
import fc from 'fast-check';
import { VMCS, type VmcsFieldName } from '../../core/vmx/fields.js';
import {
  PIN_BASED as PIN, PROC_BASED as PROC, PROC_BASED2 as PROC2, EXIT_CTLS as EXIT, ENTRY_CTLS as ENTRY,
  VMCS_REVISION_ID, MSR, type VmxCapabilities,
} from '../../core/vmx/capabilities.js';
import { LAYOUT, LINK_PAGE, MSR_LOAD_PAGE, EXIT_MSR_PAGE, type Halves, type Image } from './world.js';

export const MODES = ['prot32', 'long64', 'compat', 'paging32', 'pae', 'prot16', 'real', 'v86'] as const;
export type Mode = (typeof MODES)[number];

/** A segment register's choices. Zero = the PVH base segment. */
export interface SegChoice {
  /** Selector index bits 15:3 (0: the base selector's index). */
  readonly index: number;
  /** 0: base (flat 4 GiB, G=1); 1: byte-granular limit <= FFFFFH; 2: page-granular limit. */
  readonly gran: number;
  /** Limit parameter for gran 1 (20 bits) and 2 (20-bit page count). */
  readonly limit: number;
  /** Base address: 32-bit for CS/SS/DS/ES, canonical for FS/GS/TR/LDTR (signed double). */
  readonly base: number;
  /** Index into the allowed types for the register and mode (0: the base type). */
  readonly type: number;
  /** Marks the register unusable (LDTR: usable). */
  readonly flip: boolean;
  /** RPL/DPL freedom where the rules leave some. */
  readonly priv: number;
  readonly avl: boolean;
  /** D/B where free. */
  readonly db: boolean;
  /** Selector TI where free. */
  readonly ti: boolean;
}

export interface EventChoice {
  /** 0 none, 1 external interrupt, 2 NMI, 3 hardware exception, 4 software interrupt, 5 privileged software exception, 6 software exception, 7 pending MTF VM exit (type 7, vector 0). */
  readonly kind: number;
  readonly vector: number;
  readonly errorCode: number;
  readonly length: number;
}

export interface HostChoice {
  readonly cs: number; readonly ss: number; readonly ds: number; readonly es: number; readonly fs: number; readonly gs: number; readonly tr: number;
  readonly fsBase: number; readonly gsBase: number; readonly trBase: number; readonly gdtrBase: number; readonly idtrBase: number;
  readonly cr0: number; readonly cr4: number; readonly cr3: number; readonly rip: number; readonly rsp: number;
  readonly sysenterCs: number; readonly sysenterEsp: number; readonly sysenterEip: number;
  readonly efer: number; readonly pat: readonly [number, number];
}

export interface Scenario {
  readonly mode: Mode;
  /** Drop "unrestricted guest" (only in paging modes, which do not need it). */
  readonly restricted: boolean;
  /** Drop "enable EPT" (implies restricted; paging modes only). */
  readonly noEpt: boolean;
  /** VPID value; 0 = "enable VPID" off. */
  readonly vpid: number;
  /** Toggles over PIN_OPT / PROC_OPT / PROC2_OPT / EXIT_OPT / ENTRY_OPT (bit k flips option k). */
  readonly pin: number; readonly proc: number; readonly proc2: number; readonly exit: number; readonly entry: number;
  readonly eptAd: boolean;
  /** Page numbers of I/O bitmap A, B and the MSR bitmap; null: the layout's. */
  readonly bitmaps: readonly [number, number, number] | null;
  readonly cr3Targets: readonly number[];
  readonly misc: readonly number[] | null;
  readonly exitMsrStore: number; readonly exitMsrLoad: number;
  /** VM-entry MSR-load entries: [index into LOADABLE_MSRS, lo, hi]. */
  readonly msrLoad: readonly (readonly [number, number, number])[];
  readonly preemptionTimer: number;
  readonly host: HostChoice | null;
  readonly cpl: number;
  readonly cs: SegChoice; readonly ss: SegChoice; readonly ds: SegChoice; readonly es: SegChoice;
  readonly fs: SegChoice; readonly gs: SegChoice; readonly tr: SegChoice; readonly ldtr: SegChoice;
  readonly cr0: number; readonly cr4: number; readonly cr3: number; readonly pcide: boolean;
  readonly efer: number; readonly dr7: number; readonly debugctl: number;
  readonly sysenter: readonly [number, number, number];
  readonly pat: readonly [number, number] | null;
  readonly rsp: number; readonly rip: number; readonly rflags: number; readonly ifFlag: boolean;
  readonly gdtr: readonly [number, number]; readonly idtr: readonly [number, number];
  readonly event: EventChoice;
  readonly hlt: boolean;
  /** 0 none, 1 blocking by STI, 2 blocking by MOV SS. */
  readonly blocking: number;
  readonly nmiBlocking: boolean;
  readonly pendingDebug: number;
  readonly link: boolean;
  /** PDPTEs (PAE mode): [present, address page, flags]. */
  readonly pdptes: readonly (readonly [boolean, number, number])[];
}

// ---------------------------------------------------------------------------
// Option lists (bit k of a toggle mask flips option k relative to the base)
// ---------------------------------------------------------------------------

export const PIN_OPT = [PIN.EXTERNAL_INTERRUPT_EXITING, PIN.NMI_EXITING, PIN.VIRTUAL_NMIS, PIN.ACTIVATE_VMX_PREEMPTION_TIMER] as const;
const PIN_BASE = PIN.EXTERNAL_INTERRUPT_EXITING | PIN.NMI_EXITING;
export const PROC_OPT = [
  PROC.HLT_EXITING, PROC.USE_IO_BITMAPS, PROC.USE_MSR_BITMAPS, PROC.INTERRUPT_WINDOW_EXITING, PROC.USE_TSC_OFFSETTING,
  PROC.INVLPG_EXITING, PROC.MWAIT_EXITING, PROC.RDPMC_EXITING, PROC.RDTSC_EXITING, PROC.CR3_LOAD_EXITING,
  PROC.CR3_STORE_EXITING, PROC.CR8_LOAD_EXITING, PROC.CR8_STORE_EXITING, PROC.NMI_WINDOW_EXITING, PROC.MOV_DR_EXITING,
  PROC.UNCONDITIONAL_IO_EXITING, PROC.MONITOR_EXITING, PROC.PAUSE_EXITING, PROC.MONITOR_TRAP_FLAG,
] as const;
const PROC_BASE = PROC.HLT_EXITING | PROC.USE_IO_BITMAPS | PROC.USE_MSR_BITMAPS | PROC.ACTIVATE_SECONDARY_CONTROLS;
export const PROC2_OPT = [PROC2.ENABLE_RDTSCP, PROC2.DESCRIPTOR_TABLE_EXITING, PROC2.WBINVD_EXITING] as const;
const PROC2_BASE = PROC2.ENABLE_RDTSCP;
export const EXIT_OPT = [EXIT.ACKNOWLEDGE_INTERRUPT_ON_EXIT, EXIT.SAVE_IA32_EFER, EXIT.LOAD_IA32_EFER, EXIT.SAVE_IA32_PAT,
  EXIT.LOAD_IA32_PAT, EXIT.SAVE_DEBUG_CONTROLS, EXIT.SAVE_VMX_PREEMPTION_TIMER_VALUE] as const;
const EXIT_BASE = EXIT.HOST_ADDRESS_SPACE_SIZE | EXIT.ACKNOWLEDGE_INTERRUPT_ON_EXIT | EXIT.SAVE_IA32_EFER | EXIT.LOAD_IA32_EFER | EXIT.SAVE_IA32_PAT | EXIT.LOAD_IA32_PAT;
export const ENTRY_OPT = [ENTRY.LOAD_IA32_EFER, ENTRY.LOAD_IA32_PAT, ENTRY.LOAD_DEBUG_CONTROLS] as const;
const ENTRY_BASE = ENTRY.LOAD_IA32_EFER | ENTRY.LOAD_IA32_PAT;

function toggled(base: number, opts: readonly number[], mask: number): number {
  let v = base;
  for (let k = 0; k < opts.length; k++) if ((mask >>> k) & 1) v ^= opts[k]!;
  return v >>> 0;
}

/** MSRs a VM-entry MSR-load entry may load here, with how to make a loadable value. */
export const LOADABLE_MSRS: readonly { readonly index: number; readonly value: (lo: number, hi: number) => Halves }[] = [
  { index: 0x174, value: (lo) => [lo & 0xffff, 0] },                 // IA32_SYSENTER_CS
  { index: 0x175, value: (lo, hi) => canonHalves(lo, hi) },          // IA32_SYSENTER_ESP
  { index: 0x176, value: (lo, hi) => canonHalves(lo, hi) },          // IA32_SYSENTER_EIP
  { index: 0xc000_0081, value: (lo, hi) => [lo, hi] },               // IA32_STAR
  { index: 0xc000_0082, value: (lo, hi) => canonHalves(lo, hi) },    // IA32_LSTAR
  { index: 0xc000_0083, value: (lo, hi) => canonHalves(lo, hi) },    // IA32_CSTAR
  { index: 0xc000_0084, value: (lo) => [lo, 0] },                    // IA32_FMASK
  { index: 0xc000_0102, value: (lo, hi) => canonHalves(lo, hi) },    // IA32_KERNEL_GS_BASE
  { index: 0xc000_0103, value: (lo) => [lo, 0] },                    // IA32_TSC_AUX
  { index: 0x277, value: (lo, hi) => [patByte(lo), patByte(hi)] },   // IA32_PAT
  { index: 0x1d9, value: (lo) => [lo & 3, 0] },                      // IA32_DEBUGCTL
];
/** A canonical 48-bit value from random halves: bits 63:47 copy bit 47. */
function canonHalves(lo: number, hi: number): Halves {
  const h = hi & 0xffff;
  return [lo >>> 0, (h & 0x8000 ? h | 0xffff_0000 : h) >>> 0];
}
const PAT_TYPES = [0, 1, 4, 5, 6, 7];
function patByte(x: number): number {
  let v = 0;
  for (let k = 0; k < 4; k++) v |= PAT_TYPES[((x >>> (8 * k)) & 0xff) % 6]! << (8 * k);
  return v >>> 0;
}

// ---------------------------------------------------------------------------
// The arbitrary
// ---------------------------------------------------------------------------

const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
/** Canonical 48-bit address as a signed double; shrinks to 0. */
export const canonArb = fc.oneof(
  { withCrossShrink: true },
  { weight: 1, arbitrary: fc.constant(0) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 0x7fff_ffff_ffff }) },
  { weight: 2, arbitrary: fc.integer({ min: -0x8000_0000_0000, max: -1 }) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }) },
);

/** RIP in 64-bit mode: canonical, or bits 63:48 identical with bit 47 different (VM entry checks bits 63:48 only). */
const ripArb = fc.oneof(
  { withCrossShrink: true },
  { weight: 4, arbitrary: canonArb },
  { weight: 1, arbitrary: fc.integer({ min: 0x8000_0000_0000, max: 0xffff_ffff_ffff }) },
  { weight: 1, arbitrary: fc.integer({ min: -0x1_0000_0000_0000, max: -0x8000_0000_0001 }) },
);

const segArb: fc.Arbitrary<SegChoice> = fc.record({
  index: fc.oneof({ withCrossShrink: true }, fc.constant(0), fc.integer({ min: 0, max: 0x1fff })),
  gran: fc.integer({ min: 0, max: 2 }),
  limit: fc.integer({ min: 0, max: 0xfffff }),
  base: canonArb,
  type: fc.nat(15),
  flip: fc.boolean(),
  priv: fc.nat(15),
  avl: fc.boolean(),
  db: fc.boolean(),
  ti: fc.boolean(),
});

const hostArb: fc.Arbitrary<HostChoice> = fc.record({
  cs: fc.integer({ min: 1, max: 0x1fff }), ss: fc.integer({ min: 0, max: 0x1fff }), ds: fc.integer({ min: 0, max: 0x1fff }),
  es: fc.integer({ min: 0, max: 0x1fff }), fs: fc.integer({ min: 0, max: 0x1fff }), gs: fc.integer({ min: 0, max: 0x1fff }),
  tr: fc.integer({ min: 1, max: 0x1fff }),
  fsBase: canonArb, gsBase: canonArb, trBase: canonArb, gdtrBase: canonArb, idtrBase: canonArb,
  cr0: u32, cr4: u32, cr3: fc.integer({ min: 0, max: 2 ** 27 - 1 }), rip: canonArb, rsp: canonArb,
  sysenterCs: u32, sysenterEsp: canonArb, sysenterEip: canonArb,
  efer: fc.nat(3), pat: fc.tuple(u32, u32),
});

const eventArb: fc.Arbitrary<EventChoice> = fc.record({
  kind: fc.integer({ min: 0, max: 7 }),
  vector: fc.nat(255),
  errorCode: u16,
  length: fc.integer({ min: 1, max: 15 }),
});

/** Valid scenarios; every field's minimum is the PVH base state. */
export const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  mode: fc.constantFrom(...MODES),
  restricted: fc.boolean(),
  noEpt: fc.boolean(),
  vpid: fc.oneof({ withCrossShrink: true }, fc.constant(0), fc.integer({ min: 1, max: 0xffff })),
  pin: fc.nat(15), proc: fc.nat(2 ** PROC_OPT.length - 1), proc2: fc.nat(7), exit: fc.nat(127), entry: fc.nat(7),
  eptAd: fc.boolean(),
  bitmaps: fc.option(fc.tuple(fc.nat(2 ** 27 - 1), fc.nat(2 ** 27 - 1), fc.nat(2 ** 27 - 1)), { nil: null }),
  cr3Targets: fc.array(u32, { maxLength: 4 }),
  misc: fc.option(fc.array(u32, { minLength: 9, maxLength: 9 }), { nil: null }),
  exitMsrStore: fc.nat(4), exitMsrLoad: fc.nat(4),
  msrLoad: fc.array(fc.tuple(fc.nat(LOADABLE_MSRS.length - 1), u32, u32), { maxLength: 3 }),
  preemptionTimer: u32,
  host: fc.option(hostArb, { nil: null }),
  cpl: fc.nat(3),
  cs: segArb, ss: segArb, ds: segArb, es: segArb, fs: segArb, gs: segArb, tr: segArb, ldtr: segArb,
  cr0: u32, cr4: u32, cr3: fc.nat(2 ** 27 - 1), pcide: fc.boolean(),
  efer: fc.nat(7), dr7: u32, debugctl: fc.nat(3),
  sysenter: fc.tuple(u32, canonArb, canonArb),
  pat: fc.option(fc.tuple(u32, u32), { nil: null }),
  rsp: canonArb, rip: ripArb, rflags: u32, ifFlag: fc.boolean(),
  gdtr: fc.tuple(canonArb, u16), idtr: fc.tuple(canonArb, u16),
  event: eventArb,
  hlt: fc.boolean(),
  blocking: fc.nat(2),
  nmiBlocking: fc.boolean(),
  pendingDebug: fc.nat(0x1f),
  link: fc.boolean(),
  pdptes: fc.array(fc.tuple(fc.boolean(), fc.nat(2 ** 27 - 1), fc.nat(0x1f)), { minLength: 4, maxLength: 4 }),
});

/** The base scenario (the minimum of every choice). */
export function baseScenario(): Scenario {
  const seg: SegChoice = { index: 0, gran: 0, limit: 0, base: 0, type: 0, flip: false, priv: 0, avl: false, db: false, ti: false };
  return {
    mode: 'prot32', restricted: false, noEpt: false, vpid: 0, pin: 0, proc: 0, proc2: 0, exit: 0, entry: 0, eptAd: false,
    bitmaps: null, cr3Targets: [], misc: null, exitMsrStore: 0, exitMsrLoad: 0, msrLoad: [], preemptionTimer: 0, host: null,
    cpl: 0, cs: seg, ss: seg, ds: seg, es: seg, fs: seg, gs: seg, tr: seg, ldtr: seg,
    cr0: 0, cr4: 0, cr3: 0, pcide: false, efer: 0, dr7: 0, debugctl: 0, sysenter: [0, 0, 0], pat: null,
    rsp: 0, rip: 0, rflags: 0, ifFlag: false, gdtr: [0, 0], idtr: [0, 0],
    event: { kind: 0, vector: 0, errorCode: 0, length: 1 }, hlt: false, blocking: 0, nmiBlocking: false,
    pendingDebug: 0, link: false, pdptes: [[false, 0, 0], [false, 0, 0], [false, 0, 0], [false, 0, 0]],
  };
}

// ---------------------------------------------------------------------------
// Derived facts of a scenario
// ---------------------------------------------------------------------------

export interface Facts {
  readonly mode: Mode;
  readonly paging: boolean;
  readonly ia32e: boolean;
  readonly v86: boolean;
  readonly pe: boolean;
  readonly unrestricted: boolean;
  readonly ept: boolean;
  readonly cpl: number;
  readonly pin: number; readonly proc: number; readonly proc2: number; readonly exit: number; readonly entry: number;
  /** Guest CR4.PCIDE: asked for, IA-32e mode, and a processor whose IA32_VMX_CR4_FIXED1 allows it (this one's does not). */
  readonly pcide: boolean;
}

export function facts(s: Scenario, caps: VmxCapabilities): Facts {
  const mode = s.mode;
  const paging = mode === 'long64' || mode === 'compat' || mode === 'paging32' || mode === 'pae' || (mode === 'v86' && s.restricted);
  const needsUnrestricted = !paging;
  const unrestricted = needsUnrestricted || !(s.restricted || s.noEpt);
  const ept = unrestricted || !s.noEpt;
  const ia32e = mode === 'long64' || mode === 'compat';
  let pin = toggled(PIN_BASE, PIN_OPT, s.pin);
  if (pin & PIN.VIRTUAL_NMIS) pin |= PIN.NMI_EXITING;
  let proc = toggled(PROC_BASE, PROC_OPT, s.proc);
  if (!(pin & PIN.VIRTUAL_NMIS)) proc &= ~PROC.NMI_WINDOW_EXITING;
  let proc2 = toggled(PROC2_BASE, PROC2_OPT, s.proc2);
  if (ept) proc2 |= PROC2.ENABLE_EPT;
  if (unrestricted) proc2 |= PROC2.UNRESTRICTED_GUEST;
  if (s.vpid !== 0) proc2 |= PROC2.ENABLE_VPID;
  let exit = toggled(EXIT_BASE, EXIT_OPT, s.exit);
  if (!(pin & PIN.ACTIVATE_VMX_PREEMPTION_TIMER)) exit &= ~EXIT.SAVE_VMX_PREEMPTION_TIMER_VALUE;
  let entry = toggled(ENTRY_BASE, ENTRY_OPT, s.entry);
  if (ia32e) entry |= ENTRY.IA32E_MODE_GUEST;
  pin = (pin | caps.allowed0(caps.controlMsr('pin'))) >>> 0;
  proc = (proc | caps.allowed0(caps.controlMsr('proc'))) >>> 0;
  exit = (exit | caps.allowed0(caps.controlMsr('exit'))) >>> 0;
  entry = (entry | caps.allowed0(caps.controlMsr('entry'))) >>> 0;
  const v86 = mode === 'v86';
  const pe = mode !== 'real';
  const cpl = v86 ? 3 : mode === 'real' ? 0 : s.cpl;
  const pcide = ia32e && s.pcide && ((caps.read(MSR.IA32_VMX_CR4_FIXED1)?.lo ?? 0) & 0x20000) !== 0;
  return { mode, paging, ia32e, v86, pe, unrestricted, ept, cpl, pin, proc, proc2, exit, entry, pcide };
}

// ---------------------------------------------------------------------------
// The builder
// ---------------------------------------------------------------------------

/** A mutable image: field values by name, memory words. */
export class Draft {
  readonly fields = new Map<number, [number, number]>();
  readonly mem: [number, number][] = [];
  set(f: VmcsFieldName, lo: number, hi = 0): void { this.fields.set(VMCS[f], [lo >>> 0, hi >>> 0]); }
  /** A signed double (canonical addresses, negative = two's complement). */
  setNum(f: VmcsFieldName, v: number): void { this.set(f, v >>> 0, Math.floor(v / 2 ** 32) >>> 0); }
  get(f: VmcsFieldName): Halves { return this.fields.get(VMCS[f]) ?? [0, 0]; }
  lo(f: VmcsFieldName): number { return this.get(f)[0]; }
  hi(f: VmcsFieldName): number { return this.get(f)[1]; }
  or(f: VmcsFieldName, bits: number): void { const [l, h] = this.get(f); this.set(f, l | bits, h); }
  clear(f: VmcsFieldName, bits: number): void { const [l, h] = this.get(f); this.set(f, l & ~bits, h); }
  setHi(f: VmcsFieldName, h: number): void { this.set(f, this.lo(f), h); }
  word(pa: number, v: number): void { this.mem.push([pa, v >>> 0]); }
  image(): Image { return { fields: new Map(this.fields), mem: this.mem.slice() }; }
}

const SEG_NAMES = ['CS', 'SS', 'DS', 'ES', 'FS', 'GS', 'TR', 'LDTR'] as const;
type SegName = (typeof SEG_NAMES)[number];
function segFields(n: SegName): { sel: VmcsFieldName; base: VmcsFieldName; limit: VmcsFieldName; ar: VmcsFieldName } {
  return { sel: `GUEST_${n}_SELECTOR`, base: `GUEST_${n}_BASE`, limit: `GUEST_${n}_LIMIT`, ar: `GUEST_${n}_ACCESS_RIGHTS` } as const;
}

/** Limit and G from a granularity choice: 0 flat 4 GiB (G=1), 1 byte-granular, 2 page-granular. */
function limitG(c: SegChoice): [number, number] {
  if (c.gran === 1) return [c.limit & 0xfffff, 0];
  if (c.gran === 2) return [(((c.limit & 0xfffff) << 12) | 0xfff) >>> 0, 0x8000];
  return [0xffff_ffff, 0x8000];
}
const pick = <T>(xs: readonly T[], k: number): T => xs[k % xs.length]!;

/** Write a segment: selector, base, limit and access rights. */
function putSeg(d: Draft, n: SegName, sel: number, base: number, limit: number, ar: number): void {
  const f = segFields(n);
  d.set(f.sel, sel & 0xffff);
  d.setNum(f.base, base);
  d.set(f.limit, limit);
  d.set(f.ar, ar);
}

/** Base selectors of the PVH state. */
const BASE_INDEX: Record<SegName, number> = { CS: 2, SS: 3, DS: 3, ES: 3, FS: 3, GS: 3, TR: 4, LDTR: 0 };

/**
 * The image of a scenario for a processor. Every produced state satisfies
 * the rule table; the property "every valid state enters" checks it.
 */
export function buildImage(s: Scenario, caps: VmxCapabilities, eptp: number): Image {
  const f = facts(s, caps);
  const d = new Draft();
  // ---- VM-execution controls ----
  d.set('PIN_BASED_VM_EXECUTION_CONTROLS', f.pin);
  d.set('PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS', f.proc);
  d.set('SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS', f.proc2);
  d.set('VM_EXIT_CONTROLS', f.exit);
  d.set('VM_ENTRY_CONTROLS', f.entry);
  if (s.vpid !== 0) d.set('VPID', s.vpid);
  const [ioA, ioB, msrB] = s.bitmaps ? s.bitmaps.map((p) => p * 4096) as [number, number, number] : [LAYOUT.ioBitmapA, LAYOUT.ioBitmapB, LAYOUT.msrBitmap];
  d.setNum('IO_BITMAP_A_ADDRESS', ioA); d.setNum('IO_BITMAP_B_ADDRESS', ioB); d.setNum('MSR_BITMAPS_ADDRESS', msrB);
  d.setNum('EPT_POINTER', eptp | (s.eptAd ? 0x40 : 0));
  d.set('CR3_TARGET_COUNT', s.cr3Targets.length);
  s.cr3Targets.forEach((v, k) => d.set(`CR3_TARGET_VALUE_${k}` as VmcsFieldName, v));
  if (s.misc) {
    const [eb, pfm, pfx, m0, m4, s0, s4, tl, th] = s.misc as [number, number, number, number, number, number, number, number, number];
    d.set('EXCEPTION_BITMAP', eb); d.set('PAGE_FAULT_ERROR_CODE_MASK', pfm); d.set('PAGE_FAULT_ERROR_CODE_MATCH', pfx);
    d.set('CR0_GUEST_HOST_MASK', m0); d.set('CR4_GUEST_HOST_MASK', m4); d.set('CR0_READ_SHADOW', s0); d.set('CR4_READ_SHADOW', s4);
    d.set('TSC_OFFSET', tl, th);
  } else {
    d.set('CR0_GUEST_HOST_MASK', 0x20); d.set('CR4_GUEST_HOST_MASK', 0x2000); d.set('CR0_READ_SHADOW', 0x11);
  }
  if (f.pin & PIN.ACTIVATE_VMX_PREEMPTION_TIMER) d.set('VMX_PREEMPTION_TIMER_VALUE', s.preemptionTimer);
  // ---- VM-exit and VM-entry MSR areas ----
  // VM-exit areas (28.4, 28.6): entry k stores / loads an MSR of LOADABLE_MSRS, reserved bits 0, a value WRMSR
  // accepts - so the exit completes without a VMX abort (28.7).
  if (s.exitMsrStore) { d.set('VM_EXIT_MSR_STORE_COUNT', s.exitMsrStore); d.setNum('VM_EXIT_MSR_STORE_ADDRESS', EXIT_MSR_PAGE); }
  for (let k = 0; k < s.exitMsrStore; k++) { d.word(EXIT_MSR_PAGE + 16 * k, LOADABLE_MSRS[k % LOADABLE_MSRS.length]!.index); d.word(EXIT_MSR_PAGE + 16 * k + 4, 0); }
  if (s.exitMsrLoad) { d.set('VM_EXIT_MSR_LOAD_COUNT', s.exitMsrLoad); d.setNum('VM_EXIT_MSR_LOAD_ADDRESS', EXIT_MSR_PAGE + 0x800); }
  for (let k = 0; k < s.exitMsrLoad; k++) {
    const e = LOADABLE_MSRS[(k + 3) % LOADABLE_MSRS.length]!, a = EXIT_MSR_PAGE + 0x800 + 16 * k;
    const [vl, vh] = e.value((0x1234_5678 * (k + 1)) >>> 0, k);
    d.word(a, e.index); d.word(a + 4, 0); d.word(a + 8, vl); d.word(a + 12, vh);
  }
  if (s.msrLoad.length) {
    d.set('VM_ENTRY_MSR_LOAD_COUNT', s.msrLoad.length);
    d.setNum('VM_ENTRY_MSR_LOAD_ADDRESS', MSR_LOAD_PAGE);
    s.msrLoad.forEach(([m, lo, hi], k) => {
      const e = LOADABLE_MSRS[m % LOADABLE_MSRS.length]!;
      const [vl, vh] = e.value(lo, hi);
      d.word(MSR_LOAD_PAGE + 16 * k, e.index); d.word(MSR_LOAD_PAGE + 16 * k + 4, 0);
      d.word(MSR_LOAD_PAGE + 16 * k + 8, vl); d.word(MSR_LOAD_PAGE + 16 * k + 12, vh);
    });
  }
  // ---- VMCS link pointer ----
  if (s.link) { d.setNum('VMCS_LINK_POINTER', LINK_PAGE); d.word(LINK_PAGE, VMCS_REVISION_ID); } else d.set('VMCS_LINK_POINTER', 0xffff_ffff, 0xffff_ffff);
  buildHost(d, s.host);
  buildGuest(d, s, f);
  return d.image();
}

const HOST_CR4_OK = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x10000 | 0x40000 | 0x100000 | 0x200000;
function buildHost(d: Draft, h: HostChoice | null): void {
  if (!h) {
    d.set('HOST_CR0', 0x8001_0031); d.setNum('HOST_CR3', LAYOUT.eptPml4 + 0x100000); d.set('HOST_CR4', 0x2020);
    d.set('HOST_CS_SELECTOR', 0x08); d.set('HOST_SS_SELECTOR', 0x10); d.set('HOST_DS_SELECTOR', 0x10);
    d.set('HOST_ES_SELECTOR', 0x10); d.set('HOST_FS_SELECTOR', 0); d.set('HOST_GS_SELECTOR', 0); d.set('HOST_TR_SELECTOR', 0x18);
    d.setNum('HOST_RIP', -0x7f00_0000); d.setNum('HOST_RSP', -0x7f00_1000);
    d.set('HOST_IA32_EFER', 0x500); d.set('HOST_IA32_PAT', 0x0007_0406, 0x0007_0406);
    return;
  }
  // CR0: PE, NE, PG (IA32_VMX_CR0_FIXED0) plus any other low bits; CR4: VMXE, PAE plus supported bits.
  d.set('HOST_CR0', (h.cr0 | 0x8000_0021) >>> 0);
  d.setNum('HOST_CR3', h.cr3 * 4096 + (h.cr0 & 0x18));
  d.set('HOST_CR4', ((h.cr4 & HOST_CR4_OK) | 0x2020) >>> 0);
  d.set('HOST_CS_SELECTOR', h.cs << 3); d.set('HOST_SS_SELECTOR', h.ss << 3); d.set('HOST_DS_SELECTOR', h.ds << 3);
  d.set('HOST_ES_SELECTOR', h.es << 3); d.set('HOST_FS_SELECTOR', h.fs << 3); d.set('HOST_GS_SELECTOR', h.gs << 3);
  d.set('HOST_TR_SELECTOR', h.tr << 3);
  d.setNum('HOST_FS_BASE', h.fsBase); d.setNum('HOST_GS_BASE', h.gsBase); d.setNum('HOST_TR_BASE', h.trBase);
  d.setNum('HOST_GDTR_BASE', h.gdtrBase); d.setNum('HOST_IDTR_BASE', h.idtrBase);
  d.setNum('HOST_RIP', h.rip); d.setNum('HOST_RSP', h.rsp);
  d.set('HOST_IA32_SYSENTER_CS', h.sysenterCs); d.setNum('HOST_IA32_SYSENTER_ESP', h.sysenterEsp); d.setNum('HOST_IA32_SYSENTER_EIP', h.sysenterEip);
  d.set('HOST_IA32_EFER', 0x500 | (h.efer & 1) | ((h.efer & 2) << 10));
  d.set('HOST_IA32_PAT', patByte(h.pat[0]), patByte(h.pat[1]));
}

/** Guest CR4 bits that may be set freely (supported, not mode-determined): VME..OSXMMEXCPT but PAE, FSGSBASE, OSXSAVE, SMEP, SMAP. */
const CR4_FREE = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x40 | 0x80 | 0x100 | 0x200 | 0x400 | 0x10000 | 0x40000 | 0x100000 | 0x200000;
/** Guest CR0 bits that may be set freely: MP, EM, TS, ET, WP, AM, NW, CD. */
const CR0_FREE = 0x2 | 0x4 | 0x8 | 0x10 | 0x10000 | 0x40000 | 0x2000_0000 | 0x4000_0000;
/** RFLAGS bits that may be set freely (VM and IF are decided separately; bit 1 is fixed). */
const RFLAGS_FREE = 0x3f_7fd5 & ~0x20000 & ~0x200;

function buildGuest(d: Draft, s: Scenario, f: Facts): void {
  const { mode, ia32e, v86, pe } = f;
  // ---- control registers and MSR fields ----
  const pg = f.paging;
  const pae = mode === 'pae' || ia32e || (mode !== 'paging32' && mode !== 'v86' && !pg && (s.cr4 & 0x20) !== 0);
  const cr0 = ((s.cr0 & CR0_FREE) | 0x20 | (pe ? 1 : 0) | (pg ? 0x8000_0000 : 0)) >>> 0;
  let cr4 = ((s.cr4 & CR4_FREE) | 0x2000 | (pae ? 0x20 : 0)) >>> 0;
  if (f.pcide) cr4 |= 0x20000;
  d.set('GUEST_CR0', cr0);
  d.set('GUEST_CR4', cr4 >>> 0);
  // Without EPT, guest-physical addresses are host-physical: paging structures stay in RAM (the CPU
  // model treats an access beyond host memory as a host-level error, not as a guest event).
  if (mode === 'pae' && !f.ept) {
    const pdpt = 0x3000 + 32 * (s.cr3 & 0x7f);
    d.set('GUEST_CR3', pdpt);
    s.pdptes.forEach(([p, page, flags], k) => {
      const [l, h] = pdpte(p, page % 512, flags);
      d.word(pdpt + 8 * k, l); d.word(pdpt + 8 * k + 4, h);
    });
  } else {
    d.setNum('GUEST_CR3', (f.ept ? s.cr3 : s.cr3 % 512) * 4096 + (s.cr0 & 0x18));
  }
  if (mode === 'pae' && f.ept) {
    s.pdptes.forEach(([p, page, flags], k) => { const [l, h] = pdpte(p, page, flags); d.set(`GUEST_PDPTE${k}` as VmcsFieldName, l, h); });
  }
  d.set('GUEST_DR7', (s.dr7 | 0x400) & ~0xd000);
  d.set('GUEST_IA32_DEBUGCTL', s.debugctl & 3);
  d.set('GUEST_IA32_SYSENTER_CS', s.sysenter[0]);
  d.setNum('GUEST_IA32_SYSENTER_ESP', s.sysenter[1]);
  d.setNum('GUEST_IA32_SYSENTER_EIP', s.sysenter[2]);
  if (s.pat) d.set('GUEST_IA32_PAT', patByte(s.pat[0]), patByte(s.pat[1])); else d.set('GUEST_IA32_PAT', 0x0007_0406, 0x0007_0406);
  // EFER: LMA = "IA-32e mode guest"; LME = LMA when paging, free otherwise; SCE, NXE free.
  const lme = ia32e || (!pg && (s.efer & 4) !== 0);
  d.set('GUEST_IA32_EFER', (s.efer & 1) | ((s.efer & 2) << 10) | (lme ? 0x100 : 0) | (ia32e ? 0x400 : 0));
  // ---- segments ----
  if (v86) buildV86Segments(d, s); else buildSegments(d, s, f);
  buildSystemSegments(d, s, ia32e);
  d.setNum('GUEST_GDTR_BASE', s.gdtr[0]); d.set('GUEST_GDTR_LIMIT', s.gdtr[1] === 0 ? 0xffff : s.gdtr[1]);
  d.setNum('GUEST_IDTR_BASE', s.idtr[0]); d.set('GUEST_IDTR_LIMIT', s.idtr[1] === 0 ? 0xffff : s.idtr[1]);
  // ---- RIP, RSP, RFLAGS ----
  const longMode = ia32e && mode === 'long64';
  const rip = s.rip === 0 ? 0x100000 : longMode ? s.rip : s.rip >>> 0;
  d.setNum('GUEST_RIP', rip);
  d.setNum('GUEST_RSP', longMode ? s.rsp : s.rsp >>> 0);
  // ---- events, activity, interruptibility ----
  const ev = eventInfo(s.event, f, cr0);
  let blocking = s.blocking;
  const injectsExtint = ev.type === 0 && ev.valid, injectsNmi = ev.type === 2 && ev.valid;
  if (injectsExtint || injectsNmi) blocking = 0;
  const ifFlag = s.ifFlag || injectsExtint || blocking === 1;
  const rflags = ((s.rflags & RFLAGS_FREE) | 2 | (ifFlag ? 0x200 : 0) | (v86 ? 0x20000 : 0)) >>> 0;
  d.set('GUEST_RFLAGS', rflags);
  const hltOk = s.hlt && blocking === 0 && dplOfSs(d) === 0 &&
    (!ev.valid || ev.type === 0 || ev.type === 2 || ev.type === 7 || (ev.type === 3 && (ev.vector === 1 || ev.vector === 18)));
  d.set('GUEST_ACTIVITY_STATE', hltOk ? 1 : 0);
  const nmiBlock = s.nmiBlocking && !(injectsNmi && (f.pin & PIN.VIRTUAL_NMIS)) ? 8 : 0;
  d.set('GUEST_INTERRUPTIBILITY_STATE', (blocking === 1 ? 1 : blocking === 2 ? 2 : 0) | nmiBlock);
  // Pending debug exceptions: B3-B0 and bit 12 free; BS as 27.3.1.5 requires when blocking or HLT, else free.
  const bsRequired = (rflags & 0x100) !== 0 && (s.debugctl & 2) === 0;
  const bsChecked = blocking !== 0 || hltOk;
  const bs = bsChecked ? bsRequired : (s.pendingDebug & 0x10) !== 0;
  d.set('GUEST_PENDING_DEBUG_EXCEPTIONS', (s.pendingDebug & 0xf) | ((s.pendingDebug & 0x10) ? 0x1000 : 0) | (bs ? 0x4000 : 0));
  if (ev.valid) {
    d.set('VM_ENTRY_INTERRUPTION_INFORMATION', ev.info);
    if (ev.info & 0x800) d.set('VM_ENTRY_EXCEPTION_ERROR_CODE', s.event.errorCode & 0xffff);
    if (ev.type >= 4) d.set('VM_ENTRY_INSTRUCTION_LENGTH', s.event.length);
  }
}

function dplOfSs(d: Draft): number { return (d.lo('GUEST_SS_ACCESS_RIGHTS') >>> 5) & 3; }

/** A PAE PDPTE with no reserved bit set (Vol. 3A Table 4-8): present with address and PWT/PCD/ignored bits, or not present. */
function pdpte(present: boolean, page: number, flags: number): Halves {
  if (!present) return [(page * 2 + (flags << 28)) & ~1, page >>> 5];
  const addr = (page % 2 ** 27) * 4096;
  return [((addr >>> 0) | 1 | (flags & 0x18) | ((flags & 7) << 9)) >>> 0, Math.floor(addr / 2 ** 32) >>> 0];
}

const ERRCODE = new Set([8, 10, 11, 12, 13, 14, 17]);
interface Ev { valid: boolean; type: number; vector: number; info: number }
function eventInfo(e: EventChoice, f: Facts, cr0: number): Ev {
  if (e.kind === 0) return { valid: false, type: 0, vector: 0, info: 0 };
  // Injection of a pending MTF VM exit (27.6.2): type 7, vector 0, no error code (27.2.1.3).
  if (e.kind === 7) return { valid: true, type: 7, vector: 0, info: 0x8000_0700 };
  const type = e.kind === 1 ? 0 : e.kind === 2 ? 2 : e.kind === 3 ? 3 : e.kind === 4 ? 4 : e.kind === 5 ? 5 : 6;
  const vector = type === 2 ? 2 : type === 3 ? e.vector & 31 : e.vector;
  const pmode = !f.unrestricted || (cr0 & 1) === 1;
  const err = type === 3 && pmode && ERRCODE.has(vector);
  return { valid: true, type, vector, info: (0x8000_0000 | vector | (type << 8) | (err ? 0x800 : 0)) >>> 0 };
}

// Segment types (access-rights bits 3:0) allowed by 27.3.1.2; index 0 is the base type.
const CS_TYPES = [11, 9, 13, 15];
const SS_TYPES = [3, 7];
const DATA_TYPES = [3, 1, 5, 7, 11, 15];

function segSelector(c: SegChoice, n: SegName, rpl: number, tiFree: boolean): number {
  const index = c.index === 0 ? BASE_INDEX[n] : c.index;
  return ((index << 3) | (tiFree && c.ti ? 4 : 0) | (rpl & 3)) & 0xffff;
}

function buildSegments(d: Draft, s: Scenario, f: Facts): void {
  const { mode, unrestricted, cpl } = f;
  const real = mode === 'real';
  // CS: type 3 (unrestricted only; then DPL 0 = SS.DPL = CPL 0), non-conforming (DPL = CPL) or conforming (DPL <= CPL).
  let csType = pick(CS_TYPES, s.cs.type);
  if (unrestricted && cpl === 0 && s.cs.type === 7) csType = 3;
  const conforming = csType >= 12;
  const csDpl = csType === 3 ? 0 : conforming ? Math.min(s.cs.priv & 3, cpl) : cpl;
  const csRpl = unrestricted ? (real ? s.cs.priv >>> 2 : cpl) : cpl;
  let l = 0, db = 0;
  if (mode === 'long64') { l = 0x2000; db = 0; }
  else if (mode === 'compat') db = s.cs.db ? 0x4000 : 0;
  else if (mode === 'prot16' || real) db = 0;
  else if (mode === 'prot32') db = 0x4000;
  else db = s.cs.db ? 0 : 0x4000;
  const [csLimit, csG] = real && s.cs.gran === 0 ? [0xffff, 0] : limitG(s.cs);
  const csAr = csType | 0x10 | (csDpl << 5) | 0x80 | (s.cs.avl ? 0x1000 : 0) | l | db | csG;
  const csSel = segSelector(s.cs, 'CS', csRpl, true);
  const csBase = real && s.cs.base === 0 ? (csSel << 4) : s.cs.base >>> 0;
  putSeg(d, 'CS', csSel, csBase, csLimit, csAr);
  // SS: DPL = CPL (= RPL without unrestricted; 0 with CS type 3 or CR0.PE = 0); usable with type 3/7, or unusable.
  const ssDpl = cpl;
  const ssRpl = unrestricted ? (s.ss.priv >>> 2) & 3 : cpl;
  const ssSel = segSelector(s.ss, 'SS', ssRpl, true);
  if (s.ss.flip) {
    putSeg(d, 'SS', ssSel, s.ss.base >>> 0, s.ss.limit, 0x10000 | (ssDpl << 5) | (s.ss.priv & 0xf) << 8);
  } else {
    const [lim, g] = real && s.ss.gran === 0 ? [0xffff, 0] : limitG(s.ss);
    const ar = pick(SS_TYPES, s.ss.type) | 0x10 | (ssDpl << 5) | 0x80 | (s.ss.avl ? 0x1000 : 0) | (s.ss.db ? 0 : 0x4000) | g;
    putSeg(d, 'SS', ssSel, real && s.ss.base === 0 ? ssSel << 4 : s.ss.base >>> 0, lim, ar);
  }
  // DS, ES, FS, GS: unusable, or usable with an allowed type; DPL >= RPL for data and non-conforming code (unless unrestricted).
  for (const n of ['DS', 'ES', 'FS', 'GS'] as const) {
    const c = s[n.toLowerCase() as 'ds'];
    const wide = n === 'FS' || n === 'GS';
    const rpl = (c.priv >>> 2) & 3;
    const sel = segSelector(c, n, rpl, true);
    const base = wide ? c.base : c.base >>> 0;
    if (c.flip) { putSeg(d, n, sel, base, c.limit, 0x10000 | ((c.priv & 3) << 5) | (c.type << 17 >>> 0)); continue; }
    const t = pick(DATA_TYPES, c.type);
    const dpl = unrestricted || t > 11 ? c.priv & 3 : Math.max(rpl, c.priv & 3);
    const [lim, g] = real && c.gran === 0 ? [0xffff, 0] : limitG(c);
    const ar = t | 0x10 | (dpl << 5) | 0x80 | (c.avl ? 0x1000 : 0) | (c.db ? 0 : 0x4000) | g;
    putSeg(d, n, sel, real && c.base === 0 && !wide ? sel << 4 : base, lim, ar);
  }
}

function buildV86Segments(d: Draft, s: Scenario): void {
  for (const n of ['CS', 'SS', 'DS', 'ES', 'FS', 'GS'] as const) {
    const c = s[n.toLowerCase() as 'cs'];
    const sel = c.index === 0 ? (BASE_INDEX[n] << 3) | 3 : ((c.index << 3) | (c.priv & 7)) & 0xffff;
    putSeg(d, n, sel, sel << 4, 0xffff, 0xf3);
  }
}

function buildSystemSegments(d: Draft, s: Scenario, ia32e: boolean): void {
  // TR: busy TSS (11, or 3 outside IA-32e mode), S = 0, present, usable, canonical base.
  const t = s.tr.type % 2 === 1 && !ia32e ? 3 : 11;
  const [trLim, trG] = s.tr.gran === 0 ? [0x67, 0] : limitG(s.tr);
  putSeg(d, 'TR', segSelector(s.tr, 'TR', s.tr.priv, false), s.tr.base, trLim, t | 0x80 | (s.tr.avl ? 0x1000 : 0) | trG);
  // LDTR: unusable (base), or usable LDT (type 2, S = 0, present, TI = 0, canonical base).
  if (!s.ldtr.flip) {
    putSeg(d, 'LDTR', s.ldtr.index << 3 | (s.ldtr.priv & 7), s.ldtr.base, s.ldtr.limit, 0x10000 | (s.ldtr.type & 0xf));
  } else {
    const [lim, g] = limitG(s.ldtr);
    putSeg(d, 'LDTR', segSelector(s.ldtr, 'LDTR', s.ldtr.priv, false), s.ldtr.base, lim, 2 | 0x80 | (s.ldtr.avl ? 0x1000 : 0) | g);
  }
}

