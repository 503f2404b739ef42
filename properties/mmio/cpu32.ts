/**
 * Run ONE instruction on core/cpu in 32-bit protected mode, for the
 * 32-bit emulate-vs-CPU property. The 64-bit counterpart is
 * properties/harness/cpu1.ts (Cpu1); this one keeps its physical layout and its
 * result shape (the native harness's) but uses:
 *  - 32-bit paging (SDM Vol. 3A 4.3): CR0.PE|ET|NE|WP|PG, CR4 = 0, EFER = 0;
 *    PD at 0x0000, page tables at 0x3000 (scratch) and 0x4000 (code); the
 *    scratch page NATIVE_SCRATCH_BASE -> 0x5000 and three code pages around
 *    NATIVE_CODE_ADDR -> 0x6000..0x8fff, every other page not present;
 *  - CS a flat 32-bit code segment (access rights 0xc09b), data segments
 *    (0xc093) based at DATA_BASE_32 so that offsets 0x8000.. reach the
 *    scratch page with 16-bit addressing too;
 *  - exceptions turned into VM exits by an all-ones exception bitmap.
 */
import { PhysMem } from '../../core/memory/physmem.js';
import { Cpu } from '../../core/cpu/cpu.js';
import { VM_EXIT, UnimplementedError } from '../../core/cpu/fault.js';
import { CS, SS, DS, ES, FS, GS, LDTR, TR, IF } from '../../core/cpu/regs.js';
import {
  NATIVE_CODE_ADDR, NATIVE_SCRATCH_BASE, NATIVE_SCRATCH_SIZE, NATIVE_RFLAGS_INPUT_MASK, type NativeCase, type NativeState,
} from '../harness/native.js';
import type { Cpu1Result } from '../harness/cpu1.js';
import { DATA_BASE_32 } from './cases.js';

export const PA32_PD = 0x0000, PA32_PT_SCRATCH = 0x3000, PA32_PT_CODE = 0x4000, PA32_SCRATCH = 0x5000, PA32_CODE = 0x6000;
export const CODE_BASE_32 = NATIVE_CODE_ADDR - 0x1000;
const MEM_SIZE = 0x10000;

export class Cpu32 {
  readonly mem = new PhysMem(MEM_SIZE);
  readonly cpu = new Cpu(this.mem);

  constructor() { this.resetPaging(); }

  /** 32-bit paging structures (Vol. 3A Tables 4-5, 4-6): present, writable, supervisor, A/D clear. */
  resetPaging(): void {
    const m = this.mem;
    m.fill(0, 0x5000);
    m.write32(PA32_PD + (NATIVE_SCRATCH_BASE >>> 22) * 4, PA32_PT_SCRATCH | 3);
    m.write32(PA32_PD + (CODE_BASE_32 >>> 22) * 4, PA32_PT_CODE | 3);
    m.write32(PA32_PT_SCRATCH + ((NATIVE_SCRATCH_BASE >>> 12) & 0x3ff) * 4, PA32_SCRATCH | 3);
    for (let k = 0; k < 3; k++) m.write32(PA32_PT_CODE + (((CODE_BASE_32 >>> 12) + k) & 0x3ff) * 4, (PA32_CODE + k * 0x1000) | 3);
    this.cpu.flushTlb();
  }

  private resetCpu(): void {
    const c = this.cpu;
    c.efer = 0;
    c.cr0 = (1 << 0) | (1 << 4) | (1 << 5) | (1 << 16) | (1 << 31);
    c.cr4 = 0; c.cr3 = PA32_PD; c.cr2 = 0;
    for (let s = 0; s < 8; s++) { c.segSel[s] = 0x10; c.segBase[s] = DATA_BASE_32; c.segLimit[s] = 0xffff_ffff; c.segAr[s] = 0xc093; }
    c.segSel[CS] = 0x08; c.segBase[CS] = 0; c.segAr[CS] = 0xc09b;
    for (const s of [SS, DS, ES, FS, GS]) c.segSel[s] = 0x10;
    c.segAr[LDTR] = 0x10000; c.segBase[LDTR] = 0;
    c.segSel[TR] = 0x18; c.segAr[TR] = 0x8b; c.segLimit[TR] = 0x67; c.segBase[TR] = 0;
    c.updateMode();
    c.eptOn = false;
    c.excBitmap = 0xffff_ffff; c.pfecMask = 0; c.pfecMatch = 0;
    c.ctlPin = 0; c.ctlProc = 0; c.ctlProc2 = 0;
    c.idtrLimit = 0;
    c.halted = false; c.shadowAt = -1; c.shadowKind = 0;
    c.vecInfo = 0; c.vecErr = 0; c.codeDirty = false;
    c.flushTlb();
  }

  private loadCode(code: Uint8Array): void {
    const u8 = this.mem.u8;
    u8.fill(0xcc, PA32_CODE, PA32_CODE + 0x3000);
    u8.set(code, PA32_CODE + 0x1000);
    this.cpu.flushCode();
  }

  private snapshot(): NativeState {
    const c = this.cpu;
    const gpr = new Uint32Array(32);
    for (let r = 0; r < 16; r++) { gpr[2 * r] = c.lo[r]! >>> 0; gpr[2 * r + 1] = c.hi[r]! >>> 0; }
    return { gpr, rflags: c.getFlags() >>> 0, mem: this.mem.u8.slice(PA32_SCRATCH, PA32_SCRATCH + NATIVE_SCRATCH_SIZE) };
  }

  run(k: NativeCase): Cpu1Result {
    const c = this.cpu;
    this.resetPaging();
    this.resetCpu();
    this.loadCode(k.code);
    this.mem.u8.set(k.state.mem, PA32_SCRATCH);
    for (let r = 0; r < 16; r++) { c.lo[r] = k.state.gpr[2 * r]! | 0; c.hi[r] = k.state.gpr[2 * r + 1]! | 0; }
    c.setFlags((k.state.rflags & NATIVE_RFLAGS_INPUT_MASK) | IF | 2);
    c.rip = NATIVE_CODE_ADDR;
    try {
      c.run(c.icount + 1);
      return { ok: true, state: this.snapshot(), ripOffset: c.rip - NATIVE_CODE_ADDR };
    } catch (e) {
      if (e instanceof UnimplementedError) {
        return { ok: false, signal: 'SIGILL', code: 0, state: this.snapshot(), ripOffset: 0, addr: 0n, errorCode: 0, unimplemented: e.message };
      }
      if (e !== VM_EXIT) throw e;
      if (c.xReason === 0) {
        const vector = c.xIntInfo & 0xff;
        return {
          ok: false, signal: 'SIGSEGV', code: 0, state: this.snapshot(), ripOffset: c.rip - NATIVE_CODE_ADDR,
          addr: vector === 14 ? BigInt(c.xQual >>> 0) : 0n, vector, errorCode: c.xIntInfo & 0x800 ? c.xIntErr >>> 0 : 0,
        };
      }
      return { ok: false, signal: 'SIGSEGV', code: 0, state: this.snapshot(), ripOffset: 0, addr: 0n, errorCode: 0, exitReason: c.xReason };
    }
  }
}
