/**
 * One VMCS's contents, as the processor holds it.
 *
 * Intel SDM Vol. 3C chapter "Virtual Machine Control Structures", sections
 * "Overview", "Format of the VMCS Region" (bytes 0-3: revision identifier,
 * bit 31 the shadow-VMCS indicator; bytes 4-7: VMX-abort indicator; the rest:
 * VMCS data in an implementation-specific format) and "Software Use of the
 * VMCS and Related Structures".
 *
 * Each field is two uint32 halves in typed arrays indexed by the dense field
 * index of fields.ts. The accessors are for the processor model (VM entry,
 * VM exit, non-root execution): no permission checks, no BigInt. An encoding
 * that names no field (including a high-access encoding) is a programming
 * error and throws.
 *
 * 64-bit quantities can also be passed as doubles: unsigned (`getNum`, exact
 * below 2^53) or canonical signed (`getSigned`/`setNum`: -0x7f000000 stands for
 * 0xffffffff_81000000, exact within +-2^53).
 */

import type { PhysMem } from '../memory/physmem.js';
import { VMCS_FIELDS, VMCS_FIELD_COUNT, fieldIndex, encodingName } from './fields.js';

export type LaunchState = 'clear' | 'launched';

const TWO32 = 0x1_0000_0000;

/** Per-field masks applied on every store: 16-bit fields keep 16 bits, 32-bit fields 32, others 64. */
const LO_MASK = new Uint32Array(VMCS_FIELD_COUNT);
const HI_MASK = new Uint32Array(VMCS_FIELD_COUNT);
for (const f of VMCS_FIELDS) {
  LO_MASK[f.index] = f.width === 16 ? 0xffff : 0xffff_ffff;
  HI_MASK[f.index] = f.width === 64 || f.width === 'natural' ? 0xffff_ffff : 0;
}

/**
 * This implementation's layout of a VMCS region in memory, written by VMCLEAR
 * and read by VMPTRLD of an inactive VMCS. Bytes 0-7 are architectural.
 */
export const VMCS_REGION_LAYOUT = {
  REVISION_ID: 0,
  ABORT_INDICATOR: 4,
  FORMAT_TAG: 8,
  LAUNCH_STATE: 12,
  FIELD_COUNT: 16,
  DATA: 24,
} as const;

/** "HVTV" in little-endian bytes: marks a region this implementation has initialized. */
export const VMCS_FORMAT_TAG = 0x5654_5648;

const REGION_BYTES = VMCS_REGION_LAYOUT.DATA + 8 * VMCS_FIELD_COUNT;
if (REGION_BYTES > 4096) throw new Error('VMCS data does not fit a 4 KiB region');

export class Vmcs {
  /** Bits 31:0 of each field, by dense index. */
  readonly lo = new Uint32Array(VMCS_FIELD_COUNT);
  /** Bits 63:32 of each field, by dense index (0 for 16- and 32-bit fields). */
  readonly hi = new Uint32Array(VMCS_FIELD_COUNT);
  launchState: LaunchState = 'clear';
  /** Bits 30:0 of the region's first word, as read by VMPTRLD. */
  revisionId = 0;
  /** Bit 31 of the region's first word (shadow-VMCS indicator). */
  shadowIndicator = false;
  /** VMX-abort indicator (bytes 4-7); nonzero after a VMX abort. */
  abortIndicator = 0;

  /** @param regionAddress host-physical address of the VMCS region (-1: none). */
  constructor(readonly regionAddress = -1) {}

  /** Dense index of a full encoding; throws for anything else. */
  static index(enc: number): number {
    const i = fieldIndex(enc);
    if (i < 0) throw new Error(`internal: no VMCS field with encoding ${encodingName(enc)}`);
    return i;
  }

  // By dense index (Vmcs.index), for hot paths that resolve encodings once.

  /** Bits 31:0 of field i. */
  at32(i: number): number { return this.lo[i]!; }
  /** Field i as an unsigned double (see getNum). */
  atNum(i: number): number { return this.hi[i]! * TWO32 + this.lo[i]!; }
  /** Field i as a canonical signed double (see getSigned). */
  atSigned(i: number): number { return (this.hi[i]! | 0) * TWO32 + this.lo[i]!; }
  /** Field i := zero-extended v, truncated to its width (see set32). */
  set32At(i: number, v: number): void {
    this.lo[i] = v & LO_MASK[i]!;
    this.hi[i] = 0;
  }
  /** Field i := hi:lo, truncated to its width (see set). */
  setAt(i: number, lo: number, hi: number): void {
    this.lo[i] = lo & LO_MASK[i]!;
    this.hi[i] = hi & HI_MASK[i]!;
  }
  /** Field i := v, a safe integer (see setNum). */
  setNumAt(i: number, v: number): void {
    if (!Number.isSafeInteger(v)) throw new Error(`internal: ${encodingName(VMCS_FIELDS[i]?.encoding ?? -1)} := ${v} is not a safe integer`);
    this.lo[i] = (v >>> 0) & LO_MASK[i]!;
    this.hi[i] = (Math.floor(v / TWO32) >>> 0) & HI_MASK[i]!;
  }

  /** Bits 31:0 of a field. */
  get32(enc: number): number { return this.lo[Vmcs.index(enc)]!; }
  /** Bits 31:0 of a field (same as get32). */
  getLo(enc: number): number { return this.lo[Vmcs.index(enc)]!; }
  /** Bits 63:32 of a field. */
  getHi(enc: number): number { return this.hi[Vmcs.index(enc)]!; }

  /** field := zero-extended v, truncated to the field's width. */
  set32(enc: number, v: number): void {
    const i = Vmcs.index(enc);
    this.lo[i] = v & LO_MASK[i]!;
    this.hi[i] = 0;
  }

  /** field := hi:lo, truncated to the field's width. */
  set(enc: number, lo: number, hi: number): void {
    const i = Vmcs.index(enc);
    this.lo[i] = lo & LO_MASK[i]!;
    this.hi[i] = hi & HI_MASK[i]!;
  }

  /** The field as an unsigned double hi*2^32+lo (exact below 2^53: addresses). */
  getNum(enc: number): number {
    const i = Vmcs.index(enc);
    return this.hi[i]! * TWO32 + this.lo[i]!;
  }

  /** The field as a canonical signed double (bits 63:32 sign-extend); 16/32-bit fields read unsigned. */
  getSigned(enc: number): number {
    const i = Vmcs.index(enc);
    return (this.hi[i]! | 0) * TWO32 + this.lo[i]!;
  }

  /**
   * field := v, where v is a safe integer, negative values standing for their
   * 64-bit two's complement (so canonical addresses round-trip through getSigned).
   */
  setNum(enc: number, v: number): void {
    const i = Vmcs.index(enc);
    if (!Number.isSafeInteger(v)) throw new Error(`internal: ${encodingName(enc)} := ${v} is not a safe integer`);
    this.lo[i] = (v >>> 0) & LO_MASK[i]!;
    this.hi[i] = (Math.floor(v / TWO32) >>> 0) & HI_MASK[i]!;
  }

  /** All fields to 0, launch state clear. */
  reset(): void {
    this.lo.fill(0);
    this.hi.fill(0);
    this.launchState = 'clear';
  }

  /** Copy every field and the launch state from another VMCS. */
  copyFrom(other: Vmcs): void {
    this.lo.set(other.lo);
    this.hi.set(other.hi);
    this.launchState = other.launchState;
  }

  /**
   * Write this VMCS's data into its region (what VMCLEAR does: "ensure that
   * data for the VMCS is in memory"). Leaves the revision identifier alone and
   * writes the abort indicator only if one was recorded. A region outside
   * memory is not written.
   */
  storeTo(mem: PhysMem, pa: number = this.regionAddress): void {
    if (!regionInMemory(mem, pa)) return;
    const dv = mem.dv, L = VMCS_REGION_LAYOUT;
    if (this.abortIndicator !== 0) dv.setUint32(pa + L.ABORT_INDICATOR, this.abortIndicator >>> 0, true);
    dv.setUint32(pa + L.FORMAT_TAG, VMCS_FORMAT_TAG, true);
    dv.setUint32(pa + L.LAUNCH_STATE, this.launchState === 'launched' ? 1 : 0, true);
    dv.setUint32(pa + L.FIELD_COUNT, VMCS_FIELD_COUNT, true);
    dv.setUint32(pa + L.FIELD_COUNT + 4, 0, true);
    let off = pa + L.DATA;
    for (let i = 0; i < VMCS_FIELD_COUNT; i++, off += 8) {
      dv.setUint32(off, this.lo[i]!, true);
      dv.setUint32(off + 4, this.hi[i]!, true);
    }
  }

  /**
   * Load a VMCS from its region (VMPTRLD of an inactive VMCS). A region this
   * implementation never initialized (no format tag: software skipped VMCLEAR,
   * which the SDM leaves undefined) loads as all-zero fields, launch state clear.
   * Memory outside the buffer reads as all ones.
   */
  static loadFrom(mem: PhysMem, pa: number): Vmcs {
    const v = new Vmcs(pa);
    const L = VMCS_REGION_LAYOUT;
    const rev = readRegion32(mem, pa + L.REVISION_ID);
    v.revisionId = rev & 0x7fff_ffff;
    v.shadowIndicator = (rev & 0x8000_0000) !== 0;
    v.abortIndicator = readRegion32(mem, pa + L.ABORT_INDICATOR);
    if (regionInMemory(mem, pa) &&
        mem.dv.getUint32(pa + L.FORMAT_TAG, true) === VMCS_FORMAT_TAG &&
        mem.dv.getUint32(pa + L.FIELD_COUNT, true) === VMCS_FIELD_COUNT) {
      v.launchState = mem.dv.getUint32(pa + L.LAUNCH_STATE, true) === 1 ? 'launched' : 'clear';
      let off = pa + L.DATA;
      for (let i = 0; i < VMCS_FIELD_COUNT; i++, off += 8) {
        v.lo[i] = mem.dv.getUint32(off, true) & LO_MASK[i]!;
        v.hi[i] = mem.dv.getUint32(off + 4, true) & HI_MASK[i]!;
      }
    }
    return v;
  }
}

/** Whether a whole 4 KiB region at pa lies in memory. */
export function regionInMemory(mem: PhysMem, pa: number): boolean {
  return Number.isSafeInteger(pa) && pa >= 0 && pa + 4096 <= mem.size;
}

/** A 32-bit read that returns all ones outside memory (no device answers). */
export function readRegion32(mem: PhysMem, pa: number): number {
  return Number.isSafeInteger(pa) && pa >= 0 && pa + 4 <= mem.size ? mem.dv.getUint32(pa, true) : 0xffff_ffff;
}
