/**
 * Exit reason 8, NMI window (SDM Vol. 3C 26.7.6 "NMI-Window Exiting"): the
 * guest no longer blocks NMIs - no virtual-NMI blocking (its IRET removed
 * it, Vol. 3C 26.3), no blocking by STI or MOV SS. Nothing to emulate; the
 * pending NMI is injected by Machine.prepareEntry before the next VM entry,
 * which also turns the control off when no NMI is left waiting.
 */
import type { Machine, Stop } from '../machine.js';

export function nmiWindow(m: Machine): Stop | void {
  void m;
}
