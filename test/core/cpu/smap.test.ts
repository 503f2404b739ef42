/**
 * SMAP (Vol. 3A 4.6 "Access Rights": with CR4.SMAP = 1 a supervisor-mode data
 * access to a user-mode page faults unless RFLAGS.AC = 1 - implicit
 * supervisor accesses always; Vol. 2A CLAC, Vol. 2B STAC: #UD at CPL > 0),
 * CPUID.07H:EBX[20] and CR4 bit 21 in MOV to CR4 and IA32_VMX_CR4_FIXED1.
 * kvm-unit-tests `smap` checks the same end to end (18/18).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeNativeState, NATIVE_SCRATCH_BASE as S, type NativeCase } from '../../../properties/harness/native.js';
import { Cpu1, PTE_P, PTE_W, PTE_U, PA_SCRATCH } from '../../../properties/harness/cpu1.js';
import { siliconCpuid } from '../../../core/cpu/cpuid.js';
import { CR4_VALID } from '../../../core/cpu/exec/system.js';
import { AC, CR4_SMAP } from '../../../core/cpu/regs.js';
import { DEFAULT_CAPABILITY_MSRS, MSR } from '../../../core/vmx/capabilities.js';

const PF = 14, UD = 6;
const USER = S + 0x10000; // a user page
const LOAD = [0x8b, 0x03], STORE = [0x89, 0x03], STAC = [0x0f, 0x01, 0xcb], CLAC = [0x0f, 0x01, 0xca];
const mk = (code: number[]): NativeCase => ({ code: Uint8Array.from(code), state: makeNativeState({ rbx: BigInt(USER) }) });
function machine(smap: boolean, user = false): Cpu1 {
  const c: Cpu1 = new Cpu1({ user, setup: (cpu) => { c.mapPage(USER, PA_SCRATCH, PTE_P | PTE_W | PTE_U); if (smap) cpu.cr4 |= CR4_SMAP; } });
  return c;
}

test('CPUID.07H:EBX.SMAP = 1; CR4.SMAP is valid in MOV to CR4 and IA32_VMX_CR4_FIXED1', () => {
  assert.is(siliconCpuid(7, 0).ebx & (1 << 20), 1 << 20);
  assert.is(CR4_VALID & CR4_SMAP, CR4_SMAP);
  assert.is(DEFAULT_CAPABILITY_MSRS.get(MSR.IA32_VMX_CR4_FIXED1)!.lo & CR4_SMAP, CR4_SMAP);
});

test('CR4.SMAP = 1, AC = 0: supervisor reads and writes of a user page are #PF (P, W as accessed, U/S = 0)', () => {
  let r = machine(true).run(mk(LOAD));
  assert.ok(!r.ok && r.vector === PF && r.errorCode === 1, 'read: error code P');
  r = machine(true).run(mk(STORE));
  assert.ok(!r.ok && r.vector === PF && r.errorCode === 3, 'write: error code P|W');
  assert.ok(machine(false).run(mk(LOAD)).ok, 'CR4.SMAP = 0: allowed');
});

test('STAC sets AC and the access is allowed; CLAC clears it again (TLB entries filled before do not leak)', () => {
  const c = machine(true);
  const r = c.run(mk([...STAC, ...LOAD, ...STORE]), 3);
  assert.ok(r.ok, 'AC = 1: read and write allowed');
  assert.is(c.cpu.flagsRest & AC, AC);
  const r2 = c.run(mk([...STAC, ...LOAD, ...CLAC, ...LOAD]), 4);
  assert.ok(!r2.ok && r2.vector === PF, 'after CLAC the cached translation does not allow it');
  if (!r2.ok) assert.is(r2.ripOffset, 3 + 2 + 3);
});

test('STAC/CLAC are #UD at CPL 3; user accesses to user pages are not affected by SMAP', () => {
  for (const code of [STAC, CLAC]) {
    const r = machine(true, true).run(mk(code));
    assert.ok(!r.ok && r.vector === UD);
  }
  assert.ok(machine(true, true).run(mk(LOAD)).ok);
});

test.run();
