/**
 * Instruction lengths of every opcode-table entry, cross-checked with
 * iced-x86 (the reference decoder, Intel decoding rules), in 64-bit and
 * 32-bit mode: for each entry, encodings with prefixes (66, 67, F2, F3,
 * LOCK, segment overrides, REX in 64-bit mode), every ModRM value, SIB
 * bytes with and without a base, displacements and immediates. Whenever our
 * decoder accepts bytes, iced-x86 must decode the same instruction (same
 * mnemonic family) with the same length; bytes iced-x86 rejects must not be
 * accepted by our decoder (it may report DEC_UD or DEC_UNIMPL). Random byte
 * strings (biased towards prefixes and table opcodes) are checked the same
 * way. SDM Vol. 2A, chapter 2 "Instruction Format".
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Decoder, DecoderOptions, Code, Mnemonic } from 'iced-x86';
import { decode, decodeStatus, DEC_GP, DEC_UD, DEC_UNIMPL } from '../../../core/cpu/decoder.js';
import { OPCODES, type OpDef } from '../../../core/cpu/opcodes.js';

const ICED_INVALID = Code.INVALID;

function rng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return x >>> 0; };
}

interface Ref { valid: boolean; len: number; mn: string; code: string }
function iced(bytes: Uint8Array, bits: number): Ref {
  const d = new Decoder(bits, bytes, DecoderOptions.None);
  const i = d.decode();
  const r = { valid: i.code !== ICED_INVALID, len: i.length, mn: (Mnemonic[i.mnemonic] ?? '?').toLowerCase(), code: Code[i.code] ?? '?' };
  i.free();
  d.free();
  return r;
}

/**
 * Our mnemonic and iced-x86's name the same instruction. iced-x86 names the
 * operand-size variants (cwde, movsq, ...), AT&T-free Intel aliases (sal vs
 * shl, jz vs je) and prefix-selected forms (pause, nop) differently.
 */
const ALIASES: Record<string, string[]> = {
  cbw: ['cbw', 'cwde', 'cdqe'],
  cwd: ['cwd', 'cdq', 'cqo'],
  movs: ['movsw', 'movsd', 'movsq'], movsb: ['movsb'],
  cmps: ['cmpsw', 'cmpsd', 'cmpsq'], stos: ['stosw', 'stosd', 'stosq'],
  lods: ['lodsw', 'lodsd', 'lodsq'], scas: ['scasw', 'scasd', 'scasq'],
  ins: ['insw', 'insd'], outs: ['outsw', 'outsd'],
  sal: ['sal', 'shl'], shl: ['shl', 'sal'],
  nop: ['nop', 'pause', 'xchg', 'reservednop'],
  xchg: ['xchg', 'nop'],
  pushf: ['pushf', 'pushfd', 'pushfq'], popf: ['popf', 'popfd', 'popfq'],
  iret: ['iret', 'iretd', 'iretq'],
  'call far': ['call'], 'jmp far': ['jmp'],
  retf: ['retf'], 'hint-nop': ['nop', 'prefetchnta', 'prefetcht0', 'prefetcht1', 'prefetcht2', 'endbr64', 'endbr32', 'cldemote', 'rdsspd', 'rdsspq', 'bndldx', 'bndstx', 'bndmov', 'bndcl', 'bndcu', 'bndcn', 'bndmk', 'nop', 'reservednop', 'prefetchit0', 'prefetchit1', 'prefetchw'],
  prefetch: ['prefetch', 'prefetchw', 'prefetchwt1', 'prefetchexclusive', 'prefetchreserved3', 'prefetchreserved4', 'prefetchreserved5', 'prefetchreserved6', 'prefetchreserved7'],
  'vmx0': ['vmcall', 'vmlaunch', 'vmresume', 'vmxoff'],
  'xgetbv/xsetbv': ['xgetbv', 'xsetbv'],
  'swapgs/rdtscp': ['swapgs', 'rdtscp'],
  loopne: ['loopne'], loope: ['loope'], jrcxz: ['jcxz', 'jecxz', 'jrcxz'],
  movsxd: ['movsxd', 'movsx'],
  inc: ['inc'], dec: ['dec'],
  fnstsw: ['fnstsw'], fninit: ['fninit'],
  cmpxchg8b: ['cmpxchg8b', 'cmpxchg16b'],
  sldt: ['sldt'], str: ['str'],
  clflush: ['clflush', 'clflushopt'],
  pusha: ['pusha', 'pushad'], popa: ['popa', 'popad'],
  fwait: ['wait'], xlat: ['xlatb'], sysret: ['sysret', 'sysretq'],
  // SSE: REX.W selects MOVQ, FXSAVE64/FXRSTOR64; NP 0F 12/16 with mod = 3 are MOVHLPS/MOVLHPS.
  movd: ['movd', 'movq'], fxsave: ['fxsave', 'fxsave64'], fxrstor: ['fxrstor', 'fxrstor64'],
  xsave: ['xsave', 'xsave64'], xrstor: ['xrstor', 'xrstor64'], xsaveopt: ['xsaveopt', 'xsaveopt64'],
  xrstors: ['xrstors', 'xrstors64'], xsavec: ['xsavec', 'xsavec64'], xsaves: ['xsaves', 'xsaves64'],
  movlps: ['movlps', 'movhlps'], movhps: ['movhps', 'movlhps'],
  // F3 0F 09 is WBNOINVD where supported, WBINVD (F3 ignored) elsewhere (Vol. 2B WBNOINVD).
  wbinvd: ['wbinvd', 'wbnoinvd'],
  // F3 0F BC/BD are TZCNT/LZCNT only with BMI1/ABM, which this CPU does not advertise:
  // there the F3 is ignored and they execute as BSF/BSR (Vol. 2B TZCNT, LZCNT).
  bsf: ['bsf', 'tzcnt'], bsr: ['bsr', 'lzcnt'],
};
function sameInsn(ours: string, ref: string): boolean {
  const a = ALIASES[ours];
  if (a !== undefined) return a.includes(ref);
  return ours === ref;
}

/** Prefix sets tried for every entry. */
const PREFIXES64: number[][] = [
  [], [0x66], [0x67], [0x48], [0x41], [0x44], [0x42], [0x4f], [0x66, 0x48], [0x66, 0x67, 0x4c],
  [0xf3], [0xf2], [0xf0], [0x2e], [0x64], [0x65, 0x67], [0x48, 0x66] /* REX not last: ignored */,
  [0xf0, 0x48], [0xf3, 0x48], [0x66, 0xf2], [0x26, 0x36, 0x3e, 0x66, 0x67],
];
const PREFIXES32: number[][] = [
  [], [0x66], [0x67], [0x66, 0x67], [0xf3], [0xf2], [0xf0], [0x2e], [0x64], [0x65, 0x67], [0x66, 0xf3],
  [0x26, 0x36, 0x3e, 0x66, 0x67],
];

function opcodeBytes(d: OpDef): number[] {
  const b = d.op >= 0x0f00 ? [0x0f, d.op & 0xff] : [d.op];
  if (d.prefix === 0xf3 || d.prefix === 0x66 || d.prefix === 0xf2) b.unshift(d.prefix); // mandatory prefix
  return b;
}

function hasModrm(d: OpDef): boolean {
  return d.reg !== undefined || d.ops.split(',').some((t) => /^[EGMCDRVWU][a-z]*$/.test(t) || /^S[a-z]$/.test(t));
}

interface Check { bytes: Uint8Array; bits: number; entry?: string }

function* entryEncodings(bits: number, seed: number): Generator<Check> {
  const r = rng(seed);
  const prefixes = bits === 64 ? PREFIXES64 : PREFIXES32; // the 32-bit sets serve 16-bit mode too
  for (const d of OPCODES) {
    const op = opcodeBytes(d);
    const modrms: number[] = [];
    if (hasModrm(d)) {
      for (let m = 0; m < 256; m++) {
        if (d.reg !== undefined && ((m >> 3) & 7) !== d.reg) continue;
        if (d.mem === true && m >= 0xc0) continue;
        if (d.mem === false && m < 0xc0) continue;
        modrms.push(m);
      }
      if (d.mem === true) modrms.push(0xc0 | ((d.reg ?? 0) << 3)); // the register form must be rejected
      if (d.mem === false && d.rm === undefined) modrms.push((d.reg ?? 0) << 3); // and the memory form of a register-only one
    } else modrms.push(-1);
    for (const pre of prefixes) {
      for (const m of modrms) {
        // Every ModRM once without prefixes; with prefixes, a sample.
        if (pre.length > 0 && m >= 0 && r() % 8 !== 0) continue;
        const bytes = new Uint8Array(16);
        let p = 0;
        for (const x of pre) bytes[p++] = x;
        for (const x of op) bytes[p++] = x;
        if (m >= 0) {
          bytes[p++] = m;
          if ((m & 7) === 4 && m < 0xc0) {
            const sib = r() & 0xff;
            bytes[p++] = r() % 4 === 0 ? (sib & 0xf8) | 5 : sib; // base 5: no base with mod 0
          }
        }
        while (p < 16) bytes[p++] = r() & 0xff;
        yield { bytes, bits, entry: `${d.mn} ${d.op.toString(16)}${d.reg !== undefined ? '/' + d.reg : ''}` };
      }
    }
  }
}

function* randomEncodings(bits: number, n: number, seed: number): Generator<Check> {
  const r = rng(seed);
  const pre = bits === 64 ? [0x66, 0x67, 0xf2, 0xf3, 0xf0, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65, 0x40, 0x48, 0x4c, 0x41, 0x4f] : [0x66, 0x67, 0xf2, 0xf3, 0xf0, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65];
  for (let k = 0; k < n; k++) {
    const bytes = new Uint8Array(16);
    for (let j = 0; j < 16; j++) bytes[j] = r() & 0xff;
    let p = 0;
    const np = r() % 4;
    for (let j = 0; j < np; j++) bytes[p++] = pre[r() % pre.length]!;
    if (r() % 2 === 0) bytes[p] = 0x0f;
    yield { bytes, bits };
  }
}

const hex = (b: Uint8Array, n = 16): string => Array.from(b.subarray(0, n), (x) => x.toString(16).padStart(2, '0')).join(' ');

/** Runs the checks; returns the failures (at most `max`, the first of each kind). */
function run(checks: Iterable<Check>, max = 40): { n: number; accepted: number; failures: string[] } {
  const failures: string[] = [];
  const seen = new Set<string>();
  let n = 0, accepted = 0;
  for (const c of checks) {
    n++;
    const mode = c.bits === 64 ? 8 : c.bits === 32 ? 4 : 2;
    const ours = decode(c.bytes, 16, mode);
    const ref = iced(c.bytes, c.bits);
    let why: string | undefined;
    let kind = '';
    if (ours !== null) {
      accepted++;
      if (!ref.valid) { why = `accepted (${ours.mn}, ${ours.len} bytes) but iced-x86 rejects it`; kind = `rej:${ours.mn}`; }
      else if (ours.len !== ref.len) { why = `length ${ours.len}, iced-x86 ${ref.len} (${ref.code})`; kind = `len:${ours.mn}:${ref.code}`; }
      else if (!sameInsn(ours.mn, ref.mn)) { why = `decoded as ${ours.mn}, iced-x86 says ${ref.mn} (${ref.code})`; kind = `mn:${ours.mn}:${ref.mn}`; }
    } else {
      const st = decodeStatus.code;
      if (st === DEC_GP && ref.valid) { why = `#GP (too long) but iced-x86 decodes ${ref.code} (${ref.len} bytes)`; kind = 'gp'; }
      else if (st !== DEC_UD && st !== DEC_UNIMPL && st !== DEC_GP) { why = `decode status ${st}`; kind = `st${st}`; }
    }
    if (why !== undefined && !seen.has(kind)) {
      seen.add(kind);
      if (failures.length < max) failures.push(`${c.bits}-bit ${hex(c.bytes)}${c.entry !== undefined ? ` [${c.entry}]` : ''}: ${why}`);
    }
  }
  return { n, accepted, failures };
}

test('every table entry: lengths and identity agree with iced-x86 in 64-bit mode', () => {
  const r = run(entryEncodings(64, 0x64));
  assert.ok(r.accepted > 10000, `only ${r.accepted}/${r.n} accepted`);
  console.log(`    ${r.n} encodings, ${r.accepted} accepted`);
  assert.is(r.failures.join('\n'), '');
});

test('every table entry: lengths and identity agree with iced-x86 in 32-bit mode', () => {
  const r = run(entryEncodings(32, 0x32));
  assert.ok(r.accepted > 10000, `only ${r.accepted}/${r.n} accepted`);
  console.log(`    ${r.n} encodings, ${r.accepted} accepted`);
  assert.is(r.failures.join('\n'), '');
});

test('every table entry: lengths and identity agree with iced-x86 in 16-bit mode', () => {
  const r = run(entryEncodings(16, 0x16));
  console.log(`    ${r.n} encodings, ${r.accepted} accepted`);
  assert.ok(r.accepted > 10000, `only ${r.accepted}/${r.n} accepted`);
  assert.is(r.failures.join('\n'), '');
});

test('random byte strings: whatever our decoder accepts, iced-x86 decodes identically (64-bit)', () => {
  const r = run(randomEncodings(64, 100000, 0xd1ce));
  assert.ok(r.accepted > 10000, `only ${r.accepted}/${r.n} accepted`);
  console.log(`    ${r.n} encodings, ${r.accepted} accepted`);
  assert.is(r.failures.join('\n'), '');
});

test('random byte strings: whatever our decoder accepts, iced-x86 decodes identically (32-bit)', () => {
  const r = run(randomEncodings(32, 100000, 0xface));
  assert.ok(r.accepted > 10000, `only ${r.accepted}/${r.n} accepted`);
  console.log(`    ${r.n} encodings, ${r.accepted} accepted`);
  assert.is(r.failures.join('\n'), '');
});

test('15-byte limit: 14 prefixes + NOP decodes, 15 prefixes + NOP is #GP (Vol. 2A, 2.3.11)', () => {
  const b = new Uint8Array(16).fill(0x66);
  b[14] = 0x90;
  const i = decode(b, 16, 8);
  assert.ok(i !== null);
  assert.is(i!.len, 15);
  assert.is(iced(b, 64).len, 15);
  b.fill(0x66); b[15] = 0x90;
  assert.is(decode(b, 16, 8), null);
  assert.is(decodeStatus.code, DEC_GP);
  assert.not.ok(iced(b, 64).valid);
});

test.run();
