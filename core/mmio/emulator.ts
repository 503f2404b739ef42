/**
 * The MMIO instruction emulator (hvtrace's "emulate.c"). On an EPT
 * violation or misconfiguration at a guest-physical address no RAM backs,
 * VT-x only says which address was touched (SDM Vol. 3C, 28.2.1, "Exit
 * Qualification for EPT Violations"); the hypervisor must fetch the
 * instruction at guest RIP, decode it, perform it against the device, write
 * back registers and RFLAGS, and advance RIP by the decoded length: the
 * VM-exit instruction-length field is undefined for EPT exits (Vol. 3C,
 * 28.2.5 "Information for VM Exits Due to Instruction Execution" lists the
 * exits that define it; EPT violations are not among them).
 *
 * Semantics per instruction, SDM Vol. 2A/2B: MOV (incl. moffs forms, "MOV—
 * Move"), MOVZX, MOVSX/MOVSXD, ADD/OR/ADC/SBB/AND/SUB/XOR/CMP, TEST, INC,
 * DEC, NEG, NOT, BT/BTS/BTR/BTC ("a bit offset in a register selects ...
 * Effective Address + (OpSize/8 * (BitOffset DIV OpSize))"), XCHG, CMPXCHG
 * ("the destination operand is written back if the comparison fails"),
 * XADD, MOVS/STOS/LODS/CMPS/SCAS with REP ("REP/REPE/REPZ/REPNE/REPNZ—Repeat String
 * Operation Prefix": the count register and indexes show the progress of an
 * interrupted REP instruction). Address computation: Vol. 1, 3.7.5
 * (base + index*scale + disp, truncated to the address size), 3.3.7.1
 * (canonical addresses: #GP(0), or #SS(0) for SS-based accesses), 3.4.2.1
 * (in 64-bit mode only FS and GS bases apply).
 *
 * Not modelled: segment limit and access-rights checks in 16/32-bit modes,
 * alignment checks (#AC), RFLAGS.TF single-step after the instruction,
 * clearing of the STI/MOV-SS interrupt shadow (the caller owns the VMCS).
 *
 * No BigInt. The emulator never throws for guest input: every outcome is an
 * MmioResult.
 */
import {
  MmioInsn, decodeInto, formatInsn, REASONS, REG_RIP, SEG_SS, SEG_FS, SEG_ES, SEG_CS,
  D_OK, D_UNSUPPORTED, D_INVALID, D_TRUNCATED, D_TOO_LONG, type DecodeMode,
} from './decoder.js';
import {
  OP_MOV_STORE, OP_MOV_LOAD, OP_MOV_IMM, OP_MOVZX, OP_MOVSX, OP_MOVSXD, OP_ALU_EG, OP_ALU_GE, OP_ALU_EI,
  OP_TEST_EG, OP_TEST_EI, OP_NOT, OP_NEG, OP_INC, OP_DEC, OP_BT_EG, OP_BT_EI, OP_XCHG, OP_CMPXCHG,
  OP_XADD, OP_MOVS, OP_STOS, OP_LODS, OP_CMPS, OP_SCAS, ALU_CMP, ALU_AND, ALU_ADD, BT_BT, BT_BTS, BT_BTR,
  isStringOp,
} from './table.js';
import { R, alu, incdec, neg, truncate, signExtend, F_CF, F_DF, F_RF, F_ZF } from './alu.js';
import { Translation, ACC_READ, ACC_WRITE, ACC_FETCH, type Access } from './paging.js';

export type AccessSize = 1 | 2 | 4 | 8;

/** A 64-bit value as int32/uint32 halves. Implementations may reuse the object between calls. */
export interface MmioValue { lo: number; hi: number }

/** The device side: what the hypervisor's MMIO dispatcher offers. */
export interface MmioBus {
  read(gpa: number, size: AccessSize): MmioValue;
  write(gpa: number, size: AccessSize, lo: number, hi: number): void;
}

/**
 * The guest side, provided by the hypervisor (core/mmio/machine.ts over a
 * Machine). Registers are numbered in ModR/M order (0 = RAX .. 15 = R15);
 * RSP comes from the VMCS guest-state area, the others from the register
 * file the exit left behind.
 */
export interface GuestAccess {
  gprLo(r: number): number;
  gprHi(r: number): number;
  setGpr(r: number, lo: number, hi: number): void;
  /** Guest RIP (canonical signed double in 64-bit mode). */
  rip(): number;
  setRip(rip: number): void;
  rflags(): number;
  setRflags(v: number): void;
  /** Base of segment register `seg` (0 ES .. 5 GS) from the guest-state area. */
  segBase(seg: number): number;
  /** Guest-linear -> guest-physical for an access (guest paging in every mode; #PF error code on failure). */
  translate(lin: number, acc: Access, out: Translation): boolean;
  /** Whether guest-physical `gpa` is RAM (EPT maps it) rather than MMIO. */
  isRam(gpa: number): boolean;
  readRam(gpa: number, size: AccessSize): MmioValue;
  writeRam(gpa: number, size: AccessSize, lo: number, hi: number): void;
}

export type MmioResult =
  /** The instruction completed: registers, RFLAGS and RIP (+ decoded length) are written back. */
  | { readonly kind: 'done'; readonly len: number; readonly insn: MmioInsn; readonly accesses: number }
  /** A REP string instruction made progress but is not finished: RIP unchanged, the guest re-executes it. */
  | { readonly kind: 'partial'; readonly insn: MmioInsn; readonly accesses: number }
  /** The guest must receive this exception (inject it; set CR2 = cr2 for #PF). */
  | { readonly kind: 'exception'; readonly vector: number; readonly errorCode: number; readonly cr2: number; readonly message: string }
  /** Not emulated: stop the run with this message (it names RIP and the instruction bytes). */
  | { readonly kind: 'stop'; readonly message: string; readonly rip: number; readonly bytes: Uint8Array };

export interface MmioOptions {
  /** Iterations of a REP string instruction per call before returning 'partial' (default 4096). */
  readonly maxIterations?: number;
}

// Exception vectors (Vol. 3A, Table 6-1).
export const VEC_UD = 6, VEC_SS = 12, VEC_GP = 13, VEC_PF = 14;
const RAX = 0, RCX = 1, RSI = 6, RDI = 7;
const TWO32 = 4294967296;

/** Preallocated sentinel thrown inside the emulator when the guest must get an exception. */
const FAULT = { kind: 'mmio-fault' } as const;
const STOP = { kind: 'mmio-stop' } as const;

function hexBytes(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}
export function ripHex(rip: number): string {
  if (rip >= 0) return rip.toString(16);
  const hi = Math.floor(rip / TWO32) >>> 0, lo = rip >>> 0;
  return hi.toString(16) + lo.toString(16).padStart(8, '0');
}

export class MmioEmulator {
  readonly insn = new MmioInsn();
  private readonly code = new Uint8Array(15);
  private readonly tr = new Translation();
  private a!: GuestAccess;
  private bus!: MmioBus;
  private mode: DecodeMode = 64;
  private flags = 0;
  private accesses = 0;
  private ripNext = 0;
  // exception / stop details
  private fVector = 0; private fCode = -1; private fCr2 = 0; private fMsg = '';
  // prepared access: up to two pieces (page split)
  private pg0 = 0; private pg1 = 0; private first = 0;
  // last value read (halves)
  private vlo = 0; private vhi = 0;
  // effective address (halves)
  private elo = 0; private ehi = 0;

  emulate(access: GuestAccess, bus: MmioBus, mode: DecodeMode, opts: MmioOptions = {}): MmioResult {
    this.a = access; this.bus = bus; this.mode = mode; this.accesses = 0;
    const rip = access.rip();
    const o = this.insn;
    // ---- fetch (up to 15 bytes, page by page) ----
    const csBase = mode === 64 ? 0 : access.segBase(SEG_CS);
    const lin0 = mode === 64 ? rip : (csBase + (mode === 16 ? rip & 0xffff : rip >>> 0)) >>> 0;
    // A page after the first that cannot be fetched matters only if the instruction extends into it.
    let n = 0;
    let fetchFault = -1;
    let faultLin = 0;
    let fetchStop = '';
    while (n < 15) {
      const lin = this.linAdd(lin0, n);
      if (!access.translate(lin, ACC_FETCH, this.tr)) {
        if (this.tr.errorCode < 0) fetchStop = `instruction fetch at RIP 0x${ripHex(rip)}: ${this.tr.message}`;
        else { fetchFault = this.tr.errorCode; faultLin = lin; }
        break;
      }
      const gpa = this.tr.gpa;
      if (!access.isRam(gpa)) { fetchStop = `instruction fetch from MMIO (guest-physical 0x${gpa.toString(16)}) at RIP 0x${ripHex(rip)}`; break; }
      const chunk = Math.min(15 - n, 4096 - (gpa % 4096));
      for (let k = 0; k < chunk; k++) this.code[n + k] = access.readRam(gpa + k, 1).lo & 0xff;
      n += chunk;
    }
    if (n === 0 && fetchStop) return this.stopResult(rip, 0, fetchStop);
    // ---- decode ----
    const st = decodeInto(this.code, 0, n, mode, o);
    const bytes = (): Uint8Array => this.code.slice(0, Math.min(n, Math.max(o.len, 1)));
    if (st === D_TRUNCATED && fetchFault >= 0) {
      return { kind: 'exception', vector: VEC_PF, errorCode: fetchFault, cr2: faultLin, message: `#PF fetching the instruction at RIP 0x${ripHex(rip)}` };
    }
    if (st === D_TRUNCATED && fetchStop) return this.stopResult(rip, n, fetchStop);
    if (st === D_INVALID) {
      return { kind: 'exception', vector: VEC_UD, errorCode: -1, cr2: 0, message: `#UD: ${REASONS[o.reason]} at RIP 0x${ripHex(rip)}: ${hexBytes(bytes())}` };
    }
    if (st === D_TOO_LONG) {
      return { kind: 'exception', vector: VEC_GP, errorCode: 0, cr2: 0, message: `#GP: ${REASONS[o.reason]} at RIP 0x${ripHex(rip)}: ${hexBytes(this.code.slice(0, n))}` };
    }
    if (st === D_TRUNCATED) return this.stopResult(rip, n, `MMIO instruction at RIP 0x${ripHex(rip)} could not be fetched whole`);
    if (st === D_UNSUPPORTED) return this.stopResult(rip, o.len, `MMIO access by an instruction the emulator does not handle (${REASONS[o.reason]}) at RIP 0x${ripHex(rip)}`);
    if (st !== D_OK) return this.stopResult(rip, n, `MMIO decode failed at RIP 0x${ripHex(rip)}`);
    const isString = isStringOp(o.op);
    if (!o.hasMem && !isString) return this.stopResult(rip, o.len, `MMIO exit at RIP 0x${ripHex(rip)} on an instruction without a memory operand (${formatInsn(o)})`);

    // ---- execute ----
    const len = o.len;
    this.ripNext = mode === 64 ? rip + len : mode === 32 ? (rip + len) >>> 0 : (rip + len) & 0xffff;
    this.flags = access.rflags();
    try {
      if (isString) {
        if (!this.string(o, opts.maxIterations ?? 4096)) {
          // Interrupted REP: the registers and (CMPS/SCAS) the flags show the progress so far (Vol. 2B REP).
          access.setRflags(this.flags);
          return { kind: 'partial', insn: o, accesses: this.accesses };
        }
      } else this.execute(o);
    } catch (e) {
      // A fault in a later iteration of a REP CMPS/SCAS leaves the flags of the iterations done (with the registers).
      if (e === FAULT && isString) access.setRflags(this.flags);
      if (e === FAULT) return { kind: 'exception', vector: this.fVector, errorCode: this.fCode, cr2: this.fCr2, message: `${this.fMsg} at RIP 0x${ripHex(rip)} (${formatInsn(o)})` };
      if (e === STOP) return this.stopResult(rip, len, `${this.fMsg} at RIP 0x${ripHex(rip)} (${formatInsn(o)})`);
      throw e;
    }
    // RF is cleared once an instruction completes (Vol. 3A, 18.3.1.1).
    access.setRflags(this.flags & ~F_RF);
    access.setRip(this.ripNext);
    return { kind: 'done', len, insn: o, accesses: this.accesses };
  }

  private stopResult(rip: number, n: number, what: string): MmioResult {
    const bytes = this.code.slice(0, n);
    return { kind: 'stop', rip, bytes, message: `${what}: instruction bytes ${n ? hexBytes(bytes) : '(none readable)'}` };
  }

  // =====================================================================
  // Faults
  // =====================================================================
  private fault(vector: number, code: number, cr2: number, msg: string): never {
    this.fVector = vector; this.fCode = code; this.fCr2 = cr2; this.fMsg = msg;
    throw FAULT;
  }
  private stop(msg: string): never { this.fMsg = msg; throw STOP; }

  // =====================================================================
  // Registers
  // =====================================================================
  /** Register r as an operand of `size` bytes (hi8: AH..BH) into vlo/vhi. */
  private getReg(r: number, size: number, hi8: boolean): void {
    const lo = this.a.gprLo(r);
    if (hi8) { this.vlo = (lo >>> 8) & 0xff; this.vhi = 0; return; }
    if (size === 8) { this.vlo = lo | 0; this.vhi = this.a.gprHi(r) | 0; return; }
    this.vhi = 0;
    this.vlo = size === 4 ? lo | 0 : size === 2 ? lo & 0xffff : lo & 0xff;
  }
  /** Write a `size`-byte result to register r: 32-bit writes zero bits 63:32, 8/16-bit writes merge (Vol. 1, 3.4.1.1). */
  private setReg(r: number, size: number, hi8: boolean, lo: number, hi: number): void {
    const a = this.a;
    if (size === 8) { a.setGpr(r, lo | 0, hi | 0); return; }
    if (size === 4) { a.setGpr(r, lo | 0, 0); return; }
    const old = a.gprLo(r), oldHi = a.gprHi(r);
    if (size === 2) a.setGpr(r, (old & ~0xffff) | (lo & 0xffff), oldHi);
    else if (hi8) a.setGpr(r, (old & ~0xff00) | ((lo & 0xff) << 8), oldHi);
    else a.setGpr(r, (old & ~0xff) | (lo & 0xff), oldHi);
  }

  // =====================================================================
  // Addresses
  // =====================================================================
  private linAdd(lin: number, k: number): number {
    return this.mode === 64 ? lin + k : (lin + k) >>> 0;
  }

  /** Effective address of the ModR/M (or moffs) operand into elo/ehi, truncated to the address size. */
  private effectiveAddress(o: MmioInsn): void {
    let lo = o.dispLo | 0, hi = o.dispHi | 0;
    if (o.base === REG_RIP) {
      const r = this.ripNext;
      const s = (lo >>> 0) + (r >>> 0);
      hi = (hi + Math.floor(r / TWO32) + (s >= TWO32 ? 1 : 0)) | 0; lo = s | 0;
    } else if (o.base >= 0) {
      const s = (lo >>> 0) + (this.a.gprLo(o.base) >>> 0);
      hi = (hi + this.a.gprHi(o.base) + (s >= TWO32 ? 1 : 0)) | 0; lo = s | 0;
    }
    if (o.index >= 0) {
      let ilo = this.a.gprLo(o.index) | 0, ihi = this.a.gprHi(o.index) | 0;
      if (o.scale > 1) {
        const sh = o.scale === 2 ? 1 : o.scale === 4 ? 2 : 3;
        ihi = (ihi << sh) | (ilo >>> (32 - sh)); ilo <<= sh;
      }
      const s = (lo >>> 0) + (ilo >>> 0);
      hi = (hi + ihi + (s >= TWO32 ? 1 : 0)) | 0; lo = s | 0;
    }
    this.setEa(o.asize, lo, hi);
  }
  private setEa(asize: number, lo: number, hi: number): void {
    if (asize === 8) { this.elo = lo | 0; this.ehi = hi | 0; }
    else if (asize === 4) { this.elo = lo | 0; this.ehi = 0; }
    else { this.elo = lo & 0xffff; this.ehi = 0; }
  }

  /** Linear address of seg:[elo/ehi] for an access of `size` bytes; #GP/#SS(0) if non-canonical. */
  private linear(seg: number, size: number, defSeg = seg): number {
    let lo = this.elo, hi = this.ehi;
    if (this.mode === 64) {
      if (seg >= SEG_FS) {
        const b = this.a.segBase(seg);
        const s = (lo >>> 0) + (b >>> 0);
        hi = (hi + Math.floor(b / TWO32) + (s >= TWO32 ? 1 : 0)) | 0; lo = s | 0;
      }
      // canonical: bits 63:47 all equal, for the first and the last byte (Vol. 1, 3.3.7.1)
      const last = (lo >>> 0) + size - 1;
      const lastHi = (hi + (last >= TWO32 ? 1 : 0)) | 0;
      if (((hi >> 15) !== 0 && (hi >> 15) !== -1) || ((lastHi >> 15) !== 0 && (lastHi >> 15) !== -1) || (hi >> 15) !== (lastHi >> 15)) {
        const v = (seg >= SEG_FS ? seg : defSeg) === SEG_SS ? VEC_SS : VEC_GP;
        this.fault(v, 0, 0, `${v === VEC_SS ? '#SS' : '#GP'}(0): non-canonical address`);
      }
      return hi * TWO32 + (lo >>> 0);
    }
    return ((this.a.segBase(seg) >>> 0) + (lo >>> 0)) >>> 0;
  }

  // =====================================================================
  // Memory: translate first (all pieces), then access; RAM or MMIO per address
  // =====================================================================
  /** Translate [lin, lin+size) for `acc`; faults before any access. */
  private prepare(lin: number, size: number, acc: Access): void {
    const off = lin % 4096 < 0 ? (lin % 4096) + 4096 : lin % 4096;
    this.first = off + size > 4096 ? 4096 - off : size;
    this.pg0 = this.xlate(lin, acc);
    this.pg1 = this.first < size ? this.xlate(this.linAdd(lin, this.first), acc) : 0;
  }
  private xlate(lin: number, acc: Access): number {
    if (!this.a.translate(lin, acc, this.tr)) {
      if (this.tr.errorCode < 0) this.stop(`guest page walk failed: ${this.tr.message}`);
      this.fault(VEC_PF, this.tr.errorCode, lin, `#PF at guest-linear 0x${ripHex(lin)}`);
    }
    return this.tr.gpa;
  }

  /** Read the prepared range into vlo/vhi. */
  private readPrepared(size: number): void {
    if (this.first === size) { this.readPhys(this.pg0, size); return; }
    let lo = 0, hi = 0;
    for (let k = 0; k < size; k++) {
      this.readPhys(k < this.first ? this.pg0 + k : this.pg1 + k - this.first, 1);
      const b = this.vlo & 0xff;
      if (k < 4) lo |= b << (8 * k); else hi |= b << (8 * (k - 4));
    }
    this.vlo = lo | 0; this.vhi = hi | 0;
  }
  private writePrepared(size: number, lo: number, hi: number): void {
    if (this.first === size) { this.writePhys(this.pg0, size, lo, hi); return; }
    for (let k = 0; k < size; k++) {
      const b = k < 4 ? (lo >>> (8 * k)) & 0xff : (hi >>> (8 * (k - 4))) & 0xff;
      this.writePhys(k < this.first ? this.pg0 + k : this.pg1 + k - this.first, 1, b, 0);
    }
  }
  private readPhys(gpa: number, size: number): void {
    const a = this.a;
    const ram0 = a.isRam(gpa), ram1 = size === 1 ? ram0 : a.isRam(gpa + size - 1);
    if (ram0 !== ram1) {
      let lo = 0, hi = 0;
      for (let k = 0; k < size; k++) {
        this.readPhys(gpa + k, 1);
        if (k < 4) lo |= (this.vlo & 0xff) << (8 * k); else hi |= (this.vlo & 0xff) << (8 * (k - 4));
      }
      this.vlo = lo | 0; this.vhi = hi | 0;
      return;
    }
    const v = ram0 ? a.readRam(gpa, size as AccessSize) : this.bus.read(gpa, size as AccessSize);
    if (!ram0) this.accesses++;
    truncate(size, v.lo, v.hi);
    this.vlo = R.lo; this.vhi = R.hi;
  }
  private writePhys(gpa: number, size: number, lo: number, hi: number): void {
    const a = this.a;
    const ram0 = a.isRam(gpa), ram1 = size === 1 ? ram0 : a.isRam(gpa + size - 1);
    if (ram0 !== ram1) {
      for (let k = 0; k < size; k++) this.writePhys(gpa + k, 1, k < 4 ? (lo >>> (8 * k)) & 0xff : (hi >>> (8 * (k - 4))) & 0xff, 0);
      return;
    }
    truncate(size, lo, hi);
    if (ram0) a.writeRam(gpa, size as AccessSize, R.lo, R.hi);
    else { this.accesses++; this.bus.write(gpa, size as AccessSize, R.lo, R.hi); }
  }

  // =====================================================================
  // Instructions with a ModR/M (or moffs) memory operand
  // =====================================================================
  private execute(o: MmioInsn): void {
    const size = o.size;
    this.effectiveAddress(o);
    switch (o.op) {
      case OP_MOV_STORE: {
        const lin = this.linear(o.seg, size, o.defSeg);
        this.prepare(lin, size, ACC_WRITE);
        this.getReg(o.reg, size, o.regHi8);
        this.writePrepared(size, this.vlo, this.vhi);
        return;
      }
      case OP_MOV_IMM: {
        this.prepare(this.linear(o.seg, size, o.defSeg), size, ACC_WRITE);
        this.writePrepared(size, o.immLo, o.immHi);
        return;
      }
      case OP_MOV_LOAD: {
        this.prepare(this.linear(o.seg, size, o.defSeg), size, ACC_READ);
        this.readPrepared(size);
        this.setReg(o.reg, size, o.regHi8, this.vlo, this.vhi);
        return;
      }
      case OP_MOVZX: case OP_MOVSX: case OP_MOVSXD: {
        const ss = o.srcSize;
        this.prepare(this.linear(o.seg, ss, o.defSeg), ss, ACC_READ);
        this.readPrepared(ss);
        if (o.op === OP_MOVZX || ss === size) truncate(size, this.vlo, this.vhi);
        else { signExtend(ss, this.vlo); truncate(size, R.lo, R.hi); }
        this.setReg(o.reg, size, o.regHi8, R.lo, R.hi);
        return;
      }
      case OP_ALU_EG: case OP_ALU_EI: case OP_TEST_EG: case OP_TEST_EI: {
        const test = o.op === OP_TEST_EG || o.op === OP_TEST_EI;
        const readOnly = test || o.sub === ALU_CMP;
        this.prepare(this.linear(o.seg, size, o.defSeg), size, readOnly ? ACC_READ : ACC_WRITE);
        this.readPrepared(size);
        const mlo = this.vlo, mhi = this.vhi;
        let blo: number, bhi: number;
        if (o.op === OP_ALU_EG || o.op === OP_TEST_EG) { this.getReg(o.reg, size, o.regHi8); blo = this.vlo; bhi = this.vhi; }
        else { blo = o.immLo; bhi = o.immHi; }
        alu(test ? ALU_AND : o.sub, size, mlo, mhi, blo, bhi, this.flags);
        if (!readOnly) this.writePrepared(size, R.lo, R.hi);
        this.flags = R.flags;
        return;
      }
      case OP_ALU_GE: {
        this.prepare(this.linear(o.seg, size, o.defSeg), size, ACC_READ);
        this.readPrepared(size);
        const mlo = this.vlo, mhi = this.vhi;
        this.getReg(o.reg, size, o.regHi8);
        alu(o.sub, size, this.vlo, this.vhi, mlo, mhi, this.flags);
        if (o.sub !== ALU_CMP) this.setReg(o.reg, size, o.regHi8, R.lo, R.hi);
        this.flags = R.flags;
        return;
      }
      case OP_NOT: case OP_NEG: case OP_INC: case OP_DEC: {
        this.prepare(this.linear(o.seg, size, o.defSeg), size, ACC_WRITE);
        this.readPrepared(size);
        if (o.op === OP_NOT) { truncate(size, ~this.vlo, ~this.vhi); R.flags = this.flags; }
        else if (o.op === OP_NEG) neg(size, this.vlo, this.vhi, this.flags);
        else incdec(size, this.vlo, this.vhi, o.op === OP_DEC, this.flags);
        this.writePrepared(size, R.lo, R.hi);
        this.flags = R.flags;
        return;
      }
      case OP_BT_EG: case OP_BT_EI: {
        let bit: number;
        if (o.op === OP_BT_EI) bit = o.immLo & (size * 8 - 1);
        else {
          // Register bit offset, signed, may address outside the operand.
          this.getReg(o.reg, size, false);
          let olo: number, ohi: number;
          if (size === 2) { const off = (this.vlo << 16) >> 16; olo = (off >> 3) & ~1; ohi = olo >> 31; bit = off & 15; }
          else if (size === 4) { const off = this.vlo | 0; olo = (off >> 3) & ~3; ohi = olo >> 31; bit = off & 31; }
          else { olo = ((this.vlo >>> 3) | (this.vhi << 29)) & ~7; ohi = this.vhi >> 3; bit = this.vlo & 63; }
          const s = (this.elo >>> 0) + (olo >>> 0);
          this.setEa(o.asize, s | 0, (this.ehi + ohi + (s >= TWO32 ? 1 : 0)) | 0);
        }
        const kind = o.sub;
        this.prepare(this.linear(o.seg, size, o.defSeg), size, kind === BT_BT ? ACC_READ : ACC_WRITE);
        this.readPrepared(size);
        let lo = this.vlo, hi = this.vhi;
        const inHi = bit >= 32;
        const m = 1 << (bit & 31);
        const set = ((inHi ? hi : lo) & m) !== 0;
        this.flags = (this.flags & ~F_CF) | (set ? F_CF : 0);
        if (kind !== BT_BT) {
          const nv = kind === BT_BTS ? true : kind === BT_BTR ? false : !set;
          if (inHi) hi = nv ? hi | m : hi & ~m; else lo = nv ? lo | m : lo & ~m;
          this.writePrepared(size, lo, hi);
        }
        return;
      }
      case OP_XCHG: {
        this.prepare(this.linear(o.seg, size, o.defSeg), size, ACC_WRITE);
        this.readPrepared(size);
        const mlo = this.vlo, mhi = this.vhi;
        this.getReg(o.reg, size, o.regHi8);
        this.writePrepared(size, this.vlo, this.vhi);
        this.setReg(o.reg, size, o.regHi8, mlo, mhi);
        return;
      }
      case OP_CMPXCHG: {
        this.prepare(this.linear(o.seg, size, o.defSeg), size, ACC_WRITE);
        this.readPrepared(size);
        const dlo = this.vlo, dhi = this.vhi;
        this.getReg(RAX, size, false);
        const alo = this.vlo, ahi = this.vhi;
        alu(ALU_CMP, size, alo, ahi, dlo, dhi, this.flags);
        this.flags = R.flags;
        if (dlo === alo && dhi === ahi) {
          this.getReg(o.reg, size, o.regHi8);
          this.writePrepared(size, this.vlo, this.vhi);
        } else {
          // "the destination operand receives a write cycle without regard to the result of the comparison"
          this.writePrepared(size, dlo, dhi);
          this.setReg(RAX, size, false, dlo, dhi);
        }
        return;
      }
      case OP_XADD: {
        this.prepare(this.linear(o.seg, size, o.defSeg), size, ACC_WRITE);
        this.readPrepared(size);
        const dlo = this.vlo, dhi = this.vhi;
        this.getReg(o.reg, size, o.regHi8);
        alu(ALU_ADD, size, dlo, dhi, this.vlo, this.vhi, this.flags);
        this.writePrepared(size, R.lo, R.hi);
        this.flags = R.flags;
        this.setReg(o.reg, size, o.regHi8, dlo, dhi);
        return;
      }
      default:
        this.stop(`no MMIO semantics for this instruction`);
    }
  }

  // =====================================================================
  // String instructions (MOVS, STOS, LODS, CMPS, SCAS), with REP/REPE/REPNE
  // =====================================================================
  /** Index register value (by address size) into elo/ehi. */
  private indexEa(r: number, asize: number): void {
    this.setEa(asize, this.a.gprLo(r), this.a.gprHi(r));
  }
  /** r += delta, at the address size (16-bit merges, 32-bit zero-extends). */
  private advance(r: number, asize: number, delta: number): void {
    const lo = this.a.gprLo(r);
    if (asize === 2) { this.a.setGpr(r, (lo & ~0xffff) | ((lo + delta) & 0xffff), this.a.gprHi(r)); return; }
    if (asize === 4) { this.a.setGpr(r, (lo + delta) | 0, 0); return; }
    const s = (lo >>> 0) + delta;
    const carry = s >= TWO32 ? 1 : s < 0 ? -1 : 0;
    this.a.setGpr(r, s | 0, (this.a.gprHi(r) + carry) | 0);
  }

  /** Returns true when the instruction completed, false for a REP made partial by the iteration budget. */
  private string(o: MmioInsn, budget: number): boolean {
    const size = o.size, asize = o.asize, a = this.a;
    const delta = this.flags & F_DF ? -size : size;
    const rep = o.rep !== 0;
    // count (Vol. 2B REP: CX, ECX or RCX by address size)
    let cnt = 1;
    if (rep) {
      const lo = a.gprLo(RCX) >>> 0;
      cnt = asize === 8 ? (a.gprHi(RCX) >>> 0) * TWO32 + lo : asize === 4 ? lo : lo & 0xffff;
    }
    let done = 0;
    while (cnt > 0) {
      if (done === budget) return false;
      if (o.op === OP_MOVS) {
        this.indexEa(RSI, asize);
        const src = this.linear(o.seg, size, o.defSeg);
        this.indexEa(RDI, asize);
        const dst = this.linear(SEG_ES, size);
        this.prepare(src, size, ACC_READ);
        const s0 = this.pg0, s1 = this.pg1, sf = this.first;
        this.prepare(dst, size, ACC_WRITE);
        const d0 = this.pg0, d1 = this.pg1, df = this.first;
        this.pg0 = s0; this.pg1 = s1; this.first = sf;
        this.readPrepared(size);
        this.pg0 = d0; this.pg1 = d1; this.first = df;
        this.writePrepared(size, this.vlo, this.vhi);
        this.advance(RSI, asize, delta);
        this.advance(RDI, asize, delta);
      } else if (o.op === OP_STOS) {
        this.indexEa(RDI, asize);
        this.prepare(this.linear(SEG_ES, size), size, ACC_WRITE);
        this.getReg(RAX, size, false);
        this.writePrepared(size, this.vlo, this.vhi);
        this.advance(RDI, asize, delta);
      } else if (o.op === OP_LODS) {
        this.indexEa(RSI, asize);
        this.prepare(this.linear(o.seg, size, o.defSeg), size, ACC_READ);
        this.readPrepared(size);
        this.setReg(RAX, size, false, this.vlo, this.vhi);
        this.advance(RSI, asize, delta);
      } else if (o.op === OP_CMPS) {
        // temp = SRC1 - SRC2, SRC1 = [seg:rSI], SRC2 = ES:[rDI]; flags as CMP (Vol. 2A CMPS)
        this.indexEa(RSI, asize);
        const src = this.linear(o.seg, size, o.defSeg);
        this.indexEa(RDI, asize);
        const dst = this.linear(SEG_ES, size);
        this.prepare(src, size, ACC_READ);
        const s0 = this.pg0, s1 = this.pg1, sf = this.first;
        this.prepare(dst, size, ACC_READ);
        const d0 = this.pg0, d1 = this.pg1, df = this.first;
        this.pg0 = s0; this.pg1 = s1; this.first = sf;
        this.readPrepared(size);
        const slo = this.vlo, shi = this.vhi;
        this.pg0 = d0; this.pg1 = d1; this.first = df;
        this.readPrepared(size);
        alu(ALU_CMP, size, slo, shi, this.vlo, this.vhi, this.flags);
        this.flags = R.flags;
        this.advance(RSI, asize, delta);
        this.advance(RDI, asize, delta);
      } else if (o.op === OP_SCAS) {
        // temp = AL/AX/EAX/RAX - ES:[rDI]; flags as CMP (Vol. 2B SCAS)
        this.indexEa(RDI, asize);
        this.prepare(this.linear(SEG_ES, size), size, ACC_READ);
        this.readPrepared(size);
        const mlo = this.vlo, mhi = this.vhi;
        this.getReg(RAX, size, false);
        alu(ALU_CMP, size, this.vlo, this.vhi, mlo, mhi, this.flags);
        this.flags = R.flags;
        this.advance(RDI, asize, delta);
      } else this.stop('no MMIO semantics for this string instruction');
      cnt--; done++;
      if (rep) {
        if (asize === 8) a.setGpr(RCX, cnt | 0, Math.floor(cnt / TWO32) | 0);
        else if (asize === 4) a.setGpr(RCX, cnt | 0, 0);
        else a.setGpr(RCX, (a.gprLo(RCX) & ~0xffff) | cnt, a.gprHi(RCX));
        // REPE (F3) ends when ZF = 0, REPNE (F2) when ZF = 1, after the count is decremented
        // (Vol. 2B REP/REPE/REPZ/REPNE/REPNZ, table "Repeat Prefixes"); MOVS/STOS/LODS ignore ZF.
        if ((o.op === OP_CMPS || o.op === OP_SCAS) && ((this.flags & F_ZF) !== 0) !== (o.rep === 0xf3)) break;
      }
    }
    return true;
  }
}

const shared = new MmioEmulator();

/**
 * Emulate the instruction at guest RIP against `bus` (the entry point the
 * EPT-violation / EPT-misconfiguration handlers call). `mode` is the guest's
 * code size: 64 (IA-32e mode with CS.L = 1), 32 or 16 (CS.D/B).
 * The returned `insn` (for 'done'/'partial') is reused by the next call.
 */
export function emulateMmio(access: GuestAccess, bus: MmioBus, mode: DecodeMode, opts?: MmioOptions): MmioResult {
  return shared.emulate(access, bus, mode, opts);
}
