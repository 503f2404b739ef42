/**
 * Effective-address computation (SDM Vol. 1, 3.7.5 "Specifying an Offset";
 * Vol. 2A, 2.2.1.6 "RIP-Relative Addressing"), one function per addressing
 * size, chosen once at decode time. Each returns the LINEAR address: the
 * segment base is added (only FS/GS in 64-bit mode) and, in 64-bit mode, a
 * non-canonical result raises #GP(0), or #SS(0) for stack-segment accesses
 * (Vol. 3A, 6.15 "#GP" and "#SS").
 */
import type { Cpu } from './cpu.js';
import type { EaFn, Insn } from './insn.js';
import { SS, GP, SS_VEC, TWO32 } from './regs.js';

const SCALE = [1, 2, 4, 8] as const;

export const EA_NONE: EaFn = () => { throw new Error('instruction has no memory operand'); };

function canonical(cpu: Cpu, i: Insn, a: number): number {
  if (a < -0x8000_0000_0000 || a >= 0x8000_0000_0000) cpu.fault(i.seg === SS ? SS_VEC : GP, 0);
  return a;
}

/**
 * The canonical check for an address derived from an effective address
 * (BT* bit offsets, second operands): #GP(0), or #SS(0) for SS (Vol. 3A, 6.15).
 * Outside 64-bit mode the address wraps at 2^32.
 */
export function checkLinear(cpu: Cpu, seg: number, a: number): number {
  if (cpu.mode !== 8) { cpu.accSeg = seg; return a >>> 0; }
  if (a < -0x8000_0000_0000 || a >= 0x8000_0000_0000) cpu.fault(seg === SS ? SS_VEC : GP, 0);
  return a;
}

/**
 * Low 32 bits of the linear address of the memory operand, without any
 * check: for alignment checks that take priority over the canonical check.
 */
export function eaLow32(cpu: Cpu, i: Insn): number {
  if (i.mod === 0 && i.base < 0 && i.index < 0 && cpu.mode === 8 && (i.rm & 7) === 5) return (cpu.ripNext + i.disp) | 0;
  let s = i.disp;
  if (i.base >= 0) s += cpu.lo[i.base]!;
  if (i.index >= 0) s += cpu.lo[i.index]! << i.scale;
  return (s + cpu.segBaseEff[i.seg]!) | 0;
}

/** 64-bit addressing: base + index*scale + disp modulo 2^64, then canonical check. */
const ea64: EaFn = (cpu, i) => {
  let s = i.disp;
  let h = 0;
  if (i.base >= 0) { s += cpu.lo[i.base]! >>> 0; h += cpu.hi[i.base]!; }
  if (i.index >= 0) { const m = SCALE[i.scale]!; s += (cpu.lo[i.index]! >>> 0) * m; h += cpu.hi[i.index]! * m; }
  const hi = (h + Math.floor(s / TWO32)) | 0;
  return canonical(cpu, i, hi * TWO32 + (s >>> 0) + cpu.segBaseEff[i.seg]!);
};

/** RIP-relative: next instruction's RIP + disp32. */
const eaRip: EaFn = (cpu, i) => canonical(cpu, i, cpu.ripNext + i.disp + cpu.segBaseEff[i.seg]!);

/** 32-bit addressing in 64-bit mode (67 prefix): the offset is truncated to 32 bits. */
const ea32in64: EaFn = (cpu, i) => {
  let s = i.disp;
  if (i.base >= 0) s += cpu.lo[i.base]!;
  if (i.index >= 0) s += cpu.lo[i.index]! * SCALE[i.scale]!;
  return canonical(cpu, i, (s >>> 0) + cpu.segBaseEff[i.seg]!);
};
const eaRip32: EaFn = (cpu, i) => canonical(cpu, i, ((cpu.ripNext + i.disp) >>> 0) + cpu.segBaseEff[i.seg]!);

/** 32-bit addressing outside 64-bit mode: offset and linear address wrap at 2^32. */
const ea32: EaFn = (cpu, i) => {
  cpu.accSeg = i.seg; // for a 4-GiB wrap (Cpu.segWrap)
  let s = i.disp + cpu.segBase[i.seg]!;
  if (i.base >= 0) s += cpu.lo[i.base]!;
  if (i.index >= 0) s += cpu.lo[i.index]! * SCALE[i.scale]!;
  return s >>> 0;
};

/** 16-bit addressing: the offset wraps at 2^16. */
const ea16: EaFn = (cpu, i) => {
  cpu.accSeg = i.seg;
  let s = i.disp;
  if (i.base >= 0) s += cpu.lo[i.base]!;
  if (i.index >= 0) s += cpu.lo[i.index]!;
  return ((s & 0xffff) + cpu.segBase[i.seg]!) >>> 0;
};

/** 64-bit addressing, base + disp (no index): ea64 without the absent terms. */
const ea64b: EaFn = (cpu, i) => {
  const b = i.base;
  const s = i.disp + (cpu.lo[b]! >>> 0);
  const hi = (cpu.hi[b]! + Math.floor(s / TWO32)) | 0;
  return canonical(cpu, i, hi * TWO32 + (s >>> 0) + cpu.segBaseEff[i.seg]!);
};
/** 64-bit addressing, base + index * scale + disp. */
const ea64bi: EaFn = (cpu, i) => {
  const b = i.base, x = i.index, m = SCALE[i.scale]!;
  const s = i.disp + (cpu.lo[b]! >>> 0) + (cpu.lo[x]! >>> 0) * m;
  const hi = (cpu.hi[b]! + cpu.hi[x]! * m + Math.floor(s / TWO32)) | 0;
  return canonical(cpu, i, hi * TWO32 + (s >>> 0) + cpu.segBaseEff[i.seg]!);
};

/** 64-bit addressing, disp32 only (no base, no index; not RIP-relative): absolute, usually with FS/GS. */
const ea64d: EaFn = (cpu, i) => {
  const s = i.disp;
  return canonical(cpu, i, ((Math.floor(s / TWO32) | 0) * TWO32 + (s >>> 0)) + cpu.segBaseEff[i.seg]!);
};

/** Pick the EA function for the decoded base/index combination (called once per decoded instruction). */
export function specializeEa(i: Insn): void {
  if (i.ea !== ea64) return;
  if (i.base >= 0 && i.index < 0) i.ea = ea64b;
  else if (i.base >= 0) i.ea = ea64bi;
  else if (i.index < 0) i.ea = ea64d;
}

export function eaFor(asz: number, mode: number, ripRel: boolean): EaFn {
  if (mode === 8) {
    if (asz === 8) return ripRel ? eaRip : ea64;
    return ripRel ? eaRip32 : ea32in64;
  }
  return asz === 4 ? ea32 : ea16;
}

/** Linear address of seg:offset for string instructions and moffs (offset given as lo/hi). */
export function linearOf(cpu: Cpu, seg: number, asz: number, lo: number, hi: number): number {
  if (cpu.mode === 8) {
    const a = asz === 8 ? hi * TWO32 + (lo >>> 0) : (lo >>> 0);
    const r = a + cpu.segBaseEff[seg]!;
    if (r < -0x8000_0000_0000 || r >= 0x8000_0000_0000) cpu.fault(seg === SS ? SS_VEC : GP, 0);
    return r;
  }
  const off = asz === 4 ? lo >>> 0 : lo & 0xffff;
  cpu.accSeg = seg;
  return (off + cpu.segBase[seg]!) >>> 0;
}
