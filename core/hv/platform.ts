/**
 * The PC platform around the CPU: legacy devices on the port bus, the
 * interrupt controllers, PCI with virtio-blk, and the firmware tables a
 * PVH kernel reads (MP table). Devices are plain objects (core/devices);
 * this file wires their I/O ranges, IRQ lines and clock deadlines together.
 *
 * Interrupt routing (what the MP table tells the guest): ISA IRQ n reaches
 * 8259 input n and I/O APIC pin n, except IRQ 0 (PIT) which reaches pin 2;
 * PCI slot 1 INTA# (virtio-blk) is IRQ 11, level-triggered, on both; the
 * ACPI SCI (core/devices/acpi-pm.ts, ports 0x600-0x60B) is IRQ 9,
 * level-triggered active-high. The ACPI tables (core/boot/acpi.ts: MADT
 * overrides, DSDT _PRT) say the same, from the same constants.
 */
import type { Machine } from './machine.js';
import { Pic8259Pair } from '../devices/pic8259.js';
import { Pit8254 } from '../devices/pit8254.js';
import { CmosRtc } from '../devices/cmos-rtc.js';
import { I8042 } from '../devices/i8042.js';
import { DebugExit } from '../devices/debug-exit.js';
import { Lapic } from '../devices/lapic.js';
import { IoApic } from '../devices/ioapic.js';
import { PciHost } from '../devices/pci.js';
import { VirtioBlk } from '../devices/virtio-blk.js';
import { openDisk, type Disk } from '../devices/disk.js';
import { writeMpTable, DEFAULT_ISA_IRQS, MP_POLARITY_HIGH, MP_TRIGGER_LEVEL } from '../boot/mptable.js';
import { writeAcpiTables, S5_SLP_TYP, MPS_INTI_POLARITY_HIGH, MPS_INTI_TRIGGER_LEVEL, type AcpiLayout } from '../boot/acpi.js';
import { AcpiPm, ACPI_PM_BASE, PM1A_EVT_OFFSET, PM1A_CNT_OFFSET, PM_TMR_OFFSET } from '../devices/acpi-pm.js';
import { APIC_DEFAULT_BASE } from '../devices/lapic.js';
import { FwCfg } from '../devices/fw-cfg.js';
import { PcTestdev, TESTDEV_IOMEM_BASE } from '../devices/pc-testdev.js';
import type { MmioDevice } from './mmio-bus.js';

/** Nominal machine speed: 1 retired instruction = 1 ns (PIT, RTC and LAPIC timer derive from it). */
export const INSTRUCTIONS_PER_SECOND = 1_000_000_000;
export const IOAPIC_BASE = 0xfec00000;
export const IOAPIC_ID = 1;
export const VIRTIO_BLK_IRQ = 11;
export const VIRTIO_BLK_IO_BASE = 0xc000;
/** Where the MP floating pointer and table go: the BIOS area Linux scans (0xF0000-0xFFFFF). */
export const MPTABLE_ADDR = 0xf0000;
/**
 * Where the ACPI RSDP and tables go: the start of the 0xE0000-0xFFFFF area
 * Linux scans for "RSD PTR " (ACPI 6.4, 5.2.5.1), below the MP table; the
 * e820 map marks 0x9FC00-0xFFFFF reserved. The RSDP address is also passed
 * in hvm_start_info.rsdp_paddr.
 */
export const ACPI_TABLES_ADDR = 0xe0000;
/** ISA IRQ of the ACPI SCI (FADT SCI_INT), level-triggered active-high (MADT override, as QEMU's PC). */
export const SCI_IRQ = 9;

export interface PlatformOptions {
  readonly disk?: string;
  readonly persist?: boolean;
  /** RTC wall-clock time at virtual time 0, in milliseconds since the epoch (machine configuration). */
  readonly rtcStartMs: number;
  /** Whether the local APIC offers x2APIC mode (default true). */
  readonly x2apic?: boolean;
}

export class PcPlatform {
  readonly pic: Pic8259Pair;
  readonly pit: Pit8254;
  readonly cmos: CmosRtc;
  readonly i8042: I8042;
  readonly debugExit: DebugExit;
  readonly lapic: Lapic;
  readonly ioapic: IoApic;
  readonly pci: PciHost;
  readonly disk: Disk | null;
  readonly virtioBlk: VirtioBlk | null;
  /** QEMU fw_cfg (ports 0x510-0x511) and pc-testdev (0xE0-0xEB, 0x2000-0x2017, MMIO 0xFF000000), as kvm-unit-tests expects. */
  readonly fwCfg: FwCfg;
  readonly testdev: PcTestdev;
  /** ACPI PM1a event/control blocks and PM timer (ports 0x600-0x60B), SCI on IRQ 9, S5 power-off. */
  readonly acpiPm: AcpiPm;

  constructor(private readonly m: Machine, o: PlatformOptions) {
    const now = (): number => m.cpu.icount;
    const io = m.io;
    this.pic = new Pic8259Pair();
    this.lapic = new Lapic({ now, virtualWire: true, eoiBroadcast: (v) => this.ioapic.eoi(v), nmi: () => m.raiseNmi(), x2apic: o.x2apic ?? true });
    this.ioapic = new IoApic({
      id: IOAPIC_ID,
      deliver: (vector, level, dest, logical, mode) => { this.lapic.deliverMessage(vector, level, dest, logical, mode); },
    });
    this.pit = new Pit8254({ now, irq: (l) => this.isaIrq(0, l), instructionsPerSecond: INSTRUCTIONS_PER_SECOND });
    this.cmos = new CmosRtc({ now, start: o.rtcStartMs, ramBytes: m.ramBytes, irq: (l) => this.isaIrq(8, l), instructionsPerSecond: INSTRUCTIONS_PER_SECOND });
    this.i8042 = new I8042({
      irq1: (l) => this.isaIrq(1, l), irq12: (l) => this.isaIrq(12, l),
      reset: () => { m.pendingStop ??= { kind: 'reset', message: 'guest reset the machine through the i8042 controller' }; },
    });
    this.debugExit = new DebugExit({
      exit: (status, value) => { m.pendingStop ??= { kind: 'exit-code', code: status & 0xff, message: `guest wrote 0x${value.toString(16)} to the debug-exit port (status ${status})` }; },
    });
    for (const d of [this.pic, this.pit, this.cmos, this.i8042]) for (const r of d.ports()) io.register(r.base, r.len, r.dev);
    io.register(this.debugExit.iobase, this.debugExit.iosize, { name: 'debug-exit', read: (o, s) => this.debugExit.read(o, s), write: (o, s, v) => this.debugExit.write(o, s, v) });
    this.fwCfg = new FwCfg({ ramBytes: m.ramBytes });
    // Lines 0-15 are ISA IRQs; 16-23 reach only the I/O APIC (QEMU's GSIs).
    this.testdev = new PcTestdev({
      irq: (line, l) => { if (line < 16) this.isaIrq(line, l); else this.ioapic.setIrq(line, l); },
      flushPage: (pa) => { if (pa < m.ramBytes) m.cpu.invalidateCode(pa, 4096); },
    });
    for (const d of [this.fwCfg, this.testdev]) for (const r of d.ports()) io.register(r.base, r.len, r.dev);
    this.acpiPm = new AcpiPm({
      now, instructionsPerSecond: INSTRUCTIONS_PER_SECOND, base: ACPI_PM_BASE, s5SlpTyp: S5_SLP_TYP,
      sci: (l) => this.isaIrq(SCI_IRQ, l),
      powerOff: () => { m.pendingStop ??= { kind: 'power-off', message: `guest powered off through ACPI (S5: SLP_TYP ${S5_SLP_TYP} and SLP_EN written to PM1a_CNT at port 0x${(ACPI_PM_BASE + PM1A_CNT_OFFSET).toString(16)})` }; },
    });
    for (const r of this.acpiPm.ports()) io.register(r.base, r.len, r.dev);
    // Firmware programs the SCI level-triggered in the ELCR, as for PCI IRQs.
    this.pic.writeElcr(1, 1 << (SCI_IRQ - 8));
    m.clock.addSource(this.pit);
    m.clock.addSource(this.cmos);
    m.clock.addSource(this.lapic.timer);
    m.clock.addSource(this.acpiPm);

    this.pci = new PciHost();
    io.register(0xcf8, 8, this.pci);
    if (o.disk) {
      this.disk = openDisk(o.disk, { persist: o.persist ?? false });
      const blk = new VirtioBlk({
        mem: m.mem, disk: this.disk, ramBytes: m.ramBytes,
        irq: (l) => this.setIrqLine(VIRTIO_BLK_IRQ, l),
        onGuestWrite: (pa, len) => m.cpu.invalidateCode(pa, len),
        pci: {
          onBarRemap: (_i, old, now2) => {
            if (old) io.unregister(old.base, old.size, blk);
            if (now2) io.register(now2.base, now2.size, blk);
          },
        },
      });
      this.virtioBlk = blk;
      this.pci.add(1, blk.pci);
      // What firmware would do: assign BAR0, enable I/O and bus mastering, set the interrupt line.
      blk.pci.setBar(0, VIRTIO_BLK_IO_BASE);
      blk.pci.enable(0x5);
      blk.pci.configWrite(0x3c, 1, VIRTIO_BLK_IRQ);
      this.pic.writeElcr(1, (1 << (VIRTIO_BLK_IRQ - 8)) | (1 << (SCI_IRQ - 8))); // IRQs 9 (SCI) and 11 level-triggered
    } else {
      this.disk = null;
      this.virtioBlk = null;
    }
  }

  /** MMIO windows: the local APIC wherever IA32_APIC_BASE puts it (while enabled), the I/O APIC page, pc-testdev's 64 KiB buffer. */
  mmioDevices(): MmioDevice[] {
    const l = this.lapic, io = this.ioapic, t = this.testdev;
    return [
      { name: 'lapic', claims: (gpa) => l.claims(gpa), base: () => l.base, read: (o, s) => l.read(o, s as 1 | 2 | 4), write: (o, s, v) => l.write(o, s as 1 | 2 | 4, v) },
      // With IA32_APIC_BASE's enable bit clear the APIC page is an empty bus window: reads all ones, writes dropped.
      { name: 'lapic-disabled', claims: (gpa) => !l.hwEnabled && gpa >= 0xfee00000 && gpa < 0xfee01000, base: () => 0xfee00000, read: () => 0xffffffff, write: () => undefined },
      { name: 'ioapic', claims: (gpa) => gpa >= IOAPIC_BASE && gpa < IOAPIC_BASE + 0x1000, base: () => IOAPIC_BASE, read: (o, s) => io.read(o, s), write: (o, s, v) => io.write(o, s, v) },
      { name: 'pc-testdev', claims: (gpa) => t.claims(gpa), base: () => TESTDEV_IOMEM_BASE, read: (o, s) => t.readMem(o, s), write: (o, s, v) => t.writeMem(o, s, v) },
    ];
  }

  /**
   * Write the firmware tables into guest memory: the MP table (processor,
   * buses, I/O APIC, interrupt routing) and the ACPI tables (RSDP, XSDT,
   * FADT, FACS, MADT, DSDT) describing the same machine. Returns the ACPI
   * layout (its RSDP address goes in hvm_start_info).
   */
  writeFirmwareTables(): AcpiLayout {
    const pciIrqs = this.virtioBlk ? [{ device: 1, intPin: 0, pin: VIRTIO_BLK_IRQ }] : [];
    const sciFlags = MP_POLARITY_HIGH | MP_TRIGGER_LEVEL;
    writeMpTable(this.m.mem, MPTABLE_ADDR, {
      ioapicId: IOAPIC_ID, ioapicAddr: IOAPIC_BASE,
      isaIrqs: DEFAULT_ISA_IRQS.map((r) => (r.irq === SCI_IRQ ? { ...r, flags: sciFlags } : r)),
      pciIrqs,
    });
    return writeAcpiTables(this.m.mem, {
      base: ACPI_TABLES_ADDR, limit: MPTABLE_ADDR,
      lapicAddr: APIC_DEFAULT_BASE, lapicId: 0, ioapicId: IOAPIC_ID, ioapicAddr: IOAPIC_BASE,
      pm1aEvtBlk: ACPI_PM_BASE + PM1A_EVT_OFFSET, pm1aCntBlk: ACPI_PM_BASE + PM1A_CNT_OFFSET, pmTmrBlk: ACPI_PM_BASE + PM_TMR_OFFSET,
      sciIrq: SCI_IRQ,
      isaOverrides: [
        { irq: 0, gsi: 2, flags: 0 }, // the PIT's IRQ 0 reaches I/O APIC pin 2 (isaIrq below)
        { irq: SCI_IRQ, gsi: SCI_IRQ, flags: MPS_INTI_POLARITY_HIGH | MPS_INTI_TRIGGER_LEVEL },
      ],
      pciIrqs: pciIrqs.map((r) => ({ device: r.device, intPin: r.intPin, gsi: r.pin })),
    });
  }

  /** An ISA interrupt line: 8259 input `line`, I/O APIC pin `line` (IRQ 0 on pin 2). */
  isaIrq(line: number, level: boolean): void {
    this.pic.setIrq(line, level);
    this.ioapic.setIrq(line === 0 ? 2 : line, level);
  }
  /** A PCI INTx line routed to IRQ `line` (level-triggered on both controllers). */
  setIrqLine(line: number, level: boolean): void {
    this.pic.setIrq(line, level);
    this.ioapic.setIrq(line, level);
  }

  /**
   * The external interrupt the CPU would accept now, without acknowledging
   * it: a local-APIC vector above the processor priority, or the 8259's
   * request when LINT0 is in ExtINT (virtual-wire) mode or the APIC is off.
   * Returns -1 for none, -2 for "ask the 8259" (its vector is known only at INTA).
   */
  pendingInterrupt(): number {
    const l = this.lapic;
    if (l.hwEnabled) {
      const v = l.highestPending();
      if (v >= 0) return v;
      if (!l.picRouted()) return -1;
    }
    return this.pic.hasInterrupt() ? -2 : -1;
  }
  /** The INTA cycle for what pendingInterrupt() reported. */
  acknowledge(p: number): number {
    if (p >= 0) { this.lapic.acknowledge(p); return p; }
    return this.pic.acknowledge();
  }
}
