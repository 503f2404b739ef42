/**
 * Exit reason 37, monitor trap flag (SDM Vol. 3C 26.5.2): the guest
 * completed one instruction (or one iteration of a REP string instruction,
 * or the delivery of an event) with the "monitor trap flag" control set.
 * This hypervisor never sets the control itself; a user that does (a
 * debugger single-stepping the guest through the VMCS) gets every step as an
 * exit. Nothing to emulate: the guest resumes with the control as it is.
 */
import type { Machine, Stop } from '../machine.js';

export function monitorTrapFlag(m: Machine): Stop | void {
  void m;
}
