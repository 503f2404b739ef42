/**
 * Exceptions raised by single instructions, against the SDM (Vol. 3A,
 * 6.15 "Exception and Interrupt Reference"; Vol. 2 per-instruction
 * "Exceptions" sections; Vol. 3A, 4.7 "Page-Fault Exceptions"). Where the
 * host CPU can run the same case (properties/harness/native.ts), it is run too and must
 * agree on the vector, as a second oracle.
 *
 * Every case runs on properties/harness/cpu1.ts: 64-bit mode, CPL 0 (CPL 3 where
 * the U/S bit is the point), every exception a VM exit (exception bitmap
 * all ones) unless the case delivers it through the guest IDT.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  NATIVE_CODE_ADDR as CODE, NATIVE_SCRATCH_BASE as S, makeNativeState, nativeUnavailableReason, runNativeBatch,
  type NativeCase, type NativeResult, type NativeStateInit,
} from '../../../properties/harness/native.js';
import { Cpu1, CODE_BASE, PTE_P, PTE_U, PTE_W, PA_PD, PA_PML4, type Cpu1Result, type Cpu1Options } from '../../../properties/harness/cpu1.js';
import { FS } from '../../../core/cpu/regs.js';

const DE = 0, BP = 3, UD = 6, SS = 12, GP = 13, PF = 14;
// #PF error code bits (Vol. 3A, 4.7, Figure 4-12).
const P = 1, W = 2, U = 4, RSVD = 8, I = 16;
const NONCANON = 0x0000_8000_0000_0000n;

const nativeOk = nativeUnavailableReason() === undefined;

function mk(code: number[], init: NativeStateInit = {}): NativeCase {
  return { code: Uint8Array.from(code), state: makeNativeState(init) };
}
function run(c: NativeCase, opts: Cpu1Options = {}, prep?: (m: Cpu1) => void): Cpu1Result {
  const m = new Cpu1(opts);
  prep?.(m);
  return m.run(c);
}
function fault(r: Cpu1Result): Extract<NativeResult, { ok: false }> & Cpu1Result {
  if (r.ok) throw new assert.Assertion({ message: `expected a fault, the instruction completed (rip code+${r.ripOffset})`, generated: false, operator: 'fault', expects: 'fault', actual: 'completed' });
  if (r.unimplemented !== undefined) throw new Error(r.unimplemented);
  return r as Extract<NativeResult, { ok: false }> & Cpu1Result;
}
function gpr(r: NativeResult, k: number): bigint {
  const g = r.state!.gpr;
  return (BigInt(g[2 * k + 1]!) << 32n) | BigInt(g[2 * k]!);
}
/** The host CPU's vectors for the cases (undefined entries when the harness is unavailable). */
function nativeVectors(cases: NativeCase[]): (number | undefined)[] {
  if (!nativeOk) return cases.map(() => undefined);
  return runNativeBatch(cases).map((r) => (r.ok ? -1 : r.vector));
}
/** Asserts fault `vector` (error code `err`) at the instruction, with GPRs and scratch unchanged. */
function expectFault(name: string, c: NativeCase, vector: number, err = 0, opts: Cpu1Options = {}): Cpu1Result {
  const r = fault(run(c, opts));
  assert.is(r.vector, vector, `${name}: vector`);
  assert.is(r.errorCode, err, `${name}: error code`);
  assert.is(r.ripOffset, 0, `${name}: RIP at the faulting instruction`);
  assert.equal(Array.from(r.state!.gpr), Array.from(c.state.gpr), `${name}: registers unchanged`);
  assert.ok(r.state!.mem.every((b, k) => b === c.state.mem[k]), `${name}: memory unchanged`);
  return r;
}

// ---------------------------------------------------------------------------
// #DE (Vol. 2A DIV, IDIV: "#DE If the source operand (divisor) is 0. If the quotient is too large for the designated register.")

test('#DE: DIV by zero at every operand size, register and memory divisor', () => {
  const cases: [string, NativeCase][] = [
    ['div bl', mk([0xf6, 0xf3], { rax: 0x1234, rbx: 0 })],
    ['div bx', mk([0x66, 0xf7, 0xf3], { rax: 5, rdx: 0, rbx: 0xffff0000 })],
    ['div ebx', mk([0xf7, 0xf3], { rax: 5, rbx: 0xffff_ffff_0000_0000n })],
    ['div rbx', mk([0x48, 0xf7, 0xf3], { rax: 5, rbx: 0 })],
    ['idiv rbx', mk([0x48, 0xf7, 0xfb], { rax: 5, rbx: 0 })],
    ['div qword [rbx]', mk([0x48, 0xf7, 0x33], { rax: 5, rbx: S })],
  ];
  const nat = nativeVectors(cases.map((c) => c[1]));
  cases.forEach(([name, c], k) => {
    expectFault(name, c, DE);
    if (nat[k] !== undefined) assert.is(nat[k], DE, `${name}: host CPU`);
  });
});

test('#DE: quotient overflow, including IDIV of the most negative dividend by -1', () => {
  const cases: [string, NativeCase][] = [
    ['div bl: 0x100 / 1', mk([0xf6, 0xf3], { rax: 0x100, rbx: 1 })],
    ['div ebx: 2^33 / 2', mk([0xf7, 0xf3], { rdx: 2, rax: 0, rbx: 2 })],
    ['div rbx: 2^64 / 1', mk([0x48, 0xf7, 0xf3], { rdx: 1, rax: 0, rbx: 1 })],
    ['idiv bl: -128 / -1', mk([0xf6, 0xfb], { rax: 0xff80, rbx: 0xff })],
    ['idiv bx: -32768 / -1', mk([0x66, 0xf7, 0xfb], { rdx: 0xffff, rax: 0x8000, rbx: 0xffff })],
    ['idiv ebx: INT32_MIN / -1', mk([0xf7, 0xfb], { rdx: 0xffff_ffff, rax: 0x8000_0000, rbx: 0xffff_ffff })],
    ['idiv rbx: INT64_MIN / -1', mk([0x48, 0xf7, 0xfb], { rdx: -1, rax: 0x8000_0000_0000_0000n, rbx: -1 })],
    ['idiv rbx: positive quotient 2^63', mk([0x48, 0xf7, 0xfb], { rdx: 0, rax: 0x8000_0000_0000_0000n, rbx: 1 })],
  ];
  const nat = nativeVectors(cases.map((c) => c[1]));
  cases.forEach(([name, c], k) => {
    expectFault(name, c, DE);
    if (nat[k] !== undefined) assert.is(nat[k], DE, `${name}: host CPU`);
  });
});

test('no #DE at the edges: the largest quotients that fit', () => {
  // 32-bit: EDX:EAX = 2^32 + 0 ... / 2 = 2^31 fits in 32 bits unsigned.
  let r = run(mk([0xf7, 0xf3], { rdx: 1, rax: 0, rbx: 2 }));
  assert.ok(r.ok);
  assert.is(gpr(r, 0), 0x8000_0000n);
  // IDIV: -2^63 / 1 = -2^63 fits.
  r = run(mk([0x48, 0xf7, 0xfb], { rdx: -1, rax: 0x8000_0000_0000_0000n, rbx: 1 }));
  assert.ok(r.ok);
  assert.is(gpr(r, 0), 0x8000_0000_0000_0000n);
  assert.is(gpr(r, 2), 0n);
  // IDIV r8: -256 / 2 = -128 fits (AL = 0x80, AH = remainder 0).
  r = run(mk([0xf6, 0xfb], { rax: 0xff00, rbx: 2 }));
  assert.ok(r.ok);
  assert.is(gpr(r, 0) & 0xffffn, 0x0080n);
});

test('a divisor in unmapped memory is a #PF, not a #DE', () => {
  const r = fault(run(mk([0x48, 0xf7, 0x33], { rbx: S + 0x1000 })));
  assert.is(r.vector, PF);
  assert.is(r.addr, BigInt(S + 0x1000));
});

// ---------------------------------------------------------------------------
// #GP(0) / #SS(0) for non-canonical addresses (Vol. 3A, 6.15 "#GP" and "#SS"; Vol. 1, 3.3.7.1)

test('#GP(0): a non-canonical memory operand (read, write, RMW, via FS base)', () => {
  const cases: [string, NativeCase][] = [
    ['mov rax, [rbx]', mk([0x48, 0x8b, 0x03], { rbx: NONCANON })],
    ['mov [rbx+8], rax', mk([0x48, 0x89, 0x43, 0x08], { rbx: NONCANON - 8n })],
    ['add [rbx], eax', mk([0x01, 0x03], { rbx: 0xffff_7fff_ffff_ff00n })],
    ['mov rax, [rbx + rcx*8]', mk([0x48, 0x8b, 0x04, 0xcb], { rbx: 0, rcx: 0x0000_1000_0000_0000n })],
    ['mov eax, ss:[rbx] (SS override is ignored in 64-bit mode)', mk([0x36, 0x8b, 0x03], { rbx: NONCANON })],
    ['mov eax, fs:[rbp] (FS, not SS)', mk([0x64, 0x8b, 0x45, 0x00], { rbp: NONCANON })],
  ];
  const nat = nativeVectors(cases.map((c) => c[1]));
  cases.forEach(([name, c], k) => {
    expectFault(name, c, GP, 0);
    if (nat[k] !== undefined) assert.is(nat[k], GP, `${name}: host CPU`);
  });
  // The FS base makes a canonical offset non-canonical (the base is added before the check).
  expectFault('mov rax, fs:[0x2000] with FS.base = 0x7ffffffff000', mk([0x64, 0x48, 0x8b, 0x04, 0x25, 0x00, 0x20, 0x00, 0x00]), GP, 0,
    { setup: (c) => { c.segBase[FS] = 0x7fff_ffff_f000; c.updateMode(); } });
});

test('addresses wrap modulo 2^64 before the canonical check; 32-bit addressing ignores the upper halves', () => {
  // [rbx + 1] with RBX = -1 is linear address 0: canonical, so a #PF (not mapped), not a #GP.
  let r = fault(run(mk([0x8b, 0x43, 0x01], { rbx: -1 })));
  assert.is(r.vector, PF);
  assert.is(r.addr, 0n);
  // 67 8B 03: [ebx] uses only EBX.
  const ok = run(mk([0x67, 0x8b, 0x03], { rbx: 0xdead_beef_0000_0000n + BigInt(S), mem: [0x11, 0x22, 0x33, 0x44] }));
  assert.ok(ok.ok);
  assert.is(gpr(ok, 0), 0x4433_2211n);
  // A canonical top-half address (0xffff8...) is fine as far as canonicality goes: #PF.
  r = fault(run(mk([0x8b, 0x03], { rbx: 0xffff_8000_0000_0000n })));
  assert.is(r.vector, PF);
});

test('#SS(0): a non-canonical stack access (PUSH, POP, [rsp], [rbp])', () => {
  const cases: [string, NativeCase][] = [
    ['push rax', mk([0x50], { rsp: NONCANON + 8n })],
    ['pop rax', mk([0x58], { rsp: NONCANON })],
    ['mov rax, [rsp+8]', mk([0x48, 0x8b, 0x44, 0x24, 0x08], { rsp: NONCANON - 8n })],
    ['mov rax, [rbp]', mk([0x48, 0x8b, 0x45, 0x00], { rbp: 0x1234_0000_0000_0000n })],
    ['call rel32', mk([0xe8, 0x10, 0x00, 0x00, 0x00], { rsp: NONCANON + 4n + 8n })],
    ['ret', mk([0xc3], { rsp: 0xf000_0000_0000_0000n })],
  ];
  const nat = nativeVectors(cases.map((c) => c[1]));
  cases.forEach(([name, c], k) => {
    expectFault(name, c, SS, 0);
    if (nat[k] !== undefined) assert.is(nat[k], SS, `${name}: host CPU`);
  });
  // The push just below the canonical boundary is canonical: a #PF there, not #SS.
  const r = fault(run(mk([0x50], { rsp: NONCANON })));
  assert.is(r.vector, PF);
  assert.is(r.addr, NONCANON - 8n);
});

// ---------------------------------------------------------------------------
// #PF error codes (Vol. 3A, 4.7) and the faulting address

/** Clears/sets bits of the scratch page's PTE. */
function scratchPte(m: Cpu1, clear: number, set = 0, setHi = 0): void {
  const [lo, hi] = m.getPte(S);
  m.setPte(S, (lo & ~clear) | set, hi | setHi);
}

test('#PF: not present (P = 0): read 0, write W, read-modify-write W, with the address', () => {
  const np = (m: Cpu1): void => scratchPte(m, PTE_P);
  for (const [name, code, err] of [
    ['mov eax, [rbx]', [0x8b, 0x03], 0],
    ['mov [rbx], eax', [0x89, 0x03], W],
    ['add [rbx], eax', [0x01, 0x03], W],
    ['xchg [rbx], eax', [0x87, 0x03], W],
    ['inc dword [rbx]', [0xff, 0x03], W],
    ['cmp [rbx], eax (read only)', [0x39, 0x03], 0],
  ] as [string, number[], number][]) {
    const c = mk(code, { rbx: S + 0x123 });
    const r = fault(run(c, {}, np));
    assert.is(r.vector, PF, name);
    assert.is(r.errorCode, err, `${name}: error code`);
    assert.is(r.addr, BigInt(S + 0x123), `${name}: faulting address`);
    assert.is(r.ripOffset, 0);
  }
});

test('#PF: protection at CPL 3: supervisor page (P|U), read-only page write (P|W|U); not present (U)', () => {
  let r = fault(run(mk([0x8b, 0x03], { rbx: S }), { user: true }, (m) => scratchPte(m, PTE_U)));
  assert.is(r.errorCode, P | U);
  r = fault(run(mk([0x89, 0x03], { rbx: S + 8 }), { user: true }, (m) => scratchPte(m, PTE_W)));
  assert.is(r.errorCode, P | W | U);
  assert.is(r.addr, BigInt(S + 8));
  r = fault(run(mk([0x89, 0x03], { rbx: S + 0x1000 }), { user: true }));
  assert.is(r.errorCode, W | U);
  // Readable: a read of the read-only page succeeds at CPL 3.
  const ok = run(mk([0x8b, 0x03], { rbx: S, mem: [7, 0, 0, 0] }), { user: true }, (m) => scratchPte(m, PTE_W));
  assert.ok(ok.ok);
  assert.is(gpr(ok, 0), 7n);
});

test('#PF: supervisor writes to read-only pages fault only with CR0.WP = 1 (Vol. 3A, 4.6.1)', () => {
  const r = fault(run(mk([0x89, 0x03], { rbx: S, rax: 5 }), {}, (m) => scratchPte(m, PTE_W)));
  assert.is(r.errorCode, P | W);
  const ok = run(mk([0x89, 0x03], { rbx: S, rax: 5 }), { setup: (c) => { c.cr0 &= ~(1 << 16); } }, (m) => scratchPte(m, PTE_W));
  assert.ok(ok.ok);
  assert.is(ok.state!.mem[0], 5);
});

test('#PF: reserved bits (RSVD) in a PTE and in a PDE, and PS in a PML4E', () => {
  // MAXPHYADDR is 39 (CPUID.80000008H): bit 45 of an entry is reserved.
  let r = fault(run(mk([0x8b, 0x03], { rbx: S }), {}, (m) => scratchPte(m, 0, 0, 1 << 13)));
  assert.is(r.errorCode, P | RSVD);
  r = fault(run(mk([0x89, 0x03], { rbx: S }), {}, (m) => scratchPte(m, 0, 0, 1 << 13)));
  assert.is(r.errorCode, P | W | RSVD);
  r = fault(run(mk([0x8b, 0x03], { rbx: S }), {}, (m) => {
    const pa = PA_PD + ((S >>> 21) & 0x1ff) * 8;
    m.mem.dv.setUint32(pa + 4, m.mem.dv.getUint32(pa + 4, true) | (1 << 13), true);
    m.cpu.flushTlb();
  }));
  assert.is(r.errorCode, P | RSVD);
  // PS is reserved in a PML4E (a mapping of its own, in PML4 slot 1, so the code fetch is unaffected).
  const L = 0x80_0000_0000;
  r = fault(run(mk([0x8b, 0x03], { rbx: L }), {}, (m) => {
    m.mapPage(L, m.allocPage(), PTE_P | PTE_W);
    m.mem.dv.setUint32(PA_PML4 + 8, m.mem.dv.getUint32(PA_PML4 + 8, true) | 0x80, true);
    m.cpu.flushTlb();
  }));
  assert.is(r.errorCode, P | RSVD);
  assert.is(r.addr, BigInt(L));
  // With EFER.NXE = 0 the XD bit (63) is reserved: the NX scratch page faults with RSVD.
  r = fault(run(mk([0x8b, 0x03], { rbx: S }), { setup: (c) => { c.efer &= ~(1 << 11); } }));
  assert.is(r.errorCode, P | RSVD);
});

test('#PF: instruction fetch (I/D): NX page, not-present page; RIP is the fetch address', () => {
  // jmp rbx into the NX scratch page: the jump completes, the fetch at the target faults.
  let r = fault(run(mk([0xff, 0xe3], { rbx: S + 0x40 })));
  assert.is(r.vector, PF);
  assert.is(r.errorCode, P | I);
  assert.is(r.addr, BigInt(S + 0x40));
  assert.is(r.ripOffset, S + 0x40 - CODE);
  // Not present: I is reported because EFER.NXE = 1 (Vol. 3A, 4.7: "I/D ... if ... NXE = 1 or SMEP").
  r = fault(run(mk([0xff, 0xe3], { rbx: 0x3000_0000 })));
  assert.is(r.errorCode, I);
  // Without NXE (and SMEP) the I/D flag is 0; the scratch PTE's XD bit is cleared so it is not reserved.
  r = fault(run(mk([0xff, 0xe3], { rbx: 0x3000_0000 }), { setup: (c) => { c.efer &= ~(1 << 11); } }, (m) => { const [lo] = m.getPte(S); m.setPte(S, lo, 0); }));
  assert.is(r.errorCode, 0);
  if (nativeOk) {
    const [n] = runNativeBatch([mk([0xff, 0xe3], { rbx: S + 0x40 })]);
    assert.ok(n !== undefined && !n.ok && n.vector === PF && (n.errorCode & ~U) === (P | I), 'host CPU: fetch from NX page');
  }
});

test('#PF: a split access faults at the first byte of the unmapped page, before writing anything', () => {
  const c = mk([0x48, 0x89, 0x03], { rbx: S + 0xffc, rax: -1, mem: new Array(4096).fill(0xab) });
  const r = fault(run(c));
  assert.is(r.vector, PF);
  assert.is(r.errorCode, W);
  assert.is(r.addr, BigInt(S + 0x1000));
  assert.ok(r.state!.mem.every((b) => b === 0xab), 'no partial write');
  // The read-modify-write form too (the write check precedes the read).
  const r2 = fault(run(mk([0x48, 0x01, 0x03], { rbx: S + 0xffc })));
  assert.is(r2.errorCode, W);
  assert.is(r2.addr, BigInt(S + 0x1000));
  if (nativeOk) {
    const [n1, n2] = runNativeBatch([c, mk([0x48, 0x01, 0x03], { rbx: S + 0xffc })]);
    for (const n of [n1!, n2!]) {
      assert.ok(!n.ok && n.vector === PF, 'host CPU: #PF');
      if (!n.ok) { assert.is(n.addr, BigInt(S + 0x1000), 'host CPU: address'); assert.is(n.errorCode & ~U, W, 'host CPU: W'); }
    }
  }
});

test('#PF through the IDT: CR2 = faulting address, error code and frame on the stack (Vol. 3A, 6.14.2)', () => {
  // Exceptions other than #PF exit; #PF is delivered to CODE_BASE + 14, an INT3 (whose #BP exits).
  const m = new Cpu1({ idt: true, excBitmap: ~(1 << PF) });
  const c = mk([0x89, 0x03], { rbx: 0x3000_0123, rsp: S + 0x808, rflags: 0x0c5 });
  const r = fault(m.run(c));
  assert.is(r.vector, BP, 'the handler ran (its INT3 exited)');
  assert.is(m.cpu.cr2, 0x3000_0123, 'CR2');
  assert.is(m.cpu.rip, CODE_BASE + PF, 'RIP at the handler');
  // Frame: RSP aligned down to 16, then SS, RSP, RFLAGS, CS, RIP, error code (8 bytes each).
  const sp = Number(gpr(r, 4)) - S;
  assert.is(sp, 0x800 - 48, 'six qwords below the 16-byte aligned old RSP');
  const q = (k: number): bigint => new DataView(r.state!.mem.buffer).getBigUint64(sp + 8 * k, true);
  assert.is(q(0), BigInt(W), 'error code: not present, write');
  assert.is(q(1), BigInt(CODE), 'return RIP: the faulting instruction');
  assert.is(q(2), 0x08n, 'CS');
  assert.is(q(3) & 0xcd5n, 0xc5n, 'RFLAGS');
  assert.is(q(4), BigInt(S + 0x808), 'old RSP');
  assert.is(q(5), 0x10n, 'SS');
});

test('#PF as a VM exit leaves CR2 alone; the exit qualification holds the address (Vol. 3C, 27.1, 27.2.1)', () => {
  const m = new Cpu1({ setup: (c) => { c.cr2 = 0x1234; } });
  const r = fault(m.run(mk([0x8b, 0x03], { rbx: 0x3000_0000 })));
  assert.is(r.vector, PF);
  assert.is(r.addr, 0x3000_0000n);
  assert.is(r.cr2, 0x1234, 'CR2 unchanged');
});

// ---------------------------------------------------------------------------
// #UD (Vol. 2A, "Invalid Opcode"; opcodes marked i64 in Vol. 2D, Table A-2)

test('#UD: UD2/UD1/UD0, opcodes invalid in 64-bit mode, LOCK misuse, register forms of memory-only instructions', () => {
  const cases: [string, number[]][] = [
    ['ud2', [0x0f, 0x0b]],
    ['ud1', [0x0f, 0xb9, 0xc0]],
    ['ud0', [0x0f, 0xff, 0xc0]],
    ['push es', [0x06]], ['pop es', [0x07]], ['push cs', [0x0e]], ['push ss', [0x16]], ['push ds', [0x1e]],
    ['daa', [0x27]], ['das', [0x2f]], ['aaa', [0x37]], ['aas', [0x3f]],
    ['pusha', [0x60]], ['popa', [0x61]], ['into', [0xce]], ['aam', [0xd4, 0x0a]], ['aad', [0xd5, 0x0a]],
    ['82 /0 (alias of 80)', [0x82, 0xc0, 0x01]],
    ['call far ptr16:32', [0x9a, 0, 0, 0, 0, 0x08, 0]], ['jmp far ptr16:32', [0xea, 0, 0, 0, 0, 0x08, 0]],
    ['lock nop', [0xf0, 0x90]],
    ['lock add eax, ecx (register destination)', [0xf0, 0x01, 0xc8]],
    ['lock mov [rbx], eax (not lockable)', [0xf0, 0x89, 0x03]],
    ['lock cmp [rbx], eax (not lockable)', [0xf0, 0x39, 0x03]],
    ['lea eax, ecx', [0x8d, 0xc1]],
    ['cmpxchg8b eax', [0x0f, 0xc7, 0xc8]],
    ['mov cs, ax', [0x8e, 0xc8]],
    ['mov ax, sreg 6', [0x8c, 0xf0]],
    ['0F B8 without F3 (JMPE)', [0x0f, 0xb8, 0xc0]],
    ['prefetch with a register operand', [0x0f, 0x0d, 0xc0]],
    ['66 0F AE F8 (not SFENCE)', [0x66, 0x0f, 0xae, 0xf8]],
    // Reserved members of complete groups (Vol. 2D, Table A-6): Group 11 C6/C7 /1-/7, Group 4 FE /2-/7, Group 5 FF /7.
    ['C6 /1 (Group 11)', [0xc6, 0x0b, 0x01]], ['C7 /5 (Group 11)', [0xc7, 0xeb, 1, 0, 0, 0]],
    ['xabort (C6 F8, no RTM)', [0xc6, 0xf8, 0x01]], ['FE /2 (Group 4)', [0xfe, 0xd0]], ['FF /7 (Group 5)', [0xff, 0xf8]],
  ];
  const all = cases.map(([, code]) => mk(code, { rbx: S }));
  const nat = nativeVectors(all);
  cases.forEach(([name], k) => {
    const r = fault(run(all[k]!));
    assert.is(r.vector, UD, `${name}: vector`);
    assert.is(r.ripOffset, 0, `${name}: RIP at the instruction`);
    if (nat[k] !== undefined) assert.is(nat[k], UD, `${name}: host CPU`);
  });
  // VEX (C4/C5) and EVEX (62) in 64-bit mode: AVX and AVX-512 are not advertised by this CPU.
  for (const code of [[0xc5, 0xf8, 0x77], [0xc4, 0xe2, 0x79, 0x18, 0x03], [0x62, 0xf1, 0x7c, 0x48, 0x28, 0xc1]]) {
    const r = fault(run(mk(code)));
    assert.is(r.vector, UD);
  }
});

test('#UD is not raised by valid prefix combinations (REX before a legacy prefix is ignored)', () => {
  // 48 66 89 c8: the REX is followed by 66, so it is ignored: mov ax, cx.
  const r = run(mk([0x48, 0x66, 0x89, 0xc8], { rax: -1, rcx: 0x1234_5678_9abc_def0n }));
  assert.ok(r.ok);
  assert.is(gpr(r, 0), 0xffff_ffff_ffff_def0n);
  // lock add [rbx], eax is fine.
  const l = run(mk([0xf0, 0x01, 0x03], { rbx: S, rax: 1 }));
  assert.ok(l.ok);
  assert.is(l.state!.mem[0], 1);
});

// ---------------------------------------------------------------------------
// Branches to non-canonical addresses: #GP(0) with RIP at the branch (Vol. 2A JMP, CALL, RET: "#GP(0) If the target address is non-canonical")

test('#GP(0): JMP/CALL/RET to a non-canonical address fault at the branch, with nothing pushed or popped', () => {
  const cases: [string, NativeCase][] = [
    ['jmp rax', mk([0xff, 0xe0], { rax: NONCANON })],
    ['jmp [rbx]', mk([0xff, 0x23], { rbx: S, mem: [0, 0, 0, 0, 0, 0x80, 0, 0] })],
    ['call rax', mk([0xff, 0xd0], { rax: 0x1234_5678_9abc_def0n, rsp: S + 0x800 })],
    ['ret', mk([0xc3], { rsp: S + 0x800, mem: Object.assign(new Array(0x808).fill(0), { 0x805: 0x80 }) })],
    ['ret 8', mk([0xc2, 0x08, 0x00], { rsp: S + 0x800, mem: Object.assign(new Array(0x808).fill(0), { 0x807: 0x70 }) })],
  ];
  const nat = nativeVectors(cases.map((c) => c[1]));
  cases.forEach(([name, c], k) => {
    expectFault(name, c, GP, 0);
    if (nat[k] !== undefined) assert.is(nat[k], GP, `${name}: host CPU`);
  });
});

test('#GP(0): a relative jump past the top of the lower canonical half faults at the jump', () => {
  const m = new Cpu1();
  const pa = m.allocPage();
  const page = 0x7fff_ffff_f000;
  m.mapPage(page, pa, PTE_P | PTE_W);
  // At 0x7ffffffffff0: jmp rel32 +0x20 -> 0x800000000015 (non-canonical).
  m.mem.u8.set([0xe9, 0x20, 0x00, 0x00, 0x00], pa + 0xff0);
  const r = fault(m.exec(page + 0xff0, makeNativeState()));
  assert.is(r.vector, GP);
  assert.is(r.errorCode, 0);
  assert.is(m.cpu.rip, page + 0xff0, 'RIP at the jump');
  // The same jump with a target inside the page is fine.
  m.mem.u8.set([0xe9, 0x00, 0xf0, 0xff, 0xff], pa + 0xff0); // -0x1000 + 5 - 5
  const ok = m.exec(page + 0xff0, makeNativeState());
  assert.ok(ok.ok);
  assert.is(m.cpu.rip, page + 0xff5 - 0x1000);
});

test('#GP(0): a CMPXCHG16B operand that is not 16-byte aligned', () => {
  expectFault('cmpxchg16b [rbx+8]', mk([0x48, 0x0f, 0xc7, 0x4b, 0x08], { rbx: S }), GP, 0);
});

test.run();
