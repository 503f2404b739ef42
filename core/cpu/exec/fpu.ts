/**
 * x87 control instructions and FXSAVE/FXRSTOR (SDM Vol. 2A FINIT/FNINIT,
 * FCLEX/FNCLEX, FLDCW, FSTCW/FNSTCW, FSTSW/FNSTSW, WAIT/FWAIT, FXSAVE,
 * FXRSTOR). There is no x87 arithmetic: the data registers are raw 80-bit
 * images that FXRSTOR loads and FXSAVE stores (fpu-state.ts).
 *
 * CR0 (Vol. 3A, 2.5, Table 2-2 "Action Taken By x87 FPU Instructions for
 * Different Combinations of EM, MP, and TS"): x87 instructions raise #NM
 * when CR0.EM or CR0.TS is set; WAIT/FWAIT only when MP and TS are both set.
 * FXSAVE/FXRSTOR: #UD if CR0.EM, #NM if CR0.TS (Vol. 2A FXSAVE, FXRSTOR,
 * "Protected Mode Exceptions").
 */
import type { Cpu } from '../cpu.js';
import type { Insn } from '../insn.js';
import { fpuState, MXCSR_MASK, FCW_INIT, FCW_BITS, FCW_ONE } from '../fpu-state.js';
import { setReg } from './operands.js';
import { RAX, CR0_EM, CR0_TS, CR0_MP, CR0_NE, CR4_OSFXSR, UD, NM, MF } from '../regs.js';

/** FSW: exception flags IE..PE (5:0), SF (6), ES (7), C0-C2 (10:8), TOP (13:11), C3 (14), B (15). */
const FSW_ES = 0x80, FSW_B = 0x8000;

/**
 * The status word as software reads it. ES (error summary) is set when an
 * exception flag is set whose mask bit in FCW is clear, and B mirrors ES
 * (Vol. 1, 8.1.3.1 and 8.1.3.6): both are derived here, so an image loaded
 * by FXRSTOR or a new FCW from FLDCW make an exception pending or not, as on
 * the host CPU. `cpu.fpuSw` holds the other bits.
 */
export function fswValue(cpu: Cpu): number {
  const sw = cpu.fpuSw & ~(FSW_ES | FSW_B);
  return (sw & ~cpu.fpuCw & 0x3f) !== 0 ? sw | FSW_ES | FSW_B : sw;
}

function x87Check(cpu: Cpu): void {
  if ((cpu.cr0 & (CR0_EM | CR0_TS)) !== 0) cpu.fault(NM);
}

/** FNINIT (DB E3): FCW 0x37F, FSW 0, all tags empty, last-instruction fields cleared; data registers unchanged. */
export function fninit(cpu: Cpu): void {
  x87Check(cpu);
  cpu.fpuCw = FCW_INIT; cpu.fpuSw = 0; cpu.fpuTw = 0xffff;
  fpuState(cpu).clearLast();
}
/** FNCLEX (DB E2): clears the exception flags, SF, ES and B. */
export function fnclex(cpu: Cpu): void {
  x87Check(cpu);
  cpu.fpuSw &= 0x7f00;
}
/** FNSTCW m16 (D9 /7). */
export function fnstcw(cpu: Cpu, i: Insn): void {
  x87Check(cpu);
  cpu.write16(i.ea(cpu, i), cpu.fpuCw);
}
/** FLDCW m16 (D9 /5): reserved bits read back as the host CPU gives them (bit 6 set, 7 and 13-15 clear). */
export function fldcw(cpu: Cpu, i: Insn): void {
  x87Check(cpu);
  cpu.fpuCw = (cpu.read16(i.ea(cpu, i)) & FCW_BITS) | FCW_ONE;
}
/** FNSTSW m16 (DD /7) and FNSTSW AX (DF E0). */
export function fnstsw(cpu: Cpu, i: Insn): void {
  x87Check(cpu);
  if (i.mod === 3) setReg(cpu, RAX, 2, fswValue(cpu), 0, 1);
  else cpu.write16(i.ea(cpu, i), fswValue(cpu));
}
/**
 * WAIT/FWAIT (9B): #NM when CR0.MP and CR0.TS are set; a pending unmasked
 * x87 exception (FSW.ES: flags loaded by FXRSTOR, or unmasked by FLDCW) is
 * reported as #MF when CR0.NE = 1 (Vol. 1, 8.7 "Handling x87 FPU Exceptions
 * in Software"; the external FERR# path of CR0.NE = 0 is not modelled).
 */
export function fwait(cpu: Cpu): void {
  if ((cpu.cr0 & (CR0_TS | CR0_MP)) === (CR0_TS | CR0_MP)) cpu.fault(NM);
  if ((fswValue(cpu) & FSW_ES) !== 0 && (cpu.cr0 & CR0_NE) !== 0) cpu.fault(MF);
}

// ---- FXSAVE / FXRSTOR -------------------------------------------------------------------

/** The 512-byte image being stored or loaded (no allocation per instruction). */
const IMG = new Uint8Array(512);
const IV = new DataView(IMG.buffer);

/**
 * CR0 checks, then the operand's address: the canonical check (#GP/#SS)
 * comes before the 16-byte alignment check (#GP(0)) here, as on the host
 * CPU (the SSE instructions check alignment first: exec/sse.ts).
 */
function fxCheck(cpu: Cpu, i: Insn): number {
  if ((cpu.cr0 & CR0_EM) !== 0) cpu.fault(UD);
  if ((cpu.cr0 & CR0_TS) !== 0) cpu.fault(NM);
  const a = i.ea(cpu, i);
  if ((a & 15) !== 0) cpu.gp(0);
  return a;
}

/** Abridged tag byte (Vol. 2A FXSAVE, "the abridged FTW"): bit p = 1 unless physical register p is empty (tag 11). */
export function abridgedTags(tw: number): number {
  let r = 0;
  for (let p = 0; p < 8; p++) if (((tw >> (2 * p)) & 3) !== 3) r |= 1 << p;
  return r;
}
/**
 * Full tag word from an abridged one and the register contents, as FXRSTOR
 * recreates it (Vol. 2A FXSAVE, Table 3-55 "Recreating FSAVE Format"):
 * empty 11; exponent all ones: special 10; exponent 0: zero 01 if the
 * significand is 0, else special 10; otherwise valid 00 if the integer bit
 * is set, else special 10 (unnormal). `phys` holds R0-R7 (physical order).
 */
export function fullTags(abridged: number, phys: Uint8Array): number {
  let tw = 0;
  for (let p = 0; p < 8; p++) {
    let t = 3;
    if ((abridged >> p) & 1) {
      const b = p * 10;
      const exp = phys[b + 8]! | ((phys[b + 9]! & 0x7f) << 8);
      if (exp === 0x7fff) t = 2;
      else if (exp === 0) {
        let nz = 0;
        for (let k = 0; k < 8; k++) nz |= phys[b + k]!;
        t = nz === 0 ? 1 : 2;
      } else t = (phys[b + 7]! & 0x80) !== 0 ? 0 : 2;
    }
    tw |= t << (2 * p);
  }
  return tw;
}

/** Writes IMG[from, to) (multiples of 8) to the image at `a`. */
function putImage(cpu: Cpu, a: number, from: number, to: number): void {
  for (let off = from; off < to; off += 8) cpu.write64(cpu.linAdd(a, off), IV.getInt32(off, true), IV.getInt32(off + 4, true));
}

/**
 * FXSAVE m512byte (0F AE /0; REX.W: FXSAVE64), the layout of Vol. 2A FXSAVE
 * Tables 3-53 (legacy and 64-bit mode without REX.W: FIP/FDP as 32-bit
 * offsets with FCS/FDS) and 3-56 (REX.W: 64-bit FIP/FDP):
 *   0 FCW, 2 FSW, 4 abridged FTW, 5 reserved (0), 6 FOP, 8 FIP, 16 FDP,
 *   24 MXCSR, 28 MXCSR_MASK, 32 + 16n ST(n) (10 bytes, 6 reserved: 0),
 *   160 + 16n XMMn (XMM0-15 in 64-bit mode, XMM0-7 otherwise).
 * Bytes 416-511 (288-511 outside 64-bit mode) are not written. With
 * CR4.OSFXSR = 0 the SDM leaves saving MXCSR and the XMM registers to the
 * implementation; this one does not save them (bytes 24-31, 160-415 untouched).
 * The whole 512 bytes must be writable before anything is stored: the last
 * byte is checked first, then the first (the SDM does not say which address
 * a #PF reports; the host CPU reports the last byte when its page is absent,
 * else the first).
 */
export function fxsave(cpu: Cpu, i: Insn): void {
  const a = fxCheck(cpu, i);
  cpu.probeWrite(cpu.linAdd(a, 511), 1);
  cpu.probeWrite(a, 1);
  const s = fpuState(cpu);
  const wide = cpu.mode === 8 && (i.rex & 8) !== 0;
  const sse = (cpu.cr4 & CR4_OSFXSR) !== 0;
  IV.setUint16(0, cpu.fpuCw, true);
  IV.setUint16(2, fswValue(cpu), true);
  IMG[4] = abridgedTags(cpu.fpuTw);
  IMG[5] = 0;
  IV.setUint16(6, s.fop & 0x7ff, true);
  if (wide) {
    IV.setInt32(8, s.fipLo, true); IV.setInt32(12, s.fipHi, true);
    IV.setInt32(16, s.fdpLo, true); IV.setInt32(20, s.fdpHi, true);
  } else {
    IV.setInt32(8, s.fipLo, true); IV.setInt32(12, s.fcs & 0xffff, true);
    IV.setInt32(16, s.fdpLo, true); IV.setInt32(20, s.fds & 0xffff, true);
  }
  IV.setInt32(24, s.mxcsr, true);
  IV.setInt32(28, MXCSR_MASK, true);
  const top = (cpu.fpuSw >> 11) & 7;
  for (let n = 0; n < 8; n++) {
    const o = 32 + 16 * n, p = ((top + n) & 7) * 10; // ST(n) is physical register TOP + n
    for (let k = 0; k < 10; k++) IMG[o + k] = s.st[p + k]!;
    for (let k = 10; k < 16; k++) IMG[o + k] = 0;
  }
  const xEnd = cpu.mode === 8 ? 416 : 288;
  for (let k = 160; k < xEnd; k++) IMG[k] = s.xmmB[k - 160]!;
  putImage(cpu, a, 0, 24);
  if (sse) putImage(cpu, a, 24, 32);
  putImage(cpu, a, 32, 160);
  if (sse) putImage(cpu, a, 160, xEnd);
}

/**
 * FXRSTOR m512byte (0F AE /1; REX.W: FXRSTOR64): the inverse of FXSAVE.
 * #GP(0) if the image's MXCSR sets a bit outside MXCSR_MASK (checked after
 * the image is read, before anything is loaded). FCW/FSW keep only the
 * bits that exist (FSW.ES and B are derived, fswValue), the full tag word is recreated from
 * the abridged one (fullTags); with CR4.OSFXSR = 0, MXCSR and the XMM
 * registers are not loaded (and not checked).
 */
export function fxrstor(cpu: Cpu, i: Insn): void {
  const a = fxCheck(cpu, i);
  cpu.read8(cpu.linAdd(a, 511)); // the last byte first, as in FXSAVE
  cpu.read8(a);
  const s = fpuState(cpu);
  const wide = cpu.mode === 8 && (i.rex & 8) !== 0;
  const sse = (cpu.cr4 & CR4_OSFXSR) !== 0;
  const xEnd = cpu.mode === 8 ? 416 : 288;
  for (let off = 0; off < xEnd; off += 8) {
    IV.setInt32(off, cpu.read64(cpu.linAdd(a, off)), true);
    IV.setInt32(off + 4, cpu.th, true);
  }
  const mx = IV.getInt32(24, true);
  if (sse && (mx & ~MXCSR_MASK) !== 0) cpu.gp(0);
  cpu.fpuCw = (IV.getUint16(0, true) & FCW_BITS) | FCW_ONE;
  cpu.fpuSw = IV.getUint16(2, true) & ~(FSW_ES | FSW_B); // derived again from the flags and FCW (fswValue)
  s.fop = IV.getUint16(6, true) & 0x7ff;
  if (wide) {
    s.fipLo = IV.getInt32(8, true); s.fipHi = IV.getInt32(12, true);
    s.fdpLo = IV.getInt32(16, true); s.fdpHi = IV.getInt32(20, true);
    s.fcs = 0; s.fds = 0;
  } else {
    s.fipLo = IV.getInt32(8, true); s.fipHi = 0; s.fcs = IV.getUint16(12, true);
    s.fdpLo = IV.getInt32(16, true); s.fdpHi = 0; s.fds = IV.getUint16(20, true);
  }
  const top = (cpu.fpuSw >> 11) & 7;
  for (let n = 0; n < 8; n++) {
    const p = ((top + n) & 7) * 10;
    for (let k = 0; k < 10; k++) s.st[p + k] = IMG[32 + 16 * n + k]!;
  }
  cpu.fpuTw = fullTags(IMG[4]!, s.st);
  if (sse) {
    s.mxcsr = mx & MXCSR_MASK;
    for (let k = 160; k < xEnd; k++) s.xmmB[k - 160] = IMG[k]!;
  }
}
