// VM-entry checks (core/vmx/entry-checks.ts) and how VMLAUNCH reports them.
// Every expected outcome is derived by hand from the Intel SDM Vol. 3C,
// chapter "VM Entries" (27 in current editions, 26 before 2022): 27.2
// "Checks on VMX Controls and Host-State Area" (VMfailValid 7 / 8), 27.3.1
// "Checks on the Guest State Area" and 27.8 "VM-Entry Failures During or
// After Loading Guest State" (exit reason 33 | bit 31, qualifications 0, 2,
// 3, 4; nothing else in the VMCS changes), 27.4 "Loading MSRs" (exit 34,
// qualification = entry number). The derivation is next to each case.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VMCS, VMCS_FIELDS, type VmcsFieldName } from '../../../core/vmx/fields.js';
import { ENTRY_RULES, checkContext, checkEntry, entryRule } from '../../../core/vmx/entry-checks.js';
import { PIN_BASED, PROC_BASED, PROC_BASED2 } from '../../../core/vmx/capabilities.js';
import { World, LINK_PAGE, MSR_LOAD_PAGE, LAYOUT, type Outcome } from '../../../properties/vmcs/world.js';
import { buildImage, baseScenario, type Scenario } from '../../../properties/vmcs/scenario.js';
import { WIDE_CAPS, DEFAULT_CAPS } from '../../../properties/vmcs/caps.js';
import { NO_EPT_AD_CAPS } from '../../../properties/vmcs/violations.js';
import { machine, guest32 } from '../../helpers/machine.js';

const EXIT_33 = 0x8000_0021, EXIT_34 = 0x8000_0022;

/** A world with the base state (the PVH state of core/hv/setup.ts) current and clear. */
function base(caps = DEFAULT_CAPS, s: Partial<Scenario> = {}): World {
  const w = new World(caps);
  w.load(buildImage({ ...baseScenario(), ...s }, caps, w.eptp), { clearRam: true });
  return w;
}
function set(w: World, f: VmcsFieldName, lo: number, hi = 0): void { w.vmcs.set(VMCS[f], lo >>> 0, hi >>> 0); }
function or(w: World, f: VmcsFieldName, bits: number): void { const v = w.vmcs; v.set(VMCS[f], (v.getLo(VMCS[f]) | bits) >>> 0, v.getHi(VMCS[f])); }
function clr(w: World, f: VmcsFieldName, bits: number): void { const v = w.vmcs; v.set(VMCS[f], (v.getLo(VMCS[f]) & ~bits) >>> 0, v.getHi(VMCS[f])); }
function fails(o: Outcome, kind: 'failValid', error: number, rule: string): void;
function fails(o: Outcome, kind: 'entry-failure', reason: number, rule: string, qual: number): void;
function fails(o: Outcome, kind: string, n: number, rule: string, qual = 0): void {
  if (kind === 'failValid') assert.equal(o, { kind: 'failValid', error: n, rule });
  else assert.equal(o, { kind: 'entry-failure', reason: n, qual, rule });
}
function snapshot(w: World): { lo: number[]; hi: number[] } { return { lo: [...w.vmcs.lo], hi: [...w.vmcs.hi] }; }
function changedFields(w: World, before: { lo: number[]; hi: number[] }): string[] {
  const v = w.vmcs;
  return VMCS_FIELDS.filter((f) => v.lo[f.index] !== before.lo[f.index] || v.hi[f.index] !== before.hi[f.index]).map((f) => f.name);
}

// ---------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------

const SECTION_ORDER = ['27.2.1.1', '27.2.1.2', '27.2.1.3', '27.2.2', '27.2.3', '27.2.4', '27.3.1.1', '27.3.1.2', '27.3.1.3', '27.3.1.4', '27.3.1.5', '27.3.1.6', '27.4'];

test('rule ids are unique, name their kind, and every section cites the current (27.x) and older (26.x) number', () => {
  const ids = new Set<string>();
  for (const r of ENTRY_RULES) {
    assert.not.ok(ids.has(r.id), `duplicate ${r.id}`);
    ids.add(r.id);
    assert.match(r.id, /^(ctl|host|guest|msr)\.[a-z0-9-]+(\.[a-z0-9-]+)*$/);
    const prefix = { control: 'ctl.', host: 'host.', guest: 'guest.', msr: 'msr.' }[r.kind];
    assert.ok(r.id.startsWith(prefix), `${r.id} is of kind ${r.kind}`);
    const m = /SDM Vol\. 3C (27\.[\d.]+); (26\.[\d.]+) in editions before 2022/.exec(r.section);
    assert.ok(m, `${r.id}: section '${r.section}'`);
    assert.is(m![2]!.slice(3), m![1]!.slice(3), `${r.id}: same section number in both editions`);
    assert.ok(r.text.length > 10, `${r.id} has a statement`);
  }
});

test('rules follow the SDM order of sections (27.2.1.1 ... 27.4), controls before host before guest before MSRs', () => {
  let last = 0;
  for (const r of ENTRY_RULES) {
    const n = /Vol\. 3C (27\.[\d.]+);/.exec(r.section)![1]!;
    const k = SECTION_ORDER.indexOf(n);
    assert.ok(k >= 0, `unknown section ${n}`);
    assert.ok(k >= last, `${r.id} (${n}) comes after a rule of ${SECTION_ORDER[last]}`);
    last = k;
  }
});

test('the table covers every section and more checks than Bochs (about 190)', () => {
  const per = new Map<string, number>();
  for (const r of ENTRY_RULES) { const n = /Vol\. 3C (27\.[\d.]+);/.exec(r.section)![1]!; per.set(n, (per.get(n) ?? 0) + 1); }
  for (const s of SECTION_ORDER) assert.ok((per.get(s) ?? 0) > 0, `no rule for ${s}`);
  assert.ok(ENTRY_RULES.length > 190, `${ENTRY_RULES.length} rules`);
  // Qualifications (27.8): 2 for PDPTEs, 3 for the NMI/STI check, 4 for the VMCS link pointer, none else.
  for (const r of ENTRY_RULES) {
    const want = r.id.startsWith('guest.vmcs-link.') ? 4 : /^guest\.pdpte\d/.test(r.id) ? 2 : r.id === 'guest.interruptibility.nmi-sti' ? 3 : undefined;
    assert.is(r.qual, want, r.id);
  }
});

// ---------------------------------------------------------------------------
// The base state
// ---------------------------------------------------------------------------

test('the PVH state written by core/hv/setup.ts passes every rule', () => {
  const m = machine();
  guest32(m, [0xf4]);
  const out = checkEntry(checkContext(m.vmx.currentVmcs!, m.caps, m.mem));
  assert.equal(out, { kind: 'ok' });
});

test('the base state enters: VMLAUNCH exits through the host kick (external interrupt, reason 1) and marks the VMCS launched', () => {
  const w = base();
  assert.equal(w.enter(true), { kind: 'exit', reason: 1, qual: 0 });
  assert.is(w.vmcs.launchState, 'launched');
});

// ---------------------------------------------------------------------------
// VMfailValid 7 / 8 and the order of the checks
// ---------------------------------------------------------------------------

test('a pin-based control IA32_VMX_TRUE_PINBASED_CTLS does not allow (bit 7): VMfailValid(7); only the VM-instruction error field changes', () => {
  const w = base();
  or(w, 'PIN_BASED_VM_EXECUTION_CONTROLS', PIN_BASED.PROCESS_POSTED_INTERRUPTS);
  const before = snapshot(w);
  fails(w.enter(true), 'failValid', 7, 'ctl.pin.reserved');
  assert.equal(changedFields(w, before), ['VM_INSTRUCTION_ERROR']);
  assert.is(w.vmcs.get32(VMCS.VM_INSTRUCTION_ERROR), 7);
  assert.is(w.vmcs.launchState, 'clear');
});

test('controls are checked before the host state, the host state before the guest state (27.2 before 27.3)', () => {
  const w = base();
  clr(w, 'GUEST_RFLAGS', 2);                                  // 27.3.1.4: RFLAGS bit 1 must be 1
  clr(w, 'HOST_CR0', 1);                                      // 27.2.2: IA32_VMX_CR0_FIXED0 requires PE
  or(w, 'PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS', PROC_BASED.USE_TPR_SHADOW); // 27.2.1.1: not allowed-1
  fails(w.enter(true), 'failValid', 7, 'ctl.proc.reserved');
  clr(w, 'PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS', PROC_BASED.USE_TPR_SHADOW);
  fails(w.enter(true), 'failValid', 8, 'host.cr0.fixed0');
  or(w, 'HOST_CR0', 1);
  fails(w.enter(true), 'entry-failure', EXIT_33, 'guest.rflags.bit1', 0);
});

test('within a section the first failing rule in SDM order is reported', () => {
  const w = base();
  // 27.3.1.1 lists CR0 before CR4, and CR4 before the CR3 width.
  set(w, 'GUEST_CR3', 0, 0x100);          // bit 40: beyond the 39-bit physical-address width
  clr(w, 'GUEST_CR4', 0x2000);            // VMXE: IA32_VMX_CR4_FIXED0
  set(w, 'GUEST_CR0', w.vmcs.getLo(VMCS.GUEST_CR0), 1); // bit 32: IA32_VMX_CR0_FIXED1 bits 63:32 are 0
  fails(w.enter(true), 'entry-failure', EXIT_33, 'guest.cr0.fixed1', 0);
  set(w, 'GUEST_CR0', w.vmcs.getLo(VMCS.GUEST_CR0), 0);
  fails(w.enter(true), 'entry-failure', EXIT_33, 'guest.cr4.fixed0', 0);
  or(w, 'GUEST_CR4', 0x2000);
  fails(w.enter(true), 'entry-failure', EXIT_33, 'guest.cr3.width', 0);
});

test('host CR0 with bits 63:32 set: VMfailValid(8) (IA32_VMX_CR0_FIXED1 bits 63:32 are 0)', () => {
  const w = base();
  set(w, 'HOST_CR0', 0x8001_0031, 0xffff_ffff);
  fails(w.enter(true), 'failValid', 8, 'host.cr0.fixed1');
});

// ---------------------------------------------------------------------------
// Guest-state failures: exit 33
// ---------------------------------------------------------------------------

test('a guest-state failure changes only the exit reason and qualification; the VM-entry event stays valid; the VMCS stays clear (27.8)', () => {
  const w = base();
  // Non-conforming CS (type 11) with DPL 1 while SS.DPL is 0: 27.3.1.2 "DPL must equal SS.DPL".
  or(w, 'GUEST_CS_ACCESS_RIGHTS', 1 << 5);
  set(w, 'VM_ENTRY_INTERRUPTION_INFORMATION', 0x8000_0030);  // external interrupt 30H (RFLAGS.IF set below)
  or(w, 'GUEST_RFLAGS', 0x200);
  set(w, 'VM_EXIT_INSTRUCTION_LENGTH', 7);                  // stale exit information must survive
  set(w, 'EXIT_QUALIFICATION', 0x55);                       // ... except the qualification, which becomes 0
  const before = snapshot(w);
  fails(w.enter(true), 'entry-failure', EXIT_33, 'guest.cs.dpl-nonconforming', 0);
  assert.equal(changedFields(w, before).sort(), ['EXIT_QUALIFICATION', 'EXIT_REASON']);
  assert.is(w.vmcs.get32(VMCS.VM_ENTRY_INTERRUPTION_INFORMATION), 0x8000_0030);
  assert.is(w.vmcs.launchState, 'clear');
  // 31.3 VMRESUME: the VMCS is still clear, so VMRESUME fails with error 5 before any check.
  assert.equal(w.enter(false), { kind: 'failValid', error: 5, rule: '' });
});

test('conforming CS (type 15) with DPL above SS.DPL fails; with DPL below it enters', () => {
  const w = base();
  // CPL 1: SS.DPL 1, SS.RPL = CS.RPL = 1 is not needed under "unrestricted guest" (27.3.1.2 selector check).
  set(w, 'GUEST_SS_ACCESS_RIGHTS', 0xc093 | (1 << 5));
  set(w, 'GUEST_CS_ACCESS_RIGHTS', 0xc09f | (2 << 5));
  fails(w.enter(true), 'entry-failure', EXIT_33, 'guest.cs.dpl-conforming', 0);
  set(w, 'GUEST_CS_ACCESS_RIGHTS', 0xc09f);
  assert.is(w.enter(true).kind, 'exit');
});

test('virtual-8086 mode: each of CS..GS needs base = selector << 4, limit FFFFH and access rights F3H', () => {
  const w = base();
  or(w, 'GUEST_RFLAGS', 0x20000);
  fails(w.enter(true), 'entry-failure', EXIT_33, 'guest.cs.base-v86', 0);
  for (const n of ['CS', 'SS', 'DS', 'ES', 'FS', 'GS'] as const) set(w, `GUEST_${n}_BASE`, (w.vmcs.get32(VMCS[`GUEST_${n}_SELECTOR`]) & 0xffff) << 4);
  fails(w.enter(true), 'entry-failure', EXIT_33, 'guest.cs.limit-v86', 0);
  for (const n of ['CS', 'SS', 'DS', 'ES', 'FS', 'GS'] as const) set(w, `GUEST_${n}_LIMIT`, 0xffff);
  fails(w.enter(true), 'entry-failure', EXIT_33, 'guest.cs.ar-v86', 0);
  for (const n of ['CS', 'SS', 'DS', 'ES', 'FS', 'GS'] as const) set(w, `GUEST_${n}_ACCESS_RIGHTS`, 0xf3);
  assert.is(w.enter(true).kind, 'exit');
});

test('VMCS link pointer: FFFFFFFF_FFFFFFFFH or another VMCS with the revision identifier enter; the current VMCS, a bad revision or a shadow VMCS give qualification 4', () => {
  let w = base();
  set(w, 'VMCS_LINK_POINTER', LINK_PAGE);
  w.mem.write32(LINK_PAGE, w.caps.vmcsRevisionId);
  assert.is(w.enter(true).kind, 'exit');
  w = base();
  set(w, 'VMCS_LINK_POINTER', LAYOUT.vmcs);
  fails(w.enter(true), 'entry-failure', EXIT_33, 'guest.vmcs-link.not-current', 4);
  set(w, 'VMCS_LINK_POINTER', LINK_PAGE);
  w.mem.write32(LINK_PAGE, w.caps.vmcsRevisionId + 1);
  fails(w.enter(true), 'entry-failure', EXIT_33, 'guest.vmcs-link.revision', 4);
  w.mem.write32(LINK_PAGE, (w.caps.vmcsRevisionId | 0x8000_0000) >>> 0); // shadow indicator without "VMCS shadowing"
  fails(w.enter(true), 'entry-failure', EXIT_33, 'guest.vmcs-link.shadow-indicator', 4);
  set(w, 'VMCS_LINK_POINTER', LINK_PAGE + 8);
  fails(w.enter(true), 'entry-failure', EXIT_33, 'guest.vmcs-link.align', 4);
});

test('PAE paging: a present PDPTE with reserved bit 1 gives qualification 2 (from the VMCS with EPT, from CR3 without)', () => {
  // With EPT the PDPTE fields are checked (27.3.1.6).
  let w = base(DEFAULT_CAPS, { mode: 'pae' });
  set(w, 'GUEST_PDPTE2', 0x3);
  fails(w.enter(true), 'entry-failure', EXIT_33, 'guest.pdpte2.reserved', 2);
  set(w, 'GUEST_PDPTE2', 0x2);  // not present: its other bits are not checked
  assert.is(w.enter(true).kind, 'exit');
  // Without EPT the PDPTEs come from the table at CR3 bits 31:5 (Vol. 3A 4.4.1).
  w = base(DEFAULT_CAPS, { mode: 'pae', restricted: true, noEpt: true });
  const cr3 = w.vmcs.getLo(VMCS.GUEST_CR3);
  w.mem.write32(cr3 + 8, 0x1 | 0x100);  // PDPTE1: present, bit 8 reserved
  fails(w.enter(true), 'entry-failure', EXIT_33, 'guest.pdpte1.reserved', 2);
});

test('NMI injection: blocking by MOV SS fails architecturally (qualification 0); blocking by STI fails the optional check (qualification 3)', () => {
  const w = base();
  set(w, 'VM_ENTRY_INTERRUPTION_INFORMATION', 0x8000_0202);
  set(w, 'GUEST_INTERRUPTIBILITY_STATE', 2);
  fails(w.enter(true), 'entry-failure', EXIT_33, 'guest.interruptibility.nmi-movss', 0);
  set(w, 'GUEST_INTERRUPTIBILITY_STATE', 1);
  or(w, 'GUEST_RFLAGS', 0x200);
  fails(w.enter(true), 'entry-failure', EXIT_33, 'guest.interruptibility.nmi-sti', 3);
  set(w, 'GUEST_INTERRUPTIBILITY_STATE', 0);
  assert.is(w.enter(true).kind, 'exit');
});

test('64-bit guest RIP: bits 63:48 must be identical (48 linear-address bits), bit 47 is not checked (27.3.1.4)', () => {
  const w = base(DEFAULT_CAPS, { mode: 'long64' });
  set(w, 'GUEST_RIP', 0, 0x8000);           // 0000_8000_0000_0000H: not canonical, but bits 63:48 are all 0
  assert.is(w.enter(true).kind, 'exit');
  const x = base(DEFAULT_CAPS, { mode: 'long64' });
  set(x, 'GUEST_RIP', 0, 0x1_0000);         // bit 48 set, bits 63:49 clear
  fails(x.enter(true), 'entry-failure', EXIT_33, 'guest.rip.linear-width', 0);
  const y = base(DEFAULT_CAPS, { mode: 'compat' }); // CS.L = 0: bits 63:32 must be 0
  set(y, 'GUEST_RIP', 0x1000, 1);
  fails(y.enter(true), 'entry-failure', EXIT_33, 'guest.rip.high', 0);
});

// ---------------------------------------------------------------------------
// Event injection fields (27.2.1.3)
// ---------------------------------------------------------------------------

test('injected error code: bits 31:16 must be 0 (current editions), bit 15 may be set', () => {
  const w = base();
  set(w, 'VM_ENTRY_INTERRUPTION_INFORMATION', 0x8000_0b0d);  // #GP, hardware exception, deliver error code
  set(w, 'VM_ENTRY_EXCEPTION_ERROR_CODE', 0x8000);
  assert.is(w.enter(true).kind, 'exit');
  const v = base();
  set(v, 'VM_ENTRY_INTERRUPTION_INFORMATION', 0x8000_0b0d);
  set(v, 'VM_ENTRY_EXCEPTION_ERROR_CODE', 0x1_0000);
  fails(v.enter(true), 'failValid', 7, 'ctl.entry.event.error-code-reserved');
});

test('deliver-error-code: required for #GP in protected mode, forbidden for #GP in real mode under "unrestricted guest" and for #UD', () => {
  let w = base();
  set(w, 'VM_ENTRY_INTERRUPTION_INFORMATION', 0x8000_030d);  // #GP without error code
  fails(w.enter(true), 'failValid', 7, 'ctl.entry.event.error-code-required');
  set(w, 'VM_ENTRY_INTERRUPTION_INFORMATION', 0x8000_0b06);  // #UD with error code
  fails(w.enter(true), 'failValid', 7, 'ctl.entry.event.error-code-forbidden');
  w = base(DEFAULT_CAPS, { mode: 'real' });
  set(w, 'VM_ENTRY_INTERRUPTION_INFORMATION', 0x8000_0b0d);  // #GP with error code, CR0.PE = 0
  fails(w.enter(true), 'failValid', 7, 'ctl.entry.event.error-code-forbidden');
});

test('software interrupt with instruction length 0: VMfailValid(7) unless IA32_VMX_MISC[30] is 1', () => {
  const w = base();
  set(w, 'VM_ENTRY_INTERRUPTION_INFORMATION', 0x8000_0480);  // INT 80H
  set(w, 'VM_ENTRY_INSTRUCTION_LENGTH', 0);
  fails(w.enter(true), 'failValid', 7, 'ctl.entry.event.instruction-length');
  const x = base(WIDE_CAPS);
  set(x, 'VM_ENTRY_INTERRUPTION_INFORMATION', 0x8000_0480);
  set(x, 'VM_ENTRY_INSTRUCTION_LENGTH', 0);
  assert.is(x.enter(true).kind, 'exit');
});

// ---------------------------------------------------------------------------
// Capability-dependent rules
// ---------------------------------------------------------------------------

test('EPTP bit 6 (A/D flags) enters on this processor (IA32_VMX_EPT_VPID_CAP[21] = 1) and fails without that capability', () => {
  const w = base();
  or(w, 'EPT_POINTER', 0x40);
  assert.is(w.enter(true).kind, 'exit');
  const x = base(NO_EPT_AD_CAPS);
  or(x, 'EPT_POINTER', 0x40);
  fails(x.enter(true), 'failValid', 7, 'ctl.eptp.accessed-dirty');
});

test('a control the processor does not offer fails its reserved-bit rule first; offered, its own checks apply', () => {
  const w = base();
  or(w, 'PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS', PROC_BASED.USE_TPR_SHADOW);
  set(w, 'VIRTUAL_APIC_ADDRESS', 0x5008);
  fails(w.enter(true), 'failValid', 7, 'ctl.proc.reserved');
  const x = base(WIDE_CAPS);
  or(x, 'PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS', PROC_BASED.USE_TPR_SHADOW);
  set(x, 'VIRTUAL_APIC_ADDRESS', 0x5008);
  fails(x.enter(true), 'failValid', 7, 'ctl.virtual-apic.align');
  // TPR threshold 5 above VTPR bits 7:4 = 3 (byte 80H of the virtual-APIC page).
  set(x, 'VIRTUAL_APIC_ADDRESS', 0x5000);
  set(x, 'TPR_THRESHOLD', 5);
  x.mem.write32(0x5080, 0x30);
  fails(x.enter(true), 'failValid', 7, 'ctl.tpr-threshold.vtpr');
  x.mem.write32(0x5080, 0x50);
  assert.is(x.enter(true).kind, 'exit');
});

test('unrestricted guest needs EPT; without it CR0.PE/PG are fixed again', () => {
  const w = base();
  clr(w, 'SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS', PROC_BASED2.ENABLE_EPT);
  fails(w.enter(true), 'failValid', 7, 'ctl.unrestricted-guest-requires-ept');
  clr(w, 'SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS', PROC_BASED2.UNRESTRICTED_GUEST);
  fails(w.enter(true), 'entry-failure', EXIT_33, 'guest.cr0.fixed0', 0); // the PVH state has CR0.PG = 0
});

// ---------------------------------------------------------------------------
// VM-entry MSR-load area (27.4)
// ---------------------------------------------------------------------------

function msrEntry(w: World, k: number, index: number, lo: number, hi = 0, reserved = 0): void {
  const a = MSR_LOAD_PAGE + 16 * k;
  w.mem.write32(a, index); w.mem.write32(a + 4, reserved); w.mem.write32(a + 8, lo); w.mem.write32(a + 12, hi);
}

test('MSR-load entries are loaded in order as by WRMSR; they are visible in the guest after entry', () => {
  const w = base();
  set(w, 'VM_ENTRY_MSR_LOAD_ADDRESS', MSR_LOAD_PAGE);
  set(w, 'VM_ENTRY_MSR_LOAD_COUNT', 2);
  msrEntry(w, 0, 0x174, 0x10);                 // IA32_SYSENTER_CS
  msrEntry(w, 1, 0xc000_0081, 0x1234, 0x0023_0010); // IA32_STAR
  assert.is(w.enter(true).kind, 'exit');
  assert.is(w.cpu.sysenterCs, 0x10);
  assert.is(w.cpu.star >>> 0, 0x1234);
  assert.is(w.cpu.starHi >>> 0, 0x0023_0010);
});

test('a failing MSR-load entry gives exit 34 with its number: FS base, x2APIC MSR, reserved bits 63:32, WRMSR #GP', () => {
  const cases: [string, (w: World) => void][] = [
    ['msr.fs-gs-base', (w) => msrEntry(w, 1, 0xc000_0100, 0)],
    ['msr.x2apic', (w) => msrEntry(w, 1, 0x808, 0)],
    ['msr.reserved', (w) => msrEntry(w, 1, 0x174, 0, 0, 1)],
    ['msr.wrmsr', (w) => msrEntry(w, 1, 0xc000_0080, 0x2)], // IA32_EFER bit 1 is reserved: WRMSR #GP(0)
  ];
  for (const [rule, bad] of cases) {
    const w = base();
    set(w, 'VM_ENTRY_MSR_LOAD_ADDRESS', MSR_LOAD_PAGE);
    set(w, 'VM_ENTRY_MSR_LOAD_COUNT', 3);
    msrEntry(w, 0, 0x174, 0x10);
    bad(w);
    msrEntry(w, 2, 0x174, 0x20);
    set(w, 'EXIT_QUALIFICATION', 0x55);
    const before = snapshot(w);
    fails(w.enter(true), 'entry-failure', EXIT_34, rule, 2);
    assert.equal(changedFields(w, before).sort(), ['EXIT_QUALIFICATION', 'EXIT_REASON'], rule);
    assert.is(w.vmcs.launchState, 'clear', rule);
  }
});

test('a misaligned VM-entry MSR-load area is a control failure (27.2.1.3), before any entry is read', () => {
  const w = base();
  set(w, 'VM_ENTRY_MSR_LOAD_ADDRESS', MSR_LOAD_PAGE + 8);
  set(w, 'VM_ENTRY_MSR_LOAD_COUNT', 1);
  fails(w.enter(true), 'failValid', 7, 'ctl.entry.msr-load.align');
});

// ---------------------------------------------------------------------------
// Loading what the checks leave free
// ---------------------------------------------------------------------------

test('an unusable SS and LDTR with bases beyond 2^53 enter (27.3.2.2: SS base bits 63:32 cleared, LDTR base canonical)', () => {
  const w = base();
  set(w, 'GUEST_SS_ACCESS_RIGHTS', 0x1_0000);
  set(w, 'GUEST_SS_BASE', 0x1234, 0x0020_0000);
  set(w, 'GUEST_LDTR_BASE', 0x5678, 0xfff0_0000);
  assert.equal(w.enter(true), { kind: 'exit', reason: 1, qual: 0 });
  assert.is(w.cpu.segBase[2], 0x1234);
});

test('checkEntry agrees with VMLAUNCH on the rule (the engine runs the same table)', () => {
  const w = base();
  set(w, 'GUEST_GDTR_LIMIT', 0x1_0000);
  const pure = checkEntry(checkContext(w.vmcs, w.caps, w.mem));
  assert.is(pure.kind, 'guest');
  assert.is(pure.kind === 'guest' ? pure.rule.id : '', 'guest.gdtr.limit-high');
  fails(w.enter(true), 'entry-failure', EXIT_33, 'guest.gdtr.limit-high', 0);
  assert.ok(entryRule('guest.gdtr.limit-high'));
});

test.run();
