/**
 * Basic exit reasons and the layout of the exit-reason field.
 *
 * Sources: Intel SDM Vol. 3D Appendix C "VMX Basic Exit Reasons" (table
 * "Basic Exit Reasons"); Vol. 3C chapter "Virtual Machine Control Structures",
 * section "VM-Exit Information Fields", table "Format of Exit Reason".
 * Numbers 35, 38 and 42 are not used.
 */

export const EXIT_REASON = {
  EXCEPTION_OR_NMI: 0,
  EXTERNAL_INTERRUPT: 1,
  TRIPLE_FAULT: 2,
  INIT_SIGNAL: 3,
  SIPI: 4,
  IO_SMI: 5,
  OTHER_SMI: 6,
  INTERRUPT_WINDOW: 7,
  NMI_WINDOW: 8,
  TASK_SWITCH: 9,
  CPUID: 10,
  GETSEC: 11,
  HLT: 12,
  INVD: 13,
  INVLPG: 14,
  RDPMC: 15,
  RDTSC: 16,
  RSM: 17,
  VMCALL: 18,
  VMCLEAR: 19,
  VMLAUNCH: 20,
  VMPTRLD: 21,
  VMPTRST: 22,
  VMREAD: 23,
  VMRESUME: 24,
  VMWRITE: 25,
  VMXOFF: 26,
  VMXON: 27,
  CONTROL_REGISTER_ACCESS: 28,
  MOV_DR: 29,
  IO_INSTRUCTION: 30,
  RDMSR: 31,
  WRMSR: 32,
  ENTRY_FAILURE_INVALID_GUEST_STATE: 33,
  ENTRY_FAILURE_MSR_LOADING: 34,
  MWAIT: 36,
  MONITOR_TRAP_FLAG: 37,
  MONITOR: 39,
  PAUSE: 40,
  ENTRY_FAILURE_MACHINE_CHECK: 41,
  TPR_BELOW_THRESHOLD: 43,
  APIC_ACCESS: 44,
  VIRTUALIZED_EOI: 45,
  GDTR_IDTR_ACCESS: 46,
  LDTR_TR_ACCESS: 47,
  EPT_VIOLATION: 48,
  EPT_MISCONFIGURATION: 49,
  INVEPT: 50,
  RDTSCP: 51,
  VMX_PREEMPTION_TIMER_EXPIRED: 52,
  INVVPID: 53,
  WBINVD: 54,
  XSETBV: 55,
  APIC_WRITE: 56,
  RDRAND: 57,
  INVPCID: 58,
  VMFUNC: 59,
  ENCLS: 60,
  RDSEED: 61,
  PML_FULL: 62,
  XSAVES: 63,
  XRSTORS: 64,
  PCONFIG: 65,
  SPP_EVENT: 66,
  UMWAIT: 67,
  TPAUSE: 68,
  LOADIWKEY: 69,
  ENCLV: 70,
} as const;

export type ExitReasonName = keyof typeof EXIT_REASON;

const NAMES: ReadonlyMap<number, ExitReasonName> = new Map(
  (Object.entries(EXIT_REASON) as [ExitReasonName, number][]).map(([k, v]) => [v, k]),
);

/** Name of a basic exit reason, or undefined if the number is not defined. */
export function exitReasonName(basic: number): ExitReasonName | undefined {
  return NAMES.get(basic);
}

/** Bits of the 32-bit exit-reason field ("Format of Exit Reason"). */
export const EXIT_REASON_FIELD = {
  /** Bits 15:0: basic exit reason. Bit 16 is always 0. */
  BASIC_MASK: 0xffff,
  /** Bit 27: VM exit incident to enclave mode. */
  ENCLAVE_MODE: 1 << 27,
  /** Bit 28: pending MTF VM exit. */
  PENDING_MTF: 1 << 28,
  /** Bit 29: VM exit from VMX root operation (SMM VM exits). */
  FROM_VMX_ROOT: 1 << 29,
  /** Bit 31: VM-entry failure (0 = true VM exit). */
  ENTRY_FAILURE: 0x8000_0000,
} as const;

/** True iff an exit-reason value reports a VM-entry failure (bit 31). */
export function isEntryFailure(exitReason: number): boolean {
  return (exitReason & EXIT_REASON_FIELD.ENTRY_FAILURE) !== 0;
}
