import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeStartInfo, defaultMemmap, PvhError } from '../../../core/boot/pvh.js';
import { PhysMem } from '../../../core/memory/physmem.js';

const MiB = 1024 * 1024;
const isPvhError = (re: RegExp) => (e: unknown): boolean => e instanceof PvhError && re.test(e.message);
const cstr = (mem: PhysMem, pa: number): string => {
  let s = '';
  for (let c = mem.read8(pa); c !== 0; c = mem.read8(++pa)) s += String.fromCharCode(c);
  return s;
};

test('defaultMemmap: low RAM, legacy hole, high RAM', () => {
  assert.equal(defaultMemmap(64 * MiB), [
    { addr: 0, size: 0x9fc00, type: 1 },
    { addr: 0x9fc00, size: 0x100000 - 0x9fc00, type: 2 },
    { addr: 0x100000, size: 64 * MiB - 0x100000, type: 1 },
  ]);
  assert.throws(() => defaultMemmap(MiB), isPvhError(/must extend above 1 MiB/));
  assert.throws(() => defaultMemmap(4096 * MiB), isPvhError(/overlaps the 32-bit MMIO window/));
});

test('writeStartInfo: full layout decoded at hand-computed offsets', () => {
  const mem = new PhysMem(2 * MiB);
  mem.fill(0, mem.size, 0xcc);
  const r = writeStartInfo(mem, {
    at: 0x6000,
    cmdline: 'console=ttyS0',
    modules: [{ paddr: 0x800000, size: 0x1234, cmdline: 'initrd' }],
    memmap: defaultMemmap(64 * MiB),
  });
  // start_info 0x6000..0x6038 (56 bytes); memmap 3 x 24 = 0x48 -> 0x6038..0x6080;
  // modlist 1 x 32 -> 0x6080..0x60a0; "console=ttyS0\0" (14) at 0x60a0; "initrd\0" (7) at 0x60ae; end 0x60b5.
  assert.equal(r, { startInfoPaddr: 0x6000, memmapPaddr: 0x6038, modlistPaddr: 0x6080, cmdlinePaddr: 0x60a0, end: 0x60b5 });

  assert.is(mem.read32(0x6000), 0x336ec578); // magic
  assert.equal([...mem.readBytes(0x6000, 4)], [0x78, 0xc5, 0x6e, 0x33]); // little-endian on the wire
  assert.is(mem.read32(0x6004), 1); // version
  assert.is(mem.read32(0x6008), 0); // flags
  assert.is(mem.read32(0x600c), 1); // nr_modules
  assert.is(mem.read64(0x6010), 0x6080); // modlist_paddr
  assert.is(mem.read64(0x6018), 0x60a0); // cmdline_paddr
  assert.is(mem.read64(0x6020), 0); // rsdp_paddr
  assert.is(mem.read64(0x6028), 0x6038); // memmap_paddr
  assert.is(mem.read32(0x6030), 3); // memmap_entries
  assert.is(mem.read32(0x6034), 0); // reserved

  // memmap entries: u64 addr, u64 size, u32 type, u32 reserved
  assert.is(mem.read64(0x6038), 0);
  assert.is(mem.read64(0x6040), 0x9fc00);
  assert.is(mem.read32(0x6048), 1);
  assert.is(mem.read32(0x604c), 0);
  assert.is(mem.read64(0x6050), 0x9fc00);
  assert.is(mem.read64(0x6058), 0x60400);
  assert.is(mem.read32(0x6060), 2);
  assert.is(mem.read64(0x6068), 0x100000);
  assert.is(mem.read64(0x6070), 0x3f00000);
  assert.is(mem.read32(0x6078), 1);

  // module entry: paddr, size, cmdline_paddr, reserved
  assert.is(mem.read64(0x6080), 0x800000);
  assert.is(mem.read64(0x6088), 0x1234);
  assert.is(mem.read64(0x6090), 0x60ae);
  assert.is(mem.read64(0x6098), 0);

  assert.is(cstr(mem, 0x60a0), 'console=ttyS0');
  assert.is(cstr(mem, 0x60ae), 'initrd');
  assert.is(mem.read8(0x60b5), 0xcc, 'nothing written past end');
  assert.is(mem.read8(0x5fff), 0xcc, 'nothing written before at');
});

test('writeStartInfo: no cmdline, no modules -> zero addresses; module without cmdline', () => {
  const mem = new PhysMem(MiB);
  const r = writeStartInfo(mem, { at: 0x1000, memmap: [{ addr: 0, size: 0x80000, type: 1 }], rsdpPaddr: 0xe0000 });
  assert.equal(r, { startInfoPaddr: 0x1000, memmapPaddr: 0x1038, modlistPaddr: 0, cmdlinePaddr: 0, end: 0x1050 });
  assert.is(mem.read32(0x100c), 0);
  assert.is(mem.read64(0x1010), 0);
  assert.is(mem.read64(0x1018), 0);
  assert.is(mem.read64(0x1020), 0xe0000);
  assert.is(mem.read32(0x1030), 1);

  const r2 = writeStartInfo(mem, { at: 0x2000, memmap: [{ addr: 0, size: 0x80000, type: 1 }], modules: [{ paddr: 0x40000, size: 10 }] });
  // 0x2000 + 56 + 24 = 0x2050 modlist, + 32 = 0x2070 end
  assert.equal(r2, { startInfoPaddr: 0x2000, memmapPaddr: 0x2038, modlistPaddr: 0x2050, cmdlinePaddr: 0, end: 0x2070 });
  assert.is(mem.read64(0x2050 + 16), 0, 'module cmdline_paddr absent');
});

test('writeStartInfo: invalid requests are PvhErrors and write nothing', () => {
  const mem = new PhysMem(0x10000);
  const mm = [{ addr: 0, size: 0x10000, type: 1 }];
  assert.throws(() => writeStartInfo(mem, { at: 0x1004, memmap: mm }), isPvhError(/8-byte aligned/));
  assert.throws(() => writeStartInfo(mem, { at: 0, memmap: mm }), isPvhError(/non-zero/));
  assert.throws(() => writeStartInfo(mem, { at: 0x1000, memmap: [] }), isPvhError(/memory map is empty/));
  assert.throws(() => writeStartInfo(mem, { at: 0xffd0, memmap: mm }), isPvhError(/past the end of guest memory/));
  assert.throws(() => writeStartInfo(mem, { at: 0x1000, memmap: mm, cmdline: 'a\0b' }), isPvhError(/contains a NUL byte/));
  assert.throws(() => writeStartInfo(mem, { at: 0x1000, memmap: [{ addr: -1, size: 1, type: 1 }] }), isPvhError(/entry 0 addr/));
  assert.ok(mem.readBytes(0, mem.size).every((b) => b === 0));
});

test.run();
