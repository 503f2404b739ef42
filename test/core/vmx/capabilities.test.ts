// Expected values derived by hand from Intel SDM Vol. 3D Appendix A "VMX
// Capability Reporting Facility" and the control tables of Vol. 3C chapter
// "Virtual Machine Control Structures", for the feature set this machine
// advertises (see capabilities.ts header).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  MSR, VmxCapabilities, DEFAULT_VMX_CAPABILITIES, readCapabilityMsr, allowed0, allowed1, controlsValid,
  PIN_BASED, PROC_BASED, PROC_BASED2, EXIT_CTLS, ENTRY_CTLS, PHYSICAL_ADDRESS_WIDTH,
} from '../../../core/vmx/capabilities.js';

const rd = (i: number) => {
  const v = readCapabilityMsr(i);
  assert.ok(v, `MSR 0x${i.toString(16)} present`);
  return v!;
};
const bit = (v: { lo: number; hi: number }, n: number) => (n < 32 ? (v.lo >>> n) & 1 : (v.hi >>> (n - 32)) & 1);

test('control bit positions match the SDM tables', () => {
  assert.is(PIN_BASED.EXTERNAL_INTERRUPT_EXITING, 0x1);
  assert.is(PIN_BASED.NMI_EXITING, 0x8);
  assert.is(PIN_BASED.VIRTUAL_NMIS, 0x20);
  assert.is(PIN_BASED.ACTIVATE_VMX_PREEMPTION_TIMER, 0x40);
  assert.is(PROC_BASED.HLT_EXITING, 0x80);
  assert.is(PROC_BASED.CR3_LOAD_EXITING, 0x8000);
  assert.is(PROC_BASED.UNCONDITIONAL_IO_EXITING, 0x0100_0000);
  assert.is(PROC_BASED.USE_IO_BITMAPS, 0x0200_0000);
  assert.is(PROC_BASED.USE_MSR_BITMAPS, 0x1000_0000);
  assert.is(PROC_BASED.ACTIVATE_SECONDARY_CONTROLS, 0x8000_0000);
  assert.is(PROC_BASED2.ENABLE_EPT, 0x2);
  assert.is(PROC_BASED2.ENABLE_VPID, 0x20);
  assert.is(PROC_BASED2.UNRESTRICTED_GUEST, 0x80);
  assert.is(EXIT_CTLS.HOST_ADDRESS_SPACE_SIZE, 0x200);
  assert.is(EXIT_CTLS.ACKNOWLEDGE_INTERRUPT_ON_EXIT, 0x8000);
  assert.is(EXIT_CTLS.SAVE_VMX_PREEMPTION_TIMER_VALUE, 0x40_0000);
  assert.is(ENTRY_CTLS.IA32E_MODE_GUEST, 0x200);
  assert.is(ENTRY_CTLS.LOAD_IA32_EFER, 0x8000);
});

test('IA32_VMX_BASIC (A.1)', () => {
  const b = rd(MSR.IA32_VMX_BASIC);
  assert.is(b.lo >>> 31, 0, 'bit 31 is 0');
  assert.ok((b.lo & 0x7fff_ffff) !== 0, 'a revision identifier');
  assert.is(b.hi & 0x1fff, 4096, 'region size, bits 44:32');
  assert.is(bit(b, 48), 0, 'addresses not limited to 32 bits');
  assert.is(bit(b, 49), 0, 'no dual-monitor treatment');
  assert.is((b.hi >>> 18) & 0xf, 6, 'memory type WB, bits 53:50');
  assert.is(bit(b, 54), 1, 'INS/OUTS exit information');
  assert.is(bit(b, 55), 1, 'TRUE control MSRs');
  assert.is(b.hi, 0x00d8_1000);
  assert.is(DEFAULT_VMX_CAPABILITIES.vmcsRevisionId, b.lo);
  assert.is(PHYSICAL_ADDRESS_WIDTH, 39);
});

test('pin-based controls (A.3.1): default1 bits 1, 2, 4; allowed-1 adds 0, 3, 5, 6', () => {
  const p = rd(MSR.IA32_VMX_PINBASED_CTLS);
  assert.is(p.lo, 0x16);
  assert.is(p.hi, 0x7f);
  const t = rd(MSR.IA32_VMX_TRUE_PINBASED_CTLS);
  assert.is(t.lo, 0x16);
  assert.is(t.hi, 0x7f);
});

test('primary processor-based controls (A.3.2)', () => {
  const p = rd(MSR.IA32_VMX_PROCBASED_CTLS);
  // default1: bits 1, 4, 5, 6, 8, 13, 14, 15, 16, 26
  assert.is(p.lo, 0x0401_e172);
  // allowed-1: default1 + 2, 3, 7, 9, 10, 11, 12, 19, 20, 22, 23, 24, 25, 27, 28, 29, 30, 31
  // low 16 bits: 0xe172 | 0x1e8c = 0xfffe; high: 0x0401 | 0x0018 | 0x00c0 | 0x0300 | 0x0800 | 0xf000 = 0xffd9
  assert.is(p.hi, 0xffd9_fffe);
  assert.is(bit(p, 32 + 21), 0, 'no TPR shadow');
  assert.is(bit(p, 32 + 27), 1, 'monitor trap flag (Vol. 3C 26.5.2)');
  assert.is(bit(p, 32 + 22), 1, 'NMI-window exiting (26.7.6)');
  assert.is(bit(p, 32 + 17), 0, 'no tertiary controls');
  const t = rd(MSR.IA32_VMX_TRUE_PROCBASED_CTLS);
  assert.is(t.lo, 0x0400_6172, 'CR3-load/store exiting (15, 16) may be 0');
  assert.is(t.hi, p.hi);
});

test('secondary processor-based controls (A.3.3): EPT, descriptor tables, RDTSCP, VPID, WBINVD, unrestricted guest', () => {
  const s = rd(MSR.IA32_VMX_PROCBASED_CTLS2);
  assert.is(s.lo, 0);
  assert.is(s.hi, 0x2 | 0x4 | 0x8 | 0x20 | 0x40 | 0x80);
});

test('VM-exit controls (A.4)', () => {
  const x = rd(MSR.IA32_VMX_EXIT_CTLS);
  assert.is(x.lo, 0x0003_6dff); // bits 0-8, 10, 11, 13, 14, 16, 17
  // + 9, 15, 18, 19, 20, 21, 22: 0x36dff | 0x200 | 0x8000 | 0x7c0000
  assert.is(x.hi, 0x007f_efff);
  const t = rd(MSR.IA32_VMX_TRUE_EXIT_CTLS);
  assert.is(t.lo, 0x0003_6dfb, '"save debug controls" may be 0');
  assert.is(t.hi, 0x007f_efff);
});

test('VM-entry controls (A.5)', () => {
  const n = rd(MSR.IA32_VMX_ENTRY_CTLS);
  assert.is(n.lo, 0x11ff); // bits 0-8, 12
  assert.is(n.hi, 0xd3ff); // + 9, 14, 15
  const t = rd(MSR.IA32_VMX_TRUE_ENTRY_CTLS);
  assert.is(t.lo, 0x11fb, '"load debug controls" may be 0');
  assert.is(t.hi, 0xd3ff);
});

test('TRUE MSRs only clear default1 bits; allowed-0 implies allowed-1', () => {
  const pairs: [number, number, number][] = [
    [MSR.IA32_VMX_PINBASED_CTLS, MSR.IA32_VMX_TRUE_PINBASED_CTLS, 0x16],
    [MSR.IA32_VMX_PROCBASED_CTLS, MSR.IA32_VMX_TRUE_PROCBASED_CTLS, 0x0401_e172],
    [MSR.IA32_VMX_EXIT_CTLS, MSR.IA32_VMX_TRUE_EXIT_CTLS, 0x0003_6dff],
    [MSR.IA32_VMX_ENTRY_CTLS, MSR.IA32_VMX_TRUE_ENTRY_CTLS, 0x11ff],
  ];
  for (const [legacy, tru, default1] of pairs) {
    const l = rd(legacy), t = rd(tru);
    assert.is(l.hi, t.hi);
    assert.is(((l.lo & default1) >>> 0), default1, 'legacy MSR reports default1 bits as 1 (A.2)');
    assert.is(((t.lo & ~l.lo) >>> 0), 0, 'TRUE allowed-0 is a subset of the legacy one');
    assert.is(((l.lo & ~t.lo & ~default1) >>> 0), 0, 'they differ only in default1 bits');
    assert.is(((t.lo & ~t.hi) >>> 0), 0);
  }
});

test('IA32_VMX_MISC (A.6): rate 5, LMA store, HLT only, 4 CR3 targets, 512 MSRs, no bit 29', () => {
  const m = rd(MSR.IA32_VMX_MISC);
  assert.is(m.lo & 0x1f, 5);
  assert.is(bit(m, 5), 1, 'required with unrestricted guest');
  assert.is(bit(m, 6), 1);
  assert.is(bit(m, 7), 0);
  assert.is(bit(m, 8), 0);
  assert.is((m.lo >>> 16) & 0x1ff, 4);
  assert.is((m.lo >>> 25) & 7, 0);
  assert.is(bit(m, 29), 0, 'VMWRITE to exit-information fields fails');
  assert.is(m.lo, 0x0004_0065);
  assert.is(m.hi, 0, 'MSEG revision 0');
  const c = DEFAULT_VMX_CAPABILITIES;
  assert.is(c.cr3TargetCount, 4);
  assert.is(c.preemptionTimerRate, 5);
  assert.not.ok(c.vmwriteAnyField);
  assert.ok(c.activityStateSupported(0));
  assert.ok(c.activityStateSupported(1));
  assert.not.ok(c.activityStateSupported(2));
  assert.not.ok(c.activityStateSupported(3));
  assert.not.ok(c.activityStateSupported(4));
});

test('CR0/CR4 fixed bits (A.7, A.8)', () => {
  assert.is(rd(MSR.IA32_VMX_CR0_FIXED0).lo, 0x8000_0021); // PG, NE, PE
  assert.is(rd(MSR.IA32_VMX_CR0_FIXED1).lo, 0xffff_ffff);
  assert.is(rd(MSR.IA32_VMX_CR0_FIXED1).hi, 0);
  assert.is(rd(MSR.IA32_VMX_CR4_FIXED0).lo, 0x2000); // VMXE
  // VME..OSXMMEXCPT (0-10), UMIP (11), VMXE (13), FSGSBASE (16), OSXSAVE (18), SMEP (20), SMAP (21); no PCIDE (17): CPUID.01H:ECX.PCID = 0
  assert.is(rd(MSR.IA32_VMX_CR4_FIXED1).lo, 0xfff | 0x2000 | 0x5_0000 | 0x30_0000);
  for (const [f0, f1] of [[MSR.IA32_VMX_CR0_FIXED0, MSR.IA32_VMX_CR0_FIXED1], [MSR.IA32_VMX_CR4_FIXED0, MSR.IA32_VMX_CR4_FIXED1]] as const) {
    assert.is(((rd(f0).lo & ~rd(f1).lo) >>> 0), 0, 'fixed-1 bits are allowed to be 1');
  }
});

test('IA32_VMX_EPT_VPID_CAP (A.10)', () => {
  const e = rd(MSR.IA32_VMX_EPT_VPID_CAP);
  for (const b of [0, 6, 14, 16, 17, 20, 21, 25, 26, 32, 40, 41, 42, 43]) assert.is(bit(e, b), 1, `bit ${b}`);
  for (const b of [7, 8, 22, 23]) assert.is(bit(e, b), 0, `bit ${b}`);
  assert.is(e.lo, 0x0633_4041);
  assert.is(e.hi, 0x0f01);
});

test('IA32_VMX_VMCS_ENUM and absent MSRs', () => {
  assert.is(rd(MSR.IA32_VMX_VMCS_ENUM).lo, 0x2e);
  assert.is(readCapabilityMsr(MSR.IA32_VMX_VMFUNC), undefined, 'no VM functions: MSR 491H does not exist');
  assert.is(readCapabilityMsr(0x3a), undefined);
  assert.is(readCapabilityMsr(0x492), undefined);
});

test('controlsValid: (value & allowed0) == allowed0 and (value & ~allowed1) == 0', () => {
  assert.is(allowed0(MSR.IA32_VMX_PINBASED_CTLS), 0x16);
  assert.is(allowed1(MSR.IA32_VMX_PINBASED_CTLS), 0x7f);
  assert.ok(controlsValid(MSR.IA32_VMX_PINBASED_CTLS, 0x16));
  assert.ok(controlsValid(MSR.IA32_VMX_PINBASED_CTLS, 0x7f));
  assert.not.ok(controlsValid(MSR.IA32_VMX_PINBASED_CTLS, 0x14), 'default1 bit 1 missing');
  assert.not.ok(controlsValid(MSR.IA32_VMX_PINBASED_CTLS, 0x96), 'process posted interrupts not allowed');
  assert.ok(controlsValid(MSR.IA32_VMX_TRUE_PROCBASED_CTLS, 0x0400_6172));
  assert.not.ok(controlsValid(MSR.IA32_VMX_PROCBASED_CTLS, 0x0400_6172), 'legacy MSR requires CR3 exiting');
  assert.ok(controlsValid(MSR.IA32_VMX_PROCBASED_CTLS, 0x8401_e1f2 | 0x0300_0000), 'HLT, I/O bitmaps, secondary');
  assert.not.ok(controlsValid(MSR.IA32_VMX_PROCBASED_CTLS, 0x0421_e172), 'use TPR shadow');
  assert.ok(controlsValid(MSR.IA32_VMX_PROCBASED_CTLS2, 0x82), 'EPT + unrestricted guest');
  assert.not.ok(controlsValid(MSR.IA32_VMX_PROCBASED_CTLS2, 0x1), 'virtualize APIC accesses');
  assert.ok(controlsValid(MSR.IA32_VMX_EXIT_CTLS, 0x0003_6fff), 'host address-space size');
  assert.ok(controlsValid(MSR.IA32_VMX_ENTRY_CTLS, 0x0000_13ff), 'IA-32e mode guest');
});

test('controlMsr picks the TRUE MSRs when BASIC bit 55 is set; canSet', () => {
  const c = DEFAULT_VMX_CAPABILITIES;
  assert.is(c.controlMsr('pin'), 0x48d);
  assert.is(c.controlMsr('proc'), 0x48e);
  assert.is(c.controlMsr('proc2'), 0x48b);
  assert.is(c.controlMsr('exit'), 0x48f);
  assert.is(c.controlMsr('entry'), 0x490);
  assert.ok(c.canSet('proc2', PROC_BASED2.ENABLE_EPT | PROC_BASED2.ENABLE_VPID));
  assert.not.ok(c.canSet('proc2', PROC_BASED2.VMCS_SHADOWING));
  assert.ok(c.canSet('proc', PROC_BASED.ACTIVATE_SECONDARY_CONTROLS));
  const b = rd(MSR.IA32_VMX_BASIC);
  const legacy = new VmxCapabilities(new Map([[MSR.IA32_VMX_BASIC, { lo: b.lo, hi: b.hi & ~(1 << 23) }]]));
  assert.is(legacy.controlMsr('pin'), 0x481);
  assert.is(legacy.controlMsr('entry'), 0x484);
  const noSecondary = new VmxCapabilities(new Map([[MSR.IA32_VMX_TRUE_PROCBASED_CTLS, { lo: 0x0400_6172, hi: 0x7401_e172 }]]));
  assert.not.ok(noSecondary.canSet('proc2', PROC_BASED2.ENABLE_EPT), 'secondary controls need bit 31 of the primary');
});

test('consistency: features the controls allow have their capability bits', () => {
  const c = DEFAULT_VMX_CAPABILITIES;
  const e = rd(MSR.IA32_VMX_EPT_VPID_CAP);
  if (c.canSet('proc2', PROC_BASED2.ENABLE_EPT)) {
    assert.is(bit(e, 6), 1, 'EPT needs a supported page-walk length');
    assert.ok(bit(e, 14) === 1 || bit(e, 8) === 1, 'and a paging-structure memory type');
  }
  if (c.canSet('proc2', PROC_BASED2.UNRESTRICTED_GUEST)) {
    assert.ok(c.canSet('proc2', PROC_BASED2.ENABLE_EPT), 'unrestricted guest requires EPT');
    assert.is(bit(rd(MSR.IA32_VMX_MISC), 5), 1, 'A.6: bit 5 is 1 with unrestricted guest');
  }
  if (c.canSet('proc2', PROC_BASED2.ENABLE_VPID)) assert.is(bit(e, 32), 1, 'INVVPID supported');
  if (c.canSet('proc', PROC_BASED.NMI_WINDOW_EXITING)) assert.ok(c.canSet('pin', PIN_BASED.VIRTUAL_NMIS), 'NMI-window exiting needs virtual NMIs');
  if (c.canSet('exit', EXIT_CTLS.SAVE_VMX_PREEMPTION_TIMER_VALUE)) assert.ok(c.canSet('pin', PIN_BASED.ACTIVATE_VMX_PREEMPTION_TIMER));
  assert.is(c.regionSize, 4096);
  assert.ok(c.trueControls);
});

test.run();
