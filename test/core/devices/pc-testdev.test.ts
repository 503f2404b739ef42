// QEMU pc-testdev (core/devices/pc-testdev.ts). Expected values from QEMU's
// hw/misc/pc-testdev.c semantics: ports 0xE0-0xE3 a 32-bit little-endian
// latch addressed by byte offset, 0xE8 the same latch byte-wise, 0xE4 flush
// page (4-byte writes), 0x2000 + n sets IRQ line n to (value != 0) on 1-byte
// writes, a 64 KiB buffer of plain memory at 0xFF000000.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PcTestdev, TESTDEV_IOMEM_BASE } from '../../../core/devices/pc-testdev.js';
import { Machine } from '../../../core/hv/machine.js';
import { configurePvhGuest } from '../../../core/hv/setup.js';

function make() {
  const irqs: [number, boolean][] = [];
  const flushed: number[] = [];
  const d = new PcTestdev({ irq: (l, v) => irqs.push([l, v]), flushPage: (p) => flushed.push(p) });
  return { d, irqs, flushed };
}

test('latch 0xE0: a dword write reads back as bytes, words and the dword', () => {
  const { d } = make();
  d.writeLatch(0, 4, 0x12345678);
  assert.equal([0, 1, 2, 3].map((o) => d.readLatch(o, 1)), [0x78, 0x56, 0x34, 0x12]);
  assert.is(d.readLatch(0, 2), 0x5678);
  assert.is(d.readLatch(2, 2), 0x1234);
  assert.is(d.readLatch(0, 4), 0x12345678);
  d.writeLatch(1, 1, 0xab);       // a byte write changes only its byte
  assert.is(d.readLatch(0, 4), 0x1234ab78);
  d.writeLatch(2, 2, 0xcdef);
  assert.is(d.readLatch(0, 4), 0xcdefab78);
  assert.is(d.readLatch(3, 2), 0xcd, 'bytes beyond the latch read 0');
});

test('byte port 0xE8 reaches the same latch; REP OUTSB-like byte writes at offset 0 keep the last byte', () => {
  const { d } = make();
  const [lat, , byte] = d.ports();
  lat!.dev.write(0, 4, 0xa1b2c3d4);
  assert.is(byte!.dev.read(0, 1), 0xd4);
  assert.is(byte!.dev.read(0, 4), 0xa1b2c3d4);
  for (const ch of 'abcd') lat!.dev.write(0, 1, ch.charCodeAt(0));
  assert.is(lat!.dev.read(0, 1), 'd'.charCodeAt(0));
  assert.is(lat!.dev.read(0, 4), 0xa1b2c364);
});

test('flush page 0xE4: a dword write reports the page; other sizes are ignored; reads 0', () => {
  const { d, flushed } = make();
  const [, fl] = d.ports();
  fl!.dev.write(0, 4, 0x12345678);
  fl!.dev.write(0, 2, 0x1000);
  fl!.dev.write(0, 1, 0x10);
  assert.equal(flushed, [0x12345000]);
  assert.equal(d.flushes, [0x12345678]);
  assert.is(fl!.dev.read(0, 4), 0);
});

test('IRQ lines 0x2000-0x2017: byte writes set line n to value != 0; wider writes ignored', () => {
  const { d, irqs } = make();
  const irq = d.ports()[3]!;
  assert.equal([irq.base, irq.len], [0x2000, 24]);
  irq.dev.write(0x0e, 1, 1);
  irq.dev.write(0x0e, 1, 0);
  irq.dev.write(0x17, 1, 0x80);
  irq.dev.write(0x05, 2, 1);
  irq.dev.write(0x05, 4, 1);
  assert.equal(irqs, [[14, true], [14, false], [23, true]]);
  assert.is(d.lines[23], 1);
  assert.is(irq.dev.read(0x0e, 1), 0);
});

test('MMIO buffer: little-endian plain memory, 64 KiB, zero at reset', () => {
  const { d } = make();
  assert.ok(d.claims(TESTDEV_IOMEM_BASE) && d.claims(TESTDEV_IOMEM_BASE + 0xffff));
  assert.not.ok(d.claims(TESTDEV_IOMEM_BASE + 0x10000) || d.claims(TESTDEV_IOMEM_BASE - 1));
  assert.is(d.readMem(0x100, 4), 0);
  d.writeMem(0xfffe, 2, 0xbeef);
  assert.is(d.readMem(0xffff, 1), 0xbe);
  assert.is(d.readMem(0xfffe, 4), 0xbeef, 'bytes past the end read 0');
  d.writeMem(0x10, 4, 0xdeadbeef);
  assert.is(d.readMem(0x12, 2), 0xdead);
});

test('platform wiring: lines 0-15 reach the 8259 and the I/O APIC (IRQ 0 on pin 2), 16-23 the I/O APIC only', () => {
  const m = new Machine({ memMiB: 4 });
  const pic: [number, boolean][] = [], apic: [number, boolean][] = [];
  const ps = m.pc.pic.setIrq.bind(m.pc.pic), as = m.pc.ioapic.setIrq.bind(m.pc.ioapic);
  m.pc.pic.setIrq = (l, v) => { pic.push([l, v]); ps(l, v); };
  m.pc.ioapic.setIrq = (l, v) => { apic.push([l, v]); as(l, v); };
  m.io.write(0x2000, 1, 1);
  m.io.write(0x2005, 1, 1);
  m.io.write(0x2011, 1, 1);
  assert.equal(pic, [[0, true], [5, true]]);
  assert.equal(apic, [[2, true], [5, true], [17, true]]);
});

test('platform wiring: the buffer answers at 0xFF000000 through the MMIO emulator (32-bit guest, paging off)', () => {
  const m = new Machine({ memMiB: 4, maxInstructions: 1000 });
  // mov dword [0xff000004], 0x11223344 ; mov ax, [0xff000006] ; mov [0x2000], eax ; out 0xf4, al
  const code = [0xc7, 0x05, 0x04, 0x00, 0x00, 0xff, 0x44, 0x33, 0x22, 0x11,
    0x66, 0xa1, 0x06, 0x00, 0x00, 0xff,
    0xa3, 0x00, 0x20, 0x00, 0x00,
    0xe6, 0xf4];
  m.mem.writeBytes(0x100000, Uint8Array.from(code));
  configurePvhGuest(m.vmx, { rip: 0x100000, rbx: 0 });
  const r = m.run();
  assert.is(r.stop.kind, 'exit-code', r.stop.message);
  assert.is(m.mem.read16(0x2000), 0x1122);
  assert.is(m.pc.testdev.readMem(4, 4), 0x11223344);
  assert.is(r.exits.get(48), 2, 'two EPT violations, one per MMIO access');
});

test.run();
