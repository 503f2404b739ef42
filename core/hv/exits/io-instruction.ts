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

const pas = new Float64Array(4);

/**
 * INS/OUTS, with REP: every element goes through the bus and guest memory
 * (Vol. 2A INS, Vol. 2B OUTS); the memory side may be RAM or an MMIO
 * device, and an element that crosses a page is split into bytes.
 */
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
    // The element's guest-physical address(es): one, or one per byte when it crosses a page.
    const off = ((lin % 4096) + 4096) % 4096;
    const pieces = off + size > 4096 ? size : 1;
    try {
      for (let k = 0; k < pieces; k++) pas[k] = linearToPhysical(m, lin + k);
    } catch (e) {
      if (e instanceof GuestTranslationError) return { kind: 'error', message: `string I/O on port 0x${port.toString(16)}: ${e.message}` };
      throw e;
    }
    const n = pieces === 1 ? size : 1;
    for (let k = 0; k < pieces; k++) {
      const pa = pas[k]!;
      if (pa < m.ramBytes ? pa + n > m.ramBytes : !m.mmio.find(pa)) {
        return { kind: 'error', message: `string I/O on port 0x${port.toString(16)} touches guest-physical 0x${hex(pa)} with neither RAM nor a device behind it` };
      }
    }
    if (isIn) {
      const v = m.io.read(port, size);
      m.emit({ kind: 'pio', ic: cpu.icount, port, size, write: false, value: v >>> 0 });
      // An INS destination may be MMIO (kvm-unit-tests emulator: rep insb into pc-testdev's buffer): the device gets the write.
      for (let k = 0; k < pieces; k++) {
        const pa = pas[k]!, part = pieces === 1 ? v : (v >>> (8 * k)) & 0xff;
        if (pa >= m.ramBytes) { m.mmio.write(pa, n as 1 | 2 | 4, part | 0, 0); continue; }
        for (let b = 0; b < n; b++) m.mem.u8[pa + b] = (part >>> (8 * b)) & 0xff;
        m.mem.touch(pa, n);
        cpu.invalidateCode(pa, n);
      }
    } else {
      let v = 0;
      for (let k = 0; k < pieces; k++) {
        const pa = pas[k]!;
        let part = 0;
        if (pa >= m.ramBytes) part = m.mmio.read(pa, n as 1 | 2 | 4).lo;
        else for (let b = 0; b < n; b++) part |= m.mem.u8[pa + b]! << (8 * b);
        v |= pieces === 1 ? part : (part & 0xff) << (8 * k);
      }
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
