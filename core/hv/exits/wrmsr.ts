/** Exit reason 32, WRMSR: emulated by the hypervisor; invalid values or unknown MSRs get #GP(0). */
import type { Machine } from '../machine.js';
import { RAX, RCX, RDX } from '../../cpu/regs.js';
import { writeEmulatedMsr } from '../msrs.js';

export function wrmsrExit(m: Machine): void {
  const cpu = m.cpu;
  if (!writeEmulatedMsr(m, cpu.lo[RCX]! >>> 0, cpu.lo[RAX]! >>> 0, cpu.lo[RDX]! >>> 0)) { m.injectException(13, 0); return; }
  m.skipInstruction();
}
