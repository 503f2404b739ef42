/**
 * VMCS fields: encodings, names, widths, types and a dense index.
 *
 * Source: Intel SDM Vol. 3D Appendix B "Field Encoding in VMCS" (tables B-1 to
 * B-14: 16-bit, 64-bit, 32-bit and natural-width control, read-only data,
 * guest-state and host-state fields).
 *
 * Encoding rule, Vol. 3C section "VMREAD, VMWRITE, and Encodings of VMCS
 * Fields" (24.11.2 in older editions, 25.11.2 in newer):
 *   bit 0      access type: 0 = full, 1 = high (high only for 64-bit fields)
 *   bits 9:1   index
 *   bits 11:10 type: 0 = control, 1 = VM-exit information (read-only data),
 *              2 = guest state, 3 = host state
 *   bit 12     reserved (0)
 *   bits 14:13 width: 0 = 16-bit, 1 = 64-bit, 2 = 32-bit, 3 = natural width
 *   bits 31:15 reserved (0)
 *
 * The table holds the fields of a processor without SGX, Intel PT, MPX, CET,
 * PKS, HLAT, sub-page permissions or tertiary controls. Appendix B marks many
 * fields "exists only on processors that support the 1-setting of ..."; those
 * conditions are recorded in `requires`, and `fieldSupported` evaluates them
 * against the capability MSRs (VMREAD/VMWRITE of a field that does not exist
 * fail with VM-instruction error 12).
 *
 * Names are the Appendix B names in upper snake case ("Address of X" becomes
 * X_ADDRESS; parenthesised abbreviations and a trailing "field" are dropped).
 * `VMCS` lists the full encodings; the high encoding of a 64-bit field is
 * `enc | 1` (see `highEncoding`).
 */

import { MSR, PIN_BASED, PROC_BASED, PROC_BASED2, EXIT_CTLS, ENTRY_CTLS, type VmxCapabilities } from './capabilities.js';

export const VMCS = {
  // B.1.1 16-bit control fields
  VPID: 0x0000,
  POSTED_INTERRUPT_NOTIFICATION_VECTOR: 0x0002,
  EPTP_INDEX: 0x0004,
  // B.1.2 16-bit guest-state fields
  GUEST_ES_SELECTOR: 0x0800,
  GUEST_CS_SELECTOR: 0x0802,
  GUEST_SS_SELECTOR: 0x0804,
  GUEST_DS_SELECTOR: 0x0806,
  GUEST_FS_SELECTOR: 0x0808,
  GUEST_GS_SELECTOR: 0x080a,
  GUEST_LDTR_SELECTOR: 0x080c,
  GUEST_TR_SELECTOR: 0x080e,
  GUEST_INTERRUPT_STATUS: 0x0810,
  PML_INDEX: 0x0812,
  // B.1.3 16-bit host-state fields
  HOST_ES_SELECTOR: 0x0c00,
  HOST_CS_SELECTOR: 0x0c02,
  HOST_SS_SELECTOR: 0x0c04,
  HOST_DS_SELECTOR: 0x0c06,
  HOST_FS_SELECTOR: 0x0c08,
  HOST_GS_SELECTOR: 0x0c0a,
  HOST_TR_SELECTOR: 0x0c0c,
  // B.2.1 64-bit control fields
  IO_BITMAP_A_ADDRESS: 0x2000,
  IO_BITMAP_B_ADDRESS: 0x2002,
  MSR_BITMAPS_ADDRESS: 0x2004,
  VM_EXIT_MSR_STORE_ADDRESS: 0x2006,
  VM_EXIT_MSR_LOAD_ADDRESS: 0x2008,
  VM_ENTRY_MSR_LOAD_ADDRESS: 0x200a,
  EXECUTIVE_VMCS_POINTER: 0x200c,
  PML_ADDRESS: 0x200e,
  TSC_OFFSET: 0x2010,
  VIRTUAL_APIC_ADDRESS: 0x2012,
  APIC_ACCESS_ADDRESS: 0x2014,
  POSTED_INTERRUPT_DESCRIPTOR_ADDRESS: 0x2016,
  VM_FUNCTION_CONTROLS: 0x2018,
  EPT_POINTER: 0x201a,
  EOI_EXIT_BITMAP_0: 0x201c,
  EOI_EXIT_BITMAP_1: 0x201e,
  EOI_EXIT_BITMAP_2: 0x2020,
  EOI_EXIT_BITMAP_3: 0x2022,
  EPTP_LIST_ADDRESS: 0x2024,
  VMREAD_BITMAP_ADDRESS: 0x2026,
  VMWRITE_BITMAP_ADDRESS: 0x2028,
  VIRTUALIZATION_EXCEPTION_INFORMATION_ADDRESS: 0x202a,
  XSS_EXITING_BITMAP: 0x202c,
  TSC_MULTIPLIER: 0x2032,
  // B.2.2 64-bit read-only data field
  GUEST_PHYSICAL_ADDRESS: 0x2400,
  // B.2.3 64-bit guest-state fields
  VMCS_LINK_POINTER: 0x2800,
  GUEST_IA32_DEBUGCTL: 0x2802,
  GUEST_IA32_PAT: 0x2804,
  GUEST_IA32_EFER: 0x2806,
  GUEST_IA32_PERF_GLOBAL_CTRL: 0x2808,
  GUEST_PDPTE0: 0x280a,
  GUEST_PDPTE1: 0x280c,
  GUEST_PDPTE2: 0x280e,
  GUEST_PDPTE3: 0x2810,
  // B.2.4 64-bit host-state fields
  HOST_IA32_PAT: 0x2c00,
  HOST_IA32_EFER: 0x2c02,
  HOST_IA32_PERF_GLOBAL_CTRL: 0x2c04,
  // B.3.1 32-bit control fields
  PIN_BASED_VM_EXECUTION_CONTROLS: 0x4000,
  PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS: 0x4002,
  EXCEPTION_BITMAP: 0x4004,
  PAGE_FAULT_ERROR_CODE_MASK: 0x4006,
  PAGE_FAULT_ERROR_CODE_MATCH: 0x4008,
  CR3_TARGET_COUNT: 0x400a,
  /** "Primary VM-exit controls" in newer editions, "VM-exit controls" in older ones. */
  VM_EXIT_CONTROLS: 0x400c,
  VM_EXIT_MSR_STORE_COUNT: 0x400e,
  VM_EXIT_MSR_LOAD_COUNT: 0x4010,
  VM_ENTRY_CONTROLS: 0x4012,
  VM_ENTRY_MSR_LOAD_COUNT: 0x4014,
  VM_ENTRY_INTERRUPTION_INFORMATION: 0x4016,
  VM_ENTRY_EXCEPTION_ERROR_CODE: 0x4018,
  VM_ENTRY_INSTRUCTION_LENGTH: 0x401a,
  TPR_THRESHOLD: 0x401c,
  SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS: 0x401e,
  PLE_GAP: 0x4020,
  PLE_WINDOW: 0x4022,
  // B.3.2 32-bit read-only data fields
  VM_INSTRUCTION_ERROR: 0x4400,
  EXIT_REASON: 0x4402,
  VM_EXIT_INTERRUPTION_INFORMATION: 0x4404,
  VM_EXIT_INTERRUPTION_ERROR_CODE: 0x4406,
  IDT_VECTORING_INFORMATION: 0x4408,
  IDT_VECTORING_ERROR_CODE: 0x440a,
  VM_EXIT_INSTRUCTION_LENGTH: 0x440c,
  VM_EXIT_INSTRUCTION_INFORMATION: 0x440e,
  // B.3.3 32-bit guest-state fields
  GUEST_ES_LIMIT: 0x4800,
  GUEST_CS_LIMIT: 0x4802,
  GUEST_SS_LIMIT: 0x4804,
  GUEST_DS_LIMIT: 0x4806,
  GUEST_FS_LIMIT: 0x4808,
  GUEST_GS_LIMIT: 0x480a,
  GUEST_LDTR_LIMIT: 0x480c,
  GUEST_TR_LIMIT: 0x480e,
  GUEST_GDTR_LIMIT: 0x4810,
  GUEST_IDTR_LIMIT: 0x4812,
  GUEST_ES_ACCESS_RIGHTS: 0x4814,
  GUEST_CS_ACCESS_RIGHTS: 0x4816,
  GUEST_SS_ACCESS_RIGHTS: 0x4818,
  GUEST_DS_ACCESS_RIGHTS: 0x481a,
  GUEST_FS_ACCESS_RIGHTS: 0x481c,
  GUEST_GS_ACCESS_RIGHTS: 0x481e,
  GUEST_LDTR_ACCESS_RIGHTS: 0x4820,
  GUEST_TR_ACCESS_RIGHTS: 0x4822,
  GUEST_INTERRUPTIBILITY_STATE: 0x4824,
  GUEST_ACTIVITY_STATE: 0x4826,
  GUEST_SMBASE: 0x4828,
  GUEST_IA32_SYSENTER_CS: 0x482a,
  VMX_PREEMPTION_TIMER_VALUE: 0x482e,
  // B.3.4 32-bit host-state field
  HOST_IA32_SYSENTER_CS: 0x4c00,
  // B.4.1 natural-width control fields
  CR0_GUEST_HOST_MASK: 0x6000,
  CR4_GUEST_HOST_MASK: 0x6002,
  CR0_READ_SHADOW: 0x6004,
  CR4_READ_SHADOW: 0x6006,
  CR3_TARGET_VALUE_0: 0x6008,
  CR3_TARGET_VALUE_1: 0x600a,
  CR3_TARGET_VALUE_2: 0x600c,
  CR3_TARGET_VALUE_3: 0x600e,
  // B.4.2 natural-width read-only data fields
  EXIT_QUALIFICATION: 0x6400,
  IO_RCX: 0x6402,
  IO_RSI: 0x6404,
  IO_RDI: 0x6406,
  IO_RIP: 0x6408,
  GUEST_LINEAR_ADDRESS: 0x640a,
  // B.4.3 natural-width guest-state fields
  GUEST_CR0: 0x6800,
  GUEST_CR3: 0x6802,
  GUEST_CR4: 0x6804,
  GUEST_ES_BASE: 0x6806,
  GUEST_CS_BASE: 0x6808,
  GUEST_SS_BASE: 0x680a,
  GUEST_DS_BASE: 0x680c,
  GUEST_FS_BASE: 0x680e,
  GUEST_GS_BASE: 0x6810,
  GUEST_LDTR_BASE: 0x6812,
  GUEST_TR_BASE: 0x6814,
  GUEST_GDTR_BASE: 0x6816,
  GUEST_IDTR_BASE: 0x6818,
  GUEST_DR7: 0x681a,
  GUEST_RSP: 0x681c,
  GUEST_RIP: 0x681e,
  GUEST_RFLAGS: 0x6820,
  GUEST_PENDING_DEBUG_EXCEPTIONS: 0x6822,
  GUEST_IA32_SYSENTER_ESP: 0x6824,
  GUEST_IA32_SYSENTER_EIP: 0x6826,
  // B.4.4 natural-width host-state fields
  HOST_CR0: 0x6c00,
  HOST_CR3: 0x6c02,
  HOST_CR4: 0x6c04,
  HOST_FS_BASE: 0x6c06,
  HOST_GS_BASE: 0x6c08,
  HOST_TR_BASE: 0x6c0a,
  HOST_GDTR_BASE: 0x6c0c,
  HOST_IDTR_BASE: 0x6c0e,
  HOST_IA32_SYSENTER_ESP: 0x6c10,
  HOST_IA32_SYSENTER_EIP: 0x6c12,
  HOST_RSP: 0x6c14,
  HOST_RIP: 0x6c16,
} as const;

export type VmcsFieldName = keyof typeof VMCS;
export type VmcsEncoding = (typeof VMCS)[VmcsFieldName];
export type FieldWidth = 16 | 32 | 64 | 'natural';
export type FieldType = 'control' | 'exit-info' | 'guest' | 'host';

/**
 * "This field exists only on processors that support the 1-setting of <what>":
 * bit `bit` (0..63) of capability MSR `msr` must be 1. For a control MSR the
 * allowed-1 setting of control X is bit 32+X.
 */
export interface FieldRequirement {
  readonly msr: number;
  readonly bit: number;
  readonly what: string;
}

export interface VmcsFieldInfo {
  /** Full encoding (bit 0 = 0). */
  readonly encoding: number;
  readonly name: VmcsFieldName;
  readonly width: FieldWidth;
  readonly type: FieldType;
  /** Dense index 0..VMCS_FIELD_COUNT-1, in Appendix B order. */
  readonly index: number;
  /** The field is supported iff any one of these holds (none: always supported). */
  readonly requires: readonly FieldRequirement[];
}

// --- existence conditions of Appendix B's footnotes ------------------------

function ctl(msr: number, mask: number, what: string): FieldRequirement {
  return { msr, bit: 32 + (31 - Math.clz32(mask)), what };
}
const PIN = MSR.IA32_VMX_PINBASED_CTLS, PROC = MSR.IA32_VMX_PROCBASED_CTLS, PROC2 = MSR.IA32_VMX_PROCBASED_CTLS2;
const EXIT = MSR.IA32_VMX_EXIT_CTLS, ENTRY = MSR.IA32_VMX_ENTRY_CTLS;

const R = {
  vpid: [ctl(PROC2, PROC_BASED2.ENABLE_VPID, '"enable VPID"')],
  postedInterrupts: [ctl(PIN, PIN_BASED.PROCESS_POSTED_INTERRUPTS, '"process posted interrupts"')],
  ve: [ctl(PROC2, PROC_BASED2.EPT_VIOLATION_VE, '"EPT-violation #VE"')],
  vid: [ctl(PROC2, PROC_BASED2.VIRTUAL_INTERRUPT_DELIVERY, '"virtual-interrupt delivery"')],
  pml: [ctl(PROC2, PROC_BASED2.ENABLE_PML, '"enable PML"')],
  msrBitmaps: [ctl(PROC, PROC_BASED.USE_MSR_BITMAPS, '"use MSR bitmaps"')],
  tprShadow: [ctl(PROC, PROC_BASED.USE_TPR_SHADOW, '"use TPR shadow"')],
  apicAccess: [ctl(PROC2, PROC_BASED2.VIRTUALIZE_APIC_ACCESSES, '"virtualize APIC accesses"')],
  vmfunc: [ctl(PROC2, PROC_BASED2.ENABLE_VM_FUNCTIONS, '"enable VM functions"')],
  ept: [ctl(PROC2, PROC_BASED2.ENABLE_EPT, '"enable EPT"')],
  eptpSwitching: [{ msr: MSR.IA32_VMX_VMFUNC, bit: 0, what: '"EPTP switching" VM function' }],
  shadowing: [ctl(PROC2, PROC_BASED2.VMCS_SHADOWING, '"VMCS shadowing"')],
  xsaves: [ctl(PROC2, PROC_BASED2.ENABLE_XSAVES_XRSTORS, '"enable XSAVES/XRSTORS"')],
  tscScaling: [ctl(PROC2, PROC_BASED2.USE_TSC_SCALING, '"use TSC scaling"')],
  guestPat: [ctl(ENTRY, ENTRY_CTLS.LOAD_IA32_PAT, '"load IA32_PAT" VM-entry'), ctl(EXIT, EXIT_CTLS.SAVE_IA32_PAT, '"save IA32_PAT" VM-exit')],
  guestEfer: [ctl(ENTRY, ENTRY_CTLS.LOAD_IA32_EFER, '"load IA32_EFER" VM-entry'), ctl(EXIT, EXIT_CTLS.SAVE_IA32_EFER, '"save IA32_EFER" VM-exit')],
  guestPerf: [ctl(ENTRY, ENTRY_CTLS.LOAD_IA32_PERF_GLOBAL_CTRL, '"load IA32_PERF_GLOBAL_CTRL" VM-entry')],
  hostPat: [ctl(EXIT, EXIT_CTLS.LOAD_IA32_PAT, '"load IA32_PAT" VM-exit')],
  hostEfer: [ctl(EXIT, EXIT_CTLS.LOAD_IA32_EFER, '"load IA32_EFER" VM-exit')],
  hostPerf: [ctl(EXIT, EXIT_CTLS.LOAD_IA32_PERF_GLOBAL_CTRL, '"load IA32_PERF_GLOBAL_CTRL" VM-exit')],
  secondary: [ctl(PROC, PROC_BASED.ACTIVATE_SECONDARY_CONTROLS, '"activate secondary controls"')],
  ple: [ctl(PROC2, PROC_BASED2.PAUSE_LOOP_EXITING, '"PAUSE-loop exiting"')],
  preemption: [ctl(PIN, PIN_BASED.ACTIVATE_VMX_PREEMPTION_TIMER, '"activate VMX-preemption timer"')],
} as const;

type Entry = VmcsFieldName | readonly [VmcsFieldName, readonly FieldRequirement[]];

interface Group {
  readonly width: FieldWidth;
  readonly type: FieldType;
  readonly fields: readonly Entry[];
}

/** Appendix B, table by table. Width and type are declared, not derived (the tests check them against the encoding). */
const GROUPS: readonly Group[] = [
  { width: 16, type: 'control', fields: [['VPID', R.vpid], ['POSTED_INTERRUPT_NOTIFICATION_VECTOR', R.postedInterrupts], ['EPTP_INDEX', R.ve]] },
  {
    width: 16, type: 'guest', fields: [
      'GUEST_ES_SELECTOR', 'GUEST_CS_SELECTOR', 'GUEST_SS_SELECTOR', 'GUEST_DS_SELECTOR', 'GUEST_FS_SELECTOR',
      'GUEST_GS_SELECTOR', 'GUEST_LDTR_SELECTOR', 'GUEST_TR_SELECTOR', ['GUEST_INTERRUPT_STATUS', R.vid], ['PML_INDEX', R.pml],
    ],
  },
  {
    width: 16, type: 'host', fields: [
      'HOST_ES_SELECTOR', 'HOST_CS_SELECTOR', 'HOST_SS_SELECTOR', 'HOST_DS_SELECTOR', 'HOST_FS_SELECTOR',
      'HOST_GS_SELECTOR', 'HOST_TR_SELECTOR',
    ],
  },
  {
    width: 64, type: 'control', fields: [
      'IO_BITMAP_A_ADDRESS', 'IO_BITMAP_B_ADDRESS', ['MSR_BITMAPS_ADDRESS', R.msrBitmaps], 'VM_EXIT_MSR_STORE_ADDRESS',
      'VM_EXIT_MSR_LOAD_ADDRESS', 'VM_ENTRY_MSR_LOAD_ADDRESS', 'EXECUTIVE_VMCS_POINTER', ['PML_ADDRESS', R.pml], 'TSC_OFFSET',
      ['VIRTUAL_APIC_ADDRESS', R.tprShadow], ['APIC_ACCESS_ADDRESS', R.apicAccess],
      ['POSTED_INTERRUPT_DESCRIPTOR_ADDRESS', R.postedInterrupts], ['VM_FUNCTION_CONTROLS', R.vmfunc], ['EPT_POINTER', R.ept],
      ['EOI_EXIT_BITMAP_0', R.vid], ['EOI_EXIT_BITMAP_1', R.vid], ['EOI_EXIT_BITMAP_2', R.vid], ['EOI_EXIT_BITMAP_3', R.vid],
      ['EPTP_LIST_ADDRESS', R.eptpSwitching], ['VMREAD_BITMAP_ADDRESS', R.shadowing], ['VMWRITE_BITMAP_ADDRESS', R.shadowing],
      ['VIRTUALIZATION_EXCEPTION_INFORMATION_ADDRESS', R.ve], ['XSS_EXITING_BITMAP', R.xsaves], ['TSC_MULTIPLIER', R.tscScaling],
    ],
  },
  { width: 64, type: 'exit-info', fields: [['GUEST_PHYSICAL_ADDRESS', R.ept]] },
  {
    width: 64, type: 'guest', fields: [
      'VMCS_LINK_POINTER', 'GUEST_IA32_DEBUGCTL', ['GUEST_IA32_PAT', R.guestPat], ['GUEST_IA32_EFER', R.guestEfer],
      ['GUEST_IA32_PERF_GLOBAL_CTRL', R.guestPerf], ['GUEST_PDPTE0', R.ept], ['GUEST_PDPTE1', R.ept], ['GUEST_PDPTE2', R.ept],
      ['GUEST_PDPTE3', R.ept],
    ],
  },
  { width: 64, type: 'host', fields: [['HOST_IA32_PAT', R.hostPat], ['HOST_IA32_EFER', R.hostEfer], ['HOST_IA32_PERF_GLOBAL_CTRL', R.hostPerf]] },
  {
    width: 32, type: 'control', fields: [
      'PIN_BASED_VM_EXECUTION_CONTROLS', 'PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS', 'EXCEPTION_BITMAP',
      'PAGE_FAULT_ERROR_CODE_MASK', 'PAGE_FAULT_ERROR_CODE_MATCH', 'CR3_TARGET_COUNT', 'VM_EXIT_CONTROLS',
      'VM_EXIT_MSR_STORE_COUNT', 'VM_EXIT_MSR_LOAD_COUNT', 'VM_ENTRY_CONTROLS', 'VM_ENTRY_MSR_LOAD_COUNT',
      'VM_ENTRY_INTERRUPTION_INFORMATION', 'VM_ENTRY_EXCEPTION_ERROR_CODE', 'VM_ENTRY_INSTRUCTION_LENGTH',
      ['TPR_THRESHOLD', R.tprShadow], ['SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS', R.secondary],
      ['PLE_GAP', R.ple], ['PLE_WINDOW', R.ple],
    ],
  },
  {
    width: 32, type: 'exit-info', fields: [
      'VM_INSTRUCTION_ERROR', 'EXIT_REASON', 'VM_EXIT_INTERRUPTION_INFORMATION', 'VM_EXIT_INTERRUPTION_ERROR_CODE',
      'IDT_VECTORING_INFORMATION', 'IDT_VECTORING_ERROR_CODE', 'VM_EXIT_INSTRUCTION_LENGTH', 'VM_EXIT_INSTRUCTION_INFORMATION',
    ],
  },
  {
    width: 32, type: 'guest', fields: [
      'GUEST_ES_LIMIT', 'GUEST_CS_LIMIT', 'GUEST_SS_LIMIT', 'GUEST_DS_LIMIT', 'GUEST_FS_LIMIT', 'GUEST_GS_LIMIT',
      'GUEST_LDTR_LIMIT', 'GUEST_TR_LIMIT', 'GUEST_GDTR_LIMIT', 'GUEST_IDTR_LIMIT',
      'GUEST_ES_ACCESS_RIGHTS', 'GUEST_CS_ACCESS_RIGHTS', 'GUEST_SS_ACCESS_RIGHTS', 'GUEST_DS_ACCESS_RIGHTS',
      'GUEST_FS_ACCESS_RIGHTS', 'GUEST_GS_ACCESS_RIGHTS', 'GUEST_LDTR_ACCESS_RIGHTS', 'GUEST_TR_ACCESS_RIGHTS',
      'GUEST_INTERRUPTIBILITY_STATE', 'GUEST_ACTIVITY_STATE', 'GUEST_SMBASE', 'GUEST_IA32_SYSENTER_CS',
      ['VMX_PREEMPTION_TIMER_VALUE', R.preemption],
    ],
  },
  { width: 32, type: 'host', fields: ['HOST_IA32_SYSENTER_CS'] },
  {
    width: 'natural', type: 'control', fields: [
      'CR0_GUEST_HOST_MASK', 'CR4_GUEST_HOST_MASK', 'CR0_READ_SHADOW', 'CR4_READ_SHADOW',
      'CR3_TARGET_VALUE_0', 'CR3_TARGET_VALUE_1', 'CR3_TARGET_VALUE_2', 'CR3_TARGET_VALUE_3',
    ],
  },
  { width: 'natural', type: 'exit-info', fields: ['EXIT_QUALIFICATION', 'IO_RCX', 'IO_RSI', 'IO_RDI', 'IO_RIP', 'GUEST_LINEAR_ADDRESS'] },
  {
    width: 'natural', type: 'guest', fields: [
      'GUEST_CR0', 'GUEST_CR3', 'GUEST_CR4', 'GUEST_ES_BASE', 'GUEST_CS_BASE', 'GUEST_SS_BASE', 'GUEST_DS_BASE',
      'GUEST_FS_BASE', 'GUEST_GS_BASE', 'GUEST_LDTR_BASE', 'GUEST_TR_BASE', 'GUEST_GDTR_BASE', 'GUEST_IDTR_BASE',
      'GUEST_DR7', 'GUEST_RSP', 'GUEST_RIP', 'GUEST_RFLAGS', 'GUEST_PENDING_DEBUG_EXCEPTIONS',
      'GUEST_IA32_SYSENTER_ESP', 'GUEST_IA32_SYSENTER_EIP',
    ],
  },
  {
    width: 'natural', type: 'host', fields: [
      'HOST_CR0', 'HOST_CR3', 'HOST_CR4', 'HOST_FS_BASE', 'HOST_GS_BASE', 'HOST_TR_BASE', 'HOST_GDTR_BASE',
      'HOST_IDTR_BASE', 'HOST_IA32_SYSENTER_ESP', 'HOST_IA32_SYSENTER_EIP', 'HOST_RSP', 'HOST_RIP',
    ],
  },
];

function buildTable(): VmcsFieldInfo[] {
  const out: VmcsFieldInfo[] = [];
  const seen = new Set<string>();
  for (const g of GROUPS) {
    for (const e of g.fields) {
      const name: VmcsFieldName = typeof e === 'string' ? e : e[0];
      const requires: readonly FieldRequirement[] = typeof e === 'string' ? [] : e[1];
      if (seen.has(name)) throw new Error(`VMCS field ${name} listed twice`);
      seen.add(name);
      out.push(Object.freeze({ encoding: VMCS[name], name, width: g.width, type: g.type, index: out.length, requires }));
    }
  }
  for (const name of Object.keys(VMCS)) {
    if (!seen.has(name)) throw new Error(`VMCS field ${name} has no width/type entry`);
  }
  return out;
}

/** Every field, indexed by dense index. */
export const VMCS_FIELDS: readonly VmcsFieldInfo[] = Object.freeze(buildTable());
export const VMCS_FIELD_COUNT = VMCS_FIELDS.length;

/** Largest value an encoding may have (bits 31:15 reserved). */
export const MAX_ENCODING = 0x7fff;

/** Full encoding -> dense index, -1 where no field is defined. */
const INDEX_BY_ENCODING = new Int16Array(MAX_ENCODING + 1).fill(-1);
for (const f of VMCS_FIELDS) INDEX_BY_ENCODING[f.encoding] = f.index;

/**
 * Dense index of a full encoding, or -1 when the encoding names no field in
 * the table (a high encoding, reserved bits set, out of range, not an integer).
 */
export function fieldIndex(enc: number): number {
  return enc >= 0 && enc <= MAX_ENCODING ? (INDEX_BY_ENCODING[enc] ?? -1) : -1;
}

/** The field of a full encoding, or undefined. */
export function fieldInfo(enc: number): VmcsFieldInfo | undefined {
  const i = fieldIndex(enc);
  return i < 0 ? undefined : VMCS_FIELDS[i];
}

/** Access-type bit (bit 0) of an encoding: true for the high access of a 64-bit field. */
export function isHighAccess(enc: number): boolean { return (enc & 1) === 1; }
/** Index bits 9:1 of an encoding. */
export function encodingIndex(enc: number): number { return (enc >>> 1) & 0x1ff; }
/** Type bits 11:10 of an encoding. */
export function encodingType(enc: number): FieldType {
  return (['control', 'exit-info', 'guest', 'host'] as const)[(enc >>> 10) & 3]!;
}
/** Width bits 14:13 of an encoding. */
export function encodingWidth(enc: number): FieldWidth {
  return ([16, 64, 32, 'natural'] as const)[(enc >>> 13) & 3]!;
}
/** The high-access encoding of a 64-bit field. */
export function highEncoding(enc: number): number { return enc | 1; }

/** Whether the processor described by `caps` has this field (Appendix B footnotes). */
export function fieldSupported(f: VmcsFieldInfo, caps: VmxCapabilities): boolean {
  if (f.requires.length === 0) return true;
  for (const r of f.requires) if (caps.bit(r.msr, r.bit)) return true;
  return false;
}

/** Human-readable name of any encoding, for diagnostics: 'GUEST_RIP', 'EPT_POINTER_HIGH', or '0x1234'. */
export function encodingName(enc: number): string {
  if (Number.isInteger(enc) && enc >= 0 && enc <= MAX_ENCODING) {
    const full = fieldInfo(enc & ~1);
    if (full && (enc & 1) === 0) return full.name;
    if (full && full.width === 64) return `${full.name}_HIGH`;
  }
  return Number.isFinite(enc) ? `0x${enc.toString(16)}` : String(enc);
}
