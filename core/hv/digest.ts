/**
 * State digests: a compact fingerprint of the guest's architectural
 * registers and of guest RAM, emitted every N events so a replay catches a
 * divergence that no event shows yet. Memory is hashed page by page and only
 * pages written since the last digest are rehashed (PhysMem.dirty); the
 * memory digest combines the page hashes in four independent 32-bit lanes,
 * each a sum over pages of a page-index-keyed mix of the page hash, so a
 * changed page updates it in O(1). It detects divergence; it is not a
 * cryptographic commitment to the memory contents.
 */
import { createHash } from 'node:crypto';
import type { Machine } from './machine.js';
import type { DigestEvent } from './events.js';
import { VMCS } from '../vmx/fields.js';
import { fpuState } from '../cpu/fpu-state.js';

/** 32-bit hash of one 4-KiB page (multiply-rotate over 32-bit words; deterministic, not cryptographic). */
function hashPage(words: Int32Array, start: number): number {
  let h = 0x811c9dc5 | 0;
  for (let k = start; k < start + 1024; k++) {
    h = Math.imul(h ^ words[k]!, 0x01000193);
    h = (h << 13) | (h >>> 19);
  }
  return h >>> 0;
}

/** Lane k's keyed mix of (page index, page hash): a 32-bit avalanche of both. */
function mix(k: number, page: number, h: number): number {
  let x = Math.imul(h ^ Math.imul(page + 1, 0x9e3779b1), 0x85ebca6b) ^ Math.imul(k + 1, 0xc2b2ae35);
  x ^= x >>> 16; x = Math.imul(x, 0x7feb352d); x ^= x >>> 15; x = Math.imul(x, 0x846ca68b); x ^= x >>> 16;
  return x;
}

const REG_FIELDS = [
  VMCS.GUEST_RIP, VMCS.GUEST_RSP, VMCS.GUEST_RFLAGS, VMCS.GUEST_CR0, VMCS.GUEST_CR3, VMCS.GUEST_CR4, VMCS.GUEST_IA32_EFER,
  VMCS.GUEST_CS_SELECTOR, VMCS.GUEST_CS_ACCESS_RIGHTS, VMCS.GUEST_SS_SELECTOR, VMCS.GUEST_DS_SELECTOR, VMCS.GUEST_FS_BASE,
  VMCS.GUEST_GS_BASE, VMCS.GUEST_GDTR_BASE, VMCS.GUEST_IDTR_BASE, VMCS.GUEST_TR_BASE, VMCS.GUEST_ACTIVITY_STATE,
  VMCS.GUEST_INTERRUPTIBILITY_STATE,
] as const;

export class StateDigest {
  private readonly pageHash: Uint32Array;
  private readonly words: Int32Array;
  /** Four lanes of Σ mix_k(page, pageHash) mod 2^32. */
  private readonly lanes = new Int32Array(4);

  private primed = false;

  constructor(private readonly m: Machine) {
    this.pageHash = new Uint32Array(m.ramBytes / 4096);
    this.words = new Int32Array(m.mem.buffer, 0, m.ramBytes / 4);
  }

  /** Digest of the state saved in the VMCS at the current VM exit, plus the GPRs. */
  event(): DigestEvent {
    const m = this.m;
    const dirty = m.mem.dirty;
    const ph = this.pageHash;
    const lanes = this.lanes;
    for (let p = 0; p < ph.length; p++) {
      if (!dirty[p]) continue;
      dirty[p] = 0;
      const h = hashPage(this.words, p * 1024);
      const old = ph[p]!;
      if (h === old && this.primed) continue;
      for (let k = 0; k < 4; k++) lanes[k] = (lanes[k]! - (this.primed ? mix(k, p, old) : 0) + mix(k, p, h)) | 0;
      ph[p] = h;
    }
    this.primed = true;
    const mem = Array.from(lanes, (x) => (x >>> 0).toString(16).padStart(8, '0')).join('');
    const regs = new Uint32Array(32 + REG_FIELDS.length * 2 + 10);
    regs[regs.length - 1] = m.cpu.tscAux >>> 0;
    for (let r = 0; r < 16; r++) { regs[2 * r] = m.cpu.lo[r]!; regs[2 * r + 1] = m.cpu.hi[r]!; }
    regs[8] = 0; regs[9] = 0; // RSP is taken from the VMCS below
    REG_FIELDS.forEach((f, k) => {
      regs[32 + 2 * k] = m.vmx.vmread32(f);
      regs[33 + 2 * k] = Math.floor(m.vmx.vmreadSigned(f) / 4294967296) >>> 0;
    });
    // MSRs the hypervisor passes through live only in the CPU (core/hv/msrs.ts passThroughMsrs).
    const c = m.cpu, base = 32 + REG_FIELDS.length * 2;
    [c.star, c.starHi, c.lstar, c.cstar, c.fmask, c.kernelGsBase].forEach((v, k) => { regs[base + k] = v >>> 0; });
    regs[base + 6] = Math.floor(c.lstar / 4294967296) >>> 0;
    regs[base + 7] = Math.floor(c.cstar / 4294967296) >>> 0;
    regs[base + 8] = Math.floor(c.kernelGsBase / 4294967296) >>> 0;
    const fpu = fpuState(m.cpu);
    const rh = createHash('sha256').update(new Uint8Array(regs.buffer))
      .update(new Uint8Array(fpu.xmm.buffer)).update(Uint32Array.of(fpu.mxcsr, c.fpuCw, c.fpuSw)).update(fpu.st)
      .digest('hex').slice(0, 32);
    return { kind: 'digest', ic: m.cpu.icount, regs: rh, mem };
  }
}
