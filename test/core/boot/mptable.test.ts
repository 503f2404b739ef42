import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PhysMem } from '../../../core/memory/physmem.js';
import { writeMpTable, MpTableError, DEFAULT_ISA_IRQS } from '../../../core/boot/mptable.js';
import { siliconCpuid } from '../../../core/cpu/cpuid.js';

// Offsets are the MultiProcessor Specification 1.4's (Tables 4-1 to 4-8),
// written as literals here.

function sum(mem: PhysMem, at: number, len: number): number {
  let s = 0;
  for (let i = 0; i < len; i++) s = (s + mem.read8(at + i)) & 0xff;
  return s;
}
function str(mem: PhysMem, at: number, len: number): string {
  return String.fromCharCode(...mem.readBytes(at, len));
}
function entry8(mem: PhysMem, at: number): number[] {
  return Array.from(mem.readBytes(at, 8));
}

/** What Linux's smp_scan_config does: "_MP_" on 16-byte boundaries, length 1, revision 1 or 4, checksum 0. */
function scan(mem: PhysMem, from: number, to: number): number {
  for (let p = from; p + 16 <= to; p += 16) {
    if (str(mem, p, 4) !== '_MP_') continue;
    if (mem.read8(p + 8) !== 1 || sum(mem, p, 16) !== 0) continue;
    const rev = mem.read8(p + 9);
    if (rev === 1 || rev === 4) return p;
  }
  return -1;
}

test('floating pointer and header of the default single-CPU table', () => {
  const mem = new PhysMem(0x100000);
  const l = writeMpTable(mem, 0xf0000, { ioapicId: 1, cpuFeatures: 0x0789abcd, pciIrqs: [{ device: 1, intPin: 0, pin: 11 }] });
  assert.is(scan(mem, 0xf0000, 0x100000), 0xf0000);
  // floating pointer (Table 4-1)
  assert.is(str(mem, 0xf0000, 4), '_MP_');
  assert.is(mem.read32(0xf0004), 0xf0010, 'configuration table right after it');
  assert.is(mem.read8(0xf0008), 1, 'length in paragraphs');
  assert.is(mem.read8(0xf0009), 4, 'revision 1.4');
  assert.is(sum(mem, 0xf0000, 16), 0, 'floating pointer checksum');
  assert.is(mem.read8(0xf000b), 0, 'feature 1: table present');
  assert.is(mem.read8(0xf000c), 0, 'feature 2: IMCRP clear, virtual-wire mode');
  assert.is(mem.read8(0xf000d) | mem.read8(0xf000e) | mem.read8(0xf000f), 0);
  // header (Table 4-2): 1 CPU (20) + 2 buses + 1 I/O APIC + 15 ISA + 1 PCI + 2 local (8 each) = 44 + 20 + 21 * 8
  const t = 0xf0010;
  const baseLength = 44 + 20 + 21 * 8;
  assert.is(str(mem, t, 4), 'PCMP');
  assert.is(mem.read16(t + 4), baseLength);
  assert.is(mem.read8(t + 6), 4);
  assert.is(sum(mem, t, baseLength), 0, 'base table checksum');
  assert.is(str(mem, t + 8, 8), 'HVTRACE ');
  assert.is(str(mem, t + 16, 12), 'HVTRACE VM  ');
  assert.is(mem.read32(t + 28), 0, 'no OEM table');
  assert.is(mem.read16(t + 32), 0);
  assert.is(mem.read16(t + 34), 22, 'entry count');
  assert.is(mem.read32(t + 36), 0xfee00000);
  assert.is(mem.read16(t + 40), 0, 'no extended entries');
  assert.is(mem.read8(t + 42), 0, 'extended checksum 0 when absent');
  assert.is(mem.read8(t + 43), 0);
  assert.equal(l, { floatingPointer: 0xf0000, table: t, baseLength, extendedLength: 0, entryCount: 22, pciBusId: 0, isaBusId: 1, end: t + baseLength });
});

test('base entries at their spec offsets: processor, buses, I/O APIC, interrupts', () => {
  const mem = new PhysMem(0x100000);
  writeMpTable(mem, 0xf0000, { ioapicId: 1, cpuFeatures: 0x0789abcd, pciIrqs: [{ device: 1, intPin: 0, pin: 11 }, { device: 3, intPin: 2, pin: 17 }] });
  const t = 0xf0010;
  // processor entry (Table 4-4), +44
  assert.is(mem.read8(t + 44), 0);
  assert.is(mem.read8(t + 45), 0, 'local APIC ID');
  assert.is(mem.read8(t + 46), 0x14, 'local APIC version');
  assert.is(mem.read8(t + 47), 0x03, 'EN | BP');
  assert.is(mem.read32(t + 48), 0x000506e3, 'CPU signature: family 6, model 5Eh, stepping 3 (CPUID.01H:EAX)');
  assert.is(mem.read32(t + 52), 0x0789abcd, 'feature flags');
  assert.is(mem.read32(t + 56) | mem.read32(t + 60), 0, 'reserved');
  // bus entries (Table 4-5), +64 and +72
  assert.equal(entry8(mem, t + 64), [1, 0, 0x50, 0x43, 0x49, 0x20, 0x20, 0x20], 'bus 0 "PCI   "');
  assert.equal(entry8(mem, t + 72), [1, 1, 0x49, 0x53, 0x41, 0x20, 0x20, 0x20], 'bus 1 "ISA   "');
  // I/O APIC entry (Table 4-6), +80
  assert.equal(entry8(mem, t + 80), [2, 1, 0x11, 0x01, 0x00, 0x00, 0xc0, 0xfe]);
  // I/O interrupt entries (Table 4-7) from +88: ISA IRQ 0 → INTIN2, IRQ 1 → 1, IRQ 3 → 3 (no IRQ 2) ...
  assert.equal(entry8(mem, t + 88), [3, 0, 0, 0, 1, 0, 1, 2], 'IRQ0 → INTIN2, conforming flags');
  assert.equal(entry8(mem, t + 96), [3, 0, 0, 0, 1, 1, 1, 1]);
  assert.equal(entry8(mem, t + 104), [3, 0, 0, 0, 1, 3, 1, 3], 'IRQ 2 (cascade) is skipped');
  assert.equal(entry8(mem, t + 200), [3, 0, 0, 0, 1, 15, 1, 15], '15th ISA entry: IRQ 15');
  // PCI: level, active low (flags 0x0F); source IRQ = device << 2 | INTx#
  assert.equal(entry8(mem, t + 208), [3, 0, 0x0f, 0, 0, 0x04, 1, 11], '00:01 INTA# → INTIN11');
  assert.equal(entry8(mem, t + 216), [3, 0, 0x0f, 0, 0, 0x0e, 1, 17], '00:03 INTC# → INTIN17');
  // local interrupt entries (Table 4-8): ExtINT → LINTIN0, NMI → LINTIN1, all local APICs
  assert.equal(entry8(mem, t + 224), [4, 3, 0, 0, 1, 0, 0xff, 0]);
  assert.equal(entry8(mem, t + 232), [4, 1, 0, 0, 1, 0, 0xff, 1]);
  assert.is(mem.read16(t + 4), 240);
  assert.is(sum(mem, t, 240), 0);
});

test('parse back by walking the entries', () => {
  const mem = new PhysMem(0x100000);
  writeMpTable(mem, 0xffd00, { ioapicId: 2, cpus: 3, apicId: 4 });
  const fp = scan(mem, 0xf0000, 0x100000);
  assert.is(fp, 0xffd00);
  const t = mem.read32(fp + 4);
  const count = mem.read16(t + 34);
  const types: number[] = [];
  const cpus: [number, number][] = [];
  let p = t + 44;
  for (let i = 0; i < count; i++) {
    const type = mem.read8(p);
    types.push(type);
    if (type === 0) cpus.push([mem.read8(p + 1), mem.read8(p + 3)]);
    p += type === 0 ? 20 : 8;
  }
  assert.is(p, t + mem.read16(t + 4), 'entries end at the base table length');
  assert.equal(cpus, [[4, 3], [5, 1], [6, 1]], 'APIC IDs 4, 5, 6; only the first is the BSP');
  for (let i = 1; i < types.length; i++) assert.ok(types[i]! >= types[i - 1]!, 'ascending entry types');
  assert.is(types.filter((x) => x === 3).length, DEFAULT_ISA_IRQS.length);
  assert.is(DEFAULT_ISA_IRQS.length, 15);
  assert.is(sum(mem, t, mem.read16(t + 4)), 0);
});

test('extended entries (type 128) and the extended table checksum', () => {
  const mem = new PhysMem(0x100000);
  const l = writeMpTable(mem, 0xf0000, {
    ioapicId: 1,
    addressSpaces: [
      { busId: 0, type: 1, base: 0xc0000000, length: 0x3ec00000 },
      { busId: 0, type: 0, base: 0, length: 0x10000 },
      { busId: 0, type: 2, base: 0x8_0000_0000, length: 0x1_0000_0000 },
    ],
  });
  const t = 0xf0010;
  const base = mem.read16(t + 4);
  assert.is(base, 44 + 20 + 3 * 8 + 17 * 8, 'no PCI IRQs: 15 ISA + 2 local');
  assert.is(mem.read16(t + 40), 60);
  assert.is(l.extendedLength, 60);
  assert.is(l.end, t + base + 60);
  const e = t + base;
  assert.equal(Array.from(mem.readBytes(e, 4)), [128, 20, 0, 1]);
  assert.is(mem.read64(e + 4), 0xc0000000);
  assert.is(mem.read64(e + 12), 0x3ec00000);
  assert.equal(Array.from(mem.readBytes(e + 20, 4)), [128, 20, 0, 0]);
  assert.is(mem.read64(e + 44), 0x8_0000_0000);
  assert.is(mem.read64(e + 52), 0x1_0000_0000);
  assert.is((sum(mem, e, 60) + mem.read8(t + 42)) & 0xff, 0, 'extended checksum: entries + checksum byte = 0');
  assert.ok(mem.read8(t + 42) !== 0);
  assert.is(sum(mem, t, base), 0, 'base checksum covers the extended checksum byte');
});

test('without PCI: one ISA bus with ID 0; custom ISA routing and flags', () => {
  const mem = new PhysMem(0x100000);
  const l = writeMpTable(mem, 0x9fc00, {
    ioapicId: 0, pci: false, ioapicAddr: 0xfec01000, oemId: 'ACME', productId: 'BOX',
    isaIrqs: [{ irq: 0, pin: 2 }, { irq: 9, pin: 9, flags: 0x0d }],
  });
  assert.is(scan(mem, 0x9fc00, 0xa0000), 0x9fc00, 'last KiB of base memory');
  const t = 0x9fc10;
  assert.is(l.isaBusId, 0);
  assert.is(l.pciBusId, -1);
  assert.is(str(mem, t + 8, 8), 'ACME    ');
  assert.is(str(mem, t + 16, 12), 'BOX         ');
  assert.equal(entry8(mem, t + 64), [1, 0, 0x49, 0x53, 0x41, 0x20, 0x20, 0x20]);
  assert.equal(entry8(mem, t + 72), [2, 0, 0x11, 0x01, 0x00, 0x10, 0xc0, 0xfe]);
  assert.equal(entry8(mem, t + 80), [3, 0, 0, 0, 0, 0, 0, 2]);
  assert.equal(entry8(mem, t + 88), [3, 0, 0x0d, 0, 0, 9, 0, 9], 'level, active high');
  assert.equal(entry8(mem, t + 96), [4, 3, 0, 0, 0, 0, 0xff, 0]);
  assert.equal(entry8(mem, t + 104), [4, 1, 0, 0, 0, 0, 0xff, 1]);
  assert.is(mem.read16(t + 4), 112);
  assert.is(mem.read16(t + 34), 7);
  assert.is(sum(mem, t, 112), 0);
});

test('separate table address; default CPU identification from this silicon', () => {
  const mem = new PhysMem(0x100000);
  const l = writeMpTable(mem, 0xf5a50, { ioapicId: 1, tableAt: 0xe0000 });
  assert.is(mem.read32(0xf5a54), 0xe0000);
  assert.is(l.table, 0xe0000);
  assert.is(str(mem, 0xe0000, 4), 'PCMP');
  assert.is(mem.read32(0xe0000 + 52), siliconCpuid(1, 0).edx >>> 0);
  assert.is(sum(mem, 0xe0000, mem.read16(0xe0004)), 0);
  assert.is(sum(mem, 0xf5a50, 16), 0);
});

test('placement and argument errors leave memory untouched', () => {
  const mem = new PhysMem(0x100000);
  const bad: [number, object, RegExp][] = [
    [0xf0008, {}, /16-byte aligned/],
    [0x9f000, {}, /neither in the BIOS area/],
    [0xefff0, {}, /neither in the BIOS area/],
    [0xffff8 & ~15, { tableAt: 0xffff0 }, /overlaps/],
    [0xffff0, {}, /do not fit/],
    [0xf0000, { cpus: 0 }, /CPU count/],
    [0xf0000, { apicId: 255, cpus: 2 }, /first local APIC ID/],
    [0xf0000, { pci: false, pciIrqs: [{ device: 1, intPin: 0, pin: 11 }] }, /PCI bus is disabled/],
    [0xf0000, { pciIrqs: [{ device: 32, intPin: 0, pin: 11 }] }, /device/],
    [0xf0000, { pciIrqs: [{ device: 1, intPin: 4, pin: 11 }] }, /interrupt pin/],
    [0xf0000, { isaIrqs: [{ irq: 16, pin: 16 }] }, /irq/],
    [0xf0000, { oemId: 'TOO LONG ID' }, /OEM ID/],
    [0xf0000, { productId: 'caf\u00e9' }, /product ID/],
    [0xf0000, { addressSpaces: [{ busId: 0, type: 3, base: 0, length: 1 }] }, /type/],
  ];
  for (const [at, extra, re] of bad) {
    assert.throws(() => writeMpTable(mem, at, { ioapicId: 1, ...extra }), (e: unknown) => e instanceof MpTableError && re.test((e as Error).message), `${at.toString(16)} ${JSON.stringify(extra)}`);
  }
  assert.is(sum(mem, 0xe0000, 0x20000), 0);
  assert.is(mem.readBytes(0xe0000, 0x20000).some((b) => b !== 0), false);
  const small = new PhysMem(0x80000);
  assert.throws(() => writeMpTable(small, 0x7ffa0, { ioapicId: 1, baseMemoryEnd: 0x80000 }), /do not fit/, 'table would cross the end of a 512-KiB memory');
});

test.run();
