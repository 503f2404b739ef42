/**
 * Putting a PVH kernel into the machine: load the ELF at its physical
 * addresses, write hvm_start_info (command line, e820 map, initrd module),
 * and set the guest state of the PVH entry (32-bit protected mode, paging
 * off, EBX = start info; see shared/reference/platform-notes.md).
 */
import { parseElf, requirePvhEntry, loadElf, ElfError, PT_LOAD } from '../boot/elf.js';
import { writeStartInfo, defaultMemmap } from '../boot/pvh.js';
import { configurePvhGuest } from './setup.js';
import { RBX } from '../cpu/regs.js';
import type { Machine } from './machine.js';

/** hvm_start_info goes in low memory, clear of the real-mode area Linux wants free (below 0x9fc00). */
export const START_INFO_ADDR = 0x6000;

export interface PvhBootOptions {
  readonly kernel: Uint8Array;
  readonly kernelName: string;
  readonly cmdline?: string;
  readonly initrd?: Uint8Array;
}

export interface PvhBootInfo {
  readonly entry: number;
  readonly startInfo: number;
  readonly initrdAddr: number;
}

export function bootPvh(m: Machine, o: PvhBootOptions): PvhBootInfo {
  const img = parseElf(o.kernel, o.kernelName);
  const entry = requirePvhEntry(img, o.kernelName);
  let kernelEnd = 0;
  for (const p of img.programHeaders) {
    if (p.type !== PT_LOAD || p.memsz === 0) continue;
    if (p.paddr + p.memsz > m.ramBytes) {
      throw new ElfError(`${o.kernelName}: segment of program header ${p.index} at paddr 0x${p.paddr.toString(16)} (memsz 0x${p.memsz.toString(16)}) does not fit in ${m.ramBytes / 1048576} MiB of guest RAM`);
    }
    if (p.paddr < START_INFO_ADDR + 0x1000 && p.paddr + p.memsz > START_INFO_ADDR) {
      throw new ElfError(`${o.kernelName}: segment of program header ${p.index} overlaps the PVH start info at 0x${START_INFO_ADDR.toString(16)}`);
    }
    kernelEnd = Math.max(kernelEnd, p.paddr + p.memsz);
  }
  loadElf(img, o.kernel, m.mem);
  const modules: { paddr: number; size: number }[] = [];
  let initrdAddr = 0;
  if (o.initrd && o.initrd.length > 0) {
    initrdAddr = Math.floor((m.ramBytes - o.initrd.length) / 4096) * 4096;
    if (initrdAddr < kernelEnd) throw new ElfError(`initrd of ${o.initrd.length} bytes does not fit in guest RAM above the kernel (ends at 0x${kernelEnd.toString(16)}); give more --mem`);
    m.mem.writeBytes(initrdAddr, o.initrd);
    modules.push({ paddr: initrdAddr, size: o.initrd.length });
  }
  const acpi = m.pc.writeFirmwareTables();
  const si = writeStartInfo(m.mem, {
    at: START_INFO_ADDR,
    rsdpPaddr: acpi.rsdp,
    memmap: defaultMemmap(m.ramBytes),
    modules,
    ...(o.cmdline !== undefined ? { cmdline: o.cmdline } : {}),
  });
  configurePvhGuest(m.vmx, { rip: entry, rbx: si.startInfoPaddr });
  m.cpu.lo[RBX] = si.startInfoPaddr;
  return { entry, startInfo: si.startInfoPaddr, initrdAddr };
}
