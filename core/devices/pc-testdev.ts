/**
 * QEMU's pc-testdev (hw/misc/pc-testdev.c), the ISA test device
 * kvm-unit-tests drives (x86/emulator.c, ioapic.c, eventinj.c). Semantics
 * as QEMU implements them:
 *
 *   0xE0-0xE3  a 32-bit data latch. An access of n bytes at port 0xE0 + k
 *              reads or writes latch bytes k .. k+n-1 (little-endian); bytes
 *              beyond the latch read 0 and are not written.
 *   0xE4-0xE7  "flush page": a 4-byte write of an address asks the
 *              hypervisor to drop its mapping of that guest page (QEMU
 *              mprotects it, so KVM must fault it back in). Here it is
 *              noted (`flushes`) and handed to the injected `flushPage`
 *              callback with the page address; other sizes are ignored,
 *              reads return 0.
 *   0xE8-0xEB  the same latch as 0xE0, accessed a byte at a time (QEMU
 *              splits wider accesses into byte accesses; the result is the
 *              same bytes).
 *   0x2000-0x2017  IRQ lines: a 1-byte write to 0x2000 + n sets line n to
 *              (value != 0); other sizes are ignored, reads return 0. Line n
 *              is ISA IRQ n (8259 input n and I/O APIC pin n, IRQ 0 on pin 2
 *              as QEMU's I/O APIC does) for n < 16, I/O APIC pin n above;
 *              the platform decides through the injected `irq` callback.
 *   MMIO 0xFF000000-0xFF00FFFF  a 64 KiB buffer of plain memory behind the
 *              MMIO path (every access is an EPT violation the MMIO emulator
 *              carries out), so instructions run against it are emulated by
 *              the hypervisor: reads return the bytes last written (0 at
 *              reset), little-endian; bytes past the end read 0.
 */
import type { PortRange } from '../hv/iobus.js';

export const TESTDEV_PORT = 0xe0;
export const TESTDEV_FLUSH_PORT = 0xe4;
export const TESTDEV_BYTE_PORT = 0xe8;
export const TESTDEV_IRQ_PORT = 0x2000;
export const TESTDEV_IRQ_LINES = 24;
export const TESTDEV_IOMEM_BASE = 0xff000000;
export const TESTDEV_IOMEM_SIZE = 0x10000;

export interface PcTestdevOptions {
  /** Set IRQ line `line` (0-23) to `level`. */
  readonly irq: (line: number, level: boolean) => void;
  /** The guest asked for its page at `pageAddr` (4 KiB aligned) to be flushed. */
  readonly flushPage?: (pageAddr: number) => void;
}

export class PcTestdev {
  /** The 32-bit latch behind 0xE0 and 0xE8. */
  latch = 0;
  /** Levels last written to the IRQ lines. */
  readonly lines = new Uint8Array(TESTDEV_IRQ_LINES);
  /** Every address written to the flush port, in order. */
  readonly flushes: number[] = [];
  readonly iomem = new Uint8Array(TESTDEV_IOMEM_SIZE);

  constructor(private readonly o: PcTestdevOptions) {}

  // ---- the latch ----
  readLatch(offset: number, size: number): number {
    let v = 0;
    for (let k = 0; k < size; k++) {
      const b = offset + k;
      if (b < 4) v |= ((this.latch >>> (8 * b)) & 0xff) << (8 * k);
    }
    return v >>> 0;
  }
  writeLatch(offset: number, size: number, value: number): void {
    for (let k = 0; k < size; k++) {
      const b = offset + k;
      if (b >= 4) continue;
      const byte = (value >>> (8 * k)) & 0xff;
      this.latch = ((this.latch & ~(0xff << (8 * b))) | (byte << (8 * b))) >>> 0;
    }
  }

  // ---- flush page ----
  writeFlush(offset: number, size: number, value: number): void {
    if (offset !== 0 || size !== 4) return;
    const page = (value & ~0xfff) >>> 0;
    this.flushes.push(value >>> 0);
    this.o.flushPage?.(page);
  }

  // ---- IRQ lines ----
  writeIrq(line: number, size: number, value: number): void {
    if (size !== 1 || line < 0 || line >= TESTDEV_IRQ_LINES) return;
    const level = (value & 0xff) !== 0;
    this.lines[line] = level ? 1 : 0;
    this.o.irq(line, level);
  }

  // ---- the MMIO buffer (offsets from TESTDEV_IOMEM_BASE) ----
  readMem(offset: number, size: number): number {
    let v = 0;
    for (let k = 0; k < size; k++) {
      const a = offset + k;
      if (a >= 0 && a < TESTDEV_IOMEM_SIZE) v |= this.iomem[a]! << (8 * k);
    }
    return v >>> 0;
  }
  writeMem(offset: number, size: number, value: number): void {
    for (let k = 0; k < size; k++) {
      const a = offset + k;
      if (a >= 0 && a < TESTDEV_IOMEM_SIZE) this.iomem[a] = (value >>> (8 * k)) & 0xff;
    }
  }
  claims(gpa: number): boolean { return gpa >= TESTDEV_IOMEM_BASE && gpa < TESTDEV_IOMEM_BASE + TESTDEV_IOMEM_SIZE; }

  ports(): PortRange[] {
    return [
      { base: TESTDEV_PORT, len: 4, dev: { name: 'pc-testdev', read: (o, s) => this.readLatch(o, s), write: (o, s, v) => this.writeLatch(o, s, v) } },
      { base: TESTDEV_FLUSH_PORT, len: 4, dev: { name: 'pc-testdev-flush', read: () => 0, write: (o, s, v) => this.writeFlush(o, s, v) } },
      { base: TESTDEV_BYTE_PORT, len: 4, dev: { name: 'pc-testdev-byte', read: (o, s) => this.readLatch(o, s), write: (o, s, v) => this.writeLatch(o, s, v) } },
      { base: TESTDEV_IRQ_PORT, len: TESTDEV_IRQ_LINES, dev: { name: 'pc-testdev-irq', read: () => 0, write: (o, s, v) => this.writeIrq(o, s, v) } },
    ];
  }
}
