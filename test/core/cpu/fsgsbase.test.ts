/**
 * FSGSBASE (SDM Vol. 2C RDFSBASE/RDGSBASE, WRFSBASE/WRGSBASE; Vol. 3A 2.5
 * CR4.FSGSBASE) and the CR4/CPUID consistency around it (Vol. 3A 2.5: a CR4
 * bit of a feature CPUID does not report is reserved, #GP(0) to set):
 * CPUID.07H:EBX[0] = 1, CR4.FSGSBASE (16) settable; CR4.PCIDE (17, CPUID.01H:
 * ECX[17] = 0) is not, neither by MOV to CR4 nor in IA32_VMX_CR4_FIXED1
 * (Vol. 3D, A.8). (CR4.SMAP is implemented: smap.test.)
 * The native differential (properties/cpu-native.ts, K_FSGS) compares the
 * instructions with the host at CPL 3, WR followed by an RD.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NATIVE_SCRATCH_BASE as S, makeNativeState, getGpr, type NativeCase } from '../../../properties/harness/native.js';
import { Cpu1, type Cpu1Options } from '../../../properties/harness/cpu1.js';
import { siliconCpuid } from '../../../core/cpu/cpuid.js';
import { setCr4, CR4_VALID } from '../../../core/cpu/exec/system.js';
import { CR4_FSGSBASE, CR4_PCIDE, CR4_VMXE, FS, GS } from '../../../core/cpu/regs.js';
import { DEFAULT_CAPABILITY_MSRS, MSR } from '../../../core/vmx/capabilities.js';

const UD = 6, GP = 13;
const mk = (code: number[], init: Record<string, bigint> = {}): NativeCase => ({ code: Uint8Array.from(code), state: makeNativeState(init) });
const noFsgs: Cpu1Options['setup'] = (cpu) => { cpu.cr4 &= ~CR4_FSGSBASE; };
const bases = (fs: number, gs: number): Cpu1Options['setup'] => (cpu) => { cpu.segBase[FS] = fs; cpu.segBaseEff[FS] = fs; cpu.segBase[GS] = gs; cpu.segBaseEff[GS] = gs; };

const RDFSBASE_RAX = [0xf3, 0x48, 0x0f, 0xae, 0xc0], RDGSBASE_RCX = [0xf3, 0x48, 0x0f, 0xae, 0xc9];
const RDFSBASE_EAX = [0xf3, 0x0f, 0xae, 0xc0];
const WRFSBASE_RAX = [0xf3, 0x48, 0x0f, 0xae, 0xd0], WRGSBASE_RAX = [0xf3, 0x48, 0x0f, 0xae, 0xd8];
const WRFSBASE_EAX = [0xf3, 0x0f, 0xae, 0xd0];

test('CPUID.07H:EBX[0] advertises FSGSBASE; CR4_VALID and IA32_VMX_CR4_FIXED1 agree: FSGSBASE yes, PCIDE no', () => {
  assert.is(siliconCpuid(7, 0).ebx & 1, 1);
  assert.is(siliconCpuid(1, 0).ecx & (1 << 17), 0, 'no PCID');
  const fixed1 = DEFAULT_CAPABILITY_MSRS.get(MSR.IA32_VMX_CR4_FIXED1)!;
  assert.is(fixed1.lo >>> 0, CR4_VALID >>> 0, 'the bits MOV to CR4 accepts are the bits VMX allows');
  assert.is(fixed1.lo & CR4_FSGSBASE, CR4_FSGSBASE);
  assert.is(fixed1.lo & CR4_PCIDE, 0);
});

test('MOV to CR4: FSGSBASE is accepted, PCIDE is #GP(0) (Vol. 3A 2.5)', () => {
  const cpu = new Cpu1().cpu;
  setCr4(cpu, cpu.cr4 | CR4_VMXE | CR4_FSGSBASE);
  assert.is(cpu.cr4 & CR4_FSGSBASE, CR4_FSGSBASE);
  for (const bit of [CR4_PCIDE]) {
    const before = cpu.cr4;
    assert.throws(() => setCr4(cpu, cpu.cr4 | bit));
    assert.is(cpu.cr4, before, 'CR4 unchanged');
  }
});

test('RDFSBASE/RDGSBASE: 64-bit with REX.W, else the low 32 bits zero-extended; any CPL', () => {
  const setup = bases(-0x7fff_1234_5678, 0x7654_3210_abcd);
  for (const user of [false, true]) {
    let r = new Cpu1({ user, setup }).run(mk([...RDFSBASE_RAX, ...RDGSBASE_RCX], { rax: 1n, rcx: 2n }), 2);
    assert.ok(r.ok);
    if (r.ok) {
      assert.is(getGpr(r.state, 'rax'), BigInt.asUintN(64, -0x7fff_1234_5678n));
      assert.is(getGpr(r.state, 'rcx'), 0x7654_3210_abcdn);
    }
    r = new Cpu1({ user, setup }).run(mk(RDFSBASE_EAX, { rax: -1n & 0xffff_ffff_ffff_ffffn }));
    assert.ok(r.ok);
    if (r.ok) assert.is(getGpr(r.state, 'rax'), BigInt.asUintN(32, -0x7fff_1234_5678n));
  }
});

test('WRFSBASE/WRGSBASE load the base (r32: zero-extended); the next fs:/gs: access uses it', () => {
  const c = new Cpu1({ user: true });
  let r = c.run(mk([...WRFSBASE_RAX, ...RDFSBASE_RAX.slice(0, 4), 0xc1], { rax: 0xffff_8000_0000_1000n }), 2);
  assert.ok(r.ok);
  if (r.ok) assert.is(getGpr(r.state, 'rcx'), 0xffff_8000_0000_1000n);
  r = new Cpu1().run(mk([...WRGSBASE_RAX, ...RDGSBASE_RCX], { rax: 0x7fff_ffff_f000n }), 2);
  assert.ok(r.ok);
  if (r.ok) assert.is(getGpr(r.state, 'rcx'), 0x7fff_ffff_f000n);
  r = new Cpu1().run(mk([...WRFSBASE_EAX, ...RDFSBASE_RAX.slice(0, 4), 0xc1], { rax: 0xdead_beef_8000_0000n }), 2);
  assert.ok(r.ok);
  if (r.ok) assert.is(getGpr(r.state, 'rcx'), 0x8000_0000n, 'r32: bits 63:32 of the source are ignored');
  // WRFSBASE rax = the scratch page; mov cl, fs:[0x10] reads its byte 0x10
  const mem = new Array<number>(0x20).fill(0); mem[0x10] = 0x5a;
  r = new Cpu1({ user: true }).run({ code: Uint8Array.of(...WRFSBASE_RAX, 0x64, 0x8a, 0x0c, 0x25, 0x10, 0, 0, 0), state: makeNativeState({ rax: BigInt(S), rcx: 0n, mem }) }, 2);
  assert.ok(r.ok);
  if (r.ok) assert.is(getGpr(r.state, 'rcx'), 0x5an);
});

test('#UD with CR4.FSGSBASE = 0, outside 64-bit mode, and with LOCK; #GP(0) for a non-canonical WR value', () => {
  for (const code of [RDFSBASE_RAX, WRGSBASE_RAX, RDFSBASE_EAX]) {
    const r = new Cpu1({ setup: noFsgs }).run(mk(code));
    assert.ok(!r.ok && r.vector === UD, 'CR4.FSGSBASE = 0');
  }
  for (const code of [RDFSBASE_EAX, WRFSBASE_EAX]) {
    const r = new Cpu1({ compat: true }).run(mk(code));
    assert.ok(!r.ok && r.vector === UD, 'compatibility mode');
  }
  const rl = new Cpu1().run(mk([0xf0, ...RDFSBASE_RAX]));
  assert.ok(!rl.ok && rl.vector === UD, 'LOCK');
  for (const v of [0x8000_0000_0000n, 0xffff_7fff_ffff_ffffn, 0x0001_0000_0000_0000n]) {
    for (const code of [WRFSBASE_RAX, WRGSBASE_RAX]) {
      const c = new Cpu1();
      const r = c.run(mk(code, { rax: v }));
      assert.ok(!r.ok && r.vector === GP && r.errorCode === 0, `0x${v.toString(16)}: #GP(0)`);
      assert.is(c.cpu.segBase[code === WRFSBASE_RAX ? FS : GS], 0, 'base unchanged');
    }
  }
});

test.run();
