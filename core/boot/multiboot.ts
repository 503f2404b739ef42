/**
 * Multiboot (version 1) loader: the boot protocol of kvm-unit-tests images
 * and many hobby kernels.
 *
 * Source: "Multiboot Specification version 0.6.96" (GNU GRUB), cited below by
 * section:
 *   3.1.1  OS image format: the header lies entirely within the first 8192
 *          bytes of the image and is 32-bit (4-byte) aligned.
 *   3.1.2  Header magic fields: magic 0x1BADB002, flags, checksum such that
 *          magic + flags + checksum = 0 (mod 2^32). Flag bits 0-15 are
 *          requirements (a loader that cannot meet one must refuse the
 *          image); bits 16-31 are optional features.
 *            bit 0   align boot modules on 4 KiB page boundaries
 *            bit 1   mem_* (and, if the loader can, the memory map) required
 *            bit 2   video mode table information required
 *            bit 16  the address fields at offsets 12-28 are valid ("a.out
 *                    kludge"): use them instead of the executable's headers
 *   3.1.3  Header address fields (offsets 12-28): header_addr, load_addr,
 *          load_end_addr (0: up to the end of the file), bss_end_addr (0: no
 *          bss), entry_addr.
 *   3.2    Machine state: EAX = 0x2BADB002, EBX = 32-bit physical address of
 *          the Multiboot information structure, CS a 32-bit execute/read
 *          segment and DS/ES/FS/GS/SS 32-bit read/write segments, all with
 *          offset 0 and limit 0xFFFFFFFF, A20 enabled, CR0.PG = 0, CR0.PE = 1,
 *          EFLAGS.VM = 0, EFLAGS.IF = 0; ESP, GDTR and IDTR undefined (the OS
 *          sets up its own).
 *   3.3    Boot information format (all fields little-endian u32 unless noted):
 *            +0   flags         which of the following fields are valid
 *            +4   mem_lower     (flags[0]) KiB of lower memory, from 0
 *            +8   mem_upper     (flags[0]) KiB of upper memory, from 1 MiB
 *            +12  boot_device   (flags[1])
 *            +16  cmdline       (flags[2]) physical address of a NUL-terminated string
 *            +20  mods_count    (flags[3])
 *            +24  mods_addr     (flags[3]) physical address of the module table
 *            +28  syms[4]       (flags[4] or flags[5])
 *            +44  mmap_length   (flags[6]) bytes of the memory map buffer
 *            +48  mmap_addr     (flags[6])
 *            +52  drives_length, +56 drives_addr (flags[7])
 *            +60  config_table  (flags[8])
 *            +64  boot_loader_name (flags[9]) physical address of a string
 *            +68  apm_table     (flags[10])
 *            +72  vbe_* (flags[11]), +88 framebuffer_* (flags[12]) up to +116
 *          Module table entry (16 bytes): mod_start, mod_end (first byte
 *          after the module), string (physical address of a NUL-terminated
 *          string, or 0), reserved (0).
 *          Memory map entry: size (u32, bytes of the entry after this field,
 *          20 here), base_addr (u64), length (u64), type (u32: 1 available
 *          RAM, 3 ACPI reclaimable, 4 preserve on hibernation, 5 defective,
 *          anything else reserved). mmap_addr points at the first entry's
 *          size field.
 *
 * What this loader does with it:
 *  - ELF32 and ELF64 images are loaded by their PT_LOAD program headers at
 *    p_paddr (core/boot/elf.ts), bss zero-filled; the entry is e_entry,
 *    translated to a physical address when it lies in a PT_LOAD segment whose
 *    p_vaddr differs from p_paddr. The a.out kludge fields are used only when
 *    header flag 16 is set (then for ELF files too, as the specification
 *    says they take precedence).
 *  - Boot modules go after the kernel image, each on a 4 KiB boundary
 *    (header flag 0 asks for it; this loader always does it).
 *  - The information structure, module table, memory map and strings are
 *    written contiguously in conventional memory at MB_INFO_ADDR; the info
 *    flags always include memory (0), cmdline (2), modules (3), memory map
 *    (6) and boot loader name (9). The command line is always a valid string
 *    (empty when none is given).
 *
 * Every check runs before the first byte is written, so an error leaves
 * guest memory untouched. Errors are `MultibootError` (or `ElfError` for a
 * malformed ELF file), with a one-line message naming the file and field.
 */
import type { PhysMem } from '../memory/physmem.js';
import { parseElf, loadElf, findPvhEntry, ElfError, PT_LOAD, type ElfImage } from './elf.js';
import { defaultMemmap, LOW_RAM_END, HIGH_RAM_START, type MemmapEntry } from './pvh.js';

export class MultibootError extends Error {
  override readonly name = 'MultibootError';
}

/** 3.1.2: the magic of the OS image's header. */
export const MULTIBOOT_HEADER_MAGIC = 0x1badb002;
/** 3.2: the value in EAX when the OS image is entered. */
export const MULTIBOOT_BOOTLOADER_MAGIC = 0x2badb002;
/** 3.1.1: the header must lie within the first 8192 bytes. */
export const MULTIBOOT_SEARCH = 8192;
/** 3.1.1: and be 32-bit aligned. */
export const MULTIBOOT_HEADER_ALIGN = 4;

/** 3.1.2 header flags. */
export const MBH_PAGE_ALIGN = 1 << 0;
export const MBH_MEMORY_INFO = 1 << 1;
export const MBH_VIDEO_MODE = 1 << 2;
export const MBH_AOUT_KLUDGE = 1 << 16;
/** Requirement bits (0-15) this loader meets: module alignment and memory information. */
const SUPPORTED_REQUIREMENTS = MBH_PAGE_ALIGN | MBH_MEMORY_INFO;

/** 3.3 information-structure flags. */
export const MBI_MEMORY = 1 << 0;
export const MBI_BOOTDEV = 1 << 1;
export const MBI_CMDLINE = 1 << 2;
export const MBI_MODS = 1 << 3;
export const MBI_MEM_MAP = 1 << 6;
export const MBI_BOOT_LOADER_NAME = 1 << 9;

/** 3.3: the information structure runs to offset 116 (framebuffer fields); 128 bytes are reserved and zeroed. */
export const MB_INFO_SIZE = 128;
export const MB_MODULE_SIZE = 16;
/** Memory map entry: the 4-byte size field plus 20 bytes (base_addr, length, type). */
export const MB_MMAP_ENTRY_SIZE = 24;
/** Where the information structure goes: conventional memory, below the EBDA (like the PVH start info). */
export const MB_INFO_ADDR = 0x6000;
/** What boot_loader_name says. */
export const BOOT_LOADER_NAME = 'hvtrace';

const PAGE = 4096;
const FOUR_GIB = 0x1_0000_0000;
const hex = (n: number | bigint): string => `0x${n.toString(16)}`;

/** 3.1.3 address fields (valid when header flag 16 is set). */
export interface MultibootAddressFields {
  readonly headerAddr: number;
  readonly loadAddr: number;
  readonly loadEndAddr: number;
  readonly bssEndAddr: number;
  readonly entryAddr: number;
}

export interface MultibootHeader {
  /** File offset of the magic. */
  readonly offset: number;
  readonly flags: number;
  readonly checksum: number;
  /** Present only when flag 16 (MBH_AOUT_KLUDGE) is set. */
  readonly address?: MultibootAddressFields;
}

/**
 * The first multiboot header of the image (3.1.1: 4-byte aligned, inside the
 * first 8192 bytes, with a checksum that makes magic + flags + checksum = 0),
 * or undefined. A magic value whose checksum does not add up is skipped.
 */
export function findMultibootHeader(bytes: Uint8Array): MultibootHeader | undefined {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const limit = Math.min(bytes.length, MULTIBOOT_SEARCH);
  for (let off = 0; off + 12 <= limit; off += MULTIBOOT_HEADER_ALIGN) {
    if (dv.getUint32(off, true) !== MULTIBOOT_HEADER_MAGIC) continue;
    const flags = dv.getUint32(off + 4, true);
    const checksum = dv.getUint32(off + 8, true);
    if (((MULTIBOOT_HEADER_MAGIC + flags + checksum) >>> 0) !== 0) continue;
    if (flags & MBH_AOUT_KLUDGE) {
      // The address fields may run past 8192 bytes but not past the file.
      if (off + 32 > bytes.length) return { offset: off, flags, checksum };
      return {
        offset: off, flags, checksum,
        address: {
          headerAddr: dv.getUint32(off + 12, true), loadAddr: dv.getUint32(off + 16, true),
          loadEndAddr: dv.getUint32(off + 20, true), bssEndAddr: dv.getUint32(off + 24, true),
          entryAddr: dv.getUint32(off + 28, true),
        },
      };
    }
    return { offset: off, flags, checksum };
  }
  return undefined;
}

/** Like findMultibootHeader, but a missing or unusable header is a MultibootError that says why. */
export function parseMultibootHeader(bytes: Uint8Array, name: string): MultibootHeader {
  const h = findMultibootHeader(bytes);
  if (!h) {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const limit = Math.min(bytes.length, MULTIBOOT_SEARCH);
    for (let off = 0; off + 12 <= limit; off += MULTIBOOT_HEADER_ALIGN) {
      if (dv.getUint32(off, true) !== MULTIBOOT_HEADER_MAGIC) continue;
      const flags = dv.getUint32(off + 4, true), checksum = dv.getUint32(off + 8, true);
      throw new MultibootError(`${name}: multiboot header at file offset ${hex(off)} has a bad checksum ${hex(checksum)} (magic + flags ${hex(flags)} + checksum must be 0 mod 2^32; expected ${hex((-(MULTIBOOT_HEADER_MAGIC + flags)) >>> 0)})`);
    }
    throw new MultibootError(`${name}: no multiboot header (magic 0x1badb002, 4-byte aligned, in the first ${MULTIBOOT_SEARCH} bytes)`);
  }
  const unsupported = h.flags & 0xffff & ~SUPPORTED_REQUIREMENTS;
  if (unsupported) {
    const what = unsupported & MBH_VIDEO_MODE ? ' (bit 2: video mode information; this machine has no display)' : '';
    throw new MultibootError(`${name}: multiboot header at file offset ${hex(h.offset)} requires features this loader cannot provide: flags ${hex(unsupported)}${what}`);
  }
  if ((h.flags & MBH_AOUT_KLUDGE) && !h.address) {
    throw new MultibootError(`${name}: multiboot header at file offset ${hex(h.offset)} sets flag 16 (address fields) but the file ends before them`);
  }
  return h;
}

export type BootProtocol = 'pvh' | 'multiboot';

const isElf = (b: Uint8Array): boolean => b.length >= 4 && b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;

/**
 * How to boot an image: an ELF file with the Xen PVH entry note is a PVH
 * kernel; otherwise an image with a multiboot header is a multiboot kernel.
 * Anything else is a MultibootError naming both protocols. A malformed ELF
 * file without a multiboot header is reported as the ElfError it is.
 */
export function detectBootProtocol(bytes: Uint8Array, name: string): BootProtocol {
  let elfError: ElfError | undefined;
  if (isElf(bytes)) {
    try {
      if (findPvhEntry(parseElf(bytes, name)) !== undefined) return 'pvh';
    } catch (e) {
      if (!(e instanceof ElfError)) throw e;
      elfError = e;
    }
  }
  if (findMultibootHeader(bytes)) return 'multiboot';
  if (elfError) throw elfError;
  const noMb = `no multiboot header (magic 0x1badb002 with a valid checksum, 4-byte aligned, in the first ${MULTIBOOT_SEARCH} bytes)`;
  if (!isElf(bytes)) throw new MultibootError(`${name} is not an ELF file (a PVH kernel) and has ${noMb}: neither a PVH nor a multiboot kernel`);
  throw new MultibootError(`${name} has no Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY; for Linux: CONFIG_PVH=y) and ${noMb}: neither a PVH nor a multiboot kernel`);
}

export interface MultibootModuleInput {
  readonly data: Uint8Array;
  /** The module's string (3.3: e.g. its file name and arguments); none when undefined. */
  readonly string?: string;
}

export interface MultibootLoadOptions {
  /** Name for messages (a file name). */
  readonly name: string;
  /** Bytes of guest RAM: [0, ramBytes) is RAM. */
  readonly ramBytes: number;
  /** Kernel command line; an empty string when undefined. */
  readonly cmdline?: string;
  readonly modules?: readonly MultibootModuleInput[];
  /** Where the information structure goes (default MB_INFO_ADDR). */
  readonly infoAddr?: number;
}

export interface MultibootModuleLayout { readonly start: number; readonly end: number; readonly string: number }

export interface MultibootLayout {
  readonly header: MultibootHeader;
  /** 'elf' (program headers) or 'aout' (header address fields, flag 16). */
  readonly format: 'elf' | 'aout';
  /** Physical entry point (EIP at entry). */
  readonly entry: number;
  /** Loaded ranges [start, end), bss included. */
  readonly segments: readonly { readonly start: number; readonly end: number }[];
  /** 3.2: EAX at entry. */
  readonly eax: number;
  /** 3.2: EBX at entry, the information structure's address. */
  readonly infoAddr: number;
  readonly infoFlags: number;
  readonly memLower: number;
  readonly memUpper: number;
  readonly cmdlineAddr: number;
  readonly modsAddr: number;
  readonly modules: readonly MultibootModuleLayout[];
  readonly mmapAddr: number;
  readonly mmapLength: number;
  readonly bootLoaderNameAddr: number;
  /** First byte after the information area (structure, tables, strings). */
  readonly infoEnd: number;
}

function cString(s: string, what: string, name: string): Uint8Array {
  const b = new TextEncoder().encode(s);
  if (b.includes(0)) throw new MultibootError(`${name}: ${what} contains a NUL byte`);
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  return out;
}

const alignUp = (v: number, a: number): number => Math.ceil(v / a) * a;

/**
 * Loads a multiboot image into guest memory and writes the information
 * structure. Returns the layout (entry point, register values, addresses).
 */
export function loadMultiboot(mem: PhysMem, bytes: Uint8Array, o: MultibootLoadOptions): MultibootLayout {
  const name = o.name;
  const ram = o.ramBytes;
  const fail = (msg: string): never => { throw new MultibootError(`${name}: ${msg}`); };
  if (!Number.isSafeInteger(ram) || ram <= HIGH_RAM_START || ram > mem.size) fail(`guest RAM of ${ram} bytes is unusable (it must extend above 1 MiB and fit in host memory)`);
  const header = parseMultibootHeader(bytes, name);
  const infoAddr = o.infoAddr ?? MB_INFO_ADDR;
  if (infoAddr % 8 !== 0 || infoAddr <= 0) fail(`information structure address ${hex(infoAddr)} must be non-zero and 8-byte aligned`);

  // ---- the image: what goes where (validated, nothing written yet) ----
  let format: 'elf' | 'aout';
  let entry: number;
  const segments: { start: number; end: number }[] = [];
  let elf: ElfImage | undefined;
  let aout: { fileOff: number; fileLen: number; load: number; bssEnd: number } | undefined;
  if (header.address) {
    // 3.1.3: the a.out kludge.
    format = 'aout';
    const a = header.address;
    if (a.loadAddr > a.headerAddr) fail(`multiboot load_addr ${hex(a.loadAddr)} is above header_addr ${hex(a.headerAddr)} (3.1.3: load_addr <= header_addr)`);
    const fileOff = header.offset - (a.headerAddr - a.loadAddr);
    if (fileOff < 0) fail(`multiboot header_addr ${hex(a.headerAddr)} - load_addr ${hex(a.loadAddr)} puts the start of the text segment before the start of the file (header at file offset ${hex(header.offset)})`);
    let fileLen: number;
    if (a.loadEndAddr === 0) fileLen = bytes.length - fileOff; // 3.1.3: 0 = text and data occupy the rest of the file
    else {
      if (a.loadEndAddr < a.loadAddr) fail(`multiboot load_end_addr ${hex(a.loadEndAddr)} is below load_addr ${hex(a.loadAddr)}`);
      fileLen = a.loadEndAddr - a.loadAddr;
      if (fileOff + fileLen > bytes.length) fail(`multiboot load_end_addr ${hex(a.loadEndAddr)} asks for ${hex(fileLen)} bytes from file offset ${hex(fileOff)}, past the end of the file (${hex(bytes.length)} bytes)`);
    }
    const loadEnd = a.loadAddr + fileLen;
    let bssEnd = loadEnd;
    if (a.bssEndAddr !== 0) {
      if (a.bssEndAddr < loadEnd) fail(`multiboot bss_end_addr ${hex(a.bssEndAddr)} is below the end of the loaded data ${hex(loadEnd)}`);
      bssEnd = a.bssEndAddr;
    }
    if (bssEnd > ram) fail(`image at ${hex(a.loadAddr)}-${hex(bssEnd)} (multiboot address fields) does not fit in ${ram / 1048576} MiB of guest RAM`);
    if (a.entryAddr < a.loadAddr || a.entryAddr >= Math.max(bssEnd, a.loadAddr + 1)) fail(`multiboot entry_addr ${hex(a.entryAddr)} is outside the loaded image ${hex(a.loadAddr)}-${hex(bssEnd)}`);
    entry = a.entryAddr;
    segments.push({ start: a.loadAddr, end: bssEnd });
    aout = { fileOff, fileLen, load: a.loadAddr, bssEnd };
  } else {
    format = 'elf';
    if (!isElf(bytes)) fail(`multiboot header at file offset ${hex(header.offset)} does not set flag 16 (address fields), so the image must be ELF, but it has no ELF magic`);
    elf = parseElf(bytes, name);
    const loads = elf.programHeaders.filter((p) => p.type === PT_LOAD && p.memsz > 0);
    if (loads.length === 0) fail('ELF image has no PT_LOAD segment with memory to load');
    for (const p of loads) {
      if (p.paddr + p.memsz > ram) fail(`segment of program header ${p.index} at paddr ${hex(p.paddr)} (memsz ${hex(p.memsz)}) does not fit in ${ram / 1048576} MiB of guest RAM`);
      segments.push({ start: p.paddr, end: p.paddr + p.memsz });
    }
    // e_entry is a virtual address; with vaddr == paddr (kvm-unit-tests, our guests) it is physical as is.
    const e = elf.entry;
    let phys: bigint = e;
    for (const p of loads) {
      if (e >= p.vaddr && e < p.vaddr + BigInt(p.memsz)) { phys = BigInt(p.paddr) + (e - p.vaddr); break; }
    }
    if (phys >= BigInt(FOUR_GIB)) fail(`ELF entry point ${hex(e)} is not a 32-bit physical address (a multiboot kernel is entered in 32-bit protected mode with paging off)`);
    entry = Number(phys);
  }
  const kernelEnd = Math.max(...segments.map((s) => s.end));

  // ---- modules: page-aligned, after the kernel (and at or above 1 MiB) ----
  const modsIn = o.modules ?? [];
  const modules: MultibootModuleLayout[] = [];
  let cursor = alignUp(Math.max(kernelEnd, HIGH_RAM_START), PAGE);
  const modStarts: number[] = [];
  modsIn.forEach((m, i) => {
    const start = cursor;
    const end = start + m.data.length;
    if (end > ram || end > FOUR_GIB) {
      fail(`module ${i}${m.string ? ` (${m.string})` : ''} of ${m.data.length} bytes does not fit in guest RAM: it would occupy ${hex(start)}-${hex(end)} above the kernel (ends at ${hex(kernelEnd)}), RAM ends at ${hex(ram)}; give more memory`);
    }
    modStarts.push(start);
    cursor = alignUp(end, PAGE);
  });

  // ---- the information area: structure, module table, memory map, strings ----
  const modsAddr = infoAddr + MB_INFO_SIZE;
  const memmap: MemmapEntry[] = defaultMemmap(ram);
  const mmapAddr = modsAddr + modsIn.length * MB_MODULE_SIZE;
  const mmapLength = memmap.length * MB_MMAP_ENTRY_SIZE;
  let sp = mmapAddr + mmapLength;
  const strings: { at: number; bytes: Uint8Array }[] = [];
  const place = (s: string, what: string): number => {
    const b = cString(s, what, name);
    const at = sp;
    strings.push({ at, bytes: b });
    sp += b.length;
    return at;
  };
  const cmdlineAddr = place(o.cmdline ?? '', 'kernel command line');
  const bootLoaderNameAddr = place(BOOT_LOADER_NAME, 'boot loader name');
  modsIn.forEach((m, i) => {
    const str = m.string !== undefined ? place(m.string, `module ${i} string`) : 0;
    modules.push({ start: modStarts[i]!, end: modStarts[i]! + m.data.length, string: str });
  });
  const infoEnd = sp;
  if (infoEnd > LOW_RAM_END) fail(`the multiboot information (structure, ${modsIn.length} module entries, memory map and strings: ${infoEnd - infoAddr} bytes from ${hex(infoAddr)}) does not fit below ${hex(LOW_RAM_END)}; shorten the command line`);
  for (const s of segments) {
    if (s.start < infoEnd && infoAddr < s.end) fail(`the image's memory ${hex(s.start)}-${hex(s.end)} overlaps the multiboot information at ${hex(infoAddr)}-${hex(infoEnd)}`);
  }
  for (let i = 0; i < segments.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = segments[i]!, b = segments[j]!;
      if (a.start < b.end && b.start < a.end) fail(`loadable segments overlap in physical memory (${hex(b.start)}-${hex(b.end)} and ${hex(a.start)}-${hex(a.end)})`);
    }
  }

  // ---- write ----
  if (elf) loadElf(elf, bytes, mem);
  else if (aout) {
    mem.writeBytes(aout.load, bytes.subarray(aout.fileOff, aout.fileOff + aout.fileLen));
    if (aout.bssEnd > aout.load + aout.fileLen) mem.fill(aout.load + aout.fileLen, aout.bssEnd - aout.load - aout.fileLen, 0);
  }
  modsIn.forEach((m, i) => { if (m.data.length) mem.writeBytes(modStarts[i]!, m.data); });

  const memLower = Math.floor(LOW_RAM_END / 1024);
  const memUpper = Math.floor((Math.min(ram, FOUR_GIB) - HIGH_RAM_START) / 1024);
  const infoFlags = MBI_MEMORY | MBI_CMDLINE | MBI_MODS | MBI_MEM_MAP | MBI_BOOT_LOADER_NAME;
  mem.fill(infoAddr, infoEnd - infoAddr, 0);
  mem.write32(infoAddr + 0, infoFlags);
  mem.write32(infoAddr + 4, memLower);
  mem.write32(infoAddr + 8, memUpper);
  mem.write32(infoAddr + 16, cmdlineAddr);
  mem.write32(infoAddr + 20, modsIn.length);
  mem.write32(infoAddr + 24, modsAddr);
  mem.write32(infoAddr + 44, mmapLength);
  mem.write32(infoAddr + 48, mmapAddr);
  mem.write32(infoAddr + 64, bootLoaderNameAddr);
  modules.forEach((m, i) => {
    const p = modsAddr + i * MB_MODULE_SIZE;
    mem.write32(p + 0, m.start);
    mem.write32(p + 4, m.end);
    mem.write32(p + 8, m.string);
    mem.write32(p + 12, 0);
  });
  memmap.forEach((e, i) => {
    const p = mmapAddr + i * MB_MMAP_ENTRY_SIZE;
    mem.write32(p + 0, MB_MMAP_ENTRY_SIZE - 4);
    mem.write64(p + 4, e.addr);
    mem.write64(p + 12, e.size);
    mem.write32(p + 20, e.type);
  });
  for (const s of strings) mem.writeBytes(s.at, s.bytes);

  return {
    header, format, entry, segments, eax: MULTIBOOT_BOOTLOADER_MAGIC, infoAddr, infoFlags, memLower, memUpper,
    cmdlineAddr, modsAddr, modules, mmapAddr, mmapLength, bootLoaderNameAddr, infoEnd,
  };
}
