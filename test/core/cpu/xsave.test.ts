/**
 * The XSAVE feature set against the SDM (Vol. 1, chapter 13; Vol. 2C XGETBV,
 * XSETBV, XSAVE, XRSTOR; Vol. 2A CPUID leaf 0DH), for what the native
 * differential cannot reach (CR4.OSXSAVE = 0, CR0.TS, CPL, header #GP rules,
 * XCR0 other than the host's, compatibility mode):
 * - CPUID: XSAVE advertised, leaf 0DH sub-leaves 0/1, OSXSAVE as the guest's CR4 says;
 * - XGETBV/XSETBV #UD/#GP rules, XSETBV's exit (reason 55) and the hypervisor's checks;
 * - XSAVE: RFBM = XCR0 AND EDX:EAX, the legacy-region layout, XSTATE_BV read-modify-write;
 * - XRSTOR: header checks, init of components whose XSTATE_BV bit is clear, MXCSR rule;
 * - XSAVEOPT/XSAVEC/XSAVES/XRSTORS: #UD (CPUID.(EAX=0DH,ECX=1):EAX = 0).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeNativeState, NATIVE_SCRATCH_BASE as S, type NativeStateInit } from '../../../properties/harness/native.js';
import { Cpu1, type Cpu1Options, type Cpu1Result } from '../../../properties/harness/cpu1.js';
import { CR0_TS, CR4_OSXSAVE } from '../../../core/cpu/regs.js';
import { fpuState, MXCSR_MASK } from '../../../core/cpu/fpu-state.js';
import { siliconCpuid, F1_ECX } from '../../../core/cpu/cpuid.js';
import { guestCpuid } from '../../../core/hv/exits/cpuid.js';
import { xsetbvFault } from '../../../core/cpu/exec/fpu.js';
import type { Cpu } from '../../../core/cpu/cpu.js';

const UD = 6, NM = 7, GP = 13;

function run(code: number[], init: NativeStateInit = {}, opts: Cpu1Options = {}, steps = 1): Cpu1Result {
  return new Cpu1(opts).run({ code: Uint8Array.from(code), state: makeNativeState(init) }, steps);
}
function vectorOf(r: Cpu1Result): number {
  if (r.unimplemented !== undefined) throw new Error(r.unimplemented);
  return r.ok ? -1 : r.vector ?? -2;
}
const noOsxsave = (c: Cpu): void => { c.cr4 &= ~CR4_OSXSAVE; };
const xcr0 = (v: number) => (c: Cpu): void => { fpuState(c).xcr0 = v; };
const u32 = (m: Uint8Array, o: number): number => (m[o]! | (m[o + 1]! << 8) | (m[o + 2]! << 16) | (m[o + 3]! << 24)) >>> 0;
const u16 = (m: Uint8Array, o: number): number => m[o]! | (m[o + 1]! << 8);

const XGETBV = [0x0f, 0x01, 0xd0];
const XSETBV = [0x0f, 0x01, 0xd1];
const XSAVE = [0x0f, 0xae, 0x20];          // xsave [rax]
const XRSTOR = [0x0f, 0xae, 0x28];         // xrstor [rax]
const X1 = 0x0123456789abcdef_fedcba9876543210n;

test('CPUID: XSAVE in leaf 1; leaf 0DH: XCR0 may hold x87|SSE, 576-byte area, no XSAVEOPT/XSAVEC/XGETBV1/XSAVES (Vol. 2A, Table 3-8)', () => {
  assert.ok((siliconCpuid(1, 0).ecx & F1_ECX.XSAVE) !== 0);
  assert.is(siliconCpuid(0, 0).eax >= 0x0d, true, 'max basic leaf covers 0DH');
  assert.equal(siliconCpuid(0x0d, 0), { eax: 3, ebx: 576, ecx: 576, edx: 0 });
  assert.equal(siliconCpuid(0x0d, 1), { eax: 0, ebx: 0, ecx: 0, edx: 0 });
  assert.equal(siliconCpuid(0x0d, 2), { eax: 0, ebx: 0, ecx: 0, edx: 0 }, 'AVX (component 2) not supported');
  // The guest's view: OSXSAVE follows its CR4, XSAVE and leaf 0DH pass through.
  assert.is(guestCpuid(1, 0, true, false).ecx & (F1_ECX.XSAVE | F1_ECX.OSXSAVE), F1_ECX.XSAVE);
  assert.is(guestCpuid(1, 0, true, true).ecx & (F1_ECX.XSAVE | F1_ECX.OSXSAVE), F1_ECX.XSAVE | F1_ECX.OSXSAVE);
  assert.equal(guestCpuid(0x0d, 0), siliconCpuid(0x0d, 0));
});

test('XGETBV: #UD without CR4.OSXSAVE; ECX = 0 reads XCR0 (RCX[63:32] ignored), other ECX #GP(0), at any CPL', () => {
  assert.is(vectorOf(run(XGETBV, {}, { setup: noOsxsave })), UD);
  const r = run(XGETBV, { rcx: 0xdead_0000_0000n, rax: -1n, rdx: -1n });
  assert.ok(r.ok);
  assert.is(r.state!.gpr[0], 3); assert.is(r.state!.gpr[1], 0, 'RAX[63:32] cleared');
  assert.is(r.state!.gpr[4], 0); assert.is(r.state!.gpr[5], 0, 'RDX = 0');
  assert.is(run(XGETBV, {}, { setup: xcr0(1) }).state!.gpr[0], 1);
  for (const ecx of [1, 2, 0x80000000]) assert.is(vectorOf(run(XGETBV, { rcx: ecx })), GP, `ECX = ${ecx}`);
  assert.is(vectorOf(run(XGETBV, {}, { user: true })), -1, 'CPL 3');
});

test('XSETBV: #UD without CR4.OSXSAVE, #GP(0) at CPL 3 (before the exit), else VM exit 55 (Vol. 3C 26.1.1/26.1.2)', () => {
  assert.is(vectorOf(run(XSETBV, { rax: 3 }, { setup: noOsxsave })), UD);
  assert.is(vectorOf(run(XSETBV, { rax: 3 }, { user: true })), GP);
  const r = run(XSETBV, { rax: 3 });
  assert.is(r.ok, false);
  assert.is(r.exitReason, 55);
});

test('XSETBV rules the hypervisor applies (Vol. 2C XSETBV; Vol. 1 13.3)', () => {
  assert.is(xsetbvFault(0, 1, 0), null, 'x87');
  assert.is(xsetbvFault(0, 3, 0), null, 'x87|SSE');
  assert.ok(xsetbvFault(0, 0, 0) !== null, 'x87 clear');
  assert.ok(xsetbvFault(0, 2, 0) !== null, 'SSE alone');
  assert.ok(xsetbvFault(0, 7, 0) !== null, 'AVX unsupported');
  assert.ok(xsetbvFault(0, 3, 1) !== null, 'bit 32');
  assert.ok(xsetbvFault(1, 3, 0) !== null, 'XCR1');
  assert.ok(xsetbvFault(0x80000000, 3, 0) !== null, 'ECX bit 31');
});

test('XSAVE/XRSTOR: #UD without CR4.OSXSAVE (whatever CR0.TS), #NM with CR0.TS, #GP(0) unless 64-byte aligned', () => {
  for (const code of [XSAVE, XRSTOR]) {
    const init = { rax: S, mem: [0x7f, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x1f] };
    assert.is(vectorOf(run(code, init)), -1);
    assert.is(vectorOf(run(code, init, { setup: noOsxsave })), UD);
    assert.is(vectorOf(run(code, init, { setup: (c) => { noOsxsave(c); c.cr0 |= CR0_TS; } })), UD);
    assert.is(vectorOf(run(code, init, { setup: (c) => { c.cr0 |= CR0_TS; } })), NM);
    assert.is(vectorOf(run(code, { rax: S + 16 })), GP, 'aligned to 16 only');
    assert.is(vectorOf(run(code, { rax: S + 32 }, { user: true })), GP, 'CPL 3 too');
  }
  // Not advertised: XSAVEOPT (0F AE /6), XRSTORS (0F C7 /3), XSAVEC (/4), XSAVES (/5).
  for (const code of [[0x0f, 0xae, 0x30], [0x0f, 0xc7, 0x18], [0x0f, 0xc7, 0x20], [0x0f, 0xc7, 0x28]]) {
    assert.is(vectorOf(run(code, { rax: S })), UD, code.map((b) => b.toString(16)).join(' '));
  }
});

test('XSAVE: RFBM = XCR0 AND EDX:EAX selects the x87 part and the SSE part (MXCSR, XMM); XSTATE_BV is read-modify-written (Vol. 1, 13.7)', () => {
  const mem = new Array(0x300).fill(0xaa);
  // XSTATE_BV holds 0xF0...F0 beforehand; XCOMP_BV and the rest of the header must stay as they are.
  for (let k = 512; k < 576; k++) mem[k] = 0xf0;
  const xmm = [X1, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 5n];
  // xsave [rax] with RAX = S: EAX bits 1:0 are clear, so RFBM = 0 and nothing is written.
  const all = run(XSAVE, { rax: S, rdx: 0, mem, xmm, mxcsr: 0x1fa0 });
  assert.ok(all.ok);
  assert.ok(all.state!.mem.subarray(0, 512).every((b) => b === 0xaa), 'RFBM = 0: legacy region untouched');
  assert.ok(all.state!.mem.subarray(512, 576).every((b) => b === 0xf0), 'RFBM = 0: header untouched');
  // Address in RBX, mask in EDX:EAX.
  const XSAVE_RBX = [0x0f, 0xae, 0x23];
  const r = (eax: number, opts: Cpu1Options = {}): Uint8Array => {
    const res = run(XSAVE_RBX, { rbx: S, rax: eax, rdx: 0xffffffff, mem, xmm, mxcsr: 0x1fa0 }, opts);
    assert.ok(res.ok, `eax=${eax}`);
    return res.state!.mem;
  };
  const m3 = r(3);
  assert.is(u16(m3, 0), 0x37f, 'FCW'); assert.is(u16(m3, 2), 0, 'FSW'); assert.is(m3[4], 0, 'abridged FTW: all empty');
  assert.is(u32(m3, 24), 0x1fa0, 'MXCSR'); assert.is(u32(m3, 28), MXCSR_MASK, 'MXCSR_MASK');
  assert.is(u32(m3, 160), 0x76543210); assert.is(u32(m3, 172), 0x01234567, 'XMM0');
  assert.is(u32(m3, 160 + 15 * 16), 5, 'XMM15 (64-bit mode)');
  assert.ok(m3.subarray(416, 512).every((b) => b === 0xaa), 'bytes 416-511 not written');
  assert.is(m3[512], 0xf2, 'XSTATE_BV: x87 in its init state (0), SSE in use (1), bits 7:2 kept');
  assert.ok(m3.subarray(513, 576).every((b) => b === 0xf0), 'rest of XSTATE_BV, XCOMP_BV, reserved: untouched');
  const m1 = r(1);
  assert.is(u16(m1, 0), 0x37f);
  assert.ok(m1.subarray(24, 32).every((b) => b === 0xaa), 'RFBM[1] = 0: no MXCSR');
  assert.ok(m1.subarray(160, 416).every((b) => b === 0xaa), 'RFBM[1] = 0: no XMM');
  assert.is(m1[512], 0xf0, 'XSTATE_BV[0] = XINUSE[0] = 0, bit 1 kept');
  const m2 = r(2);
  assert.ok(m2.subarray(0, 24).every((b) => b === 0xaa), 'RFBM[0] = 0: no x87 header');
  assert.ok(m2.subarray(32, 160).every((b) => b === 0xaa), 'RFBM[0] = 0: no ST registers');
  assert.is(u32(m2, 24), 0x1fa0);
  // XCR0 = x87 only: EAX = 3 gives RFBM = 1.
  const mx = r(3, { setup: xcr0(1) });
  assert.ok(mx.subarray(160, 416).every((b) => b === 0xaa), 'XCR0[1] = 0: no XMM');
  // Outside 64-bit mode: XMM0-7 only (Vol. 1, 13.5.2). Compatibility mode, [ebx].
  const mc = run([0x0f, 0xae, 0x23], { rbx: S, rax: 3, rdx: 0, mem, xmm, mxcsr: 0x1fa0 }, { compat: true });
  assert.ok(mc.ok);
  assert.is(u32(mc.state!.mem, 160), 0x76543210);
  assert.ok(mc.state!.mem.subarray(288, 416).every((b) => b === 0xaa), 'XMM8-15 not written');
});

test('XRSTOR: header #GP rules (XCOMP_BV[63], XSTATE_BV outside XCR0, bytes 23:8), MXCSR reserved bits (Vol. 2C XRSTOR)', () => {
  const base = new Array(0x240).fill(0);
  base[0] = 0x7f; base[1] = 0x03; base[24] = 0x80; base[25] = 0x1f; base[512] = 3;
  const with_ = (k: number, v: number, b = base): number[] => { const m = [...b]; m[k] = v; return m; };
  const rs = (mem: number[], opts: Cpu1Options = {}, rax = 3): number => vectorOf(run([0x0f, 0xae, 0x2b], { rbx: S, rax, rdx: 0, mem }, opts));
  assert.is(rs(base), -1);
  assert.is(rs(with_(512 + 15, 0x80)), GP, 'XCOMP_BV[63] (compacted form)');
  assert.is(rs(with_(512 + 8, 1)), GP, 'XCOMP_BV[0]');
  assert.is(rs(with_(512 + 23, 1)), GP, 'header byte 23');
  assert.is(rs(with_(512 + 24, 1)), -1, 'header byte 24: not checked');
  assert.is(rs(with_(512, 7)), GP, 'XSTATE_BV[2] with XCR0[2] = 0');
  assert.is(rs(with_(512 + 7, 0x80)), GP, 'XSTATE_BV[63]');
  assert.is(rs(base, { setup: xcr0(1) }), GP, 'XSTATE_BV[1] with XCR0 = x87 only');
  assert.is(rs(base, {}, 0), -1, 'checked against XCR0, not RFBM: fine with RFBM = 0');
  assert.is(rs(with_(512, 7), {}, 0), GP, 'XSTATE_BV outside XCR0 with RFBM = 0: still #GP');
  const badMx = with_(26, 1); // MXCSR bit 16
  assert.is(rs(badMx), GP, 'MXCSR reserved bit, RFBM[1] = 1');
  assert.is(rs(with_(512, 1, badMx)), GP, '... also with XSTATE_BV[1] = 0 (MXCSR is loaded anyway)');
  assert.is(rs(badMx, {}, 1), -1, 'RFBM[1] = 0: MXCSR not loaded, not checked');
});

test('XRSTOR: XSTATE_BV[i] = 0 initializes component i; MXCSR is loaded whatever XSTATE_BV[1] says; RFBM[i] = 0 leaves it (Vol. 1, 13.8.1)', () => {
  const img = new Array(0x240).fill(0);
  img[0] = 0x7e; img[1] = 0x02; img[2] = 0x01; img[4] = 0x80; // FCW 0x27E, FSW IE, R7 valid
  for (let k = 0; k < 10; k++) img[32 + k] = 0x11 + k;        // ST0 = physical R0 (TOP 0)
  img[24] = 0xc0; img[25] = 0x1f;                              // MXCSR 0x1FC0
  for (let k = 160; k < 416; k++) img[k] = k & 0xff;
  const xmm = [X1, X1];
  // xrstor [rbx]; xsave [rbx+0x400] with everything, to read the state back.
  const code = [0x0f, 0xae, 0x2b, 0x0f, 0xae, 0xa3, 0x00, 0x04, 0x00, 0x00];
  const go = (bv: number, rax: number): Uint8Array => {
    const m = [...img]; m[512] = bv;
    const r = run(code, { rbx: S, rax, rdx: 0, mem: m, xmm, mxcsr: 0x1f80 }, {}, 2);
    assert.ok(r.ok, `bv=${bv} rax=${rax}`);
    return r.state!.mem.subarray(0x400);
  };
  // Load everything (EAX = 3 for both instructions).
  let o = go(3, 3);
  assert.is(u16(o, 0), 0x27e); assert.is(u16(o, 2) & 0x3f, 1); assert.is(o[4], 0x80);
  assert.is(o[32], 0x11, 'ST0 loaded'); assert.is(u32(o, 24), 0x1fc0);
  assert.is(o[160], 160, 'XMM0 loaded'); assert.is(o[415], 415 & 0xff, 'XMM15 loaded');
  assert.is(o[512]! & 3, 3, 'XINUSE: both in use');
  // XSTATE_BV = 0: both initialized; MXCSR still loaded.
  o = go(0, 3);
  assert.is(u16(o, 0), 0x37f, 'FCW init'); assert.is(u16(o, 2), 0); assert.is(o[4], 0, 'FTW all empty');
  assert.ok(o.subarray(32, 160).every((b) => b === 0), 'ST0-7 zero');
  assert.is(u32(o, 24), 0x1fc0, 'MXCSR loaded although XSTATE_BV[1] = 0');
  assert.ok(o.subarray(160, 416).every((b) => b === 0), 'XMM0-15 zero');
  assert.is(o[512]! & 3, 0, 'XINUSE: both in their init state');
  // RFBM = 1: the SSE state (XMM0/1 = X1, MXCSR 0x1F80) is left as it was.
  const m = [...img]; m[512] = 3;
  const r = run(code, { rbx: S, rax: 1, rdx: 0, mem: m, xmm, mxcsr: 0x1f80 }, {}, 2);
  assert.ok(r.ok);
  assert.is(r.state!.mxcsr, 0x1f80, 'RFBM[1] = 0: MXCSR kept');
  assert.is(r.state!.xmm![0], 0x76543210, 'RFBM[1] = 0: XMM0 kept');
  assert.is(u16(r.state!.mem, 0x400), 0x27e, 'x87 loaded');
});

test('XSAVE64/XRSTOR64: 64-bit FIP/FDP like FXSAVE64; XSAVE stores 32-bit offsets with FCS/FDS (Vol. 1, 13.5.1)', () => {
  const img = new Array(0x240).fill(0);
  img[0] = 0x7f; img[1] = 0x03; img[6] = 0x34; img[7] = 0x07;
  for (let k = 0; k < 8; k++) { img[8 + k] = 0x11 * (k + 1); img[16 + k] = 0x80 + k; }
  img[24] = 0x80; img[25] = 0x1f; img[512] = 1;
  // xrstor64 [rbx]; xsave64 [rbx+0x400] with EDX:EAX = 1 (x87 only).
  const r2 = run([0x48, 0x0f, 0xae, 0x2b, 0x48, 0x0f, 0xae, 0xa3, 0x00, 0x04, 0x00, 0x00], { rbx: S, rax: 1, rdx: 0, mem: img }, {}, 2);
  assert.ok(r2.ok);
  const o = r2.state!.mem.subarray(0x400) as Uint8Array;
  assert.is(u16(o, 6), 0x734, 'FOP');
  assert.is(u32(o, 12), 0x88776655, 'FIP[63:32]'); assert.is(u32(o, 20), 0x87868584, 'FDP[63:32]');
  const r3 = run([0x48, 0x0f, 0xae, 0x2b, 0x0f, 0xae, 0xa3, 0x00, 0x04, 0x00, 0x00], { rbx: S, rax: 1, rdx: 0, mem: img }, {}, 2);
  const o3 = r3.state!.mem.subarray(0x400) as Uint8Array;
  assert.is(u32(o3, 8), 0x44332211, 'FIP[31:0]'); assert.is(u16(o3, 12), 0, 'FCS (not loaded by the 64-bit form)');
});

test.run();
