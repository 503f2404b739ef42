/**
 * DR4/DR5 (SDM Vol. 3A, 18.2.2 "Debug Registers DR4 and DR5"; Vol. 2B MOV DR):
 * with CR4.DE = 0 they alias DR6/DR7; with CR4.DE = 1 referencing them is #UD.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeNativeState } from '../../../properties/harness/native.js';
import { Cpu1, type Cpu1Result } from '../../../properties/harness/cpu1.js';
import { CR4_DE } from '../../../core/cpu/regs.js';
import type { Cpu } from '../../../core/cpu/cpu.js';

function run(code: number[], setup: (c: Cpu) => void, init: Record<string, number> = {}): { r: Cpu1Result; cpu: Cpu } {
  const c1 = new Cpu1({ setup });
  return { r: c1.run({ code: Uint8Array.from(code), state: makeNativeState(init) }), cpu: c1.cpu };
}
const MOV_RAX_DR4 = [0x0f, 0x21, 0xe0], MOV_DR5_RAX = [0x0f, 0x23, 0xe8];

test('CR4.DE = 0: MOV from DR4 reads DR6, MOV to DR5 writes DR7', () => {
  const a = run(MOV_RAX_DR4, (c) => { c.cr4 &= ~CR4_DE; c.dr[6] = 0xffff4ff0; });
  assert.ok(a.r.ok);
  assert.is(a.r.state!.gpr[0], 0xffff4ff0);
  const b = run(MOV_DR5_RAX, (c) => { c.cr4 &= ~CR4_DE; }, { rax: 0x401 });
  assert.ok(b.r.ok);
  assert.is(b.cpu.dr[7], 0x401);
});

test('CR4.DE = 1: DR4/DR5 are #UD', () => {
  for (const code of [MOV_RAX_DR4, MOV_DR5_RAX]) {
    const { r } = run(code, (c) => { c.cr4 |= CR4_DE; });
    assert.is(r.ok ? -1 : r.vector, 6);
  }
});

test.run();
