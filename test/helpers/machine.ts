/**
 * Shared helpers for tests that drive the machine the way a hypervisor does:
 * build a Machine (VMXON, VMCS configured by core/hv/setup.ts), put raw code
 * bytes into guest RAM, set the guest state with VMWRITE, VMLAUNCH/VMRESUME
 * through `Vmx` (which runs the entry engine), then VMREAD the
 * exit-information fields. Not a test file itself.
 */
import { Machine } from '../../core/hv/machine.js';
import { configurePvhGuest } from '../../core/hv/setup.js';
import { VMCS } from '../../core/vmx/fields.js';
import { ENTRY_CTLS } from '../../core/vmx/capabilities.js';

/** A machine with `memMiB` of guest RAM, configured but not launched. */
export function machine(memMiB = 8): Machine {
  return new Machine({ memMiB });
}

/** Where test code goes by default (1 MiB, like the PVH test guests). */
export const CODE_32 = 0x100000;
export const CODE_64 = 0x100000;

/**
 * 32-bit protected-mode guest with paging off and flat 4-GiB segments (the
 * PVH entry state of core/hv/setup.ts), RIP at `at` where `code` is written.
 */
export function guest32(m: Machine, code: readonly number[], at = CODE_32): void {
  m.mem.writeBytes(at, Uint8Array.from(code));
  configurePvhGuest(m.vmx, { rip: at, rbx: 0 });
}

/** Where `guest32Idt` puts its GDT, IDT, stack top and interrupt handler. */
export const GDT_32 = 0x5000, IDT_32 = 0x6000, STACK_32 = 0x8000, HANDLER_32 = 0x200000;

/**
 * `guest32` with its own GDT (flat code 10h, data 18h) and an IDT whose `vectors` are 32-bit interrupt
 * gates (type 14, P = 1, DPL 0; Vol. 3A Figure "IDT Gate Descriptors") to 10h:HANDLER_32, where
 * `handler` is written; ESP = STACK_32.
 */
export function guest32Idt(code: readonly number[], handler: readonly number[], vectors: readonly number[]): Machine {
  const m = machine();
  guest32(m, code);
  const mem = m.mem;
  mem.fill(GDT_32, 0x28, 0);
  mem.write32(GDT_32 + 0x10, 0x0000ffff); mem.write32(GDT_32 + 0x14, 0x00cf9b00); // code, execute/read, accessed, 32-bit, G
  mem.write32(GDT_32 + 0x18, 0x0000ffff); mem.write32(GDT_32 + 0x1c, 0x00cf9300); // data, read/write, accessed
  mem.fill(IDT_32, 0x800, 0);
  for (const vec of vectors) {
    mem.write32(IDT_32 + vec * 8, (0x10 << 16) | (HANDLER_32 & 0xffff));
    mem.write32(IDT_32 + vec * 8 + 4, (HANDLER_32 & 0xffff0000) | 0x8e00);
  }
  mem.writeBytes(HANDLER_32, Uint8Array.from(handler));
  const v = m.vmx;
  v.vmwriteNum(VMCS.GUEST_GDTR_BASE, GDT_32); v.vmwrite32(VMCS.GUEST_GDTR_LIMIT, 0x27);
  v.vmwriteNum(VMCS.GUEST_IDTR_BASE, IDT_32); v.vmwrite32(VMCS.GUEST_IDTR_LIMIT, 0x7ff);
  v.vmwriteNum(VMCS.GUEST_RSP, STACK_32);
  return m;
}

/** Set and clear bits of a 32-bit VM-execution control field (VMREAD, VMWRITE); returns the VMWRITE status. */
export function setControls(m: Machine, field: number, set: number, clear = 0): string {
  const v = m.vmx.vmread32(field);
  m.vmx.vmwrite32(field, ((v | set) & ~clear) >>> 0);
  return m.vmx.status;
}

/** Guest-physical addresses of the 4-level paging structures built by `guest64`. */
export const PML4 = 0x1000, PDPT = 0x2000, PD = 0x3000;

/**
 * 64-bit guest (IA-32e mode, CS.L = 1) with 4-level paging (SDM Vol. 3A,
 * 4.5): guest-linear [0, 1 GiB) identity-mapped with 2-MiB pages (PML4[0] ->
 * PDPT[0] -> PD with PS = 1), present, writable, supervisor. Guest state per
 * Vol. 3C 26.3.1 checks: CR0.PG/PE, CR4.PAE, EFER.LME/LMA and the
 * "IA-32e mode guest" entry control all 1.
 */
export function guest64(m: Machine, code: readonly number[], at = CODE_64): void {
  m.mem.writeBytes(at, Uint8Array.from(code));
  configurePvhGuest(m.vmx, { rip: at, rbx: 0 });
  const mem = m.mem;
  mem.fill(PML4, 0x3000, 0);
  mem.write32(PML4, PDPT | 0x23);            // P | RW | A
  mem.write32(PDPT, PD | 0x23);
  for (let k = 0; k < 512; k++) mem.write32(PD + k * 8, (k * 0x200000) | 0xe3); // P | RW | A | D | PS
  const v = m.vmx;
  v.vmwriteNum(VMCS.GUEST_CR0, 0x80000031);  // PG | NE | ET | PE
  v.vmwriteNum(VMCS.CR0_READ_SHADOW, 0x80000011);
  v.vmwriteNum(VMCS.GUEST_CR3, PML4);
  v.vmwriteNum(VMCS.GUEST_CR4, 0x2020);      // VMXE | PAE
  v.vmwriteNum(VMCS.CR4_READ_SHADOW, 0);
  v.vmwriteHalves(VMCS.GUEST_IA32_EFER, 0x500, 0); // LMA | LME
  v.vmwrite32(VMCS.VM_ENTRY_CONTROLS, v.vmread32(VMCS.VM_ENTRY_CONTROLS) | ENTRY_CTLS.IA32E_MODE_GUEST);
  v.vmwrite32(VMCS.GUEST_CS_ACCESS_RIGHTS, 0xa09b); // G | L | P | S | type 11 (execute/read, accessed)
}

/** The exit-information fields a hypervisor reads after a VM exit (SDM Vol. 3C, 25.9). */
export interface ExitInfo {
  readonly status: string;
  readonly reason: number;
  readonly qual: number;
  readonly len: number;
  readonly info: number;
  /** Guest-linear address field, exact (BigInt: 64-bit canonical addresses exceed 2^53). */
  readonly gla: bigint;
  readonly gpa: number;
  readonly rip: number;
  readonly idtVectoring: number;
  readonly intInfo: number;
}

const launched = new WeakSet<Machine>();

/**
 * VMLAUNCH (first time) or VMRESUME, with a budget of `budget` guest
 * instructions (a host "kick" ends the run with an external-interrupt exit
 * if nothing else does), then VMREAD of the exit-information fields.
 */
export function enter(m: Machine, budget = 10_000): ExitInfo {
  const v = m.vmx;
  m.engine.kickAt = m.cpu.icount + budget;
  if (launched.has(m)) v.vmresume(); else v.vmlaunch();
  const status = v.status;
  if (status === 'VMsucceed') launched.add(m);
  return {
    status,
    reason: v.vmread32(VMCS.EXIT_REASON),
    qual: v.vmreadNum(VMCS.EXIT_QUALIFICATION),
    len: v.vmread32(VMCS.VM_EXIT_INSTRUCTION_LENGTH),
    info: v.vmread32(VMCS.VM_EXIT_INSTRUCTION_INFORMATION),
    gla: v.vmread(VMCS.GUEST_LINEAR_ADDRESS),
    gpa: v.vmreadNum(VMCS.GUEST_PHYSICAL_ADDRESS),
    rip: v.vmreadNum(VMCS.GUEST_RIP),
    idtVectoring: v.vmread32(VMCS.IDT_VECTORING_INFORMATION),
    intInfo: v.vmread32(VMCS.VM_EXIT_INTERRUPTION_INFORMATION),
  };
}

/** Hex for assertion messages. */
export function hx(n: number): string { return '0x' + n.toString(16); }
