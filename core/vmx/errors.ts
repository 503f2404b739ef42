/**
 * VM-instruction error numbers and the faults of VMX instructions.
 *
 * Source: Intel SDM Vol. 3C chapter "VMX Instruction Reference", section
 * "VM Instruction Error Numbers" (30.4 in older editions, 31.4 in newer),
 * table "VM-Instruction Error Numbers". Numbers 14, 21 and 27 are not used.
 * Section "Conventions" of the same chapter defines VMsucceed, VMfailInvalid
 * and VMfailValid(ErrorNumber).
 */

export const VM_INSTRUCTION_ERROR = {
  VMCALL_IN_VMX_ROOT: 1,
  VMCLEAR_INVALID_ADDRESS: 2,
  VMCLEAR_VMXON_POINTER: 3,
  VMLAUNCH_NON_CLEAR_VMCS: 4,
  VMRESUME_NON_LAUNCHED_VMCS: 5,
  VMRESUME_AFTER_VMXOFF: 6,
  ENTRY_INVALID_CONTROL_FIELDS: 7,
  ENTRY_INVALID_HOST_STATE: 8,
  VMPTRLD_INVALID_ADDRESS: 9,
  VMPTRLD_VMXON_POINTER: 10,
  VMPTRLD_INCORRECT_REVISION: 11,
  UNSUPPORTED_VMCS_COMPONENT: 12,
  VMWRITE_READ_ONLY_COMPONENT: 13,
  VMXON_IN_VMX_ROOT: 15,
  ENTRY_INVALID_EXECUTIVE_VMCS_POINTER: 16,
  ENTRY_NON_LAUNCHED_EXECUTIVE_VMCS: 17,
  ENTRY_EXECUTIVE_VMCS_NOT_VMXON_POINTER: 18,
  VMCALL_NON_CLEAR_VMCS: 19,
  VMCALL_INVALID_EXIT_CONTROLS: 20,
  VMCALL_INCORRECT_MSEG_REVISION: 22,
  VMXOFF_UNDER_DUAL_MONITOR: 23,
  VMCALL_INVALID_SMM_MONITOR_FEATURES: 24,
  ENTRY_INVALID_EXECUTIVE_CONTROLS: 25,
  ENTRY_EVENTS_BLOCKED_BY_MOV_SS: 26,
  INVALID_INVEPT_INVVPID_OPERAND: 28,
} as const;

/** Description of each error number, as the SDM's table words it. */
export const VM_INSTRUCTION_ERROR_MESSAGES: ReadonlyMap<number, string> = new Map([
  [1, 'VMCALL executed in VMX root operation'],
  [2, 'VMCLEAR with invalid physical address'],
  [3, 'VMCLEAR with VMXON pointer'],
  [4, 'VMLAUNCH with non-clear VMCS'],
  [5, 'VMRESUME with non-launched VMCS'],
  [6, 'VMRESUME after VMXOFF (VMXOFF and VMXON between VMLAUNCH and VMRESUME)'],
  [7, 'VM entry with invalid control field(s)'],
  [8, 'VM entry with invalid host-state field(s)'],
  [9, 'VMPTRLD with invalid physical address'],
  [10, 'VMPTRLD with VMXON pointer'],
  [11, 'VMPTRLD with incorrect VMCS revision identifier'],
  [12, 'VMREAD/VMWRITE from/to unsupported VMCS component'],
  [13, 'VMWRITE to read-only VMCS component'],
  [15, 'VMXON executed in VMX root operation'],
  [16, 'VM entry with invalid executive-VMCS pointer'],
  [17, 'VM entry with non-launched executive VMCS'],
  [18, 'VM entry with executive-VMCS pointer not VMXON pointer (when attempting to deactivate the dual-monitor treatment of SMIs and SMM)'],
  [19, 'VMCALL with non-clear VMCS (when attempting to activate the dual-monitor treatment of SMIs and SMM)'],
  [20, 'VMCALL with invalid VM-exit control fields'],
  [22, 'VMCALL with incorrect MSEG revision identifier (when attempting to activate the dual-monitor treatment of SMIs and SMM)'],
  [23, 'VMXOFF under dual-monitor treatment of SMIs and SMM'],
  [24, 'VMCALL with invalid SMM-monitor features (when attempting to activate the dual-monitor treatment of SMIs and SMM)'],
  [25, 'VM entry with invalid VM-execution control fields in executive VMCS (when attempting to return from SMM)'],
  [26, 'VM entry with events blocked by MOV SS'],
  [28, 'Invalid operand to INVEPT/INVVPID'],
]);

/** "VM-instruction error 12 (VMREAD/VMWRITE from/to unsupported VMCS component)". */
export function describeVmInstructionError(n: number): string {
  const m = VM_INSTRUCTION_ERROR_MESSAGES.get(n);
  return m === undefined ? `VM-instruction error ${n} (not defined)` : `VM-instruction error ${n} (${m})`;
}

/**
 * A fault a VMX instruction raises instead of completing (#UD, #GP(0)), e.g.
 * VMREAD outside VMX operation. The host-side API throws it; a future nested
 * mode would deliver it to the executing software.
 */
export class VmxFault extends Error {
  override readonly name = 'VmxFault';
  constructor(readonly vector: '#UD' | '#GP', readonly instruction: string, readonly reason: string) {
    super(`${instruction}: ${vector} (${reason})`);
  }
}
