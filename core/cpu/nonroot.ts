/**
 * How the CPU decides, in VMX non-root operation, whether an instruction
 * exits (SDM Vol. 3C, 25.6 "VM-Execution Control Fields", 26.1 "Instructions
 * That Cause VM Exits"), and the exit-qualification formats it produces (Vol. 3C, 28.2.1 "Basic VM-Exit
 * Information"). core/vmx loads the control words into the Cpu at VM entry.
 */
import type { Cpu } from './cpu.js';

export { PIN_BASED, PROC_BASED, PROC_BASED2 } from '../vmx/capabilities.js';
import { PROC_BASED } from '../vmx/capabilities.js';

/** Exit qualification for I/O instructions (Vol. 3C, Table 28-5). */
export function ioQualification(size: number, isIn: boolean, string: boolean, rep: boolean, imm: boolean, port: number): number {
  return (size - 1) | (isIn ? 8 : 0) | (string ? 16 : 0) | (rep ? 32 : 0) | (imm ? 64 : 0) | ((port & 0xffff) << 16);
}

/** Exit qualification for control-register accesses (Vol. 3C, Table 28-3). */
export const CRQ_MOV_TO = 0, CRQ_MOV_FROM = 1, CRQ_CLTS = 2, CRQ_LMSW = 3;
export function crQualification(cr: number, type: number, gpr: number, lmswMem = false, lmswData = 0): number {
  return cr | (type << 4) | (lmswMem ? 64 : 0) | (gpr << 8) | ((lmswData & 0xffff) << 16);
}

/** Does an access to ports [port, port+size) exit? (Vol. 3C, 26.1.3 "Instructions That Cause VM Exits Conditionally", I/O bitmaps 25.6.4) */
export function ioExits(cpu: Cpu, port: number, size: number): boolean {
  if (!(cpu.ctlProc & PROC_BASED.USE_IO_BITMAPS)) return (cpu.ctlProc & PROC_BASED.UNCONDITIONAL_IO_EXITING) !== 0;
  for (let p = port; p < port + size; p++) {
    if (p > 0xffff) return true; // wrap-around always exits
    const bm = p < 0x8000 ? cpu.ioBitmapA : cpu.ioBitmapB;
    const bit = p & 0x7fff;
    if (cpu.u8[bm + (bit >> 3)]! & (1 << (bit & 7))) return true;
  }
  return false;
}

/** Does RDMSR (write=false) or WRMSR (write=true) of `msr` exit? (Vol. 3C, 25.6.9 "MSR-Bitmap Address") */
export function msrExits(cpu: Cpu, msr: number, write: boolean): boolean {
  if (!(cpu.ctlProc & PROC_BASED.USE_MSR_BITMAPS)) return true;
  let base: number;
  if (msr >= 0 && msr <= 0x1fff) base = 0;
  else if (msr >= 0xc0000000 && msr <= 0xc0001fff) base = 1024;
  else return true;
  if (write) base += 2048;
  const bit = msr & 0x1fff;
  return (cpu.u8[cpu.msrBitmap + base + (bit >> 3)]! & (1 << (bit & 7))) !== 0;
}
