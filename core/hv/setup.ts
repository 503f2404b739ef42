/**
 * VMCS configuration for the guest, the way a KVM-style hypervisor sets it
 * up before the first VMLAUNCH (SDM Vol. 3C, chapter "Virtual Machine
 * Control Structures"; Vol. 3D Appendix A for the default1 bits).
 */
import type { Vmx } from '../vmx/vmx.js';
import { VMCS } from '../vmx/fields.js';
import { PIN_BASED, PROC_BASED, PROC_BASED2, EXIT_CTLS, ENTRY_CTLS, MSR, type VmxCapabilities } from '../vmx/capabilities.js';
import type { HostLayout } from './layout.js';
import { CR0_PE, CR0_ET, CR0_NE, CR0_PG, CR4_VMXE, CR4_PAE } from '../cpu/regs.js';

/** CR0 bits the hypervisor owns: NE must stay 1 in VMX operation (IA32_VMX_CR0_FIXED0), so the guest sees a shadow. */
export const CR0_HOST_OWNED = CR0_NE;
/** CR4 bits the hypervisor owns: VMXE (IA32_VMX_CR4_FIXED0) is hidden from the guest. */
export const CR4_HOST_OWNED = CR4_VMXE;

/** A control value: the wanted bits plus the default1 bits the capability MSR forces (allowed-0 settings). */
function controls(caps: VmxCapabilities, msr: number, want: number): number {
  const v = (want | caps.allowed0(msr)) >>> 0;
  if (((v & ~caps.allowed1(msr)) >>> 0) !== 0) throw new Error(`hypervisor setup: control bits 0x${(v & ~caps.allowed1(msr)).toString(16)} not supported by MSR 0x${msr.toString(16)}`);
  return v;
}

export function configureControls(vmx: Vmx, caps: VmxCapabilities, l: HostLayout, eptp: number): void {
  const w = (enc: number, v: number): void => { vmx.vmwrite32(enc, v); check(vmx, enc); };
  const wn = (enc: number, v: number): void => { vmx.vmwriteNum(enc, v); check(vmx, enc); };
  // Virtual NMIs, as KVM: the guest's NMI blocking is tracked by the processor and NMI-window exiting is available.
  w(VMCS.PIN_BASED_VM_EXECUTION_CONTROLS, controls(caps, caps.controlMsr('pin'), PIN_BASED.EXTERNAL_INTERRUPT_EXITING | PIN_BASED.NMI_EXITING | PIN_BASED.VIRTUAL_NMIS));
  // TRUE controls let CR3-load/store exiting be 0 (Vol. 3D, A.3.2): the guest owns CR3 under EPT.
  // CR8 is the local APIC's TPR (Vol. 3A 10.8.6.1), which lives in the emulated LAPIC: without a
  // TPR shadow, MOV to/from CR8 exits (CR8-load/store exiting, Vol. 3C 25.1.3) as KVM does.
  w(VMCS.PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, controls(caps, caps.controlMsr('proc'),
    PROC_BASED.HLT_EXITING | PROC_BASED.CR8_LOAD_EXITING | PROC_BASED.CR8_STORE_EXITING |
    PROC_BASED.USE_IO_BITMAPS | PROC_BASED.USE_MSR_BITMAPS | PROC_BASED.ACTIVATE_SECONDARY_CONTROLS));
  w(VMCS.SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, controls(caps, MSR.IA32_VMX_PROCBASED_CTLS2,
    PROC_BASED2.ENABLE_EPT | PROC_BASED2.UNRESTRICTED_GUEST | PROC_BASED2.ENABLE_RDTSCP));
  w(VMCS.VM_EXIT_CONTROLS, controls(caps, caps.controlMsr('exit'),
    EXIT_CTLS.HOST_ADDRESS_SPACE_SIZE | EXIT_CTLS.ACKNOWLEDGE_INTERRUPT_ON_EXIT | EXIT_CTLS.SAVE_IA32_EFER | EXIT_CTLS.LOAD_IA32_EFER | EXIT_CTLS.SAVE_IA32_PAT | EXIT_CTLS.LOAD_IA32_PAT));
  w(VMCS.VM_ENTRY_CONTROLS, controls(caps, caps.controlMsr('entry'), ENTRY_CTLS.LOAD_IA32_EFER | ENTRY_CTLS.LOAD_IA32_PAT));
  w(VMCS.EXCEPTION_BITMAP, 0);
  w(VMCS.CR3_TARGET_COUNT, 0);
  wn(VMCS.IO_BITMAP_A_ADDRESS, l.ioBitmapA);
  wn(VMCS.IO_BITMAP_B_ADDRESS, l.ioBitmapB);
  wn(VMCS.MSR_BITMAPS_ADDRESS, l.msrBitmap);
  wn(VMCS.EPT_POINTER, eptp);
  wn(VMCS.VMCS_LINK_POINTER, -1);
  wn(VMCS.CR0_GUEST_HOST_MASK, CR0_HOST_OWNED);
  wn(VMCS.CR4_GUEST_HOST_MASK, CR4_HOST_OWNED);
  // Host state: the hypervisor "runs" in 64-bit mode (values only need to pass the host-state checks).
  wn(VMCS.HOST_CR0, (CR0_PE | CR0_ET | CR0_NE | CR0_PG | (1 << 16)) >>> 0);
  wn(VMCS.HOST_CR3, l.eptPml4 + 0x100000);
  wn(VMCS.HOST_CR4, CR4_VMXE | CR4_PAE);
  w(VMCS.HOST_CS_SELECTOR, 0x08); w(VMCS.HOST_SS_SELECTOR, 0x10); w(VMCS.HOST_DS_SELECTOR, 0x10);
  w(VMCS.HOST_ES_SELECTOR, 0x10); w(VMCS.HOST_FS_SELECTOR, 0); w(VMCS.HOST_GS_SELECTOR, 0); w(VMCS.HOST_TR_SELECTOR, 0x18);
  wn(VMCS.HOST_RIP, -0x7f000000); // a canonical kernel-half address of the (notional) VM-exit entry point
  wn(VMCS.HOST_RSP, -0x7f001000);
  vmx.vmwriteHalves(VMCS.HOST_IA32_EFER, 0x500, 0); // LME | LMA
  vmx.vmwriteHalves(VMCS.HOST_IA32_PAT, 0x00070406, 0x00070406);
}

/** Guest register state at the PVH entry (platform notes: 32-bit protected mode, flat segments, paging off). */
export interface PvhEntryState { rip: number; rbx: number }

export function configurePvhGuest(vmx: Vmx, s: PvhEntryState): void {
  const w = (enc: number, v: number): void => { vmx.vmwrite32(enc, v); check(vmx, enc); };
  const wn = (enc: number, v: number): void => { vmx.vmwriteNum(enc, v); check(vmx, enc); };
  const guestCr0 = CR0_PE | CR0_ET;
  wn(VMCS.GUEST_CR0, guestCr0 | CR0_NE);
  wn(VMCS.CR0_READ_SHADOW, guestCr0);
  wn(VMCS.GUEST_CR3, 0);
  wn(VMCS.GUEST_CR4, CR4_VMXE);
  wn(VMCS.CR4_READ_SHADOW, 0);
  wn(VMCS.GUEST_DR7, 0x400);
  // Flat 4-GiB segments: code execute/read accessed (type 11), data read/write accessed (type 3), 32-bit, G=1.
  const seg = (sel: number, base: number, limit: number, ar: number, f: readonly [number, number, number, number]): void => {
    w(f[0], sel); wn(f[1], base); w(f[2], limit); w(f[3], ar);
  };
  seg(0x10, 0, 0xffffffff, 0xc09b, [VMCS.GUEST_CS_SELECTOR, VMCS.GUEST_CS_BASE, VMCS.GUEST_CS_LIMIT, VMCS.GUEST_CS_ACCESS_RIGHTS]);
  for (const f of [
    [VMCS.GUEST_DS_SELECTOR, VMCS.GUEST_DS_BASE, VMCS.GUEST_DS_LIMIT, VMCS.GUEST_DS_ACCESS_RIGHTS],
    [VMCS.GUEST_ES_SELECTOR, VMCS.GUEST_ES_BASE, VMCS.GUEST_ES_LIMIT, VMCS.GUEST_ES_ACCESS_RIGHTS],
    [VMCS.GUEST_SS_SELECTOR, VMCS.GUEST_SS_BASE, VMCS.GUEST_SS_LIMIT, VMCS.GUEST_SS_ACCESS_RIGHTS],
    [VMCS.GUEST_FS_SELECTOR, VMCS.GUEST_FS_BASE, VMCS.GUEST_FS_LIMIT, VMCS.GUEST_FS_ACCESS_RIGHTS],
    [VMCS.GUEST_GS_SELECTOR, VMCS.GUEST_GS_BASE, VMCS.GUEST_GS_LIMIT, VMCS.GUEST_GS_ACCESS_RIGHTS],
  ] as const) seg(0x18, 0, 0xffffffff, 0xc093, f);
  // LDTR unusable; TR a busy 32-bit TSS (type 11) as PVH specifies.
  seg(0, 0, 0, 0x10000, [VMCS.GUEST_LDTR_SELECTOR, VMCS.GUEST_LDTR_BASE, VMCS.GUEST_LDTR_LIMIT, VMCS.GUEST_LDTR_ACCESS_RIGHTS]);
  seg(0x20, 0, 0x67, 0x8b, [VMCS.GUEST_TR_SELECTOR, VMCS.GUEST_TR_BASE, VMCS.GUEST_TR_LIMIT, VMCS.GUEST_TR_ACCESS_RIGHTS]);
  wn(VMCS.GUEST_GDTR_BASE, 0); w(VMCS.GUEST_GDTR_LIMIT, 0xffff);
  wn(VMCS.GUEST_IDTR_BASE, 0); w(VMCS.GUEST_IDTR_LIMIT, 0xffff);
  wn(VMCS.GUEST_RSP, 0);
  wn(VMCS.GUEST_RIP, s.rip);
  wn(VMCS.GUEST_RFLAGS, 0x2);
  vmx.vmwriteHalves(VMCS.GUEST_IA32_EFER, 0, 0);
  vmx.vmwriteHalves(VMCS.GUEST_IA32_PAT, 0x00070406, 0x00070406);
  w(VMCS.GUEST_ACTIVITY_STATE, 0);
  w(VMCS.GUEST_INTERRUPTIBILITY_STATE, 0);
  wn(VMCS.GUEST_PENDING_DEBUG_EXCEPTIONS, 0);
  w(VMCS.VM_ENTRY_INTERRUPTION_INFORMATION, 0);
}

function check(vmx: Vmx, enc: number): void {
  if (vmx.status !== 'VMsucceed') throw new Error(`hypervisor setup: VMWRITE 0x${enc.toString(16)} failed (${vmx.status} ${vmx.error})`);
}
