/**
 * The MMIO properties as plain check functions (null = holds, string = the
 * difference), shared by the fast-check suites, the regression replay and
 * the CLI:
 *
 *  (1) decode never throws: arbitrary bytes in 16/32/64-bit modes give an
 *      instruction or a typed rejection (status in D_OK..D_TOO_LONG, length
 *      within the input for OK/UNSUPPORTED), and the decode is a function of
 *      the instruction's own bytes (same result with trailing bytes cut or
 *      changed);
 *  (2) against iced-x86: whatever iced decodes, we frame with the same
 *      length and never call #UD; what we decode as supported, iced decodes,
 *      with the same mnemonic and operands (registers, operand size,
 *      addressing, displacement, immediate, segment, LOCK/REP);
 *  (3) emulate vs CPU: a supported instruction run through the MMIO
 *      emulator (scratch page's first half is MMIO, served by a RAM-backed
 *      device; REP instructions resumed in slices of 3 iterations) leaves
 *      the same registers, RFLAGS (except the bits iced-x86 lists as
 *      undefined), memory and RIP as core/cpu running it on RAM, or raises
 *      the same exception (vector, error code, CR2) with the same partial
 *      state. Read-only instructions never write the device.
 */
import { PhysMem } from '../../core/memory/physmem.js';
import {
  MmioInsn, decodeInto, D_OK, D_UNSUPPORTED, D_INVALID, D_TRUNCATED, D_TOO_LONG, STATUS_NAMES, REASONS, formatInsn,
} from '../../core/mmio/decoder.js';
import { emulateMmio, type MmioResult } from '../../core/mmio/emulator.js';
import {
  OP_ALU_EG, OP_ALU_EI, OP_ALU_GE, OP_TEST_EG, OP_TEST_EI, OP_BT_EG, OP_BT_EI, OP_MOV_LOAD, OP_MOVZX, OP_MOVSX, OP_MOVSXD, OP_LODS,
  OP_CMPS, OP_SCAS, OP_IMUL, OP_MULDIV, OP_BS, OP_CMOV, OP_RET, OP_CALL_IND, OP_JMP_IND, OP_JMP_FAR, ALU_CMP, BT_BT,
} from '../../core/mmio/table.js';
import { icedDecode, compareOperands } from './iced.js';
import { TestGuest, RamDevice } from './guest.js';
import type { DecodeCase, TotalCase } from './cases.js';
import { MMIO_SPLIT } from './cases.js';
import { Cpu1, PA_SCRATCH, PA_CODE, PA_PML4, type Cpu1Result } from '../harness/cpu1.js';
import { Cpu32, PA32_PD } from './cpu32.js';
import { DATA_BASE_32 } from './cases.js';
import {
  NATIVE_CODE_ADDR, NATIVE_SCRATCH_SIZE, NATIVE_RFLAGS_INPUT_MASK, GPR_NAMES, nativeUnavailableReason, runNativeBatch,
  type NativeCase, type NativeResult,
} from '../harness/native.js';

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
const insn = new MmioInsn();
const BRANCHES = new Set([OP_RET, OP_CALL_IND, OP_JMP_IND, OP_JMP_FAR]);
const insn2 = new MmioInsn();

/** Property (1): decoding never throws and gives a typed outcome that depends only on the instruction's bytes. */
export function checkDecodeTotal(c: DecodeCase): string | null {
  let s: number;
  try {
    s = decodeInto(c.bytes, 0, c.bytes.length, c.mode, insn);
  } catch (e) {
    return `decode threw: ${(e as Error).message}`;
  }
  if (!(s >= D_OK && s <= D_TOO_LONG)) return `unknown status ${s}`;
  if (s === D_OK || s === D_UNSUPPORTED) {
    if (!(insn.len >= 1 && insn.len <= Math.min(15, c.bytes.length))) return `length ${insn.len} outside 1..${Math.min(15, c.bytes.length)}`;
    // Exactly the instruction's bytes, then the same bytes followed by different ones: same outcome.
    const exact = c.bytes.slice(0, insn.len);
    const padded = new Uint8Array(16).fill(0x90);
    padded.set(exact);
    for (const buf of [exact, padded]) {
      const s2 = decodeInto(buf, 0, buf.length, c.mode, insn2);
      if (s2 !== s || insn2.len !== insn.len || insn2.op !== insn.op || insn2.immLo !== insn.immLo || insn2.dispLo !== insn.dispLo) {
        return `decode depends on bytes after the instruction: ${STATUS_NAMES[s]} len ${insn.len} vs ${STATUS_NAMES[s2] ?? s2} len ${insn2.len} for ${hex(buf)}`;
      }
    }
  }
  if (s === D_TRUNCATED && c.bytes.length >= 15) return 'truncated with 15 bytes available';
  return null;
}

/** Property (2): agreement with iced-x86. */
export function checkDecodeIced(c: DecodeCase): string | null {
  const s = decodeInto(c.bytes, 0, c.bytes.length, c.mode, insn);
  const ic = icedDecode(c.bytes, c.mode);
  if (ic.ok) {
    if (s !== D_OK && s !== D_UNSUPPORTED) return `iced decodes '${ic.text}' (${ic.len} bytes), ours: ${STATUS_NAMES[s]} (${REASONS[insn.reason]})`;
    if (insn.len !== ic.len) return `length: ours ${insn.len}, iced ${ic.len} ('${ic.text}')`;
    if (s === D_OK) {
      const d = compareOperands(insn, ic);
      if (d !== null) return `operands of '${ic.text}' vs ours '${formatInsn(insn)}': ${d}`;
    }
  } else if (s === D_OK) {
    return `ours decodes '${formatInsn(insn)}' (${insn.len} bytes), iced: invalid (error ${ic.error})`;
  }
  return null;
}

/**
 * Totality of the emulator: arbitrary bytes at RIP and an arbitrary guest
 * state in 16/32/64-bit mode (paging off, an MMIO window at 0x10000) give an
 * MmioResult, never an exception; 'done' advances RIP by the decoded length;
 * 'stop' names RIP; #UD/#GP/#PF come with their error-code conventions.
 */
export function checkEmulateTotal(c: TotalCase): string | null {
  const mem = new PhysMem(0x20000);
  mem.writeBytes(0x1000, c.bytes);
  const guest = new TestGuest(mem, (gpa) => gpa >= 0x10000 && gpa < 0x11000);
  for (let r = 0; r < 16; r++) guest.setGpr(r, c.regs[2 * r]! | 0, c.regs[2 * r + 1]! | 0);
  guest.ripValue = 0x1000;
  guest.flags = (c.flags & 0xcd5) | 2;
  const fetched = mem.u8.slice(0x1000, 0x100f); // what the emulator fetches (the instruction may overwrite itself)
  let r: MmioResult;
  try {
    r = emulateMmio(guest, new RamDevice(mem), c.mode, { maxIterations: 64 });
  } catch (e) {
    return `emulateMmio threw: ${(e as Error).stack ?? e}`;
  }
  switch (r.kind) {
    case 'done': {
      if (BRANCHES.has(r.insn.op)) return null; // RIP is the branch target
      const want = 0x1000 + r.len;
      if (guest.ripValue !== want) return `done but RIP 0x${guest.ripValue.toString(16)}, expected 0x${want.toString(16)}`;
      if (decodeInto(fetched, 0, 15, c.mode, insn2) !== D_OK || insn2.len !== r.len) return 'done on bytes that do not decode to that length';
      return null;
    }
    case 'partial': return guest.ripValue === 0x1000 ? null : 'partial but RIP moved';
    case 'stop': return r.message.includes('RIP 0x1000') ? (guest.ripValue === 0x1000 ? null : 'stop but RIP moved') : `stop message does not name RIP: ${r.message}`;
    case 'exception':
      // #DE (DIV), #UD, #NM (SSE/MMX with CR0.TS), #NP/#SS/#GP (segment loads: selector error codes), #PF
      if (![0, 6, 7, 11, 12, 13, 14].includes(r.vector)) return `unexpected vector ${r.vector}`;
      if ((r.vector === 0 || r.vector === 6 || r.vector === 7) && r.errorCode !== -1) return `vector ${r.vector} with an error code`;
      if (r.vector >= 11 && r.vector <= 13 && (r.errorCode < 0 || r.errorCode > 0xfffc || (r.errorCode & 3) !== 0)) return `#NP/#SS/#GP error code ${r.errorCode}`;
      return guest.ripValue === 0x1000 ? null : 'exception but RIP moved';
  }
}

/** Both decoder properties. */
export function checkDecode(c: DecodeCase): string | null {
  return checkDecodeTotal(c) ?? checkDecodeIced(c);
}

// =====================================================================
// (3) emulate vs CPU
// =====================================================================

const MEM_SIZE = 0x10000;
let cpu1: Cpu1 | undefined;
let pristine: Uint8Array | undefined;
let emuMem: PhysMem | undefined;

let cpu32: Cpu32 | undefined;
let pristine32: Uint8Array | undefined;

/** The emulator-side machine: the same page tables as the CPU side's (a second, never-run harness builds them). */
function emuSide(mode: 32 | 64): PhysMem {
  if (!emuMem) {
    pristine = new Cpu1().mem.u8.slice(0, MEM_SIZE);
    pristine32 = new Cpu32().mem.u8.slice(0, MEM_SIZE);
    emuMem = new PhysMem(MEM_SIZE);
  }
  emuMem.u8.set(mode === 64 ? pristine! : pristine32!);
  return emuMem;
}

export interface EmuOutcome { mode: 32 | 64; cpu: Cpu1Result; emu: MmioResult; guest: TestGuest; device: RamDevice; skipped?: string }

/**
 * Run a case on both sides: core/cpu (Cpu1 in 64-bit mode, Cpu32 in 32-bit
 * mode) and the emulator over a guest with the same page tables, code and
 * scratch contents, whose scratch page's first MMIO_SPLIT bytes are MMIO.
 * Both layouts put the scratch page at 0x5000 and the code pages at 0x6000.
 */
export function runBoth(c: NativeCase, mode: 32 | 64 = 64): EmuOutcome {
  const cpu = mode === 64 ? (cpu1 ??= new Cpu1()).run(c) : (cpu32 ??= new Cpu32()).run(c);
  const mem = emuSide(mode);
  mem.u8.fill(0xcc, PA_CODE, PA_CODE + 0x3000);
  mem.u8.set(c.code, PA_CODE + 0x1000);
  mem.u8.set(c.state.mem, PA_SCRATCH);
  const guest = new TestGuest(mem, (gpa) => gpa >= PA_SCRATCH && gpa < PA_SCRATCH + MMIO_SPLIT);
  for (let r = 0; r < 16; r++) guest.setGpr(r, c.state.gpr[2 * r]! | 0, c.state.gpr[2 * r + 1]! | 0);
  guest.ripValue = NATIVE_CODE_ADDR;
  guest.flags = (c.state.rflags & NATIVE_RFLAGS_INPUT_MASK) | 0x200 | 2;
  if (mode === 64) {
    // 64-bit mode as Cpu1 sets it: CR0.PE|ET|NE|WP|PG, CR4.PAE, EFER.LME|LMA|NXE, CPL 0 (SDM Vol. 3A, 4.5).
    guest.paging = { cr0: (0x80000000 | 0x10031) | 0, cr3: PA_PML4, cr4: 0x20, efer: 0xd00, cpl: 0, ac: false };
  } else {
    // 32-bit paging as Cpu32 sets it (Vol. 3A, 4.3); data segments based at DATA_BASE_32, CS at 0.
    guest.paging = { cr0: (0x80000000 | 0x10031) | 0, cr3: PA32_PD, cr4: 0, efer: 0, cpl: 0, ac: false };
    guest.bases.fill(DATA_BASE_32);
    guest.bases[1] = 0;
  }
  const device = new RamDevice(mem);
  let emu = emulateMmio(guest, device, mode, { maxIterations: 3 });
  for (let k = 0; k < 20 && emu.kind === 'partial'; k++) emu = emulateMmio(guest, device, mode, { maxIterations: 3 });
  return { mode, cpu, emu, guest, device, ...(cpu.unimplemented !== undefined ? { skipped: cpu.unimplemented } : {}) };
}

function h64(lo: number, hi: number): string {
  return '0x' + (hi >>> 0).toString(16).padStart(8, '0') + (lo >>> 0).toString(16).padStart(8, '0');
}

/**
 * Differences between the emulator's outcome and a reference result (the
 * CPU's, or the host CPU's through the native harness: there the #PF
 * error code's U/S bit is masked, as the host runs at CPL 3, and only the
 * RFLAGS bits the harness takes as input are compared).
 */
function compareWith(c: NativeCase, o: EmuOutcome, ref: NativeResult, who: string, host: boolean): string[] {
  const { emu, guest } = o;
  const ic = icedDecode(c.code, o.mode);
  const undef = ic.ok ? ic.undefinedFlags : 0;
  const diffs: string[] = [];
  if (ref.ok) {
    if (emu.kind !== 'done') return [`${who} completed, emulator: ${emu.kind} (${'message' in emu ? emu.message : ''})`];
    if (guest.ripValue - NATIVE_CODE_ADDR !== ref.ripOffset) diffs.push(`next RIP offset: emulator ${guest.ripValue - NATIVE_CODE_ADDR}, ${who} ${ref.ripOffset}`);
  } else {
    if ((ref as Cpu1Result).exitReason !== undefined) return [`${who} left with VM exit ${(ref as Cpu1Result).exitReason}`];
    if (emu.kind !== 'exception') return [`${who} raised vector ${ref.vector} (error ${ref.errorCode}), emulator: ${emu.kind} (${'message' in emu ? emu.message : ''})`];
    if (emu.vector !== ref.vector) return [`exception: emulator vector ${emu.vector} (${emu.message}), ${who} vector ${ref.vector}`];
    const code = emu.errorCode < 0 ? 0 : emu.errorCode;
    // host: CPL 3, and its page tables outside the scratch/code pages are not the guest's: compare only W/R and I/D
    const m = host && emu.vector === 14 ? ~5 : ~0;
    if ((code & m) !== (ref.errorCode & m)) diffs.push(`error code: emulator ${emu.errorCode}, ${who} ${ref.errorCode}`);
    // A #PF that exits through the exception bitmap leaves CR2 alone and reports the address in the exit qualification (SDM Vol. 3C, 28.2.1).
    if (emu.vector === 14 && BigInt.asUintN(64, BigInt(emu.cr2)) !== ref.addr) diffs.push(`CR2: emulator 0x${emu.cr2.toString(16)}, ${who} 0x${ref.addr.toString(16)}`);
  }
  const st = ref.state;
  if (!st) return [...diffs, `${who} reported no state`];
  // Outside 64-bit mode only EAX..EDI exist (their bits 63:32 are not visible).
  for (let r = 0; r < (o.mode === 64 ? 16 : 8); r++) {
    const lo = guest.lo[r]! >>> 0, hi = o.mode === 64 ? guest.hi[r]! >>> 0 : 0;
    const rlo = st.gpr[2 * r]!, rhi = o.mode === 64 ? st.gpr[2 * r + 1]! : 0;
    if (lo !== rlo || hi !== rhi) diffs.push(`${GPR_NAMES[r]}: emulator ${h64(lo, hi)}, ${who} ${h64(rlo, rhi)}`);
  }
  const mask = ~undef & (host ? NATIVE_RFLAGS_INPUT_MASK : 0x3fffff);
  if ((guest.flags & mask) !== (st.rflags & mask)) diffs.push(`rflags: emulator 0x${guest.flags.toString(16)}, ${who} 0x${st.rflags.toString(16)} (undefined 0x${undef.toString(16)})`);
  const mem = guest.mem.u8;
  for (let k = 0; k < NATIVE_SCRATCH_SIZE; k++) {
    if (mem[PA_SCRATCH + k] !== st.mem[k]) { diffs.push(`scratch[0x${k.toString(16)}]: emulator 0x${mem[PA_SCRATCH + k]!.toString(16)}, ${who} 0x${st.mem[k]!.toString(16)}`); break; }
  }
  return diffs;
}

/** Emulator-only invariants: read-only instructions never write the device; generated cases decode. */
function invariants(c: NativeCase, o: EmuOutcome): string[] {
  const d = insn;
  decodeInto(c.code, 0, c.code.length, o.mode, d);
  if (d.status === D_OK) {
    const readOnly = d.op === OP_MOV_LOAD || d.op === OP_MOVZX || d.op === OP_MOVSX || d.op === OP_MOVSXD || d.op === OP_LODS
      || d.op === OP_CMPS || d.op === OP_SCAS || d.op === OP_IMUL || d.op === OP_MULDIV || d.op === OP_BS || d.op === OP_CMOV
      || d.op === OP_TEST_EG || d.op === OP_TEST_EI || d.op === OP_ALU_GE || ((d.op === OP_ALU_EG || d.op === OP_ALU_EI) && d.sub === ALU_CMP)
      || ((d.op === OP_BT_EG || d.op === OP_BT_EI) && d.sub === BT_BT);
    if (readOnly && o.device.log.some((x) => x.write)) return ['read-only instruction wrote the device'];
  } else if (d.status !== D_INVALID && d.status !== D_TOO_LONG) {
    return [`generated case does not decode as supported: ${STATUS_NAMES[d.status]} ${REASONS[d.reason]}`];
  }
  return [];
}

/**
 * Documented differences where the emulator follows the Intel SDM and
 * core/cpu (and this AMD host) do not; a mismatch they explain is not a
 * failure. Returns the explanation, or null.
 *  - MOVSXD r16, r/m16 (66 63 /r): Intel reads a word (SDM Vol. 2B
 *    MOVSX/MOVSXD, iced-x86 agrees); AMD (APM Vol. 3, MOVSXD) and core/cpu
 *    read a doubleword, so a word at the end of a page faults only there.
 */
export function vendorDifference(c: NativeCase, o: EmuOutcome): string | null {
  const d = insn;
  if (decodeInto(c.code, 0, c.code.length, o.mode, d) !== D_OK) return null;
  if (d.op === OP_MOVSXD && d.size === 2 && d.hasMem && !o.cpu.ok && o.cpu.vector === 14 && o.emu.kind === 'done') {
    return 'MOVSXD r16, m16: Intel reads 2 bytes, core/cpu and AMD read 4';
  }
  return null;
}

/**
 * The case as the host CPU should run it, or null if the host cannot
 * referee. In the harness process FS and GS have non-zero bases while the
 * guest's are 0, so an FS/GS override is replaced by DS (a null prefix in
 * 64-bit mode, same length). That changes nothing but the fault for a
 * non-canonical address when the default segment is SS: #SS(0) without the
 * override, #GP(0) with it (measured on the host) — `ssToGp` says to read a
 * host #SS as #GP.
 */
export function hostVariant(c: NativeCase): { c: NativeCase; ssToGp: boolean } | null {
  if (nativeUnavailableReason() !== undefined) return null;
  const ic = icedDecode(c.code, 64);
  if (!ic.ok) return { c, ssToGp: false };
  const code = Uint8Array.from(c.code);
  let changed = false;
  for (let k = 0; k < Math.min(ic.len, code.length); k++) {
    const b = code[k]!;
    if (b === 0x64 || b === 0x65) { code[k] = 0x3e; changed = true; continue; }
    if ([0x26, 0x2e, 0x36, 0x3e, 0x66, 0x67, 0xf0, 0xf2, 0xf3].includes(b) || (b & 0xf0) === 0x40) continue;
    break;
  }
  return changed ? { c: { code, state: c.state }, ssToGp: true } : { c, ssToGp: false };
}

/** Run the host variant of a case natively. */
function runHost(v: { c: NativeCase; ssToGp: boolean }): NativeResult {
  const r = runNativeBatch([v.c])[0]!;
  if (v.ssToGp && !r.ok && r.vector === 12) return { ...r, vector: 13 };
  return r;
}

/** Whether the host CPU can referee this case. */
export function hostCanReferee(c: NativeCase): boolean {
  return hostVariant(c) !== null;
}

/** Prefix of a property-(3) failure the host CPU attributes to core/cpu (the emulator agrees with the host). */
export const CPU_BUG = 'core/cpu differs from the host CPU (the emulator agrees with the host): ';

/**
 * Property (3). Returns null when the emulator and the CPU agree (or the
 * CPU does not implement the instruction). On a difference the host CPU
 * referees when it can: a failure the emulator shares with the host is
 * reported as a core/cpu bug (message starts with CPU_BUG).
 */
export function checkEmulate(c: NativeCase): string | null {
  const o = runBoth(c);
  if (o.skipped !== undefined) return null;
  const inv = invariants(c, o);
  if (inv.length) return inv.join('; ');
  const d = compareWith(c, o, o.cpu, 'CPU', false);
  if (!d.length) return null;
  if (vendorDifference(c, o) !== null) return null;
  const hv = hostVariant(c);
  if (hv !== null) {
    const host = runHost(hv);
    const dh = compareWith(c, o, host, 'host', true);
    if (!dh.length) return CPU_BUG + d.join('; ');
    return `${d.join('; ')} [host CPU: ${dh.join('; ') || 'agrees'}]`;
  }
  return d.join('; ');
}

/**
 * Property (3) in 32-bit protected mode (paging, segment bases, 16-bit
 * addressing with 67h). The native harness runs only 64-bit code, so there
 * is no referee here.
 */
export function checkEmulate32(c: NativeCase): string | null {
  const o = runBoth(c, 32);
  if (o.skipped !== undefined) return null;
  const inv = invariants(c, o);
  if (inv.length) return inv.join('; ');
  const d = compareWith(c, o, o.cpu, 'CPU', false);
  if (!d.length || vendorDifference(c, o) !== null) return null;
  return d.join('; ');
}

/** Property (3) against the host CPU alone (regressions whose reference is the host). Null if the host cannot run it. */
export function checkEmulateHost(c: NativeCase): string | null {
  const hv = hostVariant(c);
  if (hv === null) return null;
  const o = runBoth(c);
  const inv = invariants(c, o);
  if (inv.length) return inv.join('; ');
  const d = compareWith(c, o, runHost(hv), 'host', true);
  return d.length ? d.join('; ') : null;
}

export function describeNativeCase(c: NativeCase, mode: 32 | 64 = 64): string {
  const regs = GPR_NAMES.map((n, r) => `${n}=${h64(c.state.gpr[2 * r]!, c.state.gpr[2 * r + 1]!)}`).filter((_, r) => c.state.gpr[2 * r] !== 0 || c.state.gpr[2 * r + 1] !== 0);
  const ic = icedDecode(c.code, mode);
  return `${hex(c.code)} (${ic.ok ? ic.text : 'invalid'}) ${regs.join(' ')} rflags=0x${c.state.rflags.toString(16)}`;
}
