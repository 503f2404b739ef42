/**
 * Model-specific registers of the silicon (SDM Vol. 4, "Model-Specific
 * Registers", Table 2-2 "IA-32 Architectural MSRs"). These are reached only
 * when the hypervisor lets RDMSR/WRMSR through its MSR bitmap; otherwise
 * the access exits and the hypervisor emulates it. Unknown MSRs raise #GP(0).
 */
import type { Cpu } from './cpu.js';
import { guestTsc } from './exec/system.js';
import {
  MSR_EFER, MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_FMASK, MSR_FS_BASE, MSR_GS_BASE, MSR_KERNEL_GS_BASE,
  MSR_TSC_AUX, MSR_SYSENTER_CS, MSR_SYSENTER_ESP, MSR_SYSENTER_EIP, MSR_PAT, MSR_TSC, MSR_DEBUGCTL,
  EFER_SCE, EFER_LME, EFER_LMA, EFER_NXE, CR0_PG, FS, GS, TWO32, ARITH_FLAGS,
} from './regs.js';

function canonical(hi: number, lo: number): number {
  return hi * TWO32 + (lo >>> 0);
}
function isCanonical(v: number): boolean { return v >= -0x8000_0000_0000 && v < 0x8000_0000_0000; }

/** RDMSR: returns the low half, high half in cpu.th. */
export function rdmsr(cpu: Cpu, idx: number): number {
  const split = (v: number): number => { cpu.th = Math.floor(v / TWO32) | 0; return v | 0; };
  switch (idx) {
    case MSR_EFER: cpu.th = 0; return cpu.efer;
    case MSR_STAR: cpu.th = cpu.starHi; return cpu.star;
    case MSR_LSTAR: return split(cpu.lstar);
    case MSR_CSTAR: return split(cpu.cstar);
    case MSR_FMASK: cpu.th = 0; return cpu.fmask;
    case MSR_FS_BASE: return split(cpu.segBase[FS]!);
    case MSR_GS_BASE: return split(cpu.segBase[GS]!);
    case MSR_KERNEL_GS_BASE: return split(cpu.kernelGsBase);
    case MSR_TSC_AUX: cpu.th = 0; return cpu.tscAux;
    case MSR_SYSENTER_CS: cpu.th = 0; return cpu.sysenterCs;
    case MSR_SYSENTER_ESP: return split(cpu.sysenterEsp);
    case MSR_SYSENTER_EIP: return split(cpu.sysenterEip);
    case MSR_PAT: cpu.th = cpu.patHi; return cpu.patLo;
    case MSR_TSC: return split(guestTsc(cpu));
    case MSR_DEBUGCTL: cpu.th = 0; return cpu.debugctl;
  }
  const m = cpu.msrs.get(idx);
  if (m) { cpu.th = m[1]; return m[0]; }
  return cpu.gp(0);
}

/** WRMSR with the architectural checks (#GP for reserved bits and non-canonical addresses). */
export function wrmsr(cpu: Cpu, idx: number, lo: number, hi: number): void {
  const addr = (): number => { const v = canonical(hi, lo); if (!isCanonical(v)) cpu.gp(0); return v; };
  switch (idx) {
    case MSR_EFER: {
      if (hi !== 0 || (lo & ~(EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE))) cpu.gp(0);
      // LME cannot change while paging is enabled; LMA is read-only (Vol. 3A, 9.8.5).
      if ((cpu.cr0 & CR0_PG) && ((lo ^ cpu.efer) & EFER_LME)) cpu.gp(0);
      cpu.efer = (lo & ~EFER_LMA) | (cpu.efer & EFER_LMA);
      cpu.flushTlb();
      return;
    }
    case MSR_STAR: cpu.star = lo; cpu.starHi = hi; return;
    case MSR_LSTAR: cpu.lstar = addr(); return;
    case MSR_CSTAR: cpu.cstar = addr(); return;
    case MSR_FMASK: if (hi !== 0) cpu.gp(0); cpu.fmask = lo | 0; return; // bits 31:0 stored, 63:32 reserved (Vol. 4, IA32_FMASK)
    case MSR_FS_BASE: cpu.segBase[FS] = addr(); cpu.segBaseEff[FS] = cpu.segBase[FS]!; return;
    case MSR_GS_BASE: cpu.segBase[GS] = addr(); cpu.segBaseEff[GS] = cpu.segBase[GS]!; return;
    case MSR_KERNEL_GS_BASE: cpu.kernelGsBase = addr(); return;
    case MSR_TSC_AUX: if (hi !== 0) cpu.gp(0); cpu.tscAux = lo; return;
    case MSR_SYSENTER_CS: cpu.sysenterCs = lo & 0xffff; return;
    case MSR_SYSENTER_ESP: cpu.sysenterEsp = addr(); return;
    case MSR_SYSENTER_EIP: cpu.sysenterEip = addr(); return;
    case MSR_PAT: {
      // Each byte must be a valid memory type: 0, 1, 4, 5, 6, 7 (Vol. 3A, 13.12.2).
      for (let k = 0; k < 8; k++) { const t = ((k < 4 ? lo : hi) >>> ((k & 3) * 8)) & 0xff; if (t === 2 || t === 3 || t > 7) cpu.gp(0); }
      cpu.patLo = lo; cpu.patHi = hi; return;
    }
    case MSR_DEBUGCTL: if (hi !== 0 || (lo & ~0x3)) cpu.gp(0); cpu.debugctl = lo; return;
  }
  if (cpu.msrs.has(idx)) { cpu.msrs.set(idx, [lo, hi]); return; }
  cpu.gp(0);
}

/** Replace the six status flags of RFLAGS (helper for flag-loading instructions). */
export function setFlagsBits(cpu: Cpu, v: number): void {
  cpu.setFlags((cpu.getFlags() & ~ARITH_FLAGS) | (v & ARITH_FLAGS));
}
