/**
 * Exit reason 48, EPT violation (qualification: SDM Vol. 3C, 28.2.1, Table
 * "Exit Qualification for EPT Violations"). Guest RAM is fully mapped, so a
 * violation means the guest touched a guest-physical address that no RAM
 * and no device backs: the run stops and says where and with which
 * instruction.
 */
import type { Machine, Stop } from '../machine.js';
import { VMCS } from '../../vmx/fields.js';
import { readGuestLinear, hex } from '../guest-memory.js';

export function eptViolation(m: Machine): Stop {
  const q = m.vmx.vmreadNum(VMCS.EXIT_QUALIFICATION);
  const gpa = m.vmx.vmreadNum(VMCS.GUEST_PHYSICAL_ADDRESS);
  const rip = m.vmx.vmreadSigned(VMCS.GUEST_RIP);
  const what = q & 4 ? 'instruction fetch' : q & 2 ? 'write' : 'read';
  const bytes = readGuestLinear(m, rip, 15);
  const shown = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
  return { kind: 'error', message: `guest ${what} of unmapped guest-physical address 0x${hex(gpa)} at RIP 0x${hex(rip)} (instruction bytes: ${shown || 'unreadable'})` };
}
