/**
 * Exit reason 55, XSETBV (exits unconditionally in VMX non-root operation,
 * SDM Vol. 3C 26.1.2; the #UD for CR4.OSXSAVE = 0 and the #GP for CPL > 0
 * come before the exit, 26.1.1). XCR0 is not part of the VMCS: the
 * hypervisor emulates the write, as KVM's handle_xsetbv does -- it checks
 * the value with the rules of Vol. 2C XSETBV against the XSAVE features the
 * guest's CPUID reports (the silicon's: x87 and SSE, CPUID leaf 0DH),
 * injects #GP(0) when one fails, else loads the guest's XCR0 into the CPU
 * and skips the instruction.
 */
import type { Machine } from '../machine.js';
import { xsetbvFault, setXcr0 } from '../../cpu/exec/fpu.js';
import { RAX, RCX, RDX } from '../../cpu/regs.js';

export function xsetbvExit(m: Machine): void {
  // RCX[63:32], RAX[63:32] and RDX[63:32] are ignored (Vol. 2C XSETBV).
  const ecx = m.getGpr(RCX)[0], eax = m.getGpr(RAX)[0], edx = m.getGpr(RDX)[0];
  if (xsetbvFault(ecx, eax, edx) !== null) { m.injectException(13, 0); return; }
  setXcr0(m.cpu, eax);
  m.skipInstruction();
}
