// The ACPI tables as a booted machine carries them: bootPvh writes them
// with the MP table, passes the RSDP in hvm_start_info.rsdp_paddr (Xen's
// start_info.h, offset 32), and they describe the platform's real wiring:
// the PM registers answer on the ports the FADT names, the SCI reaches the
// interrupt controllers on the IRQ the FADT names, and S5 stops the machine.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { Machine } from '../../../core/hv/machine.js';
import { bootPvh, START_INFO_ADDR } from '../../../core/hv/boot.js';
import { repoPath } from '../../helpers/repo.js';

function boot(disk?: string): Machine {
  const m = new Machine({ memMiB: 16, maxInstructions: 1000, ...(disk ? { disk } : {}) });
  bootPvh(m, { kernel: new Uint8Array(readFileSync(repoPath('guests', 'hello.elf'))), kernelName: 'hello.elf' });
  return m;
}
const u64 = (m: Machine, at: number): number => m.mem.read32(at) + m.mem.read32(at + 4) * 2 ** 32;
const str = (m: Machine, at: number, n: number): string => String.fromCharCode(...m.mem.readBytes(at, n));

test('hvm_start_info.rsdp_paddr points at a valid RSDP; the MP table is still there', () => {
  const m = boot();
  const rsdp = u64(m, START_INFO_ADDR + 32);
  assert.is(rsdp, 0xe0000);
  assert.is(str(m, rsdp, 8), 'RSD PTR ');
  assert.is(str(m, 0xf0000, 4), '_MP_');
});

test('the FADT names the ports the PM device answers on; SCI_EN reads 1; the PM timer runs on virtual time', () => {
  const m = boot();
  const xsdt = u64(m, 0xe0000 + 24);
  let fadt = 0;
  for (let i = 0; i < (m.mem.read32(xsdt + 4) - 36) / 8; i++) {
    const t = u64(m, xsdt + 36 + 8 * i);
    if (str(m, t, 4) === 'FACP') fadt = t;
  }
  assert.ok(fadt);
  const cnt = m.mem.read32(fadt + 64), tmr = m.mem.read32(fadt + 76);
  assert.is(m.io.read(cnt, 2) & 1, 1, 'SCI_EN');
  assert.is(m.io.read(tmr, 4), 0, 'timer at virtual time 0');
  m.cpu.icount = 1_000_000_000;
  assert.is(m.io.read(tmr, 4), 3_579_545);
});

test('the SCI (FADT SCI_INT) reaches 8259 input 9 and I/O APIC pin 9; SLP_TYP 5 | SLP_EN stops the machine as a power-off', () => {
  const m = boot();
  const evt = 0x600, cnt = 0x604;
  const pins: [number, boolean][] = [];
  const orig = m.pc.ioapic.setIrq.bind(m.pc.ioapic);
  m.pc.ioapic.setIrq = (pin: number, level: boolean) => { pins.push([pin, level]); orig(pin, level); };
  m.pc.acpiPm.pressPowerButton();
  m.io.write(evt + 2, 2, 1 << 8); // PWRBTN_EN
  assert.equal(pins, [[9, true]]);
  m.io.write(evt, 2, 1 << 8); // clear PWRBTN_STS
  assert.equal(pins, [[9, true], [9, false]]);
  assert.is(m.pendingStop, null);
  m.io.write(cnt, 2, 1 | (5 << 10) | (1 << 13));
  assert.is(m.pendingStop?.kind, 'power-off');
  assert.match(m.pendingStop?.message ?? '', /powered off through ACPI/);
});

test('with virtio-blk, the DSDT _PRT and the MP table route PCI slot 1 INTA# to the same I/O APIC pin', () => {
  const disk = repoPath('.cache', 'linux', 'disk.img');
  let m: Machine;
  try { m = boot(disk); } catch { console.log('  (skipped: no .cache/linux/disk.img)'); return; }
  // MP table I/O interrupt entry for bus 0 (PCI), source IRQ (1 << 2 | 0), INTIN 11.
  const table = m.mem.read32(0xf0004);
  const entries = m.mem.read16(table + 34);
  let p = table + 44, mpPin = -1;
  for (let i = 0; i < entries; i++) {
    const type = m.mem.read8(p);
    if (type === 3 && m.mem.read8(p + 5) === 4) mpPin = m.mem.read8(p + 7);
    p += type === 0 ? 20 : 8;
  }
  assert.is(mpPin, 11);
  // The DSDT's _PRT entry: Package { DWord 0x0001FFFF, Zero, Zero, Byte 11 }.
  const dsdtAt = m.mem.read32(m.mem.read32(0xe0000 + 16) + 36) ; // RSDT → first table (FADT)
  const dsdt = m.mem.read32(dsdtAt + 40);
  const bytes = Buffer.from(m.mem.readBytes(dsdt, m.mem.read32(dsdt + 4)));
  assert.ok(bytes.includes(Buffer.from([0x0c, 0xff, 0xff, 0x01, 0x00, 0x00, 0x00, 0x0a, mpPin])), '_PRT entry for device 1 INTA# → GSI 11');
});

test.run();
