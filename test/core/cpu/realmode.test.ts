/**
 * Real mode through the whole machine (unrestricted guest, CR0.PE = 0): code
 * is fetched at CS.base + IP (SDM Vol. 3A, 20.1.1 "Address Translation in
 * Real-Address Mode"), and POP Sreg loads base = selector * 16 without any
 * descriptor, as MOV Sreg does.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VMCS } from '../../../core/vmx/fields.js';
import { machine, guest32, enter } from '../../helpers/machine.js';
import type { Machine } from '../../../core/hv/machine.js';

/** A real-mode guest with CS = `cs` (base cs * 16), IP = `ip`, SS:SP = 0:0x7000. */
function realMode(m: Machine, cs: number, ip: number): void {
  guest32(m, [0xf4], 0x100000);
  const v = m.vmx;
  v.vmwriteNum(VMCS.GUEST_CR0, 0x30);         // NE | ET, PE = PG = 0 (unrestricted guest)
  v.vmwriteNum(VMCS.CR0_READ_SHADOW, 0x10);
  v.vmwrite32(VMCS.GUEST_CS_SELECTOR, cs); v.vmwriteNum(VMCS.GUEST_CS_BASE, cs * 16);
  v.vmwrite32(VMCS.GUEST_CS_LIMIT, 0xffff); v.vmwrite32(VMCS.GUEST_CS_ACCESS_RIGHTS, 0x9b);
  for (const [sel, base, lim, ar] of [
    [VMCS.GUEST_SS_SELECTOR, VMCS.GUEST_SS_BASE, VMCS.GUEST_SS_LIMIT, VMCS.GUEST_SS_ACCESS_RIGHTS],
    [VMCS.GUEST_DS_SELECTOR, VMCS.GUEST_DS_BASE, VMCS.GUEST_DS_LIMIT, VMCS.GUEST_DS_ACCESS_RIGHTS],
    [VMCS.GUEST_ES_SELECTOR, VMCS.GUEST_ES_BASE, VMCS.GUEST_ES_LIMIT, VMCS.GUEST_ES_ACCESS_RIGHTS],
  ] as const) { v.vmwrite32(sel, 0); v.vmwriteNum(base, 0); v.vmwrite32(lim, 0xffff); v.vmwrite32(ar, 0x93); }
  v.vmwriteNum(VMCS.GUEST_RIP, ip);
  v.vmwriteNum(VMCS.GUEST_RSP, 0x7000);
}

test('real mode: instructions are fetched at CS.base + IP, not at IP', () => {
  const m = machine();
  // At linear 0x8014 (CS 0x801, IP 4): push 0x1234; pop es; hlt. At linear 4: hlt.
  m.mem.writeBytes(0x8014, Uint8Array.from([0x68, 0x34, 0x12, 0x07, 0xf4]));
  m.mem.writeBytes(0x4, Uint8Array.from([0xf4]));
  realMode(m, 0x801, 4);
  const x = enter(m);
  assert.is(x.reason, 12, 'HLT exit');
  assert.is(x.rip, 8, 'the HLT at CS:8 (after PUSH imm16 and POP ES)');
  // POP ES in real mode: selector 0x1234, base 0x12340 (no descriptor table involved).
  assert.is(m.vmx.vmread32(VMCS.GUEST_ES_SELECTOR), 0x1234);
  assert.is(m.vmx.vmreadNum(VMCS.GUEST_ES_BASE), 0x12340);
  assert.is(m.vmx.vmread32(VMCS.GUEST_RSP) & 0xffff, 0x7000);
});

test.run();
