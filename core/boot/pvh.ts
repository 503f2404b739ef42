/**
 * Xen PVH boot: `hvm_start_info` (version 1) and the memory map it carries.
 *
 * Source: Xen `public/arch-x86/hvm/start_info.h` (all fields little-endian):
 *
 *   hvm_start_info (56 bytes)            hvm_modlist_entry (32 bytes)
 *    +0  u32 magic = 0x336ec578           +0  u64 paddr
 *    +4  u32 version (1: has memmap)      +8  u64 size
 *    +8  u32 flags (SIF_xxx)              +16 u64 cmdline_paddr
 *    +12 u32 nr_modules                   +24 u64 reserved
 *    +16 u64 modlist_paddr
 *    +24 u64 cmdline_paddr                hvm_memmap_table_entry (24 bytes)
 *    +32 u64 rsdp_paddr                   +0  u64 addr
 *    +40 u64 memmap_paddr                 +8  u64 size
 *    +48 u32 memmap_entries               +16 u32 type (1 RAM, 2 reserved, ...)
 *    +52 u32 reserved                     +20 u32 reserved
 *
 * A 0 address means "not present" (the header says nothing is loaded at 0).
 *
 * Layout written by `writeStartInfo`, contiguous from `at` (8-byte aligned):
 *
 *   at                      hvm_start_info               56 bytes
 *   at + 56                 memmap[memmap.length]        24 bytes each
 *   then                    modlist[modules.length]      32 bytes each (absent if none)
 *   then                    kernel cmdline, NUL-terminated (absent if undefined)
 *   then                    each module's cmdline, NUL-terminated, in module order
 *   end                     first byte after the last string (not rounded)
 *
 * All tables stay 8-byte aligned because 56, 24 and 32 are multiples of 8.
 */
import type { PhysMem } from '../memory/physmem.js';

export class PvhError extends Error {
  override readonly name = 'PvhError';
}

export const HVM_START_MAGIC = 0x336ec578;
export const HVM_START_INFO_VERSION = 1;
export const START_INFO_SIZE = 56;
export const MODLIST_ENTRY_SIZE = 32;
export const MEMMAP_ENTRY_SIZE = 24;

/** hvm_memmap_table_entry types (the E820 types). */
export const E820_RAM = 1;
export const E820_RESERVED = 2;
export const E820_ACPI = 3;
export const E820_NVS = 4;
export const E820_UNUSABLE = 5;

export interface MemmapEntry {
  readonly addr: number;
  readonly size: number;
  readonly type: number;
}

export interface PvhModule {
  readonly paddr: number;
  readonly size: number;
  readonly cmdline?: string;
}

export interface StartInfoOptions {
  /** Guest-physical address of hvm_start_info; must be 8-byte aligned and non-zero. */
  readonly at: number;
  readonly cmdline?: string;
  /** The first module is the initrd (Linux convention). */
  readonly modules?: readonly PvhModule[];
  readonly memmap: readonly MemmapEntry[];
  /** Physical address of the ACPI RSDP, 0 (default) when there is none. */
  readonly rsdpPaddr?: number;
  /** SIF_xxx flags, 0 by default. */
  readonly flags?: number;
}

export interface StartInfoLayout {
  /** Where hvm_start_info was written: the value for EBX at the PVH entry. */
  readonly startInfoPaddr: number;
  readonly memmapPaddr: number;
  /** 0 when there are no modules. */
  readonly modlistPaddr: number;
  /** 0 when there is no command line. */
  readonly cmdlinePaddr: number;
  /** First byte after everything written. */
  readonly end: number;
}

const hex = (n: number): string => `0x${n.toString(16)}`;
const MAX_U32 = 0xffff_ffff;

function checkU64(v: number, what: string): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new PvhError(`${what} must be a non-negative integer below 2^53, got ${v}`);
}
function checkU32(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > MAX_U32) throw new PvhError(`${what} must be a 32-bit unsigned integer, got ${v}`);
}

function encodeCString(s: string, what: string): Uint8Array {
  const b = new TextEncoder().encode(s);
  if (b.includes(0)) throw new PvhError(`${what} contains a NUL byte`);
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  return out;
}

/**
 * Writes hvm_start_info v1, its memory map, module list and strings into
 * guest memory (layout in the file header). Validates everything before
 * writing, so an error leaves memory untouched.
 */
export function writeStartInfo(mem: PhysMem, opts: StartInfoOptions): StartInfoLayout {
  const { at, memmap } = opts;
  const modules = opts.modules ?? [];
  checkU64(at, 'start_info address');
  if (at === 0 || at % 8 !== 0) throw new PvhError(`start_info address ${hex(at)} must be non-zero and 8-byte aligned`);
  if (memmap.length === 0) throw new PvhError('memory map is empty (hvm_start_info v1 needs at least one entry)');
  checkU32(memmap.length, 'memory map entry count');
  checkU32(modules.length, 'module count');
  memmap.forEach((e, i) => {
    checkU64(e.addr, `memory map entry ${i} addr`);
    checkU64(e.size, `memory map entry ${i} size`);
    checkU32(e.type, `memory map entry ${i} type`);
  });
  modules.forEach((m, i) => {
    checkU64(m.paddr, `module ${i} paddr`);
    checkU64(m.size, `module ${i} size`);
  });
  const rsdp = opts.rsdpPaddr ?? 0;
  checkU64(rsdp, 'RSDP address');
  const flags = opts.flags ?? 0;
  checkU32(flags, 'flags');

  const memmapPaddr = at + START_INFO_SIZE;
  const modlistStart = memmapPaddr + memmap.length * MEMMAP_ENTRY_SIZE;
  const modlistPaddr = modules.length > 0 ? modlistStart : 0;
  let cursor = modlistStart + modules.length * MODLIST_ENTRY_SIZE;

  const strings: { paddr: number; bytes: Uint8Array }[] = [];
  const place = (s: string | undefined, what: string): number => {
    if (s === undefined) return 0;
    const bytes = encodeCString(s, what);
    const paddr = cursor;
    strings.push({ paddr, bytes });
    cursor += bytes.length;
    return paddr;
  };
  const cmdlinePaddr = place(opts.cmdline, 'kernel command line');
  const moduleCmdlines = modules.map((m, i) => place(m.cmdline, `module ${i} command line`));
  const end = cursor;
  if (end > mem.size) {
    throw new PvhError(`hvm_start_info at ${hex(at)} needs ${end - at} bytes, past the end of guest memory (${hex(mem.size)})`);
  }

  // hvm_start_info
  mem.fill(at, end - at, 0);
  mem.write32(at + 0, HVM_START_MAGIC);
  mem.write32(at + 4, HVM_START_INFO_VERSION);
  mem.write32(at + 8, flags);
  mem.write32(at + 12, modules.length);
  mem.write64(at + 16, modlistPaddr);
  mem.write64(at + 24, cmdlinePaddr);
  mem.write64(at + 32, rsdp);
  mem.write64(at + 40, memmapPaddr);
  mem.write32(at + 48, memmap.length);
  mem.write32(at + 52, 0);
  // memory map
  memmap.forEach((e, i) => {
    const p = memmapPaddr + i * MEMMAP_ENTRY_SIZE;
    mem.write64(p + 0, e.addr);
    mem.write64(p + 8, e.size);
    mem.write32(p + 16, e.type);
    mem.write32(p + 20, 0);
  });
  // module list
  modules.forEach((m, i) => {
    const p = modlistStart + i * MODLIST_ENTRY_SIZE;
    mem.write64(p + 0, m.paddr);
    mem.write64(p + 8, m.size);
    mem.write64(p + 16, moduleCmdlines[i] ?? 0);
    mem.write64(p + 24, 0);
  });
  for (const s of strings) mem.writeBytes(s.paddr, s.bytes);

  return { startInfoPaddr: at, memmapPaddr, modlistPaddr, cmdlinePaddr, end };
}

/** Start of the reserved legacy area: EBDA, VGA hole, option/BIOS ROMs up to 1 MiB. */
export const LOW_RAM_END = 0x9fc00;
export const HIGH_RAM_START = 0x100000;
/** Top of RAM allowed by defaultMemmap: above 3 GiB lie the LAPIC, I/O APIC and PCI MMIO windows. */
export const MAX_DEFAULT_RAM = 0xc000_0000;

/**
 * A PC-style E820 map for `memBytes` of RAM starting at 0:
 *   [0, 0x9fc00)            RAM  (Linux needs free low RAM for its real-mode trampoline)
 *   [0x9fc00, 0x100000)     reserved (EBDA, VGA, ROMs)
 *   [0x100000, memBytes)    RAM
 */
export function defaultMemmap(memBytes: number): MemmapEntry[] {
  if (!Number.isSafeInteger(memBytes) || memBytes <= HIGH_RAM_START) {
    throw new PvhError(`guest memory of ${memBytes} bytes is too small: it must extend above 1 MiB (${hex(HIGH_RAM_START)})`);
  }
  if (memBytes > MAX_DEFAULT_RAM) {
    throw new PvhError(`guest memory of ${hex(memBytes)} bytes overlaps the 32-bit MMIO window at ${hex(MAX_DEFAULT_RAM)}`);
  }
  return [
    { addr: 0, size: LOW_RAM_END, type: E820_RAM },
    { addr: LOW_RAM_END, size: HIGH_RAM_START - LOW_RAM_END, type: E820_RESERVED },
    { addr: HIGH_RAM_START, size: memBytes - HIGH_RAM_START, type: E820_RAM },
  ];
}
