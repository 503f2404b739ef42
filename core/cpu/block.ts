/**
 * Basic blocks: straight-line runs of decoded instructions, cached by the
 * host-physical address of their first byte and the code size of the mode
 * they were decoded in. A block ends at a control transfer or an
 * instruction that changes how later code must be decoded or run
 * (IF_BLOCK_END), at a page boundary, or after MAX_BLOCK instructions.
 * Writes to a host page holding decoded code invalidate its blocks.
 */
import { setFlagsFromString } from 'node:v8';
import type { Cpu } from './cpu.js';
import { ACC_X } from './access.js';
import { CPU_FAULT, VM_EXIT, UnimplementedError } from './fault.js';
import { decode, decodeStatus, DEC_GP, DEC_SHORT, DEC_UD, DEC_UNIMPL } from './decoder.js';
import { IF_BLOCK_END, SYNC_NONE, SYNC_NEXT, SYNC_FULL, isPure, isNextOnly, specialize, type Insn } from './insn.js';
import { compileBlock as compileInsns } from './jit.js';
import { specializeEa } from './ea.js';
import { GP, UD } from './regs.js';

export const MAX_BLOCK = 64;

export class Block {
  /** False once a write to its code page (or a flush) dropped it; never true for uncacheable blocks. */
  valid = true;
  /**
   * Block chaining: the last two successors (by linear RIP) this block ran
   * into. The run loop uses one only after the same TLB check blockAt makes
   * and a check that it is still valid and decoded for the current mode, so
   * a chained lookup finds exactly the block the cache lookup would.
   */
  succRip0 = NaN;
  succ0: Block | null = null;
  succRip1 = NaN;
  succ1: Block | null = null;
  /**
   * cpu.chainGen and cpu.permX when a successor was last checked: while both
   * are unchanged (no TLB fill or flush, no code invalidation, no mode
   * change since), the check would give the same answer.
   */
  succGen0 = -1;
  succPx0 = 0;
  succGen1 = -1;
  succPx1 = 0;
  /** Whole-block runs through the fast loop; at cpu.jitAfter the block is compiled. */
  runs = 0;
  /** The compiled block (compileBlock), or null. */
  jit: CompiledBlock | null = null;
  constructor(readonly key: number, readonly insns: Insn[], readonly pa: number, readonly mode: number) {}
}

const buf = new Uint8Array(16);

/**
 * A compiled block: runs all of the block's instructions as the fast loop
 * in cpu.ts does (the same handlers, the same synced stores, the same
 * codeDirty checks and fix-ups) and leaves rip and icount after it. It is
 * entered only with cpu.codeDirty clear, where the whole block fits before
 * stopAt; `loop`: it may run itself again (no interrupt-window exiting).
 */
export type CompiledBlock = (cpu: Cpu, rip: number, ic0: number, stopAt: number, loop: boolean) => void;
/** Fast-loop runs of a block before it is compiled. */
export const JIT_THRESHOLD = 65536;

/**
 * A compiled block is fast when V8 inlines its handlers into it; the default
 * cumulative inlining budget (920 bytes of bytecode per optimized function)
 * stops after a few of them. Raised once, when the first block is compiled:
 * a process-wide V8 setting that changes speed only, never behaviour.
 */
let v8Tuned = false;
function tuneV8(): void {
  v8Tuned = true;
  setFlagsFromString('--max-inlined-bytecode-size-cumulative=3000');
}

/**
 * Compile a block into one JS function (jit.ts: inline code for common
 * forms, handler calls for the rest). Deterministic: the code depends only
 * on the decoded block; it is dropped with the block.
 */
export function compileBlock(b: Block): CompiledBlock {
  if (!v8Tuned) tuneV8();
  return compileInsns(b.insns, b.mode);
}

/** `rip` is the linear address of the block's first byte (CS base added outside 64-bit mode). */
export function buildBlock(cpu: Cpu, rip: number, pa: number, key: number): Block {
  const insns: Insn[] = [];
  const u8 = cpu.u8;
  let lin = rip;
  let hpa = pa;
  let cacheable = true;
  for (;;) {
    const inPage = 4096 - (hpa & 0xfff);
    let n = inPage < 15 ? inPage : 15;
    for (let k = 0; k < n; k++) buf[k] = u8[hpa + k]!;
    let ins = decode(buf, n, cpu.mode);
    if (!ins && decodeStatus.code === DEC_SHORT) {
      // The instruction continues on the next page: fetch it through its own translation.
      let pa2: number;
      try {
        pa2 = cpu.translate(cpu.linAdd(lin, n), ACC_X);
      } catch (e) {
        // A fault or EPT exit on the next page belongs to this instruction: raise it when execution reaches it.
        if ((e === CPU_FAULT || e === VM_EXIT) && insns.length > 0) break;
        throw e;
      }
      for (let k = n; k < 15; k++) buf[k] = u8[pa2 + k - n]!;
      n = 15;
      ins = decode(buf, n, cpu.mode);
      cacheable = false;
    }
    if (!ins) {
      if (insns.length > 0) break; // raise it when execution reaches it
      const code = decodeStatus.code;
      if (code === DEC_UD) cpu.fault(UD);
      if (code === DEC_GP) cpu.fault(GP, 0);
      const bytes = buf.slice(0, Math.max(decodeStatus.len, 1));
      const what = code === DEC_UNIMPL ? 'unimplemented instruction' : 'undecodable instruction';
      throw new UnimplementedError(`${what} at RIP 0x${ripHex(rip)}: ${hexBytes(buf.subarray(0, n < 8 ? n : 8))}`, rip, bytes);
    }
    if (cpu.fast) { specializeEa(ins); specialize(ins); }
    // Offsets within the block, and whether the run loop must store rip/ripNext/icount first.
    ins.off = hpa - pa;
    ins.next = ins.off + ins.len;
    const ripRel = cpu.mode === 8 && ins.mod === 0 && ins.base < 0 && ins.index < 0 && (ins.rm & 7) === 5;
    ins.sync = isNextOnly(ins.fn) ? SYNC_NEXT : (ins.flags & IF_BLOCK_END) !== 0 || !isPure(ins.fn) ? SYNC_FULL : ripRel ? SYNC_NEXT : SYNC_NONE;
    insns.push(ins);
    if (!cacheable) break;
    lin = cpu.linAdd(lin, ins.len);
    hpa += ins.len;
    if ((ins.flags & IF_BLOCK_END) || insns.length >= MAX_BLOCK || (hpa & 0xfff) === 0) break;
  }
  const b = new Block(key, insns, pa, cpu.mode);
  if (cacheable) {
    cpu.blocks.set(key, b);
    cpu.addCodePage(pa >>> 12, b);
  } else b.valid = false; // decoded afresh each time: never chained
  return b;
}

export function ripHex(rip: number): string {
  if (rip >= 0) return rip.toString(16);
  // A canonical negative address: print the 64-bit two's complement from its halves.
  const hi = Math.floor(rip / 4294967296) >>> 0, lo = rip >>> 0;
  return hi.toString(16) + lo.toString(16).padStart(8, '0');
}
export function hexBytes(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}
