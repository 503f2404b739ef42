/**
 * Exit reason 18, VMCALL (always exits in VMX non-root operation, SDM Vol.
 * 3C 26.1.2).
 *
 * One hypercall of KVM's ABI is offered (Linux Documentation/virt/kvm/
 * x86/hypercalls.rst: number in RAX, arguments in RBX, RCX, RDX, RSI, result
 * in RAX), because kvm-unit-tests' apic test issues it unconditionally:
 * KVM_HC_SEND_IPI (10). RBX:RCX is a 128-bit (64-bit mode; 64 bits as two
 * 32-bit halves otherwise) bitmap of APIC IDs starting at RDX, RSI the ICR
 * low word; the result is the number of APICs that accepted the IPI. At
 * CPL > 0 the result is -KVM_EPERM (-1), as KVM answers. Any other VMCALL
 * gets #UD, as VMCALL outside VMX operation would (Vol. 2B VMCALL).
 */
import type { Machine } from '../machine.js';

export const KVM_HC_SEND_IPI = 10;
const KVM_EPERM = 1;

export function vmcallExit(m: Machine): void {
  const long = m.cpu.mode === 8;
  const [nr, nrHi] = m.getGpr(0);
  if (nr !== KVM_HC_SEND_IPI || (long && nrHi !== 0)) { m.injectException(6); return; }
  let ret: number;
  if (m.cpu.cpl !== 0) ret = -KVM_EPERM;
  else ret = pvSendIpi(m, long);
  m.setGpr(0, ret >>> 0, long && ret < 0 ? 0xffffffff : 0);
  m.skipInstruction();
}

/** KVM's kvm_pv_send_ipi for this machine's one local APIC: is its ID set in the bitmap? */
function pvSendIpi(m: Machine, long: boolean): number {
  const apic = m.pc.lapic;
  const [b0, b0h] = m.getGpr(3), [b1, b1h] = m.getGpr(1), [min, minHi] = m.getGpr(2), [icr] = m.getGpr(6);
  if (long && minHi !== 0) return 0; // no APIC ID that large
  const width = long ? 64 : 32;
  // Bit k of the bitmap (RBX then RCX) stands for APIC ID min + k.
  const k = apic.apicId - (min >>> 0);
  if (k < 0 || k >= 2 * width) return 0;
  const words = long ? [b0, b0h, b1, b1h] : [b0, b1];
  if (((words[k >>> 5]! >>> (k & 31)) & 1) === 0) return 0;
  return apic.receiveIpi(icr) ? 1 : 0;
}
