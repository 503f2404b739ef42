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
import { fpuState, MXCSR_MASK, FCW_INIT, FCW_BITS, FCW_ONE, XCR0_X87, XCR0_SSE, XCR0_SUPPORTED, XSAVE_AREA_SIZE } from '../fpu-state.js';
import { EXIT_REASON } from '../../vmx/exit-reasons.js';
import { setReg } from './operands.js';
import { eaLow32 } from '../ea.js';
import { RAX, RCX, RDX, CR0_EM, CR0_TS, CR0_MP, CR0_NE, CR4_OSFXSR, CR4_OSXSAVE, UD, NM, MF } from '../regs.js';

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
  const xEnd = buildLegacy(cpu, cpu.mode === 8 && (i.rex & 8) !== 0);
  const sse = (cpu.cr4 & CR4_OSFXSR) !== 0;
  putImage(cpu, a, 0, 24);
  if (sse) putImage(cpu, a, 24, 32);
  putImage(cpu, a, 32, 160);
  if (sse) putImage(cpu, a, 160, xEnd);
}

/**
 * Fills IMG[0, xEnd) with the legacy-region layout shared by FXSAVE and
 * XSAVE (Vol. 2A FXSAVE Tables 3-53/3-56; Vol. 1, 13.4.1 Table 13-1) and
 * returns xEnd: 416 in 64-bit mode (XMM0-15), 288 otherwise (XMM0-7).
 * `wide`: REX.W form (64-bit FIP/FDP instead of offsets and selectors).
 */
function buildLegacy(cpu: Cpu, wide: boolean): number {
  const s = fpuState(cpu);
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
  return xEnd;
}

/** Loads the x87 part of IMG (bytes 0-23, 32-159) into the registers: FXRSTOR and XRSTOR. */
function loadX87(cpu: Cpu, wide: boolean): void {
  const s = fpuState(cpu);
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
  loadX87(cpu, wide);
  if (sse) {
    s.mxcsr = mx & MXCSR_MASK;
    for (let k = 160; k < xEnd; k++) s.xmmB[k - 160] = IMG[k]!;
  }
}

// ---- XSAVE feature set: XGETBV, XSETBV, XSAVE, XRSTOR -------------------------------------
//
// SDM Vol. 1, chapter 13 "Managing State Using the XSAVE Feature Set"; Vol. 2C XGETBV,
// XSETBV, XSAVE, XRSTOR. Supported state components: x87 (bit 0) and SSE (bit 1), both in
// the legacy region; CPUID.(EAX=0DH,ECX=1):EAX = 0, so there is no XSAVEOPT, XSAVEC,
// XSAVES/XRSTORS or XGETBV with ECX = 1 (those encodings are #UD, opcodes.ts), and
// XRSTOR has only its standard form.

/** Offset of the XSAVE header in an XSAVE area (Vol. 1, 13.4.2): XSTATE_BV at +0, XCOMP_BV at +8. */
const XSAVE_HEADER = 512;

/** XGETBV (0F 01 D0): EDX:EAX = XCR[ECX]. #UD if CR4.OSXSAVE = 0; #GP(0) unless ECX[31:0] = 0 (RCX[63:32] ignored). */
export function xgetbv(cpu: Cpu): void {
  if ((cpu.cr4 & CR4_OSXSAVE) === 0) cpu.fault(UD);
  if (cpu.lo[RCX]! !== 0) cpu.gp(0); // XCR1 (XINUSE) needs CPUID.(EAX=0DH,ECX=1):EAX[2]
  setReg(cpu, RAX, 4, fpuState(cpu).xcr0, 0, 1);
  setReg(cpu, RDX, 4, 0, 0, 1);
}

/**
 * XSETBV (0F 01 D1): #UD if CR4.OSXSAVE = 0 (Vol. 2C XSETBV), #GP(0) if CPL > 0 -- both
 * before the VM exit, as faults based on privilege level have priority over VM exits
 * (Vol. 3C, 26.1.1) -- then an unconditional exit (reason 55, Vol. 3C 26.1.2). The
 * hypervisor validates ECX and EDX:EAX and writes XCR0 (setXcr0).
 */
export function xsetbv(cpu: Cpu, i: Insn): void {
  if ((cpu.cr4 & CR4_OSXSAVE) === 0) cpu.fault(UD);
  if (cpu.cpl !== 0) cpu.gp(0);
  cpu.vmexit(EXIT_REASON.XSETBV, 0, i.len);
}

/**
 * The #GP(0) conditions of XSETBV on the value (Vol. 2C XSETBV "Protected Mode
 * Exceptions"; Vol. 1, 13.3): ECX[31:0] names an XCR other than XCR0; a bit set that is
 * not in CPUID.(EAX=0DH,ECX=0):EDX:EAX (here bits 63:2); bit 0 (x87) clear. Returns the
 * reason it would fault, or null when the write is valid.
 */
export function xsetbvFault(ecx: number, eax: number, edx: number): string | null {
  if ((ecx | 0) !== 0) return `XCR${ecx >>> 0} does not exist (only XCR0 is writable)`;
  if (edx !== 0 || (eax & ~XCR0_SUPPORTED) !== 0) return 'sets a state-component bit the processor does not support';
  if ((eax & XCR0_X87) === 0) return 'XCR0[0] (x87) must be 1';
  return null;
}

/** Writes XCR0 (the hypervisor's XSETBV emulation, after xsetbvFault returned null). */
export function setXcr0(cpu: Cpu, v: number): void {
  fpuState(cpu).xcr0 = v & XCR0_SUPPORTED;
}

/**
 * XINUSE (Vol. 1, 13.6 "Processor Tracking of XSAVE-Managed State"): bit i = 0 only if
 * component i is in its initial configuration. This processor tracks it exactly, from
 * the registers: x87 init = FCW 037FH, FSW 0, all tags empty, FOP/FIP/FDP/FCS/FDS 0,
 * ST0-7 0; SSE init = XMM0-15 all 0 (MXCSR is not part of it).
 */
function xinuse(cpu: Cpu): number {
  const s = fpuState(cpu);
  let r = 0;
  if (cpu.fpuCw !== FCW_INIT || cpu.fpuSw !== 0 || cpu.fpuTw !== 0xffff || s.fop !== 0 ||
    (s.fipLo | s.fipHi | s.fdpLo | s.fdpHi | s.fcs | s.fds) !== 0) r |= XCR0_X87;
  else for (let k = 0; k < 80; k++) if (s.st[k] !== 0) { r |= XCR0_X87; break; }
  for (let k = 0; k < 64; k++) if (s.xmm[k] !== 0) { r |= XCR0_SSE; break; }
  return r;
}

/**
 * Checks common to XSAVE and XRSTOR (Vol. 2C XSAVE/XRSTOR "Protected Mode Exceptions"):
 * #UD if CR4.OSXSAVE = 0 (CR0.EM does not matter), #NM if CR0.TS = 1, then #GP(0) unless
 * the operand is 64-byte aligned -- before the canonical check (#GP/#SS) of its address,
 * as on the host CPU (unlike FXSAVE; the SDM gives no order). Returns the address.
 */
function xCheck(cpu: Cpu, i: Insn): number {
  if ((cpu.cr4 & CR4_OSXSAVE) === 0) cpu.fault(UD);
  if ((cpu.cr0 & CR0_TS) !== 0) cpu.fault(NM);
  if ((eaLow32(cpu, i) & 63) !== 0) cpu.gp(0);
  return i.ea(cpu, i);
}

/**
 * XSAVE mem (0F AE /4; REX.W: XSAVE64), standard form (Vol. 1, 13.7 "Operation of
 * XSAVE"): RFBM = XCR0 AND EDX:EAX. RFBM[0]: the x87 part of the legacy region (bytes
 * 0-23, 32-159). RFBM[1]: MXCSR and MXCSR_MASK (24-31) and XMM0-15 (160-415; XMM0-7
 * outside 64-bit mode), whatever CR4.OSFXSR says. The header's XSTATE_BV[i] becomes
 * XINUSE[i] for i in RFBM and keeps its other bits (a read-modify-write); nothing else
 * of the header is written. The whole area (576 bytes, CPUID.(EAX=0DH,ECX=0):EBX) must be
 * writable before anything is stored; its first byte is checked first, then its last
 * (the SDM does not say which address a #PF reports; this is what the host CPU reports).
 */
export function xsave(cpu: Cpu, i: Insn): void {
  const a = xCheck(cpu, i);
  const xEnd = cpu.mode === 8 ? 416 : 288;
  const h = cpu.linAdd(a, XSAVE_HEADER);
  cpu.probeWrite(a, 1);
  cpu.probeWrite(cpu.linAdd(a, XSAVE_AREA_SIZE - 1), 1);
  const bvLo = cpu.read64(h), bvHi = cpu.th;
  const rfbm = fpuState(cpu).xcr0 & cpu.lo[RAX]!; // XCR0[63:32] = 0: EDX does not matter
  buildLegacy(cpu, cpu.mode === 8 && (i.rex & 8) !== 0);
  if (rfbm & XCR0_X87) { putImage(cpu, a, 0, 24); putImage(cpu, a, 32, 160); }
  if (rfbm & XCR0_SSE) { putImage(cpu, a, 24, 32); putImage(cpu, a, 160, xEnd); }
  cpu.write64(h, (bvLo & ~rfbm) | (xinuse(cpu) & rfbm), bvHi);
}

/**
 * XRSTOR mem (0F AE /5; REX.W: XRSTOR64), standard form (Vol. 1, 13.8.1; Vol. 2C XRSTOR):
 * #GP(0) if XCOMP_BV[63] = 1 (no compaction: CPUID.(EAX=0DH,ECX=1):EAX[1] = 0), if
 * XSTATE_BV sets a bit that is clear in XCR0, if header bytes 23:8 are not all 0, or if
 * the MXCSR it would load sets a reserved bit -- all checked before anything is loaded.
 * Then for i in RFBM = XCR0 AND EDX:EAX: XSTATE_BV[i] = 1 loads component i from the
 * area, XSTATE_BV[i] = 0 puts it in its initial configuration (x87: FNINIT state with
 * FOP/FIP/FDP and ST0-7 zero; SSE: XMM0-15, or XMM0-7 outside 64-bit mode, zero). MXCSR
 * is loaded from the area whenever RFBM[1] = 1, whatever XSTATE_BV[1] says (13.8.1).
 * Reads: the first byte, then the header, then the legacy region (the order of the host
 * CPU's #PF addresses; the SDM does not specify one).
 */
export function xrstor(cpu: Cpu, i: Insn): void {
  const a = xCheck(cpu, i);
  const s = fpuState(cpu);
  const h = cpu.linAdd(a, XSAVE_HEADER);
  cpu.read8(a);
  const bvLo = cpu.read64(h), bvHi = cpu.th;
  const cbLo = cpu.read64(cpu.linAdd(h, 8)), cbHi = cpu.th;
  const r2Lo = cpu.read64(cpu.linAdd(h, 16)), r2Hi = cpu.th;
  if (cbHi < 0) cpu.gp(0); // XCOMP_BV[63]: compacted form, not supported
  if (bvHi !== 0 || (bvLo & ~s.xcr0) !== 0) cpu.gp(0);
  if ((cbLo | cbHi | r2Lo | r2Hi) !== 0) cpu.gp(0);
  const wide = cpu.mode === 8 && (i.rex & 8) !== 0;
  const xEnd = cpu.mode === 8 ? 416 : 288;
  for (let off = 0; off < xEnd; off += 8) {
    IV.setInt32(off, cpu.read64(cpu.linAdd(a, off)), true);
    IV.setInt32(off + 4, cpu.th, true);
  }
  const rfbm = s.xcr0 & cpu.lo[RAX]!;
  const mx = IV.getInt32(24, true);
  if ((rfbm & XCR0_SSE) !== 0 && (mx & ~MXCSR_MASK) !== 0) cpu.gp(0);
  if (rfbm & XCR0_X87) {
    if (bvLo & XCR0_X87) loadX87(cpu, wide);
    else { cpu.fpuCw = FCW_INIT; cpu.fpuSw = 0; cpu.fpuTw = 0xffff; s.clearLast(); s.st.fill(0); }
  }
  if (rfbm & XCR0_SSE) {
    s.mxcsr = mx;
    if (bvLo & XCR0_SSE) for (let k = 160; k < xEnd; k++) s.xmmB[k - 160] = IMG[k]!;
    else s.xmm.fill(0, 0, (xEnd - 160) >> 2);
  }
}
