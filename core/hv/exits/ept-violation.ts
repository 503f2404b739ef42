/**
 * Exit reason 48, EPT violation (qualification: SDM Vol. 3C, 28.2.1, Table
 * "Exit Qualification for EPT Violations"). Guest RAM is fully mapped, so a
 * violation is an access to a guest-physical address without RAM: if a
 * device claims it, the MMIO emulator (core/mmio) decodes the guest's
 * instruction at RIP and carries it out against the device, advancing RIP
 * by the decoded length (the exit's instruction-length field is undefined
 * for EPT violations). Otherwise the run stops naming the address, RIP and
 * the instruction bytes.
 */
import type { Machine, Stop } from '../machine.js';
import { VMCS } from '../../vmx/fields.js';
import { readGuestLinear, hex } from '../guest-memory.js';
import { emulateMmio } from '../../mmio/emulator.js';
import { MachineGuestAccess, guestMode } from '../../mmio/machine.js';

export function eptViolation(m: Machine): Stop | void {
  return mmioOrStop(m, m.vmx.vmreadNum(VMCS.EXIT_QUALIFICATION), 'EPT violation');
}

/**
 * Exit reason 49, EPT misconfiguration (Vol. 3C, 29.3.3.1): the exit
 * qualification is undefined, the guest-physical address field is valid. A
 * VMM may mark MMIO pages misconfigured on purpose (KVM does, to tell MMIO
 * from RAM faults quickly); this machine's EPT never does, so a
 * misconfiguration outside a device window is a hypervisor bug and stops.
 */
export function eptMisconfiguration(m: Machine): Stop | void {
  return mmioOrStop(m, 1 /* treated as a data read: the emulator learns the direction from the instruction */, 'EPT misconfiguration');
}

function mmioOrStop(m: Machine, q: number, exit: string): Stop | void {
  const gpa = m.vmx.vmreadNum(VMCS.GUEST_PHYSICAL_ADDRESS);
  const rip = m.vmx.vmreadSigned(VMCS.GUEST_RIP);
  const what = q & 4 ? 'instruction fetch' : q & 2 ? 'write' : 'read';
  if (!(q & 4) && m.mmio.find(gpa)) {
    const r = emulateMmio(new MachineGuestAccess(m), m.mmio, guestMode(m));
    switch (r.kind) {
      case 'done': case 'partial': return;
      case 'exception':
        if (r.vector === 14) m.cpu.cr2 = r.cr2;
        m.injectException(r.vector, r.errorCode);
        return;
      case 'stop': return { kind: 'error', message: `MMIO ${what} of 0x${hex(gpa)}: ${r.message}` };
    }
  }
  const bytes = readGuestLinear(m, rip, 15);
  const shown = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
  return { kind: 'error', message: `${exit}: guest ${what} of unmapped guest-physical address 0x${hex(gpa)} at RIP 0x${hex(rip)} (instruction bytes: ${shown || 'unreadable'})` };
}
