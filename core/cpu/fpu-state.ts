/**
 * The x87 and SSE register state of the silicon (SDM Vol. 1, 8.1 "x87 FPU
 * Execution Environment", 10.2 "SSE Programming Environment", 10.2.3
 * "MXCSR Control and Status Register"; Vol. 2A FXSAVE Tables 3-53/3-56).
 *
 * Where it lives: beside the Cpu, not in it. `fpuState(cpu)` returns the
 * FpuState of a Cpu (created on first use, in its reset state), kept in a
 * WeakMap with a one-entry cache so the per-instruction lookup is a
 * compare. cpu.ts stays as it was: the x87 control, status and tag words
 * remain the Cpu's own `fpuCw` / `fpuSw` / `fpuTw` fields (the x87 control
 * instructions used them before this module existed); everything else is
 * here.
 *
 * What is modelled: XMM0-15, MXCSR, the eight x87 data registers as raw
 * 80-bit images (saved and restored by FXSAVE/FXRSTOR, never computed
 * with: there is no x87 or SSE floating-point arithmetic), and the x87
 * last-instruction fields (FOP, FIP, FDP, FCS, FDS), which only FXRSTOR
 * loads and FNINIT clears: no x87 data instruction runs to set them.
 */
import type { Cpu } from './cpu.js';

/** MXCSR after reset / INIT (Vol. 1, 10.2.3.1; Vol. 3A, Table 10-1). */
export const MXCSR_RESET = 0x1f80;
/**
 * MXCSR_MASK as FXSAVE reports it (Vol. 1, 11.6.6 "Guidelines for Writing to
 * the MXCSR Register"): 0x0000FFFF, what Skylake-class processors report
 * (bits 0-15 writable, DAZ included). Any MXCSR bit clear here is reserved:
 * LDMXCSR and FXRSTOR raise #GP(0) when one is set.
 */
export const MXCSR_MASK = 0xffff;

/**
 * XCR0 (XFEATURE_ENABLED_MASK, SDM Vol. 1, 13.3 "Enabling the XSAVE Feature
 * Set and XSAVE-Enabled Features"): bit 0 x87, bit 1 SSE. The state
 * components this processor supports (CPUID.(EAX=0DH,ECX=0):EDX:EAX, cpuid.ts)
 * are exactly these two; XCR0 is 1 after reset / INIT (Vol. 3A, Table 10-1).
 */
export const XCR0_X87 = 1, XCR0_SSE = 2;
export const XCR0_SUPPORTED = XCR0_X87 | XCR0_SSE;
export const XCR0_RESET = XCR0_X87;
/** Size of an XSAVE area holding every supported component: legacy region (512) + XSAVE header (64) (Vol. 1, 13.4). */
export const XSAVE_AREA_SIZE = 576;

/** x87 control word after FNINIT (Vol. 1, 8.1.5; Vol. 2A FINIT/FNINIT). */
export const FCW_INIT = 0x037f;
/**
 * FCW bits that exist: IM..PM (5:0), PC (9:8), RC (11:10), X (12). Bit 6 is
 * reserved and reads as 1; bits 7 and 13-15 are reserved and read as 0
 * (FLDCW 0xFFFF then FNSTCW gives 0x1F7F, FLDCW 0 gives 0x0040 on the host).
 */
export const FCW_BITS = 0x1f3f, FCW_ONE = 0x0040;

/** The x87/SSE state of one logical processor. */
export class FpuState {
  /** XMM0-15: dword j (bits 32j+31:32j) of XMMn is xmm[4n + j]. */
  readonly xmm = new Int32Array(64);
  /** Byte and word views of the same registers (little-endian hosts only, see below). */
  readonly xmmB = new Uint8Array(this.xmm.buffer);
  readonly xmmW = new Uint16Array(this.xmm.buffer);
  mxcsr = MXCSR_RESET;
  /**
   * The physical data registers R0-R7 as raw 80-bit images (10 bytes each);
   * ST(i) is R((TOP + i) mod 8), TOP = FSW[13:11] (Vol. 1, 8.1.2). FNINIT
   * sets TOP = 0 and leaves them as they are.
   */
  readonly st = new Uint8Array(80);
  /** Last x87 opcode (11 bits), instruction and data pointers (64-bit as lo/hi), selectors. */
  fop = 0;
  fipLo = 0; fipHi = 0; fdpLo = 0; fdpHi = 0; fcs = 0; fds = 0;
  /** XCR0 (bits 31:0; bits 63:32 are always 0 here): written by XSETBV (the hypervisor's emulation, core/hv/exits/xsetbv.ts). */
  xcr0 = XCR0_RESET;

  /** Clear the last-instruction fields (FNINIT, Vol. 2A FINIT/FNINIT). */
  clearLast(): void {
    this.fop = 0; this.fipLo = 0; this.fipHi = 0; this.fdpLo = 0; this.fdpHi = 0; this.fcs = 0; this.fds = 0;
  }
}

// The byte/word views above index the Int32Array's bytes in host order; the
// handlers rely on dword j's byte k being xmmB[16n + 4j + k], i.e. a
// little-endian host (x86-64, AArch64: every platform Node supports here).
if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) throw new Error('core/cpu/fpu-state: a little-endian host is required');

const states = new WeakMap<Cpu, FpuState>();
let lastCpu: Cpu | undefined;
let lastState: FpuState | undefined;

/** The x87/SSE state of `cpu` (reset state on first use). */
export function fpuState(cpu: Cpu): FpuState {
  if (cpu === lastCpu) return lastState!;
  let s = states.get(cpu);
  if (s === undefined) { s = new FpuState(); states.set(cpu, s); }
  lastCpu = cpu; lastState = s;
  return s;
}

/**
 * Puts `cpu`'s x87/SSE state in the state FNINIT leaves plus MXCSR = 0x1F80
 * and XMM = 0 (what a fresh Linux process starts with; tests use it). The
 * x87 data registers are cleared too, which FNINIT alone would not do.
 */
export function resetFpu(cpu: Cpu): void {
  const s = fpuState(cpu);
  s.xmm.fill(0);
  s.st.fill(0);
  s.mxcsr = MXCSR_RESET;
  s.clearLast();
  cpu.fpuCw = FCW_INIT; cpu.fpuSw = 0; cpu.fpuTw = 0xffff;
}
