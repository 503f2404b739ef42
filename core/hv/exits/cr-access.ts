/**
 * Exit reason 28, control-register access (qualification: SDM Vol. 3C,
 * Table 28-3). The hypervisor owns CR0.NE and CR4.VMXE (guest/host masks);
 * a guest write that changes an owned bit against its read shadow exits
 * here. The handler updates the shadow, keeps the owned bits at their
 * VMX-required values, and applies what the write means architecturally
 * (EFER.LMA on paging changes, #GP for invalid combinations).
 */
import type { Machine, Stop } from '../machine.js';
import { VMCS } from '../../vmx/fields.js';
import { CR0_HOST_OWNED, CR4_HOST_OWNED } from '../setup.js';
import { setLongModeActive } from '../msrs.js';
import { CR0_PE, CR0_PG, CR4_PAE, CR4_VMXE } from '../../cpu/regs.js';

export function crAccess(m: Machine): Stop | void {
  const q = m.vmx.vmreadNum(VMCS.EXIT_QUALIFICATION);
  const cr = q & 15, type = (q >> 4) & 3, gpr = (q >> 8) & 15;
  if (cr === 8) return cr8Access(m, type, gpr);
  if (type !== 0) return { kind: 'error', message: `unexpected control-register exit (CR${cr}, access type ${type})` };
  const [v, vh] = m.getGpr(gpr);
  if (cr === 0) {
    if (vh !== 0 || ((v & CR0_PG) && !(v & CR0_PE))) { m.injectException(13, 0); return; }
    const old = m.vmx.vmread32(VMCS.GUEST_CR0);
    const efer = m.vmx.vmread32(VMCS.GUEST_IA32_EFER);
    const cr4 = m.vmx.vmread32(VMCS.GUEST_CR4);
    const pgOn = (v & CR0_PG) !== 0 && !(old & CR0_PG);
    const pgOff = !(v & CR0_PG) && (old & CR0_PG) !== 0;
    if (pgOn && (efer & 0x100) && !(cr4 & CR4_PAE)) { m.injectException(13, 0); return; }
    m.vmx.vmwriteNum(VMCS.CR0_READ_SHADOW, v >>> 0);
    m.vmx.vmwriteNum(VMCS.GUEST_CR0, ((v & ~CR0_HOST_OWNED) | CR0_HOST_OWNED) >>> 0);
    if (pgOn && (efer & 0x100)) setLongModeActive(m, true);
    if (pgOff) setLongModeActive(m, false);
  } else if (cr === 4) {
    if (vh !== 0 || (v & CR4_VMXE)) { m.injectException(13, 0); return; } // VMX is not offered to the guest
    m.vmx.vmwriteNum(VMCS.CR4_READ_SHADOW, v & CR4_HOST_OWNED);
    m.vmx.vmwriteNum(VMCS.GUEST_CR4, ((v & ~CR4_HOST_OWNED) | CR4_HOST_OWNED) >>> 0);
  } else {
    return { kind: 'error', message: `unexpected MOV to CR${cr} exit` };
  }
  m.skipInstruction();
}

/**
 * MOV to/from CR8 (CR8-load/store exiting): CR8[3:0] is TPR[7:4] of the
 * local APIC (Vol. 3A 10.8.6.1). MOV to CR8 with bits 63:4 set is #GP(0)
 * (Vol. 2B, MOV—Move to/from Control Registers); that check is not among
 * the faults with priority over the exit (Vol. 3C 25.1.1), so it is ours.
 */
function cr8Access(m: Machine, type: number, gpr: number): Stop | void {
  const apic = m.pc.lapic;
  if (type === 1) m.setGpr(gpr, apic.cr8, 0);
  else if (type === 0) {
    const [v, vh] = m.getGpr(gpr);
    if ((v & ~0xf) !== 0 || vh !== 0) { m.injectException(13, 0); return; }
    apic.cr8 = v;
  } else return { kind: 'error', message: `unexpected control-register exit (CR8, access type ${type})` };
  m.skipInstruction();
}
