/**
 * System instructions and their VMX non-root behaviour (SDM Vol. 2 for the
 * instructions; Vol. 3C, 26.1 "Instructions That Cause VM Exits" and 26.3
 * "Changes to Instruction Behavior in VMX Non-Root Operation").
 */
import type { Cpu } from '../cpu.js';
import type { Insn } from '../insn.js';
import { PROC_BASED, PROC_BASED2, crQualification, CRQ_MOV_TO, CRQ_MOV_FROM, CRQ_CLTS, CRQ_LMSW, msrExits } from '../nonroot.js';
import { EXIT_REASON } from '../../vmx/exit-reasons.js';
import { readE, setReg } from './operands.js';
import { rdmsr, wrmsr } from '../msr.js';
import {
  RAX, RCX, RDX, R11, IF, IOPL, RF, TF, VM, DF, FLAGS_FIXED1, TWO32, CS, SS, FS, GS, LDTR, TR, UD,
  CR0_PE, CR0_PG, CR0_NE, CR0_TS, CR0_NW, CR0_CD, CR0_WP, CR4_PAE, CR4_TSD, CR4_VMXE, CR4_PGE, CR4_PSE,
  CR4_SMEP, CR4_SMAP, CR4_FSGSBASE, CR4_DE, CR4_UMIP, AC, EFER_LMA, EFER_LME, EFER_SCE, AR_L,
} from '../regs.js';
import { ltr, lldt } from '../segments.js';
import { flushTlbNonGlobal } from '../mmu.js';
import { debugFault, DR6_BD, DR6_WRITABLE, DR6_FIXED1, DR7_GD, DR7_RESERVED0, DR7_FIXED1 } from '../debug.js';

function requireCpl0(cpu: Cpu): void { if (cpu.cpl !== 0) cpu.gp(0); }

/** HLT (F4): exits with HLT exiting, otherwise enters the HLT activity state. */
export function hlt(cpu: Cpu, i: Insn): void {
  requireCpl0(cpu);
  if (cpu.ctlProc & PROC_BASED.HLT_EXITING) cpu.vmexit(EXIT_REASON.HLT, 0, i.len);
  cpu.halted = true;
}
/** CPUID (0F A2): unconditionally exits in VMX non-root operation (Vol. 3C, 26.1.2). */
export function cpuid(cpu: Cpu, i: Insn): void {
  cpu.vmexit(EXIT_REASON.CPUID, 0, i.len);
}
/**
 * RDPMC (0F 33): exits with RDPMC exiting; otherwise CPUID.0AH reports no
 * performance counters, so every counter index is invalid: #GP(0) (Vol. 2B RDPMC).
 */
export function rdpmc(cpu: Cpu, i: Insn): void {
  if (cpu.ctlProc & PROC_BASED.RDPMC_EXITING) cpu.vmexit(EXIT_REASON.RDPMC, 0, i.len);
  cpu.gp(0);
}
/** INVD (0F 08): unconditional exit. */
export function invd(cpu: Cpu, i: Insn): void {
  requireCpl0(cpu);
  cpu.vmexit(EXIT_REASON.INVD, 0, i.len);
}
/** VMX instructions executed by the guest always exit (Vol. 3C, 26.1.2); VMCALL is the hypercall. arg = exit reason. */
export function vmxInsn(cpu: Cpu, i: Insn): void {
  if (i.arg === EXIT_REASON.VMREAD || i.arg === EXIT_REASON.VMWRITE) {
    cpu.vmexit(i.arg, vmxDisplacement(cpu, i), i.len, vmreadWriteInfo(i));
  }
  cpu.vmexit(i.arg, 0, i.len);
}

/**
 * Exit qualification of VMREAD/VMWRITE (and the other VMX instructions with a
 * memory operand; Vol. 3C 28.2.1): the displacement, sign-extended to 64 bits
 * (0 for a register operand); with RIP-relative addressing, displacement +
 * RIP of the next instruction.
 */
function vmxDisplacement(cpu: Cpu, i: Insn): number {
  if (i.mod === 3) return 0;
  if (cpu.mode === 8 && i.mod === 0 && (i.rm & 7) === 5) return cpu.ripNext + i.disp;
  return i.disp;
}

/**
 * VM-exit instruction information for VMREAD/VMWRITE (Vol. 3C 28.2.4, Table
 * "Format of the VM-Exit Instruction-Information Field as Used for VMREAD and
 * VMWRITE"): bits 1:0 scaling, 6:3 Reg1 (register operand), 9:7 address size,
 * 10 register (1) / memory (0), 17:15 segment, 21:18 index, 22 index invalid,
 * 26:23 base, 27 base invalid, 31:28 Reg2 (ModRM.reg).
 */
function vmreadWriteInfo(i: Insn): number {
  const reg2 = (i.reg & 15) << 28;
  if (i.mod === 3) return ((i.rm & 15) << 3) | (1 << 10) | reg2;
  const as = i.asz === 2 ? 0 : i.asz === 4 ? 1 : 2;
  let v = (as << 7) | ((i.seg & 7) << 15) | reg2;
  v |= i.index >= 0 ? (i.scale & 3) | ((i.index & 15) << 18) : 1 << 22;
  v |= i.base >= 0 ? (i.base & 15) << 23 : 1 << 27;
  return v;
}
/** WBINVD (0F 09): exits with WBINVD exiting. */
export function wbinvd(cpu: Cpu, i: Insn): void {
  requireCpl0(cpu);
  if (cpu.ctlProc2 & PROC_BASED2.WBINVD_EXITING) cpu.vmexit(EXIT_REASON.WBINVD, 0, i.len);
}
/** PAUSE (F3 90): exits with PAUSE exiting. */
export function pause(cpu: Cpu, i: Insn): void {
  if (cpu.ctlProc & PROC_BASED.PAUSE_EXITING) cpu.vmexit(EXIT_REASON.PAUSE, 0, i.len);
}

/** CLI / STI (FA / FB) with the IOPL rule; STI blocks interrupts for one instruction when it sets IF. */
export function cli(cpu: Cpu): void {
  if (cpu.cr0 & CR0_PE && cpu.cpl > ((cpu.flagsRest & IOPL) >> 12)) cpu.gp(0);
  cpu.flagsRest &= ~IF;
}
export function sti(cpu: Cpu): void {
  if (cpu.cr0 & CR0_PE && cpu.cpl > ((cpu.flagsRest & IOPL) >> 12)) cpu.gp(0);
  if (!(cpu.flagsRest & IF)) { cpu.shadowKind = 1; cpu.shadowAt = cpu.icount + 1; }
  cpu.flagsRest |= IF;
}
export function cld(cpu: Cpu): void { cpu.flagsRest &= ~DF; }
export function std(cpu: Cpu): void { cpu.flagsRest |= DF; }

// ---- time ------------------------------------------------------------------

/** The guest's TSC: virtual time, plus the TSC offset when "use TSC offsetting" is 1 (Vol. 3C, 26.3: RDTSC). */
export function guestTsc(cpu: Cpu): number {
  return cpu.icount + (cpu.ctlProc & PROC_BASED.USE_TSC_OFFSETTING ? cpu.tscOffset : 0);
}
/** RDTSC (0F 31). */
export function rdtsc(cpu: Cpu, i: Insn): void {
  if ((cpu.cr4 & CR4_TSD) && cpu.cpl !== 0) cpu.gp(0);
  if (cpu.ctlProc & PROC_BASED.RDTSC_EXITING) cpu.vmexit(EXIT_REASON.RDTSC, 0, i.len);
  const t = guestTsc(cpu);
  setReg(cpu, RAX, 4, t | 0, 0, 1);
  setReg(cpu, RDX, 4, Math.floor(t / TWO32), 0, 1);
}
/** RDTSCP (0F 01 F9): #UD unless "enable RDTSCP"; exits with RDTSC exiting (reason 51). */
export function rdtscp(cpu: Cpu, i: Insn): void {
  if (!(cpu.ctlProc2 & PROC_BASED2.ENABLE_RDTSCP)) cpu.fault(UD);
  if ((cpu.cr4 & CR4_TSD) && cpu.cpl !== 0) cpu.gp(0);
  if (cpu.ctlProc & PROC_BASED.RDTSC_EXITING) cpu.vmexit(EXIT_REASON.RDTSCP, 0, i.len);
  const t = guestTsc(cpu);
  setReg(cpu, RAX, 4, t | 0, 0, 1);
  setReg(cpu, RDX, 4, Math.floor(t / TWO32), 0, 1);
  setReg(cpu, RCX, 4, cpu.tscAux, 0, 1);
}

// ---- MSRs ------------------------------------------------------------------

/** RDMSR (0F 32). */
export function rdmsrInsn(cpu: Cpu, i: Insn): void {
  requireCpl0(cpu);
  const idx = cpu.lo[RCX]! >>> 0;
  if (msrExits(cpu, idx, false)) cpu.vmexit(EXIT_REASON.RDMSR, 0, i.len);
  const lo = rdmsr(cpu, idx);
  setReg(cpu, RAX, 4, lo, 0, 1);
  setReg(cpu, RDX, 4, cpu.th, 0, 1);
}
/** WRMSR (0F 30). */
export function wrmsrInsn(cpu: Cpu, i: Insn): void {
  requireCpl0(cpu);
  const idx = cpu.lo[RCX]! >>> 0;
  if (msrExits(cpu, idx, true)) cpu.vmexit(EXIT_REASON.WRMSR, 0, i.len);
  wrmsr(cpu, idx, cpu.lo[RAX]!, cpu.lo[RDX]!);
}

// ---- control registers -------------------------------------------------------

/** Value of CRn as the guest reads it: bits owned by the host come from the read shadow (Vol. 3C, 26.3 MOV from CR0/CR4). */
export function guestCr0(cpu: Cpu): number { return ((cpu.cr0 & ~cpu.cr0Mask) | (cpu.cr0Shadow & cpu.cr0Mask)) >>> 0; }
export function guestCr4(cpu: Cpu): number { return ((cpu.cr4 & ~cpu.cr4Mask) | (cpu.cr4Shadow & cpu.cr4Mask)) >>> 0; }

const CR0_FIXED0 = CR0_PE | CR0_NE | CR0_PG; // IA32_VMX_CR0_FIXED0 (Vol. 3D, A.7)
const CR4_FIXED0 = CR4_VMXE;                 // IA32_VMX_CR4_FIXED0 (Vol. 3D, A.8)
/**
 * CR4 bits this CPU implements (must match IA32_VMX_CR4_FIXED1 and CPUID; Vol. 3A 2.5:
 * setting the bit of a feature CPUID does not report is #GP(0)): VME..OSXMMEXCPT (0-10),
 * UMIP (11, CPUID.07H:ECX[2]), VMXE (13), FSGSBASE (16, CPUID.07H:EBX[0]), OSXSAVE (18),
 * SMEP (20, CPUID.07H:EBX[7]), SMAP (21, CPUID.07H:EBX[20]). Not PCIDE (CPUID.01H:ECX.PCID = 0).
 */
export const CR4_VALID = 0x352fff;

/** MOV Rd, CRn (0F 20). */
export function movFromCr(cpu: Cpu, i: Insn): void {
  requireCpl0(cpu);
  const cr = i.reg;
  let lo: number, hi = 0;
  switch (cr) {
    case 0: lo = guestCr0(cpu); break;
    case 2: lo = cpu.cr2 | 0; hi = Math.floor(cpu.cr2 / TWO32); break;
    case 3:
      if (cpu.ctlProc & PROC_BASED.CR3_STORE_EXITING) cpu.vmexit(EXIT_REASON.CONTROL_REGISTER_ACCESS, crQualification(3, CRQ_MOV_FROM, i.rm), i.len);
      lo = cpu.cr3 | 0; hi = Math.floor(cpu.cr3 / TWO32); break;
    case 4: lo = guestCr4(cpu); break;
    case 8:
      if (cpu.mode !== 8) cpu.fault(UD);
      if (cpu.ctlProc & PROC_BASED.CR8_STORE_EXITING) cpu.vmexit(EXIT_REASON.CONTROL_REGISTER_ACCESS, crQualification(8, CRQ_MOV_FROM, i.rm), i.len);
      lo = cpu.cr8; break;
    default: return cpu.fault(UD);
  }
  setReg(cpu, i.rm, cpu.mode === 8 ? 8 : 4, lo, hi, 1);
}

/** MOV CRn, Rd (0F 22), with the VMX guest/host masks, CR3-target list and fixed bits. */
export function movToCr(cpu: Cpu, i: Insn): void {
  requireCpl0(cpu);
  const cr = i.reg;
  const v = cpu.lo[i.rm]!, vh = cpu.mode === 8 ? cpu.hi[i.rm]! : 0;
  const exit = (): never => cpu.vmexit(EXIT_REASON.CONTROL_REGISTER_ACCESS, crQualification(cr, CRQ_MOV_TO, i.rm), i.len);
  switch (cr) {
    case 0: {
      if (((v ^ cpu.cr0Shadow) & cpu.cr0Mask) !== 0) exit();
      if (vh !== 0) cpu.gp(0);
      setCr0(cpu, (cpu.cr0 & cpu.cr0Mask) | (v & ~cpu.cr0Mask));
      return;
    }
    case 2: cpu.cr2 = vh * TWO32 + (v >>> 0); return;
    case 3: {
      if (cpu.ctlProc & PROC_BASED.CR3_LOAD_EXITING) {
        const val = vh * TWO32 + (v >>> 0);
        let hit = false;
        for (let k = 0; k < cpu.cr3TargetCount && k < 4; k++) if (cpu.cr3Targets[k] === val) hit = true;
        if (!hit) exit();
      }
      if (vh & ~0x7f) cpu.gp(0); // bits above MAXPHYADDR (39)
      cpu.cr3 = (vh & 0x7f) * TWO32 + (v >>> 0);
      flushTlbNonGlobal(cpu); // global translations survive (Vol. 3A, 4.10.4.1)
      return;
    }
    case 4: {
      if (((v ^ cpu.cr4Shadow) & cpu.cr4Mask) !== 0) exit();
      if (vh !== 0) cpu.gp(0);
      setCr4(cpu, (cpu.cr4 & cpu.cr4Mask) | (v & ~cpu.cr4Mask));
      return;
    }
    case 8: {
      if (cpu.mode !== 8) cpu.fault(UD);
      if (cpu.ctlProc & PROC_BASED.CR8_LOAD_EXITING) exit();
      if ((v & ~0xf) || vh) cpu.gp(0);
      cpu.cr8 = v & 0xf;
      return;
    }
    default: cpu.fault(UD);
  }
}

/** Load CR0 after the VMX masking, with the consistency checks of MOV to CR0 (Vol. 2B MOV CR; Vol. 3C 24.8 fixed bits). */
export function setCr0(cpu: Cpu, v: number): void {
  v = (v | 0x10) >>> 0; // ET is fixed to 1
  if ((v & CR0_PG) && !(v & CR0_PE)) cpu.gp(0);
  if ((v & CR0_NW) && !(v & CR0_CD)) cpu.gp(0);
  let fixed0 = CR0_FIXED0;
  if (cpu.ctlProc2 & PROC_BASED2.UNRESTRICTED_GUEST) fixed0 &= ~(CR0_PE | CR0_PG);
  if ((v & fixed0) !== fixed0) cpu.gp(0);
  const old = cpu.cr0;
  if ((v & CR0_PG) && !(old & CR0_PG) && (cpu.efer & EFER_LME) && !(cpu.cr4 & CR4_PAE)) cpu.gp(0);
  if (!(v & CR0_PG) && (old & CR0_PG) && cpu.mode === 8) cpu.gp(0);
  if ((v & CR0_PG) && !(old & CR0_PG) && (cpu.efer & EFER_LME) && (cpu.segAr[CS]! & AR_L)) cpu.gp(0);
  cpu.cr0 = v | 0;
  if ((old ^ v) & (1 << 18)) cpu.dataPerms(); // CR0.AM: alignment checking at CPL 3 (Vol. 3A 2.5, 6.15)
  if ((old ^ v) & (CR0_PG | CR0_PE | CR0_WP)) {
    cpu.pagingChanged();
    cpu.updateMode();
  }
}
export function setCr4(cpu: Cpu, v: number): void {
  if (v & ~CR4_VALID) cpu.gp(0);
  if ((v & CR4_FIXED0) !== CR4_FIXED0) cpu.gp(0);
  if ((cpu.efer & EFER_LMA) && !(v & CR4_PAE)) cpu.gp(0);
  const old = cpu.cr4;
  cpu.cr4 = v | 0;
  if ((old ^ v) & (CR4_PAE | CR4_PGE | CR4_PSE | CR4_SMEP | CR4_SMAP)) cpu.flushTlb();
}

/** CLTS (0F 06): exits when the host owns CR0.TS and its shadow is 1 (Vol. 3C, 26.1.3). */
export function clts(cpu: Cpu, i: Insn): void {
  requireCpl0(cpu);
  if ((cpu.cr0Mask & CR0_TS) && (cpu.cr0Shadow & CR0_TS)) cpu.vmexit(EXIT_REASON.CONTROL_REGISTER_ACCESS, crQualification(0, CRQ_CLTS, 0), i.len);
  if (!(cpu.cr0Mask & CR0_TS)) cpu.cr0 &= ~CR0_TS;
}
/** LMSW Ew (0F 01 /6): loads CR0[3:0]; cannot clear PE. */
export function lmsw(cpu: Cpu, i: Insn): void {
  requireCpl0(cpu);
  const lin = i.mod === 3 ? 0 : i.ea(cpu, i);
  const src16 = (i.mod === 3 ? readE(cpu, i, 2) : cpu.read16(lin)) & 0xffff;
  const src = src16 & 0xf;
  const mask = cpu.cr0Mask & 0xf, shadow = cpu.cr0Shadow & 0xf;
  // Exit if a host-owned bit among MP/EM/TS differs from the shadow, or PE is set while owned and shadowed 0 (Vol. 3C, 26.1.3).
  // Qualification bits 31:16 hold the whole 16-bit source operand; for a memory operand the
  // guest-linear address field receives its linear address (Vol. 3C, 28.2.1).
  if (((src ^ shadow) & mask & 0xe) || ((mask & 1) && !(shadow & 1) && (src & 1))) {
    if (i.mod !== 3) { cpu.xGla = lin; cpu.xGlaValid = true; }
    cpu.vmexit(EXIT_REASON.CONTROL_REGISTER_ACCESS, crQualification(0, CRQ_LMSW, 0, i.mod !== 3, src16), i.len);
  }
  const keepPe = cpu.cr0 & CR0_PE;
  const v = (cpu.cr0 & ~(0xf & ~mask)) | (src & 0xf & ~mask) | keepPe;
  setCr0(cpu, v);
}
/**
 * User-mode instruction prevention (Vol. 3A, 2.5 "CR4.UMIP"; Vol. 2B SGDT,
 * SIDT, SLDT, SMSW, STR): with CR4.UMIP = 1 these are #GP(0) at CPL > 0.
 * A privilege-based fault, so it has priority over descriptor-table
 * exiting (Vol. 3C, 26.1.1).
 */
function umipCheck(cpu: Cpu): void {
  if ((cpu.cr4 & CR4_UMIP) && cpu.cpl > 0) cpu.gp(0);
}
/** SMSW Ev (0F 01 /4). */
export function smsw(cpu: Cpu, i: Insn): void {
  umipCheck(cpu);
  const v = guestCr0(cpu);
  if (i.mod === 3) setReg(cpu, i.rm, i.osz, v, 0, i.rex);
  else cpu.write16(i.ea(cpu, i), v);
}

/** MOV to/from DRn (0F 21/23): exits with MOV-DR exiting (qualification Vol. 3C Table 28-4). */
export function movDr(cpu: Cpu, i: Insn): void {
  requireCpl0(cpu);
  let dr = i.reg;
  if (dr > 7) cpu.fault(UD);
  const toDr = i.op === 0x123;
  // DR4/DR5: #UD with CR4.DE = 1, else aliases of DR6/DR7 (Vol. 3A, 18.2.2; Vol. 2B MOV DR).
  if ((dr === 4 || dr === 5) && (cpu.cr4 & CR4_DE) !== 0) cpu.fault(UD);
  // General detect (Vol. 3A 18.3.1.3): a fault-class #DB with DR6.BD, ahead of the MOV-DR VM exit (Vol. 3C 26.1.1).
  if (cpu.dr[7]! & DR7_GD) debugFault(cpu, DR6_BD);
  if (cpu.ctlProc & PROC_BASED.MOV_DR_EXITING) cpu.vmexit(EXIT_REASON.MOV_DR, dr | (toDr ? 0 : 16) | ((i.rm & 15) << 8), i.len);
  if (dr === 4 || dr === 5) dr += 2;
  const w = cpu.mode === 8 ? 8 : 4;
  if (toDr) {
    if ((dr === 6 || dr === 7) && cpu.hi[i.rm]! !== 0 && w === 8) cpu.gp(0);
    // DR0-DR3 hold linear addresses: signed (canonical values are exact doubles). DR6/DR7: fixed bits (18.2.3, 18.2.4).
    if (dr === 6) cpu.dr[6] = ((cpu.lo[i.rm]! & DR6_WRITABLE) | DR6_FIXED1) >>> 0;
    else if (dr === 7) cpu.dr[7] = ((cpu.lo[i.rm]! & ~DR7_RESERVED0) | DR7_FIXED1) >>> 0;
    else cpu.dr[dr] = w === 8 ? cpu.hi[i.rm]! * TWO32 + (cpu.lo[i.rm]! >>> 0) : cpu.lo[i.rm]! >>> 0;
  } else {
    const v = cpu.dr[dr]!;
    setReg(cpu, i.rm, w, v | 0, Math.floor(v / TWO32) | 0, 1);
  }
}

// ---- descriptor tables -----------------------------------------------------------

/**
 * Descriptor-table exiting (secondary control bit 2; Vol. 3C 26.1.3): LGDT, LIDT, SGDT, SIDT exit with reason
 * 46, LLDT, LTR, SLDT, STR with reason 47, after the #UD and privilege checks (26.1.1: those faults have
 * priority) and before any memory operand is accessed. Qualification: the displacement as for VMREAD
 * (28.2.1); instruction information: Tables 28-10 / 28-11 (descTableInfo).
 */
function descTableExit(cpu: Cpu, i: Insn, ldtrTr: boolean): void {
  if (!(cpu.ctlProc2 & PROC_BASED2.DESCRIPTOR_TABLE_EXITING)) return;
  cpu.vmexit(ldtrTr ? EXIT_REASON.LDTR_TR_ACCESS : EXIT_REASON.GDTR_IDTR_ACCESS, vmxDisplacement(cpu, i), i.len, descTableInfo(i, ldtrTr));
}

/**
 * VM-exit instruction information for descriptor-table exits (Vol. 3C 28.2.4; Table 28-10 "Format of the
 * VM-Exit Instruction-Information Field as Used for LIDT, LGDT, SIDT, or SGDT" and Table 28-11 "... for
 * LLDT, LTR, SLDT, and STR" in the 2023 numbering): bits 1:0 scaling, 9:7 address size (0 16-bit, 1 32-bit,
 * 2 64-bit), 17:15 segment register, 21:18 index register, 22 index invalid, 26:23 base register, 27 base
 * invalid, 29:28 instruction identity (0 SGDT/SLDT, 1 SIDT/STR, 2 LGDT/LLDT, 3 LIDT/LTR - ModRM.reg). Table
 * 28-10: bit 10 is 0 and bit 11 the operand size (0 16-bit, 1 32-bit). Table 28-11: bit 10 is 1 for a register
 * operand, whose number is in bits 6:3, and the memory fields are then undefined. Undefined bits are 0 here.
 */
function descTableInfo(i: Insn, ldtrTr: boolean): number {
  let v = (i.reg & 3) << 28;
  if (ldtrTr && i.mod === 3) return (v | ((i.rm & 15) << 3) | (1 << 10)) >>> 0;
  const as = i.asz === 2 ? 0 : i.asz === 4 ? 1 : 2;
  v |= (as << 7) | ((i.seg & 7) << 15);
  if (!ldtrTr && i.osz !== 2) v |= 1 << 11;
  v |= i.index >= 0 ? (i.scale & 3) | ((i.index & 15) << 18) : 1 << 22;
  v |= i.base >= 0 ? (i.base & 15) << 23 : 1 << 27;
  return v >>> 0;
}
/** #UD of LLDT, LTR, SLDT and STR in real-address and virtual-8086 mode (Vol. 2A/2B: "not recognized"). */
function requireProtectedNonV86(cpu: Cpu): void {
  if (!(cpu.cr0 & CR0_PE) || (cpu.flagsRest & VM)) cpu.fault(UD);
}
/** LGDT/LIDT m (0F 01 /2, /3): 64-bit base in 64-bit mode, 24-bit base with 16-bit operands elsewhere. */
export function lgdt(cpu: Cpu, i: Insn): void {
  requireCpl0(cpu);
  descTableExit(cpu, i, false);
  const a = i.ea(cpu, i);
  const limit = cpu.read16(a);
  let base: number;
  if (cpu.mode === 8) {
    const lo = cpu.read64(cpu.linAdd(a, 2));
    base = cpu.th * TWO32 + (lo >>> 0);
    if (base < -0x8000_0000_0000 || base >= 0x8000_0000_0000) cpu.gp(0);
  } else {
    base = cpu.read32(cpu.linAdd(a, 2)) >>> 0;
    if (i.osz === 2) base &= 0xffffff;
  }
  if ((i.reg & 7) === 2) { cpu.gdtrBase = base; cpu.gdtrLimit = limit; }
  else { cpu.idtrBase = base; cpu.idtrLimit = limit; }
}
/** SGDT/SIDT m (0F 01 /0, /1). */
export function sgdt(cpu: Cpu, i: Insn): void {
  umipCheck(cpu);
  descTableExit(cpu, i, false);
  const a = i.ea(cpu, i);
  const isG = (i.reg & 7) === 0;
  const base = isG ? cpu.gdtrBase : cpu.idtrBase, limit = isG ? cpu.gdtrLimit : cpu.idtrLimit;
  cpu.probeWrite(a, cpu.mode === 8 ? 10 : 6);
  cpu.write16(a, limit);
  if (cpu.mode === 8) cpu.write64(cpu.linAdd(a, 2), base | 0, Math.floor(base / TWO32) | 0);
  else cpu.write32(cpu.linAdd(a, 2), base | 0);
}
/** LLDT / LTR Ew (0F 00 /2, /3). */
export function lldtInsn(cpu: Cpu, i: Insn): void {
  requireProtectedNonV86(cpu); requireCpl0(cpu); descTableExit(cpu, i, true);
  lldt(cpu, readE(cpu, i, 2));
}
export function ltrInsn(cpu: Cpu, i: Insn): void {
  requireProtectedNonV86(cpu); requireCpl0(cpu); descTableExit(cpu, i, true);
  ltr(cpu, readE(cpu, i, 2));
}
/** SLDT / STR Ev (0F 00 /0, /1). */
/**
 * VERR / VERW Ew (0F 00 /4, /5; Vol. 2B "VERR/VERW"): ZF = 1 when the
 * segment the selector names could be read / written at the current CPL and
 * the selector's RPL; no exception for an unusable selector (only for the
 * memory operand itself). Linux executes VERW on every return to user mode
 * to clear CPU buffers (MDS mitigation).
 */
export function verrVerw(cpu: Cpu, i: Insn): void {
  if (!(cpu.cr0 & CR0_PE)) cpu.fault(UD);
  const sel = readE(cpu, i, 2);
  const write = (i.reg & 7) === 5;
  let ok = false;
  if ((sel & 0xfffc) !== 0) {
    const ti = (sel & 4) !== 0;
    const limit = ti ? ((cpu.segAr[LDTR]! & 0x10000) ? -1 : cpu.segLimit[LDTR]!) : cpu.gdtrLimit;
    if ((sel & 0xfff8) + 7 <= limit) {
      const base = ti ? cpu.segBase[LDTR]! : cpu.gdtrBase;
      const hi = cpu.sysRead32(cpu.linAdd(base, (sel & 0xfff8) + 4));
      const type = (hi >>> 8) & 0xf, s = (hi >>> 12) & 1, dpl = (hi >>> 13) & 3;
      const code = (type & 8) !== 0, conforming = code && (type & 4) !== 0;
      const privOk = conforming || (dpl >= cpu.cpl && dpl >= (sel & 3));
      if (s && privOk) ok = write ? !code && (type & 2) !== 0 : !code || (type & 2) !== 0;
    }
  }
  const f = cpu.getFlags();
  cpu.setFlags(ok ? f | 0x40 : f & ~0x40);
}

export function sldtStr(cpu: Cpu, i: Insn): void {
  requireProtectedNonV86(cpu);
  umipCheck(cpu);
  descTableExit(cpu, i, true);
  const sel = cpu.segSel[(i.reg & 7) === 0 ? LDTR : TR]! & 0xffff;
  if (i.mod === 3) setReg(cpu, i.rm, i.osz, sel, 0, i.rex);
  else cpu.write16(i.ea(cpu, i), sel);
}
/** INVLPG m (0F 01 /7): exits with INVLPG exiting; qualification = linear address (Vol. 3C, Table 28-1). */
export function invlpg(cpu: Cpu, i: Insn): void {
  requireCpl0(cpu);
  const a = i.ea(cpu, i);
  if (cpu.ctlProc & PROC_BASED.INVLPG_EXITING) cpu.vmexit(EXIT_REASON.INVLPG, a, i.len);
  cpu.flushTlbPage(a);
}

// ---- SMAP (CPUID.07H:EBX[20]; Vol. 2A CLAC, Vol. 2B STAC; Vol. 3A 4.6) ----

/** CLAC (0F 01 CA) / STAC (0F 01 CB): clear / set RFLAGS.AC; #UD at CPL > 0. */
export function clacStac(cpu: Cpu, i: Insn): void {
  if (cpu.cpl !== 0) cpu.fault(UD);
  if (i.arg === 1) cpu.flagsRest |= AC; else cpu.flagsRest &= ~AC;
  cpu.dataPerms();
}

// ---- FSGSBASE (CPUID.07H:EBX[0]; Vol. 2C RDFSBASE/RDGSBASE, WRFSBASE/WRGSBASE) ----

/**
 * RDFSBASE/RDGSBASE (F3 0F AE /0, /1, mod = 3) and WRFSBASE/WRGSBASE (/2, /3):
 * 64-bit mode only (the table's O64), any CPL; #UD with CR4.FSGSBASE = 0.
 * The operand is 64-bit with REX.W, else 32-bit (66 does not make it 16-bit:
 * RDFSBASE r32 zero-extends, WRFSBASE r32 loads the zero-extended value).
 * WR of a non-canonical value is #GP(0).
 */
export function fsgsbase(cpu: Cpu, i: Insn): void {
  if (!(cpu.cr4 & CR4_FSGSBASE)) cpu.fault(UD);
  const op = i.reg & 7; // REX.R is ignored: ModRM.reg selects the member
  const s = (op & 1) === 0 ? FS : GS, w = i.osz === 8;
  if (op < 2) {
    const b = cpu.segBase[s]!;
    setReg(cpu, i.rm, 8, b | 0, w ? Math.floor(b / TWO32) | 0 : 0, 1);
    return;
  }
  const lo = cpu.lo[i.rm]!, hi = w ? cpu.hi[i.rm]! : 0;
  const v = hi * TWO32 + (lo >>> 0);
  if (v < -0x8000_0000_0000 || v >= 0x8000_0000_0000) cpu.gp(0);
  cpu.segBase[s] = v;
  cpu.segBaseEff[s] = v;
}

// ---- 64-bit system calls ---------------------------------------------------------

/** SWAPGS (0F 01 F8): 64-bit mode, CPL 0. */
export function swapgs(cpu: Cpu): void {
  if (cpu.mode !== 8) cpu.fault(UD);
  requireCpl0(cpu);
  const t = cpu.segBase[GS]!;
  cpu.segBase[GS] = cpu.kernelGsBase;
  cpu.segBaseEff[GS] = cpu.kernelGsBase;
  cpu.kernelGsBase = t;
}
/** SYSCALL (0F 05), Vol. 2B: 64-bit mode with EFER.SCE. */
export function syscall(cpu: Cpu, i: Insn): void {
  if (cpu.mode !== 8 || !(cpu.efer & EFER_SCE)) cpu.fault(UD);
  const next = cpu.ripNext;
  setReg(cpu, RCX, 8, next | 0, Math.floor(next / TWO32) | 0, 1);
  const fl = cpu.getFlags();
  setReg(cpu, R11, 8, fl & ~RF, 0, 1);
  const sel = (cpu.starHi & 0xffff);
  cpu.segSel[CS] = sel & 0xfffc; cpu.segBase[CS] = 0; cpu.segLimit[CS] = 0xffffffff; cpu.segAr[CS] = 0xa09b; // 64-bit code, DPL 0
  cpu.segSel[SS] = (sel + 8) & 0xfffc; cpu.segBase[SS] = 0; cpu.segLimit[SS] = 0xffffffff; cpu.segAr[SS] = 0xc093;
  cpu.setFlags(fl & ~cpu.fmask & ~RF);
  cpu.updateMode();
  cpu.ripNext = cpu.lstar;
  void i;
}
/** SYSRET (0F 07), Vol. 2B: to 64-bit (REX.W) or compatibility mode at CPL 3. */
export function sysret(cpu: Cpu, i: Insn): void {
  if (cpu.mode !== 8 || !(cpu.efer & EFER_SCE)) cpu.fault(UD);
  requireCpl0(cpu);
  const base = (cpu.starHi >>> 16) & 0xffff;
  if (i.osz === 8) {
    const t = cpu.hi[RCX]! * TWO32 + (cpu.lo[RCX]! >>> 0);
    if (t < -0x8000_0000_0000 || t >= 0x8000_0000_0000) cpu.gp(0);
    cpu.segSel[CS] = (base + 16) | 3; cpu.segAr[CS] = 0xa0fb;
    cpu.ripNext = t;
  } else {
    cpu.segSel[CS] = base | 3; cpu.segAr[CS] = 0xc0fb;
    cpu.ripNext = cpu.lo[RCX]! >>> 0;
  }
  cpu.segBase[CS] = 0; cpu.segLimit[CS] = 0xffffffff;
  cpu.segSel[SS] = (base + 8) | 3; cpu.segAr[SS] = 0xc0f3; // SS base/limit/attributes fixed; DPL 3
  cpu.setFlags((cpu.lo[R11]! & ~(RF | VM)) | FLAGS_FIXED1);
  if (cpu.flagsRest & TF) cpu.dbg.trapNext = true; // single-step trap after SYSRET (debug.ts)
  cpu.updateMode();
}

// x87 control instructions (FNINIT, FNSTCW, FLDCW, FNSTSW, FNCLEX, FWAIT) are in exec/fpu.ts.

