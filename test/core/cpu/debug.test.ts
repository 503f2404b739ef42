/**
 * Debug exceptions, expected values from the SDM (Vol. 3A chapter 18: 18.2.3
 * DR6, 18.2.4 DR7, 18.3.1.1 instruction breakpoints and RF, 18.3.1.2 data
 * breakpoints, 18.3.1.3 general detect, 18.3.1.4 single-step; 6.8.3 MOV SS;
 * Vol. 2A INT1; Vol. 3C 25.8.3 type 5, 27.1/28.2.1 #DB exits, 27.7.3
 * pending debug exceptions at VM entry). The host cannot be compared for
 * these (Linux user space gets SIGTRAP without DR6, and POPF/TF is
 * excluded from the native property); kvm-unit-tests `debug` covers the
 * same ground end to end (25/25).
 *
 * Two ways of observing a #DB: the exception bitmap intercepts it (a VM exit
 * whose qualification holds B0-B3/BD/BS and which leaves DR6 alone), or it
 * is delivered through Cpu1's IDT (a gate onto an INT3 fill byte, so the
 * #BP that follows exits): then DR6, DR7 and the #DB frame on the stack
 * show what delivery did.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NATIVE_SCRATCH_BASE as S, NATIVE_CODE_ADDR as C, makeNativeState, type NativeCase } from '../../../properties/harness/native.js';
import { Cpu1, CODE_BASE } from '../../../properties/harness/cpu1.js';
import { VM_EXIT } from '../../../core/cpu/fault.js';
import { DR6_BD, DR6_BS, DR6_FIXED1, DR7_GD } from '../../../core/cpu/debug.js';
import { RF, TF } from '../../../core/cpu/regs.js';

const DB = 1, BP = 3;
const PUSHF = [0x9c], POPF = [0x9d], NOP = [0x90];
const OR_TF = [0x48, 0x81, 0x0c, 0x24, 0x00, 0x01, 0x00, 0x00]; // or qword [rsp], 0x100
const AND_NOT_TF = [0x48, 0x81, 0x24, 0x24, 0xff, 0xfe, 0xff, 0xff]; // and qword [rsp], ~0x100
const SET_TF = [...PUSHF, ...OR_TF, ...POPF];
const mk = (code: number[], regs: Record<string, bigint> = {}): NativeCase =>
  ({ code: Uint8Array.from(code), state: makeNativeState({ rsp: BigInt(S + 0x800), rbx: BigInt(S + 0x100), ...regs }) });
/** Every exception exits (the #DB exit carries the DR6 bits in its qualification). */
const intercept = (setup?: (c: Cpu1['cpu']) => void): Cpu1 => new Cpu1(setup ? { setup } : {});
/** #DB through the IDT; everything else exits. */
const viaIdt = (setup?: (c: Cpu1['cpu']) => void): Cpu1 => new Cpu1({ idt: true, excBitmap: ~(1 << DB), ...(setup ? { setup } : {}) });
/** The #DB frame the IDT delivery pushed (64-bit: RIP, CS, RFLAGS, RSP, SS). */
function frame(c: Cpu1): { rip: number; rflags: number } {
  const cpu = c.cpu;
  const rsp = (cpu.hi[4]! * 2 ** 32) + (cpu.lo[4]! >>> 0);
  return { rip: cpu.read64(rsp) + cpu.th * 2 ** 32, rflags: cpu.read32(rsp + 16) >>> 0 };
}
/** Run a case and keep stepping (past the handler entry) until something exits; the exit's vector. */
function runToExit(c: Cpu1, k: NativeCase, steps: number): number {
  const r = c.run(k, steps);
  if (!r.ok) return r.vector ?? -2;
  for (let n = 0; n < 8; n++) { const v = step(c); if (v >= 0) return v; }
  return -1;
}
/** Continue the CPU after an exit, one instruction; returns the exit's vector or -1. */
function step(c: Cpu1): number {
  try { c.cpu.run(c.cpu.icount + 1); return -1; } catch (e) { if (e !== VM_EXIT) throw e; return c.cpu.xIntInfo & 0xff; }
}

test('single-step: no trap after the POPF that sets TF, a trap after the next instruction (DR6.BS, RIP after it)', () => {
  const code = [...SET_TF, ...NOP, ...NOP];
  let c = intercept();
  let r = c.run(mk(code), 5);
  assert.ok(!r.ok && r.vector === DB, '#DB');
  if (!r.ok) assert.is(r.ripOffset, SET_TF.length + 1, 'a trap: RIP after the NOP, not after the POPF');
  assert.is(c.cpu.xQual, DR6_BS, 'exit qualification: BS');
  assert.is((c.cpu.xIntInfo >> 8) & 7, 3, 'hardware exception');
  assert.is(c.cpu.dr[6], DR6_FIXED1, 'DR6 not changed by an intercepted #DB (Vol. 3C 27.1)');
  c = viaIdt((cpu) => { cpu.dr[6] = DR6_FIXED1 | 0b0110; });
  assert.is(runToExit(c, mk(code), 5), BP, 'the #DB went through the IDT (then the INT3 fill byte exits)');
  assert.is(c.cpu.rip, CODE_BASE + DB, 'handler = gate target');
  assert.is(c.cpu.dr[6], (DR6_FIXED1 | DR6_BS) >>> 0, 'BS set, B0-B3 cleared (18.2.3)');
  const f = frame(c);
  assert.is(f.rip, C + SET_TF.length + 1);
  assert.is(f.rflags & (TF | RF), TF, 'TF pushed as it was, RF not set for a trap');
  assert.is(c.cpu.flagsRest & TF, 0, 'the handler runs with TF = 0');
});

test('single-step: the POPF that clears TF traps (TF was 1 when it began)', () => {
  const code = [...SET_TF, ...PUSHF, ...AND_NOT_TF, ...POPF, ...NOP];
  const c = intercept();
  let r = c.run(mk(code), 4);
  assert.ok(!r.ok && r.vector === DB);
  if (!r.ok) assert.is(r.ripOffset, SET_TF.length + 1, 'after PUSHF');
  assert.is(step(c), DB); assert.is(c.cpu.rip, C + SET_TF.length + 1 + AND_NOT_TF.length, 'after AND');
  assert.is(step(c), DB, 'after the POPF that cleared TF');
  assert.is(c.cpu.rip, C + SET_TF.length + 2 + AND_NOT_TF.length);
  assert.is(step(c), -1, 'no trap after the NOP: TF is 0 now');
  r = c.run(mk(code), 1);
  assert.ok(r.ok, 'a single NOP-free run without TF does not trap');
});

test('single-step: MOV SS holds the trap until after the next instruction (one #DB for both, 6.8.3)', () => {
  const XOR_EAX = [0x31, 0xc0], MOV_SS_EAX = [0x8e, 0xd0]; // a null SS is allowed at CPL 0 in 64-bit mode
  const code = [...XOR_EAX, ...SET_TF, ...MOV_SS_EAX, ...NOP, ...NOP];
  const c = intercept();
  const r = c.run(mk(code), 6);
  assert.ok(!r.ok && r.vector === DB);
  if (!r.ok) assert.is(r.ripOffset, 2 + SET_TF.length + 2 + 1, 'no #DB after MOV SS; one after the NOP that follows it');
  assert.is(c.cpu.xQual, DR6_BS);
  assert.is(step(c), DB, 'the next NOP traps on its own');
});

test('SYSCALL/SYSRET go by TF as they leave it: no trap after a SYSCALL whose mask clears TF, one right after a SYSRET loading TF', () => {
  const SYSCALL = [0x0f, 0x05], SYSRETQ = [0x48, 0x0f, 0x07];
  const sce = (cpu: Cpu1['cpu']): void => { cpu.efer |= 1; cpu.lstar = C + 0x40; cpu.fmask = TF; cpu.starHi = 0x0020_0010; };
  let c = intercept(sce);
  assert.is(runToExit(c, mk([...SET_TF, ...SYSCALL]), 3), BP, 'no #DB: the INT3 fill byte at LSTAR exits first');
  assert.is(c.cpu.rip, C + 0x40);
  // SYSRET with R11.TF = 1 (TF was 0 when it began): #DB with RIP = RCX, before that instruction is fetched.
  c = intercept(sce);
  // (Cpu1 stops when RIP leaves the code; the trap is owed then - a VM exit would save it as pending BS.)
  assert.is(runToExit(c, mk(SYSRETQ, { rcx: BigInt(C + 0x20), r11: 0x302n }), 1), DB, 'single-step trap after SYSRET');
  assert.is(c.cpu.rip, C + 0x20);
  assert.is(c.cpu.cpl, 3);
  assert.is(c.cpu.xQual, DR6_BS);
});

test('INT1/ICEBP (F1): privileged software exception, trap-like, DR6 unchanged; no single-step trap of its own', () => {
  let c = intercept();
  let r = c.run(mk([0xf1, ...NOP]));
  assert.ok(!r.ok && r.vector === DB);
  if (!r.ok) assert.is(r.ripOffset, 0, 'the exit is on the instruction');
  assert.is((c.cpu.xIntInfo >> 8) & 7, 5, 'type 5, privileged software exception (Vol. 3C 25.8.3)');
  assert.is(c.cpu.xLen, 1, 'with its instruction length');
  assert.is(c.cpu.xQual, 0);
  c = viaIdt((cpu) => { cpu.dr[6] = (DR6_FIXED1 | 2) >>> 0; });
  assert.is(runToExit(c, mk([...SET_TF, 0xf1, ...NOP]), 5), BP, 'delivered through the IDT once');
  assert.is(c.cpu.dr[6], (DR6_FIXED1 | 2) >>> 0, 'DR6 untouched (no BS for the ICEBP either)');
  const f = frame(c);
  assert.is(f.rip, C + SET_TF.length + 1, 'return address after F1');
  assert.is(f.rflags & TF, TF);
});

test('instruction breakpoint: fault before the instruction, DR6.Bn; RF suppresses it once; disabled or data-type breakpoints do not fire', () => {
  const code = [...NOP, ...NOP, ...NOP];
  const at = C + 1;
  let c = intercept((cpu) => { cpu.dr[2] = at; cpu.dr[7] = 0x400 | (2 << 4); }); // G2, R/W2 = 00
  let r = c.run(mk(code), 3);
  assert.ok(!r.ok && r.vector === DB);
  if (!r.ok) assert.is(r.ripOffset, 1, 'a fault: RIP at the breakpoint');
  assert.is(c.cpu.xQual, 1 << 2, 'B2');
  c.cpu.flagsRest |= RF; // as an IRET from the handler with RF set in the frame
  assert.is(step(c), -1, 'RF = 1: the instruction runs');
  assert.is(c.cpu.rip, at + 1);
  assert.is(c.cpu.flagsRest & RF, 0, 'RF cleared when the instruction completes');
  // Through the IDT: DR6.B2, and the pushed RFLAGS has RF = 0 (the handler sets it, 18.3.1.1).
  c = viaIdt((cpu) => { cpu.dr[2] = at; cpu.dr[7] = 0x400 | (1 << 4); cpu.dr[6] = DR6_FIXED1 | DR6_BS | 1; });
  assert.is(runToExit(c, mk(code), 3), BP);
  assert.is(c.cpu.dr[6], (DR6_FIXED1 | DR6_BS | 4) >>> 0, 'B0-B3 replaced by the match, BS kept');
  assert.is(frame(c).rip, at);
  assert.is(frame(c).rflags & RF, 0);
  for (const dr7 of [0x400, 0x400 | (1 << 4) | (1 << 24), 0x400 | (1 << 4) | (3 << 24)]) { // disabled; R/W = 01; R/W = 11
    c = intercept((cpu) => { cpu.dr[2] = at; cpu.dr[7] = dr7; });
    assert.ok(c.run(mk(code), 3).ok, `DR7 0x${dr7.toString(16)}: no instruction breakpoint`);
  }
});

test('data breakpoints: trap after the access, DR6.Bn; R/W = 01 writes only, 11 reads and writes; LEN aligns the range', () => {
  const STORE = [0x89, 0x03], LOAD = [0x8b, 0x03], LOAD_NEXT = [0x8b, 0x43, 0x04]; // mov [rbx], eax / mov eax, [rbx] / mov eax, [rbx+4]
  const watch = (rw: number, len: number, addr = S + 0x100) => (cpu: Cpu1['cpu']): void => { cpu.dr[1] = addr; cpu.dr[7] = 0x400 | (1 << 2) | (((len << 2) | rw) << 20); };
  let c = intercept(watch(1, 3));
  let r = c.run(mk([...NOP, ...STORE, ...NOP]), 3);
  assert.ok(!r.ok && r.vector === DB, 'write watched');
  if (!r.ok) assert.is(r.ripOffset, 3, 'a trap: after the store');
  assert.is(c.cpu.xQual, 2, 'B1');
  assert.ok(intercept(watch(1, 3)).run(mk([...LOAD, ...NOP]), 2).ok, 'R/W = 01 ignores reads');
  c = intercept(watch(3, 3));
  r = c.run(mk([...LOAD, ...NOP]), 2);
  assert.ok(!r.ok && r.vector === DB && r.ripOffset === 2, 'R/W = 11 catches reads');
  assert.ok(intercept(watch(3, 3)).run(mk([...LOAD_NEXT, ...NOP]), 2).ok, 'LEN = 4: [rbx+4] is outside');
  r = intercept(watch(3, 2, S + 0x103)).run(mk([...LOAD_NEXT, ...NOP]), 2);
  assert.ok(!r.ok && r.vector === DB, 'LEN = 8 at 0x...103 covers 0x100-0x107');
  // The page stays out of the TLB only while armed: after DR7 is cleared the accesses run normally.
  c = intercept(watch(3, 3));
  c.run(mk([...LOAD, ...NOP]), 2);
  c.cpu.dr[7] = 0x400;
  assert.is(step(c), -1);
});

test('general detect: MOV DR with DR7.GD = 1 faults (DR6.BD), before the MOV-DR exit; delivery clears GD', () => {
  const MOV_DR7_RAX = [0x0f, 0x23, 0xf8];
  let c = intercept((cpu) => { cpu.dr[7] = 0x400 | DR7_GD; });
  let r = c.run(mk(MOV_DR7_RAX, { rax: 0x400n }));
  assert.ok(!r.ok && r.vector === DB);
  if (!r.ok) assert.is(r.ripOffset, 0, 'fault');
  assert.is(c.cpu.xQual, DR6_BD);
  assert.is(c.cpu.dr[7], 0x400 | DR7_GD, 'an intercepted #DB leaves DR7.GD');
  c = viaIdt((cpu) => { cpu.dr[7] = 0x400 | DR7_GD; });
  assert.is(runToExit(c, mk(MOV_DR7_RAX, { rax: 0x400n }), 1), BP);
  assert.is(c.cpu.dr[6], (DR6_FIXED1 | DR6_BD) >>> 0);
  assert.is(c.cpu.dr[7], 0x400, 'GD cleared on delivery');
});

test('MOV to DR6/DR7: bits that read as fixed (DR6 0xFFFF0FF0, DR7 bit 10) whatever is written', () => {
  const c = intercept();
  const MOV_DR6_RAX = [0x0f, 0x23, 0xf0], MOV_RDX_DR6 = [0x0f, 0x21, 0xf2], MOV_DR7_RAX = [0x0f, 0x23, 0xf8], MOV_RCX_DR7 = [0x0f, 0x21, 0xf9];
  const r = c.run(mk([...MOV_DR6_RAX, ...MOV_RDX_DR6, ...MOV_DR7_RAX, ...MOV_RCX_DR7], { rax: 0n }), 4);
  assert.ok(r.ok);
  assert.is(c.cpu.lo[2]! >>> 0, DR6_FIXED1);
  assert.is(c.cpu.lo[1]! >>> 0, 0x400);
});

test('pending debug exceptions at VM entry (Vol. 3C 27.7.3): BS delivers a #DB before the first instruction and ends HLT', async () => {
  const { debugPendingAtEntry } = await import('../../../core/cpu/debug.js');
  const c = viaIdt();
  c.loadCode(Uint8Array.from(NOP));
  c.exec(C, mk(NOP).state); // initialise, one NOP
  c.cpu.halted = true;
  c.cpu.rip = C;
  try { debugPendingAtEntry(c.cpu, DR6_BS); } catch (e) { if (e !== VM_EXIT) throw e; }
  assert.is(c.cpu.halted, false);
  assert.is(c.cpu.rip, CODE_BASE + DB, 'in the #DB handler');
  assert.is(c.cpu.dr[6], (DR6_FIXED1 | DR6_BS) >>> 0);
  assert.is(frame(c).rip, C, 'before the first instruction');
});

test.run();
