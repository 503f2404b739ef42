import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  parseElf, loadElf, findPvhEntry, requirePvhEntry, ElfError,
  PT_LOAD, PT_NOTE, EM_X86_64, EM_386, ET_EXEC, XEN_ELFNOTE_PHYS32_ENTRY,
} from '../../../core/boot/elf.js';
import { PhysMem } from '../../../core/memory/physmem.js';

// Tests run from dist-*/test/...: walk up to the directory holding package.json.
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'guests'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('repository root (package.json) not found');
    dir = up;
  }
}
const guest = (name: string): Uint8Array => new Uint8Array(readFileSync(join(repoRoot(), 'guests', name)));

const isElfError = (re: RegExp) => (e: unknown): boolean => {
  if (!(e instanceof ElfError)) return false;
  if (!re.test(e.message)) throw new Error(`message ${JSON.stringify(e.message)} does not match ${re}`);
  return true;
};

// ---------------------------------------------------------------- hand-built images

/** Little-endian byte builder (independent of the parser). */
class Bytes {
  readonly u8: Uint8Array;
  readonly dv: DataView;
  constructor(size: number) { this.u8 = new Uint8Array(size); this.dv = new DataView(this.u8.buffer); }
  b(o: number, v: number): this { this.u8[o] = v; return this; }
  w(o: number, v: number): this { this.dv.setUint16(o, v, true); return this; }
  d(o: number, v: number): this { this.dv.setUint32(o, v, true); return this; }
  q(o: number, v: number | bigint): this { this.dv.setBigUint64(o, BigInt(v), true); return this; }
  set(o: number, data: ArrayLike<number>): this { this.u8.set(data, o); return this; }
}

interface Ph { type: number; flags?: number; offset: number; paddr: number; vaddr?: number | bigint; filesz: number; memsz: number; align?: number }

/** ELF64 EXEC x86-64: header at 0, program headers at 64 (56 bytes each), file size `size`. */
function elf64(phdrs: Ph[], size = 0x400, opts: { machine?: number; entry?: number | bigint; phnum?: number } = {}): Bytes {
  const f = new Bytes(size);
  f.set(0, [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  f.w(16, ET_EXEC).w(18, opts.machine ?? EM_X86_64).d(20, 1).q(24, opts.entry ?? 0x100000)
    .q(32, 64).q(40, 0).d(48, 0).w(52, 64).w(54, 56).w(56, opts.phnum ?? phdrs.length).w(58, 64).w(60, 0).w(62, 0);
  phdrs.forEach((p, i) => {
    const o = 64 + i * 56;
    f.d(o, p.type).d(o + 4, p.flags ?? 5).q(o + 8, p.offset).q(o + 16, p.vaddr ?? p.paddr).q(o + 24, p.paddr)
      .q(o + 32, p.filesz).q(o + 40, p.memsz).q(o + 48, p.align ?? 4);
  });
  return f;
}

/** One note: namesz, descsz, type, name + NUL padded to 4, desc padded to 4. */
function note(owner: string, type: number, desc: number[]): number[] {
  const name = [...owner].map((c) => c.charCodeAt(0)).concat([0]);
  const pad = (a: number[]): number[] => a.concat(new Array((4 - (a.length % 4)) % 4).fill(0));
  const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
  return [...le32(name.length), ...le32(desc.length), ...le32(type), ...pad(name), ...pad(desc)];
}

// A valid two-segment image: code at file 0x100 -> paddr 0x100000, notes at 0x200.
function goodImage(noteBytes: number[] = note('Xen', 18, [0x40, 0x00, 0x10, 0x00])): Bytes {
  const f = elf64([
    { type: PT_LOAD, offset: 0x100, paddr: 0x100000, filesz: 0x10, memsz: 0x30, align: 0x1000 },
    { type: PT_NOTE, offset: 0x200, paddr: 0, filesz: noteBytes.length, memsz: noteBytes.length },
  ]);
  for (let i = 0; i < 0x10; i++) f.b(0x100 + i, 0xc0 + i);
  f.set(0x200, noteBytes);
  return f;
}

// ---------------------------------------------------------------- committed guests

test('guest images: ELF64 x86-64 executables entered at 0x100000 through the PVH note', () => {
  for (const name of ['hello.elf', 'longmode.elf', 'cpuid.elf']) {
    const img = parseElf(guest(name), name);
    assert.is(img.class, 64, name);
    assert.is(img.machine, EM_X86_64, name);
    assert.is(img.type, ET_EXEC, name);
    assert.is(img.entry, 0x100000n, name);
    assert.is(findPvhEntry(img), 0x100000, name);
    assert.is(requirePvhEntry(img, name), 0x100000, name);
    const xen = img.notes.find((n) => n.owner === 'Xen' && n.type === XEN_ELFNOTE_PHYS32_ENTRY);
    assert.ok(xen, name);
    assert.equal([...xen!.desc], [0x00, 0x00, 0x10, 0x00], name);
    // guest.ld: text segment at 0x100000, data+bss segment at 0x108000.
    const loads = img.programHeaders.filter((p) => p.type === PT_LOAD);
    assert.equal(loads.map((p) => p.paddr), [0x100000, 0x108000], name);
    assert.equal(loads.map((p) => p.vaddr), [0x100000n, 0x108000n], name);
    assert.is(img.programHeaders.filter((p) => p.type === PT_NOTE).length, 1, name);
  }
});

test('guest images: data segment sizes follow the sources (bss only for hello/cpuid)', () => {
  const data = (name: string) => parseElf(guest(name), name).programHeaders.filter((p) => p.type === PT_LOAD)[1]!;
  // hello.S: .bss = 4096-byte stack, nothing in .data
  assert.is(data('hello.elf').filesz, 0);
  assert.is(data('hello.elf').memsz, 0x1000);
  // cpuid.S: .bss = 16-byte vendor buffer + 4096-byte stack
  assert.is(data('cpuid.elf').filesz, 0);
  assert.is(data('cpuid.elf').memsz, 0x1010);
  // longmode.S: .data = 3 GDT quads + pad word + 6-byte descriptor = 32 bytes;
  // .bss at 0x109000 = PML4, PDPT, PD, 4 KiB stack -> ends at 0x10d000.
  assert.is(data('longmode.elf').filesz, 0x20);
  assert.is(data('longmode.elf').memsz, 0x10d000 - 0x108000);
});

test('loading hello.elf puts its code at 0x100000 and zero-fills its bss', () => {
  const bytes = guest('hello.elf');
  const img = parseElf(bytes, 'hello.elf');
  const mem = new PhysMem(2 * 1024 * 1024);
  mem.fill(0, mem.size, 0xaa);
  const loaded = loadElf(img, bytes, mem);
  assert.equal(loaded.map((s) => [s.paddr, s.end]), [[0x100000, 0x100000 + loaded[0]!.memsz], [0x108000, 0x109000]]);
  // cli (fa); mov $stack_top=0x109000, %esp (bc imm32)
  assert.equal([...mem.readBytes(0x100000, 6)], [0xfa, 0xbc, 0x00, 0x90, 0x10, 0x00]);
  const text = new TextDecoder('latin1').decode(mem.readBytes(0x100000, loaded[0]!.memsz));
  assert.ok(text.includes('Hi\n\0'));
  assert.ok(mem.readBytes(0x108000, 0x1000).every((b) => b === 0), 'bss zero-filled');
  assert.is(mem.read8(0x107fff), 0xaa, 'gap between segments untouched');
  assert.is(mem.read8(0x109000), 0xaa, 'memory after bss untouched');
});

test('loading longmode.elf places its GDT and descriptor in .data', () => {
  const bytes = guest('longmode.elf');
  const mem = new PhysMem(2 * 1024 * 1024);
  loadElf(parseElf(bytes), bytes, mem);
  assert.is(mem.read64(0x108000), 0);
  assert.is(mem.read32(0x108008), 0x0000ffff); // 64-bit code descriptor 0x00af9a000000ffff
  assert.is(mem.read32(0x10800c), 0x00af9a00);
  assert.is(mem.read32(0x108014), 0x00cf9200); // data descriptor 0x00cf92000000ffff
  assert.is(mem.read16(0x10801a), 0x17); // gdt_desc.limit = 3*8 - 1
  assert.is(mem.read32(0x10801c), 0x108000); // gdt_desc.base
});

// ---------------------------------------------------------------- hand-built images

test('a valid hand-built ELF64: headers, notes, load with zero-filled bss', () => {
  const f = goodImage();
  const img = parseElf(f.u8, 'k');
  assert.is(img.programHeaders.length, 2);
  const p0 = img.programHeaders[0]!;
  assert.equal([p0.type, p0.offset, p0.paddr, p0.filesz, p0.memsz, p0.flags], [PT_LOAD, 0x100, 0x100000, 0x10, 0x30, 5]);
  assert.is(img.notes.length, 1);
  assert.is(img.notes[0]!.owner, 'Xen');
  assert.is(findPvhEntry(img), 0x100040);

  const mem = new PhysMem(0x200000);
  mem.fill(0, mem.size, 0xee);
  const loaded = loadElf(img, f.u8, mem);
  assert.equal(loaded, [{ index: 0, paddr: 0x100000, filesz: 0x10, memsz: 0x30, end: 0x100030 }]);
  assert.is(mem.read8(0x100000), 0xc0);
  assert.is(mem.read8(0x10000f), 0xcf);
  assert.ok(mem.readBytes(0x100010, 0x20).every((b) => b === 0), 'memsz beyond filesz is zero');
  assert.is(mem.read8(0x100030), 0xee);
});

test('vaddr near 2^64 (Linux high mapping) is kept exact, paddr is used for loading', () => {
  const f = elf64([{ type: PT_LOAD, offset: 0x100, paddr: 0x1000, vaddr: 0xffffffff81000123n, filesz: 4, memsz: 4 }],
    0x200, { entry: 0xffffffff81000123n });
  const img = parseElf(f.u8);
  assert.is(img.entry, 0xffffffff81000123n);
  assert.is(img.programHeaders[0]!.vaddr, 0xffffffff81000123n);
  const mem = new PhysMem(0x2000);
  assert.equal(loadElf(img, f.u8, mem)[0]!.paddr, 0x1000);
});

test('PVH note: 8-byte descriptor, missing note, bad descriptor sizes', () => {
  assert.is(findPvhEntry(parseElf(goodImage(note('Xen', 18, [0x00, 0x20, 0x00, 0x01, 0, 0, 0, 0])).u8)), 0x01002000);
  assert.throws(() => findPvhEntry(parseElf(goodImage(note('Xen', 18, [0, 0, 0, 0, 1, 0, 0, 0])).u8)),
    isElfError(/above 4 GiB/));
  assert.throws(() => findPvhEntry(parseElf(goodImage(note('Xen', 18, [1, 2])).u8)),
    isElfError(/descriptor is 2 bytes \(expected 4 or 8\)/));
  // A GNU note and a Xen note of another type are not the entry.
  const other = parseElf(goodImage([...note('GNU', 18, [1, 2, 3, 4]), ...note('Xen', 17, [1, 2, 3, 4])]).u8, 'vmlinux');
  assert.is(other.notes.length, 2);
  assert.is(findPvhEntry(other), undefined);
  assert.throws(() => requirePvhEntry(other, 'vmlinux'),
    isElfError(/^vmlinux has no Xen PVH entry note \(XEN_ELFNOTE_PHYS32_ENTRY\); is the kernel built with CONFIG_PVH=y\?$/));
});

test('ELF32 with notes only in a SHT_NOTE section (no PT_NOTE), bss zero-filled', () => {
  // ELF32: header 52 bytes, 1 phdr at 52 (32 bytes), section headers at 0x100 (40 bytes each).
  const f = new Bytes(0x200);
  f.set(0, [0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
  f.w(16, ET_EXEC).w(18, EM_386).d(20, 1).d(24, 0x200010).d(28, 52).d(32, 0x100).d(36, 0)
    .w(40, 52).w(42, 32).w(44, 1).w(46, 40).w(48, 2).w(50, 0);
  // PT_LOAD: offset 0x80, vaddr = paddr = 0x200000, filesz 8, memsz 0x18
  f.d(52, PT_LOAD).d(56, 0x80).d(60, 0x200000).d(64, 0x200000).d(68, 8).d(72, 0x18).d(76, 7).d(80, 4);
  f.set(0x80, [1, 2, 3, 4, 5, 6, 7, 8]);
  const n = note('Xen', 18, [0x10, 0x00, 0x20, 0x00]);
  f.set(0xc0, n);
  // section 0 = SHT_NULL; section 1 = SHT_NOTE at 0xc0
  f.d(0x128 + 4, 7).d(0x128 + 16, 0xc0).d(0x128 + 20, n.length).d(0x128 + 32, 4);
  const img = parseElf(f.u8, 'x86-32.flat');
  assert.is(img.class, 32);
  assert.is(img.machine, EM_386);
  assert.is(img.entry, 0x200010n);
  assert.is(findPvhEntry(img), 0x200010);
  const mem = new PhysMem(0x300000);
  mem.fill(0x200000, 0x100, 0x55);
  loadElf(img, f.u8, mem);
  assert.equal([...mem.readBytes(0x200000, 0x19)],
    [1, 2, 3, 4, 5, 6, 7, 8, ...new Array(0x10).fill(0), 0x55]);
});

// ---------------------------------------------------------------- malformed input

test('not an ELF: empty, too short, bad magic', () => {
  assert.throws(() => parseElf(new Uint8Array(0), 'empty'), isElfError(/^empty: not an ELF file \(bad magic\)$/));
  assert.throws(() => parseElf(new Uint8Array([0x7f, 0x45]), 'x'), isElfError(/bad magic/));
  assert.throws(() => parseElf(new TextEncoder().encode('MZ\x90\x00 this is a PE file'), 'x'), isElfError(/bad magic/));
});

test('truncated header', () => {
  const f = goodImage();
  assert.throws(() => parseElf(f.u8.slice(0, 10), 'k'), isElfError(/e_ident needs 16/));
  assert.throws(() => parseElf(f.u8.slice(0, 40), 'k'), isElfError(/^k: ELF header truncated: file is 40 bytes, an ELF64 header needs 64$/));
});

test('unsupported class, data encoding, version and machine', () => {
  assert.throws(() => parseElf(goodImage().b(4, 3).u8), isElfError(/unsupported ELF class 3/));
  assert.throws(() => parseElf(goodImage().b(5, 2).u8), isElfError(/unsupported ELF data encoding 2 \(expected 1 = little-endian\)/));
  assert.throws(() => parseElf(goodImage().b(6, 0).u8), isElfError(/unsupported ELF version 0/));
  assert.throws(() => parseElf(goodImage().w(18, 40).u8, 'arm.elf'),
    isElfError(/^arm\.elf: unsupported ELF machine 40 \(expected x86 or x86-64/));
});

test('program header table past end of file names the header', () => {
  // 4 headers claimed, file ends inside header 3 (64 + 3*56 = 232; header 3 needs up to 288).
  const f = elf64([
    { type: PT_LOAD, offset: 0, paddr: 0x1000, filesz: 0, memsz: 0x10 },
    { type: PT_LOAD, offset: 0, paddr: 0x2000, filesz: 0, memsz: 0x10 },
    { type: PT_LOAD, offset: 0, paddr: 0x3000, filesz: 0, memsz: 0x10 },
  ], 250, { phnum: 4 });
  assert.throws(() => parseElf(f.u8, 'k'),
    isElfError(/^k: program header 3 extends past end of file \(offset 0xe8, size 0x38, file size 0xfa\)$/));
  // e_phoff itself beyond the file
  assert.throws(() => parseElf(goodImage().q(32, 0x10000).u8), isElfError(/program header 0 extends past end of file \(offset 0x10000/));
  // e_phentsize smaller than a program header
  assert.throws(() => parseElf(goodImage().w(54, 32).u8), isElfError(/e_phentsize 32 is smaller than an ELF64 program header \(56\)/));
});

test('segment contents past end of file', () => {
  const f = elf64([{ type: PT_LOAD, offset: 0x300, paddr: 0x1000, filesz: 0x200, memsz: 0x200 }], 0x400);
  assert.throws(() => parseElf(f.u8, 'k'),
    isElfError(/^k: segment of program header 0 \(PT_LOAD\) extends past end of file \(offset 0x300, size 0x200, file size 0x400\)$/));
});

test('64-bit values too large for a number give ElfError, not RangeError', () => {
  const f = elf64([{ type: PT_LOAD, offset: 0x100, paddr: 0x1000, filesz: 0, memsz: 0 }], 0x200);
  f.q(64 + 8, 0xffff_ffff_ffff_0000n);
  assert.throws(() => parseElf(f.u8), isElfError(/program header 0 p_offset 0xffffffffffff0000 is too large/));
});

test('notes out of bounds', () => {
  // descsz says 0x100 bytes, the PT_NOTE segment holds 20.
  const bad = note('Xen', 18, [0, 0, 0x10, 0]);
  bad[4] = 0x00; bad[5] = 0x01;
  assert.throws(() => parseElf(goodImage(bad).u8, 'k'),
    isElfError(/^k: note 0 in PT_NOTE segment \(program header 1\): descriptor extends past end of the notes \(offset 0x210, size 0x100, notes end at 0x214\)$/));
  // namesz too large
  const badName = note('Xen', 18, [0, 0, 0x10, 0]);
  badName[0] = 0x40;
  assert.throws(() => parseElf(goodImage(badName).u8), isElfError(/note 0 in PT_NOTE segment \(program header 1\): name extends past end/));
  // a second note whose header is cut off by the segment end (non-zero bytes)
  const cut = [...note('Xen', 18, [0, 0, 0x10, 0]), 4, 0, 0, 0];
  assert.throws(() => parseElf(goodImage(cut).u8), isElfError(/note 1 in PT_NOTE segment \(program header 1\): header extends past end/));
  // PT_NOTE segment itself outside the file
  const f = goodImage();
  f.q(64 + 56 + 8, 0x3f0);
  assert.throws(() => parseElf(f.u8), isElfError(/segment of program header 1 \(PT_NOTE\) extends past end of file/));
});

test('segment beyond guest memory: ElfError naming paddr and memory size, memory untouched', () => {
  const f = elf64([
    { type: PT_LOAD, offset: 0x100, paddr: 0x1000, filesz: 4, memsz: 4 },
    { type: PT_LOAD, offset: 0x100, paddr: 0x0ff800, filesz: 4, memsz: 0x1000 },
  ], 0x200);
  f.set(0x100, [9, 9, 9, 9]);
  const mem = new PhysMem(1024 * 1024);
  const img = parseElf(f.u8, 'big.elf');
  assert.throws(() => loadElf(img, f.u8, mem),
    isElfError(/^big\.elf: segment of program header 1 \(PT_LOAD\) at paddr 0xff800 \(memsz 0x1000\) does not fit in guest memory \(1 MiB\)$/));
  assert.is(mem.read32(0x1000), 0, 'nothing was written');
});

test('filesz > memsz, overlapping segments, no PT_LOAD, non-executable type', () => {
  const mem = new PhysMem(0x10000);
  const a = elf64([{ type: PT_LOAD, offset: 0x100, paddr: 0x1000, filesz: 0x20, memsz: 0x10 }], 0x200);
  assert.throws(() => loadElf(parseElf(a.u8), a.u8, mem), isElfError(/p_filesz 0x20 exceeds p_memsz 0x10/));
  const b = elf64([
    { type: PT_LOAD, offset: 0x100, paddr: 0x1000, filesz: 0, memsz: 0x100 },
    { type: PT_LOAD, offset: 0x100, paddr: 0x10f0, filesz: 0, memsz: 0x100 },
  ], 0x200);
  assert.throws(() => loadElf(parseElf(b.u8), b.u8, mem), isElfError(/program headers 0 and 1 overlap in physical memory/));
  const c = elf64([{ type: PT_NOTE, offset: 0x100, paddr: 0, filesz: 0, memsz: 0 }], 0x200);
  assert.throws(() => loadElf(parseElf(c.u8), c.u8, mem), isElfError(/has no PT_LOAD segment/));
  const d = elf64([{ type: PT_LOAD, offset: 0x100, paddr: 0x1000, filesz: 0, memsz: 0x10 }], 0x200).w(16, 1);
  assert.throws(() => loadElf(parseElf(d.u8), d.u8, mem), isElfError(/ELF type 1 cannot be loaded/));
});

test('e_phnum = PN_XNUM takes the count from section header 0 (sh_info)', () => {
  // 1 phdr at 64; section header 0 at 0x100 (64 bytes): sh_info (offset 44) = 1.
  const f = elf64([{ type: PT_LOAD, offset: 0x180, paddr: 0x1000, filesz: 4, memsz: 8 }], 0x200, { phnum: 0xffff });
  f.q(40, 0x100).w(60, 1).d(0x100 + 44, 1);
  const img = parseElf(f.u8);
  assert.is(img.programHeaders.length, 1);
  assert.is(img.programHeaders[0]!.paddr, 0x1000);
  // without a section table the count cannot be found
  const g = elf64([], 0x200, { phnum: 0xffff });
  assert.throws(() => parseElf(g.u8), isElfError(/PN_XNUM/));
  // a section table with too small entries
  const h = elf64([], 0x200, { phnum: 0xffff });
  h.q(40, 0x100).w(58, 16).w(60, 1);
  assert.throws(() => parseElf(h.u8), isElfError(/e_shentsize 16 is smaller than an ELF64 section header \(64\)/));
});

test('every truncation and single-byte corruption of a guest image gives ElfError or a valid parse', () => {
  const bytes = guest('longmode.elf');
  for (let n = 0; n < bytes.length; n += n < 0x200 ? 1 : 61) {
    try { parseElf(bytes.slice(0, n)); } catch (e) {
      if (!(e instanceof ElfError)) throw new Error(`truncation to ${n} bytes threw ${String(e)}`);
    }
  }
  // Corrupt each header/phdr/note byte with a deterministic pattern.
  const noteOff = 0x10d8;
  const positions = [...Array(64 + 3 * 56).keys(), ...Array.from({ length: 20 }, (_, i) => noteOff + i)];
  for (const pos of positions) {
    for (const v of [0x00, 0xff, 0x80, 0x7f]) {
      const c = bytes.slice();
      c[pos] = v;
      try {
        const img = parseElf(c);
        findPvhEntry(img);
        loadElf(img, c, new PhysMem(0x200000));
      } catch (e) {
        if (!(e instanceof ElfError)) throw new Error(`byte ${pos} = ${v} threw ${String(e)}`);
      }
    }
  }
});

test.run();
