/**
 * MSR processing on VM exits and the VMX abort it can end in.
 *
 * Source: Intel SDM Vol. 3C, chapter "VM Exits" (28 since the 2022
 * editions, 27 before): 28.4 "Saving MSRs" (VM-exit MSR-store area, after
 * guest state is saved), 28.6 "Loading MSRs" (VM-exit MSR-load area, after
 * host state is loaded), 28.7 "VMX Aborts". Each area is an array of 16-byte
 * entries: bits 31:0 the MSR index, bits 63:32 reserved (must be 0), bits
 * 127:64 the MSR data (Vol. 3C 25.7.2 "VM-Exit Controls for MSRs").
 *
 * Like the VM-entry checks (entry-checks.ts), every way an entry can fail is
 * a named rule; the first failing rule, in the order below, is the one a
 * VMX abort reports. A failing entry gives a VMX abort with indicator 1
 * (store) or 4 (load); the MSRs of earlier entries stay stored / loaded.
 *
 * What this machine does on a VMX abort (28.7): it writes the indicator at
 * byte offset 4 of the VMCS region, the logical processor enters the
 * VMX-abort shutdown state (only RESET leaves it: every later VMLAUNCH or
 * VMRESUME is refused with an error), and the hypervisor's run stops with a
 * message naming the indicator, the entry and the rule.
 *
 * Model-specific choices: RDMSR/WRMSR are those of core/cpu/msr.ts (an MSR
 * this processor does not implement #GPs, so its entry fails). The MSRs the
 * processor refuses "for model-specific reasons" are the two it also refuses
 * on VM entry (IA32_BIOS_UPDT_TRIG 79H, IA32_BIOS_SIGN_ID 8BH), for loading.
 */

/** VMX-abort indicators (Vol. 3C 28.7 "VMX Aborts"). */
export const VMX_ABORT = {
  SAVE_GUEST_MSRS: 1,
  HOST_PDPTE: 2,
  VMCS_CORRUPT: 3,
  LOAD_HOST_MSRS: 4,
  MACHINE_CHECK: 5,
  HOST_ADDRESS_SPACE_SIZE: 6,
} as const;

export const VMX_ABORT_MESSAGES: ReadonlyMap<number, string> = new Map([
  [1, 'failure saving guest MSRs (VM-exit MSR-store area, 28.4)'],
  [2, 'host PDPTE check failed while loading host state (28.5.4)'],
  [3, 'the current VMCS is corrupt'],
  [4, 'failure loading host MSRs (VM-exit MSR-load area, 28.6)'],
  [5, 'machine-check event during VM exit (28.8)'],
  [6, 'logical processor in IA-32e mode with "host address-space size" 0 (28.5)'],
]);

export type ExitMsrKind = 'store' | 'load';

/** One entry of a VM-exit MSR area as the processor reads it. */
export interface ExitMsrEntry {
  /** Bits 31:0 and 63:32. */
  readonly index: number;
  readonly reserved: number;
  /** Bits 127:64 (the data to load; ignored for the store area). */
  readonly lo: number;
  readonly hi: number;
}

export interface ExitMsrRule {
  readonly id: string;
  readonly kind: ExitMsrKind;
  readonly section: string;
  readonly text: string;
  /**
   * True when the entry can be processed. `access` performs the RDMSR (store)
   * or WRMSR (load) as CPL 0 would and reports whether it succeeded without
   * #GP; the last rule calls it, so a passing table has done the access.
   */
  readonly ok: (e: ExitMsrEntry, access: () => boolean) => boolean;
}

const S_STORE = 'Saving MSRs (SDM Vol. 3C 28.4; 27.4 in editions before 2022)';
const S_LOAD = 'Loading MSRs (SDM Vol. 3C 28.6; 27.6 in editions before 2022)';
const x2apic = (e: ExitMsrEntry): boolean => (e.index >>> 8) !== 0x8;

export const EXIT_MSR_RULES: readonly ExitMsrRule[] = Object.freeze([
  { id: 'exit-msr-store.x2apic', kind: 'store', section: S_STORE, text: 'a VM-exit MSR-store entry does not name an x2APIC MSR (bits 31:8 = 000008H)', ok: x2apic },
  { id: 'exit-msr-store.smm-only', kind: 'store', section: S_STORE, text: 'a VM-exit MSR-store entry does not name IA32_SMBASE (9EH), readable only in SMM', ok: (e) => e.index >>> 0 !== 0x9e },
  { id: 'exit-msr-store.reserved', kind: 'store', section: S_STORE, text: 'bits 63:32 of a VM-exit MSR-store entry are 0', ok: (e) => e.reserved >>> 0 === 0 },
  { id: 'exit-msr-store.rdmsr', kind: 'store', section: S_STORE, text: 'RDMSR of the entry\'s MSR at CPL 0 would not #GP (the value is stored in bits 127:64)', ok: (_e, access) => access() },
  { id: 'exit-msr-load.fs-gs-base', kind: 'load', section: S_LOAD, text: 'a VM-exit MSR-load entry does not load IA32_FS_BASE (C0000100H) or IA32_GS_BASE (C0000101H)', ok: (e) => e.index >>> 0 !== 0xc000_0100 && e.index >>> 0 !== 0xc000_0101 },
  { id: 'exit-msr-load.x2apic', kind: 'load', section: S_LOAD, text: 'a VM-exit MSR-load entry does not load an x2APIC MSR (bits 31:8 = 000008H)', ok: x2apic },
  { id: 'exit-msr-load.smm-only', kind: 'load', section: S_LOAD, text: 'a VM-exit MSR-load entry does not load IA32_SMM_MONITOR_CTL (9BH), writable only in SMM', ok: (e) => e.index >>> 0 !== 0x9b },
  { id: 'exit-msr-load.model-specific', kind: 'load', section: S_LOAD, text: 'a VM-exit MSR-load entry does not load IA32_BIOS_UPDT_TRIG (79H) or IA32_BIOS_SIGN_ID (8BH), which VM exits cannot load on this processor', ok: (e) => e.index >>> 0 !== 0x79 && e.index >>> 0 !== 0x8b },
  { id: 'exit-msr-load.reserved', kind: 'load', section: S_LOAD, text: 'bits 63:32 of a VM-exit MSR-load entry are 0', ok: (e) => e.reserved >>> 0 === 0 },
  { id: 'exit-msr-load.wrmsr', kind: 'load', section: S_LOAD, text: 'WRMSR of bits 127:64 to the entry\'s MSR at CPL 0 would not #GP (the MSR is loaded by this rule)', ok: (_e, access) => access() },
] satisfies ExitMsrRule[]);

const BY_KIND: Readonly<Record<ExitMsrKind, readonly ExitMsrRule[]>> = {
  store: EXIT_MSR_RULES.filter((r) => r.kind === 'store'),
  load: EXIT_MSR_RULES.filter((r) => r.kind === 'load'),
};

/** The first rule an entry fails (evaluation order), or null after the access succeeded. */
export function firstExitMsrFailure(kind: ExitMsrKind, e: ExitMsrEntry, access: () => boolean): ExitMsrRule | null {
  for (const r of BY_KIND[kind]) if (!r.ok(e, access)) return r;
  return null;
}

/** Details of a VMX abort, for the hypervisor's report. */
export interface VmxAbort {
  readonly indicator: number;
  /** The failing rule and the 1-based number of the MSR-area entry. */
  readonly rule: ExitMsrRule | null;
  readonly entry: number;
  readonly msr: number;
}

/** One line naming a VMX abort: indicator, its meaning, the entry and the rule. */
export function describeVmxAbort(a: VmxAbort): string {
  const what = VMX_ABORT_MESSAGES.get(a.indicator) ?? 'unknown cause';
  const where = a.rule ? `: entry ${a.entry} (MSR 0x${(a.msr >>> 0).toString(16)}) fails rule ${a.rule.id} — ${a.rule.text} [${a.rule.section}]` : '';
  return `VMX abort, indicator ${a.indicator} (${what})${where}; the logical processor is in the VMX-abort shutdown state (SDM Vol. 3C 28.7)`;
}
