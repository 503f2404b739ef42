import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IoBus } from '../../../core/hv/iobus.js';
import {
  PciConfigSpace, PciHost, PCI_HOST_PORT_BASE, PCI_HOST_PORT_COUNT,
  type PciBarWindow, type PciFunctionOptions,
} from '../../../core/devices/pci.js';

// Ports, offsets and expected values are literal numbers from the PCI Local
// Bus Specification 3.0 (§3.2.2.3.2, §6.1, §6.2) and the 82441FX datasheet,
// not the module's constants, so a wrong constant would be caught.

function machine(opts: ConstructorParameters<typeof PciHost>[0] = {}) {
  const host = new PciHost(opts);
  const io = new IoBus();
  io.register(PCI_HOST_PORT_BASE, PCI_HOST_PORT_COUNT, host);
  const cfgAddr = (bus: number, dev: number, fn: number, reg: number) =>
    (0x8000_0000 | (bus << 16) | (dev << 11) | (fn << 8) | (reg & 0xfc)) >>> 0;
  /** Config read through the ports, as a driver does it. */
  const rd = (bus: number, dev: number, fn: number, reg: number, size: 1 | 2 | 4) => {
    io.write(0xcf8, 4, cfgAddr(bus, dev, fn, reg));
    return io.read(0xcfc + (reg & 3), size);
  };
  const wr = (bus: number, dev: number, fn: number, reg: number, size: 1 | 2 | 4, v: number) => {
    io.write(0xcf8, 4, cfgAddr(bus, dev, fn, reg));
    io.write(0xcfc + (reg & 3), size, v);
  };
  return { host, io, rd, wr };
}

function fn(extra: Partial<PciFunctionOptions> = {}) {
  const remaps: [number, PciBarWindow | null, PciBarWindow | null][] = [];
  const cmds: [number, number][] = [];
  const intx: boolean[] = [];
  const f = new PciConfigSpace('test-fn', {
    vendorId: 0x1234, deviceId: 0x5678, classCode: 0x020000, revision: 0x11,
    subsystemVendorId: 0xabcd, subsystemId: 0xef01, interruptPin: 1,
    bars: [{ kind: 'io', size: 0x40 }, { kind: 'mem32', size: 0x1000 }, undefined, { kind: 'mem32', size: 0x10_0000, prefetchable: true }],
    onBarRemap: (i, o, n) => remaps.push([i, o, n]),
    onCommandChange: (c, p) => cmds.push([c, p]),
    onIntx: (l) => intx.push(l),
    ...extra,
  });
  return { f, remaps, cmds, intx };
}

test('CONFIG_ADDRESS: 32-bit only; bits 30:24 and 1:0 read 0', () => {
  const { io } = machine();
  assert.is(io.read(0xcf8, 4), 0);
  io.write(0xcf8, 4, 0x8000_0000);
  assert.is(io.read(0xcf8, 4), 0x8000_0000);
  io.write(0xcf8, 4, 0xffff_ffff);
  assert.is(io.read(0xcf8, 4), 0x80ff_fffc);
  io.write(0xcf8, 4, 0x1234_5677);
  assert.is(io.read(0xcf8, 4), 0x0034_5674);
  // Byte and word accesses to 0xCF8–0xCFB are not CONFIG_ADDRESS.
  io.write(0xcf8, 4, 0x8000_0800);
  io.write(0xcf8, 1, 0x00);
  io.write(0xcfa, 2, 0xffff);
  io.write(0xcfb, 1, 0x01);
  assert.is(io.read(0xcf8, 4), 0x8000_0800);
  assert.is(io.read(0xcf8, 1), 0xff);
  assert.is(io.read(0xcf8, 2), 0xffff);
  assert.is(io.read(0xcfa, 2), 0xffff);
  assert.is(io.read(0xcfb, 1), 0xff);
});

test("Linux's pci_check_type1 sequence succeeds", () => {
  const { io } = machine();
  io.write(0xcfb, 1, 0x01);
  const tmp = io.read(0xcf8, 4);
  io.write(0xcf8, 4, 0x8000_0000);
  assert.is(io.read(0xcf8, 4), 0x8000_0000);
  io.write(0xcf8, 4, tmp);
  assert.is(io.read(0xcf8, 4), 0);
});

test('host bridge 00:00.0 is an i440FX: IDs, class, header type, command/status', () => {
  const { rd } = machine();
  assert.is(rd(0, 0, 0, 0x00, 4), 0x1237_8086);
  assert.is(rd(0, 0, 0, 0x00, 2), 0x8086);
  assert.is(rd(0, 0, 0, 0x02, 2), 0x1237);
  assert.is(rd(0, 0, 0, 0x08, 4), 0x0600_0002); // class 06 00 00, revision 02
  assert.is(rd(0, 0, 0, 0x0a, 2), 0x0600); // what pci_sanity_check compares to PCI_CLASS_BRIDGE_HOST
  assert.is(rd(0, 0, 0, 0x0e, 1), 0x00);
  assert.is(rd(0, 0, 0, 0x04, 2), 0x0006);
  assert.is(rd(0, 0, 0, 0x06, 2), 0x0280);
  assert.is(rd(0, 0, 0, 0x3d, 1), 0x00); // no interrupt pin
  for (let bar = 0x10; bar < 0x28; bar += 4) assert.is(rd(0, 0, 0, bar, 4), 0, `BAR at 0x${bar.toString(16)}`);
});

test('CONFIG_DATA: byte and word accesses at 0xCFC–0xCFF select bytes of the dword', () => {
  const { io } = machine();
  io.write(0xcf8, 4, 0x8000_0000);
  assert.is(io.read(0xcfc, 1), 0x86);
  assert.is(io.read(0xcfd, 1), 0x80);
  assert.is(io.read(0xcfe, 1), 0x37);
  assert.is(io.read(0xcff, 1), 0x12);
  assert.is(io.read(0xcfc, 2), 0x8086);
  assert.is(io.read(0xcfe, 2), 0x1237);
  assert.is(io.read(0xcfd, 2), 0x3780); // unaligned inside the dword
  assert.is(io.read(0xcfd, 4), 0xff12_3780); // the byte past 0xCFF is not ours
  io.write(0xcf8, 4, 0x8000_0008);
  assert.is(io.read(0xcfc, 4), 0x0600_0002);
  assert.is(io.read(0xcff, 1), 0x06);
  // bits 1:0 of CONFIG_ADDRESS do not offset the register
  io.write(0xcf8, 4, 0x8000_0003);
  assert.is(io.read(0xcfc, 4), 0x1237_8086);
});

test('enable bit clear: CONFIG_DATA reads all ones, writes are dropped', () => {
  const { io, host } = machine();
  io.write(0xcf8, 4, 0x0000_003c); // 00:00.0 reg 0x3C, not enabled
  assert.is(io.read(0xcfc, 4), 0xffff_ffff);
  assert.is(io.read(0xcfc, 2), 0xffff);
  assert.is(io.read(0xcfc, 1), 0xff);
  io.write(0xcfc, 1, 0x0b);
  assert.is(host.bridge.interruptLine, 0);
});

test('absent functions and other buses read all ones; writes to them are harmless', () => {
  const { rd, wr, host } = machine();
  assert.is(rd(0, 5, 0, 0, 4), 0xffff_ffff);
  assert.is(rd(0, 5, 0, 0, 2), 0xffff);
  assert.is(rd(0, 5, 0, 0, 1), 0xff);
  assert.is(rd(0, 0, 1, 0, 4), 0xffff_ffff); // function 1 of the bridge
  assert.is(rd(1, 0, 0, 0, 4), 0xffff_ffff); // bus 1
  assert.is(rd(255, 31, 7, 0xfc, 4), 0xffff_ffff);
  wr(0, 5, 0, 0x04, 2, 0xffff);
  wr(1, 0, 0, 0x3c, 1, 0x0b);
  assert.is(host.bridge.interruptLine, 0);
  assert.is(host.configRead(0, 7, 0, 0x0e, 1), 0xff);
});

test('read-only fields ignore writes: IDs, revision, class, header type, BIST, subsystem, pin', () => {
  const { f } = fn({ multiFunction: true });
  const before = [0x00, 0x08, 0x0c, 0x28, 0x2c, 0x30, 0x34, 0x38, 0x3c].map((r) => f.configRead(r, 4));
  assert.equal(before, [0x5678_1234, 0x0200_0011, 0x0080_0000, 0, 0xef01_abcd, 0, 0, 0, 0x0000_0100]);
  for (const r of [0x00, 0x08, 0x28, 0x2c, 0x30, 0x34, 0x38]) f.configWrite(r, 4, 0xffff_ffff);
  f.configWrite(0x0e, 1, 0x00);
  f.configWrite(0x0f, 1, 0xff);
  f.configWrite(0x3d, 1, 0x04);
  f.configWrite(0x3c, 4, 0xffff_ffff);
  assert.is(f.configRead(0x00, 4), 0x5678_1234);
  assert.is(f.configRead(0x08, 4), 0x0200_0011);
  assert.is(f.configRead(0x0e, 1), 0x80);
  assert.is(f.configRead(0x0f, 1), 0x00);
  assert.is(f.configRead(0x2c, 4), 0xef01_abcd);
  assert.is(f.configRead(0x30, 4), 0); // no expansion ROM
  assert.is(f.configRead(0x34, 1), 0); // no capability list
  assert.is(f.configRead(0x3c, 4), 0x0000_01ff); // line writable, pin/Min_Gnt/Max_Lat not
  // cache line size and latency timer are writable
  f.configWrite(0x0c, 2, 0x4010);
  assert.is(f.configRead(0x0c, 4), 0x0080_4010);
  // device-specific area reads 0 and ignores writes unless defined
  f.configWrite(0x40, 4, 0xffff_ffff);
  assert.is(f.configRead(0x40, 4), 0);
  f.defineDeviceRegister(0x44, 0x5a, 0x0f);
  f.configWrite(0x44, 1, 0xff);
  assert.is(f.configRead(0x44, 1), 0x5f);
  assert.throws(() => f.defineDeviceRegister(0x3c, 0), RangeError);
});

test('command register: writable bits are I/O, memory, master, parity, SERR#, INTx disable', () => {
  const { f, cmds } = fn();
  f.configWrite(0x04, 2, 0xffff);
  assert.is(f.configRead(0x04, 2), 0x0547);
  assert.ok(f.ioEnabled && f.memEnabled && f.busMaster);
  f.configWrite(0x04, 2, 0x0001);
  assert.is(f.command, 0x0001);
  f.configWrite(0x04, 2, 0x0001); // no change: no callback
  assert.equal(cmds, [[0x0547, 0], [0x0001, 0x0547]]);
});

test('status register: error bits are write-1-to-clear, the rest read-only', () => {
  const { f } = fn({ status: 0xf900 | 0x0200 | 0x0010 });
  assert.is(f.configRead(0x06, 2), 0xfb10);
  f.configWrite(0x06, 2, 0x0000);
  assert.is(f.configRead(0x06, 2), 0xfb10);
  f.configWrite(0x06, 2, 0x2000); // clear received master abort only
  assert.is(f.configRead(0x06, 2), 0xdb10);
  f.configWrite(0x04, 4, 0xffff_0000); // dword write to command+status: command 0, clears all W1C
  assert.is(f.configRead(0x06, 2), 0x0210);
  assert.is(f.command, 0);
});

test('BAR sizing: all ones reads back the size mask with the type bits', () => {
  const { f } = fn();
  assert.is(f.configRead(0x10, 4), 0x0000_0001); // I/O BAR: bit 0 set
  assert.is(f.configRead(0x14, 4), 0x0000_0000); // 32-bit memory, not prefetchable
  assert.is(f.configRead(0x1c, 4), 0x0000_0008); // prefetchable
  f.configWrite(0x10, 4, 0xffff_ffff);
  assert.is(f.configRead(0x10, 4), 0xffff_ffc1); // 0x40 bytes of I/O
  f.configWrite(0x14, 4, 0xffff_ffff);
  assert.is(f.configRead(0x14, 4), 0xffff_f000); // 4 KiB of memory
  f.configWrite(0x18, 4, 0xffff_ffff);
  assert.is(f.configRead(0x18, 4), 0); // unimplemented
  f.configWrite(0x1c, 4, 0xffff_ffff);
  assert.is(f.configRead(0x1c, 4), 0xfff0_0008); // 1 MiB prefetchable
  f.configWrite(0x20, 4, 0xffff_ffff);
  f.configWrite(0x24, 4, 0xffff_ffff);
  assert.is(f.configRead(0x20, 4), 0);
  assert.is(f.configRead(0x24, 4), 0);
  // programming: low bits below the size are dropped
  f.configWrite(0x10, 4, 0x0000_c07f);
  assert.is(f.configRead(0x10, 4), 0x0000_c041);
  assert.is(f.barBase(0), 0xc040);
  f.configWrite(0x14, 4, 0xfebf_1234);
  assert.is(f.configRead(0x14, 4), 0xfebf_1000);
  // byte writes update one byte of a BAR
  f.configWrite(0x11, 1, 0xd0);
  assert.is(f.configRead(0x10, 4), 0x0000_d041);
});

test('BAR sizing through the ports, on a function placed in slot 1', () => {
  const { host, rd, wr } = machine();
  const { f } = fn();
  host.add(1, f);
  assert.is(rd(0, 1, 0, 0x00, 4), 0x5678_1234);
  wr(0, 1, 0, 0x10, 4, 0xffff_ffff);
  const mask = rd(0, 1, 0, 0x10, 4);
  assert.is(mask, 0xffff_ffc1);
  assert.is((~(mask & ~3) + 1) >>> 0, 0x40); // the size software computes
  wr(0, 1, 0, 0x10, 4, 0xc000);
  assert.is(rd(0, 1, 0, 0x10, 4), 0xc001);
  wr(0, 1, 0, 0x3c, 1, 11);
  assert.is(rd(0, 1, 0, 0x3c, 2), 0x010b);
});

test('BAR windows: remap callbacks on programming, sizing and command enable changes', () => {
  const { f, remaps } = fn();
  const io = (base: number): PciBarWindow => ({ index: 0, kind: 'io', base, size: 0x40 });
  const mem = (base: number): PciBarWindow => ({ index: 1, kind: 'mem32', base, size: 0x1000 });
  f.configWrite(0x10, 4, 0xc000);
  f.configWrite(0x14, 4, 0xfebf_0000);
  assert.equal(remaps, []); // decoding is off
  assert.is(f.window(0), null);
  f.configWrite(0x04, 2, 0x0001); // I/O on
  assert.equal(remaps, [[0, null, io(0xc000)]]);
  f.configWrite(0x04, 2, 0x0003); // memory on too
  assert.equal(remaps.slice(1), [[1, null, mem(0xfebf_0000)]]);
  remaps.length = 0;
  f.configWrite(0x10, 4, 0xc040);
  assert.equal(remaps, [[0, io(0xc000), io(0xc040)]]);
  remaps.length = 0;
  f.configWrite(0x10, 4, 0xffff_ffff); // sizing while enabled: 0xFFFFFFC0 is past the port space
  f.configWrite(0x10, 4, 0xc040);
  assert.equal(remaps, [[0, io(0xc040), null], [0, null, io(0xc040)]]);
  remaps.length = 0;
  f.configWrite(0x14, 4, 0xffff_ffff); // memory sizing pattern reaching 4 GiB: not decoded
  f.configWrite(0x14, 4, 0xfebf_0000);
  assert.equal(remaps, [[1, mem(0xfebf_0000), null], [1, null, mem(0xfebf_0000)]]);
  remaps.length = 0;
  f.configWrite(0x10, 4, 0); // base 0 = unassigned
  assert.equal(remaps, [[0, io(0xc040), null]]);
  f.configWrite(0x10, 4, 0xfff0); // last 0x40 ports: fits exactly
  assert.equal(f.window(0), io(0xfff0 & ~0x3f));
  remaps.length = 0;
  f.configWrite(0x04, 2, 0x0000); // both off, lowest index first
  assert.equal(remaps, [[0, io(0xffc0), null], [1, mem(0xfebf_0000), null]]);
  remaps.length = 0;
  f.configWrite(0x04, 2, 0x0004); // bus master only
  assert.equal(remaps, []);
  f.configWrite(0x3c, 1, 5); // unrelated register
  assert.equal(remaps, []);
});

test('firmware-style helpers: setBar and enable fire the same callbacks', () => {
  const { f, remaps } = fn();
  f.setBar(0, 0xc100);
  f.enable(0x0001 | 0x0004);
  assert.equal(remaps, [[0, null, { index: 0, kind: 'io', base: 0xc100, size: 0x40 }]]);
  assert.ok(f.busMaster);
  assert.throws(() => f.setBar(2, 0x1000), RangeError);
});

test('setHooks wires callbacks after construction', () => {
  const f = new PciConfigSpace('late', { vendorId: 1, deviceId: 2, classCode: 0, bars: [{ kind: 'io', size: 16 }] });
  const seen: (PciBarWindow | null)[] = [];
  f.setHooks({ onBarRemap: (_i, _o, n) => seen.push(n) });
  f.setBar(0, 0x1000);
  f.enable(1);
  assert.equal(seen, [{ index: 0, kind: 'io', base: 0x1000, size: 16 }]);
});

test('INTx: status bit 3 follows the request; command bit 10 masks the pin', () => {
  const { f, intx } = fn();
  assert.is(f.status & 0x08, 0);
  f.setIntxRequest(true);
  assert.is(f.status & 0x08, 0x08);
  assert.equal(intx, [true]);
  f.configWrite(0x04, 2, 0x0400); // interrupt disable
  assert.equal(intx, [true, false]);
  assert.is(f.status & 0x08, 0x08); // still pending
  assert.is(f.intx, false);
  f.configWrite(0x06, 2, 0x0008); // bit 3 is read-only, not W1C
  assert.is(f.status & 0x08, 0x08);
  f.configWrite(0x04, 2, 0x0000);
  assert.equal(intx, [true, false, true]);
  f.setIntxRequest(false);
  assert.equal(intx, [true, false, true, false]);
  assert.is(f.status & 0x08, 0);
  f.configWrite(0x04, 2, 0x0400);
  f.setIntxRequest(true); // masked: no edge
  assert.equal(intx, [true, false, true, false]);
});

test('registry: placement, conflicts, listing, multi-function header bit', () => {
  const host = new PciHost();
  const a = fn({ multiFunction: true }).f;
  const b = fn().f;
  host.add(3, a, 0);
  host.add(3, b, 1);
  assert.is(host.functionAt(0, 3, 1), b);
  assert.is(host.configRead(0, 3, 0, 0x0e, 1), 0x80);
  assert.is(host.configRead(0, 3, 1, 0x00, 4), 0x5678_1234);
  assert.throws(() => host.add(0, b), /00:00\.0 is taken by i440fx/);
  assert.throws(() => host.add(3, b, 1), /taken/);
  assert.throws(() => host.add(32, b), RangeError);
  assert.throws(() => host.add(1, b, 8), RangeError);
  assert.equal(host.list().map((e) => [e.device, e.func, e.fn.name]), [[0, 0, 'i440fx'], [3, 0, 'test-fn'], [3, 1, 'test-fn']]);
  assert.throws(() => host.configRead(0, 0, 0, 0x02, 4), RangeError); // crosses a dword
  assert.throws(() => a.configRead(0x100, 1), RangeError);
  assert.throws(() => a.configRead(0, 3), RangeError);
});

test('BAR specs are validated', () => {
  const base = { vendorId: 1, deviceId: 2, classCode: 0 };
  assert.throws(() => new PciConfigSpace('x', { ...base, bars: [{ kind: 'io', size: 2 }] }), /BAR0 size 2/);
  assert.throws(() => new PciConfigSpace('x', { ...base, bars: [undefined, { kind: 'mem32', size: 0x3000 }] }), /BAR1 size/);
  assert.throws(() => new PciConfigSpace('x', { ...base, bars: [{ kind: 'mem32', size: 8 }] }), RangeError);
  assert.throws(() => new PciConfigSpace('x', { ...base, bars: new Array(7).fill(undefined) }), RangeError);
  assert.throws(() => new PciConfigSpace('x', { ...base, interruptPin: 5 }), RangeError);
});

test('reset control register at 0xCF9: bit 2 requests a reset, bit 1 says hard', () => {
  const resets: boolean[] = [];
  const { io } = machine({ onResetRequest: (hard) => resets.push(hard) });
  assert.is(io.read(0xcf9, 1), 0);
  io.write(0xcf9, 1, 0x02);
  assert.is(io.read(0xcf9, 1), 0x02);
  assert.equal(resets, []);
  io.write(0xcf9, 1, 0x06);
  assert.equal(resets, [true]);
  io.write(0xcf9, 1, 0x04);
  assert.equal(resets, [true, false]);
  assert.is(io.read(0xcf9, 1), 0x00);
  io.write(0xcf8, 4, 0x8000_0000); // the dword at 0xCF8 is still CONFIG_ADDRESS
  assert.is(io.read(0xcf8, 4), 0x8000_0000);
  assert.equal(resets, [true, false]);
});

test.run();
