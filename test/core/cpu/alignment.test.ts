/**
 * #AC (Vol. 3A 6.15 "Interrupt 17 - Alignment Check Exception (#AC)"): with CR0.AM = 1 and
 * RFLAGS.AC = 1, a misaligned data access at CPL 3 raises #AC with error code 0 (Table 6-24:
 * word at an address not a multiple of 2, doubleword of 4, quadword of 8); not at CPL 0-2, not
 * with AM or AC clear, never for bytes. Each case sets AC itself at CPL 3 (PUSHFQ; OR [RSP],
 * 40000H; POPFQ: AC is writable at any CPL) and then makes the access.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NATIVE_SCRATCH_BASE as S, makeNativeState, type NativeCase } from '../../../properties/harness/native.js';
import { Cpu1, PTE_P, PTE_W, PTE_U, type Cpu1Result } from '../../../properties/harness/cpu1.js';
import { CR0_AM } from '../../../core/cpu/regs.js';

const AC_VEC = 17;
const SET_AC = [0x9c, 0x81, 0x0c, 0x24, 0x00, 0x00, 0x04, 0x00, 0x9d]; // pushfq; or dword [rsp], 0x40000; popfq
const CLR_AC = [0x9c, 0x81, 0x24, 0x24, 0xff, 0xff, 0xfb, 0xff, 0x9d]; // pushfq; and dword [rsp], ~0x40000; popfq

function run(access: number[], o: { user?: boolean; am?: boolean; ac?: boolean; rbx?: number; rsp?: number; twoPages?: boolean } = {}): Cpu1Result {
  const code = [...(o.ac === false ? CLR_AC : SET_AC), ...access];
  const c: NativeCase = { code: Uint8Array.from(code), state: makeNativeState({ rbx: o.rbx ?? S + 0x100, rsp: o.rsp ?? S + 0x800 }) };
  const m = new Cpu1({ user: o.user ?? true, setup: (cpu) => { if (o.am !== false) cpu.cr0 |= CR0_AM; else cpu.cr0 &= ~CR0_AM; } });
  if (o.twoPages) m.mapPage(S + 0x1000, m.allocPage(), PTE_P | PTE_W | PTE_U);
  return m.run(c, access.length === 0 ? 3 : 4 + (access[0] === 0x48 && access[1] === 0x83 ? 1 : 0));
}
function expectAc(r: Cpu1Result, what: string): void {
  assert.not.ok(r.ok, `${what}: faults`);
  if (r.ok) return;
  assert.is(r.vector, AC_VEC, `${what}: #AC`);
  assert.is(r.errorCode, 0, `${what}: error code 0`);
}

test('CPL 3, CR0.AM = 1, RFLAGS.AC = 1: misaligned word, doubleword, quadword reads and writes are #AC(0) at the access', () => {
  expectAc(run([0x66, 0x8b, 0x43, 0x01]), 'mov ax, [rbx+1]');
  expectAc(run([0x8b, 0x43, 0x02]), 'mov eax, [rbx+2]');
  expectAc(run([0x48, 0x8b, 0x43, 0x04]), 'mov rax, [rbx+4]');
  expectAc(run([0x89, 0x43, 0x01]), 'mov [rbx+1], eax');
  expectAc(run([0x48, 0x89, 0x43, 0x0c]), 'mov [rbx+12], rax');
  const r = run([0x8b, 0x43, 0x02]);
  if (!r.ok) assert.is(r.ripOffset, SET_AC.length, 'RIP at the MOV (a fault)');
});

test('aligned accesses and byte accesses do not fault; neither do misaligned ones without AM, without AC, or at CPL 0', () => {
  assert.ok(run([0x48, 0x8b, 0x43, 0x08]).ok, 'mov rax, [rbx+8]');
  assert.ok(run([0x8b, 0x43, 0x04]).ok, 'mov eax, [rbx+4]');
  assert.ok(run([0x8a, 0x43, 0x03]).ok, 'mov al, [rbx+3]');
  assert.ok(run([0x8b, 0x43, 0x02], { am: false }).ok, 'CR0.AM = 0');
  assert.ok(run([0x8b, 0x43, 0x02], { ac: false }).ok, 'RFLAGS.AC = 0');
  assert.ok(run([0x8b, 0x43, 0x02], { user: false }).ok, 'CPL 0');
});

test('stack accesses are checked too: PUSH with RSP misaligned is #AC', () => {
  expectAc(run([0x48, 0x83, 0xec, 0x01, 0x50]), 'sub rsp, 1; push rax');
});

test('a misaligned access that crosses into the next page is #AC (the page-split paths check the whole access)', () => {
  expectAc(run([0x8b, 0x43, 0x00], { rbx: S + 0xffe, twoPages: true }), 'mov eax, [S+FFEh]');
  expectAc(run([0x48, 0x89, 0x43, 0x00], { rbx: S + 0xffc, twoPages: true }), 'mov [S+FFCh], rax');
  assert.ok(run([0x8b, 0x43, 0x00], { rbx: S + 0xffe, twoPages: true, ac: false }).ok, 'without AC: the split access completes');
});

test.run();
