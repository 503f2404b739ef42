/**
 * MC146818 real-time clock with its CMOS RAM (Motorola MC146818A datasheet),
 * as on the PC: 128 bytes behind an index/data port pair.
 *
 * Ports and lines:
 *   0x70  index (write): bits 6:0 select the byte, bit 7 set = NMI disabled; reads 0xFF
 *   0x71  data: the selected byte
 *   IRQ 8 the RTC's IRQ output (callback `irq`): high while register C's IRQF is set
 *
 * Time (DESIGN.md: virtual time = retired instructions): the clock shows the
 * machine-config start date (`start`, UTC) at virtual time 0 and advances one
 * second every `instructionsPerSecond` instructions (default 10^9, the same
 * nominal speed as the PIT), exactly, in integer arithmetic. Second
 * boundaries fall at whole multiples of that from when the clock was started
 * (virtual time 0, or 500 ms before the first update after the divider
 * leaves reset, as the datasheet says).
 *
 * Registers:
 *  0x00-0x09, 0x32 seconds, minutes, hours, day of week (1 = Sunday), day of
 *         month, month, year, century (the century byte where QEMU and the
 *         ACPI FADT put it), BCD or binary per register B DM, 12-hour
 *         (bit 7 = PM) or 24-hour per register B 24/12. Writes while counting
 *         load the counters at once (keeping the sub-second phase); while
 *         register B SET is set, or the divider is held in reset, updates stop
 *         and the bytes read back exactly as written; counting resumes from
 *         them. Day of week is derived from the date (writes to it only last
 *         while updates are stopped). Out-of-range values are normalized
 *         through the calendar when counting resumes.
 *  0x01, 0x03, 0x05 alarm seconds/minutes/hours; 0xC0-0xFF = don't care.
 *  0x0A   A: UIP (read-only; set during the last 244 µs (1/4096 s) of each
 *         second while counting, derived from virtual time), DV2-0 (010 =
 *         32.768 kHz time base; 11x = divider reset), RS3-0 periodic rate.
 *  0x0B   B: SET, PIE, AIE, UIE, SQWE (stored only), DM, 24/12, DSE (stored only; no
 *         daylight-saving adjustment is made).
 *  0x0C   C (read-only): IRQF, PF, AF, UF; reading clears it and lowers IRQ 8.
 *         Flags are computed from virtual time when read (PF every periodic
 *         tick, aligned to virtual time 0; UF at each update; AF when an
 *         update matches the alarm).
 *  0x0D   D (read-only): VRT = 1 (the battery is good).
 *  0x0E-0x7F NVRAM, initialized from the machine config as QEMU's PC
 *         machine does for SeaBIOS: 0x0F shutdown status 0, 0x10 no floppy
 *         drives, 0x12 no fixed disks, 0x14 equipment (FPU present, VGA),
 *         0x15-0x16 base memory in KiB (640), 0x17-0x18 and 0x30-0x31
 *         extended memory above 1 MiB in KiB (capped at 65535), 0x2E-0x2F the
 *         standard checksum of 0x10-0x2D, 0x34-0x35 memory between 16 MiB
 *         and 4 GiB in 64 KiB units (capped at 65535), 0x5B-0x5D memory above
 *         4 GiB in 64 KiB units, 0x5F CPU count minus one.
 *
 * IRQ 8. The device is a `Deadline`: `at` is the virtual time at which the
 * next enabled flag (PF with PIE, AF with AIE, UF with UIE) would set IRQF,
 * Infinity when none is enabled or IRQF is already set (the line stays high
 * until register C is read). Square-wave output is not modelled.
 */
import type { Deadline } from '../clock.js';
import { type PortRange, bytePorts } from '../hv/iobus.js';

export const RTC_INDEX_PORT = 0x70;
export const RTC_DATA_PORT = 0x71;
/** Port offsets from 0x70. */
export const RTC_INDEX = 0;
export const RTC_DATA = 1;
export const INDEX_NMI_DISABLE = 0x80;
export const INDEX_MASK = 0x7f;
export const CMOS_SIZE = 128;

// RTC registers
export const RTC_SECONDS = 0x00;
export const RTC_SECONDS_ALARM = 0x01;
export const RTC_MINUTES = 0x02;
export const RTC_MINUTES_ALARM = 0x03;
export const RTC_HOURS = 0x04;
export const RTC_HOURS_ALARM = 0x05;
export const RTC_DAY_OF_WEEK = 0x06;
export const RTC_DAY_OF_MONTH = 0x07;
export const RTC_MONTH = 0x08;
export const RTC_YEAR = 0x09;
export const RTC_REG_A = 0x0a;
export const RTC_REG_B = 0x0b;
export const RTC_REG_C = 0x0c;
export const RTC_REG_D = 0x0d;
export const RTC_CENTURY = 0x32;

// Register A
export const REG_A_UIP = 0x80;
export const REG_A_DV_MASK = 0x70;
export const REG_A_DV_32KHZ = 0x20;
export const REG_A_RS_MASK = 0x0f;
export const REG_A_RESET = 0x26; // 32.768 kHz, 1024 Hz periodic rate

// Register B
export const REG_B_SET = 0x80;
export const REG_B_PIE = 0x40;
export const REG_B_AIE = 0x20;
export const REG_B_UIE = 0x10;
export const REG_B_SQWE = 0x08;
export const REG_B_DM_BINARY = 0x04;
export const REG_B_24H = 0x02;
export const REG_B_DSE = 0x01;
export const REG_B_RESET = REG_B_24H; // 24-hour BCD

// Register C (flag bits share positions with their enables in register B)
export const REG_C_IRQF = 0x80;
export const REG_C_PF = 0x40;
export const REG_C_AF = 0x20;
export const REG_C_UF = 0x10;
export const REG_C_FLAGS = REG_C_PF | REG_C_AF | REG_C_UF;

// Register D
export const REG_D_VRT = 0x80;

/** Hours byte: PM flag in 12-hour mode. */
export const HOURS_PM = 0x80;
/** Alarm bytes with both top bits set match any value. */
export const ALARM_DONT_CARE = 0xc0;

// NVRAM (IBM AT layout, QEMU/SeaBIOS conventions)
export const CMOS_DIAGNOSTIC = 0x0e;
export const CMOS_SHUTDOWN = 0x0f;
export const CMOS_FLOPPY = 0x10;
export const CMOS_DISK = 0x12;
export const CMOS_EQUIPMENT = 0x14;
export const CMOS_BASE_MEM_LO = 0x15;
export const CMOS_BASE_MEM_HI = 0x16;
export const CMOS_EXT_MEM_LO = 0x17;
export const CMOS_EXT_MEM_HI = 0x18;
export const CMOS_CHECKSUM_HI = 0x2e;
export const CMOS_CHECKSUM_LO = 0x2f;
export const CMOS_EXT_MEM2_LO = 0x30;
export const CMOS_EXT_MEM2_HI = 0x31;
export const CMOS_MEM_16M_LO = 0x34;
export const CMOS_MEM_16M_HI = 0x35;
export const CMOS_MEM_4G_LO = 0x5b;
export const CMOS_MEM_4G_MID = 0x5c;
export const CMOS_MEM_4G_HI = 0x5d;
export const CMOS_CPU_COUNT = 0x5f;
/** Checksummed range (inclusive). */
export const CMOS_CHECKSUM_FIRST = 0x10;
export const CMOS_CHECKSUM_LAST = 0x2d;

export const EQUIPMENT_FPU = 0x02;

export const DEFAULT_INSTRUCTIONS_PER_SECOND = 1_000_000_000;
export const MAX_INSTRUCTIONS_PER_SECOND = 2 ** 32;

const KIB = 1024;
const MIB = 1024 * KIB;

// ---- exact calendar and time arithmetic ---------------------------------------

/** floor(a / b) for integers |a| < 2^53, b > 0. */
function floorDiv(a: number, b: number): number {
  let q = Math.floor(a / b);
  if (q * b > a) q--;
  else if ((q + 1) * b <= a) q++;
  return q;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (month may be out of 1-12; it carries into the year). */
export function daysFromCivil(year: number, month: number, day: number): number {
  let y = year + floorDiv(month - 1, 12);
  const m = month - 1 - floorDiv(month - 1, 12) * 12 + 1;
  if (m <= 2) y--;
  const era = floorDiv(y, 400);
  const yoe = y - era * 400;
  const doy = floorDiv(153 * (m > 2 ? m - 3 : m + 9) + 2, 5) + day - 1;
  const doe = yoe * 365 + floorDiv(yoe, 4) - floorDiv(yoe, 100) + doy;
  return era * 146097 + doe - 719468;
}

/** [year, month 1-12, day 1-31] of a day count since 1970-01-01. */
export function civilFromDays(days: number): [number, number, number] {
  const z = days + 719468;
  const era = floorDiv(z, 146097);
  const doe = z - era * 146097;
  const yoe = floorDiv(doe - floorDiv(doe, 1460) + floorDiv(doe, 36524) - floorDiv(doe, 146096), 365);
  const doy = doe - (365 * yoe + floorDiv(yoe, 4) - floorDiv(yoe, 100));
  const mp = floorDiv(5 * doy + 2, 153);
  const d = doy - floorDiv(153 * mp + 2, 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

/** Broken-down UTC time of an epoch second. */
interface Fields { sec: number; min: number; hour: number; wday: number; mday: number; mon: number; year: number }

function fieldsOf(epochSec: number): Fields {
  const days = floorDiv(epochSec, 86400);
  const tod = epochSec - days * 86400;
  const [year, mon, mday] = civilFromDays(days);
  return {
    sec: tod % 60,
    min: Math.floor(tod / 60) % 60,
    hour: Math.floor(tod / 3600),
    wday: (((days + 4) % 7) + 7) % 7, // 1970-01-01 was a Thursday; 0 = Sunday
    mday,
    mon,
    year,
  };
}

function toBcd(v: number): number { return (Math.floor(v / 10) % 10) << 4 | (v % 10); }
function fromBcd(v: number): number { return (v >> 4) * 10 + (v & 0x0f); }

/** Indices of the clock bytes in the raw snapshot kept while updates are stopped. */
const TIME_REGS = [RTC_SECONDS, RTC_MINUTES, RTC_HOURS, RTC_DAY_OF_WEEK, RTC_DAY_OF_MONTH, RTC_MONTH, RTC_YEAR, RTC_CENTURY] as const;

function isTimeReg(r: number): boolean { return (TIME_REGS as readonly number[]).includes(r); }

/** Periodic interrupt rate (Hz) of register A's RS bits with the 32.768 kHz time base; 0 = none. */
export function periodicHz(rs: number): number {
  if (rs === 0) return 0;
  if (rs <= 2) return 256 >> (rs - 1); // 256 and 128 Hz (the divider's quirk for RS = 1, 2)
  return 32768 >> (rs - 1);
}


export interface CmosRtcOptions {
  /** Virtual time now (retired instructions). */
  readonly now: () => number;
  /** Wall-clock date shown at virtual time 0 (machine config); whole seconds, UTC. */
  readonly start: Date | number;
  /** Guest RAM below 4 GiB, in bytes. */
  readonly ramBytes: number;
  /** Guest RAM above 4 GiB, in bytes (default 0). */
  readonly highRamBytes?: number;
  /** Number of CPUs (default 1). */
  readonly cpus?: number;
  /** Nominal machine speed that maps virtual time to seconds; default 10^9. */
  readonly instructionsPerSecond?: number;
  /** IRQ 8 line. */
  readonly irq?: (level: boolean) => void;
}

export class CmosRtc implements Deadline {
  readonly instructionsPerSecond: number;
  private readonly now: () => number;
  private readonly irqOut: (level: boolean) => void;
  /** NVRAM and the RTC registers that are plain storage (alarms, A's low bits, B). */
  private readonly ram = new Uint8Array(CMOS_SIZE);
  private index = 0;
  private nmiOff = false;
  /** Shown epoch second at update count 0, and the virtual time of update count 0. */
  private baseSec: number;
  private baseTime = 0;
  /** Raw clock bytes while updates are stopped (SET or divider reset), else null. */
  private frozen: Uint8Array | null = null;
  private flags = 0;
  private line = false;
  private lastSync: number;
  private nextAt = Infinity;

  constructor(opts: CmosRtcOptions) {
    const ips = opts.instructionsPerSecond ?? DEFAULT_INSTRUCTIONS_PER_SECOND;
    if (!Number.isSafeInteger(ips) || ips < 1 || ips > MAX_INSTRUCTIONS_PER_SECOND) {
      throw new RangeError(`instructionsPerSecond must be an integer in 1..2^32, got ${ips}`);
    }
    const ms = typeof opts.start === 'number' ? opts.start : opts.start.getTime();
    if (!Number.isFinite(ms)) throw new RangeError('RTC start date is invalid');
    const startSec = Math.floor(ms / 1000);
    const y = fieldsOf(startSec).year;
    if (y < 0 || y > 9999) throw new RangeError(`RTC start year ${y} is outside 0-9999`);
    if (!Number.isSafeInteger(opts.ramBytes) || opts.ramBytes < 0 || opts.ramBytes > 4 * 1024 * MIB) {
      throw new RangeError(`RAM below 4 GiB must be 0..4 GiB, got ${opts.ramBytes}`);
    }
    this.instructionsPerSecond = ips;
    this.now = opts.now;
    this.irqOut = opts.irq ?? (() => {});
    this.baseSec = startSec;
    this.lastSync = this.now();
    this.initNvram(opts.ramBytes, opts.highRamBytes ?? 0, opts.cpus ?? 1);
    this.reschedule();
  }

  private initNvram(ram: number, high: number, cpus: number): void {
    const r = this.ram;
    r[RTC_REG_A] = REG_A_RESET;
    r[RTC_REG_B] = REG_B_RESET;
    r[CMOS_EQUIPMENT] = EQUIPMENT_FPU;
    const base = Math.min(Math.floor(ram / KIB), 640);
    r[CMOS_BASE_MEM_LO] = base & 0xff;
    r[CMOS_BASE_MEM_HI] = base >> 8;
    const ext = Math.min(ram > MIB ? Math.floor((ram - MIB) / KIB) : 0, 0xffff);
    r[CMOS_EXT_MEM_LO] = r[CMOS_EXT_MEM2_LO] = ext & 0xff;
    r[CMOS_EXT_MEM_HI] = r[CMOS_EXT_MEM2_HI] = ext >> 8;
    const m16 = Math.min(ram > 16 * MIB ? Math.floor((ram - 16 * MIB) / (64 * KIB)) : 0, 0xffff);
    r[CMOS_MEM_16M_LO] = m16 & 0xff;
    r[CMOS_MEM_16M_HI] = m16 >> 8;
    const m4g = Math.floor(high / (64 * KIB));
    r[CMOS_MEM_4G_LO] = m4g & 0xff;
    r[CMOS_MEM_4G_MID] = (m4g >> 8) & 0xff;
    r[CMOS_MEM_4G_HI] = (m4g >> 16) & 0xff;
    r[CMOS_CPU_COUNT] = (cpus - 1) & 0xff;
    let sum = 0;
    for (let i = CMOS_CHECKSUM_FIRST; i <= CMOS_CHECKSUM_LAST; i++) sum += r[i]!;
    r[CMOS_CHECKSUM_HI] = (sum >> 8) & 0xff;
    r[CMOS_CHECKSUM_LO] = sum & 0xff;
  }

  // ---- clock state
  private get regA(): number { return this.ram[RTC_REG_A]!; }
  private get regB(): number { return this.ram[RTC_REG_B]!; }
  private dividerRuns(a = this.regA): boolean { return (a & REG_A_DV_MASK) <= REG_A_DV_32KHZ; }
  private counting(a = this.regA, b = this.regB): boolean { return (b & REG_B_SET) === 0 && this.dividerRuns(a); }

  /** Completed update cycles since `baseTime` at virtual time t. */
  private updates(t: number): number { return floorDiv(t - this.baseTime, this.instructionsPerSecond); }
  /** The shown epoch second at virtual time t while counting. */
  private shownSec(t: number): number { return this.baseSec + this.updates(t); }

  /** Periodic ticks by virtual time t at `hz`: floor(t * hz / ips), exactly. */
  private periodicTicks(t: number, hz: number): number {
    const ips = this.instructionsPerSecond;
    const q = floorDiv(t, ips);
    return q * hz + floorDiv((t - q * ips) * hz, ips);
  }
  private periodicTickTime(n: number, hz: number): number {
    const ips = this.instructionsPerSecond;
    const q = floorDiv(n, hz);
    return q * ips + floorDiv((n - q * hz) * ips + hz - 1, hz);
  }

  private enc(v: number, b = this.regB): number { return (b & REG_B_DM_BINARY) !== 0 ? v & 0xff : toBcd(v); }
  private dec(v: number, b = this.regB): number { return (b & REG_B_DM_BINARY) !== 0 ? v : fromBcd(v); }
  private encHour(h: number, b = this.regB): number {
    if ((b & REG_B_24H) !== 0) return this.enc(h, b);
    return this.enc(h % 12 === 0 ? 12 : h % 12, b) | (h >= 12 ? HOURS_PM : 0);
  }
  private decHour(v: number, b = this.regB): number {
    if ((b & REG_B_24H) !== 0) return this.dec(v, b);
    return (this.dec(v & ~HOURS_PM, b) % 12) + ((v & HOURS_PM) !== 0 ? 12 : 0);
  }

  /** The clock byte `reg` for the broken-down time f in the format of register B. */
  private encode(reg: number, f: Fields): number {
    switch (reg) {
      case RTC_SECONDS: return this.enc(f.sec);
      case RTC_MINUTES: return this.enc(f.min);
      case RTC_HOURS: return this.encHour(f.hour);
      case RTC_DAY_OF_WEEK: return this.enc(f.wday + 1);
      case RTC_DAY_OF_MONTH: return this.enc(f.mday);
      case RTC_MONTH: return this.enc(f.mon);
      case RTC_YEAR: return this.enc(f.year % 100);
      default: return this.enc(Math.floor(f.year / 100)); // RTC_CENTURY
    }
  }

  private snapshot(s: number): Uint8Array {
    const raw = new Uint8Array(CMOS_SIZE);
    const f = fieldsOf(s);
    for (const r of TIME_REGS) raw[r] = this.encode(r, f);
    return raw;
  }

  /** Epoch second of raw clock bytes, decoded per register B (out-of-range fields carry over). */
  private decode(raw: Uint8Array): number {
    const year = this.dec(raw[RTC_CENTURY]!) * 100 + this.dec(raw[RTC_YEAR]!);
    const days = daysFromCivil(year, this.dec(raw[RTC_MONTH]!), this.dec(raw[RTC_DAY_OF_MONTH]!));
    return days * 86400 + this.decHour(raw[RTC_HOURS]!) * 3600 + this.dec(raw[RTC_MINUTES]!) * 60 + this.dec(raw[RTC_SECONDS]!);
  }

  /** Current epoch second shown (or that counting would resume from). */
  get time(): number {
    return this.frozen !== null ? this.decode(this.frozen) : this.shownSec(this.now());
  }

  // ---- flags and IRQ 8

  /** Sets the flags for events in (lastSync, t]; the clock's state is constant over that window. */
  private sync(t: number): void {
    const t0 = this.lastSync;
    if (t <= t0) return;
    this.lastSync = t;
    const hz = this.dividerRuns() ? periodicHz(this.regA & REG_A_RS_MASK) : 0;
    if (hz !== 0 && this.periodicTicks(t, hz) > this.periodicTicks(t0, hz)) this.flags |= REG_C_PF;
    if (this.frozen === null) {
      const k0 = this.updates(t0);
      const k1 = this.updates(t);
      if (k1 > k0) {
        this.flags |= REG_C_UF;
        if ((this.flags & REG_C_AF) === 0 && this.nextAlarm(this.baseSec + k0) <= this.baseSec + k1) this.flags |= REG_C_AF;
      }
    }
    this.updateLine();
  }

  /**
   * The first epoch second after `from` whose time of day matches the alarm
   * bytes (compared as encoded in the current format, so an alarm byte that
   * no valid time encodes never matches), or Infinity.
   */
  private nextAlarm(from: number): number {
    const target = (alarm: number, n: number, enc: (v: number) => number): number | null => {
      const a = this.ram[alarm]!;
      if ((a & ALARM_DONT_CARE) === ALARM_DONT_CARE) return null;
      for (let v = 0; v < n; v++) if (enc(v) === a) return v;
      return -1;
    };
    const sec = target(RTC_SECONDS_ALARM, 60, (v) => this.enc(v));
    const min = target(RTC_MINUTES_ALARM, 60, (v) => this.enc(v));
    const hour = target(RTC_HOURS_ALARM, 24, (v) => this.encHour(v));
    if (sec === -1 || min === -1 || hour === -1) return Infinity;
    const firstMinute = floorDiv(from, 60);
    for (let i = 0; i <= 1440; i++) {
      const mm = firstMinute + i;
      const ofDay = mm - floorDiv(mm, 1440) * 1440;
      if (hour !== null && Math.floor(ofDay / 60) !== hour) continue;
      if (min !== null && ofDay % 60 !== min) continue;
      const c = sec === null ? Math.max(mm * 60, from + 1) : mm * 60 + sec;
      if (c > from && c < mm * 60 + 60) return c;
    }
    return Infinity;
  }

  private irqf(): boolean { return (this.flags & this.regB & REG_C_FLAGS) !== 0; }

  private updateLine(): void {
    const level = this.irqf();
    if (level !== this.line) {
      this.line = level;
      this.irqOut(level);
    }
  }

  get at(): number { return this.nextAt; }

  fire(now: number): void {
    this.sync(now);
    this.reschedule();
  }

  private reschedule(): void {
    let at = Infinity;
    const b = this.regB;
    if (!this.line) {
      const t = this.lastSync;
      const hz = this.dividerRuns() ? periodicHz(this.regA & REG_A_RS_MASK) : 0;
      if ((b & REG_B_PIE) !== 0 && hz !== 0) at = Math.min(at, this.periodicTickTime(this.periodicTicks(t, hz) + 1, hz));
      if (this.frozen === null && (b & (REG_B_UIE | REG_B_AIE)) !== 0) {
        const k = this.updates(t);
        if ((b & REG_B_UIE) !== 0) at = Math.min(at, this.baseTime + (k + 1) * this.instructionsPerSecond);
        else at = Math.min(at, this.baseTime + (this.nextAlarm(this.baseSec + k) - this.baseSec) * this.instructionsPerSecond);
      }
    }
    this.nextAt = at;
  }

  // ---- registers

  /** Level of the IRQ 8 line as last driven. */
  get irqLevel(): boolean { return this.line; }
  /** Whether the last index write set bit 7 (NMI disabled). */
  get nmiDisabled(): boolean { return this.nmiOff; }

  read(offset: number): number {
    if (offset === RTC_INDEX) return 0xff; // the index register is write-only
    if (offset !== RTC_DATA) throw new RangeError(`CMOS port offset ${offset} is outside 0-1`);
    return this.readReg(this.index);
  }

  write(offset: number, value: number): void {
    const v = value & 0xff;
    if (offset === RTC_INDEX) {
      this.index = v & INDEX_MASK;
      this.nmiOff = (v & INDEX_NMI_DISABLE) !== 0;
      return;
    }
    if (offset !== RTC_DATA) throw new RangeError(`CMOS port offset ${offset} is outside 0-1`);
    this.writeReg(this.index, v);
  }

  /** The byte at CMOS index `reg` (0-127), with the side effects of a data-port read. */
  readReg(reg: number): number {
    const t = this.now();
    this.sync(t);
    let v: number;
    if (isTimeReg(reg)) {
      v = this.frozen !== null ? this.frozen[reg]! : this.encode(reg, fieldsOf(this.shownSec(t)));
    } else if (reg === RTC_REG_A) {
      v = this.regA & ~REG_A_UIP;
      if (this.frozen === null) {
        const ips = this.instructionsPerSecond;
        const phase = t - this.baseTime - this.updates(t) * ips;
        if (phase >= ips - Math.ceil(ips / 4096)) v |= REG_A_UIP;
      }
    } else if (reg === RTC_REG_C) {
      v = this.flags | (this.irqf() ? REG_C_IRQF : 0);
      this.flags = 0;
      this.updateLine();
      this.reschedule();
    } else if (reg === RTC_REG_D) {
      v = REG_D_VRT;
    } else {
      v = this.ram[reg & INDEX_MASK]!;
    }
    return v;
  }

  /** Writes CMOS index `reg` (0-127), with the side effects of a data-port write. */
  writeReg(reg: number, value: number): void {
    const v = value & 0xff;
    const t = this.now();
    this.sync(t);
    if (isTimeReg(reg)) {
      if (this.frozen !== null) {
        this.frozen[reg] = v;
      } else {
        const raw = this.snapshot(this.shownSec(t));
        raw[reg] = v;
        this.baseSec = this.decode(raw) - this.updates(t); // keep the sub-second phase
      }
    } else if (reg === RTC_REG_A || reg === RTC_REG_B) {
      const a = reg === RTC_REG_A ? v & ~REG_A_UIP : this.regA;
      const b = reg === RTC_REG_B ? v : this.regB;
      this.setControl(a, b, t);
    } else if (reg === RTC_REG_C || reg === RTC_REG_D) {
      // read-only
    } else {
      this.ram[reg & INDEX_MASK] = v;
    }
    this.updateLine();
    this.reschedule();
  }

  /** Register A/B write: starting or stopping updates, keeping the displayed time. */
  private setControl(a: number, b: number, t: number): void {
    const was = this.counting();
    const dividerWas = this.dividerRuns();
    const shown = was ? this.shownSec(t) : 0;
    this.ram[RTC_REG_A] = a;
    this.ram[RTC_REG_B] = b;
    const is = this.counting();
    if (was && !is) {
      this.frozen = this.snapshot(shown);
    } else if (!was && is) {
      const s = this.decode(this.frozen!);
      this.frozen = null;
      // Leaving divider reset: the first update comes 500 ms later (datasheet, register A).
      if (!dividerWas) this.baseTime = t - Math.floor(this.instructionsPerSecond / 2);
      this.baseSec = s - this.updates(t);
    }
  }

  /** Port ranges: 0x70-0x71. */
  ports(): PortRange[] {
    return [{ base: RTC_INDEX_PORT, len: 2, dev: bytePorts('cmos', 2, (o) => this.read(o), (o, v) => this.write(o, v)) }];
  }
}

