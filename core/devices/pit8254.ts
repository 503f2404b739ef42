/**
 * 8254 programmable interval timer (Intel 8254 datasheet, order no. 231164)
 * and the PC's system control port B (port 0x61, as on the PIIX/PIIX4).
 *
 * Ports and lines:
 *   0x40-0x42  counters 0-2 (count writes and reads)
 *   0x43       control word (mode, access, latch and read-back commands); reads 0xFF
 *   0x61       bit 0 GATE2, bit 1 speaker data, bits 2-3 stored (NMI enables),
 *              bit 4 refresh toggle, bit 5 OUT2 (read-only)
 *   IRQ 0      counter 0's OUT (callback `irq`)
 *   GATE0/1    tied high as on the PC; GATE2 from port 0x61 bit 0
 *
 * Time (DESIGN.md: virtual time = retired instructions). The input clock is
 * PIT_HZ = 1 193 182 Hz and the machine's nominal speed is
 * `instructionsPerSecond` (default 10^9: one instruction = 1 ns), so the
 * number of PIT clock pulses by virtual time t is exactly
 *     ticks(t) = floor(t * 1193182 / instructionsPerSecond)
 * (1 tick ≈ 838.1 instructions by default), computed by splitting t into
 * whole seconds and a remainder so every product stays below 2^53: exact,
 * with no floating drift, for any t below 2^53.
 *
 * Counting model (per counter; N = initial count, 0 meaning 2^16 or 10^4 in
 * BCD; d = clock pulses since the count was loaded):
 *   mode 0  counter N-d (wrapping); OUT low until d = N, then high
 *   mode 1  like mode 0 but started by a GATE rising edge (retriggerable); OUT low during the one-shot
 *   mode 2  counter N - (d mod N); OUT low while the counter is 1; rising edges at d = kN
 *   mode 3  square wave: OUT high for ceil(N/2) pulses, low for floor(N/2), counter
 *           decrementing by 2 (from N-1 for odd N, datasheet mode 3)
 *   mode 4  counter N-d; OUT pulses low for one clock at d = N
 *   mode 5  like mode 4, started by a GATE rising edge
 * A count write loads the counter at once (the datasheet's extra "load"
 * clock pulse is not modelled). In modes 2 and 3 a count written while
 * counting takes effect at the end of the current period (mode 2) or
 * half-cycle (mode 3), as the datasheet says; in mode 0 the first byte of a
 * two-byte count stops counting and drives OUT low; GATE low suspends modes
 * 0, 2, 3 and 4 (2 and 3 force OUT high and reload on GATE's rising edge).
 * Counts of 1 in modes 2 and 3 (illegal per datasheet) behave as 2.
 *
 * IRQ 0. The device is a `Deadline`: `at` is the virtual time of counter 0's
 * next rising OUT edge caused by counting (terminal count in modes 0/1, each
 * period in modes 2/3, the end of the strobe in modes 4/5), Infinity when
 * there is none. `fire(now)` delivers it as a pulse on the line (low, then
 * high): the PIC sees exactly one rising edge per counting edge, even if
 * several fell due (they coalesce, as an edge-triggered IRR would). OUT
 * changes forced by programming lower the line when OUT goes low (mode 0)
 * but never raise it, so reprogramming never injects an interrupt (QEMU
 * behaves alike). The true OUT level is always available (`out`, read-back
 * status, port 0x61 bit 5).
 *
 * Refresh toggle (port 0x61 bit 4): flips every 18 PIT clock pulses (the
 * classic PC DRAM refresh period of ~15.1 µs), derived from virtual time.
 *
 * Power-on state (undefined on silicon): every counter in mode 0 with no
 * count, OUT low, no interrupts; a guest must program the PIT itself (as
 * Linux does). Port 0x61 reads 0 in its stored bits.
 */
import type { Deadline } from '../clock.js';
import { type PortRange, bytePorts } from '../hv/iobus.js';

/** Input clock of the PC's 8254 (14.31818 MHz / 12), in Hz. */
export const PIT_HZ = 1193182;
/** Default nominal speed: 10^9 instructions per second (1 instruction = 1 ns). */
export const DEFAULT_INSTRUCTIONS_PER_SECOND = 1_000_000_000;
/** Largest accepted nominal speed: keeps `remainder * PIT_HZ` below 2^53. */
export const MAX_INSTRUCTIONS_PER_SECOND = 2 ** 32;

export const PIT_BASE_PORT = 0x40;
export const PORT_B = 0x61;

// Register offsets from 0x40.
export const PIT_COUNTER0 = 0;
export const PIT_COUNTER1 = 1;
export const PIT_COUNTER2 = 2;
export const PIT_CONTROL = 3;

// Control word (datasheet Figure 8)
export const CW_SC_MASK = 0xc0;
export const CW_SC_SHIFT = 6;
export const CW_SC_READBACK = 0xc0;
export const CW_RW_MASK = 0x30;
export const CW_RW_SHIFT = 4;
export const CW_RW_LATCH = 0x00; // counter latch command
export const CW_RW_LSB = 0x10;
export const CW_RW_MSB = 0x20;
export const CW_RW_LSB_MSB = 0x30;
export const CW_MODE_MASK = 0x0e;
export const CW_MODE_SHIFT = 1;
export const CW_BCD = 0x01;

// Read-back command (datasheet Figure 11): SC = 11
export const RB_NOT_COUNT = 0x20; // 0 = latch count
export const RB_NOT_STATUS = 0x10; // 0 = latch status
export const RB_COUNTER0 = 0x02;
export const RB_COUNTER1 = 0x04;
export const RB_COUNTER2 = 0x08;

// Status byte (datasheet Figure 12): OUT, NULL COUNT, then the control word's RW, M and BCD bits.
export const STATUS_OUT = 0x80;
export const STATUS_NULL_COUNT = 0x40;

// Port 0x61 (system control port B)
export const PB_GATE2 = 0x01;
export const PB_SPEAKER_DATA = 0x02;
export const PB_PARITY_CHECK_DISABLE = 0x04;
export const PB_CHANNEL_CHECK_DISABLE = 0x08;
export const PB_WRITABLE = 0x0f;
export const PB_REFRESH = 0x10;
export const PB_OUT2 = 0x20;
/** PIT clock pulses per refresh-toggle flip. */
export const REFRESH_TICKS = 18;

// ---- exact time arithmetic -------------------------------------------------

/** floor(a / b) for integers 0 <= a < 2^53, b > 0, immune to rounding of the double quotient. */
function floorDiv(a: number, b: number): number {
  let q = Math.floor(a / b);
  if (q * b > a) q--;
  else if ((q + 1) * b <= a) q++;
  return q;
}

/** PIT clock pulses elapsed by virtual time t: floor(t * PIT_HZ / ips), exactly. */
export function pitTicksAt(t: number, ips: number): number {
  const q = floorDiv(t, ips);
  return q * PIT_HZ + floorDiv((t - q * ips) * PIT_HZ, ips);
}

/** The first virtual time at which `pitTicksAt` reaches n: ceil(n * ips / PIT_HZ), exactly. */
export function pitTickTime(n: number, ips: number): number {
  if (n === Infinity) return Infinity;
  const q = floorDiv(n, PIT_HZ);
  const r = n - q * PIT_HZ;
  return q * ips + floorDiv(r * ips + PIT_HZ - 1, PIT_HZ);
}

// ---- one counter ------------------------------------------------------------

/** A counting segment: initial count n loaded at tick `load`, valid from tick `start`. */
interface Segment {
  n: number;
  load: number;
  start: number;
  /** A rising OUT edge happens at `start` itself (a mode 2/3 reload that continues a period). */
  edgeAtStart: boolean;
}

function binToBcd(v: number): number {
  return (v % 10) | (Math.floor(v / 10) % 10) << 4 | (Math.floor(v / 100) % 10) << 8 | (Math.floor(v / 1000) % 10) << 12;
}
function bcdToBin(v: number): number {
  return (v & 0xf) + ((v >> 4) & 0xf) * 10 + ((v >> 8) & 0xf) * 100 + ((v >> 12) & 0xf) * 1000;
}

class Counter {
  mode = 0;
  bcd = false;
  rw = CW_RW_LSB_MSB >> CW_RW_SHIFT;
  gate: boolean;
  /** Count register as written (raw 16 bits), valid once a complete count arrived. */
  cr = 0;
  crValid = false;
  nullCount = true;
  /** First byte of a two-byte count, waiting for the second. */
  lsbWritten: number | null = null;
  /** Read flip-flop for unlatched two-byte reads: next read returns the MSB. */
  readMsb = false;
  latched: number[] = [];
  status: number | null = null;
  /** The running counting element, or null when not counting. */
  run: Segment | null = null;
  /** A reload scheduled at the end of the current period/half-cycle (modes 2 and 3). */
  pend: Segment | null = null;
  /** Tick at which counting was suspended (GATE low in modes 0 and 4). */
  frozenAt: number | null = null;
  /** Counter value and OUT while `run` is null. */
  held = 0;
  idleOut = false;

  constructor(gate: boolean) { this.gate = gate; }

  private get modulus(): number { return this.bcd ? 10000 : 0x10000; }
  /** N from the count register: 0 is the largest count. */
  private initialCount(): number {
    const n = this.bcd ? bcdToBin(this.cr) : this.cr;
    return n === 0 ? this.modulus : n;
  }
  private get periodic(): boolean { return this.mode === 2 || this.mode === 3; }
  private periodN(n: number): number { return this.periodic && n < 2 ? 2 : n; }

  /** Makes a due pending reload current. */
  sync(t: number): void {
    if (this.pend !== null && t >= this.pend.start) {
      this.run = this.pend;
      this.pend = null;
      this.nullCount = false;
    }
  }

  private evalTick(t: number): number { return this.frozenAt ?? t; }

  /** Counter value (binary) at tick t. */
  value(t: number): number {
    this.sync(t);
    const s = this.run;
    if (s === null) return this.held;
    const d = this.evalTick(t) - s.load;
    const m = this.modulus;
    const n = this.periodN(s.n);
    switch (this.mode) {
      case 2: return (n - (d % n)) % m;
      case 3: {
        const hi = Math.ceil(n / 2);
        const ph = d % n;
        const top = n & ~1; // N for even N, N-1 for odd N
        const v = ph < hi ? top - 2 * ph : top - 2 * (ph - hi);
        return v % m;
      }
      default: return (((s.n - d) % m) + m) % m;
    }
  }

  /** OUT level at tick t. */
  out(t: number): boolean {
    this.sync(t);
    const s = this.run;
    if (s === null) return this.idleOut;
    const d = this.evalTick(t) - s.load;
    const n = this.periodN(s.n);
    switch (this.mode) {
      case 0:
      case 1: return d >= n;
      case 2: return d % n !== n - 1;
      case 3: return d % n < Math.ceil(n / 2);
      default: return d !== n; // 4, 5
    }
  }

  /** First tick > after at which OUT rises because of counting, or Infinity. */
  nextRise(after: number): number {
    if (this.run === null || this.frozenAt !== null) return Infinity;
    if (this.pend !== null) {
      const r = this.segmentRise(this.run, after);
      if (r < this.pend.start) return r;
      return this.segmentRise(this.pend, Math.max(after, this.pend.start - 1));
    }
    return this.segmentRise(this.run, after);
  }

  private segmentRise(s: Segment, after: number): number {
    const lo = Math.max(after + 1, s.start);
    if (this.periodic) {
      const n = this.periodN(s.n);
      const d = lo - s.load;
      if (d === 0 && s.edgeAtStart) return lo;
      const k = Math.max(1, floorDiv(d + n - 1, n));
      return s.load + k * n;
    }
    const t = s.load + s.n + (this.mode >= 4 ? 1 : 0);
    return t >= lo && t > s.start ? t : Infinity;
  }

  /** Control word for this counter (RW != 00). Returns true when OUT was driven low. */
  program(cw: number, t: number): boolean {
    this.held = this.value(t);
    this.rw = (cw & CW_RW_MASK) >> CW_RW_SHIFT;
    const m = (cw & CW_MODE_MASK) >> CW_MODE_SHIFT;
    this.mode = m >= 6 ? m - 4 : m;
    this.bcd = (cw & CW_BCD) !== 0;
    this.lsbWritten = null;
    this.readMsb = false;
    this.latched = [];
    this.status = null;
    this.run = null;
    this.pend = null;
    this.frozenAt = null;
    this.crValid = false;
    this.nullCount = true;
    this.idleOut = this.mode !== 0;
    return this.mode === 0;
  }

  /** A byte written to the counter's port. Returns true when OUT was driven low. */
  writeCount(v: number, t: number): boolean {
    switch (this.rw) {
      case 1: this.cr = v; break;
      case 2: this.cr = v << 8; break;
      default:
        if (this.lsbWritten === null) {
          this.lsbWritten = v;
          if (this.mode !== 0) return false;
          // Mode 0: the first byte stops counting and OUT goes low at once.
          this.held = this.value(t);
          this.run = null;
          this.pend = null;
          this.frozenAt = null;
          this.idleOut = false;
          return true;
        }
        this.cr = this.lsbWritten | (v << 8);
        this.lsbWritten = null;
    }
    this.crValid = true;
    this.nullCount = true;
    return this.load(t);
  }

  private startSegment(t: number): void {
    this.run = { n: this.initialCount(), load: t, start: t, edgeAtStart: false };
    this.pend = null;
    this.frozenAt = null;
    this.nullCount = false;
  }

  /** A complete count arrived in CR. */
  private load(t: number): boolean {
    this.sync(t);
    switch (this.mode) {
      case 0:
      case 4:
        this.held = this.value(t);
        this.startSegment(t);
        if (!this.gate) this.frozenAt = t;
        return this.mode === 0;
      case 2:
      case 3:
        if (this.run !== null) this.pend = this.reloadAtBoundary(this.run, t);
        else if (this.gate) this.startSegment(t);
        return false;
      default:
        return false; // modes 1 and 5 wait for a GATE trigger
    }
  }

  /** Mode 2: the new count starts with the next period; mode 3: with the next half-cycle. */
  private reloadAtBoundary(s: Segment, t: number): Segment {
    const n = this.periodN(s.n);
    const nn = this.periodN(this.initialCount());
    const d = t - s.load;
    if (this.mode === 2) {
      const b = s.load + (floorDiv(d, n) + 1) * n;
      return { n: this.initialCount(), load: b, start: b, edgeAtStart: true };
    }
    const hi = Math.ceil(n / 2);
    const ph = d % n;
    if (ph < hi) {
      // End of the high half: the new count starts in its low half.
      const b = t + (hi - ph);
      return { n: this.initialCount(), load: b - Math.ceil(nn / 2), start: b, edgeAtStart: false };
    }
    const b = t + (n - ph);
    return { n: this.initialCount(), load: b, start: b, edgeAtStart: true };
  }

  setGate(level: boolean, t: number): void {
    if (level === this.gate) return;
    this.sync(t);
    this.gate = level;
    if (level) {
      switch (this.mode) {
        case 0:
        case 4:
          if (this.run !== null && this.frozenAt !== null) {
            const shift = t - this.frozenAt;
            this.run = { ...this.run, load: this.run.load + shift, start: this.run.start + shift };
            this.frozenAt = null;
          }
          break;
        default: // 1, 2, 3, 5: a trigger (re)loads the count
          if (this.crValid) this.startSegment(t);
      }
    } else {
      switch (this.mode) {
        case 0:
        case 4:
          if (this.run !== null && this.frozenAt === null) this.frozenAt = t;
          break;
        case 2:
        case 3:
          if (this.run !== null) {
            this.held = this.value(t);
            this.run = null;
            this.pend = null;
            this.idleOut = true;
          }
          break;
        default:
          break; // 1, 5: GATE level does not affect counting
      }
    }
  }

  latchCount(t: number): void {
    if (this.latched.length > 0) return; // a second latch before the read is ignored
    let v = this.value(t);
    if (this.bcd) v = binToBcd(v);
    const lo = v & 0xff;
    const hi = (v >> 8) & 0xff;
    this.latched = this.rw === 1 ? [lo] : this.rw === 2 ? [hi] : [lo, hi];
  }

  latchStatus(t: number): void {
    if (this.status !== null) return;
    const m = this.mode;
    this.status = (this.out(t) ? STATUS_OUT : 0) | (this.nullCount || this.pend !== null ? STATUS_NULL_COUNT : 0) |
      (this.rw << CW_RW_SHIFT) | (m << CW_MODE_SHIFT) | (this.bcd ? CW_BCD : 0);
  }

  read(t: number): number {
    if (this.status !== null) {
      const s = this.status;
      this.status = null;
      return s;
    }
    const l = this.latched.shift();
    if (l !== undefined) return l;
    let v = this.value(t);
    if (this.bcd) v = binToBcd(v);
    switch (this.rw) {
      case 1: return v & 0xff;
      case 2: return (v >> 8) & 0xff;
      default:
        this.readMsb = !this.readMsb;
        return this.readMsb ? v & 0xff : (v >> 8) & 0xff;
    }
  }
}

// ---- the device ---------------------------------------------------------------


export interface Pit8254Options {
  /** Virtual time now (retired instructions). */
  readonly now: () => number;
  /** IRQ 0 line (counter 0's OUT). */
  readonly irq?: (level: boolean) => void;
  /** Nominal machine speed that maps virtual time to seconds; default 10^9. */
  readonly instructionsPerSecond?: number;
}

export class Pit8254 implements Deadline {
  readonly instructionsPerSecond: number;
  private readonly now: () => number;
  private readonly irqOut: (level: boolean) => void;
  private readonly counters: [Counter, Counter, Counter];
  private portB = 0;
  private line = false;
  /** Last tick up to which counter 0's edges were delivered. */
  private checked = 0;
  private nextAt = Infinity;

  constructor(opts: Pit8254Options) {
    const ips = opts.instructionsPerSecond ?? DEFAULT_INSTRUCTIONS_PER_SECOND;
    if (!Number.isSafeInteger(ips) || ips < 1 || ips > MAX_INSTRUCTIONS_PER_SECOND) {
      throw new RangeError(`instructionsPerSecond must be an integer in 1..2^32, got ${ips}`);
    }
    this.instructionsPerSecond = ips;
    this.now = opts.now;
    this.irqOut = opts.irq ?? (() => {});
    this.counters = [new Counter(true), new Counter(true), new Counter(false)];
    this.checked = this.tick();
  }

  /** PIT clock pulses elapsed by now. */
  tick(): number { return pitTicksAt(this.now(), this.instructionsPerSecond); }

  // ---- Deadline (IRQ 0)
  get at(): number { return this.nextAt; }

  fire(now: number): void {
    this.catchUp(pitTicksAt(now, this.instructionsPerSecond));
    this.reschedule();
  }

  /** Delivers counter 0's rising edges due by tick t (coalesced into one pulse). */
  private catchUp(t: number): void {
    if (t < this.checked) return;
    if (this.counters[0].nextRise(this.checked) <= t) {
      if (this.line) this.setLine(false);
      this.setLine(true);
    }
    this.checked = t;
    this.counters[0].sync(t);
  }

  private reschedule(): void {
    this.nextAt = pitTickTime(this.counters[0].nextRise(this.checked), this.instructionsPerSecond);
  }

  private setLine(level: boolean): void {
    if (level === this.line) return;
    this.line = level;
    this.irqOut(level);
  }

  /** Runs a state change on counter c at tick t, keeping IRQ 0 exact around it. */
  private change(c: number, t: number, f: () => boolean): void {
    if (c === 0) this.catchUp(t);
    const lowered = f();
    if (c === 0) {
      if (lowered) this.setLine(false);
      this.reschedule();
    }
  }

  // ---- registers 0x40-0x43
  read(offset: number): number {
    const t = this.tick();
    if (offset === PIT_CONTROL) return 0xff; // the control word register cannot be read
    const c = this.counters[offset];
    if (c === undefined) throw new RangeError(`8254 register offset ${offset} is outside 0-3`);
    return c.read(t);
  }

  write(offset: number, value: number): void {
    const v = value & 0xff;
    const t = this.tick();
    if (offset === PIT_CONTROL) {
      if ((v & CW_SC_MASK) === CW_SC_READBACK) {
        for (let i = 0; i < 3; i++) {
          if ((v & (RB_COUNTER0 << i)) === 0) continue;
          const c = this.counters[i]!;
          // Status first, so that a read-back latching both returns status, then count.
          if ((v & RB_NOT_STATUS) === 0) c.latchStatus(t);
          if ((v & RB_NOT_COUNT) === 0) c.latchCount(t);
        }
        return;
      }
      const i = (v & CW_SC_MASK) >> CW_SC_SHIFT;
      const c = this.counters[i]!;
      if ((v & CW_RW_MASK) === CW_RW_LATCH) { c.latchCount(t); return; }
      this.change(i, t, () => c.program(v, t));
      return;
    }
    const c = this.counters[offset];
    if (c === undefined) throw new RangeError(`8254 register offset ${offset} is outside 0-3`);
    this.change(offset, t, () => c.writeCount(v, t));
  }

  // ---- port 0x61
  readPortB(): number {
    const t = this.tick();
    const refresh = Math.floor(t / REFRESH_TICKS) % 2 === 1 ? PB_REFRESH : 0;
    return (this.portB & PB_WRITABLE) | refresh | (this.counters[2].out(t) ? PB_OUT2 : 0);
  }

  writePortB(value: number): void {
    this.portB = value & PB_WRITABLE;
    this.counters[2].setGate((value & PB_GATE2) !== 0, this.tick());
  }

  /** The speaker sounds while GATE2 and the speaker data bit are set (OUT2 shapes the tone). */
  get speakerEnabled(): boolean { return (this.portB & (PB_GATE2 | PB_SPEAKER_DATA)) === (PB_GATE2 | PB_SPEAKER_DATA); }

  // ---- inspection (tests, tracing)
  /** OUT of counter c now. */
  out(c: number): boolean { return this.counter(c).out(this.tick()); }
  /** Current value of counter c (binary, not latched). */
  count(c: number): number { return this.counter(c).value(this.tick()); }
  /** Level of the IRQ 0 line as last driven. */
  get irqLevel(): boolean { return this.line; }

  private counter(c: number): Counter {
    const k = this.counters[c];
    if (k === undefined) throw new RangeError(`8254 counter ${c} is outside 0-2`);
    return k;
  }

  /** Port ranges: 0x40-0x43 and 0x61. */
  ports(): PortRange[] {
    return [
      { base: PIT_BASE_PORT, len: 4, dev: bytePorts('pit', 4, (o) => this.read(o), (o, v) => this.write(o, v)) },
      { base: PORT_B, len: 1, dev: bytePorts('port61', 1, () => this.readPortB(), (_o, v) => this.writePortB(v)) },
    ];
  }
}

