// The MMIO emulator beyond plain data moves: the stack (PUSH, POP, RET,
// ENTER, LEAVE, indirect CALL/JMP) when SS:rSP is MMIO, IMUL, MUL/DIV,
// BSF/BSR, SHLD/SHRD, CMOVcc, SMSW, MOV to/from segment registers, LTR,
// far JMP and SSE/MMX moves (what kvm-unit-tests' emulator test runs against
// pc-testdev's MMIO buffer). Expected values are worked out by hand from the
// Intel SDM (Vol. 2A/2B "Operation" and "Flags Affected"; descriptor layout
// Vol. 3A 3.4.5, 7.2.3; VMX access-rights format Vol. 3C Table 25-2).
// Guest: paging off, RAM everywhere but an MMIO window at 0x10000..0x10fff
// served by a RAM-backed device (so device contents can be set and read).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PhysMem } from '../../../core/memory/physmem.js';
import { emulateMmio, type MmioResult } from '../../../core/mmio/emulator.js';
import type { DecodeMode } from '../../../core/mmio/decoder.js';
import { TestGuest, RamDevice, TestSystem } from '../../../properties/mmio/guest.js';

const CF = 1, PF = 4, ZF = 0x40, SF = 0x80, OF = 0x800;
const CODE = 0x1000, MMIO = 0x10000, RAM = 0x8000, GDT = 0x6000;
const RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5;
const SEG_CS = 1, SEG_SS = 2, SEG_DS = 3, SEG_TR = 7;

const hexb = (s: string): number[] => s.trim().split(/\s+/).map((x) => parseInt(x, 16));

interface Setup { g: TestGuest; mem: PhysMem; dev: RamDevice; sys: TestSystem }
function setup(code: string, regs: Record<number, number | [number, number]> = {}): Setup {
  const mem = new PhysMem(0x20000);
  mem.writeBytes(CODE, Uint8Array.from(hexb(code)));
  const g = new TestGuest(mem, (gpa) => gpa >= MMIO && gpa < MMIO + 0x1000);
  g.ripValue = CODE;
  for (const [r, v] of Object.entries(regs)) {
    if (Array.isArray(v)) g.setGpr(Number(r), v[0] | 0, v[1] | 0); else g.setGpr(Number(r), v | 0, 0);
  }
  const sys = new TestSystem();
  g.sys = sys;
  sys.gdtBase = GDT; sys.gdtLimit = 0x7f;
  return { g, mem, dev: new RamDevice(mem), sys };
}
function run(s: Setup, mode: DecodeMode = 64): MmioResult { return emulateMmio(s.g, s.dev, mode); }
function done(r: MmioResult): void {
  assert.is(r.kind, 'done', r.kind === 'done' ? '' : 'message' in r ? r.message : r.kind);
}
function fault(r: MmioResult, vector: number, code: number): void {
  assert.is(r.kind, 'exception', 'message' in r ? r.message : r.kind);
  if (r.kind === 'exception') { assert.is(r.vector, vector, r.message); assert.is(r.errorCode, code, r.message); }
}
const q = (mem: PhysMem, a: number): [number, number] => [mem.read32(a) >>> 0, mem.read32(a + 4) >>> 0];
const setq = (mem: PhysMem, a: number, lo: number, hi: number): void => { mem.write32(a, lo); mem.write32(a + 4, hi); };

// ---------------------------------------------------------------- stack

test('push qword [rbx] / push -7 (6A F9) / pushw [rbx]: SS:[rSP - size] written, rSP -= size (Vol. 2B PUSH)', () => {
  let s = setup('ff 33', { [RBX]: RAM, [RSP]: MMIO + 0x100 });
  setq(s.mem, RAM, 0x9abcdef0, 0x12345678);
  done(run(s));
  assert.equal(s.dev.log.map((x) => [x.write, x.gpa, x.size]), [[true, MMIO + 0xf8, 8]]);
  assert.equal(q(s.mem, MMIO + 0xf8), [0x9abcdef0, 0x12345678]);
  assert.is(s.g.lo[RSP], MMIO + 0xf8);
  // imm8 sign-extended to the 64-bit stack operand
  s = setup('6a f9', { [RSP]: MMIO + 0x100 });
  done(run(s));
  assert.equal(q(s.mem, MMIO + 0xf8), [0xfffffff9, 0xffffffff]);
  assert.is(s.g.ripValue, CODE + 2);
  // 66h: a 16-bit push moves rSP by 2
  s = setup('66 ff 33', { [RBX]: RAM, [RSP]: MMIO + 0x100 });
  s.mem.write32(RAM, 0xbeef);
  done(run(s));
  assert.equal(s.dev.log.map((x) => [x.gpa, x.size, x.lo]), [[MMIO + 0xfe, 2, 0xbeef]]);
  assert.is(s.g.lo[RSP], MMIO + 0xfe);
});

test('pop qword [rsp+8]: the destination address is computed after rSP is incremented (Vol. 2B POP)', () => {
  const s = setup('8f 44 24 08', { [RSP]: MMIO + 0x100 });
  setq(s.mem, MMIO + 0x100, 0x11223344, 0x55667788);
  done(run(s));
  // read at the old rSP, rSP += 8, write at new rSP + 8 = old + 0x10
  assert.equal(s.dev.log.map((x) => [x.write, x.gpa]), [[false, MMIO + 0x100], [true, MMIO + 0x110]]);
  assert.equal(q(s.mem, MMIO + 0x110), [0x11223344, 0x55667788]);
  assert.is(s.g.lo[RSP], MMIO + 0x108);
});

test('pop into a page that faults leaves rSP unchanged; pop rax from MMIO; push rsp pushes the old value', () => {
  // 32-bit paging (Vol. 3A 4.3): page directory at 0xa000, one page table at 0xb000 identity-mapping
  // 0-0x1ffff (present, writable) except the page at 0x12000
  let s = setup('8f 03', { [RSP]: MMIO + 0x100, [RBX]: 0x12000 });
  s.mem.write32(0xa000, 0xb000 | 3);
  for (let p = 0; p < 0x20; p++) if (p !== 0x12) s.mem.write32(0xb000 + 4 * p, (p << 12) | 3);
  s.g.paging = { cr0: 0x80000011, cr3: 0xa000, cr4: 0, efer: 0, cpl: 0, ac: false };
  const r = run(s, 32);
  fault(r, 14, 2); // write to a not-present page at CPL 0 (error code W = 1)
  if (r.kind === 'exception') assert.is(r.cr2, 0x12000);
  assert.equal(s.dev.log.map((x) => x.write), [false]); // the stack was read, nothing written
  assert.is(s.g.lo[RSP], MMIO + 0x100);
  s = setup('58', { [RSP]: MMIO + 0x100, [RAX]: [1, 2] });
  setq(s.mem, MMIO + 0x100, 0xcafe, 0xf00d);
  done(run(s));
  assert.equal([s.g.lo[RAX]! >>> 0, s.g.hi[RAX]! >>> 0, s.g.lo[RSP]], [0xcafe, 0xf00d, MMIO + 0x108]);
  s = setup('54', { [RSP]: MMIO + 0x100 });
  done(run(s));
  assert.equal(q(s.mem, MMIO + 0xf8), [MMIO + 0x100, 0]);
});

test('ret / ret 0x10: RIP from SS:[rSP], rSP += 8 (+ imm16) (Vol. 2B RET)', () => {
  let s = setup('c3', { [RSP]: MMIO + 0x40 });
  setq(s.mem, MMIO + 0x40, 0x00401234, 0);
  done(run(s));
  assert.is(s.g.ripValue, 0x401234); assert.is(s.g.lo[RSP], MMIO + 0x48);
  s = setup('c2 10 00', { [RSP]: MMIO + 0x40 });
  setq(s.mem, MMIO + 0x40, 0x2000, 0);
  done(run(s));
  assert.is(s.g.ripValue, 0x2000); assert.is(s.g.lo[RSP], MMIO + 0x58);
});

test('jmp [rbx] / ret to a non-canonical address: #GP(0) at the branch, RIP and rSP unchanged (Vol. 2A JMP: "#GP(0) if the target is non-canonical")', () => {
  let s = setup('ff 23', { [RBX]: MMIO });
  setq(s.mem, MMIO, 0, 0x00008000); // 0x0000_8000_0000_0000: bit 47 set, bits 63:48 clear
  fault(run(s), 13, 0);
  assert.is(s.g.ripValue, CODE);
  s = setup('c3', { [RSP]: MMIO + 0x40 });
  setq(s.mem, MMIO + 0x40, 0, 0xfff00000);
  fault(run(s), 13, 0);
  assert.is(s.g.ripValue, CODE); assert.is(s.g.lo[RSP], MMIO + 0x40);
  // a canonical high address is fine: 0xffff_8000_0000_1000
  s = setup('ff 23', { [RBX]: MMIO });
  setq(s.mem, MMIO, 0x1000, 0xffff8000);
  done(run(s));
  assert.is(s.g.ripValue, -0x800000000000 + 0x1000);
});

test('call [rbx]: pushes the next RIP, jumps to the target read from MMIO (Vol. 2A CALL)', () => {
  const s = setup('ff 13', { [RBX]: MMIO, [RSP]: RAM + 0x100 });
  setq(s.mem, MMIO, 0x3000, 0);
  done(run(s));
  assert.is(s.g.ripValue, 0x3000);
  assert.equal(q(s.mem, RAM + 0xf8), [CODE + 2, 0]);
  assert.is(s.g.lo[RSP], RAM + 0xf8);
});

test('enter 0x20, 0 and leave with the frame in MMIO (Vol. 2A ENTER, LEAVE)', () => {
  let s = setup('c8 20 00 00', { [RSP]: MMIO + 0x100, [RBP]: [0xaa55aa55, 0xbb66bb66] });
  done(run(s));
  assert.equal(q(s.mem, MMIO + 0xf8), [0xaa55aa55, 0xbb66bb66]);
  assert.is(s.g.lo[RBP], MMIO + 0xf8); assert.is(s.g.hi[RBP], 0);
  assert.is(s.g.lo[RSP], MMIO + 0xf8 - 0x20);
  assert.is(s.g.ripValue, CODE + 4);
  s = setup('c9', { [RSP]: 0x1234, [RBP]: MMIO + 0x80 });
  setq(s.mem, MMIO + 0x80, 0x778899, 0);
  done(run(s));
  assert.is(s.g.lo[RSP], MMIO + 0x88); assert.is(s.g.lo[RBP], 0x778899);
});

// ---------------------------------------------------------------- arithmetic

test('imul eax, [rbx], 51: 0x12345678 * 51 = 0x3_A06D_39E8 -> EAX 0xA06D39E8, CF = OF = 1 (Vol. 2A IMUL)', () => {
  let s = setup('6b 03 33', { [RBX]: MMIO, [RAX]: [0, 0x1234] });
  s.mem.write32(MMIO, 0x12345678);
  done(run(s));
  assert.is(s.g.lo[RAX]! >>> 0, 0xa06d39e8); assert.is(s.g.hi[RAX], 0);
  assert.is(s.g.flags & (CF | OF), CF | OF);
  // 16-bit: 0x5678 * 51 = 0x1139E8 -> AX 0x39E8, upper RAX bits kept; fits? no -> CF = OF = 1
  s = setup('66 0f af 03', { [RBX]: MMIO, [RAX]: [0x12345678, 0x12345678] });
  s.mem.write32(MMIO, 51);
  done(run(s));
  assert.equal([s.g.lo[RAX]! >>> 0, s.g.hi[RAX]! >>> 0], [0x123439e8, 0x12345678]);
  // -2 * 3 = -6 fits: CF = OF = 0
  s = setup('48 0f af 03', { [RBX]: MMIO, [RAX]: [-2, -1] });
  setq(s.mem, MMIO, 3, 0);
  s.g.flags = 2 | CF | OF;
  done(run(s));
  assert.equal([s.g.lo[RAX]! | 0, s.g.hi[RAX]! | 0], [-6, -1]);
  assert.is(s.g.flags & (CF | OF), 0);
});

test('mul qword [rbx]: RDX:RAX = 0x1111111111111111 * 0x3333333333333333 (Vol. 2A MUL)', () => {
  // 0x1111111111111111 * 3 = 0x3333333333333333, * 0x1111111111111111 again: the product is
  // 0x0369D0369D0369D0_2FC962FC962FC963 (schoolbook: sum of 0x3333333333333333 << 4k for k = 0..15)
  const s = setup('48 f7 23', { [RBX]: MMIO, [RAX]: [0x11111111, 0x11111111], [RDX]: 5 });
  setq(s.mem, MMIO, 0x33333333, 0x33333333);
  done(run(s));
  assert.equal([s.g.lo[RAX]! >>> 0, s.g.hi[RAX]! >>> 0, s.g.lo[RDX]! >>> 0, s.g.hi[RDX]! >>> 0], [0x962fc963, 0x2fc962fc, 0x9d0369d0, 0x0369d036]);
  assert.is(s.g.flags & (CF | OF), CF | OF);
});

test('div / idiv from MMIO: quotient and remainder; #DE for a zero divisor or a quotient too large (Vol. 2A DIV, IDIV)', () => {
  // RDX:RAX = 2^64 (RDX = 1, RAX = 0) / 3 = 0x5555555555555555 remainder 1
  let s = setup('48 f7 33', { [RBX]: MMIO, [RAX]: 0, [RDX]: 1 });
  setq(s.mem, MMIO, 3, 0);
  done(run(s));
  assert.equal([s.g.lo[RAX]! >>> 0, s.g.hi[RAX]! >>> 0, s.g.lo[RDX], s.g.hi[RDX]], [0x55555555, 0x55555555, 1, 0]);
  // idiv: -100 / 7 = -14 remainder -2 (truncation toward zero, remainder has the dividend's sign)
  s = setup('48 f7 3b', { [RBX]: MMIO, [RAX]: [-100, -1], [RDX]: [-1, -1] });
  setq(s.mem, MMIO, 7, 0);
  done(run(s));
  assert.equal([s.g.lo[RAX]! | 0, s.g.hi[RAX]! | 0, s.g.lo[RDX]! | 0, s.g.hi[RDX]! | 0], [-14, -1, -2, -1]);
  // div byte: AX = 1000 / 7 = 142 r 6 -> AL = 142, AH = 6
  s = setup('f6 33', { [RBX]: MMIO, [RAX]: 1000 });
  s.mem.write8(MMIO, 7);
  done(run(s));
  assert.is(s.g.lo[RAX]! & 0xffff, 142 | (6 << 8));
  // zero divisor, then 2^64 / 1 (quotient needs 65 bits): #DE, registers unchanged
  s = setup('48 f7 33', { [RBX]: MMIO, [RAX]: 0, [RDX]: 1 });
  fault(run(s), 0, -1);
  setq(s.mem, MMIO, 1, 0);
  fault(run(s), 0, -1);
  assert.equal([s.g.lo[RAX], s.g.lo[RDX], s.g.ripValue], [0, 1, CODE]);
});

test('bsf / bsr from MMIO; a zero source sets ZF and leaves the destination (Vol. 2A BSF, BSR)', () => {
  let s = setup('0f bc 03', { [RBX]: MMIO, [RAX]: 0x77 });
  s.mem.write32(MMIO, 0xc0000000);
  done(run(s));
  assert.is(s.g.lo[RAX], 30); assert.is(s.g.flags & ZF, 0);
  s = setup('48 0f bd 03', { [RBX]: MMIO });
  setq(s.mem, MMIO, 0, 0xc000); // 0x0000c000_00000000: highest set bit 47
  done(run(s));
  assert.is(s.g.lo[RAX], 47);
  s = setup('48 0f bc 03', { [RBX]: MMIO, [RAX]: [0x1234, 0x5678] });
  done(run(s));
  assert.equal([s.g.lo[RAX], s.g.hi[RAX]], [0x1234, 0x5678]);
  assert.is(s.g.flags & ZF, ZF);
});

test('shld / shrd dword [rbx], edx, cl with CL = 3 (Vol. 2B SHLD, SHRD)', () => {
  // SHLD: 0x12345678 << 3 | 0xaaaaaaaa >> 29 = 0x91a2b3c0 | 5; CF = bit 29 of the destination = 0; SF = 1
  let s = setup('0f a5 13', { [RBX]: MMIO, [RDX]: 0xaaaaaaaa, [RCX]: 3 });
  s.mem.write32(MMIO, 0x12345678);
  done(run(s));
  assert.is(s.mem.read32(MMIO) >>> 0, 0x91a2b3c5);
  assert.is(s.g.flags & (CF | ZF | SF), SF);
  // SHRD: 0x12345678 >> 3 | 0x55555555 << 29 = 0x02468acf | 0xa0000000; CF = bit 2 of the destination = 0
  s = setup('0f ad 13', { [RBX]: MMIO, [RDX]: 0x55555555, [RCX]: 3 });
  s.mem.write32(MMIO, 0x12345678);
  done(run(s));
  assert.is(s.mem.read32(MMIO) >>> 0, 0xa2468acf);
  // count 0: nothing written, flags unchanged
  s = setup('0f a4 13 00', { [RBX]: MMIO, [RDX]: 1 });
  s.g.flags = 2 | CF | PF;
  done(run(s));
  assert.is(s.dev.log.filter((x) => x.write).length, 0);
  assert.is(s.g.flags, 2 | CF | PF);
});

test('cmovne eax, [rbx] with ZF = 1 reads the source, moves nothing, still zero-extends EAX (Vol. 2A CMOVcc)', () => {
  let s = setup('0f 45 03', { [RBX]: MMIO, [RAX]: [0x12345678, 0x12345678] });
  s.mem.write32(MMIO, 0xabcdef12);
  s.g.flags = 2 | ZF;
  done(run(s));
  assert.is(s.dev.log.length, 1);
  assert.equal([s.g.lo[RAX], s.g.hi[RAX]], [0x12345678, 0]);
  s = setup('0f 44 03', { [RBX]: MMIO });
  s.mem.write32(MMIO, 0xabcdef12);
  s.g.flags = 2 | ZF;
  done(run(s));
  assert.is(s.g.lo[RAX]! >>> 0, 0xabcdef12);
});

// ---------------------------------------------------------------- system

test('smsw [rbx] stores CR0[15:0] as a word (Vol. 2B SMSW); mov [rbx], cs stores the selector (Vol. 2B MOV)', () => {
  let s = setup('0f 01 23', { [RBX]: MMIO });
  s.sys.cr0v = 0x80050033;
  s.mem.write32(MMIO, -1);
  done(run(s));
  assert.equal(s.dev.log.map((x) => [x.write, x.size, x.lo]), [[true, 2, 0x0033]]);
  assert.is(s.mem.read32(MMIO) >>> 0, 0xffff0033);
  s = setup('66 8c 0b', { [RBX]: MMIO });
  s.sys.sel[SEG_CS] = 0x08;
  done(run(s));
  assert.equal(s.dev.log.map((x) => [x.size, x.lo]), [[2, 8]]);
});

test('mov ss, [rbx]: null at CPL 0 in 64-bit mode loads an unusable SS; RPL != CPL: #GP(0) (null) / #GP(selector) (Vol. 2B MOV)', () => {
  let s = setup('8e 13', { [RBX]: MMIO });
  done(run(s));
  assert.is(s.sys.sel[SEG_SS], 0); assert.is(s.sys.ar[SEG_SS]! & 0x10000, 0x10000);
  assert.ok(s.sys.movSs, 'blocking by MOV SS');
  s = setup('8e 13', { [RBX]: MMIO });
  s.mem.write16(MMIO, 3);
  fault(run(s), 13, 0);
  s = setup('8e 13', { [RBX]: MMIO });
  s.mem.write16(MMIO, 0x13);
  setq(s.mem, GDT + 0x10, 0x0000ffff, 0x00cf9300); // flat writable data, DPL 0
  fault(run(s), 13, 0x10);
});

test('mov ds, [rbx] loads base, limit and access rights from the GDT and sets the accessed bit (Vol. 3A 3.4.5)', () => {
  const s = setup('8e 1b', { [RBX]: MMIO });
  s.mem.write16(MMIO, 0x18);
  // base 0x00123456, limit 0xfffff with G = 1 (4 GiB), type 2 (read/write data, not accessed), S, DPL 0, P, D/B
  setq(s.mem, GDT + 0x18, 0x3456ffff, 0x00cf9212);
  done(run(s));
  assert.equal([s.sys.sel[SEG_DS], s.sys.base[SEG_DS], s.sys.limit[SEG_DS], s.sys.ar[SEG_DS]], [0x18, 0x123456, 0xffffffff, 0xc093]);
  assert.is(s.mem.read32(GDT + 0x1c) >>> 0, 0x00cf9312);
  // not present: #NP(selector)
  setq(s.mem, GDT + 0x18, 0x3456ffff, 0x00cf1312);
  s.g.ripValue = CODE;
  fault(run(s), 11, 0x18);
});

test('ltr [rbx]: 16-byte TSS descriptor in IA-32e mode, busy bit set, TR loaded (Vol. 2B LTR; Vol. 3A 7.2.3)', () => {
  const s = setup('0f 00 1b', { [RBX]: MMIO });
  s.mem.write16(MMIO, 0x20);
  // base 0xffff8000_00abc000, limit 0x67, type 9 (available 64-bit TSS), P
  setq(s.mem, GDT + 0x20, 0xc0000067, 0x000089ab);
  setq(s.mem, GDT + 0x28, 0xffff8000, 0);
  done(run(s));
  assert.is(s.sys.sel[SEG_TR], 0x20);
  assert.is(s.sys.base[SEG_TR], -0x800000000000 + 0xabc000);
  assert.is(s.sys.limit[SEG_TR], 0x67);
  assert.is(s.sys.ar[SEG_TR], 0x8b);
  assert.is(s.mem.read32(GDT + 0x24) >>> 0, 0x00008bab);
  // a busy TSS cannot be loaded again: #GP(selector); at CPL 3: #GP(0)
  s.g.ripValue = CODE;
  fault(run(s), 13, 0x20);
  s.sys.cplv = 3;
  fault(run(s), 13, 0);
});

test('jmp far [rbx] (REX.W, m16:64): CS from the GDT, RIP = offset (Vol. 2A JMP "Far Jumps in Protected Mode")', () => {
  const s = setup('48 ff 2b', { [RBX]: MMIO });
  setq(s.mem, MMIO, 0x00402000, 0);
  s.mem.write16(MMIO + 8, 0x08);
  setq(s.mem, GDT + 0x08, 0x0000ffff, 0x00af9b00); // 64-bit code: L = 1, G, P, type 11
  done(run(s));
  assert.is(s.g.ripValue, 0x402000);
  assert.equal([s.sys.sel[SEG_CS], s.sys.ar[SEG_CS]], [0x08, 0xa09b]);
  // a data segment is not a jump target: #GP(selector)
  setq(s.mem, GDT + 0x08, 0x0000ffff, 0x00cf9300);
  s.g.ripValue = CODE;
  fault(run(s), 13, 0x08);
});

test('movups / movdqu / movaps with MMIO: 16 bytes as two 8-byte accesses; movaps misaligned #GP(0); CR0.TS #NM; CR4.OSFXSR = 0 #UD (Vol. 2B MOVUPS, MOVAPS)', () => {
  let s = setup('0f 11 0b', { [RBX]: MMIO + 8 });
  s.sys.xmm.set([1, 2, 3, 4], 4);
  done(run(s));
  assert.equal(s.dev.log.map((x) => [x.write, x.gpa, x.size]), [[true, MMIO + 8, 8], [true, MMIO + 16, 8]]);
  assert.equal([s.mem.read32(MMIO + 8), s.mem.read32(MMIO + 12), s.mem.read32(MMIO + 16), s.mem.read32(MMIO + 20)], [1, 2, 3, 4]);
  s = setup('f3 0f 6f 13', { [RBX]: MMIO });
  for (let k = 0; k < 4; k++) s.mem.write32(MMIO + 4 * k, 5 + k);
  done(run(s));
  assert.equal(Array.from(s.sys.xmm.subarray(8, 12)), [5, 6, 7, 8]);
  s = setup('0f 29 0b', { [RBX]: MMIO + 8 });
  fault(run(s), 13, 0);
  s = setup('0f 28 0b', { [RBX]: MMIO });
  s.sys.cr0v |= 8;
  fault(run(s), 7, -1);
  s.sys.cr0v &= ~8; s.sys.cr4v = 0;
  fault(run(s), 6, -1);
});

test('movq [rbx], mm0 / movq mm1, [rbx] (0F 7F / 0F 6F, no prefix): 8 bytes; CR0.EM #UD (Vol. 2B MOVQ)', () => {
  let s = setup('0f 7f 03', { [RBX]: MMIO });
  s.sys.mm[0] = 0x05060708; s.sys.mm[1] = 0x01020304;
  done(run(s));
  assert.equal(q(s.mem, MMIO), [0x05060708, 0x01020304]);
  s = setup('0f 6f 0b', { [RBX]: MMIO });
  setq(s.mem, MMIO, 0x40302010, 0x80706050);
  done(run(s));
  assert.equal([s.sys.mm[2]! >>> 0, s.sys.mm[3]! >>> 0], [0x40302010, 0x80706050]);
  s.sys.cr0v |= 4;
  s.g.ripValue = CODE;
  fault(run(s), 6, -1);
});

test('system instructions without system state stop the run (naming RIP and the bytes)', () => {
  const s = setup('0f 01 23', { [RBX]: MMIO });
  s.g.sys = undefined;
  const r = run(s);
  assert.is(r.kind, 'stop');
  if (r.kind === 'stop') assert.ok(r.message.includes('RIP 0x1000') && r.message.includes('0f 01 23'), r.message);
});

test.run();
