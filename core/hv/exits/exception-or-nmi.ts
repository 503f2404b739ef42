/**
 * Exit reason 0, exception or non-maskable interrupt (SDM Vol. 3C 26.2
 * "Other Causes of VM Exits": exceptions the exception bitmap intercepts,
 * and NMIs with "NMI exiting"). The VM-exit interruption information (28.2.2)
 * says which:
 *  - type 2 (NMI): an NMI of the host's own (the physical NMI input) - the
 *    guest is not involved, as in KVM, which hands it to the host's handler;
 *    the guest resumes. Its blocking by NMI was not changed by the exit.
 *  - type 3/6 (hardware/software exception): reflected into the guest, the
 *    way a hypervisor that intercepts an exception only to watch it would:
 *    injected again with its error code; for #PF the faulting address (exit
 *    qualification, 28.2.1) goes to guest CR2 first, which VMX does not save.
 *    If the exception hit an IRET that had unblocked NMIs (bit 12, "NMI
 *    unblocking due to IRET"), blocking by NMI is set again before the IRET
 *    is re-executed (28.2.2 explains the bit for this purpose).
 */
import type { Machine, Stop } from '../machine.js';
import { VMCS } from '../../vmx/fields.js';

const PF = 14;

export function exceptionOrNmi(m: Machine): Stop | void {
  const vmx = m.vmx;
  const info = vmx.vmread32(VMCS.VM_EXIT_INTERRUPTION_INFORMATION);
  const type = (info >> 8) & 7;
  if (type === 2) return;
  const vector = info & 0xff;
  if (info & 0x1000) vmx.vmwrite32(VMCS.GUEST_INTERRUPTIBILITY_STATE, vmx.vmread32(VMCS.GUEST_INTERRUPTIBILITY_STATE) | 8);
  if (vector === PF && type === 3) m.cpu.cr2 = vmx.vmreadNum(VMCS.EXIT_QUALIFICATION);
  vmx.vmwrite32(VMCS.VM_ENTRY_INTERRUPTION_INFORMATION, (info & 0x8ff) | 0x80000000);
  if (info & 0x800) vmx.vmwrite32(VMCS.VM_ENTRY_EXCEPTION_ERROR_CODE, vmx.vmread32(VMCS.VM_EXIT_INTERRUPTION_ERROR_CODE));
  if (type === 4 || type === 5 || type === 6) vmx.vmwrite32(VMCS.VM_ENTRY_INSTRUCTION_LENGTH, vmx.vmread32(VMCS.VM_EXIT_INSTRUCTION_LENGTH));
}
