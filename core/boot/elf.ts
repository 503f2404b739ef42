/**
 * ELF parser and loader for little-endian x86 images (ELF32 and ELF64).
 *
 * Sources: System V ABI (gABI) chapter 4 "Object Files" (ELF header, section
 * header, note section) and chapter 5 "Program Loading" (program header,
 * PT_LOAD/PT_NOTE); Xen `public/elfnote.h` (XEN_ELFNOTE_PHYS32_ENTRY = 18).
 *
 * Uses:
 *  - Linux `vmlinux` (ELF64, EM_X86_64): PVH entry in a "Xen" note inside a
 *    PT_NOTE segment; segments are loaded at their PHYSICAL address (p_paddr),
 *    since p_vaddr is the kernel's high virtual mapping.
 *  - kvm-unit-tests images (ELF32, EM_386) and the hvtrace test guests.
 *
 * Every read is bounds-checked against the file first; malformed input raises
 * an `ElfError` whose one-line message names the file, the structure and the
 * offending offset/size. 64-bit offsets, sizes and physical addresses are
 * carried as `number` and must be below 2^53 (they are rejected otherwise);
 * virtual addresses and the ELF entry are `bigint` because kernels place them
 * near 2^64.
 */
import type { PhysMem } from '../memory/physmem.js';

export class ElfError extends Error {
  override readonly name = 'ElfError';
}

// gABI e_ident
const ELFMAG = [0x7f, 0x45, 0x4c, 0x46] as const; // "\x7fELF"
const EI_CLASS = 4;
const EI_DATA = 5;
const EI_VERSION = 6;
export const ELFCLASS32 = 1;
export const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const EV_CURRENT = 1;

// e_type
export const ET_REL = 1;
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const ET_CORE = 4;

// e_machine
export const EM_386 = 3;
export const EM_X86_64 = 62;

// p_type
export const PT_NULL = 0;
export const PT_LOAD = 1;
export const PT_DYNAMIC = 2;
export const PT_INTERP = 3;
export const PT_NOTE = 4;
export const PT_PHDR = 6;

// p_flags
export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;

// sh_type
const SHT_NOTE = 7;

/** gABI: e_phnum == PN_XNUM means the real count is in section header 0's sh_info. */
const PN_XNUM = 0xffff;

/** Xen public/elfnote.h: physical 32-bit entry point of a PVH kernel. */
export const XEN_ELFNOTE_PHYS32_ENTRY = 18;

const EHDR_SIZE = { 32: 52, 64: 64 } as const;
const PHDR_SIZE = { 32: 32, 64: 56 } as const;
const SHDR_SIZE = { 32: 40, 64: 64 } as const;
const NOTE_HDR_SIZE = 12;

export interface ElfProgramHeader {
  /** Position in the program header table. */
  readonly index: number;
  readonly type: number;
  readonly flags: number;
  readonly offset: number;
  readonly vaddr: bigint;
  readonly paddr: number;
  readonly filesz: number;
  readonly memsz: number;
  readonly align: number;
}

export interface ElfNote {
  /** Owner name without its terminating NUL(s), e.g. "Xen", "GNU", "Linux". */
  readonly owner: string;
  readonly type: number;
  /** A copy of the descriptor bytes. */
  readonly desc: Uint8Array;
  /** File offset of the note header (for messages). */
  readonly fileOffset: number;
}

export interface ElfImage {
  /** Name used in error messages (a file name, or "ELF"). */
  readonly name: string;
  readonly class: 32 | 64;
  /** e_type: ET_EXEC, ET_DYN, ... */
  readonly type: number;
  /** e_machine: EM_386 or EM_X86_64. */
  readonly machine: number;
  /** e_entry (a virtual address in general; physical for vmlinux and ELF32 test kernels). */
  readonly entry: bigint;
  readonly fileSize: number;
  readonly programHeaders: readonly ElfProgramHeader[];
  /** Notes of every PT_NOTE segment, or of every SHT_NOTE section when there is no PT_NOTE. */
  readonly notes: readonly ElfNote[];
}

export interface LoadedSegment {
  /** Index of the PT_LOAD program header. */
  readonly index: number;
  readonly paddr: number;
  readonly filesz: number;
  readonly memsz: number;
  /** paddr + memsz (exclusive). */
  readonly end: number;
}

const hex = (n: number | bigint): string => `0x${n.toString(16)}`;

export function formatMemSize(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  if (Number.isInteger(mib)) return `${mib} MiB`;
  const kib = bytes / 1024;
  if (Number.isInteger(kib)) return `${kib} KiB`;
  return `${bytes} bytes`;
}

/** Bounds-checked little-endian reader over the file; never reads outside it. */
class Reader {
  private readonly dv: DataView;
  constructor(readonly bytes: Uint8Array, readonly name: string) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get length(): number { return this.bytes.length; }

  fail(msg: string): never { throw new ElfError(`${this.name}: ${msg}`); }

  /** Throws unless [off, off+len) lies inside the file. */
  need(off: number, len: number, what: string): void {
    if (!(off >= 0 && len >= 0 && off + len <= this.bytes.length)) {
      this.fail(`${what} extends past end of file (offset ${hex(off)}, size ${hex(len)}, file size ${hex(this.bytes.length)})`);
    }
  }
  u8(off: number): number { this.need(off, 1, 'read'); return this.dv.getUint8(off); }
  u16(off: number): number { this.need(off, 2, 'read'); return this.dv.getUint16(off, true); }
  u32(off: number): number { this.need(off, 4, 'read'); return this.dv.getUint32(off, true); }
  u64big(off: number): bigint { this.need(off, 8, 'read'); return this.dv.getBigUint64(off, true); }
  /** A 64-bit field that must be exact as a number (offset, size, physical address). */
  u64num(off: number, what: string): number {
    const v = this.u64big(off);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} ${hex(v)} is too large (above 2^53)`);
    return Number(v);
  }
}

interface SectionTable { readonly off: number; readonly entsize: number; readonly count: number }

/**
 * Parses the ELF header, the program headers and the notes. Only the layout
 * is validated here; `loadElf` checks what loading needs (PT_LOAD sanity,
 * fitting in memory).
 */
export function parseElf(bytes: Uint8Array, name = 'ELF'): ElfImage {
  const r: Reader = new Reader(bytes, name);

  // --- e_ident
  if (bytes.length < ELFMAG.length || ELFMAG.some((b, i) => bytes[i] !== b)) r.fail('not an ELF file (bad magic)');
  if (bytes.length < 16) r.fail(`ELF identification truncated: file is ${bytes.length} bytes, e_ident needs 16`);
  const cls = r.u8(EI_CLASS);
  if (cls !== ELFCLASS32 && cls !== ELFCLASS64) r.fail(`unsupported ELF class ${cls} (expected 1 = ELF32 or 2 = ELF64)`);
  const bits: 32 | 64 = cls === ELFCLASS32 ? 32 : 64;
  const data = r.u8(EI_DATA);
  if (data !== ELFDATA2LSB) r.fail(`unsupported ELF data encoding ${data} (expected 1 = little-endian)`);
  const identVersion = r.u8(EI_VERSION);
  if (identVersion !== EV_CURRENT) r.fail(`unsupported ELF version ${identVersion} in e_ident (expected 1)`);
  if (bytes.length < EHDR_SIZE[bits]) {
    r.fail(`ELF header truncated: file is ${bytes.length} bytes, an ELF${bits} header needs ${EHDR_SIZE[bits]}`);
  }

  // --- ELF header (gABI "ELF Header")
  const type = r.u16(16);
  const machine = r.u16(18);
  if (machine !== EM_386 && machine !== EM_X86_64) {
    r.fail(`unsupported ELF machine ${machine} (expected x86 or x86-64: ${EM_386} or ${EM_X86_64})`);
  }
  let entry: bigint, phoff: number, shoff: number, phentsize: number, phnum: number, shentsize: number, shnum: number;
  if (bits === 32) {
    entry = BigInt(r.u32(24));
    phoff = r.u32(28);
    shoff = r.u32(32);
    phentsize = r.u16(42);
    phnum = r.u16(44);
    shentsize = r.u16(46);
    shnum = r.u16(48);
  } else {
    entry = r.u64big(24);
    phoff = r.u64num(32, 'e_phoff');
    shoff = r.u64num(40, 'e_shoff');
    phentsize = r.u16(54);
    phnum = r.u16(56);
    shentsize = r.u16(58);
    shnum = r.u16(60);
  }

  // Section header table: only read when needed (PN_XNUM, or notes without PT_NOTE).
  let sections: SectionTable | undefined | null = null; // null = not parsed yet
  const sectionTable = (): SectionTable | undefined => {
    if (sections !== null) return sections;
    if (shoff === 0) return (sections = undefined);
    if (shentsize < SHDR_SIZE[bits]) {
      r.fail(`e_shentsize ${shentsize} is smaller than an ELF${bits} section header (${SHDR_SIZE[bits]})`);
    }
    r.need(shoff, SHDR_SIZE[bits], 'section header 0');
    let count = shnum;
    if (count === 0) {
      // gABI: e_shnum == 0 with a section table means the count is in section 0's sh_size.
      count = bits === 32 ? r.u32(shoff + 20) : r.u64num(shoff + 32, 'section header 0 sh_size (section count)');
    }
    for (let i = 0; i < count; i++) r.need(shoff + i * shentsize, SHDR_SIZE[bits], `section header ${i}`);
    return (sections = { off: shoff, entsize: shentsize, count });
  };

  if (phnum === PN_XNUM) {
    const st = sectionTable();
    if (st === undefined) r.fail('e_phnum is PN_XNUM (0xffff) but there is no section header 0 holding the real count');
    phnum = r.u32(st.off + (bits === 32 ? 28 : 44)); // sh_info
  }

  // --- program headers (gABI "Program Header")
  const programHeaders: ElfProgramHeader[] = [];
  if (phnum > 0) {
    if (phentsize < PHDR_SIZE[bits]) {
      r.fail(`e_phentsize ${phentsize} is smaller than an ELF${bits} program header (${PHDR_SIZE[bits]})`);
    }
    for (let i = 0; i < phnum; i++) {
      const o = phoff + i * phentsize;
      r.need(o, PHDR_SIZE[bits], `program header ${i}`);
      const w = `program header ${i}`;
      const ph: ElfProgramHeader = bits === 32
        ? {
            index: i,
            type: r.u32(o), offset: r.u32(o + 4), vaddr: BigInt(r.u32(o + 8)), paddr: r.u32(o + 12),
            filesz: r.u32(o + 16), memsz: r.u32(o + 20), flags: r.u32(o + 24), align: r.u32(o + 28),
          }
        : {
            index: i,
            type: r.u32(o), flags: r.u32(o + 4), offset: r.u64num(o + 8, `${w} p_offset`),
            vaddr: r.u64big(o + 16), paddr: r.u64num(o + 24, `${w} p_paddr`),
            filesz: r.u64num(o + 32, `${w} p_filesz`), memsz: r.u64num(o + 40, `${w} p_memsz`),
            align: r.u64num(o + 48, `${w} p_align`),
          };
      if (ph.type !== PT_NULL && ph.filesz > 0) {
        r.need(ph.offset, ph.filesz, `segment of program header ${i} (${ptName(ph.type)})`);
      }
      programHeaders.push(ph);
    }
  }

  // --- notes (gABI "Note Section")
  const notes: ElfNote[] = [];
  const noteSegments = programHeaders.filter((p) => p.type === PT_NOTE);
  if (noteSegments.length > 0) {
    for (const p of noteSegments) parseNotes(r, p.offset, p.filesz, p.align, `PT_NOTE segment (program header ${p.index})`, notes);
  } else {
    const st = sectionTable();
    if (st !== undefined) {
      for (let i = 0; i < st.count; i++) {
        const o = st.off + i * st.entsize;
        if (r.u32(o + 4) !== SHT_NOTE) continue;
        const w = `section header ${i}`;
        const off = bits === 32 ? r.u32(o + 16) : r.u64num(o + 24, `${w} sh_offset`);
        const size = bits === 32 ? r.u32(o + 20) : r.u64num(o + 32, `${w} sh_size`);
        const align = bits === 32 ? r.u32(o + 32) : r.u64num(o + 48, `${w} sh_addralign`);
        r.need(off, size, `note section (${w})`);
        parseNotes(r, off, size, align, `note section (${w})`, notes);
      }
    }
  }

  return { name, class: bits, type, machine, entry, fileSize: bytes.length, programHeaders, notes };
}

function ptName(t: number): string {
  switch (t) {
    case PT_LOAD: return 'PT_LOAD';
    case PT_DYNAMIC: return 'PT_DYNAMIC';
    case PT_INTERP: return 'PT_INTERP';
    case PT_NOTE: return 'PT_NOTE';
    case PT_PHDR: return 'PT_PHDR';
    default: return `type ${hex(t)}`;
  }
}

/** Notes are 4-byte aligned, except in containers that ask for 8 (gABI; e.g. .note.gnu.property). */
function parseNotes(r: Reader, off: number, size: number, align: number, where: string, out: ElfNote[]): void {
  const pad = align === 8 ? 8 : 4;
  const up = (n: number): number => Math.ceil(n / pad) * pad;
  r.need(off, size, where);
  const end = off + size;
  let p = off;
  let n = 0;
  while (p < end) {
    if (end - p < NOTE_HDR_SIZE) {
      // Trailing padding shorter than a header is tolerated only if it is all zero.
      for (let q = p; q < end; q++) {
        if (r.u8(q) !== 0) r.fail(`note ${n} in ${where}: header extends past end of the notes (offset ${hex(p)}, size ${hex(NOTE_HDR_SIZE)}, notes end at ${hex(end)})`);
      }
      break;
    }
    const namesz = r.u32(p);
    const descsz = r.u32(p + 4);
    const type = r.u32(p + 8);
    const nameOff = p + NOTE_HDR_SIZE;
    const descOff = nameOff + up(namesz);
    const next = descOff + up(descsz);
    if (nameOff + namesz > end) {
      r.fail(`note ${n} in ${where}: name extends past end of the notes (offset ${hex(nameOff)}, size ${hex(namesz)}, notes end at ${hex(end)})`);
    }
    if (descOff + descsz > end) {
      r.fail(`note ${n} in ${where}: descriptor extends past end of the notes (offset ${hex(descOff)}, size ${hex(descsz)}, notes end at ${hex(end)})`);
    }
    let owner = '';
    for (let q = 0; q < namesz; q++) {
      const c = r.u8(nameOff + q);
      if (c === 0) break;
      owner += String.fromCharCode(c);
    }
    out.push({ owner, type, desc: r.bytes.slice(descOff, descOff + descsz), fileOffset: p });
    p = next;
    n++;
  }
}

/**
 * The PVH entry point from the "Xen" XEN_ELFNOTE_PHYS32_ENTRY note, or
 * undefined when there is none. The descriptor is a little-endian 32-bit
 * value (Linux: `.long`) or a 64-bit one whose value must fit in 32 bits.
 */
export function findPvhEntry(img: ElfImage): number | undefined {
  const note = img.notes.find((n) => n.owner === 'Xen' && n.type === XEN_ELFNOTE_PHYS32_ENTRY);
  if (note === undefined) return undefined;
  const where = `${img.name}: Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY) at file offset ${hex(note.fileOffset)}`;
  const dv = new DataView(note.desc.buffer, note.desc.byteOffset, note.desc.byteLength);
  if (note.desc.length === 4) return dv.getUint32(0, true);
  if (note.desc.length === 8) {
    const lo = dv.getUint32(0, true);
    const hi = dv.getUint32(4, true);
    if (hi !== 0) throw new ElfError(`${where}: entry ${hex(dv.getBigUint64(0, true))} is above 4 GiB`);
    return lo;
  }
  throw new ElfError(`${where}: descriptor is ${note.desc.length} bytes (expected 4 or 8)`);
}

/** Like findPvhEntry, but a kernel without the note is an error that says what to fix. */
export function requirePvhEntry(img: ElfImage, fileName: string = img.name): number {
  const entry = findPvhEntry(img);
  if (entry === undefined) {
    throw new ElfError(`${fileName} has no Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); is the kernel built with CONFIG_PVH=y?`);
  }
  return entry;
}

/**
 * Copies every PT_LOAD segment to guest-physical memory at p_paddr and
 * zero-fills [paddr + filesz, paddr + memsz). Everything is validated before
 * the first byte is written, so an error leaves memory untouched.
 * Segments with p_memsz = 0 are skipped. Returns the loaded ranges in
 * program-header order.
 */
export function loadElf(img: ElfImage, bytes: Uint8Array, mem: PhysMem): LoadedSegment[] {
  const fail: (msg: string) => never = (msg) => { throw new ElfError(`${img.name}: ${msg}`); };
  if (bytes.length !== img.fileSize) fail(`file is ${bytes.length} bytes but was parsed as ${img.fileSize} bytes`);
  if (img.type !== ET_EXEC && img.type !== ET_DYN) {
    fail(`ELF type ${img.type} cannot be loaded (expected ${ET_EXEC} = executable or ${ET_DYN} = shared object)`);
  }
  const loads = img.programHeaders.filter((p) => p.type === PT_LOAD);
  if (loads.length === 0) fail('has no PT_LOAD segment to load');

  const out: LoadedSegment[] = [];
  for (const p of loads) {
    const w = `segment of program header ${p.index} (PT_LOAD)`;
    if (p.filesz > p.memsz) fail(`${w}: p_filesz ${hex(p.filesz)} exceeds p_memsz ${hex(p.memsz)}`);
    if (p.memsz === 0) continue;
    if (p.offset + p.filesz > bytes.length) {
      fail(`${w} extends past end of file (offset ${hex(p.offset)}, size ${hex(p.filesz)}, file size ${hex(bytes.length)})`);
    }
    if (p.paddr + p.memsz > mem.size) {
      fail(`${w} at paddr ${hex(p.paddr)} (memsz ${hex(p.memsz)}) does not fit in guest memory (${formatMemSize(mem.size)})`);
    }
    for (const q of out) {
      if (p.paddr < q.end && q.paddr < p.paddr + p.memsz) {
        fail(`segments of program headers ${q.index} and ${p.index} overlap in physical memory ` +
          `([${hex(q.paddr)}, ${hex(q.end)}) and [${hex(p.paddr)}, ${hex(p.paddr + p.memsz)}))`);
      }
    }
    out.push({ index: p.index, paddr: p.paddr, filesz: p.filesz, memsz: p.memsz, end: p.paddr + p.memsz });
  }
  for (const s of out) {
    const p = img.programHeaders[s.index]!;
    if (s.filesz > 0) mem.writeBytes(s.paddr, bytes.subarray(p.offset, p.offset + s.filesz));
    if (s.memsz > s.filesz) mem.fill(s.paddr + s.filesz, s.memsz - s.filesz, 0);
  }
  return out;
}
