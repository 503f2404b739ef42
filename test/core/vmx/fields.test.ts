// Expected values in this file are written by hand from Intel SDM Vol. 3D
// Appendix B "Field Encoding in VMCS" and the encoding rule of Vol. 3C
// "VMREAD, VMWRITE, and Encodings of VMCS Fields".
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  VMCS, VMCS_FIELDS, VMCS_FIELD_COUNT, fieldIndex, fieldInfo, fieldSupported, encodingName,
  encodingWidth, encodingType, encodingIndex, highEncoding, type VmcsFieldName,
} from '../../../core/vmx/fields.js';
import { DEFAULT_VMX_CAPABILITIES, MSR, VmxCapabilities } from '../../../core/vmx/capabilities.js';

// Bits 14:13 and 11:10 of an encoding, per the rule.
const WIDTH_BITS = { 16: 0, 64: 1, 32: 2, natural: 3 } as const;
const TYPE_BITS = { control: 0, 'exit-info': 1, guest: 2, host: 3 } as const;

test('every encoding agrees with its declared width and type; access type full; reserved bits 0', () => {
  for (const f of VMCS_FIELDS) {
    assert.is(f.encoding & 1, 0, `${f.name}: bit 0 (access type) must be full`);
    assert.is((f.encoding >>> 13) & 3, WIDTH_BITS[f.width], `${f.name}: width bits 14:13`);
    assert.is((f.encoding >>> 10) & 3, TYPE_BITS[f.type], `${f.name}: type bits 11:10`);
    assert.is(f.encoding & 0x1000, 0, `${f.name}: bit 12 reserved`);
    assert.ok(f.encoding < 0x8000, `${f.name}: bits 31:15 reserved`);
    assert.is(VMCS[f.name], f.encoding);
    assert.is(encodingWidth(f.encoding), f.width);
    assert.is(encodingType(f.encoding), f.type);
  }
});

test('encodings and names are unique; dense index is the position', () => {
  const encs = new Set<number>(), names = new Set<string>();
  VMCS_FIELDS.forEach((f, i) => {
    assert.not.ok(encs.has(f.encoding), `duplicate encoding 0x${f.encoding.toString(16)}`);
    assert.not.ok(names.has(f.name), `duplicate name ${f.name}`);
    encs.add(f.encoding);
    names.add(f.name);
    assert.is(f.index, i);
    assert.is(fieldIndex(f.encoding), i);
    assert.is(fieldInfo(f.encoding), f);
  });
  assert.is(Object.keys(VMCS).length, VMCS_FIELD_COUNT);
});

test('field counts per Appendix B table (this processor: no SGX/PT/MPX/CET/PKS/HLAT/SPP/tertiary)', () => {
  const count = (w: string, t: string) => VMCS_FIELDS.filter((f) => String(f.width) === w && f.type === t).length;
  assert.is(count('16', 'control'), 3); // VPID, posted-int vector, EPTP index
  assert.is(count('16', 'guest'), 10); // 8 selectors, interrupt status, PML index
  assert.is(count('16', 'host'), 7);
  assert.is(count('64', 'control'), 24); // B.2.1 without ENCLS bitmap and later additions
  assert.is(count('64', 'exit-info'), 1);
  assert.is(count('64', 'guest'), 9);
  assert.is(count('64', 'host'), 3);
  assert.is(count('32', 'control'), 18);
  assert.is(count('32', 'exit-info'), 8);
  assert.is(count('32', 'guest'), 23);
  assert.is(count('32', 'host'), 1);
  assert.is(count('natural', 'control'), 8);
  assert.is(count('natural', 'exit-info'), 6);
  assert.is(count('natural', 'guest'), 20);
  assert.is(count('natural', 'host'), 12);
  assert.is(VMCS_FIELD_COUNT, 153);
});

test('spot checks against Appendix B', () => {
  const expect: [VmcsFieldName, number][] = [
    ['VPID', 0x0000],
    ['EPTP_INDEX', 0x0004],
    ['GUEST_ES_SELECTOR', 0x0800],
    ['GUEST_TR_SELECTOR', 0x080e],
    ['PML_INDEX', 0x0812],
    ['HOST_TR_SELECTOR', 0x0c0c],
    ['IO_BITMAP_A_ADDRESS', 0x2000],
    ['MSR_BITMAPS_ADDRESS', 0x2004],
    ['TSC_OFFSET', 0x2010],
    ['EPT_POINTER', 0x201a],
    ['XSS_EXITING_BITMAP', 0x202c],
    ['GUEST_PHYSICAL_ADDRESS', 0x2400],
    ['VMCS_LINK_POINTER', 0x2800],
    ['GUEST_IA32_EFER', 0x2806],
    ['GUEST_PDPTE3', 0x2810],
    ['HOST_IA32_EFER', 0x2c02],
    ['PIN_BASED_VM_EXECUTION_CONTROLS', 0x4000],
    ['VM_ENTRY_INTERRUPTION_INFORMATION', 0x4016],
    ['SECONDARY_PROCESSOR_BASED_VM_EXECUTION_CONTROLS', 0x401e],
    ['VM_INSTRUCTION_ERROR', 0x4400],
    ['EXIT_REASON', 0x4402],
    ['VM_EXIT_INSTRUCTION_INFORMATION', 0x440e],
    ['GUEST_TR_ACCESS_RIGHTS', 0x4822],
    ['GUEST_INTERRUPTIBILITY_STATE', 0x4824],
    ['VMX_PREEMPTION_TIMER_VALUE', 0x482e],
    ['HOST_IA32_SYSENTER_CS', 0x4c00],
    ['CR0_GUEST_HOST_MASK', 0x6000],
    ['CR3_TARGET_VALUE_3', 0x600e],
    ['EXIT_QUALIFICATION', 0x6400],
    ['GUEST_LINEAR_ADDRESS', 0x640a],
    ['GUEST_CR3', 0x6802],
    ['GUEST_RIP', 0x681e],
    ['GUEST_RFLAGS', 0x6820],
    ['HOST_RIP', 0x6c16],
  ];
  for (const [name, enc] of expect) assert.is(VMCS[name], enc, name);
});

test('the fields the project relies on are all present', () => {
  const required: VmcsFieldName[] = [
    'VPID', 'POSTED_INTERRUPT_NOTIFICATION_VECTOR', 'EPTP_INDEX', 'EXCEPTION_BITMAP', 'PAGE_FAULT_ERROR_CODE_MASK',
    'PAGE_FAULT_ERROR_CODE_MATCH', 'CR3_TARGET_COUNT', 'VM_EXIT_MSR_STORE_COUNT', 'VM_EXIT_MSR_LOAD_COUNT',
    'VM_ENTRY_MSR_LOAD_COUNT', 'VM_EXIT_MSR_STORE_ADDRESS', 'VM_EXIT_MSR_LOAD_ADDRESS', 'VM_ENTRY_MSR_LOAD_ADDRESS',
    'VM_ENTRY_EXCEPTION_ERROR_CODE', 'VM_ENTRY_INSTRUCTION_LENGTH', 'TPR_THRESHOLD', 'CR4_GUEST_HOST_MASK',
    'CR0_READ_SHADOW', 'CR4_READ_SHADOW', 'IO_BITMAP_B_ADDRESS', 'VIRTUAL_APIC_ADDRESS', 'APIC_ACCESS_ADDRESS',
    'EXECUTIVE_VMCS_POINTER', 'VM_EXIT_INTERRUPTION_INFORMATION', 'VM_EXIT_INTERRUPTION_ERROR_CODE',
    'IDT_VECTORING_INFORMATION', 'IDT_VECTORING_ERROR_CODE', 'VM_EXIT_INSTRUCTION_LENGTH', 'IO_RCX', 'IO_RSI',
    'IO_RDI', 'IO_RIP', 'GUEST_LDTR_BASE', 'GUEST_GDTR_LIMIT', 'GUEST_IDTR_BASE', 'GUEST_DR7', 'GUEST_RSP',
    'GUEST_PENDING_DEBUG_EXCEPTIONS', 'GUEST_IA32_SYSENTER_CS', 'GUEST_IA32_SYSENTER_ESP', 'GUEST_IA32_SYSENTER_EIP',
    'GUEST_IA32_DEBUGCTL', 'GUEST_IA32_PAT', 'GUEST_IA32_PERF_GLOBAL_CTRL', 'GUEST_PDPTE0', 'GUEST_ACTIVITY_STATE',
    'GUEST_SMBASE', 'GUEST_INTERRUPT_STATUS', 'HOST_CR0', 'HOST_CR3', 'HOST_CR4', 'HOST_FS_BASE', 'HOST_GS_BASE',
    'HOST_TR_BASE', 'HOST_GDTR_BASE', 'HOST_IDTR_BASE', 'HOST_IA32_SYSENTER_ESP', 'HOST_IA32_SYSENTER_EIP',
    'HOST_RSP', 'HOST_IA32_PAT', 'HOST_IA32_PERF_GLOBAL_CTRL',
  ];
  for (const n of required) assert.ok(fieldInfo(VMCS[n])?.name === n, n);
});

test('high encodings and non-fields have no dense index', () => {
  assert.is(fieldIndex(0x2001), -1); // I/O bitmap A (high)
  assert.is(fieldIndex(0x0001), -1);
  assert.is(fieldIndex(0x202e), -1); // ENCLS-exiting bitmap: SGX, not on this processor
  assert.is(fieldIndex(0x4c02), -1); // no 32-bit host field with index 1
  assert.is(fieldIndex(0x8000), -1);
  assert.is(fieldIndex(-2), -1);
  assert.is(fieldIndex(0x1_0000_681e), -1);
  assert.is(highEncoding(0x201a), 0x201b);
  assert.is(encodingIndex(0x482e), 23);
});

test('encodingName names full and high encodings', () => {
  assert.is(encodingName(0x681e), 'GUEST_RIP');
  assert.is(encodingName(0x201b), 'EPT_POINTER_HIGH');
  assert.is(encodingName(0x681f), '0x681f'); // natural-width fields have no high access
  assert.is(encodingName(0x1234), '0x1234');
});

test('Appendix B existence conditions on the default processor', () => {
  // Hand list: fields whose feature this processor does not allow to be enabled.
  const unsupported = new Set<VmcsFieldName>([
    'POSTED_INTERRUPT_NOTIFICATION_VECTOR', 'EPTP_INDEX', 'GUEST_INTERRUPT_STATUS', 'PML_INDEX', 'PML_ADDRESS',
    'VIRTUAL_APIC_ADDRESS', 'APIC_ACCESS_ADDRESS', 'POSTED_INTERRUPT_DESCRIPTOR_ADDRESS', 'VM_FUNCTION_CONTROLS',
    'EOI_EXIT_BITMAP_0', 'EOI_EXIT_BITMAP_1', 'EOI_EXIT_BITMAP_2', 'EOI_EXIT_BITMAP_3', 'EPTP_LIST_ADDRESS',
    'VMREAD_BITMAP_ADDRESS', 'VMWRITE_BITMAP_ADDRESS', 'VIRTUALIZATION_EXCEPTION_INFORMATION_ADDRESS',
    'XSS_EXITING_BITMAP', 'TSC_MULTIPLIER', 'GUEST_IA32_PERF_GLOBAL_CTRL', 'HOST_IA32_PERF_GLOBAL_CTRL',
    'TPR_THRESHOLD', 'PLE_GAP', 'PLE_WINDOW',
  ]);
  for (const f of VMCS_FIELDS) {
    assert.is(fieldSupported(f, DEFAULT_VMX_CAPABILITIES), !unsupported.has(f.name), f.name);
  }
  assert.is(VMCS_FIELDS.filter((f) => fieldSupported(f, DEFAULT_VMX_CAPABILITIES)).length, 153 - 24);
});

test('guest IA32_PAT exists with either "load IA32_PAT" (entry) or "save IA32_PAT" (exit)', () => {
  const pat = fieldInfo(VMCS.GUEST_IA32_PAT)!;
  const entryOnly = new VmxCapabilities(new Map([
    [MSR.IA32_VMX_EXIT_CTLS, { lo: 0x36dff, hi: 0x36dff }],
    [MSR.IA32_VMX_ENTRY_CTLS, { lo: 0x11ff, hi: 0x11ff | (1 << 14) }],
  ]));
  const neither = new VmxCapabilities(new Map([
    [MSR.IA32_VMX_EXIT_CTLS, { lo: 0x36dff, hi: 0x36dff }],
    [MSR.IA32_VMX_ENTRY_CTLS, { lo: 0x11ff, hi: 0x11ff }],
  ]));
  assert.ok(fieldSupported(pat, entryOnly));
  assert.not.ok(fieldSupported(pat, neither));
  assert.not.ok(fieldSupported(fieldInfo(VMCS.HOST_IA32_PAT)!, entryOnly));
});

test('IA32_VMX_VMCS_ENUM reports the highest index of any supported encoding (A.9)', () => {
  let max = 0;
  for (const f of VMCS_FIELDS) if (fieldSupported(f, DEFAULT_VMX_CAPABILITIES)) max = Math.max(max, encodingIndex(f.encoding));
  const enumMsr = DEFAULT_VMX_CAPABILITIES.read(MSR.IA32_VMX_VMCS_ENUM)!;
  assert.is(max, 23); // VMX-preemption timer value, 0x482E
  assert.is((enumMsr.lo >>> 1) & 0x1ff, max);
});

test.run();
