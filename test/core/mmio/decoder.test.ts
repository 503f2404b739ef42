// The MMIO decoder (core/mmio/decoder.ts). Expected values come from the
// Intel SDM (Vol. 2A chapter 2: Tables 2-1/2-2/2-3 addressing forms, 2.2.1
// REX, 2.3.11 15-byte limit; Vol. 2D Appendix A opcode maps) written out by
// hand, or from iced-x86 at run time — never from the decoder itself.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  decode, decodeInto, MmioInsn, D_OK, D_UNSUPPORTED, D_INVALID, D_TRUNCATED, D_TOO_LONG, REG_RIP, REG_NONE,
  SEG_DS, SEG_SS, SEG_FS, SEG_ES, formatInsn, type DecodeMode,
} from '../../../core/mmio/decoder.js';
import {
  OP_MOV_LOAD, OP_MOV_STORE, OP_MOV_IMM, OP_ALU_EI, OP_ALU_EG, OP_MOVS, OP_STOS, OP_BT_EI, OP_BT_EG, OP_MOVZX, OP_MOVSX,
  OP_CMPXCHG, OP_XCHG, OP_TEST_EI, OP_NEG, OP_DEC, OP_CMPS, OP_SCAS, ALU_ADD, ALU_OR, ALU_CMP, BT_BTS, BT_BTC,
} from '../../../core/mmio/table.js';
import { icedDecode, compareOperands } from '../../../properties/mmio/iced.js';

const b = (s: string): Uint8Array => Uint8Array.from(s.trim().split(/\s+/), (x) => parseInt(x, 16));
function ok(mode: DecodeMode, bytes: string): MmioInsn {
  const r = decode(b(bytes), mode);
  if (r.kind !== 'insn') throw new Error(`${bytes} (${mode}-bit): expected an instruction, got ${r.kind}: ${'reason' in r ? r.reason : ''}`);
  return r.insn;
}

test('MOV r32, r/m32 with a base register (Table 2-2: mod 00, r/m 011 = [EBX]/[RBX])', () => {
  const i = ok(64, '8b 03');
  assert.is(i.op, OP_MOV_LOAD); assert.is(i.len, 2); assert.is(i.size, 4); assert.is(i.reg, 0);
  assert.ok(i.hasMem); assert.is(i.base, 3); assert.is(i.index, REG_NONE); assert.is(i.seg, SEG_DS); assert.is(i.asize, 8);
});

test('RIP-relative: mod 00 r/m 101 is [RIP + disp32] in 64-bit mode, [disp32] otherwise (2.2.1.6)', () => {
  const i = ok(64, '8b 05 10 00 00 00');
  assert.is(i.base, REG_RIP); assert.is(i.dispLo, 0x10); assert.is(i.len, 6);
  const j = ok(32, '8b 05 10 00 00 00');
  assert.is(j.base, REG_NONE); assert.is(j.dispLo, 0x10);
});

test('SIB: scale, index, base; index 100b is none; base 101b with mod 00 is disp32 (Table 2-3)', () => {
  const i = ok(64, '8b 44 8b f0'); // mov eax, [rbx + rcx*4 - 0x10]
  assert.is(i.base, 3); assert.is(i.index, 1); assert.is(i.scale, 4); assert.is(i.dispLo, -16); assert.is(i.dispHi, -1); assert.is(i.len, 4);
  const j = ok(64, '8b 04 25 00 10 00 00'); // mov eax, [0x1000]
  assert.is(j.base, REG_NONE); assert.is(j.index, REG_NONE); assert.is(j.dispLo, 0x1000); assert.is(j.len, 7);
  const k = ok(64, '8b 04 24'); // [rsp]: SS default
  assert.is(k.base, 4); assert.is(k.seg, SEG_SS);
});

test('REX: B/X/R extend base, index and reg; R12/R13 bases default to DS (Table 2-5, Vol. 1 3.7.4.1)', () => {
  const i = ok(64, '4f 8b 44 ad 08'); // mov r8, [r13 + r13*4 + 8]  (REX.WRXB)
  assert.is(i.size, 8); assert.is(i.reg, 8); assert.is(i.base, 13); assert.is(i.index, 13); assert.is(i.scale, 4); assert.is(i.seg, SEG_DS);
  const j = ok(64, '41 8b 04 24'); // mov eax, [r12]
  assert.is(j.base, 12); assert.is(j.seg, SEG_DS);
  const k = ok(64, '8b 45 00'); // [rbp+0]: SS
  assert.is(k.base, 5); assert.is(k.seg, SEG_SS);
});

test('byte registers: 4-7 are AH..BH without REX, SPL..DIL with any REX (Vol. 2A 2.2.1.2, Table 3-1)', () => {
  const i = ok(64, '88 20'); // mov [rax], ah
  assert.is(i.size, 1); assert.is(i.reg, 0); assert.ok(i.regHi8);
  const j = ok(64, '40 88 20'); // mov [rax], spl
  assert.is(j.reg, 4); assert.not.ok(j.regHi8);
});

test('16-bit addressing (Table 2-1): [BP+disp8] uses SS; mod 00 r/m 110 is disp16; 67h switches size', () => {
  const i = ok(16, '8b 46 fc'); // mov ax, [bp-4]
  assert.is(i.asize, 2); assert.is(i.size, 2); assert.is(i.base, 5); assert.is(i.index, REG_NONE); assert.is(i.seg, SEG_SS);
  assert.is(i.dispLo & 0xffff, 0xfffc);
  const j = ok(16, '8b 00'); // [bx+si]
  assert.is(j.base, 3); assert.is(j.index, 6);
  const k = ok(16, '8b 06 34 12'); // [0x1234]
  assert.is(k.base, REG_NONE); assert.is(k.dispLo, 0x1234); assert.is(k.len, 4);
  const l = ok(32, '67 8b 07'); // mov eax, [bx]
  assert.is(l.asize, 2); assert.is(l.base, 3); assert.is(l.len, 3);
  const m = ok(16, '66 67 8b 04 24'); // mov eax, [esp]
  assert.is(m.size, 4); assert.is(m.asize, 4); assert.is(m.base, 4); assert.is(m.seg, SEG_SS);
});

test('operand size: 66h gives 16 bits, REX.W 64 and beats 66h (Vol. 1 Table 3-4)', () => {
  assert.is(ok(64, '66 89 03').size, 2);
  assert.is(ok(64, '48 89 03').size, 8);
  assert.is(ok(64, '66 48 89 03').size, 8);
  assert.is(ok(32, '66 89 03').size, 2);
  assert.is(ok(16, '89 07').size, 2);
  assert.is(ok(16, '66 89 07').size, 4);
});

test('immediates: C7 /0 id sign-extended to 64 bits; 83 /x ib sign-extended; 81 /x iw with 66h', () => {
  const i = ok(64, '48 c7 03 ff ff ff ff'); // mov qword [rbx], -1
  assert.is(i.op, OP_MOV_IMM); assert.is(i.immLo, -1); assert.is(i.immHi, -1); assert.is(i.len, 7);
  const j = ok(64, '83 03 80'); // add dword [rbx], -128
  assert.is(j.op, OP_ALU_EI); assert.is(j.sub, ALU_ADD); assert.is(j.immLo, -128 >>> 0 | 0);
  const k = ok(64, '66 81 0b 34 12'); // or word [rbx], 0x1234
  assert.is(k.sub, ALU_OR); assert.is(k.size, 2); assert.is(k.immLo, 0x1234); assert.is(k.len, 5);
  const l = ok(64, 'f6 03 01'); // test byte [rbx], 1
  assert.is(l.op, OP_TEST_EI); assert.is(l.immLo, 1); assert.is(l.len, 3);
  assert.is(ok(64, 'f7 1b').op, OP_NEG);
  assert.is(ok(64, 'fe 0b').op, OP_DEC);
});

test('moffs: A1/A3 carry an address-size offset (8 bytes in 64-bit mode, 4 with 67h)', () => {
  const i = ok(64, 'a1 88 77 66 55 44 33 22 11');
  assert.is(i.op, OP_MOV_LOAD); assert.is(i.len, 9); assert.is(i.dispLo, 0x55667788); assert.is(i.dispHi, 0x11223344); assert.is(i.reg, 0);
  const j = ok(64, '67 a3 00 00 e0 fe');
  assert.is(j.op, OP_MOV_STORE); assert.is(j.len, 6); assert.is(j.dispLo >>> 0, 0xfee00000); assert.is(j.dispHi, 0);
  const k = ok(32, 'a2 00 10 00 00'); // mov [0x1000], al
  assert.is(k.size, 1); assert.is(k.len, 5);
});

test('string instructions: REP/REPNE, segment override on the source only', () => {
  const i = ok(64, 'f3 a5');
  assert.is(i.op, OP_MOVS); assert.is(i.rep, 0xf3); assert.is(i.size, 4);
  const j = ok(64, '64 f3 48 ab'); // rep stosq (the override does not apply to ES:[RDI])
  assert.is(j.op, OP_STOS); assert.is(j.size, 8); assert.is(j.seg, SEG_FS);
  const k = ok(32, '26 a4');
  assert.is(k.seg, SEG_ES);
});

test('two-byte map: BT family, MOVZX/MOVSX, CMPXCHG, XCHG', () => {
  const i = ok(64, '0f ba 2b 05'); // bts dword [rbx], 5
  assert.is(i.op, OP_BT_EI); assert.is(i.sub, BT_BTS); assert.is(i.immLo, 5); assert.is(i.len, 4);
  const j = ok(64, '48 0f bb 0b'); // btc [rbx], rcx
  assert.is(j.op, OP_BT_EG); assert.is(j.sub, BT_BTC); assert.is(j.size, 8);
  const k = ok(64, '0f b7 03'); // movzx eax, word [rbx]
  assert.is(k.op, OP_MOVZX); assert.is(k.size, 4); assert.is(k.srcSize, 2);
  const l = ok(64, '48 0f be 03'); // movsx rax, byte [rbx]
  assert.is(l.op, OP_MOVSX); assert.is(l.size, 8); assert.is(l.srcSize, 1);
  assert.is(ok(64, 'f0 0f b1 0b').op, OP_CMPXCHG);
  assert.is(ok(64, '87 03').op, OP_XCHG);
  assert.is(ok(64, '39 03').sub, ALU_CMP);
  assert.is(ok(64, '01 03').op, OP_ALU_EG);
});

test('rejections are typed: invalid (#UD), unsupported with a length, truncated, too long', () => {
  const lockMov = decode(b('f0 8b 03'), 64); // LOCK with MOV: #UD (Vol. 2A LOCK)
  assert.is(lockMov.kind, 'invalid');
  const lockReg = decode(b('f0 01 d8'), 64); // LOCK with a register destination: #UD
  assert.is(lockReg.kind, 'invalid');
  assert.is(decode(b('06'), 64).kind, 'invalid'); // PUSH ES is invalid in 64-bit mode (Table A-2 i64)
  assert.is(decode(b('06'), 32).kind, 'unsupported');
  const sse = decode(b('0f 58 03'), 64); // addps xmm0, [rbx]
  assert.is(sse.kind, 'unsupported'); assert.is(sse.kind === 'unsupported' && sse.length, 3);
  const avx = decode(b('c5 fc 28 03'), 64); // vmovaps ymm0, [rbx]
  assert.is(avx.kind === 'unsupported' && avx.length, 4);
  assert.is(decode(b('66 c5 fc 28 03'), 64).kind, 'invalid'); // VEX after 66h (2.3.2)
  assert.is(decode(b('8b 44'), 64).kind, 'truncated');
  assert.is(decode(b('66 66 66 66 66 66 66 66 66 66 66 66 66 66 8b 03'), 64).kind, 'too-long'); // 2.3.11
  assert.is(decode(b('ff 38'), 64).kind, 'invalid'); // FF /7 is undefined (Table A-6 group 5)
  assert.is(decode(b(''), 64).kind, 'truncated');
});

test('a REX followed by a legacy prefix is ignored (2.2.1)', () => {
  const i = ok(64, '48 66 89 03');
  assert.is(i.size, 2); assert.is(i.rex, 0);
});

test('64-bit mode: ES/CS/SS/DS overrides do not displace FS/GS', () => {
  const i = ok(64, '64 3e 8b 03');
  assert.is(i.seg, SEG_FS);
  const j = ok(32, '64 3e 8b 03');
  assert.is(j.seg, SEG_DS);
});

test('MOV CR/DR ignore the mod field (Vol. 2B MOV to/from control registers): 3 bytes whatever mod says', () => {
  const r = decode(b('0f 20 05 11 22 33 44'), 64);
  assert.is(r.kind === 'unsupported' && r.length, 3);
});

// ---- iced-x86 as the reference --------------------------------------------------

const DRIVER_IDIOMS: readonly [DecodeMode, string][] = [
  // readl/writel/readq, ioread8, memset_io/memcpy_toio and friends, as compilers emit them
  [64, '8b 07'], [64, '89 37'], [64, '48 8b 47 08'], [64, '0f b6 07'], [64, '0f b7 47 04'], [64, '66 89 77 02'],
  [64, '88 47 01'], [64, 'c7 47 10 01 00 00 00'], [64, '48 c7 07 00 00 00 00'], [64, 'f3 a5'], [64, 'f3 48 a5'], [64, 'f3 aa'],
  [64, '41 8b 04 24'], [64, '43 89 0c 84'], [64, '8b 05 00 10 00 00'], [64, 'f0 0f ba 2f 00'], [64, 'f0 48 0f b1 17'],
  [64, '65 8b 04 25 00 00 00 00'], [64, '48 a1 00 00 e0 fe 00 00 00 00'], [64, '83 0f 04'], [64, '81 67 08 ff fe ff ff'],
  [64, 'f6 47 03 80'], [64, '87 07'], [64, 'f0 0f c1 07'], [64, '48 63 07'], [64, '66 ff 07'],
  [32, '8b 00'], [32, 'a1 00 00 c0 fe'], [32, '67 89 07'], [32, '66 a5'], [32, '0f be 40 03'], [32, 'f0 09 08'],
  [16, '8b 46 fe'], [16, 'a1 00 10'], [16, 'f3 a4'], [16, '66 89 05'], [16, '67 8b 04 8d 00 00 c0 fe'],
];

test('driver idioms decode as iced-x86 decodes them (length, mnemonic, operands)', () => {
  for (const [mode, s] of DRIVER_IDIOMS) {
    const bytes = b(s);
    const ic = icedDecode(bytes, mode);
    assert.ok(ic.ok, `iced rejects ${s}`);
    const o = new MmioInsn();
    assert.is(decodeInto(bytes, 0, bytes.length, mode, o), D_OK, `${s} (${mode}-bit) '${ic.text}'`);
    assert.is(o.len, ic.len, `${s} length`);
    assert.is(compareOperands(o, ic), null, `${s}: ${formatInsn(o)} vs ${ic.text}`);
  }
});

test('every opcode of every map, 16 ModR/M values, 16/32/64-bit: the length iced-x86 gives, or iced rejects it', () => {
  const o = new MmioInsn();
  const tail = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb];
  let checked = 0;
  for (const mode of [16, 32, 64] as const) {
    for (const esc of [[], [0x0f], [0x0f, 0x38], [0x0f, 0x3a]]) {
      for (let op = 0; op < 256; op++) {
        for (const m of [0x00, 0x05, 0x04, 0x44, 0x84, 0xc0, 0x0d, 0x4d, 0x8d, 0xcd, 0x16, 0x56, 0x96, 0xd7, 0x3c, 0xf8]) {
          const bytes = Uint8Array.from([...esc, op, m, ...tail]);
          const ic = icedDecode(bytes, mode);
          const s = decodeInto(bytes, 0, bytes.length, mode, o);
          if (ic.ok) {
            checked++;
            assert.ok(s === D_OK || s === D_UNSUPPORTED, `${mode}-bit ${[...bytes.slice(0, ic.len)].map((x) => x.toString(16)).join(' ')}: iced '${ic.text}', ours status ${s}`);
            assert.is(o.len, ic.len, `${mode}-bit '${ic.text}'`);
          } else {
            assert.is.not(s, D_OK, `${mode}-bit ${op.toString(16)} ${m.toString(16)}: ours ok, iced invalid`);
          }
        }
      }
    }
  }
  assert.ok(checked > 20000, `only ${checked} valid encodings checked`);
});

test('statuses are exported distinctly', () => {
  assert.equal(new Set([D_OK, D_UNSUPPORTED, D_INVALID, D_TRUNCATED, D_TOO_LONG]).size, 5);
});

test('CMPS/SCAS (Table A-2 row A: A6 A7 AE AF): sizes, F3 = REPE / F2 = REPNE, source override only for CMPS; iced agrees', () => {
  const cases: [DecodeMode, string, number, number, number, number, string][] = [
    [64, 'f3 a6', OP_CMPS, 1, 8, SEG_DS, 'repe cmpsb'],
    [64, '66 f2 a7', OP_CMPS, 2, 8, SEG_DS, 'repne cmpsw'],
    [64, '67 64 a7', OP_CMPS, 4, 4, SEG_FS, 'cmpsd'],
    [64, 'f3 48 a7', OP_CMPS, 8, 8, SEG_DS, 'repe cmpsq'],
    [32, '67 26 a6', OP_CMPS, 1, 2, SEG_ES, 'cmpsb'],
    [64, 'f2 ae', OP_SCAS, 1, 8, SEG_DS, 'repne scasb'],
    [16, 'af', OP_SCAS, 2, 2, SEG_DS, 'scasw'],
    [32, '66 af', OP_SCAS, 2, 4, SEG_DS, 'scasw'],
    [64, '48 af', OP_SCAS, 8, 8, SEG_DS, 'scasq'],
  ];
  for (const [mode, bytes, op, size, asize, seg, text] of cases) {
    const i = ok(mode, bytes);
    assert.is(i.op, op, bytes); assert.is(i.size, size, bytes); assert.is(i.asize, asize, bytes);
    assert.is(i.len, b(bytes).length, bytes);
    if (op === OP_CMPS) assert.is(i.seg, seg, bytes);
    assert.is(formatInsn(i), text);
    assert.is(compareOperands(i, icedDecode(b(bytes), mode)), null, bytes);
  }
  // LOCK CMPSB is #UD (CMPS is not in LOCK's list, Vol. 2A LOCK)
  assert.is(decode(b('f0 a6'), 64).kind, 'invalid');
});

test('stack, branch, multiply/divide, bit-scan, double-shift, CMOVcc, segment, system and SSE/MMX forms decode as iced-x86 does', () => {
  const cases: [DecodeMode, string][] = [
    [64, '50'], [64, '41 5f'], [64, '66 50'], [32, '50'], [16, '58'], [64, '6a f9'], [64, '68 78 56 34 12'], [16, '68 34 12'],
    [64, 'ff 33'], [64, '66 ff 33'], [32, 'ff 73 04'], [64, '8f 44 24 08'], [64, '66 8f 03'], [64, 'ff f0'],
    [64, 'c3'], [64, 'c2 10 00'], [32, 'c3'], [16, 'c2 04 00'], [64, 'c8 38 12 00'], [64, 'c9'], [32, 'c9'],
    [64, 'ff 13'], [64, 'ff 23'], [32, 'ff 23'], [16, 'ff 27'], [64, '48 ff 2b'], [64, 'ff 2b'], [32, '66 ff 2b'],
    [64, '6b 03 33'], [64, '66 69 03 37 01'], [64, '48 0f af 03'], [64, 'f6 23'], [64, '48 f7 33'], [32, 'f7 3b'], [16, 'f6 2f'],
    [64, '0f bc 03'], [64, '48 0f bd 03'], [64, '66 0f bd 03'], [64, '0f a5 13'], [64, '0f a4 13 05'], [64, '48 0f ad 13'], [32, '0f ac 13 03'],
    [64, '0f 45 03'], [64, '48 0f 4f 03'], [32, '66 0f 40 03'],
    [64, '66 8c 0b'], [64, '8c 0b'], [64, '48 8c c8'], [64, '8e 13'], [32, '8e 1b'], [64, '0f 00 1b'], [64, '0f 01 23'], [64, '48 0f 01 23'],
    [64, '0f 11 0b'], [64, '66 0f 10 0b'], [64, '0f 28 0b'], [64, '66 0f 29 0b'], [64, 'f3 0f 6f 13'], [64, '66 0f 7f 13'],
    [64, '44 0f 11 0b'], [64, '0f 7f 03'], [64, '0f 6f 0b'], [32, '0f 6f 0b'], [64, '41 0f 7f 84 24 00 10 00 00'],
  ];
  for (const [mode, bytes] of cases) {
    const i = ok(mode, bytes);
    const ic = icedDecode(b(bytes), mode);
    assert.ok(ic.ok, `${bytes}: iced decodes it`);
    assert.is(i.len, ic.len, `${bytes}: length`);
    assert.is(compareOperands(i, ic), null, `${bytes} (${mode}-bit): ${formatInsn(i)} vs ${ic.text}`);
  }
  // Not emulated: far CALL, 66h near branches in 64-bit mode, ENTER with a nesting level, TZCNT, scalar SSE moves, MOVSD/MOVSS
  for (const [mode, bytes] of [[64, 'ff 1b'], [64, '66 ff 23'], [64, 'c8 10 00 01'], [64, 'f3 0f bc 03'], [64, 'f3 0f 10 0b'], [64, 'f2 0f 11 0b'], [64, 'f2 0f 6f 03']] as [DecodeMode, string][]) {
    assert.is(decode(b(bytes), mode).kind, 'unsupported', bytes);
  }
  // #UD: MOV CS, m16 (8E /1), MOV to/from Sreg 6/7, LOCK on MUL, JMP far with a register operand (Vol. 2B MOV, POP; Vol. 2A JMP)
  for (const bytes of ['8e 0b', '8e 33', '8c 33', 'f0 f7 23', 'ff eb']) assert.is(decode(b(bytes), 64).kind, 'invalid', bytes);
});

test.run();
