import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AcpiPm } from '../../../core/devices/acpi-pm.js';
import { IoBus } from '../../../core/hv/iobus.js';

// Ports and bits are literal numbers from the ACPI 6.4 specification
// (4.8.3: Tables 4.11-4.13, PM timer 3.579545 MHz), not the module's constants.
const STS = 0x600, EN = 0x602, CNT = 0x604, TMR = 0x608;
const TMR_STS = 1, PWRBTN_STS = 1 << 8, TMR_EN = 1, PWRBTN_EN = 1 << 8, SCI_EN = 1, SLP_EN = 1 << 13;

function make(ips = 1_000_000_000) {
  let t = 0;
  const sci: boolean[] = [];
  let off = 0;
  const pm = new AcpiPm({ now: () => t, instructionsPerSecond: ips, sci: (l) => sci.push(l), powerOff: () => { off++; }, s5SlpTyp: 5 });
  const io = new IoBus();
  for (const r of pm.ports()) io.register(r.base, r.len, r.dev);
  return { pm, io, sci, offs: () => off, set: (v: number) => { t = v; }, now: () => t };
}

test('PM timer counts 3579545 per virtual second, exactly, and wraps at 32 bits', () => {
  const { io, set } = make();
  assert.is(io.read(TMR, 4), 0);
  set(1_000_000_000);
  assert.is(io.read(TMR, 4), 3579545);
  set(279); // 279 ns * 3.579545 MHz = 0.9987 ticks
  assert.is(io.read(TMR, 4), 0);
  set(280);
  assert.is(io.read(TMR, 4), 1);
  // 2^32 ticks = 1199.86 s; far beyond 2^53 / 3579545 ns the count must stay exact.
  const t = 5_000_000_000_000; // 5000 s
  set(t);
  const ticks = 5000 * 3579545; // exactly
  assert.is(io.read(TMR, 4), ticks % 2 ** 32);
  assert.is(io.read(TMR, 2), ticks % 2 ** 16, 'a 16-bit read returns the low half');
  assert.is(io.read(TMR + 2, 2), Math.floor(ticks / 2 ** 16) % 2 ** 16);
  io.write(TMR, 4, 0);
  assert.is(io.read(TMR, 4), ticks % 2 ** 32, 'read-only');
});

test('the timer never goes backwards, whatever the instruction rate', () => {
  const { pm, set } = make(999_983);
  let last = -1;
  for (let t = 0; t < 3_000_000; t += 997) {
    set(t);
    const v = pm.ticksAt(t);
    assert.ok(v >= last);
    last = v;
    // timeOfTick is the first time showing a count.
    assert.ok(pm.ticksAt(pm.timeOfTick(v)) === v && (pm.timeOfTick(v) === 0 || pm.ticksAt(pm.timeOfTick(v) - 1) < v));
  }
});

test('SCI_EN is set from reset (no SMI_CMD: always ACPI mode); SLP_EN reads 0, SLP_TYP reads back', () => {
  const { io, offs } = make();
  assert.is(io.read(CNT, 2), SCI_EN);
  io.write(CNT, 2, SCI_EN | (3 << 10));
  assert.is(io.read(CNT, 2), SCI_EN | (3 << 10));
  io.write(CNT, 2, SCI_EN | (3 << 10) | SLP_EN); // S3-type value: not offered, ignored
  assert.is(offs(), 0);
  assert.is(io.read(CNT, 2) & SLP_EN, 0);
});

test('S5: SLP_TYP 5 then SLP_EN powers off (as Linux acpi_hw_legacy_sleep writes it), also through a byte write', () => {
  const a = make();
  a.io.write(CNT, 2, SCI_EN | (5 << 10));
  assert.is(a.offs(), 0, 'SLP_TYP alone does nothing');
  a.io.write(CNT, 2, SCI_EN | (5 << 10) | SLP_EN);
  assert.is(a.offs(), 1);
  const b = make();
  b.io.write(CNT + 1, 1, ((5 << 10) | SLP_EN) >> 8);
  assert.is(b.offs(), 1, 'the high byte alone carries SLP_TYP and SLP_EN');
});

test('power button: PWRBTN_STS raises the SCI only when enabled and SCI_EN is set; write 1 clears', () => {
  const { pm, io, sci } = make();
  pm.pressPowerButton();
  assert.is(io.read(STS, 2) & PWRBTN_STS, PWRBTN_STS);
  assert.equal(sci, [], 'not enabled: no SCI');
  io.write(EN, 2, PWRBTN_EN);
  assert.equal(sci, [true]);
  assert.is(io.read(EN, 2), PWRBTN_EN);
  io.write(STS, 2, 0); // writing 0 changes nothing
  assert.ok(pm.sci);
  io.write(STS, 2, PWRBTN_STS);
  assert.equal(sci, [true, false]);
  assert.is(io.read(STS, 2) & PWRBTN_STS, 0);
  // SCI_EN clear: events do not reach the SCI.
  io.write(CNT, 2, 0);
  pm.pressPowerButton();
  assert.equal(sci, [true, false]);
  io.write(CNT, 2, SCI_EN);
  assert.equal(sci, [true, false, true]);
  // A 32-bit write to the event block clears status (low half) and sets enables (high half).
  io.write(STS, 4, PWRBTN_STS | (0 << 16));
  assert.equal(sci, [true, false, true, false]);
  assert.is(io.read(STS, 4) >>> 16, 0);
});

test('TMR_STS: set when bit 31 of the count toggles; with TMR_EN the device asks for that deadline and raises the SCI', () => {
  const { pm, io, sci, set } = make();
  assert.is(pm.at, Infinity, 'no deadline while TMR_EN is clear');
  io.write(EN, 2, TMR_EN);
  const toggle = pm.timeOfTick(2 ** 31);
  assert.is(pm.at, toggle);
  assert.ok(toggle > 599 * 1e9 && toggle < 600 * 1e9, '2^31 ticks ≈ 599.9 s');
  set(toggle - 1);
  assert.is(io.read(STS, 2) & TMR_STS, 0);
  set(toggle);
  pm.fire(toggle);
  assert.equal(sci, [true]);
  assert.is(io.read(STS, 2) & TMR_STS, TMR_STS);
  assert.is(pm.at, Infinity, 'no deadline while TMR_STS is pending');
  io.write(STS, 2, TMR_STS);
  assert.equal(sci, [true, false]);
  assert.is(pm.at, pm.timeOfTick(2 ** 32), 'next toggle');
  assert.is(io.read(TMR, 4), 2 ** 31);
});

test('TMR_STS without TMR_EN is still set (polled), and no SCI', () => {
  const { io, sci, set, pm } = make();
  set(pm.timeOfTick(2 ** 31) + 5);
  assert.is(io.read(STS, 2) & TMR_STS, TMR_STS);
  assert.equal(sci, []);
});

test('undecoded offsets read all ones', () => {
  const { pm } = make();
  assert.is(pm.read(6, 1), 0xff);
  assert.is(pm.read(4, 4) >>> 16, 0xffff);
});

test.run();
