/**
 * Port I/O (SDM Vol. 2A IN, INS; Vol. 2B OUT, OUTS) in VMX non-root
 * operation. The silicon has no devices: an access either causes a VM exit
 * (unconditional I/O exiting or the I/O bitmaps, Vol. 3C 26.1.3) and the
 * hypervisor emulates it, or it reaches "no device" (reads all ones, writes
 * are dropped). I/O-permission checks (CPL > IOPL: the TSS I/O bitmap,
 * Vol. 1 19.5) take priority over the exit.
 */
import type { Cpu } from '../cpu.js';
import type { Insn } from '../insn.js';
import { ioExits, ioQualification } from '../nonroot.js';
import { EXIT_REASON } from '../../vmx/exit-reasons.js';
import { setReg, getCount } from './operands.js';
import { linearOf } from '../ea.js';
import { RAX, RDX, RSI, RDI, ES, IOPL, TR, CR0_PE } from '../regs.js';

function ioAllowed(cpu: Cpu, port: number, size: number): void {
  if (!(cpu.cr0 & CR0_PE) || cpu.cpl <= ((cpu.flagsRest & IOPL) >> 12)) return;
  // TSS I/O permission bitmap (Vol. 1, 19.5.2).
  const limit = cpu.segLimit[TR]!;
  if (limit < 0x67) cpu.gp(0);
  const base = cpu.segBase[TR]!;
  const off = cpu.sysRead32(cpu.linAdd(base, 0x64)) >>> 16;
  const byte = off + (port >> 3);
  if (byte + 1 > limit) cpu.gp(0);
  const w = cpu.sysRead8(cpu.linAdd(base, byte)) | (cpu.sysRead8(cpu.linAdd(base, byte + 1)) << 8);
  if ((w >> (port & 7)) & ((1 << size) - 1)) cpu.gp(0);
}

/** Instruction-information field for INS/OUTS (Vol. 3C, Table 28-8): address size 9:7, segment 17:15. */
function stringInfo(i: Insn, isOut: boolean): number {
  const as = i.asz === 2 ? 0 : i.asz === 4 ? 1 : 2;
  return (as << 7) | ((isOut ? i.seg : ES) << 15);
}

/** IN AL/eAX, imm8 / DX (E4, E5, EC, ED). */
export function inInsn(cpu: Cpu, i: Insn): void {
  const imm = i.op === 0xe4 || i.op === 0xe5;
  const port = imm ? i.imm & 0xff : cpu.lo[RDX]! & 0xffff;
  const size = i.osz === 1 ? 1 : i.osz === 2 ? 2 : 4;
  ioAllowed(cpu, port, size);
  if (ioExits(cpu, port, size)) cpu.vmexit(EXIT_REASON.IO_INSTRUCTION, ioQualification(size, true, false, false, imm, port), i.len);
  setReg(cpu, RAX, size, -1, 0, 1);
}
/** OUT imm8 / DX, AL/eAX (E6, E7, EE, EF). */
export function outInsn(cpu: Cpu, i: Insn): void {
  const imm = i.op === 0xe6 || i.op === 0xe7;
  const port = imm ? i.imm & 0xff : cpu.lo[RDX]! & 0xffff;
  const size = i.osz === 1 ? 1 : i.osz === 2 ? 2 : 4;
  ioAllowed(cpu, port, size);
  if (ioExits(cpu, port, size)) cpu.vmexit(EXIT_REASON.IO_INSTRUCTION, ioQualification(size, false, false, false, imm, port), i.len);
}
/** INS / OUTS (6C-6F), with REP. The guest-linear address field holds the first element's address. */
export function insOuts(cpu: Cpu, i: Insn): void {
  const isOut = i.op === 0x6e || i.op === 0x6f;
  const port = cpu.lo[RDX]! & 0xffff;
  const size = i.osz === 1 ? 1 : i.osz === 2 ? 2 : 4;
  ioAllowed(cpu, port, size);
  if (ioExits(cpu, port, size)) {
    const lin = isOut ? linearOf(cpu, i.seg, i.asz, cpu.lo[RSI]!, cpu.hi[RSI]!) : linearOf(cpu, ES, i.asz, cpu.lo[RDI]!, cpu.hi[RDI]!);
    cpu.xGla = lin;
    cpu.xGlaValid = true;
    cpu.vmexit(EXIT_REASON.IO_INSTRUCTION, ioQualification(size, !isOut, true, i.rep !== 0, false, port), i.len, stringInfo(i, isOut));
  }
  if (i.rep !== 0 && getCount(cpu, i.asz) === 0) return;
  cpu.unimplementedMsg('INS/OUTS to a port the hypervisor does not intercept');
}
