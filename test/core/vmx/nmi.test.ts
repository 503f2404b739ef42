// The NMI model of VMX non-root operation, driven the way a hypervisor
// drives it (VMWRITE, VMLAUNCH/VMRESUME, VMREAD). Expected values come from
// the Intel SDM, cited at each case:
//  - Vol. 3C Table "Format of Interruptibility State" (25.4.2): bit 0
//    blocking by STI, bit 1 blocking by MOV SS, bit 3 blocking by NMI - which
//    with the "virtual NMIs" control means virtual-NMI blocking.
//  - Vol. 3C 27.6.1.2: VM entry injecting an NMI (interruption type 2,
//    vector 2) blocks NMIs, or sets virtual-NMI blocking with "virtual NMIs".
//  - Vol. 3C 26.3 (IRET): with "NMI exiting" 0 IRET unblocks NMIs; with
//    "NMI exiting" 1 it leaves NMI blocking alone unless "virtual NMIs" is 1,
//    when it removes virtual-NMI blocking - even if the IRET faults.
//  - Vol. 3C 26.7.6 "NMI-Window Exiting": reason 8 before an instruction when
//    there is no virtual-NMI blocking and no blocking by MOV SS (or, as this
//    processor does, STI).
//  - Vol. 3C 26.2: with "NMI exiting" an NMI causes a VM exit, reason 0, with
//    VM-exit interruption information vector 2 | type 2 << 8 | valid
//    = 80000202H (28.2.2); with "NMI exiting" 0 it is delivered through the
//    guest IDT (vector 2) and blocks NMIs (Vol. 3A 6.7.1).
//  - Vol. 3C 28.2.2: bit 12 of the VM-exit interruption information is set
//    when the exit is due to a fault on an IRET that removed (virtual-)NMI
//    blocking; undefined with "NMI exiting" 1 and "virtual NMIs" 0.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VMCS } from '../../../core/vmx/fields.js';
import { PIN_BASED, PROC_BASED } from '../../../core/vmx/capabilities.js';
import { machine, guest32, enter, hx, CODE_32 } from '../../helpers/machine.js';
import type { Machine } from '../../../core/hv/machine.js';

const GDT = 0x5000, IDT = 0x6000, STACK = 0x8000, HANDLER = 0x200000;
const CPUID = [0x0f, 0xa2], IRET = [0xcf], NOP = [0x90], HLT = [0xf4];

/** 32-bit guest with its own GDT (flat code 10h, data 18h) and an IDT whose vector 2 is an interrupt gate to HANDLER. */
function nmiGuest(code: number[], handler: number[]): Machine {
  const m = machine();
  guest32(m, code);
  const mem = m.mem;
  mem.fill(GDT, 0x28, 0);
  mem.write32(GDT + 0x10, 0x0000ffff); mem.write32(GDT + 0x14, 0x00cf9b00); // code, execute/read, accessed, 32-bit, G
  mem.write32(GDT + 0x18, 0x0000ffff); mem.write32(GDT + 0x1c, 0x00cf9300); // data, read/write, accessed
  mem.fill(IDT, 0x800, 0);
  // 32-bit interrupt gate (type 14, P = 1, DPL 0) to 10h:HANDLER (Vol. 3A Figure "IDT Gate Descriptors").
  mem.write32(IDT + 2 * 8, (0x10 << 16) | (HANDLER & 0xffff));
  mem.write32(IDT + 2 * 8 + 4, (HANDLER & 0xffff0000) | 0x8e00);
  mem.writeBytes(HANDLER, Uint8Array.from(handler));
  const v = m.vmx;
  v.vmwriteNum(VMCS.GUEST_GDTR_BASE, GDT); v.vmwrite32(VMCS.GUEST_GDTR_LIMIT, 0x27);
  v.vmwriteNum(VMCS.GUEST_IDTR_BASE, IDT); v.vmwrite32(VMCS.GUEST_IDTR_LIMIT, 0x7ff);
  v.vmwriteNum(VMCS.GUEST_RSP, STACK);
  return m;
}
const intr = (m: Machine): number => m.vmx.vmread32(VMCS.GUEST_INTERRUPTIBILITY_STATE);
function setProc(m: Machine, set: number, clear = 0): void {
  const v = m.vmx.vmread32(VMCS.PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS);
  m.vmx.vmwrite32(VMCS.PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, ((v | set) & ~clear) >>> 0);
  assert.is(m.vmx.status, 'VMsucceed');
}
function setPin(m: Machine, set: number, clear = 0): void {
  const v = m.vmx.vmread32(VMCS.PIN_BASED_VM_EXECUTION_CONTROLS);
  m.vmx.vmwrite32(VMCS.PIN_BASED_VM_EXECUTION_CONTROLS, ((v | set) & ~clear) >>> 0);
}
function skip(m: Machine): void {
  m.vmx.vmwriteNum(VMCS.GUEST_RIP, m.vmx.vmreadNum(VMCS.GUEST_RIP) + m.vmx.vmread32(VMCS.VM_EXIT_INSTRUCTION_LENGTH));
}

test('the hypervisor runs its guests with NMI exiting and virtual NMIs (KVM\'s configuration)', () => {
  const m = machine();
  const pin = m.vmx.vmread32(VMCS.PIN_BASED_VM_EXECUTION_CONTROLS);
  assert.ok(pin & PIN_BASED.NMI_EXITING); assert.ok(pin & PIN_BASED.VIRTUAL_NMIS);
});

test('injected NMI: delivered through IDT vector 2, virtual-NMI blocking (bit 3) until IRET, then the NMI-window exit', () => {
  const m = nmiGuest([...NOP, ...HLT], [...CPUID, ...IRET]);
  m.vmx.vmwrite32(VMCS.VM_ENTRY_INTERRUPTION_INFORMATION, 0x80000202);
  let x = enter(m);
  assert.is(x.reason, 10, 'CPUID in the NMI handler');
  assert.is(x.rip, HANDLER);
  assert.is(intr(m), 8, 'virtual-NMI blocking after the injected NMI');
  // The frame: EIP = the guest RIP the NMI interrupted (CODE_32), CS 10h; IF cleared by the interrupt gate.
  assert.is(m.mem.read32(STACK - 12), CODE_32);
  assert.is(m.mem.read32(STACK - 8), 0x10);
  // The valid bit of the VM-entry interruption information is cleared by the exit (28.2.3... 27.6.1).
  assert.is(m.vmx.vmread32(VMCS.VM_ENTRY_INTERRUPTION_INFORMATION) >>> 31, 0);
  skip(m);
  setProc(m, PROC_BASED.NMI_WINDOW_EXITING);
  x = enter(m);
  // IRET removed virtual-NMI blocking: the NMI-window exit comes before the next instruction (the NOP at CODE_32).
  assert.is(x.reason, 8, `reason ${x.reason}`);
  assert.is(x.qual, 0);
  assert.is(x.rip, CODE_32);
  assert.is(intr(m), 0);
});

test('NMI-window exiting with nothing blocking: exit before the first instruction', () => {
  const m = nmiGuest([...NOP, ...HLT], []);
  setProc(m, PROC_BASED.NMI_WINDOW_EXITING);
  const x = enter(m);
  assert.is(x.reason, 8);
  assert.is(x.rip, CODE_32);
});

test('NMI-window exiting: virtual-NMI blocking, blocking by STI and by MOV SS each hold the exit back', () => {
  // Virtual-NMI blocking and no IRET: no NMI-window exit at all; the HLT exits (reason 12).
  let m = nmiGuest([...NOP, ...HLT], []);
  setProc(m, PROC_BASED.NMI_WINDOW_EXITING);
  m.vmx.vmwrite32(VMCS.GUEST_INTERRUPTIBILITY_STATE, 8);
  let x = enter(m);
  assert.is(x.reason, 12);
  assert.is(intr(m), 8, 'still blocked');
  // Blocking by STI (bit 0, RFLAGS.IF = 1) or MOV SS (bit 1) covers the first instruction only.
  for (const bit of [1, 2]) {
    m = nmiGuest([...NOP, ...HLT], []);
    setProc(m, PROC_BASED.NMI_WINDOW_EXITING);
    m.vmx.vmwriteNum(VMCS.GUEST_RFLAGS, 0x202);
    m.vmx.vmwrite32(VMCS.GUEST_INTERRUPTIBILITY_STATE, bit);
    x = enter(m);
    assert.is(x.reason, 8, `blocking ${bit}`);
    assert.is(x.rip, CODE_32 + 1, 'after the NOP in the shadow');
  }
});

test('NMI exiting: an NMI at the processor\'s NMI input is an exit with reason 0 and interruption information 80000202H', () => {
  const m = nmiGuest([...NOP, ...HLT], []);
  m.cpu.nmiPending = true;
  const x = enter(m);
  assert.is(x.reason, 0);
  assert.is(x.intInfo, 0x80000202, hx(x.intInfo));
  assert.is(x.qual, 0);
  assert.is(x.len, 0);
  assert.is(x.rip, CODE_32);
  assert.is(x.idtVectoring >>> 31, 0);
  assert.is(m.cpu.nmiPending, false, 'the NMI was taken');
});

test('NMI exiting with virtual NMIs: virtual-NMI blocking does not block a physical NMI', () => {
  const m = nmiGuest([...NOP, ...HLT], []);
  m.vmx.vmwrite32(VMCS.GUEST_INTERRUPTIBILITY_STATE, 8);
  m.cpu.nmiPending = true;
  const x = enter(m);
  assert.is(x.reason, 0);
  assert.is(intr(m), 8, 'the guest\'s virtual-NMI blocking is unchanged by the exit');
});

test('NMI exiting without virtual NMIs: blocking by NMI holds the NMI pending, and IRET does not unblock', () => {
  // IRET to CODE_32+1 (frame prepared on the stack), then HLT.
  const m = nmiGuest([...IRET, ...HLT], []);
  setPin(m, 0, PIN_BASED.VIRTUAL_NMIS);
  m.mem.write32(STACK, CODE_32 + 1); m.mem.write32(STACK + 4, 0x10); m.mem.write32(STACK + 8, 0x2);
  m.vmx.vmwrite32(VMCS.GUEST_INTERRUPTIBILITY_STATE, 8);
  m.cpu.nmiPending = true;
  const x = enter(m);
  assert.is(x.reason, 12, `reason ${x.reason}: no NMI exit while NMIs are blocked`);
  assert.is(x.rip, CODE_32 + 1);
  assert.is(intr(m), 8, 'IRET left blocking by NMI alone (26.3)');
  assert.is(m.cpu.nmiPending, true);
});

test('NMI exiting 0: the NMI goes through the guest IDT, blocks NMIs, and a second one waits for IRET', () => {
  const m = nmiGuest([...NOP, ...HLT], [...CPUID, ...NOP, ...IRET]);
  setPin(m, 0, PIN_BASED.NMI_EXITING | PIN_BASED.VIRTUAL_NMIS);
  m.cpu.nmiPending = true;
  let x = enter(m);
  assert.is(x.reason, 10);
  assert.is(x.rip, HANDLER);
  assert.is(intr(m), 8, 'blocking by NMI');
  assert.is(m.mem.read32(STACK - 12), CODE_32, 'NMI taken before the first instruction');
  // A second NMI now: held through the NOP, recognized right after IRET, whose return address it pushes.
  m.cpu.nmiPending = true;
  skip(m);
  x = enter(m);
  assert.is(x.reason, 10);
  assert.is(x.rip, HANDLER);
  assert.is(m.mem.read32(STACK - 12), CODE_32, 'the frame of the second NMI returns where IRET went, not into the handler');
  assert.is(intr(m), 8);
});

test('a fault on an IRET that removed virtual-NMI blocking sets bit 12 ("NMI unblocking due to IRET"); saved blocking is 0', () => {
  // The IRET frame's CS is the null selector: #GP(0) (Vol. 2A IRET), intercepted through the exception bitmap.
  // Interruption information: 13 | 3 << 8 | error code valid (bit 11) | bit 12 | valid = 80001B0DH.
  for (const blocked of [true, false]) {
    const m = nmiGuest([...IRET, ...HLT], []);
    m.mem.fill(STACK, 12, 0);
    m.vmx.vmwrite32(VMCS.EXCEPTION_BITMAP, 1 << 13);
    m.vmx.vmwrite32(VMCS.GUEST_INTERRUPTIBILITY_STATE, blocked ? 8 : 0);
    const x = enter(m);
    assert.is(x.reason, 0);
    assert.is(x.intInfo, blocked ? 0x80001b0d : 0x80000b0d, hx(x.intInfo));
    assert.is(m.vmx.vmread32(VMCS.VM_EXIT_INTERRUPTION_ERROR_CODE), 0);
    assert.is(x.rip, CODE_32, 'RIP still at the IRET');
    assert.is(intr(m), 0, 'the unblocking stands though IRET faulted');
  }
});

test('a fault on IRET with NMI exiting 1 and virtual NMIs 0 leaves bit 12 clear and NMIs blocked', () => {
  const m = nmiGuest([...IRET, ...HLT], []);
  setPin(m, 0, PIN_BASED.VIRTUAL_NMIS);
  m.mem.fill(STACK, 12, 0);
  m.vmx.vmwrite32(VMCS.EXCEPTION_BITMAP, 1 << 13);
  m.vmx.vmwrite32(VMCS.GUEST_INTERRUPTIBILITY_STATE, 8);
  const x = enter(m);
  assert.is(x.intInfo, 0x80000b0d, hx(x.intInfo));
  assert.is(intr(m), 8);
});

test('an NMI whose delivery faults is reported in the IDT-vectoring information and blocks nothing', () => {
  // IDT limit 0: delivering the injected NMI raises #GP (error code 2 * 8 + 2 + EXT = 13h, Vol. 3A 6.13),
  // intercepted: IDT-vectoring information = the NMI (80000202H, 28.2.3); bit 3 stays 0 - never delivered.
  const m = nmiGuest([...NOP, ...HLT], []);
  m.vmx.vmwrite32(VMCS.GUEST_IDTR_LIMIT, 0);
  m.vmx.vmwrite32(VMCS.EXCEPTION_BITMAP, 1 << 13);
  m.vmx.vmwrite32(VMCS.VM_ENTRY_INTERRUPTION_INFORMATION, 0x80000202);
  const x = enter(m);
  assert.is(x.reason, 0);
  assert.is(x.intInfo & 0xfff, 0xb0d, hx(x.intInfo));
  assert.is(m.vmx.vmread32(VMCS.VM_EXIT_INTERRUPTION_ERROR_CODE), 0x13);
  assert.is(x.idtVectoring, 0x80000202, hx(x.idtVectoring));
  assert.is(intr(m) & 8, 0);
});

test('an injected NMI wakes a guest in the HLT activity state', () => {
  const m = nmiGuest([...HLT], [...CPUID]);
  m.vmx.vmwrite32(VMCS.GUEST_ACTIVITY_STATE, 1);
  m.vmx.vmwrite32(VMCS.VM_ENTRY_INTERRUPTION_INFORMATION, 0x80000202);
  const x = enter(m);
  assert.is(x.reason, 10);
  assert.is(m.vmx.vmread32(VMCS.GUEST_ACTIVITY_STATE), 0);
});

test.run();
