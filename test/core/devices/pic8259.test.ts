import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Pic8259Pair } from '../../../core/devices/pic8259.js';

// Port offsets and command bytes are literal numbers from the 8259A datasheet
// (and Linux's arch/x86/kernel/i8259.c usage), not the module's constants.
const CMD = 0, DATA = 1;

function make() {
  const intr: boolean[] = [];
  const pic = new Pic8259Pair({ onIntr: (l) => intr.push(l) });
  const m = pic.master, s = pic.slave;
  return { pic, m, s, intr };
}

/** Linux's init_8259A(0): mask all, ICW1 0x11, ICW2 0x30/0x38, ICW3 0x04/0x02, ICW4 0x01. */
function linuxInit(pic: Pic8259Pair, autoEoi = false): void {
  const { master: m, slave: s } = pic;
  m.write(DATA, 0xff);
  s.write(DATA, 0xff);
  m.write(CMD, 0x11);
  m.write(DATA, 0x30);
  m.write(DATA, 0x04);
  m.write(DATA, autoEoi ? 0x03 : 0x01);
  s.write(CMD, 0x11);
  s.write(DATA, 0x38);
  s.write(DATA, 0x02);
  s.write(DATA, 0x01);
  m.write(DATA, 0x00);
  s.write(DATA, 0x00);
}

const readIsr = (c: { write(o: number, v: number): void; read(o: number): number }): number => {
  c.write(CMD, 0x0b);
  const v = c.read(CMD);
  c.write(CMD, 0x0a);
  return v;
};
const readIrr = (c: { write(o: number, v: number): void; read(o: number): number }): number => {
  c.write(CMD, 0x0a);
  return c.read(CMD);
};

test('power-on: every input masked, BIOS vector bases 0x08 / 0x70', () => {
  const { pic, m, s, intr } = make();
  assert.is(m.read(DATA), 0xff);
  assert.is(s.read(DATA), 0xff);
  pic.setIrq(0, true);
  pic.setIrq(8, true);
  assert.is(pic.hasInterrupt(), false);
  assert.equal(intr, []);
  m.write(DATA, 0xfe);
  assert.is(pic.hasInterrupt(), true);
  assert.is(pic.acknowledge(), 0x08);
  m.write(CMD, 0x20);
  m.write(DATA, 0xfb);
  s.write(DATA, 0xfe);
  assert.is(pic.acknowledge(), 0x70);
});

test('Linux init sequence programs vector bases, cascade and 8086 mode; IMR clears on ICW1', () => {
  const { pic, m, s } = make();
  linuxInit(pic);
  assert.is(m.vectorBase, 0x30);
  assert.is(s.vectorBase, 0x38);
  assert.is(m.icw3, 0x04);
  assert.is(s.icw3, 0x02);
  assert.is(m.upm, true);
  assert.is(m.autoEoi, false);
  assert.is(m.read(DATA), 0x00);
  // probe_8259A: the mask written reads back
  m.write(DATA, 0xfb);
  assert.is(m.read(DATA), 0xfb);
  m.write(CMD, 0x11); // re-init clears IMR (datasheet ICW1)
  assert.is(m.read(DATA), 0x00);
});

test('edge-triggered IRQ 0: rising edge latches IRR, INTA moves it to ISR, EOI clears', () => {
  const { pic, m, intr } = make();
  linuxInit(pic);
  pic.setIrq(0, true);
  assert.is(pic.hasInterrupt(), true);
  assert.equal(intr, [true]);
  assert.is(readIrr(m), 0x01);
  assert.is(pic.acknowledge(), 0x30);
  assert.equal(intr, [true, false]);
  assert.is(readIsr(m), 0x01);
  assert.is(readIrr(m), 0x00);
  // the line is still high: no new edge, nothing pending after EOI
  m.write(CMD, 0x20);
  assert.is(readIsr(m), 0x00);
  assert.is(pic.hasInterrupt(), false);
  pic.setIrq(0, true);
  assert.is(pic.hasInterrupt(), false, 'staying high is not an edge');
  pic.setIrq(0, false);
  pic.setIrq(0, true);
  assert.is(pic.hasInterrupt(), true, 'low then high is');
});

test('edge-latched IRR survives the line falling before INTA', () => {
  const { pic } = make();
  linuxInit(pic);
  pic.setIrq(4, true);
  pic.setIrq(4, false);
  assert.is(pic.hasInterrupt(), true);
  assert.is(pic.acknowledge(), 0x34);
});

test('fully nested priority: lower IRQs wait, higher ones preempt', () => {
  const { pic, m } = make();
  linuxInit(pic);
  pic.setIrq(3, true);
  pic.setIrq(1, true);
  assert.is(pic.acknowledge(), 0x31, 'IR1 beats IR3');
  assert.is(pic.hasInterrupt(), false, 'IR3 is blocked while IR1 is in service');
  pic.setIrq(0, true);
  assert.is(pic.hasInterrupt(), true, 'IR0 preempts IR1');
  assert.is(pic.acknowledge(), 0x30);
  assert.is(readIsr(m), 0x03);
  m.write(CMD, 0x20); // non-specific EOI clears the highest: IR0
  assert.is(readIsr(m), 0x02);
  assert.is(pic.hasInterrupt(), false);
  m.write(CMD, 0x61); // specific EOI for IR1 (Linux's 0x60 + irq)
  assert.is(readIsr(m), 0x00);
  assert.is(pic.acknowledge(), 0x33);
});

test('specific EOI clears only the named level', () => {
  const { pic, m } = make();
  linuxInit(pic);
  pic.setIrq(5, true);
  pic.acknowledge();
  pic.setIrq(1, true);
  pic.acknowledge();
  assert.is(readIsr(m), 0x22);
  m.write(CMD, 0x65);
  assert.is(readIsr(m), 0x02);
});

test('masking: IRR still latches, unmasking delivers', () => {
  const { pic, m, intr } = make();
  linuxInit(pic);
  m.write(DATA, 0x08);
  pic.setIrq(3, true);
  assert.is(pic.hasInterrupt(), false);
  assert.is(readIrr(m), 0x08);
  assert.equal(intr, []);
  m.write(DATA, 0x00);
  assert.equal(intr, [true]);
  assert.is(pic.acknowledge(), 0x33);
});

test('cascade: IRQ 8 goes through master IR2; Linux EOIs slave then master', () => {
  const { pic, m, s } = make();
  linuxInit(pic);
  pic.setIrq(8, true);
  assert.is(pic.hasInterrupt(), true);
  assert.is(readIrr(m), 0x04);
  assert.is(pic.acknowledge(), 0x38);
  assert.is(readIsr(m), 0x04);
  assert.is(readIsr(s), 0x01);
  s.write(CMD, 0x60);
  m.write(CMD, 0x62);
  assert.is(readIsr(m), 0x00);
  assert.is(readIsr(s), 0x00);
  assert.is(pic.hasInterrupt(), false);
});

test('cascade: a second slave request is delivered after both EOIs', () => {
  const { pic, m, s } = make();
  linuxInit(pic);
  pic.setIrq(12, true);
  pic.setIrq(9, true);
  assert.is(pic.acknowledge(), 0x39, 'IRQ 9 (slave IR1) beats IRQ 12');
  assert.is(pic.hasInterrupt(), false);
  s.write(CMD, 0x61);
  assert.is(pic.hasInterrupt(), false, 'master IR2 still in service');
  m.write(CMD, 0x62);
  assert.is(pic.hasInterrupt(), true);
  assert.is(pic.acknowledge(), 0x3c);
});

test('cascade: master IRQ 1 outranks slave IRQs; slave IRQs outrank IRQ 3', () => {
  const { pic } = make();
  linuxInit(pic);
  pic.setIrq(3, true);
  pic.setIrq(14, true);
  pic.setIrq(1, true);
  assert.is(pic.acknowledge(), 0x31);
  pic.master.write(CMD, 0x20);
  assert.is(pic.acknowledge(), 0x3e);
  pic.slave.write(CMD, 0x20);
  pic.master.write(CMD, 0x20);
  assert.is(pic.acknowledge(), 0x33);
});

test('spurious IRQ 7: INTA with nothing pending sets no ISR bit', () => {
  const { pic, m } = make();
  linuxInit(pic);
  assert.is(pic.acknowledge(), 0x37);
  assert.is(readIsr(m), 0x00);
  // a level-triggered request that goes away before INTA
  pic.writeElcr(0, 0x08);
  pic.setIrq(3, true);
  assert.is(pic.hasInterrupt(), true);
  pic.setIrq(3, false);
  assert.is(pic.hasInterrupt(), false);
  assert.is(pic.acknowledge(), 0x37);
  assert.is(readIsr(m), 0x00);
});

test('spurious IRQ 15: master grants IR2 but the slave has nothing; master ISR2 is set', () => {
  const { pic, m, s } = make();
  linuxInit(pic);
  pic.writeElcr(1, 0x04); // IRQ 10 level-triggered
  pic.setIrq(10, true);
  pic.setIrq(10, false); // the slave drops its request; master IRR2 stays latched (edge)
  assert.is(pic.hasInterrupt(), true);
  assert.is(pic.acknowledge(), 0x3f);
  assert.is(readIsr(m), 0x04);
  assert.is(readIsr(s), 0x00);
  m.write(CMD, 0x62);
  assert.is(pic.hasInterrupt(), false);
});

test('level-triggered (ELCR): IRR follows the line; still high after EOI requests again', () => {
  const { pic, m, s } = make();
  linuxInit(pic);
  pic.writeElcr(1, 0x08); // IRQ 11
  pic.setIrq(11, true);
  assert.is(pic.acknowledge(), 0x3b);
  assert.is(readIrr(s), 0x08, 'still requesting while the line is high');
  s.write(CMD, 0x20);
  m.write(CMD, 0x20);
  assert.is(pic.hasInterrupt(), true);
  assert.is(pic.acknowledge(), 0x3b);
  pic.setIrq(11, false);
  assert.is(readIrr(s), 0x00);
  s.write(CMD, 0x20);
  m.write(CMD, 0x20);
  assert.is(pic.hasInterrupt(), false);
});

test('ICW1 LTIM makes every input of that chip level-triggered', () => {
  const { pic, m } = make();
  m.write(CMD, 0x19); // LTIM | IC4
  m.write(DATA, 0x20);
  m.write(DATA, 0x04);
  m.write(DATA, 0x01);
  pic.setIrq(5, true);
  assert.is(pic.acknowledge(), 0x25);
  m.write(CMD, 0x20);
  assert.is(pic.acknowledge(), 0x25, 'the high line requests again');
  pic.setIrq(5, false);
  m.write(CMD, 0x20);
  assert.is(pic.hasInterrupt(), false);
});

test('ELCR: reserved bits (IRQ 0-2, 8, 13) read as 0', () => {
  const { pic } = make();
  pic.writeElcr(0, 0xff);
  pic.writeElcr(1, 0xff);
  assert.is(pic.readElcr(0), 0xf8);
  assert.is(pic.readElcr(1), 0xde);
});

test('ICW1 resets edge sense: an input already high needs a new edge', () => {
  const { pic, m } = make();
  linuxInit(pic);
  pic.setIrq(6, true);
  m.write(CMD, 0x11);
  m.write(DATA, 0x30);
  m.write(DATA, 0x04);
  m.write(DATA, 0x01);
  assert.is(pic.hasInterrupt(), false);
  pic.setIrq(6, false);
  pic.setIrq(6, true);
  assert.is(pic.acknowledge(), 0x36);
});

test('init without ICW4 and single mode: fewer ICWs, next data write is OCW1', () => {
  const { pic, m } = make();
  m.write(CMD, 0x10); // no IC4, cascade: ICW2, ICW3
  m.write(DATA, 0x40);
  m.write(DATA, 0x04);
  m.write(DATA, 0x5a); // OCW1
  assert.is(m.read(DATA), 0x5a);
  assert.is(m.vectorBase, 0x40);
  assert.is(m.upm, false);
  m.write(CMD, 0x13); // single, IC4: ICW2, ICW4
  m.write(DATA, 0x50);
  m.write(DATA, 0x01);
  m.write(DATA, 0xa5);
  assert.is(m.read(DATA), 0xa5);
  assert.is(m.single, true);
  // single mode: IR2 is an ordinary input, no cascade
  m.write(DATA, 0x00);
  pic.setIrq(2, true);
  assert.is(pic.acknowledge(), 0x52);
});

test('ICW2 ignores the low three bits in 8086 mode', () => {
  const { pic, m } = make();
  m.write(CMD, 0x11);
  m.write(DATA, 0x37);
  m.write(DATA, 0x04);
  m.write(DATA, 0x01);
  pic.setIrq(1, true);
  assert.is(pic.acknowledge(), 0x31);
});

test('automatic EOI: INTA leaves ISR clear; rotate-in-AEOI rotates priorities', () => {
  const { pic, m } = make();
  linuxInit(pic, true);
  assert.is(m.autoEoi, true);
  pic.setIrq(1, true);
  assert.is(pic.acknowledge(), 0x31);
  assert.is(readIsr(m), 0x00);
  pic.setIrq(3, true);
  assert.is(pic.hasInterrupt(), true, 'nothing in service blocks IR3');
  assert.is(pic.acknowledge(), 0x33);
  m.write(CMD, 0x80); // rotate in AEOI mode (set)
  pic.setIrq(0, true);
  assert.is(pic.acknowledge(), 0x30); // IR0 becomes lowest
  pic.setIrq(0, false);
  pic.setIrq(0, true);
  pic.setIrq(7, true);
  assert.is(pic.acknowledge(), 0x37, 'IR7 now outranks IR0');
  m.write(CMD, 0x00); // rotate in AEOI mode (clear)
  assert.is(m.rotateOnAutoEoi, false);
});

test('AEOI through the cascade: both chips in AEOI leave nothing in service', () => {
  const { pic, m, s } = make();
  linuxInit(pic, true);
  s.write(CMD, 0x11);
  s.write(DATA, 0x38);
  s.write(DATA, 0x02);
  s.write(DATA, 0x03);
  s.write(DATA, 0x00);
  pic.setIrq(9, true);
  pic.setIrq(10, true);
  assert.is(pic.acknowledge(), 0x39);
  assert.is(readIsr(m), 0x00);
  assert.is(pic.hasInterrupt(), true, 'the slave still has IRQ 10: a fresh edge on IR2');
  assert.is(pic.acknowledge(), 0x3a);
  assert.is(pic.hasInterrupt(), false);
});

test('rotate on non-specific EOI and set-priority commands', () => {
  const { pic, m } = make();
  linuxInit(pic);
  pic.setIrq(2 + 1, true);
  assert.is(pic.acknowledge(), 0x33);
  m.write(CMD, 0xa0); // rotate on non-specific EOI: IR3 becomes lowest, IR4 highest
  assert.is(readIsr(m), 0x00);
  assert.is(m.priorityBase, 4);
  pic.setIrq(1, true);
  pic.setIrq(5, true);
  assert.is(pic.acknowledge(), 0x35, 'IR5 outranks IR1 after rotation');
  m.write(CMD, 0xe5); // rotate on specific EOI 5: IR6 highest
  assert.is(m.priorityBase, 6);
  assert.is(pic.acknowledge(), 0x31);
  m.write(CMD, 0x20);
  m.write(CMD, 0xc7); // set priority: IR7 lowest, IR0 highest
  assert.is(m.priorityBase, 0);
  m.write(CMD, 0x40); // no operation
  assert.is(m.priorityBase, 0);
});

test('poll command: the next read returns 0x80 | level and acknowledges it', () => {
  const { pic, m } = make();
  linuxInit(pic);
  m.write(CMD, 0x0c);
  assert.is(m.read(CMD), 0x00, 'nothing pending');
  pic.setIrq(6, true);
  m.write(CMD, 0x0c);
  assert.is(m.read(DATA), 0x86);
  assert.is(readIsr(m), 0x40);
  assert.is(pic.hasInterrupt(), false);
  assert.is(m.read(DATA), 0x00, 'poll mode lasts one read: IMR again');
});

test('special mask mode: masking the in-service level lets lower levels in', () => {
  const { pic, m } = make();
  linuxInit(pic);
  pic.setIrq(1, true);
  pic.acknowledge();
  pic.setIrq(4, true);
  assert.is(pic.hasInterrupt(), false);
  m.write(DATA, 0x02);
  assert.is(pic.hasInterrupt(), false, 'without SMM the in-service IR1 still blocks');
  m.write(CMD, 0x68); // ESMM | SMM
  assert.is(m.specialMask, true);
  assert.is(pic.hasInterrupt(), true);
  assert.is(pic.acknowledge(), 0x34);
  m.write(CMD, 0x48); // ESMM, SMM clear
  assert.is(m.specialMask, false);
});

test('special fully nested mode: a higher slave request passes master ISR2', () => {
  const { pic, m, s } = make();
  m.write(CMD, 0x11);
  m.write(DATA, 0x30);
  m.write(DATA, 0x04);
  m.write(DATA, 0x11); // SFNM | 8086
  m.write(DATA, 0x00);
  s.write(CMD, 0x11);
  s.write(DATA, 0x38);
  s.write(DATA, 0x02);
  s.write(DATA, 0x01);
  s.write(DATA, 0x00);
  pic.setIrq(12, true);
  assert.is(pic.acknowledge(), 0x3c);
  pic.setIrq(9, true);
  assert.is(pic.hasInterrupt(), true, 'IRQ 9 outranks IRQ 12 on the slave and SFNM lets it through IR2');
  assert.is(pic.acknowledge(), 0x39);
  assert.is(readIsr(s), 0x12);
  // without SFNM the same sequence waits for the master EOI
  const b = make();
  linuxInit(b.pic);
  b.pic.setIrq(12, true);
  b.pic.acknowledge();
  b.pic.setIrq(9, true);
  assert.is(b.pic.hasInterrupt(), false);
});

test('ISA IRQ 2 drives master IR2 (with no slave request the slave answers spurious 15)', () => {
  const { pic } = make();
  linuxInit(pic);
  pic.setIrq(2, true);
  assert.is(pic.hasInterrupt(), true);
  assert.is(pic.acknowledge(), 0x3f);
});

test('onIntr reports each change of the INTR output once', () => {
  const { pic, m, intr } = make();
  linuxInit(pic);
  pic.setIrq(3, true);
  pic.setIrq(4, true);
  assert.equal(intr, [true]);
  pic.acknowledge();
  assert.equal(intr, [true, false]);
  m.write(CMD, 0x20);
  assert.equal(intr, [true, false, true]);
});

test('setIrq rejects lines outside 0-15', () => {
  const { pic, m } = make();
  assert.throws(() => pic.setIrq(16, true), /outside 0-15/);
  assert.throws(() => pic.setIrq(-1, true), /outside 0-15/);
  assert.throws(() => m.read(2), /outside 0-1/);
});

test('port adapter: ranges 0x20, 0xA0, 0x4D0; byte and word accesses', () => {
  const { pic } = make();
  const r = pic.ports();
  assert.equal(r.map((x) => [x.base, x.len]), [[0x20, 2], [0xa0, 2], [0x4d0, 2]]);
  const [mp, sp, ep] = r.map((x) => x.dev);
  mp!.write(0, 1, 0x11);
  mp!.write(1, 1, 0x30);
  mp!.write(1, 1, 0x04);
  mp!.write(1, 1, 0x01);
  mp!.write(1, 1, 0xfb);
  assert.is(mp!.read(1, 1), 0xfb);
  sp!.write(1, 1, 0x7f);
  assert.is(sp!.read(1, 1), 0x7f);
  ep!.write(0, 2, 0x0c20); // ELCR1 0x20, ELCR2 0x0c
  assert.is(ep!.read(0, 2), 0x0c20);
  assert.is(mp!.read(1, 2), 0xfffb, 'beyond the range reads 0xFF');
});

test.run();
