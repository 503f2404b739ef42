// Descriptor-table exiting (secondary processor-based control bit 2), from
// Intel SDM Vol. 3C:
//  - 26.1.3: with the control, LGDT, LIDT, SGDT, SIDT cause exit 46 (access
//    to GDTR or IDTR) and LLDT, LTR, SLDT, STR exit 47 (LDTR or TR).
//  - 26.1.1: #UD and privilege-based faults have priority over the exit;
//    the exit has priority over faults on the memory operand.
//  - 28.2.1: the exit qualification is the displacement of the memory
//    operand, sign-extended to 64 bits (0 for a register operand); for
//    RIP-relative addressing, displacement + RIP of the next instruction.
//  - 28.2.4, Table 28-10 (LIDT, LGDT, SIDT, SGDT): bits 1:0 scaling, 9:7
//    address size (0 16-bit, 1 32-bit, 2 64-bit), 10 = 0, 11 operand size
//    (0 16-bit, 1 32-bit; undefined in 64-bit mode), 17:15 segment (0 ES,
//    1 CS, 2 SS, 3 DS, 4 FS, 5 GS), 21:18 index register, 22 index invalid,
//    26:23 base register, 27 base invalid, 29:28 identity (0 SGDT, 1 SIDT,
//    2 LGDT, 3 LIDT).
//  - Table 28-11 (LLDT, LTR, SLDT, STR): as above but bit 10 = 1 for a
//    register operand with its number in bits 6:3 (memory fields then
//    undefined), no operand-size bit, identity 0 SLDT, 1 STR, 2 LLDT, 3 LTR.
// Registers are numbered 0 RAX/AX, 1 RCX, 2 RDX, 3 RBX, 4 RSP, 5 RBP, 6 RSI,
// 7 RDI, 8-15 R8-R15. Bits the SDM leaves undefined are not asserted.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VMCS } from '../../../core/vmx/fields.js';
import { PROC_BASED2 } from '../../../core/vmx/capabilities.js';
import { machine, guest32, guest64, enter, hx, CODE_32, CODE_64 } from '../../helpers/machine.js';
import { Machine } from '../../../core/hv/machine.js';
import { configurePvhGuest } from '../../../core/hv/setup.js';

function dtExiting(m: Machine): void {
  m.vmx.vmwrite32(VMCS.SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, m.vmx.vmread32(VMCS.SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS) | PROC_BASED2.DESCRIPTOR_TABLE_EXITING);
}
const GDTR_IDTR = 46, LDTR_TR = 47;

interface Case { name: string; mode: 32 | 64; code: number[]; reason: number; qual: bigint; info: number; infoMask?: number }
const CASES: Case[] = [
  // LGDT [EAX]: 0F 01 /2, ModRM 10h (mod 0, reg 2, rm EAX). 32-bit address (1 << 7), 32-bit operand (1 << 11),
  // DS (3 << 15), no index (1 << 22), base EAX (0), LGDT (2 << 28) = 20418880h.
  { name: 'LGDT [EAX]', mode: 32, code: [0x0f, 0x01, 0x10], reason: GDTR_IDTR, qual: 0n, info: 0x2041_8880 },
  // 66 SIDT [ESP+ECX*4+10h]: ModRM 4Ch (mod 1, reg 1, SIB), SIB 8Ch (scale 2, index ECX, base ESP), disp8 10h.
  // Scale 2, 32-bit address (80h), 16-bit operand (bit 11 = 0), SS (ESP base: 2 << 15), index 1 (1 << 18),
  // base 4 (4 << 23), SIDT (1 << 28) = 12050082h; qualification 10h.
  { name: 'SIDT [ESP+ECX*4+10h] with a 16-bit operand', mode: 32, code: [0x66, 0x0f, 0x01, 0x4c, 0x8c, 0x10], reason: GDTR_IDTR, qual: 0x10n, info: 0x1205_0082 },
  // LIDT [RAX-8] (64-bit): ModRM 58h, disp8 F8h -> qualification FFFFFFFF_FFFFFFF8h. 64-bit address (2 << 7),
  // DS, no index, base RAX, LIDT (3 << 28) = 30418100h; bit 11 undefined in 64-bit mode.
  { name: 'LIDT [RAX-8] (64-bit)', mode: 64, code: [0x0f, 0x01, 0x58, 0xf8], reason: GDTR_IDTR, qual: 0xffff_ffff_ffff_fff8n, info: 0x3041_8100, infoMask: ~0x800 },
  // SGDT [RIP+100h]: ModRM 05h; qualification = next RIP (CODE_64 + 7) + 100h; index and base invalid
  // (1 << 22 | 1 << 27), DS, 64-bit address, SGDT (0) = 08418100h.
  { name: 'SGDT [RIP+100h] (64-bit)', mode: 64, code: [0x0f, 0x01, 0x05, 0x00, 0x01, 0x00, 0x00], reason: GDTR_IDTR, qual: BigInt(CODE_64 + 7 + 0x100), info: 0x0841_8100, infoMask: ~0x800 },
  // SGDT [12345678h] (32-bit, disp32 without base: ModRM 05h): qualification 12345678h, no base, no index.
  { name: 'SGDT [12345678h]', mode: 32, code: [0x0f, 0x01, 0x05, 0x78, 0x56, 0x34, 0x12], reason: GDTR_IDTR, qual: 0x1234_5678n, info: 0x0841_8880 },
  // LLDT AX: 0F 00 /2, ModRM D0h (register AX). Register operand: bit 10, Reg1 0, LLDT (2 << 28) = 20000400h.
  { name: 'LLDT AX', mode: 32, code: [0x0f, 0x00, 0xd0], reason: LDTR_TR, qual: 0n, info: 0x2000_0400 },
  // STR R9D (64-bit): 41 0F 00 C9 (REX.B, ModRM mod 3, reg 1, rm 1 -> R9). Reg1 9 (9 << 3 = 48h), bit 10,
  // STR (1 << 28) = 10000448h.
  { name: 'STR R9 (64-bit)', mode: 64, code: [0x41, 0x0f, 0x00, 0xc9], reason: LDTR_TR, qual: 0n, info: 0x1000_0448 },
  // 67 SLDT [BX+SI] (16-bit addressing in 32-bit mode): ModRM 00h. Address size 0, DS (3 << 15), index SI
  // (6 << 18), base BX (3 << 23), SLDT (0) = 01998000h.
  { name: 'SLDT [BX+SI] (16-bit addressing)', mode: 32, code: [0x67, 0x0f, 0x00, 0x00], reason: LDTR_TR, qual: 0n, info: 0x0199_8000 },
  // LTR [EBP+12345678h]: ModRM 9Dh (mod 2, reg 3, rm EBP), disp32. 32-bit address, SS (EBP base: 2 << 15),
  // no index, base 5 (5 << 23), LTR (3 << 28) = 32C10080h.
  { name: 'LTR [EBP+12345678h]', mode: 32, code: [0x0f, 0x00, 0x9d, 0x78, 0x56, 0x34, 0x12], reason: LDTR_TR, qual: 0x1234_5678n, info: 0x32c1_0080 },
];

for (const c of CASES) {
  test(`${c.name}: reason ${c.reason}, qualification ${hx(Number(c.qual))}, instruction information ${hx(c.info)}`, () => {
    const m = machine();
    if (c.mode === 32) guest32(m, c.code); else guest64(m, c.code);
    dtExiting(m);
    const gdtr = m.vmx.vmreadNum(VMCS.GUEST_GDTR_BASE), ldtr = m.vmx.vmread32(VMCS.GUEST_LDTR_SELECTOR);
    const x = enter(m);
    assert.is(x.reason, c.reason);
    assert.is(m.vmx.vmread(VMCS.EXIT_QUALIFICATION), c.qual);
    const mask = c.infoMask ?? ~0;
    assert.is((x.info & mask) >>> 0, (c.info & mask) >>> 0, `${hx(x.info)} vs ${hx(c.info)}`);
    assert.is(x.len, c.code.length);
    assert.is(x.rip, c.mode === 32 ? CODE_32 : CODE_64, 'RIP at the instruction: nothing executed');
    assert.is(m.vmx.vmreadNum(VMCS.GUEST_GDTR_BASE), gdtr);
    assert.is(m.vmx.vmread32(VMCS.GUEST_LDTR_SELECTOR), ldtr);
  });
}

test('without the control the instructions run: SGDT stores the GDTR', () => {
  const m = machine();
  guest32(m, [0x0f, 0x01, 0x05, 0x00, 0x70, 0x00, 0x00, 0x0f, 0xa2]); // SGDT [7000h]; CPUID
  m.vmx.vmwriteNum(VMCS.GUEST_GDTR_BASE, 0x12340); m.vmx.vmwrite32(VMCS.GUEST_GDTR_LIMIT, 0x27);
  const x = enter(m);
  assert.is(x.reason, 10);
  assert.is(m.mem.read16(0x7000), 0x27);
  assert.is(m.mem.read32(0x7002), 0x12340);
});

test('the exit comes before a #PF on the memory operand (LGDT [40000000h], not mapped, #PF intercepted)', () => {
  // 64-bit: 0F 01 14 25 00 00 00 40 = LGDT [40000000h] (SIB, no base, no index); guest64 maps only [0, 1 GiB).
  const m = machine();
  guest64(m, [0x0f, 0x01, 0x14, 0x25, 0x00, 0x00, 0x00, 0x40]);
  dtExiting(m);
  m.vmx.vmwrite32(VMCS.EXCEPTION_BITMAP, 1 << 14);
  const x = enter(m);
  assert.is(x.reason, GDTR_IDTR);
  assert.is(x.qual, 0x4000_0000);
  assert.is((x.info >>> 22) & 1, 1, 'no index'); assert.is((x.info >>> 27) & 1, 1, 'no base');
});

/** A 32-bit guest at CPL 3 (CS 1Bh DPL 3, SS 23h DPL 3): the privilege checks of 26.1.1. */
function cpl3(m: Machine): void {
  m.vmx.vmwrite32(VMCS.GUEST_CS_SELECTOR, 0x1b); m.vmx.vmwrite32(VMCS.GUEST_CS_ACCESS_RIGHTS, 0xc0fb);
  m.vmx.vmwrite32(VMCS.GUEST_SS_SELECTOR, 0x23); m.vmx.vmwrite32(VMCS.GUEST_SS_ACCESS_RIGHTS, 0xc0f3);
  for (const f of [VMCS.GUEST_DS_ACCESS_RIGHTS, VMCS.GUEST_ES_ACCESS_RIGHTS, VMCS.GUEST_FS_ACCESS_RIGHTS, VMCS.GUEST_GS_ACCESS_RIGHTS]) m.vmx.vmwrite32(f, 0xc0f3);
  for (const f of [VMCS.GUEST_DS_SELECTOR, VMCS.GUEST_ES_SELECTOR, VMCS.GUEST_FS_SELECTOR, VMCS.GUEST_GS_SELECTOR]) m.vmx.vmwrite32(f, 0x23);
}

test('privilege first: LGDT and LLDT at CPL 3 raise #GP(0) (intercepted: reason 0), SGDT and SLDT exit', () => {
  for (const [code, reason] of [[[0x0f, 0x01, 0x10], 0], [[0x0f, 0x00, 0xd0], 0], [[0x0f, 0x01, 0x00], GDTR_IDTR], [[0x0f, 0x00, 0xc0], LDTR_TR]] as const) {
    const m = machine();
    guest32(m, [...code]);
    cpl3(m);
    dtExiting(m);
    m.vmx.vmwrite32(VMCS.EXCEPTION_BITMAP, 1 << 13);
    const x = enter(m);
    assert.is(x.status, 'VMsucceed');
    assert.is(x.reason, reason, `${code.map((b) => b.toString(16)).join(' ')}: reason ${x.reason}`);
    if (reason === 0) assert.is(x.intInfo, 0x80000b0d, hx(x.intInfo));
  }
});

test('the hypervisor performs an intercepted SGDT and LTR by stepping the guest over it with the monitor trap flag', () => {
  // SGDT [7000h]; MOV AX, 28h; LTR AX; STR [7010h]; HLT (IF = 0: the run ends). GDT at 5000h with a 32-bit
  // available TSS (type 9) at 28h; LTR marks it busy (type 11) in the GDT (Vol. 2A LTR).
  const code = [0x0f, 0x01, 0x05, 0x00, 0x70, 0x00, 0x00, 0x66, 0xb8, 0x28, 0x00, 0x0f, 0x00, 0xd8, 0x0f, 0x00, 0x0d, 0x10, 0x70, 0x00, 0x00, 0xf4];
  const m = new Machine({ memMiB: 8, maxInstructions: 10_000 });
  m.mem.writeBytes(0x100000, Uint8Array.from(code));
  configurePvhGuest(m.vmx, { rip: 0x100000, rbx: 0 });
  m.mem.write32(0x5010, 0x0000ffff); m.mem.write32(0x5014, 0x00cf9b00);
  m.mem.write32(0x5018, 0x0000ffff); m.mem.write32(0x501c, 0x00cf9300);
  m.mem.write32(0x5028, 0x60000067); m.mem.write32(0x502c, 0x00008900); // base 6000h, limit 67h, P, type 9
  m.vmx.vmwriteNum(VMCS.GUEST_GDTR_BASE, 0x5000); m.vmx.vmwrite32(VMCS.GUEST_GDTR_LIMIT, 0x2f);
  dtExiting(m);
  const r = m.run();
  assert.is(r.stop.kind, 'halted', r.stop.message);
  assert.is(m.mem.read16(0x7000), 0x2f);
  assert.is(m.mem.read32(0x7002), 0x5000);
  assert.is(m.mem.read16(0x7010), 0x28, 'STR stores the selector LTR loaded');
  assert.is((m.mem.read32(0x502c) >>> 8) & 0xf, 11, 'TSS descriptor marked busy');
  assert.is(r.exits.get(GDTR_IDTR), 1);
  assert.is(r.exits.get(LDTR_TR), 2);
  assert.is(r.exits.get(37), 3, 'one MTF VM exit per stepped instruction');
  assert.ok(m.vmx.vmread32(VMCS.SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS) & PROC_BASED2.DESCRIPTOR_TABLE_EXITING, 'control restored');
});

test.run();
