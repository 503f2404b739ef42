// Multiboot v1 loader (core/boot/multiboot.ts). Images are built by hand here
// and every expected value comes from the Multiboot Specification 0.6.96:
//   3.1.1 header in the first 8192 bytes, 4-byte aligned
//   3.1.2 magic 0x1BADB002, flags, checksum (magic + flags + checksum = 0)
//   3.1.3 a.out kludge address fields (flag 16)
//   3.2   EAX = 0x2BADB002, EBX = information structure
//   3.3   information structure layout, module entries (16 bytes), memory
//         map entries (size field + 20 bytes)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PhysMem } from '../../../core/memory/physmem.js';
import {
  findMultibootHeader, parseMultibootHeader, loadMultiboot, detectBootProtocol, MultibootError,
  MB_INFO_ADDR,
} from '../../../core/boot/multiboot.js';
import { ElfError } from '../../../core/boot/elf.js';

const MiB = 1024 * 1024;

/** A multiboot header: magic, flags, checksum (+ the five address fields if given). */
function mbHeader(flags: number, addr?: readonly number[], checksum?: number): Uint8Array {
  const b = new Uint8Array(addr ? 32 : 12);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, 0x1badb002, true);
  dv.setUint32(4, flags >>> 0, true);
  dv.setUint32(8, checksum ?? ((-(0x1badb002 + flags)) >>> 0), true);
  addr?.forEach((v, i) => dv.setUint32(12 + 4 * i, v, true));
  return b;
}

/**
 * An ELF32 EM_386 ET_EXEC image (gABI: 52-byte header, 32-byte program
 * headers): one PT_LOAD per segment, file contents at 0x1000 apart,
 * `header` placed at file offset `hdrAt`.
 */
function elf32(segs: readonly { paddr: number; vaddr?: number; data: Uint8Array; memsz?: number }[], entry: number, header: Uint8Array | null, hdrAt = 0x80): Uint8Array {
  const phoff = 52, dataOff = 0x1000;
  const size = dataOff + segs.length * 0x1000;
  const b = new Uint8Array(size);
  const dv = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);          // ELFCLASS32, little-endian, EV_CURRENT
  dv.setUint16(16, 2, true);                          // ET_EXEC
  dv.setUint16(18, 3, true);                          // EM_386
  dv.setUint32(20, 1, true);
  dv.setUint32(24, entry, true);                      // e_entry
  dv.setUint32(28, phoff, true);                      // e_phoff
  dv.setUint16(40, 52, true);                         // e_ehsize
  dv.setUint16(42, 32, true);                         // e_phentsize
  dv.setUint16(44, segs.length, true);                // e_phnum
  segs.forEach((s, i) => {
    const o = phoff + 32 * i, off = dataOff + 0x1000 * i;
    dv.setUint32(o, 1, true);                         // PT_LOAD
    dv.setUint32(o + 4, off, true);
    dv.setUint32(o + 8, s.vaddr ?? s.paddr, true);
    dv.setUint32(o + 12, s.paddr, true);
    dv.setUint32(o + 16, s.data.length, true);
    dv.setUint32(o + 20, s.memsz ?? s.data.length, true);
    dv.setUint32(o + 24, 7, true);
    dv.setUint32(o + 28, 0x1000, true);
    b.set(s.data, off);
  });
  if (header) b.set(header, hdrAt);
  return b;
}

const CODE = Uint8Array.from([0xfa, 0xf4, 0xeb, 0xfd]); // cli; hlt; jmp $-1

function mem(ramMiB = 8): { m: PhysMem; ram: number } {
  const ram = ramMiB * MiB;
  return { m: new PhysMem(ram + 4096), ram };
}
const u32 = (m: PhysMem, a: number): number => m.read32(a);
const cstr = (m: PhysMem, a: number): string => {
  let s = '';
  for (let p = a; m.read8(p) !== 0; p++) s += String.fromCharCode(m.read8(p));
  return s;
};

// ---- 3.1: finding the header ----

test('header: found at a 4-byte aligned offset with a good checksum (3.1.1, 3.1.2)', () => {
  const img = new Uint8Array(8192);
  img.set(mbHeader(3), 0x100);
  const h = findMultibootHeader(img);
  assert.ok(h);
  assert.is(h!.offset, 0x100);
  assert.is(h!.flags, 3);
  assert.is(h!.checksum, 0xe4524ffb); // -(0x1BADB002 + 3) mod 2^32
  assert.is(h!.address, undefined);
});

test('header: not recognized when misaligned, beyond 8192 bytes, or with a bad checksum', () => {
  const mis = new Uint8Array(8192); mis.set(mbHeader(0), 0x102);
  assert.is(findMultibootHeader(mis), undefined);
  const far = new Uint8Array(16384); far.set(mbHeader(0), 8192);
  assert.is(findMultibootHeader(far), undefined);
  const last = new Uint8Array(8192); last.set(mbHeader(0), 8192 - 12); // the last place a 12-byte header fits
  assert.is(findMultibootHeader(last)?.offset, 8180);
  const bad = new Uint8Array(4096); bad.set(mbHeader(0, undefined, 0x12345678), 0);
  assert.is(findMultibootHeader(bad), undefined);
  assert.throws(() => parseMultibootHeader(bad, 'bad.bin'), (e: Error) => e instanceof MultibootError && /bad\.bin: multiboot header at file offset 0x0 has a bad checksum 0x12345678.*expected 0xe4524ffe/.test(e.message));
  assert.throws(() => parseMultibootHeader(new Uint8Array(100), 'empty.bin'), (e: Error) => e instanceof MultibootError && /empty\.bin: no multiboot header/.test(e.message));
});

test('header: a stray magic with a bad checksum is skipped for a later valid header', () => {
  const img = new Uint8Array(4096);
  img.set(mbHeader(0, undefined, 1), 0x10);
  img.set(mbHeader(2), 0x40);
  assert.is(findMultibootHeader(img)?.offset, 0x40);
});

test('header: requirement bits this loader cannot meet are refused (3.1.2: bits 0-15)', () => {
  const v = new Uint8Array(64); v.set(mbHeader(4));
  assert.throws(() => parseMultibootHeader(v, 'video.bin'), (e: Error) => e instanceof MultibootError && /flags 0x4 \(bit 2: video mode/.test(e.message));
  const x = new Uint8Array(64); x.set(mbHeader(0x8));
  assert.throws(() => parseMultibootHeader(x, 'x.bin'), (e: Error) => /flags 0x8/.test(e.message));
  // Bits 16-31 are optional features: bit 17 is unknown but harmless.
  const o = new Uint8Array(64); o.set(mbHeader(0x20003));
  assert.is(parseMultibootHeader(o, 'o.bin').flags, 0x20003);
});

// ---- 3.3: the information structure ----

test('ELF32 image: segments at p_paddr, bss zeroed, entry = e_entry, EAX/EBX (3.2), info fields (3.3)', () => {
  const { m, ram } = mem(8);
  m.fill(0x200000 + 4, 0x100, 0xcc); // garbage where the bss goes
  const img = elf32([{ paddr: 0x100000, data: CODE }, { paddr: 0x200000, data: Uint8Array.of(1, 2, 3, 4), memsz: 0x104 }], 0x100000, mbHeader(3));
  const env = new TextEncoder().encode('NR_CPUS=1\nMEMSIZE=8\n');
  const L = loadMultiboot(m, img, { name: 'k.flat', ramBytes: ram, cmdline: 'console=ttyS0 x', modules: [{ data: env, string: 'env' }] });
  assert.is(L.format, 'elf');
  assert.is(L.entry, 0x100000);
  assert.is(L.eax, 0x2badb002);
  assert.is(L.infoAddr, MB_INFO_ADDR);
  assert.equal([...m.readBytes(0x100000, 4)], [...CODE]);
  assert.equal([...m.readBytes(0x200000, 4)], [1, 2, 3, 4]);
  assert.ok(m.readBytes(0x200004, 0x100).every((x) => x === 0), 'bss zero-filled');

  const I = L.infoAddr;
  // flags: mem_* (bit 0), cmdline (2), mods (3), mmap (6), boot_loader_name (9) = 0x24D
  assert.is(u32(m, I + 0), 0x24d);
  assert.is(u32(m, I + 4), 639);                 // mem_lower: 0x9FC00 bytes of conventional memory = 639 KiB
  assert.is(u32(m, I + 8), (8 * 1024) - 1024);   // mem_upper: KiB from 1 MiB to the top of 8 MiB = 7168
  assert.is(u32(m, I + 12), 0);                  // boot_device not provided (flags bit 1 clear)
  assert.is(cstr(m, u32(m, I + 16)), 'console=ttyS0 x');
  assert.is(u32(m, I + 20), 1);                  // mods_count
  const mods = u32(m, I + 24);
  // The module: page-aligned after the kernel's end (0x200104 -> 0x201000), end = start + size.
  assert.is(u32(m, mods + 0), 0x201000);
  assert.is(u32(m, mods + 4), 0x201000 + env.length);
  assert.is(cstr(m, u32(m, mods + 8)), 'env');
  assert.is(u32(m, mods + 12), 0);
  assert.equal([...m.readBytes(0x201000, env.length)], [...env]);
  // Memory map: three entries of 24 bytes (size field = 20).
  assert.is(u32(m, I + 44), 72);
  const mm = u32(m, I + 48);
  const entry = (k: number): number[] => {
    const p = mm + 24 * k;
    return [u32(m, p), m.read64(p + 4), m.read64(p + 12), u32(m, p + 20)];
  };
  assert.equal(entry(0), [20, 0, 0x9fc00, 1]);                      // conventional RAM
  assert.equal(entry(1), [20, 0x9fc00, 0x100000 - 0x9fc00, 2]);     // EBDA, VGA, ROMs: reserved
  assert.equal(entry(2), [20, 0x100000, 7 * MiB, 1]);               // RAM above 1 MiB
  assert.is(cstr(m, u32(m, I + 64)), 'hvtrace');                   // boot_loader_name
  // The unused fields (syms, drives, config table, APM, VBE, framebuffer) are zero.
  for (const off of [28, 32, 36, 40, 52, 56, 60, 68, 72, 76, 80, 84, 88, 112]) assert.is(u32(m, I + off), 0, `offset ${off}`);
  // Everything lies in conventional memory, below the EBDA.
  assert.ok(L.infoEnd <= 0x9fc00);
});

test('no command line: cmdline still points at an empty string (flags bit 2 set); no modules: mods_count 0', () => {
  const { m, ram } = mem(4);
  const L = loadMultiboot(m, elf32([{ paddr: 0x400000 - 0x1000, data: CODE }], 0x3ff000, mbHeader(0)), { name: 'k', ramBytes: ram });
  assert.ok(u32(m, L.infoAddr) & 4);
  const p = u32(m, L.infoAddr + 16);
  assert.ok(p !== 0);
  assert.is(m.read8(p), 0);
  assert.is(u32(m, L.infoAddr + 20), 0);
});

test('ELF entry in a segment with p_vaddr != p_paddr is translated to the physical address', () => {
  const { m, ram } = mem(4);
  const L = loadMultiboot(m, elf32([{ paddr: 0x100000, vaddr: 0xc0100000, data: CODE }], 0xc0100002, mbHeader(0)), { name: 'k', ramBytes: ram });
  assert.is(L.entry, 0x100002);
});

test('an ELF64 image loads too (3.1.1 allows any ELF; the entry must be below 4 GiB)', () => {
  // Smallest ELF64: header + one PT_LOAD.
  const b = new Uint8Array(0x1000 + CODE.length);
  const dv = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  dv.setUint16(16, 2, true); dv.setUint16(18, 62, true); dv.setUint32(20, 1, true);
  dv.setBigUint64(24, 0x100000n, true); dv.setBigUint64(32, 64n, true);
  dv.setUint16(52, 64, true); dv.setUint16(54, 56, true); dv.setUint16(56, 1, true);
  dv.setUint32(64, 1, true); dv.setUint32(68, 5, true);
  dv.setBigUint64(72, 0x1000n, true); dv.setBigUint64(80, 0x100000n, true); dv.setBigUint64(88, 0x100000n, true);
  dv.setBigUint64(96, BigInt(CODE.length), true); dv.setBigUint64(104, BigInt(CODE.length), true);
  b.set(mbHeader(2), 0x200);
  b.set(CODE, 0x1000);
  const { m, ram } = mem(4);
  const L = loadMultiboot(m, b, { name: 'k64', ramBytes: ram });
  assert.is(L.entry, 0x100000);
  assert.equal([...m.readBytes(0x100000, 4)], [...CODE]);
});

// ---- 3.1.3: the a.out kludge ----

test('a.out kludge (flag 16): load from header offset - (header_addr - load_addr), bss to bss_end_addr, entry_addr', () => {
  // A flat binary: header at file offset 0x20, meant to sit at 0x100020; text starts at file offset 0 = 0x100000.
  const img = new Uint8Array(0x200);
  img.set(mbHeader(0x10000, [0x100020, 0x100000, 0x100100, 0x102000, 0x100080]), 0x20);
  img.set(CODE, 0x80);
  img[0x1ff] = 0xee; // beyond load_end_addr: not loaded
  const { m, ram } = mem(4);
  m.fill(0x100100, 0x1f00, 0xaa);
  const L = loadMultiboot(m, img, { name: 'flat.bin', ramBytes: ram });
  assert.is(L.format, 'aout');
  assert.is(L.entry, 0x100080);
  assert.equal([...m.readBytes(0x100080, 4)], [...CODE]);
  assert.is(m.read32(0x100020), 0x1badb002);         // the header itself lands at header_addr
  assert.ok(m.readBytes(0x100100, 0x1f00).every((x) => x === 0), 'bss zeroed up to bss_end_addr');
  assert.equal(L.segments, [{ start: 0x100000, end: 0x102000 }]);
});

test('a.out kludge: load_end_addr 0 loads the rest of the file; bss_end_addr 0 means no bss', () => {
  const img = new Uint8Array(0x300);
  img.set(mbHeader(0x10000, [0x200000, 0x200000, 0, 0, 0x200040]), 0);
  img[0x2ff] = 0x5a;
  const { m, ram } = mem(4);
  m.write8(0x200300, 0x77);
  const L = loadMultiboot(m, img, { name: 'f', ramBytes: ram });
  assert.equal(L.segments, [{ start: 0x200000, end: 0x200300 }]);
  assert.is(m.read8(0x2002ff), 0x5a);
  assert.is(m.read8(0x200300), 0x77, 'nothing past the file is touched');
});

test('a.out kludge errors: load_addr above header_addr, data past the end of the file, image beyond RAM', () => {
  const { m, ram } = mem(4);
  const mk = (f: number[]): Uint8Array => { const b = new Uint8Array(0x100); b.set(mbHeader(0x10000, f), 0); return b; };
  assert.throws(() => loadMultiboot(m, mk([0x100000, 0x100010, 0, 0, 0x100010]), { name: 'a', ramBytes: ram }), /load_addr 0x100010 is above header_addr 0x100000/);
  assert.throws(() => loadMultiboot(m, mk([0x100000, 0x100000, 0x101000, 0, 0x100000]), { name: 'a', ramBytes: ram }), /past the end of the file/);
  assert.throws(() => loadMultiboot(m, mk([0x100000, 0x100000, 0, 0x500000, 0x100000]), { name: 'a', ramBytes: ram }), /does not fit in 4 MiB/);
  // Without flag 16 the image must be ELF.
  const notElf = new Uint8Array(0x100); notElf.set(mbHeader(0), 0);
  assert.throws(() => loadMultiboot(m, notElf, { name: 'raw', ramBytes: ram }), (e: Error) => e instanceof MultibootError && /does not set flag 16.*no ELF magic/.test(e.message));
});

// ---- errors ----

test('errors: a segment beyond RAM, a module that does not fit, an image over the info area; memory untouched', () => {
  const { m, ram } = mem(4);
  const seg = elf32([{ paddr: 0x3ff000, data: CODE, memsz: 0x2000 }], 0x3ff000, mbHeader(0));
  assert.throws(() => loadMultiboot(m, seg, { name: 'big', ramBytes: ram }), (e: Error) => e instanceof MultibootError && /big: segment of program header 0 at paddr 0x3ff000 \(memsz 0x2000\) does not fit in 4 MiB/.test(e.message));
  const k = elf32([{ paddr: 0x100000, data: CODE }], 0x100000, mbHeader(1));
  assert.throws(() => loadMultiboot(m, k, { name: 'k', ramBytes: ram, modules: [{ data: new Uint8Array(3 * MiB + 1), string: 'huge.img' }] }),
    (e: Error) => e instanceof MultibootError && /module 0 \(huge\.img\) of 3145729 bytes does not fit in guest RAM/.test(e.message));
  assert.is(m.read32(0x100000), 0, 'nothing was loaded');
  const low = elf32([{ paddr: 0x6000, data: CODE }], 0x6000, mbHeader(0));
  assert.throws(() => loadMultiboot(m, low, { name: 'low', ramBytes: ram }), /overlaps the multiboot information at 0x6000/);
  assert.throws(() => loadMultiboot(m, k, { name: 'k', ramBytes: ram, cmdline: 'a\0b' }), /command line contains a NUL byte/);
  assert.throws(() => loadMultiboot(m, k, { name: 'k', ramBytes: ram, cmdline: 'x'.repeat(0x9fc00) }), /does not fit below 0x9fc00/);
});

test('module placement: several modules, each on its own 4 KiB boundary, in order', () => {
  const { m, ram } = mem(8);
  const k = elf32([{ paddr: 0x100000, data: CODE }], 0x100000, mbHeader(1));
  const L = loadMultiboot(m, k, { name: 'k', ramBytes: ram, modules: [{ data: new Uint8Array(5000).fill(1) }, { data: Uint8Array.of(9), string: 'b' }] });
  assert.equal(L.modules.map((x) => [x.start, x.end]), [[0x101000, 0x101000 + 5000], [0x103000, 0x103001]]);
  assert.is(L.modules[0]!.string, 0, 'no string: 0 (3.3)');
  assert.is(u32(m, L.modsAddr + 16), 0x103000);
});

// ---- protocol detection ----

test('detectBootProtocol: PVH note first, else multiboot header, else an error naming both', () => {
  const mb = elf32([{ paddr: 0x100000, data: CODE }], 0x100000, mbHeader(0));
  assert.is(detectBootProtocol(mb, 'mb'), 'multiboot');
  const none = elf32([{ paddr: 0x100000, data: CODE }], 0x100000, null);
  assert.throws(() => detectBootProtocol(none, 'plain.elf'), (e: Error) => e instanceof MultibootError && /plain\.elf has no Xen PVH entry note .* and no multiboot header/.test(e.message));
  assert.throws(() => detectBootProtocol(new TextEncoder().encode('hello'), 'notes.txt'), /notes\.txt is not an ELF file .* no multiboot header/);
  // A flat a.out-kludge image is not ELF at all but is multiboot.
  const flat = new Uint8Array(0x100); flat.set(mbHeader(0x10000, [0x100000, 0x100000, 0, 0, 0x100000]), 0);
  assert.is(detectBootProtocol(flat, 'flat'), 'multiboot');
  // A broken ELF without a multiboot header reports the ELF problem.
  const broken = Uint8Array.of(0x7f, 0x45, 0x4c, 0x46, 9);
  assert.throws(() => detectBootProtocol(broken, 'broken.elf'), (e: Error) => e instanceof ElfError);
});

test.run();
