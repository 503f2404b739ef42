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
 * XADD, PUSH, POP, RET, ENTER, LEAVE, CALL/JMP (near indirect, far), IMUL,
 * MUL, DIV, IDIV, BSF, BSR, SHLD, SHRD, CMOVcc, MOV to/from a segment
 * register, LTR, SMSW, MOVUPS/MOVUPD/MOVAPS/MOVAPD/MOVDQU/MOVDQA, MOVQ mm,
 * MOVS/STOS/LODS/CMPS/SCAS with REP ("REP/REPE/REPZ/REPNE/REPNZ—Repeat String
 * Operation Prefix": the count register and indexes show the progress of an
 * interrupted REP instruction). Address computation: Vol. 1, 3.7.5
 * (base + index*scale + disp, truncated to the address size), 3.3.7.1
 * (canonical addresses: #GP(0), or #SS(0) for SS-based accesses), 3.4.2.1
 * (in 64-bit mode only FS and GS bases apply).
 *
 * Not modelled: segment limit and access-rights checks in 16/32-bit modes,
 * alignment checks (#AC), RFLAGS.TF single-step after the instruction.
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
  isStringOp, OP_PUSH, OP_POP, OP_RET, OP_ENTER, OP_LEAVE, OP_CALL_IND, OP_JMP_IND, OP_JMP_FAR, OP_IMUL, OP_MULDIV,
  OP_BS, OP_SHD, OP_CMOV, OP_MOV_FROM_SREG, OP_MOV_TO_SREG, OP_LTR, OP_SMSW, OP_XMM_LOAD, OP_XMM_STORE, OP_MMX_LOAD,
  OP_MMX_STORE,
} from './table.js';
import {
  R, alu, incdec, neg, truncate, signExtend, szpFlags, multiply, mulFlags, divide128, neg128, shl64, shr64, condition,
  W, N, Q, REM, FUN, F_CF, F_DF, F_RF, F_ZF, F_OF, F_STATUS,
} from './alu.js';
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
  /** System state (control registers, segments, XMM/MMX); absent: such instructions stop the run. */
  readonly sys?: GuestSystem | undefined;
}

/**
 * System state the instructions beyond plain data moves need (SMSW, LTR,
 * MOV to/from a segment register, far JMP, SSE/MMX moves). A GuestAccess
 * without it makes those instructions stop the run.
 */
export interface GuestSystem {
  /** CR0 / CR4 as the guest reads them: guest/host mask bits come from the read shadow (SDM Vol. 3C, 25.6.6). */
  cr0(): number;
  cr4(): number;
  /** Current privilege level (SS.DPL in the guest-state area, Vol. 3C 25.4.1). */
  cpl(): number;
  /** Whether IA-32e mode is active (EFER.LMA). */
  longMode(): boolean;
  /** Selector of segment register `seg`: 0 ES .. 5 GS, 6 LDTR, 7 TR. */
  selector(seg: number): number;
  /** Load a segment register: selector, base, limit in bytes, access rights in the VMCS format (Vol. 3C, Table 25-2). */
  loadSegment(seg: number, sel: number, base: number, limit: number, ar: number): void;
  gdtrBase(): number;
  gdtrLimit(): number;
  /** MOV SS: blocking by MOV SS until the next instruction completes (Vol. 3C, 25.4.2, interruptibility bit 1). */
  blockByMovSs(): void;
  /**
   * An emulated instruction completed: blocking by STI and by MOV SS, which
   * last only until the instruction after STI / MOV SS completes, end
   * (Vol. 3C, 25.4.2, interruptibility bits 0 and 1; Vol. 2B STI).
   */
  endInterruptShadow(): void;
  /** XMM register r as four dwords (dword 0 = bits 31:0). */
  readXmm(r: number, v: Int32Array): void;
  writeXmm(r: number, v: Int32Array): void;
  /** MMX register r (bits 63:0 of x87 data register R_r); any MMX instruction sets TOP = 0 and tags every register valid (Vol. 1, 9.5.1). */
  readMmx(r: number, v: Int32Array): void;
  writeMmx(r: number, lo: number, hi: number): void;
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
export const VEC_DE = 0, VEC_UD = 6, VEC_NM = 7, VEC_NP = 11, VEC_SS = 12, VEC_GP = 13, VEC_PF = 14;
const RAX = 0, RCX = 1, RDX = 2, RSP = 4, RBP = 5, RSI = 6, RDI = 7;
const SEG_CS_ = 1, SEG_TR = 7;
// CR0 bits (Vol. 3A, 2.5): EM 2, TS 3; CR4.OSFXSR bit 9.
const CR0_EM = 0x4, CR0_TS = 0x8, CR4_OSFXSR = 0x200;
const STACK_OPS = new Set([OP_PUSH, OP_POP, OP_RET, OP_ENTER, OP_LEAVE]);
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
  /** The destination operand prepared by prepareBoth (MOVS, CMPS), swapped in by useDst. */
  private dPg0 = 0; private dPg1 = 0; private dFirst = 0;
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
    if (!o.hasMem && !isString && !STACK_OPS.has(o.op)) return this.stopResult(rip, o.len, `MMIO exit at RIP 0x${ripHex(rip)} on an instruction without a memory operand (${formatInsn(o)})`);

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
    // RF is cleared once an instruction completes (Vol. 3A, 18.3.1.1); so is an STI/MOV SS shadow,
    // unless this instruction was MOV SS and set a new one.
    if (!(o.op === OP_MOV_TO_SREG && o.sub === SEG_SS)) access.sys?.endInterruptShadow();
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

  /**
   * MOVS/CMPS: the index checks and linear addresses of both operands, then their
   * translations - source, then destination (for access `dstAcc`), as one element of the
   * instruction makes them; leaves the source prepared and the destination saved for useDst.
   */
  private prepareBoth(o: MmioInsn, size: number, asize: number, dstAcc: Access): void {
    this.indexEa(RSI, asize);
    const src = this.linear(o.seg, size, o.defSeg);
    this.indexEa(RDI, asize);
    const dst = this.linear(SEG_ES, size);
    this.prepare(src, size, ACC_READ);
    const s0 = this.pg0, s1 = this.pg1, sf = this.first;
    this.prepare(dst, size, dstAcc);
    this.dPg0 = this.pg0; this.dPg1 = this.pg1; this.dFirst = this.first;
    this.pg0 = s0; this.pg1 = s1; this.first = sf;
  }
  private useDst(): void { this.pg0 = this.dPg0; this.pg1 = this.dPg1; this.first = this.dFirst; }

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
        this.executeMore(o);
    }
  }

  // =====================================================================
  // Stack, branches, multiply/divide, bit scans, double shifts, CMOVcc,
  // segment registers, LTR, SMSW, SSE/MMX moves
  // =====================================================================
  private sys(): GuestSystem {
    const s = this.a.sys;
    if (!s) this.stop('this instruction needs system state the hypervisor did not provide');
    return s;
  }
  /** Read the ModR/M memory operand (effective address already in elo/ehi). */
  private readOperand(o: MmioInsn, size: number, acc: Access = ACC_READ): void {
    this.prepare(this.linear(o.seg, size, o.defSeg), size, acc);
    this.readPrepared(size);
  }
  private writeOperand(o: MmioInsn, size: number, lo: number, hi: number): void {
    this.prepare(this.linear(o.seg, size, o.defSeg), size, ACC_WRITE);
    this.writePrepared(size, lo, hi);
  }
  /** Stack address size: 8 in 64-bit mode; otherwise taken as the code size (SS.B = CS.D). */
  private stackAsize(): number { return this.mode === 64 ? 8 : this.mode === 32 ? 4 : 2; }
  /** elo/ehi = rSP + delta at the stack address size. */
  private stackEa(delta: number): void {
    const lo = this.a.gprLo(RSP), hi = this.a.gprHi(RSP);
    const s = (lo >>> 0) + delta;
    this.setEa(this.stackAsize(), s | 0, (hi + (s >= TWO32 ? 1 : s < 0 ? -1 : 0)) | 0);
  }
  /** PUSH: write SS:[rSP - size], then rSP -= size (a fault leaves rSP unchanged; Vol. 2B PUSH). */
  private push(size: number, lo: number, hi: number): void {
    this.stackEa(-size);
    this.prepare(this.linear(SEG_SS, size), size, ACC_WRITE);
    this.writePrepared(size, lo, hi);
    this.advance(RSP, this.stackAsize(), -size);
  }
  /** Read SS:[rSP + off] into vlo/vhi (rSP unchanged). */
  private peek(size: number, off: number): void {
    this.stackEa(off);
    this.prepare(this.linear(SEG_SS, size), size, ACC_READ);
    this.readPrepared(size);
  }
  private static canonical(hi: number): boolean { return (hi >> 15) === 0 || (hi >> 15) === -1; }
  /** Near branch target of `size` bytes: RIP <- target, #GP(0) if it is not canonical (Vol. 2A JMP, CALL; Vol. 2B RET). */
  private branchTarget(lo: number, hi: number, size: number): number {
    if (this.mode === 64 && size === 8) {
      if (!MmioEmulator.canonical(hi)) this.fault(VEC_GP, 0, 0, '#GP(0): non-canonical branch target');
      return hi * TWO32 + (lo >>> 0);
    }
    return size === 2 ? lo & 0xffff : lo >>> 0;
  }

  private executeMore(o: MmioInsn): void {
    const size = o.size, a = this.a;
    switch (o.op) {
      case OP_PUSH: {
        let lo: number, hi: number;
        if (o.hasMem) { this.readOperand(o, size); lo = this.vlo; hi = this.vhi; }
        else if (o.hasImm) { lo = o.immLo; hi = o.immHi; }
        else { this.getReg(o.reg, size, false); lo = this.vlo; hi = this.vhi; }
        this.push(size, lo, hi);
        return;
      }
      case OP_POP: {
        this.peek(size, 0);
        const lo = this.vlo, hi = this.vhi;
        const sa = this.stackAsize();
        if (o.hasMem) {
          // The destination's address is computed after rSP is incremented (Vol. 2B POP); a fault leaves rSP as it was.
          const olo = a.gprLo(RSP), ohi = a.gprHi(RSP);
          this.advance(RSP, sa, size);
          this.effectiveAddress(o);
          const nlo = a.gprLo(RSP), nhi = a.gprHi(RSP);
          a.setGpr(RSP, olo, ohi);
          this.writeOperand(o, size, lo, hi);
          a.setGpr(RSP, nlo, nhi);
        } else {
          this.advance(RSP, sa, size);
          this.setReg(o.reg, size, false, lo, hi);
        }
        return;
      }
      case OP_RET: {
        this.peek(size, 0);
        const t = this.branchTarget(this.vlo, this.vhi, size);
        this.advance(RSP, this.stackAsize(), size + (o.hasImm ? o.immLo & 0xffff : 0));
        this.ripNext = t;
        return;
      }
      case OP_CALL_IND: case OP_JMP_IND: {
        this.readOperand(o, size);
        const t = this.branchTarget(this.vlo, this.vhi, size);
        if (o.op === OP_CALL_IND) {
          const r = this.ripNext;
          this.push(size, r | 0, Math.floor(r / TWO32) | 0);
        }
        this.ripNext = t;
        return;
      }
      case OP_ENTER: {
        // ENTER imm16, 0: push rBP; rBP = rSP; rSP -= imm16 (Vol. 2A ENTER, nesting level 0)
        const sa = this.stackAsize();
        this.getReg(RBP, size, false);
        this.push(size, this.vlo, this.vhi);
        const flo = a.gprLo(RSP), fhi = a.gprHi(RSP);
        this.setReg(RBP, size === 2 ? 2 : sa, false, flo, fhi);
        this.advance(RSP, sa, -(o.immLo & 0xffff));
        return;
      }
      case OP_LEAVE: {
        // LEAVE: rSP = rBP; rBP = pop (Vol. 2A LEAVE); a fault leaves both unchanged
        const sa = this.stackAsize();
        this.setEa(sa, a.gprLo(RBP), a.gprHi(RBP));
        this.prepare(this.linear(SEG_SS, size), size, ACC_READ);
        this.readPrepared(size);
        const lo = this.vlo, hi = this.vhi;
        const blo = a.gprLo(RBP), bhi = a.gprHi(RBP);
        if (sa === 8) a.setGpr(RSP, blo, bhi); else if (sa === 4) a.setGpr(RSP, blo, 0); else a.setGpr(RSP, (a.gprLo(RSP) & ~0xffff) | (blo & 0xffff), a.gprHi(RSP));
        this.advance(RSP, sa, size);
        this.setReg(RBP, size, false, lo, hi);
        return;
      }
      case OP_IMUL: {
        this.readOperand(o, size);
        const mlo = this.vlo, mhi = this.vhi;
        let blo: number, bhi: number;
        if (o.hasImm) { blo = o.immLo; bhi = o.immHi; } else { this.getReg(o.reg, size, false); blo = this.vlo; bhi = this.vhi; }
        const over = multiply(size, mlo, mhi, blo, bhi, true);
        this.flags = mulFlags(this.flags, size, over);
        this.setReg(o.reg, size, false, W[0]!, W[1]!);
        return;
      }
      case OP_MULDIV: { this.mulDiv(o); return; }
      case OP_BS: {
        // BSF/BSR: ZF = 1 and the destination unchanged for a zero source (Vol. 2A BSF, BSR)
        this.readOperand(o, size);
        const lo = this.vlo, hi = size === 8 ? this.vhi : 0;
        if (lo === 0 && hi === 0) { this.flags |= F_ZF; return; }
        this.flags &= ~F_ZF;
        let idx: number;
        if (o.sub === 0) idx = lo !== 0 ? 31 - Math.clz32(lo & -lo) : 63 - Math.clz32(hi & -hi);
        else idx = hi !== 0 ? 63 - Math.clz32(hi) : 31 - Math.clz32(lo);
        this.setReg(o.reg, size, false, idx, 0);
        return;
      }
      case OP_SHD: { this.shiftDouble(o); return; }
      case OP_CMOV: {
        // The source is read whatever the condition; a 32-bit destination is zero-extended even when not moved (Vol. 2A CMOVcc)
        this.readOperand(o, size);
        if (condition(o.sub, this.flags)) this.setReg(o.reg, size, false, this.vlo, this.vhi);
        else if (size === 4) a.setGpr(o.reg, a.gprLo(o.reg), 0);
        return;
      }
      case OP_MOV_FROM_SREG: {
        const sel = this.sys().selector(o.sub);
        this.writeOperand(o, 2, sel & 0xffff, 0);
        return;
      }
      case OP_MOV_TO_SREG: {
        const sys = this.sys();
        this.readOperand(o, 2);
        this.loadDataSegment(sys, o.sub, this.vlo & 0xffff);
        return;
      }
      case OP_LTR: {
        const sys = this.sys();
        if (sys.cpl() !== 0) this.fault(VEC_GP, 0, 0, '#GP(0): LTR at CPL > 0');
        this.readOperand(o, 2);
        this.loadTaskRegister(sys, this.vlo & 0xffff);
        return;
      }
      case OP_SMSW: {
        // SMSW m16 stores CR0[15:0] (Vol. 2B SMSW)
        this.writeOperand(o, 2, this.sys().cr0() & 0xffff, 0);
        return;
      }
      case OP_XMM_LOAD: case OP_XMM_STORE: {
        // #UD if CR0.EM = 1 or CR4.OSFXSR = 0, #NM if CR0.TS = 1 (Vol. 3A, 2.5 "Control Registers": EM, TS, OSFXSR;
        // Vol. 2B MOVUPS/MOVAPS "Exceptions");
        // MOVAPS/MOVAPD/MOVDQA need a 16-byte aligned operand: #GP(0) (Vol. 2B MOVAPS)
        const sys = this.sys();
        const cr0 = sys.cr0();
        if ((cr0 & CR0_EM) || !(sys.cr4() & CR4_OSFXSR)) this.fault(VEC_UD, -1, 0, '#UD: SSE with CR0.EM = 1 or CR4.OSFXSR = 0');
        if (cr0 & CR0_TS) this.fault(VEC_NM, -1, 0, '#NM: SSE with CR0.TS = 1');
        const lin = this.linear(o.seg, 16, o.defSeg);
        if ((o.sub & 1) && (lin % 16 !== 0)) this.fault(VEC_GP, 0, 0, '#GP(0): misaligned 16-byte operand');
        this.prepare(lin, 16, o.op === OP_XMM_LOAD ? ACC_READ : ACC_WRITE); // every page checked before any access
        const x = this.xmm;
        if (o.op === OP_XMM_LOAD) {
          for (let k = 0; k < 2; k++) {
            this.prepare(this.linAdd(lin, 8 * k), 8, ACC_READ);
            this.readPrepared(8);
            x[2 * k] = this.vlo; x[2 * k + 1] = this.vhi;
          }
          sys.writeXmm(o.reg, x);
        } else {
          sys.readXmm(o.reg, x);
          for (let k = 0; k < 2; k++) {
            this.prepare(this.linAdd(lin, 8 * k), 8, ACC_WRITE);
            this.writePrepared(8, x[2 * k]!, x[2 * k + 1]!);
          }
        }
        return;
      }
      case OP_MMX_LOAD: case OP_MMX_STORE: {
        // #UD if CR0.EM = 1, #NM if CR0.TS = 1 (Vol. 3A, 2.5 "Control Registers": EM, TS; Vol. 2B MOVQ "Exceptions")
        const sys = this.sys();
        const cr0 = sys.cr0();
        if (cr0 & CR0_EM) this.fault(VEC_UD, -1, 0, '#UD: MMX with CR0.EM = 1');
        if (cr0 & CR0_TS) this.fault(VEC_NM, -1, 0, '#NM: MMX with CR0.TS = 1');
        if (o.op === OP_MMX_LOAD) {
          this.readOperand(o, 8);
          sys.writeMmx(o.reg, this.vlo, this.vhi);
        } else {
          const x = this.xmm;
          sys.readMmx(o.reg, x);
          this.writeOperand(o, 8, x[0]!, x[1]!);
        }
        return;
      }
      case OP_JMP_FAR: {
        // JMP m16:16/32/64: offset at EA, selector at EA + operand size (Vol. 2A JMP, "Far Jumps in Protected Mode")
        const sys = this.sys();
        this.readOperand(o, size);
        const olo = this.vlo, ohi = this.vhi;
        const s = (this.elo >>> 0) + size;
        this.setEa(o.asize, s | 0, (this.ehi + (s >= TWO32 ? 1 : 0)) | 0);
        this.readOperand(o, 2);
        this.farJump(sys, this.vlo & 0xffff, olo, ohi, size);
        return;
      }
      default:
        this.stop('no MMIO semantics for this instruction');
    }
  }
  private readonly xmm = new Int32Array(4);

  /** MUL / IMUL / DIV / IDIV with a memory operand (Vol. 2A: MUL, IMUL, DIV, IDIV). */
  private mulDiv(o: MmioInsn): void {
    const size = o.size, a = this.a;
    this.readOperand(o, size);
    const mlo = this.vlo, mhi = this.vhi;
    const signed = (o.sub & 1) === 1;
    if (o.sub < 2) {
      this.getReg(RAX, size, false);
      const over = multiply(size, this.vlo, this.vhi, mlo, mhi, signed);
      this.flags = mulFlags(this.flags, size, over);
      if (size === 1) this.setReg(RAX, 2, false, W[0]!, 0);
      else if (size === 2) { this.setReg(RAX, 2, false, W[0]!, 0); this.setReg(RDX, 2, false, W[0]! >>> 16, 0); }
      else if (size === 4) { this.setReg(RAX, 4, false, W[0]!, 0); this.setReg(RDX, 4, false, W[1]!, 0); }
      else { this.setReg(RAX, 8, false, W[0]!, W[1]!); this.setReg(RDX, 8, false, W[2]!, W[3]!); }
      return;
    }
    // Dividend: AX, DX:AX, EDX:EAX or RDX:RAX as 128 bits; divisor: the operand (sign- or zero-extended)
    const n = N;
    const axl = a.gprLo(RAX), axh = a.gprHi(RAX), dxl = a.gprLo(RDX), dxh = a.gprHi(RDX);
    if (size === 1) { n[0] = signed ? (axl << 16) >> 16 : axl & 0xffff; }
    else if (size === 2) { n[0] = signed ? ((dxl << 16) | (axl & 0xffff)) : ((dxl << 16) | (axl & 0xffff)) >>> 0; }
    else if (size === 4) { n[0] = axl >>> 0; n[1] = dxl >>> 0; }
    else { n[0] = axl >>> 0; n[1] = axh >>> 0; n[2] = dxl >>> 0; n[3] = dxh >>> 0; }
    const top = size === 8 ? 3 : size === 4 ? 1 : 0;
    const negN = signed && (n[top]! | 0) < 0 && (size > 2 || n[0]! < 0);
    if (size <= 2) { const v = n[0]!; n[0] = v >>> 0; n[1] = n[2] = n[3] = v < 0 ? 0xffffffff : 0; }
    else for (let k = top + 1; k < 4; k++) n[k] = negN ? 0xffffffff : 0;
    let dlo: number, dhi: number;
    if (size === 1) { dlo = signed ? (mlo << 24) >> 24 : mlo & 0xff; dhi = dlo < 0 ? -1 : 0; }
    else if (size === 2) { dlo = signed ? (mlo << 16) >> 16 : mlo & 0xffff; dhi = dlo < 0 ? -1 : 0; }
    else if (size === 4) { dlo = mlo | 0; dhi = signed ? mlo >> 31 : 0; }
    else { dlo = mlo | 0; dhi = mhi | 0; }
    if ((dlo | dhi) === 0) this.fault(VEC_DE, -1, 0, '#DE: division by zero');
    const negD = signed && dhi < 0;
    if (negN) neg128(n);
    let ul = dlo >>> 0, uh = dhi >>> 0;
    if (negD) { ul = (~dlo + 1) >>> 0; uh = (~dhi + (ul === 0 ? 1 : 0)) >>> 0; }
    divide128(n, ul, uh);
    // Quotient in Q, remainder in REM; signs: quotient negative iff the signs differ, remainder has the dividend's sign
    const q = Q;
    if (negN !== negD) neg128(q);
    if (negN) neg128(REM);
    const bits = size * 8;
    let fits: boolean;
    if (!signed) fits = bits === 64 ? (q[2]! | q[3]!) === 0 : bits === 32 ? (q[1]! | q[2]! | q[3]!) === 0 : (q[1]! | q[2]! | q[3]!) === 0 && q[0]! >>> bits === 0;
    else {
      const ext = (w: number): number => (w | 0) >> 31;
      if (bits === 64) fits = (q[2]! | 0) === ext(q[1]!) && (q[3]! | 0) === ext(q[1]!);
      else if (bits === 32) fits = (q[1]! | 0) === ext(q[0]!) && (q[2]! | 0) === ext(q[0]!) && (q[3]! | 0) === ext(q[0]!);
      else { const v = q[0]! | 0; const sx = (v << (32 - bits)) >> (32 - bits); fits = sx === v && (q[1]! | 0) === ext(q[0]!) && (q[2]! | 0) === ext(q[0]!) && (q[3]! | 0) === ext(q[0]!); }
    }
    if (!fits) this.fault(VEC_DE, -1, 0, '#DE: quotient too large');
    const r = REM;
    if (size === 1) this.setReg(RAX, 2, false, (q[0]! & 0xff) | ((r[0]! & 0xff) << 8), 0);
    else if (size === 2) { this.setReg(RAX, 2, false, q[0]!, 0); this.setReg(RDX, 2, false, r[0]!, 0); }
    else if (size === 4) { this.setReg(RAX, 4, false, q[0]!, 0); this.setReg(RDX, 4, false, r[0]!, 0); }
    else { this.setReg(RAX, 8, false, q[0]! | 0, q[1]! | 0); this.setReg(RDX, 8, false, r[0]! | 0, r[1]! | 0); }
  }

  /**
   * SHLD/SHRD m, r, imm8/CL (Vol. 2B SHLD, SHRD): count masked to 5 bits (6 with
   * REX.W); 0 changes nothing. CF = last bit shifted out, OF = sign change,
   * SF ZF PF from the result, AF undefined (0). A 16-bit count above 16 is
   * undefined; taken here as shifting the 48-bit D:S:D.
   */
  private shiftDouble(o: MmioInsn): void {
    const size = o.size;
    this.readOperand(o, size, ACC_WRITE);
    const dlo = this.vlo, dhi = this.vhi;
    const cnt = (o.sub & 2 ? this.a.gprLo(RCX) : o.immLo) & (size === 8 ? 63 : 31);
    if (cnt === 0) return;
    this.getReg(o.reg, size, false);
    const slo = this.vlo, shi = this.vhi;
    const right = (o.sub & 1) === 1;
    let rlo: number, rhi = 0, cf: number;
    if (size === 2) {
      const d = dlo & 0xffff, s = slo & 0xffff;
      const v = d * TWO32 + s * 65536 + d; // D:S:D, 48 bits (exact)
      if (!right) { rlo = Math.floor(v / 2 ** (32 - cnt)) % 65536; cf = Math.floor(v / 2 ** (48 - cnt)) % 2; }
      else { rlo = Math.floor(v / 2 ** cnt) % 65536; cf = Math.floor(v / 2 ** (cnt - 1)) % 2; }
    } else if (size === 4) {
      if (!right) { rlo = (dlo << cnt) | (slo >>> (32 - cnt)); cf = (dlo >>> (32 - cnt)) & 1; }
      else { rlo = (dlo >>> cnt) | (slo << (32 - cnt)); cf = (dlo >>> (cnt - 1)) & 1; }
    } else {
      // 64-bit: (D << c) | (S >>> 64-c), or (D >>> c) | (S << 64-c), on halves
      if (!right) {
        shl64(dlo, dhi, cnt); const l = FUN[0]!, h = FUN[1]!;
        shr64(slo, shi, 64 - cnt); rlo = l | FUN[0]!; rhi = h | FUN[1]!;
        cf = cnt <= 32 ? (dhi >>> (32 - cnt)) & 1 : (dlo >>> (64 - cnt)) & 1;
      } else {
        shr64(dlo, dhi, cnt); const l = FUN[0]!, h = FUN[1]!;
        shl64(slo, shi, 64 - cnt); rlo = l | FUN[0]!; rhi = h | FUN[1]!;
        cf = cnt <= 32 ? (dlo >>> (cnt - 1)) & 1 : (dhi >>> (cnt - 33)) & 1;
      }
    }
    truncate(size, rlo, rhi);
    const lo = R.lo, hi = R.hi;
    const signBit = (l: number, h: number): number => (size === 8 ? h >>> 31 : (l >>> (size * 8 - 1)) & 1);
    const of = signBit(dlo, dhi) !== signBit(lo, hi);
    this.writePrepared(size, lo, hi);
    this.flags = (this.flags & ~F_STATUS) | szpFlags(lo, hi, size) | (cf ? F_CF : 0) | (of ? F_OF : 0);
  }

  // ---- segment loads (Vol. 3A, 3.4.5 descriptor fields; Vol. 2B MOV Sreg, LTR; Vol. 2A JMP far) ----
  private dlo = 0; private dhi = 0; private dlin = 0;
  /** Read the GDT descriptor of `sel` into dlo/dhi (#GP(selector) beyond the GDT limit); `bytes` 8 or 16. */
  private readDescriptor(sys: GuestSystem, sel: number, bytes: number): void {
    if (sel & 4) this.stop('LDT selectors are not emulated');
    if ((sel & ~7) + bytes - 1 > sys.gdtrLimit()) this.fault(VEC_GP, sel & 0xfffc, 0, '#GP(selector): beyond the GDT limit');
    const base = sys.gdtrBase();
    this.dlin = this.mode === 64 ? base + (sel & ~7) : ((base >>> 0) + (sel & ~7)) >>> 0;
    this.prepare(this.dlin, 8, ACC_READ);
    this.readPrepared(8);
    this.dlo = this.vlo; this.dhi = this.vhi;
  }
  /** Set bits of the descriptor's high dword (accessed, busy) in the GDT. */
  private markDescriptor(bits: number): void {
    if ((this.dhi & bits) === bits) return;
    this.dhi |= bits;
    this.prepare(this.linAdd(this.dlin, 4), 4, ACC_WRITE);
    this.writePrepared(4, this.dhi, 0);
  }
  private descBase(): number { return ((this.dlo >>> 16) | ((this.dhi & 0xff) << 16) | (this.dhi & 0xff000000)) >>> 0; }
  private descLimit(): number {
    const l = ((this.dlo & 0xffff) | (this.dhi & 0xf0000)) >>> 0;
    return this.dhi & 0x800000 ? (l * 4096 + 0xfff) : l;
  }
  /** VMCS access rights from the descriptor (Vol. 3C, Table 25-2): type S DPL P in 7:0, AVL L D/B G in 15:12. */
  private descAr(): number { return (this.dhi >>> 8) & 0xf0ff; }

  /** MOV DS/ES/FS/GS/SS, m16 in protected and IA-32e mode (Vol. 2B MOV, "Operation" for segment registers). */
  private loadDataSegment(sys: GuestSystem, seg: number, sel: number): void {
    const cpl = sys.cpl(), rpl = sel & 3;
    if ((sel & ~3) === 0) {
      if (seg === SEG_SS && (this.mode !== 64 || cpl === 3 || rpl !== cpl)) this.fault(VEC_GP, 0, 0, '#GP(0): null selector into SS');
      // An unusable segment (VMCS AR bit 16); SS keeps DPL = CPL
      sys.loadSegment(seg, sel, 0, 0, 0x10000 | (seg === SEG_SS ? cpl << 5 : 0));
      if (seg === SEG_SS) sys.blockByMovSs();
      return;
    }
    this.readDescriptor(sys, sel, 8);
    const ar = this.descAr(), type = ar & 0xf, dpl = (ar >>> 5) & 3;
    const err = sel & 0xfffc;
    if (seg === SEG_SS) {
      if (rpl !== cpl || !(ar & 0x10) || (type & 0xa) !== 2 || dpl !== cpl) this.fault(VEC_GP, err, 0, '#GP(selector): SS needs a writable data segment with RPL = DPL = CPL');
      if (!(ar & 0x80)) this.fault(VEC_SS, err, 0, '#SS(selector): segment not present');
    } else {
      if (!(ar & 0x10) || (type & 0xa) === 0x8) this.fault(VEC_GP, err, 0, '#GP(selector): not a data or readable code segment');
      if ((!(type & 8) || !(type & 4)) && (rpl > dpl || cpl > dpl)) this.fault(VEC_GP, err, 0, '#GP(selector): privilege');
      if (!(ar & 0x80)) this.fault(VEC_NP, err, 0, '#NP(selector): segment not present');
    }
    this.markDescriptor(0x100);
    sys.loadSegment(seg, sel, this.descBase(), this.descLimit(), this.descAr());
    if (seg === SEG_SS) sys.blockByMovSs();
  }

  /** LTR (Vol. 2B LTR): an available TSS descriptor (16 bytes in IA-32e mode) becomes busy and is loaded into TR. */
  private loadTaskRegister(sys: GuestSystem, sel: number): void {
    if ((sel & ~3) === 0) this.fault(VEC_GP, 0, 0, '#GP(0): null selector');
    const err = sel & 0xfffc;
    if (sel & 4) this.fault(VEC_GP, err, 0, '#GP(selector): TSS selector in the LDT');
    const long = sys.longMode();
    this.readDescriptor(sys, sel, long ? 16 : 8);
    const ar = this.descAr(), type = ar & 0x1f;
    if (!(type === 9 || (!long && type === 1))) this.fault(VEC_GP, err, 0, '#GP(selector): not an available TSS');
    if (!(ar & 0x80)) this.fault(VEC_NP, err, 0, '#NP(selector): TSS not present');
    let base = this.descBase();
    const lo = this.dlo, hi = this.dhi, lin = this.dlin;
    if (long) {
      this.prepare(this.linAdd(lin, 8), 8, ACC_READ);
      this.readPrepared(8);
      if ((this.vhi >>> 8) & 0x1f) this.fault(VEC_GP, err, 0, '#GP(selector): bad upper TSS descriptor type');
      if (!MmioEmulator.canonical(this.vlo)) this.fault(VEC_GP, err, 0, '#GP(selector): non-canonical TSS base');
      base = (this.vlo | 0) * TWO32 + base;
    }
    this.dlo = lo; this.dhi = hi; this.dlin = lin;
    this.markDescriptor(0x200); // busy: type 9 -> 11
    sys.loadSegment(SEG_TR, sel, base, this.descLimit(), this.descAr());
  }

  /** JMP far to a code segment (Vol. 2A JMP, "Far Jumps in Protected Mode"); gates and TSSs are not emulated. */
  private farJump(sys: GuestSystem, sel: number, olo: number, ohi: number, size: number): void {
    if ((sel & ~3) === 0) this.fault(VEC_GP, 0, 0, '#GP(0): null selector');
    const err = sel & 0xfffc, cpl = sys.cpl();
    this.readDescriptor(sys, sel, 8);
    const ar = this.descAr(), type = ar & 0xf, dpl = (ar >>> 5) & 3;
    if (!(ar & 0x10)) this.stop('far JMP through a gate or TSS descriptor is not emulated');
    if (!(type & 8)) this.fault(VEC_GP, err, 0, '#GP(selector): not a code segment');
    if (type & 4 ? dpl > cpl : (sel & 3) > cpl || dpl !== cpl) this.fault(VEC_GP, err, 0, '#GP(selector): privilege');
    if (!(ar & 0x80)) this.fault(VEC_NP, err, 0, '#NP(selector): segment not present');
    const lBit = (ar & 0x2000) !== 0 && sys.longMode();
    if (lBit && (ar & 0x4000)) this.fault(VEC_GP, err, 0, '#GP(selector): L and D both set');
    let target: number;
    if (lBit) {
      const hi = size === 8 ? ohi : 0, lo = size === 2 ? olo & 0xffff : olo;
      if (!MmioEmulator.canonical(hi)) this.fault(VEC_GP, 0, 0, '#GP(0): non-canonical target');
      target = hi * TWO32 + (lo >>> 0);
    } else {
      target = size === 2 ? olo & 0xffff : olo >>> 0;
      if (target > this.descLimit()) this.fault(VEC_GP, 0, 0, '#GP(0): target beyond the CS limit');
    }
    this.markDescriptor(0x100);
    sys.loadSegment(SEG_CS_, (sel & ~3) | cpl, lBit ? 0 : this.descBase(), this.descLimit(), this.descAr() | 1);
    this.ripNext = target;
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
        this.prepareBoth(o, size, asize, ACC_WRITE);
        this.readPrepared(size);
        this.useDst();
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
        this.prepareBoth(o, size, asize, ACC_READ);
        this.readPrepared(size);
        const slo = this.vlo, shi = this.vhi;
        this.useDst();
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
