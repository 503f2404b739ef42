/**
 * iced-x86 (npm, WebAssembly) as the reference decoder for the MMIO
 * decoder: length, validity and operands. Default decoder options (Intel
 * behaviour: 66h ignored on near branches in 64-bit mode, no Cyrix/old
 * instructions). Test-side code: BigInt is fine here.
 */
import { Decoder, Instruction, DecoderOptions, Register, OpKind, Mnemonic, MemorySize } from 'iced-x86';
import {
  MmioInsn, REG_RIP, type DecodeMode, regName,
} from '../../core/mmio/decoder.js';
import {
  opName, OP_MOV_STORE, OP_MOV_LOAD, OP_MOV_IMM, OP_MOVZX, OP_MOVSX, OP_MOVSXD, OP_ALU_EG, OP_ALU_GE, OP_ALU_EI,
  OP_TEST_EG, OP_TEST_EI, OP_NOT, OP_NEG, OP_INC, OP_DEC, OP_BT_EG, OP_BT_EI, OP_XCHG, OP_CMPXCHG, OP_XADD,
  isStringOp, OP_PUSH, OP_POP, OP_RET, OP_ENTER, OP_LEAVE, OP_CALL_IND, OP_JMP_IND, OP_JMP_FAR, OP_IMUL, OP_MULDIV,
  OP_BS, OP_SHD, OP_CMOV, OP_MOV_FROM_SREG, OP_MOV_TO_SREG, OP_LTR, OP_SMSW, OP_XMM_LOAD, OP_XMM_STORE, OP_MMX_LOAD,
  OP_MMX_STORE,
} from '../../core/mmio/table.js';

export type IcedOperand =
  | { kind: 'reg'; reg: string }
  | { kind: 'mem'; base: string; index: string; scale: number; disp: bigint; seg: string; size: number }
  | { kind: 'imm'; value: bigint }
  | { kind: 'str'; opKind: string; seg: string }
  | { kind: 'other'; opKind: string };

export interface IcedInsn {
  readonly ok: boolean;
  readonly len: number;
  readonly mnemonic: string;
  readonly text: string;
  readonly ops: IcedOperand[];
  readonly lock: boolean;
  readonly rep: boolean;
  readonly repne: boolean;
  /** RFLAGS bits iced says are undefined after the instruction, as x86 RFLAGS bits. */
  readonly undefinedFlags: number;
  /** iced's DecoderError: 0 none, 1 invalid instruction, 2 no more bytes. */
  readonly error: number;
}

/** iced RflagsBits -> x86 RFLAGS bit positions (Vol. 1, 3.4.3). */
export function icedFlagsToRflags(b: number): number {
  let f = 0;
  if (b & 1) f |= 0x800; // OF
  if (b & 2) f |= 0x80; // SF
  if (b & 4) f |= 0x40; // ZF
  if (b & 8) f |= 0x10; // AF
  if (b & 16) f |= 0x1; // CF
  if (b & 32) f |= 0x4; // PF
  if (b & 64) f |= 0x400; // DF
  return f;
}

function memSize(ms: number): number {
  const name = MemorySize[ms] ?? '';
  const m = /^U?Int(\d+)$/.exec(name);
  return m ? Number(m[1]) / 8 : 0;
}

const reused = { instr: undefined as Instruction | undefined };

/** Decode the first instruction of `bytes` with iced-x86 at IP 0. */
export function icedDecode(bytes: Uint8Array, mode: DecodeMode): IcedInsn {
  const dec = new Decoder(mode, bytes, DecoderOptions.None);
  const i = (reused.instr ??= new Instruction());
  try {
    dec.decodeOut(i);
    const error = dec.lastError as number;
    if (i.isInvalid) {
      return { ok: false, len: i.length, mnemonic: '', text: '', ops: [], lock: false, rep: false, repne: false, undefinedFlags: 0, error };
    }
    const ops: IcedOperand[] = [];
    for (let k = 0; k < i.opCount; k++) {
      const kind = i.opKind(k);
      switch (kind) {
        case OpKind.Register: ops.push({ kind: 'reg', reg: Register[i.opRegister(k)] ?? '?' }); break;
        case OpKind.Memory:
          ops.push({
            kind: 'mem', base: Register[i.memoryBase] ?? '?', index: Register[i.memoryIndex] ?? '?', scale: i.memoryIndexScale,
            disp: i.memoryDisplacementU64, seg: Register[i.memorySegment] ?? '?', size: memSize(i.memorySize),
          });
          break;
        case OpKind.Immediate8: case OpKind.Immediate16: case OpKind.Immediate32: case OpKind.Immediate64:
        case OpKind.Immediate8to16: case OpKind.Immediate8to32: case OpKind.Immediate8to64: case OpKind.Immediate32to64:
          ops.push({ kind: 'imm', value: BigInt.asUintN(64, i.immediate(k)) });
          break;
        case OpKind.MemorySegSI: case OpKind.MemorySegESI: case OpKind.MemorySegRSI:
        case OpKind.MemoryESDI: case OpKind.MemoryESEDI: case OpKind.MemoryESRDI:
          ops.push({ kind: 'str', opKind: OpKind[kind] ?? '?', seg: Register[i.memorySegment] ?? '?' });
          break;
        default: ops.push({ kind: 'other', opKind: OpKind[kind] ?? String(kind) });
      }
    }
    return {
      ok: true, len: i.length, mnemonic: (Mnemonic[i.mnemonic] ?? '').toLowerCase(), text: i.toString(), ops,
      lock: i.hasLockPrefix, rep: i.hasRepPrefix, repne: i.hasRepnePrefix,
      undefinedFlags: icedFlagsToRflags(i.rflagsUndefined), error,
    };
  } finally {
    dec.free();
  }
}

const SEG = ['ES', 'CS', 'SS', 'DS', 'FS', 'GS'];

function regText(r: number, size: number, hi8: boolean): string {
  const n = regName(r, size, hi8).toUpperCase();
  // iced names the low bytes of R8-R15 R8L..R15L
  return /^R\d+B$/.test(n) ? n.slice(0, -1) + 'L' : n;
}

function memText(o: MmioInsn, size: number): IcedOperand {
  const an = o.asize;
  const base = o.base === REG_RIP ? (an === 4 ? 'EIP' : 'RIP') : o.base >= 0 ? regText(o.base, an, false) : 'None';
  const index = o.index >= 0 ? regText(o.index, an, false) : 'None';
  const bits = BigInt(an * 8);
  let disp = (BigInt(o.dispHi >>> 0) << 32n) | BigInt(o.dispLo >>> 0);
  if (o.base === REG_RIP) disp += BigInt(o.len); // iced reports the absolute target (IP 0)
  disp = BigInt.asUintN(Number(bits), disp);
  return { kind: 'mem', base, index, scale: o.index >= 0 ? o.scale : 1, disp, seg: SEG[o.seg] ?? '?', size };
}

/** Our operands in iced's shape (order as in iced's Code names: destination first). */
export function ourOperands(o: MmioInsn): IcedOperand[] {
  const size = o.size;
  const rm = (s: number): IcedOperand => (o.hasMem ? memText(o, s) : { kind: 'reg', reg: regText(o.rm, s, o.rmHi8) });
  const g: IcedOperand = { kind: 'reg', reg: regText(o.reg, size, o.regHi8) };
  const imm = (s: number): IcedOperand => {
    const v = (BigInt(o.immHi >>> 0) << 32n) | BigInt(o.immLo >>> 0);
    return { kind: 'imm', value: BigInt.asUintN(64, s === 8 ? v : BigInt.asIntN(s * 8, v)) };
  };
  switch (o.op) {
    case OP_MOV_STORE: case OP_ALU_EG: case OP_TEST_EG: case OP_XCHG: case OP_CMPXCHG: case OP_XADD: case OP_BT_EG:
      return [rm(size), g];
    case OP_MOV_LOAD: case OP_ALU_GE: return [g, rm(size)];
    case OP_MOVZX: case OP_MOVSX: case OP_MOVSXD: return [g, rm(o.srcSize)];
    case OP_MOV_IMM: case OP_ALU_EI: case OP_TEST_EI: return [rm(size), imm(size)];
    case OP_BT_EI: return [rm(size), { kind: 'imm', value: BigInt(o.immLo & 0xff) }];
    case OP_NOT: case OP_NEG: case OP_INC: case OP_DEC: case OP_MULDIV: return [rm(size)];
    // branch targets in memory are WordOffset/DwordOffset/QwordOffset in iced: no integer size (0)
    case OP_CALL_IND: case OP_JMP_IND: return [rm(o.hasMem ? 0 : size)];
    case OP_PUSH: case OP_POP:
      return [o.hasMem ? memText(o, size) : o.hasImm ? imm(size) : { kind: 'reg', reg: regText(o.reg, size, false) }];
    case OP_RET: return o.hasImm ? [{ kind: 'imm', value: BigInt(o.immLo & 0xffff) }] : [];
    case OP_ENTER: return [{ kind: 'imm', value: BigInt(o.immLo & 0xffff) }, { kind: 'other', opKind: 'Immediate8_2nd' }];
    case OP_LEAVE: return [];
    case OP_IMUL: return o.hasImm ? [g, rm(size), imm(size)] : [g, rm(size)];
    case OP_BS: case OP_CMOV: return [g, rm(size)];
    case OP_SHD: return [rm(size), g, o.sub & 2 ? { kind: 'reg', reg: 'CL' } : { kind: 'imm', value: BigInt(o.immLo & 0xff) }];
    // far pointers (SegPtr*) and 128-bit packed operands have no integer memory size in iced: 0
    case OP_JMP_FAR: return [memText(o, 0)];
    case OP_MOV_FROM_SREG: return [o.hasMem ? memText(o, 2) : { kind: 'reg', reg: regText(o.rm, o.osize, false) }, { kind: 'reg', reg: SEG[o.sub]! }];
    case OP_MOV_TO_SREG: return [{ kind: 'reg', reg: SEG[o.sub]! }, o.hasMem ? memText(o, 2) : { kind: 'reg', reg: regText(o.rm, o.osize, false) }];
    case OP_LTR: case OP_SMSW: return [o.hasMem ? memText(o, 2) : { kind: 'reg', reg: regText(o.rm, o.osize, false) }];
    case OP_XMM_LOAD: case OP_XMM_STORE: {
      const x: IcedOperand = { kind: 'reg', reg: `XMM${o.reg}` };
      const m: IcedOperand = o.hasMem ? memText(o, 0) : { kind: 'reg', reg: `XMM${o.rm}` };
      return o.op === OP_XMM_LOAD ? [x, m] : [m, x];
    }
    case OP_MMX_LOAD: case OP_MMX_STORE: {
      const x: IcedOperand = { kind: 'reg', reg: `MM${o.reg & 7}` };
      const m: IcedOperand = o.hasMem ? memText(o, 8) : { kind: 'reg', reg: `MM${o.rm & 7}` };
      return o.op === OP_MMX_LOAD ? [x, m] : [m, x];
    }
    default: return [];
  }
}

function opText(x: IcedOperand): string {
  switch (x.kind) {
    case 'reg': return x.reg;
    // a scale without an index (SIB index 100b) has no effect (Vol. 2A, Table 2-3 "none")
    case 'mem': return `${x.seg}:[${x.base}+${x.index}*${x.index === 'None' ? 1 : x.scale}+0x${x.disp.toString(16)}] size ${x.size}`;
    case 'imm': return `imm 0x${x.value.toString(16)}`;
    case 'str': return `${x.opKind} ${x.seg}`;
    default: return x.opKind;
  }
}

/** Our mnemonic in iced's Mnemonic naming (lower case). */
export function ourMnemonic(o: MmioInsn): string {
  const n = opName(o.op, o.sub);
  if (isStringOp(o.op)) return n + 'bwxdxxxq'[o.size - 1];
  return n;
}

/**
 * Compare a D_OK decode with iced's. Returns null when they agree, else a
 * description of the first difference.
 */
export function compareOperands(o: MmioInsn, ic: IcedInsn): string | null {
  const mn = ourMnemonic(o);
  if (mn !== ic.mnemonic) return `mnemonic: ours ${mn}, iced ${ic.mnemonic} (${ic.text})`;
  if (o.lock !== ic.lock) return `lock: ours ${o.lock}, iced ${ic.lock}`;
  if (isStringOp(o.op)) {
    const rep = o.rep === 0xf3, repne = o.rep === 0xf2;
    if (rep !== ic.rep || repne !== ic.repne) return `rep: ours ${o.rep.toString(16)}, iced rep=${ic.rep} repne=${ic.repne}`;
    const asz = o.asize === 8 ? 'R' : o.asize === 4 ? 'E' : '';
    for (const x of ic.ops) {
      if (x.kind === 'str') {
        const isSrc = x.opKind.startsWith('MemorySeg');
        const want = isSrc ? `MemorySeg${asz}SI` : `MemoryES${asz}DI`;
        if (x.opKind !== want) return `string operand: ours ${want}, iced ${x.opKind}`;
        if (isSrc && x.seg !== SEG[o.seg]) return `string source segment: ours ${SEG[o.seg]}, iced ${x.seg}`;
      } else if (x.kind === 'reg') {
        const want = regText(0, o.size, false);
        if (x.reg !== want) return `accumulator: ours ${want}, iced ${x.reg}`;
      } else return `unexpected iced operand ${opText(x)}`;
    }
    return null;
  }
  const ours = ourOperands(o);
  if (ours.length !== ic.ops.length) return `operand count: ours ${ours.length}, iced ${ic.ops.length} (${ic.text})`;
  for (let k = 0; k < ours.length; k++) {
    let a = ours[k]!, b = ic.ops[k]!;
    if (a.kind === 'imm' && b.kind === 'imm') {
      // iced gives Immediate8 unextended, Immediate8to32 as 32 bits: compare at the operand width
      const bits = o.op === OP_BT_EI || o.op === OP_SHD ? 8 : o.op === OP_RET || o.op === OP_ENTER ? 16 : o.size * 8;
      a = { kind: 'imm', value: BigInt.asUintN(bits, a.value) };
      b = { kind: 'imm', value: BigInt.asUintN(bits, b.value) };
    }
    if (opText(a) !== opText(b)) return `operand ${k}: ours ${opText(a)}, iced ${opText(b)} (${ic.text})`;
  }
  return null;
}
