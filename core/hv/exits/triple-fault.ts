/** Exit reason 2, triple fault (SDM Vol. 3C, 26.2): the guest shut down. */
import type { Machine, Stop } from '../machine.js';
import { VMCS } from '../../vmx/fields.js';
import { hex } from '../guest-memory.js';

export function tripleFault(m: Machine): Stop {
  const rip = m.vmx.vmreadSigned(VMCS.GUEST_RIP);
  return { kind: 'triple-fault', message: `guest triple fault (VM exit 2) at RIP 0x${hex(rip)}` };
}
