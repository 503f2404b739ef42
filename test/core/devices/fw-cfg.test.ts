// QEMU fw_cfg, traditional port interface (core/devices/fw-cfg.ts). Expected
// values from QEMU's docs/specs/fw_cfg.rst (selector 0x510 16-bit, data 0x511
// 8-bit, offset reset on select, zeros past the end, "QEMU" signature, ID bit
// 0 = traditional interface) and kvm-unit-tests' lib/x86/fwcfg.h keys
// (0x03 RAM size u64, 0x05 CPU count u16, 0x11 memory limit u64, 0 = none).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FwCfg, FW_CFG_PORT_SEL } from '../../../core/devices/fw-cfg.js';
import { Machine } from '../../../core/hv/machine.js';

function read(d: FwCfg, key: number, n: number): number[] {
  d.write(0, 2, key);
  return Array.from({ length: n }, () => d.read(1, 1));
}

test('key 0x00: the signature "QEMU"; key 0x01: ID 1 (traditional interface, no DMA)', () => {
  const d = new FwCfg({ ramBytes: 64 << 20 });
  assert.equal(read(d, 0, 4), [0x51, 0x45, 0x4d, 0x55]);
  assert.equal(read(d, 1, 4), [1, 0, 0, 0]);
});

test('key 0x03: RAM size as a little-endian u64 (5 GiB = 0x1_4000_0000)', () => {
  assert.equal(read(new FwCfg({ ramBytes: 64 << 20 }), 3, 8), [0, 0, 0, 4, 0, 0, 0, 0]);
  assert.equal(read(new FwCfg({ ramBytes: 5 * 2 ** 30 }), 3, 8), [0, 0, 0, 0x40, 1, 0, 0, 0]);
});

test('key 0x05: one CPU (u16); key 0x0f max CPUs 1; key 0x11: memory limit 0 = none', () => {
  const d = new FwCfg({ ramBytes: 1 << 20 });
  assert.equal(read(d, 5, 2), [1, 0]);
  assert.equal(read(d, 0x0f, 2), [1, 0]);
  assert.equal(read(d, 0x11, 8), [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(read(new FwCfg({ ramBytes: 1 << 20, memLimit: 0x2000_0000 }), 0x11, 8), [0, 0, 0, 0x20, 0, 0, 0, 0]);
});

test('reads past an item and of unknown keys return 0; selecting again rewinds', () => {
  const d = new FwCfg({ ramBytes: 1 << 20 });
  assert.equal(read(d, 0, 6), [0x51, 0x45, 0x4d, 0x55, 0, 0]);
  assert.equal(read(d, 0x1234, 4), [0, 0, 0, 0]);
  assert.equal(read(d, 0x8000, 2), [0, 0], 'no architecture-local items');
  assert.equal(read(d, 0, 1), [0x51]);
  assert.equal(read(d, 0, 1), [0x51]);
});

test('access sizes: only a 16-bit write selects; 8-bit data writes are ignored; 8-bit reads at either port read data', () => {
  const d = new FwCfg({ ramBytes: 1 << 20 });
  d.write(0, 2, 0);
  d.write(0, 1, 5);                 // a byte write is a data write (ignored), not a select
  d.write(1, 1, 0xff);
  assert.is(d.read(1, 1), 0x51);
  assert.is(d.read(0, 1), 0x45);    // QEMU's combined region: a byte read at 0x510 reads data too
  assert.is(d.key, 0);
  assert.is(d.read(1, 2), 0xffff, 'a 16-bit read is not a valid access');
});

test('wired on the platform at ports 0x510-0x511 with the machine RAM size', () => {
  const m = new Machine({ memMiB: 16 });
  m.io.write(FW_CFG_PORT_SEL, 2, 3);
  const b = Array.from({ length: 8 }, () => m.io.read(0x511, 1));
  assert.equal(b, [0, 0, 0, 1, 0, 0, 0, 0]); // 16 MiB = 0x0100_0000
});

test.run();
