// The local APIC as the guest reaches it through VM exits, with the whole
// hypervisor loop (Machine.run): MOV to/from CR8 (CR8-load/store exiting,
// core/hv/exits/cr-access.ts) and KVM's PV send-IPI hypercall (VMCALL,
// core/hv/exits/vmcall.ts), and the end of the STI shadow when the
// hypervisor completes an instruction for the guest (Machine.skipInstruction).
//
// Expected values:
//  - CR8[3:0] is TPR[7:4]; MOV to CR8 writes TPR[7:4] and clears TPR[3:0]
//    (SDM Vol. 3A 10.8.6.1). MOV to CR8 with a bit of 63:4 set is #GP(0)
//    (Vol. 2B, "MOV—Move to/from Control Registers").
//  - KVM_HC_SEND_IPI = 10: RBX:RCX bitmap of APIC IDs from RDX, RSI the ICR
//    low word, RAX = number of APICs the IPI went to (Linux
//    Documentation/virt/kvm/x86/hypercalls.rst). Other numbers are #UD.
//  - TSC-deadline (Vol. 3A 10.5.4.1): CPUID.01H:ECX[24] advertises it; the
//    deadline is MSR 6E0H; a deadline at or below the TSC fires at once and
//    the MSR then reads 0.
//  - x2APIC (Vol. 3A 10.12): CPUID.01H:ECX[21]; IA32_APIC_BASE (1BH) bit 10
//    switches to x2APIC mode; the SELF IPI register is MSR 83FH (vector in
//    bits 7:0); x2APIC MSRs are #GP outside x2APIC mode.
//  - STI blocks interrupts only until the end of the next instruction (Vol.
//    2B STI; Vol. 3C 25.4.2 blocking by STI): in "STI; HLT" with an
//    interrupt pending, HLT (exiting, completed by the hypervisor) ends the
//    shadow and the interrupt is taken before the instruction after HLT.
// The guest is 64-bit with an IDT whose #GP and #UD gates exit through the
// debug-exit port with the vector: status (vector << 1) | 1.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Machine } from '../../../core/hv/machine.js';
import { Machine as MachineClass } from '../../../core/hv/machine.js';
import { VMCS } from '../../../core/vmx/fields.js';
import { guest64 } from '../../helpers/machine.js';

const RBX = 3;
const GDT = 0x9000, IDT = 0xa000, HANDLERS = 0xb000, STACK = 0x80000;
const APIC_TPR = 0x80, APIC_SVR = 0xf0, APIC_IRR = 0x200;

/** A 64-bit guest running `code`, with a GDT (0x10 = 64-bit code) and #UD/#GP handlers that report their vector. */
function guest(code: number[], x2apic = true): Machine {
  const m = new MachineClass({ memMiB: 8, maxInstructions: 100_000, x2apic });
  guest64(m, [...code,
    0xb0, 0x00, 0xe6, 0xf4, // mov al, 0; out 0xf4, al   (status 1: reached the end)
  ]);
  const mem = m.mem;
  // GDT: null, null, 0x10 = 64-bit code (L = 1, P, S, type 11), 0x18 = data.
  mem.write32(GDT + 0x10, 0x0000ffff); mem.write32(GDT + 0x14, 0x00af9b00);
  mem.write32(GDT + 0x18, 0x0000ffff); mem.write32(GDT + 0x1c, 0x00cf9300);
  for (const vector of [6, 13, 0x81]) {
    const h = HANDLERS + vector * 16;
    mem.writeBytes(h, Uint8Array.of(0xb0, vector & 0x7f, 0xe6, 0xf4, 0xf4)); // mov al, vector & 0x7f; out 0xf4, al; hlt
    const g = IDT + vector * 16; // 64-bit interrupt gate (Vol. 3A 6.14.1): offset, selector 0x10, type 0xE, P
    mem.write32(g, (h & 0xffff) | (0x10 << 16));
    mem.write32(g + 4, (h & 0xffff0000) | 0x8e00);
    mem.write32(g + 8, 0); mem.write32(g + 12, 0);
  }
  const v = m.vmx;
  v.vmwriteNum(VMCS.GUEST_GDTR_BASE, GDT); v.vmwrite32(VMCS.GUEST_GDTR_LIMIT, 0x1f);
  v.vmwriteNum(VMCS.GUEST_IDTR_BASE, IDT); v.vmwrite32(VMCS.GUEST_IDTR_LIMIT, 0xfff);
  v.vmwriteNum(VMCS.GUEST_RSP, STACK);
  m.pc.lapic.write(APIC_SVR, 4, 0x1ff); // software-enabled (10.4.7.2): a disabled APIC drops fixed interrupts
  return m;
}

/** Runs the guest; returns the debug-exit status ((vector & 0x7f) << 1 | 1 from a handler, 1 at the end). */
function runToExit(m: Machine): number {
  const r = m.run();
  assert.is(r.stop.kind, 'exit-code', r.stop.message);
  return (r.stop as { code: number }).code;
}

const movRaxImm = (v: number): number[] => [0x48, 0xc7, 0xc0, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const MOV_CR8_RAX = [0x44, 0x0f, 0x22, 0xc0];
const MOV_RBX_CR8 = [0x44, 0x0f, 0x20, 0xc3];

test('MOV CR8, RAX sets the APIC TPR to RAX << 4 (10.8.6.1), visible at FEE00080H', () => {
  const m = guest([...movRaxImm(0xf), ...MOV_CR8_RAX]);
  m.pc.lapic.write(APIC_TPR, 4, 0x2b);
  assert.is(runToExit(m), 1);
  assert.is(m.pc.lapic.read(APIC_TPR, 4), 0xf0, 'TPR[7:4] = 0xF, TPR[3:0] cleared');
});

test('MOV RBX, CR8 reads TPR[7:4] (the APIC TPR written through MMIO)', () => {
  const m = guest([0x48, 0xc7, 0xc3, 0xff, 0xff, 0xff, 0xff, ...MOV_RBX_CR8]); // mov rbx, -1; mov rbx, cr8
  m.pc.lapic.write(APIC_TPR, 4, 0x5a);
  assert.is(runToExit(m), 1);
  assert.is(m.cpu.lo[RBX], 5);
  assert.is(m.cpu.hi[RBX], 0, 'a 64-bit destination: bits 63:4 are 0');
});

test('MOV CR8 with bit 4 set is #GP(0) and leaves the TPR alone', () => {
  const m = guest([...movRaxImm(0x10), ...MOV_CR8_RAX]);
  m.pc.lapic.write(APIC_TPR, 4, 0x30);
  assert.is(runToExit(m), (13 << 1) | 1);
  assert.is(m.pc.lapic.read(APIC_TPR, 4), 0x30);
});

test('a TPR raised by MOV CR8 holds back an interrupt of a lower class (PPR, 10.8.3.1)', () => {
  // CR8 = 9 (TPR 0x90); vector 0x81 is pending; STI; NOP; the IRR keeps it, ISR stays empty.
  const m = guest([...movRaxImm(9), ...MOV_CR8_RAX, 0xfb, 0x90, 0x90, 0xfa]);
  m.pc.lapic.acceptInterrupt(0x81, false);
  assert.is(runToExit(m), 1);
  assert.is(m.pc.lapic.read(APIC_IRR + 0x40, 4), 1 << 1, 'vector 0x81 still requested');
});

test('STI; HLT with an interrupt pending: taken right after HLT, before the next instruction (the STI shadow ended with HLT)', () => {
  const m = guest([0xfb, 0xf4, 0xfa]); // sti; hlt; cli; then the end (mov al, 0; out 0xf4, al)
  m.pc.lapic.acceptInterrupt(0x81, false);
  assert.is(runToExit(m), (1 << 1) | 1, 'the vector 0x81 handler ran first');
  assert.is(m.pc.lapic.read(0x100 + 0x40, 4), 1 << 1, 'ISR bit 0x81 set: the interrupt was accepted');
});

test('TSC-deadline through CPUID and MSR 6E0H: advertised, a past deadline interrupts at once, the MSR then reads 0', () => {
  const m = guest([
    0xb8, 0x01, 0x00, 0x00, 0x00, 0x0f, 0xa2, 0x41, 0x89, 0xc8, //  mov eax, 1; cpuid; mov r8d, ecx
    0xb9, 0xe0, 0x06, 0x00, 0x00, 0xb8, 0x01, 0x00, 0x00, 0x00, //  mov ecx, 0x6e0; mov eax, 1
    0x31, 0xd2, 0x0f, 0x30, 0x0f, 0x32, 0x48, 0x89, 0xc3, //        xor edx, edx; wrmsr; rdmsr; mov rbx, rax
  ]);
  m.pc.lapic.write(0x320, 4, (2 << 17) | 0xef); // LVT timer: TSC-deadline mode, vector 0xEF
  assert.is(runToExit(m), 1);
  assert.is((m.cpu.lo[8]! >>> 24) & 1, 1, 'CPUID.01H:ECX.TSC_Deadline');
  assert.is(m.cpu.lo[RBX], 0, 'IA32_TSC_DEADLINE reads 0 once the timer fired');
  assert.is(m.pc.lapic.read(APIC_IRR + 0x70, 4), (1 << 15) >>> 0, 'IRR bit 0xEF');
});

test('STI; HLT with nothing pending: the guest halts (HLT activity state, legal once the shadow ended) and the LAPIC timer wakes it', () => {
  const m = guest([0xfb, 0xf4, 0xfa]); // sti; hlt; cli
  m.pc.lapic.write(0x320, 4, 0x81); // LVT timer: one-shot, vector 0x81
  m.pc.lapic.write(0x3e0, 4, 0xb); // divide by 1
  m.pc.lapic.write(0x380, 4, 5000); // expires 5000 bus clocks (instructions) from now
  assert.is(runToExit(m), (1 << 1) | 1, 'the timer interrupt (vector 0x81) ran its handler');
  assert.ok(m.cpu.icount >= 5000, 'virtual time jumped to the timer deadline');
});

test('x2APIC through CPUID and MSRs: advertised; #GP before EXTD; IA32_APIC_BASE[10] set; a SELF IPI reaches its handler', () => {
  const m = guest([
    0xb8, 0x01, 0x00, 0x00, 0x00, 0x0f, 0xa2, 0x41, 0x89, 0xc8, //  mov eax, 1; cpuid; mov r8d, ecx
    0xb9, 0x1b, 0x00, 0x00, 0x00, 0x0f, 0x32, //                    mov ecx, 0x1b; rdmsr
    0x0d, 0x00, 0x04, 0x00, 0x00, 0x0f, 0x30, //                    or eax, 0x400; wrmsr
    0xb9, 0x3f, 0x08, 0x00, 0x00, 0xb8, 0x81, 0x00, 0x00, 0x00, //  mov ecx, 0x83f; mov eax, 0x81
    0x31, 0xd2, 0x0f, 0x30, 0xfb, 0x90, //                          xor edx, edx; wrmsr; sti; nop
  ]);
  assert.is(runToExit(m), (1 << 1) | 1, 'the SELF IPI (vector 0x81) ran its handler');
  assert.is((m.cpu.lo[8]! >>> 21) & 1, 1, 'CPUID.01H:ECX.x2APIC');
  assert.ok(m.pc.lapic.x2apicEnabled);
  assert.is(m.pc.lapic.getApicBase()[0] & 0xc00, 0xc00, 'IA32_APIC_BASE EN | EXTD');

  const before = guest([0xb9, 0x3f, 0x08, 0x00, 0x00, 0xb8, 0x81, 0x00, 0x00, 0x00, 0x31, 0xd2, 0x0f, 0x30]); // WRMSR 83FH in xAPIC mode
  assert.is(runToExit(before), (13 << 1) | 1, '#GP outside x2APIC mode');
});

test('a machine without x2APIC (option x2apic: false): CPUID.01H:ECX.x2APIC = 0, setting IA32_APIC_BASE.EXTD is #GP (Vol. 3A 10.12.1)', () => {
  const m = guest([
    0xb8, 0x01, 0x00, 0x00, 0x00, 0x0f, 0xa2, 0x41, 0x89, 0xc8, //  mov eax, 1; cpuid; mov r8d, ecx
    0xb9, 0x1b, 0x00, 0x00, 0x00, 0x0f, 0x32, //                    mov ecx, 0x1b; rdmsr
    0x0d, 0x00, 0x04, 0x00, 0x00, 0x0f, 0x30, //                    or eax, 0x400; wrmsr  (EXTD: reserved without x2APIC)
  ], false);
  assert.is(runToExit(m), (13 << 1) | 1, '#GP from the WRMSR');
  assert.is((m.cpu.lo[8]! >>> 21) & 1, 0, 'CPUID.01H:ECX.x2APIC clear');
  assert.not.ok(m.pc.lapic.x2apicEnabled);
});

const VMCALL = [0x0f, 0x01, 0xc1];
/** mov eax, nr; mov ebx, b0; xor ecx, ecx; mov edx, min; mov esi, icr; vmcall; mov rbx, rax */
function sendIpi(nr: number, bitmap: number, min: number, icr: number): number[] {
  const imm = (op: number[], v: number): number[] => [...op, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
  return [...imm([0xb8], nr), ...imm([0xbb], bitmap), 0x31, 0xc9, ...imm([0xba], min), ...imm([0xbe], icr), ...VMCALL, 0x48, 0x89, 0xc3];
}

test('KVM_HC_SEND_IPI to APIC ID 0 (bitmap bit 0, min 0): RAX = 1 and the vector enters the IRR', () => {
  const m = guest(sendIpi(10, 1, 0, 0x4000 | 0xf1)); // fixed, assert, vector 0xF1
  assert.is(runToExit(m), 1);
  assert.is(m.cpu.lo[RBX], 1);
  assert.is(m.pc.lapic.read(APIC_IRR + 0x70, 4), 1 << 17, 'IRR bit 0xF1');
});

test('KVM_HC_SEND_IPI whose bitmap misses the APIC (min above every ID, or bit clear): RAX = 0, nothing delivered', () => {
  for (const [bitmap, min] of [[0xffffffff, 0xffffffff], [2, 0]] as const) {
    const m = guest(sendIpi(10, bitmap, min, 0xf1));
    assert.is(runToExit(m), 1);
    assert.is(m.cpu.lo[RBX], 0);
    assert.is(m.pc.lapic.read(APIC_IRR + 0x70, 4), 0);
  }
});

test('VMCALL with any other number is #UD', () => {
  const m = guest(sendIpi(9, 1, 0, 0xf1));
  assert.is(runToExit(m), (6 << 1) | 1);
  assert.is(m.cpu.lo[RBX], 1, 'the instruction after VMCALL did not run');
});

test.run();
