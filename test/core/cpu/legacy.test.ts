/**
 * Instructions that exist only outside 64-bit mode (SDM Vol. 2D, Table A-2
 * "i64"), run in compatibility mode (a 32-bit code segment under IA-32e):
 * the decimal-adjust instructions with the SDM's own examples (Vol. 2A DAA,
 * DAS, AAA, AAM, AAD), PUSHA/POPA (Vol. 2B), and their #UD in 64-bit mode.
 * The host CPU cannot run these (the native harness is 64-bit only), so the
 * expected values are the SDM's.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NATIVE_SCRATCH_BASE as S, makeNativeState, type NativeStateInit } from '../../../properties/harness/native.js';
import { Cpu1, type Cpu1Result } from '../../../properties/harness/cpu1.js';

const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80;
const compat = new Cpu1({ compat: true });
const long = new Cpu1();

function run32(code: number[], init: NativeStateInit = {}): Cpu1Result {
  return compat.run({ code: Uint8Array.from(code), state: makeNativeState(init) }, 8);
}
function reg(r: Cpu1Result, k: number): number { return r.state!.gpr[2 * k]!; }

test('DAA after ADD (Vol. 2A DAA, Example): 79H + 35H -> 14H, CF = 1', () => {
  const r = run32([0x00, 0xd8, 0x27], { rax: 0x79, rbx: 0x35 }); // add al, bl; daa
  assert.ok(r.ok);
  assert.is(reg(r, 0) & 0xff, 0x14);
  assert.is(r.state!.rflags & (SF | ZF | AF | PF | CF), AF | PF | CF);
});

test('DAS after SUB (Vol. 2A DAS, Example): 35H - 47H -> 88H, CF = 1', () => {
  const r = run32([0x28, 0xd8, 0x2f], { rax: 0x35, rbx: 0x47 }); // sub al, bl; das
  assert.ok(r.ok);
  assert.is(reg(r, 0) & 0xff, 0x88);
  assert.is(r.state!.rflags & (SF | ZF | AF | PF | CF), SF | AF | PF | CF);
});

test('AAA after ADD: 08H + 09H in unpacked BCD is AH = 1, AL = 7 with CF = AF = 1', () => {
  const r = run32([0x00, 0xd8, 0x37], { rax: 0x08, rbx: 0x09 }); // add al, bl; aaa
  assert.ok(r.ok);
  assert.is(reg(r, 0) & 0xffff, 0x0107);
  assert.is(r.state!.rflags & (AF | CF), AF | CF);
});

test('AAS after SUB: 03H - 05H borrows: AH = FFH, AL = 8 with CF = AF = 1', () => {
  const r = run32([0x28, 0xd8, 0x3f], { rax: 0x03, rbx: 0x05 }); // sub al, bl; aas
  assert.ok(r.ok);
  assert.is(reg(r, 0) & 0xffff, 0xff08);
  assert.is(r.state!.rflags & (AF | CF), AF | CF);
  // AL < 6 with AF = 1: AX - 6 borrows from AH, then AH is decremented again (Operation: "AX <- AX - 6; AH <- AH - 1").
  const b = run32([0x28, 0xd8, 0x3f], { rax: 0x20, rbx: 0x1d });
  assert.is(reg(b, 0) & 0xffff, 0xfe0d);
});

test('AAM / AAD: 3FH <-> AH = 6, AL = 3 (base 10), another base (imm8), and AAM 0 is #DE', () => {
  let r = run32([0xd4, 0x0a], { rax: 0x3f });
  assert.is(reg(r, 0) & 0xffff, 0x0603);
  r = run32([0xd5, 0x0a], { rax: 0x0603 });
  assert.is(reg(r, 0) & 0xffff, 0x003f);
  r = run32([0xd4, 0x10], { rax: 0x3f }); // base 16: AH = 3, AL = F
  assert.is(reg(r, 0) & 0xffff, 0x030f);
  r = run32([0xd4, 0x00], { rax: 0x3f });
  assert.ok(!r.ok && r.vector === 0, 'AAM 0: #DE');
});

test('PUSHAD pushes EAX..EDI with the original ESP; POPAD restores all but ESP (Vol. 2B PUSHA, POPA)', () => {
  const init = { rax: 1, rcx: 2, rdx: 3, rbx: 4, rsp: S + 0x800, rbp: 6, rsi: 7, rdi: 8 };
  const r = run32([0x60], init);
  assert.ok(r.ok);
  assert.is(reg(r, 4), S + 0x800 - 32);
  const dv = new DataView(r.state!.mem.buffer);
  // Lowest address first: EDI, ESI, EBP, ESP (original), EBX, EDX, ECX, EAX.
  assert.equal([0, 1, 2, 3, 4, 5, 6, 7].map((k) => dv.getUint32(0x800 - 32 + 4 * k, true)), [8, 7, 6, S + 0x800, 4, 3, 2, 1]);
  // pushad; xor eax..edi except esp; popad
  const code = [0x60, 0x31, 0xc0, 0x31, 0xc9, 0x31, 0xd2, 0x31, 0xdb, 0x31, 0xed, 0x31, 0xf6, 0x31, 0xff, 0x61];
  const p = compat.run({ code: Uint8Array.from(code), state: makeNativeState(init) }, 9);
  assert.ok(p.ok);
  assert.equal([0, 1, 2, 3, 4, 5, 6, 7].map((k) => reg(p, k)), [1, 2, 3, 4, S + 0x800, 6, 7, 8]);
  // 16-bit PUSHA pushes 8 words.
  const w = run32([0x66, 0x60], init);
  assert.is(reg(w, 4), S + 0x800 - 16);
});

test('in 64-bit mode the same opcodes are #UD', () => {
  for (const code of [[0x27], [0x2f], [0x37], [0x3f], [0xd4, 0x0a], [0xd5, 0x0a], [0x60], [0x61]]) {
    const r = long.run({ code: Uint8Array.from(code), state: makeNativeState({ rsp: S + 0x800 }) });
    assert.ok(!r.ok && r.vector === 6, `${code.map((b) => b.toString(16)).join(' ')}: #UD`);
  }
});

test.run();
