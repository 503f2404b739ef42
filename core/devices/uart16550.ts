/**
 * 16550A UART (NS/TI PC16550D datasheet), one device, eight byte registers.
 *
 * Shape after rust-vmm vm-superio's serial.rs: named register offsets and bit
 * masks, `read(offset)` / `write(offset, value)` with offset 0-7 relative to
 * the base port (0x3f8 for COM1), and every side effect injected: the
 * transmitted bytes go to an output sink, the interrupt line to a callback.
 *
 * Deterministic model (no timers, no host time):
 *  - Transmission is instantaneous: a THR write reaches the sink (or, in
 *    loopback, the receiver) at once, so LSR.THRE and LSR.TEMT are always set.
 *    Writing THR clears a pending THRE interrupt and, the byte being gone at
 *    once, THR is empty again: the THRE interrupt is re-armed immediately. The
 *    IRQ line therefore drops and rises again (two callbacks) when THRE was the
 *    only source, like hardware does between the write and the end of the
 *    character; an edge-triggered PIC sees a fresh edge for every byte.
 *  - Received data: with FIFOs enabled, IIR reports "received data available"
 *    (0x04) when the RX FIFO holds at least the trigger level, and "character
 *    timeout" (0x0C) at once when it holds fewer (hardware waits 4 character
 *    times; here no time passes). Without FIFOs, 0x04 whenever LSR.DR is set.
 *  - Host input arrives through `enqueueInput`; `rxSpace` tells the host how
 *    many bytes fit without an overrun (16 with FIFOs, 1 without).
 *  - Parity, framing and break errors are never produced (no line to corrupt).
 *
 * Interrupt priority (datasheet Table "Interrupt Control Functions"):
 *   1 receiver line status (OE/PE/FE/BI)  IIR 0x06  cleared by reading LSR
 *   2 received data available             IIR 0x04  cleared when below trigger (reading RBR)
 *   2 character timeout (FIFO mode)       IIR 0x0C  cleared by reading RBR
 *   3 THR empty                           IIR 0x02  cleared by reading IIR (if source) or writing THR
 *   4 modem status                        IIR 0x00  cleared by reading MSR
 * IIR bits 7:6 read 11 when FCR bit 0 enabled the FIFOs.
 */

// Register offsets (DLAB = LCR bit 7 selects DLL/DLM at 0/1).
export const UART_RBR = 0; // receiver buffer (read, DLAB=0)
export const UART_THR = 0; // transmitter holding (write, DLAB=0)
export const UART_DLL = 0; // divisor latch LSB (DLAB=1)
export const UART_IER = 1; // interrupt enable (DLAB=0)
export const UART_DLM = 1; // divisor latch MSB (DLAB=1)
export const UART_IIR = 2; // interrupt identification (read)
export const UART_FCR = 2; // FIFO control (write)
export const UART_LCR = 3; // line control
export const UART_MCR = 4; // modem control
export const UART_LSR = 5; // line status
export const UART_MSR = 6; // modem status
export const UART_SCR = 7; // scratch

// IER
export const IER_ERBFI = 0x01; // received data available
export const IER_ETBEI = 0x02; // transmitter holding register empty
export const IER_ELSI = 0x04; // receiver line status
export const IER_EDSSI = 0x08; // modem status
export const IER_MASK = 0x0f;

// IIR
export const IIR_NO_INT = 0x01;
export const IIR_ID_MASK = 0x0e;
export const IIR_MODEM_STATUS = 0x00;
export const IIR_THR_EMPTY = 0x02;
export const IIR_RX_DATA = 0x04;
export const IIR_RX_LINE_STATUS = 0x06;
export const IIR_CHAR_TIMEOUT = 0x0c;
export const IIR_FIFOS_ENABLED = 0xc0;

// FCR
export const FCR_FIFO_ENABLE = 0x01;
export const FCR_RX_RESET = 0x02;
export const FCR_TX_RESET = 0x04;
export const FCR_DMA_MODE = 0x08;
export const FCR_TRIGGER_MASK = 0xc0;
export const FCR_TRIGGER_SHIFT = 6;
/** RX trigger levels selected by FCR bits 7:6. */
export const RX_TRIGGER_LEVELS = [1, 4, 8, 14] as const;

// LCR
export const LCR_WORD_LENGTH_MASK = 0x03;
export const LCR_STOP_BITS = 0x04;
export const LCR_PARITY_ENABLE = 0x08;
export const LCR_EVEN_PARITY = 0x10;
export const LCR_STICK_PARITY = 0x20;
export const LCR_BREAK = 0x40;
export const LCR_DLAB = 0x80;

// MCR
export const MCR_DTR = 0x01;
export const MCR_RTS = 0x02;
export const MCR_OUT1 = 0x04;
export const MCR_OUT2 = 0x08;
export const MCR_LOOP = 0x10;
export const MCR_MASK = 0x1f;

// LSR
export const LSR_DR = 0x01; // data ready
export const LSR_OE = 0x02; // overrun error
export const LSR_PE = 0x04; // parity error
export const LSR_FE = 0x08; // framing error
export const LSR_BI = 0x10; // break interrupt
export const LSR_THRE = 0x20; // transmitter holding register empty
export const LSR_TEMT = 0x40; // transmitter empty
export const LSR_RX_FIFO_ERROR = 0x80;
export const LSR_ERROR_BITS = LSR_OE | LSR_PE | LSR_FE | LSR_BI;

// MSR
export const MSR_DCTS = 0x01;
export const MSR_DDSR = 0x02;
export const MSR_TERI = 0x04; // trailing edge ring indicator
export const MSR_DDCD = 0x08;
export const MSR_DELTA_MASK = 0x0f;
export const MSR_CTS = 0x10;
export const MSR_DSR = 0x20;
export const MSR_RI = 0x40;
export const MSR_DCD = 0x80;
export const MSR_INPUT_MASK = 0xf0;

export const FIFO_SIZE = 16;

/** Reset values (datasheet "Reset" table; divisor is unspecified there, 12 = 9600 baud at 1.8432 MHz here). */
export const LSR_RESET = LSR_THRE | LSR_TEMT; // 0x60
export const IIR_RESET = IIR_NO_INT; // 0x01
export const DIVISOR_RESET = 12;
/** Modem inputs of a connected terminal: CTS, DSR and DCD asserted, RI not. */
export const DEFAULT_MODEM_INPUTS = MSR_CTS | MSR_DSR | MSR_DCD; // 0xb0

export interface Uart16550Options {
  /** Receives every byte written to THR outside loopback mode. */
  readonly output?: (byte: number) => void;
  /** Called with the new level each time the interrupt output changes. */
  readonly irq?: (level: boolean) => void;
  /**
   * PC wiring: the interrupt reaches the PIC only while MCR.OUT2 is set (and
   * never in loopback, which forces OUT2 inactive). Off by default, like QEMU.
   */
  readonly out2GatesIrq?: boolean;
  /** MSR bits 7:4 seen when not in loopback; default DEFAULT_MODEM_INPUTS. */
  readonly modemInputs?: number;
}

const noop = (): void => {};

export class Uart16550 {
  private readonly output: (byte: number) => void;
  private readonly irqOut: (level: boolean) => void;
  private readonly out2GatesIrq: boolean;
  private modemInputs: number;

  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  /** LSR error bits (OE/PE/FE/BI) only; DR, THRE and TEMT are derived. */
  private lsrErrors = 0;
  private msr = 0;
  private scr = 0;
  private dll = DIVISOR_RESET & 0xff;
  private dlm = DIVISOR_RESET >> 8;
  /** FCR bits that stick: FIFO enable, DMA mode, trigger level. */
  private fcr = 0;
  /** THRE interrupt condition (before masking by IER.ETBEI). */
  private thrEmptyPending = false;
  private lastRx = 0;

  private readonly rx = new Uint8Array(FIFO_SIZE);
  private rxHead = 0;
  private rxCount = 0;

  private level = false;

  constructor(opts: Uart16550Options = {}) {
    this.output = opts.output ?? noop;
    this.irqOut = opts.irq ?? noop;
    this.out2GatesIrq = opts.out2GatesIrq ?? false;
    this.modemInputs = (opts.modemInputs ?? DEFAULT_MODEM_INPUTS) & MSR_INPUT_MASK;
    this.msr = this.modemInputs;
  }

  /** Master reset: every register to its datasheet reset value; drops the IRQ line if it was high. */
  reset(): void {
    this.ier = 0;
    this.lcr = 0;
    this.mcr = 0;
    this.lsrErrors = 0;
    this.scr = 0;
    this.dll = DIVISOR_RESET & 0xff;
    this.dlm = DIVISOR_RESET >> 8;
    this.fcr = 0;
    this.thrEmptyPending = false;
    this.lastRx = 0;
    this.rxHead = 0;
    this.rxCount = 0;
    this.msr = this.modemInputs;
    this.updateIrq();
  }

  /** Current level of the interrupt output. */
  get irqLevel(): boolean { return this.level; }

  private get fifoEnabled(): boolean { return (this.fcr & FCR_FIFO_ENABLE) !== 0; }
  private get loopback(): boolean { return (this.mcr & MCR_LOOP) !== 0; }
  private get dlab(): boolean { return (this.lcr & LCR_DLAB) !== 0; }
  private get rxCapacity(): number { return this.fifoEnabled ? FIFO_SIZE : 1; }

  /** Bytes the receiver can take now without an overrun (0 in loopback: the serial input is disconnected). */
  get rxSpace(): number { return this.loopback ? 0 : this.rxCapacity - this.rxCount; }

  /** Divisor latch value (DLM:DLL). */
  get divisor(): number { return (this.dlm << 8) | this.dll; }

  read(offset: number): number {
    let v: number;
    switch (offset) {
      case UART_RBR:
        if (this.dlab) return this.dll;
        v = this.popRx();
        break;
      case UART_IER:
        return this.dlab ? this.dlm : this.ier;
      case UART_IIR: {
        const id = this.pendingInterrupt();
        v = id | (this.fifoEnabled ? IIR_FIFOS_ENABLED : 0);
        // Reading IIR clears the THRE interrupt when it is the one reported.
        if (id === IIR_THR_EMPTY) this.thrEmptyPending = false;
        break;
      }
      case UART_LCR:
        return this.lcr;
      case UART_MCR:
        return this.mcr;
      case UART_LSR:
        v = this.lsr();
        this.lsrErrors = 0; // reading LSR clears OE, PE, FE, BI
        break;
      case UART_MSR:
        v = this.msr;
        this.msr &= ~MSR_DELTA_MASK; // reading MSR clears the delta bits
        break;
      case UART_SCR:
        return this.scr;
      default:
        throw new RangeError(`16550 register offset ${offset} is outside 0-7`);
    }
    this.updateIrq();
    return v;
  }

  write(offset: number, value: number): void {
    const v = value & 0xff;
    switch (offset) {
      case UART_THR:
        if (this.dlab) { this.dll = v; return; }
        this.transmit(v);
        return;
      case UART_IER: {
        if (this.dlab) { this.dlm = v; return; }
        const old = this.ier;
        this.ier = v & IER_MASK;
        // Enabling ETBEI while THR is empty (always, here) raises the THRE interrupt.
        if ((this.ier & IER_ETBEI) !== 0 && (old & IER_ETBEI) === 0) this.thrEmptyPending = true;
        break;
      }
      case UART_FCR:
        this.writeFcr(v);
        break;
      case UART_LCR:
        this.lcr = v;
        return;
      case UART_MCR:
        this.mcr = v & MCR_MASK;
        this.updateModemStatus();
        break;
      case UART_LSR:
      case UART_MSR:
        // Read-only in normal operation (writes are a factory-test feature); ignored.
        return;
      case UART_SCR:
        this.scr = v;
        return;
      default:
        throw new RangeError(`16550 register offset ${offset} is outside 0-7`);
    }
    this.updateIrq();
  }

  /**
   * Host input into the receiver. Returns how many bytes were taken without
   * an overrun. Past capacity, LSR.OE is set: with FIFOs the extra byte is
   * lost (FIFO contents kept); without, it overwrites RBR (the previous byte is
   * lost). In loopback the serial input is disconnected and nothing is taken.
   */
  enqueueInput(bytes: ArrayLike<number>): number {
    if (this.loopback) return 0;
    let accepted = 0;
    for (let i = 0; i < bytes.length; i++) {
      if (this.receive((bytes[i] ?? 0) & 0xff)) accepted++;
    }
    this.updateIrq();
    return accepted;
  }

  /** Host-side modem inputs (MSR bits 7:4: CTS, DSR, RI, DCD); deltas are latched as on hardware. */
  setModemInputs(bits: number): void {
    this.modemInputs = bits & MSR_INPUT_MASK;
    this.updateModemStatus();
    this.updateIrq();
  }

  // --- internals

  private lsr(): number {
    return (this.rxCount > 0 ? LSR_DR : 0) | this.lsrErrors | LSR_THRE | LSR_TEMT;
  }

  private transmit(byte: number): void {
    // The write clears the THRE interrupt...
    this.thrEmptyPending = false;
    this.updateIrq();
    if (this.loopback) this.receive(byte);
    else this.output(byte);
    // ...and the byte leaves at once, so THR is empty again.
    this.thrEmptyPending = true;
    this.updateIrq();
  }

  /** Puts one byte in the receiver; false on overrun. Caller updates the IRQ. */
  private receive(byte: number): boolean {
    if (this.rxCount < this.rxCapacity) {
      this.rx[(this.rxHead + this.rxCount) % FIFO_SIZE] = byte;
      this.rxCount++;
      return true;
    }
    this.lsrErrors |= LSR_OE;
    if (!this.fifoEnabled) this.rx[this.rxHead] = byte; // 16450 mode: RBR is overwritten
    return false;
  }

  private popRx(): number {
    if (this.rxCount > 0) {
      this.lastRx = this.rx[this.rxHead]!;
      this.rxHead = (this.rxHead + 1) % FIFO_SIZE;
      this.rxCount--;
    }
    return this.lastRx;
  }

  private clearRx(): void {
    this.rxHead = 0;
    this.rxCount = 0;
  }

  private writeFcr(v: number): void {
    const enable = (v & FCR_FIFO_ENABLE) !== 0;
    // Changing FCR0 clears both FIFOs (datasheet FCR bit 0).
    if (enable !== this.fifoEnabled) this.clearRx();
    if (!enable) {
      // "FCR0 must be 1 when other FCR bits are written to or they will not be programmed."
      this.fcr = 0;
      return;
    }
    if ((v & FCR_RX_RESET) !== 0) this.clearRx();
    // FCR_TX_RESET: the transmit FIFO is always empty here.
    this.fcr = v & (FCR_FIFO_ENABLE | FCR_DMA_MODE | FCR_TRIGGER_MASK);
  }

  /**
   * Recomputes MSR bits 7:4 from the modem inputs or, in loopback, from MCR
   * (CTS=RTS, DSR=DTR, RI=OUT1, DCD=OUT2) and latches the delta bits.
   */
  private updateModemStatus(): void {
    let inputs = this.modemInputs;
    if (this.loopback) {
      inputs = ((this.mcr & MCR_RTS) !== 0 ? MSR_CTS : 0) |
        ((this.mcr & MCR_DTR) !== 0 ? MSR_DSR : 0) |
        ((this.mcr & MCR_OUT1) !== 0 ? MSR_RI : 0) |
        ((this.mcr & MCR_OUT2) !== 0 ? MSR_DCD : 0);
    }
    const old = this.msr & MSR_INPUT_MASK;
    const changed = old ^ inputs;
    let delta = this.msr & MSR_DELTA_MASK;
    if ((changed & MSR_CTS) !== 0) delta |= MSR_DCTS;
    if ((changed & MSR_DSR) !== 0) delta |= MSR_DDSR;
    if ((old & MSR_RI) !== 0 && (inputs & MSR_RI) === 0) delta |= MSR_TERI;
    if ((changed & MSR_DCD) !== 0) delta |= MSR_DDCD;
    this.msr = inputs | delta;
  }

  /** Highest-priority enabled interrupt condition as IIR bits 3:0. */
  private pendingInterrupt(): number {
    const ier = this.ier;
    if ((ier & IER_ELSI) !== 0 && (this.lsrErrors & LSR_ERROR_BITS) !== 0) return IIR_RX_LINE_STATUS;
    if ((ier & IER_ERBFI) !== 0 && this.rxCount > 0) {
      if (!this.fifoEnabled) return IIR_RX_DATA;
      const trigger = RX_TRIGGER_LEVELS[(this.fcr & FCR_TRIGGER_MASK) >> FCR_TRIGGER_SHIFT] ?? 1;
      return this.rxCount >= trigger ? IIR_RX_DATA : IIR_CHAR_TIMEOUT;
    }
    if ((ier & IER_ETBEI) !== 0 && this.thrEmptyPending) return IIR_THR_EMPTY;
    if ((ier & IER_EDSSI) !== 0 && (this.msr & MSR_DELTA_MASK) !== 0) return IIR_MODEM_STATUS;
    return IIR_NO_INT;
  }

  private updateIrq(): void {
    let level = this.pendingInterrupt() !== IIR_NO_INT;
    if (this.out2GatesIrq && ((this.mcr & MCR_OUT2) === 0 || this.loopback)) level = false;
    if (level !== this.level) {
      this.level = level;
      this.irqOut(level);
    }
  }
}
