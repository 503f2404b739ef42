/**
 * Exit reason 55, XSETBV (always exits once CR4.OSXSAVE = 1, Vol. 3C 26.1.2).
 * CPUID does not advertise XSAVE, so no XCR0 value other than the x87 bit is
 * valid: the guest gets #GP(0), the fault XSETBV raises for an unsupported
 * XCR0 setting (Vol. 2B XSETBV).
 */
import type { Machine } from '../machine.js';

export function xsetbvExit(m: Machine): void {
  m.injectException(13, 0);
}
