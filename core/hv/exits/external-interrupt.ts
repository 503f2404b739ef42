/**
 * Exit reason 1, external interrupt: the host's timer "kicked" the guest out
 * (at a device deadline or the end of the budget). Nothing to emulate; the
 * run loop fires due device deadlines and checks the budget.
 */
import type { Machine, Stop } from '../machine.js';

export function externalInterrupt(m: Machine): Stop | void {
  void m;
}
