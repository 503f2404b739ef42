// VERR / VERW (SDM Vol. 2B "VERR/VERW"): ZF = 1 iff the selected segment is
// readable (VERR) / writable (VERW) at CPL and RPL; a null selector or one
// beyond the GDT limit gives ZF = 0 without an exception. The Cpu1 GDT (properties/harness/cpu1.ts,
// option idt) holds: 0x08 a 64-bit code segment type 0xB (execute/read, accessed),
// 0x10 a data segment type 0x3 (read/write, accessed), both DPL 0; limit 0x17.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Cpu1 } from '../../../properties/harness/cpu1.js';
import { makeNativeState } from '../../../properties/harness/native.js';

const ZF = 0x40;
const VERR_AX = [0x0f, 0x00, 0xe0]; // ModRM 11 100 000: /4, AX
const VERW_AX = [0x0f, 0x00, 0xe8]; // ModRM 11 101 000: /5, AX

function zf(code: number[], ax: number): boolean {
  const c = new Cpu1({ idt: true });
  const r = c.run({ code: Uint8Array.from(code), state: makeNativeState({ rax: BigInt(ax), rflags: ZF }) });
  assert.ok(r.ok, `faulted: ${JSON.stringify(r)}`);
  return ((r.state!.rflags) & ZF) !== 0;
}

test('data segment 0x10 (read/write): VERR and VERW set ZF', () => {
  assert.ok(zf(VERR_AX, 0x10));
  assert.ok(zf(VERW_AX, 0x10));
});
test('code segment 0x08 (execute/read): VERR sets ZF, VERW clears it', () => {
  assert.ok(zf(VERR_AX, 0x08));
  assert.not.ok(zf(VERW_AX, 0x08));
});
test('RPL 3 on a DPL 0 data segment fails the privilege check', () => {
  assert.not.ok(zf(VERW_AX, 0x13));
});
test('null selector and a selector past the GDT limit clear ZF, no fault', () => {
  assert.not.ok(zf(VERW_AX, 0x00));
  assert.not.ok(zf(VERR_AX, 0x18));
});

test.run();
