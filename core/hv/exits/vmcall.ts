/**
 * Exit reason 18, VMCALL (always exits in VMX non-root operation, SDM Vol.
 * 3C 26.1.2). This hypervisor defines no hypercalls: the guest gets #UD, as
 * VMCALL outside VMX operation would give (Vol. 2B VMCALL).
 */
import type { Machine } from '../machine.js';

export function vmcallExit(m: Machine): void {
  m.injectException(6);
}
