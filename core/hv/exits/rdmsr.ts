/**
 * Exit reason 31, RDMSR (SDM Vol. 3C, 26.1.3; the MSR bitmap decides which
 * MSRs exit). The hypervisor emulates the MSRs it intercepts; an MSR it does
 * not know gets #GP(0), as on hardware.
 */
import type { Machine } from '../machine.js';
import { RAX, RCX, RDX } from '../../cpu/regs.js';
import { readEmulatedMsr } from '../msrs.js';

export function rdmsrExit(m: Machine): void {
  const cpu = m.cpu;
  const idx = cpu.lo[RCX]! >>> 0;
  const v = readEmulatedMsr(m, idx);
  if (v === null) { m.injectException(13, 0); return; }
  cpu.lo[RAX] = v[0]; cpu.hi[RAX] = 0;
  cpu.lo[RDX] = v[1]; cpu.hi[RDX] = 0;
  m.skipInstruction();
}
