// VM-exit MSR-store and MSR-load areas and the VMX abort (Intel SDM Vol. 3C
// 28.4 "Saving MSRs", 28.6 "Loading MSRs", 28.7 "VMX Aborts"; area format
// 25.7.2: 16-byte entries, bits 31:0 MSR index, 63:32 reserved, 127:64
// data). Expected values follow from those sections:
//  - store: after guest state is saved, each entry's MSR is read as RDMSR
//    would and written to bits 127:64; an x2APIC MSR (index bits 31:8 =
//    000008H), an SMM-only MSR (IA32_SMBASE), reserved bits set, or an RDMSR
//    that would #GP fail the entry -> VMX abort, indicator 1;
//  - load: each entry's bits 127:64 are written as WRMSR would; FS/GS base,
//    x2APIC MSRs, IA32_SMM_MONITOR_CTL, reserved bits, a WRMSR that would
//    #GP fail the entry -> VMX abort, indicator 4;
//  - a VM-entry failure after the guest-state checks (27.8) loads host MSRs
//    but saves none;
//  - a VMX abort writes the indicator at byte offset 4 of the VMCS region
//    and leaves the processor in the VMX-abort shutdown state.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VMCS } from '../../../core/vmx/fields.js';
import { EXIT_MSR_RULES, describeVmxAbort } from '../../../core/vmx/exit-msrs.js';
import { machine, guest32, guest64, enter } from '../../helpers/machine.js';
import type { Machine } from '../../../core/hv/machine.js';

const STORE = 0x9000, LOAD = 0xa000;
const CPUID = [0x0f, 0xa2];

function area(m: Machine, at: number, entries: readonly (readonly [number, number, number, number])[]): void {
  entries.forEach(([index, reserved, lo, hi], k) => {
    m.mem.write32(at + 16 * k, index); m.mem.write32(at + 16 * k + 4, reserved);
    m.mem.write32(at + 16 * k + 8, lo); m.mem.write32(at + 16 * k + 12, hi);
  });
}
function storeArea(m: Machine, entries: readonly (readonly [number, number, number, number])[]): void {
  m.mem.fill(STORE, 0x100, 0xee);
  area(m, STORE, entries);
  m.vmx.vmwriteNum(VMCS.VM_EXIT_MSR_STORE_ADDRESS, STORE);
  m.vmx.vmwrite32(VMCS.VM_EXIT_MSR_STORE_COUNT, entries.length);
}
function loadArea(m: Machine, entries: readonly (readonly [number, number, number, number])[]): void {
  area(m, LOAD, entries);
  m.vmx.vmwriteNum(VMCS.VM_EXIT_MSR_LOAD_ADDRESS, LOAD);
  m.vmx.vmwrite32(VMCS.VM_EXIT_MSR_LOAD_COUNT, entries.length);
}
const dataOf = (m: Machine, k: number): [number, number] => [m.mem.read32(STORE + 16 * k + 8) >>> 0, m.mem.read32(STORE + 16 * k + 12) >>> 0];

test('MSR-store area: the guest\'s IA32_SYSENTER_CS, IA32_EFER and IA32_LSTAR are stored in bits 127:64; bits 63:0 untouched', () => {
  const m = machine();
  guest64(m, CPUID);
  m.vmx.vmwrite32(VMCS.GUEST_IA32_SYSENTER_CS, 0x1234);
  m.cpu.lstar = -0x7fff_ffff_f000; // FFFF8000_00001000H
  storeArea(m, [[0x174, 0, 0, 0], [0xc0000080, 0, 0, 0], [0xc0000082, 0, 0, 0]]);
  const x = enter(m);
  assert.is(x.reason, 10);
  assert.equal(dataOf(m, 0), [0x1234, 0]);
  assert.equal(dataOf(m, 1), [0x500, 0], 'EFER of a 64-bit guest: LME | LMA');
  assert.equal(dataOf(m, 2), [0x1000, 0xffff8000]);
  assert.is(m.mem.read32(STORE) >>> 0, 0x174, 'index left as it was');
  assert.is(m.mem.read32(STORE + 4), 0);
  assert.is(m.vmx.abort, null);
});

test('MSR-load area: host values are loaded into the processor\'s MSRs at the exit; the next entry loads the guest\'s again', () => {
  const m = machine();
  guest32(m, [...CPUID, ...CPUID]);
  m.vmx.vmwrite32(VMCS.GUEST_IA32_SYSENTER_CS, 0x10);
  loadArea(m, [[0x174, 0, 0x5678, 0], [0xc0000081, 0, 0x11112222, 0x00230010]]);
  let x = enter(m);
  assert.is(x.reason, 10);
  assert.is(m.cpu.sysenterCs, 0x5678, 'host IA32_SYSENTER_CS');
  assert.is(m.cpu.star, 0x11112222); assert.is(m.cpu.starHi, 0x00230010);
  assert.is(m.vmx.vmread32(VMCS.GUEST_IA32_SYSENTER_CS), 0x10, 'the guest value was saved before the load');
  m.vmx.vmwriteNum(VMCS.GUEST_RIP, m.vmx.vmreadNum(VMCS.GUEST_RIP) + 2);
  x = enter(m);
  assert.is(x.reason, 10);
  assert.is(m.vmx.vmread32(VMCS.GUEST_IA32_SYSENTER_CS), 0x10);
});

test('MSR-load area: IA32_EFER is checked against the host state of 28.5 (paging on, IA-32e): LME must stay 1', () => {
  let m = machine();
  guest32(m, CPUID);
  loadArea(m, [[0xc0000080, 0, 0xd01, 0]]); // SCE | LME | LMA | NXE
  enter(m);
  assert.is(m.vmx.abort, null);
  assert.is(m.cpu.efer, 0xd01);
  m = machine();
  guest32(m, CPUID);
  loadArea(m, [[0xc0000080, 0, 0x001, 0]]); // LME cleared under host CR0.PG = 1: #GP -> abort 4
  enter(m);
  assert.is(m.vmx.abort?.indicator, 4);
  assert.is(m.vmx.abort?.rule?.id, 'exit-msr-load.wrmsr');
});

const STORE_FAILS: readonly [string, readonly [number, number, number, number]][] = [
  ['exit-msr-store.x2apic', [0x808, 0, 0, 0]],
  ['exit-msr-store.smm-only', [0x9e, 0, 0, 0]],
  ['exit-msr-store.reserved', [0x174, 1, 0, 0]],
  ['exit-msr-store.rdmsr', [0x12345, 0, 0, 0]],
];
for (const [rule, e] of STORE_FAILS) {
  test(`MSR-store entry failing ${rule}: VMX abort, indicator 1, written at VMCS region offset 4; entries before it stored`, () => {
    const m = machine();
    guest32(m, CPUID);
    m.vmx.vmwrite32(VMCS.GUEST_IA32_SYSENTER_CS, 0x77);
    storeArea(m, [[0x174, 0, 0, 0], e]);
    loadArea(m, [[0x174, 0, 0x99, 0]]);
    enter(m);
    const a = m.vmx.abort;
    assert.ok(a);
    assert.is(a.indicator, 1);
    assert.is(a.rule?.id, rule);
    assert.is(a.entry, 2);
    assert.is(m.mem.read32(m.layout.vmcs + 4), 1, 'VMX-abort indicator in the VMCS region');
    assert.equal(dataOf(m, 0), [0x77, 0], 'first entry stored');
    assert.is(m.cpu.sysenterCs, 0x77, 'no host MSR loaded after the abort');
    assert.throws(() => m.vmx.vmresume(), /VMX-abort shutdown/);
  });
}

const LOAD_FAILS: readonly [string, readonly [number, number, number, number]][] = [
  ['exit-msr-load.fs-gs-base', [0xc0000100, 0, 0, 0]],
  ['exit-msr-load.fs-gs-base', [0xc0000101, 0, 0, 0]],
  ['exit-msr-load.x2apic', [0x830, 0, 0, 0]],
  ['exit-msr-load.smm-only', [0x9b, 0, 0, 0]],
  ['exit-msr-load.model-specific', [0x79, 0, 0, 0]],
  ['exit-msr-load.reserved', [0x174, 0x80000000, 0, 0]],
  ['exit-msr-load.wrmsr', [0xc0000082, 0, 0, 0x00800000]], // non-canonical IA32_LSTAR: #GP
];
for (const [rule, e] of LOAD_FAILS) {
  test(`MSR-load entry 0x${e[0].toString(16)} failing ${rule}: VMX abort, indicator 4; the first entry was loaded`, () => {
    const m = machine();
    guest32(m, CPUID);
    loadArea(m, [[0x174, 0, 0x4242, 0], e]);
    enter(m);
    assert.is(m.vmx.abort?.indicator, 4);
    assert.is(m.vmx.abort?.rule?.id, rule);
    assert.is(m.vmx.abort?.entry, 2);
    assert.is(m.cpu.sysenterCs, 0x4242);
    assert.match(describeVmxAbort(m.vmx.abort!), /indicator 4 \(failure loading host MSRs/);
  });
}

test('a VM-entry failure on guest state (reason 33) loads host MSRs but stores none (27.8)', () => {
  const m = machine();
  guest32(m, CPUID);
  m.vmx.vmwriteNum(VMCS.GUEST_RFLAGS, 0); // RFLAGS bit 1 must be 1
  storeArea(m, [[0x174, 0, 0xdead, 0xbeef]]);
  loadArea(m, [[0x174, 0, 0x31, 0]]);
  const x = enter(m);
  assert.is(x.reason, 0x80000021);
  assert.is(m.cpu.sysenterCs, 0x31);
  assert.equal(dataOf(m, 0), [0xdead, 0xbeef], 'store area untouched');
});

test('the hypervisor stops with a message naming the VMX-abort indicator', () => {
  const m = machine();
  guest32(m, CPUID);
  storeArea(m, [[0x808, 0, 0, 0]]);
  const r = m.run();
  assert.is(r.stop.kind, 'error');
  assert.match(r.stop.message, /VMX abort, indicator 1 \(failure saving guest MSRs/);
  assert.match(r.stop.message, /exit-msr-store\.x2apic/);
  assert.match(r.stop.message, /Vol\. 3C 28\.7/);
});

test('every VM-exit MSR rule names its section (28.4 or 28.6) and has a unique id', () => {
  const ids = new Set(EXIT_MSR_RULES.map((r) => r.id));
  assert.is(ids.size, EXIT_MSR_RULES.length);
  for (const r of EXIT_MSR_RULES) assert.match(r.section, r.kind === 'store' ? /Vol\. 3C 28\.4/ : /Vol\. 3C 28\.6/);
});

test.run();
