/**
 * x87/SSE behaviour the native differential cannot reach (Linux user mode
 * always runs with CR0.TS = EM = 0 and CR4.OSFXSR = 1, in 64-bit mode),
 * against the SDM:
 * - CR0.EM/TS, CR0.MP and CR4.OSFXSR (Vol. 3A, 2.5 and Table 2-2; Vol. 2A,
 *   2.5 exception classes; Vol. 2A FXSAVE/FXRSTOR "Protected Mode Exceptions");
 * - FXSAVE/FXRSTOR formats: REX.W (64-bit FIP/FDP) or not (32-bit offsets and
 *   FCS/FDS), and outside 64-bit mode (XMM0-7 only) (Vol. 2A FXSAVE,
 *   Tables 3-53, 3-56); MXCSR_MASK 0xFFFF; the CR4.OSFXSR = 0 choice;
 * - MXCSR reserved bits (Vol. 2B LDMXCSR);
 * - decoding: SSE encodings this machine does not implement stop with
 *   UnimplementedError, invalid forms are #UD (Vol. 2A, 2.1.2; Vol. 2D A.3).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeNativeState, NATIVE_SCRATCH_BASE as S, type NativeCase, type NativeStateInit } from '../../../properties/harness/native.js';
import { Cpu1, type Cpu1Options, type Cpu1Result } from '../../../properties/harness/cpu1.js';
import { CR0_EM, CR0_TS, CR0_MP, CR4_OSFXSR } from '../../../core/cpu/regs.js';
import { fpuState, MXCSR_MASK } from '../../../core/cpu/fpu-state.js';
import type { Cpu } from '../../../core/cpu/cpu.js';

const UD = 6, NM = 7, GP = 13, MF = 16;

function mk(code: number[], init: NativeStateInit = {}): NativeCase {
  return { code: Uint8Array.from(code), state: makeNativeState(init) };
}
function run(code: number[], init: NativeStateInit = {}, opts: Cpu1Options = {}, steps = 1): Cpu1Result {
  return new Cpu1(opts).run(mk(code, init), steps);
}
function vectorOf(r: Cpu1Result): number {
  if (r.unimplemented !== undefined) throw new Error(r.unimplemented);
  return r.ok ? -1 : r.vector ?? -2;
}
const cr0 = (set: number, clear = 0) => (c: Cpu): void => { c.cr0 = (c.cr0 | set) & ~clear; };
const noFxsr = (c: Cpu): void => { c.cr4 &= ~CR4_OSFXSR; };
const u32 = (m: Uint8Array, o: number): number => (m[o]! | (m[o + 1]! << 8) | (m[o + 2]! << 16) | (m[o + 3]! << 24)) >>> 0;
const u16 = (m: Uint8Array, o: number): number => m[o]! | (m[o + 1]! << 8);

// Encodings (64-bit mode, memory operand [rax]).
const PXOR = [0x66, 0x0f, 0xef, 0xc1];          // pxor xmm0, xmm1
const MOVDQU_LD = [0xf3, 0x0f, 0x6f, 0x00];     // movdqu xmm0, [rax]
const LDMXCSR = [0x0f, 0xae, 0x10];             // ldmxcsr [rax]
const STMXCSR = [0x0f, 0xae, 0x18];             // stmxcsr [rax]
const FXSAVE = [0x0f, 0xae, 0x00];              // fxsave [rax]
const FXSAVE64 = [0x48, 0x0f, 0xae, 0x00];      // fxsave64 [rax]
const FXRSTOR = [0x0f, 0xae, 0x08];             // fxrstor [rax]
const FXRSTOR64 = [0x48, 0x0f, 0xae, 0x08];     // fxrstor64 [rax]
const FNSTCW = [0xd9, 0x38];                    // fnstcw [rax]
const FWAIT = [0x9b];
const MOVNTI = [0x0f, 0xc3, 0x00];              // movnti [rax], eax (SSE2, but no SSE state)

test('SSE instructions: #UD with CR0.EM or CR4.OSFXSR = 0, else #NM with CR0.TS (Vol. 3A 2.5; Vol. 2A 2.5)', () => {
  for (const code of [PXOR, MOVDQU_LD, LDMXCSR, STMXCSR]) {
    const name = code.map((b) => b.toString(16)).join(' ');
    const init = { rax: S };
    assert.is(vectorOf(run(code, init)), -1, `${name}: runs normally`);
    assert.is(vectorOf(run(code, init, { setup: cr0(CR0_TS) })), NM, `${name}: TS`);
    assert.is(vectorOf(run(code, init, { setup: cr0(CR0_EM) })), UD, `${name}: EM`);
    assert.is(vectorOf(run(code, init, { setup: cr0(CR0_EM | CR0_TS) })), UD, `${name}: EM and TS: #UD first`);
    assert.is(vectorOf(run(code, init, { setup: noFxsr })), UD, `${name}: OSFXSR = 0`);
    assert.is(vectorOf(run(code, init, { setup: (c) => { noFxsr(c); c.cr0 |= CR0_TS; } })), UD, `${name}: OSFXSR = 0 and TS`);
  }
  // MOVNTI stores a general-purpose register: no SSE state, no CR0.TS/EM check.
  assert.is(vectorOf(run(MOVNTI, { rax: S }, { setup: cr0(CR0_TS | CR0_EM) })), -1, 'MOVNTI ignores TS/EM');
});

test('FXSAVE/FXRSTOR: #UD with CR0.EM, #NM with CR0.TS, not affected by CR4.OSFXSR (Vol. 2A FXSAVE)', () => {
  for (const code of [FXSAVE, FXRSTOR]) {
    const init = { rax: S, mem: [0x7f, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x1f] };
    assert.is(vectorOf(run(code, init)), -1);
    assert.is(vectorOf(run(code, init, { setup: cr0(CR0_TS) })), NM);
    assert.is(vectorOf(run(code, init, { setup: cr0(CR0_EM) })), UD);
    assert.is(vectorOf(run(code, init, { setup: cr0(CR0_EM | CR0_TS) })), UD);
    assert.is(vectorOf(run(code, init, { setup: noFxsr })), -1);
    assert.is(vectorOf(run(code, { rax: S + 8 })), GP, 'misaligned: #GP(0)');
  }
});

test('x87 control instructions: #NM with CR0.EM or CR0.TS; FWAIT only with MP and TS (Vol. 3A, Table 2-2)', () => {
  assert.is(vectorOf(run(FNSTCW, { rax: S }, { setup: cr0(CR0_TS) })), NM);
  assert.is(vectorOf(run(FNSTCW, { rax: S }, { setup: cr0(CR0_EM) })), NM);
  assert.is(vectorOf(run([0xdb, 0xe3], {}, { setup: cr0(CR0_EM) })), NM, 'FNINIT');
  assert.is(vectorOf(run(FWAIT, {}, { setup: cr0(CR0_TS) })), -1, 'FWAIT: TS alone');
  assert.is(vectorOf(run(FWAIT, {}, { setup: cr0(CR0_EM) })), -1, 'FWAIT: EM alone');
  assert.is(vectorOf(run(FWAIT, {}, { setup: cr0(CR0_TS | CR0_MP) })), NM, 'FWAIT: MP and TS');
});

test('FWAIT: #MF once an unmasked exception flag is pending; FNCLEX clears it (Vol. 1, 8.7)', () => {
  // FCW 0x037E: IM unmasked; FSW 0x0001: IE. FXRSTOR loads them, FWAIT reports #MF.
  const img = new Array(32).fill(0);
  img[0] = 0x7e; img[1] = 0x03; img[2] = 0x01; img[24] = 0x80; img[25] = 0x1f;
  assert.is(vectorOf(run([...FXRSTOR, ...FWAIT], { rax: S, mem: img }, {}, 2)), MF);
  const r = run([...FXRSTOR, 0xdb, 0xe2, ...FWAIT], { rax: S, mem: img }, {}, 3);
  assert.is(vectorOf(r), -1, 'FNCLEX first');
  // Masked again by FLDCW 0x037F: nothing pending.
  const img2 = [...img];
  img2[0x40] = 0x7f; img2[0x41] = 0x03;
  assert.is(vectorOf(run([...FXRSTOR, 0xd9, 0x68, 0x40, ...FWAIT], { rax: S, mem: img2 }, {}, 3)), -1, 'FLDCW masks it');
});

test('FXSAVE formats: REX.W stores 64-bit FIP/FDP; without it FIP/FDP[31:0] with FCS/FDS (Vol. 2A, Tables 3-53/3-56)', () => {
  const img = new Array(0x400).fill(0);
  img[0] = 0x7f; img[1] = 0x03; // FCW
  img[6] = 0x34; img[7] = 0x07; // FOP 0x734
  for (let k = 0; k < 8; k++) { img[8 + k] = 0x11 * (k + 1); img[16 + k] = 0x80 + k; } // FIP, FDP
  img[24] = 0x80; img[25] = 0x1f;
  // fxrstor64 [rax]; fxsave [rax+0x200] (32-bit offsets); FCS/FDS were not loaded by the 64-bit form: 0.
  const code = [...FXRSTOR64, 0x0f, 0xae, 0x80, 0x00, 0x02, 0x00, 0x00];
  const r = run(code, { rax: S, mem: img }, {}, 2);
  assert.ok(r.ok);
  const m = r.state!.mem;
  assert.is(u16(m, 0x206), 0x734, 'FOP');
  assert.is(u32(m, 0x208), 0x44332211, 'FIP[31:0]');
  assert.is(u16(m, 0x20c), 0, 'FCS');
  assert.is(u32(m, 0x210), 0x83828180, 'FDP[31:0]');
  assert.is(u16(m, 0x214), 0, 'FDS');
  assert.is(u32(m, 0x21c), MXCSR_MASK, 'MXCSR_MASK');
  // fxrstor64; fxsave64: the 64-bit pointers come back whole.
  const r2 = run([...FXRSTOR64, 0x48, 0x0f, 0xae, 0x80, 0x00, 0x02, 0x00, 0x00], { rax: S, mem: img }, {}, 2);
  assert.is(u32(r2.state!.mem, 0x20c), 0x88776655, 'FIP[63:32]');
  assert.is(u32(r2.state!.mem, 0x214), 0x87868584, 'FDP[63:32]');
  // fxrstor (32-bit form) loads FCS/FDS from bytes 12-13 / 20-21.
  const r3 = run([...FXRSTOR, 0x0f, 0xae, 0x80, 0x00, 0x02, 0x00, 0x00], { rax: S, mem: img }, {}, 2);
  assert.is(u16(r3.state!.mem, 0x20c), 0x6655, 'FCS');
  assert.is(u16(r3.state!.mem, 0x214), 0x8584, 'FDS');
  // FNINIT clears them.
  const r4 = run([...FXRSTOR64, 0xdb, 0xe3, ...FXSAVE64.slice(0, 3), 0x80, 0x00, 0x02, 0x00, 0x00], { rax: S, mem: img }, {}, 3);
  assert.equal(Array.from(r4.state!.mem.subarray(0x206, 0x218)), new Array(18).fill(0), 'FNINIT: last-instruction fields 0');
});

test('CR4.OSFXSR = 0: FXSAVE leaves the MXCSR and XMM fields alone, FXRSTOR neither loads nor checks them', () => {
  const mem = new Array(0x400).fill(0xaa);
  const r = run(FXSAVE, { rax: S, mem, xmm: [1n, 2n] }, { setup: noFxsr });
  assert.ok(r.ok);
  const m = r.state!.mem;
  assert.is(u16(m, 0), 0x37f, 'FCW stored');
  assert.ok(m.subarray(24, 32).every((b) => b === 0xaa), 'MXCSR, MXCSR_MASK untouched');
  assert.ok(m.subarray(160, 512).every((b) => b === 0xaa), 'XMM area untouched');
  // An image with a reserved MXCSR bit: no #GP, MXCSR and XMM unchanged.
  const img = new Array(512).fill(0x55);
  img[0] = 0x7f; img[1] = 0x03;
  const r2 = run(FXRSTOR, { rax: S, mem: img, xmm: [7n], mxcsr: 0x1f80 }, { setup: noFxsr });
  assert.ok(r2.ok, 'no #GP');
  assert.is(r2.state!.mxcsr, 0x1f80);
  assert.is(r2.state!.xmm![0], 7);
  // With OSFXSR = 1 the same image is #GP(0) (MXCSR 0x55555555 has reserved bits).
  assert.is(vectorOf(run(FXRSTOR, { rax: S, mem: img })), GP);
});

test('LDMXCSR/STMXCSR: every bit of MXCSR_MASK 0xFFFF loads, any other bit is #GP(0) (Vol. 2B LDMXCSR)', () => {
  const r = run([...LDMXCSR, 0x0f, 0xae, 0x58, 0x04], { rax: S, mem: [0xff, 0xff, 0, 0] }, {}, 2);
  assert.ok(r.ok);
  assert.is(r.state!.mxcsr, 0xffff);
  assert.is(u32(r.state!.mem, 4), 0xffff);
  for (const bit of [16, 17, 18, 31]) {
    const v = (1 << bit) >>> 0;
    assert.is(vectorOf(run(LDMXCSR, { rax: S, mem: [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24] })), GP, `bit ${bit}`);
  }
});

test('compatibility mode: XMM0-7, FXSAVE in the legacy layout (XMM8-15 area untouched)', () => {
  const mem = new Array(0x200).fill(0xcc);
  const xmm = Array.from({ length: 16 }, (_, k) => BigInt(k + 1) * 0x0101_0101_0101_0101_0101_0101_0101_0101n);
  const r = run([0x0f, 0xae, 0x00], { rax: S, mem, xmm }, { compat: true });
  assert.ok(r.ok);
  const m = r.state!.mem;
  for (let k = 0; k < 8; k++) assert.ok(m.subarray(160 + 16 * k, 176 + 16 * k).every((b) => b === k + 1), `XMM${k}`);
  assert.ok(m.subarray(288, 512).every((b) => b === 0xcc), 'bytes 288-511 untouched');
  // movdqu xmm7, [eax]; pxor xmm7, xmm7 would be 66 0F EF FF: 32-bit decoding, registers 0-7.
  const r2 = run([0xf3, 0x0f, 0x6f, 0x38], { rax: S, mem: new Array(16).fill(0x5a) }, { compat: true });
  assert.is(r2.state!.xmm![28], 0x5a5a5a5a);
});

test('the state lives beside the Cpu: fresh CPUs start with MXCSR 0x1F80, XMM 0, FCW 0x37F', () => {
  const c = new Cpu1().cpu;
  const f = fpuState(c);
  assert.is(f.mxcsr, 0x1f80);
  assert.ok(f.xmm.every((v) => v === 0));
  assert.is(c.fpuCw, 0x37f);
  assert.is(fpuState(new Cpu1().cpu) === f, false, 'one state per CPU');
  assert.is(fpuState(c), f);
});

test('unimplemented SSE encodings stop cleanly; invalid forms are #UD', () => {
  // ADDSS (F3 0F 58), CVTSI2SD (F2 0F 2A), MMX PXOR (NP 0F EF), PSHUFB (66 0F 38 00): not implemented.
  for (const code of [[0xf3, 0x0f, 0x58, 0xc1], [0xf2, 0x0f, 0x2a, 0xc0], [0x0f, 0xef, 0xc1], [0x66, 0x0f, 0x38, 0x00, 0xc1]]) {
    const r = run(code);
    assert.ok(r.unimplemented !== undefined, `${code.map((b) => b.toString(16)).join(' ')}: UnimplementedError`);
  }
  // Memory forms of register-only instructions, register forms of memory-only ones, LOCK.
  const ud: number[][] = [
    [0x66, 0x0f, 0x73, 0x18, 0x01], // psrldq with a memory operand
    [0x66, 0x0f, 0xd7, 0x00],       // pmovmskb eax, [rax]
    [0x0f, 0x50, 0x00],             // movmskps eax, [rax]
    [0x0f, 0x2b, 0xc0],             // movntps xmm0, xmm0
    [0x66, 0x0f, 0x12, 0xc1],       // movlpd xmm0, xmm1
    [0x0f, 0xae, 0xc0],             // fxsave with mod = 3
    [0x66, 0x0f, 0xae, 0x00],       // 66 fxsave
    [0xf0, 0x66, 0x0f, 0xef, 0x00], // lock pxor
  ];
  for (const code of ud) assert.is(vectorOf(run(code, { rax: S })), UD, code.map((b) => b.toString(16)).join(' '));
});

test('mandatory prefixes: F3/F2 select before 66, the last of F2/F3 wins, 66 is no operand-size override', () => {
  const x1 = 0x0f0e0d0c0b0a09080706050403020100n;
  // 66 F3 0F 7E C1: movq xmm0, xmm1 (F3 wins over 66): upper quadword zeroed.
  let r = run([0x66, 0xf3, 0x0f, 0x7e, 0xc1], { xmm: [-1n, x1] });
  assert.equal([r.state!.xmm![0], r.state!.xmm![1], r.state!.xmm![2], r.state!.xmm![3]], [0x03020100, 0x07060504, 0, 0]);
  // F3 F2 0F 10 C1: movsd xmm0, xmm1 (F2 last): low quadword copied, upper kept.
  r = run([0xf3, 0xf2, 0x0f, 0x10, 0xc1], { xmm: [-1n, x1] });
  assert.equal([r.state!.xmm![0], r.state!.xmm![1], r.state!.xmm![2]], [0x03020100, 0x07060504, 0xffffffff]);
  // 66 REX.W 0F 7E C0: movq rax, xmm0 (64 bits); 66 0F 7E C0: movd eax, xmm0 (zero-extended).
  r = run([0x66, 0x48, 0x0f, 0x7e, 0xc0], { xmm: [x1], rax: -1n });
  assert.is(r.state!.gpr[0], 0x03020100); assert.is(r.state!.gpr[1], 0x07060504);
  r = run([0x66, 0x0f, 0x7e, 0xc0], { xmm: [x1], rax: -1n });
  assert.is(r.state!.gpr[0], 0x03020100); assert.is(r.state!.gpr[1], 0);
});

test('SSE2 integer edge cases from the SDM: PMULUDQ full 64-bit product, PMADDWD 8000H pairs, saturating packs and adds, PSADBW, PEXTRW/PINSRW', () => {
  const x = (r: Cpu1Result, n: number): number[] => Array.from(r.state!.xmm!.subarray(4 * n, 4 * n + 4), (v) => v >>> 0);
  const ALL1 = (1n << 128n) - 1n;
  // pmuludq xmm0, xmm1: 0xFFFFFFFF * 0xFFFFFFFF = 0xFFFFFFFE_00000001 in both quadwords.
  assert.equal(x(run([0x66, 0x0f, 0xf4, 0xc1], { xmm: [ALL1, ALL1] }), 0), [1, 0xfffffffe, 1, 0xfffffffe]);
  // pmaddwd: (-32768 * -32768) * 2 wraps to 0x80000000 (Vol. 2B PMADDWD).
  const w8000 = 0x80008000_80008000_80008000_80008000n;
  assert.equal(x(run([0x66, 0x0f, 0xf5, 0xc1], { xmm: [w8000, w8000] }), 0), [0x80000000, 0x80000000, 0x80000000, 0x80000000]);
  // packuswb: words 0x0100 (256) -> 0xFF, 0xFFFF (-1) -> 0; packsswb: 0x7FFF -> 0x7F, 0x8000 -> 0x80.
  assert.equal(x(run([0x66, 0x0f, 0x67, 0xc1], { xmm: [0xffff_0100n, 0n] }), 0), [0x00ff, 0, 0, 0]);
  assert.equal(x(run([0x66, 0x0f, 0x63, 0xc1], { xmm: [0x8000_7fffn, 0n] }), 0), [0x807f, 0, 0, 0]);
  // paddusb 0xF0 + 0x20 = 0xFF; psubsb 0x80 - 0x01 = 0x80 (signed saturation).
  assert.is(x(run([0x66, 0x0f, 0xdc, 0xc1], { xmm: [0xf0n, 0x20n] }), 0)[0]! & 0xff, 0xff);
  assert.is(x(run([0x66, 0x0f, 0xe8, 0xc1], { xmm: [0x80n, 0x01n] }), 0)[0]! & 0xff, 0x80);
  // psadbw: |0 - 255| * 8 = 0x7F8 in each half's low word.
  assert.equal(x(run([0x66, 0x0f, 0xf6, 0xc1], { xmm: [0n, ALL1] }), 0), [0x7f8, 0, 0x7f8, 0]);
  // pextrw eax, xmm1, 9 (imm8[2:0] = 1); pinsrw xmm0, ecx, 7.
  assert.is(run([0x66, 0x0f, 0xc5, 0xc1, 0x09], { rax: -1n, xmm: [0n, 0x1234_5678n] }).state!.gpr[0], 0x1234);
  assert.equal(x(run([0x66, 0x0f, 0xc4, 0xc1, 0x07], { rcx: 0xabcdn }), 0), [0, 0, 0, 0xabcd0000]);
  // psrlw xmm0, xmm1 with a count above 2^32: all zero (the whole low quadword is the count).
  assert.equal(x(run([0x66, 0x0f, 0xd1, 0xc1], { xmm: [ALL1, 0x1_0000_0000n] }), 0), [0, 0, 0, 0]);
});

test.run();
