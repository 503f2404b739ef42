/**
 * MSRs the hypervisor intercepts and emulates (the MSR bitmap makes these
 * exit). IA32_EFER and IA32_PAT live in the VMCS guest-state area (loaded
 * and saved with the "load/save IA32_EFER/PAT" controls); the rest are
 * simple registers kept per machine.
 */
import type { Machine } from './machine.js';
import { VMCS } from '../vmx/fields.js';
import { ENTRY_CTLS } from '../vmx/capabilities.js';
import type { PhysMem } from '../memory/physmem.js';
import { MSR_IA32_TSC_DEADLINE, X2APIC_MSR_BASE, X2APIC_MSR_LAST } from '../devices/lapic.js';
import {
  MSR_EFER, MSR_PAT, MSR_APIC_BASE, MSR_MISC_ENABLE, MSR_FEATURE_CONTROL, MSR_TSC,
  MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_FMASK, MSR_KERNEL_GS_BASE,
  MSR_FS_BASE, MSR_GS_BASE, MSR_SYSENTER_CS, MSR_SYSENTER_ESP, MSR_SYSENTER_EIP, MSR_TSC_AUX,
} from '../cpu/regs.js';

const EFER_WRITABLE = 0x1 | 0x100 | 0x800; // SCE, LME, NXE (LMA is read-only)

/** MSRs with plain storage and their reset values [lo, hi]. */
const PLAIN: ReadonlyMap<number, readonly [number, number]> = new Map([
  [MSR_MISC_ENABLE, [0x1, 0]],           // fast strings
  [MSR_FEATURE_CONTROL, [0x1, 0]],       // locked, VMX disabled for the guest
  [0x8b, [0, 0]],                        // IA32_BIOS_SIGN_ID (microcode revision)
  [0xce, [0, 0]],                        // MSR_PLATFORM_INFO
  [0x2ff, [0x6, 0]],                     // IA32_MTRR_DEF_TYPE: WB default, MTRRs disabled
  [0xfe, [0, 0]],                        // IA32_MTRRCAP: no variable ranges
]);

export function readEmulatedMsr(m: Machine, idx: number): [number, number] | null {
  // x2APIC registers (SDM Vol. 3A 10.12.1.2): #GP unless the APIC is in x2APIC mode.
  if (idx >= X2APIC_MSR_BASE && idx <= X2APIC_MSR_LAST) return m.pc.lapic.readMsr(idx);
  switch (idx) {
    case MSR_APIC_BASE: return m.pc.lapic.getApicBase();
    case MSR_IA32_TSC_DEADLINE: return m.pc.lapic.tscDeadlineSupported ? m.pc.lapic.readTscDeadline() : null;
    case MSR_EFER: return [m.vmx.vmread32(VMCS.GUEST_IA32_EFER), 0];
    case MSR_PAT: return [m.vmx.vmread32(VMCS.GUEST_IA32_PAT), m.vmx.vmreadNum(VMCS.GUEST_IA32_PAT) / 4294967296 >>> 0];
    case MSR_TSC: { const t = m.cpu.icount; return [t >>> 0, Math.floor(t / 4294967296)]; }
  }
  const own = m.msrStore.get(idx);
  if (own) return [own[0], own[1]];
  const d = PLAIN.get(idx);
  return d ? [d[0], d[1]] : null;
}

export function writeEmulatedMsr(m: Machine, idx: number, lo: number, hi: number): boolean {
  if (idx >= X2APIC_MSR_BASE && idx <= X2APIC_MSR_LAST) return m.pc.lapic.writeMsr(idx, lo, hi);
  switch (idx) {
    case MSR_APIC_BASE: return m.pc.lapic.setApicBase(lo, hi);
    case MSR_IA32_TSC_DEADLINE:
      if (!m.pc.lapic.tscDeadlineSupported) return false;
      m.pc.lapic.writeTscDeadline(lo, hi);
      return true;
    case MSR_EFER: {
      if (hi !== 0 || (lo & ~(EFER_WRITABLE | 0x400))) return false;
      const cur = m.vmx.vmread32(VMCS.GUEST_IA32_EFER);
      const paging = (m.vmx.vmread32(VMCS.GUEST_CR0) & 0x80000000) !== 0;
      if (paging && ((lo ^ cur) & 0x100)) return false; // LME cannot change while paging is on
      const v = (lo & EFER_WRITABLE) | (cur & 0x400);
      m.vmx.vmwriteHalves(VMCS.GUEST_IA32_EFER, v, 0);
      return true;
    }
    case MSR_PAT: {
      for (let k = 0; k < 8; k++) { const t = ((k < 4 ? lo : hi) >>> ((k & 3) * 8)) & 0xff; if (t === 2 || t === 3 || t > 7) return false; }
      m.vmx.vmwriteHalves(VMCS.GUEST_IA32_PAT, lo, hi);
      return true;
    }
    case MSR_TSC: return true; // writes to the TSC are ignored: virtual time cannot be changed
  }
  if (PLAIN.has(idx) || m.msrStore.has(idx)) { m.msrStore.set(idx, [lo >>> 0, hi >>> 0]); return true; }
  return false;
}

/** Set the "IA-32e mode guest" entry control and EFER.LMA together (what hardware does on CR0.PG with LME; Vol. 3A 9.8.5). */
export function setLongModeActive(m: Machine, on: boolean): void {
  const efer = m.vmx.vmread32(VMCS.GUEST_IA32_EFER);
  m.vmx.vmwriteHalves(VMCS.GUEST_IA32_EFER, on ? efer | 0x400 : efer & ~0x400, 0);
  const entry = m.vmx.vmread32(VMCS.VM_ENTRY_CONTROLS);
  m.vmx.vmwrite32(VMCS.VM_ENTRY_CONTROLS, on ? entry | ENTRY_CTLS.IA32E_MODE_GUEST : entry & ~ENTRY_CTLS.IA32E_MODE_GUEST);
}

/**
 * MSRs the guest reads and writes without a VM exit: the SYSCALL/SWAPGS
 * registers IA32_STAR (C000_0081H), IA32_LSTAR (C000_0082H), IA32_CSTAR
 * (C000_0083H), IA32_FMASK (C000_0084H) and IA32_KERNEL_GS_BASE (C000_0102H)
 * (SDM Vol. 4, Table 2-2). They have no VMCS field and nothing on the host
 * side uses them, so the silicon's own registers (core/cpu/msr.ts, with the
 * architectural #GP checks) hold the guest's values across exits; KVM too
 * passes KERNEL_GS_BASE through. Being Cpu state, they are not in the VMCS.
 */
export const PASSTHROUGH_MSRS: readonly number[] = [
  MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_FMASK, MSR_KERNEL_GS_BASE,
  // Backed by guest-state fields the VM exit saves and VM entry loads (GUEST_FS_BASE, GUEST_GS_BASE, GUEST_IA32_SYSENTER_*).
  MSR_FS_BASE, MSR_GS_BASE, MSR_SYSENTER_CS, MSR_SYSENTER_ESP, MSR_SYSENTER_EIP,
  MSR_TSC_AUX,
];

/**
 * Clear the read and write bits of `msrs` in the 4-KiB MSR bitmap at host-physical
 * `bitmap` (SDM Vol. 3C, 25.6.9: read bitmap for low MSRs 00000000H-00001FFFH
 * at offset 0, for high MSRs C0000000H-C0001FFFH at 1024; the write bitmaps
 * follow at 2048 and 3072; one bit per MSR, set = exit).
 */
export function passThroughMsrs(mem: PhysMem, bitmap: number, msrs: readonly number[] = PASSTHROUGH_MSRS): void {
  for (const msr of msrs) {
    let base: number;
    if (msr >= 0 && msr <= 0x1fff) base = 0;
    else if (msr >= 0xc0000000 && msr <= 0xc0001fff) base = 1024;
    else throw new RangeError(`MSR 0x${msr.toString(16)} is outside the ranges the MSR bitmap covers`);
    const bit = msr & 0x1fff;
    for (const off of [base, base + 2048]) {
      const a = bitmap + off + (bit >> 3);
      mem.write8(a, mem.read8(a) & ~(1 << (bit & 7)));
    }
  }
}
