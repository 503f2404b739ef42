/**
 * Host-physical memory layout. Guest RAM occupies host-physical [0, ram)
 * and is identity-mapped by EPT; the hypervisor's own structures (VMXON
 * region, VMCS region, I/O and MSR bitmaps, EPT tables) live above it, where
 * no EPT entry points, so the guest can never reach them.
 */
import type { PhysMem } from '../memory/physmem.js';
import { VMCS_REVISION_ID } from '../vmx/capabilities.js';

export const MIB = 1024 * 1024;

export interface HostLayout {
  readonly ram: number;
  readonly vmxon: number;
  readonly vmcs: number;
  readonly ioBitmapA: number;
  readonly ioBitmapB: number;
  readonly msrBitmap: number;
  readonly eptPml4: number;
  /** Total host memory: RAM plus the hypervisor area. */
  readonly total: number;
}

export function hostLayout(ramBytes: number): HostLayout {
  const h = ramBytes;
  const pdPages = Math.ceil(ramBytes / (1024 * MIB));
  const ptPages = ramBytes % (2 * MIB) ? 1 : 0;
  return {
    ram: ramBytes, vmxon: h, vmcs: h + 0x1000, ioBitmapA: h + 0x2000, ioBitmapB: h + 0x3000, msrBitmap: h + 0x4000,
    eptPml4: h + 0x5000,
    total: h + 0x7000 + (pdPages + ptPages) * 0x1000,
  };
}

/** EPT memory type write-back (Vol. 3C, 29.3.7 "EPT and Memory Typing"). */
const EPT_WB = 6 << 3;
const EPT_RWX = 7;
const EPT_LARGE = 1 << 7;

/**
 * Build the EPT paging structures (Vol. 3C, 29.3.2, Figure "Formats of EPTP
 * and EPT Paging-Structure Entries"): identity map of guest RAM with 2-MiB
 * pages (a 4-KiB page table for a partial last 2 MiB). Returns the EPTP:
 * WB memory type, 4-level walk.
 */
export function buildEpt(mem: PhysMem, l: HostLayout): number {
  const pml4 = l.eptPml4, pdpt = pml4 + 0x1000;
  let next = pdpt + 0x1000;
  mem.fill(pml4, l.total - pml4, 0);
  mem.write32(pml4, pdpt | EPT_RWX);
  for (let gpa = 0; gpa < l.ram; gpa += 2 * MIB) {
    const gib = Math.floor(gpa / (1024 * MIB));
    const pdpteAddr = pdpt + gib * 8;
    let pd = mem.read32(pdpteAddr) & ~0xfff;
    if (!pd) { pd = next; next += 0x1000; mem.write32(pdpteAddr, pd | EPT_RWX); }
    const pdeAddr = pd + ((gpa / (2 * MIB)) % 512) * 8;
    if (gpa + 2 * MIB <= l.ram) {
      mem.write32(pdeAddr, gpa | EPT_WB | EPT_LARGE | EPT_RWX);
    } else {
      const pt = next; next += 0x1000;
      mem.write32(pdeAddr, pt | EPT_RWX);
      for (let p = gpa; p < l.ram; p += 0x1000) mem.write32(pt + ((p >>> 12) % 512) * 8, p | EPT_WB | EPT_RWX);
    }
  }
  return pml4 | (3 << 3) | 6; // page-walk length 4 (encoded 3), WB
}

/** Write the revision identifier into the VMXON and VMCS regions (Vol. 3C, 25.2 "Format of the VMCS Region"). */
export function initRegions(mem: PhysMem, l: HostLayout): void {
  mem.write32(l.vmxon, VMCS_REVISION_ID);
  mem.write32(l.vmcs, VMCS_REVISION_ID);
}
