// The monitor trap flag (primary processor-based control bit 27), from Intel
// SDM Vol. 3C 26.5.2 "Monitor Trap Flag":
//  - with the control 1 and no event injected, an MTF VM exit (basic reason
//    37, exit qualification 0) is pending on the boundary after the first
//    instruction; after a fault, after the fault's delivery; after the first
//    iteration of a REP string instruction (RIP still at the instruction);
//  - VM entry injecting a vectored event with the control 1: an MTF VM exit
//    before the first instruction, after the delivery;
//  - VM entry injecting a pending MTF VM exit (type 7, vector 0; 27.6.2):
//    the exit happens before the first instruction even with the control 0;
//  - an event delivered before the first instruction (here an NMI at the
//    NMI input with "NMI exiting" 0): the MTF VM exit follows its delivery;
//  - priority (Vol. 3A 6.9 as VMX extends it): SMI/INIT > MTF > debug traps >
//    VMX-preemption timer > NMI-window exiting > NMI > interrupt window;
//  - an instruction that itself exits (CPUID) gives its own exit, no MTF exit.
// The capability MSR advertises the control (IA32_VMX_PROCBASED_CTLS bit 59).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VMCS } from '../../../core/vmx/fields.js';
import { PIN_BASED, PROC_BASED, MSR, DEFAULT_VMX_CAPABILITIES } from '../../../core/vmx/capabilities.js';
import { RCX, RSI, RDI } from '../../../core/cpu/regs.js';
import { guest32Idt, setControls, enter, CODE_32, STACK_32, HANDLER_32 } from '../../helpers/machine.js';
import type { Machine } from '../../../core/hv/machine.js';

const STACK = STACK_32, HANDLER = HANDLER_32;

/** The guest32Idt guest with gates for NMI (2), #UD (6) and vector 40h. */
function setup(code: number[], handler: number[] = [0x90]): Machine {
  return guest32Idt(code, handler, [2, 6, 0x40]);
}
function proc(m: Machine, set: number, clear = 0): void {
  assert.is(setControls(m, VMCS.PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS, set, clear), 'VMsucceed');
}
const mtf = (m: Machine): void => proc(m, PROC_BASED.MONITOR_TRAP_FLAG);

test('IA32_VMX_PROCBASED_CTLS advertises the monitor trap flag (allowed-1 bit 27)', () => {
  assert.ok(DEFAULT_VMX_CAPABILITIES.read(MSR.IA32_VMX_PROCBASED_CTLS)!.hi & (1 << 27));
  assert.ok(DEFAULT_VMX_CAPABILITIES.canSet('proc', PROC_BASED.MONITOR_TRAP_FLAG));
});

test('MTF: one instruction, then exit 37 with qualification 0 at the next instruction; again after each VMRESUME', () => {
  const m = setup([0x90, 0x40, 0xf4]); // NOP; INC EAX; HLT
  mtf(m);
  m.cpu.lo[0] = 5;
  let x = enter(m);
  assert.is(x.reason, 37);
  assert.is(x.qual, 0);
  assert.is(x.rip, CODE_32 + 1);
  x = enter(m);
  assert.is(x.reason, 37);
  assert.is(x.rip, CODE_32 + 2);
  assert.is(m.cpu.lo[0], 6, 'INC EAX ran once');
});

test('MTF: HLT (without HLT exiting) completes, the MTF VM exit leaves the guest in the HLT activity state', () => {
  const m = setup([0xf4, 0x90]);
  proc(m, PROC_BASED.MONITOR_TRAP_FLAG, PROC_BASED.HLT_EXITING);
  m.vmx.vmwriteNum(VMCS.GUEST_RFLAGS, 0x202);
  const x = enter(m);
  assert.is(x.reason, 37);
  assert.is(x.rip, CODE_32 + 1);
  assert.is(m.vmx.vmread32(VMCS.GUEST_ACTIVITY_STATE), 1);
});

test('MTF: an instruction that exits (CPUID) gives its own exit, not an MTF VM exit', () => {
  const m = setup([0x0f, 0xa2]);
  mtf(m);
  const x = enter(m);
  assert.is(x.reason, 10);
  assert.is(x.rip, CODE_32);
});

test('MTF: a faulting instruction (UD2) - the #UD is delivered, then the MTF VM exit at the handler', () => {
  const m = setup([0x0f, 0x0b]);
  mtf(m);
  const x = enter(m);
  assert.is(x.reason, 37);
  assert.is(x.rip, HANDLER);
  assert.is(m.mem.read32(STACK - 12), CODE_32, 'the #UD frame points at UD2');
  assert.is(x.idtVectoring >>> 31, 0);
});

test('MTF: REP MOVSB stops after its first iteration with RIP at the instruction', () => {
  // F3 A4: ECX = 3, ESI = 7000h, EDI = 7100h. One byte moved, ECX = 2, ESI/EDI + 1, RIP unchanged.
  const m = setup([0xf3, 0xa4, 0xf4]);
  mtf(m);
  m.cpu.lo[RCX] = 3; m.cpu.lo[RSI] = 0x7000; m.cpu.lo[RDI] = 0x7100;
  m.mem.writeBytes(0x7000, Uint8Array.from([0x11, 0x22, 0x33]));
  let x = enter(m);
  assert.is(x.reason, 37);
  assert.is(x.rip, CODE_32);
  assert.is(m.cpu.lo[RCX], 2);
  assert.is(m.cpu.lo[RSI], 0x7001); assert.is(m.cpu.lo[RDI], 0x7101);
  assert.is(m.mem.u8[0x7100], 0x11); assert.is(m.mem.u8[0x7101], 0);
  x = enter(m); assert.is(x.rip, CODE_32); assert.is(m.cpu.lo[RCX], 1);
  // The last iteration completes the instruction: RIP moves on.
  x = enter(m); assert.is(x.rip, CODE_32 + 2); assert.is(m.cpu.lo[RCX], 0);
  assert.equal([...m.mem.u8.subarray(0x7100, 0x7103)], [0x11, 0x22, 0x33]);
});

test('MTF with an injected vectored event: the MTF VM exit comes after the delivery, before the handler\'s first instruction', () => {
  const m = setup([0x90, 0xf4]);
  mtf(m);
  // Software interrupt INT 40h (type 4), instruction length 2.
  m.vmx.vmwrite32(VMCS.VM_ENTRY_INTERRUPTION_INFORMATION, 0x80000440);
  m.vmx.vmwrite32(VMCS.VM_ENTRY_INSTRUCTION_LENGTH, 2);
  const x = enter(m);
  assert.is(x.reason, 37);
  assert.is(x.rip, HANDLER);
  assert.is(m.mem.read32(STACK - 12), CODE_32 + 2, 'return address past the (notional) INT instruction');
});

test('injection of a pending MTF VM exit (type 7, vector 0): exit 37 before any instruction, even with the control 0', () => {
  const m = setup([0x90, 0xf4]);
  m.vmx.vmwrite32(VMCS.VM_ENTRY_INTERRUPTION_INFORMATION, 0x80000700);
  const x = enter(m);
  assert.is(x.reason, 37, `reason ${x.reason}`);
  assert.is(x.rip, CODE_32);
  assert.is(m.vmx.vmread32(VMCS.VM_ENTRY_INTERRUPTION_INFORMATION) >>> 31, 0);
});

test('a pending MTF VM exit wakes a guest in the HLT activity state (27.3.1.5 allows type 7 there)', () => {
  const m = setup([0x90]);
  m.vmx.vmwrite32(VMCS.GUEST_ACTIVITY_STATE, 1);
  m.vmx.vmwrite32(VMCS.VM_ENTRY_INTERRUPTION_INFORMATION, 0x80000700);
  const x = enter(m);
  assert.is(x.reason, 37);
});

test('MTF after an NMI delivered before the first instruction (NMI exiting 0)', () => {
  const m = setup([0x90, 0xf4]);
  const pin = m.vmx.vmread32(VMCS.PIN_BASED_VM_EXECUTION_CONTROLS);
  m.vmx.vmwrite32(VMCS.PIN_BASED_VM_EXECUTION_CONTROLS, pin & ~(PIN_BASED.NMI_EXITING | PIN_BASED.VIRTUAL_NMIS));
  mtf(m);
  m.cpu.nmiPending = true;
  const x = enter(m);
  assert.is(x.reason, 37);
  assert.is(x.rip, HANDLER);
  assert.is(m.vmx.vmread32(VMCS.GUEST_INTERRUPTIBILITY_STATE), 8);
});

test('priority: after IRET both an MTF VM exit and an NMI-window exit are pending - MTF wins; the NMI window follows', () => {
  const m = setup([0xcf, 0x90, 0xf4]); // IRET to CODE+1
  m.mem.write32(STACK, CODE_32 + 1); m.mem.write32(STACK + 4, 0x10); m.mem.write32(STACK + 8, 0x2);
  proc(m, PROC_BASED.MONITOR_TRAP_FLAG | PROC_BASED.NMI_WINDOW_EXITING);
  m.vmx.vmwrite32(VMCS.GUEST_INTERRUPTIBILITY_STATE, 8); // virtual-NMI blocking until the IRET
  let x = enter(m);
  assert.is(x.reason, 37);
  assert.is(x.rip, CODE_32 + 1);
  x = enter(m);
  assert.is(x.reason, 8, 'NMI-window exit before the next instruction');
  assert.is(x.rip, CODE_32 + 1);
});

test('priority: NMI-window exiting at the first boundary comes before any instruction (no MTF VM exit pending yet)', () => {
  const m = setup([0x90, 0xf4]);
  proc(m, PROC_BASED.MONITOR_TRAP_FLAG | PROC_BASED.NMI_WINDOW_EXITING);
  const x = enter(m);
  assert.is(x.reason, 8);
  assert.is(x.rip, CODE_32);
});

test('priority: the MTF VM exit comes before the VMX-preemption timer that expires on the same boundary', () => {
  const m = setup([0x90, 0x90, 0xf4]);
  mtf(m);
  m.vmx.vmwrite32(VMCS.PIN_BASED_VM_EXECUTION_CONTROLS, m.vmx.vmread32(VMCS.PIN_BASED_VM_EXECUTION_CONTROLS) | PIN_BASED.ACTIVATE_VMX_PREEMPTION_TIMER);
  m.vmx.vmwrite32(VMCS.VMX_PREEMPTION_TIMER_VALUE, 0);
  m.vmx.vmwrite32(VMCS.VM_ENTRY_INTERRUPTION_INFORMATION, 0x80000700);
  const x = enter(m);
  assert.is(x.reason, 37);
});

test.run();
