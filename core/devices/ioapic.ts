/**
 * I/O APIC: Intel 82093AA datasheet (order 290566-001), 24 interrupt pins,
 * version 0x11, registers reached through an index/data pair at MMIO
 * 0xFEC00000.
 *
 * Shape as the other devices: named offsets and bit masks, `read(offset,
 * size)` / `write(offset, size, value)` on the MMIO window, and the
 * interrupt messages leave through an injected `deliver` callback, so the
 * device tests alone. Wiring (in core/hv): `deliver` → `Lapic.deliverMessage`,
 * `Lapic`'s `eoiBroadcast` → `eoi(vector)`, device IRQ lines → `setIrq`.
 *
 * MMIO window (datasheet 3.0 "Register Description"), one 4-KiB page:
 *   0x00 IOREGSEL  bits 7:0 select the indirect register (R/W; 31:8 reserved, read 0)
 *   0x10 IOWIN     the selected register (32-bit)
 * A register sits in bytes 0-3 of its 16-byte slot; every other byte of the
 * page reads 0 and ignores writes.
 * Reads of 1, 2 or 4 bytes return the addressed bytes. A write of any size
 * covering byte 0 of IOREGSEL sets the index from its low byte; IOWIN takes
 * only 4-byte writes at 0x10 (the datasheet requires dword access); every
 * other write is ignored. Version 0x11 has no EOI register (that came with
 * version 0x20).
 *
 * Indirect registers:
 *   0x00 IOAPICID   bits 27:24 ID (R/W), reset 0 (firmware sets it: option `id`)
 *   0x01 IOAPICVER  0x00170011: max redirection entry 0x17 (24 pins), version 0x11 (RO)
 *   0x02 IOAPICARB  bits 27:24 arbitration ID (RO), loaded from the ID on every ID write
 *   0x10+2n / 0x11+2n  redirection entry n, low / high dword:
 *      7:0 vector, 10:8 delivery mode (000 fixed, 001 lowest priority,
 *      010 SMI, 100 NMI, 101 INIT, 111 ExtINT), 11 destination mode
 *      (1 logical), 12 delivery status (RO), 13 polarity (1 low active),
 *      14 remote IRR (RO), 15 trigger mode (1 level), 16 mask,
 *      63:56 destination. Reset: masked, everything else 0.
 *   Other indices read 0 and ignore writes.
 *
 * Interrupt semantics:
 *  - `setIrq(pin, asserted)` takes the logical state of the line (asserted
 *    or not); the polarity bit is stored for software but the device models
 *    speak in assertions, so no inversion is applied (as QEMU and KVM do).
 *  - Edge-triggered: a rising edge on an unmasked pin sends one message.
 *    Edges on a masked pin are lost ("ignored, not delivered or held
 *    pending", datasheet, Interrupt Mask bit).
 *  - Level-triggered: while the line is asserted, the entry unmasked and
 *    remote IRR clear, a message is sent and remote IRR is set. `eoi(vector)`
 *    (the local APIC's EOI broadcast) clears remote IRR of every level entry
 *    with that vector; a line still asserted is delivered again at once.
 *    Unmasking an entry whose line is asserted delivers it too (what Linux
 *    expects when it masks and unmasks a level IRQ; the datasheet only says
 *    asserts on a masked pin have "no side effects").
 *  - Switching an entry to edge-triggered clears its remote IRR (Linux relies
 *    on this to clear a stale remote IRR on I/O APICs without an EOI
 *    register).
 *  - NMI, SMI, INIT and ExtINT messages are always edge-triggered (datasheet,
 *    Delivery Mode field), so they never set remote IRR.
 *  - Messages are delivered at once: delivery status (bit 12) reads 0.
 */

export const IOAPIC_DEFAULT_BASE = 0xfec00000;
/** The page the hypervisor maps; only IOREGSEL and IOWIN are decoded, the rest reads 0. */
export const IOAPIC_WINDOW_SIZE = 0x1000;

// MMIO offsets.
export const IOREGSEL = 0x00;
export const IOWIN = 0x10;

// Indirect register indices.
export const IOAPIC_REG_ID = 0x00;
export const IOAPIC_REG_VER = 0x01;
export const IOAPIC_REG_ARB = 0x02;
export const IOAPIC_REG_REDTBL = 0x10;

export const IOAPIC_PINS = 24;
export const IOAPIC_VERSION = 0x11;
/** IOAPICVER: max redirection entry (23) in bits 23:16, version in bits 7:0. */
export const IOAPIC_VER_VALUE = ((IOAPIC_PINS - 1) << 16) | IOAPIC_VERSION; // 0x00170011
export const IOAPIC_ID_SHIFT = 24;
export const IOAPIC_ID_MASK = 0x0f000000;

// Redirection entry, low dword.
export const REDIR_VECTOR_MASK = 0xff;
export const REDIR_DELIVERY_MODE_MASK = 0x700;
export const REDIR_DELIVERY_MODE_SHIFT = 8;
export const REDIR_DEST_LOGICAL = 1 << 11;
export const REDIR_DELIVERY_STATUS = 1 << 12;
export const REDIR_POLARITY_LOW = 1 << 13;
export const REDIR_REMOTE_IRR = 1 << 14;
export const REDIR_TRIGGER_LEVEL = 1 << 15;
export const REDIR_MASKED = 1 << 16;
/** Writable low-dword bits: all but delivery status and remote IRR. */
export const REDIR_LOW_WRITABLE = 0x0001afff;
// Redirection entry, high dword.
export const REDIR_DEST_SHIFT = 24; // bits 63:56 = high dword bits 31:24
export const REDIR_HIGH_WRITABLE = 0xff000000;

export const REDIR_LOW_RESET = REDIR_MASKED;

// Delivery modes (same encoding as the local APIC's).
export const IOAPIC_DELIVERY_FIXED = 0;
export const IOAPIC_DELIVERY_LOWEST = 1;
export const IOAPIC_DELIVERY_SMI = 2;
export const IOAPIC_DELIVERY_NMI = 4;
export const IOAPIC_DELIVERY_INIT = 5;
export const IOAPIC_DELIVERY_EXTINT = 7;

/**
 * An interrupt message on its way to the local APIC(s): `level` is the
 * trigger mode (true only for level-triggered fixed/lowest-priority entries),
 * `destination` the 8-bit destination field, `logical` the destination mode,
 * `deliveryMode` bits 10:8 of the entry, `pin` the input it came from.
 * Signature-compatible with `Lapic.deliverMessage` for its first five
 * parameters.
 */
export type IoApicDeliver = (vector: number, level: boolean, destination: number, logical: boolean, deliveryMode: number, pin: number) => void;

export interface IoApicOptions {
  readonly deliver: IoApicDeliver;
  /** I/O APIC ID (0-15) as firmware leaves it (and as the MP table names it); default 0. */
  readonly id?: number;
}

export class IoApic {
  private readonly deliverOut: IoApicDeliver;
  private readonly initialId: number;
  private id = 0;
  private arb = 0;
  private regsel = 0;
  private readonly low = new Uint32Array(IOAPIC_PINS);
  private readonly high = new Uint32Array(IOAPIC_PINS);
  /** Asserted state of each input line (external, kept across reset). */
  private readonly lines = new Uint8Array(IOAPIC_PINS);

  constructor(opts: IoApicOptions) {
    this.deliverOut = opts.deliver;
    const id = opts.id ?? 0;
    if (!Number.isInteger(id) || id < 0 || id > 15) throw new RangeError(`I/O APIC ID must be 0-15, got ${id}`);
    this.initialId = id;
    this.reset();
  }

  /** Reset: every entry masked, ID (and arbitration ID) as configured, IOREGSEL 0. */
  reset(): void {
    this.id = this.initialId;
    this.arb = this.initialId;
    this.regsel = 0;
    this.low.fill(REDIR_LOW_RESET);
    this.high.fill(0);
  }

  get apicId(): number { return this.id; }

  // --- MMIO

  /** Read 1, 2 or 4 bytes at `offset` of the window (0x00-0x1F). */
  read(offset: number, size: number): number {
    checkAccess(offset, size);
    let v = 0;
    for (let k = 0; k < size; k++) {
      const b = offset + k;
      if ((b & 0xf) >= 4) continue;
      const slot = b >>> 4;
      const reg = slot === 0 ? this.regsel : slot === 1 ? this.readIndirect(this.regsel) : 0;
      v |= ((reg >>> ((b & 3) * 8)) & 0xff) << (k * 8);
    }
    return v >>> 0;
  }

  write(offset: number, size: number, value: number): void {
    checkAccess(offset, size);
    if (offset === IOREGSEL) { this.regsel = value & 0xff; return; }
    if (offset === IOWIN && size === 4) this.writeIndirect(this.regsel, value >>> 0);
  }

  // --- indirect registers

  readIndirect(index: number): number {
    switch (index) {
      case IOAPIC_REG_ID: return (this.id << IOAPIC_ID_SHIFT) >>> 0;
      case IOAPIC_REG_VER: return IOAPIC_VER_VALUE;
      case IOAPIC_REG_ARB: return (this.arb << IOAPIC_ID_SHIFT) >>> 0;
    }
    const n = (index - IOAPIC_REG_REDTBL) >> 1;
    if (index < IOAPIC_REG_REDTBL || n >= IOAPIC_PINS) return 0;
    return (index & 1) === 0 ? this.low[n]! : this.high[n]!;
  }

  writeIndirect(index: number, value: number): void {
    if (index === IOAPIC_REG_ID) {
      this.id = (value & IOAPIC_ID_MASK) >>> IOAPIC_ID_SHIFT;
      this.arb = this.id;
      return;
    }
    const n = (index - IOAPIC_REG_REDTBL) >> 1;
    if (index < IOAPIC_REG_REDTBL || n >= IOAPIC_PINS) return; // VER, ARB read-only; others unimplemented
    if ((index & 1) === 1) { this.high[n] = (value & REDIR_HIGH_WRITABLE) >>> 0; return; }
    let e = (value & REDIR_LOW_WRITABLE) | (this.low[n]! & REDIR_REMOTE_IRR);
    if ((e & REDIR_TRIGGER_LEVEL) === 0) e &= ~REDIR_REMOTE_IRR;
    this.low[n] = e >>> 0;
    this.tryLevel(n);
  }

  /** Redirection entry `pin` as [low, high] dwords. */
  entry(pin: number): [number, number] {
    checkPin(pin);
    return [this.low[pin]!, this.high[pin]!];
  }

  // --- interrupt inputs

  /** Sets the asserted state of input `pin` (0-23). */
  setIrq(pin: number, asserted: boolean): void {
    checkPin(pin);
    const prev = this.lines[pin] !== 0;
    this.lines[pin] = asserted ? 1 : 0;
    if (this.isLevel(pin)) { this.tryLevel(pin); return; }
    if (asserted && !prev && (this.low[pin]! & REDIR_MASKED) === 0) this.send(pin, false);
  }

  /** An edge: assert then deassert `pin`. */
  pulseIrq(pin: number): void {
    this.setIrq(pin, true);
    this.setIrq(pin, false);
  }

  /** EOI broadcast from a local APIC for `vector`: clears remote IRR of matching level entries, re-delivering asserted lines. */
  eoi(vector: number): void {
    vector &= 0xff;
    for (let n = 0; n < IOAPIC_PINS; n++) {
      const e = this.low[n]!;
      if ((e & REDIR_REMOTE_IRR) === 0 || (e & REDIR_VECTOR_MASK) !== vector) continue;
      this.low[n] = (e & ~REDIR_REMOTE_IRR) >>> 0;
      this.tryLevel(n);
    }
  }

  /** Level-triggered fixed/lowest-priority entry (the only kind with remote IRR semantics). */
  private isLevel(pin: number): boolean {
    const e = this.low[pin]!;
    const mode = (e & REDIR_DELIVERY_MODE_MASK) >>> REDIR_DELIVERY_MODE_SHIFT;
    return (e & REDIR_TRIGGER_LEVEL) !== 0 && (mode === IOAPIC_DELIVERY_FIXED || mode === IOAPIC_DELIVERY_LOWEST);
  }

  private tryLevel(pin: number): void {
    if (this.lines[pin] === 0 || !this.isLevel(pin)) return;
    const e = this.low[pin]!;
    if ((e & (REDIR_MASKED | REDIR_REMOTE_IRR)) !== 0) return;
    this.low[pin] = (e | REDIR_REMOTE_IRR) >>> 0;
    this.send(pin, true);
  }

  private send(pin: number, level: boolean): void {
    const e = this.low[pin]!;
    this.deliverOut(
      e & REDIR_VECTOR_MASK,
      level,
      this.high[pin]! >>> REDIR_DEST_SHIFT,
      (e & REDIR_DEST_LOGICAL) !== 0,
      (e & REDIR_DELIVERY_MODE_MASK) >>> REDIR_DELIVERY_MODE_SHIFT,
      pin,
    );
  }
}

function checkPin(pin: number): void {
  if (!Number.isInteger(pin) || pin < 0 || pin >= IOAPIC_PINS) throw new RangeError(`I/O APIC pin ${pin} is outside 0-${IOAPIC_PINS - 1}`);
}

function checkAccess(offset: number, size: number): void {
  if (size !== 1 && size !== 2 && size !== 4) throw new RangeError(`I/O APIC access size ${size} is not 1, 2 or 4`);
  if (!Number.isInteger(offset) || offset < 0 || offset + size > IOAPIC_WINDOW_SIZE) {
    throw new RangeError(`I/O APIC access at offset 0x${offset.toString(16)} (size ${size}) is outside the 4-KiB window`);
  }
}
