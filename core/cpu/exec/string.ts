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
import { addIndex, setReg, getReg, readMem, writeMem } from './operands.js';
import { RAX, RCX, RSI, RDI, ES, DF } from '../regs.js';
import { PROC_BASED } from '../../vmx/capabilities.js';

const MONITOR_TRAP_FLAG = PROC_BASED.MONITOR_TRAP_FLAG;

function srcAddr(cpu: Cpu, i: Insn): number { return linearOf(cpu, i.seg, i.asz, cpu.lo[RSI]!, cpu.hi[RSI]!); }
function dstAddr(cpu: Cpu, i: Insn): number { return linearOf(cpu, ES, i.asz, cpu.lo[RDI]!, cpu.hi[RDI]!); }

/** Whether the count register (CX/ECX/RCX by address size) is zero. */
function countZero(cpu: Cpu, asz: number): boolean {
  if (asz === 2) return (cpu.lo[RCX]! & 0xffff) === 0;
  if (asz === 4) return cpu.lo[RCX] === 0;
  return (cpu.lo[RCX]! | cpu.hi[RCX]!) === 0;
}
/** Decrement the count register; a 32-bit count zero-extends into RCX. On halves: RCX may exceed 2^53. */
function countDec(cpu: Cpu, asz: number): void {
  const l = cpu.lo[RCX]!;
  if (asz === 2) cpu.lo[RCX] = (l & ~0xffff) | ((l - 1) & 0xffff);
  else if (asz === 4) { cpu.lo[RCX] = (l - 1) | 0; cpu.hi[RCX] = 0; }
  else { if (l === 0) cpu.hi[RCX] = (cpu.hi[RCX]! - 1) | 0; cpu.lo[RCX] = (l - 1) | 0; }
}

/** One iteration of a string instruction; `d` is the signed element step (DF). */
type Body = (cpu: Cpu, i: Insn, d: number) => void;

/**
 * Run `body` once, or while the count is not zero under REP (Vol. 2B
 * "REP/REPE/REPZ/REPNE/REPNZ", Operation); for CMPS/SCAS (`usesZf`) REPE
 * stops when ZF = 0 and REPNE when ZF = 1, tested after each iteration.
 * Bodies are module-level functions: nothing is allocated per instruction.
 */
function repeat(cpu: Cpu, i: Insn, body: Body, usesZf: boolean): void {
  const d = cpu.flagsRest & DF ? -i.osz : i.osz;
  if (i.rep === 0) { body(cpu, i, d); return; }
  const asz = i.asz;
  // With the monitor trap flag an MTF VM exit is pending after the first iteration (Vol. 3C 26.5.2): stop there
  // with RIP still at the instruction, as after an interrupt between iterations. One test per REP instruction.
  if ((cpu.ctlProc & MONITOR_TRAP_FLAG) !== 0 && !countZero(cpu, asz)) {
    body(cpu, i, d);
    countDec(cpu, asz);
    if (usesZf) {
      const zf = getZF(cpu);
      if ((i.rep === 1 && !zf) || (i.rep === 2 && zf)) return;
    }
    if (!countZero(cpu, asz)) cpu.ripNext = cpu.rip;
    return;
  }
  while (!countZero(cpu, asz)) {
    body(cpu, i, d);
    countDec(cpu, asz);
    if (usesZf) {
      const zf = getZF(cpu);
      if ((i.rep === 1 && !zf) || (i.rep === 2 && zf)) break;
    }
  }
}

const movsBody: Body = (cpu, i, d) => {
  const v = readMem(cpu, srcAddr(cpu, i), i.osz), vh = cpu.th;
  writeMem(cpu, dstAddr(cpu, i), i.osz, v, vh);
  addIndex(cpu, RSI, i.asz, d);
  addIndex(cpu, RDI, i.asz, d);
};
const stosBody: Body = (cpu, i, d) => {
  const v = getReg(cpu, RAX, i.osz, 1), vh = cpu.th;
  writeMem(cpu, dstAddr(cpu, i), i.osz, v, vh);
  addIndex(cpu, RDI, i.asz, d);
};
const lodsBody: Body = (cpu, i, d) => {
  const v = readMem(cpu, srcAddr(cpu, i), i.osz);
  setReg(cpu, RAX, i.osz, v, cpu.th, 1);
  addIndex(cpu, RSI, i.asz, d);
};
const scasBody: Body = (cpu, i, d) => {
  const a = getReg(cpu, RAX, i.osz, 1), ah = cpu.th;
  const v = readMem(cpu, dstAddr(cpu, i), i.osz), vh = cpu.th;
  alu(cpu, ALU_CMP, i.osz, a, ah, v, vh);
  addIndex(cpu, RDI, i.asz, d);
};
const cmpsBody: Body = (cpu, i, d) => {
  const s = readMem(cpu, srcAddr(cpu, i), i.osz), sh = cpu.th;
  const t = readMem(cpu, dstAddr(cpu, i), i.osz), th = cpu.th;
  alu(cpu, ALU_CMP, i.osz, s, sh, t, th);
  addIndex(cpu, RSI, i.asz, d);
  addIndex(cpu, RDI, i.asz, d);
};

export function movs(cpu: Cpu, i: Insn): void { repeat(cpu, i, movsBody, false); }
export function stos(cpu: Cpu, i: Insn): void { repeat(cpu, i, stosBody, false); }
export function lods(cpu: Cpu, i: Insn): void { repeat(cpu, i, lodsBody, false); }
export function scas(cpu: Cpu, i: Insn): void { repeat(cpu, i, scasBody, true); }
export function cmps(cpu: Cpu, i: Insn): void { repeat(cpu, i, cmpsBody, true); }
