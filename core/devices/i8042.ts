/**
 * 8042 keyboard controller (IBM PC/AT and PS/2 Technical Reference; the
 * command set Linux's drivers/input/serio/i8042.c uses) with a PS/2
 * keyboard on its first port and an empty auxiliary (mouse) port.
 *
 * Ports and lines:
 *   0x60  data: read the output buffer; write a command's parameter or a byte to the keyboard
 *   0x64  read: status register; write: controller command
 *   IRQ 1  output buffer holds keyboard-port data and command byte bit 0 is set
 *   IRQ 12 output buffer holds aux-port data and command byte bit 1 is set
 *   reset  CPU reset: command 0xFE (or any 0xF0-0xFF pulse including output line 0),
 *          or an output-port write (0xD1) that clears bit 0
 *
 * Model:
 *  - Commands execute at once: IBF is never set. Replies queue behind one
 *    another in the output buffer (OBF, with AUX_OBF for aux-port bytes);
 *    reading port 0x60 takes the head, and a next byte arrives as a fresh
 *    rising edge on its IRQ line. Reading with nothing pending returns the
 *    last byte read.
 *  - Keyboard-port bytes wait while the keyboard interface is disabled
 *    (command byte bit 4, commands 0xAD/0xAE); a byte written to port 0x60
 *    for the keyboard enables it again, as on hardware.
 *  - The keyboard answers 0xFF (reset) with 0xFA 0xAA, 0xF2 (identify) with
 *    0xFA 0xAB 0x83 (0xAB 0x41 when the controller translates, as Linux's
 *    atkbd expects), 0xEE (echo) with 0xEE, 0xFE (resend) with its last byte,
 *    and every other command with 0xFA, taking the parameter byte of 0xED,
 *    0xF0 (0xF0 0x00 reports the scan-code set) and 0xF3. Scan codes come
 *    only from the host (`enqueueKeyboard`), as given.
 *  - No mouse is attached: bytes sent to the aux port (0xD4) are answered
 *    by 0xFE with the timeout status bit, as a PS/2 controller reports a
 *    missing device, so drivers give up at once. The aux loopback (0xD3) and
 *    interface test (0xA9) work, as the port itself exists. With
 *    `keyboard: false` the keyboard port behaves the same way.
 *  - Power-on state: command byte 0x65 (translate, aux disabled, system flag,
 *    keyboard interrupt), as a PC BIOS leaves it.
 *  - Not modelled: the 0xAC diagnostic dump, password commands, active
 *    multiplexing, parity errors, scan-code translation of host input.
 */
import type { PortDevice, PortRange } from '../hv/iobus.js';

export const I8042_DATA_PORT = 0x60;
export const I8042_COMMAND_PORT = 0x64;

// Status register (port 0x64 read)
export const STATUS_OBF = 0x01; // output buffer full
export const STATUS_IBF = 0x02; // input buffer full (never set here)
export const STATUS_SYS = 0x04; // system flag (command byte bit 2)
export const STATUS_A2 = 0x08; // last write was a command (port 0x64)
export const STATUS_UNLOCKED = 0x10; // keyboard not inhibited by the keylock
export const STATUS_AUX_OBF = 0x20; // output buffer holds aux-port data
export const STATUS_TIMEOUT = 0x40;
export const STATUS_PARITY = 0x80;

// Controller command byte (internal RAM byte 0)
export const CCB_KBD_INT = 0x01;
export const CCB_AUX_INT = 0x02;
export const CCB_SYS = 0x04;
export const CCB_IGNORE_KEYLOCK = 0x08;
export const CCB_KBD_DISABLE = 0x10;
export const CCB_AUX_DISABLE = 0x20;
export const CCB_XLATE = 0x40;
export const CCB_RESET = CCB_XLATE | CCB_AUX_DISABLE | CCB_SYS | CCB_KBD_INT; // 0x65

// Controller commands (port 0x64 write)
export const CMD_READ_RAM = 0x20; // 0x20-0x3F: read RAM byte (0x20 = command byte)
export const CMD_WRITE_RAM = 0x60; // 0x60-0x7F: write RAM byte (0x60 = command byte)
export const CMD_AUX_DISABLE = 0xa7;
export const CMD_AUX_ENABLE = 0xa8;
export const CMD_AUX_TEST = 0xa9;
export const CMD_SELF_TEST = 0xaa;
export const CMD_KBD_TEST = 0xab;
export const CMD_KBD_DISABLE = 0xad;
export const CMD_KBD_ENABLE = 0xae;
export const CMD_READ_INPUT = 0xc0;
export const CMD_READ_OUTPUT = 0xd0;
export const CMD_WRITE_OUTPUT = 0xd1;
export const CMD_WRITE_KBD_OUTBUF = 0xd2;
export const CMD_WRITE_AUX_OUTBUF = 0xd3;
export const CMD_WRITE_AUX = 0xd4;
export const CMD_A20_DISABLE = 0xdd;
export const CMD_A20_ENABLE = 0xdf;
export const CMD_READ_TEST_INPUTS = 0xe0;
export const CMD_PULSE = 0xf0; // 0xF0-0xFF: pulse output lines 3:0 whose bit is 0
export const CMD_RESET = 0xfe; // pulse line 0: CPU reset

// Replies
export const SELF_TEST_OK = 0x55;
export const INTERFACE_TEST_OK = 0x00;
export const INPUT_PORT_VALUE = 0x80; // bit 7: keyboard not inhibited

// Output port (0xD0/0xD1)
export const OUT_SYSTEM_RESET = 0x01; // active low: 0 resets the CPU
export const OUT_A20 = 0x02;
export const OUT_AUX_CLOCK = 0x04;
export const OUT_AUX_DATA = 0x08;
export const OUT_OBF = 0x10; // read-only: IRQ 1 output
export const OUT_AUX_OBF = 0x20; // read-only: IRQ 12 output
export const OUT_KBD_CLOCK = 0x40;
export const OUT_KBD_DATA = 0x80;
export const OUT_RESET_VALUE = 0xcf; // reset high, A20 on, clock and data lines high

// PS/2 keyboard commands and replies
export const KBD_CMD_SET_LEDS = 0xed;
export const KBD_CMD_ECHO = 0xee;
export const KBD_CMD_SCANCODE_SET = 0xf0;
export const KBD_CMD_GET_ID = 0xf2;
export const KBD_CMD_TYPEMATIC = 0xf3;
export const KBD_CMD_ENABLE = 0xf4;
export const KBD_CMD_DISABLE = 0xf5;
export const KBD_CMD_DEFAULTS = 0xf6;
export const KBD_CMD_RESEND = 0xfe;
export const KBD_CMD_RESET = 0xff;
export const KBD_ACK = 0xfa;
export const KBD_BAT_OK = 0xaa;
export const KBD_NAK = 0xfe; // also "no device" from the controller, with STATUS_TIMEOUT
export const KBD_ID = [0xab, 0x83] as const;
export const KBD_ID_TRANSLATED = [0xab, 0x41] as const;
/** Bytes the keyboard buffers for the host (a PS/2 keyboard holds 16). */
export const KBD_QUEUE_SIZE = 16;

interface OutByte { readonly value: number; readonly aux: boolean; readonly timeout: boolean }

/** The PS/2 keyboard on the first port: command replies and host scan codes. */
class Ps2Keyboard {
  readonly queue: number[] = [];
  private param: number | null = null;
  private last = KBD_ACK;
  scanning = true;
  scanSet = 2;
  leds = 0;

  private send(...bytes: number[]): void {
    for (const b of bytes) {
      if (this.queue.length < KBD_QUEUE_SIZE) this.queue.push(b);
      this.last = b;
    }
  }

  private defaults(): void {
    this.scanSet = 2;
    this.leds = 0;
  }

  command(v: number, translate: boolean): void {
    const p = this.param;
    if (p !== null) {
      this.param = null;
      if (p === KBD_CMD_SET_LEDS) this.leds = v & 7;
      if (p === KBD_CMD_SCANCODE_SET) {
        if (v === 0) { this.send(KBD_ACK, this.scanSet); return; }
        if (v >= 1 && v <= 3) this.scanSet = v;
      }
      this.send(KBD_ACK);
      return;
    }
    switch (v) {
      case KBD_CMD_RESET:
        this.queue.length = 0;
        this.defaults();
        this.scanning = true;
        this.send(KBD_ACK, KBD_BAT_OK);
        return;
      case KBD_CMD_RESEND: {
        const b = this.last;
        this.send(b);
        return;
      }
      case KBD_CMD_GET_ID:
        this.send(KBD_ACK, ...(translate ? KBD_ID_TRANSLATED : KBD_ID));
        return;
      case KBD_CMD_ECHO:
        this.send(KBD_CMD_ECHO);
        return;
      case KBD_CMD_SET_LEDS:
      case KBD_CMD_SCANCODE_SET:
      case KBD_CMD_TYPEMATIC:
        this.param = v;
        this.send(KBD_ACK);
        return;
      case KBD_CMD_ENABLE:
        this.scanning = true;
        this.send(KBD_ACK);
        return;
      case KBD_CMD_DISABLE:
        this.scanning = false;
        this.defaults();
        this.send(KBD_ACK);
        return;
      case KBD_CMD_DEFAULTS:
        this.defaults();
        this.send(KBD_ACK);
        return;
      default:
        this.send(KBD_ACK);
    }
  }
}


export interface I8042Options {
  /** IRQ 1 line (keyboard port data in the output buffer). */
  readonly irq1?: (level: boolean) => void;
  /** IRQ 12 line (aux port data in the output buffer). */
  readonly irq12?: (level: boolean) => void;
  /** CPU reset requested through the controller. */
  readonly reset?: () => void;
  /** A20 gate changed (output port bit 1, commands 0xDD/0xDF). */
  readonly a20?: (enabled: boolean) => void;
  /** A keyboard is attached to the first port (default true). */
  readonly keyboard?: boolean;
}

const noop = (): void => {};

export class I8042 {
  private readonly irq1Out: (level: boolean) => void;
  private readonly irq12Out: (level: boolean) => void;
  private readonly resetOut: () => void;
  private readonly a20Out: (enabled: boolean) => void;
  private readonly kbd: Ps2Keyboard | null;
  /** Internal RAM; byte 0 is the command byte. */
  private readonly ramBytes = new Uint8Array(32);
  private outport = OUT_RESET_VALUE;
  private lastWasCommand = true;
  /** Controller command waiting for its parameter on port 0x60. */
  private pendingCmd: number | null = null;
  /** Controller replies and loopback bytes, ahead of keyboard data. */
  private readonly ctrlQueue: OutByte[] = [];
  private obuf: OutByte | null = null;
  private lastRead = 0;
  private level1 = false;
  private level12 = false;

  constructor(opts: I8042Options = {}) {
    this.irq1Out = opts.irq1 ?? noop;
    this.irq12Out = opts.irq12 ?? noop;
    this.resetOut = opts.reset ?? noop;
    this.a20Out = opts.a20 ?? noop;
    this.kbd = (opts.keyboard ?? true) ? new Ps2Keyboard() : null;
    this.ramBytes[0] = CCB_RESET;
  }

  /** The controller command byte. */
  get commandByte(): number { return this.ramBytes[0]!; }
  private set commandByte(v: number) { this.ramBytes[0] = v; }

  /** Current levels of IRQ 1 and IRQ 12. */
  get irq1Level(): boolean { return this.level1; }
  get irq12Level(): boolean { return this.level12; }
  /** Whether the A20 gate is enabled (output port bit 1). */
  get a20Enabled(): boolean { return (this.outport & OUT_A20) !== 0; }

  /** Port offsets: 0 = data (0x60), 4 = status/command (0x64). */
  read(offset: number): number {
    if (offset === 0) return this.readData();
    if (offset === 4) return this.readStatus();
    throw new RangeError(`i8042 port offset ${offset} is not 0 or 4`);
  }

  write(offset: number, value: number): void {
    if (offset === 0) this.writeData(value & 0xff);
    else if (offset === 4) this.writeCommand(value & 0xff);
    else throw new RangeError(`i8042 port offset ${offset} is not 0 or 4`);
  }

  readStatus(): number {
    const o = this.obuf;
    return (o !== null ? STATUS_OBF : 0) | (o?.aux ? STATUS_AUX_OBF : 0) | (o?.timeout ? STATUS_TIMEOUT : 0) |
      (this.commandByte & CCB_SYS ? STATUS_SYS : 0) | (this.lastWasCommand ? STATUS_A2 : 0) | STATUS_UNLOCKED;
  }

  readData(): number {
    const o = this.obuf;
    if (o === null) return this.lastRead;
    this.lastRead = o.value;
    this.obuf = null;
    this.updateIrq(); // the line falls with OBF ...
    this.refill(); // ... and a next byte raises it again
    return o.value;
  }

  writeData(v: number): void {
    this.lastWasCommand = false;
    const cmd = this.pendingCmd;
    this.pendingCmd = null;
    if (cmd === null) {
      // A byte for the keyboard; sending it enables the keyboard interface.
      this.commandByte &= ~CCB_KBD_DISABLE;
      if (this.kbd !== null) this.kbd.command(v, (this.commandByte & CCB_XLATE) !== 0);
      else this.reply(KBD_NAK, false, true);
    } else if (cmd >= CMD_WRITE_RAM && cmd < CMD_WRITE_RAM + 0x20) {
      this.ramBytes[cmd - CMD_WRITE_RAM] = v;
    } else if (cmd === CMD_WRITE_OUTPUT) {
      this.writeOutport(v);
    } else if (cmd === CMD_WRITE_KBD_OUTBUF) {
      this.reply(v, false);
    } else if (cmd === CMD_WRITE_AUX_OUTBUF) {
      this.reply(v, true);
    } else if (cmd === CMD_WRITE_AUX) {
      this.commandByte &= ~CCB_AUX_DISABLE;
      this.reply(KBD_NAK, true, true); // no mouse attached
    }
    this.refill();
  }

  writeCommand(v: number): void {
    this.lastWasCommand = true;
    this.pendingCmd = null;
    if (v >= CMD_READ_RAM && v < CMD_READ_RAM + 0x20) {
      this.reply(this.ramBytes[v - CMD_READ_RAM]!, false);
    } else if (v >= CMD_WRITE_RAM && v < CMD_WRITE_RAM + 0x20) {
      this.pendingCmd = v;
    } else if (v >= CMD_PULSE) {
      if ((v & OUT_SYSTEM_RESET) === 0) this.resetOut();
    } else {
      switch (v) {
        case CMD_AUX_DISABLE: this.commandByte |= CCB_AUX_DISABLE; break;
        case CMD_AUX_ENABLE: this.commandByte &= ~CCB_AUX_DISABLE; break;
        case CMD_AUX_TEST: this.reply(INTERFACE_TEST_OK, false); break;
        case CMD_SELF_TEST:
          this.commandByte |= CCB_SYS;
          this.reply(SELF_TEST_OK, false);
          break;
        case CMD_KBD_TEST: this.reply(INTERFACE_TEST_OK, false); break;
        case CMD_KBD_DISABLE: this.commandByte |= CCB_KBD_DISABLE; break;
        case CMD_KBD_ENABLE: this.commandByte &= ~CCB_KBD_DISABLE; break;
        case CMD_READ_INPUT: this.reply(INPUT_PORT_VALUE, false); break;
        case CMD_READ_OUTPUT: this.reply(this.readOutport(), false); break;
        case CMD_WRITE_OUTPUT:
        case CMD_WRITE_KBD_OUTBUF:
        case CMD_WRITE_AUX_OUTBUF:
        case CMD_WRITE_AUX:
          this.pendingCmd = v;
          break;
        case CMD_A20_DISABLE: this.writeOutport(this.outport & ~OUT_A20); break;
        case CMD_A20_ENABLE: this.writeOutport(this.outport | OUT_A20); break;
        case CMD_READ_TEST_INPUTS: this.reply(0x00, false); break;
        default: break; // unknown commands are ignored
      }
    }
    this.refill();
  }

  /**
   * Host input: bytes the keyboard sends (scan codes, as given). Dropped when
   * no keyboard is attached, scanning is disabled (0xF5) or its buffer is
   * full. Returns how many were taken.
   */
  enqueueKeyboard(bytes: ArrayLike<number>): number {
    const k = this.kbd;
    if (k === null || !k.scanning) return 0;
    let n = 0;
    for (let i = 0; i < bytes.length && k.queue.length < KBD_QUEUE_SIZE; i++, n++) k.queue.push((bytes[i] ?? 0) & 0xff);
    this.refill();
    return n;
  }

  private readOutport(): number {
    const o = this.obuf;
    return (this.outport & ~(OUT_OBF | OUT_AUX_OBF)) | (o !== null && !o.aux ? OUT_OBF : 0) | (o?.aux ? OUT_AUX_OBF : 0);
  }

  private writeOutport(v: number): void {
    const old = this.outport;
    this.outport = v & ~(OUT_OBF | OUT_AUX_OBF);
    if (((old ^ v) & OUT_A20) !== 0) this.a20Out((v & OUT_A20) !== 0);
    if ((v & OUT_SYSTEM_RESET) === 0) {
      this.outport |= OUT_SYSTEM_RESET; // the reset line is a pulse: the CPU restarts and it reads back high
      this.resetOut();
    }
  }

  private reply(value: number, aux: boolean, timeout = false): void {
    this.ctrlQueue.push({ value, aux, timeout });
  }

  /** Moves the next byte into an empty output buffer and updates the IRQ lines. */
  private refill(): void {
    if (this.obuf === null) {
      const c = this.ctrlQueue.shift();
      if (c !== undefined) this.obuf = c;
      else if (this.kbd !== null && this.kbd.queue.length > 0 && (this.commandByte & CCB_KBD_DISABLE) === 0) {
        this.obuf = { value: this.kbd.queue.shift()!, aux: false, timeout: false };
      }
    }
    this.updateIrq();
  }

  private updateIrq(): void {
    const o = this.obuf;
    const l1 = o !== null && !o.aux && (this.commandByte & CCB_KBD_INT) !== 0;
    const l12 = o !== null && o.aux && (this.commandByte & CCB_AUX_INT) !== 0;
    if (l1 !== this.level1) { this.level1 = l1; this.irq1Out(l1); }
    if (l12 !== this.level12) { this.level12 = l12; this.irq12Out(l12); }
  }

  /** Port ranges: 0x60 (data) and 0x64 (status/command). */
  ports(): PortRange[] {
    const one = (name: string, offset: number): PortDevice => ({
      name,
      read: (_o, size) => {
        let v = 0;
        for (let k = 0; k < size; k++) v |= (k === 0 ? this.read(offset) : 0xff) << (8 * k);
        return v >>> 0;
      },
      write: (_o, _size, value) => this.write(offset, value & 0xff),
    });
    return [
      { base: I8042_DATA_PORT, len: 1, dev: one('i8042-data', 0) },
      { base: I8042_COMMAND_PORT, len: 1, dev: one('i8042-cmd', 4) },
    ];
  }
}
