// NMIs raised by the platform reach the guest the way KVM delivers them:
// the local APIC (an NMI IPI - here a self-NMI through the ICR - or LINT1 in
// NMI delivery mode) latches an NMI in the hypervisor, Machine.prepareEntry
// injects it (VM-entry interruption information 80000202H: vector 2, type 2
// NMI, valid; SDM Vol. 3C 25.8.3, 27.6.1.2) when the guest does not block
// NMIs, and otherwise turns on "NMI-window exiting" so the guest exits
// (reason 8, Vol. 3C 26.7.6) as soon as its IRET removes virtual-NMI
// blocking (Vol. 3C 26.3).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Machine } from '../../../core/hv/machine.js';
import { configurePvhGuest } from '../../../core/hv/setup.js';
import { VMCS } from '../../../core/vmx/fields.js';
import type { TraceEvent, IrqEvent } from '../../../core/hv/events.js';

const CODE = 0x100000, HANDLER = CODE + 0x16, GDT = 0x5000, IDT = 0x6000, COUNT = 0x7000, AFTER = 0x7004;
// main:    movl $0x1ff, 0xfee000f0      (SVR: APIC software-enabled)
//          movl $0x44400, 0xfee00300    (ICR: destination shorthand self, delivery mode NMI, assert)
//          nop
//          hlt                          (IF = 0: the run ends)
// handler: incl COUNT; cmpl $1, COUNT; jne 1f
//          movl $0x44400, 0xfee00300    (nested self-NMI: the guest blocks NMIs until IRET)
//          nop; incl AFTER
//       1: iret
const PROGRAM = [
  0xc7, 0x05, 0xf0, 0x00, 0xe0, 0xfe, 0xff, 0x01, 0x00, 0x00,
  0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x00, 0x44, 0x04, 0x00,
  0x90, 0xf4,
  0xff, 0x05, 0x00, 0x70, 0x00, 0x00,
  0x83, 0x3d, 0x00, 0x70, 0x00, 0x00, 0x01,
  0x75, 0x11,
  0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x00, 0x44, 0x04, 0x00,
  0x90,
  0xff, 0x05, 0x04, 0x70, 0x00, 0x00,
  0xcf,
];

function build(events: TraceEvent[]): Machine {
  const m = new Machine({ memMiB: 8, maxInstructions: 100_000, sink: { event: (e) => events.push(e) } });
  m.mem.writeBytes(CODE, Uint8Array.from(PROGRAM));
  configurePvhGuest(m.vmx, { rip: CODE, rbx: 0 });
  m.mem.write32(GDT + 0x10, 0x0000ffff); m.mem.write32(GDT + 0x14, 0x00cf9b00);
  m.mem.write32(GDT + 0x18, 0x0000ffff); m.mem.write32(GDT + 0x1c, 0x00cf9300);
  m.mem.write32(IDT + 16, (0x10 << 16) | (HANDLER & 0xffff)); m.mem.write32(IDT + 20, (HANDLER & 0xffff0000) | 0x8e00);
  m.vmx.vmwriteNum(VMCS.GUEST_GDTR_BASE, GDT); m.vmx.vmwrite32(VMCS.GUEST_GDTR_LIMIT, 0x27);
  m.vmx.vmwriteNum(VMCS.GUEST_IDTR_BASE, IDT); m.vmx.vmwrite32(VMCS.GUEST_IDTR_LIMIT, 0x7ff);
  m.vmx.vmwriteNum(VMCS.GUEST_RSP, 0x8000);
  return m;
}

test('self-NMI through the ICR: injected at the next entry; a nested one waits for IRET through an NMI-window exit', () => {
  const events: TraceEvent[] = [];
  const m = build(events);
  const r = m.run();
  assert.is(r.stop.kind, 'halted', r.stop.message);
  assert.is(m.mem.read32(COUNT), 2, 'the NMI handler ran twice');
  assert.is(m.mem.read32(AFTER), 1, 'the nested NMI did not interrupt the first handler');
  assert.is(r.exits.get(8), 1, 'one NMI-window exit');
  const nmis = events.filter((e): e is IrqEvent => e.kind === 'irq' && e.type === 2);
  assert.is(nmis.length, 2);
  assert.ok(nmis.every((e) => e.vector === 2));
  // The first NMI is injected right after the ICR write (the NOP at CODE + 20); the nested one at the
  // IRET's return address, which is that same NOP.
  assert.is(nmis[0]!.rip, CODE + 20);
  assert.is(nmis[1]!.rip, CODE + 20);
  // The NMI window is closed again once nothing is pending.
  assert.is(m.vmx.vmread32(VMCS.PRIMARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS) & (1 << 22), 0);
});

test('two recordings of the NMI guest are identical (determinism)', () => {
  const a: TraceEvent[] = [], b: TraceEvent[] = [];
  build(a).run(); build(b).run();
  assert.equal(a, b);
});

test('HLT with interrupts disabled but an NMI pending: the NMI is injected instead of ending the run', () => {
  // HLT; HLT at CODE; the handler stores 1 at COUNT and returns. The NMI is raised before the first entry
  // (VMLAUNCH injects nothing); the first HLT exits, the handler sees it pending and the next entry injects it.
  const events: TraceEvent[] = [];
  const m = build(events);
  m.mem.writeBytes(CODE, Uint8Array.from([0xf4, 0xf4]));
  m.mem.writeBytes(HANDLER, Uint8Array.from([0xc7, 0x05, 0x00, 0x70, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xcf]));
  m.raiseNmi();
  const r = m.run();
  assert.is(r.stop.kind, 'halted', r.stop.message);
  assert.match(r.stop.message, /interrupts disabled/);
  assert.is(m.mem.read32(COUNT), 1);
  const nmis = events.filter((e): e is IrqEvent => e.kind === 'irq' && e.type === 2);
  assert.is(nmis.length, 1);
  assert.is(nmis[0]!.rip, CODE + 1, 'injected after the first HLT');
  assert.is(r.exits.get(12), 2);
});

test('LINT1 in NMI delivery mode (the virtual-wire reset state) latches an NMI for injection on each rising edge', () => {
  const m = new Machine({ memMiB: 8 });
  m.pc.lapic.setLint(1, true);
  assert.ok(m.nmiPending, 'virtual-wire reset state: LINT1 is the NMI input');
  m.nmiPending = false;
  m.pc.lapic.setLint(1, false);
  m.pc.lapic.setLint(1, true);
  assert.ok(m.nmiPending, 'a new rising edge');
});

test.run();
