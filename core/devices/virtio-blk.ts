/**
 * virtio-blk over the legacy virtio-pci interface (one file: PCI identity,
 * BAR0 register file, split virtqueue, block requests).
 *
 * Sources: Virtio 1.0 (OASIS, 2016) §4.1.4.8 "Legacy Interfaces: A Note on
 * PCI Device Layout", §2.4 "Virtqueues" (split ring; legacy alignment 4096,
 * §2.4.2), §2.1.2 (DEVICE_NEEDS_RESET), §3.1.2 (legacy init order), §5.2
 * "Block Device"; virtio 0.9.5 appendix for the legacy register layout.
 *
 * PCI identity (§4.1.2, §4.1.2.3 legacy): vendor 0x1AF4, device 0x1001
 * (transitional block device), revision 0, subsystem vendor 0x1AF4,
 * subsystem device 2 (block), class 0x010000 (mass storage), INTA#.
 * BAR0: I/O, 0x40 bytes:
 *   0x00 u32 R   host (device) features, bits 0–31
 *   0x04 u32 RW  guest (driver) features; bits the device does not offer are dropped
 *   0x08 u32 RW  queue PFN of the selected queue (address >> 12); 0 disables it
 *   0x0C u16 R   queue size of the selected queue (0 = no such queue)
 *   0x0E u16 RW  queue select
 *   0x10 u16 W   queue notify: the queue index whose available ring has news
 *   0x12 u8  RW  device status; writing 0 resets the device
 *   0x13 u8  R   ISR status: bit 0 queue interrupt, bit 1 configuration change;
 *                reading returns it and clears it (and so lowers INTx)
 *   0x14 ...     struct virtio_blk_config (no MSI-X, so no vector registers),
 *                little-endian (guest-native on x86), read-only
 * A register takes a write at its first byte whatever the access size (the
 * value is truncated to the register's width, as QEMU does); writes at other
 * offsets are ignored. Reads of any size compose the bytes; a read covering
 * 0x13 clears ISR.
 *
 * Features offered (§5.2.3), deliberately minimal:
 *   VIRTIO_BLK_F_SEG_MAX  (2)  seg_max = queue size − 2 (a chain is header + data + status)
 *   VIRTIO_BLK_F_BLK_SIZE (6)  blk_size = 512
 *   VIRTIO_BLK_F_FLUSH    (9)  the disk has a write cache: FLUSH makes writes
 *                              durable (fsync in persist mode); `writeback` reads 1
 *   VIRTIO_BLK_F_RO       (5)  only when the disk is read-only
 * Not offered: SIZE_MAX (segments of any length are fine), GEOMETRY, TOPOLOGY,
 * CONFIG_WCE, MQ, DISCARD, WRITE_ZEROES, indirect descriptors, EVENT_IDX,
 * NOTIFY_ON_EMPTY, ANY_LAYOUT (the parser accepts any layout anyway).
 *
 * Processing is synchronous and deterministic: a notify write to queue 0
 * walks the available ring from the device's last index to avail.idx (read
 * once), completes every request within that port write (the disk is read or
 * written with synchronous I/O), publishes each used element and used.idx,
 * then sets ISR bit 0 and asserts INTx unless the driver set
 * VRING_AVAIL_F_NO_INTERRUPT. The line stays asserted until ISR is read.
 * (A later change may complete requests after a latency in virtual time.)
 * As §3.1.2 allows for legacy drivers, requests are served before DRIVER_OK.
 * The bus-master enable bit is not checked.
 *
 * Request parsing (§5.2.6): the chain's device-readable descriptors (which
 * must all precede the device-writable ones) form one byte stream beginning
 * with the 16-byte header {u32 type, u32 reserved, u64 sector}; for OUT the
 * rest is the data. The device-writable descriptors form a second stream
 * whose last byte is the status; for IN and GET_ID the bytes before it are
 * the data. Data is staged in a buffer, so a failing disk leaves guest memory
 * untouched. The legacy barrier flag (type bit 31) is ignored.
 *
 * Errors never throw. Guest RAM is [0, ramBytes); every ring and descriptor
 * byte is checked against it.
 *  - Request-level errors complete the request with VIRTIO_BLK_S_IOERR
 *    (short header, data outside RAM, data length not a multiple of 512,
 *    sectors past the capacity, writes to a read-only disk, readable
 *    descriptors after writable ones, a disk I/O failure) or
 *    VIRTIO_BLK_S_UNSUPP (unknown type).
 *  - Ring-level errors, where no status can be reported (rings outside RAM,
 *    a descriptor index ≥ queue size, a chain longer than the queue (a loop),
 *    an indirect descriptor, no device-writable byte for the status, the
 *    status byte outside RAM, avail.idx more than a queue ahead), put the
 *    device in DEVICE_NEEDS_RESET (status bit 6, §2.1.2) with a configuration
 *    interrupt (ISR bit 1); it then ignores notifies until reset. `lastError`
 *    and `onError` say what went wrong.
 *
 * Every write to guest RAM (data, status, used ring) calls PhysMem.touch()
 * and the injected onGuestWrite(pa, len) (the CPU's decoded-code cache).
 */
import type { PhysMem } from '../memory/physmem.js';
import type { PortDevice } from '../hv/iobus.js';
import type { Disk } from './disk.js';
import { PciConfigSpace, PCI_INTERRUPT_PIN_INTA, type PciHooks } from './pci.js';

// --- PCI identity (virtio 1.0 §4.1.2)
export const VIRTIO_PCI_VENDOR_ID = 0x1af4;
export const VIRTIO_PCI_DEVICE_ID_BLOCK_TRANSITIONAL = 0x1001;
export const VIRTIO_PCI_SUBSYSTEM_VENDOR_ID = 0x1af4;
export const VIRTIO_ID_BLOCK = 2;
export const PCI_CLASS_STORAGE_SCSI = 0x010000;
export const VIRTIO_PCI_LEGACY_REVISION = 0;

// --- legacy virtio-pci registers (virtio 1.0 §4.1.4.8)
export const VIRTIO_PCI_HOST_FEATURES = 0x00;
export const VIRTIO_PCI_GUEST_FEATURES = 0x04;
export const VIRTIO_PCI_QUEUE_PFN = 0x08;
export const VIRTIO_PCI_QUEUE_NUM = 0x0c;
export const VIRTIO_PCI_QUEUE_SEL = 0x0e;
export const VIRTIO_PCI_QUEUE_NOTIFY = 0x10;
export const VIRTIO_PCI_STATUS = 0x12;
export const VIRTIO_PCI_ISR = 0x13;
export const VIRTIO_PCI_CONFIG = 0x14;
export const VIRTIO_PCI_QUEUE_ADDR_SHIFT = 12;
export const VIRTIO_PCI_VRING_ALIGN = 4096;
export const VIRTIO_BLK_BAR_SIZE = 0x40;

// ISR bits
export const VIRTIO_PCI_ISR_QUEUE = 0x01;
export const VIRTIO_PCI_ISR_CONFIG = 0x02;

// Device status (§2.1)
export const VIRTIO_STATUS_ACKNOWLEDGE = 0x01;
export const VIRTIO_STATUS_DRIVER = 0x02;
export const VIRTIO_STATUS_DRIVER_OK = 0x04;
export const VIRTIO_STATUS_FEATURES_OK = 0x08;
export const VIRTIO_STATUS_DEVICE_NEEDS_RESET = 0x40;
export const VIRTIO_STATUS_FAILED = 0x80;

// Feature bits (§5.2.3, §6)
export const VIRTIO_BLK_F_SIZE_MAX = 1;
export const VIRTIO_BLK_F_SEG_MAX = 2;
export const VIRTIO_BLK_F_GEOMETRY = 4;
export const VIRTIO_BLK_F_RO = 5;
export const VIRTIO_BLK_F_BLK_SIZE = 6;
export const VIRTIO_BLK_F_FLUSH = 9;
export const VIRTIO_BLK_F_TOPOLOGY = 10;
export const VIRTIO_BLK_F_CONFIG_WCE = 11;
export const VIRTIO_F_NOTIFY_ON_EMPTY = 24;
export const VIRTIO_F_ANY_LAYOUT = 27;
export const VIRTIO_RING_F_INDIRECT_DESC = 28;
export const VIRTIO_RING_F_EVENT_IDX = 29;

// virtio_blk_config offsets (§5.2.4), relative to VIRTIO_PCI_CONFIG
export const BLK_CFG_CAPACITY = 0x00; // u64, 512-byte sectors
export const BLK_CFG_SIZE_MAX = 0x08; // u32
export const BLK_CFG_SEG_MAX = 0x0c; // u32
export const BLK_CFG_GEOMETRY = 0x10; // u16 cylinders, u8 heads, u8 sectors
export const BLK_CFG_BLK_SIZE = 0x14; // u32
export const BLK_CFG_TOPOLOGY = 0x18; // u8 physical_block_exp, u8 alignment_offset, u16 min_io_size, u32 opt_io_size
export const BLK_CFG_WRITEBACK = 0x20; // u8
/** Bytes of device config visible in the 0x40-byte BAR. */
export const BLK_CFG_SIZE = VIRTIO_BLK_BAR_SIZE - VIRTIO_PCI_CONFIG;

// Split virtqueue (§2.4.5–§2.4.8)
export const VRING_DESC_SIZE = 16;
export const VRING_DESC_F_NEXT = 1;
export const VRING_DESC_F_WRITE = 2;
export const VRING_DESC_F_INDIRECT = 4;
export const VRING_AVAIL_F_NO_INTERRUPT = 1;
export const VRING_USED_F_NO_NOTIFY = 1;
export const VRING_USED_ELEM_SIZE = 8;

// Requests (§5.2.6)
export const VIRTIO_BLK_T_IN = 0;
export const VIRTIO_BLK_T_OUT = 1;
export const VIRTIO_BLK_T_FLUSH = 4;
export const VIRTIO_BLK_T_GET_ID = 8;
export const VIRTIO_BLK_T_BARRIER = 0x8000_0000; // legacy flag, ignored
export const VIRTIO_BLK_S_OK = 0;
export const VIRTIO_BLK_S_IOERR = 1;
export const VIRTIO_BLK_S_UNSUPP = 2;
export const VIRTIO_BLK_REQ_HEADER_SIZE = 16;
export const VIRTIO_BLK_ID_BYTES = 20;
export const VIRTIO_BLK_SECTOR_SIZE = 512;

export const DEFAULT_QUEUE_SIZE = 256;
export const DEFAULT_SERIAL = 'hvtrace-disk';

/** Legacy split-ring layout for a queue of `size` entries at `base` (§2.4.2, alignment 4096). */
export function legacyVringLayout(base: number, size: number): { desc: number; avail: number; used: number; end: number } {
  const avail = base + VRING_DESC_SIZE * size;
  const used = Math.ceil((avail + 6 + 2 * size) / VIRTIO_PCI_VRING_ALIGN) * VIRTIO_PCI_VRING_ALIGN;
  return { desc: base, avail, used, end: used + 6 + VRING_USED_ELEM_SIZE * size };
}

export interface VirtioBlkOptions {
  readonly mem: PhysMem;
  readonly disk: Disk;
  /** Guest RAM is [0, ramBytes) of `mem`; default mem.size. */
  readonly ramBytes?: number;
  /** INTx level (after the PCI command register's interrupt-disable bit). */
  readonly irq?: (level: boolean) => void;
  /** Called after every device write to guest RAM (after PhysMem.touch). */
  readonly onGuestWrite?: (pa: number, len: number) => void;
  /** Called when the device enters DEVICE_NEEDS_RESET, with the reason. */
  readonly onError?: (message: string) => void;
  /** Queue 0 size, a power of two in 2–32768. Default 256. */
  readonly queueSize?: number;
  /** GET_ID string, ASCII, at most 20 bytes. Default 'hvtrace-disk'. */
  readonly serial?: string;
  /** PCI hooks (BAR remap, command changes); `irq` is wired as onIntx. */
  readonly pci?: Omit<PciHooks, 'onIntx'>;
}

export interface VirtioBlkStats {
  reads: number;
  writes: number;
  flushes: number;
  getIds: number;
  unsupported: number;
  ioErrors: number;
  sectorsRead: number;
  sectorsWritten: number;
}

interface Seg { addr: number; len: number }

const TWO32 = 0x1_0000_0000;
const noop = (): void => {};

export class VirtioBlk implements PortDevice {
  readonly name = 'virtio-blk';
  /** The function's configuration header: place it on the bus with PciHost.add(slot, blk.pci). */
  readonly pci: PciConfigSpace;
  readonly hostFeatures: number;
  readonly queueSize: number;
  readonly stats: VirtioBlkStats = { reads: 0, writes: 0, flushes: 0, getIds: 0, unsupported: 0, ioErrors: 0, sectorsRead: 0, sectorsWritten: 0 };
  /** Why the device last entered DEVICE_NEEDS_RESET. */
  lastError: string | undefined;

  private readonly mem: PhysMem;
  private readonly disk: Disk;
  private readonly ramBytes: number;
  private readonly onGuestWrite: (pa: number, len: number) => void;
  private readonly onError: (message: string) => void;
  private readonly serial: Uint8Array;
  private readonly config = new Uint8Array(BLK_CFG_SIZE);

  private guestFeatures = 0;
  private status = 0;
  private isr = 0;
  private queueSel = 0;
  private lastNotify = 0;
  private pfn = 0;
  private lastAvail = 0;
  private usedIdx = 0;
  private broken = false;
  private scratch = new Uint8Array(64 * 1024);
  private readonly hdr = new Uint8Array(VIRTIO_BLK_REQ_HEADER_SIZE);
  private readonly hdrView = new DataView(this.hdr.buffer);

  constructor(opts: VirtioBlkOptions) {
    this.mem = opts.mem;
    this.disk = opts.disk;
    this.ramBytes = opts.ramBytes ?? opts.mem.size;
    if (!Number.isInteger(this.ramBytes) || this.ramBytes <= 0 || this.ramBytes > opts.mem.size) {
      throw new RangeError(`virtio-blk: ramBytes ${this.ramBytes} is not within memory (size 0x${opts.mem.size.toString(16)})`);
    }
    this.onGuestWrite = opts.onGuestWrite ?? noop;
    this.onError = opts.onError ?? noop;
    const qs = opts.queueSize ?? DEFAULT_QUEUE_SIZE;
    if (!Number.isInteger(qs) || qs < 2 || qs > 32768 || (qs & (qs - 1)) !== 0) {
      throw new RangeError(`virtio-blk: queue size ${qs} is not a power of two in 2–32768`);
    }
    this.queueSize = qs;
    const serial = opts.serial ?? DEFAULT_SERIAL;
    if (serial.length > VIRTIO_BLK_ID_BYTES || !/^[\x20-\x7e]*$/.test(serial)) {
      throw new RangeError(`virtio-blk: serial ${JSON.stringify(serial)} is not printable ASCII of at most ${VIRTIO_BLK_ID_BYTES} bytes`);
    }
    this.serial = new Uint8Array(VIRTIO_BLK_ID_BYTES);
    for (let i = 0; i < serial.length; i++) this.serial[i] = serial.charCodeAt(i);

    this.hostFeatures = ((1 << VIRTIO_BLK_F_SEG_MAX) | (1 << VIRTIO_BLK_F_BLK_SIZE) | (1 << VIRTIO_BLK_F_FLUSH) |
      (this.disk.readOnly ? 1 << VIRTIO_BLK_F_RO : 0)) >>> 0;

    const c = new DataView(this.config.buffer);
    c.setUint32(BLK_CFG_CAPACITY, this.disk.sectors >>> 0, true);
    c.setUint32(BLK_CFG_CAPACITY + 4, Math.floor(this.disk.sectors / TWO32), true);
    c.setUint32(BLK_CFG_SEG_MAX, qs - 2, true);
    c.setUint32(BLK_CFG_BLK_SIZE, VIRTIO_BLK_SECTOR_SIZE, true);
    c.setUint8(BLK_CFG_WRITEBACK, 1);

    this.pci = new PciConfigSpace('virtio-blk', {
      vendorId: VIRTIO_PCI_VENDOR_ID,
      deviceId: VIRTIO_PCI_DEVICE_ID_BLOCK_TRANSITIONAL,
      revision: VIRTIO_PCI_LEGACY_REVISION,
      classCode: PCI_CLASS_STORAGE_SCSI,
      subsystemVendorId: VIRTIO_PCI_SUBSYSTEM_VENDOR_ID,
      subsystemId: VIRTIO_ID_BLOCK,
      interruptPin: PCI_INTERRUPT_PIN_INTA,
      bars: [{ kind: 'io', size: VIRTIO_BLK_BAR_SIZE }],
      ...opts.pci,
      onIntx: opts.irq ?? noop,
    });
  }

  // --- host-side view

  get deviceStatus(): number { return this.status; }
  get negotiatedFeatures(): number { return this.guestFeatures; }
  get isrStatus(): number { return this.isr; }
  get irqLevel(): boolean { return this.pci.intx; }
  /** True after a ring-level error, until the driver resets the device. */
  get needsReset(): boolean { return this.broken; }
  /** Queue 0's page frame number (0 = not set up), last available index seen and next used index. */
  get queueState(): { pfn: number; lastAvail: number; usedIdx: number } {
    return { pfn: this.pfn, lastAvail: this.lastAvail, usedIdx: this.usedIdx };
  }

  /** Device reset (status write of 0, or the machine's reset). */
  reset(): void {
    this.guestFeatures = 0;
    this.status = 0;
    this.queueSel = 0;
    this.lastNotify = 0;
    this.pfn = 0;
    this.lastAvail = 0;
    this.usedIdx = 0;
    this.broken = false;
    this.setIsr(0);
  }

  // --- PortDevice: BAR0 registers

  read(offset: number, size: number): number {
    if (offset === VIRTIO_PCI_HOST_FEATURES && size === 4) return this.hostFeatures;
    if (offset === VIRTIO_PCI_ISR && size === 1) return this.readIsr();
    let v = 0;
    for (let k = 0; k < size; k++) v |= this.readByte(offset + k) << (8 * k);
    return v >>> 0;
  }

  write(offset: number, _size: number, value: number): void {
    switch (offset) {
      case VIRTIO_PCI_GUEST_FEATURES:
        this.guestFeatures = (value & this.hostFeatures) >>> 0;
        return;
      case VIRTIO_PCI_QUEUE_PFN:
        if (this.queueSel === 0) this.setQueuePfn(value >>> 0);
        return;
      case VIRTIO_PCI_QUEUE_SEL:
        this.queueSel = value & 0xffff;
        return;
      case VIRTIO_PCI_QUEUE_NOTIFY:
        this.lastNotify = value & 0xffff;
        if (this.lastNotify === 0) this.processQueue();
        return;
      case VIRTIO_PCI_STATUS: {
        const v = value & 0xff;
        if (v === 0) { this.reset(); return; }
        this.status = (v & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET) | (this.broken ? VIRTIO_STATUS_DEVICE_NEEDS_RESET : 0);
        return;
      }
      default:
        // Host features, queue size, ISR and the config space are read-only.
        return;
    }
  }

  // --- registers

  private readByte(off: number): number {
    if (off >= VIRTIO_PCI_CONFIG) return this.config[off - VIRTIO_PCI_CONFIG] ?? 0xff;
    let field: number;
    let start: number;
    if (off < 0x04) { field = this.hostFeatures; start = 0x00; }
    else if (off < 0x08) { field = this.guestFeatures; start = 0x04; }
    else if (off < 0x0c) { field = this.queueSel === 0 ? this.pfn : 0; start = 0x08; }
    else if (off < 0x0e) { field = this.queueSel === 0 ? this.queueSize : 0; start = 0x0c; }
    else if (off < 0x10) { field = this.queueSel; start = 0x0e; }
    else if (off < 0x12) { field = this.lastNotify; start = 0x10; }
    else if (off === VIRTIO_PCI_STATUS) return this.status;
    else if (off === VIRTIO_PCI_ISR) return this.readIsr();
    else return 0xff;
    return (field >>> (8 * (off - start))) & 0xff;
  }

  private readIsr(): number {
    const v = this.isr;
    this.setIsr(0);
    return v;
  }

  private setIsr(v: number): void {
    this.isr = v;
    this.pci.setIntxRequest(v !== 0);
  }

  private setQueuePfn(pfn: number): void {
    this.pfn = pfn;
    this.lastAvail = 0;
    this.usedIdx = 0;
    if (pfn === 0) return; // queue disabled (Linux's del_vq writes 0)
    const l = legacyVringLayout(pfn * VIRTIO_PCI_VRING_ALIGN, this.queueSize);
    if (!this.inRam(l.desc, l.end - l.desc)) {
      this.fail(`queue 0 at PFN 0x${pfn.toString(16)} needs guest-physical 0x${l.desc.toString(16)}–0x${(l.end - 1).toString(16)}, outside guest RAM (0x${this.ramBytes.toString(16)} bytes)`);
    }
  }

  // --- virtqueue

  private inRam(pa: number, len: number): boolean {
    return pa >= 0 && len >= 0 && pa + len <= this.ramBytes;
  }

  /** Mark guest RAM written by the device. */
  private wrote(pa: number, len: number): void {
    if (len <= 0) return;
    this.mem.touch(pa, len);
    this.onGuestWrite(pa, len);
  }

  private fail(message: string): void {
    this.broken = true;
    this.lastError = message;
    this.status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
    this.setIsr(this.isr | VIRTIO_PCI_ISR_CONFIG);
    this.onError(message);
  }

  private processQueue(): void {
    if (this.pfn === 0 || this.broken) return;
    const n = this.queueSize;
    const l = legacyVringLayout(this.pfn * VIRTIO_PCI_VRING_ALIGN, n);
    if (!this.inRam(l.desc, l.end - l.desc)) {
      this.fail(`queue 0 rings at 0x${l.desc.toString(16)}–0x${(l.end - 1).toString(16)} are outside guest RAM`);
      return;
    }
    const dv = this.mem.dv;
    const availFlags = dv.getUint16(l.avail, true);
    const availIdx = dv.getUint16(l.avail + 2, true);
    const pending = (availIdx - this.lastAvail) & 0xffff;
    if (pending > n) {
      this.fail(`avail.idx ${availIdx} is ${pending} entries past the device's ${this.lastAvail}, more than the queue size ${n}`);
      return;
    }
    let completed = 0;
    while (this.lastAvail !== availIdx) {
      const head = dv.getUint16(l.avail + 4 + 2 * (this.lastAvail % n), true);
      const written = this.processChain(l.desc, head);
      if (written < 0) break; // the device is now in DEVICE_NEEDS_RESET
      const e = l.used + 4 + VRING_USED_ELEM_SIZE * (this.usedIdx % n);
      dv.setUint32(e, head, true);
      dv.setUint32(e + 4, written, true);
      this.wrote(e, VRING_USED_ELEM_SIZE);
      this.usedIdx = (this.usedIdx + 1) & 0xffff;
      dv.setUint16(l.used + 2, this.usedIdx, true);
      this.wrote(l.used + 2, 2);
      this.lastAvail = (this.lastAvail + 1) & 0xffff;
      completed++;
    }
    if (completed > 0 && (availFlags & VRING_AVAIL_F_NO_INTERRUPT) === 0) {
      this.setIsr(this.isr | VIRTIO_PCI_ISR_QUEUE);
    }
  }

  /**
   * Serve one request; returns the bytes written to device-writable buffers
   * (the used element's len), or −1 after a ring-level error.
   */
  private processChain(descTable: number, head: number): number {
    const n = this.queueSize;
    const dv = this.mem.dv;
    const readable: Seg[] = [];
    const writable: Seg[] = [];
    let misordered = false;
    let i = head;
    for (let count = 0; ; count++) {
      if (i >= n) { this.fail(`descriptor index ${i} in the chain from head ${head} is not below the queue size ${n}`); return -1; }
      if (count >= n) { this.fail(`descriptor chain from head ${head} is longer than the queue (${n}): a loop`); return -1; }
      const d = descTable + VRING_DESC_SIZE * i;
      const addr = dv.getUint32(d, true) + dv.getUint32(d + 4, true) * TWO32;
      const len = dv.getUint32(d + 8, true);
      const flags = dv.getUint16(d + 12, true);
      if ((flags & VRING_DESC_F_INDIRECT) !== 0) {
        this.fail(`descriptor ${i} is indirect, but VIRTIO_RING_F_INDIRECT_DESC was not offered`);
        return -1;
      }
      if ((flags & VRING_DESC_F_WRITE) !== 0) writable.push({ addr, len });
      else {
        if (writable.length > 0) misordered = true;
        readable.push({ addr, len });
      }
      if ((flags & VRING_DESC_F_NEXT) === 0) break;
      i = dv.getUint16(d + 14, true);
    }

    // The status byte: the last byte of the device-writable stream.
    let statusAddr = -1;
    for (let k = writable.length - 1; k >= 0; k--) {
      const s = writable[k]!;
      if (s.len > 0) { statusAddr = s.addr + s.len - 1; break; }
    }
    if (statusAddr < 0) { this.fail(`request at head ${head} has no device-writable byte for its status`); return -1; }
    if (!this.inRam(statusAddr, 1)) {
      this.fail(`request at head ${head}: status byte at 0x${statusAddr.toString(16)} is outside guest RAM`);
      return -1;
    }

    const writableLen = total(writable);
    const dataIn = writableLen - 1; // device-writable bytes before the status
    let status: number;
    let written = 0;
    if (misordered || !readable.every((s) => this.inRam(s.addr, s.len)) || !writable.every((s) => this.inRam(s.addr, s.len))) {
      status = VIRTIO_BLK_S_IOERR;
    } else if (total(readable) < VIRTIO_BLK_REQ_HEADER_SIZE) {
      status = VIRTIO_BLK_S_IOERR;
    } else {
      this.gather(readable, 0, VIRTIO_BLK_REQ_HEADER_SIZE, this.hdr);
      const type = (this.hdrView.getUint32(0, true) & ~VIRTIO_BLK_T_BARRIER) >>> 0;
      const sector = this.hdrView.getUint32(8, true) + this.hdrView.getUint32(12, true) * TWO32;
      switch (type) {
        case VIRTIO_BLK_T_IN:
          status = this.doRead(sector, writable, dataIn);
          if (status === VIRTIO_BLK_S_OK) written = dataIn;
          break;
        case VIRTIO_BLK_T_OUT:
          status = this.doWrite(sector, readable, total(readable) - VIRTIO_BLK_REQ_HEADER_SIZE);
          break;
        case VIRTIO_BLK_T_FLUSH:
          this.stats.flushes++;
          status = this.guard(() => this.disk.flush());
          break;
        case VIRTIO_BLK_T_GET_ID: {
          this.stats.getIds++;
          const len = Math.min(VIRTIO_BLK_ID_BYTES, dataIn);
          this.scatter(writable, 0, this.serial, len);
          written = len;
          status = VIRTIO_BLK_S_OK;
          break;
        }
        default:
          this.stats.unsupported++;
          status = VIRTIO_BLK_S_UNSUPP;
      }
    }
    if (status === VIRTIO_BLK_S_IOERR) this.stats.ioErrors++;
    this.mem.u8[statusAddr] = status;
    this.wrote(statusAddr, 1);
    return written + 1;
  }

  private doRead(sector: number, writable: Seg[], len: number): number {
    this.stats.reads++;
    if (!this.rangeOk(sector, len)) return VIRTIO_BLK_S_IOERR;
    const count = len / VIRTIO_BLK_SECTOR_SIZE;
    const buf = this.stage(len);
    const st = this.guard(() => this.disk.read(sector, count, buf));
    if (st !== VIRTIO_BLK_S_OK) return st;
    this.scatter(writable, 0, buf, len);
    this.stats.sectorsRead += count;
    return VIRTIO_BLK_S_OK;
  }

  private doWrite(sector: number, readable: Seg[], len: number): number {
    this.stats.writes++;
    if (this.disk.readOnly || !this.rangeOk(sector, len)) return VIRTIO_BLK_S_IOERR;
    const count = len / VIRTIO_BLK_SECTOR_SIZE;
    const buf = this.stage(len);
    this.gather(readable, VIRTIO_BLK_REQ_HEADER_SIZE, len, buf);
    const st = this.guard(() => this.disk.write(sector, count, buf));
    if (st === VIRTIO_BLK_S_OK) this.stats.sectorsWritten += count;
    return st;
  }

  private rangeOk(sector: number, len: number): boolean {
    return len % VIRTIO_BLK_SECTOR_SIZE === 0 && sector + len / VIRTIO_BLK_SECTOR_SIZE <= this.disk.sectors;
  }

  private guard(op: () => void): number {
    try {
      op();
      return VIRTIO_BLK_S_OK;
    } catch {
      return VIRTIO_BLK_S_IOERR;
    }
  }

  /** A staging buffer of `len` bytes (grown, never shrunk). */
  private stage(len: number): Uint8Array {
    if (this.scratch.length < len) this.scratch = new Uint8Array(Math.max(len, this.scratch.length * 2));
    return this.scratch.subarray(0, len);
  }

  /** Copy `len` bytes of the segments' stream, starting at stream offset `skip`, into `into`. */
  private gather(segs: Seg[], skip: number, len: number, into: Uint8Array): void {
    const u8 = this.mem.u8;
    let pos = 0;
    for (const s of segs) {
      if (pos >= len) break;
      if (skip >= s.len) { skip -= s.len; continue; }
      const n = Math.min(s.len - skip, len - pos);
      into.set(u8.subarray(s.addr + skip, s.addr + skip + n), pos);
      pos += n;
      skip = 0;
    }
  }

  /** Copy `len` bytes of `from` into the segments' stream from offset `skip`. */
  private scatter(segs: Seg[], skip: number, from: Uint8Array, len: number): void {
    const u8 = this.mem.u8;
    let pos = 0;
    for (const s of segs) {
      if (pos >= len) break;
      if (skip >= s.len) { skip -= s.len; continue; }
      const n = Math.min(s.len - skip, len - pos);
      u8.set(from.subarray(pos, pos + n), s.addr + skip);
      this.wrote(s.addr + skip, n);
      pos += n;
      skip = 0;
    }
  }
}

function total(segs: Seg[]): number {
  let t = 0;
  for (const s of segs) t += s.len;
  return t;
}
