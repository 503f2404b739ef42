import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Vmcs, VMCS_REGION_LAYOUT } from '../../../core/vmx/vmcs.js';
import { VMCS } from '../../../core/vmx/fields.js';
import { PhysMem } from '../../../core/memory/physmem.js';

test('a new VMCS is clear and all zero', () => {
  const v = new Vmcs(0x3000);
  assert.is(v.launchState, 'clear');
  assert.is(v.regionAddress, 0x3000);
  assert.is(v.get32(VMCS.GUEST_RIP), 0);
  assert.is(v.getNum(VMCS.EPT_POINTER), 0);
});

test('16-bit fields keep 16 bits, 32-bit fields 32, whatever the accessor', () => {
  const v = new Vmcs();
  v.set32(VMCS.GUEST_CS_SELECTOR, 0x1_2345);
  assert.is(v.get32(VMCS.GUEST_CS_SELECTOR), 0x2345);
  v.set(VMCS.HOST_TR_SELECTOR, 0xffff_ffff, 0xffff_ffff);
  assert.is(v.getLo(VMCS.HOST_TR_SELECTOR), 0xffff);
  assert.is(v.getHi(VMCS.HOST_TR_SELECTOR), 0);
  v.set(VMCS.GUEST_CS_LIMIT, 0xdead_beef, 0x1234);
  assert.is(v.get32(VMCS.GUEST_CS_LIMIT), 0xdead_beef);
  assert.is(v.getHi(VMCS.GUEST_CS_LIMIT), 0);
  v.setNum(VMCS.GUEST_ES_LIMIT, -1);
  assert.is(v.get32(VMCS.GUEST_ES_LIMIT), 0xffff_ffff);
  v.setNum(VMCS.VPID, -1);
  assert.is(v.get32(VMCS.VPID), 0xffff);
});

test('64-bit and natural-width fields as halves and as doubles', () => {
  const v = new Vmcs();
  v.set(VMCS.EPT_POINTER, 0x9abc_d01e, 0x1234);
  assert.is(v.getLo(VMCS.EPT_POINTER), 0x9abc_d01e);
  assert.is(v.getHi(VMCS.EPT_POINTER), 0x1234);
  assert.is(v.getNum(VMCS.EPT_POINTER), 0x1234_9abc_d01e);
  v.setNum(VMCS.IO_BITMAP_A_ADDRESS, 0x1_2345_6789_a000);
  assert.is(v.getHi(VMCS.IO_BITMAP_A_ADDRESS), 0x1_2345);
  assert.is(v.getLo(VMCS.IO_BITMAP_A_ADDRESS), 0x6789_a000);
  // set32 zero-extends into a 64-bit field
  v.set32(VMCS.IO_BITMAP_A_ADDRESS, 0x5000);
  assert.is(v.getNum(VMCS.IO_BITMAP_A_ADDRESS), 0x5000);
});

test('canonical signed doubles: 0xffffffff81000000 is -0x7f000000', () => {
  const v = new Vmcs();
  v.setNum(VMCS.GUEST_RIP, -0x7f00_0000);
  assert.is(v.getLo(VMCS.GUEST_RIP), 0x8100_0000);
  assert.is(v.getHi(VMCS.GUEST_RIP), 0xffff_ffff);
  assert.is(v.getSigned(VMCS.GUEST_RIP), -0x7f00_0000);
  v.set(VMCS.GUEST_RSP, 0xffff_f000, 0xffff_8000); // 0xffff8000_fffff000
  assert.is(v.getSigned(VMCS.GUEST_RSP), -0x7fff_0000_1000);
  v.set(VMCS.TSC_OFFSET, 0, 0x7fff_ffff);
  assert.ok(v.getSigned(VMCS.TSC_OFFSET) > 0);
  v.setNum(VMCS.TSC_OFFSET, -1);
  assert.is(v.getSigned(VMCS.TSC_OFFSET), -1);
  assert.is(v.getHi(VMCS.TSC_OFFSET), 0xffff_ffff);
});

test('unknown encodings are programming errors', () => {
  const v = new Vmcs();
  for (const enc of [0x0001, 0x2001 /* high access */, 0x1234, 0x202e, 0x8000, -1]) {
    assert.throws(() => v.get32(enc), (e: unknown) => e instanceof Error && /encoding/.test((e as Error).message), `0x${enc.toString(16)}`);
    assert.throws(() => v.set32(enc, 0), (e: unknown) => e instanceof Error);
  }
  assert.throws(() => v.setNum(VMCS.GUEST_RIP, 0.5), (e: unknown) => e instanceof Error);
});

test('reset and copyFrom', () => {
  const a = new Vmcs(), b = new Vmcs();
  a.set(VMCS.GUEST_CR3, 1, 2);
  a.launchState = 'launched';
  b.copyFrom(a);
  assert.is(b.getHi(VMCS.GUEST_CR3), 2);
  assert.is(b.launchState, 'launched');
  a.reset();
  assert.is(a.getNum(VMCS.GUEST_CR3), 0);
  assert.is(a.launchState, 'clear');
});

test('storeTo/loadFrom round-trip through a region; revision and abort indicator read from bytes 0-7', () => {
  const mem = new PhysMem(0x10000);
  mem.write32(0x2000, 0x8000_0007); // shadow bit + revision 7
  const a = new Vmcs(0x2000);
  a.setNum(VMCS.GUEST_RIP, -0x7f00_0000);
  a.set32(VMCS.EXIT_REASON, 48);
  a.launchState = 'launched';
  a.storeTo(mem);
  assert.is(mem.read32(0x2000), 0x8000_0007, 'revision identifier untouched');
  const b = Vmcs.loadFrom(mem, 0x2000);
  assert.is(b.revisionId, 7);
  assert.ok(b.shadowIndicator);
  assert.is(b.getSigned(VMCS.GUEST_RIP), -0x7f00_0000);
  assert.is(b.get32(VMCS.EXIT_REASON), 48);
  assert.is(b.launchState, 'launched');
  mem.write32(0x2000 + VMCS_REGION_LAYOUT.ABORT_INDICATOR, 3);
  assert.is(Vmcs.loadFrom(mem, 0x2000).abortIndicator, 3);
});

test('a region never initialized loads as zero and clear; outside memory reads as all ones', () => {
  const mem = new PhysMem(0x10000);
  mem.fill(0x3000, 4096, 0xaa);
  const v = Vmcs.loadFrom(mem, 0x3000);
  assert.is(v.launchState, 'clear');
  assert.is(v.getNum(VMCS.GUEST_RIP), 0);
  const far = Vmcs.loadFrom(mem, 0x10_0000);
  assert.is(far.revisionId, 0x7fff_ffff);
  far.storeTo(mem); // silently dropped
});

test.run();
