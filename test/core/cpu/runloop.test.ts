// The run loop's fast paths (core/cpu/cpu.ts runBlocks: whole blocks without
// per-instruction RIP/icount stores, block chaining, decode-time specialized
// handlers, compiled blocks) against the reference interpreter (cpu.fast =
// false: the opcode table's handlers, every instruction synced and run one
// at a time). The fast path runs twice: interpreted (never compiled) and
// with every block compiled after its first run.
//
// Random straight-line programs of hot instruction forms (ALU, INC/DEC,
// shifts, MOV, loads/stores, Jcc over the next instruction, PUSH/POP,
// RIP-relative loads, faulting accesses, stores into the program itself)
// run on the native harness's layout (properties/harness/cpu1.ts: 64-bit mode,
// paging, every exception a VM exit). At every stop - a fault or exit, the
// end of the budget (stopAt), or an arbitrary instruction count - both
// paths must agree on RIP, the retired-instruction count, every register,
// RFLAGS and memory.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Cpu1, PA_SCRATCH, PA_CODE, PA_PT_CODE, CODE_BASE, SYS_ADDR, PTE_P, PTE_W } from '../../../properties/harness/cpu1.js';
import { NATIVE_CODE_ADDR, NATIVE_SCRATCH_BASE } from '../../../properties/harness/native.js';
import type { Cpu } from '../../../core/cpu/cpu.js';
import { VM_EXIT, UnimplementedError } from '../../../core/cpu/fault.js';
import { CS, SS, DS, ES, FS, GS, LDTR, TR, IF, CR4_PAE } from '../../../core/cpu/regs.js';

/** mulberry32: a small deterministic PRNG (no Math.random in tests). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const R15 = 15, R14 = 14, RSP = 4;
/** Destination registers: not RSP (the stack), R14 (code base) or R15 (scratch base). */
const DESTS = [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13];

function rex(w: number, reg: number, rm: number, x = 0): number { return 0x40 | (w << 3) | ((reg >> 3) << 2) | ((x >> 3) << 1) | (rm >> 3); }
function modrm(mod: number, reg: number, rm: number): number { return (mod << 6) | ((reg & 7) << 3) | (rm & 7); }

/** One random instruction (bytes); `jcc` asks the caller to append a Jcc over the next instruction. */
function genInsn(rnd: () => number, progLen: () => number): { bytes: number[]; jcc?: number } {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const d = pick(DESTS), s = Math.floor(rnd() * 16), w = rnd() < 0.7 ? 1 : 0;
  const imm8 = Math.floor(rnd() * 256), imm32 = Math.floor(rnd() * 4294967296);
  const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
  const disp = Math.floor(rnd() * 15) * 8 + (rnd() < 0.2 ? Math.floor(rnd() * 8) : 0);
  switch (Math.floor(rnd() * 27)) {
    case 0: case 1: { // ALU Ev,Gv / Gv,Ev register forms (ADD OR ADC SBB AND SUB XOR CMP)
      const op = Math.floor(rnd() * 8) * 8 + (rnd() < 0.5 ? 1 : 3);
      return { bytes: [rex(w, op & 2 ? d : s, op & 2 ? s : d), op, modrm(3, op & 2 ? d : s, op & 2 ? s : d)] };
    }
    case 2: { // 83 /op ib, 81 /op id
      const op = Math.floor(rnd() * 8);
      return rnd() < 0.5 ? { bytes: [rex(w, 0, d), 0x83, modrm(3, op, d), imm8] } : { bytes: [rex(w, 0, d), 0x81, modrm(3, op, d), ...le32(imm32)] };
    }
    case 3: return { bytes: [rex(w, 0, 0), 0x05, ...le32(imm32)] }; // add rAX, imm32
    case 4: return { bytes: [rex(w, 0, d), 0xff, modrm(3, rnd() < 0.5 ? 0 : 1, d)] }; // INC / DEC
    case 5: { // shifts and rotates: C1 ib (any count), D1, D3 (CL)
      const op = Math.floor(rnd() * 8), k = rnd();
      if (k < 0.6) return { bytes: [rex(w, 0, d), 0xc1, modrm(3, op, d), rnd() < 0.8 ? Math.floor(rnd() * 64) : imm8] };
      return { bytes: [rex(w, 0, d), k < 0.8 ? 0xd1 : 0xd3, modrm(3, op, d)] };
    }
    case 6: return { bytes: [rex(w, s, d), 0x85, modrm(3, s, d)] }; // TEST
    case 7: return { bytes: [rex(w, 0, d), 0xf7, modrm(3, 0, d), ...le32(imm32)] }; // TEST imm
    case 8: return { bytes: [rex(w, s, d), rnd() < 0.5 ? 0x89 : 0x8b, modrm(3, s, d)] }; // MOV r, r
    case 9: return w ? { bytes: [rex(1, 0, d), 0xb8 + (d & 7), ...le32(imm32), ...le32(Math.floor(rnd() * 4294967296))] }
      : { bytes: [rex(0, 0, d), 0xb8 + (d & 7), ...le32(imm32)] };
    case 10: return { bytes: [rex(w, 0, d), 0xc7, modrm(3, 0, d), ...le32(imm32)] }; // MOV r, imm32
    case 11: return { bytes: [rex(w, d, R15), 0x8b, modrm(1, d, R15), disp] }; // load [r15 + disp8]
    case 12: return { bytes: [rex(w, s, R15), 0x89, modrm(1, s, R15), disp] }; // store [r15 + disp8]
    case 13: { // ALU with memory: RMW (Ev,Gv) or load (Gv,Ev); INC/DEC/NOT/NEG qword [r15 + disp8]
      if (rnd() < 0.3) return { bytes: [rex(w, 0, R15), rnd() < 0.5 ? 0xff : 0xf7, modrm(1, rnd() < 0.5 ? 0 : (rnd() < 0.5 ? 1 : 2), R15), disp] };
      const op = Math.floor(rnd() * 8) * 8 + (rnd() < 0.5 ? 1 : 3);
      return { bytes: [rex(w, op & 2 ? d : s, R15), op, modrm(1, op & 2 ? d : s, R15), disp] };
    }
    case 14: { // access through a random register (#PF/#GP mostly): MOV load, CMP, TEST, INC
      const k = Math.floor(rnd() * 5);
      if (k === 0) return { bytes: [rex(w, d, s), 0x8b, modrm(1, d, s), disp] };
      if (k === 1) return { bytes: [rex(w, d, s), rnd() < 0.5 ? 0x39 : 0x3b, modrm(1, d, s), disp] };
      if (k === 2) return { bytes: [rex(w, d, s), 0x85, modrm(1, d, s), disp] };
      if (k === 3) return { bytes: [rex(w, 0, s), 0xf7, modrm(1, 0, s), disp, ...le32(imm32)] };
      return rnd() < 0.5 ? { bytes: [rex(w, 0, s), 0x83, modrm(1, 7, s), disp, imm8] } : { bytes: [rex(w, 0, s), 0xff, modrm(1, 0, s), disp] };
    }
    case 15: { // store a byte into the program itself (self-modifying code)
      const at = Math.floor(rnd() * (progLen() + 40));
      return { bytes: [rex(0, 0, R14), 0xc6, modrm(2, 0, R14), ...le32(at), imm8] };
    }
    case 16: return { bytes: [], jcc: 0x70 + Math.floor(rnd() * 16) }; // Jcc rel8 over the next instruction
    case 17: return rnd() < 0.5 ? { bytes: [rex(0, 0, s === RSP ? 0 : s), 0x50 + (s & 7)] } : { bytes: [rex(0, 0, d), 0x58 + (d & 7)] }; // PUSH / POP
    case 18: return { bytes: [rex(w, d, 0), 0x8b, modrm(0, d, 5), ...le32(-(Math.floor(rnd() * 64)) >>> 0)] }; // RIP-relative load
    case 19: { // SETcc, CMOVcc, LEA, IMUL, BT, XCHG
      const k = Math.floor(rnd() * 6), cc = Math.floor(rnd() * 16);
      if (k === 0) return { bytes: [rex(0, 0, d), 0x0f, 0x90 + cc, modrm(3, 0, d)] };
      if (k === 1) return { bytes: [rex(w, d, s), 0x0f, 0x40 + cc, modrm(3, d, s)] };
      if (k === 2) return { bytes: [rex(w, d, R15, s === RSP ? 0 : s), 0x8d, modrm(1, d, 4), (2 << 6) | (((s === RSP ? 0 : s) & 7) << 3) | 7, disp] };
      if (k === 3) return { bytes: [rex(w, d, s), 0x0f, 0xaf, modrm(3, d, s)] };
      if (k === 4) return { bytes: [rex(w, s, d), 0x0f, 0xa3, modrm(3, s, d)] };
      return { bytes: [rex(w, s, d), 0x87, modrm(3, s, d)] };
    }
    case 20: return { bytes: [0x66, rex(0, s, d), 0x01 + 8 * Math.floor(rnd() * 8), modrm(3, s, d)] }; // 16-bit ALU
    case 21: { // CMP / TEST with memory: 83 /7 ib, 81 /7 id, 85, F7 /0 id on [r15 + disp8]
      const k = Math.floor(rnd() * 4);
      if (k === 0) return { bytes: [rex(w, 0, R15), 0x83, modrm(1, 7, R15), disp, imm8] };
      if (k === 1) return { bytes: [rex(w, 0, R15), 0x81, modrm(1, 7, R15), disp, ...le32(imm32)] };
      if (k === 2) return { bytes: [rex(w, s, R15), 0x85, modrm(1, s, R15), disp] };
      return { bytes: [rex(w, 0, R15), 0xf7, modrm(1, 0, R15), disp, ...le32(imm32)] };
    }
    case 22: return rnd() < 0.5 ? { bytes: [0xe8, 0, 0, 0, 0] } : { bytes: [0xeb, 0] }; // CALL / JMP to the next instruction
    case 23: return rnd() < 0.8 ? { bytes: [0xc3] } : { bytes: [0xc2, 8, 0] }; // RET (to what the stack holds)
    case 25: { // MOVZX Gv, Eb/Ew (byte registers with and without REX: AH..BH), MOVSXD Gv, Ed; register or [r15 + disp8]; SETcc AH..BH
      const k = Math.floor(rnd() * 4), mem = rnd() < 0.3;
      if (k === 3 || (k === 0 && !mem && rnd() < 0.5)) {
        // No REX prefix: registers 4-7 of a byte operand are AH, CH, DH, BH.
        const r8 = Math.floor(rnd() * 8), d8 = DESTS[Math.floor(rnd() * 7)]!;
        if (k === 3) return { bytes: [0x0f, 0x90 + Math.floor(rnd() * 16), modrm(3, 0, r8)] };
        return { bytes: [0x0f, 0xb6, modrm(3, d8, r8)] };
      }
      const src = mem ? R15 : s;
      const m = mem ? [modrm(1, d, R15), disp] : [modrm(3, d, src)];
      if (k === 2) return { bytes: [rex(1, d, src), 0x63, ...m] };
      return { bytes: [rex(w, d, src), 0x0f, k === 0 ? 0xb6 : 0xb7, ...m] };
    }
    case 26: { // a counted loop: mov qword [r15+0xf8], n; 1: <one or two instructions>; mov r13, [r15+0xf8]; sub r13, 1; mov [r15+0xf8], r13; jnz 1b
      const body: number[] = [];
      // Often the body reads the flags the previous iteration's loop test left (SETcc / CMOVcc / ADC first).
      const cc = Math.floor(rnd() * 16), fk = rnd();
      if (fk < 0.15) body.push(rex(0, 0, d), 0x0f, 0x90 + cc, modrm(3, 0, d));
      else if (fk < 0.3) body.push(rex(1, d, s), 0x0f, 0x40 + cc, modrm(3, d, s));
      else if (fk < 0.4) body.push(rex(1, s, d), 0x11, modrm(3, s, d));
      for (let j = 0; j < 1 + Math.floor(rnd() * 2); j++) {
        let b: { bytes: number[]; jcc?: number };
        do b = genInsn(rnd, progLen); while (b.jcc !== undefined || b.bytes[0] === 0xe8 || b.bytes[0] === 0xeb || b.bytes[0] === 0xc3 || b.bytes[0] === 0xc2 || b.bytes.length === 0);
        body.push(...b.bytes);
      }
      if (rnd() < 0.5) body.push(rex(1, 0, R15), 0xff, modrm(2, 1, R15), ...le32(0xf8)); // dec qword [r15 + 0xf8]
      else body.push(rex(1, 13, R15), 0x8b, modrm(2, 13, R15), ...le32(0xf8), rex(1, 0, 13), 0x83, modrm(3, 5, 13), 1, rex(1, 13, R15), 0x89, modrm(2, 13, R15), ...le32(0xf8));
      body.push(0x75, (-(body.length + 2)) & 0xff); // jnz to the body's start
      return { bytes: [rex(1, 0, R15), 0xc7, modrm(2, 0, R15), ...le32(0xf8), 1 + Math.floor(rnd() * 40), 0, 0, 0, ...body] };
    }
    default: return { bytes: [rex(0, s, d), 0x00 + 8 * Math.floor(rnd() * 8), modrm(3, s, d)] }; // 8-bit ALU
  }
}

function genProgram(rnd: () => number, n: number): Uint8Array {
  const out: number[] = [];
  let pendingJcc = -1;
  for (let k = 0; k < n; k++) {
    const g = genInsn(rnd, () => out.length);
    if (g.jcc !== undefined) { if (pendingJcc < 0) pendingJcc = g.jcc; continue; }
    if (pendingJcc >= 0) { out.push(pendingJcc, g.bytes.length); pendingJcc = -1; }
    out.push(...g.bytes);
  }
  return Uint8Array.from(out);
}

/** The 64-bit state of cpu1.ts's harness layout, with R14 = code, R15 = scratch, RSP in the scratch page. */
function reset(t: Cpu1, rnd: () => number): void {
  const c = t.cpu;
  c.efer = (1 << 8) | (1 << 10) | (1 << 11);
  c.cr0 = (1 << 0) | (1 << 4) | (1 << 5) | (1 << 31) | (1 << 16);
  c.cr4 = CR4_PAE;
  c.cr3 = 0;
  c.cr2 = 0;
  for (let s = 0; s < 8; s++) { c.segSel[s] = 0; c.segBase[s] = 0; c.segLimit[s] = 0xffff_ffff; c.segAr[s] = 0xc093; }
  c.segSel[CS] = 0x08; c.segAr[CS] = 0xa09b;
  for (const s of [SS, DS, ES, FS, GS]) c.segSel[s] = 0x10;
  c.segAr[LDTR] = 0x10000;
  c.segSel[TR] = 0x18; c.segAr[TR] = 0x8b; c.segLimit[TR] = 0x67;
  c.updateMode();
  c.eptOn = false;
  c.excBitmap = 0xffff_ffff; c.pfecMask = 0; c.pfecMatch = 0;
  c.ctlPin = 0; c.ctlProc = 0; c.ctlProc2 = 0; c.idtrLimit = 0;
  c.halted = false; c.shadowAt = -1; c.shadowKind = 0; c.vecInfo = 0; c.vecErr = 0; c.codeDirty = false;
  c.icount = 0;
  for (let r = 0; r < 16; r++) {
    const k = rnd();
    c.lo[r] = k < 0.2 ? 0 : k < 0.3 ? -1 : (rnd() * 4294967296) | 0;
    c.hi[r] = k < 0.2 ? 0 : k < 0.3 ? -1 : k < 0.6 ? 0 : (rnd() * 4294967296) | 0;
  }
  c.lo[R15] = NATIVE_SCRATCH_BASE; c.hi[R15] = 0;
  c.lo[R14] = NATIVE_CODE_ADDR; c.hi[R14] = 0;
  c.lo[RSP] = NATIVE_SCRATCH_BASE + 0x800; c.hi[RSP] = 0;
  c.setFlags(Math.floor(rnd() * 0x1000) & 0x8d5 | IF | 2);
  c.rip = NATIVE_CODE_ADDR;
  c.flushTlb();
}

interface Stop { what: string; rip: number; icount: number; regs: number[]; flags: number; mem: number[] }

function stopOf(t: Cpu1, what: string): Stop {
  const c = t.cpu;
  const regs: number[] = [];
  for (let r = 0; r < 16; r++) regs.push(c.lo[r]!, c.hi[r]!);
  const mem = Array.from(t.mem.u8.subarray(PA_SCRATCH, PA_SCRATCH + 0x1000));
  mem.push(...t.mem.u8.subarray(PA_CODE + 0x1000, PA_CODE + 0x1400));
  return { what, rip: c.rip, icount: c.icount, regs, flags: c.getFlags(), mem };
}

/**
 * Run until stopAt, an exit or an error, in one run() call, on the reference
 * interpreter (`ref`) or the fast paths. (Not single-stepped: instructions
 * are fetched a block at a time in both, so a mapping changed mid-block
 * without INVLPG takes effect at the same point.)
 */
function runTo(t: Cpu1, stopAt: number, ref: boolean, jitAfter = Infinity): Stop {
  const c: Cpu = t.cpu;
  c.fast = !ref;
  c.jitAfter = jitAfter;
  try {
    c.run(stopAt);
    return stopOf(t, 'budget');
  } catch (e) {
    if (e === VM_EXIT) return stopOf(t, `exit ${c.xReason} info ${(c.xIntInfo >>> 0).toString(16)} qual ${c.xQual}`);
    if (e instanceof UnimplementedError) return stopOf(t, `unimplemented ${e.message}`);
    throw e;
  }
}

function hexBytes(b: Uint8Array): string { return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' '); }

function check(seed: number, n: number, budgets: number[]): void {
  checkCode(genProgram(prng(seed), n), seed, budgets);
}
/** Run `code` on the reference interpreter, the fast loop and compiled blocks (registers from `seed`): the same stops and states. */
function checkCode(code: Uint8Array, seed: number, budgets: number[]): string[] {
  const whats: string[] = [];
  const run = (step: boolean, budget: number, jitAfter = Infinity): Stop => {
    const t = new Cpu1();
    t.loadCode(code);
    const at = PA_CODE + 0x1000, orig = hexBytes(t.mem.u8.subarray(at, at + 0x1000));
    reset(t, prng(seed ^ 0x5bd1e995));
    // Run twice over the same code: the second time, blocks are cached, chained and (possibly) compiled.
    runTo(t, budget, step, jitAfter);
    if (hexBytes(t.mem.u8.subarray(at, at + 0x1000)) !== orig) {
      t.loadCode(code); // the program changed itself: start from the original bytes (and no blocks)
    }
    t.mem.u8.fill(0, PA_SCRATCH, PA_SCRATCH + 0x1000);
    reset(t, prng(seed ^ 0x5bd1e995));
    return runTo(t, budget, step, jitAfter);
  };
  for (const budget of budgets) {
    const ref = run(true, budget);
    whats.push(`${ref.what} at ${ref.rip.toString(16)}`);
    for (const jitAfter of [Infinity, 1]) {
      const fast = run(false, budget, jitAfter);
      const where = `seed ${seed}, budget ${budget}, jitAfter ${jitAfter}, code ${hexBytes(code)}`;
      assert.is(fast.what, ref.what, where);
      assert.is(fast.icount, ref.icount, `icount: ${where}`);
      assert.is(fast.rip, ref.rip, `rip: ${where}`);
      assert.equal(fast.regs, ref.regs, `registers: ${where}`);
      assert.is(fast.flags, ref.flags, `rflags: ${where}`);
      assert.equal(fast.mem, ref.mem, `memory: ${where}`);
    }
  }
  return whats;
}

test('random programs: the fast paths stop where the reference interpreter stops, in the same state', () => {
  const rnd = prng(20261204);
  for (let k = 0; k < 400; k++) {
    const seed = (rnd() * 4294967296) >>> 0;
    const n = 5 + Math.floor(rnd() * 60);
    check(seed, n, [1_000, 1 + Math.floor(rnd() * n), 1 + Math.floor(rnd() * 3 * n)]);
  }
});

test('flag producers and consumers: every condition after every inline producer, on edge values, as the interpreter computes it', () => {
  // Compiled blocks (jit.ts) evaluate conditions from the producer's operands kept in locals; the
  // interpreter from the lazy record. rAX = d, rBX = s; SETcc into r8b..r13b, cl, dl; then stored.
  const V = [0n, 1n, 0xffff_ffff_ffff_ffffn, 0x7fff_ffffn, 0x8000_0000n, 0xffff_ffffn, 0x1_0000_0000n,
    0x7fff_ffff_ffff_ffffn, 0x8000_0000_0000_0000n, 0x1234_5678_9abc_def0n, 0xffff_ffff_8000_0000n];
  const le = (v: bigint, n: number): number[] => Array.from({ length: n }, (_, k) => Number((v >> BigInt(8 * k)) & 0xffn));
  const movImm = (r: number, v: bigint): number[] => [rex(1, 0, r), 0xb8 + (r & 7), ...le(v, 8)];
  const PRODUCERS: ((w: number, s: bigint) => number[])[] = [];
  for (const op of [0x01, 0x09, 0x11, 0x19, 0x21, 0x29, 0x31, 0x39, 0x85]) PRODUCERS.push((w) => [rex(w, 3, 0), op, modrm(3, 3, 0)]);
  for (const op of [0, 1, 4, 5, 6, 7]) PRODUCERS.push((w, s) => [rex(w, 0, 0), 0x81, modrm(3, op, 0), ...le(s, 4)]);
  for (const op of [0, 1]) PRODUCERS.push((w) => [rex(w, 0, 0), 0xff, modrm(3, op, 0)]); // INC / DEC
  for (const op of [4, 5, 7]) PRODUCERS.push((w, s) => [rex(w, 0, 0), 0xc1, modrm(3, op, 0), Number(s % 63n) + 1]); // shifts
  PRODUCERS.push((w) => [rex(1, 0, 3), 0x0f, 0xaf, modrm(3, 0, 3)]); // IMUL rax, rbx
  // With a memory operand: [r15] = rBX, then CMP [r15], rax / CMP rax, [r15] / CMP [r15], imm32 / ADD rax, [r15] / SUB rax, [r15].
  const toMem = (w: number): number[] => [rex(w, 3, R15), 0x89, modrm(0, 3, R15)];
  PRODUCERS.push((w) => [...toMem(w), rex(w, 0, R15), 0x39, modrm(0, 0, R15)]);
  PRODUCERS.push((w) => [...toMem(w), rex(w, 0, R15), 0x3b, modrm(0, 0, R15)]);
  PRODUCERS.push((w, s) => [...toMem(w), rex(w, 0, R15), 0x81, modrm(0, 7, R15), ...le(s >> 7n, 4)]);
  PRODUCERS.push((w) => [...toMem(w), rex(w, 0, R15), 0x03, modrm(0, 0, R15)]);
  PRODUCERS.push((w) => [...toMem(w), rex(w, 0, R15), 0x2b, modrm(0, 0, R15)]);
  const SINKS = [8, 9, 10, 11, 12, 13, 1, 2];
  let seed = 1;
  for (const prod of PRODUCERS) {
    for (const w of [1, 0]) {
      for (let a = 0; a < V.length; a++) {
        const out: number[] = [];
        let slot = 0x100; // each pair's eight results get their own 64 bytes of the scratch page
        for (const d of V.slice(a, a + 1)) {
          for (const s of V) {
            for (const half of [0, 8]) {
              out.push(...movImm(0, d), ...movImm(3, s), ...prod(w, s));
              SINKS.forEach((r, j) => out.push(rex(0, 0, r), 0x0f, 0x90 + half + j, modrm(3, 0, r)));
              SINKS.forEach((r, j) => out.push(rex(1, r, R15), 0x89, modrm(2, r, R15), ...le(BigInt(slot + 8 * j), 4)));
              slot += 64;
            }
          }
        }
        assert.ok(slot <= 0x800, 'the results stay below the stack');
        assert.ok(out.length < 0xff0, 'the program fits the harness code page');
        const [what] = checkCode(Uint8Array.from(out), seed++, [1_000_000]);
        // The harness's exit: its stub jumps to linear 0, whose fetch is a #PF VM exit.
        assert.is(what, 'exit 0 info 80000b0e qual 0 at 0', 'the program ran to its end');
      }
    }
  }
});

test('a loop of hot forms: every stopAt inside the block stops exactly there', () => {
  // 1: add rax, rbx; xor rdx, rax; sub rdx, rcx; and rsi, rdx; or rsi, rax; shl rbx, 3; shr rdx, 1;
  //    inc rbx; cmp rax, rsi; dec rcx; jnz 1b   (the bench-alu loop), then the harness exit
  const loop = [0x48, 0x01, 0xd8, 0x48, 0x31, 0xc2, 0x48, 0x29, 0xca, 0x48, 0x21, 0xd6, 0x48, 0x09, 0xc6, 0x48, 0xc1, 0xe3, 0x03,
    0x48, 0xd1, 0xea, 0x48, 0xff, 0xc3, 0x48, 0x39, 0xf0, 0x48, 0xff, 0xc9, 0x75, 0x00];
  loop[loop.length - 1] = -loop.length & 0xff;
  const code = Uint8Array.from([0xb9, 50, 0, 0, 0, ...loop]); // mov ecx, 50
  for (let budget = 1; budget <= 560; budget += 1) {
    const stops = [[true, Infinity], [false, Infinity], [false, 1], [false, 3]].map(([ref, jitAfter]) => {
      const t = new Cpu1();
      t.loadCode(code);
      reset(t, prng(7));
      return runTo(t, budget, ref === true, jitAfter as number);
    });
    for (let k = 1; k < stops.length; k++) assert.equal(stops[k], stops[0], `budget ${budget}, variant ${k}`);
  }
});

/** Both paths on `setup` (code and registers written by it), to `budget`; returns [reference, fast]. */
function both(setup: (t: Cpu1) => void, budget: number): Stop[] {
  return [[true, Infinity], [false, Infinity], [false, 1]].map(([ref, jitAfter]) => {
    const t = new Cpu1();
    t.cpu.fast = ref !== true;
    setup(t);
    return runTo(t, budget, ref === true, jitAfter as number);
  });
}
const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];

test('a write to a chained successor block on another page: the next jump there runs the new bytes', () => {
  // Page NATIVE_CODE_ADDR:  0: mov ecx, 16
  //   A = 5:  mov [r14 - 1000h + 2], cl      (the imm8 of B's ADD)
  //       12: jmp B
  // Page CODE_BASE (B):  add eax, imm8; dec ecx; jnz A; jmp end
  // Every iteration adds its own CL: the block B chained after `jmp B` was dropped by the write.
  const A = NATIVE_CODE_ADDR + 5;
  const prog = [0xb9, 16, 0, 0, 0, 0x41, 0x88, 0x8e, ...le32(-0x1000 + 2), 0xe9, ...le32(CODE_BASE - (NATIVE_CODE_ADDR + 17))];
  const end = NATIVE_CODE_ADDR + prog.length; // loadCode's jmp to the exit stub
  const b = [0x83, 0xc0, 0x00, 0xff, 0xc9, 0x0f, 0x85, ...le32(A - (CODE_BASE + 11)), 0xe9, ...le32(end - (CODE_BASE + 16))];
  const [ref, fast, jit] = both((t) => {
    t.loadCode(Uint8Array.from(prog));
    t.mem.u8.set(b, PA_CODE);
    reset(t, prng(3));
    t.cpu.lo[0] = 0; t.cpu.hi[0] = 0;
  }, 10_000);
  assert.is(ref!.regs[0], 16 * 17 / 2, 'reference: EAX = 16 + 15 + ... + 1');
  assert.equal(fast, ref);
  assert.equal(jit, ref);
});

for (const how of ['INVLPG', 'INVLPG and a data read refilling the TLB', 'a CR3 reload', 'a TLB eviction by a data read'] as const) {
  test(`a PTE change + ${how} under a chained successor: the jump runs the block of the new mapping`, () => {
    // B1 (physical PA_CODE) and B2 (another physical page) at the same linear address CODE_BASE:
    //   add eax, 1 / add eax, 100; dec ecx; jnz A; jmp end
    // A: mov r8d, ebx; test cl, 1; cmovnz r8d, esi; mov [r13 + pte], r8d; then
    //    invlpg [r12] / invlpg [r12] (block end), mov r9, [r12] / mov rdx, cr3; mov cr3, rdx (block end) /
    //    mov r9, [r11] (R11 = a page whose TLB entry is the one of CODE_BASE)
    //    and jmp CODE_BASE.
    // EBX / ESI = PTE values for B1 / B2, R13 = a linear mapping of the page table, R12 = CODE_BASE.
    const pteOff = ((CODE_BASE >>> 12) & 0x1ff) * 8;
    const prog = [0xb9, 16, 0, 0, 0,
      0x41, 0x89, 0xd8, 0xf6, 0xc1, 0x01, 0x44, 0x0f, 0x45, 0xc6, 0x45, 0x89, 0x85, ...le32(pteOff)];
    if (how.startsWith('INVLPG')) prog.push(0x41, 0x0f, 0x01, 0x3c, 0x24);
    if (how === 'INVLPG and a data read refilling the TLB') prog.push(0x4d, 0x8b, 0x0c, 0x24);
    if (how === 'a CR3 reload') prog.push(0x0f, 0x20, 0xda, 0x0f, 0x22, 0xda);
    if (how === 'a TLB eviction by a data read') prog.push(0x4d, 0x8b, 0x0b);
    const A = NATIVE_CODE_ADDR + 5;
    const jmpAt = NATIVE_CODE_ADDR + prog.length;
    prog.push(0xe9, ...le32(CODE_BASE - (jmpAt + 5)));
    const end = NATIVE_CODE_ADDR + prog.length;
    const blk = (imm: number): number[] => [0x83, 0xc0, imm, 0xff, 0xc9, 0x0f, 0x85, ...le32(A - (CODE_BASE + 11)), 0xe9, ...le32(end - (CODE_BASE + 16))];
    const evict = CODE_BASE + 4096 * 4096; // same software-TLB index (cpu.ts: 4096 entries)
    const stops = both((t) => {
      t.loadCode(Uint8Array.from(prog));
      t.mem.u8.set(blk(1), PA_CODE);
      const p2 = t.allocPage();
      t.mem.u8.set(blk(100), p2);
      t.mapPage(SYS_ADDR, PA_PT_CODE, PTE_P | PTE_W);
      t.mapPage(evict, t.allocPage(), PTE_P | PTE_W);
      reset(t, prng(4));
      const c = t.cpu;
      c.lo[0] = 0; c.hi[0] = 0;
      c.lo[3] = PA_CODE | PTE_P | PTE_W; c.lo[6] = p2 | PTE_P | PTE_W;
      c.lo[13] = SYS_ADDR; c.hi[13] = 0; c.lo[12] = CODE_BASE; c.hi[12] = 0; c.lo[11] = evict; c.hi[11] = 0;
    }, 10_000);
    assert.is(stops[0]!.regs[0], 8 * 100 + 8 * 1, 'reference: odd CL ran B2, even CL ran B1');
    for (const s of stops) assert.equal(s, stops[0]);
  });
}

test('a compiled block that writes into itself stops after the write; the rest runs the new bytes', () => {
  // 0: mov ecx, 20
  // L: mov rdx, r15; cmp ecx, 5; cmove rdx, r13; mov [rdx], cl; add eax, 1; dec ecx; jnz L   (one block)
  // R13 = the address of the ADD's imm8: only the iteration with ECX = 5 writes into the block.
  const L = 5;
  const body = [0x4c, 0x89, 0xfa, 0x83, 0xf9, 0x05, 0x49, 0x0f, 0x44, 0xd5, 0x88, 0x0a];
  const immAt = NATIVE_CODE_ADDR + L + body.length + 2;
  body.push(0x83, 0xc0, 0x01, 0xff, 0xc9, 0x75);
  body.push(-(body.length + 1) & 0xff);
  const prog = [0xb9, 20, 0, 0, 0, ...body];
  const stops = both((t) => {
    t.loadCode(Uint8Array.from(prog));
    reset(t, prng(5));
    t.cpu.lo[0] = 0; t.cpu.hi[0] = 0;
    t.cpu.lo[13] = immAt; t.cpu.hi[13] = 0;
  }, 10_000);
  assert.is(stops[0]!.regs[0], 15 * 1 + 5 * 5, 'reference: 1 while ECX > 5, then 5 (from the iteration that wrote it)');
  for (const s of stops) assert.equal(s, stops[0]);
});

test('a compiled loop faulting on its first instruction in a later iteration: RIP and count at that instruction', () => {
  // mov ecx, 100; L: mov rax, [rdx]; add rdx, 8; dec ecx; jnz L   with RDX = scratch + FE8h: the fourth load is in the
  // unmapped next page. The block at L runs interpreted once (and is compiled), is entered compiled, loops once more.
  const prog = [0xb9, 100, 0, 0, 0, 0x48, 0x8b, 0x02, 0x48, 0x83, 0xc2, 0x08, 0xff, 0xc9, 0x75, 0xf5];
  const stops = both((t) => {
    t.loadCode(Uint8Array.from(prog));
    reset(t, prng(6));
    t.cpu.lo[2] = NATIVE_SCRATCH_BASE + 0xfe8; t.cpu.hi[2] = 0;
  }, 10_000);
  assert.is(stops[0]!.what, 'exit 0 info 80000b0e qual 268439552', 'reference: #PF at the first byte of the next page');
  assert.is(stops[0]!.icount, 1 + 4 * 3, 'reference: three iterations retired');
  for (const s of stops) assert.equal(s, stops[0]);
});

test('a compiled loop whose data access evicts the TLB entry of its own (remapped) code page: the next iteration runs the new page', () => {
  // B1 (physical PA_CODE) and B2 (another page) at linear CODE_BASE:
  //   mov [r13 + pte], esi; mov r9, [r11]; add eax, 1 / add eax, 100; dec ecx; jnz CODE_BASE; jmp end
  // ESI = the PTE for B2, R11 = a page with the TLB index of CODE_BASE. The program (mov ecx, 16; jmp CODE_BASE)
  // runs twice on the same CPU with the PTE reset to B1 in between, so that the second time B1 runs compiled.
  const pteOff = ((CODE_BASE >>> 12) & 0x1ff) * 8;
  const prog = [0xb9, 16, 0, 0, 0, 0xe9, ...le32(CODE_BASE - (NATIVE_CODE_ADDR + 10))];
  const end = NATIVE_CODE_ADDR + prog.length;
  const blk = (imm: number): number[] => [0x41, 0x89, 0xb5, ...le32(pteOff), 0x4d, 0x8b, 0x0b, 0x83, 0xc0, imm, 0xff, 0xc9,
    0x75, -17 & 0xff, 0xe9, ...le32(end - (CODE_BASE + 22))];
  const evict = CODE_BASE + 4096 * 4096;
  const stops = [[true, Infinity], [false, Infinity], [false, 1]].map(([ref, jitAfter]) => {
    const t = new Cpu1();
    t.cpu.fast = ref !== true;
    t.loadCode(Uint8Array.from(prog));
    t.mem.u8.set(blk(1), PA_CODE);
    const p2 = t.allocPage();
    t.mem.u8.set(blk(100), p2);
    t.mapPage(SYS_ADDR, PA_PT_CODE, PTE_P | PTE_W);
    t.mapPage(evict, t.allocPage(), PTE_P | PTE_W);
    let s: Stop | undefined;
    for (let round = 0; round < 2; round++) {
      t.mem.dv.setInt32(PA_PT_CODE + pteOff, PA_CODE | PTE_P | PTE_W, true);
      reset(t, prng(8));
      const c = t.cpu;
      c.lo[0] = 0; c.hi[0] = 0; c.lo[6] = p2 | PTE_P | PTE_W; c.hi[6] = 0;
      c.lo[13] = SYS_ADDR; c.hi[13] = 0; c.lo[11] = evict; c.hi[11] = 0;
      s = runTo(t, 10_000, ref === true, jitAfter as number);
    }
    return s!;
  });
  assert.is(stops[0]!.regs[0], 1 + 15 * 100, 'reference: B1 once, then B2');
  for (const s of stops) assert.equal(s, stops[0]);
});

// ---- a loop of several chained (and compiled) blocks: if/else inside a loop ----

/** Reference, interpreted, and compiled after 1, 2, 3 and 5 runs of each block: every stop must agree. */
function chainStops(setup: (t: Cpu1) => void, budget: number): Stop[] {
  return [[true, Infinity], [false, Infinity], [false, 1], [false, 2], [false, 3], [false, 5]].map(([ref, jitAfter]) => {
    const t = new Cpu1();
    t.cpu.fast = ref !== true;
    setup(t);
    return runTo(t, budget, ref === true, jitAfter as number);
  });
}

// mov ecx, N
// L1: [pre]; test cl, 1; jz L2           (block 0)
//     [odd]; jmp L3                      (block 1)
// L2: sub rbx, rcx; xor rdx, rbx; [even] (block 2, runs on into L3)
// L3: dec ecx; jnz L1                    (block 3, also the tail of block 2)
function branchyLoop(n: number, pre: number[], odd: number[], even: number[]): number[] {
  const b0 = [...pre, 0xf6, 0xc1, 0x01, 0x74, 0];
  const b1 = [...odd, 0xeb, 0];
  const b2 = [0x48, 0x29, 0xcb, 0x48, 0x31, 0xda, ...even];
  const b3 = [0xff, 0xc9, 0x75, 0];
  b0[b0.length - 1] = b1.length;
  b1[b1.length - 1] = b2.length;
  b3[b3.length - 1] = -(b0.length + b1.length + b2.length + b3.length) & 0xff;
  return [0xb9, n & 0xff, 0, 0, 0, ...b0, ...b1, ...b2, ...b3];
}

test('chained and compiled blocks of an if/else loop: every stopAt stops exactly where the reference interpreter does', () => {
  const prog = branchyLoop(60, [], [0x48, 0x01, 0xc8], []); // odd: add rax, rcx
  for (let budget = 1; budget <= 420; budget++) {
    const stops = chainStops((t) => { t.loadCode(Uint8Array.from(prog)); reset(t, prng(9)); }, budget);
    for (let k = 1; k < stops.length; k++) assert.equal(stops[k], stops[0], `budget ${budget}, variant ${k}`);
  }
  const [ref] = chainStops((t) => { t.loadCode(Uint8Array.from(prog)); reset(t, prng(9)); t.cpu.lo[0] = 0; t.cpu.hi[0] = 0; }, 10_000);
  assert.is(ref!.regs[0], 30 * 30, 'reference: RAX = 59 + 57 + ... + 1');
});

test('a fault in a later block of a compiled, chained loop: RIP and count at the faulting instruction', () => {
  // even: mov r8, [r9]; add r9, 8   with R9 = scratch + FE8h: the fourth even iteration loads from the unmapped next page.
  const prog = branchyLoop(100, [], [0x48, 0x01, 0xc8], [0x4d, 0x8b, 0x01, 0x49, 0x83, 0xc1, 0x08]);
  const stops = chainStops((t) => {
    t.loadCode(Uint8Array.from(prog));
    reset(t, prng(10));
    t.cpu.lo[9] = NATIVE_SCRATCH_BASE + 0xfe8; t.cpu.hi[9] = 0;
  }, 10_000);
  assert.is(stops[0]!.what, 'exit 0 info 80000b0e qual 268439552', 'reference: #PF at the first byte of the next page');
  for (const s of stops) assert.equal(s, stops[0]);
});

test('a later block of a compiled loop writes into its first block: execution stops after the write, the new bytes run', () => {
  // pre: add eax, imm8 (the imm8 at R13); odd: mov [r13], cl - every odd iteration changes the entry block's addend.
  const prog = branchyLoop(40, [0x83, 0xc0, 0x01], [0x41, 0x88, 0x4d, 0x00], []);
  const stops = chainStops((t) => {
    t.loadCode(Uint8Array.from(prog));
    reset(t, prng(11));
    t.cpu.lo[0] = 0; t.cpu.hi[0] = 0;
    t.cpu.lo[13] = NATIVE_CODE_ADDR + 5 + 2; t.cpu.hi[13] = 0;
  }, 10_000);
  // ECX = 40: addend 1; then each odd ECX = c writes c, which the next iteration (ECX = c - 1) adds.
  let want = 1;
  for (let c = 39; c >= 1; c--) want += c % 2 === 0 ? c + 1 : c + 1 === 40 ? 1 : c + 2;
  assert.is(stops[0]!.regs[0], want, 'reference: each iteration adds the CL its odd predecessor stored');
  for (const s of stops) assert.equal(s, stops[0]);
});

// ---- REP STOS / REP MOVS a page at a time (string.ts) against the reference's element loop ----

test('REP STOS/MOVS (64-bit, a page at a time on the fast path): same memory, registers and faults as element by element', () => {
  // Scratch page S, a second mapped page S+1000h, then an unmapped page S+2000h (a fault part-way).
  // stos: [F3] REX.W? AA/AB; movs: A4/A5 - with RSI/RDI/RCX/RAX/DF drawn to cross pages, overlap, straddle, fault.
  const rnd = prng(424242);
  const S = NATIVE_SCRATCH_BASE;
  for (let k = 0; k < 300; k++) {
    const movs = rnd() < 0.5;
    const sz = [1, 2, 4, 8][Math.floor(rnd() * 4)]!;
    const op = movs ? (sz === 1 ? 0xa4 : 0xa5) : (sz === 1 ? 0xaa : 0xab);
    const code = [0xf3, ...(sz === 2 ? [0x66] : []), ...(sz === 8 ? [0x48] : []), op];
    const pick = (): number => S + Math.floor(rnd() * (rnd() < 0.3 ? 0x2100 : 0x2000));
    const rdi = pick(), rsi = rnd() < 0.3 ? rdi + Math.floor(rnd() * 24) - 12 : pick();
    const rcx = rnd() < 0.1 ? 0 : Math.floor(rnd() * (rnd() < 0.5 ? 40 : 1200));
    const df = rnd() < 0.15;
    const rax = rnd() < 0.3 ? 0 : Math.floor(rnd() * 4294967296) | 0, raxHi = rnd() < 0.5 ? 0 : rax;
    const stops = [true, false].map((ref) => {
      const t = new Cpu1();
      t.cpu.fast = !ref;
      t.loadCode(Uint8Array.from(code));
      const p2 = t.allocPage();
      t.mapPage(S + 0x1000, p2, PTE_P | PTE_W);
      reset(t, prng(k));
      const c = t.cpu;
      for (let b = 0; b < 0x1000; b++) t.mem.u8[PA_SCRATCH + b] = (b * 7 + k) & 0xff;
      c.lo[7] = rdi; c.hi[7] = 0; c.lo[6] = rsi; c.hi[6] = 0; c.lo[1] = rcx; c.hi[1] = 0; c.lo[0] = rax; c.hi[0] = raxHi;
      c.setFlags((c.getFlags() & ~0x400) | (df ? 0x400 : 0));
      for (let b = 0; b < 0x1000; b++) t.mem.u8[p2 + b] = (b * 13 + k) & 0xff;
      const st = runTo(t, 2, ref, Infinity);
      return { ...st, page2: Array.from(t.mem.u8.subarray(p2, p2 + 0x1000)) };
    });
    assert.equal(stops[1], stops[0], `case ${k}: ${movs ? 'movs' : 'stos'}${sz} rcx ${rcx} rdi ${rdi.toString(16)} rsi ${rsi.toString(16)} df ${df}`);
  }
});

test.run();
