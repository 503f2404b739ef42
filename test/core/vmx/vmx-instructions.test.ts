// Expected statuses and error numbers come from Intel SDM Vol. 3C "VMX
// Instruction Reference" (operation pseudocode of each instruction; table
// "VM-Instruction Error Numbers"), written here by hand.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PhysMem } from '../../../core/memory/physmem.js';
import { Vmx, statusRflags, type VmEntryEngine, type VmEntryOutcome } from '../../../core/vmx/vmx.js';
import { Vmcs } from '../../../core/vmx/vmcs.js';
import { VMCS } from '../../../core/vmx/fields.js';
import { VmxFault, VM_INSTRUCTION_ERROR_MESSAGES, describeVmInstructionError } from '../../../core/vmx/errors.js';
import { EXIT_REASON, exitReasonName, isEntryFailure } from '../../../core/vmx/exit-reasons.js';
import { MSR, VmxCapabilities, readCapabilityMsr } from '../../../core/vmx/capabilities.js';

// Software learns the revision identifier from IA32_VMX_BASIC bits 30:0.
const REV = readCapabilityMsr(MSR.IA32_VMX_BASIC)!.lo & 0x7fff_ffff;
const VMXON_REGION = 0x1000;
const VMCS_A = 0x2000;
const VMCS_B = 0x3000;
const MEM_SIZE = 0x10_0000;

function machine(caps?: VmxCapabilities): { mem: PhysMem; vmx: Vmx } {
  const mem = new PhysMem(MEM_SIZE);
  for (const pa of [VMXON_REGION, VMCS_A, VMCS_B]) mem.write32(pa, REV);
  return { mem, vmx: caps ? new Vmx(mem, caps) : new Vmx(mem) };
}

/** VMXON, VMCLEAR + VMPTRLD of VMCS A. */
function ready(caps?: VmxCapabilities): { mem: PhysMem; vmx: Vmx } {
  const m = machine(caps);
  m.vmx.vmxon(VMXON_REGION);
  m.vmx.vmclear(VMCS_A);
  m.vmx.vmptrld(VMCS_A);
  assert.is(m.vmx.status, 'VMsucceed');
  return m;
}

const isUD = (e: unknown) => e instanceof VmxFault && e.vector === '#UD';

function expectFailValid(vmx: Vmx, n: number, what: string): void {
  assert.is(vmx.status, 'VMfailValid', what);
  assert.is(vmx.error, n, what);
  // The number is in the current VMCS's VM-instruction error field.
  const cur = vmx.currentVmcs!;
  assert.is(cur.get32(VMCS.VM_INSTRUCTION_ERROR), n, `${what}: VM-instruction error field`);
}

// --- VMXON / VMXOFF ---------------------------------------------------------

test('VMX instructions outside VMX operation raise #UD', () => {
  const { vmx } = machine();
  assert.throws(() => vmx.vmread(VMCS.GUEST_RIP), isUD);
  assert.throws(() => vmx.vmwrite32(VMCS.GUEST_RIP, 0), isUD);
  assert.throws(() => vmx.vmptrld(VMCS_A), isUD);
  assert.throws(() => vmx.vmclear(VMCS_A), isUD);
  assert.throws(() => vmx.vmptrst(), isUD);
  assert.throws(() => vmx.vmxoff(), isUD);
  vmx.setEntryEngine({ enter: () => ({ kind: 'exit' }) });
  assert.throws(() => vmx.vmlaunch(), isUD);
});

test('VMXON checks alignment, address width and revision with VMfailInvalid', () => {
  const { mem, vmx } = machine();
  vmx.vmxon(VMXON_REGION + 8);
  assert.is(vmx.status, 'VMfailInvalid');
  vmx.vmxon(2 ** 39); // bit 39 is beyond a 39-bit physical-address width
  assert.is(vmx.status, 'VMfailInvalid');
  mem.write32(0x5000, REV + 1);
  vmx.vmxon(0x5000);
  assert.is(vmx.status, 'VMfailInvalid');
  mem.write32(0x5000, (REV | 0x8000_0000) >>> 0); // bit 31 must be 0
  vmx.vmxon(0x5000);
  assert.is(vmx.status, 'VMfailInvalid');
  assert.not.ok(vmx.inVmxOperation);
  vmx.vmxon(VMXON_REGION);
  assert.is(vmx.status, 'VMsucceed');
  assert.ok(vmx.inVmxOperation);
  assert.is(vmx.vmxonPointer, VMXON_REGION);
  assert.is(vmx.vmptrst(), -1, 'VMXON leaves the current-VMCS pointer invalid');
});

test('VMXON in VMX root operation: VMfail(15)', () => {
  const { vmx } = machine();
  vmx.vmxon(VMXON_REGION);
  vmx.vmxon(VMXON_REGION);
  assert.is(vmx.status, 'VMfailInvalid', 'no current VMCS: VMfailInvalid');
  vmx.vmptrld(VMCS_A);
  vmx.vmxon(VMXON_REGION);
  expectFailValid(vmx, 15, 'VMXON with a current VMCS');
});

test('VMXOFF leaves VMX operation; VMXON again starts with no current VMCS', () => {
  const { vmx } = ready();
  vmx.vmxoff();
  assert.is(vmx.status, 'VMsucceed');
  assert.not.ok(vmx.inVmxOperation);
  assert.throws(() => vmx.vmread32(VMCS.GUEST_RIP), isUD);
  vmx.vmxon(VMXON_REGION);
  vmx.vmread32(VMCS.GUEST_RIP);
  assert.is(vmx.status, 'VMfailInvalid');
});

// --- VMPTRLD / VMPTRST / VMCLEAR -------------------------------------------

test('VMPTRLD failures without a current VMCS are VMfailInvalid', () => {
  const { vmx } = machine();
  vmx.vmxon(VMXON_REGION);
  vmx.vmptrld(VMCS_A + 0x10);
  assert.is(vmx.status, 'VMfailInvalid');
  vmx.vmptrld(VMXON_REGION);
  assert.is(vmx.status, 'VMfailInvalid');
});

test('VMPTRLD errors 9 (alignment, width), 10 (VMXON pointer), 11 (revision, shadow bit)', () => {
  const { mem, vmx } = ready();
  vmx.vmptrld(VMCS_B + 0x800);
  expectFailValid(vmx, 9, 'not 4 KiB aligned');
  vmx.vmptrld(2 ** 39 + VMCS_B);
  expectFailValid(vmx, 9, 'bit 39 set');
  vmx.vmptrld(2 ** 52);
  expectFailValid(vmx, 9, 'bit 52 set');
  vmx.vmptrld(-0x1000); // FFFFFFFF_FFFFF000H
  expectFailValid(vmx, 9, 'all high bits set');
  vmx.vmptrld(VMXON_REGION);
  expectFailValid(vmx, 10, 'VMXON pointer');
  mem.write32(VMCS_B, REV ^ 1);
  vmx.vmptrld(VMCS_B);
  expectFailValid(vmx, 11, 'wrong revision identifier');
  mem.write32(VMCS_B, (REV | 0x8000_0000) >>> 0);
  vmx.vmptrld(VMCS_B);
  expectFailValid(vmx, 11, 'shadow-VMCS indicator without VMCS shadowing');
  vmx.vmptrld(2 ** 39 - 0x1000); // valid address, but no memory there: reads all ones
  expectFailValid(vmx, 11, 'region outside memory');
  assert.is(vmx.vmptrst(), VMCS_A, 'failed VMPTRLDs keep the current VMCS');
  mem.write32(VMCS_B, REV);
  vmx.vmptrld(VMCS_B);
  assert.is(vmx.status, 'VMsucceed');
  assert.is(vmx.vmptrst(), VMCS_B);
});

test('VMCLEAR errors 2 (address) and 3 (VMXON pointer); VMCLEAR does not check the revision', () => {
  const { mem, vmx } = ready();
  vmx.vmclear(VMCS_B + 4);
  expectFailValid(vmx, 2, 'misaligned');
  vmx.vmclear(2 ** 40);
  expectFailValid(vmx, 2, 'beyond physical-address width');
  vmx.vmclear(VMXON_REGION);
  expectFailValid(vmx, 3, 'VMXON pointer');
  mem.write32(VMCS_B, 0x1234_5678);
  vmx.vmclear(VMCS_B);
  assert.is(vmx.status, 'VMsucceed');
});

test('VMCLEAR of the current VMCS invalidates the current-VMCS pointer', () => {
  const { vmx } = ready();
  vmx.vmclear(VMCS_A);
  assert.is(vmx.status, 'VMsucceed');
  assert.is(vmx.vmptrst(), -1);
  assert.is(vmx.currentVmcs, null);
  vmx.vmread(VMCS.GUEST_RIP);
  assert.is(vmx.status, 'VMfailInvalid');
  vmx.vmwrite(VMCS.GUEST_RIP, 1n);
  assert.is(vmx.status, 'VMfailInvalid');
});

test('VMCLEAR writes the VMCS to memory; VMPTRLD brings its contents back', () => {
  const { mem, vmx } = ready();
  vmx.vmwrite(VMCS.GUEST_RIP, 0xffff_ffff_8100_0000n);
  vmx.vmwrite32(VMCS.GUEST_CS_SELECTOR, 0x10);
  vmx.vmclear(VMCS_A);
  const before = mem.readBytes(VMCS_A, 4096);
  assert.ok(before.some((b, i) => i >= 8 && b !== 0), 'data reached the region');
  assert.is(vmx.activeVmcs(VMCS_A), undefined, 'inactive after VMCLEAR');
  vmx.vmptrld(VMCS_A);
  assert.is(vmx.vmread(VMCS.GUEST_RIP), 0xffff_ffff_8100_0000n);
  assert.is(vmx.vmread32(VMCS.GUEST_CS_SELECTOR), 0x10);
  assert.is(vmx.currentVmcs!.launchState, 'clear');
});

test('VMPTRLD switches between active VMCSs without losing contents', () => {
  const { vmx } = ready();
  vmx.vmwrite32(VMCS.EXCEPTION_BITMAP, 0xa);
  vmx.vmclear(VMCS_B);
  vmx.vmptrld(VMCS_B);
  assert.is(vmx.vmread32(VMCS.EXCEPTION_BITMAP), 0);
  vmx.vmwrite32(VMCS.EXCEPTION_BITMAP, 0xb);
  vmx.vmptrld(VMCS_A);
  assert.is(vmx.vmread32(VMCS.EXCEPTION_BITMAP), 0xa);
  vmx.vmptrld(VMCS_B);
  assert.is(vmx.vmread32(VMCS.EXCEPTION_BITMAP), 0xb);
});

// --- VMREAD / VMWRITE -------------------------------------------------------

test('VMREAD/VMWRITE with no current VMCS: VMfailInvalid', () => {
  const { vmx } = machine();
  vmx.vmxon(VMXON_REGION);
  assert.is(vmx.vmread(VMCS.GUEST_RIP), 0n);
  assert.is(vmx.status, 'VMfailInvalid');
  assert.is(vmx.vmread32(VMCS.EXIT_REASON), 0);
  assert.is(vmx.status, 'VMfailInvalid');
  vmx.vmwriteNum(VMCS.GUEST_RSP, 1);
  assert.is(vmx.status, 'VMfailInvalid');
  vmx.vmwrite(0x0001, 1n); // even an unsupported encoding: the pointer is checked first
  assert.is(vmx.status, 'VMfailInvalid');
});

test('16-bit fields: VMWRITE keeps bits 15:0; VMREAD zero-extends', () => {
  const { vmx } = ready();
  vmx.vmwrite(VMCS.GUEST_CS_SELECTOR, 0xffff_ffff_ffff_1234n);
  assert.is(vmx.status, 'VMsucceed');
  assert.is(vmx.vmread(VMCS.GUEST_CS_SELECTOR), 0x1234n);
  vmx.vmwrite32(VMCS.HOST_TR_SELECTOR, 0xdead_0040);
  assert.is(vmx.vmread32(VMCS.HOST_TR_SELECTOR), 0x40);
  vmx.vmwriteNum(VMCS.VPID, -1);
  assert.is(vmx.vmreadNum(VMCS.VPID), 0xffff);
});

test('32-bit fields: VMWRITE keeps bits 31:0', () => {
  const { vmx } = ready();
  vmx.vmwrite(VMCS.GUEST_CS_LIMIT, 0x1_ffff_fffen);
  assert.is(vmx.vmread(VMCS.GUEST_CS_LIMIT), 0xffff_fffen);
  vmx.vmwriteHalves(VMCS.EXCEPTION_BITMAP, 0x4000, 0xffff_ffff);
  assert.is(vmx.vmread(VMCS.EXCEPTION_BITMAP), 0x4000n);
  vmx.vmwrite(VMCS.GUEST_ACTIVITY_STATE, -1n);
  assert.is(vmx.vmread(VMCS.GUEST_ACTIVITY_STATE), 0xffff_ffffn);
});

test('64-bit fields: full and high access', () => {
  const { vmx } = ready();
  vmx.vmwrite(VMCS.EPT_POINTER, 0x1234_5678_9abc_d01en);
  assert.is(vmx.vmread(VMCS.EPT_POINTER), 0x1234_5678_9abc_d01en);
  assert.is(vmx.vmread(0x201b), 0x1234_5678n, 'high access reads bits 63:32, zero-extended');
  assert.is(vmx.vmread32(VMCS.EPT_POINTER), 0x9abc_d01e, '32-bit destination gets bits 31:0');
  assert.is(vmx.vmread32(0x201b), 0x1234_5678);
  vmx.vmwrite(0x201b, 0xdead_beef_cafe_baben); // high access writes bits 63:32 from bits 31:0
  assert.is(vmx.status, 'VMsucceed');
  assert.is(vmx.vmread(VMCS.EPT_POINTER), 0xcafe_babe_9abc_d01en);
  vmx.vmwrite32(VMCS.EPT_POINTER, 0x5000); // 32-bit source: the field's high bits are cleared
  assert.is(vmx.vmread(VMCS.EPT_POINTER), 0x5000n);
  vmx.vmwriteHalves(VMCS.VMCS_LINK_POINTER, 0xffff_ffff, 0xffff_ffff);
  assert.is(vmx.vmread(VMCS.VMCS_LINK_POINTER), 0xffff_ffff_ffff_ffffn);
  vmx.vmwriteNum(VMCS.IO_BITMAP_B_ADDRESS, 0x12_3456_7000);
  assert.is(vmx.vmreadNum(VMCS.IO_BITMAP_B_ADDRESS), 0x12_3456_7000);
  assert.is(vmx.vmreadNum(0x2003), 0x12);
  vmx.vmwriteNum(0x2003, 0x7f);
  assert.is(vmx.vmread(VMCS.IO_BITMAP_B_ADDRESS), 0x7f_3456_7000n);
});

test('natural-width fields hold 64 bits; canonical signed doubles', () => {
  const { vmx } = ready();
  vmx.vmwrite(VMCS.GUEST_RIP, 0xffff_ffff_8100_0000n);
  assert.is(vmx.vmread(VMCS.GUEST_RIP), 0xffff_ffff_8100_0000n);
  assert.is(vmx.vmreadSigned(VMCS.GUEST_RIP), -0x7f00_0000);
  vmx.vmwriteNum(VMCS.GUEST_RSP, -0x7f00_0000);
  assert.is(vmx.vmread(VMCS.GUEST_RSP), 0xffff_ffff_8100_0000n);
  vmx.vmwrite(VMCS.HOST_RIP, -1n);
  assert.is(vmx.vmread(VMCS.HOST_RIP), 0xffff_ffff_ffff_ffffn);
  vmx.vmwrite32(VMCS.HOST_RIP, 0xffff_ffff);
  assert.is(vmx.vmread(VMCS.HOST_RIP), 0xffff_ffffn, '32-bit source zero-extends');
  assert.is(vmx.vmreadSigned(VMCS.HOST_RIP), 0xffff_ffff);
  assert.throws(() => vmx.vmwriteNum(VMCS.HOST_RIP, 2 ** 60), (e: unknown) => e instanceof Error);
});

test('VMWRITE to a VM-exit information field: VMfailValid(13), field unchanged', () => {
  const { vmx } = ready();
  vmx.currentVmcs!.set32(VMCS.EXIT_REASON, 30);
  for (const enc of [VMCS.EXIT_REASON, VMCS.EXIT_QUALIFICATION, VMCS.GUEST_PHYSICAL_ADDRESS, 0x2401,
    VMCS.GUEST_LINEAR_ADDRESS, VMCS.IO_RCX, VMCS.VM_EXIT_INSTRUCTION_LENGTH, VMCS.IDT_VECTORING_INFORMATION]) {
    vmx.vmwrite(enc, 7n);
    expectFailValid(vmx, 13, `VMWRITE 0x${enc.toString(16)}`);
    vmx.vmwrite32(enc, 7);
    expectFailValid(vmx, 13, `vmwrite32 0x${enc.toString(16)}`);
  }
  vmx.vmwrite32(VMCS.VM_INSTRUCTION_ERROR, 0);
  expectFailValid(vmx, 13, 'VM-instruction error field itself');
  assert.is(vmx.vmread32(VMCS.EXIT_REASON), 30);
  assert.is(vmx.status, 'VMsucceed', 'VMREAD of read-only fields is fine');
});

test('with IA32_VMX_MISC bit 29, VMWRITE may write VM-exit information fields', () => {
  const misc = readCapabilityMsr(MSR.IA32_VMX_MISC)!;
  const caps = new VmxCapabilities(new Map([[MSR.IA32_VMX_MISC, { lo: misc.lo | (1 << 29), hi: misc.hi }]]));
  const { vmx } = ready(caps);
  vmx.vmwrite32(VMCS.EXIT_REASON, 10);
  assert.is(vmx.status, 'VMsucceed');
  assert.is(vmx.vmread32(VMCS.EXIT_REASON), 10);
});

test('unsupported VMCS components: VMfailValid(12) for VMREAD and VMWRITE', () => {
  const { vmx } = ready();
  const unsupported = [
    0x0001, // high access of a 16-bit field
    0x4401, // high access of a 32-bit field
    0x681f, // high access of a natural-width field
    0x1000, // bit 12 reserved
    0x8000, // bit 15 reserved
    0x1_0000_681e, // bits 63:32 of the register not zero
    0x4c02, // no 32-bit host-state field with index 1
    0x202e, // ENCLS-exiting bitmap: SGX fields do not exist here
    0x401c, // TPR threshold: exists only with "use TPR shadow", which this processor lacks
    0x2808, // guest IA32_PERF_GLOBAL_CTRL: needs "load IA32_PERF_GLOBAL_CTRL"
    0x2809, // ... and its high access
    0x0002, // posted-interrupt notification vector: needs "process posted interrupts"
  ];
  for (const enc of unsupported) {
    assert.is(vmx.vmread(enc), 0n);
    expectFailValid(vmx, 12, `VMREAD 0x${enc.toString(16)}`);
    vmx.vmread32(enc);
    expectFailValid(vmx, 12, `vmread32 0x${enc.toString(16)}`);
    vmx.vmwrite(enc, 0n);
    expectFailValid(vmx, 12, `VMWRITE 0x${enc.toString(16)}`);
    vmx.vmwriteHalves(enc, 0, 0);
    expectFailValid(vmx, 12, `vmwriteHalves 0x${enc.toString(16)}`);
    assert.not.ok(vmx.isSupportedEncoding(enc));
  }
  assert.ok(vmx.isSupportedEncoding(VMCS.EPT_POINTER | 1));
});

test('VMsucceed leaves the VM-instruction error field as it was', () => {
  const { vmx } = ready();
  vmx.vmread(0x0001);
  expectFailValid(vmx, 12, 'unsupported');
  assert.is(vmx.vmread32(VMCS.VM_INSTRUCTION_ERROR), 12);
  assert.is(vmx.status, 'VMsucceed');
  assert.is(vmx.error, 0);
});

test('status RFLAGS: VMsucceed clears, VMfailInvalid sets CF, VMfailValid sets ZF', () => {
  assert.is(statusRflags('VMsucceed'), 0);
  assert.is(statusRflags('VMfailInvalid'), 1);
  assert.is(statusRflags('VMfailValid'), 0x40);
});

// --- VMLAUNCH / VMRESUME ----------------------------------------------------

class FakeEngine implements VmEntryEngine {
  calls: { vmcs: Vmcs; launch: boolean }[] = [];
  next: VmEntryOutcome = { kind: 'exit' };
  exitReason = 12; // HLT
  enter(vmcs: Vmcs, launch: boolean): VmEntryOutcome {
    this.calls.push({ vmcs, launch });
    if (this.next.kind === 'exit') vmcs.set32(VMCS.EXIT_REASON, this.exitReason);
    return this.next;
  }
}

test('VMLAUNCH without an engine is a wiring error', () => {
  const { vmx } = ready();
  assert.throws(() => vmx.vmlaunch(), (e: unknown) => e instanceof Error && !(e instanceof VmxFault));
});

test('VMLAUNCH/VMRESUME with no current VMCS: VMfailInvalid, engine not called', () => {
  const { vmx } = machine();
  const eng = new FakeEngine();
  vmx.setEntryEngine(eng);
  vmx.vmxon(VMXON_REGION);
  vmx.vmlaunch();
  assert.is(vmx.status, 'VMfailInvalid');
  vmx.vmresume();
  assert.is(vmx.status, 'VMfailInvalid');
  assert.is(eng.calls.length, 0);
});

test('launch state: VMRESUME of a clear VMCS fails 5, VMLAUNCH of a launched one fails 4', () => {
  const { vmx } = ready();
  const eng = new FakeEngine();
  vmx.setEntryEngine(eng);
  vmx.vmresume();
  expectFailValid(vmx, 5, 'VMRESUME with non-launched VMCS');
  assert.is(eng.calls.length, 0);
  vmx.vmlaunch();
  assert.is(vmx.status, 'VMsucceed');
  assert.is(eng.calls.length, 1);
  assert.is(eng.calls[0]!.launch, true);
  assert.is(eng.calls[0]!.vmcs, vmx.currentVmcs);
  assert.is(vmx.currentVmcs!.launchState, 'launched');
  vmx.vmlaunch();
  expectFailValid(vmx, 4, 'VMLAUNCH with non-clear VMCS');
  assert.is(eng.calls.length, 1);
  vmx.vmresume();
  assert.is(vmx.status, 'VMsucceed');
  assert.is(eng.calls[1]!.launch, false);
  // VMCLEAR makes it clear again: VMRESUME fails, VMLAUNCH works.
  vmx.vmclear(VMCS_A);
  vmx.vmptrld(VMCS_A);
  vmx.vmresume();
  expectFailValid(vmx, 5, 'after VMCLEAR');
  vmx.vmlaunch();
  assert.is(vmx.status, 'VMsucceed');
});

test('launch state survives switching the current VMCS', () => {
  const { vmx } = ready();
  vmx.setEntryEngine(new FakeEngine());
  vmx.vmlaunch();
  vmx.vmclear(VMCS_B);
  vmx.vmptrld(VMCS_B);
  vmx.vmresume();
  expectFailValid(vmx, 5, 'B is clear');
  vmx.vmptrld(VMCS_A);
  vmx.vmresume();
  assert.is(vmx.status, 'VMsucceed');
});

test('engine failValid (e.g. 7, invalid control fields): VMfailValid, launch state unchanged', () => {
  const { vmx } = ready();
  const eng = new FakeEngine();
  eng.next = { kind: 'failValid', error: 7 };
  vmx.setEntryEngine(eng);
  vmx.vmlaunch();
  expectFailValid(vmx, 7, 'VM entry with invalid control field(s)');
  assert.is(vmx.currentVmcs!.launchState, 'clear');
  eng.next = { kind: 'failValid', error: 8 };
  vmx.vmlaunch();
  expectFailValid(vmx, 8, 'VM entry with invalid host-state field(s)');
});

test('VM-entry failure while loading guest state (exit reason bit 31) does not launch the VMCS', () => {
  const { vmx } = ready();
  const eng = new FakeEngine();
  eng.exitReason = (0x8000_0000 | 33) >>> 0; // VM-entry failure due to invalid guest state
  vmx.setEntryEngine(eng);
  vmx.vmlaunch();
  assert.is(vmx.status, 'VMsucceed');
  assert.is(vmx.currentVmcs!.launchState, 'clear');
  vmx.vmresume();
  expectFailValid(vmx, 5, 'still not launched');
});

test('error-number table and basic exit reasons (SDM tables, by hand)', () => {
  assert.is(VM_INSTRUCTION_ERROR_MESSAGES.size, 25, '1-28 without 14, 21, 27');
  for (const unused of [0, 14, 21, 27, 29]) assert.not.ok(VM_INSTRUCTION_ERROR_MESSAGES.has(unused));
  assert.is(describeVmInstructionError(12), 'VM-instruction error 12 (VMREAD/VMWRITE from/to unsupported VMCS component)');
  assert.is(EXIT_REASON.CPUID, 10);
  assert.is(EXIT_REASON.HLT, 12);
  assert.is(EXIT_REASON.IO_INSTRUCTION, 30);
  assert.is(EXIT_REASON.ENTRY_FAILURE_INVALID_GUEST_STATE, 33);
  assert.is(EXIT_REASON.EPT_VIOLATION, 48);
  assert.is(EXIT_REASON.XSETBV, 55);
  assert.is(exitReasonName(49), 'EPT_MISCONFIGURATION');
  assert.is(exitReasonName(35), undefined);
  assert.ok(isEntryFailure(0x8000_0021));
  assert.not.ok(isEntryFailure(33));
});

test.run();
