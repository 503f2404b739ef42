// The MMIO emulator (core/mmio/emulator.ts) on a small guest: paging off
// (guest-linear = guest-physical), RAM everywhere but an MMIO window at
// 0x10000..0x10fff served by a fake device. Expected registers, flags and
// device accesses are worked out by hand from the Intel SDM (Vol. 2A/2B,
// each instruction's "Operation" and "Flags Affected"; RFLAGS bits Vol. 1
// 3.4.3: CF 0, PF 2, AF 4, ZF 6, SF 7, DF 10, OF 11).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PhysMem } from '../../../core/memory/physmem.js';
import { emulateMmio, type MmioResult } from '../../../core/mmio/emulator.js';
import type { DecodeMode } from '../../../core/mmio/decoder.js';
import { TestGuest, FakeDevice, RamDevice } from '../../../properties/mmio/guest.js';

const CF = 1, PF = 4, AF = 0x10, ZF = 0x40, SF = 0x80, DF = 0x400, OF = 0x800, RF = 0x10000;
const STATUS = CF | PF | AF | ZF | SF | OF;
const CODE = 0x1000, MMIO = 0x10000, RAM_BUF = 0x8000;
const RAX = 0, RCX = 1, RDX = 2, RBX = 3, RBP = 5, RSI = 6, RDI = 7;

const hexb = (s: string): number[] => s.trim().split(/\s+/).map((x) => parseInt(x, 16));

interface Setup { guest: TestGuest; mem: PhysMem; dev: FakeDevice }
function setup(code: string, regs: Record<number, number | [number, number]> = {}, onRead?: (gpa: number, size: number) => [number, number]): Setup {
  const mem = new PhysMem(0x20000);
  mem.writeBytes(CODE, Uint8Array.from(hexb(code)));
  const guest = new TestGuest(mem, (gpa) => gpa >= MMIO && gpa < MMIO + 0x1000);
  guest.ripValue = CODE;
  for (const [r, v] of Object.entries(regs)) {
    if (Array.isArray(v)) guest.setGpr(Number(r), v[0] | 0, v[1] | 0); else guest.setGpr(Number(r), v | 0, 0);
  }
  const dev = new FakeDevice(onRead);
  return { guest, mem, dev };
}
function run(s: Setup, mode: DecodeMode = 64): MmioResult {
  return emulateMmio(s.guest, s.dev, mode);
}
function done(r: MmioResult): void {
  assert.is(r.kind, 'done', r.kind === 'done' ? '' : 'message' in r ? r.message : r.kind);
}

test('mov eax, [rbx]: one 4-byte device read; EAX written, RAX[63:32] cleared; RIP += decoded length', () => {
  const s = setup('8b 03', { [RBX]: MMIO + 0x10, [RAX]: [0x11111111, 0x22222222] }, () => [0x12345678, 0]);
  const r = run(s);
  done(r);
  assert.equal(s.dev.log, [{ write: false, gpa: MMIO + 0x10, size: 4, lo: 0x12345678, hi: 0 }]);
  assert.is(s.guest.lo[RAX], 0x12345678); assert.is(s.guest.hi[RAX], 0);
  assert.is(s.guest.ripValue, CODE + 2);
});

test('mov [rbx], ax / mov byte [rbx+1], 0x5a / mov qword [rbx], -1: writes of the operand size', () => {
  let s = setup('66 89 03', { [RBX]: MMIO, [RAX]: 0xabcd1234 });
  done(run(s));
  assert.equal(s.dev.log, [{ write: true, gpa: MMIO, size: 2, lo: 0x1234, hi: 0 }]);
  s = setup('c6 43 01 5a', { [RBX]: MMIO });
  done(run(s));
  assert.equal(s.dev.log, [{ write: true, gpa: MMIO + 1, size: 1, lo: 0x5a, hi: 0 }]);
  assert.is(s.guest.ripValue, CODE + 4);
  s = setup('48 c7 03 ff ff ff ff', { [RBX]: MMIO });
  done(run(s));
  assert.equal(s.dev.log, [{ write: true, gpa: MMIO, size: 8, lo: -1, hi: -1 }]);
});

test('mov ah, [rbx] merges bits 15:8; mov ax, [rbx] merges bits 15:0 (Vol. 1 3.4.1.1)', () => {
  let s = setup('8a 23', { [RBX]: MMIO, [RAX]: [0x11223344, 0x55667788] }, () => [0xee, 0]);
  done(run(s));
  assert.is(s.guest.lo[RAX]! >>> 0, 0x1122ee44); assert.is(s.guest.hi[RAX]! >>> 0, 0x55667788);
  s = setup('66 8b 03', { [RBX]: MMIO, [RAX]: [0x11223344, 0x55667788] }, () => [0xbeef, 0]);
  done(run(s));
  assert.is(s.guest.lo[RAX]! >>> 0, 0x1122beef); assert.is(s.guest.hi[RAX]! >>> 0, 0x55667788);
});

test('moffs: mov rax, [0x10008] (REX.W A1, 8-byte offset): RIP += 10', () => {
  const s = setup('48 a1 08 00 01 00 00 00 00 00', {}, () => [0x89abcdef, 0x01234567]);
  done(run(s));
  assert.equal(s.dev.log, [{ write: false, gpa: MMIO + 8, size: 8, lo: 0x89abcdef, hi: 0x01234567 }]);
  assert.is(s.guest.lo[RAX]! >>> 0, 0x89abcdef); assert.is(s.guest.hi[RAX], 0x01234567);
  assert.is(s.guest.ripValue, CODE + 10);
});

test('RIP-relative: mov eax, [rip + disp] addresses next RIP + disp', () => {
  const disp = MMIO + 0x40 - (CODE + 6);
  const s = setup(`8b 05 ${[0, 8, 16, 24].map((k) => ((disp >>> k) & 0xff).toString(16)).join(' ')}`, {}, () => [7, 0]);
  done(run(s));
  assert.is(s.dev.log[0]!.gpa, MMIO + 0x40);
});

test('add dword [rbx], 1 on 0xffffffff: result 0, CF ZF PF AF set, SF OF clear (ADD)', () => {
  const s = setup('83 03 01', { [RBX]: MMIO }, () => [-1, 0]);
  s.guest.flags = 2 | SF | OF;
  done(run(s));
  assert.equal(s.dev.log.map((x) => [x.write, x.size, x.lo]), [[false, 4, -1], [true, 4, 0]]);
  assert.is(s.guest.flags & STATUS, CF | ZF | PF | AF);
});

test('sub byte [rbx], 1 on 0x80: 0x7f, OF and AF set (signed overflow, borrow from bit 4)', () => {
  const s = setup('80 2b 01', { [RBX]: MMIO }, () => [0x80, 0]);
  done(run(s));
  assert.is(s.dev.log[1]!.lo, 0x7f);
  assert.is(s.guest.flags & STATUS, OF | AF);
});

test('adc / sbb consume CF', () => {
  let s = setup('11 03', { [RBX]: MMIO, [RAX]: 1 }, () => [1, 0]); // adc [rbx], eax
  s.guest.flags = 2 | CF;
  done(run(s));
  assert.is(s.dev.log[1]!.lo, 3);
  s = setup('48 19 03', { [RBX]: MMIO, [RAX]: 0 }, () => [0, 0]); // sbb [rbx], rax: 0 - 0 - 1
  s.guest.flags = 2 | CF;
  done(run(s));
  assert.equal([s.dev.log[1]!.lo, s.dev.log[1]!.hi], [-1, -1]);
  assert.is(s.guest.flags & STATUS, CF | SF | PF | AF);
});

test('cmp and test read the device and never write it', () => {
  let s = setup('39 03', { [RBX]: MMIO, [RAX]: 5 }, () => [5, 0]); // cmp [rbx], eax
  done(run(s));
  assert.equal(s.dev.log.map((x) => x.write), [false]);
  assert.is(s.guest.flags & STATUS, ZF | PF);
  s = setup('f6 03 80', { [RBX]: MMIO }, () => [0x81, 0]); // test byte [rbx], 0x80
  s.guest.flags = 2 | CF | OF;
  done(run(s));
  assert.equal(s.dev.log.map((x) => x.write), [false]);
  assert.is(s.guest.flags & (CF | OF | ZF | SF), SF);
  s = setup('3b 03', { [RBX]: MMIO, [RAX]: 1 }, () => [2, 0]); // cmp eax, [rbx]: 1 - 2
  done(run(s));
  assert.is(s.guest.flags & (CF | SF | ZF), CF | SF);
  assert.is(s.guest.lo[RAX], 1);
});

test('lock or dword [rbx], 0x80; and/xor clear CF and OF', () => {
  const s = setup('f0 81 0b 80 00 00 00', { [RBX]: MMIO }, () => [1, 0]);
  s.guest.flags = 2 | CF | OF;
  done(run(s));
  assert.is(s.dev.log[1]!.lo, 0x81);
  assert.is(s.guest.flags & (CF | OF | ZF | SF | PF), PF);
});

test('inc preserves CF; neg sets CF iff the operand is non-zero; not touches no flags', () => {
  let s = setup('ff 03', { [RBX]: MMIO }, () => [0x7fffffff, 0]);
  s.guest.flags = 2 | CF;
  done(run(s));
  assert.is(s.dev.log[1]!.lo, 0x80000000 | 0);
  assert.is(s.guest.flags & STATUS, CF | OF | SF | AF | PF);
  s = setup('f6 1b', { [RBX]: MMIO }, () => [0, 0]);
  s.guest.flags = 2 | CF;
  done(run(s));
  assert.is(s.guest.flags & (CF | ZF), ZF);
  s = setup('f7 13', { [RBX]: MMIO }, () => [0x0f0f0f0f, 0]);
  s.guest.flags = 2 | CF | ZF;
  done(run(s));
  assert.is(s.dev.log[1]!.lo, 0xf0f0f0f0 | 0);
  assert.is(s.guest.flags & STATUS, CF | ZF);
});

test('movzx / movsx / movsxd from the device', () => {
  let s = setup('0f b6 03', { [RBX]: MMIO, [RAX]: [-1, -1] }, () => [0x80, 0]);
  done(run(s));
  assert.equal([s.guest.lo[RAX], s.guest.hi[RAX]], [0x80, 0]);
  s = setup('48 0f bf 03', { [RBX]: MMIO }, () => [0x8001, 0]);
  done(run(s));
  assert.equal([s.guest.lo[RAX]! >>> 0, s.guest.hi[RAX]! >>> 0], [0xffff8001, 0xffffffff]);
  assert.is(s.dev.log[0]!.size, 2);
  s = setup('48 63 03', { [RBX]: MMIO }, () => [-2, 0]);
  done(run(s));
  assert.equal([s.guest.lo[RAX], s.guest.hi[RAX]], [-2, -1]);
});

test('bts dword [rbx], 3: CF = old bit, bit set; bt [rbx], ecx with ecx = 35 reads the next dword (BT: EA + 4*(35 DIV 32))', () => {
  let s = setup('0f ba 2b 03', { [RBX]: MMIO }, () => [0xf0, 0]);
  done(run(s));
  assert.is(s.dev.log[1]!.lo, 0xf8);
  assert.is(s.guest.flags & CF, 0);
  s = setup('0f a3 0b', { [RBX]: MMIO, [RCX]: 35 }, () => [8, 0]);
  done(run(s));
  assert.equal(s.dev.log, [{ write: false, gpa: MMIO + 4, size: 4, lo: 8, hi: 0 }]);
  assert.is(s.guest.flags & CF, CF);
  s = setup('0f a3 0b', { [RBX]: MMIO + 8, [RCX]: -1 }, () => [0x80000000 | 0, 0]); // offset -1: EA - 4, bit 31
  done(run(s));
  assert.is(s.dev.log[0]!.gpa, MMIO + 4);
  assert.is(s.guest.flags & CF, CF);
});

test('xchg [rbx], eax swaps; cmpxchg succeeds (writes source) or fails (writes the old value back, loads EAX)', () => {
  let s = setup('87 03', { [RBX]: MMIO, [RAX]: 0x1111 }, () => [0x2222, 0]);
  done(run(s));
  assert.is(s.dev.log[1]!.lo, 0x1111); assert.is(s.guest.lo[RAX], 0x2222);
  s = setup('0f b1 0b', { [RBX]: MMIO, [RAX]: 5, [RCX]: 9 }, () => [5, 0]);
  done(run(s));
  assert.equal(s.dev.log.map((x) => [x.write, x.lo]), [[false, 5], [true, 9]]);
  assert.is(s.guest.flags & ZF, ZF); assert.is(s.guest.lo[RAX], 5);
  s = setup('0f b1 0b', { [RBX]: MMIO, [RAX]: [5, 7], [RCX]: 9 }, () => [6, 0]);
  done(run(s));
  assert.equal(s.dev.log.map((x) => [x.write, x.lo]), [[false, 6], [true, 6]]);
  assert.is(s.guest.flags & ZF, 0); assert.equal([s.guest.lo[RAX], s.guest.hi[RAX]], [6, 0]);
});

test('xadd dword [rbx], ecx: memory gets the sum, ECX the old value', () => {
  const s = setup('0f c1 0b', { [RBX]: MMIO, [RCX]: 2 }, () => [40, 0]);
  done(run(s));
  assert.is(s.dev.log[1]!.lo, 42); assert.is(s.guest.lo[RCX], 40);
});

test('rep movsd from MMIO to RAM: one device read per element; RCX 0, RSI/RDI advanced', () => {
  let n = 0;
  const s = setup('f3 a5', { [RSI]: MMIO + 0x100, [RDI]: RAM_BUF, [RCX]: 3 }, () => [0x1000 + n++, 0]);
  done(run(s));
  assert.equal(s.dev.log.map((x) => [x.write, x.gpa, x.size]), [[false, MMIO + 0x100, 4], [false, MMIO + 0x104, 4], [false, MMIO + 0x108, 4]]);
  assert.equal([s.mem.read32(RAM_BUF), s.mem.read32(RAM_BUF + 4), s.mem.read32(RAM_BUF + 8)], [0x1000, 0x1001, 0x1002]);
  assert.equal([s.guest.lo[RCX], s.guest.lo[RSI], s.guest.lo[RDI]], [0, MMIO + 0x10c, RAM_BUF + 12]);
  assert.is(s.guest.ripValue, CODE + 2);
});

test('rep stosb into MMIO with DF = 1 walks down; movsb RAM -> MMIO writes the device', () => {
  let s = setup('f3 aa', { [RDI]: MMIO + 0x10, [RCX]: 2, [RAX]: 0x77 });
  s.guest.flags = 2 | DF;
  done(run(s));
  assert.equal(s.dev.log.map((x) => [x.write, x.gpa, x.lo]), [[true, MMIO + 0x10, 0x77], [true, MMIO + 0xf, 0x77]]);
  assert.is(s.guest.lo[RDI], MMIO + 0xe);
  s = setup('a4', { [RSI]: RAM_BUF, [RDI]: MMIO });
  s.mem.write8(RAM_BUF, 0x42);
  done(run(s));
  assert.equal(s.dev.log, [{ write: true, gpa: MMIO, size: 1, lo: 0x42, hi: 0 }]);
});

test('a REP instruction beyond the iteration budget returns partial with RIP unchanged, then finishes', () => {
  const s = setup('f3 ab', { [RDI]: MMIO, [RCX]: 5 });
  let r = emulateMmio(s.guest, s.dev, 64, { maxIterations: 2 });
  assert.is(r.kind, 'partial');
  assert.is(s.guest.ripValue, CODE); assert.is(s.guest.lo[RCX], 3); assert.is(s.guest.lo[RDI], MMIO + 8);
  r = emulateMmio(s.guest, s.dev, 64, { maxIterations: 2 });
  assert.is(r.kind, 'partial');
  r = emulateMmio(s.guest, s.dev, 64, { maxIterations: 2 });
  done(r);
  assert.is(s.dev.log.length, 5); assert.is(s.guest.ripValue, CODE + 2);
});

test('repe cmpsb MMIO vs RAM stops after the first unequal pair: RCX, RSI, RDI past it; flags of that compare (CMPS, REP)', () => {
  // Device bytes 10 11 12 13 ..., RAM 10 11 99 ...: the third compare is 0x12 - 0x99 = 0x79 with a borrow:
  // CF = 1, ZF = 0, SF = 0, OF = 0 (positive - negative = positive, no overflow: 18 - (-103) = 121), AF = 1 (2 < 9),
  // PF: 0x79 = 0111 1001, five 1 bits -> odd -> PF = 0.
  const s = setup('f3 a6', { [RSI]: MMIO, [RDI]: RAM_BUF, [RCX]: 30 }, (gpa) => [0x10 + (gpa - MMIO), 0]);
  s.mem.write8(RAM_BUF, 0x10); s.mem.write8(RAM_BUF + 1, 0x11); s.mem.write8(RAM_BUF + 2, 0x99);
  done(run(s));
  assert.is(s.dev.log.length, 3);
  assert.equal([s.guest.lo[RCX], s.guest.lo[RSI], s.guest.lo[RDI]], [27, MMIO + 3, RAM_BUF + 3]);
  assert.is(s.guest.flags & STATUS, CF | AF);
  assert.is(s.guest.ripValue, CODE + 2);
});

test('repe cmpsw with equal operands runs to RCX = 0 and ends with ZF = 1; RCX = 0 runs no iteration and keeps the flags', () => {
  let s = setup('66 f3 a7', { [RSI]: MMIO, [RDI]: RAM_BUF, [RCX]: 4 }, () => [0, 0]);
  done(run(s));
  assert.equal([s.guest.lo[RCX], s.guest.lo[RSI], s.guest.lo[RDI]], [0, MMIO + 8, RAM_BUF + 8]);
  assert.is(s.guest.flags & STATUS, ZF | PF);
  s = setup('f3 a6', { [RSI]: MMIO, [RDI]: RAM_BUF, [RCX]: 0 });
  s.guest.flags = 2 | CF | SF;
  done(run(s));
  assert.is(s.dev.log.length, 0);
  assert.is(s.guest.flags & STATUS, CF | SF);
  assert.is(s.guest.lo[RSI], MMIO);
});

test('repne scasb finds AL: stops with ZF = 1 after the match; DF = 1 walks down', () => {
  // ES:[RDI] = 5, 6, 7 (downwards from MMIO+0x20); AL = 6: second compare equal -> ZF = 1, RCX 10 - 2 = 8, RDI = +0x20 - 2
  const vals: Record<number, number> = { [MMIO + 0x20]: 5, [MMIO + 0x1f]: 6, [MMIO + 0x1e]: 7 };
  const s = setup('f2 ae', { [RDI]: MMIO + 0x20, [RCX]: 10, [RAX]: 0x106 }, (gpa) => [vals[gpa] ?? 0, 0]);
  s.guest.flags = 2 | DF;
  done(run(s));
  assert.equal(s.dev.log.map((x) => x.gpa), [MMIO + 0x20, MMIO + 0x1f]);
  assert.equal([s.guest.lo[RCX], s.guest.lo[RDI]], [8, MMIO + 0x1e]);
  assert.is(s.guest.flags & STATUS, ZF | PF);
  assert.is(s.guest.lo[RAX], 0x106);
});

test('scasq / scasd without REP: one compare, RDI += size; accumulator - memory sets the flags (SCAS)', () => {
  // RAX = 1, [RDI] = 2: 1 - 2 = 0xffff_ffff_ffff_ffff: CF SF AF PF set, ZF OF clear
  let s = setup('48 af', { [RDI]: MMIO + 8, [RAX]: 1, [RCX]: 7 }, () => [2, 0]);
  done(run(s));
  assert.equal(s.dev.log, [{ write: false, gpa: MMIO + 8, size: 8, lo: 2, hi: 0 }]);
  assert.equal([s.guest.lo[RDI], s.guest.lo[RCX]], [MMIO + 16, 7]);
  assert.is(s.guest.flags & STATUS, CF | SF | AF | PF);
  // EAX = 0x80000000, [RDI] = 1: 0x7fffffff, signed overflow (negative - positive = positive): OF set, AF set (0 < 1)
  s = setup('af', { [RDI]: MMIO, [RAX]: [0x80000000, 0x1234] }, () => [1, 0]);
  done(run(s));
  assert.is(s.guest.flags & STATUS, OF | AF | PF);
  assert.is(s.guest.hi[RAX], 0x1234);
});

test('cmps source segment override (fs: in 64-bit mode) applies to [rSI] only; ES:[rDI] has no override', () => {
  const s = setup('64 a6', { [RSI]: 0x10, [RDI]: MMIO + 0x40 }, () => [0x33, 0]);
  s.guest.bases[4] = MMIO; // FS
  s.guest.bases[0] = 0x5000; // ES: ignored in 64-bit mode
  done(run(s));
  assert.equal(s.dev.log.map((x) => x.gpa), [MMIO + 0x10, MMIO + 0x40]);
  assert.is(s.guest.flags & ZF, ZF);
});

test('cmpsb with 16-bit addressing (67h in 32-bit mode): SI/DI wrap at 64 KiB, CX counts; REPE stops on the first difference', () => {
  // DS base 0x100: DS:0xffff = 0x100ff (device, reads 1), then SI wraps to 0 -> DS:0 = 0x100 (RAM, 0);
  // ES base 0x10000: ES:DI = device (1). First compare 1 - 1 equal, second 0 - 1 unequal: CX 3 -> 1.
  // Bits 31:16 of ESI, EDI, ECX are not touched with a 16-bit address size (Vol. 2B REP: CX is the count).
  const s = setup('67 f3 a6', { [RSI]: 0x1234ffff, [RDI]: 0x56780010, [RCX]: 0xabcd0003 }, () => [1, 0]);
  s.guest.bases[3] = 0x100; s.guest.bases[0] = MMIO;
  done(emulateMmio(s.guest, s.dev, 32));
  assert.equal(s.dev.log.map((x) => x.gpa), [0x100ff, MMIO + 0x10, MMIO + 0x11]);
  assert.equal([s.guest.lo[RSI]! >>> 0, s.guest.lo[RDI]! >>> 0, s.guest.lo[RCX]! >>> 0], [0x12340001, 0x56780012, 0xabcd0001]);
  assert.is(s.guest.flags & (ZF | CF), CF);
});

test('segment bases: fs: override in 64-bit mode; DS/SS bases and BP in 16-bit mode', () => {
  let s = setup('64 8b 03', { [RBX]: 0x100 });
  s.guest.bases[4] = MMIO;
  done(run(s));
  assert.is(s.dev.log[0]!.gpa, MMIO + 0x100);
  s = setup('8b 46 fe', { [RBP]: 0x0102 }, () => [0xabcd, 0]); // mov ax, [bp-2]: SS base
  s.guest.bases[2] = MMIO;
  s.guest.bases[1] = 0; // CS base 0, IP = CODE
  done(run(s, 16));
  assert.equal(s.dev.log, [{ write: false, gpa: MMIO + 0x100, size: 2, lo: 0xabcd, hi: 0 }]);
  assert.is(s.guest.lo[RAX], 0xabcd); assert.is(s.guest.ripValue, CODE + 3);
  s = setup('67 8b 07', { [RBX]: MMIO + 0xffff0008 }); // 32-bit mode, [bx]: 16-bit address 0x0008
  s.guest.bases[3] = MMIO;
  done(run(s, 32));
  assert.is(s.dev.log[0]!.gpa, MMIO + 8);
});

test('32-bit mode: RIP wraps at 4 GiB; address-size truncation of base + index', () => {
  const s = setup('8b 04 0b', { [RBX]: 0xfffffff0, [RCX]: MMIO + 0x20 }); // [ebx+ecx] wraps to MMIO+0x10
  done(run(s, 32));
  assert.is(s.dev.log[0]!.gpa, MMIO + 0x10);
});

test('rejections: unsupported -> stop naming RIP and bytes; LOCK MOV -> #UD; no memory operand -> stop', () => {
  let s = setup('0f 28 03', { [RBX]: MMIO }); // movaps xmm0, [rbx]
  let r = run(s);
  assert.is(r.kind, 'stop');
  assert.ok(r.kind === 'stop' && r.message.includes('RIP 0x1000') && r.message.includes('0f 28 03'), r.kind === 'stop' ? r.message : '');
  assert.is(s.guest.ripValue, CODE);
  s = setup('f0 8b 03', { [RBX]: MMIO });
  r = run(s);
  assert.ok(r.kind === 'exception' && r.vector === 6 && r.errorCode === -1);
  assert.equal(s.dev.log, []);
  s = setup('01 d8'); // add eax, ebx
  r = run(s);
  assert.is(r.kind, 'stop');
  s = setup('c5 fc 29 03', { [RBX]: MMIO }); // vmovaps [rbx], ymm0
  r = run(s);
  assert.ok(r.kind === 'stop' && r.message.includes('c5 fc 29 03'));
});

test('non-canonical addresses: #GP(0), or #SS(0) for an RSP/RBP base (Vol. 1 3.3.7.1)', () => {
  let s = setup('8b 03', { [RBX]: [0, 0x8000] });
  let r = run(s);
  assert.ok(r.kind === 'exception' && r.vector === 13 && r.errorCode === 0, JSON.stringify(r));
  s = setup('8b 45 00', { [RBP]: [0, 0x8000] });
  r = run(s);
  assert.ok(r.kind === 'exception' && r.vector === 12 && r.errorCode === 0);
  s = setup('8b 03', { [RBX]: [-2, 0x7fff] }); // 0x00007ffffffffffe + 4 bytes crosses into non-canonical
  r = run(s);
  assert.ok(r.kind === 'exception' && r.vector === 13);
});

test('RF is cleared when the instruction completes (Vol. 3A 18.3.1.1)', () => {
  const s = setup('8b 03', { [RBX]: MMIO });
  s.guest.flags = 2 | RF | CF;
  done(run(s));
  assert.is(s.guest.flags, 2 | CF);
});

test('an operand straddling MMIO and RAM is split into byte accesses to each side', () => {
  const mem = new PhysMem(0x20000);
  mem.writeBytes(CODE, Uint8Array.from(hexb('89 03')));
  const guest = new TestGuest(mem, (gpa) => gpa >= MMIO && gpa < MMIO + 0x1000);
  guest.ripValue = CODE; guest.setGpr(RBX, MMIO + 0xffe, 0); guest.setGpr(RAX, 0x44332211, 0);
  const dev = new RamDevice(mem);
  done(emulateMmio(guest, dev, 64));
  assert.equal(dev.log.map((x) => [x.gpa, x.size]), [[MMIO + 0xffe, 1], [MMIO + 0xfff, 1]]);
  assert.equal([mem.read8(MMIO + 0x1000), mem.read8(MMIO + 0x1001)], [0x33, 0x44]);
});

test('instruction fetch from MMIO stops the run', () => {
  const s = setup('90', {});
  s.guest.ripValue = MMIO;
  const r = run(s);
  assert.ok(r.kind === 'stop' && r.message.includes('fetch from MMIO'));
});

test('an instruction ending just before an MMIO page runs; one running into it stops; one running into a missing page is a #PF', () => {
  let s = setup('', { [RBX]: MMIO }, () => [1, 0]);
  s.mem.writeBytes(MMIO - 2, Uint8Array.of(0x8b, 0x03)); // last two bytes before the MMIO window
  s.guest.ripValue = MMIO - 2;
  done(run(s));
  s = setup('', { [RBX]: MMIO });
  s.mem.writeBytes(MMIO - 1, Uint8Array.of(0x8b)); // the ModR/M byte would be in MMIO
  s.guest.ripValue = MMIO - 1;
  const r = run(s);
  assert.ok(r.kind === 'stop' && r.message.includes('fetch from MMIO'));
  // paging on: the page after the code is not present
  const mem = new PhysMem(0x20000);
  const g = new TestGuest(mem, (gpa) => gpa >= MMIO && gpa < MMIO + 0x1000);
  mem.write32(0x0000, 0x1000 | 3); // 32-bit paging: PDE 0 -> PT at 0x1000 (Vol. 3A Table 4-5)
  mem.write32(0x1000 + 2 * 4, 0x2000 | 3); // linear 0x2000 -> 0x2000; 0x3000 not present
  mem.write32(0x1000 + 0x10 * 4, MMIO | 3);
  mem.writeBytes(0x2ffe, Uint8Array.of(0x8b, 0x83)); // mov eax, [ebx + disp32]: the displacement is on the next page
  g.paging = { cr0: 0x80000011 | 0, cr3: 0, cr4: 0, efer: 0, cpl: 0, ac: false };
  g.ripValue = 0x2ffe;
  const pf = emulateMmio(g, new FakeDevice(), 32);
  assert.ok(pf.kind === 'exception' && pf.vector === 14 && pf.errorCode === 0 && pf.cr2 === 0x3000, JSON.stringify(pf));
});

test('mov edx, [rbx] leaves other registers alone', () => {
  const s = setup('8b 13', { [RBX]: MMIO, [RAX]: 9 }, () => [3, 0]);
  done(run(s));
  assert.equal([s.guest.lo[RDX], s.guest.lo[RAX], s.guest.lo[RBX]], [3, 9, MMIO]);
});

test.run();
