/**
 * IMUL r64, r/m64 (0F AF) and IMUL r64, r/m64, imm32 (69): the specialized
 * paths of exec/alu.ts (sign-extended 32-bit factors, zero-extended 32-bit
 * factors - the bignum case, e.g. Linux's MPI code - and the general one)
 * against the host CPU. Vol. 2A IMUL: the destination gets the low 64 bits of
 * the signed product, CF = OF = 1 when it differs from the full product; SF,
 * ZF, AF, PF are undefined (not compared).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeNativeState, nativeUnavailableReason, runNativeBatch, type NativeCase } from '../../../properties/harness/native.js';
import { Cpu1 } from '../../../properties/harness/cpu1.js';

const CF = 1, OF = 0x800;
const skip = nativeUnavailableReason();

/** Factors around the fast paths' edges: small, 2^31 +- 1, 2^32 - 1, sign-extended negatives, 64-bit. */
const VALUES: bigint[] = [0n, 1n, 3n, 0x7fff_ffffn, 0x8000_0000n, 0x8000_0001n, 0xffff_ffffn, 0xdead_beefn, 0x1_0000_0000n,
  0xffff_ffff_ffff_ffffn, 0xffff_ffff_8000_0000n, 0xffff_ffff_7fff_ffffn, 0x8000_0000_0000_0000n, 0x7fff_ffff_ffff_ffffn,
  0x0000_0001_2345_6789n, 0xfedc_ba98_7654_3210n];

test('IMUL r64 forms match the host CPU on values around 2^31, 2^32 and sign extension (CF/OF, result)', () => {
  if (skip) { console.log(`  (skipped: ${skip})`); return; }
  const cases: NativeCase[] = [];
  for (const a of VALUES) for (const b of VALUES) {
    cases.push({ code: Uint8Array.from([0x48, 0x0f, 0xaf, 0xc3]), state: makeNativeState({ rax: a, rbx: b }) }); // imul rax, rbx
  }
  for (const a of VALUES) for (const imm of [0x7fff_ffff, -0x8000_0000, -1, 0x1234_5678, 2]) {
    const le = [imm & 0xff, (imm >>> 8) & 0xff, (imm >>> 16) & 0xff, (imm >>> 24) & 0xff];
    cases.push({ code: Uint8Array.from([0x48, 0x69, 0xc3, ...le]), state: makeNativeState({ rbx: a }) }); // imul rax, rbx, imm32
  }
  const nat = runNativeBatch(cases);
  cases.forEach((c, k) => {
    const ours = new Cpu1().run(c);
    const n = nat[k]!;
    assert.ok(ours.ok && n.ok, `case ${k} completes`);
    if (!ours.ok || !n.ok) return;
    assert.equal(Array.from(ours.state!.gpr.subarray(0, 2)), Array.from(n.state!.gpr.subarray(0, 2)), `case ${k}: RAX`);
    assert.is(ours.state!.rflags & (CF | OF), n.state!.rflags & (CF | OF), `case ${k}: CF/OF`);
  });
});

test.run();
