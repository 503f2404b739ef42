import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PhysMem } from '../../../core/memory/physmem.js';
import { writeAcpiTables, buildAcpiTables, amlPkgLength, AcpiError, type AcpiConfig } from '../../../core/boot/acpi.js';

// An independent reader: offsets are the ACPI 6.4 specification's (Tables
// 5.3 RSDP, 5.4 header, 5.9 FADT, 5.14 FACS, 5.19-5.28 MADT; chapter 20
// AML; 6.4 resource descriptors), written as literals here, and the RSDP
// is found by scanning, as Linux's acpi_find_root_pointer does.

const CFG: AcpiConfig = {
  base: 0xe0000, limit: 0xf0000,
  lapicAddr: 0xfee00000, lapicId: 0, ioapicId: 1, ioapicAddr: 0xfec00000,
  pm1aEvtBlk: 0x600, pm1aCntBlk: 0x604, pmTmrBlk: 0x608, sciIrq: 9,
  isaOverrides: [{ irq: 0, gsi: 2, flags: 0 }, { irq: 9, gsi: 9, flags: 0x0d }],
  pciIrqs: [{ device: 1, intPin: 0, gsi: 11 }],
};

const str = (m: PhysMem, at: number, n: number): string => String.fromCharCode(...m.readBytes(at, n));
function sum(m: PhysMem, at: number, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s = (s + m.read8(at + i)) & 0xff;
  return s;
}
const u64 = (m: PhysMem, at: number): number => m.read32(at) + m.read32(at + 4) * 2 ** 32;

function scanRsdp(m: PhysMem): number {
  for (let p = 0xe0000; p < 0x100000; p += 16) {
    if (str(m, p, 8) === 'RSD PTR ' && sum(m, p, 20) === 0) return p;
  }
  return -1;
}

interface Table { sig: string; at: number; len: number; rev: number }
function header(m: PhysMem, at: number): Table {
  const t = { sig: str(m, at, 4), at, len: m.read32(at + 4), rev: m.read8(at + 8) };
  assert.is(sum(m, at, t.len), 0, `${t.sig} checksum`);
  assert.is(str(m, at + 10, 6), 'HVTRAC', `${t.sig} OEMID`);
  return t;
}

function setup(cfg: AcpiConfig = CFG) {
  const m = new PhysMem(0x100000);
  const layout = writeAcpiTables(m, cfg);
  const rsdp = scanRsdp(m);
  const xsdt = header(m, u64(m, rsdp + 24));
  const tables = new Map<string, Table>();
  for (let i = 0; i < (xsdt.len - 36) / 8; i++) {
    const t = header(m, u64(m, xsdt.at + 36 + 8 * i));
    tables.set(t.sig, t);
  }
  return { m, layout, rsdp, xsdt, tables };
}

test('RSDP: found by scanning, revision 2, both checksums, RSDT and XSDT list the same tables', () => {
  const { m, layout, rsdp, xsdt, tables } = setup();
  assert.is(rsdp, 0xe0000);
  assert.is(layout.rsdp, rsdp);
  assert.is(m.read8(rsdp + 15), 2, 'revision');
  assert.is(m.read32(rsdp + 20), 36, 'length');
  assert.is(sum(m, rsdp, 36), 0, 'extended checksum');
  assert.is(xsdt.sig, 'XSDT');
  const rsdt = header(m, m.read32(rsdp + 16));
  assert.is(rsdt.sig, 'RSDT');
  const viaRsdt = Array.from({ length: (rsdt.len - 36) / 4 }, (_, i) => m.read32(rsdt.at + 36 + 4 * i));
  assert.equal(viaRsdt, [...tables.values()].map((t) => t.at));
  assert.equal([...tables.keys()].sort(), ['APIC', 'FACP']);
  // Every table lies inside [base, limit), non-overlapping, in layout order.
  let prev = rsdp + 36;
  for (const t of layout.tables) {
    assert.ok(t.addr >= prev && t.addr % 16 === 0, `${t.signature} placed at 0x${t.addr.toString(16)}`);
    prev = t.addr + t.length;
  }
  assert.ok(layout.end <= 0xf0000);
});

test('FADT: full (not hardware-reduced) PC with PM1a blocks, PM timer, SCI 9, IA-PC flags, DSDT and FACS', () => {
  const { m, tables } = setup();
  const f = tables.get('FACP')!;
  assert.is(f.len, 276);
  assert.is(f.rev, 6);
  const flags = m.read32(f.at + 112);
  assert.is(flags & (1 << 20), 0, 'not HW_REDUCED_ACPI');
  assert.ok(flags & (1 << 8), 'TMR_VAL_EXT: 32-bit timer');
  assert.ok(flags & (1 << 4) && flags & (1 << 5), 'no fixed power/sleep buttons');
  assert.is(m.read16(f.at + 46), 9, 'SCI_INT');
  assert.is(m.read32(f.at + 48), 0, 'no SMI_CMD: always in ACPI mode');
  assert.is(m.read32(f.at + 56), 0x600, 'PM1a_EVT_BLK');
  assert.is(m.read32(f.at + 64), 0x604, 'PM1a_CNT_BLK');
  assert.is(m.read32(f.at + 76), 0x608, 'PM_TMR_BLK');
  assert.equal([m.read8(f.at + 88), m.read8(f.at + 89), m.read8(f.at + 91)], [4, 2, 4], 'PM1_EVT_LEN, PM1_CNT_LEN, PM_TMR_LEN');
  assert.is(m.read32(f.at + 80), 0, 'no GPE0 block');
  const boot = m.read16(f.at + 109);
  assert.ok(boot & 1, 'LEGACY_DEVICES');
  assert.ok(boot & 2, '8042');
  assert.is(boot & 0x20, 0, 'CMOS RTC present');
  // X_ fields agree with the 32-bit ones: GAS (space 1 = I/O, width in bits, address).
  for (const [off, port, bits] of [[148, 0x600, 32], [172, 0x604, 16], [208, 0x608, 32]] as const) {
    assert.is(m.read8(f.at + off), 1);
    assert.is(m.read8(f.at + off + 1), bits);
    assert.is(u64(m, f.at + off + 4), port);
  }
  const dsdt = m.read32(f.at + 40);
  assert.is(u64(m, f.at + 140), dsdt);
  assert.is(header(m, dsdt).sig, 'DSDT');
  const facs = m.read32(f.at + 36);
  assert.is(u64(m, f.at + 132), 0, 'X_FIRMWARE_CTRL is 0 when FIRMWARE_CTRL is set (Table 5.9)');
  assert.is(facs % 64, 0, 'FACS 64-byte aligned');
  assert.is(str(m, facs, 4), 'FACS');
  assert.is(m.read32(facs + 4), 64);
});

test('MADT: one LAPIC, the I/O APIC (id 1, 0xFEC00000, GSI 0), IRQ0→GSI2 and SCI overrides, LINT1 NMI', () => {
  const { m, tables } = setup();
  const t = tables.get('APIC')!;
  assert.is(m.read32(t.at + 36), 0xfee00000, 'local APIC address');
  assert.is(m.read32(t.at + 40) & 1, 1, 'PCAT_COMPAT');
  const entries: number[][] = [];
  for (let p = t.at + 44; p < t.at + t.len;) {
    const len = m.read8(p + 1);
    assert.ok(len >= 2, 'entry length');
    entries.push(Array.from(m.readBytes(p, len)));
    p += len;
  }
  assert.equal(entries, [
    [0, 8, 0, 0, 1, 0, 0, 0], // processor local APIC: UID 0, APIC ID 0, enabled
    [1, 12, 1, 0, 0x00, 0x00, 0xc0, 0xfe, 0, 0, 0, 0], // I/O APIC 1 at 0xFEC00000, GSI base 0
    [2, 10, 0, 0, 2, 0, 0, 0, 0, 0], // ISA IRQ 0 → GSI 2, conforming
    [2, 10, 0, 9, 9, 0, 0, 0, 0x0d, 0], // ISA IRQ 9 → GSI 9, level, active high
    [4, 6, 0xff, 0, 0, 1], // NMI on LINT1 of every processor
  ]);
});

// --- a small AML reader (20.2) ---

function pkgLen(b: Uint8Array, i: number): [number, number] {
  const lead = b[i]!, extra = lead >>> 6;
  if (extra === 0) return [lead & 0x3f, 1];
  let v = lead & 0x0f;
  for (let k = 0; k < extra; k++) v |= b[i + 1 + k]! << (4 + 8 * k);
  return [v, 1 + extra];
}
type Aml = number | string | Aml[] | { buffer: number[] };
/** Parses a DataRefObject at i: returns the value and the next index. */
function data(b: Uint8Array, i: number): [Aml, number] {
  const op = b[i]!;
  if (op === 0x00) return [0, i + 1];
  if (op === 0x01) return [1, i + 1];
  if (op === 0x0a) return [b[i + 1]!, i + 2];
  if (op === 0x0b) return [b[i + 1]! | (b[i + 2]! << 8), i + 3];
  if (op === 0x0c) return [(b[i + 1]! | (b[i + 2]! << 8) | (b[i + 3]! << 16) | (b[i + 4]! << 24)) >>> 0, i + 5];
  if (op === 0x12) {
    const [len, n] = pkgLen(b, i + 1);
    const end = i + 1 + len;
    const count = b[i + 1 + n]!;
    const out: Aml[] = [];
    let p = i + 2 + n;
    while (p < end) { const [v, q] = data(b, p); out.push(v); p = q; }
    assert.is(out.length, count, 'NumElements');
    return [out, end];
  }
  if (op === 0x11) {
    const [len, n] = pkgLen(b, i + 1);
    const end = i + 1 + len;
    const [size, p] = data(b, i + 1 + n);
    const bytes = Array.from(b.subarray(p, end));
    assert.is(bytes.length, size, 'BufferSize');
    return [{ buffer: bytes }, end];
  }
  throw new Error(`unexpected AML data op 0x${op.toString(16)} at ${i}`);
}
const seg = (b: Uint8Array, i: number): string => String.fromCharCode(...b.subarray(i, i + 4));
/** Walks a TermList, collecting every Name as "\\SCOPE.PATH.NAME" → value. */
function walk(b: Uint8Array, from: number, to: number, scope: string, names: Map<string, Aml>): void {
  let i = from;
  while (i < to) {
    const op = b[i]!;
    if (op === 0x08) { // NameOp NameSeg data
      const [v, q] = data(b, i + 5);
      names.set(`${scope}.${seg(b, i + 1)}`, v);
      i = q;
    } else if (op === 0x10) { // ScopeOp PkgLength '\' NameSeg TermList
      const [len, n] = pkgLen(b, i + 1);
      assert.is(b[i + 1 + n], 0x5c, 'root-relative scope');
      walk(b, i + 1 + n + 5, i + 1 + len, `\\${seg(b, i + 2 + n)}`, names);
      i += 1 + len;
    } else if (op === 0x5b && b[i + 1] === 0x82) { // DeviceOp PkgLength NameSeg TermList
      const [len, n] = pkgLen(b, i + 2);
      walk(b, i + 2 + n + 4, i + 2 + len, `${scope}.${seg(b, i + 2 + n)}`, names);
      i += 2 + len;
    } else {
      throw new Error(`unexpected AML op 0x${op.toString(16)} at ${i}`);
    }
  }
  assert.is(i, to, 'term list ends at its package end');
}

test('DSDT: \\_S5 gives SLP_TYP 5; PCI0 is a PNP0A03 host bridge with _CRS windows and a _PRT for slot 1 INTA# → GSI 11', () => {
  const { m, tables } = setup();
  const dsdt = header(m, m.read32(tables.get('FACP')!.at + 40));
  assert.is(dsdt.rev, 2);
  const b = m.readBytes(dsdt.at, dsdt.len);
  const names = new Map<string, Aml>();
  walk(b, 36, b.length, '', names);
  assert.equal(names.get('._S5_'), [5, 0, 0, 0]);
  assert.is(names.get('\\_SB_.PCI0._HID'), 0x030ad041, 'EISAID PNP0A03 (bytes 41 D0 0A 03)');
  assert.is(names.get('\\_SB_.PCI0._UID'), 0);
  assert.equal(names.get('\\_SB_.PCI0._PRT'), [[0x0001ffff, 0, 0, 11]]);
  const crs = (names.get('\\_SB_.PCI0._CRS') as { buffer: number[] }).buffer;
  // Resource descriptors: walk them to the end tag.
  const kinds: string[] = [];
  let p = 0;
  while (p < crs.length) {
    const tag = crs[p]!;
    if (tag & 0x80) { // large: tag, u16 length, data
      const len = crs[p + 1]! | (crs[p + 2]! << 8);
      const d = crs.slice(p + 3, p + 3 + len);
      const w = (k: number): number => d[k]! | (d[k + 1]! << 8);
      const dw = (k: number): number => (w(k) | (w(k + 2) << 16)) >>> 0;
      if (tag === 0x88) kinds.push(`word type ${d[0]} ${w(5).toString(16)}-${w(7).toString(16)} len ${w(11).toString(16)}`);
      else if (tag === 0x87) kinds.push(`dword type ${d[0]} ${dw(7).toString(16)}-${dw(11).toString(16)} len ${dw(19).toString(16)}`);
      else kinds.push(`large 0x${tag.toString(16)}`);
      p += 3 + len;
    } else { // small: tag bits 6:3, length bits 2:0
      const len = tag & 7;
      if (tag >>> 3 === 0x0f) { kinds.push('end'); p += 1 + len; break; }
      if (tag >>> 3 === 0x08) kinds.push(`io ${(crs[p + 2]! | (crs[p + 3]! << 8)).toString(16)} len ${crs[p + 7]}`);
      p += 1 + len;
    }
  }
  assert.is(p, crs.length, 'end tag is last');
  assert.equal(kinds, [
    'word type 2 0-ff len 100',
    'io cf8 len 8',
    'word type 1 0-cf7 len cf8',
    'word type 1 d00-ffff len f300',
    'dword type 0 c0000000-febfffff len 3ec00000',
    'end',
  ]);
});

test('DSDT without PCI devices has an empty _PRT; tables are deterministic', () => {
  const a = buildAcpiTables({ ...CFG, pciIrqs: [] });
  const b = buildAcpiTables({ ...CFG, pciIrqs: [] });
  assert.equal(a.image, b.image);
  const { m, tables } = setup({ ...CFG, pciIrqs: [] });
  const dsdt = header(m, m.read32(tables.get('FACP')!.at + 40));
  const names = new Map<string, Aml>();
  walk(m.readBytes(dsdt.at, dsdt.len), 36, dsdt.len, '', names);
  assert.equal(names.get('\\_SB_.PCI0._PRT'), []);
});

test('PkgLength encodings (20.2.4): one byte up to 63, then lead byte with the count in bits 7:6', () => {
  assert.equal(amlPkgLength(0), [1]);
  assert.equal(amlPkgLength(62), [63]);
  assert.equal(amlPkgLength(63), [0x40 | (65 & 0xf), 65 >> 4]);
  assert.equal(amlPkgLength(0x1000 - 3 + 1), [0x80 | (0x1001 & 0xf), (0x1001 >> 4) & 0xff, 0x1001 >> 12]);
  for (const n of [0, 5, 62, 63, 64, 200, 4093, 4094, 70000]) {
    const enc = amlPkgLength(n);
    const [v, k] = pkgLen(Uint8Array.from(enc), 0);
    assert.is(k, enc.length);
    assert.is(v, n + enc.length, `PkgLength of ${n} counts itself`);
  }
});

test('bad configurations are refused before memory is touched', () => {
  const m = new PhysMem(0x100000);
  assert.throws(() => writeAcpiTables(m, { ...CFG, base: 0xe0008 }), (e: unknown) => e instanceof AcpiError && /16-byte aligned/.test(e.message));
  assert.throws(() => writeAcpiTables(m, { ...CFG, limit: 0xe0100 }), (e: unknown) => e instanceof AcpiError && /run past/.test(e.message));
  assert.throws(() => writeAcpiTables(m, { ...CFG, sciIrq: 16 }), (e: unknown) => e instanceof AcpiError && /SCI IRQ/.test(e.message));
  assert.ok(m.readBytes(0xe0000, 0x10000).every((x) => x === 0), 'memory untouched');
  assert.is(scanRsdp(m), -1);
});

test.run();
