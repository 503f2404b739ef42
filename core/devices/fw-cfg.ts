/**
 * QEMU's firmware configuration device (fw_cfg), the traditional I/O-port
 * interface only, as QEMU documents it in docs/specs/fw_cfg.rst and as
 * kvm-unit-tests (lib/x86/fwcfg.c) uses it: a 16-bit key written to the
 * selector, then the item's bytes read one at a time from the data port.
 *
 * Ports (x86):
 *   0x510  selector: a 16-bit write selects item `key` and rewinds its data
 *          offset to 0.
 *   0x511  data: each 8-bit read returns the next byte of the selected item
 *          and advances the offset; past the item's end (and for an unknown
 *          key) reads return 0.
 * QEMU maps both as one two-port region: an 8-bit read at either port reads
 * the data register; 8-bit writes go to the data register, which QEMU has
 * ignored since 2.4. Other access sizes are not valid there; here they read
 * all ones and write nothing. No DMA interface (the ID item says so).
 *
 * Items (key: contents, little-endian):
 *   0x00 FW_CFG_SIGNATURE  "QEMU"
 *   0x01 FW_CFG_ID         u32 feature bits: 1 = traditional interface (no DMA)
 *   0x03 FW_CFG_RAM_SIZE   u64 guest RAM in bytes
 *   0x05 FW_CFG_NB_CPUS    u16 CPUs (1)
 *   0x0F FW_CFG_MAX_CPUS   u16 1
 *   0x11 memory limit      u64 0 = none. kvm-unit-tests names key 0x11
 *                          FW_CFG_MAX_RAM (a "dummy" entry for bare metal)
 *                          and treats 0 as "no limit"; its environment
 *                          module (MEMLIMIT=) overrides it.
 * Every other key reads as an empty item (zeros). Bits 14 (write channel)
 * and 15 (architecture-local) are part of the key: 0x8000 and up are
 * x86-local items, none of which exist here.
 */
import type { PortRange } from '../hv/iobus.js';

export const FW_CFG_PORT_SEL = 0x510;
export const FW_CFG_PORT_DATA = 0x511;

export const FW_CFG_SIGNATURE = 0x00;
export const FW_CFG_ID = 0x01;
export const FW_CFG_RAM_SIZE = 0x03;
export const FW_CFG_NB_CPUS = 0x05;
export const FW_CFG_MAX_CPUS = 0x0f;
export const FW_CFG_MAX_RAM = 0x11;

/** FW_CFG_ID bit 0: the traditional (port) interface. */
export const FW_CFG_VERSION_TRADITIONAL = 1;

export interface FwCfgOptions {
  /** Guest RAM in bytes. */
  readonly ramBytes: number;
  /** CPU count (default 1). */
  readonly cpus?: number;
  /** Memory limit for key 0x11 in bytes (default 0 = none). */
  readonly memLimit?: number;
}

function u16(v: number): Uint8Array { return Uint8Array.of(v & 0xff, (v >>> 8) & 0xff); }
function u32(v: number): Uint8Array { return Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff); }
function u64(v: number): Uint8Array {
  const b = new Uint8Array(8);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, v >>> 0, true);
  dv.setUint32(4, Math.floor(v / 0x1_0000_0000) >>> 0, true);
  return b;
}

export class FwCfg {
  private readonly items = new Map<number, Uint8Array>();
  private selected: Uint8Array | undefined;
  private offset = 0;
  /** The last key written to the selector. */
  key = 0;

  constructor(o: FwCfgOptions) {
    if (!Number.isSafeInteger(o.ramBytes) || o.ramBytes < 0) throw new RangeError(`fw_cfg: RAM size ${o.ramBytes} is not a byte count`);
    const cpus = o.cpus ?? 1;
    this.items.set(FW_CFG_SIGNATURE, new TextEncoder().encode('QEMU'));
    this.items.set(FW_CFG_ID, u32(FW_CFG_VERSION_TRADITIONAL));
    this.items.set(FW_CFG_RAM_SIZE, u64(o.ramBytes));
    this.items.set(FW_CFG_NB_CPUS, u16(cpus));
    this.items.set(FW_CFG_MAX_CPUS, u16(cpus));
    this.items.set(FW_CFG_MAX_RAM, u64(o.memLimit ?? 0));
    this.select(0);
  }

  /** Select item `key` (the selector write) and rewind. */
  select(key: number): void {
    this.key = key & 0xffff;
    this.selected = this.items.get(this.key);
    this.offset = 0;
  }

  /** The next data byte (0 past the end or for an unknown key). */
  readData(): number {
    const it = this.selected;
    if (!it || this.offset >= it.length) return 0;
    return it[this.offset++]!;
  }

  /** Port access at `offset` (0 = 0x510, 1 = 0x511) of `size` bytes. */
  read(_offset: number, size: number): number {
    if (size !== 1) return size === 2 ? 0xffff : 0xffffffff;
    return this.readData();
  }
  write(offset: number, size: number, value: number): void {
    if (size === 2 && offset === 0) this.select(value);
    // 8-bit data writes are ignored (QEMU >= 2.4); other sizes are invalid.
  }

  ports(): PortRange[] {
    return [{ base: FW_CFG_PORT_SEL, len: 2, dev: { name: 'fw-cfg', read: (o, s) => this.read(o, s), write: (o, s, v) => this.write(o, s, v) } }];
  }
}
