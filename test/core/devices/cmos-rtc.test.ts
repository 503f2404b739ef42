import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CmosRtc, civilFromDays, daysFromCivil, type CmosRtcOptions } from '../../../core/devices/cmos-rtc.js';

// Register indices and bits are literal numbers from the MC146818A datasheet
// and the IBM AT CMOS map, not the module's constants.
const SEC = 0x00, MIN = 0x02, HOUR = 0x04, WDAY = 0x06, MDAY = 0x07, MON = 0x08, YEAR = 0x09, CENT = 0x32;
const A = 0x0a, B = 0x0b, C = 0x0c, D = 0x0d;

/** An RTC whose second is 10^6 instructions, so times read plainly. */
const S = 1_000_000;

function make(opts: Partial<CmosRtcOptions> = {}) {
  const clock = { t: 0 };
  const irq: boolean[] = [];
  const rtc = new CmosRtc({
    now: () => clock.t,
    start: new Date('2026-01-01T00:00:00Z'),
    ramBytes: 128 * 1024 * 1024,
    instructionsPerSecond: S,
    irq: (l) => irq.push(l),
    ...opts,
  });
  return { rtc, clock, irq };
}

const get = (rtc: CmosRtc, reg: number): number => { rtc.write(0, reg); return rtc.read(1); };
const set = (rtc: CmosRtc, reg: number, v: number): void => { rtc.write(0, reg); rtc.write(1, v); };
const date = (rtc: CmosRtc): number[] => [CENT, YEAR, MON, MDAY, WDAY, HOUR, MIN, SEC].map((r) => get(rtc, r));

test('start date in BCD (register B reset 0x02: 24-hour BCD); 2026-01-01 is a Thursday', () => {
  const { rtc } = make();
  assert.is(get(rtc, B), 0x02);
  assert.equal(date(rtc), [0x20, 0x26, 0x01, 0x01, 0x05, 0x00, 0x00, 0x00]);
});

test('after N virtual seconds: 2026-03-01 13:45:30 (a Sunday), BCD', () => {
  const { rtc, clock } = make();
  clock.t = (59 * 86400 + 13 * 3600 + 45 * 60 + 30) * S;
  assert.equal(date(rtc), [0x20, 0x26, 0x03, 0x01, 0x01, 0x13, 0x45, 0x30]);
  clock.t += S - 1;
  assert.is(get(rtc, SEC), 0x30, 'still the same second');
  clock.t += 1;
  assert.is(get(rtc, SEC), 0x31);
});

test('binary mode (DM) and 12-hour mode (PM in bit 7)', () => {
  const { rtc, clock } = make();
  clock.t = (13 * 3600 + 45 * 60 + 30) * S;
  set(rtc, B, 0x06); // binary, 24h
  assert.equal(date(rtc), [20, 26, 1, 1, 5, 13, 45, 30]);
  set(rtc, B, 0x04); // binary, 12h
  assert.is(get(rtc, HOUR), 0x81);
  set(rtc, B, 0x00); // BCD, 12h
  assert.is(get(rtc, HOUR), 0x81);
  clock.t = 0;
  assert.is(get(rtc, HOUR), 0x12, 'midnight is 12 AM');
  clock.t = 12 * 3600 * S;
  assert.is(get(rtc, HOUR), 0x92, 'noon is 12 PM');
  clock.t = 23 * 3600 * S;
  assert.is(get(rtc, HOUR), 0x91);
});

test('century rollover and leap days', () => {
  const a = make({ start: new Date('2099-12-31T23:59:59Z') });
  a.clock.t = S;
  assert.equal(date(a.rtc), [0x21, 0x00, 0x01, 0x01, 0x06, 0x00, 0x00, 0x00]); // 2100-01-01 is a Friday
  const b = make({ start: new Date('2028-02-28T23:59:59Z') });
  b.clock.t = S;
  assert.equal(date(b.rtc).slice(1, 4), [0x28, 0x02, 0x29]);
  const c = make({ start: new Date('2100-02-28T23:59:59Z') });
  c.clock.t = S;
  assert.equal(date(c.rtc).slice(1, 4), [0x00, 0x03, 0x01], '2100 is not a leap year');
});

test('the default ratio: 10^9 instructions per second', () => {
  const { rtc, clock } = make({ instructionsPerSecond: undefined });
  clock.t = 999_999_999;
  assert.is(get(rtc, SEC), 0x00);
  clock.t = 1_000_000_000;
  assert.is(get(rtc, SEC), 0x01);
  clock.t = 3600 * 1_000_000_000 + 5;
  assert.is(get(rtc, HOUR), 0x01);
});

test('register A: 0x26 at reset; UIP during the last 1/4096 s of each second', () => {
  const { rtc, clock } = make();
  assert.is(get(rtc, A), 0x26);
  clock.t = S - 245; // ceil(10^6 / 4096) = 245 instructions of UIP
  assert.is(get(rtc, A), 0xa6);
  clock.t = S - 246;
  assert.is(get(rtc, A), 0x26);
  clock.t = S;
  assert.is(get(rtc, A), 0x26);
  set(rtc, A, 0xa6);
  assert.is(get(rtc, A), 0x26, 'UIP is read-only');
});

test('register D reads VRT; C and D ignore writes', () => {
  const { rtc } = make();
  assert.is(get(rtc, D), 0x80);
  set(rtc, D, 0x00);
  assert.is(get(rtc, D), 0x80);
  set(rtc, C, 0xff);
  assert.is(get(rtc, C), 0x00);
});

test('SET stops updates: written bytes read back as written; counting resumes from them', () => {
  const { rtc, clock } = make();
  clock.t = 10 * S;
  set(rtc, B, 0x82);
  assert.is(get(rtc, SEC), 0x10);
  set(rtc, HOUR, 0x23);
  set(rtc, MIN, 0x59);
  set(rtc, SEC, 0x58);
  set(rtc, MDAY, 0x31);
  set(rtc, MON, 0x12);
  set(rtc, YEAR, 0x30);
  clock.t = 100 * S;
  assert.equal(date(rtc), [0x20, 0x30, 0x12, 0x31, 0x05, 0x23, 0x59, 0x58], 'frozen (day of week kept from the freeze)');
  assert.is(get(rtc, A) & 0x80, 0, 'no UIP while SET');
  set(rtc, B, 0x02);
  assert.equal(date(rtc), [0x20, 0x30, 0x12, 0x31, 0x03, 0x23, 0x59, 0x58], '2030-12-31 is a Tuesday');
  clock.t = 102 * S;
  assert.equal(date(rtc), [0x20, 0x31, 0x01, 0x01, 0x04, 0x00, 0x00, 0x00]);
});

test('a write while counting loads at once and keeps the sub-second phase', () => {
  const { rtc, clock } = make();
  clock.t = 5 * S + S / 2;
  set(rtc, MIN, 0x30);
  assert.equal([get(rtc, MIN), get(rtc, SEC)], [0x30, 0x05]);
  clock.t = 6 * S - 1;
  assert.is(get(rtc, SEC), 0x05);
  clock.t = 6 * S;
  assert.is(get(rtc, SEC), 0x06);
});

test('divider reset stops the clock; the first update comes 500 ms after release', () => {
  const { rtc, clock } = make();
  clock.t = 3 * S + 100;
  set(rtc, A, 0x76); // DV = 111: divider reset
  clock.t = 50 * S;
  assert.is(get(rtc, SEC), 0x03);
  set(rtc, A, 0x26);
  clock.t = 50 * S + S / 2 - 1;
  assert.is(get(rtc, SEC), 0x03);
  clock.t = 50 * S + S / 2;
  assert.is(get(rtc, SEC), 0x04);
});

test('index port: bit 7 disables NMI, reads 0xFF; the index wraps at 128', () => {
  const { rtc } = make();
  rtc.write(0, 0x8f);
  assert.is(rtc.nmiDisabled, true);
  assert.is(rtc.read(0), 0xff);
  rtc.write(1, 0x0a);
  rtc.write(0, 0x0f);
  assert.is(rtc.nmiDisabled, false);
  assert.is(rtc.read(1), 0x0a, 'shutdown status byte is plain storage');
});

test('NVRAM memory sizes for 128 MiB (QEMU/SeaBIOS conventions), checksum of 0x10-0x2D', () => {
  const { rtc } = make();
  assert.is(get(rtc, 0x0f), 0x00);
  assert.is(get(rtc, 0x10), 0x00, 'no floppy');
  assert.is(get(rtc, 0x14), 0x02, 'FPU, VGA, no floppy');
  assert.equal([get(rtc, 0x15), get(rtc, 0x16)], [0x80, 0x02], '640 KiB');
  assert.equal([get(rtc, 0x17), get(rtc, 0x18)], [0xff, 0xff], '127 MiB in KiB, capped at 65535');
  assert.equal([get(rtc, 0x30), get(rtc, 0x31)], [0xff, 0xff]);
  assert.equal([get(rtc, 0x34), get(rtc, 0x35)], [0x00, 0x07], '112 MiB in 64 KiB units = 0x700');
  assert.equal([get(rtc, 0x5b), get(rtc, 0x5c), get(rtc, 0x5d)], [0, 0, 0]);
  assert.is(get(rtc, 0x5f), 0x00, 'one CPU');
  let sum = 0;
  for (let i = 0x10; i <= 0x2d; i++) sum += get(rtc, i);
  assert.is((get(rtc, 0x2e) << 8) | get(rtc, 0x2f), sum);
});

test('NVRAM for 32 MiB, 1 GiB above 4 GiB, 4 CPUs', () => {
  const { rtc } = make({ ramBytes: 32 * 1024 * 1024, highRamBytes: 1024 * 1024 * 1024, cpus: 4 });
  assert.equal([get(rtc, 0x17), get(rtc, 0x18)], [0x00, 0x7c], '31 MiB = 31744 KiB');
  assert.equal([get(rtc, 0x34), get(rtc, 0x35)], [0x00, 0x01], '16 MiB = 256 units');
  assert.equal([get(rtc, 0x5b), get(rtc, 0x5c), get(rtc, 0x5d)], [0x00, 0x40, 0x00], '1 GiB = 0x4000 units');
  assert.is(get(rtc, 0x5f), 3);
  const small = make({ ramBytes: 512 * 1024 });
  assert.equal([get(small.rtc, 0x15), get(small.rtc, 0x16), get(small.rtc, 0x17)], [0x00, 0x02, 0x00]);
});

test('plain NVRAM bytes store what is written', () => {
  const { rtc } = make();
  set(rtc, 0x40, 0xa5);
  set(rtc, 0x7f, 0x5a);
  assert.is(get(rtc, 0x40), 0xa5);
  assert.is(get(rtc, 0x7f), 0x5a);
  set(rtc, 0x01, 0x33); // seconds alarm
  assert.is(get(rtc, 0x01), 0x33);
});

test('register C: flags from virtual time, cleared by reading; no IRQ without enables', () => {
  const { rtc, clock, irq } = make();
  clock.t = S + 10;
  assert.is(get(rtc, C), 0x40 | 0x10, 'periodic (1024 Hz) and update-ended');
  assert.is(get(rtc, C), 0x00, 'read clears');
  clock.t += 500; // < 1/1024 s: maybe no periodic tick yet
  assert.is(get(rtc, C) & 0x10, 0);
  assert.equal(irq, []);
  assert.is(rtc.at, Infinity);
});

test('periodic interrupt (PIE, RS = 6: 1024 Hz) as a deadline on IRQ 8', () => {
  const { rtc, clock, irq } = make();
  set(rtc, B, 0x42);
  assert.is(rtc.at, 977, 'ceil(10^6 / 1024)');
  clock.t = rtc.at;
  rtc.fire(clock.t);
  assert.equal(irq, [true]);
  assert.is(rtc.at, Infinity, 'line high until C is read');
  assert.is(get(rtc, C), 0xc0);
  assert.equal(irq, [true, false]);
  assert.is(rtc.at, 1954);
  set(rtc, A, 0x2f); // RS = 15: 2 Hz
  assert.is(rtc.at, S / 2);
});

test('update-ended interrupt (UIE) at each second boundary', () => {
  const { rtc, clock, irq } = make();
  clock.t = 123;
  set(rtc, B, 0x12);
  assert.is(rtc.at, S);
  clock.t = S;
  rtc.fire(S);
  assert.equal(irq, [true]);
  assert.is(get(rtc, C) & 0x90, 0x90);
  assert.is(rtc.at, 2 * S);
});

test('alarm interrupt (AIE): exact match, and don\'t-care bytes (0xC0-0xFF)', () => {
  const { rtc, clock, irq } = make();
  set(rtc, 0x01, 0x05);
  set(rtc, 0x03, 0x00);
  set(rtc, 0x05, 0x00);
  set(rtc, B, 0x22);
  assert.is(rtc.at, 5 * S);
  clock.t = 5 * S;
  rtc.fire(clock.t);
  assert.equal(irq, [true]);
  assert.is(get(rtc, C), 0xf0, 'IRQF | PF (1024 Hz runs regardless of PIE) | AF | UF');
  assert.is(rtc.at, 86405 * S, 'the next 00:00:05 is tomorrow');
  set(rtc, 0x03, 0xc0); // any minute
  assert.is(rtc.at, 65 * S);
  set(rtc, 0x01, 0xff);
  assert.is(rtc.at, 6 * S, 'every second');
});

test('alarm bytes compare in the current format; a byte no time encodes never matches', () => {
  const { rtc, clock } = make();
  set(rtc, B, 0x20); // AIE, BCD, 12-hour
  set(rtc, 0x01, 0x00);
  set(rtc, 0x03, 0x30);
  set(rtc, 0x05, 0x81); // 1 PM
  assert.is(rtc.at, (13 * 3600 + 30 * 60) * S);
  set(rtc, 0x01, 0x60); // 60 seconds: not a BCD second
  assert.is(rtc.at, Infinity);
  clock.t = 2 * 86400 * S;
  assert.is(get(rtc, C) & 0x20, 0);
});

test('alarm flag is seen by polling register C even when time jumped past it', () => {
  const { rtc, clock } = make();
  set(rtc, 0x01, 0x07);
  set(rtc, 0x03, 0x00);
  set(rtc, 0x05, 0x00);
  get(rtc, C);
  clock.t = 30 * S;
  assert.is(get(rtc, C) & 0x20, 0x20);
  clock.t = 40 * S;
  assert.is(get(rtc, C) & 0x20, 0);
});

test('calendar helpers agree with Date.UTC from 1900 to 2400', () => {
  for (let days = daysFromCivil(1900, 1, 1); days <= daysFromCivil(2400, 12, 31); days += 17) {
    const d = new Date(days * 86400000);
    assert.equal(civilFromDays(days), [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()]);
    assert.is(daysFromCivil(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()), days);
  }
  assert.is(daysFromCivil(2026, 13, 1), daysFromCivil(2027, 1, 1), 'months carry into the year');
});

test('constructor validation', () => {
  assert.throws(() => make({ instructionsPerSecond: 0 }), /instructionsPerSecond/);
  assert.throws(() => make({ start: new Date('nonsense') }), /invalid/);
  assert.throws(() => make({ ramBytes: -1 }), /RAM/);
});

test('port adapter: 0x70-0x71', () => {
  const { rtc } = make();
  const [r] = rtc.ports();
  assert.equal([r!.base, r!.len], [0x70, 2]);
  r!.dev.write(0, 1, 0x09);
  assert.is(r!.dev.read(1, 1), 0x26);
  r!.dev.write(0, 2, 0x1234); // index 0x34, then data 0x12
  assert.is(r!.dev.read(1, 1), 0x12);
});

test.run();
