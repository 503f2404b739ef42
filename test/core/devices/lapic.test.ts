import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Lapic, type LapicOptions } from '../../../core/devices/lapic.js';
import { VirtualClock } from '../../../core/clock.js';

// Offsets and values are literal numbers from the SDM (Vol. 3A, APIC chapter,
// Table "Local APIC Register Address Map" and the register figures), not the
// module's constants, so a wrong constant would be caught.
const ID = 0x20, VER = 0x30, TPR = 0x80, APR = 0x90, PPR = 0xa0, EOI = 0xb0, RRD = 0xc0, LDR = 0xd0, DFR = 0xe0, SVR = 0xf0;
const ISR = 0x100, TMR = 0x180, IRR = 0x200, ESR = 0x280, CMCI = 0x2f0, ICR_LO = 0x300, ICR_HI = 0x310;
const TIMER = 0x320, THERMAL = 0x330, PERF = 0x340, LINT0 = 0x350, LINT1 = 0x360, ERROR = 0x370;
const INIT_COUNT = 0x380, CUR_COUNT = 0x390, DIVIDE = 0x3e0;

function make(opts: Partial<LapicOptions> = {}) {
  const s = { t: 0, eois: [] as number[], nmis: 0, extInts: 0, ints: 0 };
  const a = new Lapic({
    now: () => s.t,
    eoiBroadcast: (v) => s.eois.push(v),
    nmi: () => { s.nmis++; },
    extInt: () => { s.extInts++; },
    interrupt: () => { s.ints++; },
    ...opts,
  });
  const r = (off: number): number => a.read(off, 4);
  const w = (off: number, v: number): void => a.write(off, 4, v);
  return { a, s, r, w };
}

/** Bit of `vector` in the 8×32-bit ISR/TMR/IRR: [register offset, mask]. */
function vbit(base: number, vector: number): [number, number] {
  return [base + (vector >>> 5) * 0x10, (1 << (vector & 31)) >>> 0];
}
function hasBit(r: (o: number) => number, base: number, vector: number): boolean {
  const [off, m] = vbit(base, vector);
  return (r(off) & m) >>> 0 !== 0;
}

function enabled(opts: Partial<LapicOptions> = {}) {
  const x = make(opts);
  x.w(SVR, 0x1ff);
  return x;
}

test('power-up values (10.4.7.1) and IA32_APIC_BASE', () => {
  const { a, r } = make({ id: 3 });
  assert.is(r(ID), 0x03000000);
  assert.is(r(VER), 0x00050014);
  assert.is(r(TPR), 0);
  assert.is(r(APR), 0);
  assert.is(r(PPR), 0);
  assert.is(r(EOI), 0);
  assert.is(r(RRD), 0);
  assert.is(r(LDR), 0);
  assert.is(r(DFR), 0xffffffff);
  assert.is(r(SVR), 0x000000ff);
  for (let i = 0; i < 8; i++) {
    assert.is(r(ISR + i * 16), 0);
    assert.is(r(TMR + i * 16), 0);
    assert.is(r(IRR + i * 16), 0);
  }
  assert.is(r(ESR), 0);
  assert.is(r(ICR_LO), 0);
  assert.is(r(ICR_HI), 0);
  for (const lvt of [TIMER, THERMAL, PERF, LINT0, LINT1, ERROR]) assert.is(r(lvt), 0x00010000, `LVT ${lvt.toString(16)}`);
  assert.is(r(INIT_COUNT), 0);
  assert.is(r(CUR_COUNT), 0);
  assert.is(r(DIVIDE), 0);
  assert.equal(a.getApicBase(), [0xfee00900, 0]); // base FEE00000H, EN (bit 11), BSP (bit 8)
  assert.is(a.base, 0xfee00000);
  assert.ok(a.hwEnabled);
  assert.not.ok(a.swEnabled);
  assert.is(a.apicId, 3);
  assert.not.ok(a.picRouted(), 'LINT0 masked at power-up');
  assert.is(a.highestPending(), -1);
  assert.equal(make({ bsp: false }).a.getApicBase(), [0xfee00800, 0]);
});

test('CMCI entry only when offered: version max LVT 6, 0x2F0 an LVT', () => {
  const plain = make();
  assert.is(plain.r(CMCI), 0);
  plain.w(ESR, 0);
  assert.is(plain.r(ESR), 0x80, '0x2F0 is reserved without CMCI: Illegal Register Address');
  const c = enabled({ cmci: true });
  assert.is(c.r(VER), 0x00060014);
  assert.is(c.r(CMCI), 0x00010000);
  c.w(CMCI, 0xffffffff);
  assert.is(c.r(CMCI), 0x000107ff);
  c.w(ESR, 0);
  assert.is(c.r(ESR), 0);
});

test('writable bits of each register; read-only registers ignore writes', () => {
  const { r, w } = enabled();
  w(ID, 0xffffffff); assert.is(r(ID), 0xff000000);
  w(TPR, 0xffffffff); assert.is(r(TPR), 0xff);
  w(TPR, 0);
  w(LDR, 0xffffffff); assert.is(r(LDR), 0xff000000);
  w(DFR, 0); assert.is(r(DFR), 0x0fffffff);
  w(SVR, 0xffffffff); assert.is(r(SVR), 0x3ff); // no directed EOI (bit 12) offered
  w(TIMER, 0xffffffff); assert.is(r(TIMER), 0x000700ff); // vector, mask, timer mode 18:17 (TSC-deadline offered)
  w(TIMER, 0x00010000);
  w(THERMAL, 0xffffffff); assert.is(r(THERMAL), 0x000107ff);
  w(PERF, 0xffffffff); assert.is(r(PERF), 0x000107ff);
  w(LINT0, 0xffffffff); assert.is(r(LINT0), 0x0001a7ff);
  w(LINT1, 0xffffffff); assert.is(r(LINT1), 0x0001a7ff);
  w(ERROR, 0xffffffff); assert.is(r(ERROR), 0x000100ff);
  w(DIVIDE, 0xffffffff); assert.is(r(DIVIDE), 0xb);
  w(ICR_HI, 0xffffffff); assert.is(r(ICR_HI), 0xff000000);
  w(ICR_LO, 0xffffffff); // shorthand 11 (all excluding self): nothing to deliver
  assert.is(r(ICR_LO), 0x000ccfff, 'delivery status (bit 12) reads 0');
  w(VER, 0); assert.is(r(VER), 0x00050014);
  w(PPR, 0xff); assert.is(r(PPR), 0);
  w(IRR + 0x30, 0xffffffff); assert.is(r(IRR + 0x30), 0);
  w(ISR + 0x30, 0xffffffff); assert.is(r(ISR + 0x30), 0);
  w(TMR + 0x30, 0xffffffff); assert.is(r(TMR + 0x30), 0);
  w(CUR_COUNT, 5); assert.is(r(CUR_COUNT), 0);
  w(ESR, 0); assert.is(r(ESR), 0, 'read-only registers are not reserved: no error');
});

test('software-disabled: LVT masks forced on, and set when disabling (10.4.7.2)', () => {
  const { r, w } = make();
  w(TIMER, 0x20);
  assert.is(r(TIMER), 0x00010020, 'mask cannot be cleared while SVR[8] = 0');
  w(SVR, 0x1ff);
  w(TIMER, 0x20);
  w(LINT0, 0x700);
  assert.is(r(TIMER), 0x20);
  w(SVR, 0xff);
  assert.is(r(TIMER), 0x00010020);
  assert.is(r(LINT0), 0x00010700);
});

test('PPR (10.8.3.1): TPR when its class >= the in-service class, else the ISR class', () => {
  const { a, r, w } = enabled();
  w(TPR, 0x35);
  assert.is(r(PPR), 0x35, 'nothing in service');
  a.acceptInterrupt(0x61, false);
  a.acknowledge(0x61);
  assert.is(r(PPR), 0x60, 'class 6 in service beats TPR 0x35');
  w(TPR, 0x65);
  assert.is(r(PPR), 0x65, 'equal class: PPR = TPR');
  w(TPR, 0x7a);
  assert.is(r(PPR), 0x7a);
  assert.is(a.cr8, 7);
  a.cr8 = 2;
  assert.is(r(TPR), 0x20, 'MOV to CR8 sets TPR[7:4] and clears TPR[3:0]');
  assert.is(r(PPR), 0x60);
});

test('deliverability: vector class must exceed the PPR class', () => {
  const { a, w } = enabled();
  a.acceptInterrupt(0x45, false);
  w(TPR, 0x40);
  assert.is(a.highestPending(), -1, 'class 4 is not above PPR class 4');
  w(TPR, 0x3f);
  assert.is(a.highestPending(), 0x45);
  w(TPR, 0x4f);
  assert.is(a.highestPending(), -1);
});

test('IRR → ISR → EOI with several pending vectors and nesting', () => {
  const { a, r, w, s } = enabled();
  for (const v of [0x31, 0x52, 0x40]) assert.ok(a.acceptInterrupt(v, false));
  assert.is(s.ints, 3);
  assert.is(r(IRR + 0x10), 1 << 17, 'IRR1 (vectors 0x20-0x3F) holds 0x31 at bit 17');
  assert.is(r(IRR + 0x20), (1 << 0) | (1 << 18), 'IRR2 holds 0x40 (bit 0) and 0x52 (bit 18)');
  assert.is(a.highestPending(), 0x52);
  a.acknowledge(0x52);
  assert.ok(hasBit(r, ISR, 0x52));
  assert.not.ok(hasBit(r, IRR, 0x52));
  assert.is(r(PPR), 0x50);
  assert.is(a.highestPending(), -1, '0x40 and 0x31 are below the in-service class 5');
  w(EOI, 0);
  assert.is(r(ISR + 0x20), 0);
  assert.is(a.highestPending(), 0x40);
  a.acknowledge(0x40);
  a.acceptInterrupt(0x60, false);
  assert.is(a.highestPending(), 0x60, 'a higher class nests');
  a.acknowledge(0x60);
  assert.is(r(ISR + 0x20), 1, 'ISR2 bit 0: 0x40');
  assert.is(r(ISR + 0x30), 1, 'ISR3 bit 0: 0x60');
  assert.ok(hasBit(r, ISR, 0x40) && hasBit(r, ISR, 0x60));
  w(EOI, 0);
  assert.ok(hasBit(r, ISR, 0x40), 'EOI retires the highest in-service vector first');
  assert.not.ok(hasBit(r, ISR, 0x60));
  assert.is(a.highestPending(), -1);
  w(EOI, 0);
  assert.is(a.highestPending(), 0x31);
  a.acknowledge(0x31);
  w(EOI, 0);
  w(EOI, 0); // EOI with nothing in service is harmless
  assert.is(a.highestPending(), -1);
  assert.equal(s.eois, [], 'edge-triggered: no EOI broadcast');
  assert.throws(() => a.acknowledge(0x31), /not in the IRR/);
});

test('one interrupt in the IRR and one in the ISR per vector; more collapse (10.8.4)', () => {
  const { a, r, w } = enabled();
  a.acceptInterrupt(0x80, false);
  a.acknowledge(0x80);
  a.acceptInterrupt(0x80, false);
  a.acceptInterrupt(0x80, false);
  assert.ok(hasBit(r, ISR, 0x80) && hasBit(r, IRR, 0x80));
  assert.is(a.highestPending(), -1, 'same class as the in-service vector');
  w(EOI, 0);
  assert.is(a.highestPending(), 0x80);
  a.acknowledge(0x80);
  w(EOI, 0);
  assert.is(a.highestPending(), -1, 'the third was collapsed');
});

test('level-triggered: TMR set on acceptance, EOI broadcast to the I/O APIC', () => {
  const { a, r, w, s } = enabled();
  a.acceptInterrupt(0x70, true);
  a.acceptInterrupt(0x71, false);
  assert.ok(hasBit(r, TMR, 0x70));
  assert.not.ok(hasBit(r, TMR, 0x71));
  a.acknowledge(0x71);
  w(EOI, 0);
  assert.equal(s.eois, []);
  a.acknowledge(0x70);
  w(EOI, 0);
  assert.equal(s.eois, [0x70]);
  a.acceptInterrupt(0x70, false);
  assert.not.ok(hasBit(r, TMR, 0x70), 'edge acceptance clears the TMR bit');
});

test('illegal vectors, ESR write-then-read semantics (10.5.3), error LVT interrupt', () => {
  const { a, r, w } = enabled();
  assert.not.ok(a.acceptInterrupt(0x05, false));
  assert.is(r(IRR), 0);
  assert.is(r(ESR), 0, 'nothing visible before the ESR is written');
  w(ESR, 0);
  assert.is(r(ESR), 0x40, 'Receive Illegal Vector');
  w(ESR, 0);
  assert.is(r(ESR), 0, 'the write cleared the logged errors');
  w(ERROR, 0xfe);
  r(0x40); // reserved register
  assert.is(a.highestPending(), 0xfe, 'error interrupt through LVT error');
  w(ESR, 0);
  assert.is(r(ESR), 0x80, 'Illegal Register Address');
  w(ERROR, 0x03); // illegal vector in the error LVT itself
  w(0x50, 1);
  w(ESR, 0);
  assert.is(r(ESR), 0xc0, 'Illegal Register Address + Receive Illegal Vector, no recursion');
});

test('software-disabled APIC drops new fixed interrupts and holds pending ones', () => {
  const { a, r, w } = make();
  assert.not.ok(a.acceptInterrupt(0x40, false));
  assert.is(r(IRR + 0x20), 0);
  w(SVR, 0x1ff);
  a.acceptInterrupt(0x40, false);
  w(SVR, 0x0ff);
  assert.is(a.highestPending(), -1);
  assert.ok(hasBit(r, IRR, 0x40), 'held in the IRR');
  w(SVR, 0x1ff);
  assert.is(a.highestPending(), 0x40);
});

test('LVT LINT0 fixed edge: masked edges are lost, unmasked edges interrupt', () => {
  const { a, w } = enabled();
  w(LINT0, 0x00010041);
  a.setLint(0, true);
  a.setLint(0, false);
  assert.is(a.highestPending(), -1);
  w(LINT0, 0x41);
  a.setLint(0, true);
  a.setLint(0, true); // no new edge
  assert.is(a.highestPending(), 0x41);
  a.acknowledge(0x41);
  assert.is(a.highestPending(), -1);
});

test('LVT LINT0 fixed level: remote IRR, EOI, re-delivery while asserted', () => {
  const { a, r, w, s } = enabled();
  w(LINT0, 0x8060); // level, fixed, vector 0x60
  a.setLint(0, true);
  assert.is(a.highestPending(), 0x60);
  assert.is(r(LINT0), 0xc060, 'remote IRR (bit 14) set on acceptance');
  assert.ok(hasBit(r, TMR, 0x60));
  a.acknowledge(0x60);
  w(EOI, 0);
  assert.equal(s.eois, [0x60]);
  assert.is(a.highestPending(), 0x60, 'still asserted: delivered again');
  assert.is(r(LINT0), 0xc060);
  a.setLint(0, false);
  a.acknowledge(0x60);
  w(EOI, 0);
  assert.is(r(LINT0), 0x8060);
  assert.is(a.highestPending(), -1);
  w(LINT0, 0x00018060);
  a.setLint(0, true);
  assert.is(a.highestPending(), -1, 'masked');
  w(LINT0, 0x8060);
  assert.is(a.highestPending(), 0x60, 'unmasking an asserted level line delivers it');
});

test('virtual wire: LINT0 ExtINT routes the PIC, LINT1 NMI', () => {
  const { a, r, w, s } = make({ virtualWire: true });
  assert.is(r(LINT0), 0x700);
  assert.is(r(LINT1), 0x400);
  assert.ok(a.picRouted());
  a.setLint(1, true);
  a.setLint(1, true);
  a.setLint(1, false);
  a.setLint(1, true);
  assert.is(s.nmis, 2, 'one NMI per rising edge');
  a.setLint(0, true);
  assert.is(r(IRR + 0x70), 0, 'ExtINT does not use the IRR: the vector comes from the PIC');
  w(SVR, 0x1ff);
  w(LINT0, 0x10700);
  assert.not.ok(a.picRouted(), 'masked ExtINT');
  w(LINT0, 0x000);
  assert.not.ok(a.picRouted(), 'fixed mode');
  w(LINT0, 0x700);
  assert.ok(a.picRouted());
});

test('timer one-shot with divide by 1, current count from virtual time', () => {
  const { a, r, w, s } = enabled();
  w(DIVIDE, 0xb); // 1011b: divide by 1
  w(TIMER, 0x30);
  s.t = 0;
  w(INIT_COUNT, 1000);
  assert.is(a.timer.at, 1000);
  s.t = 400;
  assert.is(r(CUR_COUNT), 600);
  s.t = 999;
  assert.is(r(CUR_COUNT), 1);
  s.t = 1000;
  a.timer.fire(1000);
  assert.is(a.highestPending(), 0x30);
  assert.is(a.timer.at, Infinity);
  assert.is(r(CUR_COUNT), 0);
  s.t = 5000;
  assert.is(r(CUR_COUNT), 0, 'one-shot stays at 0');
  assert.is(r(INIT_COUNT), 1000);
});

test('timer divide settings (Figure "Divide Configuration Register")', () => {
  // [DCR value, divisor]
  const table: [number, number][] = [[0x0, 2], [0x1, 4], [0x2, 8], [0x3, 16], [0x8, 32], [0x9, 64], [0xa, 128], [0xb, 1]];
  for (const [dcr, div] of table) {
    const { a, r, w, s } = enabled();
    s.t = 100;
    w(DIVIDE, dcr);
    w(TIMER, 0x30);
    w(INIT_COUNT, 3);
    assert.is(a.timer.at, 100 + 3 * div, `DCR ${dcr}`);
    s.t = 100 + div;
    assert.is(r(CUR_COUNT), 2, `DCR ${dcr}: one tick after ${div} instructions`);
    if (div > 1) {
      s.t = 100 + div - 1;
      assert.is(r(CUR_COUNT), 3, `DCR ${dcr}: not yet`);
    }
  }
});

test('timer divide by 2 (reset DCR) and instructionsPerTick', () => {
  const { a, r, w, s } = enabled();
  w(INIT_COUNT, 100); // DCR 0: divide by 2
  assert.is(a.timer.at, 200);
  s.t = 1; assert.is(r(CUR_COUNT), 100);
  s.t = 2; assert.is(r(CUR_COUNT), 99);
  s.t = 199; assert.is(r(CUR_COUNT), 1);
  s.t = 200; assert.is(r(CUR_COUNT), 0);
  const b = enabled({ instructionsPerTick: 10 });
  b.w(DIVIDE, 0x1); // divide by 4: 40 instructions per decrement
  b.w(INIT_COUNT, 5);
  assert.is(b.a.timer.at, 200);
  b.s.t = 40; assert.is(b.r(CUR_COUNT), 4);
  assert.throws(() => make({ instructionsPerTick: 0 }), /instructionsPerTick/);
  assert.throws(() => make({ instructionsPerTick: 1.5 }), /instructionsPerTick/);
});

test('timer periodic: reload, late fire coalesces, masked keeps counting', () => {
  const { a, r, w, s } = enabled();
  w(DIVIDE, 0xb);
  w(TIMER, 0x20040); // periodic, vector 0x40
  s.t = 50;
  w(INIT_COUNT, 100);
  assert.is(a.timer.at, 150);
  s.t = 150;
  a.timer.fire(150);
  assert.is(a.highestPending(), 0x40);
  assert.is(a.timer.at, 250);
  assert.is(r(CUR_COUNT), 100, 'reloaded at the zero');
  s.t = 175;
  assert.is(r(CUR_COUNT), 75);
  a.acknowledge(0x40);
  w(EOI, 0);
  s.t = 420; // 250 and 350 were missed
  a.timer.fire(420);
  assert.is(a.highestPending(), 0x40);
  a.acknowledge(0x40);
  w(EOI, 0);
  assert.is(a.highestPending(), -1, 'missed periods coalesce into one interrupt');
  assert.is(a.timer.at, 450);
  assert.is(r(CUR_COUNT), 30);
  w(TIMER, 0x30040); // masked periodic
  s.t = 450;
  a.timer.fire(450);
  assert.is(a.highestPending(), -1, 'masked: no interrupt');
  assert.is(a.timer.at, 550, 'but the count goes on');
  w(TIMER, 0x00040); // one-shot from now on
  s.t = 550;
  a.timer.fire(550);
  assert.is(a.highestPending(), 0x40);
  assert.is(a.timer.at, Infinity, 'switched to one-shot: stops at this zero');
});

test('timer: register reads deliver a due expiry; initial count 0 stops; divide change keeps the count', () => {
  const { a, r, w, s } = enabled();
  w(DIVIDE, 0xb);
  w(TIMER, 0x90);
  w(INIT_COUNT, 10);
  s.t = 12;
  assert.ok(hasBit(r, IRR, 0x90), 'visible without fire()');
  assert.is(a.timer.at, Infinity);
  s.t = 20;
  w(INIT_COUNT, 10);
  w(INIT_COUNT, 0);
  assert.is(a.timer.at, Infinity);
  assert.is(r(CUR_COUNT), 0);
  s.t = 100;
  w(INIT_COUNT, 1000);
  s.t = 400;
  assert.is(r(CUR_COUNT), 700);
  w(DIVIDE, 0x0); // divide by 2 from here
  assert.is(a.timer.at, 400 + 700 * 2);
  s.t = 600;
  assert.is(r(CUR_COUNT), 600);
});

test('timer as a VirtualClock deadline source', () => {
  const x = enabled();
  const clock = new VirtualClock(() => x.s.t);
  clock.addSource(x.a.timer);
  assert.is(clock.next(), Infinity);
  x.w(DIVIDE, 0xb);
  x.w(TIMER, 0x20033);
  x.w(INIT_COUNT, 64);
  assert.is(clock.next(), 64);
  x.s.t = 64;
  clock.fireDue();
  assert.is(x.a.highestPending(), 0x33);
  assert.is(clock.next(), 128);
});

test('without TSC-deadline: LVT timer bit 18 is reserved (Figure "Local Vector Table")', () => {
  const { a, r, w } = enabled({ tscDeadline: false });
  assert.is(a.tscDeadlineSupported, false);
  w(TIMER, 0xffffffff);
  assert.is(r(TIMER), 0x000300ff);
});

// TSC-deadline mode (Vol. 3A 10.5.4.1). The TSC is virtual time (s.t).
const MODE_DEADLINE = 2 << 17, MODE_PERIODIC = 1 << 17;

test('TSC-deadline: fires when TSC >= deadline, then disarms and the MSR reads 0', () => {
  const { a, r, w, s } = enabled();
  w(TIMER, MODE_DEADLINE | 0xef);
  assert.is(r(TIMER), 0x000400ef);
  s.t = 100;
  a.writeTscDeadline(1000, 0);
  assert.equal(a.readTscDeadline(), [1000, 0], 'an armed deadline reads back');
  assert.is(a.timer.at, 1000);
  s.t = 999;
  assert.is(a.highestPending(), -1, 'not before the deadline');
  s.t = 1000;
  a.timer.fire(1000);
  assert.is(a.highestPending(), 0xef);
  assert.equal(a.readTscDeadline(), [0, 0], '"It then disarms the timer and clear the IA32_TSC_DEADLINE MSR"');
  assert.is(a.timer.at, Infinity);
});

test('TSC-deadline: a deadline already passed fires at once; writing 0 disarms; a 64-bit deadline reads back exactly', () => {
  const { a, w, s } = enabled();
  w(TIMER, MODE_DEADLINE | 0xef);
  s.t = 5000;
  a.writeTscDeadline(4000, 0); // kvm-unit-tests: wrmsr(TSC_DEADLINE, rdtsc()) then expects one interrupt
  assert.is(a.highestPending(), 0xef);
  assert.equal(a.readTscDeadline(), [0, 0]);
  a.acknowledge(0xef); w(EOI, 0);
  a.writeTscDeadline(9000, 0);
  a.writeTscDeadline(0, 0);
  assert.is(a.timer.at, Infinity, 'writing 0 disarms');
  s.t = 10000;
  assert.is(a.highestPending(), -1);
  a.writeTscDeadline(0x00000001, 0xffffffff);
  assert.equal(a.readTscDeadline(), [1, 0xffffffff]);
  assert.is(a.highestPending(), -1);
});

test('TSC-deadline: initial count ignored and current count 0 in the mode; MSR ignored outside it; mode switches disarm', () => {
  const { a, r, w, s } = enabled();
  w(DIVIDE, 0xb);
  w(TIMER, 0xee); // one-shot
  a.writeTscDeadline(50, 0);
  assert.equal(a.readTscDeadline(), [0, 0], 'outside TSC-deadline mode the MSR reads 0 and ignores writes');
  w(INIT_COUNT, 1000);
  assert.is(a.timer.at, 1000);
  w(TIMER, MODE_DEADLINE | 0xee);
  assert.is(a.timer.at, Infinity, '"Transitioning between TSC-deadline mode and other timer modes also disarms the timer"');
  w(INIT_COUNT, 500);
  assert.is(a.timer.at, Infinity, 'initial-count writes are ignored in TSC-deadline mode');
  a.writeTscDeadline(2000, 0);
  s.t = 1500;
  assert.is(r(CUR_COUNT), 0, 'current count reads 0 in TSC-deadline mode');
  w(TIMER, MODE_PERIODIC | 0xee);
  assert.is(a.timer.at, Infinity, 'leaving TSC-deadline mode disarms the deadline');
  s.t = 3000;
  assert.is(a.highestPending(), -1);
  assert.equal(a.readTscDeadline(), [0, 0]);
});

test('self-IPI: shorthand self, physical and logical destinations, illegal vector, NMI', () => {
  const { a, r, w, s } = enabled({ id: 5 });
  w(ICR_LO, 0x40050); // shorthand self, fixed, vector 0x50
  assert.is(a.highestPending(), 0x50);
  assert.is(r(ICR_LO) & 0x1000, 0, 'delivery status idle: delivery is instantaneous');
  a.acknowledge(0x50);
  w(EOI, 0);
  w(ICR_HI, 0x05000000);
  w(ICR_LO, 0x51); // no shorthand, physical, destination 5 = our ID
  assert.is(a.highestPending(), 0x51);
  a.acknowledge(0x51); w(EOI, 0);
  w(ICR_HI, 0x06000000);
  w(ICR_LO, 0x52);
  assert.is(a.highestPending(), -1, 'another ID');
  w(ICR_HI, 0xff000000);
  w(ICR_LO, 0x53);
  assert.is(a.highestPending(), 0x53, 'physical broadcast');
  a.acknowledge(0x53); w(EOI, 0);
  w(ICR_LO, 0xc0054); // all excluding self
  assert.is(a.highestPending(), -1);
  w(ICR_LO, 0x80055); // all including self
  assert.is(a.highestPending(), 0x55);
  a.acknowledge(0x55); w(EOI, 0);
  // logical, flat model: LDR bit 0
  w(LDR, 0x01000000);
  w(ICR_HI, 0x03000000);
  w(ICR_LO, 0x856); // logical (bit 11)
  assert.is(a.highestPending(), 0x56);
  a.acknowledge(0x56); w(EOI, 0);
  w(ICR_HI, 0x02000000);
  w(ICR_LO, 0x857);
  assert.is(a.highestPending(), -1);
  // cluster model: cluster 2, member bit 1
  w(DFR, 0x0fffffff);
  w(LDR, 0x22000000);
  w(ICR_HI, 0x23000000);
  w(ICR_LO, 0x858);
  assert.is(a.highestPending(), 0x58);
  a.acknowledge(0x58); w(EOI, 0);
  w(ICR_HI, 0x32000000);
  w(ICR_LO, 0x859);
  assert.is(a.highestPending(), -1, 'other cluster');
  w(ESR, 0);
  w(ICR_LO, 0x40005); // illegal vector
  w(ESR, 0);
  assert.is(r(ESR), 0x20, 'Send Illegal Vector');
  w(ICR_LO, 0x40400); // NMI to self
  assert.is(s.nmis, 1);
});

test('deliverMessage: I/O APIC messages by destination and delivery mode', () => {
  const { a, r, s } = enabled({ id: 2 });
  assert.ok(a.deliverMessage(0x61, true, 2, false, 0));
  assert.ok(hasBit(r, TMR, 0x61));
  assert.not.ok(a.deliverMessage(0x62, false, 3, false, 0));
  assert.ok(a.deliverMessage(0x63, false, 2, false, 1), 'lowest priority to the only CPU');
  assert.ok(a.deliverMessage(0, false, 2, false, 4));
  assert.is(s.nmis, 1);
  assert.ok(a.deliverMessage(0, false, 0xff, false, 7));
  assert.is(s.extInts, 1);
  assert.not.ok(a.deliverMessage(0, false, 2, false, 5), 'INIT not modelled');
});

test('IA32_APIC_BASE: disable resets all but the ID, re-enable works, reserved bits refused', () => {
  const { a, r, w, s } = enabled({ x2apic: false });
  w(ID, 0x07000000);
  w(TPR, 0x20);
  w(LDR, 0x01000000);
  w(DIVIDE, 0xb);
  w(TIMER, 0x30);
  w(INIT_COUNT, 100);
  a.acceptInterrupt(0x80, false);
  assert.ok(a.setApicBase(0xfee00000, 0)); // EN = 0
  assert.not.ok(a.hwEnabled);
  assert.equal(a.getApicBase(), [0xfee00100, 0]);
  assert.is(r(VER), 0xffffffff, 'page not decoded: no device answers');
  assert.is(a.read(VER, 1), 0xff);
  assert.not.ok(a.claims(0xfee00030));
  assert.ok(a.picRouted(), 'LINT0 is INTR while disabled');
  assert.not.ok(a.acceptInterrupt(0x40, false));
  assert.is(a.highestPending(), -1);
  assert.is(a.timer.at, Infinity, 'the timer stopped');
  a.setLint(1, true);
  assert.is(s.nmis, 1, 'LINT1 is the NMI pin while disabled');
  assert.ok(a.setApicBase(0xfee00900, 0)); // EN = 1 again (BSP bit as read)
  assert.ok(a.hwEnabled);
  assert.ok(a.claims(0xfee00030));
  assert.is(r(ID), 0x07000000, 'ID preserved');
  assert.is(r(VER), 0x00050014);
  assert.is(r(TPR), 0);
  assert.is(r(LDR), 0);
  assert.is(r(DFR), 0xffffffff);
  assert.is(r(SVR), 0xff);
  assert.is(r(TIMER), 0x10000);
  assert.is(r(INIT_COUNT), 0);
  assert.is(r(DIVIDE), 0);
  assert.is(r(IRR + 0x40), 0);
  // works again once software-enabled
  w(SVR, 0x1ff);
  assert.ok(a.acceptInterrupt(0x40, false));
  assert.is(a.highestPending(), 0x40);
  // reserved bits: 0-7, 9, 10 (no x2APIC), MAXPHYADDR (39) and up
  for (const lo of [0xfee00901, 0xfee00b00, 0xfee00d00]) assert.not.ok(a.setApicBase(lo, 0), lo.toString(16));
  assert.not.ok(a.setApicBase(0xfee00900, 0x80), 'bit 39');
  assert.equal(a.getApicBase(), [0xfee00900, 0], 'refused writes change nothing');
  // relocation (10.4.5)
  assert.ok(a.setApicBase(0xfed00800, 0x40));
  assert.is(a.base, 0x40_fed00000);
  assert.ok(a.claims(0x40_fed00fff));
  assert.not.ok(a.claims(0xfee00000));
  assert.equal(a.getApicBase(), [0xfed00900, 0x40], 'BSP is read-only');
  assert.is(r(VER), 0x00050014, 'relocating does not reset');
  // reset() returns to FEE00000H with the initial ID
  a.reset();
  assert.is(a.base, 0xfee00000);
  assert.is(r(ID), 0);
});

test('kvm-unit-tests startup: clear then set IA32_APIC_BASE[11], then SVR = 0x1FF', () => {
  const { a, r, w } = make({ virtualWire: true });
  const [lo, hi] = a.getApicBase();
  assert.ok(a.setApicBase(lo & ~0xc00, hi));
  assert.ok(a.setApicBase((lo & ~0xc00) | 0x800, hi));
  w(SVR, 0x1ff);
  assert.is(r(SVR), 0x1ff);
  w(LINT0, 0x700);
  assert.ok(a.picRouted());
  assert.is(r(VER), 0x00050014);
});

// x2APIC (SDM Vol. 3A 10.12). IA32_APIC_BASE: bit 11 EN, bit 10 EXTD, bit 8 BSP.
const EN = 0x800, EXTD = 0x400, BSP = 0x100, BASE = 0xfee00000;

test('x2APIC state transitions (10.12.5, Figure "Local x2APIC State Transitions")', () => {
  const { a } = enabled({ x2apic: true });
  assert.ok(a.x2apicSupported);
  assert.not.ok(a.setApicBase(BASE | EXTD, 0), 'EXTD without EN is the invalid state');
  assert.ok(a.setApicBase(BASE | EN | EXTD, 0), 'xAPIC -> x2APIC');
  assert.ok(a.x2apicEnabled);
  assert.equal(a.getApicBase(), [(BASE | BSP | EN | EXTD) >>> 0, 0]);
  assert.not.ok(a.setApicBase(BASE | EN, 0), 'x2APIC -> xAPIC is not allowed');
  assert.not.ok(a.setApicBase(BASE | EXTD, 0));
  assert.ok(a.setApicBase(BASE, 0), 'x2APIC -> disabled');
  assert.not.ok(a.x2apicEnabled);
  assert.not.ok(a.setApicBase(BASE | EN | EXTD, 0), 'disabled -> x2APIC is not allowed');
  assert.not.ok(a.setApicBase(BASE | EXTD, 0));
  assert.ok(a.setApicBase(BASE | EN, 0), 'disabled -> xAPIC');
  const plain = enabled({ x2apic: false });
  assert.not.ok(plain.a.setApicBase(BASE | EN | EXTD, 0), 'without x2APIC support bit 10 is reserved');
});

test('x2APIC MSRs: #GP outside x2APIC mode; ID, LDR derived from it, version; missing and write-only registers', () => {
  const { a } = enabled({ x2apic: true, id: 0x13 });
  assert.is(a.readMsr(0x803), null, 'not in x2APIC mode');
  assert.not.ok(a.writeMsr(0x808, 0, 0));
  a.setApicBase(BASE | EN | EXTD, 0);
  assert.equal(a.readMsr(0x802), [0x13, 0], 'x2APIC ID = initial APIC ID, not shifted');
  // Logical x2APIC ID (10.12.10.2): cluster ID[19:4] = 1 in bits 31:16, 1 << ID[3:0] = 1 << 3.
  assert.equal(a.readMsr(0x80d), [0x00010008, 0]);
  assert.equal(a.readMsr(0x803), [0x00050014, 0]);
  for (const m of [0x809, 0x80b, 0x80c, 0x80e, 0x831, 0x83f, 0x801, 0x840, 0x8ff]) assert.is(a.readMsr(m), null, `RDMSR ${m.toString(16)}`);
  for (const m of [0x802, 0x803, 0x80a, 0x80d, 0x80e, 0x810, 0x818, 0x820, 0x839, 0x809, 0x831]) assert.not.ok(a.writeMsr(m, 0, 0), `WRMSR ${m.toString(16)}`);
});

test('x2APIC MSRs: TPR, EOI and ESR take only their defined bits; bits 63:32 are reserved', () => {
  const { a } = enabled({ x2apic: true });
  a.setApicBase(BASE | EN | EXTD, 0);
  assert.ok(a.writeMsr(0x808, 0x20, 0));
  assert.equal(a.readMsr(0x808), [0x20, 0]);
  assert.is(a.cr8, 2, 'CR8 is TPR[7:4] in x2APIC mode too');
  assert.not.ok(a.writeMsr(0x808, 0x100, 0), 'TPR bits 31:8 reserved');
  assert.not.ok(a.writeMsr(0x808, 0x20, 1), 'bits 63:32 reserved');
  a.acceptInterrupt(0x80, false);
  a.acknowledge(0x80);
  assert.not.ok(a.writeMsr(0x80b, 1, 0), 'EOI: a non-zero write is #GP');
  assert.equal(a.readMsr(0x810 + 4), [1, 0], 'ISR bit 0x80 still set');
  assert.ok(a.writeMsr(0x80b, 0, 0));
  assert.equal(a.readMsr(0x810 + 4), [0, 0]);
  assert.not.ok(a.writeMsr(0x828, 1, 0), 'ESR: a non-zero write is #GP');
  assert.ok(a.writeMsr(0x828, 0, 0));
  assert.not.ok(a.writeMsr(0x83e, 0x4, 0), 'divide configuration bit 2 reserved');
  assert.not.ok(a.writeMsr(0x832, 0x00080000, 0), 'LVT timer bit 19 reserved');
  assert.ok(a.writeMsr(0x832, 0x000200ee, 0));
  assert.equal(a.readMsr(0x832), [0x000200ee, 0]);
});

test('x2APIC ICR (one 64-bit MSR, destination in 63:32) and SELF IPI', () => {
  const { a, s } = enabled({ x2apic: true });
  a.setApicBase(BASE | EN | EXTD, 0);
  assert.ok(a.writeMsr(0x830, 0x000040f1, 0)); // fixed, physical, assert, vector 0xF1, destination 0 (this APIC)
  assert.is(a.highestPending(), 0xf1);
  assert.equal(a.readMsr(0x830), [0x000040f1, 0]);
  a.acknowledge(0xf1); a.writeMsr(0x80b, 0, 0);
  assert.ok(a.writeMsr(0x830, 0x000040f2, 1)); // destination 1: not this APIC
  assert.is(a.highestPending(), -1);
  assert.equal(a.readMsr(0x830), [0x000040f2, 1]);
  assert.ok(a.writeMsr(0x830, 0x000040f3, 0xffffffff), 'destination FFFFFFFFH: broadcast');
  assert.is(a.highestPending(), 0xf3);
  a.acknowledge(0xf3); a.writeMsr(0x80b, 0, 0);
  assert.ok(a.writeMsr(0x830, 0x00000830, 0x00000001)); // logical: cluster 0, member bit 0 = this APIC (ID 0)
  assert.is(a.highestPending(), 0x30);
  a.acknowledge(0x30); a.writeMsr(0x80b, 0, 0);
  assert.not.ok(a.writeMsr(0x830, 0x000010f1, 0), 'bit 12 (no delivery status in x2APIC mode) reserved');
  assert.ok(a.writeMsr(0x83f, 0x33, 0), 'SELF IPI');
  assert.is(a.highestPending(), 0x33);
  assert.not.ok(a.writeMsr(0x83f, 0x133, 0), 'SELF IPI bits 31:8 reserved');
  assert.ok(a.writeMsr(0x830, 0x00000400, 0)); // NMI to self
  assert.is(s.nmis, 1);
});

test('x2APIC mode: the MMIO page answers as a globally disabled APIC; disabling resets to xAPIC defaults', () => {
  const { a, r, w } = enabled({ x2apic: true, id: 2 });
  a.setApicBase(BASE | EN | EXTD, 0);
  assert.is(r(VER), 0xffffffff);
  w(TPR, 0x40);
  assert.equal(a.readMsr(0x808), [0, 0], 'MMIO writes go nowhere');
  a.writeMsr(0x808, 0x50, 0);
  assert.ok(a.setApicBase(BASE, 0));
  assert.ok(a.setApicBase(BASE | EN, 0));
  assert.is(r(TPR), 0, 'registers back at their power-up values');
  assert.is(r(ID), 0x02000000, 'the ID is the initial APIC ID');
  assert.is(r(SVR), 0xff);
});

test('INIT keeps the ID and IA32_APIC_BASE, resets the rest', () => {
  const { a, r, w } = enabled();
  w(ID, 0x09000000);
  a.setApicBase(0xfed00800, 0);
  w(TPR, 0x40);
  a.init();
  assert.is(r(ID), 0x09000000);
  assert.is(a.base, 0xfed00000);
  assert.is(r(TPR), 0);
  assert.is(r(SVR), 0xff);
});

test('MMIO access sizes: sub-dword reads, bytes 4-15 of a slot, ignored writes', () => {
  const { a, r, w } = enabled();
  assert.is(a.read(VER, 1), 0x14);
  assert.is(a.read(VER + 2, 1), 0x05);
  assert.is(a.read(VER, 2), 0x0014);
  assert.is(a.read(VER + 1, 2), 0x0500);
  assert.is(a.read(VER + 4, 4), 0, 'bytes 4-7 of a slot read 0');
  assert.is(a.read(0x2e, 4), 0x00140000, 'straddling slots 2 and 3: bytes 14-15 of the ID slot, bytes 0-1 of VER');
  a.write(TPR, 1, 0x50);
  a.write(TPR, 2, 0x50);
  a.write(TPR + 4, 4, 0x50);
  a.write(TPR + 1, 4, 0x50);
  assert.is(r(TPR), 0, 'only aligned 32-bit stores write');
  w(TPR, 0x50);
  assert.is(r(TPR), 0x50);
  w(ESR, 0);
  assert.is(r(ESR), 0, 'bytes 4-15 of reserved slots raise no error');
  assert.throws(() => a.read(0xffe, 4), /outside/);
  assert.throws(() => a.read(0, 8), /size/);
  assert.throws(() => a.write(-4, 4, 0), /outside/);
});

test.run();
