/**
 * Exit reason 0, exception or non-maskable interrupt (SDM Vol. 3C 26.2
 * "Other Causes of VM Exits": exceptions the exception bitmap intercepts,
 * and NMIs with "NMI exiting"). The VM-exit interruption information (28.2.2)
 * says which:
 *  - type 2 (NMI): an NMI of the host's own (the physical NMI input) - the
 *    guest is not involved, as in KVM, which hands it to the host's handler;
 *    the guest resumes. Its blocking by NMI was not changed by the exit.
 *  - type 3/5/6 (exceptions): reflected into the guest, the way a hypervisor
 *    that intercepts an exception only to watch it would: injected with its
 *    error code; for #PF the faulting address (exit qualification, 28.2.1)
 *    goes to guest CR2 first, which VMX does not save. An exception raised
 *    while delivering another event (IDT-vectoring information valid,
 *    28.2.3) is combined with it as the processor would have (Vol. 3A 6.15,
 *    Table 6-5): #DF for contributory-on-contributory or #PF-on-#PF /
 *    contributory, a triple fault on top of a #DF, else the new exception.
 *    If the exception hit an IRET that had unblocked NMIs (bit 12, "NMI
 *    unblocking due to IRET"), blocking by NMI is set again before the IRET
 *    runs again (28.2.2 defines the bit for this).
 */
import type { Machine, Stop } from '../machine.js';
import { VMCS } from '../../vmx/fields.js';

const DF = 8, PF = 14;
const contributory = (v: number): boolean => v === 0 || (v >= 10 && v <= 13);

export function exceptionOrNmi(m: Machine): Stop | void {
  const vmx = m.vmx;
  const info = vmx.vmread32(VMCS.VM_EXIT_INTERRUPTION_INFORMATION);
  const type = (info >> 8) & 7;
  if (type === 2) return;
  let vector = info & 0xff;
  let entry = (info & 0xfff) | 0x80000000;
  let code = info & 0x800 ? vmx.vmread32(VMCS.VM_EXIT_INTERRUPTION_ERROR_CODE) : -1;
  if (info & 0x1000) vmx.vmwrite32(VMCS.GUEST_INTERRUPTIBILITY_STATE, vmx.vmread32(VMCS.GUEST_INTERRUPTIBILITY_STATE) | 8);
  const vec = vmx.vmread32(VMCS.IDT_VECTORING_INFORMATION);
  if (vec & 0x80000000) {
    m.vectoringHandled = true;
    const prev = ((vec >> 8) & 7) === 3 ? vec & 0xff : -1;
    if (prev === DF) return { kind: 'triple-fault', message: `triple fault: exception ${vector} while delivering #DF (reflected by the hypervisor)` };
    if ((contributory(prev) && contributory(vector)) || (prev === PF && (contributory(vector) || vector === PF))) {
      vector = DF; entry = DF | (3 << 8) | 0x800 | 0x80000000; code = 0;
    }
  }
  if (vector === PF && type === 3) m.cpu.cr2 = vmx.vmreadNum(VMCS.EXIT_QUALIFICATION);
  vmx.vmwrite32(VMCS.VM_ENTRY_INTERRUPTION_INFORMATION, entry >>> 0);
  if (code >= 0) vmx.vmwrite32(VMCS.VM_ENTRY_EXCEPTION_ERROR_CODE, code);
  if (type === 5 || type === 6) vmx.vmwrite32(VMCS.VM_ENTRY_INSTRUCTION_LENGTH, vmx.vmread32(VMCS.VM_EXIT_INSTRUCTION_LENGTH));
}
