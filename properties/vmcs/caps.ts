/**
 * Processor models for the VMCS properties.
 *
 * DEFAULT is the machine's processor (core/vmx/capabilities.ts). WIDE also
 * advertises every control the rule table has checks for but the machine
 * does not offer yet (TPR shadow, monitor trap flag, APIC virtualization,
 * posted interrupts, PML, VM functions with EPTP switching, VMCS shadowing,
 * #VE, "load IA32_PERF_GLOBAL_CTRL", the SMM entry controls), the shutdown
 * and wait-for-SIPI activity states and zero-length software-event
 * injection (IA32_VMX_MISC bits 7, 8, 30), so those rules can be violated
 * one at a time; the reserved-bit rules reject the controls first on the
 * DEFAULT processor.
 */
import {
  DEFAULT_VMX_CAPABILITIES, VmxCapabilities, MSR, PIN_BASED, PROC_BASED, PROC_BASED2, EXIT_CTLS, ENTRY_CTLS, MISC_BIT,
  type MsrValue,
} from '../../core/vmx/capabilities.js';

export const DEFAULT_CAPS = DEFAULT_VMX_CAPABILITIES;

function widen(msr: number, hiBits: number, loBits = 0): [number, MsrValue] {
  const v = DEFAULT_VMX_CAPABILITIES.read(msr);
  if (!v) throw new Error(`no MSR 0x${msr.toString(16)}`);
  return [msr, { lo: (v.lo | loBits) >>> 0, hi: (v.hi | hiBits) >>> 0 }];
}

const PIN_MORE = PIN_BASED.PROCESS_POSTED_INTERRUPTS;
const PROC_MORE = PROC_BASED.USE_TPR_SHADOW | PROC_BASED.MONITOR_TRAP_FLAG;
const PROC2_MORE = PROC_BASED2.VIRTUALIZE_APIC_ACCESSES | PROC_BASED2.VIRTUALIZE_X2APIC_MODE |
  PROC_BASED2.APIC_REGISTER_VIRTUALIZATION | PROC_BASED2.VIRTUAL_INTERRUPT_DELIVERY | PROC_BASED2.ENABLE_VM_FUNCTIONS |
  PROC_BASED2.VMCS_SHADOWING | PROC_BASED2.ENABLE_PML | PROC_BASED2.EPT_VIOLATION_VE;
const EXIT_MORE = EXIT_CTLS.LOAD_IA32_PERF_GLOBAL_CTRL;
const ENTRY_MORE = ENTRY_CTLS.ENTRY_TO_SMM | ENTRY_CTLS.DEACTIVATE_DUAL_MONITOR_TREATMENT | ENTRY_CTLS.LOAD_IA32_PERF_GLOBAL_CTRL;

export const WIDE_CAPS = new VmxCapabilities(new Map<number, MsrValue | null>([
  widen(MSR.IA32_VMX_PINBASED_CTLS, PIN_MORE), widen(MSR.IA32_VMX_TRUE_PINBASED_CTLS, PIN_MORE),
  widen(MSR.IA32_VMX_PROCBASED_CTLS, PROC_MORE), widen(MSR.IA32_VMX_TRUE_PROCBASED_CTLS, PROC_MORE),
  widen(MSR.IA32_VMX_PROCBASED_CTLS2, PROC2_MORE),
  widen(MSR.IA32_VMX_EXIT_CTLS, EXIT_MORE), widen(MSR.IA32_VMX_TRUE_EXIT_CTLS, EXIT_MORE),
  widen(MSR.IA32_VMX_ENTRY_CTLS, ENTRY_MORE), widen(MSR.IA32_VMX_TRUE_ENTRY_CTLS, ENTRY_MORE),
  widen(MSR.IA32_VMX_MISC, 0, (1 << MISC_BIT.ACTIVITY_SHUTDOWN) | (1 << MISC_BIT.ACTIVITY_WAIT_FOR_SIPI) | (1 << MISC_BIT.ZERO_LENGTH_INJECTION)),
  [MSR.IA32_VMX_VMFUNC, { lo: 1, hi: 0 }], // EPTP switching (A.11)
]));

export type CapsName = 'default' | 'wide';
export function capsOf(name: CapsName): VmxCapabilities { return name === 'wide' ? WIDE_CAPS : DEFAULT_CAPS; }
