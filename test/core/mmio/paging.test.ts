// The MMIO emulator's guest page walker and EPT walker (core/mmio/paging.ts).
// Expected addresses follow from the tables each test builds (SDM Vol. 3A
// 4.3 / 4.4 / 4.5 entry formats); expected #PF error codes from Vol. 3A
// 4.7 (bit 0 P: protection violation, bit 1 W/R, bit 2 U/S, bit 4 I/D); the
// walker is also cross-checked against the hypervisor's other, independent
// walker (core/hv/guest-memory.ts linearToPhysical) on a Machine.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PhysMem } from '../../../core/memory/physmem.js';
import {
  translateLinear, eptTranslate, Translation, ACC_READ, ACC_WRITE, ACC_FETCH, type PagingRegs, type PhysAccess,
} from '../../../core/mmio/paging.js';
import { MachineGuestAccess, guestMode } from '../../../core/mmio/machine.js';
import { linearToPhysical } from '../../../core/hv/guest-memory.js';
import { VMCS } from '../../../core/vmx/fields.js';
import { machine, guest32, guest64 } from '../../helpers/machine.js';

const P = 1, W = 2, U = 4, A = 0x20, D = 0x40, PS = 0x80;
const PF_P = 1, PF_W = 2, PF_U = 4, PF_I = 16;
const CR0_PG = 0x80000000 | 0, CR0_WP = 1 << 16, CR0_PE = 1;
const CR4_PSE = 0x10, CR4_PAE = 0x20, CR4_SMEP = 1 << 20, CR4_SMAP = 1 << 21;
const EFER_LME = 0x100, EFER_LMA = 0x400, EFER_NXE = 0x800;

function physOf(mem: PhysMem): PhysAccess {
  return {
    read32: (gpa) => (gpa >= 0 && gpa + 4 <= mem.size ? mem.dv.getUint32(gpa, true) : -1),
    write32: (gpa, v) => mem.dv.setUint32(gpa, v >>> 0, true),
  };
}
function e64(mem: PhysMem, at: number, lo: number, hi = 0): void { mem.dv.setUint32(at, lo >>> 0, true); mem.dv.setUint32(at + 4, hi >>> 0, true); }

/** 4-level tables: PML4 0x1000, PDPT 0x2000, PD 0x3000, PT 0x4000. */
function fourLevel(): PhysMem {
  const mem = new PhysMem(0x100000);
  e64(mem, 0x1000 + 0 * 8, 0x2000 | P | W | U);
  e64(mem, 0x1000 + 511 * 8, 0x2000 | P | W);             // 0xffffff80_00000000: supervisor
  e64(mem, 0x2000 + 0 * 8, 0x3000 | P | W | U);
  e64(mem, 0x2000 + 1 * 8, 0x40000000 | P | W | U | PS);   // 1-GiB page: 0x40000000 -> 0x40000000
  e64(mem, 0x2000 + 2 * 8, 0x1_0000_0000 % 0x100000000 | P | PS, 0x1); // 1-GiB page at 4 GiB, read-only, supervisor
  e64(mem, 0x3000 + 0 * 8, 0x4000 | P | W | U);
  e64(mem, 0x3000 + 1 * 8, 0x00600000 | P | W | U | PS);   // 2-MiB page: 0x200000 -> 0x600000
  e64(mem, 0x4000 + 5 * 8, 0x00077000 | P | W | U);        // 0x5000 -> 0x77000
  e64(mem, 0x4000 + 6 * 8, 0x00078000 | P | U);            // read-only user page
  e64(mem, 0x4000 + 7 * 8, 0x00079000 | P | W | U, 0x80000000 | 0); // XD
  e64(mem, 0x4000 + 8 * 8, 0x0007a000 | P | W);            // supervisor page
  return mem;
}
const LM = (over: Partial<PagingRegs> = {}): PagingRegs => ({
  cr0: CR0_PG | CR0_PE | CR0_WP, cr3: 0x1000, cr4: CR4_PAE, efer: EFER_LME | EFER_LMA | EFER_NXE, cpl: 0, ac: false, ...over,
});

function tr(regs: PagingRegs, mem: PhysMem, lin: number, acc: 0 | 1 | 2): Translation {
  const out = new Translation();
  translateLinear(regs, physOf(mem), lin, acc, out);
  return out;
}

test('4-level paging: 4-KiB, 2-MiB and 1-GiB pages map as the entries say (Vol. 3A 4.5)', () => {
  const mem = fourLevel();
  assert.is(tr(LM(), mem, 0x5123, ACC_READ).gpa, 0x77123);
  assert.is(tr(LM(), mem, 0x2abcde, ACC_READ).gpa, 0x6abcde);
  assert.is(tr(LM(), mem, 0x7654_3210, ACC_READ).gpa, 0x7654_3210);
  assert.is(tr(LM(), mem, 0x8000_0123, ACC_READ).gpa, 0x1_0000_0123);
  const neg = -0x80_0000_0000 + 0x5000; // 0xffffff80_00005000 -> PML4[511] -> PDPT 0x2000 ... -> 0x77000
  assert.is(tr(LM(), mem, neg, ACC_READ).gpa, 0x77000);
});

test('not present: error code = W/R | U/S | I/D, P = 0 (Vol. 3A 4.7)', () => {
  const mem = fourLevel();
  let t = tr(LM(), mem, 0x9000, ACC_READ);
  assert.not.ok(t.ok); assert.is(t.errorCode, 0);
  t = tr(LM({ cpl: 3 }), mem, 0x9000, ACC_WRITE);
  assert.is(t.errorCode, PF_W | PF_U);
  t = tr(LM(), mem, 0x9000, ACC_FETCH);
  assert.is(t.errorCode, PF_I);
});

test('protection: R/W with CR0.WP, U/S, XD with EFER.NXE, SMEP, SMAP/AC (Vol. 3A 4.6)', () => {
  const mem = fourLevel();
  assert.is(tr(LM(), mem, 0x6000, ACC_WRITE).errorCode, PF_P | PF_W);              // read-only, WP = 1
  assert.ok(tr(LM({ cr0: CR0_PG | CR0_PE }), mem, 0x6000, ACC_WRITE).ok);           // WP = 0: supervisor may write
  assert.is(tr(LM({ cpl: 3 }), mem, 0x6000, ACC_WRITE).errorCode, PF_P | PF_W | PF_U);
  assert.is(tr(LM({ cpl: 3 }), mem, 0x8000, ACC_READ).errorCode, PF_P | PF_U);     // supervisor page
  assert.is(tr(LM(), mem, 0x7000, ACC_FETCH).errorCode, PF_P | PF_I);               // XD
  assert.ok(tr(LM({ efer: EFER_LME | EFER_LMA }), mem, 0x7000, ACC_FETCH).ok);      // NXE = 0: XD ignored
  assert.is(tr(LM({ cr4: CR4_PAE | CR4_SMEP }), mem, 0x5000, ACC_FETCH).errorCode, PF_P | PF_I);
  assert.is(tr(LM({ cr4: CR4_PAE | CR4_SMAP }), mem, 0x5000, ACC_READ).errorCode, PF_P);
  assert.ok(tr(LM({ cr4: CR4_PAE | CR4_SMAP, ac: true }), mem, 0x5000, ACC_READ).ok);
  assert.is(tr(LM(), mem, 0x8000_0000, ACC_WRITE).errorCode, PF_P | PF_W);         // read-only 1-GiB page
});

test('accessed flags on every entry used, dirty on the leaf for a write (Vol. 3A 4.8)', () => {
  const mem = fourLevel();
  assert.ok(tr(LM(), mem, 0x5000, ACC_READ).ok);
  assert.is(mem.read32(0x1000) & (A | D), A); assert.is(mem.read32(0x4000 + 5 * 8) & (A | D), A);
  assert.ok(tr(LM(), mem, 0x5000, ACC_WRITE).ok);
  assert.is(mem.read32(0x4000 + 5 * 8) & (A | D), A | D); assert.is(mem.read32(0x3000) & D, 0);
  const before = mem.read32(0x4000 + 6 * 8);
  assert.not.ok(tr(LM(), mem, 0x6000, ACC_WRITE).ok);
  assert.is(mem.read32(0x4000 + 6 * 8), before, 'a faulting walk sets nothing');
});

test('32-bit paging with 4-MiB pages (PSE, PSE-36 bits 39:32 from PDE bits 20:13) and PAE paging', () => {
  const mem = new PhysMem(0x100000);
  mem.write32(0x1000 + 1 * 4, 0x2000 | P | W);                       // PDE 1 -> PT 0x2000
  mem.write32(0x2000 + 3 * 4, 0x0009_9000 | P | W);                  // 0x403000 -> 0x99000
  mem.write32(0x1000 + 2 * 4, (0x00c0_0000 | P | W | PS | (1 << 13)) >>> 0); // 0x800000 -> 0x1_00c00000
  const r32: PagingRegs = { cr0: CR0_PG | CR0_PE, cr3: 0x1000, cr4: CR4_PSE, efer: 0, cpl: 0, ac: false };
  assert.is(tr(r32, mem, 0x403abc, ACC_READ).gpa, 0x99abc);
  assert.is(tr(r32, mem, 0x812345, ACC_READ).gpa, 0x1_00c1_2345);
  assert.is(tr(r32, mem, 0xc00000, ACC_READ).errorCode, 0);
  // PAE: 4 PDPTEs at CR3 (32-byte aligned)
  const pae = new PhysMem(0x100000);
  e64(pae, 0x1020 + 1 * 8, 0x3000 | P);                    // PDPTE 1 (1 GiB .. 2 GiB)
  e64(pae, 0x3000 + 2 * 8, 0x4000 | P | W);                // PDE 2 -> PT
  e64(pae, 0x4000 + 1 * 8, 0x0005_5000 | P | W);           // 0x40401000 -> 0x55000
  e64(pae, 0x3000 + 3 * 8, 0x0060_0000 | P | W | PS, 2);   // 2-MiB page -> 0x2_00600000
  const rp: PagingRegs = { cr0: CR0_PG | CR0_PE, cr3: 0x1020, cr4: CR4_PAE, efer: 0, cpl: 0, ac: false };
  assert.is(tr(rp, pae, 0x4040_1234, ACC_READ).gpa, 0x55234);
  assert.is(tr(rp, pae, 0x4061_0000, ACC_READ).gpa, 0x2_0061_0000);
  assert.is(tr(rp, pae, 0x0000_1000, ACC_READ).errorCode, 0);
  // paging off: linear = physical
  assert.is(tr({ ...rp, cr0: CR0_PE }, pae, 0x1234_5678, ACC_WRITE).gpa, 0x1234_5678);
});

test('a paging structure outside RAM is a walk error, not a #PF', () => {
  const mem = new PhysMem(0x10000);
  e64(mem, 0x1000, 0x7000_0000 | P | W);
  const t = tr(LM(), mem, 0x1000, ACC_READ);
  assert.not.ok(t.ok); assert.is(t.errorCode, -1); assert.ok(t.message.includes('not RAM'));
});

test('EPT: the Machine maps guest RAM 1:1 (2-MiB pages); anything above RAM is not RAM (MMIO)', () => {
  const m = machine(8);
  const eptp = m.vmx.vmreadNum(VMCS.EPT_POINTER);
  const read = (hpa: number): number => (hpa + 4 <= m.mem.size ? m.mem.dv.getUint32(hpa, true) : -1);
  assert.is(eptTranslate(read, eptp, 0x12345, ACC_READ), 0x12345);
  assert.is(eptTranslate(read, eptp, 8 * 1024 * 1024 - 1, ACC_WRITE), 8 * 1024 * 1024 - 1);
  assert.is(eptTranslate(read, eptp, 8 * 1024 * 1024, ACC_READ), -1);
  assert.is(eptTranslate(read, eptp, 0xfee0_0000, ACC_READ), -1);
  const g = new MachineGuestAccess(m);
  assert.ok(g.isRam(0x1000)); assert.not.ok(g.isRam(0xd000_0000));
});

test('MachineGuestAccess agrees with core/hv/guest-memory.ts on a 64-bit guest, and reads mode and registers from the VMCS', () => {
  const m = machine(8);
  guest64(m, [0x90]);
  m.vmx.vmwriteNum(VMCS.GUEST_RSP, -16);
  const g = new MachineGuestAccess(m);
  assert.is(guestMode(m), 64);
  const out = new Translation();
  for (let lin = 0; lin < 0x4000_0000; lin += 0x1357_9bd) {
    assert.ok(g.translate(lin, ACC_READ, out));
    assert.is(out.gpa, linearToPhysical(m, lin), `lin 0x${lin.toString(16)}`);
  }
  assert.equal([g.gprLo(4), g.gprHi(4)], [-16 >>> 0 | 0, -1]);
  g.setGpr(4, 0x1000, 0);
  assert.is(m.vmx.vmreadNum(VMCS.GUEST_RSP), 0x1000);
  const m32 = machine(8);
  guest32(m32, [0x90]);
  assert.is(guestMode(m32), 32);
});

test.run();
