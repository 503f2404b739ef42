import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IoApic, type IoApicOptions } from '../../../core/devices/ioapic.js';
import { Lapic } from '../../../core/devices/lapic.js';

// Offsets, indices and bit values are literal numbers from the 82093AA
// datasheet, not the module's constants.
const IOREGSEL = 0x00, IOWIN = 0x10;
const REG_ID = 0x00, REG_VER = 0x01, REG_ARB = 0x02;
const redLo = (pin: number): number => 0x10 + 2 * pin;
const redHi = (pin: number): number => 0x11 + 2 * pin;

type Msg = [vector: number, level: boolean, destination: number, logical: boolean, mode: number, pin: number];

function make(opts: Omit<IoApicOptions, 'deliver'> = {}) {
  const sent: Msg[] = [];
  const io = new IoApic({ ...opts, deliver: (...m) => { sent.push(m); } });
  const rd = (index: number): number => { io.write(IOREGSEL, 4, index); return io.read(IOWIN, 4); };
  const wr = (index: number, v: number): void => { io.write(IOREGSEL, 4, index); io.write(IOWIN, 4, v); };
  return { io, sent, rd, wr };
}

test('reset values through IOREGSEL/IOWIN', () => {
  const { io, rd } = make();
  assert.is(rd(REG_ID), 0);
  assert.is(rd(REG_VER), 0x00170011, 'max redirection entry 23, version 0x11');
  assert.is(rd(REG_ARB), 0);
  for (let pin = 0; pin < 24; pin++) {
    assert.is(rd(redLo(pin)), 0x00010000, `pin ${pin} masked`);
    assert.is(rd(redHi(pin)), 0);
  }
  for (const unimplemented of [0x03, 0x0f, 0x40, 0xff]) assert.is(rd(unimplemented), 0);
  io.write(IOREGSEL, 4, 0x12345678);
  assert.is(io.read(IOREGSEL, 4), 0x78, 'IOREGSEL holds 8 bits');
  const f = make({ id: 1 });
  assert.is(f.rd(REG_ID), 0x01000000, 'firmware-assigned ID');
  assert.is(f.rd(REG_ARB), 0x01000000);
  assert.is(f.io.apicId, 1);
  assert.throws(() => make({ id: 16 }), /0-15/);
});

test('register writes: ID (and ARB follows), read-only VER/ARB, redirection writable bits', () => {
  const { io, rd, wr } = make();
  wr(REG_ID, 0xffffffff);
  assert.is(rd(REG_ID), 0x0f000000, 'ID is bits 27:24');
  assert.is(rd(REG_ARB), 0x0f000000, 'ARB loaded on ID write');
  wr(REG_ID, 0x05000000);
  assert.is(io.apicId, 5);
  wr(REG_VER, 0);
  assert.is(rd(REG_VER), 0x00170011);
  wr(REG_ARB, 0);
  assert.is(rd(REG_ARB), 0x05000000);
  wr(redLo(1), 0xfffeffff); // everything but the mask bit
  assert.is(rd(redLo(1)), 0x0000afff, 'delivery status (12) and remote IRR (14) are read-only');
  wr(redHi(1), 0xffffffff);
  assert.is(rd(redHi(1)), 0xff000000, 'destination is bits 63:56');
  assert.equal(io.entry(1), [0x0000afff, 0xff000000]);
  wr(redLo(23), 0x15345); // bits 12 and 14 set: read-only, dropped
  assert.is(rd(redLo(23)), 0x10345);
  wr(0x40, 0xffffffff); // past the table: ignored
  assert.is(rd(0x40), 0);
});

test('MMIO sizes: byte IOREGSEL, sub-dword IOWIN reads, non-dword IOWIN writes ignored', () => {
  const { io, rd } = make();
  io.write(IOREGSEL, 1, 0x01);
  assert.is(io.read(IOWIN, 4), 0x00170011);
  assert.is(io.read(IOWIN, 1), 0x11);
  assert.is(io.read(IOWIN + 2, 1), 0x17);
  assert.is(io.read(IOWIN, 2), 0x0011);
  io.write(IOREGSEL, 1, 0x10);
  io.write(IOWIN, 2, 0x0030);
  io.write(IOWIN, 1, 0x30);
  assert.is(rd(0x10), 0x00010000, 'only dword writes reach IOWIN');
  assert.is(io.read(0x04, 4), 0);
  assert.is(io.read(0x20, 4), 0, 'the rest of the page reads 0');
  io.write(0x40, 4, 0x30); // no EOI register in version 0x11
  assert.is(rd(0x10), 0x00010000);
  assert.throws(() => io.read(0xffe, 4), /outside/);
  assert.throws(() => io.read(0, 8), /size/);
});

test('edge-triggered: one message per rising edge', () => {
  const { io, sent, wr } = make();
  wr(redLo(2), 0x30); // fixed, physical, edge, high, unmasked, vector 0x30
  wr(redHi(2), 0x00000000);
  io.setIrq(2, true);
  assert.equal(sent, [[0x30, false, 0, false, 0, 2]]);
  io.setIrq(2, true);
  assert.is(sent.length, 1, 'no edge');
  io.setIrq(2, false);
  io.setIrq(2, true);
  assert.is(sent.length, 2);
  io.pulseIrq(4); // masked pin: nothing
  assert.is(sent.length, 2);
  io.eoi(0x30);
  assert.is(sent.length, 2, 'EOI means nothing to edge entries');
});

test('edge-triggered: edges on a masked pin are lost, not held pending', () => {
  const { io, sent, wr } = make();
  wr(redLo(3), 0x10033);
  io.setIrq(3, true);
  io.setIrq(3, false);
  io.setIrq(3, true);
  wr(redLo(3), 0x33);
  assert.equal(sent, []);
  io.setIrq(3, false);
  io.setIrq(3, true);
  assert.equal(sent, [[0x33, false, 0, false, 0, 3]]);
});

test('level-triggered: remote IRR, EOI, re-delivery while asserted', () => {
  const { io, sent, rd, wr } = make();
  wr(redLo(10), 0xa841); // level (15), active low (13), logical (11), fixed, vector 0x41
  wr(redHi(10), 0x01000000);
  io.setIrq(10, true);
  assert.equal(sent, [[0x41, true, 0x01, true, 0, 10]]);
  assert.is(rd(redLo(10)), 0xe841, 'remote IRR (bit 14) set on delivery');
  io.setIrq(10, true);
  assert.is(sent.length, 1, 'awaiting EOI');
  io.eoi(0x42);
  assert.is(sent.length, 1, 'other vector');
  io.eoi(0x41);
  assert.is(sent.length, 2, 'still asserted: delivered again');
  assert.is(rd(redLo(10)), 0xe841);
  io.setIrq(10, false);
  assert.is(rd(redLo(10)), 0xe841, 'deasserting does not clear remote IRR');
  io.eoi(0x41);
  assert.is(rd(redLo(10)), 0xa841);
  assert.is(sent.length, 2);
  io.setIrq(10, true);
  assert.is(sent.length, 3, 'asserted again later');
});

test('level-triggered: asserted while masked is delivered on unmask', () => {
  const { io, sent, rd, wr } = make();
  wr(redLo(11), 0x18051);
  io.setIrq(11, true);
  assert.equal(sent, []);
  assert.is(rd(redLo(11)), 0x18051, 'no side effects while masked');
  wr(redLo(11), 0x8051);
  assert.equal(sent, [[0x51, true, 0, false, 0, 11]]);
  wr(redLo(11), 0x18051); // mask with remote IRR pending
  assert.is(rd(redLo(11)), 0x1c051, 'remote IRR survives masking');
  io.eoi(0x51);
  assert.is(sent.length, 1, 'masked: EOI clears remote IRR but nothing is sent');
  assert.is(rd(redLo(11)), 0x18051);
});

test('switching an entry to edge clears its remote IRR', () => {
  const { io, rd, wr } = make();
  wr(redLo(9), 0x8060);
  io.setIrq(9, true);
  assert.is(rd(redLo(9)), 0xc060);
  wr(redLo(9), 0x10060); // masked, edge
  assert.is(rd(redLo(9)), 0x10060);
  wr(redLo(9), 0x18060); // masked, level again
  assert.is(rd(redLo(9)), 0x18060, 'remote IRR stays clear');
});

test('NMI, ExtINT and SMI messages are edge-triggered whatever the trigger bit says', () => {
  const { io, sent, rd, wr } = make();
  wr(redLo(5), 0x8400); // level, NMI
  wr(redLo(0), 0x8700); // level, ExtINT
  io.setIrq(5, true);
  io.setIrq(0, true);
  io.setIrq(5, true);
  assert.equal(sent, [[0, false, 0, false, 4, 5], [0, false, 0, false, 7, 0]]);
  assert.is(rd(redLo(5)), 0x8400, 'no remote IRR');
  wr(redLo(6), 0x8163); // level, lowest priority: has remote IRR semantics
  io.setIrq(6, true);
  assert.equal(sent[2], [0x63, true, 0, false, 1, 6]);
  assert.is(rd(redLo(6)), 0xc163);
});

test('reset masks every entry; pin range is checked', () => {
  const { io, rd, wr } = make({ id: 2 });
  wr(REG_ID, 0x07000000);
  wr(redLo(4), 0x8044);
  io.setIrq(4, true);
  io.reset();
  assert.is(rd(redLo(4)), 0x00010000);
  assert.is(rd(REG_ID), 0x02000000);
  assert.throws(() => io.setIrq(24, true), /pin 24/);
  assert.throws(() => io.setIrq(-1, true), /pin -1/);
  assert.throws(() => io.entry(24), /pin 24/);
});

test('wired to a local APIC: level IRQ → IRR/TMR → EOI broadcast → re-delivery', () => {
  let io: IoApic | undefined;
  const lapic = new Lapic({ now: () => 0, id: 0, eoiBroadcast: (v) => io!.eoi(v) });
  io = new IoApic({ id: 1, deliver: (v, level, dest, logical, mode) => { lapic.deliverMessage(v, level, dest, logical, mode); } });
  lapic.write(0xf0, 4, 0x1ff);
  const wr = (index: number, v: number): void => { io!.write(0, 4, index); io!.write(0x10, 4, v); };
  wr(redLo(11), 0xa061); // level, active low, physical, fixed, vector 0x61
  wr(redHi(11), 0x00000000); // to APIC ID 0
  wr(redLo(1), 0x31); // keyboard-style edge
  wr(redHi(1), 0x01000000); // to APIC ID 1: not us
  io.pulseIrq(1);
  assert.is(lapic.highestPending(), -1, 'addressed to another APIC');
  io.setIrq(11, true);
  assert.is(lapic.highestPending(), 0x61);
  assert.is(lapic.read(0x180 + 0x30, 4), 1 << 1, 'TMR bit of 0x61');
  lapic.acknowledge(0x61);
  lapic.write(0xb0, 4, 0); // EOI → broadcast → remote IRR cleared → line still asserted
  assert.is(lapic.highestPending(), 0x61, 'delivered again');
  io.setIrq(11, false);
  lapic.acknowledge(0x61);
  lapic.write(0xb0, 4, 0);
  assert.is(lapic.highestPending(), -1);
  assert.equal(io.entry(11), [0xa061, 0]);
});

test.run();
