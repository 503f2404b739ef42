/**
 * The MMX data moves (core/cpu/exec/mmx.ts) against the SDM:
 * - Vol. 1, 9.5 / 9.5.1: MMX register i is bits 63:0 of x87 data register
 *   R_i; an MMX write sets bits 79:64 to all ones; every MMX instruction
 *   sets TOP = 0 and tags all eight registers valid (tag word 0); EMMS tags
 *   them all empty (0xFFFF) (Vol. 2A EMMS);
 * - Vol. 2B MOVD/MOVQ: a doubleword moved into an MMX register is
 *   zero-extended; MOVD r32, mm zero-extends the 64-bit GPR;
 * - exceptions (Vol. 2B, "Exception Conditions for Legacy SIMD/MMX
 *   Instructions"): #UD with CR0.EM = 1, else #NM with CR0.TS = 1, else #MF
 *   with an unmasked x87 exception pending.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeNativeState, NATIVE_SCRATCH_BASE as S, type NativeStateInit } from '../../../properties/harness/native.js';
import { Cpu1, type Cpu1Options, type Cpu1Result } from '../../../properties/harness/cpu1.js';
import { CR0_EM, CR0_TS } from '../../../core/cpu/regs.js';
import { fpuState } from '../../../core/cpu/fpu-state.js';
import type { Cpu } from '../../../core/cpu/cpu.js';

const UD = 6, NM = 7, MF = 16;

function run(code: number[], init: NativeStateInit = {}, opts: Cpu1Options = {}, steps = 1): { r: Cpu1Result; cpu: Cpu } {
  const h = new Cpu1(opts);
  const r = h.run({ code: Uint8Array.from(code), state: makeNativeState(init) }, steps);
  if (r.unimplemented !== undefined) throw new Error(r.unimplemented);
  return { r, cpu: h.cpu };
}
const vec = (r: Cpu1Result): number => (r.ok ? -1 : r.vector ?? -2);

const MOVQ_MM0_RAX = [0x48, 0x0f, 0x6e, 0xc0];   // movq mm0, rax
const MOVD_MM1_EAX = [0x0f, 0x6e, 0xc8];         // movd mm1, eax
const MOVQ_M_MM0 = [0x0f, 0x7f, 0x03];           // movq [rbx], mm0
const MOVQ_MM2_M = [0x0f, 0x6f, 0x13];           // movq mm2, [rbx]
const MOVD_ECX_MM2 = [0x0f, 0x7e, 0xd1];         // movd ecx, mm2
const EMMS = [0x0f, 0x77];

const FXRSTOR = [0x0f, 0xae, 0x08];             // fxrstor [rax]
/** An FXSAVE image (Vol. 2A FXSAVE, Table 3-56) at scratch offset 0: FCW, FSW, abridged FTW, MXCSR 0x1F80. */
function fxImage(fcw: number, fsw: number): number[] {
  const img = new Array(32).fill(0);
  img[0] = fcw & 0xff; img[1] = fcw >>> 8; img[2] = fsw & 0xff; img[3] = fsw >>> 8; img[24] = 0x80; img[25] = 0x1f;
  return img;
}

test('movq mm0, rax; movq [rbx], mm0 stores the 64 bits; the register image gets exponent 0xFFFF; TOP = 0, all tags valid', () => {
  // start with TOP = 5 and every register empty (abridged FTW 0), loaded by FXRSTOR
  const code = [...FXRSTOR, 0x48, 0xb8, 8, 7, 6, 5, 4, 3, 2, 1, ...MOVQ_MM0_RAX, ...MOVQ_M_MM0]; // mov rax, 0x0102030405060708
  const init = { rax: BigInt(S), rbx: BigInt(S + 0x100), mem: fxImage(0x37f, 5 << 11) };
  const pre = run(code, init, {}, 1);
  assert.ok(pre.r.ok);
  assert.is((pre.cpu.fpuSw >>> 11) & 7, 5, 'FXRSTOR loaded TOP = 5');
  assert.is(pre.cpu.fpuTw, 0xffff, 'all empty');
  const x = run(code, init, {}, 4);
  assert.ok(x.r.ok);
  assert.equal(Array.from(x.r.state!.mem.subarray(0x100, 0x108)), [8, 7, 6, 5, 4, 3, 2, 1]);
  const st = fpuState(x.cpu).st;
  assert.equal(Array.from(st.subarray(0, 10)), [8, 7, 6, 5, 4, 3, 2, 1, 0xff, 0xff]);
  assert.is((x.cpu.fpuSw >>> 11) & 7, 0);
  assert.is(x.cpu.fpuTw, 0);
});

test('movd mm1, eax zero-extends; movq mm2, [rbx]; movd ecx, mm2 takes bits 31:0 and clears RCX[63:32]', () => {
  let x = run([...MOVD_MM1_EAX], { rax: 0xffffffff89abcdefn });
  assert.equal(Array.from(fpuState(x.cpu).st.subarray(10, 20)), [0xef, 0xcd, 0xab, 0x89, 0, 0, 0, 0, 0xff, 0xff]);
  x = run([...MOVQ_MM2_M, ...MOVD_ECX_MM2], { rbx: BigInt(S), rcx: 0x1111111111111111n, mem: [0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80] }, {}, 2);
  assert.ok(x.r.ok);
  assert.is(x.r.state!.gpr[2], 0x40302010); assert.is(x.r.state!.gpr[3], 0);
});

test('EMMS tags every x87 register empty', () => {
  const { r, cpu } = run(EMMS, {}, { setup: (c) => { c.fpuTw = 0; } });
  assert.ok(r.ok);
  assert.is(cpu.fpuTw, 0xffff);
});

test('#UD with CR0.EM (before #NM), #NM with CR0.TS, #MF with an unmasked pending x87 exception', () => {
  for (const code of [MOVQ_MM0_RAX, MOVQ_M_MM0, MOVQ_MM2_M, MOVD_ECX_MM2, EMMS]) {
    const name = code.map((b) => b.toString(16)).join(' ');
    const init = { rbx: BigInt(S) };
    assert.is(vec(run(code, init, { setup: (c) => { c.cr0 |= CR0_EM | CR0_TS; } }).r), UD, `${name}: EM`);
    assert.is(vec(run(code, init, { setup: (c) => { c.cr0 |= CR0_TS; } }).r), NM, `${name}: TS`);
    // FSW.IE set with FCW.IM clear (loaded by FXRSTOR): an unmasked invalid-operation exception is pending (Vol. 1, 8.7)
    assert.is(vec(run([...FXRSTOR, ...code], { rax: BigInt(S), rbx: BigInt(S + 0x100), mem: fxImage(0x37e, 1) }, {}, 2).r), MF, `${name}: pending #MF`);
  }
});

test.run();
