/**
 * ACPI fixed hardware (ACPI Specification 6.4, 4.8: "Fixed Hardware
 * Programming Model") of a full (not hardware-reduced) PC: the PM1a event
 * block (status + enable), the PM1a control block and the power-management
 * timer, on I/O ports. core/boot/acpi.ts's FADT points at these ports.
 *
 * Ports (from `base`, 0x600 on this machine as on QEMU's PIIX4/ICH9):
 *   base+0  PM1a_STS  16 bits, write 1 to clear (4.8.3.1.1, Table 4.11)
 *   base+2  PM1a_EN   16 bits (4.8.3.1.2, Table 4.12)
 *   base+4  PM1a_CNT  16 bits (4.8.3.2.1, Table 4.13)
 *   base+8  PM_TMR    32 bits, read-only (4.8.3.3)
 * Accesses of 1, 2 or 4 bytes at any offset inside a block work (a wide
 * access covers consecutive bytes, as on an ISA-style decoder).
 *
 * Model:
 *  - PM timer: a free-running count at 3.579545 MHz derived from virtual
 *    time: ticks = floor(t * 3579545 / instructionsPerSecond) where t is the
 *    retired-instruction count; 32 bits wide (the FADT sets TMR_VAL_EXT).
 *    TMR_STS is set each time bit 31 of the count toggles.
 *  - SCI: asserted (level) while SCI_EN is set and a status bit with its
 *    enable bit set is pending (TMR, GBL, PWRBTN, SLPBTN, RTC); deasserted
 *    when the guest clears the status or the enable.
 *  - SCI_EN reads 1 from reset: the FADT has no SMI_CMD, i.e. the machine is
 *    always in ACPI mode (5.2.9), so firmware leaves SCI_EN set.
 *  - SLP_EN (write-only, reads 0) with SLP_TYP = the `\_S5` value
 *    (S5_SLP_TYP) powers the machine off through `powerOff`. Other SLP_TYP
 *    values are sleeping states this machine does not offer (the DSDT has
 *    no `\_S1`-`\_S4`): the write is ignored.
 *  - `pressPowerButton()` sets PWRBTN_STS (a host request to shut down).
 *  - Not modelled: PM1b, PM2, GPE blocks, BM_STS/BM_RLD/GBL_RLS effects,
 *    WAK_STS (no sleeping state returns).
 */
import type { PortRange } from '../hv/iobus.js';
import type { Deadline } from '../clock.js';

/** PM timer frequency (4.8.3.3): 3.579545 MHz. */
export const PM_TIMER_HZ = 3_579_545;
export const ACPI_PM_BASE = 0x600;
export const PM1_EVT_LEN = 4;
export const PM1_CNT_LEN = 2;
export const PM_TMR_LEN = 4;
/** Offsets of the blocks from the base port. */
export const PM1A_EVT_OFFSET = 0;
export const PM1A_CNT_OFFSET = 4;
export const PM_TMR_OFFSET = 8;

// PM1 status bits (Table 4.11).
export const TMR_STS = 1 << 0;
export const BM_STS = 1 << 4;
export const GBL_STS = 1 << 5;
export const PWRBTN_STS = 1 << 8;
export const SLPBTN_STS = 1 << 9;
export const RTC_STS = 1 << 10;
export const WAK_STS = 1 << 15;
// PM1 enable bits (Table 4.12): same positions as their status bits.
export const TMR_EN = 1 << 0;
export const GBL_EN = 1 << 5;
export const PWRBTN_EN = 1 << 8;
export const SLPBTN_EN = 1 << 9;
export const RTC_EN = 1 << 10;
/** Status/enable pairs that raise the SCI. */
export const SCI_EVENTS = TMR_EN | GBL_EN | PWRBTN_EN | SLPBTN_EN | RTC_EN;
/** Status bits that exist here (others read 0 and ignore writes). */
const STS_MASK = TMR_STS | BM_STS | GBL_STS | PWRBTN_STS | SLPBTN_STS | RTC_STS | WAK_STS;
const EN_MASK = SCI_EVENTS;
// PM1 control bits (Table 4.13).
export const SCI_EN = 1 << 0;
export const BM_RLD = 1 << 1;
export const GBL_RLS = 1 << 2;
export const SLP_TYP_SHIFT = 10;
export const SLP_TYP_MASK = 7 << SLP_TYP_SHIFT;
export const SLP_EN = 1 << 13;
/** Bits of PM1_CNT that read back (SLP_EN and GBL_RLS are write-only). */
const CNT_RW = SCI_EN | BM_RLD | SLP_TYP_MASK;

const TWO32 = 0x1_0000_0000;
const TWO31 = 0x8000_0000;

export interface AcpiPmOptions {
  /** Virtual time (retired instructions). */
  readonly now: () => number;
  readonly instructionsPerSecond: number;
  /** The SCI line (level). */
  readonly sci: (level: boolean) => void;
  /** SLP_EN written with SLP_TYP = `s5SlpTyp`. */
  readonly powerOff: () => void;
  /** The SLP_TYP value of S5, as the DSDT's `\_S5` says. */
  readonly s5SlpTyp: number;
  /** First port; default ACPI_PM_BASE. */
  readonly base?: number;
}

export class AcpiPm implements Deadline {
  readonly base: number;
  private sts = 0;
  private en = 0;
  private cnt = SCI_EN;
  private sciLevel = false;
  /** Number of bit-31 toggles of the PM timer already reflected in TMR_STS. */
  private epochSeen = 0;
  at = Infinity;

  constructor(private readonly o: AcpiPmOptions) {
    this.base = o.base ?? ACPI_PM_BASE;
    if (!Number.isInteger(o.instructionsPerSecond) || o.instructionsPerSecond <= 0) throw new RangeError(`instructions per second must be a positive integer, got ${o.instructionsPerSecond}`);
  }

  /** PM timer ticks since virtual time 0 (exact integer arithmetic below 2^53). */
  ticksAt(t: number): number {
    const ips = this.o.instructionsPerSecond;
    const q = Math.floor(t / ips), r = t - q * ips;
    return q * PM_TIMER_HZ + Math.floor((r * PM_TIMER_HZ) / ips);
  }
  /** The earliest virtual time at which the timer shows `ticks`. */
  timeOfTick(ticks: number): number {
    const ips = this.o.instructionsPerSecond;
    const q = Math.floor(ticks / PM_TIMER_HZ), r = ticks - q * PM_TIMER_HZ;
    return q * ips + Math.ceil((r * ips) / PM_TIMER_HZ);
  }
  /** The 32-bit PM_TMR value now. */
  timer(): number { return this.ticksAt(this.o.now()) % TWO32; }

  get status(): number { this.updateTimerStatus(this.o.now()); return this.sts; }
  get enable(): number { return this.en; }
  get control(): number { return this.cnt & CNT_RW; }
  get sci(): boolean { return this.sciLevel; }

  /** Host input: the power button was pressed (PWRBTN_STS). */
  pressPowerButton(): void {
    this.updateTimerStatus(this.o.now());
    this.sts |= PWRBTN_STS;
    this.update();
  }

  fire(now: number): void {
    this.updateTimerStatus(now);
    this.update();
  }

  private updateTimerStatus(now: number): void {
    const epoch = Math.floor(this.ticksAt(now) / TWO31);
    if (epoch !== this.epochSeen) {
      this.epochSeen = epoch;
      this.sts |= TMR_STS;
    }
  }
  /** Recompute the SCI level and the next deadline (the next TMR_STS while it would raise the SCI). */
  private update(): void {
    const level = (this.cnt & SCI_EN) !== 0 && (this.sts & this.en & SCI_EVENTS) !== 0;
    this.at = (this.en & TMR_EN) && !(this.sts & TMR_STS) ? this.timeOfTick((this.epochSeen + 1) * TWO31) : Infinity;
    if (level !== this.sciLevel) {
      this.sciLevel = level;
      this.o.sci(level);
    }
  }

  private readByte(off: number): number {
    switch (off) {
      case 0: return this.status & 0xff;
      case 1: return (this.status >>> 8) & 0xff;
      case 2: return this.en & 0xff;
      case 3: return this.en >>> 8;
      case 4: return this.cnt & CNT_RW & 0xff;
      case 5: return ((this.cnt & CNT_RW) >>> 8) & 0xff;
      case 8: case 9: case 10: case 11: return Math.floor(this.timer() / 2 ** (8 * (off - 8))) & 0xff;
      default: return 0xff;
    }
  }

  read(off: number, size: number): number {
    let v = 0;
    for (let k = 0; k < size; k++) v |= this.readByte(off + k) << (8 * k);
    return v >>> 0;
  }

  write(off: number, size: number, value: number): void {
    const now = this.o.now();
    this.updateTimerStatus(now);
    let clear = 0, enSet = -1, cntLo = -1, cntHi = -1;
    for (let k = 0; k < size; k++) {
      const b = (value >>> (8 * k)) & 0xff, o = off + k;
      if (o === 0) clear |= b;
      else if (o === 1) clear |= b << 8;
      else if (o === 2) enSet = ((enSet < 0 ? this.en : enSet) & 0xff00) | b;
      else if (o === 3) enSet = ((enSet < 0 ? this.en : enSet) & 0x00ff) | (b << 8);
      else if (o === 4) cntLo = b;
      else if (o === 5) cntHi = b;
      // PM_TMR is read-only; other offsets are not decoded.
    }
    this.sts &= ~(clear & STS_MASK);
    if (enSet >= 0) this.en = enSet & EN_MASK;
    if (cntLo >= 0 || cntHi >= 0) {
      const v = (cntHi >= 0 ? cntHi << 8 : this.cnt & 0xff00) | (cntLo >= 0 ? cntLo : this.cnt & 0xff);
      this.cnt = v & CNT_RW;
      if (v & SLP_EN && ((v & SLP_TYP_MASK) >>> SLP_TYP_SHIFT) === this.o.s5SlpTyp) {
        this.update();
        this.o.powerOff();
        return;
      }
    }
    this.update();
  }

  /** The three register blocks, as the FADT lists them. */
  ports(): PortRange[] {
    const dev = (name: string, start: number) => ({
      name,
      read: (o: number, s: number) => this.read(start + o, s),
      write: (o: number, s: number, v: number) => this.write(start + o, s, v),
    });
    return [
      { base: this.base + PM1A_EVT_OFFSET, len: PM1_EVT_LEN, dev: dev('acpi-pm1a-evt', PM1A_EVT_OFFSET) },
      { base: this.base + PM1A_CNT_OFFSET, len: PM1_CNT_LEN, dev: dev('acpi-pm1a-cnt', PM1A_CNT_OFFSET) },
      { base: this.base + PM_TMR_OFFSET, len: PM_TMR_LEN, dev: dev('acpi-pm-tmr', PM_TMR_OFFSET) },
    ];
  }
}
