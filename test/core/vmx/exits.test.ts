// VM-exit information as the hypervisor reads it back with VMREAD after
// VMLAUNCH, for every exit reason the machine implements. Each expected value
// is derived by hand from the Intel SDM (the derivation is written next to the
// case), never copied from the emulator's output. References:
//  - Vol. 3C 28.2.1 (newer editions 29.2.1) "Basic VM-Exit Information":
//    exit qualification formats; "For all other VM exits, the field is
//    cleared" (HLT, CPUID, RDMSR, WRMSR, triple fault ... have qualification 0).
//  - Table "Exit Qualification for I/O Instructions" (27-5/28-5): bits 2:0
//    size-1 (0 = 1 byte, 1 = 2 bytes, 3 = 4 bytes), bit 3 direction (1 = IN),
//    bit 4 string, bit 5 REP, bit 6 operand encoding (1 = immediate), bits
//    31:16 port number.
//  - Table "Exit Qualification for Control-Register Accesses" (27-3/28-3):
//    bits 3:0 CR number (0 for CLTS, LMSW), bits 5:4 access type (0 MOV to CR,
//    1 MOV from CR, 2 CLTS, 3 LMSW), bit 6 LMSW operand type (1 = memory),
//    bits 11:8 GPR (0 RAX, 1 RCX, 2 RDX, 3 RBX, 4 RSP, 5 RBP, 6 RSI, 7 RDI,
//    8-15 R8-R15), bits 31:16 LMSW source data.
//  - Table "Exit Qualification for MOV DR": bits 2:0 DR number, bit 4
//    direction (1 = MOV from DR), bits 11:8 GPR.
//  - 28.2.4 "Information for VM Exits Due to Instruction Execution": the
//    VM-exit instruction length is the length in bytes of the instruction
//    (prefixes included); Table "Format of the VM-Exit Instruction-Information
//    Field as Used for INS and OUTS": bits 9:7 address size (0 16-bit, 1
//    32-bit, 2 64-bit), bits 17:15 segment register (0 ES, 1 CS, 2 SS, 3 DS,
//    4 FS, 5 GS; undefined for INS).
//  - 28.2.1 "Guest-linear address": for INS/OUTS the linear address of the
//    memory operand (segment base + index register); for LMSW with a memory
//    operand the linear address of that operand.
//  - 28.3.3 (saving RIP): for an exit caused by an instruction, RIP references
//    that instruction.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VMCS } from '../../../core/vmx/fields.js';
import { EXIT_REASON } from '../../../core/vmx/exit-reasons.js';
import { PIN_BASED, PROC_BASED, PROC_BASED2, EXIT_CTLS } from '../../../core/vmx/capabilities.js';
import { HOST_KICK_VECTOR } from '../../../core/vmx/engine.js';
import { RAX, RCX, RDX, RBX, RSI, RDI } from '../../../core/cpu/regs.js';
import { machine, guest32, guest64, enter, hx, CODE_32, CODE_64 } from '../../helpers/machine.js';
import type { Machine } from '../../../core/hv/machine.js';

const R9 = 9;

function setReg(m: Machine, r: number, v: number, hi = 0): void { m.setGpr(r, v >>> 0, hi >>> 0); }
function allMsrsExit(m: Machine): void { m.mem.fill(m.layout.msrBitmap, 0x1000, 0xff); }
function orProc(m: Machine, bits: number): void {
  m.vmx.vmwrite32(VMCS.PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, m.vmx.vmread32(VMCS.PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS) | bits);
  assert.is(m.vmx.status, 'VMsucceed');
}
function orProc2(m: Machine, bits: number): void {
  m.vmx.vmwrite32(VMCS.SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, m.vmx.vmread32(VMCS.SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS) | bits);
  assert.is(m.vmx.status, 'VMsucceed');
}

// ---------------------------------------------------------------------------
// Exits with qualification 0: only reason, length and RIP carry information.
// ---------------------------------------------------------------------------

interface SimpleCase {
  name: string; reason: number; code: number[]; len: number; mode: 32 | 64;
  setup?: (m: Machine) => void;
}
const SIMPLE: SimpleCase[] = [
  // HLT (F4) with "HLT exiting" (set by core/hv/setup.ts): reason 12, 1 byte.
  { name: 'HLT', reason: 12, code: [0xf4], len: 1, mode: 32 },
  { name: 'HLT (64-bit)', reason: 12, code: [0xf4], len: 1, mode: 64 },
  // CPUID (0F A2) exits unconditionally (Vol. 3C 26.1.2): reason 10, 2 bytes.
  { name: 'CPUID', reason: 10, code: [0x0f, 0xa2], len: 2, mode: 32 },
  // A redundant DS prefix counts in the instruction length: 3 bytes.
  { name: 'CPUID with a DS prefix', reason: 10, code: [0x3e, 0x0f, 0xa2], len: 3, mode: 32 },
  { name: 'CPUID (64-bit, REX.W)', reason: 10, code: [0x48, 0x0f, 0xa2], len: 3, mode: 64 },
  // RDMSR (0F 32) / WRMSR (0F 30), every MSR bitmap bit set by setup.ts: reasons 31/32, 2 bytes.
  // (Every bit of the MSR bitmap is set here, whatever core/hv passes through, Vol. 3C 25.6.9.)
  { name: 'RDMSR', reason: 31, code: [0x0f, 0x32], len: 2, mode: 32, setup: (m) => { allMsrsExit(m); setReg(m, RCX, 0x1b); } },
  { name: 'RDMSR of a high MSR (C0000080H)', reason: 31, code: [0x0f, 0x32], len: 2, mode: 64, setup: (m) => { allMsrsExit(m); setReg(m, RCX, 0xc0000080); } },
  { name: 'WRMSR', reason: 32, code: [0x0f, 0x30], len: 2, mode: 32, setup: (m) => { allMsrsExit(m); setReg(m, RCX, 0x277); } },
  { name: 'WRMSR of a high MSR (C0000082H)', reason: 32, code: [0x0f, 0x30], len: 2, mode: 64, setup: (m) => { allMsrsExit(m); setReg(m, RCX, 0xc0000082); } },
  // RDTSC (0F 31) with "RDTSC exiting": reason 16, 2 bytes.
  { name: 'RDTSC', reason: 16, code: [0x0f, 0x31], len: 2, mode: 32, setup: (m) => orProc(m, PROC_BASED.RDTSC_EXITING) },
  // RDTSCP (0F 01 F9) with "RDTSC exiting" and "enable RDTSCP": reason 51, 3 bytes.
  { name: 'RDTSCP', reason: 51, code: [0x0f, 0x01, 0xf9], len: 3, mode: 64, setup: (m) => orProc(m, PROC_BASED.RDTSC_EXITING) },
  // PAUSE (F3 90) with "PAUSE exiting": reason 40, 2 bytes.
  { name: 'PAUSE', reason: 40, code: [0xf3, 0x90], len: 2, mode: 32, setup: (m) => orProc(m, PROC_BASED.PAUSE_EXITING) },
  // INVD (0F 08) exits unconditionally: reason 13. WBINVD (0F 09) with "WBINVD exiting": reason 54.
  { name: 'INVD', reason: 13, code: [0x0f, 0x08], len: 2, mode: 32 },
  { name: 'WBINVD', reason: 54, code: [0x0f, 0x09], len: 2, mode: 32, setup: (m) => orProc2(m, PROC_BASED2.WBINVD_EXITING) },
  // VMCALL (0F 01 C1): reason 18, 3 bytes. XSETBV (0F 01 D1): reason 55, 3 bytes, once CR4.OSXSAVE = 1
  // (with OSXSAVE = 0 the #UD has priority over the exit: Vol. 2B XSETBV, Vol. 3C 26.1.1).
  { name: 'VMCALL', reason: 18, code: [0x0f, 0x01, 0xc1], len: 3, mode: 32 },
  { name: 'XSETBV', reason: 55, code: [0x0f, 0x01, 0xd1], len: 3, mode: 64, setup: (m) => m.vmx.vmwriteNum(VMCS.GUEST_CR4, 0x2020 | (1 << 18)) },
];

for (const c of SIMPLE) {
  test(`${c.name}: reason ${c.reason}, qualification 0, length ${c.len}, RIP at the instruction`, () => {
    const m = machine();
    const at = c.mode === 32 ? CODE_32 : CODE_64;
    if (c.mode === 32) guest32(m, c.code); else guest64(m, c.code);
    c.setup?.(m);
    const x = enter(m);
    assert.is(x.status, 'VMsucceed');
    assert.is(x.reason, c.reason, `exit reason of ${c.name}`);
    assert.is(x.qual, 0, 'exit qualification');
    assert.is(x.len, c.len, 'VM-exit instruction length');
    assert.is(x.rip, at, 'guest RIP');
  });
}

test('EXIT_REASON constants used by the handlers match Vol. 3D Appendix C', () => {
  assert.is(EXIT_REASON.TRIPLE_FAULT, 2);
  assert.is(EXIT_REASON.CPUID, 10);
  assert.is(EXIT_REASON.HLT, 12);
  assert.is(EXIT_REASON.CONTROL_REGISTER_ACCESS, 28);
  assert.is(EXIT_REASON.IO_INSTRUCTION, 30);
  assert.is(EXIT_REASON.RDMSR, 31);
  assert.is(EXIT_REASON.WRMSR, 32);
  assert.is(EXIT_REASON.EPT_VIOLATION, 48);
});

// ---------------------------------------------------------------------------
// Triple fault (reason 2)
// ---------------------------------------------------------------------------

test('triple fault: IDT limit 0, UD2 -> #UD -> #GP -> #DF -> triple fault (reason 2)', () => {
  // Vol. 3A 6.15 Table "Conditions for Generating a Double Fault": #UD is
  // benign, so its failed delivery (IDT limit 0 -> #GP) is simply #GP; #GP
  // while delivering #GP (contributory + contributory) is #DF; a fault while
  // delivering #DF is a triple fault. Vol. 3D Appendix C: reason 2.
  // Vol. 3C 28.2.3: a triple-fault exit is not "during event delivery", so
  // the IDT-vectoring information valid bit (31) is 0. No exception bitmap
  // bit is set, so no exception exit happens first.
  const m = machine();
  guest32(m, [0x0f, 0x0b]); // UD2
  m.vmx.vmwrite32(VMCS.GUEST_IDTR_LIMIT, 0);
  const x = enter(m);
  assert.is(x.reason, 2);
  assert.is(x.qual, 0);
  assert.is(x.idtVectoring & 0x80000000, 0, 'IDT-vectoring information not valid');
  // #UD is a fault: no handler ever ran, RIP still references UD2.
  assert.is(x.rip, CODE_32);
});

test('triple fault in 64-bit mode (16-byte IDT gates, IDT limit 0)', () => {
  const m = machine();
  guest64(m, [0x90, 0x0f, 0x0b]); // NOP; UD2
  m.vmx.vmwrite32(VMCS.GUEST_IDTR_LIMIT, 0);
  const x = enter(m);
  assert.is(x.reason, 2);
  assert.is(x.rip, CODE_64 + 1);
});

test('an exception bitmap bit for #UD exits before any double fault (reason 0, not 2)', () => {
  // Vol. 3C 26.2 / 25.6.3: #UD (vector 6) with bit 6 set causes an exception exit;
  // VM-exit interruption information: vector 6 | type 3 (hardware exception) << 8 | valid.
  const m = machine();
  guest32(m, [0x0f, 0x0b]);
  m.vmx.vmwrite32(VMCS.GUEST_IDTR_LIMIT, 0);
  m.vmx.vmwrite32(VMCS.EXCEPTION_BITMAP, 1 << 6);
  const x = enter(m);
  assert.is(x.reason, 0);
  assert.is(x.intInfo, 0x80000306, hx(x.intInfo));
});

// ---------------------------------------------------------------------------
// I/O instructions (reason 30)
// ---------------------------------------------------------------------------

interface IoCase { name: string; code: number[]; mode: 32 | 64; dx?: number; edxHi?: number; qual: number; len: number }
const IO: IoCase[] = [
  // IN AL, imm8 (E4 71): size 0, IN bit 3 = 8, imm bit 6 = 40h, port 71h << 16.
  { name: 'IN AL, 71h', code: [0xe4, 0x71], mode: 32, qual: 0x0071_0048, len: 2 },
  // IN AX, imm8 (66 E5 60): size 1 | 8 | 40h = 49h, port 60h.
  { name: 'IN AX, 60h', code: [0x66, 0xe5, 0x60], mode: 32, qual: 0x0060_0049, len: 3 },
  // IN EAX, imm8 (E5 92): size 3 | 8 | 40h = 4Bh.
  { name: 'IN EAX, 92h', code: [0xe5, 0x92], mode: 32, qual: 0x0092_004b, len: 2 },
  // IN AL, DX (EC), DX = 3FDh: 0 | 8 = 08h, operand encoding DX (bit 6 = 0).
  { name: 'IN AL, DX', code: [0xec], mode: 32, dx: 0x3fd, qual: 0x03fd_0008, len: 1 },
  // IN AX, DX (66 ED), DX = 1F0h: 1 | 8 = 09h.
  { name: 'IN AX, DX', code: [0x66, 0xed], mode: 32, dx: 0x1f0, qual: 0x01f0_0009, len: 2 },
  // IN EAX, DX (ED), DX = CFCh: 3 | 8 = 0Bh.
  { name: 'IN EAX, DX', code: [0xed], mode: 32, dx: 0xcfc, qual: 0x0cfc_000b, len: 1 },
  // Only DX names the port: EDX = 1234FFFFh gives port FFFFh.
  { name: 'IN AL, DX with EDX[31:16] set', code: [0xec], mode: 32, dx: 0x1234_ffff, qual: 0xffff_0008, len: 1 },
  // OUT imm8, AL (E6 80): 0 | OUT (bit 3 = 0) | 40h.
  { name: 'OUT 80h, AL', code: [0xe6, 0x80], mode: 32, qual: 0x0080_0040, len: 2 },
  // OUT imm8, AX (66 E7 70): 1 | 40h = 41h.
  { name: 'OUT 70h, AX', code: [0x66, 0xe7, 0x70], mode: 32, qual: 0x0070_0041, len: 3 },
  // OUT imm8, EAX (E7 84): 3 | 40h = 43h.
  { name: 'OUT 84h, EAX', code: [0xe7, 0x84], mode: 32, qual: 0x0084_0043, len: 2 },
  // OUT DX, AL (EE), DX = 3F8h: 0.
  { name: 'OUT DX, AL', code: [0xee], mode: 32, dx: 0x3f8, qual: 0x03f8_0000, len: 1 },
  // OUT DX, AX (66 EF), DX = A0h: 1.
  { name: 'OUT DX, AX', code: [0x66, 0xef], mode: 32, dx: 0xa0, qual: 0x00a0_0001, len: 2 },
  // OUT DX, EAX (EF), DX = CF8h: 3.
  { name: 'OUT DX, EAX', code: [0xef], mode: 32, dx: 0xcf8, qual: 0x0cf8_0003, len: 1 },
  // 64-bit mode: REX.W does not make port I/O 8 bytes wide (Vol. 2A IN: operand size 8/16/32): size 3.
  { name: 'IN EAX, 60h with REX.W (64-bit)', code: [0x48, 0xe5, 0x60], mode: 64, qual: 0x0060_004b, len: 3 },
  { name: 'OUT DX, AL (64-bit), RDX high half set', code: [0xee], mode: 64, dx: 0x2f8, edxHi: 0xdead, qual: 0x02f8_0000, len: 1 },
  // 16-bit operand with a 66h prefix in 64-bit mode: size 1.
  { name: 'OUT DX, AX (64-bit)', code: [0x66, 0xef], mode: 64, dx: 0x1ce, qual: 0x01ce_0001, len: 2 },
];

for (const c of IO) {
  test(`I/O exit: ${c.name} -> qualification ${hx(c.qual)}, length ${c.len}`, () => {
    const m = machine();
    if (c.mode === 32) guest32(m, c.code); else guest64(m, c.code);
    if (c.dx !== undefined) setReg(m, RDX, c.dx, c.edxHi ?? 0);
    const x = enter(m);
    assert.is(x.reason, 30);
    assert.is(x.qual, c.qual, `qualification ${hx(x.qual)}`);
    assert.is(x.len, c.len);
    assert.is(x.rip, c.mode === 32 ? CODE_32 : CODE_64);
  });
}

// String I/O: qualification, instruction information and guest-linear address.
const ADDR_SIZE = (info: number): number => (info >>> 7) & 7;
const SEGMENT = (info: number): number => (info >>> 15) & 7;

test('REP INSB (32-bit): qualification, address size 32, linear address ES.base + EDI', () => {
  // F3 6C: size 0 | IN 8 | string 10h | REP 20h = 38h; port 1F0h.
  const m = machine();
  guest32(m, [0xf3, 0x6c]);
  m.vmx.vmwriteNum(VMCS.GUEST_ES_BASE, 0x10000);
  setReg(m, RDX, 0x1f0); setReg(m, RDI, 0x3000); setReg(m, RCX, 4);
  const x = enter(m);
  assert.is(x.reason, 30);
  assert.is(x.qual, 0x01f0_0038, hx(x.qual));
  assert.is(x.len, 2);
  assert.is(ADDR_SIZE(x.info), 1, 'address size: 1 = 32-bit');
  // The segment field is undefined for INS (always ES): not asserted.
  assert.is(x.gla, 0x13000n, 'ES.base 10000h + EDI 3000h');
});

test('REP OUTSW with an FS override (32-bit): segment FS (4), linear address FS.base + ESI', () => {
  // 64 F3 66 6F: size 1 | OUT | string 10h | REP 20h = 31h; port 3F8h; 4 bytes.
  const m = machine();
  guest32(m, [0x64, 0xf3, 0x66, 0x6f]);
  m.vmx.vmwriteNum(VMCS.GUEST_FS_BASE, 0x5000);
  setReg(m, RDX, 0x3f8); setReg(m, RSI, 0x234); setReg(m, RCX, 2);
  const x = enter(m);
  assert.is(x.qual, 0x03f8_0031, hx(x.qual));
  assert.is(x.len, 4);
  assert.is(ADDR_SIZE(x.info), 1);
  assert.is(SEGMENT(x.info), 4, 'segment: 4 = FS');
  assert.is(x.gla, 0x5234n);
});

test('OUTSD with a 67h prefix (16-bit addressing in 32-bit mode): address size 0, SI only, segment DS', () => {
  // 67 6F: size 3 | string 10h = 13h (no REP); port 80h; DS default segment (3).
  const m = machine();
  guest32(m, [0x67, 0x6f]);
  m.vmx.vmwriteNum(VMCS.GUEST_DS_BASE, 0x20000);
  setReg(m, RDX, 0x80); setReg(m, RSI, 0xabcd_1234);
  const x = enter(m);
  assert.is(x.qual, 0x0080_0013, hx(x.qual));
  assert.is(x.len, 2);
  assert.is(ADDR_SIZE(x.info), 0, 'address size: 0 = 16-bit');
  assert.is(SEGMENT(x.info), 3, 'segment: 3 = DS');
  assert.is(x.gla, 0x21234n, 'DS.base 20000h + SI 1234h');
});

test('REP OUTSB (64-bit): address size 2, segment DS, linear address RSI', () => {
  // F3 6E: 0 | string 10h | REP 20h = 30h; port 3F8h.
  const m = machine();
  guest64(m, [0xf3, 0x6e]);
  setReg(m, RDX, 0x3f8); setReg(m, RSI, 0x7000); setReg(m, RCX, 3);
  const x = enter(m);
  assert.is(x.qual, 0x03f8_0030, hx(x.qual));
  assert.is(x.len, 2);
  assert.is(ADDR_SIZE(x.info), 2, 'address size: 2 = 64-bit');
  assert.is(SEGMENT(x.info), 3);
  assert.is(x.gla, 0x7000n);
});

test('REP INSD (64-bit): qualification 3Bh, address size 2, linear address RDI', () => {
  // F3 6D: size 3 | IN 8 | string 10h | REP 20h = 3Bh; port 60h.
  const m = machine();
  guest64(m, [0xf3, 0x6d]);
  setReg(m, RDX, 0x60); setReg(m, RDI, 0x9000); setReg(m, RCX, 1);
  const x = enter(m);
  assert.is(x.qual, 0x0060_003b, hx(x.qual));
  assert.is(ADDR_SIZE(x.info), 2);
  assert.is(x.gla, 0x9000n);
});

test('OUTSB with GS override and a 67h prefix (64-bit): address size 1, segment GS, GS.base + ESI', () => {
  // 65 67 6E: 0 | string 10h = 10h; the 32-bit address size drops RSI[63:32].
  const m = machine();
  guest64(m, [0x65, 0x67, 0x6e]);
  m.vmx.vmwriteNum(VMCS.GUEST_GS_BASE, 0x40000);
  setReg(m, RDX, 0x2e8); setReg(m, RSI, 0x2000, 0x1);
  const x = enter(m);
  assert.is(x.qual, 0x02e8_0010, hx(x.qual));
  assert.is(x.len, 3);
  assert.is(ADDR_SIZE(x.info), 1);
  assert.is(SEGMENT(x.info), 5, 'segment: 5 = GS');
  assert.is(x.gla, 0x42000n);
});

// ---------------------------------------------------------------------------
// Control-register accesses (reason 28)
// ---------------------------------------------------------------------------

test('MOV CR4, EAX flipping a host-owned bit: CR 4, type 0, GPR 0 (qualification 4), length 3', () => {
  // Vol. 3C 26.1.3: MOV to CR4 exits if a bit set in the CR4 guest/host mask
  // differs between the source and the CR4 read shadow. Mask = VMXE | PAE,
  // shadow 0, EAX = 20h (PAE): exits. 0F 22 E0 = mov cr4, eax (ModRM reg 4, rm 0).
  const m = machine();
  guest32(m, [0x0f, 0x22, 0xe0]);
  m.vmx.vmwriteNum(VMCS.CR4_GUEST_HOST_MASK, 0x2020);
  m.vmx.vmwriteNum(VMCS.CR4_READ_SHADOW, 0);
  setReg(m, RAX, 0x20);
  const x = enter(m);
  assert.is(x.reason, 28);
  assert.is(x.qual, 0x4);
  assert.is(x.len, 3);
});

test('MOV CR4 that leaves every host-owned bit equal to the shadow does not exit', () => {
  // Same mask; EAX = 80h (PGE, guest-owned) matches the shadow on owned bits: no exit, then HLT (12).
  const m = machine();
  guest32(m, [0x0f, 0x22, 0xe0, 0xf4]);
  m.vmx.vmwriteNum(VMCS.CR4_GUEST_HOST_MASK, 0x2020);
  setReg(m, RAX, 0x80);
  const x = enter(m);
  assert.is(x.reason, 12);
  assert.is(x.rip, CODE_32 + 3);
});

test('MOV CR0, EBX setting the host-owned NE bit: CR 0, GPR 3 (qualification 300h)', () => {
  // setup.ts: CR0 mask = NE (bit 5), shadow = PE | ET (11h). EBX = 31h sets NE. 0F 22 C3: reg 0, rm 3.
  const m = machine();
  guest32(m, [0x0f, 0x22, 0xc3]);
  setReg(m, RBX, 0x31);
  const x = enter(m);
  assert.is(x.reason, 28);
  assert.is(x.qual, 0x300);
  assert.is(x.len, 3);
});

test('MOV CR0, R9 (64-bit, REX.B): GPR 9 (qualification 900h), length 4', () => {
  // 41 0F 22 C1: REX.B extends rm 1 to R9. guest64 shadow = PG | PE | ET (no NE); R9 = 80000031h sets NE.
  const m = machine();
  guest64(m, [0x41, 0x0f, 0x22, 0xc1]);
  setReg(m, R9, 0x80000031);
  const x = enter(m);
  assert.is(x.reason, 28);
  assert.is(x.qual, 0x900);
  assert.is(x.len, 4);
});

test('MOV CR3, ESP with "CR3-load exiting" and no CR3 targets: CR 3, GPR 4 (403h)', () => {
  // 0F 22 DC: ModRM 11 011 100 = CR3, ESP. CR3 target count 0: every MOV to CR3 exits.
  const m = machine();
  guest32(m, [0x0f, 0x22, 0xdc]);
  orProc(m, PROC_BASED.CR3_LOAD_EXITING);
  m.vmx.vmwriteNum(VMCS.GUEST_RSP, 0x5000);
  const x = enter(m);
  assert.is(x.reason, 28);
  assert.is(x.qual, 0x403);
  assert.is(x.len, 3);
});

test('MOV EDX, CR3 with "CR3-store exiting": CR 3, type 1, GPR 2 (213h)', () => {
  // 0F 20 DA: ModRM 11 011 010 = CR3 -> EDX.
  const m = machine();
  guest32(m, [0x0f, 0x20, 0xda]);
  orProc(m, PROC_BASED.CR3_STORE_EXITING);
  const x = enter(m);
  assert.is(x.reason, 28);
  assert.is(x.qual, 0x213);
  assert.is(x.len, 3);
});

test('MOV CR8, RDI / MOV RSI, CR8 with CR8-load/store exiting (64-bit): 708h and 618h, length 4', () => {
  // 44 0F 22 C7: REX.R selects CR8, rm 7 = RDI -> 8 | 0 << 4 | 7 << 8.
  let m = machine();
  guest64(m, [0x44, 0x0f, 0x22, 0xc7]);
  orProc(m, PROC_BASED.CR8_LOAD_EXITING);
  let x = enter(m);
  assert.is(x.reason, 28);
  assert.is(x.qual, 0x708);
  assert.is(x.len, 4);
  // 44 0F 20 C6: CR8 -> RSI: 8 | 1 << 4 | 6 << 8.
  m = machine();
  guest64(m, [0x44, 0x0f, 0x20, 0xc6]);
  orProc(m, PROC_BASED.CR8_STORE_EXITING);
  x = enter(m);
  assert.is(x.reason, 28);
  assert.is(x.qual, 0x618);
  assert.is(x.len, 4);
});

test('CLTS with CR0.TS host-owned and shadowed 1: type 2 (qualification 20h), length 2', () => {
  // Vol. 3C 26.1.3: CLTS exits if TS is set in both the CR0 mask and the CR0 read shadow.
  const m = machine();
  guest32(m, [0x0f, 0x06]);
  m.vmx.vmwriteNum(VMCS.CR0_GUEST_HOST_MASK, 0x20 | 0x8);
  m.vmx.vmwriteNum(VMCS.CR0_READ_SHADOW, 0x11 | 0x8);
  const x = enter(m);
  assert.is(x.reason, 28);
  assert.is(x.qual, 0x20);
  assert.is(x.len, 2);
});

test('LMSW AX changing host-owned MP: type 3, register operand, source data in bits 31:16', () => {
  // Vol. 3C 26.1.3: LMSW exits if, for a bit among CR0[3:1] set in the mask,
  // the source differs from the shadow. Mask = NE | MP (22h), shadow = 11h
  // (MP = 0), AX = ABC3h has MP = 1. 0F 01 F0 = lmsw ax (ModRM 11 110 000).
  // Qualification: 0 | 3 << 4 | 0 << 6 | ABC3h << 16 = ABC30030h (the whole
  // 16-bit source operand, "the LMSW source data"). EAX[31:16] are not part of it.
  const m = machine();
  guest32(m, [0x0f, 0x01, 0xf0]);
  m.vmx.vmwriteNum(VMCS.CR0_GUEST_HOST_MASK, 0x22);
  setReg(m, RAX, 0x5555_abc3);
  const x = enter(m);
  assert.is(x.reason, 28);
  assert.is(x.qual, 0xabc3_0030, hx(x.qual));
  assert.is(x.len, 3);
});

test('LMSW m16: memory operand bit 6, source data, guest-linear address of the operand', () => {
  // 0F 01 35 disp32 = lmsw [disp32] (ModRM 00 110 101), 7 bytes. Word at 4000h = 000Ah (MP = 1).
  // Qualification: 3 << 4 | 1 << 6 | 000Ah << 16 = 000A0070h. Guest-linear address 4000h.
  const m = machine();
  guest32(m, [0x0f, 0x01, 0x35, 0x00, 0x40, 0x00, 0x00]);
  m.mem.write32(0x4000, 0x000a);
  m.vmx.vmwriteNum(VMCS.CR0_GUEST_HOST_MASK, 0x22);
  const x = enter(m);
  assert.is(x.reason, 28);
  assert.is(x.qual, 0x000a_0070, hx(x.qual));
  assert.is(x.len, 7);
  assert.is(x.gla, 0x4000n);
});

// ---------------------------------------------------------------------------
// MOV DR (reason 29), INVLPG (reason 14)
// ---------------------------------------------------------------------------

test('MOV DR0, EDX and MOV EBX, DR7 with "MOV-DR exiting": 200h and 317h, length 3', () => {
  // 0F 23 C2: to DR0 from EDX: 0 | 0 << 4 | 2 << 8. 0F 21 FB: DR7 -> EBX: 7 | 1 << 4 | 3 << 8.
  let m = machine();
  guest32(m, [0x0f, 0x23, 0xc2]);
  orProc(m, PROC_BASED.MOV_DR_EXITING);
  let x = enter(m);
  assert.is(x.reason, 29);
  assert.is(x.qual, 0x200);
  assert.is(x.len, 3);
  m = machine();
  guest32(m, [0x0f, 0x21, 0xfb]);
  orProc(m, PROC_BASED.MOV_DR_EXITING);
  x = enter(m);
  assert.is(x.reason, 29);
  assert.is(x.qual, 0x317);
  assert.is(x.len, 3);
});

test('INVLPG [EAX] with "INVLPG exiting": qualification = linear address operand, length 3', () => {
  // Vol. 3C 28.2.1: for INVLPG the exit qualification is the linear-address operand. 0F 01 38.
  const m = machine();
  guest32(m, [0x0f, 0x01, 0x38]);
  orProc(m, PROC_BASED.INVLPG_EXITING);
  setReg(m, RAX, 0x0012_3456);
  const x = enter(m);
  assert.is(x.reason, 14);
  assert.is(x.qual, 0x0012_3456);
  assert.is(x.len, 3);
});

// ---------------------------------------------------------------------------
// VMREAD / VMWRITE (reasons 23 / 25): qualification = displacement, and the
// instruction-information field (Vol. 3C 28.2.1 and 28.2.4, Table "Format of
// the VM-Exit Instruction-Information Field as Used for VMREAD and VMWRITE":
// bits 1:0 scaling, 6:3 Reg1, 9:7 address size, 10 Mem/Reg (1 = register),
// 17:15 segment, 21:18 IndexReg, 22 index invalid, 26:23 BaseReg, 27 base
// invalid, 31:28 Reg2 = ModRM.reg). Undefined bits are masked before comparing.
// ---------------------------------------------------------------------------

const REG_FORM_DEFINED = 0xf000_0478;    // 31:28, 10, 6:3
test('VMREAD RAX, RBX (register form, 64-bit): qualification 0, Reg1 0, Reg2 3, bit 10', () => {
  // 0F 78 D8: ModRM 11 011 000 -> reg (the field encoding) = RBX, r/m (destination) = RAX.
  const m = machine();
  guest64(m, [0x0f, 0x78, 0xd8]);
  const x = enter(m);
  assert.is(x.reason, 23);
  assert.is(x.qual, 0);
  assert.is(x.len, 3);
  assert.is((x.info & REG_FORM_DEFINED) >>> 0, ((3 << 28) | (1 << 10) | (0 << 3)) >>> 0, hx(x.info));
});

test('VMWRITE RCX, [RSI+RDI*4+10h] (64-bit): displacement 10h; scale 2, index 7, base 6, DS, 64-bit', () => {
  // 0F 79 4C BE 10: ModRM 01 001 100 (reg RCX, SIB, disp8), SIB 10 111 110 (x4, RDI, RSI).
  // info = 2 | 2 << 7 | 0 << 10 | 3 << 15 | 7 << 18 | 6 << 23 | 1 << 28 = 131D8102h (all bits here are defined
  // except 2, 14:11: masked).
  const m = machine();
  guest64(m, [0x0f, 0x79, 0x4c, 0xbe, 0x10]);
  const x = enter(m);
  assert.is(x.reason, 25);
  assert.is(x.qual, 0x10);
  assert.is(x.len, 5);
  assert.is((x.info & 0xffff_8783) >>> 0, 0x131d_8102, hx(x.info));
});

test('VMREAD [RIP+100h], RDX: qualification = next RIP + displacement; index and base invalid', () => {
  // 0F 78 15 disp32: ModRM 00 010 101 = RIP-relative in 64-bit mode, reg RDX. 7 bytes.
  // info (defined bits, scaling/IndexReg/BaseReg undefined when invalid) = 2 << 7 | 3 << 15 | 1 << 22 | 1 << 27 | 2 << 28.
  const m = machine();
  guest64(m, [0x0f, 0x78, 0x15, 0x00, 0x01, 0x00, 0x00]);
  const x = enter(m);
  assert.is(x.reason, 23);
  assert.is(x.qual, CODE_64 + 7 + 0x100, hx(x.qual));
  assert.is(x.len, 7);
  assert.is((x.info & 0xf843_8780) >>> 0, 0x2840_0000 | 0x18100, hx(x.info));
});

test('VMREAD [RAX-10h], RBX: the displacement is sign-extended to 64 bits', () => {
  // 0F 78 58 F0: ModRM 01 011 000, disp8 F0h = -16 -> FFFFFFFF_FFFFFFF0h.
  const m = machine();
  guest64(m, [0x0f, 0x78, 0x58, 0xf0]);
  const x = enter(m);
  assert.is(x.reason, 23);
  assert.is(m.vmx.vmread(VMCS.EXIT_QUALIFICATION), 0xffff_ffff_ffff_fff0n);
  assert.is((x.info >>> 23) & 15, 0, 'BaseReg RAX');
  assert.is((x.info >>> 27) & 1, 0, 'base valid');
  assert.is((x.info >>> 22) & 1, 1, 'no index');
});

test('VMWRITE EAX, [EBX+ECX*8+12345678h] (32-bit mode): address size 1, segment DS', () => {
  // 0F 79 84 CB disp32: ModRM 10 000 100, SIB 11 001 011 (x8, ECX, EBX). 8 bytes.
  // info = 3 | 1 << 7 | 3 << 15 | 1 << 18 | 3 << 23 | 0 << 28.
  const m = machine();
  guest32(m, [0x0f, 0x79, 0x84, 0xcb, 0x78, 0x56, 0x34, 0x12]);
  const x = enter(m);
  assert.is(x.reason, 25);
  assert.is(x.qual % 2 ** 32, 0x1234_5678, 'bits 31:0 (bits beyond the address size are undefined)');
  assert.is(x.len, 8);
  assert.is((x.info & 0xffff_8783) >>> 0, (3 | (1 << 7) | (3 << 15) | (1 << 18) | (3 << 23)) >>> 0, hx(x.info));
});

// ---------------------------------------------------------------------------
// Exits not caused by an instruction
// ---------------------------------------------------------------------------

test('the host "kick" at the end of a run: external interrupt (reason 1) with the acknowledged vector', () => {
  // setup.ts sets "external-interrupt exiting" and "acknowledge interrupt on exit": the VM-exit
  // interruption information is valid (31), type 0 (external interrupt, bits 10:8), vector in 7:0
  // (Vol. 3C 28.2.2). Guest: EB FE (jmp $) forever; the kick comes after 50 instructions.
  const m = machine();
  guest32(m, [0xeb, 0xfe]);
  const x = enter(m, 50);
  assert.is(x.reason, 1);
  assert.is(x.qual, 0);
  assert.is((x.intInfo & 0x8000_0700) >>> 0, 0x8000_0000, hx(x.intInfo));
  assert.is(x.intInfo & 0xff, HOST_KICK_VECTOR);
  assert.is(m.cpu.icount, 50);
});

test('VMX-preemption timer: value 3 expires after 3 << rate TSC ticks (reason 52), saved value 0', () => {
  // Vol. 3C 26.5.1: the timer counts down by 1 each time bit X of the TSC changes, X = IA32_VMX_MISC[4:0];
  // this machine's TSC is the retired-instruction count, so 3 ticks = 3 * 2^X instructions.
  const m = machine();
  guest32(m, [0xeb, 0xfe]);
  const rate = m.caps.preemptionTimerRate;
  m.vmx.vmwrite32(VMCS.PIN_BASED_VM_EXECUTION_CONTROLS, m.vmx.vmread32(VMCS.PIN_BASED_VM_EXECUTION_CONTROLS) | PIN_BASED.ACTIVATE_VMX_PREEMPTION_TIMER);
  m.vmx.vmwrite32(VMCS.VM_EXIT_CONTROLS, m.vmx.vmread32(VMCS.VM_EXIT_CONTROLS) | EXIT_CTLS.SAVE_VMX_PREEMPTION_TIMER_VALUE);
  m.vmx.vmwrite32(VMCS.VMX_PREEMPTION_TIMER_VALUE, 3);
  const x = enter(m, 1_000_000);
  assert.is(x.reason, 52);
  assert.is(x.qual, 0);
  assert.is(m.cpu.icount, 3 * 2 ** rate);
  assert.is(m.vmx.vmread32(VMCS.VMX_PREEMPTION_TIMER_VALUE), 0);
});

test('interrupt-window exiting with RFLAGS.IF = 1: exits before the first instruction (reason 7)', () => {
  // Vol. 3C 26.7.5: an interrupt-window exit happens at the start of any instruction when IF = 1 and
  // nothing blocks interrupts.
  const m = machine();
  guest32(m, [0x90, 0xf4]);
  m.vmx.vmwriteNum(VMCS.GUEST_RFLAGS, 0x202);
  orProc(m, PROC_BASED.INTERRUPT_WINDOW_EXITING);
  const x = enter(m);
  assert.is(x.reason, 7);
  assert.is(x.qual, 0);
  assert.is(x.rip, CODE_32);
});

test('interrupt-window exiting after STI: blocking by STI covers one instruction (exit before HLT)', () => {
  // FB (sti), 90 (nop, in the STI shadow), F4 (hlt): IF = 1 with no blocking first at the HLT.
  const m = machine();
  guest32(m, [0xfb, 0x90, 0xf4]);
  orProc(m, PROC_BASED.INTERRUPT_WINDOW_EXITING);
  const x = enter(m);
  assert.is(x.reason, 7);
  assert.is(x.rip, CODE_32 + 2);
});

test('#PF with its exception-bitmap bit: reason 0, qualification = faulting linear address, CR2 unchanged', () => {
  // Vol. 3C 28.2.1: for a page fault the qualification is the linear address; 28.2.2: interruption
  // information = 14 | 3 << 8 | 1 << 11 (error code) | 1 << 31; error code (Vol. 3A 4.7) for a
  // not-present supervisor write = W (2). Vol. 3C 26.2: a #PF that exits does not load CR2.
  // 89 04 25 00 00 00 40 = mov [40000000h], eax; linear 1 GiB has no PDPT entry in guest64.
  const m = machine();
  guest64(m, [0x89, 0x04, 0x25, 0x00, 0x00, 0x00, 0x40]);
  m.vmx.vmwrite32(VMCS.EXCEPTION_BITMAP, 1 << 14);
  const cr2 = m.cpu.cr2;
  const x = enter(m);
  assert.is(x.reason, 0);
  assert.is(x.qual, 0x4000_0000);
  assert.is(x.intInfo, 0x8000_0b0e, hx(x.intInfo));
  assert.is(m.vmx.vmread32(VMCS.VM_EXIT_INTERRUPTION_ERROR_CODE), 2);
  assert.is(x.rip, CODE_64);
  assert.is(m.cpu.cr2, cr2, 'CR2 not written');
});

test('I/O bitmaps: a 4-byte IN at 7FFEh exits because port 8000h is set in bitmap B', () => {
  // Vol. 3C 25.6.4 / 26.1.3: an I/O instruction exits if the bit of any port it accesses is 1;
  // bitmap A covers 0000h-7FFFh, B covers 8000h-FFFFh.
  const m = machine();
  guest32(m, [0xed, 0xf4]); // in eax, dx; hlt
  m.mem.fill(m.layout.ioBitmapA, 0x2000, 0);
  m.mem.write8(m.layout.ioBitmapB, 1); // port 8000h
  setReg(m, RDX, 0x7ffe);
  const x = enter(m);
  assert.is(x.reason, 30);
  assert.is(x.qual, 0x7ffe_000b, hx(x.qual));
});

test('I/O bitmaps: a 4-byte IN at 7FFAh touches no set bit and does not exit (HLT next)', () => {
  const m = machine();
  guest32(m, [0xed, 0xf4]);
  m.mem.fill(m.layout.ioBitmapA, 0x2000, 0);
  m.mem.write8(m.layout.ioBitmapB, 1);
  setReg(m, RDX, 0x7ffa);
  const x = enter(m);
  assert.is(x.reason, 12);
  assert.is(x.rip, CODE_32 + 1);
});

// ---------------------------------------------------------------------------
// The hypervisor resumes correctly after handling an exit.
// ---------------------------------------------------------------------------

test('after an I/O exit, RIP += length and VMRESUME reaches the next exit', () => {
  // OUT 80h, AL (2 bytes) then CPUID (2 bytes) then HLT.
  const m = machine();
  guest32(m, [0xe6, 0x80, 0x0f, 0xa2, 0xf4]);
  let x = enter(m);
  assert.is(x.reason, 30);
  m.skipInstruction();
  x = enter(m);
  assert.is(x.reason, 10);
  assert.is(x.rip, CODE_32 + 2);
  m.skipInstruction();
  x = enter(m);
  assert.is(x.reason, 12);
  assert.is(x.rip, CODE_32 + 4);
});

test.run();
