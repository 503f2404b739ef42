/**
 * Intel MultiProcessor Specification 1.4 (May 1997) tables: the MP floating
 * pointer structure and the MP configuration table, written into guest
 * memory the way PC firmware does. Linux (CONFIG_X86_MPPARSE) finds the
 * floating pointer by scanning for "_MP_" on 16-byte boundaries in the first
 * KiB of the EBDA, the last KiB of base memory and the BIOS ROM area
 * 0xF0000-0xFFFFF, checks both checksums and reads the entries.
 *
 * Floating pointer structure (spec 4.1, Table 4-1), 16 bytes:
 *   +0  "_MP_"   +4 u32 configuration table address   +8 u8 length in
 *   16-byte units (1)   +9 u8 spec revision (4 = 1.4)   +10 u8 checksum (all
 *   16 bytes sum to 0)   +11 u8 feature 1 (0: a configuration table is
 *   present)   +12 u8 feature 2 (bit 7 IMCRP; 0 = virtual-wire mode, which
 *   is what this machine is: no IMCR)   +13..15 reserved 0
 *
 * Configuration table header (spec 4.2, Table 4-2), 44 bytes:
 *   +0 "PCMP"  +4 u16 base table length (header + base entries)  +6 u8 spec
 *   revision (4)  +7 u8 checksum (base table sums to 0)  +8 OEM ID (8 bytes,
 *   space-padded)  +16 product ID (12 bytes)  +28 u32 OEM table pointer (0)
 *   +32 u16 OEM table size (0)  +34 u16 entry count  +36 u32 local APIC
 *   address  +40 u16 extended table length  +42 u8 extended table checksum
 *   (extended entries + this byte sum to 0; 0 when there are none)  +43 0
 *
 * Base entries (spec 4.3), in ascending type order as the spec requires:
 *   0 processor (20 bytes): type, local APIC ID, local APIC version, flags
 *     (bit 0 EN, bit 1 BP), u32 CPU signature, u32 feature flags, 8 reserved
 *   1 bus (8): type, bus ID, 6-byte type string ("PCI   ", "ISA   ")
 *   2 I/O APIC (8): type, ID, version, flags (bit 0 EN), u32 address
 *   3 I/O interrupt assignment (8): type, interrupt type (0 INT, 1 NMI,
 *     2 SMI, 3 ExtINT), u16 flags (bits 1:0 polarity, 3:2 trigger; 0 =
 *     conforms to the bus), source bus ID, source bus IRQ, destination I/O
 *     APIC ID, destination INTIN#
 *   4 local interrupt assignment (8): same, destination local APIC ID
 *     (0xFF = all) and LINTIN#
 * Extended entries (spec 5.2): type 128 system address space mapping
 *   (20 bytes: type, length 20, bus ID, address type 0 I/O / 1 memory /
 *   2 prefetch, u64 base, u64 length), optional.
 *
 * What is written: one processor entry per CPU (APIC IDs apicId,
 * apicId+1, ...; the first is the BSP), a PCI bus (ID 0, unless `pci` is
 * false) and an ISA bus (ID 1, or 0 without PCI), one I/O APIC, the ISA IRQ
 * routing (default: the PC convention, IRQ 0 → INTIN2 and IRQ n → INTIN n
 * for the others, IRQ 2 (the cascade) absent; flags "conforms to bus",
 * i.e. edge/active high), the PCI IRQ routing if given (level, active low,
 * spec 4.3.4: source bus IRQ bits 6:2 device, bits 1:0 INTA#-INTD#), and
 * the local interrupts of virtual-wire mode: ExtINT → LINTIN0 and NMI →
 * LINTIN1 on all local APICs (as the spec's default configurations, 5.3).
 * Layout: the floating pointer at `at`, the configuration table right after
 * it (at + 16) unless `tableAt` says otherwise.
 */
import type { PhysMem } from '../memory/physmem.js';
import { siliconCpuid } from '../cpu/cpuid.js';
import { APIC_VERSION_ID, APIC_DEFAULT_BASE } from '../devices/lapic.js';
import { IOAPIC_VERSION, IOAPIC_DEFAULT_BASE } from '../devices/ioapic.js';

export class MpTableError extends Error {
  override readonly name = 'MpTableError';
}

export const MP_FLOATING_SIGNATURE = '_MP_';
export const MP_CONFIG_SIGNATURE = 'PCMP';
export const MP_SPEC_REV_1_4 = 4;
export const MP_FLOATING_SIZE = 16;
export const MP_HEADER_SIZE = 44;

export const MP_ENTRY_PROCESSOR = 0;
export const MP_ENTRY_BUS = 1;
export const MP_ENTRY_IOAPIC = 2;
export const MP_ENTRY_IO_INTERRUPT = 3;
export const MP_ENTRY_LOCAL_INTERRUPT = 4;
export const MP_EXT_ADDRESS_SPACE = 128;

export const MP_PROCESSOR_ENTRY_SIZE = 20;
export const MP_ENTRY_SIZE = 8;
export const MP_EXT_ADDRESS_SPACE_SIZE = 20;

export const MP_CPU_ENABLED = 1 << 0;
export const MP_CPU_BSP = 1 << 1;
export const MP_IOAPIC_ENABLED = 1 << 0;

/** Interrupt types of I/O and local interrupt assignment entries. */
export const MP_INT = 0;
export const MP_NMI = 1;
export const MP_SMI = 2;
export const MP_EXTINT = 3;

/** Interrupt flags: polarity (bits 1:0) and trigger mode (bits 3:2). */
export const MP_POLARITY_CONFORMS = 0;
export const MP_POLARITY_HIGH = 1;
export const MP_POLARITY_LOW = 3;
export const MP_TRIGGER_CONFORMS = 0 << 2;
export const MP_TRIGGER_EDGE = 1 << 2;
export const MP_TRIGGER_LEVEL = 3 << 2;
/** PCI interrupts: level-triggered, active low. */
export const MP_FLAGS_PCI = MP_POLARITY_LOW | MP_TRIGGER_LEVEL; // 0x0f

export const MP_ADDRESS_IO = 0;
export const MP_ADDRESS_MEMORY = 1;
export const MP_ADDRESS_PREFETCH = 2;

/** Local APIC version reported per processor: the emulated LAPIC's (0x14). */
export const MP_LAPIC_VERSION = APIC_VERSION_ID;
/** I/O APIC version: the emulated 82093AA's (0x11). */
export const MP_IOAPIC_VERSION = IOAPIC_VERSION;
export const MP_DEFAULT_LAPIC_ADDR = APIC_DEFAULT_BASE;
export const MP_DEFAULT_IOAPIC_ADDR = IOAPIC_DEFAULT_BASE;

/** BIOS ROM area scanned for the floating pointer. */
export const MP_BIOS_AREA_START = 0xf0000;
export const MP_BIOS_AREA_END = 0x100000;
/** Default top of base memory (640 KiB): its last KiB is also scanned. */
export const MP_BASE_MEMORY_END = 0xa0000;

export interface IsaIrq {
  /** ISA IRQ number (source bus IRQ), 0-15. */
  readonly irq: number;
  /** I/O APIC input (INTIN#). */
  readonly pin: number;
  /** Interrupt flags (polarity | trigger); default 0 = conforms to the ISA bus (edge, active high). */
  readonly flags?: number;
}

export interface PciIrq {
  /** PCI device number on bus 0, 0-31. */
  readonly device: number;
  /** Interrupt pin: 0 = INTA# ... 3 = INTD#. */
  readonly intPin: number;
  /** I/O APIC input (INTIN#). */
  readonly pin: number;
  /** Interrupt flags; default MP_FLAGS_PCI (level, active low). */
  readonly flags?: number;
}

export interface AddressSpaceMapping {
  readonly busId: number;
  /** MP_ADDRESS_IO, MP_ADDRESS_MEMORY or MP_ADDRESS_PREFETCH. */
  readonly type: number;
  readonly base: number;
  readonly length: number;
}

/** PC ISA routing: IRQ 0 → INTIN2 (the timer override), IRQ 1, 3-15 identity; IRQ 2 is the 8259 cascade. */
export const DEFAULT_ISA_IRQS: readonly IsaIrq[] = Object.freeze(
  [0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15].map((irq) => Object.freeze({ irq, pin: irq === 0 ? 2 : irq })),
);

export interface MpTableOptions {
  /** Number of processors; default 1. */
  readonly cpus?: number;
  /** Local APIC ID of the first (bootstrap) processor; the others follow. Default 0. */
  readonly apicId?: number;
  /** Local APIC address in the header; default 0xFEE00000. */
  readonly lapicAddr?: number;
  readonly ioapicId: number;
  /** Default 0xFEC00000. */
  readonly ioapicAddr?: number;
  /** Default DEFAULT_ISA_IRQS. */
  readonly isaIrqs?: readonly IsaIrq[];
  /** Include a PCI bus (ID 0); default true. */
  readonly pci?: boolean;
  readonly pciIrqs?: readonly PciIrq[];
  /** Extended entries (type 128); default none. */
  readonly addressSpaces?: readonly AddressSpaceMapping[];
  /** Up to 8 ASCII characters, space-padded; default "HVTRACE". */
  readonly oemId?: string;
  /** Up to 12 ASCII characters, space-padded; default "HVTRACE VM". */
  readonly productId?: string;
  /** CPU signature per processor; default CPUID.01H:EAX of this silicon. */
  readonly cpuSignature?: number;
  /** Feature flags per processor; default CPUID.01H:EDX of this silicon. */
  readonly cpuFeatures?: number;
  /** Where the configuration table goes; default right after the floating pointer. */
  readonly tableAt?: number;
  /** Top of base memory, for the placement check of the floating pointer; default 0xA0000. */
  readonly baseMemoryEnd?: number;
}

export interface MpTableLayout {
  readonly floatingPointer: number;
  readonly table: number;
  /** Base table length (header + base entries). */
  readonly baseLength: number;
  readonly extendedLength: number;
  readonly entryCount: number;
  /** -1 when there is no PCI bus. */
  readonly pciBusId: number;
  readonly isaBusId: number;
  /** First byte after the configuration table. */
  readonly end: number;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

function checkInt(v: number, lo: number, hi: number, what: string): void {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new MpTableError(`${what} must be an integer ${lo}-${hi}, got ${v}`);
}

function ascii(s: string, len: number, what: string): Uint8Array {
  if (s.length > len || !/^[\x20-\x7e]*$/.test(s)) throw new MpTableError(`${what} must be at most ${len} printable ASCII characters, got ${JSON.stringify(s)}`);
  const out = new Uint8Array(len).fill(0x20);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** The byte that makes `bytes[from, to)` sum to 0 modulo 256 when stored in it (which must hold 0). */
function checksum(bytes: Uint8Array, from: number, to: number): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum = (sum + bytes[i]!) & 0xff;
  return (0x100 - sum) & 0xff;
}

/**
 * Writes the MP floating pointer at `at` and the configuration table (at
 * `opts.tableAt`, default at + 16). Everything is validated before memory is
 * touched, so an error leaves memory unchanged.
 */
export function writeMpTable(mem: PhysMem, at: number, opts: MpTableOptions): MpTableLayout {
  const cpus = opts.cpus ?? 1;
  const apicId = opts.apicId ?? 0;
  const lapicAddr = opts.lapicAddr ?? MP_DEFAULT_LAPIC_ADDR;
  const ioapicAddr = opts.ioapicAddr ?? MP_DEFAULT_IOAPIC_ADDR;
  const isaIrqs = opts.isaIrqs ?? DEFAULT_ISA_IRQS;
  const pci = opts.pci ?? true;
  const pciIrqs = opts.pciIrqs ?? [];
  const spaces = opts.addressSpaces ?? [];
  const cpuid1 = siliconCpuid(1, 0);
  const signature = opts.cpuSignature ?? cpuid1.eax >>> 0;
  const features = opts.cpuFeatures ?? cpuid1.edx >>> 0;
  const baseMemoryEnd = opts.baseMemoryEnd ?? MP_BASE_MEMORY_END;

  checkInt(cpus, 1, 255, 'CPU count');
  checkInt(apicId, 0, 0xff - (cpus - 1), 'first local APIC ID');
  checkInt(opts.ioapicId, 0, 0xff, 'I/O APIC ID');
  checkInt(lapicAddr, 0, 0xffffffff, 'local APIC address');
  checkInt(ioapicAddr, 0, 0xffffffff, 'I/O APIC address');
  checkInt(signature, 0, 0xffffffff, 'CPU signature');
  checkInt(features, 0, 0xffffffff, 'CPU feature flags');
  checkInt(baseMemoryEnd, 0x400, 0xa0000, 'base memory end');
  if (pciIrqs.length > 0 && !pci) throw new MpTableError('PCI IRQ routing given but the PCI bus is disabled (pci: false)');
  isaIrqs.forEach((r, i) => {
    checkInt(r.irq, 0, 15, `ISA IRQ entry ${i} irq`);
    checkInt(r.pin, 0, 0xff, `ISA IRQ entry ${i} I/O APIC pin`);
    checkInt(r.flags ?? 0, 0, 0xffff, `ISA IRQ entry ${i} flags`);
  });
  pciIrqs.forEach((r, i) => {
    checkInt(r.device, 0, 31, `PCI IRQ entry ${i} device`);
    checkInt(r.intPin, 0, 3, `PCI IRQ entry ${i} interrupt pin`);
    checkInt(r.pin, 0, 0xff, `PCI IRQ entry ${i} I/O APIC pin`);
    checkInt(r.flags ?? MP_FLAGS_PCI, 0, 0xffff, `PCI IRQ entry ${i} flags`);
  });
  spaces.forEach((s, i) => {
    checkInt(s.busId, 0, 0xff, `address space entry ${i} bus ID`);
    checkInt(s.type, 0, 2, `address space entry ${i} type`);
    checkInt(s.base, 0, Number.MAX_SAFE_INTEGER, `address space entry ${i} base`);
    checkInt(s.length, 0, Number.MAX_SAFE_INTEGER, `address space entry ${i} length`);
  });
  const oem = ascii(opts.oemId ?? 'HVTRACE', 8, 'OEM ID');
  const product = ascii(opts.productId ?? 'HVTRACE VM', 12, 'product ID');

  // Placement (spec 4: the floating pointer on a 16-byte boundary in a scanned area).
  checkInt(at, 0, 0xffffffff, 'floating pointer address');
  if (at % 16 !== 0) throw new MpTableError(`floating pointer address ${hex(at)} is not 16-byte aligned`);
  const inBios = at >= MP_BIOS_AREA_START && at + MP_FLOATING_SIZE <= MP_BIOS_AREA_END;
  const inBaseTop = at >= baseMemoryEnd - 0x400 && at + MP_FLOATING_SIZE <= baseMemoryEnd;
  if (!inBios && !inBaseTop) {
    throw new MpTableError(`floating pointer address ${hex(at)} is neither in the BIOS area ${hex(MP_BIOS_AREA_START)}-${hex(MP_BIOS_AREA_END - 1)} nor in the last KiB of base memory ${hex(baseMemoryEnd - 0x400)}-${hex(baseMemoryEnd - 1)}`);
  }
  const tableAt = opts.tableAt ?? at + MP_FLOATING_SIZE;
  checkInt(tableAt, 0, 0xffffffff, 'configuration table address');

  const pciBusId = pci ? 0 : -1;
  const isaBusId = pci ? 1 : 0;
  const busCount = pci ? 2 : 1;
  const intEntries = isaIrqs.length + pciIrqs.length + 2;
  const entryCount = cpus + busCount + 1 + intEntries;
  const baseLength = MP_HEADER_SIZE + cpus * MP_PROCESSOR_ENTRY_SIZE + (busCount + 1 + intEntries) * MP_ENTRY_SIZE;
  const extendedLength = spaces.length * MP_EXT_ADDRESS_SPACE_SIZE;
  if (baseLength > 0xffff || extendedLength > 0xffff) throw new MpTableError('MP configuration table is too large');
  const tableLength = baseLength + extendedLength;
  const end = tableAt + tableLength;
  if (tableAt < at + MP_FLOATING_SIZE && end > at) {
    throw new MpTableError(`configuration table ${hex(tableAt)}-${hex(end - 1)} overlaps the floating pointer at ${hex(at)}`);
  }
  if (at + MP_FLOATING_SIZE > mem.size || end > mem.size) {
    throw new MpTableError(`MP tables at ${hex(at)} and ${hex(tableAt)}-${hex(end - 1)} do not fit in guest memory (${hex(mem.size)})`);
  }

  // Configuration table.
  const t = new Uint8Array(tableLength);
  const dv = new DataView(t.buffer);
  for (let i = 0; i < 4; i++) t[i] = MP_CONFIG_SIGNATURE.charCodeAt(i);
  dv.setUint16(4, baseLength, true);
  t[6] = MP_SPEC_REV_1_4;
  t.set(oem, 8);
  t.set(product, 16);
  dv.setUint32(28, 0, true);
  dv.setUint16(32, 0, true);
  dv.setUint16(34, entryCount, true);
  dv.setUint32(36, lapicAddr, true);
  dv.setUint16(40, extendedLength, true);

  let p = MP_HEADER_SIZE;
  for (let i = 0; i < cpus; i++) {
    t[p] = MP_ENTRY_PROCESSOR;
    t[p + 1] = apicId + i;
    t[p + 2] = MP_LAPIC_VERSION;
    t[p + 3] = MP_CPU_ENABLED | (i === 0 ? MP_CPU_BSP : 0);
    dv.setUint32(p + 4, signature, true);
    dv.setUint32(p + 8, features, true);
    p += MP_PROCESSOR_ENTRY_SIZE;
  }
  const bus = (id: number, name: string): void => {
    t[p] = MP_ENTRY_BUS;
    t[p + 1] = id;
    t.set(ascii(name, 6, 'bus type'), p + 2);
    p += MP_ENTRY_SIZE;
  };
  if (pci) bus(pciBusId, 'PCI');
  bus(isaBusId, 'ISA');
  t[p] = MP_ENTRY_IOAPIC;
  t[p + 1] = opts.ioapicId;
  t[p + 2] = MP_IOAPIC_VERSION;
  t[p + 3] = MP_IOAPIC_ENABLED;
  dv.setUint32(p + 4, ioapicAddr, true);
  p += MP_ENTRY_SIZE;
  const intr = (type: number, kind: number, flags: number, srcBus: number, srcIrq: number, dstId: number, dstPin: number): void => {
    t[p] = type;
    t[p + 1] = kind;
    dv.setUint16(p + 2, flags, true);
    t[p + 4] = srcBus;
    t[p + 5] = srcIrq;
    t[p + 6] = dstId;
    t[p + 7] = dstPin;
    p += MP_ENTRY_SIZE;
  };
  for (const r of isaIrqs) intr(MP_ENTRY_IO_INTERRUPT, MP_INT, r.flags ?? 0, isaBusId, r.irq, opts.ioapicId, r.pin);
  for (const r of pciIrqs) intr(MP_ENTRY_IO_INTERRUPT, MP_INT, r.flags ?? MP_FLAGS_PCI, pciBusId, (r.device << 2) | r.intPin, opts.ioapicId, r.pin);
  intr(MP_ENTRY_LOCAL_INTERRUPT, MP_EXTINT, 0, isaBusId, 0, 0xff, 0);
  intr(MP_ENTRY_LOCAL_INTERRUPT, MP_NMI, 0, isaBusId, 0, 0xff, 1);
  if (p !== baseLength) throw new Error(`internal: MP base table length ${p} !== ${baseLength}`);

  for (const s of spaces) {
    t[p] = MP_EXT_ADDRESS_SPACE;
    t[p + 1] = MP_EXT_ADDRESS_SPACE_SIZE;
    t[p + 2] = s.busId;
    t[p + 3] = s.type;
    dv.setUint32(p + 4, s.base >>> 0, true);
    dv.setUint32(p + 8, Math.floor(s.base / 4294967296), true);
    dv.setUint32(p + 12, s.length >>> 0, true);
    dv.setUint32(p + 16, Math.floor(s.length / 4294967296), true);
    p += MP_EXT_ADDRESS_SPACE_SIZE;
  }

  // The extended checksum lives in the header, so it goes in before the base checksum.
  t[42] = extendedLength === 0 ? 0 : checksum(t, baseLength, tableLength);
  t[7] = checksum(t, 0, baseLength);

  // Floating pointer.
  const f = new Uint8Array(MP_FLOATING_SIZE);
  for (let i = 0; i < 4; i++) f[i] = MP_FLOATING_SIGNATURE.charCodeAt(i);
  new DataView(f.buffer).setUint32(4, tableAt, true);
  f[8] = 1;
  f[9] = MP_SPEC_REV_1_4;
  f[11] = 0; // feature 1: configuration table present
  f[12] = 0; // feature 2: IMCRP = 0, virtual-wire mode
  f[10] = checksum(f, 0, MP_FLOATING_SIZE);

  mem.writeBytes(at, f);
  mem.writeBytes(tableAt, t);
  return { floatingPointer: at, table: tableAt, baseLength, extendedLength, entryCount, pciBusId, isaBusId, end };
}
