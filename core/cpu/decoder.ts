/**
 * The CPU's instruction decoder (SDM Vol. 2A, chapter 2 "Instruction
 * Format"). Driven entirely by the opcode table in opcodes.ts: the table
 * says which opcodes exist, whether they take a ModRM byte, which
 * immediates follow, the operand-size rules and the handler.
 */
import { Insn, type Handler, IF_D64, IF_F64, IF_I64, IF_O64, IF_BYTE, IF_LOCKABLE } from './insn.js';
import { OPCODES, PFX_F3, PFX_NP, PFX_NOREP, PFX_66, PFX_F2, type OpDef } from './opcodes.js';
import { ES, CS, SS, DS, FS, GS, RBP, RSP } from './regs.js';
import { EA_NONE, eaFor } from './ea.js';

/** Why decoding failed. */
export const DEC_OK = 0, DEC_UD = 1, DEC_GP = 2, DEC_UNIMPL = 3, DEC_SHORT = 4;

/** Immediate kinds derived from the operand specification. */
const IMM_NONE = 0, IMM_B = 1, IMM_W = 2, IMM_Z = 3, IMM_V = 4, IMM_JB = 5, IMM_JZ = 6, IMM_O = 7, IMM_AP = 8, IMM_WB = 9;

interface Slot {
  def: OpDef;
  modrm: boolean;
  imm: number;
  /** The ModRM r/m operand is always a register, whatever mod says (MOV CR/DR). */
  regOnly: boolean;
}
/**
 * Either one slot, or a group selected by ModRM.reg (and mod==3 or not);
 * for mod == 3, a member may be further selected by ModRM.rm.
 */
interface GroupSlot { group: true; mem: (Slot | undefined)[]; reg: (Slot | undefined)[]; rm: ((Slot | undefined)[] | undefined)[]; modrm: true }
type Entry = Slot | GroupSlot;
/**
 * An opcode of the 0F map whose mandatory prefix selects the instruction
 * (SSE/SSE2: none, 66, F3, F2; Vol. 2A, 2.1.2 and Vol. 2D, A.3 "Opcode
 * Look-up Examples"): its entries live in COLS[col * 512 + idx].
 */
interface SelSlot { sel: true; modrm: true }
const SEL: SelSlot = { sel: true, modrm: true };
/** Column of a mandatory prefix: none 0, 66 1, F3 2, F2 3. */
function prefixColumn(pfx: number | undefined): number {
  return pfx === PFX_66 ? 1 : pfx === PFX_F3 ? 2 : pfx === PFX_F2 ? 3 : 0;
}

function immKind(ops: string): number {
  const t = ops.split(',');
  if (t.includes('Iw') && t.includes('Ib')) return IMM_WB;
  for (const x of t) {
    switch (x) {
      case 'Ib': case 'sIb': return IMM_B;
      case 'Iw': return IMM_W;
      case 'Iz': return IMM_Z;
      case 'Iv': return IMM_V;
      case 'Jb': return IMM_JB;
      case 'Jz': return IMM_JZ;
      case 'Ob': case 'Ov': return IMM_O;
      case 'Ap': return IMM_AP;
    }
  }
  return IMM_NONE;
}
function hasModrm(ops: string): boolean {
  return ops.split(',').some((x) => /^[EGMSCDRVWPQN][a-z]/.test(x));
}
function regOnly(ops: string): boolean {
  return ops.split(',').some((x) => /^[CDR][a-z]/.test(x));
}

/**
 * One-byte opcode groups whose every defined ModRM.reg member is in the
 * table, so any other reg value is an invalid encoding (#UD), not a gap in
 * this machine (Vol. 2D, Table A-6 "Opcode Extensions for One- and Two-byte
 * Opcodes by Group Number"): Group 4 (FE /2-/7), Group 5 (FF /7), Group 11
 * (C6/C7 /1-/7; /7 with ModRM F8 is XABORT/XBEGIN, and RTM is not
 * advertised: CPUID.(EAX=07H,ECX=0):EBX.RTM = 0).
 */
const GROUPS_COMPLETE = new Set([0xc6, 0xc7, 0xfe, 0xff]);

/**
 * The decode table: 0x000-0x0ff one-byte map, 0x100-0x1ff the 0F map.
 * Built on first use: opcodes.ts sits in an import cycle with cpu.ts (via
 * the handlers), so the table cannot be read while modules are evaluated.
 */
let table: (Entry | SelSlot | undefined)[] | undefined;
/** Entries of prefix-selected opcodes (SelSlot), by column * 512 + index. */
let COLS: (Entry | undefined)[] = [];
export function decodeTable(): (Entry | SelSlot | undefined)[] {
  return (table ??= buildTable());
}
function buildTable(): (Entry | SelSlot | undefined)[] {
  const TABLE: (Entry | SelSlot | undefined)[] = new Array(512);
  const cols: (Entry | undefined)[] = new Array(4 * 512);
  // An opcode is prefix-selected when one of its entries needs 66 or F2 as a mandatory prefix.
  const selected = new Set<number>();
  for (const def of OPCODES) if (def.prefix === PFX_66 || def.prefix === PFX_F2) selected.add(0x100 + (def.op & 0xff));
  for (const def of OPCODES) {
    let idx = def.op >= 0x0f00 ? 0x100 + (def.op & 0xff) : def.op;
    let TBL: (Entry | SelSlot | undefined)[] = TABLE;
    if (selected.has(idx)) {
      if (def.prefix === undefined || def.prefix === PFX_NOREP) throw new Error(`opcode table: ${def.mn} (${idx.toString(16)}) needs a mandatory-prefix column`);
      TABLE[idx] = SEL;
      TBL = cols;
      idx += prefixColumn(def.prefix) * 512;
    }
    const slot: Slot = { def, modrm: def.reg !== undefined || hasModrm(def.ops), imm: immKind(def.ops), regOnly: regOnly(def.ops) };
    if (def.reg === undefined) {
      if (TBL[idx]) throw new Error(`opcode table: duplicate entry for ${idx.toString(16)}`);
      TBL[idx] = slot;
      continue;
    }
    let g = TBL[idx];
    if (!g) { g = { group: true, mem: new Array(8), reg: new Array(8), rm: new Array(8), modrm: true }; TBL[idx] = g; }
    if (!('group' in g)) throw new Error(`opcode table: ${idx.toString(16)} mixes group and plain entries`);
    if (def.rm !== undefined) {
      if (def.mem !== false || g.reg[def.reg]) throw new Error(`opcode table: ${idx.toString(16)} /${def.reg} rm ${def.rm} must be a register form of its own`);
      const sub = (g.rm[def.reg] ??= new Array(8));
      if (sub[def.rm]) throw new Error(`duplicate group entry ${idx.toString(16)} /${def.reg} rm ${def.rm}`);
      sub[def.rm] = slot;
      continue;
    }
    if (def.mem !== true && g.rm[def.reg]) throw new Error(`opcode table: ${idx.toString(16)} /${def.reg} has both rm-selected and plain register forms`);
    if (def.mem !== false) { if (g.mem[def.reg]) throw new Error(`duplicate group entry ${idx.toString(16)} /${def.reg}`); g.mem[def.reg] = slot; }
    if (def.mem !== true) { if (g.reg[def.reg]) throw new Error(`duplicate group entry ${idx.toString(16)} /${def.reg} reg`); g.reg[def.reg] = slot; }
  }
  COLS = cols;
  return TABLE;
}

/** Result of the last decode() call. */
export const decodeStatus = { code: DEC_OK, len: 0 };

const NOP_HANDLER: Handler = () => { /* placeholder, replaced by the table's handler */ };

/**
 * Decode one instruction from `buf[0..avail)` in a mode whose code size is
 * `mode` (2, 4 or 8 bytes). Returns null on failure with decodeStatus.code
 * set: DEC_UD (invalid encoding), DEC_GP (longer than 15 bytes),
 * DEC_UNIMPL (an encoding the machine does not implement), DEC_SHORT (the
 * bytes ran out: the caller must supply more).
 */
export function decode(buf: Uint8Array, avail: number, mode: number): Insn | null {
  let p = 0;
  let opsz66 = false, adsz67 = false, segOv = -1, rep = 0, lock = false, rex = 0;
  const st = decodeStatus;
  st.code = DEC_OK;
  const need = (n: number): boolean => {
    if (p + n > 15) { st.code = DEC_GP; return false; }
    if (p + n > avail) { st.code = DEC_SHORT; return false; }
    return true;
  };
  // ---- prefixes (Vol. 2A, 2.1.1) ----
  let b: number;
  for (;;) {
    if (!need(1)) return null;
    b = buf[p]!;
    if (b === 0x66) opsz66 = true;
    else if (b === 0x67) adsz67 = true;
    else if (b === 0xf0) lock = true;
    else if (b === 0xf3) rep = 1;
    else if (b === 0xf2) rep = 2;
    else if (b === 0x26) segOv = ES;
    else if (b === 0x2e) segOv = CS;
    else if (b === 0x36) segOv = SS;
    else if (b === 0x3e) segOv = DS;
    else if (b === 0x64) segOv = FS;
    else if (b === 0x65) segOv = GS;
    else if (mode === 8 && (b & 0xf0) === 0x40) {
      // REX (Vol. 2A, 2.2.1): only effective immediately before the opcode.
      rex = b; p++;
      if (!need(1)) return null;
      b = buf[p]!;
      if ((b & 0xf0) === 0x40) continue;
      if (b === 0x66 || b === 0x67 || b === 0xf0 || b === 0xf2 || b === 0xf3 || b === 0x26 || b === 0x2e || b === 0x36 || b === 0x3e || b === 0x64 || b === 0x65) { rex = 0; continue; }
      break;
    } else break;
    p++;
  }
  // ---- opcode ----
  let idx = b!;
  p++;
  if (idx === 0x0f) {
    if (!need(1)) return null;
    idx = 0x100 + buf[p]!;
    p++;
  }
  let entry = (table ?? decodeTable())[idx];
  // Prefix-selected opcodes (SSE/SSE2): F3 or F2 (the last one) selects first, then 66; the prefix
  // is then part of the opcode, neither a REP nor an operand-size override (Vol. 2A, 2.1.2).
  let sel = false;
  if (entry !== undefined && 'sel' in entry) {
    const col = rep === 1 ? 2 : rep === 2 ? 3 : opsz66 ? 1 : 0;
    entry = COLS[col * 512 + idx];
    if (col === 1) opsz66 = false; else if (col !== 0) rep = 0;
    sel = true;
  }
  if (!entry) { st.code = DEC_UNIMPL; st.len = p; return null; }
  // ---- operand and address size (Vol. 2A, 2.2.1.2 and Table 2-4) ----
  const rexW = (rex & 8) !== 0;
  let asz = mode === 8 ? (adsz67 ? 4 : 8) : mode === 4 ? (adsz67 ? 2 : 4) : (adsz67 ? 4 : 2);
  // ---- ModRM / SIB / displacement (Vol. 2A, 2.1.5) ----
  let seg = DS, mod = 3, reg = 0, rm = 0, base = -1, index = -1, scale = 0, disp = 0, ripRel = false;
  let slot: Slot | undefined;
  if (entry.modrm) {
    if (!need(1)) return null;
    const m = buf[p++]!;
    mod = m >> 6; reg = ((m >> 3) & 7) | ((rex & 4) << 1); rm = (m & 7) | ((rex & 1) << 3);
    if ('group' in entry) {
      const r3 = (m >> 3) & 7;
      slot = mod === 3 ? entry.reg[r3] ?? entry.rm[r3]?.[m & 7] : entry.mem[r3];
      // A group member that exists only with a memory operand: mod = 3 is #UD (0F C7 /1,
      // FF /3, ...), except on the x87 escapes D8-DF, whose register forms are other
      // instructions (not implemented here).
      if (!slot && mod === 3 && entry.mem[r3]?.def.mem === true && (idx < 0xd8 || idx > 0xdf)) { st.code = DEC_UD; st.len = p; return null; }
      // A member that exists only with a register operand (66 0F 71-73 shifts): a memory operand is #UD.
      if (!slot && mod !== 3 && entry.reg[r3]?.def.mem === false) { st.code = DEC_UD; st.len = p; return null; }
    } else {
      slot = entry;
      if (entry.regOnly) mod = 3;
    }
    if (mod !== 3) {
      if (asz === 2) {
        // 16-bit addressing (Vol. 2A, Table 2-1).
        const r16 = m & 7;
        const B = [RBX_, RBX_, RBP, RBP, RSI_, RDI_, RBP, RBX_] as const;
        const X = [RSI_, RDI_, RSI_, RDI_, -1, -1, -1, -1] as const;
        base = B[r16]!; index = X[r16]!;
        if (mod === 0 && r16 === 6) { base = -1; if (!need(2)) return null; disp = buf[p]! | (buf[p + 1]! << 8); p += 2; disp = (disp << 16) >> 16; }
        else if (mod === 1) { if (!need(1)) return null; disp = (buf[p++]! << 24) >> 24; }
        else if (mod === 2) { if (!need(2)) return null; disp = ((buf[p]! | (buf[p + 1]! << 8)) << 16) >> 16; p += 2; }
        if (r16 === 2 || r16 === 3 || (r16 === 6 && mod !== 0)) seg = SS;
      } else {
        let rmLow = m & 7;
        if (rmLow === 4) {
          if (!need(1)) return null;
          const sib = buf[p++]!;
          scale = sib >> 6;
          const ix = ((sib >> 3) & 7) | ((rex & 2) << 2);
          index = ix === 4 ? -1 : ix;
          const bs = sib & 7;
          if (bs === 5 && mod === 0) { base = -1; if (!need(4)) return null; disp = rd32(buf, p); p += 4; }
          else base = bs | ((rex & 1) << 3);
          rmLow = -1;
        } else if (rmLow === 5 && mod === 0) {
          if (!need(4)) return null;
          disp = rd32(buf, p); p += 4;
          if (mode === 8) ripRel = true;
          rmLow = -1;
        } else base = rm;
        if (mod === 1) { if (!need(1)) return null; disp = (buf[p++]! << 24) >> 24; }
        else if (mod === 2) { if (!need(4)) return null; disp = rd32(buf, p); p += 4; }
        if (base === RSP || base === RBP) seg = SS;
        void rmLow;
      }
    }
  } else slot = entry as Slot;
  if (!slot) { st.code = GROUPS_COMPLETE.has(idx) ? DEC_UD : DEC_UNIMPL; st.len = p; return null; }
  const def = slot.def;
  const fl = def.flags ?? 0;
  // Mandatory prefixes (Vol. 2A, 2.1.2): F3 is part of the opcode (POPCNT), not a REP;
  // with NP entries (fences, MOVNTI, VMREAD, ...) 66/F2/F3 select other instructions (#UD here).
  const pfx = def.prefix;
  if (pfx !== undefined && !sel) {
    const ok = pfx === PFX_F3 ? rep === 1 : pfx === PFX_NP ? rep === 0 && !opsz66 : rep === 0;
    if (!ok) { st.code = DEC_UD; st.len = p; return null; }
    if (pfx === PFX_F3) rep = 0;
  }
  if (def.regMask !== undefined && !((def.regMask >> reg) & 1)) { st.code = DEC_UD; st.len = p; return null; }
  if (mode === 8 && (fl & IF_I64)) { st.code = DEC_UD; st.len = p; return null; }
  if (mode !== 8 && (fl & IF_O64)) { st.code = DEC_UD; st.len = p; return null; }
  if (def.mem === true && mod === 3 && def.reg === undefined) { st.code = DEC_UD; st.len = p; return null; }
  if (def.mem === false && mod !== 3 && def.reg === undefined) { st.code = DEC_UD; st.len = p; return null; }
  // LOCK: #UD unless the instruction is lockable and its destination is memory (Vol. 2A, LOCK).
  if (lock && (!(fl & IF_LOCKABLE) || mod === 3)) { st.code = DEC_UD; st.len = p; return null; }
  let osz: number;
  if (fl & IF_BYTE) osz = 1;
  else if (mode === 8) {
    if (fl & IF_F64) osz = 8;
    else if (rexW) osz = 8;
    else if (fl & IF_D64) osz = opsz66 ? 2 : 8;
    else osz = opsz66 ? 2 : 4;
  } else if (mode === 4) osz = opsz66 ? 2 : 4;
  else osz = opsz66 ? 4 : 2;
  // ---- immediates ----
  let imm = 0, immHi = 0, imm2 = 0;
  switch (slot.imm) {
    case IMM_B: if (!need(1)) return null; imm = (buf[p++]! << 24) >> 24; immHi = imm >> 31; break;
    case IMM_W: if (!need(2)) return null; imm = buf[p]! | (buf[p + 1]! << 8); p += 2; break;
    case IMM_WB: if (!need(3)) return null; imm = buf[p]! | (buf[p + 1]! << 8); imm2 = buf[p + 2]!; p += 3; break;
    case IMM_Z:
      if (osz === 1) { if (!need(1)) return null; imm = buf[p++]!; }
      else if (osz === 2) { if (!need(2)) return null; imm = buf[p]! | (buf[p + 1]! << 8); p += 2; }
      else { if (!need(4)) return null; imm = rd32(buf, p); p += 4; immHi = imm >> 31; }
      break;
    case IMM_V:
      if (osz === 1) { if (!need(1)) return null; imm = buf[p++]!; }
      else if (osz === 2) { if (!need(2)) return null; imm = buf[p]! | (buf[p + 1]! << 8); p += 2; }
      else if (osz === 4) { if (!need(4)) return null; imm = rd32(buf, p); p += 4; }
      else { if (!need(8)) return null; imm = rd32(buf, p); immHi = rd32(buf, p + 4); p += 8; }
      break;
    case IMM_JB: if (!need(1)) return null; imm = (buf[p++]! << 24) >> 24; break;
    case IMM_JZ:
      if (osz === 2) { if (!need(2)) return null; imm = ((buf[p]! | (buf[p + 1]! << 8)) << 16) >> 16; p += 2; }
      else { if (!need(4)) return null; imm = rd32(buf, p); p += 4; }
      break;
    case IMM_O:
      if (asz === 8) { if (!need(8)) return null; imm = rd32(buf, p); immHi = rd32(buf, p + 4); p += 8; }
      else if (asz === 4) { if (!need(4)) return null; imm = rd32(buf, p); p += 4; }
      else { if (!need(2)) return null; imm = buf[p]! | (buf[p + 1]! << 8); p += 2; }
      break;
    case IMM_AP: {
      const n = osz === 2 ? 2 : 4;
      if (!need(n + 2)) return null;
      imm = n === 2 ? buf[p]! | (buf[p + 1]! << 8) : rd32(buf, p);
      imm2 = buf[p + n]! | (buf[p + n + 1]! << 8);
      p += n + 2;
      break;
    }
  }
  if (p > 15) { st.code = DEC_GP; return null; }
  // Segment overrides other than FS/GS are ignored in 64-bit mode (Vol. 1, 3.3.7.1).
  if (segOv >= 0 && (mode !== 8 || segOv >= FS)) seg = segOv;
  const i = new Insn(def.fn ?? NOP_HANDLER, EA_NONE);
  i.len = p; i.op = idx; i.mn = def.mn; i.osz = osz; i.asz = asz;
  i.mod = mod; i.reg = reg; i.rm = rm; i.base = base; i.index = index; i.scale = scale; i.disp = disp;
  i.seg = seg; i.imm = imm; i.immHi = immHi; i.imm2 = imm2; i.rep = rep; i.lock = lock; i.rex = rex;
  i.arg = def.arg ?? 0; i.flags = fl;
  if (mod !== 3) i.ea = eaFor(asz, mode, ripRel);
  st.len = p;
  return i;
}

const RBX_ = 3, RSI_ = 6, RDI_ = 7;

function rd32(buf: Uint8Array, p: number): number {
  return buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) | (buf[p + 3]! << 24);
}
