/**
 * Native differential oracle: runs ONE x86-64 instruction on the host CPU
 * (via properties/harness/harness.c, built with gcc at test time into
 * <repo>/.cache/native/) and returns the resulting architectural state.
 *
 * The record layout and the fixed addresses are documented in harness.c.
 * This module only reports what the host did: flags the SDM calls undefined
 * may differ between vendors (this host may be AMD); masking is the caller's
 * business.
 *
 * API: runNativeBatch (sync, one gcc-built process per 4096 cases),
 * NativeHarness (one long-lived process, streaming, async), helpers
 * makeNativeState / getGpr / setGpr / getXmm / setXmm, formatNativeResult.
 * A completed instruction reports ripOffset = where execution continues
 * (its length, or a taken branch's target if that lies in the code pages).
 * TIMEOUT states are wherever the loop was interrupted (not reproducible).
 *
 * CLI (debugging):  node dist/properties/harness/native.js 48 01 d8 rax=1 rbx=2
 *   bytes: hex pairs or runs ("4801d8"); reg=value for rax..r15, rflags,
 *   mxcsr, xmm0..xmm15 (value: decimal, 0x-hex, negative, or s / s+OFF =
 *   NATIVE_SCRATCH_BASE + OFF); @OFF=hexbytes writes scratch at offset OFF.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../repo.js';

/** Fixed virtual address of the 4096-byte scratch memory. */
export const NATIVE_SCRATCH_BASE = 0x1000_0000;
export const NATIVE_SCRATCH_SIZE = 4096;
/** Virtual address (RIP) at which the instruction is executed. */
export const NATIVE_CODE_ADDR = 0x2000_1000;
/** Input bits of RFLAGS the harness honours: CF PF AF ZF SF DF OF. */
export const NATIVE_RFLAGS_INPUT_MASK = 0x0cd5;
/** Size in bytes of both the input and the output record. */
export const NATIVE_RECORD_SIZE = 4608;
export const NATIVE_DEFAULT_MXCSR = 0x1f80;

export const GPR_NAMES = [
  'rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15',
] as const;
export type GprName = (typeof GPR_NAMES)[number];

export interface NativeState {
  /** 32 entries: lo,hi pairs RAX..R15 (encoding order, see GPR_NAMES). */
  gpr: Uint32Array;
  rflags: number;
  /** Scratch memory at NATIVE_SCRATCH_BASE, 4096 bytes. */
  mem: Uint8Array;
  /** 64 entries: XMM0..XMM15, 4 little-endian dwords each (dword 0 = bits 31:0). Zero if absent. */
  xmm?: Uint32Array;
  /** Defaults to 0x1F80 if absent. */
  mxcsr?: number;
}

export interface NativeCase {
  code: Uint8Array;
  state: NativeState;
  /**
   * Run in compatibility mode (CS = 0x23, flat 32-bit segments; harness.c):
   * bits 63:32 of the GPRs are undefined afterwards and R8-R15 unreachable.
   */
  compat?: boolean;
}

export type NativeSignal = 'SIGFPE' | 'SIGSEGV' | 'SIGBUS' | 'SIGILL' | 'SIGTRAP' | 'SIGSYS' | 'TIMEOUT';

/**
 * Results always carry xmm and mxcsr. rflags is raw (IF=1, bit 1 = 1, RF may
 * appear in fault frames). ripOffset = RIP - NATIVE_CODE_ADDR.
 */
export type NativeResult =
  | { ok: true; state: NativeState; ripOffset: number }
  | {
      ok: false;
      /** SIGSYS: a system call blocked by seccomp. TIMEOUT: still running after ~20-40 ms of CPU time. */
      signal: NativeSignal;
      /** siginfo si_code (e.g. FPE_INTDIV 1, SEGV_MAPERR 1, SEGV_ACCERR 2, SI_KERNEL 0x80 for #GP). */
      code: number;
      /** Registers from the signal frame (for a fault: before the faulting instruction completed). */
      state?: NativeState;
      /** RIP of the signal frame minus NATIVE_CODE_ADDR (fault: the instruction; trap: after it). */
      ripOffset: number;
      /** si_addr (SIGSEGV/SIGBUS: data address, 0 for #GP), si_call_addr for SIGSYS. */
      addr: bigint;
      /** Exception vector from the signal frame (0 #DE, 6 #UD, 13 #GP, 14 #PF, ...); undefined for TIMEOUT/SIGSYS. */
      vector?: number;
      /** Hardware error code from the signal frame (#PF, #GP). */
      errorCode: number;
    };

export class NativeHarnessError extends Error {
  override name = 'NativeHarnessError';
}

const IN_MAGIC = 0x31495648; // 'HVI1'
const OUT_MAGIC = 0x31525648; // 'HVR1'
const STATUS_BAD_INPUT = 0x200;
const SIGNALS: Record<number, NativeSignal> = {
  4: 'SIGILL',
  5: 'SIGTRAP',
  7: 'SIGBUS',
  8: 'SIGFPE',
  11: 'SIGSEGV',
  31: 'SIGSYS',
  0x100: 'TIMEOUT',
};
const GCC_ARGS = ['-O2', '-std=gnu11', '-Wall', '-Wextra', '-U_FORTIFY_SOURCE', '-fno-stack-protector', '-fPIE', '-pie'];
/** Cases per spawnSync call in runNativeBatch (keeps each pipe buffer ~19 MB). */
const SYNC_CHUNK = 4096;

// ---------------------------------------------------------------------------
// Locating, building

let unavailable: string | undefined | null = null;
/** Why the native oracle cannot run here, or undefined if it can. */
export function nativeUnavailableReason(): string | undefined {
  if (unavailable !== null) return unavailable;
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    unavailable = `needs an x86-64 Linux host (this is ${process.platform}/${process.arch})`;
  } else if (spawnSync('gcc', ['--version'], { stdio: 'ignore' }).status !== 0) {
    unavailable = 'gcc not found on PATH';
  } else {
    let src: string;
    try {
      src = join(repoRoot(), 'properties', 'harness', 'harness.c');
    } catch (e) {
      return (unavailable = (e as Error).message);
    }
    unavailable = existsSync(src) ? undefined : `${src} not found`;
  }
  return unavailable;
}

/** gcc present, x86-64 Linux host, harness.c found. */
export function nativeAvailable(): boolean {
  return nativeUnavailableReason() === undefined;
}

let binCache: string | undefined;
/**
 * Builds (if needed) and returns the path of the harness binary:
 * <repo>/.cache/native/harness-<hash of harness.c and gcc flags>.
 */
export function buildNativeHarness(): string {
  if (binCache !== undefined && existsSync(binCache)) return binCache;
  const reason = nativeUnavailableReason();
  if (reason !== undefined) throw new NativeHarnessError(`native harness unavailable: ${reason}`);
  const root = repoRoot();
  const src = join(root, 'properties', 'harness', 'harness.c');
  const hash = createHash('sha256').update(readFileSync(src)).update('\0' + GCC_ARGS.join(' ')).digest('hex').slice(0, 16);
  const dir = join(root, '.cache', 'native');
  const bin = join(dir, `harness-${hash}`);
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    const tmp = `${bin}.${process.pid}.tmp`;
    const r = spawnSync('gcc', [...GCC_ARGS, '-o', tmp, src], { encoding: 'utf8' });
    if (r.error !== undefined || r.status !== 0) {
      rmSync(tmp, { force: true });
      throw new NativeHarnessError(`gcc failed to build ${src}: ${r.error?.message ?? ''}${r.stderr ?? ''}`);
    }
    renameSync(tmp, bin); // atomic: concurrent builders race harmlessly
    for (const f of readdirSync(dir)) {
      // Binaries of other harness.c versions, once a day old: another checkout sharing this cache
      // (a git worktree) may be about to run its own version, so recent ones stay.
      const p = join(dir, f);
      if (/^harness-[0-9a-f]{16}$/.test(f) && p !== bin && Date.now() - statSync(p).mtimeMs > 86_400_000) rmSync(p, { force: true });
    }
  }
  return (binCache = bin);
}

// ---------------------------------------------------------------------------
// State helpers

export interface NativeStateInit extends Partial<Record<GprName, bigint | number>> {
  rflags?: number;
  /** Bytes placed at the start of scratch (length <= 4096). */
  mem?: ArrayLike<number>;
  /** Up to 16 128-bit values. */
  xmm?: ReadonlyArray<bigint | number>;
  mxcsr?: number;
}

/** A fresh state: everything zero (MXCSR 0x1F80) except what `init` sets. */
export function makeNativeState(init: NativeStateInit = {}): NativeState {
  const s: NativeState = {
    gpr: new Uint32Array(32),
    rflags: init.rflags ?? 0,
    mem: new Uint8Array(NATIVE_SCRATCH_SIZE),
    xmm: new Uint32Array(64),
    mxcsr: init.mxcsr ?? NATIVE_DEFAULT_MXCSR,
  };
  GPR_NAMES.forEach((n) => {
    const v = init[n];
    if (v !== undefined) setGpr(s, n, v);
  });
  if (init.mem !== undefined) s.mem.set(init.mem);
  init.xmm?.forEach((v, i) => setXmm(s, i, v));
  return s;
}

export function cloneNativeState(s: NativeState): NativeState {
  // new Uint8Array(x) copies (Buffer#slice would not).
  const c: NativeState = { gpr: new Uint32Array(s.gpr), rflags: s.rflags, mem: new Uint8Array(s.mem) };
  if (s.xmm !== undefined) c.xmm = new Uint32Array(s.xmm);
  if (s.mxcsr !== undefined) c.mxcsr = s.mxcsr;
  return c;
}

function gprIndex(r: GprName | number): number {
  const i = typeof r === 'number' ? r : GPR_NAMES.indexOf(r);
  if (!(i >= 0 && i < 16)) throw new RangeError(`bad GPR ${String(r)}`);
  return i;
}

export function getGpr(s: NativeState, r: GprName | number): bigint {
  const i = gprIndex(r);
  return (BigInt(s.gpr[2 * i + 1]!) << 32n) | BigInt(s.gpr[2 * i]!);
}

/** Sets a GPR; the value is taken modulo 2^64 (negative numbers wrap). */
export function setGpr(s: NativeState, r: GprName | number, v: bigint | number): void {
  const i = gprIndex(r);
  const x = BigInt.asUintN(64, BigInt(v));
  s.gpr[2 * i] = Number(x & 0xffff_ffffn);
  s.gpr[2 * i + 1] = Number(x >> 32n);
}

export function getXmm(s: NativeState, i: number): bigint {
  const x = s.xmm;
  if (x === undefined) return 0n;
  let v = 0n;
  for (let j = 3; j >= 0; j--) v = (v << 32n) | BigInt(x[4 * i + j]!);
  return v;
}

export function setXmm(s: NativeState, i: number, v: bigint | number): void {
  if (!(i >= 0 && i < 16)) throw new RangeError(`bad XMM index ${i}`);
  s.xmm ??= new Uint32Array(64);
  let x = BigInt.asUintN(128, BigInt(v));
  for (let j = 0; j < 4; j++) {
    s.xmm[4 * i + j] = Number(x & 0xffff_ffffn);
    x >>= 32n;
  }
}

// ---------------------------------------------------------------------------
// Records

function checkCase(c: NativeCase, index: number): void {
  const where = `native case ${index}`;
  if (c.code.length > 15) throw new NativeHarnessError(`${where}: instruction longer than 15 bytes (${c.code.length})`);
  if (c.state.gpr.length !== 32) throw new NativeHarnessError(`${where}: gpr must have 32 entries`);
  if (c.state.mem.length !== NATIVE_SCRATCH_SIZE) throw new NativeHarnessError(`${where}: mem must have ${NATIVE_SCRATCH_SIZE} bytes`);
  if (c.state.xmm !== undefined && c.state.xmm.length !== 64) throw new NativeHarnessError(`${where}: xmm must have 64 entries`);
}

/** A Uint32Array view of `b` (copying `b` first if it is not 4-byte aligned). */
function u32view(b: Buffer): { bytes: Buffer; words: Uint32Array } {
  const bytes = b.byteOffset % 4 === 0 ? b : Buffer.from(b);
  return { bytes, words: new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2) };
}

function encodeInto(c: NativeCase, bytes: Buffer, words: Uint32Array, off: number, index: number): void {
  checkCase(c, index);
  const s = c.state;
  const w = off >>> 2;
  words[w] = IN_MAGIC;
  bytes[off + 4] = c.code.length;
  bytes[off + 5] = c.compat === true ? 1 : 0;
  words[w + 2] = (s.rflags & NATIVE_RFLAGS_INPUT_MASK) >>> 0;
  bytes.set(c.code, off + 16);
  words.set(s.gpr, w + 8);
  words[w + 40] = (s.mxcsr ?? NATIVE_DEFAULT_MXCSR) >>> 0;
  if (s.xmm !== undefined) words.set(s.xmm, w + 44);
  bytes.set(s.mem, off + 512);
}

/** Writes the input record of `c` at `out[off..off+NATIVE_RECORD_SIZE)` (which must be zeroed). */
export function encodeNativeCase(c: NativeCase, out: Buffer, off: number, index = 0): void {
  const rec = Buffer.alloc(NATIVE_RECORD_SIZE);
  encodeInto(c, rec, new Uint32Array(rec.buffer, rec.byteOffset, NATIVE_RECORD_SIZE >>> 2), 0, index);
  rec.copy(out, off);
}

/** The input records of `cases`, concatenated. */
export function encodeNativeCases(cases: readonly NativeCase[], firstIndex = 0): Buffer {
  // Buffer.alloc of a record multiple (>= 4 KiB) is never pooled, hence aligned.
  const { bytes, words } = u32view(Buffer.alloc(cases.length * NATIVE_RECORD_SIZE));
  cases.forEach((c, i) => encodeInto(c, bytes, words, i * NATIVE_RECORD_SIZE, firstIndex + i));
  return bytes;
}

/** Decodes the output record at `buf[off..)`. */
export function decodeNativeResult(buf: Buffer, off: number, index = 0): NativeResult {
  const { bytes, words } = u32view(buf);
  return decodeFrom(bytes, words, off, index);
}

/** Decodes every record of `buf` (a whole number of output records). */
export function decodeNativeResults(buf: Buffer, firstIndex = 0): NativeResult[] {
  if (buf.length % NATIVE_RECORD_SIZE !== 0) throw new NativeHarnessError('native results: partial record');
  const { bytes, words } = u32view(buf);
  const out: NativeResult[] = [];
  for (let off = 0, i = firstIndex; off < bytes.length; off += NATIVE_RECORD_SIZE, i++) out.push(decodeFrom(bytes, words, off, i));
  return out;
}

function decodeFrom(buf: Buffer, words: Uint32Array, off: number, index: number): NativeResult {
  const w = off >>> 2;
  if (words[w] !== OUT_MAGIC) throw new NativeHarnessError(`native result ${index}: bad magic (protocol desync)`);
  const status = words[w + 1]!;
  if (status === STATUS_BAD_INPUT) throw new NativeHarnessError(`native case ${index}: rejected by the harness (invalid MXCSR?)`);
  const mem = new Uint8Array(NATIVE_SCRATCH_SIZE);
  mem.set(buf.subarray(off + 512, off + 512 + NATIVE_SCRATCH_SIZE));
  const state: NativeState = {
    gpr: words.slice(w + 8, w + 40),
    rflags: words[w + 2]!,
    mem,
    xmm: words.slice(w + 44, w + 108),
    mxcsr: words[w + 40]!,
  };
  const ripOffset = Number(buf.readBigInt64LE(off + 16));
  if (status === 0) return { ok: true, state, ripOffset };
  const signal = SIGNALS[status];
  if (signal === undefined) throw new NativeHarnessError(`native result ${index}: unexpected status ${status}`);
  const vector = words[w + 42]!;
  const r: NativeResult = {
    ok: false,
    signal,
    code: buf.readInt32LE(off + 164),
    state,
    ripOffset,
    addr: buf.readBigUInt64LE(off + 24),
    errorCode: words[w + 43]!,
  };
  if (vector !== 0xffff_ffff) r.vector = vector;
  return r;
}

// ---------------------------------------------------------------------------
// Running

/** Runs every case in the harness (synchronously; one process per 4096 cases). */
export function runNativeBatch(cases: readonly NativeCase[]): NativeResult[] {
  const bin = buildNativeHarness();
  const results: NativeResult[] = [];
  for (let start = 0; start < cases.length; start += SYNC_CHUNK) {
    const chunk = cases.slice(start, start + SYNC_CHUNK);
    const input = encodeNativeCases(chunk, start);
    const r = spawnSync(bin, [], { input, maxBuffer: input.length + (1 << 20) });
    if (r.error !== undefined) throw new NativeHarnessError(`native harness: ${r.error.message}`);
    const out = r.stdout;
    if (r.status !== 0 || out.length !== input.length) {
      throw new NativeHarnessError(
        `native harness exited with ${r.status ?? r.signal} after ${Math.floor(out.length / NATIVE_RECORD_SIZE)}/${chunk.length} records: ${r.stderr.toString()}`,
      );
    }
    for (const x of decodeNativeResults(out, start)) results.push(x);
  }
  return results;
}

export function runNative(c: NativeCase): NativeResult {
  return runNativeBatch([c])[0]!;
}

interface Pending {
  results: NativeResult[];
  count: number;
  resolve: (r: NativeResult[]) => void;
  reject: (e: Error) => void;
}

type Refable = { ref?: () => void; unref?: () => void };

/**
 * A long-lived harness process streaming cases over stdin/stdout. Requests
 * are answered in order. The process does not keep Node alive while idle;
 * call close() when done anyway.
 */
export class NativeHarness {
  private readonly child: ChildProcess;
  private readonly queue: Pending[] = [];
  private carry: Buffer = Buffer.alloc(0);
  private failure: Error | undefined;
  private stderr = '';
  private index = 0;
  private readonly exited: Promise<void>;

  constructor() {
    this.child = spawn(buildNativeHarness(), [], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d: Buffer) => this.onData(d));
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.child.stdin!.on('error', (e: Error) => this.fail(e));
    this.exited = new Promise((res) => {
      this.child.on('close', (code, sig) => {
        this.fail(new NativeHarnessError(`native harness exited (${code ?? sig}) ${this.stderr}`));
        res();
      });
    });
    this.child.on('error', (e) => this.fail(e));
    this.idle();
  }

  run(cases: readonly NativeCase[]): Promise<NativeResult[]> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (cases.length === 0) return Promise.resolve([]);
    let input: Buffer;
    try {
      input = encodeNativeCases(cases);
    } catch (e) {
      return Promise.reject(e as Error);
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ results: [], count: cases.length, resolve, reject });
      this.busy();
      this.child.stdin!.write(input);
    });
  }

  async runOne(c: NativeCase): Promise<NativeResult> {
    return (await this.run([c]))[0]!;
  }

  async close(): Promise<void> {
    this.child.stdin!.end();
    this.busy();
    await this.exited;
  }

  private onData(d: Buffer): void {
    const buf = this.carry.length === 0 ? d : Buffer.concat([this.carry, d]);
    let off = 0;
    try {
      while (buf.length - off >= NATIVE_RECORD_SIZE) {
        const head = this.queue[0];
        if (head === undefined) throw new NativeHarnessError('native harness sent an unrequested record');
        head.results.push(decodeNativeResult(buf, off, this.index++));
        off += NATIVE_RECORD_SIZE;
        if (head.results.length === head.count) {
          this.queue.shift();
          head.resolve(head.results);
        }
      }
    } catch (e) {
      this.fail(e as Error);
      this.child.kill();
      return;
    }
    this.carry = Buffer.from(buf.subarray(off));
    if (this.queue.length === 0) this.idle();
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const p of this.queue.splice(0)) p.reject(this.failure);
  }

  private busy(): void {
    for (const h of [this.child, this.child.stdout, this.child.stdin, this.child.stderr] as Refable[]) h?.ref?.();
  }

  private idle(): void {
    for (const h of [this.child, this.child.stdout, this.child.stdin, this.child.stderr] as Refable[]) h?.unref?.();
  }
}

// ---------------------------------------------------------------------------
// Formatting and CLI

const FLAG_BITS: ReadonlyArray<[number, string]> = [
  [0x1, 'CF'], [0x4, 'PF'], [0x10, 'AF'], [0x40, 'ZF'], [0x80, 'SF'], [0x100, 'TF'],
  [0x200, 'IF'], [0x400, 'DF'], [0x800, 'OF'], [0x10000, 'RF'], [0x40000, 'AC'], [0x200000, 'ID'],
];

export function formatRflags(f: number): string {
  const names = FLAG_BITS.filter(([b]) => (f & b) !== 0).map(([, n]) => n);
  return `0x${f.toString(16).padStart(8, '0')} [${names.join(' ')}]`;
}

const hex64 = (v: bigint): string => '0x' + v.toString(16).padStart(16, '0');

/** Human-readable dump of a result, marking changes relative to `before`. */
export function formatNativeResult(r: NativeResult, before?: NativeState): string {
  const lines: string[] = [];
  if (r.ok) lines.push(`completed, next RIP = code+${r.ripOffset}`);
  else {
    lines.push(
      `${r.signal} si_code=${r.code} vector=${r.vector ?? '-'} error=0x${r.errorCode.toString(16)} ` +
        `RIP=code${r.ripOffset >= 0 ? '+' : ''}${r.ripOffset} addr=0x${r.addr.toString(16)}`,
    );
  }
  const s = r.state;
  if (s === undefined) return lines.join('\n');
  for (let i = 0; i < 16; i += 2) {
    const cell = (j: number): string => {
      const v = getGpr(s, j);
      const mark = before !== undefined && getGpr(before, j) !== v ? '*' : ' ';
      return `${GPR_NAMES[j]!.padStart(3)}=${hex64(v)}${mark}`;
    };
    lines.push(`  ${cell(i)}  ${cell(i + 1)}`);
  }
  lines.push(`  rflags=${formatRflags(s.rflags)}  mxcsr=0x${(s.mxcsr ?? 0).toString(16)}`);
  for (let i = 0; i < 16; i++) {
    const v = getXmm(s, i);
    const was = before !== undefined ? getXmm(before, i) : 0n;
    if (v !== 0n || was !== v) lines.push(`  xmm${i}=0x${v.toString(16).padStart(32, '0')}${was !== v ? '*' : ''}`);
  }
  for (let off = 0; off < NATIVE_SCRATCH_SIZE; off += 16) {
    const row = s.mem.subarray(off, off + 16);
    const old = before?.mem.subarray(off, off + 16);
    const changed = old !== undefined && row.some((b, k) => b !== old[k]);
    if (!changed && row.every((b) => b === 0)) continue;
    const bytes = Array.from(row, (b) => b.toString(16).padStart(2, '0')).join(' ');
    lines.push(`  mem+${off.toString(16).padStart(3, '0')}: ${bytes}${changed ? '  *' : ''}`);
  }
  return lines.join('\n');
}

function parseValue(t: string): bigint {
  const m = /^s(?:\+(.+))?$/i.exec(t);
  if (m) return BigInt(NATIVE_SCRATCH_BASE) + (m[1] !== undefined ? BigInt(m[1]) : 0n);
  return t.startsWith('-') ? -BigInt(t.slice(1)) : BigInt(t);
}

function parseHexBytes(t: string): number[] {
  const h = t.replace(/[\s:_]/g, '');
  if (!/^([0-9a-f]{2})+$/i.test(h)) throw new Error(`not hex bytes: ${t}`);
  return Array.from({ length: h.length / 2 }, (_, i) => parseInt(h.slice(2 * i, 2 * i + 2), 16));
}

/** Parses CLI arguments into a case (see the module comment). */
export function parseNativeArgs(args: readonly string[]): NativeCase {
  const code: number[] = [];
  const state = makeNativeState();
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq < 0) {
      code.push(...parseHexBytes(a));
      continue;
    }
    const key = a.slice(0, eq).toLowerCase();
    const val = a.slice(eq + 1);
    if (key.startsWith('@')) {
      const off = Number(BigInt(key.slice(1).startsWith('0x') ? key.slice(1) : '0x' + key.slice(1)));
      const bytes = parseHexBytes(val);
      if (off + bytes.length > NATIVE_SCRATCH_SIZE) throw new Error(`scratch write out of range: ${a}`);
      state.mem.set(bytes, off);
    } else if ((GPR_NAMES as readonly string[]).includes(key)) setGpr(state, key as GprName, parseValue(val));
    else if (key === 'rflags' || key === 'flags') state.rflags = Number(parseValue(val));
    else if (key === 'mxcsr') state.mxcsr = Number(parseValue(val));
    else if (/^xmm\d+$/.test(key)) setXmm(state, Number(key.slice(3)), parseValue(val));
    else throw new Error(`unknown register ${key}`);
  }
  return { code: Uint8Array.from(code), state };
}

function main(args: string[]): number {
  if (args.length === 0 || args.includes('-h') || args.includes('--help')) {
    console.log(
      'usage: node dist/properties/harness/native.js <hex bytes...> [reg=value...] [@off=hexbytes...]\n' +
        '  e.g. 48 01 d8 rax=1 rbx=2      48 8b 03 rbx=s+0x10 @10=0102030405060708\n' +
        `  scratch at 0x${NATIVE_SCRATCH_BASE.toString(16)} (value "s+OFF"), instruction at 0x${NATIVE_CODE_ADDR.toString(16)}`,
    );
    return args.length === 0 ? 2 : 0;
  }
  const c = parseNativeArgs(args);
  const r = runNative(c);
  console.log(`code: ${Array.from(c.code, (b) => b.toString(16).padStart(2, '0')).join(' ')}`);
  console.log(formatNativeResult(r, c.state));
  return 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message);
    process.exitCode = 1;
  }
}
