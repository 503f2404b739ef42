/**
 * Exit reason 7, interrupt window (SDM Vol. 3C, 26.7.5): the guest can now
 * take an external interrupt. Nothing to emulate; the injection happens in
 * Machine.prepareEntry before the next VM entry.
 */
import type { Machine, Stop } from '../machine.js';

export function interruptWindow(m: Machine): Stop | void {
  void m;
}
