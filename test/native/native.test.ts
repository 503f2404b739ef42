import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  NATIVE_CODE_ADDR,
  NATIVE_SCRATCH_BASE,
  NativeHarness,
  NativeHarnessError,
  buildNativeHarness,
  getGpr,
  getXmm,
  makeNativeState,
  nativeUnavailableReason,
  parseNativeArgs,
  runNative,
  runNativeBatch,
  type NativeCase,
  type NativeResult,
  type NativeState,
  type NativeStateInit,
} from '../../properties/harness/native.js';

const reason = nativeUnavailableReason();
if (reason !== undefined) console.log(`[native] skipping native harness tests: ${reason}`);
const t = reason === undefined ? test : test.skip;

const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, TF = 0x100, IF = 0x200, DF = 0x400, OF = 0x800;
const ARITH = CF | PF | AF | ZF | SF | OF;
const S = BigInt(NATIVE_SCRATCH_BASE);

function c(code: number[], init: NativeStateInit = {}): NativeCase {
  return { code: Uint8Array.from(code), state: makeNativeState(init) };
}

function ok(r: NativeResult): NativeState {
  if (!r.ok) throw new Error(`expected completion, got ${r.signal} (vector ${r.vector}, rip+${r.ripOffset})`);
  return r.state;
}

function done(r: NativeResult): Extract<NativeResult, { ok: true }> {
  ok(r);
  return r as Extract<NativeResult, { ok: true }>;
}

function fault(r: NativeResult): Extract<NativeResult, { ok: false }> {
  if (r.ok) throw new Error('expected a fault, instruction completed');
  return r;
}

t('harness builds into .cache/native and is reused', () => {
  const a = buildNativeHarness();
  assert.match(a, /\.cache\/native\/harness-[0-9a-f]{16}$/);
  assert.is(buildNativeHarness(), a);
});

t('add rax, rbx: 0x7fffffffffffffff + 1 sets OF and SF', () => {
  // 48 01 d8 = REX.W ADD r/m64, r64 (01 /r); ModRM 11 011(rbx) 000(rax)
  const s = ok(runNative(c([0x48, 0x01, 0xd8], { rax: 0x7fff_ffff_ffff_ffffn, rbx: 1 })));
  assert.is(getGpr(s, 'rax'), 0x8000_0000_0000_0000n);
  assert.is(getGpr(s, 'rbx'), 1n);
  // result 0x8000...0: OF (signed overflow), SF, AF (carry out of bit 3), PF (low byte 0 has even parity)
  assert.is(s.rflags & ARITH, OF | SF | AF | PF);
  assert.is(s.rflags & IF, IF, 'user mode runs with IF=1');
});

t('add rax, rbx: -1 + 1 sets CF ZF and clears OF; inputs flags do not leak', () => {
  const s = ok(runNative(c([0x48, 0x01, 0xd8], { rax: -1, rbx: 1, rflags: OF | SF })));
  assert.is(getGpr(s, 'rax'), 0n);
  assert.is(s.rflags & ARITH, CF | ZF | AF | PF);
});

t('div rcx: quotient/remainder, and rcx=0 raises #DE -> SIGFPE', () => {
  // 48 f7 f1 = REX.W DIV r/m64 (F7 /6); ModRM 11 110 001(rcx)
  const s = ok(runNative(c([0x48, 0xf7, 0xf1], { rax: 100, rdx: 0, rcx: 7 })));
  assert.is(getGpr(s, 'rax'), 14n);
  assert.is(getGpr(s, 'rdx'), 2n);
  const f = fault(runNative(c([0x48, 0xf7, 0xf1], { rax: 100, rdx: 0, rcx: 0 })));
  assert.is(f.signal, 'SIGFPE');
  assert.is(f.code, 1, 'FPE_INTDIV');
  assert.is(f.vector, 0, '#DE');
  assert.is(f.ripOffset, 0, 'fault RIP is the instruction');
  assert.is(getGpr(f.state!, 'rax'), 100n, 'fault state is the pre-instruction state');
});

t('mov rax, [rbx] reads scratch memory', () => {
  // 48 8b 03 = REX.W MOV r64, r/m64 (8B /r); ModRM 00 000(rax) 011([rbx])
  const s = ok(runNative(c([0x48, 0x8b, 0x03], { rbx: S + 0x10n, mem: [...new Array(16).fill(0), 1, 2, 3, 4, 5, 6, 7, 8] })));
  assert.is(getGpr(s, 'rax'), 0x0807_0605_0403_0201n);
  assert.is(s.mem[0x10], 1, 'memory unchanged');
});

t('mov [rbx], eax writes scratch memory (4 bytes only)', () => {
  // 89 03 = MOV r/m32, r32 (89 /r); ModRM 00 000(eax) 011([rbx])
  const init = { rax: 0x1122_3344_dead_beefn, rbx: S + 0x20n, mem: new Array(0x30).fill(0x55) };
  const s = ok(runNative(c([0x89, 0x03], init)));
  assert.equal(Array.from(s.mem.subarray(0x1f, 0x25)), [0x55, 0xef, 0xbe, 0xad, 0xde, 0x55]);
  assert.is(getGpr(s, 'rax'), 0x1122_3344_dead_beefn);
});

t('push rax / pop rbx with RSP inside scratch', () => {
  // 50 = PUSH rAX (50+rd)
  const s = ok(runNative(c([0x50], { rax: 0x1122_3344_5566_7788n, rsp: S + 0x800n })));
  assert.is(getGpr(s, 'rsp'), S + 0x7f8n);
  assert.equal(Array.from(s.mem.subarray(0x7f8, 0x800)), [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]);
  // 5b = POP rBX (58+rd)
  const p = ok(runNative({ code: Uint8Array.of(0x5b), state: s }));
  assert.is(getGpr(p, 'rbx'), 0x1122_3344_5566_7788n);
  assert.is(getGpr(p, 'rsp'), S + 0x800n);
});

t('push with RSP at the bottom of scratch faults on the guard page', () => {
  const f = fault(runNative(c([0x50], { rsp: S })));
  assert.is(f.signal, 'SIGSEGV');
  assert.is(f.vector, 14, '#PF');
  assert.is(f.addr, S - 8n);
});

t('ud2 raises #UD -> SIGILL', () => {
  // 0f 0b = UD2
  const f = fault(runNative(c([0x0f, 0x0b])));
  assert.is(f.signal, 'SIGILL');
  assert.is(f.vector, 6);
  assert.is(f.ripOffset, 0);
  assert.is(f.addr, BigInt(NATIVE_CODE_ADDR));
});

t('load from unmapped / non-canonical addresses raises SIGSEGV', () => {
  // 48 8b 03 = mov rax, [rbx]
  const f = fault(runNative(c([0x48, 0x8b, 0x03], { rbx: S + 0x1000n })));
  assert.is(f.signal, 'SIGSEGV');
  assert.is(f.code, 1, 'SEGV_MAPERR');
  assert.is(f.vector, 14, '#PF');
  assert.is(f.addr, S + 0x1000n);
  assert.is(f.errorCode & 0x6, 0x4, '#PF error code: user read');
  const g = fault(runNative(c([0x48, 0x8b, 0x03], { rbx: 0x8000_0000_0000_0000n })));
  assert.is(g.signal, 'SIGSEGV');
  assert.is(g.vector, 13, '#GP for a non-canonical address');
  assert.is(g.code, 0x80, 'SI_KERNEL');
});

t('RFLAGS: DF round trip, STD/CLD, TF/IF inputs ignored', () => {
  // 90 = NOP
  assert.is(ok(runNative(c([0x90], { rflags: DF | CF }))).rflags & (DF | ARITH), DF | CF);
  assert.is(ok(runNative(c([0x90], { rflags: 0 }))).rflags & DF, 0);
  assert.is(ok(runNative(c([0xfd]))).rflags & DF, DF, 'fd = STD');
  assert.is(ok(runNative(c([0xfc], { rflags: DF }))).rflags & DF, 0, 'fc = CLD');
  const s = ok(runNative(c([0x90], { rflags: TF | 0x40000 /* AC */ | 0x3000 /* IOPL */ })));
  assert.is(s.rflags & (TF | 0x40000 | 0x3000), 0);
});

t('movdqa xmm0, xmm1 and MXCSR in/out', () => {
  // 66 0f 6f c1 = MOVDQA xmm1, xmm2/m128 (66 0F 6F /r); ModRM 11 000(xmm0) 001(xmm1)
  const v = 0x0011_2233_4455_6677_8899_aabb_ccdd_eeffn;
  const s = ok(runNative(c([0x66, 0x0f, 0x6f, 0xc1], { xmm: [0n, v, 5n] })));
  assert.is(getXmm(s, 0), v);
  assert.is(getXmm(s, 1), v);
  assert.is(getXmm(s, 2), 5n);
  // 0f ae 1b = STMXCSR m32 (0F AE /3); ModRM 00 011 011([rbx])
  const m = ok(runNative(c([0x0f, 0xae, 0x1b], { rbx: S, mxcsr: 0x7f80 /* FTZ */ | 0x6000 /* RC=toward zero */ })));
  assert.equal(Array.from(m.mem.subarray(0, 4)), [0x80, 0x7f, 0, 0]);
  assert.is(m.mxcsr, 0x7f80);
  // movdqa xmm0, [rbx] with rbx misaligned: 66 0f 6f 03 -> #GP
  const f = fault(runNative(c([0x66, 0x0f, 0x6f, 0x03], { rbx: S + 8n })));
  assert.is(f.signal, 'SIGSEGV');
  assert.is(f.vector, 13);
});

t('invalid MXCSR is rejected', () => {
  assert.throws(() => runNative(c([0x90], { mxcsr: 0xffff_ffff })), (e: unknown) => e instanceof NativeHarnessError);
  assert.throws(() => runNative(c(new Array(16).fill(0x90))), (e: unknown) => e instanceof NativeHarnessError && /15 bytes/.test((e as Error).message));
});

t('branches report their target; jmp $ times out; int3 and syscall are observed', () => {
  // 74 10 = JZ rel8 +0x10
  assert.is(done(runNative(c([0x74, 0x10], { rflags: ZF }))).ripOffset, 0x12);
  assert.is(done(runNative(c([0x74, 0x10], { rflags: 0 }))).ripOffset, 2);
  // 74 f0 = JZ rel8 -0x10 (lands on INT3 fill before the instruction)
  assert.is(done(runNative(c([0x74, 0xf0], { rflags: ZF }))).ripOffset, -0xe);
  // e8 00 01 00 00 = CALL rel32 +0x100: pushes the return address
  const callR = done(runNative(c([0xe8, 0x00, 0x01, 0x00, 0x00], { rsp: S + 0x100n })));
  assert.is(callR.ripOffset, 0x105);
  const call = callR.state;
  assert.is(getGpr(call, 'rsp'), S + 0xf8n);
  assert.equal(Array.from(call.mem.subarray(0xf8, 0x100)), [0x05, 0x10, 0x00, 0x20, 0, 0, 0, 0]);
  // eb fe = JMP $ (endless)
  assert.is(fault(runNative(c([0xeb, 0xfe]))).signal, 'TIMEOUT');
  // cc = INT3
  const bp = fault(runNative(c([0xcc])));
  assert.is(bp.signal, 'SIGTRAP');
  assert.is(bp.vector, 3);
  assert.is(bp.ripOffset, 1);
  // 0f 05 = SYSCALL (rax=39 getpid): blocked by seccomp, RCX/R11 visible
  const sc = fault(runNative(c([0x0f, 0x05], { rax: 39, rflags: CF })));
  assert.is(sc.signal, 'SIGSYS');
  assert.is(sc.ripOffset, 2);
  assert.is(getGpr(sc.state!, 'rcx'), BigInt(NATIVE_CODE_ADDR + 2));
  assert.is(Number(getGpr(sc.state!, 'r11')) & ARITH, CF);
});

t('POPF with TF/AC completes; segment and flag changes do not leak into later cases', () => {
  const AC = 0x40000;
  const mem = new Array(0x108).fill(0);
  mem[0x100] = 0x02; mem[0x101] = 0x03; mem[0x102] = 0x04; // qword 0x40302 = AC|IF|TF|bit1
  const res = runNativeBatch([
    c([0x9d], { rsp: S + 0x100n, mem }), // 9d = POPFQ
    c([0x48, 0x8b, 0x03], { rbx: S + 1n }), // misaligned load: no #AC now
    c([0x8e, 0xe0], { rax: 0 }), // 8e e0 = MOV FS, AX (ModRM 11 100 000)
    c([0x8e, 0xd8], { rax: 0x2b }), // 8e d8 = MOV DS, AX (user data selector)
    c([0x8c, 0xd8], { rax: -1 }), // 8c d8 = MOV EAX, DS: back to 0
    c([0xf3, 0x48, 0x0f, 0xae, 0xd0], { rax: 0x1234_5000 }), // WRFSBASE RAX (F3 REX.W 0F AE /2)
    c([0xf3, 0x48, 0x0f, 0xae, 0xc0], { rax: -1 }), // RDFSBASE RAX (F3 REX.W 0F AE /0)
    c([0x64, 0x48, 0x8b, 0x03], { rbx: S + 8n, mem: [0, 0, 0, 0, 0, 0, 0, 0, 0xaa] }), // mov rax, fs:[rbx]
    c([0x90]),
  ]);
  const p = done(res[0]!);
  assert.is(p.ripOffset, 1);
  assert.is(p.state.rflags & (TF | AC), TF | AC, 'TF and AC as POPF left them');
  assert.is(getGpr(p.state, 'rsp'), S + 0x108n);
  ok(res[1]!);
  ok(res[2]!);
  ok(res[3]!);
  assert.is(getGpr(ok(res[4]!), 'rax'), 0n, 'DS reloaded with 0 between cases');
  ok(res[5]!);
  const rd = res[6]!;
  if (rd.ok) {
    assert.is(getGpr(rd.state, 'rax'), 0n, 'guest FS base is 0 in every case');
    assert.is(getGpr(ok(res[7]!), 'rax'), 0xaan, 'fs: with base 0 addresses scratch');
  } else {
    assert.is(rd.signal, 'SIGILL', 'no FSGSBASE on this host');
  }
  const last = ok(res[8]!);
  assert.is(last.rflags & (TF | AC | DF), 0);
});

t('state outside the instruction is preserved exactly (all GPRs, memory)', () => {
  const init: NativeStateInit = { rflags: 0, mem: Array.from({ length: 4096 }, (_, i) => (i * 7) & 0xff) };
  const names = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as const;
  names.forEach((n, i) => (init[n] = 0x0101_0101_0101_0101n * BigInt(i + 1) + 0xf000_0000_0000_0000n));
  const before = makeNativeState(init);
  const s = ok(runNative({ code: Uint8Array.of(0x90), state: before }));
  assert.equal(Array.from(s.gpr), Array.from(before.gpr));
  assert.equal(s.mem, before.mem);
  assert.is(s.rflags & ~(IF | 0x2), 0);
  const e = done(runNative({ code: new Uint8Array(0), state: before })); // no instruction at all
  assert.is(e.ripOffset, 0);
  assert.equal(Array.from(e.state.gpr), Array.from(before.gpr));
});

t('batch: many cases, async harness agrees with runNativeBatch, throughput', async () => {
  const cases: NativeCase[] = [];
  let x = 0x1234_5678_9abc_def0n;
  const next = (): bigint => (x = BigInt.asUintN(64, x * 6364136223846793005n + 1442695040888963407n));
  for (let i = 0; i < 20000; i++) cases.push(c([0x48, 0x01, 0xd8], { rax: next(), rbx: next(), rflags: Number(next() & 0xcd5n) }));
  const t0 = performance.now();
  const res = runNativeBatch(cases);
  const dt = (performance.now() - t0) / 1000;
  console.log(`[native] runNativeBatch: ${cases.length} cases in ${dt.toFixed(2)} s = ${Math.round(cases.length / dt)} cases/s`);
  res.forEach((r, i) => {
    const s = ok(r);
    const a = getGpr(cases[i]!.state, 'rax');
    const b = getGpr(cases[i]!.state, 'rbx');
    const sum = a + b;
    assert.is(getGpr(s, 'rax'), BigInt.asUintN(64, sum));
    assert.is(s.rflags & CF, sum >> 64n ? CF : 0);
  });
  const h = new NativeHarness();
  try {
    const [r1, r2] = await Promise.all([h.run(cases.slice(0, 300)), h.run(cases.slice(300, 301))]);
    assert.is(r1.length, 300);
    assert.equal(r1.map((r) => ok(r).gpr), res.slice(0, 300).map((r) => ok(r).gpr));
    assert.equal(ok(r2![0]!).gpr, ok(res[300]!).gpr);
    const f = await h.runOne(c([0x0f, 0x0b]));
    assert.is(fault(f).signal, 'SIGILL');
  } finally {
    await h.close();
  }
});

t('CLI argument parsing', () => {
  const k = parseNativeArgs(['48', '01d8', 'rax=1', 'rbx=-2', 'rsp=s+0x10', '@8=aabb', 'xmm3=0x10', 'rflags=0x400']);
  assert.equal(Array.from(k.code), [0x48, 0x01, 0xd8]);
  assert.is(getGpr(k.state, 'rbx'), 0xffff_ffff_ffff_fffen);
  assert.is(getGpr(k.state, 'rsp'), S + 0x10n);
  assert.equal(Array.from(k.state.mem.subarray(8, 10)), [0xaa, 0xbb]);
  assert.is(getXmm(k.state, 3), 0x10n);
  assert.is(k.state.rflags, 0x400);
});

test.run();
