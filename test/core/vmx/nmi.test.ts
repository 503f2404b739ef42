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
import { machine, guest32Idt, setControls, enter, hx, CODE_32, STACK_32, HANDLER_32 } from '../../helpers/machine.js';
import type { Machine } from '../../../core/hv/machine.js';

const STACK = STACK_32, HANDLER = HANDLER_32;
const CPUID = [0x0f, 0xa2], IRET = [0xcf], NOP = [0x90], HLT = [0xf4];

/** The guest32Idt guest with an interrupt gate for vector 2 (NMI). */
function nmiGuest(code: number[], handler: number[]): Machine {
  return guest32Idt(code, handler, [2]);
}
const intr = (m: Machine): number => m.vmx.vmread32(VMCS.GUEST_INTERRUPTIBILITY_STATE);
function setProc(m: Machine, set: number, clear = 0): void {
  assert.is(setControls(m, VMCS.PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, set, clear), 'VMsucceed');
}
function setPin(m: Machine, set: number, clear = 0): void {
  setControls(m, VMCS.PIN_BASED_VM_EXECUTION_CONTROLS, set, clear);
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
