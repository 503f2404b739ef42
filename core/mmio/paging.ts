/**
 * The MMIO emulator's guest page walker and EPT walker: hypervisor software
 * (like KVM's gva_to_gpa), independent of the CPU's MMU (core/cpu/mmu.ts).
 *
 * Guest paging, SDM Vol. 3A chapter 4:
 *  - 4.1.1 paging modes from CR0.PG, CR4.PAE, EFER.LME/LMA, CR4.LA57;
 *  - 4.3 32-bit paging (4-KiB pages; 4-MiB pages with CR4.PSE, PSE-36
 *    address bits 39:32 from PDE bits 20:13), Tables 4-4 .. 4-6;
 *  - 4.4 PAE paging (PDPTEs carry no R/W, U/S or XD bits), Tables 4-8 .. 4-11;
 *  - 4.5 4-level and 5-level paging (1-GiB and 2-MiB pages), Tables 4-14 .. 4-20;
 *  - 4.6 access rights (U/S, R/W with CR0.WP, XD with EFER.NXE, SMEP, SMAP
 *    with RFLAGS.AC), 4.7 page-fault error code (P, W/R, U/S, I/D), 4.8
 *    accessed and dirty flags (set here on a successful walk).
 * Reserved-bit checks (error-code bit RSVD) are not modelled.
 *
 * EPT, SDM Vol. 3C 29.3.2 (EPTP: bits 5:3 = walk length - 1; entries: bits
 * 2:0 read/write/execute, bit 7 = page at PDPTE/PDE level, address bits
 * 51:12). A guest-physical address EPT does not map (or maps without the
 * needed permission) is not RAM: the emulator sends it to the MMIO bus.
 */

export const ACC_READ = 0, ACC_WRITE = 1, ACC_FETCH = 2;
export type Access = 0 | 1 | 2;

/** Page-fault error-code bits (Vol. 3A, 4.7, Figure 4-12). */
export const PFEC_P = 1, PFEC_W = 2, PFEC_U = 4, PFEC_RSVD = 8, PFEC_I = 16;

const TWO32 = 4294967296;
const CR0_PG = 0x80000000 | 0, CR0_WP = 1 << 16;
const CR4_PSE = 1 << 4, CR4_PAE = 1 << 5, CR4_LA57 = 1 << 12, CR4_SMEP = 1 << 20, CR4_SMAP = 1 << 21;
const EFER_LMA = 1 << 10, EFER_NXE = 1 << 11;
const E_P = 1, E_RW = 2, E_US = 4, E_A = 0x20, E_D = 0x40, E_PS = 0x80;

/** The guest state a walk depends on. */
export interface PagingRegs {
  readonly cr0: number;
  /** CR3 as a non-negative double. */
  readonly cr3: number;
  readonly cr4: number;
  readonly efer: number;
  /** Current privilege level (3 = user accesses). */
  readonly cpl: number;
  /** RFLAGS.AC (SMAP override for supervisor data accesses). */
  readonly ac: boolean;
}

/** Guest-physical memory as the walker sees it (paging structures). */
export interface PhysAccess {
  /** Unsigned 32-bit little-endian value at guest-physical `gpa`, or -1 if no RAM backs it. */
  read32(gpa: number): number;
  write32(gpa: number, v: number): void;
}

/** Outcome of a translation (reused out-parameter). */
export class Translation {
  ok = false;
  /** Guest-physical address when ok. */
  gpa = 0;
  /** #PF error code when !ok, or -1 when the walk itself failed (message says why). */
  errorCode = -1;
  message = '';
}

/** Addresses bits 51:12 of a 64-bit entry given as halves. */
function entryAddr(lo: number, hi: number): number {
  return (hi & 0xfffff) * TWO32 + ((lo & 0xfffff000) >>> 0);
}

function pageFault(out: Translation, code: number): false {
  out.ok = false; out.errorCode = code; out.message = '';
  return false;
}

function walkError(out: Translation, msg: string): false {
  out.ok = false; out.errorCode = -1; out.message = msg;
  return false;
}

/**
 * Translate guest-linear `lin` (canonical signed double in IA-32e mode,
 * else an unsigned 32-bit value) for an access of kind `acc`. Fills `out`;
 * returns out.ok.
 */
export function translateLinear(regs: PagingRegs, mem: PhysAccess, lin: number, acc: Access, out: Translation): boolean {
  if (!(regs.cr0 & CR0_PG)) { out.ok = true; out.gpa = lin >>> 0; out.errorCode = -1; return true; }
  const lo = lin >>> 0;
  const user = regs.cpl === 3;
  const nxe = (regs.efer & EFER_NXE) !== 0;
  // Accumulated rights over the walk (Vol. 3A, 4.6.1 "Determination of Access Rights").
  let rw = true, us = true, xd = false;
  // Entries used (address and whether 8 bytes wide), to set A/D after the checks.
  const used = USED;
  let nUsed = 0;
  let gpa: number;
  const pae = (regs.cr4 & CR4_PAE) !== 0;
  const baseCode = (acc === ACC_WRITE ? PFEC_W : 0) | (user ? PFEC_U : 0) |
    (acc === ACC_FETCH && ((nxe && pae) || (regs.cr4 & CR4_SMEP)) ? PFEC_I : 0);

  if (regs.efer & EFER_LMA) {
    // 4-level / 5-level paging (4.5)
    const hi = Math.floor(lin / TWO32);
    const levels = regs.cr4 & CR4_LA57 ? 5 : 4;
    const idx = IDX;
    idx[0] = (hi >>> 16) & 0x1ff; // PML5 (bits 56:48)
    idx[1] = (hi >>> 7) & 0x1ff; // PML4 (47:39)
    idx[2] = ((hi & 0x7f) << 2) | (lo >>> 30); // PDPT (38:30)
    idx[3] = (lo >>> 21) & 0x1ff; // PD (29:21)
    idx[4] = (lo >>> 12) & 0x1ff; // PT (20:12)
    let table = regs.cr3 - (regs.cr3 % 4096);
    gpa = -1;
    for (let l = 5 - levels; l < 5; l++) {
      const ea = table + idx[l]! * 8;
      const elo = mem.read32(ea), ehi = mem.read32(ea + 4);
      if (elo < 0 || ehi < 0) return walkError(out, `paging structure at guest-physical 0x${ea.toString(16)} is not RAM`);
      if (!(elo & E_P)) return pageFault(out, baseCode);
      used[nUsed++] = ea;
      rw &&= (elo & E_RW) !== 0;
      us &&= (elo & E_US) !== 0;
      if (nxe && (ehi & 0x80000000)) xd = true;
      const addr = entryAddr(elo, ehi);
      if (l === 4) { gpa = addr + (lo & 0xfff); break; }
      if ((elo & E_PS) && (l === 2 || l === 3)) {
        const size = l === 2 ? 0x40000000 : 0x200000;
        gpa = addr - (addr % size) + (lo % size);
        break;
      }
      table = addr;
    }
  } else if (pae) {
    // PAE paging (4.4): 4 PDPTEs at CR3[31:5]
    const pdpteAddr = ((regs.cr3 >>> 0) & 0xffffffe0) >>> 0;
    const ea0 = pdpteAddr + (lo >>> 30) * 8;
    const plo = mem.read32(ea0), phi = mem.read32(ea0 + 4);
    if (plo < 0 || phi < 0) return walkError(out, `PDPTE at guest-physical 0x${ea0.toString(16)} is not RAM`);
    if (!(plo & E_P)) return pageFault(out, baseCode);
    const ea1 = entryAddr(plo, phi) + ((lo >>> 21) & 0x1ff) * 8;
    const dlo = mem.read32(ea1), dhi = mem.read32(ea1 + 4);
    if (dlo < 0 || dhi < 0) return walkError(out, `PDE at guest-physical 0x${ea1.toString(16)} is not RAM`);
    if (!(dlo & E_P)) return pageFault(out, baseCode);
    used[nUsed++] = ea1;
    rw = (dlo & E_RW) !== 0; us = (dlo & E_US) !== 0;
    if (nxe && (dhi & 0x80000000)) xd = true;
    const daddr = entryAddr(dlo, dhi);
    if (dlo & E_PS) gpa = daddr - (daddr % 0x200000) + (lo & 0x1fffff);
    else {
      const ea2 = daddr + ((lo >>> 12) & 0x1ff) * 8;
      const tlo = mem.read32(ea2), thi = mem.read32(ea2 + 4);
      if (tlo < 0 || thi < 0) return walkError(out, `PTE at guest-physical 0x${ea2.toString(16)} is not RAM`);
      if (!(tlo & E_P)) return pageFault(out, baseCode);
      used[nUsed++] = ea2;
      rw &&= (tlo & E_RW) !== 0; us &&= (tlo & E_US) !== 0;
      if (nxe && (thi & 0x80000000)) xd = true;
      gpa = entryAddr(tlo, thi) + (lo & 0xfff);
    }
  } else {
    // 32-bit paging (4.3)
    const ea1 = ((regs.cr3 >>> 0) & 0xfffff000) + (lo >>> 22) * 4;
    const pde = mem.read32(ea1);
    if (pde < 0) return walkError(out, `PDE at guest-physical 0x${ea1.toString(16)} is not RAM`);
    if (!(pde & E_P)) return pageFault(out, baseCode);
    used[nUsed++] = ea1;
    rw = (pde & E_RW) !== 0; us = (pde & E_US) !== 0;
    if ((pde & E_PS) && (regs.cr4 & CR4_PSE)) {
      gpa = ((pde >>> 13) & 0xff) * TWO32 + ((pde & 0xffc00000) >>> 0) + (lo & 0x3fffff);
    } else {
      const ea2 = ((pde & 0xfffff000) >>> 0) + ((lo >>> 12) & 0x3ff) * 4;
      const pte = mem.read32(ea2);
      if (pte < 0) return walkError(out, `PTE at guest-physical 0x${ea2.toString(16)} is not RAM`);
      if (!(pte & E_P)) return pageFault(out, baseCode);
      used[nUsed++] = ea2;
      rw &&= (pte & E_RW) !== 0; us &&= (pte & E_US) !== 0;
      gpa = ((pte & 0xfffff000) >>> 0) + (lo & 0xfff);
    }
  }

  // Access rights (4.6)
  const prot = baseCode | PFEC_P;
  if (user) {
    if (!us) return pageFault(out, prot);
    if (acc === ACC_WRITE && !rw) return pageFault(out, prot);
    if (acc === ACC_FETCH && xd) return pageFault(out, prot);
  } else {
    if (acc === ACC_WRITE && !rw && (regs.cr0 & CR0_WP)) return pageFault(out, prot);
    if (acc === ACC_FETCH) {
      if (xd) return pageFault(out, prot);
      if (us && (regs.cr4 & CR4_SMEP)) return pageFault(out, prot);
    } else if (us && (regs.cr4 & CR4_SMAP) && !regs.ac) return pageFault(out, prot);
  }

  // Accessed flags on every entry used, dirty on the last for a write (4.8)
  for (let k = 0; k < nUsed; k++) {
    const ea = used[k]!;
    let v = mem.read32(ea);
    const want = E_A | (k === nUsed - 1 && acc === ACC_WRITE ? E_D : 0);
    if ((v & want) !== want) { v |= want; mem.write32(ea, v >>> 0); }
  }
  out.ok = true; out.gpa = gpa; out.errorCode = -1; out.message = '';
  return true;
}

const USED = new Float64Array(5);
const IDX = new Int32Array(5);

/**
 * Translate guest-physical `gpa` through EPT (4- or 5-level per the EPTP)
 * for access `acc`; returns the host-physical address, or -1 for an EPT
 * violation or misconfiguration (not RAM). `read32` reads host-physical
 * memory (-1 outside it).
 */
export function eptTranslate(read32: (hpa: number) => number, eptp: number, gpa: number, acc: Access): number {
  const levels = (Math.floor(eptp / 8) & 7) + 1;
  if (levels !== 4 && levels !== 5) return -1;
  let table = eptp - (eptp % 4096);
  const lo = gpa >>> 0, hi = Math.floor(gpa / TWO32);
  const need = acc === ACC_WRITE ? 2 : acc === ACC_FETCH ? 4 : 1;
  for (let l = 5 - levels; l < 5; l++) {
    const i = l === 0 ? (hi >>> 16) & 0x1ff : l === 1 ? (hi >>> 7) & 0x1ff : l === 2 ? ((hi & 0x7f) << 2) | (lo >>> 30)
      : l === 3 ? (lo >>> 21) & 0x1ff : (lo >>> 12) & 0x1ff;
    const ea = table + i * 8;
    const elo = read32(ea), ehi = read32(ea + 4);
    if (elo < 0 || ehi < 0) return -1;
    const perm = elo & 7;
    if (perm === 0 || (perm & 3) === 2) return -1; // not present, or write-only (misconfiguration)
    if ((perm & need) === 0) return -1;
    const addr = entryAddr(elo, ehi);
    if (l === 4) return addr + (lo & 0xfff);
    if ((elo & E_PS) && (l === 2 || l === 3)) {
      const size = l === 2 ? 0x40000000 : 0x200000;
      return addr - (addr % size) + (gpa % size);
    }
    table = addr;
  }
  return -1;
}
