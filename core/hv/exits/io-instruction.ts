/**
 * Exit reason 30, I/O instruction. The exit qualification (SDM Vol. 3C,
 * Table 28-5) gives size, direction, string/REP and the port; string
 * instructions also give the guest-linear address and the instruction
 * information (address size, segment; Table 28-8).
 */
import type { Machine, Stop } from '../machine.js';
import { VMCS } from '../../vmx/fields.js';
import { RAX, RCX, RSI, RDI } from '../../cpu/regs.js';
import { linearToPhysical, GuestTranslationError, hex } from '../guest-memory.js';

export function ioInstruction(m: Machine): Stop | void {
  const q = m.vmx.vmreadNum(VMCS.EXIT_QUALIFICATION);
  const size = ((q & 7) + 1) as 1 | 2 | 4;
  const isIn = (q & 8) !== 0;
  const port = (q >>> 16) & 0xffff;
  if (q & 16) return stringIo(m, size, isIn, (q & 32) !== 0, port);
  const cpu = m.cpu;
  if (isIn) {
    const v = m.io.read(port, size);
    if (size === 1) cpu.lo[RAX] = (cpu.lo[RAX]! & ~0xff) | (v & 0xff);
    else if (size === 2) cpu.lo[RAX] = (cpu.lo[RAX]! & ~0xffff) | (v & 0xffff);
    else { cpu.lo[RAX] = v; cpu.hi[RAX] = 0; }
    m.emit({ kind: 'pio', ic: cpu.icount, port, size, write: false, value: v >>> 0 });
  } else {
    const v = size === 4 ? cpu.lo[RAX]! >>> 0 : cpu.lo[RAX]! & (size === 2 ? 0xffff : 0xff);
    m.emit({ kind: 'pio', ic: cpu.icount, port, size, write: true, value: v });
    m.io.write(port, size, v);
  }
  m.skipInstruction();
}

/** INS/OUTS, with REP: every element goes through the bus and guest memory (Vol. 2A INS, Vol. 2B OUTS). */
function stringIo(m: Machine, size: 1 | 2 | 4, isIn: boolean, rep: boolean, port: number): Stop | void {
  const cpu = m.cpu;
  const info = m.vmx.vmread32(VMCS.VM_EXIT_INSTRUCTION_INFORMATION);
  const asz = [2, 4, 8][(info >> 7) & 7] ?? 8;
  const mask = asz === 2 ? 0xffff : asz === 4 ? 0xffffffff : -1;
  const df = (m.vmx.vmread32(VMCS.GUEST_RFLAGS) & 0x400) !== 0;
  const step = df ? -size : size;
  let lin = m.vmx.vmreadSigned(VMCS.GUEST_LINEAR_ADDRESS);
  const idx = isIn ? RDI : RSI;
  let count = rep ? (asz === 8 ? (cpu.hi[RCX]! >>> 0) * 4294967296 + (cpu.lo[RCX]! >>> 0) : (cpu.lo[RCX]! >>> 0) & mask) : 1;
  while (count > 0) {
    let pa: number;
    try { pa = linearToPhysical(m, lin); } catch (e) {
      if (e instanceof GuestTranslationError) return { kind: 'error', message: `string I/O on port 0x${port.toString(16)}: ${e.message}` };
      throw e;
    }
    if (pa + size > m.ramBytes || ((pa & 0xfff) + size > 4096)) return { kind: 'error', message: `string I/O on port 0x${port.toString(16)} touches guest-physical 0x${hex(pa)} outside RAM or across a page` };
    if (isIn) {
      const v = m.io.read(port, size);
      m.emit({ kind: 'pio', ic: cpu.icount, port, size, write: false, value: v >>> 0 });
      for (let k = 0; k < size; k++) m.mem.u8[pa + k] = (v >>> (8 * k)) & 0xff;
      m.mem.touch(pa, size);
      cpu.invalidateCode(pa, size);
    } else {
      let v = 0;
      for (let k = 0; k < size; k++) v |= m.mem.u8[pa + k]! << (8 * k);
      m.emit({ kind: 'pio', ic: cpu.icount, port, size, write: true, value: v >>> 0 });
      m.io.write(port, size, v >>> 0);
    }
    lin += step;
    const r = cpu.lo[idx]! + step;
    if (asz === 2) cpu.lo[idx] = (cpu.lo[idx]! & ~0xffff) | (r & 0xffff);
    else if (asz === 4) { cpu.lo[idx] = r; cpu.hi[idx] = 0; }
    else { const s = (cpu.lo[idx]! >>> 0) + step; cpu.lo[idx] = s; cpu.hi[idx] = (cpu.hi[idx]! + Math.floor(s / 4294967296)) | 0; }
    count--;
    if (rep) {
      if (asz === 2) cpu.lo[RCX] = (cpu.lo[RCX]! & ~0xffff) | (count & 0xffff);
      else if (asz === 4) { cpu.lo[RCX] = count; cpu.hi[RCX] = 0; }
      else { cpu.lo[RCX] = count | 0; cpu.hi[RCX] = Math.floor(count / 4294967296); }
    }
  }
  m.skipInstruction();
}
