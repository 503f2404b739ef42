/**
 * Two cascaded 8259A programmable interrupt controllers (Intel 8259A
 * datasheet, order no. 231468) wired as on the PC/AT, plus the PIIX
 * edge/level control registers (ELCR, Intel 82371AB datasheet §4.1.23).
 *
 * Ports and lines:
 *   0x20/0x21   master: command (ICW1, OCW2, OCW3; reads IRR/ISR/poll) / data (ICW2-4, OCW1 = IMR)
 *   0xA0/0xA1   slave, same layout
 *   0x4D0/0x4D1 ELCR for IRQ 0-7 / 8-15 (1 = level-triggered)
 *   inputs      ISA IRQ 0-15 via `setIrq`; the slave's INT output drives master IR2
 *   output      INTR (`hasInterrupt`, `onIntr`); the INTA cycle is `acknowledge()`
 *
 * Shape after rust-vmm vm-superio: named register bits, `read(offset)` /
 * `write(offset, value)` per chip, the INTR output injected as a callback.
 *
 * Model:
 *  - Edge mode: a rising edge on an input latches its IRR bit, which stays
 *    set until the INTA cycle takes it, even if the line falls meanwhile (as
 *    QEMU does; real silicon requires the line to stay high until INTA and
 *    otherwise reports IR7). Level mode (ICW1 LTIM, or the ELCR bit): IRR
 *    follows the line; a line still high after EOI requests again.
 *  - Priority: fully nested, with rotation (OCW2 rotate commands and rotate
 *    in AEOI mode) moving the lowest priority; special mask mode (OCW3) makes
 *    masked in-service levels stop blocking others; special fully nested
 *    mode (ICW4 SFNM) lets the master accept a new request on IR2 while IR2
 *    is in service.
 *  - Cascade: when the master grants IR2 and ICW3 names a slave there (and
 *    ICW1 did not select single mode), the slave supplies the vector. The
 *    slave's INT output is recomputed after every change and is seen low
 *    during the INTA cycle, so a slave that still has a request afterwards
 *    produces a fresh edge on master IR2.
 *  - Spurious interrupts: an INTA with no request returns vector base + 7
 *    (IRQ 7) and sets no ISR bit; if the master grants IR2 but the slave has
 *    nothing, the master's ISR bit 2 is set and the slave returns its base + 7
 *    (IRQ 15), so the guest must EOI the master only, as Linux does.
 *  - Poll command (OCW3 P): the next read of that chip returns 0x80 | level
 *    and acknowledges it on that chip (or 0x00 when none); the slave must be
 *    polled separately, as on hardware.
 *  - Power-on state (undefined on silicon; chosen to be harmless): both chips
 *    initialized as a PC BIOS leaves them (ICW2 0x08 / 0x70, cascade on IR2,
 *    8086 mode) with every input masked (IMR 0xFF).
 *  - Not modelled: MCS-80/85 mode (vectors are always delivered 8086-style),
 *    buffered mode, ISA IRQ 2 redirection (a device raising IRQ 2 drives
 *    master IR2 together with the slave's output, as in QEMU).
 */
import { type PortRange, bytePorts } from '../hv/iobus.js';

// Chip register offsets (from the chip's base port: 0x20 or 0xA0).
export const PIC_COMMAND = 0;
export const PIC_DATA = 1;

// ICW1 (command port, bit 4 set)
export const ICW1_IC4 = 0x01; // ICW4 needed
export const ICW1_SNGL = 0x02; // single (no ICW3)
export const ICW1_ADI = 0x04; // call address interval (MCS-80 only)
export const ICW1_LTIM = 0x08; // level-triggered mode
export const ICW1_INIT = 0x10;

// ICW2: vector base, bits 7:3 in 8086 mode.
export const ICW2_VECTOR_MASK = 0xf8;

// ICW4
export const ICW4_UPM = 0x01; // 8086/8088 mode
export const ICW4_AEOI = 0x02; // automatic EOI
export const ICW4_MS = 0x04; // buffered master (vs slave)
export const ICW4_BUF = 0x08; // buffered mode
export const ICW4_SFNM = 0x10; // special fully nested mode

// OCW2 (command port, bits 4:3 = 00): R SL EOI in bits 7:5, level in 2:0.
export const OCW2_LEVEL_MASK = 0x07;
export const OCW2_CMD_MASK = 0xe0;
export const OCW2_ROTATE_AEOI_CLEAR = 0x00;
export const OCW2_NONSPECIFIC_EOI = 0x20;
export const OCW2_NOP = 0x40;
export const OCW2_SPECIFIC_EOI = 0x60;
export const OCW2_ROTATE_AEOI_SET = 0x80;
export const OCW2_ROTATE_NONSPECIFIC_EOI = 0xa0;
export const OCW2_SET_PRIORITY = 0xc0;
export const OCW2_ROTATE_SPECIFIC_EOI = 0xe0;

// OCW3 (command port, bits 4:3 = 01)
export const OCW3_SELECT = 0x08;
export const OCW3_RIS = 0x01; // read ISR (vs IRR), when RR is set
export const OCW3_RR = 0x02; // read register command
export const OCW3_POLL = 0x04;
export const OCW3_SMM = 0x20; // special mask mode, when ESMM is set
export const OCW3_ESMM = 0x40;

/** Poll byte: bit 7 = a request was pending, bits 2:0 = its level. */
export const POLL_INT = 0x80;

/** The slave's INT output is wired to master input 2 (PC/AT). */
export const CASCADE_IR = 2;

// ELCR (PIIX): bits that can be level-triggered. IRQ 0, 1, 2, 8 and 13 are always edge.
export const ELCR_PORT_BASE = 0x4d0;
export const ELCR1_MASK = 0xf8;
export const ELCR2_MASK = 0xde;

export const MASTER_BASE_PORT = 0x20;
export const SLAVE_BASE_PORT = 0xa0;

/** Power-on vector bases: those a PC BIOS programs (IRQ 0-7 → 0x08, IRQ 8-15 → 0x70). */
export const DEFAULT_MASTER_VECTOR = 0x08;
export const DEFAULT_SLAVE_VECTOR = 0x70;

/** One 8259A. The pair (below) connects two of them and resolves cascaded INTA cycles. */
export class Pic8259 {
  irr = 0;
  isr = 0;
  imr = 0xff;
  /** Current levels of the eight IR inputs. */
  private lines = 0;
  /** ELCR bits for this chip (1 = level); level mode is `ltim || elcr bit`. */
  elcr = 0;
  vectorBase: number;
  /** ICW3: master = bit mask of inputs with a slave; slave = its cascade identity (0-7). */
  icw3: number;
  single = false;
  ltim = false;
  autoEoi = false;
  rotateOnAutoEoi = false;
  sfnm = false;
  upm = true;
  /** IR level that currently has the highest priority (rotation moves it). */
  priorityBase = 0;
  specialMask = false;
  private readIsr = false;
  private pollNext = false;
  private needIcw4 = false;
  /** 0 = operational; 2, 3, 4 = the next data-port write is that ICW. */
  private initStep = 0;

  constructor(readonly isMaster: boolean, private readonly elcrMask: number, private readonly changed: () => void) {
    this.vectorBase = isMaster ? DEFAULT_MASTER_VECTOR : DEFAULT_SLAVE_VECTOR;
    this.icw3 = isMaster ? 1 << CASCADE_IR : CASCADE_IR;
  }

  private levelMask(): number { return this.ltim ? 0xff : this.elcr; }

  /** Drives input `ir` (0-7). Edge mode latches rising edges; level mode follows the line. */
  setInput(ir: number, level: boolean): void {
    const bit = 1 << ir;
    const old = (this.lines & bit) !== 0;
    if (level) this.lines |= bit;
    else this.lines &= ~bit;
    if ((this.levelMask() & bit) !== 0) {
      if (level) this.irr |= bit;
      else this.irr &= ~bit;
    } else if (level && !old) {
      this.irr |= bit;
    }
  }

  /** Priority rank of the best bit in `mask` (0 = highest), 8 when the mask is empty. */
  private rank(mask: number): number {
    for (let p = 0; p < 8; p++) if ((mask & (1 << ((p + this.priorityBase) & 7))) !== 0) return p;
    return 8;
  }

  /** The IR level this chip would present on INTA now, or -1 (INT output low). */
  pending(): number {
    const p = this.rank(this.irr & ~this.imr);
    if (p === 8) return -1;
    const ir = (p + this.priorityBase) & 7;
    let inService = this.isr;
    if (this.specialMask) inService &= ~this.imr;
    const cur = this.rank(inService);
    if (p < cur) return ir;
    if (p === cur && ir === CASCADE_IR && this.isMaster && this.sfnm) return ir;
    return -1;
  }

  /** The chip's part of an INTA cycle for level `ir`: IRR → ISR (unless AEOI). */
  intack(ir: number): void {
    const bit = 1 << ir;
    this.irr &= ~bit;
    if ((this.levelMask() & bit) !== 0 && (this.lines & bit) !== 0) this.irr |= bit;
    if (this.autoEoi) {
      if (this.rotateOnAutoEoi) this.priorityBase = (ir + 1) & 7;
    } else {
      this.isr |= bit;
    }
  }

  /** Whether this chip is the master and routes `ir` to a slave on INTA. */
  cascades(ir: number): boolean {
    return this.isMaster && !this.single && (this.icw3 & (1 << ir)) !== 0;
  }

  read(offset: number): number {
    if (this.pollNext) {
      this.pollNext = false;
      const ir = this.pending();
      if (ir < 0) return 0;
      this.intack(ir);
      this.changed();
      return POLL_INT | ir;
    }
    switch (offset) {
      case PIC_COMMAND: return this.readIsr ? this.isr : this.irr;
      case PIC_DATA: return this.imr;
      default: throw new RangeError(`8259A register offset ${offset} is outside 0-1`);
    }
  }

  write(offset: number, value: number): void {
    const v = value & 0xff;
    if (offset === PIC_COMMAND) {
      if ((v & ICW1_INIT) !== 0) this.icw1(v);
      else if ((v & OCW3_SELECT) !== 0) this.ocw3(v);
      else this.ocw2(v);
    } else if (offset === PIC_DATA) {
      switch (this.initStep) {
        case 2:
          this.vectorBase = v & ICW2_VECTOR_MASK;
          this.initStep = this.single ? (this.needIcw4 ? 4 : 0) : 3;
          break;
        case 3:
          this.icw3 = v;
          this.initStep = this.needIcw4 ? 4 : 0;
          break;
        case 4:
          this.upm = (v & ICW4_UPM) !== 0;
          this.autoEoi = (v & ICW4_AEOI) !== 0;
          this.sfnm = (v & ICW4_SFNM) !== 0;
          this.initStep = 0;
          break;
        default:
          this.imr = v; // OCW1
      }
    } else {
      throw new RangeError(`8259A register offset ${offset} is outside 0-1`);
    }
    this.changed();
  }

  /**
   * ICW1 starts initialization (datasheet "Initialization Command Words"):
   * the edge sense circuit is reset (an input already high must fall and rise
   * again), IMR is cleared, IR7 gets the lowest priority, special mask mode
   * is cleared, status read is set to IRR and, without IC4, all ICW4
   * functions are cleared. ISR and IRR are cleared too (as QEMU does), so a
   * re-initialization does not leave stale requests in service.
   */
  private icw1(v: number): void {
    this.single = (v & ICW1_SNGL) !== 0;
    this.ltim = (v & ICW1_LTIM) !== 0;
    this.needIcw4 = (v & ICW1_IC4) !== 0;
    this.imr = 0;
    this.isr = 0;
    this.irr = this.lines & this.levelMask();
    this.priorityBase = 0;
    this.specialMask = false;
    this.readIsr = false;
    this.pollNext = false;
    this.rotateOnAutoEoi = false;
    if (!this.needIcw4) {
      this.upm = false;
      this.autoEoi = false;
      this.sfnm = false;
    }
    this.initStep = 2;
  }

  private ocw2(v: number): void {
    const level = v & OCW2_LEVEL_MASK;
    switch (v & OCW2_CMD_MASK) {
      case OCW2_ROTATE_AEOI_CLEAR: this.rotateOnAutoEoi = false; break;
      case OCW2_ROTATE_AEOI_SET: this.rotateOnAutoEoi = true; break;
      case OCW2_NONSPECIFIC_EOI:
      case OCW2_ROTATE_NONSPECIFIC_EOI: {
        const p = this.rank(this.isr);
        if (p === 8) break;
        const ir = (p + this.priorityBase) & 7;
        this.isr &= ~(1 << ir);
        if ((v & OCW2_CMD_MASK) === OCW2_ROTATE_NONSPECIFIC_EOI) this.priorityBase = (ir + 1) & 7;
        break;
      }
      case OCW2_SPECIFIC_EOI: this.isr &= ~(1 << level); break;
      case OCW2_ROTATE_SPECIFIC_EOI:
        this.isr &= ~(1 << level);
        this.priorityBase = (level + 1) & 7;
        break;
      case OCW2_SET_PRIORITY: this.priorityBase = (level + 1) & 7; break;
      default: break; // OCW2_NOP
    }
  }

  private ocw3(v: number): void {
    if ((v & OCW3_ESMM) !== 0) this.specialMask = (v & OCW3_SMM) !== 0;
    if ((v & OCW3_RR) !== 0) this.readIsr = (v & OCW3_RIS) !== 0;
    this.pollNext = (v & OCW3_POLL) !== 0;
  }

  readElcr(): number { return this.elcr; }
  writeElcr(v: number): void {
    this.elcr = v & this.elcrMask;
    // Inputs now level-triggered take their line's level at once.
    const lm = this.levelMask();
    this.irr = (this.irr & ~lm) | (this.lines & lm);
    this.changed();
  }
}


export interface Pic8259PairOptions {
  /** Called with the new level each time the INTR output changes. */
  readonly onIntr?: (level: boolean) => void;
}

/** The PC/AT pair: master at 0x20, slave at 0xA0 on master IR2, ELCR at 0x4D0. */
export class Pic8259Pair {
  readonly master: Pic8259;
  readonly slave: Pic8259;
  private readonly onIntr: (level: boolean) => void;
  private intr = false;
  /** ISA IRQ 2 as driven by devices (wired-OR with the slave's INT output on master IR2). */
  private isaIrq2 = false;
  private inAck = false;

  constructor(opts: Pic8259PairOptions = {}) {
    this.onIntr = opts.onIntr ?? (() => {});
    const update = (): void => this.update();
    this.master = new Pic8259(true, ELCR1_MASK, update);
    this.slave = new Pic8259(false, ELCR2_MASK, update);
  }

  /** Drives ISA IRQ line 0-15 (8-15 are the slave's inputs 0-7). */
  setIrq(line: number, level: boolean): void {
    if (!Number.isInteger(line) || line < 0 || line > 15) throw new RangeError(`ISA IRQ ${line} is outside 0-15`);
    if (line >= 8) this.slave.setInput(line - 8, level);
    else if (line === CASCADE_IR) this.isaIrq2 = level;
    else this.master.setInput(line, level);
    this.update();
  }

  /** The INTR output: the master has a request that the CPU should acknowledge. */
  hasInterrupt(): boolean { return this.master.pending() >= 0; }

  /**
   * The INTA cycle: returns the vector, moves the granted request from IRR to
   * ISR on the master and, through the cascade, on the slave; handles AEOI
   * and spurious requests (see the file comment).
   */
  acknowledge(): number {
    const m = this.master;
    const ir = m.pending();
    if (ir < 0) return (m.vectorBase | 7) & 0xff;
    m.intack(ir);
    let vector: number;
    if (m.cascades(ir)) {
      const s = this.slave;
      const sir = s.pending();
      if (sir < 0) {
        vector = s.vectorBase | 7;
      } else {
        s.intack(sir);
        vector = s.vectorBase + sir;
      }
      // The slave's INT falls during INTA; a request it still has afterwards is a new edge.
      this.inAck = true;
      this.update();
      this.inAck = false;
    } else {
      vector = m.vectorBase + ir;
    }
    this.update();
    return vector & 0xff;
  }

  /** Recomputes the cascade line and the INTR output (calls `onIntr` on a change). */
  private update(): void {
    const slaveInt = !this.inAck && (this.slave.pending() >= 0 || this.isaIrq2);
    // setInput changes IRR only on an edge (or in level mode), so this is idempotent.
    this.master.setInput(CASCADE_IR, slaveInt);
    const intr = this.master.pending() >= 0;
    if (intr !== this.intr) {
      this.intr = intr;
      this.onIntr(intr);
    }
  }

  /** ELCR register 0 (IRQ 0-7) or 1 (IRQ 8-15). */
  readElcr(offset: number): number { return (offset === 0 ? this.master : this.slave).readElcr(); }
  writeElcr(offset: number, value: number): void { (offset === 0 ? this.master : this.slave).writeElcr(value & 0xff); }

  /** Port ranges: master 0x20-0x21, slave 0xA0-0xA1, ELCR 0x4D0-0x4D1. */
  ports(): PortRange[] {
    return [
      { base: MASTER_BASE_PORT, len: 2, dev: bytePorts('pic-master', 2, (o) => this.master.read(o), (o, v) => this.master.write(o, v)) },
      { base: SLAVE_BASE_PORT, len: 2, dev: bytePorts('pic-slave', 2, (o) => this.slave.read(o), (o, v) => this.slave.write(o, v)) },
      { base: ELCR_PORT_BASE, len: 2, dev: bytePorts('elcr', 2, (o) => this.readElcr(o), (o, v) => this.writeElcr(o, v)) },
    ];
  }
}

