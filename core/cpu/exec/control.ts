/**
 * Control transfer (SDM Vol. 2: Jcc, JMP, CALL, RET, LOOP/LOOPcc, JrCXZ,
 * far JMP/CALL/RET, IRET, INT n, INT3, INTO, UD2). Branch targets are
 * checked for canonical form in 64-bit mode (#GP(0) with RIP still at the
 * branch, Vol. 2A JMP) and truncated to the operand size elsewhere.
 */
import type { Cpu } from '../cpu.js';
import { addSpecializer, markNextOnly, type Insn, type Handler } from '../insn.js';
import { testCC } from '../flags.js';
import { readE } from './operands.js';
import { CS, SS, SS_VEC, RSP, TWO32, UD, BP, OFV, IF, IOPL, NT, RF, AC, ID, VIF, VIP, ARITH_FLAGS, TF, DF, AR_UNUSABLE, EFER_LMA } from '../regs.js';
import { loadCodeSegmentFar, loadCsForCpl, loadSsForCpl, readDescriptor } from '../segments.js';
import { deliverEvent, iretUnblocksNmi, T_SWINT, T_SWEXC, T_PRIVSW } from '../interrupts.js';
import { getOF, getCF, getZF, getSF, getPF } from '../flags.js';

/** Set the branch target (a double), applying operand-size truncation / canonical check. */
export function jumpTo(cpu: Cpu, target: number, osz: number): void {
  if (cpu.mode === 8 && osz === 8) {
    if (target < -0x8000_0000_0000 || target >= 0x8000_0000_0000) {
      // Wrap modulo 2^64 first: a sum that crosses 2^64 can still be canonical.
      const w = target >= 0x8000_0000_0000 ? target - 2 ** 64 : target < -0x8000_0000_0000 ? target + 2 ** 64 : target;
      if (w < -0x8000_0000_0000 || w >= 0x8000_0000_0000) cpu.gp(0);
      target = w;
    }
    cpu.ripNext = target;
  } else if (osz === 2) cpu.ripNext = ((target % 65536) + 65536) % 65536;
  else cpu.ripNext = ((target % TWO32) + TWO32) % TWO32;
}
/** Value (lo, hi) as a signed double address. */
function addr(lo: number, hi: number): number { return hi * TWO32 + (lo >>> 0); }

/** Jcc rel8/rel32 (70-7F, 0F 80-8F). */
export function jcc(cpu: Cpu, i: Insn): void {
  if (testCC(cpu, i.op & 0xf)) jumpTo(cpu, cpu.ripNext + i.imm, i.osz);
}
/** JMP rel8/rel32 (EB, E9). */
export function jmpRel(cpu: Cpu, i: Insn): void { jumpTo(cpu, cpu.ripNext + i.imm, i.osz); }
/** JMP Ev (FF /4). */
export function jmpE(cpu: Cpu, i: Insn): void {
  const v = readE(cpu, i, i.osz);
  jumpTo(cpu, i.osz === 8 ? addr(v, cpu.th) : v >>> 0, i.osz);
}
/** CALL rel32 (E8). */
export function callRel(cpu: Cpu, i: Insn): void {
  const ret = cpu.ripNext;
  const target = ret + i.imm;
  const saved = cpu.ripNext;
  jumpTo(cpu, target, i.osz); // target checked before the push (Vol. 2A CALL)
  const t = cpu.ripNext;
  cpu.ripNext = saved;
  cpu.push(i.osz, ret | 0, Math.floor(ret / TWO32) | 0);
  cpu.ripNext = t;
}
/** CALL Ev (FF /2). */
export function callE(cpu: Cpu, i: Insn): void {
  const v = readE(cpu, i, i.osz);
  const ret = cpu.ripNext;
  jumpTo(cpu, i.osz === 8 ? addr(v, cpu.th) : v >>> 0, i.osz);
  const t = cpu.ripNext;
  cpu.push(i.osz, ret | 0, Math.floor(ret / TWO32) | 0);
  cpu.ripNext = t;
}
/** RET / RET imm16 (C3, C2). */
export function ret(cpu: Cpu, i: Insn): void {
  const a = cpu.stackAddr(0);
  const sz = i.osz;
  const v = sz === 8 ? cpu.read64(a) : sz === 4 ? cpu.read32(a) : cpu.read16(a);
  jumpTo(cpu, sz === 8 ? addr(v, cpu.th) : v >>> 0, sz);
  cpu.addRsp(sz + (i.op === 0xc2 ? i.imm & 0xffff : 0));
}
/**
 * LOOP/LOOPE/LOOPNE (E2/E1/E0) and JrCXZ (E3), Vol. 2A "LOOP/LOOPcc" and
 * "Jcc": the count register is CX, ECX or RCX by address size; it is
 * decremented without touching the flags (on 32-bit halves: a 64-bit RCX
 * does not fit a double).
 */
export function loop(cpu: Cpu, i: Insn): void {
  const asz = i.asz;
  if (i.op === 0xe3) {
    const zero = asz === 2 ? (cpu.lo[1]! & 0xffff) === 0 : asz === 4 ? cpu.lo[1] === 0 : (cpu.lo[1]! | cpu.hi[1]!) === 0;
    if (zero) jumpTo(cpu, cpu.ripNext + i.imm, i.osz);
    return;
  }
  let take: boolean;
  if (asz === 2) {
    const c = (cpu.lo[1]! - 1) & 0xffff;
    cpu.lo[1] = (cpu.lo[1]! & ~0xffff) | c;
    take = c !== 0;
  } else if (asz === 4) {
    const c = (cpu.lo[1]! - 1) | 0;
    cpu.lo[1] = c; cpu.hi[1] = 0;
    take = c !== 0;
  } else {
    const l = cpu.lo[1]!;
    if (l === 0) cpu.hi[1] = (cpu.hi[1]! - 1) | 0;
    cpu.lo[1] = (l - 1) | 0;
    take = (cpu.lo[1]! | cpu.hi[1]!) !== 0;
  }
  if (i.op === 0xe1) take = take && testCC(cpu, 4);       // LOOPE: ZF = 1
  else if (i.op === 0xe0) take = take && testCC(cpu, 5);  // LOOPNE: ZF = 0
  if (take) jumpTo(cpu, cpu.ripNext + i.imm, i.osz);
}

// ---- far transfers -------------------------------------------------------

/** JMP ptr16:16/32 (EA, not in 64-bit mode). */
export function jmpFarImm(cpu: Cpu, i: Insn): void { farJump(cpu, i.imm2, i.osz === 2 ? i.imm & 0xffff : i.imm >>> 0, i.osz); }
/** JMP m16:16/32/64 (FF /5). */
export function jmpFarMem(cpu: Cpu, i: Insn): void {
  const a = i.ea(cpu, i);
  const off = i.osz === 8 ? addr(cpu.read64(a), cpu.th) : i.osz === 4 ? cpu.read32(a) >>> 0 : cpu.read16(a);
  const sel = cpu.read16(cpu.linAdd(a, i.osz));
  farJump(cpu, sel, off, i.osz);
}
function farJump(cpu: Cpu, sel: number, off: number, osz: number): void {
  if (!(cpu.cr0 & 1)) { // real mode
    cpu.segSel[CS] = sel; cpu.segBase[CS] = sel * 16; cpu.updateMode();
    cpu.ripNext = off & (osz === 2 ? 0xffff : 0xffffffff);
    return;
  }
  const savedCs = [cpu.segSel[CS]!, cpu.segBase[CS]!, cpu.segLimit[CS]!, cpu.segAr[CS]!] as const;
  loadCodeSegmentFar(cpu, sel, false);
  try { jumpTo(cpu, off, cpu.mode === 8 ? 8 : osz); }
  catch (e) { restoreCs(cpu, savedCs); throw e; }
}
function restoreCs(cpu: Cpu, s: readonly [number, number, number, number]): void {
  cpu.segSel[CS] = s[0]; cpu.segBase[CS] = s[1]; cpu.segLimit[CS] = s[2]; cpu.segAr[CS] = s[3]; cpu.updateMode();
}
/** CALL ptr16:32 (9A) and CALL m16:32/64 (FF /3). */
export function callFar(cpu: Cpu, i: Insn): void {
  let sel: number, off: number;
  if (i.op === 0x9a) { sel = i.imm2; off = i.osz === 2 ? i.imm & 0xffff : i.imm >>> 0; }
  else {
    const a = i.ea(cpu, i);
    off = i.osz === 8 ? addr(cpu.read64(a), cpu.th) : i.osz === 4 ? cpu.read32(a) >>> 0 : cpu.read16(a);
    sel = cpu.read16(cpu.linAdd(a, i.osz));
  }
  const oldCs = cpu.segSel[CS]! & 0xffff, ret = cpu.ripNext;
  const spLo = cpu.lo[RSP]!, spHi = cpu.hi[RSP]!;
  const savedCs = [cpu.segSel[CS]!, cpu.segBase[CS]!, cpu.segLimit[CS]!, cpu.segAr[CS]!] as const;
  try {
    cpu.push(i.osz, oldCs, 0);
    cpu.push(i.osz, ret | 0, Math.floor(ret / TWO32) | 0);
    farJump(cpu, sel, off, i.osz);
  } catch (e) { cpu.lo[RSP] = spLo; cpu.hi[RSP] = spHi; restoreCs(cpu, savedCs); throw e; }
}
/** RETF / RETF imm16 (CB, CA): same-privilege and outer-privilege returns. */
export function retFar(cpu: Cpu, i: Insn): void {
  const sz = i.osz;
  const a = cpu.stackAddr(0);
  const off = sz === 8 ? addr(cpu.read64(a), cpu.th) : sz === 4 ? cpu.read32(a) >>> 0 : cpu.read16(a);
  const sel = cpu.read16(cpu.linAdd(a, sz));
  const extra = i.op === 0xca ? i.imm & 0xffff : 0;
  if (!(cpu.cr0 & 1)) {
    cpu.segSel[CS] = sel; cpu.segBase[CS] = sel * 16; cpu.updateMode();
    cpu.ripNext = off & 0xffff; cpu.addRsp(2 * sz + extra); return;
  }
  const rpl = sel & 3;
  if (rpl < cpu.cpl) cpu.gp(sel & 0xfffc);
  if (rpl === cpu.cpl) {
    loadCodeSegmentFar(cpu, sel, false);
    jumpTo(cpu, off, cpu.mode === 8 ? 8 : sz);
    cpu.addRsp(2 * sz + extra);
  } else {
    const a2 = cpu.linAdd(a, 2 * sz + extra);
    const nsp = sz === 8 ? addr(cpu.read64(a2), cpu.th) : sz === 4 ? cpu.read32(a2) >>> 0 : cpu.read16(a2);
    const nss = cpu.read16(cpu.linAdd(a2, sz));
    loadCsForCpl(cpu, sel, rpl, 13);
    loadSsForCpl(cpu, nss, rpl, 13);
    cpu.updateMode();
    jumpTo(cpu, off, cpu.mode === 8 ? 8 : sz);
    const sp = nsp + extra;
    cpu.lo[RSP] = sp | 0; cpu.hi[RSP] = cpu.mode === 8 ? Math.floor(sp / TWO32) | 0 : 0;
  }
}

/**
 * IRET/IRETD/IRETQ (CF), Vol. 2A IRET: same-privilege and return to outer
 * privilege; 64-bit IRET always pops SS:RSP. Nested-task returns (NT=1 outside
 * IA-32e mode) are not modelled.
 */
export function iret(cpu: Cpu, i: Insn): void {
  iretUnblocksNmi(cpu); // before anything can fault (Vol. 3C 26.3)
  const sz = i.osz;
  const rd = (k: number): number => {
    const a = cpu.stackAddr(k * sz);
    return sz === 8 ? addr(cpu.read64(a), cpu.th) : sz === 4 ? cpu.read32(a) >>> 0 : cpu.read16(a);
  };
  if (!(cpu.cr0 & 1)) {
    const ip = rd(0), cs = rd(1), fl = rd(2);
    cpu.segSel[CS] = cs; cpu.segBase[CS] = cs * 16; cpu.updateMode();
    cpu.ripNext = ip & 0xffff; cpu.addRsp(3 * sz);
    setFlagsIret(cpu, fl, sz, 0);
    return;
  }
  const long = (cpu.efer & EFER_LMA) !== 0;
  if (!long && (cpu.flagsRest & NT)) cpu.unimplementedMsg('IRET with NT=1 (task return)');
  const ip = rd(0), sel = rd(1) & 0xffff, fl = rd(2);
  const rpl = sel & 3;
  if ((sel & 0xfffc) === 0) cpu.gp(0);
  if (rpl < cpu.cpl) cpu.gp(sel & 0xfffc);
  const oldCpl = cpu.cpl;
  if (cpu.mode === 8 || rpl !== cpu.cpl) {
    const nsp = rd(3), nss = rd(4) & 0xffff;
    const d = readDescriptor(cpu, sel);
    if (!(d.ar & 0x10) || !(d.ar & 8)) cpu.gp(sel & 0xfffc);
    loadCsForCpl(cpu, sel, rpl);
    if ((nss & 0xfffc) === 0 && long && rpl < 3 && (d.ar & 0x2000)) {
      cpu.segSel[SS] = nss; cpu.segBase[SS] = 0; cpu.segAr[SS] = AR_UNUSABLE | (rpl << 5) | 0x13;
    } else loadSsForCpl(cpu, nss, rpl, 13);
    cpu.updateMode();
    jumpTo(cpu, ip, cpu.mode === 8 ? 8 : sz);
    cpu.lo[RSP] = nsp | 0; cpu.hi[RSP] = cpu.mode === 8 ? Math.floor(nsp / TWO32) | 0 : 0;
    if (rpl > oldCpl) {
      // Data segments not accessible at the new CPL become null (Vol. 2A IRET, RETURN-TO-OUTER-PRIVILEGE-LEVEL).
      for (const s of [0, 3, 4, 5]) {
        const ar = cpu.segAr[s]!;
        const dpl = (ar >> 5) & 3;
        const conformingCode = (ar & 0xc) === 0xc && (ar & 8) !== 0;
        if (!(ar & AR_UNUSABLE) && !conformingCode && dpl < rpl) { cpu.segSel[s] = 0; cpu.segAr[s] = AR_UNUSABLE; }
      }
      cpu.updateMode();
    }
  } else {
    loadCodeSegmentFar(cpu, sel, false);
    jumpTo(cpu, ip, cpu.mode === 8 ? 8 : sz);
    cpu.addRsp(3 * sz);
  }
  setFlagsIret(cpu, fl, sz, oldCpl);
}
function setFlagsIret(cpu: Cpu, v: number, sz: number, oldCpl: number): void {
  const old = cpu.getFlags();
  let mask = ARITH_FLAGS | TF | DF | NT | RF;
  if (sz !== 2) mask |= AC | ID;
  if (oldCpl === 0) mask |= IOPL | IF | (sz !== 2 ? VIF | VIP : 0);
  else if (oldCpl <= ((old & IOPL) >> 12)) mask |= IF;
  cpu.setFlags((old & ~mask) | (v & mask));
}

/** INT imm8 (CD), INT3 (CC), INTO (CE). */
export function intN(cpu: Cpu, i: Insn): void {
  deliverEvent(cpu, i.imm & 0xff, T_SWINT, -1, i.len);
  cpu.ripNext = cpu.rip;
}
/**
 * INT1/ICEBP (F1): a trap-class #DB delivered as a privileged software exception (Vol. 3C 25.8.3
 * type 5; Vol. 2A INTn/INTO/INT3/INT1): no IDT-gate DPL check, the return address follows the
 * instruction, DR6 is not changed; the exception bitmap intercepts it like #DB.
 */
export function int1(cpu: Cpu, i: Insn): void {
  deliverEvent(cpu, 1, T_PRIVSW, -1, i.len);
  cpu.ripNext = cpu.rip;
}
export function int3(cpu: Cpu, i: Insn): void {
  deliverEvent(cpu, BP, T_SWEXC, -1, i.len);
  cpu.ripNext = cpu.rip;
}
export function into(cpu: Cpu, i: Insn): void {
  if (!getOF(cpu)) return;
  deliverEvent(cpu, OFV, T_SWEXC, -1, i.len);
  cpu.ripNext = cpu.rip;
}
/** UD2 (0F 0B) and other architecturally invalid encodings placed in the table. */
export function ud(cpu: Cpu): void { cpu.fault(UD); }


// =====================================================================
// Specialized Jcc for 64-bit mode (operand size forced to 64): one handler
// per condition, reading the lazy flags directly; the target only needs
// the canonical check of jumpTo (Vol. 2A Jcc).
// =====================================================================
export function taken64(cpu: Cpu, i: Insn): void {
  const t = cpu.ripNext + i.imm;
  if (t >= -0x8000_0000_0000 && t < 0x8000_0000_0000) cpu.ripNext = t;
  else jumpTo(cpu, t, 8);
}
export const JCC64: Handler[] = [
  (cpu, i) => { if (getOF(cpu)) taken64(cpu, i); },
  (cpu, i) => { if (!getOF(cpu)) taken64(cpu, i); },
  (cpu, i) => { if (getCF(cpu)) taken64(cpu, i); },
  (cpu, i) => { if (!getCF(cpu)) taken64(cpu, i); },
  (cpu, i) => { if (getZF(cpu)) taken64(cpu, i); },
  (cpu, i) => { if (!getZF(cpu)) taken64(cpu, i); },
  (cpu, i) => { if (getCF(cpu) || getZF(cpu)) taken64(cpu, i); },
  (cpu, i) => { if (!(getCF(cpu) || getZF(cpu))) taken64(cpu, i); },
  (cpu, i) => { if (getSF(cpu)) taken64(cpu, i); },
  (cpu, i) => { if (!getSF(cpu)) taken64(cpu, i); },
  (cpu, i) => { if (getPF(cpu)) taken64(cpu, i); },
  (cpu, i) => { if (!getPF(cpu)) taken64(cpu, i); },
  (cpu, i) => { if (getSF(cpu) !== getOF(cpu)) taken64(cpu, i); },
  (cpu, i) => { if (getSF(cpu) === getOF(cpu)) taken64(cpu, i); },
  (cpu, i) => { if (getZF(cpu) || getSF(cpu) !== getOF(cpu)) taken64(cpu, i); },
  (cpu, i) => { if (!(getZF(cpu) || getSF(cpu) !== getOF(cpu))) taken64(cpu, i); },
];
addSpecializer(jcc, (i) => (i.osz === 8 ? JCC64[i.op & 0xf] : undefined));
/** JMP rel8/rel32 in 64-bit mode. */
addSpecializer(jmpRel, (i) => (i.osz === 8 ? taken64 : undefined));
/** CALL rel32 in 64-bit mode: the target is checked before the push (callRel does the rest otherwise). */
function call64(cpu: Cpu, i: Insn): void {
  const ret = cpu.ripNext, t = ret + i.imm;
  if (t < -0x8000_0000_0000 || t >= 0x8000_0000_0000) { callRel(cpu, i); return; }
  cpu.push64(ret | 0, Math.floor(ret / TWO32) | 0);
  cpu.ripNext = t;
}
addSpecializer(callRel, (i) => (i.osz === 8 ? call64 : undefined));
/** RET (C3) in 64-bit mode: the target is checked before RSP moves. */
function ret64(cpu: Cpu): void {
  const lo = cpu.lo, hi = cpu.hi;
  const l = lo[RSP]! >>> 0;
  const a = hi[RSP]! * TWO32 + l;
  if (a < -0x8000_0000_0000 || a >= 0x8000_0000_0000) cpu.fault(SS_VEC, 0);
  const v = cpu.read64(a);
  const t = cpu.th * TWO32 + (v >>> 0);
  if (t >= -0x8000_0000_0000 && t < 0x8000_0000_0000) cpu.ripNext = t; else jumpTo(cpu, t, 8);
  const s = l + 8;
  lo[RSP] = s;
  hi[RSP] = (hi[RSP]! + (s >= TWO32 ? 1 : 0)) | 0;
}
addSpecializer(ret, (i) => (i.osz === 8 && i.op === 0xc3 ? ret64 : undefined));

// Near branches read and write only ripNext (insn.ts, markNextOnly).
markNextOnly(jcc, jmpRel, jmpE, callRel, callE, ret, loop, ...JCC64, taken64, call64, ret64);
