import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PhysMem, MemoryRangeError } from '../../../core/memory/physmem.js';

test('little-endian reads and writes of every width', () => {
  const m = new PhysMem(8192);
  m.write32(0x10, 0xdeadbeef);
  assert.is(m.read8(0x10), 0xef);
  assert.is(m.read16(0x12), 0xdead);
  m.write64(0x20, 0x1234_5678_9abc);
  assert.is(m.read32(0x20), 0x5678_9abc);
  assert.is(m.read32(0x24), 0x1234);
  assert.is(m.read64(0x20), 0x1234_5678_9abc);
});

test('out-of-range access raises MemoryRangeError naming the address', () => {
  const m = new PhysMem(4096);
  assert.throws(() => m.read8(4096), (e: unknown) => e instanceof MemoryRangeError && /0x1000/.test((e as Error).message));
  assert.throws(() => m.read32(4094), (e: unknown) => e instanceof MemoryRangeError && (e as MemoryRangeError).size === 4);
  assert.throws(() => m.write8(-1, 0), (e: unknown) => e instanceof MemoryRangeError);
  assert.throws(() => m.writeBytes(4000, new Uint8Array(200)), (e: unknown) => e instanceof MemoryRangeError);
  m.write32(4092, 1); // last full word is fine
});

test('size must be a positive page multiple', () => {
  assert.throws(() => new PhysMem(1000), (e: unknown) => e instanceof RangeError);
  assert.throws(() => new PhysMem(0), (e: unknown) => e instanceof RangeError);
});

test.run();
