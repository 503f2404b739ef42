/**
 * String instructions with REP prefixes (SDM Vol. 2B: MOVS, STOS, LODS,
 * SCAS, CMPS; Vol. 2B "REP/REPE/REPZ/REPNE/REPNZ"). A REP instruction runs
 * to completion as one retired instruction; on a fault, the count and index
 * registers show the progress made and RIP stays at the instruction, as
 * the SDM specifies for interrupted string operations.
 */
import type { Cpu } from '../cpu.js';
import type { Insn } from '../insn.js';
import { linearOf } from '../ea.js';
import { alu, ALU_CMP } from './alu.js';
import { getZF } from '../flags.js';
import { getCount, setCount, addIndex, setReg, getReg, readMem, writeMem } from './operands.js';
import { RAX, RSI, RDI, ES, DF } from '../regs.js';

function srcAddr(cpu: Cpu, i: Insn): number { return linearOf(cpu, i.seg, i.asz, cpu.lo[RSI]!, cpu.hi[RSI]!); }
function dstAddr(cpu: Cpu, i: Insn): number { return linearOf(cpu, ES, i.asz, cpu.lo[RDI]!, cpu.hi[RDI]!); }
function step(cpu: Cpu, i: Insn): number { return cpu.flagsRest & DF ? -i.osz : i.osz; }

/** Run `body` once, or RCX times under REP; `cond` (REPE/REPNE) is tested after each iteration. */
function repeat(cpu: Cpu, i: Insn, body: () => void, usesZf: boolean): void {
  if (i.rep === 0) { body(); return; }
  let n = getCount(cpu, i.asz);
  while (n !== 0) {
    body();
    n--;
    setCount(cpu, i.asz, n);
    if (usesZf) {
      const zf = getZF(cpu);
      if ((i.rep === 1 && !zf) || (i.rep === 2 && zf)) break;
    }
  }
}

export function movs(cpu: Cpu, i: Insn): void {
  const d = step(cpu, i);
  repeat(cpu, i, () => {
    const v = readMem(cpu, srcAddr(cpu, i), i.osz), vh = cpu.th;
    writeMem(cpu, dstAddr(cpu, i), i.osz, v, vh);
    addIndex(cpu, RSI, i.asz, d);
    addIndex(cpu, RDI, i.asz, d);
  }, false);
}
export function stos(cpu: Cpu, i: Insn): void {
  const d = step(cpu, i);
  const v = getReg(cpu, RAX, i.osz, 1), vh = cpu.th;
  repeat(cpu, i, () => {
    writeMem(cpu, dstAddr(cpu, i), i.osz, v, vh);
    addIndex(cpu, RDI, i.asz, d);
  }, false);
}
export function lods(cpu: Cpu, i: Insn): void {
  const d = step(cpu, i);
  repeat(cpu, i, () => {
    const v = readMem(cpu, srcAddr(cpu, i), i.osz);
    setReg(cpu, RAX, i.osz, v, cpu.th, 1);
    addIndex(cpu, RSI, i.asz, d);
  }, false);
}
export function scas(cpu: Cpu, i: Insn): void {
  const d = step(cpu, i);
  const a = getReg(cpu, RAX, i.osz, 1), ah = cpu.th;
  repeat(cpu, i, () => {
    const v = readMem(cpu, dstAddr(cpu, i), i.osz), vh = cpu.th;
    alu(cpu, ALU_CMP, i.osz, a, ah, v, vh);
    addIndex(cpu, RDI, i.asz, d);
  }, true);
}
export function cmps(cpu: Cpu, i: Insn): void {
  const d = step(cpu, i);
  repeat(cpu, i, () => {
    const s = readMem(cpu, srcAddr(cpu, i), i.osz), sh = cpu.th;
    const t = readMem(cpu, dstAddr(cpu, i), i.osz), th = cpu.th;
    alu(cpu, ALU_CMP, i.osz, s, sh, t, th);
    addIndex(cpu, RSI, i.asz, d);
    addIndex(cpu, RDI, i.asz, d);
  }, true);
}
