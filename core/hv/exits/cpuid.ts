/**
 * Exit reason 10, CPUID (always exits in VMX non-root operation, SDM Vol.
 * 3C 26.1.2). The answer is the silicon's, filtered the way KVM filters its
 * supported CPUID: VMX hidden, the hypervisor-present bit set, and a
 * hypervisor leaf at 40000000H. CPUID.01H:ECX.OSXSAVE reports the guest's
 * CR4.OSXSAVE (Vol. 2A, Table 3-10: "a value of 1 indicates that the OS has
 * set CR4.OSXSAVE"); XSAVE and leaf 0DH (x87 and SSE state) are passed
 * through, and the hypervisor emulates XSETBV for them (exits/xsetbv.ts).
 */
import type { Machine } from '../machine.js';
import { siliconCpuid, F1_ECX, F1_EDX } from '../../cpu/cpuid.js';
import { RAX, RBX, RCX, RDX, CR4_OSXSAVE } from '../../cpu/regs.js';
import { VMCS } from '../../vmx/fields.js';

/** "hvtraceVTx\0\0" as the EBX, ECX, EDX signature of leaf 40000000H. */
const SIGNATURE = [0x72747668, 0x56656361, 0x00007854] as const;
/** CPUID.01H:ECX.TSC_Deadline[bit 24] (Vol. 3A 10.5.4.1): the emulated local APIC offers it, as KVM's does; x2APIC (bit 21) when the LAPIC offers it. */
const F1_ECX_TSC_DEADLINE = 1 << 24;

export function guestCpuid(leaf: number, subleaf: number, apicEnabled = true, osxsave = false, tscDeadline = true, x2apic = false): { eax: number; ebx: number; ecx: number; edx: number } {
  if ((leaf >>> 0) === 0x40000000) return { eax: 0x40000000, ebx: SIGNATURE[0], ecx: SIGNATURE[1], edx: SIGNATURE[2] };
  const r = siliconCpuid(leaf, subleaf);
  if ((leaf >>> 0) === 1) {
    r.ecx = (r.ecx & ~(F1_ECX.VMX | F1_ECX.X2APIC | F1_ECX.OSXSAVE)) | F1_ECX.HYPERVISOR | (osxsave ? F1_ECX.OSXSAVE : 0) |
      (tscDeadline ? F1_ECX_TSC_DEADLINE : 0) | (x2apic ? F1_ECX.X2APIC : 0);
    // CPUID.01H:EDX.APIC follows IA32_APIC_BASE's global enable (Vol. 3A, 11.4.3).
    if (!apicEnabled) r.edx &= ~F1_EDX.APIC;
  }
  return r;
}

export function cpuidExit(m: Machine): void {
  const cpu = m.cpu;
  // CR4 as the guest sees it: bits the host owns come from the read shadow (Vol. 3C, 25.6.6).
  const mask = m.vmx.vmread32(VMCS.CR4_GUEST_HOST_MASK);
  const cr4 = (m.vmx.vmread32(VMCS.GUEST_CR4) & ~mask) | (m.vmx.vmread32(VMCS.CR4_READ_SHADOW) & mask);
  const l = m.pc.lapic;
  const r = guestCpuid(cpu.lo[RAX]!, cpu.lo[RCX]!, l.hwEnabled, (cr4 & CR4_OSXSAVE) !== 0, l.tscDeadlineSupported, l.x2apicSupported);
  cpu.lo[RAX] = r.eax; cpu.hi[RAX] = 0;
  cpu.lo[RBX] = r.ebx; cpu.hi[RBX] = 0;
  cpu.lo[RCX] = r.ecx; cpu.hi[RCX] = 0;
  cpu.lo[RDX] = r.edx; cpu.hi[RDX] = 0;
  m.skipInstruction();
}
