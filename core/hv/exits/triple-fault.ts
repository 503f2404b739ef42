/** Exit reason 2, triple fault (SDM Vol. 3C, 26.2): the guest shut down. */
import type { Machine, Stop } from '../machine.js';
import { VMCS } from '../../vmx/fields.js';
import { hex, readGuestLinear } from '../guest-memory.js';

export function tripleFault(m: Machine): Stop {
  const rip = m.vmx.vmreadSigned(VMCS.GUEST_RIP);
  const bytes = readGuestLinear(m, rip, 15);
  const shown = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
  return { kind: 'triple-fault', message: `guest triple fault (VM exit 2) at RIP 0x${hex(rip)} (instruction bytes: ${shown || 'unreadable'})` };
}
