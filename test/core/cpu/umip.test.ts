/**
 * UMIP (Vol. 3A, 2.5 "CR4.UMIP"; Vol. 2B SGDT, SIDT, SLDT, SMSW, STR: "#GP(0)
 * If CR4.UMIP = 1 and CPL > 0") and the CPUID leaf 07H bits that advertise
 * it, SMEP and CLFLUSHOPT (Vol. 2A, Table 3-8), with CR4.UMIP allowed by MOV
 * to CR4 and by IA32_VMX_CR4_FIXED1 (Vol. 3D, A.8). CLFLUSHOPT (66 0F AE /7)
 * has no cache to flush here: like CLFLUSH, a byte read is checked (Vol. 2A
 * CLFLUSHOPT: "#PF(fault-code) For a page fault").
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NATIVE_SCRATCH_BASE as S, makeNativeState, type NativeCase } from '../../../properties/harness/native.js';
import { Cpu1, type Cpu1Options } from '../../../properties/harness/cpu1.js';
import { siliconCpuid } from '../../../core/cpu/cpuid.js';
import { setCr4 } from '../../../core/cpu/exec/system.js';
import { CR4_UMIP, CR4_VMXE } from '../../../core/cpu/regs.js';
import { DEFAULT_CAPABILITY_MSRS, MSR } from '../../../core/vmx/capabilities.js';

const GP = 13, PF = 14;
const mk = (code: number[], rbx = S): NativeCase => ({ code: Uint8Array.from(code), state: makeNativeState({ rbx }) });
const umip: Cpu1Options['setup'] = (cpu) => { cpu.cr4 |= CR4_UMIP; };

// sgdt [rbx], sidt [rbx], sldt [rbx], str [rbx], smsw [rbx], sldt eax, str eax, smsw eax
const FORMS: [string, number[]][] = [
  ['sgdt [rbx]', [0x0f, 0x01, 0x03]], ['sidt [rbx]', [0x0f, 0x01, 0x0b]], ['sldt [rbx]', [0x0f, 0x00, 0x03]],
  ['str [rbx]', [0x0f, 0x00, 0x0b]], ['smsw [rbx]', [0x0f, 0x01, 0x23]], ['sldt eax', [0x0f, 0x00, 0xc0]],
  ['str eax', [0x0f, 0x00, 0xc8]], ['smsw eax', [0x0f, 0x01, 0xe0]],
];

test('CR4.UMIP = 1: SGDT/SIDT/SLDT/STR/SMSW are #GP(0) at CPL 3, before any memory access', () => {
  for (const [name, code] of FORMS) {
    const r = new Cpu1({ user: true, setup: umip }).run(mk(code, 0x8000_0000_0000 + 0));
    assert.not.ok(r.ok, `${name}: faults`);
    if (r.ok) continue;
    assert.is(r.vector, GP, `${name}: #GP, not the #GP of the non-canonical operand or a #PF`);
    assert.is(r.errorCode, 0, `${name}: error code 0`);
    assert.is(r.ripOffset, 0, `${name}: at the instruction`);
  }
});

test('CR4.UMIP = 1 at CPL 0, and CR4.UMIP = 0 at CPL 3: the instructions run', () => {
  for (const [name, code] of FORMS) {
    assert.ok(new Cpu1({ setup: umip }).run(mk(code)).ok, `${name} at CPL 0`);
    assert.ok(new Cpu1({ user: true }).run(mk(code)).ok, `${name} at CPL 3 without UMIP`);
  }
});

test('MOV to CR4 accepts UMIP; IA32_VMX_CR4_FIXED1 allows it; CPUID.(7,0) advertises UMIP, SMEP, CLFLUSHOPT', () => {
  const cpu = new Cpu1().cpu;
  setCr4(cpu, cpu.cr4 | CR4_UMIP | CR4_VMXE); // MOV to CR4 (a reserved bit would be #GP; VMXE is fixed to 1 in VMX operation)
  assert.is(cpu.cr4 & CR4_UMIP, CR4_UMIP);
  const fixed1 = DEFAULT_CAPABILITY_MSRS.get(MSR.IA32_VMX_CR4_FIXED1)!;
  assert.ok((fixed1.lo & (1 << 11)) !== 0, 'CR4 bit 11 may be 1 in VMX operation');
  const l7 = siliconCpuid(7, 0);
  assert.is(l7.eax, 0, 'no sub-leaves beyond 0');
  assert.is(l7.ecx & (1 << 2), 1 << 2, 'ECX[2] UMIP');
  assert.is(l7.ebx, 1 | (1 << 7) | (1 << 20) | (1 << 23), 'EBX[0] FSGSBASE, [7] SMEP, [20] SMAP, [23] CLFLUSHOPT, nothing else');
  assert.equal(siliconCpuid(7, 1), { eax: 0, ebx: 0, ecx: 0, edx: 0 }, 'sub-leaf 1: nothing');
});

test('CLFLUSHOPT m8 (66 0F AE /7): completes on a mapped byte, #PF on an unmapped one', () => {
  assert.ok(new Cpu1().run(mk([0x66, 0x0f, 0xae, 0x3b])).ok, 'clflushopt [rbx]');
  const r = new Cpu1().run(mk([0x66, 0x0f, 0xae, 0x3b], S + 0x10000));
  assert.not.ok(r.ok);
  if (!r.ok) assert.is(r.vector, PF, 'unmapped: #PF');
});

test.run();
