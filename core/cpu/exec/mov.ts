/**
 * Data movement (SDM Vol. 2: MOV, MOVZX, MOVSX, MOVSXD, LEA, XCHG, PUSH,
 * POP, PUSHF, POPF, ENTER, LEAVE, MOV Sreg, XLAT).
 */
import type { Cpu } from '../cpu.js';
import { markPure, markRegOnly, addSpecializer, addAddrForm, type Insn, type Handler } from '../insn.js';
import { readE, writeE, readG, writeG, getReg, setReg, immHi } from './operands.js';
import { linearOf } from '../ea.js';
import { RAX, RBX, RSP, RBP, SS, CS, IF, IOPL, AC, ID, VIF, VIP, RF, VM, TWO32, ARITH_FLAGS, DF, TF, NT, OF as OFLAG } from '../regs.js';
import { loadDataSegment } from '../segments.js';
import { readRmw } from './alu.js';

/** MOV Eb/Ev, Gb/Gv (88/89). */
export function movEG(cpu: Cpu, i: Insn): void {
  const v = readG(cpu, i, i.osz);
  writeE(cpu, i, i.osz, v, cpu.th);
}
/** MOV Gb/Gv, Eb/Ev (8A/8B). */
export function movGE(cpu: Cpu, i: Insn): void {
  const v = readE(cpu, i, i.osz);
  writeG(cpu, i, i.osz, v, cpu.th);
}
/** MOV Eb/Ev, imm (C6 /0, C7 /0): the imm32 is sign-extended for 64-bit operands. */
export function movEI(cpu: Cpu, i: Insn): void {
  writeE(cpu, i, i.osz, i.imm, immHi(i, i.osz));
}
/** MOV r8, imm8 (B0+r) and MOV r, imm (B8+r; imm64 with REX.W). */
export function movRI(cpu: Cpu, i: Insn): void {
  const r = (i.op & 7) | ((i.rex & 1) << 3);
  setReg(cpu, r, i.osz, i.imm, i.immHi, i.rex);
}
/** MOV AL/eAX, moffs (A0/A1) and MOV moffs, AL/eAX (A2/A3). */
export function movMoffs(cpu: Cpu, i: Insn): void {
  const a = linearOf(cpu, i.seg, i.asz, i.imm, i.immHi);
  const sz = i.osz;
  if (i.op === 0xa0 || i.op === 0xa1) {
    const v = sz === 1 ? cpu.read8(a) : sz === 2 ? cpu.read16(a) : sz === 4 ? cpu.read32(a) : cpu.read64(a);
    setReg(cpu, RAX, sz, v, sz === 8 ? cpu.th : 0, 1);
  } else {
    const v = getReg(cpu, RAX, sz, 1);
    if (sz === 1) cpu.write8(a, v); else if (sz === 2) cpu.write16(a, v); else if (sz === 4) cpu.write32(a, v); else cpu.write64(a, v, cpu.th);
  }
}
/** MOVZX Gv, Eb/Ew (0F B6/B7). */
export function movzx(cpu: Cpu, i: Insn): void {
  const v = readE(cpu, i, i.op === 0x1b6 ? 1 : 2);
  writeG(cpu, i, i.osz, v, 0);
}
/** MOVSX Gv, Eb/Ew (0F BE/BF). */
export function movsx(cpu: Cpu, i: Insn): void {
  const v = readE(cpu, i, i.op === 0x1be ? 1 : 2);
  const s = i.op === 0x1be ? (v << 24) >> 24 : (v << 16) >> 16;
  writeG(cpu, i, i.osz, s, s >> 31);
}
/** MOVSXD Gv, Ed (63 in 64-bit mode). */
export function movsxd(cpu: Cpu, i: Insn): void {
  const v = readE(cpu, i, 4);
  writeG(cpu, i, i.osz, v, v >> 31);
}
/** LEA Gv, M (8D): the offset only, no segment base (Vol. 2A LEA). */
export function lea(cpu: Cpu, i: Insn): void {
  let s = i.disp, h = 0;
  if (i.base >= 0) { s += cpu.lo[i.base]! >>> 0; h += cpu.hi[i.base]!; }
  if (i.index >= 0) { const m = 1 << i.scale; s += (cpu.lo[i.index]! >>> 0) * m; h += cpu.hi[i.index]! * m; }
  if (cpu.mode === 8 && i.base < 0 && i.index < 0 && i.mod === 0 && (i.rm & 7) === 5) {
    // RIP-relative (Vol. 2A, 2.2.1.6)
    const a = cpu.ripNext + i.disp;
    if (i.asz === 4) writeG(cpu, i, i.osz, a | 0, 0);
    else writeG(cpu, i, i.osz, a | 0, Math.floor(a / TWO32) | 0);
    return;
  }
  const lo = s | 0, hi = (h + Math.floor(s / TWO32)) | 0;
  if (i.asz === 2) writeG(cpu, i, i.osz, lo & 0xffff, 0);
  else if (i.asz === 4) writeG(cpu, i, i.osz, lo, 0);
  else writeG(cpu, i, i.osz, lo, hi);
}
/** XCHG Eb/Ev, Gb/Gv (86/87). */
export function xchgEG(cpu: Cpu, i: Insn): void {
  const sz = i.osz;
  const g = readG(cpu, i, sz), gh = cpu.th;
  if (i.mod === 3) {
    const e = getReg(cpu, i.rm, sz, i.rex), eh = cpu.th;
    setReg(cpu, i.rm, sz, g, gh, i.rex);
    setReg(cpu, i.reg, sz, e, eh, i.rex);
  } else {
    const a = i.ea(cpu, i);
    const e = readRmw(cpu, a, sz); // XCHG with memory is a locked read-modify-write
    const eh = sz === 8 ? cpu.th : 0;
    if (sz === 1) cpu.write8(a, g); else if (sz === 2) cpu.write16(a, g); else if (sz === 4) cpu.write32(a, g); else cpu.write64(a, g, gh);
    setReg(cpu, i.reg, sz, e, eh, i.rex);
  }
}
/** XCHG eAX, r (91-97; 90 with REX.B is XCHG rAX, r8). */
export function xchgAR(cpu: Cpu, i: Insn): void {
  const r = (i.op & 7) | ((i.rex & 1) << 3);
  const sz = i.osz;
  const a = getReg(cpu, RAX, sz, 1), ah = cpu.th;
  const b = getReg(cpu, r, sz, 1), bh = cpu.th;
  setReg(cpu, RAX, sz, b, bh, 1);
  setReg(cpu, r, sz, a, ah, 1);
}

// ---- stack ----------------------------------------------------------------

/** PUSH r (50+r). */
export function pushR(cpu: Cpu, i: Insn): void {
  const r = (i.op & 7) | ((i.rex & 1) << 3);
  cpu.push(i.osz, cpu.lo[r]!, cpu.hi[r]!);
}
/** POP r (58+r): RSP is incremented before the register is written (POP RSP). */
export function popR(cpu: Cpu, i: Insn): void {
  const r = (i.op & 7) | ((i.rex & 1) << 3);
  const v = cpu.pop(i.osz);
  setReg(cpu, r, i.osz, v, cpu.th, 1);
}
/** PUSH imm (68, 6A): sign-extended to the operand size. */
export function pushI(cpu: Cpu, i: Insn): void {
  cpu.push(i.osz, i.imm, i.imm >> 31);
}
/** PUSH Ev (FF /6). */
export function pushE(cpu: Cpu, i: Insn): void {
  const v = readE(cpu, i, i.osz);
  cpu.push(i.osz, v, cpu.th);
}
/** POP Ev (8F /0): the address is computed after RSP is incremented (Vol. 2B POP). */
export function popE(cpu: Cpu, i: Insn): void {
  const sz = i.osz;
  const a0 = cpu.stackAddr(0);
  const v = sz === 8 ? cpu.read64(a0) : sz === 4 ? cpu.read32(a0) : cpu.read16(a0);
  const vh = sz === 8 ? cpu.th : 0;
  if (i.mod === 3) { cpu.addRsp(sz); setReg(cpu, i.rm, sz, v, vh, i.rex); return; }
  cpu.addRsp(sz);
  try {
    writeE(cpu, i, sz, v, vh);
  } catch (e) { cpu.addRsp(-sz); throw e; }
}
/** PUSH/POP of a segment register (06/07/0E/16/17/1E/1F, 0F A0/A1/A8/A9). arg = segment. */
export function pushSeg(cpu: Cpu, i: Insn): void {
  const sel = cpu.segSel[i.arg]! & 0xffff;
  // A 32/64-bit push of a segment register may write only 16 bits; this machine writes the zero-extended selector.
  cpu.push(i.osz, sel, 0);
}
export function popSeg(cpu: Cpu, i: Insn): void {
  const a = cpu.stackAddr(0);
  const v = cpu.read16(a);
  // Real mode: the selector and base = selector * 16, no descriptor (Vol. 3A, 20.1.1), as MOV Sreg does.
  if (!(cpu.cr0 & 1)) { cpu.segSel[i.arg] = v; cpu.segBase[i.arg] = v * 16; cpu.updateMode(); }
  else loadDataSegment(cpu, i.arg, v);
  cpu.addRsp(i.osz);
  if (i.arg === SS) { cpu.shadowKind = 2; cpu.shadowAt = cpu.icount + 1; }
}
/** MOV Ev, Sreg (8C). */
export function movESreg(cpu: Cpu, i: Insn): void {
  const s = i.reg & 7;
  if (s > 5) cpu.fault(6);
  const sel = cpu.segSel[s]! & 0xffff;
  if (i.mod === 3) setReg(cpu, i.rm, i.osz === 2 ? 2 : i.osz, sel, 0, i.rex);
  else cpu.write16(i.ea(cpu, i), sel);
}
/** MOV Sreg, Ew (8E): loading CS is #UD; loading SS blocks interrupts for one instruction. */
export function movSregE(cpu: Cpu, i: Insn): void {
  const s = i.reg & 7;
  if (s === CS || s > 5) cpu.fault(6);
  const v = readE(cpu, i, 2);
  if (!(cpu.cr0 & 1)) { // real mode
    cpu.segSel[s] = v; cpu.segBase[s] = v * 16; cpu.updateMode();
  } else loadDataSegment(cpu, s, v);
  if (s === SS) { cpu.shadowKind = 2; cpu.shadowAt = cpu.icount + 1; }
}

/** PUSHF/PUSHFD/PUSHFQ (9C): VM and RF are cleared in the image (Vol. 2B PUSHF). */
export function pushf(cpu: Cpu, i: Insn): void {
  const f = cpu.getFlags() & ~(VM | RF);
  cpu.push(i.osz, f, 0);
}
/**
 * POPF (9D) in protected/64-bit mode (Vol. 2B POPF, Operation): at CPL 0
 * everything but VIP/VIF/VM may change (IOPL included); at CPL > 0 IOPL is
 * kept; IF changes only when CPL <= IOPL.
 */
export function popf(cpu: Cpu, i: Insn): void {
  const v = cpu.pop(i.osz);
  const old = cpu.getFlags();
  let mask = ARITH_FLAGS | TF | DF | OFLAG | NT;
  if (i.osz !== 2) mask |= AC | ID;
  if (cpu.cpl === 0) mask |= IOPL | IF;
  else if (cpu.cpl <= ((old & IOPL) >> 12)) mask |= IF;
  const nf = (old & ~mask) | (v & mask);
  cpu.setFlags(nf & ~(RF | VIF | VIP) | (old & (VIF | VIP | VM)));
}

/** LEAVE (C9): rSP <- rBP; pop rBP. */
export function leave(cpu: Cpu, i: Insn): void {
  const ssBig = cpu.mode === 8 || (cpu.segAr[SS]! & 0x4000) !== 0;
  const spLo = cpu.lo[RSP]!, spHi = cpu.hi[RSP]!;
  if (cpu.mode === 8) { cpu.lo[RSP] = cpu.lo[RBP]!; cpu.hi[RSP] = cpu.hi[RBP]!; }
  else if (ssBig) cpu.lo[RSP] = cpu.lo[RBP]!;
  else cpu.lo[RSP] = (cpu.lo[RSP]! & ~0xffff) | (cpu.lo[RBP]! & 0xffff);
  try {
    const v = cpu.pop(i.osz);
    setReg(cpu, RBP, i.osz, v, cpu.th, 1);
  } catch (e) { cpu.lo[RSP] = spLo; cpu.hi[RSP] = spHi; throw e; }
}
/** ENTER imm16, imm8 (C8): nesting levels copy frame pointers (Vol. 2A ENTER). */
export function enter(cpu: Cpu, i: Insn): void {
  const size = i.imm & 0xffff;
  const level = i.imm2 & 31;
  const sz = i.osz;
  const spLo = cpu.lo[RSP]!, spHi = cpu.hi[RSP]!;
  try {
    cpu.push(sz, cpu.lo[RBP]!, cpu.hi[RBP]!);
    const frameLo = cpu.lo[RSP]!, frameHi = cpu.hi[RSP]!;
    if (level > 0) {
      let bpLo = cpu.lo[RBP]!, bpHi = cpu.hi[RBP]!;
      for (let k = 1; k < level; k++) {
        // rBP -= size; push [rBP]
        const s = (bpLo >>> 0) - sz; bpLo = s | 0; if (s < 0) bpHi = (bpHi - 1) | 0;
        const a = cpu.mode === 8 ? bpHi * TWO32 + (bpLo >>> 0) : (cpu.segBase[SS]! + ((cpu.segAr[SS]! & 0x4000) ? bpLo >>> 0 : bpLo & 0xffff)) >>> 0;
        const v = sz === 8 ? cpu.read64(a) : sz === 4 ? cpu.read32(a) : cpu.read16(a);
        cpu.push(sz, v, sz === 8 ? cpu.th : 0);
      }
      cpu.push(sz, frameLo, frameHi);
    }
    cpu.addRsp(-size);
    // The stack must be writable down to the new RSP (checked before RBP is committed, as the host CPU does).
    if (size > 0) cpu.probeWrite(cpu.stackAddr(0), 1);
    setReg(cpu, RBP, sz, frameLo, frameHi, 1);
  } catch (e) { cpu.lo[RSP] = spLo; cpu.hi[RSP] = spHi; throw e; }
}

/** XLAT (D7): AL <- [seg:rBX + zero-extended AL]. */
export function xlat(cpu: Cpu, i: Insn): void {
  const al = cpu.lo[RAX]! & 0xff;
  const lo = (cpu.lo[RBX]! >>> 0) + al;
  const a = linearOf(cpu, i.seg, i.asz, i.asz === 2 ? lo & 0xffff : lo | 0, (cpu.hi[RBX]! + Math.floor(lo / TWO32)) | 0);
  setReg(cpu, RAX, 1, cpu.read8(a), 0, 1);
}

/** MOVNTI My, Gy (0F C3): a store with a non-temporal hint; 32-bit, or 64-bit with REX.W (Vol. 2B). */
export function movnti(cpu: Cpu, i: Insn): void {
  const sz = i.osz === 8 ? 8 : 4;
  const v = readG(cpu, i, sz);
  writeE(cpu, i, sz, v, cpu.th);
}
/**
 * CLFLUSH m8 (0F AE /7) and CLFLUSHOPT (66 0F AE /7): no cache here; the
 * access is checked like a byte read (Vol. 2A CLFLUSH). F2/F3 select other
 * instructions (#UD here).
 */
export function clflush(cpu: Cpu, i: Insn): void {
  if (i.rep !== 0) cpu.fault(6);
  cpu.read8(i.ea(cpu, i));
}

/**
 * PUSHA/PUSHAD (60) and POPA/POPAD (61), invalid in 64-bit mode (Vol. 2B
 * PUSHA, POPA): the pushed SP is its value before the first push; POPA
 * skips the stored SP. A fault leaves SP unchanged.
 */
export function pusha(cpu: Cpu, i: Insn): void {
  const sz = i.osz;
  const sp = cpu.lo[RSP]!;
  try {
    for (let r = 0; r < 8; r++) cpu.push(sz, r === RSP ? sp : cpu.lo[r]!, 0);
  } catch (e) { cpu.lo[RSP] = sp; throw e; }
}
const popaRegs = new Int32Array(8);
export function popa(cpu: Cpu, i: Insn): void {
  const sz = i.osz;
  const sp = cpu.lo[RSP]!;
  const v = popaRegs;
  try {
    for (let r = 7; r >= 0; r--) v[r] = cpu.pop(sz);
  } catch (e) { cpu.lo[RSP] = sp; throw e; }
  for (let r = 0; r < 8; r++) if (r !== RSP) setReg(cpu, r, sz, v[r]!, 0, 1);
}
/** BOUND (62), LES (C4), LDS (C5) outside 64-bit mode: not implemented by this machine. */
export function legacyUnimplemented(cpu: Cpu, i: Insn): void {
  cpu.unimplemented(i, 'legacy instruction');
}

/** NOP forms (90, 0F 1F /0, PAUSE handled in system). */
export function nop(): void { /* nothing */ }

// Handlers that neither read nor change RIP or the instruction count (insn.ts, markPure);
// not POP SS / MOV SS (they start an interrupt shadow at icount + 1).
markPure(movEG, movGE, movEI, movRI, movMoffs, movzx, movsx, movsxd, lea, xchgEG, xchgAR, pushR, popR, pushI,
  pushE, popE, pushSeg, movESreg, pushf, leave, enter, xlat, movnti, clflush, pusha, popa, nop);

// =====================================================================
// Specialized forms (insn.ts, addSpecializer): i.r0 destination, i.r1
// source register, resolved at decode time; no size switch, no cpu.th.
// =====================================================================
export function mov64RR(cpu: Cpu, i: Insn): void { cpu.lo[i.r0] = cpu.lo[i.r1]!; cpu.hi[i.r0] = cpu.hi[i.r1]!; }
export function mov32RR(cpu: Cpu, i: Insn): void { cpu.lo[i.r0] = cpu.lo[i.r1]!; cpu.hi[i.r0] = 0; }
/** MOV r64, imm (sign-extended imm32 or imm64: the high half is in i.immHi / i.imm >> 31 by form). */
export function mov64RI(cpu: Cpu, i: Insn): void { cpu.lo[i.r0] = i.imm; cpu.hi[i.r0] = i.immHi; }
export function mov32RI(cpu: Cpu, i: Insn): void { cpu.lo[i.r0] = i.imm; cpu.hi[i.r0] = 0; }
/** Loads and stores through the instruction's EA function. */
function mov64RMa(cpu: Cpu, i: Insn, a: number): void {
  const v = cpu.read64(a);
  cpu.lo[i.r0] = v; cpu.hi[i.r0] = cpu.th;
}
function mov32RMa(cpu: Cpu, i: Insn, a: number): void {
  const v = cpu.read32(a);
  cpu.lo[i.r0] = v; cpu.hi[i.r0] = 0;
}
function mov64MRa(cpu: Cpu, i: Insn, a: number): void { cpu.write64(a, cpu.lo[i.r1]!, cpu.hi[i.r1]!); }
function mov32MRa(cpu: Cpu, i: Insn, a: number): void { cpu.write32(a, cpu.lo[i.r1]!); }
/** MOV r/m, imm to memory: the imm32 is sign-extended for 64-bit operands. */
function mov64MIa(cpu: Cpu, i: Insn, a: number): void { cpu.write64(a, i.imm, i.imm >> 31); }
function mov32MIa(cpu: Cpu, i: Insn, a: number): void { cpu.write32(a, i.imm); }
export function mov64RM(cpu: Cpu, i: Insn): void { mov64RMa(cpu, i, i.ea(cpu, i)); }
export function mov32RM(cpu: Cpu, i: Insn): void { mov32RMa(cpu, i, i.ea(cpu, i)); }
/** Stores: the EA first, then the register (no difference: reading a register has no effect). */
export function mov64MR(cpu: Cpu, i: Insn): void { mov64MRa(cpu, i, i.ea(cpu, i)); }
export function mov32MR(cpu: Cpu, i: Insn): void { mov32MRa(cpu, i, i.ea(cpu, i)); }
export function mov64MI(cpu: Cpu, i: Insn): void { mov64MIa(cpu, i, i.ea(cpu, i)); }
export function mov32MI(cpu: Cpu, i: Insn): void { mov32MIa(cpu, i, i.ea(cpu, i)); }
addAddrForm(mov64RM, mov64RMa); addAddrForm(mov32RM, mov32RMa);
addAddrForm(mov64MR, mov64MRa); addAddrForm(mov32MR, mov32MRa);
addAddrForm(mov64MI, mov64MIa); addAddrForm(mov32MI, mov32MIa);

function sized(i: Insn, f64: Handler, f32: Handler): Handler | undefined {
  return i.osz === 8 ? f64 : i.osz === 4 ? f32 : undefined;
}
addSpecializer(movEG, (i) => {
  i.r0 = i.rm; i.r1 = i.reg;
  return i.mod === 3 ? sized(i, mov64RR, mov32RR) : sized(i, mov64MR, mov32MR);
});
addSpecializer(movGE, (i) => {
  i.r0 = i.reg; i.r1 = i.rm;
  return i.mod === 3 ? sized(i, mov64RR, mov32RR) : sized(i, mov64RM, mov32RM);
});
addSpecializer(movRI, (i) => {
  i.r0 = (i.op & 7) | ((i.rex & 1) << 3);
  return sized(i, mov64RI, mov32RI); // B8+r: imm64 with REX.W (immHi decoded)
});
addSpecializer(movEI, (i) => {
  if (i.mod !== 3) return sized(i, mov64MI, mov32MI);
  i.r0 = i.rm;
  i.immHi = i.imm >> 31; // C7 /0: imm32 sign-extended (immHi(i, 8))
  return sized(i, mov64RI, mov32RI);
});
/** PUSH r64 / POP r64 (50+r / 58+r in 64-bit mode). POP RSP: RSP is incremented, then loaded. */
export function push64R(cpu: Cpu, i: Insn): void { cpu.push64(cpu.lo[i.r0]!, cpu.hi[i.r0]!); }
export function pop64R(cpu: Cpu, i: Insn): void {
  const v = cpu.pop64();
  cpu.lo[i.r0] = v; cpu.hi[i.r0] = cpu.th;
}
addSpecializer(pushR, (i) => { i.r0 = (i.op & 7) | ((i.rex & 1) << 3); return i.osz === 8 ? push64R : undefined; });
addSpecializer(popR, (i) => { i.r0 = (i.op & 7) | ((i.rex & 1) << 3); return i.osz === 8 ? pop64R : undefined; });
markPure(push64R, pop64R);
markRegOnly(mov64RR, mov32RR, mov64RI, mov32RI);
markPure(mov64RM, mov32RM, mov64MR, mov32MR, mov64MI, mov32MI);
