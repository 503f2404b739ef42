import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Pit8254, PIT_HZ, pitTicksAt, pitTickTime } from '../../../core/devices/pit8254.js';

// Offsets and command bytes are literal numbers from the 8254 datasheet (and
// Linux's arch/x86 PIT code), not the module's constants.
const C0 = 0, C2 = 2, CTRL = 3;

/**
 * A PIT whose clock runs at one pulse per instruction (instructionsPerSecond
 * = PIT_HZ), so virtual time and PIT ticks coincide and periods read plainly.
 */
function make(ips: number = PIT_HZ) {
  const clock = { t: 0 };
  const irq: boolean[] = [];
  const pit = new Pit8254({ now: () => clock.t, irq: (l) => irq.push(l), instructionsPerSecond: ips });
  return { pit, clock, irq };
}

function word(pit: Pit8254, ch: number, n: number): void {
  pit.write(ch, n & 0xff);
  pit.write(ch, (n >> 8) & 0xff);
}
function readWord(pit: Pit8254, ch: number): number {
  const lo = pit.read(ch);
  return lo | (pit.read(ch) << 8);
}
/** Counter 0 rising edges delivered while running the clock to `until`, firing each deadline on time. */
function runTo(pit: Pit8254, clock: { t: number }, until: number): number[] {
  const fired: number[] = [];
  while (pit.at <= until) {
    clock.t = pit.at;
    fired.push(clock.t);
    pit.fire(clock.t);
  }
  clock.t = until;
  return fired;
}

test('tick conversion is exact: floor(t * 1193182 / ips) against BigInt, up to 2^53', () => {
  const ref = (t: number, ips: number): number => Number((BigInt(t) * 1193182n) / BigInt(ips));
  const refInv = (n: number, ips: number): number => Number((BigInt(n) * BigInt(ips) + 1193181n) / 1193182n);
  const samples = [0, 1, 837, 838, 839, 999_999_999, 1_000_000_000, 7_549_125_000, 123_456_789_012_345, 2 ** 53 - 1];
  for (const ips of [1_000_000_000, 1_193_182, 3_000_000_007, 2 ** 32]) {
    for (const t of samples) {
      assert.is(pitTicksAt(t, ips), ref(t, ips), `ticks(${t}) at ${ips}`);
    }
    for (const n of [0, 1, 2, 1193, 1193182, 1193183, 987_654_321_987]) {
      const t = pitTickTime(n, ips);
      assert.is(t, refInv(n, ips), `time of tick ${n} at ${ips}`);
      assert.ok(pitTicksAt(t, ips) >= n && (t === 0 || pitTicksAt(t - 1, ips) < n), 'first instant of the tick');
    }
  }
  assert.is(pitTickTime(Infinity, 1e9), Infinity);
});

test('default ratio: one PIT tick ≈ 838.1 instructions (1 instruction = 1 ns)', () => {
  const { pit, clock } = make(1_000_000_000);
  clock.t = 838;
  assert.is(pit.tick(), 0);
  clock.t = 839;
  assert.is(pit.tick(), 1);
  clock.t = 1_000_000_000;
  assert.is(pit.tick(), 1193182);
  assert.throws(() => make(0), /instructionsPerSecond/);
  assert.throws(() => make(2 ** 32 + 1), /instructionsPerSecond/);
  assert.throws(() => make(1.5), /instructionsPerSecond/);
});

test('power-on: no counting, no deadline, OUT low, control port reads 0xFF', () => {
  const { pit, irq } = make();
  assert.is(pit.at, Infinity);
  assert.is(pit.out(0), false);
  assert.is(pit.read(CTRL), 0xff);
  assert.equal(irq, []);
});

test('mode 2 (Linux periodic, 0x34, LATCH 1193): IRQ 0 edge every 1193 ticks', () => {
  const { pit, clock, irq } = make();
  pit.write(CTRL, 0x34);
  word(pit, C0, 1193);
  assert.is(pit.at, 1193);
  assert.equal(irq, [], 'programming raises nothing');
  const fired = runTo(pit, clock, 5000);
  assert.equal(fired, [1193, 2386, 3579, 4772]);
  assert.equal(irq, [true, false, true, false, true, false, true]);
  assert.is(pit.at, 5965);
});

test('mode 2 in default time: period 1193 ticks = 999 848 instructions (rounded up to the tick)', () => {
  const { pit, clock } = make(1_000_000_000);
  pit.write(CTRL, 0x34);
  word(pit, C0, 1193);
  assert.is(pit.at, 999_848); // ceil(1193 * 1e9 / 1193182)
  const fired = runTo(pit, clock, 3_000_000);
  assert.equal(fired, [999_848, 1_999_695, 2_999_543]); // ceil(k * 1193 * 1e9 / 1193182): no drift
});

test('mode 2 counter values and the one-tick low OUT pulse', () => {
  const { pit, clock } = make();
  pit.write(CTRL, 0x34);
  word(pit, C0, 10);
  const seen: [number, boolean][] = [];
  for (let t = 0; t <= 11; t++) {
    clock.t = t;
    seen.push([pit.count(0), pit.out(0)]);
  }
  assert.equal(seen, [
    [10, true], [9, true], [8, true], [7, true], [6, true], [5, true], [4, true], [3, true], [2, true], [1, false],
    [10, true], [9, true],
  ]);
});

test('mode 3 square wave on counter 2: OUT2 in port 0x61 bit 5, even and odd counts', () => {
  const { pit, clock } = make();
  pit.writePortB(0x01); // GATE2
  pit.write(CTRL, 0xb6); // counter 2, LSB/MSB, mode 3
  word(pit, C2, 6);
  const outs: number[] = [];
  const counts: number[] = [];
  for (let t = 0; t < 12; t++) {
    clock.t = t;
    outs.push((pit.readPortB() >> 5) & 1);
    counts.push(pit.count(2));
  }
  assert.equal(outs, [1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0]);
  assert.equal(counts, [6, 4, 2, 6, 4, 2, 6, 4, 2, 6, 4, 2]);
  // odd count 5: high for 3, low for 2; counter loads N-1 and steps by 2
  pit.write(CTRL, 0xb6);
  word(pit, C2, 5);
  const start = clock.t;
  const outs5: number[] = [];
  const counts5: number[] = [];
  for (let t = start; t < start + 10; t++) {
    clock.t = t;
    outs5.push(pit.out(2) ? 1 : 0);
    counts5.push(pit.count(2));
  }
  assert.equal(outs5, [1, 1, 1, 0, 0, 1, 1, 1, 0, 0]);
  assert.equal(counts5, [4, 2, 0, 4, 2, 4, 2, 0, 4, 2]);
});

test('mode 3 on counter 0: one IRQ edge per full cycle', () => {
  const { pit, clock } = make();
  pit.write(CTRL, 0x36);
  word(pit, C0, 100);
  assert.equal(runTo(pit, clock, 350), [100, 200, 300]);
});

test('mode 0 one-shot (Linux pit_calibrate_tsc on counter 2): OUT2 rises after N ticks', () => {
  const { pit, clock } = make();
  pit.writePortB((pit.readPortB() & ~0x02) | 0x01);
  pit.write(CTRL, 0xb0); // counter 2, LSB/MSB, mode 0, binary
  assert.is(pit.readPortB() & 0x20, 0, 'mode 0 control word drives OUT low');
  word(pit, C2, 1000);
  clock.t = 999;
  assert.is(pit.readPortB() & 0x20, 0);
  assert.is(readWord(pit, C2), 1);
  clock.t = 1000;
  assert.is(pit.readPortB() & 0x20, 0x20);
  assert.is(readWord(pit, C2), 0);
  clock.t = 1001;
  assert.is(readWord(pit, C2), 0xffff, 'the counter wraps and keeps counting');
  assert.is(pit.readPortB() & 0x20, 0x20, 'OUT stays high');
});

test('mode 0 on counter 0: line lowered by programming, one edge at terminal count', () => {
  const { pit, clock, irq } = make();
  pit.write(CTRL, 0x30);
  word(pit, C0, 50);
  assert.equal(runTo(pit, clock, 1000), [50]);
  assert.equal(irq, [true]);
  assert.is(pit.at, Infinity);
  // a new count drives OUT (and the line) low, then a new terminal count
  word(pit, C0, 20);
  assert.equal(irq, [true, false]);
  assert.is(pit.at, 1020);
});

test('mode 0: the first byte of a two-byte count stops counting and drives OUT low', () => {
  const { pit, clock } = make();
  pit.write(CTRL, 0x30);
  word(pit, C0, 10);
  clock.t = 15;
  assert.is(pit.out(0), true);
  pit.write(C0, 0x20);
  assert.is(pit.out(0), false);
  const held = pit.count(0);
  clock.t = 40;
  assert.is(pit.count(0), held, 'not counting between the bytes');
  assert.is(pit.at, Infinity);
  pit.write(C0, 0x00);
  assert.is(pit.count(0), 0x20);
  assert.is(pit.at, 40 + 0x20);
});

test('mode 4 (Linux one-shot, 0x38): OUT strobes low at N, the IRQ edge comes one tick later', () => {
  const { pit, clock, irq } = make();
  pit.write(CTRL, 0x38);
  word(pit, C0, 30);
  assert.is(pit.out(0), true);
  clock.t = 30;
  assert.is(pit.out(0), false);
  clock.t = 31;
  assert.is(pit.out(0), true);
  clock.t = 0;
  assert.equal(runTo(pit, clock, 100), [31]);
  assert.equal(irq, [true]);
  // a new count restarts at once (datasheet mode 4)
  word(pit, C0, 10);
  assert.is(pit.at, 111);
});

test('counter latch command freezes the value until read; a second latch is ignored', () => {
  const { pit, clock } = make();
  pit.write(CTRL, 0x34);
  word(pit, C0, 0x1234);
  clock.t = 0x34;
  pit.write(CTRL, 0x00); // latch counter 0
  clock.t = 0x100;
  pit.write(CTRL, 0x00); // ignored: the first latch is unread
  assert.is(pit.read(C0), 0x00);
  clock.t = 0x200;
  assert.is(pit.read(C0), 0x12);
  assert.is(readWord(pit, C0), 0x1234 - 0x200, 'after the latch is read, reads are live again');
});

test('read-back status bits: OUT, null count, RW, mode, BCD', () => {
  const { pit, clock } = make();
  pit.write(CTRL, 0x34);
  pit.write(CTRL, 0xe2); // read-back: latch status of counter 0
  assert.is(pit.read(C0), 0x80 | 0x40 | 0x34, 'mode 2 OUT high, null count before the count');
  word(pit, C0, 100);
  clock.t = 10;
  pit.write(CTRL, 0xc2); // count and status of counter 0
  clock.t = 50;
  assert.is(pit.read(C0), 0x80 | 0x34, 'status first, null count cleared');
  assert.is(readWord(pit, C0), 90, 'then the count latched at t = 10');
  pit.write(CTRL, 0xd2); // count only
  assert.is(readWord(pit, C0), 50);
  pit.write(CTRL, 0xb1); // counter 2, LSB/MSB, mode 0, BCD
  pit.write(CTRL, 0xe8); // status of counter 2
  assert.is(pit.read(C2), 0x40 | 0x31, 'mode 0 OUT low, BCD');
});

test('read-back latches several counters at once', () => {
  const { pit, clock } = make();
  pit.writePortB(0x01);
  pit.write(CTRL, 0x34);
  word(pit, C0, 1000);
  pit.write(CTRL, 0xb4);
  word(pit, C2, 2000);
  clock.t = 100;
  pit.write(CTRL, 0xda); // count of counters 0 and 2
  clock.t = 500;
  assert.is(readWord(pit, C0), 900);
  assert.is(readWord(pit, C2), 1900);
});

test('access modes: LSB only, MSB only, LSB then MSB', () => {
  const { pit, clock } = make();
  pit.write(CTRL, 0x14); // counter 0, LSB only, mode 2
  pit.write(C0, 0x80);
  assert.is(pit.count(0), 0x80);
  clock.t = 0x10;
  assert.is(pit.read(C0), 0x70);
  assert.is(pit.read(C0), 0x70, 'LSB-only reads never toggle');
  pit.write(CTRL, 0x24); // MSB only
  pit.write(C0, 0x02);
  assert.is(pit.count(0), 0x200);
  clock.t = 0x10 + 0x100;
  assert.is(pit.read(C0), 0x01);
  pit.write(CTRL, 0x34);
  pit.write(C0, 0x34);
  pit.write(C0, 0x12);
  assert.is(pit.count(0), 0x1234);
});

test('a count of 0 is the largest: 65536 binary, 10000 BCD', () => {
  const { pit, clock } = make();
  pit.write(CTRL, 0x34);
  word(pit, C0, 0);
  assert.is(pit.at, 65536);
  pit.write(CTRL, 0x35); // BCD
  word(pit, C0, 0);
  assert.is(pit.at, clock.t + 10000);
});

test('BCD counting: count 0x1000 = 1000 ticks, reads in BCD', () => {
  const { pit, clock } = make();
  pit.write(CTRL, 0x35);
  word(pit, C0, 0x1000);
  assert.is(pit.at, 1000);
  clock.t = 1;
  assert.is(readWord(pit, C0), 0x0999);
  clock.t = 766;
  assert.is(readWord(pit, C0), 0x0234);
});

test('GATE2 low in mode 2 forces OUT high and stops; rising GATE reloads', () => {
  const { pit, clock } = make();
  pit.writePortB(0x01);
  pit.write(CTRL, 0xb4);
  word(pit, C2, 10);
  clock.t = 9;
  assert.is(pit.out(2), false, 'the low pulse');
  pit.writePortB(0x00);
  assert.is(pit.out(2), true, 'GATE low forces OUT high');
  const held = pit.count(2);
  clock.t = 30;
  assert.is(pit.count(2), held);
  pit.writePortB(0x01);
  assert.is(pit.count(2), 10, 'reloaded');
  clock.t = 35;
  assert.is(pit.count(2), 5);
});

test('GATE2 low suspends mode 0 counting; a count written with GATE low waits', () => {
  const { pit, clock } = make();
  pit.write(CTRL, 0xb0);
  word(pit, C2, 100);
  clock.t = 50;
  assert.is(pit.count(2), 100, 'GATE2 is low at power-on');
  pit.writePortB(0x01);
  clock.t = 80;
  assert.is(pit.count(2), 70);
  pit.writePortB(0x00);
  clock.t = 200;
  assert.is(pit.count(2), 70);
  assert.is(pit.out(2), false);
  pit.writePortB(0x01);
  clock.t = 269;
  assert.is(pit.out(2), false);
  clock.t = 270;
  assert.is(pit.out(2), true);
});

test('mode 1 on counter 2: GATE rising edge triggers a retriggerable one-shot', () => {
  const { pit, clock } = make();
  pit.write(CTRL, 0xb2);
  word(pit, C2, 20);
  assert.is(pit.out(2), true, 'OUT high until triggered');
  clock.t = 5;
  pit.writePortB(0x01);
  assert.is(pit.out(2), false);
  clock.t = 15;
  assert.is(pit.count(2), 10);
  pit.writePortB(0x00);
  pit.writePortB(0x01); // retrigger
  clock.t = 34;
  assert.is(pit.out(2), false);
  clock.t = 35;
  assert.is(pit.out(2), true);
});

test('mode 5 on counter 2: GATE-triggered strobe', () => {
  const { pit, clock } = make();
  pit.write(CTRL, 0xba);
  word(pit, C2, 8);
  clock.t = 10;
  assert.is(pit.out(2), true);
  pit.writePortB(0x01);
  clock.t = 18;
  assert.is(pit.out(2), false);
  clock.t = 19;
  assert.is(pit.out(2), true);
});

test('mode 2: a count written while counting takes effect at the end of the period', () => {
  const { pit, clock } = make();
  pit.write(CTRL, 0x34);
  word(pit, C0, 100);
  clock.t = 30;
  word(pit, C0, 40);
  assert.is(pit.count(0), 70, 'the current period continues');
  pit.write(CTRL, 0xe2);
  assert.is(pit.read(C0) & 0x40, 0x40, 'null count until the reload');
  assert.equal(runTo(pit, clock, 300), [100, 140, 180, 220, 260, 300]);
  clock.t = 301;
  assert.is(pit.count(0), 39);
});

test('mode 3: a count written while counting takes effect at the end of the half-cycle', () => {
  const { pit, clock } = make();
  pit.write(CTRL, 0x36);
  word(pit, C0, 100);
  clock.t = 20; // high half: it ends at 50
  word(pit, C0, 10);
  clock.t = 49;
  assert.is(pit.out(0), true);
  clock.t = 50;
  assert.is(pit.out(0), false, 'new count starts in its low half');
  clock.t = 54;
  assert.is(pit.out(0), false);
  clock.t = 55;
  assert.is(pit.out(0), true);
  clock.t = 0;
  assert.equal(runTo(pit, clock, 80), [55, 65, 75]);
});

test('late delivery coalesces: several periods due at once give one edge', () => {
  const { pit, clock, irq } = make();
  pit.write(CTRL, 0x34);
  word(pit, C0, 10);
  clock.t = 55;
  pit.fire(55);
  assert.equal(irq, [true]);
  assert.is(pit.at, 60);
  pit.fire(60);
  assert.equal(irq, [true, false, true]);
});

test('reprogramming delivers edges already due first, then never raises the line itself', () => {
  const { pit, clock, irq } = make();
  pit.write(CTRL, 0x34);
  word(pit, C0, 10);
  clock.t = 12; // the edge at 10 was not fired yet
  pit.write(CTRL, 0x34);
  assert.equal(irq, [true], 'the due edge went out before the mode change');
  word(pit, C0, 10);
  assert.is(pit.at, 22);
  pit.write(CTRL, 0x30); // mode 0: OUT low, the line follows
  assert.equal(irq, [true, false]);
  pit.write(CTRL, 0x34); // OUT high again, but no edge to the PIC
  assert.equal(irq, [true, false]);
});

test('port 0x61: stored bits 0-3, refresh toggle every 18 ticks from virtual time', () => {
  const { pit, clock } = make();
  pit.writePortB(0xff);
  assert.is(pit.readPortB() & 0x0f, 0x0f);
  assert.is(pit.speakerEnabled, true);
  pit.writePortB(0x00);
  const bits: number[] = [];
  for (const t of [0, 17, 18, 35, 36, 54]) {
    clock.t = t;
    bits.push(pit.readPortB() & 0x10);
  }
  assert.equal(bits, [0, 0, 0x10, 0x10, 0, 0x10]);
});

test('port adapter: 0x40-0x43 and 0x61', () => {
  const { pit, clock } = make();
  const r = pit.ports();
  assert.equal(r.map((x) => [x.base, x.len]), [[0x40, 4], [0x61, 1]]);
  const [timer, pb] = r.map((x) => x.dev);
  timer!.write(3, 1, 0x34);
  timer!.write(0, 1, 0x00);
  timer!.write(0, 1, 0x01);
  clock.t = 16;
  timer!.write(3, 1, 0x00);
  assert.is(timer!.read(0, 1) | (timer!.read(0, 1) << 8), 0xf0);
  pb!.write(0, 1, 0x03);
  assert.is(pb!.read(0, 1) & 0x0f, 0x03);
  assert.is(timer!.read(3, 1), 0xff);
});

test('determinism: the same program and clock give the same edges', () => {
  const run = (): number[] => {
    const { pit, clock } = make(1_000_000_000);
    pit.write(CTRL, 0x34);
    word(pit, C0, 11932);
    return runTo(pit, clock, 100_000_000);
  };
  const a = run();
  assert.is(a.length, 9);
  assert.equal(a, run());
});

test.run();
