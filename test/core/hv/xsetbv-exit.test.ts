/**
 * The hypervisor's handling of XSETBV (exit reason 55, core/hv/exits/xsetbv.ts)
 * and of CPUID.01H:ECX.OSXSAVE (core/hv/exits/cpuid.ts): a guest executes the
 * instruction, the exit is handled as Machine.run would, and the guest state
 * is read back. Rules: Vol. 2C XSETBV (#GP(0) for ECX != 0, unsupported bits,
 * XCR0[0] = 0), Vol. 2A Table 3-10 (OSXSAVE reflects CR4.OSXSAVE).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VMCS } from '../../../core/vmx/fields.js';
import { RAX, RCX, RDX } from '../../../core/cpu/regs.js';
import { fpuState } from '../../../core/cpu/fpu-state.js';
import { xsetbvExit } from '../../../core/hv/exits/xsetbv.js';
import { cpuidExit } from '../../../core/hv/exits/cpuid.js';
import { machine, guest64, enter, CODE_64 } from '../../helpers/machine.js';

const OSXSAVE = 1 << 18;
const XSETBV = [0x0f, 0x01, 0xd1], CPUID = [0x0f, 0xa2];

function xsetbv(ecx: number, eax: number, edx = 0, ecxHi = 0): { gp: boolean; xcr0: number; rip: number } {
  const m = machine();
  guest64(m, XSETBV);
  m.vmx.vmwriteNum(VMCS.GUEST_CR4, 0x2020 | OSXSAVE);
  m.setGpr(RCX, ecx >>> 0, ecxHi); m.setGpr(RAX, eax >>> 0, 0xdead); m.setGpr(RDX, edx >>> 0, 0xbeef);
  const x = enter(m);
  assert.is(x.reason, 55, 'XSETBV exits');
  xsetbvExit(m);
  const info = m.vmx.vmread32(VMCS.VM_ENTRY_INTERRUPTION_INFORMATION);
  const gp = (info & 0x80000000) !== 0 && (info & 0xff) === 13 && ((info >> 8) & 7) === 3;
  return { gp, xcr0: fpuState(m.cpu).xcr0, rip: m.vmx.vmreadNum(VMCS.GUEST_RIP) - CODE_64 };
}

test('XSETBV exit: valid XCR0 values are loaded into the CPU and the instruction is skipped', () => {
  assert.equal(xsetbv(0, 3), { gp: false, xcr0: 3, rip: 3 });
  assert.equal(xsetbv(0, 1), { gp: false, xcr0: 1, rip: 3 });
  assert.equal(xsetbv(0, 3, 0, 0x1234), { gp: false, xcr0: 3, rip: 3 }, 'RCX[63:32] ignored');
});

test('XSETBV exit: #GP(0) injected, XCR0 and RIP unchanged, for the SDM fault conditions', () => {
  for (const [ecx, eax, edx, why] of [[1, 3, 0, 'XCR1'], [0x80000000, 3, 0, 'ECX bit 31'], [0, 0, 0, 'x87 clear'],
    [0, 2, 0, 'SSE without x87'], [0, 7, 0, 'AVX not supported'], [0, 3, 1, 'bit 32'], [0, 0x203, 0, 'bit 9']] as const) {
    assert.equal(xsetbv(ecx, eax, edx), { gp: true, xcr0: 1, rip: 0 }, why);
  }
});

test('CPUID.01H:ECX.OSXSAVE follows the guest CR4.OSXSAVE; XSAVE and leaf 0DH are reported', () => {
  for (const on of [false, true]) {
    const m = machine();
    guest64(m, CPUID);
    if (on) m.vmx.vmwriteNum(VMCS.GUEST_CR4, 0x2020 | OSXSAVE);
    m.setGpr(RAX, 1, 0); m.setGpr(RCX, 0, 0);
    assert.is(enter(m).reason, 10);
    cpuidExit(m);
    const ecx = m.cpu.lo[RCX]! >>> 0;
    assert.is((ecx >>> 27) & 1, on ? 1 : 0, `OSXSAVE with CR4.OSXSAVE = ${on ? 1 : 0}`);
    assert.is((ecx >>> 26) & 1, 1, 'XSAVE');
  }
  const m = machine();
  guest64(m, CPUID);
  m.setGpr(RAX, 0x0d, 0); m.setGpr(RCX, 0, 0);
  enter(m);
  cpuidExit(m);
  assert.equal([m.cpu.lo[RAX]! >>> 0, m.cpu.lo[RCX]! >>> 0, m.cpu.lo[RDX]! >>> 0], [3, 576, 0]);
});

test.run();
