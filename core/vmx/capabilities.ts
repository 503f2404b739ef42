/**
 * VMX capability MSRs: what this emulated processor lets a hypervisor enable.
 *
 * Sources (Intel SDM; chapter numbers move between editions, so titles are
 * given too):
 *  - Vol. 3D Appendix A "VMX Capability Reporting Facility":
 *    A.1 "Basic VMX Information", A.2 "Reserved Controls and Default Settings",
 *    A.3 "VM-Execution Controls" (A.3.1 pin-based, A.3.2 primary, A.3.3
 *    secondary), A.4 "VM-Exit Controls", A.5 "VM-Entry Controls",
 *    A.6 "Miscellaneous Data", A.7 "VMX-Fixed Bits in CR0", A.8 "VMX-Fixed Bits
 *    in CR4", A.9 "VMCS Enumeration", A.10 "VPID and EPT Capabilities",
 *    A.11 "VM Functions".
 *  - Vol. 3C chapter "Virtual Machine Control Structures" (24 in older
 *    editions, 25 in newer), section "VM-Execution Control Fields" tables
 *    "Definitions of Pin-Based VM-Execution Controls", "Definitions of Primary
 *    Processor-Based VM-Execution Controls", "Definitions of Secondary
 *    Processor-Based VM-Execution Controls"; section "VM-Exit Control Fields"
 *    table "Definitions of (Primary) VM-Exit Controls"; section "VM-Entry
 *    Control Fields" table "Definitions of VM-Entry Controls".
 *
 * The values are modelled on a Skylake-class Intel processor (region size
 * 4096, WB memory type, INS/OUTS reporting, TRUE control MSRs, the default1
 * classes of A.2) but the allowed-1 settings are restricted to the features
 * this machine implements (or is going to). A control format MSR holds the
 * allowed 0-settings in bits 31:0 (bit X set => control X must be 1) and the
 * allowed 1-settings in bits 63:32 (bit 32+X clear => control X must be 0).
 *
 * Every MSR value is a pair of uint32 halves {lo, hi}; nothing here uses BigInt.
 */

/** Capability MSR indices, Vol. 3D Appendix A (and Vol. 4 "Model-Specific Registers"). */
export const MSR = {
  IA32_VMX_BASIC: 0x480,
  IA32_VMX_PINBASED_CTLS: 0x481,
  IA32_VMX_PROCBASED_CTLS: 0x482,
  IA32_VMX_EXIT_CTLS: 0x483,
  IA32_VMX_ENTRY_CTLS: 0x484,
  IA32_VMX_MISC: 0x485,
  IA32_VMX_CR0_FIXED0: 0x486,
  IA32_VMX_CR0_FIXED1: 0x487,
  IA32_VMX_CR4_FIXED0: 0x488,
  IA32_VMX_CR4_FIXED1: 0x489,
  IA32_VMX_VMCS_ENUM: 0x48a,
  IA32_VMX_PROCBASED_CTLS2: 0x48b,
  IA32_VMX_EPT_VPID_CAP: 0x48c,
  IA32_VMX_TRUE_PINBASED_CTLS: 0x48d,
  IA32_VMX_TRUE_PROCBASED_CTLS: 0x48e,
  IA32_VMX_TRUE_EXIT_CTLS: 0x48f,
  IA32_VMX_TRUE_ENTRY_CTLS: 0x490,
  IA32_VMX_VMFUNC: 0x491,
} as const;

// ---------------------------------------------------------------------------
// Control bits (masks of the 32-bit control fields)
// ---------------------------------------------------------------------------

/** Table "Definitions of Pin-Based VM-Execution Controls". */
export const PIN_BASED = {
  EXTERNAL_INTERRUPT_EXITING: 1 << 0,
  NMI_EXITING: 1 << 3,
  VIRTUAL_NMIS: 1 << 5,
  ACTIVATE_VMX_PREEMPTION_TIMER: 1 << 6,
  PROCESS_POSTED_INTERRUPTS: 1 << 7,
} as const;

/** Table "Definitions of Primary Processor-Based VM-Execution Controls". */
export const PROC_BASED = {
  INTERRUPT_WINDOW_EXITING: 1 << 2,
  USE_TSC_OFFSETTING: 1 << 3,
  HLT_EXITING: 1 << 7,
  INVLPG_EXITING: 1 << 9,
  MWAIT_EXITING: 1 << 10,
  RDPMC_EXITING: 1 << 11,
  RDTSC_EXITING: 1 << 12,
  CR3_LOAD_EXITING: 1 << 15,
  CR3_STORE_EXITING: 1 << 16,
  ACTIVATE_TERTIARY_CONTROLS: 1 << 17,
  CR8_LOAD_EXITING: 1 << 19,
  CR8_STORE_EXITING: 1 << 20,
  USE_TPR_SHADOW: 1 << 21,
  NMI_WINDOW_EXITING: 1 << 22,
  MOV_DR_EXITING: 1 << 23,
  UNCONDITIONAL_IO_EXITING: 1 << 24,
  USE_IO_BITMAPS: 1 << 25,
  MONITOR_TRAP_FLAG: 1 << 27,
  USE_MSR_BITMAPS: 1 << 28,
  MONITOR_EXITING: 1 << 29,
  PAUSE_EXITING: 1 << 30,
  ACTIVATE_SECONDARY_CONTROLS: 0x8000_0000,
} as const;

/** Table "Definitions of Secondary Processor-Based VM-Execution Controls". */
export const PROC_BASED2 = {
  VIRTUALIZE_APIC_ACCESSES: 1 << 0,
  ENABLE_EPT: 1 << 1,
  DESCRIPTOR_TABLE_EXITING: 1 << 2,
  ENABLE_RDTSCP: 1 << 3,
  VIRTUALIZE_X2APIC_MODE: 1 << 4,
  ENABLE_VPID: 1 << 5,
  WBINVD_EXITING: 1 << 6,
  UNRESTRICTED_GUEST: 1 << 7,
  APIC_REGISTER_VIRTUALIZATION: 1 << 8,
  VIRTUAL_INTERRUPT_DELIVERY: 1 << 9,
  PAUSE_LOOP_EXITING: 1 << 10,
  RDRAND_EXITING: 1 << 11,
  ENABLE_INVPCID: 1 << 12,
  ENABLE_VM_FUNCTIONS: 1 << 13,
  VMCS_SHADOWING: 1 << 14,
  ENABLE_ENCLS_EXITING: 1 << 15,
  RDSEED_EXITING: 1 << 16,
  ENABLE_PML: 1 << 17,
  EPT_VIOLATION_VE: 1 << 18,
  CONCEAL_VMX_FROM_PT: 1 << 19,
  ENABLE_XSAVES_XRSTORS: 1 << 20,
  MODE_BASED_EXECUTE_CONTROL_FOR_EPT: 1 << 22,
  SUB_PAGE_WRITE_PERMISSIONS_FOR_EPT: 1 << 23,
  PT_USES_GUEST_PHYSICAL_ADDRESSES: 1 << 24,
  USE_TSC_SCALING: 1 << 25,
  ENABLE_USER_WAIT_AND_PAUSE: 1 << 26,
  ENABLE_ENCLV_EXITING: 1 << 28,
} as const;

/** Table "Definitions of (Primary) VM-Exit Controls". */
export const EXIT_CTLS = {
  SAVE_DEBUG_CONTROLS: 1 << 2,
  HOST_ADDRESS_SPACE_SIZE: 1 << 9,
  LOAD_IA32_PERF_GLOBAL_CTRL: 1 << 12,
  ACKNOWLEDGE_INTERRUPT_ON_EXIT: 1 << 15,
  SAVE_IA32_PAT: 1 << 18,
  LOAD_IA32_PAT: 1 << 19,
  SAVE_IA32_EFER: 1 << 20,
  LOAD_IA32_EFER: 1 << 21,
  SAVE_VMX_PREEMPTION_TIMER_VALUE: 1 << 22,
  CLEAR_IA32_BNDCFGS: 1 << 23,
  CONCEAL_VMX_FROM_PT: 1 << 24,
} as const;

/** Table "Definitions of VM-Entry Controls". */
export const ENTRY_CTLS = {
  LOAD_DEBUG_CONTROLS: 1 << 2,
  IA32E_MODE_GUEST: 1 << 9,
  ENTRY_TO_SMM: 1 << 10,
  DEACTIVATE_DUAL_MONITOR_TREATMENT: 1 << 11,
  LOAD_IA32_PERF_GLOBAL_CTRL: 1 << 13,
  LOAD_IA32_PAT: 1 << 14,
  LOAD_IA32_EFER: 1 << 15,
  LOAD_IA32_BNDCFGS: 1 << 16,
  CONCEAL_VMX_FROM_PT: 1 << 17,
} as const;

/**
 * Default1 classes, Vol. 3D A.2 "Reserved Controls and Default Settings":
 * pin-based bits 1, 2, 4; primary processor-based bits 1, 4-6, 8, 13-16, 26;
 * VM-exit bits 0-8, 10, 11, 13, 14, 16, 17; VM-entry bits 0-8, 12.
 * The secondary controls have no default1 bits.
 */
export const PIN_BASED_DEFAULT1 = 0x0000_0016;
export const PROC_BASED_DEFAULT1 = 0x0401_e172;
export const EXIT_CTLS_DEFAULT1 = 0x0003_6dff;
export const ENTRY_CTLS_DEFAULT1 = 0x0000_11ff;

// ---------------------------------------------------------------------------
// Bit positions (0..63) inside the non-control capability MSRs
// ---------------------------------------------------------------------------

/** IA32_VMX_BASIC, Vol. 3D A.1 "Basic VMX Information". */
export const BASIC_BIT = {
  /** Bits 44:32: bytes to allocate for the VMXON region and any VMCS region. */
  REGION_SIZE_SHIFT: 32,
  /** Bit 48: if 1, region addresses are limited to 32 bits. Always 0 on Intel 64. */
  ADDRESSES_32BIT: 48,
  /** Bit 49: dual-monitor treatment of SMIs and SMM supported. */
  DUAL_MONITOR: 49,
  /** Bits 53:50: memory type for VMCS and referenced structures (6 = WB). */
  MEMORY_TYPE_SHIFT: 50,
  /** Bit 54: VM exits due to INS/OUTS report instruction information. */
  INS_OUTS_INFO: 54,
  /** Bit 55: default1 controls may be 0; TRUE_* control MSRs exist. */
  TRUE_CONTROLS: 55,
  /** Bit 56: VM entry may deliver hardware exceptions with or without error code regardless of vector. */
  ANY_EXCEPTION_ERROR_CODE: 56,
} as const;

/** IA32_VMX_MISC, Vol. 3D A.6 "Miscellaneous Data". */
export const MISC_BIT = {
  /** Bits 4:0: the preemption timer counts down when bit X of the TSC changes. */
  PREEMPTION_TIMER_RATE_MASK: 0x1f,
  /** Bit 5: VM exits store IA32_EFER.LMA into the "IA-32e mode guest" entry control. */
  EXIT_STORES_LMA: 5,
  /** Bits 8:6: supported activity states HLT (6), shutdown (7), wait-for-SIPI (8). */
  ACTIVITY_HLT: 6,
  ACTIVITY_SHUTDOWN: 7,
  ACTIVITY_WAIT_FOR_SIPI: 8,
  /** Bit 14: Intel PT usable in VMX operation. */
  PT_IN_VMX: 14,
  /** Bit 15: RDMSR of IA32_SMBASE in SMM. */
  RDMSR_SMBASE_IN_SMM: 15,
  /** Bits 24:16: number of CR3-target values. */
  CR3_TARGET_COUNT_SHIFT: 16,
  /** Bits 27:25: N, recommended maximum MSR-list length 512 * (N + 1). */
  MAX_MSR_LIST_SHIFT: 25,
  /** Bit 28: bit 2 of IA32_SMM_MONITOR_CTL can be set. */
  SMM_MONITOR_CTL_BIT2: 28,
  /** Bit 29: VMWRITE may write any supported field, including VM-exit information fields. */
  VMWRITE_ANY_FIELD: 29,
  /** Bit 30: VM entry may inject software interrupts/exceptions with instruction length 0. */
  ZERO_LENGTH_INJECTION: 30,
} as const;

/** IA32_VMX_EPT_VPID_CAP, Vol. 3D A.10 "VPID and EPT Capabilities". */
export const EPT_VPID_CAP_BIT = {
  EXECUTE_ONLY: 0,
  PAGE_WALK_LENGTH_4: 6,
  PAGE_WALK_LENGTH_5: 7,
  MEMORY_TYPE_UC: 8,
  MEMORY_TYPE_WB: 14,
  PDE_2MB_PAGES: 16,
  PDPTE_1GB_PAGES: 17,
  INVEPT: 20,
  ACCESSED_DIRTY_FLAGS: 21,
  ADVANCED_EPT_VIOLATION_INFO: 22,
  SUPERVISOR_SHADOW_STACK: 23,
  INVEPT_SINGLE_CONTEXT: 25,
  INVEPT_ALL_CONTEXT: 26,
  INVVPID: 32,
  INVVPID_INDIVIDUAL_ADDRESS: 40,
  INVVPID_SINGLE_CONTEXT: 41,
  INVVPID_ALL_CONTEXT: 42,
  INVVPID_SINGLE_CONTEXT_RETAINING_GLOBALS: 43,
} as const;

/**
 * Physical-address width of this processor (CPUID.80000008H:EAX[7:0]); the
 * value of a Skylake client part. VMXON/VMCLEAR/VMPTRLD reject addresses that
 * set bits at or above it (Vol. 3C "VMX Instruction Reference", and
 * IA32_VMX_BASIC bit 48 is 0 so the full width applies).
 */
export const PHYSICAL_ADDRESS_WIDTH = 39;

/** VMCS revision identifier, IA32_VMX_BASIC bits 30:0. Implementation-specific; ours is 4. */
export const VMCS_REVISION_ID = 4;

/** Size of the VMXON region and of a VMCS region (IA32_VMX_BASIC bits 44:32). */
export const VMCS_REGION_SIZE = 4096;

/** Memory type 6 = write-back (Vol. 3D A.1; Vol. 3A "Memory Types"). */
export const MEMORY_TYPE_WB = 6;

/**
 * CR4 bits this processor supports, i.e. the ones that may be 1 in VMX
 * operation (IA32_VMX_CR4_FIXED1). The CPU model's CPUID must agree with this
 * (core/cpu/exec/system.ts CR4_VALID): no PCIDE (CPUID.01H:ECX.PCID = 0),
 * which is #GP(0) to set (Vol. 3A 2.5).
 */
export const CR4_SUPPORTED = {
  VME: 1 << 0, PVI: 1 << 1, TSD: 1 << 2, DE: 1 << 3, PSE: 1 << 4, PAE: 1 << 5,
  MCE: 1 << 6, PGE: 1 << 7, PCE: 1 << 8, OSFXSR: 1 << 9, OSXMMEXCPT: 1 << 10, UMIP: 1 << 11,
  VMXE: 1 << 13, FSGSBASE: 1 << 16, OSXSAVE: 1 << 18, SMEP: 1 << 20, SMAP: 1 << 21,
} as const;

// ---------------------------------------------------------------------------
// The MSR values
// ---------------------------------------------------------------------------

export interface MsrValue {
  readonly lo: number;
  readonly hi: number;
}

function msr(lo: number, hi: number): MsrValue {
  return Object.freeze({ lo: lo >>> 0, hi: hi >>> 0 });
}

const P = PIN_BASED, C = PROC_BASED, C2 = PROC_BASED2, X = EXIT_CTLS, N = ENTRY_CTLS;

/** Pin-based allowed-1 settings: the default1 bits plus the implemented controls. */
const PIN_ALLOWED1 = PIN_BASED_DEFAULT1 | P.EXTERNAL_INTERRUPT_EXITING | P.NMI_EXITING |
  P.VIRTUAL_NMIS | P.ACTIVATE_VMX_PREEMPTION_TIMER;

const PROC_ALLOWED1 = PROC_BASED_DEFAULT1 | C.INTERRUPT_WINDOW_EXITING | C.USE_TSC_OFFSETTING |
  C.HLT_EXITING | C.INVLPG_EXITING | C.MWAIT_EXITING | C.RDPMC_EXITING | C.RDTSC_EXITING |
  C.CR3_LOAD_EXITING | C.CR3_STORE_EXITING | C.CR8_LOAD_EXITING | C.CR8_STORE_EXITING |
  C.NMI_WINDOW_EXITING | C.MOV_DR_EXITING | C.UNCONDITIONAL_IO_EXITING | C.USE_IO_BITMAPS |
  C.MONITOR_TRAP_FLAG | C.USE_MSR_BITMAPS | C.MONITOR_EXITING | C.PAUSE_EXITING | C.ACTIVATE_SECONDARY_CONTROLS;

const PROC2_ALLOWED1 = C2.ENABLE_EPT | C2.DESCRIPTOR_TABLE_EXITING | C2.ENABLE_RDTSCP |
  C2.ENABLE_VPID | C2.WBINVD_EXITING | C2.UNRESTRICTED_GUEST;

const EXIT_ALLOWED1 = EXIT_CTLS_DEFAULT1 | X.SAVE_DEBUG_CONTROLS | X.HOST_ADDRESS_SPACE_SIZE |
  X.ACKNOWLEDGE_INTERRUPT_ON_EXIT | X.SAVE_IA32_PAT | X.LOAD_IA32_PAT | X.SAVE_IA32_EFER |
  X.LOAD_IA32_EFER | X.SAVE_VMX_PREEMPTION_TIMER_VALUE;

const ENTRY_ALLOWED1 = ENTRY_CTLS_DEFAULT1 | N.LOAD_DEBUG_CONTROLS | N.IA32E_MODE_GUEST |
  N.LOAD_IA32_PAT | N.LOAD_IA32_EFER;

/**
 * TRUE MSRs (A.3.1, A.3.2, A.4, A.5): which default1 controls may in fact be 0.
 * As on real Skylake parts: CR3-load/CR3-store exiting (primary), "save debug
 * controls" (exit) and "load debug controls" (entry) may be 0; the pin-based
 * default1 bits stay 1.
 */
const TRUE_PIN_ALLOWED0 = PIN_BASED_DEFAULT1;
const TRUE_PROC_ALLOWED0 = PROC_BASED_DEFAULT1 & ~(C.CR3_LOAD_EXITING | C.CR3_STORE_EXITING);
const TRUE_EXIT_ALLOWED0 = EXIT_CTLS_DEFAULT1 & ~X.SAVE_DEBUG_CONTROLS;
const TRUE_ENTRY_ALLOWED0 = ENTRY_CTLS_DEFAULT1 & ~N.LOAD_DEBUG_CONTROLS;

/** IA32_VMX_BASIC high half: region size, WB, INS/OUTS info (54), TRUE controls (55); no dual-monitor (49). */
const BASIC_HI = VMCS_REGION_SIZE | (MEMORY_TYPE_WB << (BASIC_BIT.MEMORY_TYPE_SHIFT - 32)) |
  (1 << (BASIC_BIT.INS_OUTS_INFO - 32)) | (1 << (BASIC_BIT.TRUE_CONTROLS - 32));

/**
 * IA32_VMX_MISC: preemption-timer rate 5, bit 5 (required of processors that
 * support "unrestricted guest"), activity state HLT only, 4 CR3-target values,
 * max MSR list 512 (N = 0). Bit 29 is 0: VMWRITE to a VM-exit information
 * field fails with error 13 (VMWRITE to read-only VMCS component).
 */
const MISC_LO = 5 | (1 << MISC_BIT.EXIT_STORES_LMA) | (1 << MISC_BIT.ACTIVITY_HLT) |
  (4 << MISC_BIT.CR3_TARGET_COUNT_SHIFT) | (0 << MISC_BIT.MAX_MSR_LIST_SHIFT);

const E = EPT_VPID_CAP_BIT;
const EPT_VPID_LO = (1 << E.EXECUTE_ONLY) | (1 << E.PAGE_WALK_LENGTH_4) | (1 << E.MEMORY_TYPE_WB) |
  (1 << E.PDE_2MB_PAGES) | (1 << E.PDPTE_1GB_PAGES) | (1 << E.INVEPT) | (1 << E.ACCESSED_DIRTY_FLAGS) |
  (1 << E.INVEPT_SINGLE_CONTEXT) | (1 << E.INVEPT_ALL_CONTEXT);
const EPT_VPID_HI = (1 << (E.INVVPID - 32)) | (1 << (E.INVVPID_INDIVIDUAL_ADDRESS - 32)) |
  (1 << (E.INVVPID_SINGLE_CONTEXT - 32)) | (1 << (E.INVVPID_ALL_CONTEXT - 32)) |
  (1 << (E.INVVPID_SINGLE_CONTEXT_RETAINING_GLOBALS - 32));

const CR4_FIXED1 = Object.values(CR4_SUPPORTED).reduce((a, b) => a | b, 0);

/**
 * Highest index (bits 9:1 of an encoding) of any VMCS field this processor
 * supports: the VMX-preemption timer value, 0x482E, index 23 (A.9 "VMCS
 * Enumeration"; fields.ts tests this against the supported field table).
 */
const VMCS_ENUM_LO = 23 << 1;

/** The default capability MSR set, by MSR index. IA32_VMX_VMFUNC is absent: VM functions are not supported. */
export const DEFAULT_CAPABILITY_MSRS: ReadonlyMap<number, MsrValue> = new Map<number, MsrValue>([
  [MSR.IA32_VMX_BASIC, msr(VMCS_REVISION_ID, BASIC_HI)],
  [MSR.IA32_VMX_PINBASED_CTLS, msr(PIN_BASED_DEFAULT1, PIN_ALLOWED1)],
  [MSR.IA32_VMX_PROCBASED_CTLS, msr(PROC_BASED_DEFAULT1, PROC_ALLOWED1)],
  [MSR.IA32_VMX_EXIT_CTLS, msr(EXIT_CTLS_DEFAULT1, EXIT_ALLOWED1)],
  [MSR.IA32_VMX_ENTRY_CTLS, msr(ENTRY_CTLS_DEFAULT1, ENTRY_ALLOWED1)],
  [MSR.IA32_VMX_MISC, msr(MISC_LO, 0)],
  [MSR.IA32_VMX_CR0_FIXED0, msr(0x8000_0021, 0)], // PG, NE, PE (A.7)
  [MSR.IA32_VMX_CR0_FIXED1, msr(0xffff_ffff, 0)],
  [MSR.IA32_VMX_CR4_FIXED0, msr(CR4_SUPPORTED.VMXE, 0)], // A.8
  [MSR.IA32_VMX_CR4_FIXED1, msr(CR4_FIXED1, 0)],
  [MSR.IA32_VMX_VMCS_ENUM, msr(VMCS_ENUM_LO, 0)],
  [MSR.IA32_VMX_PROCBASED_CTLS2, msr(0, PROC2_ALLOWED1)],
  [MSR.IA32_VMX_EPT_VPID_CAP, msr(EPT_VPID_LO, EPT_VPID_HI)],
  [MSR.IA32_VMX_TRUE_PINBASED_CTLS, msr(TRUE_PIN_ALLOWED0, PIN_ALLOWED1)],
  [MSR.IA32_VMX_TRUE_PROCBASED_CTLS, msr(TRUE_PROC_ALLOWED0, PROC_ALLOWED1)],
  [MSR.IA32_VMX_TRUE_EXIT_CTLS, msr(TRUE_EXIT_ALLOWED0, EXIT_ALLOWED1)],
  [MSR.IA32_VMX_TRUE_ENTRY_CTLS, msr(TRUE_ENTRY_ALLOWED0, ENTRY_ALLOWED1)],
]);

export type ControlKind = 'pin' | 'proc' | 'proc2' | 'exit' | 'entry';

/**
 * A processor's VMX capabilities. Immutable; construct with overrides to model
 * another processor (e.g. one that advertises IA32_VMX_MISC bit 29).
 * An override value of `null` removes that MSR (RDMSR would #GP).
 */
export class VmxCapabilities {
  private readonly msrs: ReadonlyMap<number, MsrValue>;
  /** CPUID.80000008H:EAX[7:0]. */
  readonly physicalAddressWidth: number;

  constructor(overrides?: ReadonlyMap<number, MsrValue | null>, physicalAddressWidth = PHYSICAL_ADDRESS_WIDTH) {
    const m = new Map(DEFAULT_CAPABILITY_MSRS);
    if (overrides) {
      for (const [k, v] of overrides) {
        if (v === null) m.delete(k);
        else m.set(k, msr(v.lo, v.hi));
      }
    }
    this.msrs = m;
    this.physicalAddressWidth = physicalAddressWidth;
  }

  /** RDMSR of a capability MSR; undefined if this processor does not have it. */
  read(index: number): MsrValue | undefined {
    return this.msrs.get(index);
  }

  private must(index: number): MsrValue {
    const v = this.msrs.get(index);
    if (!v) throw new Error(`capability MSR 0x${index.toString(16)} is not implemented`);
    return v;
  }

  /** True iff bit `bit` (0..63) of the MSR is 1; false if the MSR is absent. */
  bit(index: number, bit: number): boolean {
    const v = this.msrs.get(index);
    if (!v) return false;
    return bit < 32 ? ((v.lo >>> bit) & 1) === 1 : ((v.hi >>> (bit - 32)) & 1) === 1;
  }

  /** Bits that must be 1 in a control field governed by this control MSR (bits 31:0). */
  allowed0(index: number): number { return this.must(index).lo; }
  /** Bits that may be 1 in a control field governed by this control MSR (bits 63:32). */
  allowed1(index: number): number { return this.must(index).hi; }

  /** (value & allowed0) === allowed0 and (value & ~allowed1) === 0 (A.3-A.5). */
  controlsValid(index: number, value: number): boolean {
    const m = this.must(index);
    return ((value & m.lo) >>> 0) === m.lo && ((value & ~m.hi) >>> 0) === 0;
  }

  /** IA32_VMX_BASIC bits 30:0. */
  get vmcsRevisionId(): number { return this.must(MSR.IA32_VMX_BASIC).lo & 0x7fff_ffff; }
  /** IA32_VMX_BASIC bits 44:32. */
  get regionSize(): number { return this.must(MSR.IA32_VMX_BASIC).hi & 0x1fff; }
  /** IA32_VMX_BASIC bit 55. */
  get trueControls(): boolean { return this.bit(MSR.IA32_VMX_BASIC, BASIC_BIT.TRUE_CONTROLS); }
  /** IA32_VMX_MISC bit 29: VMWRITE may write VM-exit information fields. */
  get vmwriteAnyField(): boolean { return this.bit(MSR.IA32_VMX_MISC, MISC_BIT.VMWRITE_ANY_FIELD); }
  /** IA32_VMX_MISC bits 24:16. */
  get cr3TargetCount(): number { return ((this.read(MSR.IA32_VMX_MISC)?.lo ?? 0) >>> MISC_BIT.CR3_TARGET_COUNT_SHIFT) & 0x1ff; }
  /** IA32_VMX_MISC bits 4:0. */
  get preemptionTimerRate(): number { return (this.read(MSR.IA32_VMX_MISC)?.lo ?? 0) & MISC_BIT.PREEMPTION_TIMER_RATE_MASK; }
  /** Activity states VM entry accepts besides 0 (active): bitmap of A.6 bits 8:6 shifted to states 1..3. */
  activityStateSupported(state: number): boolean {
    if (state === 0) return true;
    if (state < 1 || state > 3) return false;
    return this.bit(MSR.IA32_VMX_MISC, MISC_BIT.ACTIVITY_HLT + state - 1);
  }

  /**
   * The MSR that governs a control field: the TRUE_* MSR when IA32_VMX_BASIC
   * bit 55 is 1 (A.3.1, A.3.2, A.4, A.5), otherwise the legacy one.
   */
  controlMsr(kind: ControlKind): number {
    const t = this.trueControls;
    switch (kind) {
      case 'pin': return t ? MSR.IA32_VMX_TRUE_PINBASED_CTLS : MSR.IA32_VMX_PINBASED_CTLS;
      case 'proc': return t ? MSR.IA32_VMX_TRUE_PROCBASED_CTLS : MSR.IA32_VMX_PROCBASED_CTLS;
      case 'proc2': return MSR.IA32_VMX_PROCBASED_CTLS2;
      case 'exit': return t ? MSR.IA32_VMX_TRUE_EXIT_CTLS : MSR.IA32_VMX_EXIT_CTLS;
      case 'entry': return t ? MSR.IA32_VMX_TRUE_ENTRY_CTLS : MSR.IA32_VMX_ENTRY_CTLS;
    }
  }

  /** Whether control `mask` of a control field may be 1 (allowed-1). Secondary controls also need the primary "activate secondary controls". */
  canSet(kind: ControlKind, mask: number): boolean {
    if (kind === 'proc2' && !this.canSet('proc', PROC_BASED.ACTIVATE_SECONDARY_CONTROLS)) return false;
    const index = this.controlMsr(kind);
    if (!this.msrs.has(index)) return false;
    return ((this.allowed1(index) & mask) >>> 0) === (mask >>> 0);
  }
}

export const DEFAULT_VMX_CAPABILITIES = new VmxCapabilities();

/** RDMSR of a VMX capability MSR on the default processor; undefined means RDMSR would #GP. */
export function readCapabilityMsr(index: number, caps: VmxCapabilities = DEFAULT_VMX_CAPABILITIES): MsrValue | undefined {
  return caps.read(index);
}

export function allowed0(index: number, caps: VmxCapabilities = DEFAULT_VMX_CAPABILITIES): number {
  return caps.allowed0(index);
}

export function allowed1(index: number, caps: VmxCapabilities = DEFAULT_VMX_CAPABILITIES): number {
  return caps.allowed1(index);
}

export function controlsValid(index: number, value: number, caps: VmxCapabilities = DEFAULT_VMX_CAPABILITIES): boolean {
  return caps.controlsValid(index, value);
}
