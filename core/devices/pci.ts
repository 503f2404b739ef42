/**
 * PCI configuration space: configuration mechanism #1, an i440FX host bridge,
 * and a registry of functions on bus 0 (PCI Local Bus Specification 3.0).
 *
 * Ports (spec §3.2.2.3.2, "Software Generation of Configuration Transactions"):
 *   0xCF8  CONFIG_ADDRESS, a 32-bit register, claimed only by 32-bit accesses:
 *            bit 31 enable, 30:24 reserved (read 0), 23:16 bus, 15:11 device,
 *            10:8 function, 7:2 register (dword), 1:0 read 0.
 *          Byte and word accesses to 0xCF8–0xCFB are not CONFIG_ADDRESS: they
 *          are ordinary I/O (read all ones, writes ignored) — Linux's
 *          pci_check_type1() relies on this — except 0xCF9 (below).
 *   0xCF9  Reset Control Register of the PIIX/ICH (byte): bit 1 (system reset)
 *          is kept; writing bit 2 (reset CPU) asks the machine for a reset
 *          through `onResetRequest(hard = bit 1)`.
 *   0xCFC–0xCFF  CONFIG_DATA: byte, word or dword at 0xCFC + n reaches
 *          config register (CONFIG_ADDRESS[7:2] << 2) + n of the addressed
 *          function. With the enable bit clear, or no function at the address
 *          (any bus but 0, an empty slot), reads return all ones and writes are
 *          dropped (a master abort, spec §6.1: "returns 0FFFFh" for vendor ID).
 *
 * Functions implement `PciFunction` (config reads/writes of 1, 2 or 4 bytes
 * that never cross a dword). `PciConfigSpace` is the standard type-0 header
 * (spec §6.1–§6.2) that devices compose:
 *   - read-only: vendor/device ID, revision, class code, header type, BIST,
 *     subsystem IDs, capabilities pointer (0: no list), interrupt pin,
 *     Min_Gnt/Max_Lat, unimplemented BARs, expansion ROM (0: none) and the
 *     device-specific area 0x40–0xFF (reads 0 unless the device supplies data);
 *   - writable: command bits I/O, memory, bus master, parity error response,
 *     SERR# enable, interrupt disable; cache line size; latency timer;
 *     interrupt line; implemented BARs (address bits only);
 *   - status: bits 15:11 and 8 are write-1-to-clear, bit 3 (interrupt status)
 *     follows the function's INTx request, the rest read-only.
 *
 * BARs (spec §6.2.5.1): I/O BARs read bit 0 = 1, bit 1 = 0; memory BARs are
 * 32-bit (bits 2:1 = 00), bit 3 = prefetchable. Sizes are powers of two
 * (I/O ≥ 4, memory ≥ 16); the bits below the size read 0, so writing all ones
 * reads back ~(size - 1) | flags: the sizing protocol. All 32 address bits of
 * an I/O BAR are writable (as QEMU does); a window only decodes when it fits
 * the 64-KiB port space.
 *
 * Decoding: a BAR's window is "mapped" when its command-register enable (I/O
 * or memory space) is set, its base is not 0 (the "unassigned" convention,
 * also what QEMU does) and, for I/O, it ends at or below port 0xFFFF; a
 * memory window must end below 0xFFFFFFFF (one reaching it is what the
 * all-ones sizing pattern produces; QEMU does the same). Every config write that changes a mapping — BAR reprogramming,
 * sizing (which unmaps: all ones does not fit), command enable bits — calls
 * `onBarRemap(index, old, now)` with the windows before and after (null =
 * not decoded), so the machine can unmap the old range and map the new one.
 *
 * INTx (spec §6.2.2, §6.2.3): the function's interrupt request sets status
 * bit 3; the pin asserts it unless command bit 10 (interrupt disable) is set.
 * `onIntx(level)` reports the pin's level whenever it changes; routing pin →
 * IRQ is the machine's business (interrupt line is only a scratch register).
 *
 * Not modelled: buses other than 0 (no PCI-PCI bridges), capabilities
 * (MSI/MSI-X, PM), expansion ROMs, 64-bit BARs, PCIe ECAM (MMCONFIG), the
 * i440FX's chipset registers at 0x40–0xFF (PAM, SMRAM, DRAM rows): they read
 * 0 and ignore writes; PCI bus parking, parity and SERR# signalling.
 */

import type { PortDevice } from '../hv/iobus.js';

// --- configuration mechanism #1 ports
export const PCI_CONFIG_ADDRESS_PORT = 0xcf8;
export const PCI_RESET_CONTROL_PORT = 0xcf9;
export const PCI_CONFIG_DATA_PORT = 0xcfc;
/** The host claims 0xCF8–0xCFF. */
export const PCI_HOST_PORT_BASE = 0xcf8;
export const PCI_HOST_PORT_COUNT = 8;

export const CONFIG_ADDRESS_ENABLE = 0x8000_0000;
/** Implemented CONFIG_ADDRESS bits: enable, bus, device, function, register (dword). */
export const CONFIG_ADDRESS_MASK = 0x80ff_fffc;

// Reset control register (PIIX3/PIIX4/ICH at 0xCF9).
export const RCR_SYS_RST = 0x02; // 1 = hard (system) reset, 0 = soft (CPU INIT)
export const RCR_RST_CPU = 0x04; // writing 1 initiates the reset
export const RCR_FULL_RST = 0x08; // ICH: full power cycle (kept, no other meaning here)
export const RCR_MASK = RCR_SYS_RST | RCR_FULL_RST;

// --- type-0 header offsets (spec §6.1, Figure 6-1)
export const PCI_VENDOR_ID = 0x00;
export const PCI_DEVICE_ID = 0x02;
export const PCI_COMMAND = 0x04;
export const PCI_STATUS = 0x06;
export const PCI_REVISION_ID = 0x08;
export const PCI_CLASS_PROG = 0x09;
export const PCI_CLASS_DEVICE = 0x0a; // sub-class (byte 0x0a) and base class (0x0b)
export const PCI_CACHE_LINE_SIZE = 0x0c;
export const PCI_LATENCY_TIMER = 0x0d;
export const PCI_HEADER_TYPE = 0x0e;
export const PCI_BIST = 0x0f;
export const PCI_BAR0 = 0x10;
export const PCI_BAR_COUNT = 6;
export const PCI_CARDBUS_CIS = 0x28;
export const PCI_SUBSYSTEM_VENDOR_ID = 0x2c;
export const PCI_SUBSYSTEM_ID = 0x2e;
export const PCI_ROM_ADDRESS = 0x30;
export const PCI_CAPABILITY_LIST = 0x34;
export const PCI_INTERRUPT_LINE = 0x3c;
export const PCI_INTERRUPT_PIN = 0x3d;
export const PCI_MIN_GNT = 0x3e;
export const PCI_MAX_LAT = 0x3f;
export const PCI_CONFIG_SIZE = 256;

// Command register (spec §6.2.2)
export const PCI_COMMAND_IO = 0x0001;
export const PCI_COMMAND_MEMORY = 0x0002;
export const PCI_COMMAND_MASTER = 0x0004;
export const PCI_COMMAND_SPECIAL = 0x0008;
export const PCI_COMMAND_INVALIDATE = 0x0010;
export const PCI_COMMAND_VGA_PALETTE = 0x0020;
export const PCI_COMMAND_PARITY = 0x0040;
export const PCI_COMMAND_WAIT = 0x0080;
export const PCI_COMMAND_SERR = 0x0100;
export const PCI_COMMAND_FAST_BACK = 0x0200;
export const PCI_COMMAND_INTX_DISABLE = 0x0400;
/** Command bits a function here lets software set. */
export const PCI_COMMAND_WRITABLE = PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
  PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE;

// Status register (spec §6.2.3)
export const PCI_STATUS_INTERRUPT = 0x0008;
export const PCI_STATUS_CAP_LIST = 0x0010;
export const PCI_STATUS_66MHZ = 0x0020;
export const PCI_STATUS_FAST_BACK = 0x0080;
export const PCI_STATUS_PARITY = 0x0100; // master data parity error (RW1C)
export const PCI_STATUS_DEVSEL_MEDIUM = 0x0200;
export const PCI_STATUS_SIG_TARGET_ABORT = 0x0800;
export const PCI_STATUS_REC_TARGET_ABORT = 0x1000;
export const PCI_STATUS_REC_MASTER_ABORT = 0x2000;
export const PCI_STATUS_SIG_SYSTEM_ERROR = 0x4000;
export const PCI_STATUS_DETECTED_PARITY = 0x8000;
/** Write-1-to-clear status bits. */
export const PCI_STATUS_W1C = 0xf900;

// Header type
export const PCI_HEADER_TYPE_NORMAL = 0x00;
export const PCI_HEADER_TYPE_MULTI_FUNCTION = 0x80;

// BAR low bits (spec §6.2.5.1)
export const PCI_BAR_SPACE_IO = 0x01;
export const PCI_BAR_MEM_TYPE_MASK = 0x06; // 00 = 32-bit
export const PCI_BAR_MEM_PREFETCH = 0x08;
export const PCI_BAR_IO_FLAGS_MASK = 0x03;
export const PCI_BAR_MEM_FLAGS_MASK = 0x0f;

// Interrupt pin values
export const PCI_INTERRUPT_PIN_NONE = 0;
export const PCI_INTERRUPT_PIN_INTA = 1;

// The host bridge: Intel 82441FX PMC (i440FX), as QEMU's "pc" machine.
export const PCI_VENDOR_INTEL = 0x8086;
export const PCI_DEVICE_I440FX = 0x1237;
export const I440FX_REVISION = 0x02;
export const PCI_CLASS_BRIDGE_HOST = 0x060000;
/** 82441FX datasheet defaults: PCICMD 0006h (memory + bus master), PCISTS 0280h. */
export const I440FX_COMMAND_RESET = 0x0006;
export const I440FX_STATUS_RESET = 0x0280;

/** Size of the I/O port space a window must fit in. */
export const PCI_IO_SPACE_SIZE = 0x1_0000;

/** What the config bus needs from a function. */
export interface PciFunction {
  readonly name: string;
  /** Read `size` (1, 2 or 4) bytes at `offset` (0–255); the access never crosses a dword. */
  configRead(offset: number, size: number): number;
  configWrite(offset: number, size: number, value: number): void;
}

export type PciBarKind = 'io' | 'mem32';

export interface PciBarSpec {
  readonly kind: PciBarKind;
  /** Bytes decoded: a power of two, ≥ 4 for I/O, ≥ 16 for memory. */
  readonly size: number;
  /** Memory BARs only: BAR bit 3. */
  readonly prefetchable?: boolean;
}

/** A BAR's decoded window. */
export interface PciBarWindow {
  readonly index: number;
  readonly kind: PciBarKind;
  readonly base: number;
  readonly size: number;
}

export interface PciHooks {
  /** A BAR's decoded window changed (null = not decoded). Called for each changed BAR, lowest index first. */
  onBarRemap?: (index: number, old: PciBarWindow | null, now: PciBarWindow | null) => void;
  /** The command register changed (any bit). */
  onCommandChange?: (command: number, previous: number) => void;
  /** The INTx pin's level changed. */
  onIntx?: (level: boolean) => void;
}

export interface PciFunctionOptions extends PciHooks {
  readonly vendorId: number;
  readonly deviceId: number;
  /** 24-bit class code: base class << 16 | sub-class << 8 | programming interface. */
  readonly classCode: number;
  readonly revision?: number;
  readonly subsystemVendorId?: number;
  readonly subsystemId?: number;
  /** Sets header type bit 7 (function 0 of a multi-function device). */
  readonly multiFunction?: boolean;
  /** 0 = none, 1–4 = INTA#–INTD#. */
  readonly interruptPin?: number;
  /** Initial interrupt line (firmware normally writes it). Default 0. */
  readonly interruptLine?: number;
  /** Initial command and status values (read-only status bits come from here). */
  readonly command?: number;
  readonly status?: number;
  /** Up to six BARs; undefined entries are unimplemented. */
  readonly bars?: readonly (PciBarSpec | undefined)[];
}

function isPow2(n: number): boolean {
  return Number.isInteger(n) && n > 0 && n <= 0x8000_0000 && (n & (n - 1)) === 0;
}

function checkAccess(offset: number, size: number): void {
  if (!(size === 1 || size === 2 || size === 4) || !Number.isInteger(offset) || offset < 0 ||
      offset + size > PCI_CONFIG_SIZE || (offset & 3) + size > 4) {
    throw new RangeError(`PCI config access of ${size} byte(s) at 0x${offset.toString(16)} is not inside one dword of the 256-byte space`);
  }
}

/**
 * The standard type-0 configuration header. Storage is `bytes`; `wmask`
 * marks software-writable bits and `w1cmask` write-1-to-clear bits, so
 * partial (byte/word) writes behave like the hardware's per-byte enables.
 */
export class PciConfigSpace implements PciFunction {
  readonly name: string;
  /** The 256 bytes as the function presents them (little-endian). */
  readonly bytes = new Uint8Array(PCI_CONFIG_SIZE);
  private readonly wmask = new Uint8Array(PCI_CONFIG_SIZE);
  private readonly w1cmask = new Uint8Array(PCI_CONFIG_SIZE);
  private readonly dv = new DataView(this.bytes.buffer);
  private readonly bars: (PciBarSpec | undefined)[] = [];
  private readonly windows: (PciBarWindow | null)[] = [];
  private hooks: PciHooks;
  private intxRequest = false;
  private intxLevel = false;

  constructor(name: string, opts: PciFunctionOptions) {
    this.name = name;
    this.hooks = { onBarRemap: opts.onBarRemap, onCommandChange: opts.onCommandChange, onIntx: opts.onIntx };
    const d = this.dv;
    d.setUint16(PCI_VENDOR_ID, opts.vendorId & 0xffff, true);
    d.setUint16(PCI_DEVICE_ID, opts.deviceId & 0xffff, true);
    d.setUint16(PCI_COMMAND, (opts.command ?? 0) & 0xffff, true);
    d.setUint16(PCI_STATUS, (opts.status ?? 0) & ~PCI_STATUS_INTERRUPT & 0xffff, true);
    d.setUint8(PCI_REVISION_ID, (opts.revision ?? 0) & 0xff);
    d.setUint8(PCI_CLASS_PROG, opts.classCode & 0xff);
    d.setUint8(PCI_CLASS_DEVICE, (opts.classCode >>> 8) & 0xff);
    d.setUint8(PCI_CLASS_DEVICE + 1, (opts.classCode >>> 16) & 0xff);
    d.setUint8(PCI_HEADER_TYPE, PCI_HEADER_TYPE_NORMAL | (opts.multiFunction ? PCI_HEADER_TYPE_MULTI_FUNCTION : 0));
    d.setUint16(PCI_SUBSYSTEM_VENDOR_ID, (opts.subsystemVendorId ?? 0) & 0xffff, true);
    d.setUint16(PCI_SUBSYSTEM_ID, (opts.subsystemId ?? 0) & 0xffff, true);
    const pin = opts.interruptPin ?? PCI_INTERRUPT_PIN_NONE;
    if (!Number.isInteger(pin) || pin < 0 || pin > 4) throw new RangeError(`${name}: interrupt pin ${pin} is not 0–4`);
    d.setUint8(PCI_INTERRUPT_PIN, pin);
    d.setUint8(PCI_INTERRUPT_LINE, (opts.interruptLine ?? 0) & 0xff);

    // Writable bits.
    this.setMask16(this.wmask, PCI_COMMAND, PCI_COMMAND_WRITABLE);
    this.setMask16(this.w1cmask, PCI_STATUS, PCI_STATUS_W1C);
    this.wmask[PCI_CACHE_LINE_SIZE] = 0xff;
    this.wmask[PCI_LATENCY_TIMER] = 0xff;
    this.wmask[PCI_INTERRUPT_LINE] = 0xff;

    const bars = opts.bars ?? [];
    if (bars.length > PCI_BAR_COUNT) throw new RangeError(`${name}: ${bars.length} BARs, a type-0 header has ${PCI_BAR_COUNT}`);
    for (let i = 0; i < PCI_BAR_COUNT; i++) {
      const b = bars[i];
      this.bars.push(b);
      this.windows.push(null);
      if (!b) continue;
      const min = b.kind === 'io' ? 4 : 16;
      if (!isPow2(b.size) || b.size < min) {
        throw new RangeError(`${name}: BAR${i} size ${b.size} is not a power of two ≥ ${min}`);
      }
      const off = PCI_BAR0 + 4 * i;
      const flags = b.kind === 'io' ? PCI_BAR_SPACE_IO : (b.prefetchable ? PCI_BAR_MEM_PREFETCH : 0);
      d.setUint32(off, flags, true);
      this.wmask.set(u32le(~(b.size - 1) & ~(b.kind === 'io' ? PCI_BAR_IO_FLAGS_MASK : PCI_BAR_MEM_FLAGS_MASK)), off);
    }
    this.refreshWindows(false);
  }

  /** Replace some hooks after construction (the machine wires them when it places the function). */
  setHooks(hooks: PciHooks): void {
    this.hooks = { ...this.hooks, ...hooks };
  }

  configRead(offset: number, size: number): number {
    checkAccess(offset, size);
    const d = this.dv;
    return size === 1 ? d.getUint8(offset) : size === 2 ? d.getUint16(offset, true) : d.getUint32(offset, true);
  }

  configWrite(offset: number, size: number, value: number): void {
    checkAccess(offset, size);
    const oldCommand = this.command;
    let touched = false;
    for (let k = 0; k < size; k++) {
      const o = offset + k;
      const v = (value >>> (8 * k)) & 0xff;
      const wm = this.wmask[o]!;
      const cm = this.w1cmask[o]!;
      if (wm === 0 && cm === 0) continue;
      const old = this.bytes[o]!;
      this.bytes[o] = ((old & ~wm) | (v & wm)) & ~(v & cm) & 0xff;
      touched = true;
    }
    if (!touched) return;
    const command = this.command;
    if (command !== oldCommand) {
      this.hooks.onCommandChange?.(command, oldCommand);
      if (((command ^ oldCommand) & PCI_COMMAND_INTX_DISABLE) !== 0) this.updateIntx();
    }
    if (offset < PCI_BAR0 + 4 * PCI_BAR_COUNT && offset + size > PCI_COMMAND) this.refreshWindows(true);
  }

  // --- host-side view

  get vendorId(): number { return this.dv.getUint16(PCI_VENDOR_ID, true); }
  get deviceId(): number { return this.dv.getUint16(PCI_DEVICE_ID, true); }
  get command(): number { return this.dv.getUint16(PCI_COMMAND, true); }
  get status(): number { return this.dv.getUint16(PCI_STATUS, true); }
  get interruptLine(): number { return this.bytes[PCI_INTERRUPT_LINE]!; }
  get interruptPin(): number { return this.bytes[PCI_INTERRUPT_PIN]!; }
  get headerType(): number { return this.bytes[PCI_HEADER_TYPE]!; }
  get ioEnabled(): boolean { return (this.command & PCI_COMMAND_IO) !== 0; }
  get memEnabled(): boolean { return (this.command & PCI_COMMAND_MEMORY) !== 0; }
  get busMaster(): boolean { return (this.command & PCI_COMMAND_MASTER) !== 0; }
  /** The INTx pin's current level. */
  get intx(): boolean { return this.intxLevel; }

  /** The BAR's spec, undefined when unimplemented. */
  barSpec(index: number): PciBarSpec | undefined { return this.bars[index]; }
  /** Programmed base address of a BAR (flags stripped), whether or not it decodes. */
  barBase(index: number): number {
    const b = this.bars[index];
    if (!b) return 0;
    const raw = this.dv.getUint32(PCI_BAR0 + 4 * index, true);
    return (raw & ~(b.kind === 'io' ? PCI_BAR_IO_FLAGS_MASK : PCI_BAR_MEM_FLAGS_MASK)) >>> 0;
  }
  /** The BAR's decoded window, or null. */
  window(index: number): PciBarWindow | null { return this.windows[index] ?? null; }

  /** Firmware-style assignment: program a BAR as a config write would (hooks fire). */
  setBar(index: number, base: number): void {
    if (!this.bars[index]) throw new RangeError(`${this.name}: BAR${index} is not implemented`);
    this.configWrite(PCI_BAR0 + 4 * index, 4, base >>> 0);
  }

  /** Set command bits as a config write would (hooks fire). */
  enable(bits: number): void {
    this.configWrite(PCI_COMMAND, 2, this.command | bits);
  }

  /**
   * The function's interrupt request (level). Sets status bit 3; the pin
   * follows unless the command register's interrupt-disable bit is set.
   */
  setIntxRequest(level: boolean): void {
    this.intxRequest = level;
    const st = this.status;
    this.dv.setUint16(PCI_STATUS, level ? st | PCI_STATUS_INTERRUPT : st & ~PCI_STATUS_INTERRUPT, true);
    this.updateIntx();
  }

  /**
   * Give a device-specific byte (0x40–0xFF) a value and the bits software
   * may write. Leaves the standard header alone.
   */
  defineDeviceRegister(offset: number, value: number, writableMask = 0): void {
    if (!Number.isInteger(offset) || offset < 0x40 || offset >= PCI_CONFIG_SIZE) {
      throw new RangeError(`${this.name}: device-specific register 0x${offset.toString(16)} is outside 0x40–0xff`);
    }
    this.bytes[offset] = value & 0xff;
    this.wmask[offset] = writableMask & 0xff;
  }

  // --- internals

  private setMask16(mask: Uint8Array, off: number, v: number): void {
    mask[off] = v & 0xff;
    mask[off + 1] = (v >>> 8) & 0xff;
  }

  private updateIntx(): void {
    const level = this.intxRequest && (this.command & PCI_COMMAND_INTX_DISABLE) === 0;
    if (level !== this.intxLevel) {
      this.intxLevel = level;
      this.hooks.onIntx?.(level);
    }
  }

  private decode(index: number): PciBarWindow | null {
    const b = this.bars[index];
    if (!b) return null;
    const cmd = this.command;
    if ((cmd & (b.kind === 'io' ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY)) === 0) return null;
    const base = this.barBase(index);
    if (base === 0) return null;
    // I/O: must fit the port space. Memory: a window reaching the last byte
    // below 4 GiB is the sizing pattern (all ones), not an assignment.
    if (b.kind === 'io' ? base + b.size > PCI_IO_SPACE_SIZE : base + b.size >= 0x1_0000_0000) return null;
    return { index, kind: b.kind, base, size: b.size };
  }

  private refreshWindows(notify: boolean): void {
    for (let i = 0; i < PCI_BAR_COUNT; i++) {
      const old = this.windows[i] ?? null;
      const now = this.decode(i);
      if (old === null && now === null) continue;
      if (old !== null && now !== null && old.base === now.base) continue;
      this.windows[i] = now;
      if (notify) this.hooks.onBarRemap?.(i, old, now);
    }
  }
}

function u32le(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
}

/** The i440FX host bridge's configuration header (00:00.0). */
export function createI440fxHostBridge(): PciConfigSpace {
  return new PciConfigSpace('i440fx', {
    vendorId: PCI_VENDOR_INTEL,
    deviceId: PCI_DEVICE_I440FX,
    revision: I440FX_REVISION,
    classCode: PCI_CLASS_BRIDGE_HOST,
    command: I440FX_COMMAND_RESET,
    status: I440FX_STATUS_RESET,
  });
}

export interface PciHostOptions {
  /** A write of RCR bit 2 to port 0xCF9: hard = RCR bit 1 of the value written. */
  readonly onResetRequest?: (hard: boolean) => void;
}

/**
 * Configuration mechanism #1 and the registry of bus 0. A `PortDevice` for
 * ports 0xCF8–0xCFF: register it with `io.register(PCI_HOST_PORT_BASE,
 * PCI_HOST_PORT_COUNT, host)`.
 */
export class PciHost implements PortDevice {
  readonly name = 'pci-host';
  /** The host bridge at 00:00.0. */
  readonly bridge: PciConfigSpace;
  private address = 0;
  private rcr = 0;
  /** Functions of bus 0 by devfn (device << 3 | function). */
  private readonly fns: (PciFunction | undefined)[] = new Array(256);
  private readonly onResetRequest: ((hard: boolean) => void) | undefined;

  constructor(opts: PciHostOptions = {}) {
    this.onResetRequest = opts.onResetRequest;
    this.bridge = createI440fxHostBridge();
    this.fns[0] = this.bridge;
  }

  /** Place a function at 00:device.function. */
  add(device: number, fn: PciFunction, func = 0): void {
    if (!Number.isInteger(device) || device < 0 || device > 31) throw new RangeError(`PCI device number ${device} is not 0–31`);
    if (!Number.isInteger(func) || func < 0 || func > 7) throw new RangeError(`PCI function number ${func} is not 0–7`);
    const devfn = (device << 3) | func;
    const old = this.fns[devfn];
    if (old) throw new Error(`PCI 00:${hex2(device)}.${func} is taken by ${old.name}; cannot add ${fn.name}`);
    this.fns[devfn] = fn;
  }

  /** The function at bus/device/function, if any (only bus 0 is populated). */
  functionAt(bus: number, device: number, func: number): PciFunction | undefined {
    if (bus !== 0) return undefined;
    return this.fns[((device & 31) << 3) | (func & 7)];
  }

  /** All functions, in devfn order, with their addresses. */
  list(): { device: number; func: number; fn: PciFunction }[] {
    const out: { device: number; func: number; fn: PciFunction }[] = [];
    for (let devfn = 0; devfn < 256; devfn++) {
      const fn = this.fns[devfn];
      if (fn) out.push({ device: devfn >> 3, func: devfn & 7, fn });
    }
    return out;
  }

  /** CONFIG_ADDRESS as last written (reserved bits read 0). */
  get configAddress(): number { return this.address; }

  /** Config read as software would see it; `size` bytes at `reg` must lie in one dword. */
  configRead(bus: number, device: number, func: number, reg: number, size: number): number {
    checkAccess(reg, size);
    const fn = this.functionAt(bus, device, func);
    if (!fn) return allOnes(size);
    return fn.configRead(reg, size) >>> 0;
  }

  configWrite(bus: number, device: number, func: number, reg: number, size: number, value: number): void {
    checkAccess(reg, size);
    this.functionAt(bus, device, func)?.configWrite(reg, size, value);
  }

  // --- PortDevice (offset 0 = port 0xCF8)

  read(offset: number, size: number): number {
    if (offset < 4) {
      if (offset === 0 && size === 4) return this.address;
      if (offset === 1 && size === 1) return this.rcr;
      return allOnes(size);
    }
    const n = offset - 4;
    if (n + size <= 4) return this.dataRead(n, size);
    // An access running past 0xCFF: the bytes beyond are not ours.
    let v = 0;
    for (let k = 0; k < size; k++) v |= (n + k < 4 ? this.dataRead(n + k, 1) : 0xff) << (8 * k);
    return v >>> 0;
  }

  write(offset: number, size: number, value: number): void {
    if (offset < 4) {
      if (offset === 0 && size === 4) this.address = (value & CONFIG_ADDRESS_MASK) >>> 0;
      else if (offset === 1 && size === 1) this.writeRcr(value & 0xff);
      return;
    }
    const n = offset - 4;
    if (n + size <= 4) { this.dataWrite(n, size, value); return; }
    for (let k = 0; k < size && n + k < 4; k++) this.dataWrite(n + k, 1, (value >>> (8 * k)) & 0xff);
  }

  // --- internals

  private target(): PciFunction | undefined {
    const a = this.address;
    if ((a & CONFIG_ADDRESS_ENABLE) === 0) return undefined;
    return this.functionAt((a >>> 16) & 0xff, (a >>> 11) & 31, (a >>> 8) & 7);
  }

  private dataRead(n: number, size: number): number {
    const fn = this.target();
    if (!fn) return allOnes(size);
    const reg = (this.address & 0xfc) + n;
    if ((n & (size - 1)) !== 0) {
      // Unaligned inside the dword (e.g. a word at 0xCFD): byte by byte.
      let v = 0;
      for (let k = 0; k < size; k++) v |= fn.configRead(reg + k, 1) << (8 * k);
      return v >>> 0;
    }
    return fn.configRead(reg, size) >>> 0;
  }

  private dataWrite(n: number, size: number, value: number): void {
    const fn = this.target();
    if (!fn) return;
    const reg = (this.address & 0xfc) + n;
    if ((n & (size - 1)) !== 0) {
      for (let k = 0; k < size; k++) fn.configWrite(reg + k, 1, (value >>> (8 * k)) & 0xff);
      return;
    }
    fn.configWrite(reg, size, value);
  }

  private writeRcr(v: number): void {
    this.rcr = v & RCR_MASK;
    if ((v & RCR_RST_CPU) !== 0) this.onResetRequest?.((v & RCR_SYS_RST) !== 0);
  }
}

function allOnes(size: number): number {
  return size === 4 ? 0xffff_ffff : size === 2 ? 0xffff : 0xff;
}

function hex2(n: number): string { return n.toString(16).padStart(2, '0'); }
