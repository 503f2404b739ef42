/**
 * The block compiler: a hot Block (block.ts) becomes one JavaScript
 * function, generated as source text and built with `new Function`.
 *
 * Common instruction forms are emitted inline (the emitters below, one per
 * specialized or table handler, each computing exactly what that handler
 * computes); every other instruction is a call of its handler, as the fast
 * loop in cpu.ts makes it. What inline code saves:
 *
 * - Registers live in JS locals (L<r>/H<r>: the two Int32 halves) while the
 *   block runs: loaded at their first use, stored back once at the block's
 *   end, before a handler call, or when something throws (a catch switch
 *   on the instruction index stores what was dirty there).
 * - Status flags are produced into locals (the lazy record of flags.ts,
 *   fR/fRH/fD/fDH/fS/fSH/fC, or materialized flags fA) and consumed from
 *   them by Jcc/SETcc/CMOVcc/ADC/SBB; they reach the Cpu's fields only where
 *   something else could observe them - the block's end, a handler call,
 *   an exception (pushed RFLAGS, a VM exit's guest state). A producer whose
 *   flags nothing can observe before the next producer computes none
 *   (backward liveness over the block, every possible fault counted as an
 *   observer).
 * - Memory operands: the TLB hit path of the Cpu read and write methods inline (same
 *   tag, permission, page-offset and code-page tests); anything else calls
 *   the Cpu's own access method.
 * - A block that branches back to its own start loops inside the function
 *   with its registers still in locals.
 *
 * The generated code depends only on the decoded block, so compilation is
 * deterministic, and a compiled block leaves the Cpu exactly as the fast
 * loop would (the run-loop tests compare the interpreter, the fast loop and
 * compiled blocks on random code, stopping and faulting anywhere).
 */
import type { Cpu } from './cpu.js';
import { type Insn, type Handler, SYNC_NONE, SYNC_NEXT, SYNC_FULL, isRegOnly, addrForm } from './insn.js';
import { LF_ADD, LF_SUB, LF_LOGIC, LF_INC, LF_DEC, PARITY, testCC, szpOf } from './flags.js';
import { TLB_MASK } from './access.js';
import { SS, GP, SS_VEC, CF, PF, ZF, SF, OF, RSP } from './regs.js';
import {
  RR64, RR32, RI64, RI32, test64RR, test32RR, test64RI, test32RI, inc64R, dec64R, inc32R, dec32R,
  shl64RI, shr64RI, sar64RI, shl32RI, shr32RI, sar32RI, imul64RR, imul64RRI, cmp64RM, cmp32RM, cmp64MR, cmp32MR, cmp64MI, cmp32MI,
  aluGE, setcc, cmovcc, eagerFlags, imul64Full, MUL_OUT, ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP,
} from './exec/alu.js';
import { mov64RR, mov32RR, mov64RI, mov32RI, mov64RM, mov32RM, mov64MR, mov32MR, mov64MI, mov32MI, push64R, pop64R, movzx, movsxd, lea, nop } from './exec/mov.js';
import { JCC64, taken64, jumpTo } from './exec/control.js';

/** A compiled block: see block.ts CompiledBlock. */
export type CompiledBlock = (cpu: Cpu, rip: number, ic0: number, stopAt: number, loop: boolean) => void;

const CANON = '140737488355328'; // 2^47: canonical addresses are [-2^47, 2^47) (Vol. 1, 3.3.7.1)

/** Static state of the lazy flags while generating. */
const FL_CPU = 0, FL_DEAD = 1, FL_LAZY = 2, FL_EAGER = 3;

/** How an inline emitter treats the status flags, and whether its code can throw (fault or VM exit). */
interface Emitter {
  /** Whether this instruction can be emitted inline (else: a handler call). */
  can?: (i: Insn, mode: number) => boolean;
  /** Reads status flags. */
  reads?: boolean;
  /** Writes all six status flags. */
  writes?: boolean;
  /** Accesses memory or can fault (for this form). */
  throws?: boolean | ((i: Insn) => boolean);
  emit: (g: Gen, i: Insn) => void;
}
const EMIT = new Map<Handler, Emitter>();
/** The emitter compiled blocks use for instruction i decoded for `mode`, or undefined: a handler call. */
function emitterFor(i: Insn, mode: number): Emitter | undefined {
  const e = EMIT.get(i.fn);
  return e !== undefined && (e.can === undefined || e.can(i, mode)) ? e : undefined;
}

class Gen {
  readonly out: string[] = [];
  /** Registers whose locals hold the current value; those whose locals are newer than cpu.lo/hi. */
  loaded = new Set<number>();
  dirty = new Set<number>();
  /** Every register the generated code names (declared as locals), and every one it writes. */
  readonly regs = new Set<number>();
  readonly written = new Set<number>();
  fl = FL_CPU; flOp = 0; flSz = 0;
  /** Whether the flags after instruction k can be observed (set before emitting k). */
  live = true;
  private tmp = 0;
  /** Catch-switch cases by instruction index. */
  readonly cases = new Map<number, string>();
  k = 0;
  /** The current instruction is emitted inline (not a handler call). */
  inline = false;
  /** The current instruction wrote registers (a throw point after that would see half an instruction). */
  wrote = false;
  /** A store that may have invalidated code: codeDirty is checked after the instruction. */
  stored = false;
  /** Set by a branch emitter (the block's last instruction): condition and target offset from the block start. */
  branch: { cond: string; target: number } | null = null;

  constructor(readonly insns: Insn[]) {}

  emit(s: string): void { this.out.push(s); }
  t(): string { return `t${this.tmp++}`; }

  private load(r: number): void {
    this.regs.add(r);
    if (!this.loaded.has(r)) { this.emit(`L${r} = lo[${r}]; H${r} = hi[${r}];`); this.loaded.add(r); }
  }
  lo(r: number): string { this.load(r); return `L${r}`; }
  hi(r: number): string { this.load(r); return `H${r}`; }
  /** Write register r (both halves; values must be int32 expressions). */
  set(r: number, l: string, h: string): void {
    this.regs.add(r); this.written.add(r);
    if (new RegExp(`\\bL${r}\\b`).test(h)) { const t = this.t(); this.emit(`const ${t} = ${h};`); h = t; }
    this.emit(`L${r} = ${l}; H${r} = ${h};`);
    this.loaded.add(r); this.dirty.add(r);
    this.wrote = true;
  }

  storeCode(): string {
    let s = '';
    for (const r of [...this.dirty].sort((a, b) => a - b)) s += `lo[${r}] = L${r}; hi[${r}] = H${r}; `;
    return s;
  }
  flagsCode(): string {
    switch (this.fl) {
      case FL_CPU: return '';
      case FL_DEAD: throw new Error('jit: flags observed after a producer judged dead');
      case FL_EAGER: return 'cpu.farith = fA; cpu.lop = 0; ';
      default: {
        const op = this.flOp, sz = this.flSz;
        let s = `cpu.lop = ${op}; cpu.lsz = ${sz}; cpu.lres = fR; `;
        if (sz === 8) s += 'cpu.lresH = fRH; ';
        if (op !== LF_LOGIC) {
          s += 'cpu.ldst = fD; cpu.lsrc = fS; ';
          if (sz === 8) s += 'cpu.ldstH = fDH; cpu.lsrcH = fSH; ';
        }
        if (op === LF_INC || op === LF_DEC) s += 'cpu.lcf = fC; ';
        return s;
      }
    }
  }
  /** Store dirty registers and pending flags into the Cpu (the generator's state then says so). */
  sync(): void {
    this.emit(this.storeCode() + this.flagsCode());
    this.dirty.clear();
    this.fl = FL_CPU;
  }
  /** Code that leaves the block after `done` instructions with RIP = ripExpr (state unchanged). */
  exitCode(done: number, ripExpr: string): string {
    return `${this.storeCode()}${this.flagsCode()}cpu.rip = ${ripExpr}; cpu.icount = ic0 + ${done}; return;`;
  }

  /** The current instruction may throw from here: record what the catch must store for it. */
  throwPoint(): void {
    if (this.wrote) throw new Error('jit: an emitter faults after writing registers');
    if (this.cases.has(this.k)) return;
    const i = this.insns[this.k]!;
    // A handler call synced SYNC_FULL stored rip and icount itself; inline code never does.
    const fix = i.sync !== SYNC_FULL || this.inline ? `cpu.rip = rip + ${i.off}; cpu.icount = ic0 + ${this.k}; ` : '';
    this.cases.set(this.k, this.storeCode() + this.flagsCode() + fix);
    this.emit(`k = ${this.k};`);
  }

  // ---- flags ----
  /** A lazy-flag producer: kind op, size sz, operand expressions (high halves for sz 8). */
  lazy(op: number, sz: number, r: string, rh: string, d: string, dh: string, s: string, sh: string, c = '0'): void {
    if (!this.live) { this.fl = FL_DEAD; return; }
    let e = `fR = ${r}; `;
    if (sz === 8) e += `fRH = ${rh}; `;
    if (op !== LF_LOGIC) {
      e += `fD = ${d}; fS = ${s}; `;
      if (sz === 8) e += `fDH = ${dh}; fSH = ${sh}; `;
    }
    if (op === LF_INC || op === LF_DEC) e += `fC = ${c}; `;
    this.emit(e);
    this.fl = FL_LAZY; this.flOp = op; this.flSz = sz;
  }
  /** A producer of materialized flags: expr is evaluated only if the flags can be observed. */
  eager(expr: string): void {
    if (!this.live) { this.fl = FL_DEAD; return; }
    this.emit(`fA = ${expr};`);
    this.fl = FL_EAGER;
  }
  private flag(f: number): string {
    if (this.fl === FL_EAGER) return `((fA & ${f}) !== 0)`;
    const op = this.flOp, w = this.flSz === 8;
    switch (f) {
      case CF:
        if (op === LF_ADD) return w ? '((fRH >>> 0) < (fDH >>> 0) || (fRH === fDH && (fR >>> 0) < (fD >>> 0)))' : '((fR >>> 0) < (fD >>> 0))';
        if (op === LF_SUB) return w ? '((fDH >>> 0) < (fSH >>> 0) || (fDH === fSH && (fD >>> 0) < (fS >>> 0)))' : '((fD >>> 0) < (fS >>> 0))';
        if (op === LF_LOGIC) return 'false';
        return '(fC !== 0)';
      case ZF: return w ? '((fR | fRH) === 0)' : '(fR === 0)';
      case SF: return w ? '(fRH < 0)' : '(fR < 0)';
      case PF: return '(PARITY[fR & 255] !== 0)';
      default: // OF
        if (op === LF_LOGIC) return 'false';
        if (op === LF_ADD || op === LF_INC) return w ? '(((fDH ^ fRH) & (fSH ^ fRH)) < 0)' : '(((fD ^ fR) & (fS ^ fR)) < 0)';
        return w ? '(((fDH ^ fSH) & (fDH ^ fRH)) < 0)' : '(((fD ^ fS) & (fD ^ fR)) < 0)';
    }
  }
  /** A condition code (Vol. 1, Appendix B, Table B-1) as a boolean expression of the current flags. */
  cond(cc: number): string {
    if (this.fl === FL_DEAD) throw new Error('jit: flags read after a producer judged dead');
    if (this.fl === FL_CPU) return `testCC(cpu, ${cc})`;
    let r: string;
    switch (cc >> 1) {
      case 0: r = this.flag(OF); break;
      case 1: r = this.flag(CF); break;
      case 2: r = this.flag(ZF); break;
      case 3: r = `(${this.flag(CF)} || ${this.flag(ZF)})`; break;
      case 4: r = this.flag(SF); break;
      case 5: r = this.flag(PF); break;
      case 6: r = `(${this.flag(SF)} !== ${this.flag(OF)})`; break;
      default: r = `(${this.flag(ZF)} || ${this.flag(SF)} !== ${this.flag(OF)})`;
    }
    return cc & 1 ? `!${r}` : r;
  }
  /** CF as 0/1 (condition 2: B/C). */
  cf(): string { return `(${this.cond(2)} ? 1 : 0)`; }

  // ---- memory (64-bit mode, 64-bit addressing) ----
  /** The linear address of i's memory operand, with the canonical check (ea.ts ea64*, eaRip). */
  ea(i: Insn): string {
    const a = this.t();
    const seg = i.seg >= 4 ? ` + cpu.segBaseEff[${i.seg}]` : ''; // ES/CS/SS/DS have base 0 in 64-bit mode
    if (i.mod === 0 && i.base < 0 && i.index < 0 && (i.rm & 7) === 5) {
      this.emit(`const ${a} = rip + ${i.next + i.disp}${seg};`);
    } else {
      let s = `${i.disp}`, h = '0';
      if (i.base >= 0) { s += ` + (${this.lo(i.base)} >>> 0)`; h = this.hi(i.base); }
      if (i.index >= 0) {
        const m = 1 << i.scale;
        s += ` + (${this.lo(i.index)} >>> 0) * ${m}`;
        h = h === '0' ? `${this.hi(i.index)} * ${m}` : `${h} + ${this.hi(i.index)} * ${m}`;
      }
      const t = this.t();
      this.emit(`const ${t} = ${s}; const ${a} = ((${h} + Math.floor(${t} / 4294967296)) | 0) * 4294967296 + (${t} >>> 0)${seg};`);
    }
    this.throwPoint();
    this.emit(`if (${a} < -${CANON} || ${a} >= ${CANON}) cpu.fault(${i.seg === SS ? SS_VEC : GP}, 0);`);
    return a;
  }
  /** Read `size` bytes at linear address a: [low half, high half (size 8)]. */
  read(a: string, size: 1 | 2 | 4 | 8): [string, string] {
    this.throwPoint();
    const o = this.t(), x = this.t(), p = this.t(), v = this.t(), vh = this.t();
    const hit = `${size > 1 ? `${o} <= ${4096 - size} && ` : ''}tT[${x}] === ${a} - ${o} && (tP[${x}] & cpu.permR) !== 0`;
    this.emit(`const ${o} = ${a} & 4095, ${x} = (${a} >>> 12) & ${TLB_MASK}; let ${v}, ${vh} = 0;`);
    const get = size === 8 ? `${v} = dv.getInt32(${p}, true); ${vh} = dv.getInt32(${p} + 4, true);`
      : size === 4 ? `${v} = dv.getInt32(${p}, true);` : size === 2 ? `${v} = dv.getUint16(${p}, true);` : `${v} = u8[${p}];`;
    const slow = size === 8 ? `${v} = cpu.read64(${a}); ${vh} = cpu.th;` : `${v} = cpu.read${size * 8}(${a});`;
    this.emit(`if (${hit}) { const ${p} = tH[${x}] + ${o}; ${get} } else { ${slow} }`);
    return [v, vh];
  }
  /** Write 4 or 8 bytes at linear address a. */
  write(a: string, size: 4 | 8, l: string, h: string): void {
    this.throwPoint();
    const o = this.t(), x = this.t(), p = this.t();
    this.emit(`const ${o} = ${a} & 4095, ${x} = (${a} >>> 12) & ${TLB_MASK}; let ${p};`);
    const put = size === 8 ? `dv.setInt32(${p}, ${l}, true); dv.setInt32(${p} + 4, ${h}, true);` : `dv.setInt32(${p}, ${l}, true);`;
    const slow = size === 8 ? `cpu.write64(${a}, ${l}, ${h});` : `cpu.write32(${a}, ${l});`;
    this.emit(`if (${o} <= ${4096 - size} && tT[${x}] === ${a} - ${o} && (tP[${x}] & cpu.permW) !== 0 && cp[(${p} = tH[${x}] + ${o}) >>> 12] === 0) { dy[${p} >>> 12] = 1; ${put} } else { ${slow} }`);
    this.stored = true;
  }
}

// =====================================================================
// Emitters
// =====================================================================
const reg64 = (i: Insn): boolean => i.osz === 8 || i.osz === 4;
const mem64 = (i: Insn, mode: number): boolean => mode === 8 && i.asz === 8 && i.mod !== 3;

/**
 * d op s (ADD SUB CMP AND OR XOR, or TEST: `test`) for 64- and 32-bit operands (exec/alu.ts alu and the specialized
 * forms): the lazy-flag record, and the result into register `into` unless it is -1 (CMP, TEST).
 */
function emitAlu(g: Gen, op: number, sz: number, dlE: string, dhE: string, sl: string, sh: string, into: number, test = false): void {
  const dl = g.t(), dh = g.t(), s = g.t(), shv = g.t(), rl = g.t(), rh = g.t();
  if (sz === 8) g.emit(`const ${dl} = ${dlE}, ${dh} = ${dhE}, ${s} = ${sl}, ${shv} = ${sh};`);
  else g.emit(`const ${dl} = ${dlE}, ${s} = ${sl};`);
  let kind: number;
  if (op === ALU_ADD || op === ALU_SUB || op === ALU_CMP) {
    const add = op === ALU_ADD;
    kind = add ? LF_ADD : LF_SUB;
    if (sz === 8) {
      const t = g.t();
      g.emit(add ? `const ${t} = (${dl} >>> 0) + (${s} >>> 0); const ${rl} = ${t} | 0, ${rh} = (${dh} + ${shv} + (${t} >= 4294967296 ? 1 : 0)) | 0;`
        : `const ${t} = (${dl} >>> 0) - (${s} >>> 0); const ${rl} = ${t} | 0, ${rh} = (${dh} - ${shv} - (${t} < 0 ? 1 : 0)) | 0;`);
    } else g.emit(`const ${rl} = (${dl} ${add ? '+' : '-'} ${s}) | 0;`);
  } else {
    kind = LF_LOGIC;
    const o = op === ALU_AND || test ? '&' : op === ALU_OR ? '|' : '^';
    g.emit(sz === 8 ? `const ${rl} = ${dl} ${o} ${s}, ${rh} = ${dh} ${o} ${shv};` : `const ${rl} = ${dl} ${o} ${s};`);
  }
  g.lazy(kind, sz, rl, rh, dl, dh, s, shv);
  if (into >= 0) g.set(into, rl, sz === 8 ? rh : '0');
}
/** op on register i.r0 and register i.r1 / the immediate (the specialized handlers of exec/alu.ts). */
function aluRR(op: number, sz: number, test = false): Emitter {
  const write = op !== ALU_CMP && !test;
  return { writes: true, emit: (g, i) => emitAlu(g, op, sz, g.lo(i.r0), sz === 8 ? g.hi(i.r0) : '0', g.lo(i.r1), sz === 8 ? g.hi(i.r1) : '0', write ? i.r0 : -1, test) };
}
function aluRI(op: number, sz: number, test = false): Emitter {
  const write = op !== ALU_CMP && !test;
  return { writes: true, emit: (g, i) => emitAlu(g, op, sz, g.lo(i.r0), sz === 8 ? g.hi(i.r0) : '0', `${i.imm}`, `${i.imm >> 31}`, write ? i.r0 : -1, test) };
}
// The register forms by ALU operation, from the tables the specializer uses (ADC/SBB have emitters of their own below).
for (let op = 0; op < 8; op++) {
  if (op === ALU_ADC || op === ALU_SBB) continue;
  EMIT.set(RR64[op]!, aluRR(op, 8)); EMIT.set(RR32[op]!, aluRR(op, 4));
  EMIT.set(RI64[op]!, aluRI(op, 8)); EMIT.set(RI32[op]!, aluRI(op, 4));
}
EMIT.set(test64RR, aluRR(ALU_AND, 8, true)); EMIT.set(test32RR, aluRR(ALU_AND, 4, true));
EMIT.set(test64RI, aluRI(ALU_AND, 8, true)); EMIT.set(test32RI, aluRI(ALU_AND, 4, true));

// CMP with a memory operand (plain reads, cmp64RMa and friends), and op Gv, Ev with a memory source (aluGE).
function cmpMem(sz: 4 | 8, form: 'RM' | 'MR' | 'MI'): Emitter {
  return {
    can: mem64, writes: true, throws: true,
    emit: (g, i) => {
      const [v, vh] = g.read(g.ea(i), sz);
      const mh = sz === 8 ? vh : '0';
      if (form === 'RM') emitAlu(g, ALU_CMP, sz, g.lo(i.r0), sz === 8 ? g.hi(i.r0) : '0', v, mh, -1);
      else if (form === 'MR') emitAlu(g, ALU_CMP, sz, v, mh, g.lo(i.r1), sz === 8 ? g.hi(i.r1) : '0', -1);
      else emitAlu(g, ALU_CMP, sz, v, mh, `${i.imm}`, `${i.imm >> 31}`, -1);
    },
  };
}
EMIT.set(cmp64RM, cmpMem(8, 'RM')); EMIT.set(cmp32RM, cmpMem(4, 'RM'));
EMIT.set(cmp64MR, cmpMem(8, 'MR')); EMIT.set(cmp32MR, cmpMem(4, 'MR'));
EMIT.set(cmp64MI, cmpMem(8, 'MI')); EMIT.set(cmp32MI, cmpMem(4, 'MI'));
EMIT.set(aluGE, {
  can: (i, mode) => mem64(i, mode) && reg64(i) && (i.arg === ALU_ADD || i.arg === ALU_SUB || i.arg === ALU_AND || i.arg === ALU_OR || i.arg === ALU_XOR),
  writes: true, throws: true,
  emit: (g, i) => {
    const [v, vh] = g.read(g.ea(i), i.osz as 4 | 8);
    const w = i.osz === 8;
    emitAlu(g, i.arg, i.osz, g.lo(i.reg), w ? g.hi(i.reg) : '0', v, w ? vh : '0', i.reg);
  },
});

// ADC/SBB r64, r64: CF in, materialized flags out (eagerFlags).
function adcSbb(add: boolean): Emitter {
  return {
    reads: true, writes: true,
    emit: (g, i) => {
      const c = g.t(), dl = g.t(), dh = g.t(), sl = g.t(), sh = g.t(), t = g.t(), th = g.t(), rl = g.t(), rh = g.t();
      g.emit(`const ${dl} = ${g.lo(i.r0)}, ${dh} = ${g.hi(i.r0)}, ${sl} = ${g.lo(i.r1)}, ${sh} = ${g.hi(i.r1)}, ${c} = ${g.cf()};`);
      if (add) g.emit(`const ${t} = (${dl} >>> 0) + (${sl} >>> 0) + ${c}; const ${th} = (${dh} >>> 0) + (${sh} >>> 0) + (${t} >= 4294967296 ? 1 : 0);`);
      else g.emit(`const ${t} = (${dl} >>> 0) - (${sl} >>> 0) - ${c}; const ${th} = (${dh} >>> 0) - (${sh} >>> 0) - (${t} < 0 ? 1 : 0);`);
      g.emit(`const ${rl} = ${t} | 0, ${rh} = ${th} | 0;`);
      g.eager(`eagerFlags(8, ${rl}, ${rh}, ${dl}, ${sl}, ${dh}, ${sh}, ${th} ${add ? '>= 4294967296' : '< 0'}, ${add})`);
      g.set(i.r0, rl, rh);
    },
  };
}
EMIT.set(RR64[ALU_ADC]!, adcSbb(true)); EMIT.set(RR64[ALU_SBB]!, adcSbb(false));

// INC/DEC register: CF carried through lcf.
function incDec(sz: 4 | 8, dec: boolean): Emitter {
  return {
    reads: true, writes: true,
    emit: (g, i) => {
      const d = i.r0, c = g.t(), dl = g.t(), dh = g.t(), rl = g.t(), rh = g.t();
      g.emit(`const ${c} = ${g.cf()}, ${dl} = ${g.lo(d)}, ${dh} = ${sz === 8 ? g.hi(d) : '0'};`);
      if (sz === 8) {
        g.emit(dec ? `const ${rl} = (${dl} - 1) | 0, ${rh} = ${dl} === 0 ? (${dh} - 1) | 0 : ${dh};`
          : `const ${rl} = (${dl} + 1) | 0, ${rh} = ${rl} === 0 ? (${dh} + 1) | 0 : ${dh};`);
      } else g.emit(`const ${rl} = (${dl} ${dec ? '-' : '+'} 1) | 0, ${rh} = 0;`);
      g.lazy(dec ? LF_DEC : LF_INC, sz, rl, rh, dl, dh, '1', '0', c);
      g.set(d, rl, rh);
    },
  };
}
EMIT.set(inc64R, incDec(8, false)); EMIT.set(dec64R, incDec(8, true));
EMIT.set(inc32R, incDec(4, false)); EMIT.set(dec32R, incDec(4, true));

// Shifts by a constant (the count n = i.r1 is folded): as shl64RI and friends.
function shift64(kind: 'shl' | 'shr' | 'sar'): Emitter {
  return {
    writes: true,
    emit: (g, i) => {
      const d = i.r0, n = i.r1, l = g.t(), h = g.t(), rl = g.t(), rh = g.t(), cf = g.t();
      g.emit(`const ${l} = ${g.lo(d)}, ${h} = ${g.hi(d)};`);
      let r: [string, string], c: string;
      if (kind === 'shl') {
        r = n < 32 ? [`${l} << ${n}`, `(${h} << ${n}) | (${l} >>> ${32 - n})`] : ['0', `${l} << ${n - 32}`];
        c = n <= 32 ? `(${h} >>> ${32 - n}) & 1` : `(${l} >>> ${64 - n}) & 1`;
      } else {
        if (kind === 'shr') r = n < 32 ? [`(${l} >>> ${n}) | (${h} << ${32 - n})`, `(${h} >>> ${n}) | 0`] : [`(${h} >>> ${n - 32}) | 0`, '0'];
        else r = n < 32 ? [`(${l} >>> ${n}) | (${h} << ${32 - n})`, `${h} >> ${n}`] : [`${h} >> ${n - 32}`, `${h} >> 31`];
        c = n <= 32 ? `(${l} >>> ${n - 1}) & 1` : `(${h} >>> ${n - 33}) & 1`;
      }
      g.emit(`const ${rl} = ${r[0]}, ${rh} = ${r[1]}, ${cf} = ${c};`);
      const of = kind === 'shl' ? ` | (((${rh} >>> 31) ^ ${cf}) !== 0 ? ${OF} : 0)` : kind === 'shr' ? ` | (${h} < 0 ? ${OF} : 0)` : '';
      g.eager(`szpOf(8, ${rl}, ${rh}) | ${cf}${of}`);
      g.set(d, rl, rh);
    },
  };
}
function shift32(kind: 'shl' | 'shr' | 'sar'): Emitter {
  return {
    writes: true,
    emit: (g, i) => {
      const d = i.r0, n = i.r1, x = g.t(), r = g.t(), cf = g.t();
      g.emit(`const ${x} = ${g.lo(d)};`);
      if (kind === 'shl') g.emit(`const ${r} = ${x} << ${n}, ${cf} = (${x} >>> ${32 - n}) & 1;`);
      else if (kind === 'shr') g.emit(`const ${r} = (${x} >>> ${n}) | 0, ${cf} = (${x} >>> ${n - 1}) & 1;`);
      else g.emit(`const ${r} = ${x} >> ${n}, ${cf} = (${x} >> ${n - 1}) & 1;`);
      const of = kind === 'shl' ? ` | (((${r} >>> 31) ^ ${cf}) !== 0 ? ${OF} : 0)` : kind === 'shr' ? ` | (${x} < 0 ? ${OF} : 0)` : '';
      g.eager(`szpOf(4, ${r}, 0) | ${cf}${of}`);
      g.set(d, r, '0');
    },
  };
}
EMIT.set(shl64RI, shift64('shl')); EMIT.set(shr64RI, shift64('shr')); EMIT.set(sar64RI, shift64('sar'));
EMIT.set(shl32RI, shift32('shl')); EMIT.set(shr32RI, shift32('shr')); EMIT.set(sar32RI, shift32('sar'));

// IMUL r64, r64 (, imm): the two exact fast paths of exec/alu.ts imul64 inline, the rest through imul64Full.
function imulEmit(imm: boolean): Emitter {
  return {
    writes: true,
    emit: (g, i) => {
      const a = g.t(), ah = g.t(), b = g.t(), bh = g.t(), l = g.t(), h = g.t(), f = g.t();
      g.emit(`const ${a} = ${g.lo(i.r1)}, ${ah} = ${g.hi(i.r1)}, ${b} = ${imm ? i.imm : g.lo(i.r0)}, ${bh} = ${imm ? i.imm >> 31 : g.hi(i.r0)};`);
      g.emit(`let ${l}, ${h}, ${f};`);
      g.emit(`if (${ah} === (${a} >> 31) && ${bh} === (${b} >> 31)) { ${l} = Math.imul(${a}, ${b}); ${h} = Math.round((${a} * ${b} - (${l} >>> 0)) / 4294967296) | 0; ${f} = 0; }`);
      g.emit(`else if ((${ah} | ${bh}) === 0) { ${l} = Math.imul(${a}, ${b}); ${h} = Math.round(((${a} >>> 0) * (${b} >>> 0) - (${l} >>> 0)) / 4294967296) | 0; ${f} = ${h} < 0 ? ${CF | OF} : 0; }`);
      g.emit(`else { ${l} = imul64Full(${a}, ${ah}, ${b}, ${bh}); ${h} = MUL_OUT[0]; ${f} = -1; }`);
      g.eager(`${f} >= 0 ? (szpOf(8, ${l}, ${h}) & ${~ZF}) | ${f} : MUL_OUT[1]`);
      g.set(i.r0, l, h);
    },
  };
}
EMIT.set(imul64RR, imulEmit(false)); EMIT.set(imul64RRI, imulEmit(true));

// MOV
EMIT.set(mov64RR, { emit: (g, i) => g.set(i.r0, g.lo(i.r1), g.hi(i.r1)) });
EMIT.set(mov32RR, { emit: (g, i) => g.set(i.r0, g.lo(i.r1), '0') });
EMIT.set(mov64RI, { emit: (g, i) => g.set(i.r0, `${i.imm}`, `${i.immHi}`) });
EMIT.set(mov32RI, { emit: (g, i) => g.set(i.r0, `${i.imm}`, '0') });
EMIT.set(mov64RM, { can: mem64, throws: true, emit: (g, i) => { const [v, vh] = g.read(g.ea(i), 8); g.set(i.r0, v, vh); } });
EMIT.set(mov32RM, { can: mem64, throws: true, emit: (g, i) => { const [v] = g.read(g.ea(i), 4); g.set(i.r0, v, '0'); } });
EMIT.set(mov64MR, { can: mem64, throws: true, emit: (g, i) => { const a = g.ea(i); g.write(a, 8, g.lo(i.r1), g.hi(i.r1)); } });
EMIT.set(mov32MR, { can: mem64, throws: true, emit: (g, i) => { const a = g.ea(i); g.write(a, 4, g.lo(i.r1), '0'); } });
EMIT.set(mov64MI, { can: mem64, throws: true, emit: (g, i) => g.write(g.ea(i), 8, `${i.imm}`, `${i.imm >> 31}`) });
EMIT.set(mov32MI, { can: mem64, throws: true, emit: (g, i) => g.write(g.ea(i), 4, `${i.imm}`, '0') });

/** The 8-bit register operand r of an instruction (AH..BH for 4-7 without REX), as an expression. */
function byteReg(g: Gen, r: number, rex: number): string {
  return r >= 4 && r < 8 && rex === 0 ? `((${g.lo(r - 4)} >> 8) & 255)` : `(${g.lo(r)} & 255)`;
}
// MOVZX Gv, Eb/Ew and MOVSXD Gv, Ed (32- and 64-bit destinations).
EMIT.set(movzx, {
  can: (i, mode) => reg64(i) && (i.mod === 3 || mem64(i, mode)), throws: (i) => i.mod !== 3,
  emit: (g, i) => {
    const byte = i.op === 0x1b6;
    let v: string;
    if (i.mod === 3) v = byte ? byteReg(g, i.rm, i.rex) : `(${g.lo(i.rm)} & 65535)`;
    else v = g.read(g.ea(i), byte ? 1 : 2)[0];
    g.set(i.reg, v, '0');
  },
});
EMIT.set(movsxd, {
  can: (i, mode) => reg64(i) && (i.mod === 3 || mem64(i, mode)), throws: (i) => i.mod !== 3,
  emit: (g, i) => {
    const v = i.mod === 3 ? g.lo(i.rm) : g.read(g.ea(i), 4)[0];
    const t = g.t();
    g.emit(`const ${t} = ${v};`);
    g.set(i.reg, t, i.osz === 8 ? `${t} >> 31` : '0');
  },
});
// LEA Gv, M with 64-bit addressing in 64-bit mode (exec/mov.ts lea).
EMIT.set(lea, {
  can: (i, mode) => mode === 8 && i.asz === 8 && i.mod !== 3 && reg64(i),
  emit: (g, i) => {
    const l = g.t(), h = g.t();
    if (i.mod === 0 && i.base < 0 && i.index < 0 && (i.rm & 7) === 5) {
      const a = g.t();
      g.emit(`const ${a} = rip + ${i.next + i.disp}; const ${l} = ${a} | 0, ${h} = Math.floor(${a} / 4294967296) | 0;`);
    } else {
      let s = `${i.disp}`, hh = '0';
      if (i.base >= 0) { s += ` + (${g.lo(i.base)} >>> 0)`; hh += ` + ${g.hi(i.base)}`; }
      if (i.index >= 0) { const m = 1 << i.scale; s += ` + (${g.lo(i.index)} >>> 0) * ${m}`; hh += ` + ${g.hi(i.index)} * ${m}`; }
      const t = g.t();
      g.emit(`const ${t} = ${s}; const ${l} = ${t} | 0, ${h} = (${hh} + Math.floor(${t} / 4294967296)) | 0;`);
    }
    g.set(i.reg, l, i.osz === 8 ? h : '0');
  },
});
// SETcc to a register, CMOVcc between registers.
EMIT.set(setcc, {
  can: (i) => i.mod === 3, reads: true,
  emit: (g, i) => {
    const c = g.t();
    g.emit(`const ${c} = ${g.cond(i.op & 15)} ? 1 : 0;`);
    const r = i.rm;
    if (r >= 4 && r < 8 && i.rex === 0) g.set(r - 4, `(${g.lo(r - 4)} & ${~0xff00}) | (${c} << 8)`, g.hi(r - 4));
    else g.set(r, `(${g.lo(r)} & ${~0xff}) | ${c}`, g.hi(r));
  },
});
EMIT.set(cmovcc, {
  can: (i) => i.mod === 3 && reg64(i), reads: true,
  emit: (g, i) => {
    const c = g.t(), sl = g.t(), sh = g.t();
    g.emit(`const ${c} = ${g.cond(i.op & 15)}, ${sl} = ${g.lo(i.rm)}, ${sh} = ${g.hi(i.rm)};`);
    if (i.osz === 8) g.set(i.reg, `${c} ? ${sl} : ${g.lo(i.reg)}`, `${c} ? ${sh} : ${g.hi(i.reg)}`);
    else g.set(i.reg, `${c} ? ${sl} : ${g.lo(i.reg)}`, '0');
  },
});
// PUSH r64 / POP r64 (Cpu.push64 / pop64).
EMIT.set(push64R, {
  throws: true,
  emit: (g, i) => {
    const vl = g.t(), vh = g.t(), l = g.t(), a = g.t();
    g.emit(`const ${vl} = ${g.lo(i.r0)}, ${vh} = ${g.hi(i.r0)}, ${l} = ${g.lo(RSP)} >>> 0, ${a} = ${g.hi(RSP)} * 4294967296 + ${l} - 8;`);
    g.throwPoint();
    g.emit(`if (${a} < -${CANON} || ${a} >= ${CANON}) cpu.fault(${SS_VEC}, 0);`);
    g.write(a, 8, vl, vh);
    const s = g.t();
    g.emit(`const ${s} = ${l} - 8;`);
    g.set(RSP, `${s} | 0`, `(${g.hi(RSP)} + (${s} < 0 ? -1 : 0)) | 0`);
  },
});
EMIT.set(pop64R, {
  throws: true,
  emit: (g, i) => {
    const l = g.t(), a = g.t();
    g.emit(`const ${l} = ${g.lo(RSP)} >>> 0, ${a} = ${g.hi(RSP)} * 4294967296 + ${l};`);
    g.throwPoint();
    g.emit(`if (${a} < -${CANON} || ${a} >= ${CANON}) cpu.fault(${SS_VEC}, 0);`);
    const [v, vh] = g.read(a, 8);
    const s = g.t();
    g.emit(`const ${s} = ${l} + 8;`);
    g.set(RSP, `${s} | 0`, `(${g.hi(RSP)} + (${s} >= 4294967296 ? 1 : 0)) | 0`);
    g.set(i.r0, v, vh);
  },
});
EMIT.set(nop, { emit: () => { /* nothing */ } });
// Jcc / JMP rel in 64-bit mode: the block's last instruction; compileBlock emits the transfer.
for (let cc = 0; cc < 16; cc++) {
  EMIT.set(JCC64[cc]!, { reads: true, throws: true, emit: (g, i) => { g.branch = { cond: g.cond(cc), target: i.next + i.imm }; } });
}
EMIT.set(taken64, { throws: true, emit: (g, i) => { g.branch = { cond: 'true', target: i.next + i.imm }; } });

// =====================================================================
// The compiler
// =====================================================================

/**
 * Compile block b (decoded for `mode`). `insns[n-1]` may be anything; a
 * relative jump or Jcc back to offset 0 makes the function loop while the
 * run loop would have chosen this block again (see the checks below).
 */
export function compileBlock(insns: Insn[], mode: number): CompiledBlock {
  const n = insns.length;
  const em = insns.map((i) => emitterFor(i, mode));
  // Flag liveness (backward): observable after k if a later instruction reads flags, can throw or calls a
  // handler before one writes all six, or the block ends first.
  const liveAfter = new Array<boolean>(n);
  let live = true;
  for (let k = n - 1; k >= 0; k--) {
    liveAfter[k] = live;
    const e = em[k];
    if (e === undefined) live = true;
    else live = e.reads === true || (typeof e.throws === 'function' ? e.throws(insns[k]!) : e.throws === true) || (e.writes !== true && live);
  }
  const liveAtTop = live;
  const last = insns[n - 1]!;
  const lastEm = em[n - 1];
  const selfLoop = lastEm !== undefined && (last.fn === taken64 || JCC64.includes(last.fn)) && last.next + last.imm === 0;

  // Two passes for a self-loop: the first finds which registers the body uses and writes, so the second can keep them
  // in locals across iterations (loaded before the loop, reloaded at the back edge if a handler call dropped them).
  let pre: Gen | null = null;
  if (selfLoop) pre = generate(insns, em, liveAfter, null, liveAtTop);
  const g = generate(insns, em, liveAfter, pre, liveAtTop);

  const decl: string[] = [];
  for (let k = 0; k < n; k++) {
    decl.push(em[k] !== undefined ? '' : addrForm(insns[k]!.fn) !== undefined && insns[k]!.mod !== 3
      ? `const f${k} = FA[${k}], e${k} = I[${k}].ea, i${k} = I[${k}];` : `const f${k} = I[${k}].fn, i${k} = I[${k}];`);
  }
  const regs = [...g.regs].sort((a, b) => a - b);
  let src = decl.join('\n') + '\nreturn function block(cpu, rip, ic0, stopAt, loop) {\n';
  src += ' const lo = cpu.lo, hi = cpu.hi, tT = cpu.tlbTag, tH = cpu.tlbHpa, tP = cpu.tlbPerm, dv = cpu.dv, u8 = cpu.u8, cp = cpu.codePages, dy = cpu.dirty;\n';
  src += ` let k = 0, fR = 0, fRH = 0, fD = 0, fDH = 0, fS = 0, fSH = 0, fC = 0, fA = 0${regs.map((r) => `, L${r} = 0, H${r} = 0`).join('')};\n`;
  if (selfLoop) src += ` const gen = cpu.chainGen, px = cpu.permX;\n ${[...pre!.regs].sort((a, b) => a - b).map((r) => `L${r} = lo[${r}]; H${r} = hi[${r}];`).join(' ')}\n`;
  src += ' try {\n';
  if (selfLoop) src += ' for (;;) {\n';
  src += g.out.join('\n') + '\n';
  if (selfLoop) src += ' }\n';
  src += ' } catch (e) {\n  switch (k) {\n';
  for (const [k, code] of g.cases) src += `   case ${k}: ${code}break;\n`;
  src += '  }\n  throw e;\n }\n};\n';
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function('I', 'FA', 'testCC', 'szpOf', 'PARITY', 'eagerFlags', 'imul64Full', 'MUL_OUT', 'jumpTo', src)(
    insns, insns.map((i) => addrForm(i.fn)), testCC, szpOf, PARITY, eagerFlags, imul64Full, MUL_OUT, jumpTo) as CompiledBlock;
}

function generate(insns: Insn[], em: (Emitter | undefined)[], liveAfter: boolean[], pre: Gen | null, liveAtTop: boolean): Gen {
  const n = insns.length;
  const g = new Gen(insns);
  if (pre !== null) {
    // Loop top: every register the body uses is in its local; any the body writes may be newer than cpu.lo/hi;
    // flags are in the Cpu, or (when the body overwrites them before anything observes them) don't matter.
    for (const r of pre.regs) g.loaded.add(r);
    for (const r of pre.written) g.dirty.add(r);
    if (!liveAtTop) g.fl = FL_DEAD;
  }
  for (let k = 0; k < n; k++) {
    const i = insns[k]!, e = em[k];
    g.k = k; g.wrote = false; g.stored = false; g.live = liveAfter[k]!; g.inline = e !== undefined;
    g.emit(`// ${k}: ${i.mn}`);
    if (e !== undefined) {
      e.emit(g, i);
      if (g.stored) g.emit(`if (cpu.codeDirty) { cpu.codeDirty = false; ${g.exitCode(k + 1, `rip + ${i.next}`)} }`);
      continue;
    }
    // A handler call: the Cpu must hold everything first; afterwards every local is stale.
    g.sync();
    g.throwPoint();
    if (i.sync === SYNC_FULL) g.emit(`cpu.rip = rip + ${i.off}; cpu.ripNext = rip + ${i.next}; cpu.icount = ic0 + ${k};`);
    else if (i.sync === SYNC_NEXT) g.emit(`cpu.ripNext = rip + ${i.next};`);
    g.emit(addrForm(i.fn) !== undefined && i.mod !== 3 ? `f${k}(cpu, i${k}, e${k}(cpu, i${k}));` : `f${k}(cpu, i${k});`);
    g.loaded.clear();
    const ripAfter = i.sync !== SYNC_NONE ? 'cpu.ripNext' : `rip + ${i.next}`;
    if (k === n - 1) { g.emit(`cpu.rip = ${ripAfter}; cpu.icount = ic0 + ${n}; return;`); return g; }
    if (!isRegOnly(i.fn)) g.emit(`if (cpu.codeDirty) { cpu.codeDirty = false; cpu.rip = ${ripAfter}; cpu.icount = ic0 + ${k + 1}; return; }`);
  }
  const last = insns[n - 1]!;
  const br = g.branch;
  if (br === null) { g.emit(g.exitCode(n, `rip + ${last.next}`)); return g; }
  // The branch: a non-canonical target goes through jumpTo (its wrap, or #GP) with the branch's own fault state.
  const t = g.t();
  g.k = n - 1;
  g.throwPoint();
  g.emit(`let ${t} = rip + ${br.target};`);
  g.emit(`if (${t} < -${CANON} || ${t} >= ${CANON}) { if (${br.cond}) { jumpTo(cpu, ${t}, 8); ${t} = cpu.ripNext; } else ${t} = rip + ${last.next}; }`);
  g.emit(`else if (!${br.cond}) ${t} = rip + ${last.next};`);
  if (pre === null) { g.emit(g.exitCode(n, t)); return g; }
  // Self-loop: run the block again only where runBlocks would - back at its start with nothing it checks
  // between blocks changed: the whole block fits before stopAt, no interrupt-window exiting (loop = false),
  // not halted, outside an interrupt shadow, no TLB fill/flush, dropped code or mode/CPL change since entry.
  g.emit(`if (${t} !== rip || !loop || ic0 + ${2 * n} > stopAt || cpu.chainGen !== gen || cpu.permX !== px || cpu.halted || ic0 + ${n} === cpu.shadowAt) { ${g.exitCode(n, t)} }`);
  // Flags the top of the body can observe go to the Cpu; registers stay in their locals.
  if (liveAtTop) { g.emit(g.flagsCode()); g.fl = FL_CPU; }
  for (const r of pre.regs) if (!g.loaded.has(r)) { g.emit(`L${r} = lo[${r}]; H${r} = hi[${r}];`); g.loaded.add(r); }
  g.emit(`ic0 += ${n};`);
  return g;
}

/** Whether compiled blocks emit instruction i (decoded for `mode`) inline, rather than calling its handler. */
export function emitsInline(i: Insn, mode: number): boolean {
  return emitterFor(i, mode) !== undefined;
}
