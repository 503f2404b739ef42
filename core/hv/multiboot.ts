/**
 * Putting a multiboot (v1) kernel into the machine: load the image and the
 * information structure (core/boot/multiboot.ts), write the firmware tables,
 * and set the entry state of Multiboot Specification 0.6.96 section 3.2:
 * 32-bit protected mode, paging off, flat segments (the PVH entry state of
 * setup.ts, which is the same machine state), EAX = 0x2BADB002,
 * EBX = the information structure's physical address, EFLAGS.IF = 0.
 */
import { loadMultiboot, type MultibootLayout } from '../boot/multiboot.js';
import { configurePvhGuest } from './setup.js';
import { RAX, RBX } from '../cpu/regs.js';
import type { Machine } from './machine.js';

export interface MultibootBootOptions {
  readonly kernel: Uint8Array;
  readonly kernelName: string;
  /** Kernel command line (an empty string when undefined). */
  readonly cmdline?: string;
  /** Boot modules, in order (kvm-unit-tests: one, its environment file). */
  readonly modules?: readonly { readonly data: Uint8Array; readonly name: string }[];
}

export function bootMultiboot(m: Machine, o: MultibootBootOptions): MultibootLayout {
  const layout = loadMultiboot(m.mem, o.kernel, {
    name: o.kernelName,
    ramBytes: m.ramBytes,
    ...(o.cmdline !== undefined ? { cmdline: o.cmdline } : {}),
    modules: (o.modules ?? []).map((x) => ({ data: x.data, string: x.name })),
  });
  m.pc.writeFirmwareTables();
  configurePvhGuest(m.vmx, { rip: layout.entry, rbx: layout.infoAddr });
  m.cpu.lo[RAX] = layout.eax | 0; m.cpu.hi[RAX] = 0;
  m.cpu.lo[RBX] = layout.infoAddr; m.cpu.hi[RBX] = 0;
  return layout;
}
