/**
 * Address translation slow path: guest paging (SDM Vol. 3A, chapter 4
 * "Paging": 32-bit, PAE and 4-level) followed by EPT (Vol. 3C, 29.3 "The
 * Extended Page Table Mechanism (EPT)"). The result feeds the CPU's TLB with
 * the intersection of the guest and EPT permissions, so the fast path needs
 * one compare; any access the combined permissions refuse comes back here,
 * where the full walk raises the right event: #PF for the guest's own
 * tables, an EPT violation or misconfiguration VM exit for EPT.
 */
import { NO_TAG, EPTC_SIZE, type Cpu } from './cpu.js';
import { ACC_R, ACC_W, ACC_X, ACC_SYS, P_SR, P_SW, P_SX, P_UR, P_UW, P_UX, P_SRA, P_SWA } from './access.js';
import { EXIT_REASON } from '../vmx/exit-reasons.js';
import { VM_EXIT } from './fault.js';
import { AC, CR4_SMAP, CR0_PG, CR0_WP, CR4_PAE, CR4_PGE, CR4_PSE, CR4_SMEP, EFER_LMA, EFER_NXE, PF_VEC, TWO32 } from './regs.js';
import { MemoryRangeError } from '../memory/physmem.js';

/** hpaPage: host-physical 4-KiB page; perm: TLB permission bits; large: base of the 2-MiB/1-GiB/4-MiB guest page it came from, or -1. */
export interface WalkResult { hpaPage: number; perm: number; large: number }
const result: WalkResult = { hpaPage: 0, perm: 0, large: -1 };

/** Physical-address width reported by CPUID.80000008H:EAX[7:0] (Vol. 3A, 4.1.4). */
export const MAXPHYADDR = 39;
/** Mask of address bits 38:32 in the high half of a paging-structure entry. */
const ADDR_HI_MASK = (1 << (MAXPHYADDR - 32)) - 1;
/** Reserved physical-address bits 51:MAXPHYADDR in the high half. */
const RSVD_HI = 0x000fffff & ~ADDR_HI_MASK;

// #PF error code bits (Vol. 3A, 4.7, Figure 4-12).
const PFEC_P = 1, PFEC_W = 2, PFEC_U = 4, PFEC_RSVD = 8, PFEC_I = 16;

/** Linear address of the last #PF, for CR2 or the exit qualification. */
export const pfState = { addr: 0 };

function pageFault(cpu: Cpu, lin: number, code: number): never {
  pfState.addr = lin;
  return cpu.fault(PF_VEC, code);
}

/** Read a 64-bit paging-structure entry at guest-physical `gpa` (low half returned, high in cpu.th). */
function readEntry(cpu: Cpu, gpa: number, lin: number): number {
  const pa = eptTranslate(cpu, gpa, ACC_R, lin, true, false);
  cpu.th = cpu.dv.getInt32(pa + 4, true);
  return cpu.dv.getInt32(pa, true);
}
function writeEntryLo(cpu: Cpu, gpa: number, lo: number, lin: number): void {
  const pa = eptTranslate(cpu, gpa, ACC_W, lin, true, false);
  cpu.dirty[pa >>> 12] = 1;
  if (cpu.codePages[pa >>> 12]) cpu.invalidateCode(pa, 4);
  cpu.dv.setInt32(pa, lo, true);
}

/**
 * Walk guest paging then EPT for `lin` and access `acc`. Raises #PF or a VM
 * exit when the access is not allowed. Sets accessed/dirty flags.
 */
export function walk(cpu: Cpu, lin: number, acc: number): WalkResult {
  const user = (acc & ACC_SYS) === 0 && cpu.cpl === 3;
  let gpa: number;
  let perm = P_SR | P_SW | P_SX | P_UR | P_UW | P_UX;
  let largeSize = 0;
  let global = false;
  if (!(cpu.cr0 & CR0_PG)) {
    gpa = lin >>> 0;
  } else {
    let rw = 1, us = 1, nx = 0;
    let leafGpa = 0, leafLo = 0, pageBase = 0;
    const nxe = (cpu.efer & EFER_NXE) !== 0;
    const fetchBit = (acc & ACC_X) && (nxe || (cpu.cr4 & CR4_SMEP)) ? PFEC_I : 0;
    const errBase = ((acc & ACC_W) ? PFEC_W : 0) | (user ? PFEC_U : 0) | fetchBit;
    const lo = lin >>> 0;
    if (cpu.efer & EFER_LMA) {
      // 4-level paging (Vol. 3A, 4.5): PML4 bits 47:39, PDPT 38:30, PD 29:21, PT 20:12.
      const hiBits = Math.floor(lin / TWO32) & 0xffff;
      let table = cpu.cr3 - (cpu.cr3 % 4096);
      for (let level = 0; level < 4; level++) {
        const ix = level === 0 ? (hiBits >>> 7) & 0x1ff : level === 1 ? ((hiBits & 0x7f) << 2) | (lo >>> 30) : level === 2 ? (lo >>> 21) & 0x1ff : (lo >>> 12) & 0x1ff;
        const eGpa = table + ix * 8;
        const e = readEntry(cpu, eGpa, lin);
        const eh = cpu.th;
        if (!(e & 1)) return pageFault(cpu, lin, errBase);
        const ps = (e & 0x80) !== 0;
        if ((eh & RSVD_HI) || (!nxe && eh < 0) || (level === 0 && ps) ||
            (ps && level === 1 && (e & 0x3fffe000)) || (ps && level === 2 && (e & 0x1fe000))) {
          return pageFault(cpu, lin, errBase | PFEC_P | PFEC_RSVD);
        }
        rw &= (e >> 1) & 1; us &= (e >> 2) & 1; if (eh < 0) nx = 1;
        if (!(e & 0x20)) writeEntryLo(cpu, eGpa, e | 0x20, lin); // accessed
        const addr = (eh & ADDR_HI_MASK) * TWO32 + ((e & 0xfffff000) >>> 0);
        if (level === 3 || ps) {
          leafGpa = eGpa; leafLo = e | 0x20;
          const size = level === 1 ? 0x40000000 : level === 2 ? 0x200000 : 0x1000;
          pageBase = addr - (addr % size) + ((lo % size) - (lo % 0x1000));
          if (size > 0x1000) largeSize = size;
          break;
        }
        table = addr;
      }
    } else if (cpu.cr4 & CR4_PAE) {
      // PAE paging (Vol. 3A, 4.4): PDPTE bits 31:30, PD 29:21, PT 20:12.
      const pdpte = readEntry(cpu, (cpu.cr3 & 0xffffffe0) + (lo >>> 30) * 8, lin);
      const pdpteH = cpu.th;
      if (!(pdpte & 1)) return pageFault(cpu, lin, errBase);
      if ((pdpteH & RSVD_HI) || (pdpte & 0x1e6)) return pageFault(cpu, lin, errBase | PFEC_P | PFEC_RSVD);
      let table = (pdpteH & ADDR_HI_MASK) * TWO32 + ((pdpte & 0xfffff000) >>> 0);
      for (let level = 2; level < 4; level++) {
        const eGpa = table + (level === 2 ? (lo >>> 21) & 0x1ff : (lo >>> 12) & 0x1ff) * 8;
        const e = readEntry(cpu, eGpa, lin);
        const eh = cpu.th;
        if (!(e & 1)) return pageFault(cpu, lin, errBase);
        const ps = level === 2 && (e & 0x80) !== 0;
        if ((eh & RSVD_HI) || (!nxe && eh < 0) || (ps && (e & 0x1fe000))) {
          return pageFault(cpu, lin, errBase | PFEC_P | PFEC_RSVD);
        }
        rw &= (e >> 1) & 1; us &= (e >> 2) & 1; if (eh < 0) nx = 1;
        if (!(e & 0x20)) writeEntryLo(cpu, eGpa, e | 0x20, lin);
        const addr = (eh & ADDR_HI_MASK) * TWO32 + ((e & 0xfffff000) >>> 0);
        if (level === 3 || ps) {
          leafGpa = eGpa; leafLo = e | 0x20;
          pageBase = ps ? addr - (addr % 0x200000) + ((lo & 0x1fffff) - (lo & 0xfff)) : addr;
          if (ps) largeSize = 0x200000;
          break;
        }
        table = addr;
      }
    } else {
      // 32-bit paging (Vol. 3A, 4.3), 4 MiB pages with CR4.PSE (PSE-36 not modelled).
      const pdeGpa = (cpu.cr3 & 0xfffff000) >>> 0;
      const eGpa = pdeGpa + (lo >>> 22) * 4;
      const pde = readEntry(cpu, eGpa, lin);
      if (!(pde & 1)) return pageFault(cpu, lin, errBase);
      rw &= (pde >> 1) & 1; us &= (pde >> 2) & 1;
      if (!(pde & 0x20)) writeEntryLo(cpu, eGpa, pde | 0x20, lin);
      if ((pde & 0x80) && (cpu.cr4 & CR4_PSE)) {
        leafGpa = eGpa; leafLo = pde | 0x20;
        pageBase = ((pde & 0xffc00000) >>> 0) + ((lo & 0x3fffff) - (lo & 0xfff));
        largeSize = 0x400000;
      } else {
        const pteGpa = ((pde & 0xfffff000) >>> 0) + ((lo >>> 12) & 0x3ff) * 4;
        const pte = readEntry(cpu, pteGpa, lin);
        if (!(pte & 1)) return pageFault(cpu, lin, errBase);
        rw &= (pte >> 1) & 1; us &= (pte >> 2) & 1;
        if (!(pte & 0x20)) writeEntryLo(cpu, pteGpa, pte | 0x20, lin);
        leafGpa = pteGpa; leafLo = pte | 0x20;
        pageBase = (pte & 0xfffff000) >>> 0;
      }
    }
    // G (bit 8 of the entry that maps the page) makes the translation global when CR4.PGE = 1
    // (Vol. 3A, 4.10.2.4; Tables 4-4/4-6, 4-9/4-11, 4-17/4-18/4-19).
    global = (leafLo & 0x100) !== 0 && (cpu.cr4 & CR4_PGE) !== 0;
    // Access rights (Vol. 3A, 4.6).
    const wp = (cpu.cr0 & CR0_WP) !== 0;
    perm = P_SR | ((rw || !wp) ? P_SW : 0) | (nx ? 0 : P_SX);
    if (us) {
      perm |= P_UR | (rw ? P_UW : 0) | (nx ? 0 : P_UX);
      if (cpu.cr4 & CR4_SMEP) perm &= ~P_SX;
      // SMAP: supervisor data accesses to a user page need CPL < 3 and RFLAGS.AC = 1 - explicit ones
      // and implicit ones alike; an implicit access at CPL 3 never (Vol. 3A 4.6).
      if (cpu.cr4 & CR4_SMAP) perm = (perm & ~(P_SR | P_SW)) | (perm & P_SR ? P_SRA : 0) | (perm & P_SW ? P_SWA : 0);
    }
    let need = needBit(acc, user);
    if (!user && (acc & ACC_X) === 0 && cpu.cpl < 3 && (cpu.flagsRest & AC) !== 0) need |= need === P_SW ? P_SWA : P_SRA;
    if (!(perm & need)) return pageFault(cpu, lin, errBase | PFEC_P);
    // Dirty flag: set on the first write; until then the TLB entry is read-only.
    if (!(leafLo & 0x40)) {
      if (acc & ACC_W) writeEntryLo(cpu, leafGpa, leafLo | 0x40, lin);
      else perm &= ~(P_SW | P_UW | P_SWA);
    }
    gpa = pageBase + (lo & 0xfff);
  }
  const ept = eptTranslate(cpu, gpa, acc, lin, true, true);
  result.hpaPage = ept - (ept % 4096);
  result.perm = perm & eptPerm;
  result.large = largeSize ? lin - (((lin % largeSize) + largeSize) % largeSize) : -1;
  // The caller (Cpu.translate) fills TLB entry `idx` with this page: record whether it is global.
  const g = globalTags(cpu);
  g[(lin >>> 12) & (g.length - 1)] = global ? lin - (lin & 0xfff) : NOT_GLOBAL;
  return result;
}

// ---- global translations (CR4.PGE) ----------------------------------------------------------
//
// Beside the TLB arrays of the Cpu (tag, host page, permissions) this keeps, per TLB entry,
// the page base it was filled with when that translation is global (else NOT_GLOBAL). walk()
// writes it just before Cpu.translate fills the entry; an entry is global while its tag
// equals this value. Kept here (not in the Cpu) so the fast path stays as it is.

/** Never a page base, and never equal to the TLB's empty tag. */
const NOT_GLOBAL = 0.25;
const gTags = new WeakMap<Cpu, Float64Array>();
let gCpu: Cpu | undefined;
let gArr: Float64Array | undefined;
function globalTags(cpu: Cpu): Float64Array {
  if (cpu === gCpu) return gArr!;
  let a = gTags.get(cpu);
  if (a === undefined) { a = new Float64Array(cpu.tlbTag.length).fill(NOT_GLOBAL); gTags.set(cpu, a); }
  gCpu = cpu; gArr = a;
  return a;
}

/**
 * MOV to CR3 with CR4.PCIDE = 0 (Vol. 3A, 4.10.4.1): invalidates every TLB entry except the
 * global ones (the translations of pages whose G bit was set while CR4.PGE = 1). Global
 * entries go only with INVLPG of their page (Cpu.flushTlbPage), a MOV to CR4 that changes
 * PGE (or PAE, PSE, SMEP, PCIDE), a change of CR0.PG, or a VM entry/exit without VPID
 * (all of which use Cpu.flushTlb).
 */
export function flushTlbNonGlobal(cpu: Cpu): void {
  const tags = cpu.tlbTag, g = globalTags(cpu);
  cpu.chainGen++;
  let kept = 0;
  for (let k = 0; k < tags.length; k++) {
    if (tags[k] === g[k]) kept++;
    else tags[k] = NO_TAG;
  }
  if (kept === 0) { cpu.tlbLarge.clear(); return; }
  // Entries filled from large pages: keep the indices of the surviving (global) ones.
  for (const [lb, list] of cpu.tlbLarge) {
    const live = list.filter((k) => tags[k] !== NO_TAG && tags[k]! >= lb && tags[k]! < lb + 0x40000000);
    if (live.length === 0) cpu.tlbLarge.delete(lb); else cpu.tlbLarge.set(lb, live);
  }
}

function needBit(acc: number, user: boolean): number {
  if (acc & ACC_X) return user ? P_UX : P_SX;
  if (acc & ACC_W) return user ? P_UW : P_SW;
  return user ? P_UR : P_SR;
}

/** TLB permission mask granted by the last EPT translation. */
let eptPerm = 0;
/** TLB permission bits an EPT leaf's combined R/W/X bits allow (supervisor, user and SMAP-override kinds alike). */
function eptPermOf(rwx: number): number {
  return ((rwx & 1) ? P_SR | P_UR | P_SRA : 0) | ((rwx & 2) ? P_SW | P_UW | P_SWA : 0) | ((rwx & 4) ? P_SX | P_UX : 0);
}

/**
 * Translate guest-physical `gpa` through EPT for access `acc`. `final` is
 * true for the translation of the linear address itself, false for accesses
 * to guest paging structures (qualification bit 8, Vol. 3C 28.2.1, Table
 * "Exit Qualification for EPT Violations").
 */
export function eptTranslate(cpu: Cpu, gpa: number, acc: number, lin: number, linValid: boolean, final: boolean): number {
  if (!cpu.eptOn) {
    eptPerm = -1;
    if (gpa >= cpu.mem.size) throw new MemoryRangeError(gpa, 1, cpu.mem.size);
    return gpa;
  }
  // Guest-physical mappings cached by page (Cpu.eptcTag): only successful walks are cached, so an
  // access the cached R/W/X bits refuse walks again and raises the violation.
  const page = gpa - (gpa % 4096);
  const slot = (gpa / 4096) & (EPTC_SIZE - 1);
  if (cpu.eptcTag[slot] === page) {
    const c = cpu.eptcRwx[slot]!;
    if (!((acc & ACC_R && !(c & 1)) || (acc & ACC_W && !(c & 2)) || (acc & ACC_X && !(c & 4)))) {
      eptPerm = eptPermOf(c);
      return cpu.eptcHpa[slot]! + (gpa - page);
    }
  }
  const gHi = Math.floor(gpa / TWO32);
  const gLo = gpa >>> 0;
  let table = cpu.eptRoot;
  let rwx = 7;
  const dv = cpu.dv;
  for (let level = 0; level < 4; level++) {
    // EPT entry index for this level (Vol. 3C, 29.3.2): bits 47:39, 38:30, 29:21, 20:12.
    const ix = level === 0 ? (gHi >>> 7) & 0x1ff : level === 1 ? ((gHi & 0x7f) << 2) | (gLo >>> 30) : level === 2 ? (gLo >>> 21) & 0x1ff : (gLo >>> 12) & 0x1ff;
    const ePa = table + ix * 8;
    if (ePa + 8 > cpu.mem.size) throw new MemoryRangeError(ePa, 8, cpu.mem.size);
    const e = dv.getInt32(ePa, true);
    const eh = dv.getInt32(ePa + 4, true);
    const perms = e & 7;
    if (perms === 0) return eptViolation(cpu, gpa, acc, lin, linValid, final, 0);
    const ps = (e & 0x80) !== 0 && level > 0;
    const leaf = level === 3 || ps;
    // EPT misconfiguration (Vol. 3C, 29.3.3.1): write without read, reserved bits, bad memory type.
    const mt = (e >> 3) & 7;
    if ((perms & 3) === 2 || (eh & RSVD_HI) ||
        (!leaf && (e & 0xf8)) || (level === 0 && (e & 0x80)) ||
        (leaf && (mt === 2 || mt === 3 || mt === 7)) ||
        (ps && level === 1 && (e & 0x3ffff000)) || (ps && level === 2 && (e & 0x1ff000))) {
      cpu.xGpa = gpa;
      return cpu.vmexit(EXIT_REASON.EPT_MISCONFIGURATION, 0, 0);
    }
    rwx &= perms;
    const addr = (eh & ADDR_HI_MASK) * TWO32 + ((e & 0xfffff000) >>> 0);
    if (leaf) {
      const size = level === 1 ? 0x40000000 : level === 2 ? 0x200000 : 0x1000;
      const hpa = addr - (addr % size) + (gpa % size);
      if ((acc & ACC_R && !(rwx & 1)) || (acc & ACC_W && !(rwx & 2)) || (acc & ACC_X && !(rwx & 4))) {
        return eptViolation(cpu, gpa, acc, lin, linValid, final, rwx);
      }
      if (hpa >= cpu.mem.size) throw new MemoryRangeError(hpa, 1, cpu.mem.size);
      eptPerm = eptPermOf(rwx);
      cpu.eptcTag[slot] = page; cpu.eptcHpa[slot] = hpa - (gpa - page); cpu.eptcRwx[slot] = rwx;
      return hpa;
    }
    table = addr;
  }
  throw new Error('unreachable');
}

function eptViolation(cpu: Cpu, gpa: number, acc: number, lin: number, linValid: boolean, final: boolean, rwx: number): never {
  // Exit qualification for EPT violations (Vol. 3C, 28.2.1): bit 0 read, 1 write, 2 fetch,
  // bits 5:3 the AND of the R/W/X bits of the entries walked, bit 7 linear address valid,
  // bit 8 translation of the linear address (1) vs. access to a paging-structure entry (0).
  let q = 0;
  if (acc & ACC_X) q |= 4;
  else { if (acc & ACC_R) q |= 1; if (acc & ACC_W) q |= 2; }
  q |= (rwx & 7) << 3;
  if (linValid) { q |= 0x80; if (final) q |= 0x100; }
  cpu.xGpa = gpa;
  cpu.xGla = linValid ? lin : 0;
  cpu.xGlaValid = linValid;
  cpu.xReason = EXIT_REASON.EPT_VIOLATION;
  cpu.xQual = q;
  cpu.xLen = 0;
  cpu.xInfo = 0;
  throw VM_EXIT;
}
