// The MMIO emulator inside the hypervisor loop: a Machine (core/hv) whose
// EPT maps only guest RAM, a guest touching a guest-physical address above
// RAM, and a test-local copy of the EPT-violation handler that calls
// emulateMmio against a fake device instead of stopping the run (the real
// handler, core/hv/exits/ept-violation.ts, is rewired later).
//
// Expected behaviour from the SDM: an access to a guest-physical address
// EPT does not map is an EPT violation (Vol. 3C 29.3.3.2), exit reason 48
// (Appendix C), fault-like: guest RIP still points at the instruction
// (Vol. 3C 28.3.3); the exit-qualification bit 0/1 says read/write
// (Table "Exit Qualification for EPT Violations"). The handler completes
// the instruction and advances RIP by the length it decoded.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Machine, Stop } from '../../../core/hv/machine.js';
import { VMCS } from '../../../core/vmx/fields.js';
import { EXIT_REASON } from '../../../core/vmx/exit-reasons.js';
import { emulateMmio, type MmioBus } from '../../../core/mmio/emulator.js';
import { MachineGuestAccess, guestMode } from '../../../core/mmio/machine.js';
import { FakeDevice } from '../../../properties/mmio/guest.js';
import { machine, guest32, guest64, enter, CODE_32, CODE_64, PDPT } from '../../helpers/machine.js';

const RAX = 0, RCX = 1, RBX = 3;

/** Test-local EPT-violation handler: what core/hv/exits/ept-violation.ts will do with a device bus. */
function eptViolationMmio(m: Machine, bus: MmioBus): Stop | void {
  const r = emulateMmio(new MachineGuestAccess(m), bus, guestMode(m));
  switch (r.kind) {
    case 'done': case 'partial': return;
    case 'exception':
      if (r.vector === 14) m.cpu.cr2 = r.cr2;
      m.injectException(r.vector, r.errorCode);
      return;
    case 'stop': return { kind: 'error', message: r.message };
  }
}

/** Run the guest through EPT violations (handled by the local handler) until another exit; returns it and the handled exits. */
function runUntilOther(m: Machine, bus: MmioBus): { reason: number; mmioExits: { qual: number; gpa: number; rip: number }[]; stop?: Stop } {
  const mmioExits: { qual: number; gpa: number; rip: number }[] = [];
  for (let k = 0; k < 20; k++) {
    const x = enter(m);
    assert.is(x.status, 'VMsucceed');
    if ((x.reason & 0xffff) !== EXIT_REASON.EPT_VIOLATION) return { reason: x.reason & 0xffff, mmioExits };
    mmioExits.push({ qual: x.qual, gpa: x.gpa, rip: x.rip });
    const s = eptViolationMmio(m, bus);
    if (s) return { reason: x.reason & 0xffff, mmioExits, stop: s };
  }
  throw new Error('too many exits');
}

test('32-bit guest, paging off: mov eax, [0xd0000000] and mov dword [0xd0000004], imm complete against the device', () => {
  const m = machine(8);
  guest32(m, [
    0xa1, 0x00, 0x00, 0x00, 0xd0, //                       mov eax, [0xd0000000]
    0x89, 0xc3, //                                         mov ebx, eax
    0xc7, 0x05, 0x04, 0x00, 0x00, 0xd0, 0x78, 0x56, 0x34, 0x12, // mov dword [0xd0000004], 0x12345678
    0xf4, //                                               hlt
  ]);
  const dev = new FakeDevice(() => [0xcafef00d | 0, 0]);
  const r = runUntilOther(m, dev);
  assert.is(r.reason, EXIT_REASON.HLT);
  assert.equal(r.mmioExits.map((e) => [e.gpa, e.rip, e.qual & 3]), [[0xd0000000, CODE_32, 1], [0xd0000004, CODE_32 + 7, 2]]);
  assert.equal(dev.log.map((a) => [a.write, a.gpa, a.size, a.lo >>> 0]), [[false, 0xd0000000, 4, 0xcafef00d], [true, 0xd0000004, 4, 0x12345678]]);
  assert.is(m.cpu.lo[RBX]! >>> 0, 0xcafef00d);
  assert.is(m.vmx.vmreadNum(VMCS.GUEST_RIP), CODE_32 + 17); // HLT exits before the instruction completes
});

test('64-bit guest with paging: a 1-GiB page maps linear 0xc0000000 to a GPA with no RAM; mov rax, [rbx] and rep movsd to RAM', () => {
  const m = machine(8);
  guest64(m, [
    0x48, 0xbb, 0x10, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, // mov rbx, 0xc0000010
    0x48, 0x8b, 0x03, //                                          mov rax, [rbx]
    0x48, 0xbe, 0x00, 0x01, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, // mov rsi, 0xc0000100
    0x48, 0xbf, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, // mov rdi, 0x200000
    0xb9, 0x04, 0x00, 0x00, 0x00, //                              mov ecx, 4
    0xfc, //                                                      cld
    0xf3, 0xa5, //                                                rep movsd
    0xf4, //                                                      hlt
  ]);
  m.mem.write32(PDPT + 3 * 8, 0xc0000000 | 0x83); // PDPT[3]: 1-GiB page, P | RW | PS (Vol. 3A Table 4-16)
  let n = 0;
  const dev = new FakeDevice((gpa, size) => (size === 8 ? [0x11223344, 0x55667788] : [0xa0 + n++, gpa]));
  const r = runUntilOther(m, dev);
  assert.is(r.reason, EXIT_REASON.HLT);
  assert.equal(r.mmioExits.map((e) => e.gpa), [0xc0000010, 0xc0000100]);
  assert.equal([m.cpu.lo[RAX]! >>> 0, m.cpu.hi[RAX]! >>> 0], [0x11223344, 0x55667788]);
  assert.equal([0, 4, 8, 12].map((k) => m.mem.read32(0x200000 + k)), [0xa0, 0xa1, 0xa2, 0xa3]);
  assert.is(m.cpu.lo[RCX], 0);
  assert.equal(dev.log.map((a) => [a.gpa, a.size]), [[0xc0000010, 8], [0xc0000100, 4], [0xc0000104, 4], [0xc0000108, 4], [0xc000010c, 4]]);
  assert.is(m.vmx.vmreadNum(VMCS.GUEST_RIP), CODE_64 + 41); // at the HLT
});

test('rep movsb from MMIO over code already decoded: RAM writes mark the page dirty and drop the decoded block', () => {
  const m = machine(8);
  const B = CODE_32 + 7;
  guest32(m, [
    0xbb, 0x00, 0x00, 0x00, 0x00, //                                 mov ebx, 0
    0xeb, 0x00, //                                                    jmp B (so that a decoded block starts at B)
    0x90, //                                                          B: nop (becomes hlt)
    0x85, 0xdb, //                                                    test ebx, ebx
    0x75, 0x14, //                                                    jnz out
    0x43, //                                                          inc ebx
    0xbe, 0x00, 0x00, 0x00, 0xd0, //                                 mov esi, 0xd0000000
    0xbf, B & 0xff, (B >>> 8) & 0xff, (B >>> 16) & 0xff, B >>> 24, // mov edi, B
    0xb9, 0x01, 0x00, 0x00, 0x00, //                                 mov ecx, 1
    0xf3, 0xa4, //                                                    rep movsb (MMIO -> the nop at B)
    0xeb, 0xe7, //                                                    jmp B (block B was decoded before the patch)
    0xb8, 0x01, 0x00, 0x00, 0x00, //                                 out: mov eax, 1
    0xf4, //                                                          hlt
  ]);
  m.mem.dirty.fill(0);
  const r = runUntilOther(m, new FakeDevice(() => [0xf4, 0]));
  assert.is(r.reason, EXIT_REASON.HLT);
  assert.is(m.vmx.vmreadNum(VMCS.GUEST_RIP), B, 'the patched byte ran, not the stale decoded nop');
  assert.is(m.cpu.lo[RAX], 0);
  assert.is(m.mem.dirty[B >>> 12], 1);
});

test('an instruction the emulator does not handle stops the run with a message naming RIP and bytes', () => {
  const m = machine(8);
  guest32(m, [0x0f, 0xc7, 0x0d, 0x00, 0x00, 0x00, 0xd0, 0xf4]); // cmpxchg8b [0xd0000000]
  const r = runUntilOther(m, new FakeDevice());
  assert.is(r.reason, EXIT_REASON.EPT_VIOLATION);
  assert.ok(r.stop && r.stop.message.includes('RIP 0x100000') && r.stop.message.includes('0f c7 0d 00 00 00 d0'), r.stop?.message);
});

test('64-bit guest: smsw [rbx] to MMIO stores CR0[15:0] as the guest reads it (guest/host mask bits from the read shadow, Vol. 3C 25.6.6)', () => {
  const m = machine(8);
  guest64(m, [
    0x48, 0xbb, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, // mov rbx, 0xc0000000
    0x0f, 0x01, 0x23, //                                          smsw [rbx]
    0xf4, //                                                      hlt
  ]);
  m.mem.write32(PDPT + 3 * 8, 0xc0000000 | 0x83); // PDPT[3]: 1-GiB page at GPA 0xc0000000 (no RAM)
  m.vmx.vmwriteNum(VMCS.GUEST_CR0, 0x80000031);   // PG NE ET PE
  m.vmx.vmwriteNum(VMCS.CR0_GUEST_HOST_MASK, 0x20); // NE owned by the host ...
  m.vmx.vmwriteNum(VMCS.CR0_READ_SHADOW, 0x80000011); // ... and shown to the guest as 0
  const dev = new FakeDevice();
  const r = runUntilOther(m, dev);
  assert.is(r.reason, EXIT_REASON.HLT);
  assert.equal(dev.log.map((a) => [a.write, a.gpa, a.size, a.lo]), [[true, 0xc0000000, 2, 0x0011]]);
});

test('64-bit guest: mov ss, [rbx] with a null selector from MMIO: SS unusable, blocking by MOV SS in the interruptibility state (Vol. 3C 25.4.2)', () => {
  const m = machine(8);
  guest64(m, [
    0x48, 0xbb, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, // mov rbx, 0xc0000000
    0x8e, 0x13, //                                                mov ss, [rbx]
    0xf4, //                                                      hlt
  ]);
  m.mem.write32(PDPT + 3 * 8, 0xc0000000 | 0x83);
  const x = enter(m);
  assert.is(x.reason & 0xffff, EXIT_REASON.EPT_VIOLATION);
  const s = eptViolationMmio(m, new FakeDevice(() => [0, 0]));
  assert.is(s, undefined);
  assert.is(m.vmx.vmread32(VMCS.GUEST_SS_SELECTOR), 0);
  assert.is(m.vmx.vmread32(VMCS.GUEST_SS_ACCESS_RIGHTS) & 0x10000, 0x10000, 'unusable');
  assert.is((m.vmx.vmread32(VMCS.GUEST_SS_ACCESS_RIGHTS) >>> 5) & 3, 0, 'DPL = CPL = 0');
  assert.is(m.vmx.vmread32(VMCS.GUEST_INTERRUPTIBILITY_STATE) & 3, 2);
  assert.is(m.vmx.vmreadNum(VMCS.GUEST_RIP), CODE_64 + 12);
});

test('an emulated instruction right after STI ends blocking by STI (Vol. 3C 25.4.2; Vol. 2B STI: interrupts are recognized after the next instruction)', () => {
  const m = machine(8);
  guest64(m, [
    0x48, 0xbb, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, // mov rbx, 0xc0000000
    0xfb, //                                                      sti
    0x89, 0x03, //                                                mov [rbx], eax
    0xf4, //                                                      hlt
  ]);
  m.mem.write32(PDPT + 3 * 8, 0xc0000000 | 0x83);
  const x = enter(m);
  assert.is(x.reason & 0xffff, EXIT_REASON.EPT_VIOLATION);
  assert.is(m.vmx.vmread32(VMCS.GUEST_INTERRUPTIBILITY_STATE) & 3, 1, 'the exit saved blocking by STI');
  assert.is(eptViolationMmio(m, new FakeDevice()), undefined);
  assert.is(m.vmx.vmread32(VMCS.GUEST_INTERRUPTIBILITY_STATE) & 3, 0, 'the shadow ended with the emulated instruction');
  assert.is(m.vmx.vmreadNum(VMCS.GUEST_RIP), CODE_64 + 13);
});

test.run();
