/**
 * The hypervisor's own view of guest memory: a guest-linear address is
 * translated through the guest's paging structures (SDM Vol. 3A, chapter 4:
 * no paging, 32-bit, PAE, 4-level) as recorded in the VMCS guest-state area,
 * then through the identity EPT map of guest RAM. Independent of the CPU's
 * MMU on purpose: this is hypervisor software, like KVM's gva_to_gpa.
 */
import type { Machine } from './machine.js';
import { VMCS } from '../vmx/fields.js';

const TWO32 = 4294967296;

export class GuestTranslationError extends Error {
  override readonly name = 'GuestTranslationError';
}

/** Translate a guest-linear address; returns the guest-physical address. */
export function linearToPhysical(m: Machine, lin: number): number {
  const vmx = m.vmx;
  const cr0 = vmx.vmread32(VMCS.GUEST_CR0), cr4 = vmx.vmread32(VMCS.GUEST_CR4);
  const efer = vmx.vmread32(VMCS.GUEST_IA32_EFER);
  const cr3 = vmx.vmreadNum(VMCS.GUEST_CR3);
  if (!(cr0 & 0x80000000)) return lin >>> 0;
  const lo = lin >>> 0;
  const fail = (what: string): never => { throw new GuestTranslationError(`guest-linear 0x${hex(lin)} is not mapped (${what})`); };
  const entry = (gpa: number): [number, number] => {
    if (gpa + 8 > m.ramBytes) fail(`paging structure at guest-physical 0x${gpa.toString(16)} outside RAM`);
    return [m.mem.dv.getUint32(gpa, true), m.mem.dv.getUint32(gpa + 4, true)];
  };
  const addrOf = (e: [number, number]): number => (e[1] & 0x7f) * TWO32 + (e[0] & 0xfffff000) >>> 0;
  if (efer & 0x400) {
    const hiBits = Math.floor(lin / TWO32) & 0xffff;
    const idx = [(hiBits >>> 7) & 0x1ff, ((hiBits & 0x7f) << 2) | (lo >>> 30), (lo >>> 21) & 0x1ff, (lo >>> 12) & 0x1ff];
    let table = cr3 - (cr3 % 4096);
    for (let level = 0; level < 4; level++) {
      const e = entry(table + idx[level]! * 8);
      if (!(e[0] & 1)) fail(`level-${4 - level} entry not present`);
      const base = (e[1] & 0x7f) * TWO32 + ((e[0] & 0xfffff000) >>> 0);
      if (level === 3) return base + (lo & 0xfff);
      if (e[0] & 0x80) {
        const size = level === 1 ? 0x40000000 : 0x200000;
        return base - (base % size) + (lo % size);
      }
      table = base;
    }
  }
  if (cr4 & 0x20) {
    const pdpte = entry((cr3 & 0xffffffe0) + (lo >>> 30) * 8);
    if (!(pdpte[0] & 1)) fail('PDPTE not present');
    const pde = entry(addrOf(pdpte) + ((lo >>> 21) & 0x1ff) * 8);
    if (!(pde[0] & 1)) fail('PDE not present');
    const pdeBase = (pde[1] & 0x7f) * TWO32 + ((pde[0] & 0xfffff000) >>> 0);
    if (pde[0] & 0x80) return pdeBase - (pdeBase % 0x200000) + (lo & 0x1fffff);
    const pte = entry(pdeBase + ((lo >>> 12) & 0x1ff) * 8);
    if (!(pte[0] & 1)) fail('PTE not present');
    return (pte[1] & 0x7f) * TWO32 + ((pte[0] & 0xfffff000) >>> 0) + (lo & 0xfff);
  }
  const pdeAddr = ((cr3 & 0xfffff000) >>> 0) + (lo >>> 22) * 4;
  if (pdeAddr + 4 > m.ramBytes) fail('page directory outside RAM');
  const pde = m.mem.dv.getUint32(pdeAddr, true);
  if (!(pde & 1)) fail('PDE not present');
  if ((pde & 0x80) && (cr4 & 0x10)) return ((pde & 0xffc00000) >>> 0) + (lo & 0x3fffff);
  const pteAddr = ((pde & 0xfffff000) >>> 0) + ((lo >>> 12) & 0x3ff) * 4;
  if (pteAddr + 4 > m.ramBytes) fail('page table outside RAM');
  const pte = m.mem.dv.getUint32(pteAddr, true);
  if (!(pte & 1)) fail('PTE not present');
  return ((pte & 0xfffff000) >>> 0) + (lo & 0xfff);
}

/** Read up to `len` bytes of guest-linear memory (stops early at an unmapped page). */
export function readGuestLinear(m: Machine, lin: number, len: number): Uint8Array {
  const out: number[] = [];
  for (let k = 0; k < len; k++) {
    let pa: number;
    try { pa = linearToPhysical(m, lin + k); } catch { break; }
    if (pa >= m.ramBytes) break;
    out.push(m.mem.u8[pa]!);
  }
  return Uint8Array.from(out);
}

export function hex(v: number): string {
  return v < 0 ? (BigInt(v) + (1n << 64n)).toString(16) : v.toString(16);
}
