/**
 * The limit of a flat 4-GiB segment outside 64-bit mode (SDM Vol. 3A 5.3
 * "Limit Checking": an access whose last byte lies beyond the limit faults;
 * 6.15: #GP(0), or #SS(0) for a stack access through SS). With base 0 and
 * limit FFFFFFFFH only an access that wraps at 4 GiB can be beyond it; the
 * fault comes before paging (no #PF, CR2 unchanged). In 64-bit mode there
 * are no limit checks (Vol. 3A 5.3.1). The compatibility-mode native
 * property compares these cases with the host since they are modelled.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeNativeState, NATIVE_SCRATCH_BASE as S, type NativeCase } from '../../../properties/harness/native.js';
import { Cpu1 } from '../../../properties/harness/cpu1.js';

const GP = 13, SS = 12, PF = 14;
const mk = (code: number[], regs: Record<string, bigint>): NativeCase => ({ code: Uint8Array.from(code), state: makeNativeState(regs) });
const compat = (): Cpu1 => new Cpu1({ compat: true });

test('compatibility mode: data accesses that wrap at 4 GiB are #GP(0), before any #PF', () => {
  const cases: [string, number[], bigint][] = [
    ['mov eax, [ebx] at FFFFFFFE', [0x8b, 0x03], 0xffff_fffen],
    ['mov ax, [ebx] at FFFFFFFF', [0x66, 0x8b, 0x03], 0xffff_ffffn],
    ['mov [ebx], eax at FFFFFFFD', [0x89, 0x03], 0xffff_fffdn],
    ['add [ebx], eax at FFFFFFFE (read-modify-write)', [0x01, 0x03], 0xffff_fffen],
    ['movq xmm0, [ebx] at FFFFFFFC', [0xf3, 0x0f, 0x7e, 0x03], 0xffff_fffcn],
    ['movsd at ESI = FFFFFFFE', [0xa5], 0n],
  ];
  for (const [name, code, rbx] of cases) {
    const c = compat();
    const r = c.run(mk(code, { rbx, rsi: 0xffff_fffen, rdi: BigInt(S) }));
    assert.ok(!r.ok, name);
    if (r.ok) continue;
    assert.is(r.vector, GP, `${name}: #GP`);
    assert.is(r.errorCode, 0, `${name}: error code 0`);
    assert.is(r.ripOffset, 0, `${name}: fault`);
  }
});

test('compatibility mode: a push that wraps at 4 GiB is #SS(0)', () => {
  const r = compat().run(mk([0x50], { rsp: 2n })); // push eax: ESP - 4 = FFFFFFFE
  assert.ok(!r.ok && r.vector === SS && r.errorCode === 0);
});

test('the last bytes below 4 GiB are within the limit (a #PF here: unmapped); 64-bit mode has no limit check', () => {
  let r = compat().run(mk([0x8b, 0x03], { rbx: 0xffff_fffcn }));
  assert.ok(!r.ok && r.vector === PF, 'FFFFFFFC + 3 = the limit: paging decides');
  r = compat().run(mk([0x8a, 0x03], { rbx: 0xffff_ffffn }));
  assert.ok(!r.ok && r.vector === PF, 'one byte at the limit');
  r = new Cpu1().run(mk([0x67, 0x8b, 0x03], { rbx: 0xffff_fffen })); // 32-bit address in 64-bit mode: wraps, no limit
  assert.ok(!r.ok && r.vector === PF, '64-bit mode: #PF, not #GP');
});

test.run();
