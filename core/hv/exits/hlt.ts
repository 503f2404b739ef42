/**
 * Exit reason 12, HLT. With nothing that could ever wake the guest (IF = 0,
 * or no device deadline pending) the run ends; otherwise the guest enters
 * the HLT activity state and virtual time jumps to the next deadline.
 */
import type { Machine, Stop } from '../machine.js';
import { VMCS } from '../../vmx/fields.js';
import { hex } from '../guest-memory.js';

export function hltExit(m: Machine): Stop | void {
  const rip = m.vmx.vmreadSigned(VMCS.GUEST_RIP);
  const iflag = (m.vmx.vmread32(VMCS.GUEST_RFLAGS) & 0x200) !== 0;
  m.skipInstruction();
  if (!iflag && !m.nmiPending) return { kind: 'halted', message: `guest halted with interrupts disabled (HLT at RIP 0x${hex(rip)})` };
  if (m.pc.pendingInterrupt() !== -1 || m.nmiPending) return; // an interrupt or NMI is already waiting: injected at the next entry
  if (m.clock.next() === Infinity) return { kind: 'halted', message: `guest halted and no interrupt source can wake it (HLT at RIP 0x${hex(rip)})` };
  m.vmx.vmwrite32(VMCS.GUEST_ACTIVITY_STATE, 1);
}
