/**
 * ACPI firmware tables, written into guest memory the way PC firmware does:
 * RSDP → XSDT (and RSDT) → FADT (→ FACS, DSDT) and MADT. Section and table
 * numbers are those of the ACPI Specification 6.4 (uefi.org).
 *
 * What the tables describe (one place: `AcpiConfig`, built by
 * core/hv/platform.ts from the same constants that wire the devices):
 *  - FADT (5.2.9): a full (not hardware-reduced) x86 PC. PM1a event block,
 *    PM1a control block and a 32-bit PM timer on I/O ports
 *    (core/devices/acpi-pm.ts), SCI on ISA IRQ 9, no GPE blocks, no
 *    SMI_CMD (ACPI mode is always on, 5.2.9 "SMI_CMD ... zero if the system
 *    does not support System Management mode"), power and sleep buttons as
 *    control-method devices (none exist), IA-PC boot flags: legacy devices
 *    and an 8042, no VGA, CMOS RTC present.
 *  - MADT (5.2.12): one enabled processor local APIC, the I/O APIC with GSI
 *    base 0, the interrupt source overrides of the PC wiring (ISA IRQ 0 →
 *    GSI 2; IRQ 9, the SCI, level-triggered active-high), and the LINT1 NMI
 *    of virtual-wire mode; PCAT_COMPAT (the 8259 pair is present).
 *  - DSDT (5.2.11.1): hand-assembled AML (grammar: chapter 20) holding
 *    `\_S5` (the S5 soft-off SLP_TYP value, 7.4.2) and `\_SB.PCI0`, the PCI
 *    host bridge (PNP0A03) with its `_PRT` (6.2.13) routing PCI INTx pins
 *    to GSIs, the same routing the MP table gives.
 *  - FACS (5.2.10): no waking vector, no global lock use.
 *
 * Layout from `base` (16-byte aligned, FACS 64-byte aligned), in the BIOS
 * area Linux scans for "RSD PTR " (5.2.5.1: 16-byte boundaries of
 * 0xE0000-0xFFFFF): RSDP, XSDT, RSDT, FADT, FACS, MADT, DSDT. Every table's
 * checksum makes its bytes sum to 0 mod 256 (5.2.6); the RSDP has two
 * (first 20 bytes, all 36 bytes; 5.2.5.3).
 */
import type { PhysMem } from '../memory/physmem.js';
import { RTC_CENTURY } from '../devices/cmos-rtc.js';

export class AcpiError extends Error {
  override readonly name = 'AcpiError';
}

// --- Signatures and sizes -------------------------------------------------

export const RSDP_SIGNATURE = 'RSD PTR ';
/** RSDP of ACPI 2.0+ (revision 2), Table 5.3: 36 bytes. */
export const RSDP_SIZE = 36;
export const RSDP_REVISION = 2;
/** System description table header, Table 5.4. */
export const HEADER_SIZE = 36;
/** FADT major version 6 (ACPI 6.x), Table 5.9: 276 bytes; minor version 4 (6.4). */
export const FADT_REVISION = 6;
export const FADT_MINOR_REVISION = 4;
export const FADT_SIZE = 276;
/** FACS, Table 5.14: 64 bytes, version 2, 64-byte aligned. */
export const FACS_SIZE = 64;
export const FACS_VERSION = 2;
/** MADT revision of ACPI 6.4 (5.2.12, Table 5.19). */
export const MADT_REVISION = 5;
/** DSDT revision 2: integers are 64 bits wide (5.2.11.1, Table 5.17). */
export const DSDT_REVISION = 2;
export const XSDT_REVISION = 1;
export const RSDT_REVISION = 1;

export const OEM_ID = 'HVTRAC';
export const OEM_TABLE_ID = 'HVTRACE ';
export const OEM_REVISION = 1;
export const CREATOR_ID = 'HVTR';
export const CREATOR_REVISION = 1;

// --- FADT fields (Table 5.9) ----------------------------------------------

/** Fixed feature flags (Table 5.10). */
export const FADT_F_WBINVD = 1 << 0;
export const FADT_F_PROC_C1 = 1 << 2;
/** 1: the power button is a control-method device (or absent), not the fixed feature. */
export const FADT_F_PWR_BUTTON = 1 << 4;
export const FADT_F_SLP_BUTTON = 1 << 5;
/** 1: the PM timer is 32 bits wide (else 24). */
export const FADT_F_TMR_VAL_EXT = 1 << 8;
export const FADT_F_HW_REDUCED_ACPI = 1 << 20;
/** IA-PC boot architecture flags (5.2.9.3, Table 5.11). */
export const IAPC_LEGACY_DEVICES = 1 << 0;
export const IAPC_8042 = 1 << 1;
export const IAPC_VGA_NOT_PRESENT = 1 << 2;
export const IAPC_MSI_NOT_SUPPORTED = 1 << 3;
export const IAPC_PCIE_ASPM_CONTROLS = 1 << 4;
export const IAPC_CMOS_RTC_NOT_PRESENT = 1 << 5;
/** P_LVL2_LAT > 100 and P_LVL3_LAT > 1000: C2 and C3 not supported (Table 5.9). */
export const P_LVL2_LAT_NONE = 101;
export const P_LVL3_LAT_NONE = 1001;
/** Generic Address Structure (5.2.3.2, Table 5.1): 12 bytes; address space 1 = system I/O; access sizes. */
export const GAS_SIZE = 12;
export const GAS_SYSTEM_IO = 1;
export const GAS_ACCESS_WORD = 2;
export const GAS_ACCESS_DWORD = 3;

// --- MADT (5.2.12) --------------------------------------------------------

/** MADT flags: PCAT_COMPAT, a dual-8259 setup is also present (Table 5.20). */
export const MADT_PCAT_COMPAT = 1 << 0;
/** Interrupt controller structure types (Table 5.21) and lengths. */
export const MADT_LOCAL_APIC = 0;
export const MADT_IO_APIC = 1;
export const MADT_INT_SOURCE_OVERRIDE = 2;
export const MADT_LOCAL_APIC_NMI = 4;
export const MADT_LOCAL_APIC_LEN = 8; // 5.2.12.2, Table 5.22
export const MADT_IO_APIC_LEN = 12; // 5.2.12.3, Table 5.24
export const MADT_ISO_LEN = 10; // 5.2.12.5, Table 5.25
export const MADT_LOCAL_APIC_NMI_LEN = 6; // 5.2.12.7, Table 5.28
/** Local APIC flags: Enabled (Table 5.23). */
export const MADT_LAPIC_ENABLED = 1 << 0;
/** MPS INTI flags (Table 5.26): polarity bits 1:0, trigger mode bits 3:2. */
export const MPS_INTI_POLARITY_CONFORMS = 0;
export const MPS_INTI_POLARITY_HIGH = 1;
export const MPS_INTI_POLARITY_LOW = 3;
export const MPS_INTI_TRIGGER_CONFORMS = 0 << 2;
export const MPS_INTI_TRIGGER_EDGE = 1 << 2;
export const MPS_INTI_TRIGGER_LEVEL = 3 << 2;

// --- AML (chapter 20, 20.2 AML grammar) ------------------------------------

export const AML_ZERO_OP = 0x00; // 20.2.3 ZeroOp
export const AML_ONE_OP = 0x01; // 20.2.3 OneOp
export const AML_NAME_OP = 0x08; // 20.2.5.1 DefName := NameOp NameString DataRefObject
export const AML_BYTE_PREFIX = 0x0a; // 20.2.3 ByteConst := BytePrefix ByteData
export const AML_WORD_PREFIX = 0x0b; // WordConst := WordPrefix WordData
export const AML_DWORD_PREFIX = 0x0c; // DWordConst := DWordPrefix DWordData
export const AML_SCOPE_OP = 0x10; // 20.2.5.1 DefScope := ScopeOp PkgLength NameString TermList
export const AML_PACKAGE_OP = 0x12; // 20.2.5.4 DefPackage := PackageOp PkgLength NumElements PackageElementList
export const AML_EXT_OP_PREFIX = 0x5b;
export const AML_DEVICE_OP = 0x82; // 20.2.5.2 DefDevice := DeviceOp(0x5B 0x82) PkgLength NameString TermList
export const AML_ROOT_CHAR = 0x5c; // 20.2.2 RootChar '\'
export const AML_BUFFER_OP = 0x11; // 20.2.5.4 DefBuffer := BufferOp PkgLength BufferSize ByteList

// Resource descriptors of _CRS (6.4, "Resource Data Types for ACPI").
export const RD_IO_PORT = 0x47; // 6.4.2.5 I/O Port Descriptor (small, 8 bytes)
export const RD_END_TAG = 0x79; // 6.4.2.9 End Tag (small, 2 bytes)
export const RD_DWORD_ADDRESS = 0x87; // 6.4.3.5.2 DWord Address Space Descriptor (large, 26 bytes)
export const RD_WORD_ADDRESS = 0x88; // 6.4.3.5.3 Word Address Space Descriptor (large, 16 bytes)
/** Address space resource types (6.4.3.5, Table 6.44): memory, I/O, bus number. */
export const RD_TYPE_MEMORY = 0;
export const RD_TYPE_IO = 1;
export const RD_TYPE_BUS = 2;
/** General flags (Table 6.44): _MAF (bit 3) and _MIF (bit 2) fixed; bit 0 clear = the bridge produces the range. */
export const RD_FLAGS_PRODUCER_FIXED = 0x0c;
/** I/O type-specific flags: _RNG = 3, the entire range (ISA and non-ISA). */
export const RD_IO_ENTIRE_RANGE = 0x03;
/** Memory type-specific flags: _RW = 1 read-write, _MEM = 0 non-cacheable. */
export const RD_MEM_RW_UNCACHED = 0x01;

/** The PCI host bridge's windows: what the root bus decodes (its _CRS). */
export const PCI_IO_WINDOWS: readonly (readonly [number, number])[] = [[0x0000, 0x0cf7], [0x0d00, 0xffff]];
/** 32-bit PCI memory window: from the top of the largest RAM (3 GiB, core/boot/pvh.ts MAX_DEFAULT_RAM) to below the I/O APIC. */
export const PCI_MEM_WINDOW: readonly [number, number] = [0xc000_0000, 0xfebf_ffff];

/** The SLP_TYP value PM1a_CNT takes for S5 (soft off): platform-defined (4.8.3.2.1), stated by `\_S5` and decoded by core/devices/acpi-pm.ts. */
export const S5_SLP_TYP = 5;

export interface AcpiIsaOverride {
  /** ISA IRQ (bus-relative source). */
  readonly irq: number;
  readonly gsi: number;
  /** MPS INTI flags (polarity | trigger). */
  readonly flags: number;
}
export interface AcpiPciIrq {
  /** Device number on PCI bus 0. */
  readonly device: number;
  /** 0 = INTA# ... 3 = INTD#. */
  readonly intPin: number;
  readonly gsi: number;
}

export interface AcpiConfig {
  /** Where the RSDP goes (16-byte aligned); the other tables follow it. */
  readonly base: number;
  /** First byte the tables must not reach. */
  readonly limit: number;
  readonly lapicAddr: number;
  readonly lapicId: number;
  readonly ioapicId: number;
  readonly ioapicAddr: number;
  /** I/O ports of the PM1a event block (4 bytes), PM1a control block (2) and PM timer (4). */
  readonly pm1aEvtBlk: number;
  readonly pm1aCntBlk: number;
  readonly pmTmrBlk: number;
  /** ISA IRQ of the SCI. */
  readonly sciIrq: number;
  readonly isaOverrides: readonly AcpiIsaOverride[];
  readonly pciIrqs: readonly AcpiPciIrq[];
}

export interface AcpiTableInfo {
  readonly signature: string;
  readonly addr: number;
  readonly length: number;
}
export interface AcpiLayout {
  readonly rsdp: number;
  /** The tables in placement order (RSDP excluded). */
  readonly tables: readonly AcpiTableInfo[];
  /** First byte after the last table. */
  readonly end: number;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/** Bytes with little-endian writers, growing as needed. */
class Buf {
  b = new Uint8Array(256);
  n = 0;
  private grow(k: number): void {
    if (this.n + k <= this.b.length) return;
    const nb = new Uint8Array(Math.max(this.b.length * 2, this.n + k));
    nb.set(this.b);
    this.b = nb;
  }
  u8(v: number): this { this.grow(1); this.b[this.n++] = v & 0xff; return this; }
  u16(v: number): this { return this.u8(v).u8(v >>> 8); }
  u32(v: number): this { return this.u16(v & 0xffff).u16(v >>> 16); }
  /** A u64 below 2^53 (addresses here are below 4 GiB). */
  u64(v: number): this { return this.u32(v % 0x1_0000_0000).u32(Math.floor(v / 0x1_0000_0000)); }
  ascii(s: string, len: number): this {
    for (let i = 0; i < len; i++) this.u8(i < s.length ? s.charCodeAt(i) : 0x20);
    return this;
  }
  bytes(a: ArrayLike<number>): this { for (let i = 0; i < a.length; i++) this.u8(a[i]!); return this; }
  zeros(k: number): this { for (let i = 0; i < k; i++) this.u8(0); return this; }
  done(): Uint8Array { return this.b.slice(0, this.n); }
}

/** The byte that makes `b[from, to)` sum to 0 mod 256 when stored at `at` (which holds 0 when summed). */
export function checksumByte(b: Uint8Array, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) s = (s + b[i]!) & 0xff;
  return (0x100 - s) & 0xff;
}

/** A table: header (Table 5.4) + body, length and checksum filled in. */
function table(signature: string, revision: number, body: Uint8Array): Uint8Array {
  const h = new Buf()
    .ascii(signature, 4) // +0 Signature
    .u32(HEADER_SIZE + body.length) // +4 Length (whole table)
    .u8(revision) // +8 Revision
    .u8(0) // +9 Checksum (below)
    .ascii(OEM_ID, 6) // +10 OEMID
    .ascii(OEM_TABLE_ID, 8) // +16 OEM Table ID
    .u32(OEM_REVISION) // +24 OEM Revision
    .ascii(CREATOR_ID, 4) // +28 Creator ID
    .u32(CREATOR_REVISION) // +32 Creator Revision
    .bytes(body)
    .done();
  h[9] = checksumByte(h, 0, h.length);
  return h;
}

/** Generic Address Structure (5.2.3.2) of an I/O port block. */
function gasIo(port: number, bytes: number, access: number): Uint8Array {
  return new Buf()
    .u8(GAS_SYSTEM_IO) // Address Space ID
    .u8(bytes * 8) // Register Bit Width
    .u8(0) // Register Bit Offset
    .u8(access) // Access Size
    .u64(port) // Address
    .done();
}

// --- AML encoders (20.2) ---------------------------------------------------

/**
 * PkgLength (20.2.4) of a package whose contents (after the PkgLength) are
 * `contentLen` bytes: the encoded value counts its own bytes too. One byte
 * (bits 5:0) up to 63; otherwise bits 7:6 of the lead byte give the number
 * of following bytes, its bits 3:0 the low nibble, each following byte the
 * next 8 bits.
 */
export function amlPkgLength(contentLen: number): number[] {
  if (contentLen + 1 <= 0x3f) return [contentLen + 1];
  for (let extra = 1; extra <= 3; extra++) {
    const total = contentLen + 1 + extra;
    if (total < 2 ** (4 + 8 * extra)) {
      const out = [(extra << 6) | (total & 0x0f)];
      for (let k = 0; k < extra; k++) out.push((total >>> (4 + 8 * k)) & 0xff);
      return out;
    }
  }
  throw new AcpiError(`AML package of ${contentLen} bytes is longer than PkgLength can encode (2^28)`);
}
/** NameSeg (20.2.2): 4 characters, lead A-Z or '_', then A-Z, 0-9 or '_'; shorter names padded with '_'. */
export function amlNameSeg(s: string): number[] {
  if (!/^[A-Z_][A-Z0-9_]{0,3}$/.test(s)) throw new AcpiError(`bad AML NameSeg ${JSON.stringify(s)}`);
  const p = s.padEnd(4, '_');
  return [...p].map((c) => c.charCodeAt(0));
}
/** ComputationalData integer (20.2.3): ZeroOp, OneOp or the smallest of Byte/Word/DWordConst. */
export function amlInteger(v: number): number[] {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new AcpiError(`AML integer out of range: ${v}`);
  if (v === 0) return [AML_ZERO_OP];
  if (v === 1) return [AML_ONE_OP];
  if (v <= 0xff) return [AML_BYTE_PREFIX, v];
  if (v <= 0xffff) return [AML_WORD_PREFIX, v & 0xff, v >>> 8];
  return [AML_DWORD_PREFIX, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
}
/** EISAID("PNP0A03") (19.6.35): three 5-bit letters and a 16-bit product, stored big-endian as a DWordConst. */
export function amlEisaId(id: string): number[] {
  if (!/^[A-Z]{3}[0-9A-F]{4}$/.test(id)) throw new AcpiError(`bad EISA ID ${JSON.stringify(id)}`);
  const l = (i: number): number => id.charCodeAt(i) - 0x40;
  const vendor = (l(0) << 10) | (l(1) << 5) | l(2);
  const product = parseInt(id.slice(3), 16);
  return [AML_DWORD_PREFIX, vendor >>> 8, vendor & 0xff, product >>> 8, product & 0xff];
}
/** DefName (20.2.5.1): NameOp NameString DataRefObject. */
export function amlName(seg: string, data: number[]): number[] {
  return [AML_NAME_OP, ...amlNameSeg(seg), ...data];
}
/** DefPackage (20.2.5.4): PackageOp PkgLength NumElements(ByteData) PackageElementList. */
export function amlPackage(elements: number[][]): number[] {
  if (elements.length > 0xff) throw new AcpiError('AML package with more than 255 elements');
  const content = [elements.length, ...elements.flat()];
  return [AML_PACKAGE_OP, ...amlPkgLength(content.length), ...content];
}
/** DefScope (20.2.5.1) of a root-relative single-segment path: ScopeOp PkgLength '\' NameSeg TermList. */
export function amlScopeRoot(seg: string, body: number[]): number[] {
  const content = [AML_ROOT_CHAR, ...amlNameSeg(seg), ...body];
  return [AML_SCOPE_OP, ...amlPkgLength(content.length), ...content];
}
/** DefDevice (20.2.5.2): ExtOpPrefix DeviceOp PkgLength NameString TermList. */
export function amlDevice(seg: string, body: number[]): number[] {
  const content = [...amlNameSeg(seg), ...body];
  return [AML_EXT_OP_PREFIX, AML_DEVICE_OP, ...amlPkgLength(content.length), ...content];
}

/** DefBuffer (20.2.5.4): BufferOp PkgLength BufferSize(Integer) ByteList. */
export function amlBuffer(bytes: number[]): number[] {
  const content = [...amlInteger(bytes.length), ...bytes];
  return [AML_BUFFER_OP, ...amlPkgLength(content.length), ...content];
}
const le16 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff];
const le32 = (v: number): number[] => [...le16(v & 0xffff), ...le16(v >>> 16)];

/**
 * The host bridge's _CRS resource template (6.2.2, 6.4):
 *   WordBusNumber (ResourceProducer, MinFixed, MaxFixed, , 0, 0x00, 0xFF, 0, 0x100)
 *   IO (Decode16, 0x0CF8, 0x0CF8, 1, 8)                 // configuration mechanism #1, consumed
 *   WordIO (ResourceProducer, MinFixed, MaxFixed, , EntireRange, 0, 0x0000, 0x0CF7, 0, 0x0CF8)
 *   WordIO (ResourceProducer, MinFixed, MaxFixed, , EntireRange, 0, 0x0D00, 0xFFFF, 0, 0xF300)
 *   DWordMemory (ResourceProducer, , MinFixed, MaxFixed, NonCacheable, ReadWrite, 0, 0xC0000000, 0xFEBFFFFF, 0, 0x3EC00000)
 *   EndTag (checksum 0: "treated as if the checksum is valid", 6.4.2.9)
 */
export function pciRootCrs(): number[] {
  const word = (type: number, typeFlags: number, min: number, max: number): number[] =>
    [RD_WORD_ADDRESS, ...le16(13), type, RD_FLAGS_PRODUCER_FIXED, typeFlags, ...le16(0), ...le16(min), ...le16(max), ...le16(0), ...le16(max - min + 1)];
  const dword = (type: number, typeFlags: number, min: number, max: number): number[] =>
    [RD_DWORD_ADDRESS, ...le16(23), type, RD_FLAGS_PRODUCER_FIXED, typeFlags, ...le32(0), ...le32(min), ...le32(max), ...le32(0), ...le32(max - min + 1)];
  return [
    ...word(RD_TYPE_BUS, 0, 0x00, 0xff),
    RD_IO_PORT, 0x01, ...le16(0xcf8), ...le16(0xcf8), 1, 8,
    ...PCI_IO_WINDOWS.flatMap(([a, b]) => word(RD_TYPE_IO, RD_IO_ENTIRE_RANGE, a, b)),
    ...dword(RD_TYPE_MEMORY, RD_MEM_RW_UNCACHED, PCI_MEM_WINDOW[0], PCI_MEM_WINDOW[1]),
    RD_END_TAG, 0x00,
  ];
}

/**
 * The DSDT's definition block, in ASL terms:
 *
 *   Name (\_S5, Package (4) { 5, 0, 0, 0 })     // SLP_TYPa = 5, SLP_TYPb (no PM1b), reserved
 *   Scope (\_SB) {
 *     Device (PCI0) {
 *       Name (_HID, EisaId ("PNP0A03"))           // PCI host bridge
 *       Name (_UID, 0)
 *       Name (_CRS, ResourceTemplate () { ... })    // bus 0-255, I/O and memory windows (pciRootCrs)
 *       Name (_PRT, Package () {                   // 6.2.13: {Address, Pin, Source, Source Index}
 *         Package () { 0x0001FFFF, 0, 0, 11 },    //   device 1 (any function), INTA#, GSI 11
 *       })
 *     }
 *   }
 *
 * Encoded, e.g. `\_S5`: 08 '_S5_' 12 07 04 0A 05 00 00 00 — NameOp, the
 * NameSeg, PackageOp, PkgLength 7 (itself + 6 bytes), NumElements 4,
 * BytePrefix 5, ZeroOp ×3. A Source of Zero in a _PRT entry means the
 * Source Index is a global system interrupt.
 */
export function dsdtAml(pciIrqs: readonly AcpiPciIrq[]): Uint8Array {
  const s5 = amlName('_S5', amlPackage([amlInteger(S5_SLP_TYP), amlInteger(0), amlInteger(0), amlInteger(0)]));
  const prt = amlName('_PRT', amlPackage(pciIrqs.map((r) => amlPackage([
    amlInteger(((r.device << 16) | 0xffff) >>> 0), amlInteger(r.intPin), amlInteger(0), amlInteger(r.gsi),
  ]))));
  const pci0 = amlDevice('PCI0', [...amlName('_HID', amlEisaId('PNP0A03')), ...amlName('_UID', amlInteger(0)), ...amlName('_CRS', amlBuffer(pciRootCrs())), ...prt]);
  return Uint8Array.from([...s5, ...amlScopeRoot('_SB', pci0)]);
}

function checkInt(v: number, lo: number, hi: number, what: string): void {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new AcpiError(`${what} must be an integer ${hex(lo)}-${hex(hi)}, got ${v}`);
}

/**
 * Builds the tables for `cfg` as one image to be copied to `cfg.base`.
 * Validates everything first; nothing is written to memory here.
 */
export function buildAcpiTables(cfg: AcpiConfig): { image: Uint8Array; layout: AcpiLayout } {
  checkInt(cfg.base, 0, 0xffffffff, 'ACPI base');
  if (cfg.base % 16 !== 0) throw new AcpiError(`RSDP address ${hex(cfg.base)} must be 16-byte aligned (5.2.5.1)`);
  checkInt(cfg.lapicAddr, 0, 0xffffffff, 'local APIC address');
  checkInt(cfg.ioapicAddr, 0, 0xffffffff, 'I/O APIC address');
  checkInt(cfg.lapicId, 0, 0xff, 'local APIC ID');
  checkInt(cfg.ioapicId, 0, 0xff, 'I/O APIC ID');
  for (const [p, w] of [[cfg.pm1aEvtBlk, 4], [cfg.pm1aCntBlk, 2], [cfg.pmTmrBlk, 4]] as const) checkInt(p, 1, 0x10000 - w, 'PM register block port');
  checkInt(cfg.sciIrq, 0, 15, 'SCI IRQ');
  cfg.isaOverrides.forEach((o, i) => { checkInt(o.irq, 0, 15, `override ${i} IRQ`); checkInt(o.gsi, 0, 0xffffffff, `override ${i} GSI`); checkInt(o.flags, 0, 0xf, `override ${i} flags`); });
  cfg.pciIrqs.forEach((r, i) => { checkInt(r.device, 0, 31, `PCI IRQ ${i} device`); checkInt(r.intPin, 0, 3, `PCI IRQ ${i} pin`); checkInt(r.gsi, 0, 0xffffffff, `PCI IRQ ${i} GSI`); });

  const align = (a: number, k: number): number => Math.ceil(a / k) * k;
  // Placement: sizes are known up front.
  const rsdp = cfg.base;
  const xsdt = align(rsdp + RSDP_SIZE, 16);
  const nTables = 2; // FADT, MADT (the DSDT and FACS hang off the FADT)
  const rsdt = align(xsdt + HEADER_SIZE + 8 * nTables, 16);
  const fadt = align(rsdt + HEADER_SIZE + 4 * nTables, 16);
  const facs = align(fadt + FADT_SIZE, 64);
  const madt = align(facs + FACS_SIZE, 16);

  // MADT (5.2.12): header, local interrupt controller address, flags, structures.
  const mb = new Buf().u32(cfg.lapicAddr).u32(MADT_PCAT_COMPAT);
  // Processor Local APIC (5.2.12.2): type, length, ACPI processor UID, APIC ID, flags.
  mb.u8(MADT_LOCAL_APIC).u8(MADT_LOCAL_APIC_LEN).u8(0).u8(cfg.lapicId).u32(MADT_LAPIC_ENABLED);
  // I/O APIC (5.2.12.3): type, length, I/O APIC ID, reserved, address, GSI base.
  mb.u8(MADT_IO_APIC).u8(MADT_IO_APIC_LEN).u8(cfg.ioapicId).u8(0).u32(cfg.ioapicAddr).u32(0);
  // Interrupt Source Overrides (5.2.12.5): type, length, bus (0 = ISA), source IRQ, GSI, MPS INTI flags.
  for (const o of cfg.isaOverrides) mb.u8(MADT_INT_SOURCE_OVERRIDE).u8(MADT_ISO_LEN).u8(0).u8(o.irq).u32(o.gsi).u16(o.flags);
  // Local APIC NMI (5.2.12.7): type, length, ACPI processor UID (0xFF = all), flags (conforms), LINT# 1.
  mb.u8(MADT_LOCAL_APIC_NMI).u8(MADT_LOCAL_APIC_NMI_LEN).u8(0xff).u16(0).u8(1);
  const madtBytes = table('APIC', MADT_REVISION, mb.done());
  const dsdt = align(madt + madtBytes.length, 16);
  const dsdtBytes = table('DSDT', DSDT_REVISION, dsdtAml(cfg.pciIrqs));
  const end = dsdt + dsdtBytes.length;
  if (end > cfg.limit) throw new AcpiError(`ACPI tables [${hex(cfg.base)}, ${hex(end)}) run past ${hex(cfg.limit)}`);

  // FADT (5.2.9, Table 5.9); offsets in the comments.
  const fb = new Buf()
    .u32(facs) // 36 FIRMWARE_CTRL
    .u32(dsdt) // 40 DSDT
    .u8(0) // 44 reserved (ACPI 1.0 INT_MODEL)
    .u8(0) // 45 Preferred_PM_Profile: unspecified
    .u16(cfg.sciIrq) // 46 SCI_INT
    .u32(0) // 48 SMI_CMD: none (no ACPI/legacy mode transitions)
    .u8(0).u8(0).u8(0).u8(0) // 52 ACPI_ENABLE, ACPI_DISABLE, S4BIOS_REQ, PSTATE_CNT
    .u32(cfg.pm1aEvtBlk) // 56 PM1a_EVT_BLK
    .u32(0) // 60 PM1b_EVT_BLK
    .u32(cfg.pm1aCntBlk) // 64 PM1a_CNT_BLK
    .u32(0) // 68 PM1b_CNT_BLK
    .u32(0) // 72 PM2_CNT_BLK
    .u32(cfg.pmTmrBlk) // 76 PM_TMR_BLK
    .u32(0).u32(0) // 80 GPE0_BLK, 84 GPE1_BLK
    .u8(4) // 88 PM1_EVT_LEN
    .u8(2) // 89 PM1_CNT_LEN
    .u8(0) // 90 PM2_CNT_LEN
    .u8(4) // 91 PM_TMR_LEN
    .u8(0).u8(0).u8(0) // 92 GPE0_BLK_LEN, GPE1_BLK_LEN, GPE1_BASE
    .u8(0) // 95 CST_CNT
    .u16(P_LVL2_LAT_NONE) // 96 P_LVL2_LAT
    .u16(P_LVL3_LAT_NONE) // 98 P_LVL3_LAT
    .u16(0).u16(0) // 100 FLUSH_SIZE, FLUSH_STRIDE
    .u8(0).u8(0) // 104 DUTY_OFFSET, DUTY_WIDTH
    .u8(0).u8(0) // 106 DAY_ALRM, MON_ALRM
    .u8(RTC_CENTURY) // 108 CENTURY: CMOS index of the century byte (core/devices/cmos-rtc.ts)
    .u16(IAPC_LEGACY_DEVICES | IAPC_8042 | IAPC_VGA_NOT_PRESENT) // 109 IAPC_BOOT_ARCH
    .u8(0) // 111 reserved
    .u32(FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON | FADT_F_TMR_VAL_EXT) // 112 Flags
    .zeros(GAS_SIZE) // 116 RESET_REG: none
    .u8(0) // 128 RESET_VALUE
    .u16(0) // 129 ARM_BOOT_ARCH
    .u8(FADT_MINOR_REVISION) // 131 FADT Minor Version
    .u64(0) // 132 X_FIRMWARE_CTRL: must be 0 when FIRMWARE_CTRL is non-zero (Table 5.9)
    .u64(dsdt) // 140 X_DSDT
    .bytes(gasIo(cfg.pm1aEvtBlk, 4, GAS_ACCESS_WORD)) // 148 X_PM1a_EVT_BLK
    .zeros(GAS_SIZE) // 160 X_PM1b_EVT_BLK
    .bytes(gasIo(cfg.pm1aCntBlk, 2, GAS_ACCESS_WORD)) // 172 X_PM1a_CNT_BLK
    .zeros(GAS_SIZE) // 184 X_PM1b_CNT_BLK
    .zeros(GAS_SIZE) // 196 X_PM2_CNT_BLK
    .bytes(gasIo(cfg.pmTmrBlk, 4, GAS_ACCESS_DWORD)) // 208 X_PM_TMR_BLK
    .zeros(GAS_SIZE) // 220 X_GPE0_BLK
    .zeros(GAS_SIZE) // 232 X_GPE1_BLK
    .zeros(GAS_SIZE) // 244 SLEEP_CONTROL_REG (hardware-reduced only)
    .zeros(GAS_SIZE) // 256 SLEEP_STATUS_REG
    .u64(0) // 268 Hypervisor Vendor Identity: none
    .done();
  const fadtBytes = table('FACP', FADT_REVISION, fb);
  if (fadtBytes.length !== FADT_SIZE) throw new Error(`internal: FADT is ${fadtBytes.length} bytes, not ${FADT_SIZE}`);

  // FACS (5.2.10, Table 5.14): no checksum.
  const facsBytes = new Buf()
    .ascii('FACS', 4) // 0 Signature
    .u32(FACS_SIZE) // 4 Length
    .u32(0) // 8 Hardware Signature
    .u32(0) // 12 Firmware Waking Vector
    .u32(0) // 16 Global Lock
    .u32(0) // 20 Flags
    .u64(0) // 24 X_Firmware_Waking_Vector
    .u8(FACS_VERSION) // 32 Version
    .zeros(3) // 33 Reserved
    .u32(0) // 36 OSPM Flags
    .zeros(24) // 40 Reserved
    .done();

  // XSDT (5.2.8) and RSDT (5.2.7): the FADT and MADT.
  const xsdtBytes = table('XSDT', XSDT_REVISION, new Buf().u64(fadt).u64(madt).done());
  const rsdtBytes = table('RSDT', RSDT_REVISION, new Buf().u32(fadt).u32(madt).done());

  // RSDP (5.2.5.3, Table 5.3).
  const rb = new Buf()
    .ascii(RSDP_SIGNATURE, 8) // 0 Signature
    .u8(0) // 8 Checksum (first 20 bytes)
    .ascii(OEM_ID, 6) // 9 OEMID
    .u8(RSDP_REVISION) // 15 Revision
    .u32(rsdt) // 16 RsdtAddress
    .u32(RSDP_SIZE) // 20 Length
    .u64(xsdt) // 24 XsdtAddress
    .u8(0) // 32 Extended Checksum (all 36 bytes)
    .zeros(3) // 33 Reserved
    .done();
  rb[8] = checksumByte(rb, 0, 20);
  rb[32] = checksumByte(rb, 0, RSDP_SIZE);

  const image = new Uint8Array(end - cfg.base);
  const put = (at: number, b: Uint8Array): void => { image.set(b, at - cfg.base); };
  put(rsdp, rb);
  put(xsdt, xsdtBytes);
  put(rsdt, rsdtBytes);
  put(fadt, fadtBytes);
  put(facs, facsBytes);
  put(madt, madtBytes);
  put(dsdt, dsdtBytes);
  const tables: AcpiTableInfo[] = [
    { signature: 'XSDT', addr: xsdt, length: xsdtBytes.length },
    { signature: 'RSDT', addr: rsdt, length: rsdtBytes.length },
    { signature: 'FACP', addr: fadt, length: fadtBytes.length },
    { signature: 'FACS', addr: facs, length: facsBytes.length },
    { signature: 'APIC', addr: madt, length: madtBytes.length },
    { signature: 'DSDT', addr: dsdt, length: dsdtBytes.length },
  ];
  return { image, layout: { rsdp, tables, end } };
}

/** Builds the tables and writes them at `cfg.base`; returns their layout (the RSDP address goes in hvm_start_info.rsdp_paddr). */
export function writeAcpiTables(mem: PhysMem, cfg: AcpiConfig): AcpiLayout {
  const { image, layout } = buildAcpiTables(cfg);
  mem.writeBytes(cfg.base, image);
  return layout;
}
